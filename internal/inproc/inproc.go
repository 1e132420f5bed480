// Package inproc carries HTTP requests to handlers in the same process. The all-in-one
// server runs its catalog, storage node and S3 front end in one process; its front end
// reaches the other two through this transport, so a request to them costs a function call
// and a goroutine instead of a loopback connection, two HTTP parsers and copies through the
// kernel. Handlers see what a server would give them (method, path, headers, body,
// trailers, a context that ends when the caller gives up or the handler returns) and
// callers see an ordinary *http.Response, streamed when the handler writes more than a small
// buffer.
package inproc

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
)

// Transport serves requests for its hosts with their handlers and passes every other
// request to the next transport. It is safe for concurrent use.
type Transport struct {
	handlers map[string]http.Handler
	next     http.RoundTripper
	// peer, if set, gives the TLS state each request carries, as if its caller had completed a
	// handshake: the handlers check the caller's certificate as they would a remote one's.
	peer func() *tls.ConnectionState
	log  *slog.Logger
}

// NewTransport returns a transport that serves http:// and https:// requests to each host ("host:port",
// as in the URL) with its handler and sends the rest through next. A handler that panics
// (other than with http.ErrAbortHandler) is logged to log, as net/http would.
func NewTransport(handlers map[string]http.Handler, next http.RoundTripper, log *slog.Logger) *Transport {
	hs := make(map[string]http.Handler, len(handlers))
	for host, h := range handlers {
		hs[host] = h
	}
	return &Transport{handlers: hs, next: next, log: log}
}

// PresentAs makes every request served in this process carry the TLS state peer returns
// (a client certificate chain), so handlers that check their caller's certificate see the
// identity this process holds. Call it before the first request.
func (t *Transport) PresentAs(peer func() *tls.ConnectionState) { t.peer = peer }

// Local reports whether requests to host are served in this process.
func (t *Transport) Local(host string) bool {
	_, ok := t.handlers[host]
	return ok
}

// CloseIdleConnections closes the next transport's idle connections.
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	h, ok := t.handlers[req.URL.Host]
	if !ok || (req.URL.Scheme != "http" && req.URL.Scheme != "https") {
		return t.next.RoundTrip(req)
	}
	ctx, cancel := context.WithCancel(req.Context())
	sr := serverRequest(req).WithContext(ctx)
	if t.peer != nil {
		sr.TLS = t.peer()
	}
	w := &responseWriter{req: req, header: http.Header{}, cancel: cancel, out: make(chan result, 1)}
	go t.serve(h, w, sr)
	select {
	case r := <-w.out:
		return r.resp, r.err
	case <-req.Context().Done():
		// The handler sees its context end; whatever it still sends is dropped.
		return nil, req.Context().Err()
	}
}

// serve runs the handler and finishes its response the way a server would.
func (t *Transport) serve(h http.Handler, w *responseWriter, sr *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler && t.log != nil {
				t.log.Error("panic serving in-process request", "method", sr.Method, "path", sr.URL.Path, "panic", v, "stack", string(debug.Stack()))
			}
			w.abort(fmt.Errorf("inproc: %s %s: handler aborted the response", sr.Method, sr.URL.Path))
		}
		w.cancel()
		if sr.Body != nil {
			sr.Body.Close()
		}
	}()
	h.ServeHTTP(w, sr)
	w.finish()
}

// serverRequest is req as a server would hand it to a handler.
func serverRequest(req *http.Request) *http.Request {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	body := req.Body
	length := req.ContentLength
	if slices.ContainsFunc(req.TransferEncoding, func(te string) bool { return strings.EqualFold(te, "chunked") }) {
		length = -1
	}
	switch {
	case body == nil || body == http.NoBody:
		body, length = http.NoBody, 0
	case length == 0:
		length = -1 // a client request's 0 with a body means unknown
	case length > 0:
		body = &exactBody{r: body, left: length}
	}
	return &http.Request{
		Method:           req.Method,
		URL:              &url.URL{Path: req.URL.Path, RawPath: req.URL.RawPath, RawQuery: req.URL.RawQuery},
		Proto:            "HTTP/1.1",
		ProtoMajor:       1,
		ProtoMinor:       1,
		Header:           req.Header.Clone(),
		Body:             body,
		ContentLength:    length,
		TransferEncoding: req.TransferEncoding,
		Host:             host,
		// The caller fills declared trailers as its body ends, as a client's transport
		// would send them; sharing the map hands them over when the body is read.
		Trailer:    req.Trailer,
		RemoteAddr: "inproc",
		RequestURI: req.URL.RequestURI(),
	}
}

// exactBody holds a request body to its declared length, as a client's transport does: a
// body that ends early or runs on is an error, never silently cut or padded.
type exactBody struct {
	r    io.ReadCloser
	left int64
}

