package inproc

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"stratus/internal/testutil"
)

const host = "node.test:80"

// client returns an HTTP client whose requests to host are served by h in process.
func client(t *testing.T, h http.Handler) *http.Client {
	return &http.Client{Transport: NewTransport(map[string]http.Handler{host: h}, http.DefaultTransport, testutil.Logger(t))}
}

func TestSmallResponse(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /obj/{name}", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("read body: %v", err)
		}
		if r.Host != host || r.RequestURI != "/obj/a%2Fb?x=1" || r.PathValue("name") != "a/b" || r.URL.Query().Get("x") != "1" {
			t.Errorf("request as served: host %q uri %q name %q", r.Host, r.RequestURI, r.PathValue("name"))
		}
		w.Header().Set("X-Got", string(body)+" "+r.Header.Get("X-Sent"))
		w.WriteHeader(http.StatusCreated)
		w.Header().Set("X-Late", "set after the status") // must not reach the caller
		w.Write([]byte("done"))
	})
	req, _ := http.NewRequest(http.MethodPut, "http://"+host+"/obj/a%2Fb?x=1", strings.NewReader("hello"))
	req.Header.Set("X-Sent", "there")
	resp, err := client(t, mux).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || string(got) != "done" || resp.ContentLength != 4 {
		t.Fatalf("got %d %q (length %d), want 201 \"done\" (4)", resp.StatusCode, got, resp.ContentLength)
	}
	if resp.Header.Get("X-Got") != "hello there" || resp.Header.Get("X-Late") != "" {
		t.Fatalf("headers %v", resp.Header)
	}
}

func TestStreamsLargeResponse(t *testing.T) {
	data := testutil.Payload(3<<20+17, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "3145745")
		for b := data; len(b) > 0; b = b[min(len(b), 100_000):] {
			if _, err := w.Write(b[:min(len(b), 100_000)]); err != nil {
				t.Errorf("write: %v", err)
				return
			}
		}
	})
	resp, err := client(t, h).Get("http://" + host + "/big")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil || !bytes.Equal(got, data) || resp.ContentLength != int64(len(data)) {
		t.Fatalf("read %d bytes (err %v, length %d), want %d identical", len(got), err, resp.ContentLength, len(data))
	}
}

// trailerBody fills a declared trailer when it ends, as objectd's client does.
type trailerBody struct {
	r       io.Reader
	trailer http.Header
}

func (b *trailerBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.trailer.Set("X-Sum", "42")
	}
	return n, err
}

func TestRequestTrailers(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, declared := r.Trailer["X-Sum"]; !declared {
			t.Error("trailer not declared before the body")
		}
		b, _ := io.ReadAll(r.Body)
		w.Write([]byte(string(b) + "/" + r.Trailer.Get("X-Sum")))
	})
	req, _ := http.NewRequest(http.MethodPut, "http://"+host+"/x", nil)
	req.Trailer = http.Header{"X-Sum": nil}
	req.Body = io.NopCloser(&trailerBody{r: strings.NewReader("content"), trailer: req.Trailer})
	req.TransferEncoding = []string{"chunked"}
	resp, err := client(t, h).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != "content/42" {
		t.Fatalf("handler saw %q, want content/42", got)
	}
}

func TestBodyMustMatchContentLength(t *testing.T) {
	for _, tc := range []struct {
		name   string
		body   string
		length int64
	}{{"short", "12345", 10}, {"long", "1234567890", 5}} {
		t.Run(tc.name, func(t *testing.T) {
			readErr := make(chan error, 1)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, err := io.ReadAll(r.Body)
				readErr <- err
			})
			req, _ := http.NewRequest(http.MethodPut, "http://"+host+"/x", io.NopCloser(strings.NewReader(tc.body)))
			req.ContentLength = tc.length
			resp, err := client(t, h).Do(req)
			if err == nil {
				resp.Body.Close()
			}
			if err := <-readErr; !errors.Is(err, errBodyLength) {
				t.Fatalf("handler read error %v, want %v", err, errBodyLength)
			}
		})
	}
}

func TestUnknownLength(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil || r.ContentLength != -1 {
			t.Errorf("read %q, %v; ContentLength %d, want -1", b, err, r.ContentLength)
		}
		w.Write(b)
	})
	req, _ := http.NewRequest(http.MethodPut, "http://"+host+"/x", io.NopCloser(strings.NewReader("streamed")))
	req.ContentLength = 0 // with a body: unknown, as for net/http's client
	resp, err := client(t, h).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != "streamed" {
		t.Fatalf("echoed %q, want streamed", got)
	}
}

func TestCallerClosingBodyStopsHandler(t *testing.T) {
	stopped := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 64<<10)
		for range 1000 { // far more than the caller reads
			if _, err := w.Write(chunk); err != nil {
				<-r.Context().Done()
				stopped <- err
				return
			}
		}
		stopped <- nil
	})
	resp, err := client(t, h).Get("http://" + host + "/x")
	if err != nil {
		t.Fatal(err)
	}
	io.ReadFull(resp.Body, make([]byte, 100<<10))
	resp.Body.Close()
	select {
	case err := <-stopped:
		if err == nil {
			t.Fatal("handler wrote everything after the caller closed the body")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("handler still writing 10 s after the caller closed the body")
	}
}

func TestCallerGivingUpEndsHandlerContext(t *testing.T) {
	entered, ended := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done()
		close(ended)
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-entered; cancel() }()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/x", nil)
	if _, err := client(t, h).Do(req); !errors.Is(err, context.Canceled) {
		t.Fatalf("Do = %v, want context.Canceled", err)
	}
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("handler's context did not end when the caller gave up")
	}
}

func TestPanics(t *testing.T) {
	before := runtime.NumGoroutine()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/late" {
			w.Write(make([]byte, bufferLimit+1)) // streaming has begun
			panic(http.ErrAbortHandler)
		}
		panic("handler bug")
	})
	c := client(t, h)
	if _, err := c.Get("http://" + host + "/early"); err == nil || !strings.Contains(err.Error(), "aborted") {
		t.Fatalf("panic before the response: Do = %v, want an error", err)
	}
	resp, err := c.Get("http://" + host + "/late")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Fatal("a response cut by a panic read to its end without error")
	}
	resp.Body.Close()
	testutil.Eventually(t, 5*time.Second, func() error {
		if n := runtime.NumGoroutine(); n > before+2 {
			return errors.New("handler goroutines still running")
		}
		return nil
	})
}

func TestHeadAndNoContent(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "3")
		if r.URL.Path == "/gone" {
			w.WriteHeader(http.StatusNoContent)
		}
		w.Write([]byte("abc"))
	})
	c := client(t, h)
	resp, err := c.Head("http://" + host + "/x")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(resp.Body); len(b) != 0 || resp.ContentLength != 3 {
		t.Fatalf("HEAD: body %q, length %d; want none, 3", b, resp.ContentLength)
	}
	resp, err = c.Get("http://" + host + "/gone")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(resp.Body); len(b) != 0 || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("204: status %d body %q", resp.StatusCode, b)
	}
}

func TestOtherHostsGoToTheNetwork(t *testing.T) {
	remote := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("remote")) }))
	defer remote.Close()
	c := client(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("local")) }))
	for url, want := range map[string]string{remote.URL: "remote", "http://" + host: "local"} {
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(got) != want {
			t.Errorf("GET %s = %q, want %q", url, got, want)
		}
	}
}