// errBodyLength is what a handler reads when the caller's body does not match its
// Content-Length.
var errBodyLength = errors.New("inproc: request body does not match its Content-Length")

func (b *exactBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		var one [1]byte
		if n, _ := io.ReadFull(b.r, one[:]); n > 0 {
			return 0, errBodyLength
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if err == io.EOF {
		if b.left > 0 {
			return n, fmt.Errorf("%w: %w", errBodyLength, io.ErrUnexpectedEOF)
		}
		err = nil // the next call checks that nothing follows
	}
	return n, err
}

func (b *exactBody) Close() error { return b.r.Close() }

// bufferLimit is how much of a response is held before it is handed to the caller: a
// response that fits (catalog answers, status replies) goes over whole when the handler
// returns, with its length; a longer one streams through a pipe.
const bufferLimit = 32 << 10

type result struct {
	resp *http.Response
	err  error
}

// responseWriter is the handler's side of one exchange.
type responseWriter struct {
	req    *http.Request
	header http.Header
	cancel context.CancelFunc
	out    chan result // receives the response or an error, once

	status int
	final  http.Header    // the header as it was at WriteHeader
	sent   *http.Response // once handed over
	buf    []byte         // written, not yet handed over
	pw     *io.PipeWriter // once streaming
	stop   func() bool    // stops closing the pipe when the caller's context ends
}

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(code int) {
	if w.status != 0 || code < 200 {
		return // a repeated status is ignored; informational ones are not passed on
	}
	w.status = code
	// Later changes to the map must not reach the response, as on a real connection.
	w.final = w.header.Clone()
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.req.Method == http.MethodHead || !bodyAllowed(w.status) {
		return len(p), nil
	}
	if w.pw == nil && len(w.buf)+len(p) <= bufferLimit {
		w.buf = append(w.buf, p...)
		return len(p), nil
	}
	if w.pw == nil {
		w.startStream()
		if err := w.flushBuf(); err != nil {
			return 0, err
		}
	}
	return w.pw.Write(p)
}

// Flush hands the response over and sends what is buffered.
func (w *responseWriter) Flush() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.pw == nil && w.sent == nil {
		w.startStream()
	}
	w.flushBuf()
}

func (w *responseWriter) flushBuf() error {
	if len(w.buf) == 0 || w.pw == nil {
		return nil
	}
	_, err := w.pw.Write(w.buf)
	w.buf = nil
	return err
}

// startStream hands the caller a response whose body is a pipe the handler writes.
func (w *responseWriter) startStream() {
	pr, pw := io.Pipe()
	w.pw = pw
	// A caller that gives up (its context ends) unblocks the handler's writes.
	w.stop = context.AfterFunc(w.req.Context(), func() { pr.CloseWithError(w.req.Context().Err()) })
	w.send(&body{r: pr, close: func() error { pr.Close(); w.cancel(); return nil }}, -1)
}

// finish completes the response after the handler returned.
func (w *responseWriter) finish() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.pw != nil {
		w.stop()
		w.pw.Close()
		return
	}
	if w.sent != nil {
		return
	}
	n := int64(len(w.buf))
	w.send(&body{r: bytes.NewReader(w.buf), close: func() error { return nil }}, n)
}

// abort ends the exchange after a panic: an error if nothing was sent, else a body that
// fails where it was cut.
func (w *responseWriter) abort(err error) {
	switch {
	case w.pw != nil:
		w.stop()
		w.pw.CloseWithError(err)
	case w.sent == nil:
		w.out <- result{err: err}
	}
}

// send hands the response over; n is the body's length if known, else -1.
func (w *responseWriter) send(b io.ReadCloser, n int64) {
	if w.req.Method == http.MethodHead || !bodyAllowed(w.status) {
		b, n = http.NoBody, 0
	}
	length := n
	if v := w.final.Get("Content-Length"); v != "" {
		if l, err := strconv.ParseInt(v, 10, 64); err == nil {
			length = l
		}
	} else if n >= 0 && w.req.Method != http.MethodHead {
		w.final.Set("Content-Length", strconv.FormatInt(n, 10))
	}
	w.sent = &http.Response{
		Status:        fmt.Sprintf("%d %s", w.status, http.StatusText(w.status)),
		StatusCode:    w.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.final,
		Body:          b,
		ContentLength: length,
		Request:       w.req,
	}
	w.out <- result{resp: w.sent}
}

func bodyAllowed(status int) bool {
	return status != http.StatusNoContent && status != http.StatusNotModified
}

// body is a response body whose Close also tells the handler the caller is gone.
type body struct {
	r     io.Reader
	close func() error
}

func (b *body) Read(p []byte) (int, error) { return b.r.Read(p) }
func (b *body) Close() error               { return b.close() }
