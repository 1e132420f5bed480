package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"strings"
	"time"

	"stratus/internal/hlc"
	"stratus/internal/pki"
)

// Config configures a Client.
type Config struct {
	// HTTPClient carries the requests. Nil means a client with dial, TLS-handshake and
	// response-header timeouts but no overall timeout, since bodies may be gigabytes
	// (NewTransport).
	HTTPClient *http.Client
	// TLS, if set, makes every call HTTPS with this configuration: the cluster's mutual TLS
	// (pki.Identity.ClientTLS(pki.RoleObjectd)). A caller that passes its own HTTPClient
	// must give its transport the same configuration (NewTransport(WithTLS(…))). Nil
	// speaks plain HTTP, which only test nodes accept.
	TLS *tls.Config
	// Timeout is the deadline given to calls that move no object content (HEAD, DELETE,
	// hashes, missing checks) when ctx has none. Streaming calls (PUT, GET, push) get their
	// deadline from ctx only: pass one sized for the object.
	Timeout time.Duration
	// Local names storage nodes running in this process by host ("ip:port", as in
	// Targets): chunk writes, zeroes, reads and flushes to them are calls, not requests.
	Local map[string]LocalChunks
}

// DefaultConfig returns the configuration New uses for zero fields.
func DefaultConfig() Config { return Config{Timeout: 10 * time.Second} }

// Client talks to storage nodes. It is safe for concurrent use.
type Client struct {
	hc      *http.Client
	timeout time.Duration
	scheme  string // "http://" or "https://"
	locals  map[string]LocalChunks
}

// New returns a client.
func New(cfg Config) *Client {
	c := &Client{hc: cfg.HTTPClient, timeout: cfg.Timeout, scheme: "http://", locals: maps.Clone(cfg.Local)}
	if c.timeout <= 0 {
		c.timeout = DefaultConfig().Timeout
	}
	if cfg.TLS != nil {
		c.scheme = "https://"
	}
	if c.hc == nil {
		c.hc = &http.Client{Transport: NewTransport(WithTLS(cfg.TLS))}
	}
	return c
}

// TransportOption adjusts the transport NewTransport returns.
type TransportOption func(*http.Transport)

// WithTLS makes the transport's HTTPS connections use cfg (nil leaves Go's defaults).
func WithTLS(cfg *tls.Config) TransportOption {
	return func(t *http.Transport) { t.TLSClientConfig = cfg }
}

// NewTransport returns the transport a Client uses when its config names none: dial,
// TLS-handshake and response-header timeouts, and buffers sized for object content.
func NewTransport(opts ...TransportOption) *http.Transport {
	t := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   32,
		WriteBufferSize:       256 << 10,
		ReadBufferSize:        256 << 10,
	}
	for _, o := range opts {
		o(t)
	}
	return t
}

// CloseIdleConnections closes idle connections of the underlying transport.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// withTimeout bounds ctx by the client's timeout when it has no deadline of its own.
func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.timeout)
}

// do sends req and turns error statuses into a *StatusError (closing the body).
func (c *Client) do(op, host string, req *http.Request) (*http.Response, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("objectd %s %s: %w", op, host, transportError(err))
	}
	if resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	code := resp.Header.Get(HeaderError)
	se := &StatusError{Op: op, Host: host, Status: resp.StatusCode, Code: code,
		Message: strings.TrimSpace(string(msg)), err: errorFor(code, resp.StatusCode)}
	if ts, err := hlc.Parse(resp.Header.Get(HeaderTimestamp)); err == nil {
		se.Timestamp = ts
	}
	chunkErrorFields(se, resp.Header)
	return nil, se
}

// transportError marks a round trip that failed on the node's certificate (not from the
// cluster CA, expired, not a storage node's), so that callers can tell a node they must not
// talk to from one that is down. Either way they treat the node as unavailable.
func transportError(err error) error {
	var cv *tls.CertificateVerificationError
	switch {
	case errors.Is(err, pki.ErrForbidden):
		return fmt.Errorf("%w: %w", ErrForbidden, err)
	case errors.Is(err, pki.ErrUnauthenticated) || errors.As(err, &cv):
		return fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	return err
}

// newRequest builds a request to t. It refuses device names that would change the path.
func (c *Client) newRequest(ctx context.Context, method string, t Target, path string, body io.Reader) (*http.Request, error) {
	if err := CheckDevice(t.Device); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, c.scheme+t.Host+path, body)
	if err != nil {
		return nil, fmt.Errorf("objectd %s %s: %w", strings.ToLower(method), t.Host, err)
	}
	if t.Ring != "" && t.Ring != ObjectRing {
		if err := CheckRing(t.Ring); err != nil {
			return nil, err
		}
		req.Header.Set(HeaderRing, t.Ring)
	}
	return req, nil
}

// PutRequest describes an object to store.
type PutRequest struct {
	Name      string
	Timestamp hlc.Timestamp
	// Length is the exact content length; the node refuses a body of any other length.
	Length int64
	// Checksum is the content's checksum if the caller knows it. Nil means the client
	// computes it while sending and sends it as a trailer, which protects the transfer
	// from this process onwards.
	Checksum    *Checksum
	ContentType string
	Meta        map[string]string // keys lower-case
}

// Put stores body as a new version of req.Name on t. It returns ErrConflict if t holds a
// version at least as new (a StatusError whose Timestamp equals req.Timestamp means t already
// has this very write: treat it as success when retrying), ErrLength if body does not have
// req.Length bytes, ErrChecksum if it does not match req.Checksum, ErrNoSpace or
// ErrDeviceUnavailable (507: try a handoff). A failed Put leaves no partial object visible.
func (c *Client) Put(ctx context.Context, t Target, req PutRequest, body io.Reader) error {
	info := Info{Name: req.Name, Timestamp: req.Timestamp, Length: req.Length, ContentType: req.ContentType, Meta: req.Meta}
	if err := CheckName(req.Name); err != nil {
		return err
	}
	if err := CheckMeta(&info); err != nil {
		return err
	}
	var sum *summingReader
	if req.Checksum == nil {
		sum = &summingReader{r: body}
		body = sum
	} else {
		info.Checksum = *req.Checksum
	}
	hr, err := c.newRequest(ctx, http.MethodPut, t, objectPath(t, req.Name), io.NopCloser(body))
	if err != nil {
		return err
	}
	SetInfoHeaders(hr.Header, &info)
	hr.ContentLength = req.Length
	if sum != nil {
		hr.Header.Del(HeaderChecksum)
		hr.TransferEncoding = []string{"chunked"}
		hr.Trailer = http.Header{HeaderChecksum: nil}
		sum.trailer = hr.Trailer
	}
	resp, err := c.do("put", t.Host, hr)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// summingReader computes the checksum of what it reads and, at EOF, stores it in the trailer
// the transport sends after the body.
type summingReader struct {
	r       io.Reader
	sum     Checksum
	trailer http.Header
}

func (s *summingReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.sum = s.sum.Update(p[:n])
	if err == io.EOF {
		s.trailer.Set(HeaderChecksum, s.sum.String())
	}
	return n, err
}

// Object is an open GET: the version's Info and its content. The caller must close Body.
type Object struct {
	Info
	// Range is the part of the content Body holds.
	Range Range
	// Body yields the content. For a whole-object read it returns ErrChecksum (instead of
	// io.EOF) if the content does not match Info.Checksum.
	Body io.ReadCloser
}

// Get opens name on t; rng nil means the whole object. It returns ErrNotFound (with the
// deletion timestamp, if deleted), ErrRange, or ErrCorrupt if the node found its copy bad.
func (c *Client) Get(ctx context.Context, t Target, name string, rng *Range) (*Object, error) {
	return c.GetVersion(ctx, t, name, 0, rng)
}

// GetVersion is Get for a caller that wants version v (zero: any): a node holding it opens
// it directly; one that does not answers as for Get, so check the Object's Timestamp.
func (c *Client) GetVersion(ctx context.Context, t Target, name string, v hlc.Timestamp, rng *Range) (*Object, error) {
	req, err := c.newRequest(ctx, http.MethodGet, t, objectPath(t, name), nil)
	if err != nil {
		return nil, err
	}
	if v != 0 {
		req.Header.Set(HeaderTimestamp, v.String())
	}
	if rng != nil {
		req.Header.Set("Range", rng.header())
	}
	resp, err := c.do("get", t.Host, req)
	if err != nil {
		return nil, err
	}
	info, _, err := InfoFromHeaders(resp.Header)
	if err != nil {
		resp.Body.Close()
		return nil, fmt.Errorf("objectd get %s: response: %w", t.Host, err)
	}
	info.Name = name
	obj := &Object{Info: info, Range: Range{0, info.Length}, Body: resp.Body}
	if resp.StatusCode == http.StatusPartialContent {
		var first, last, size int64
		if _, err := fmt.Sscanf(resp.Header.Get("Content-Range"), "bytes %d-%d/%d", &first, &last, &size); err != nil {
			resp.Body.Close()
			return nil, fmt.Errorf("objectd get %s: bad Content-Range %q", t.Host, resp.Header.Get("Content-Range"))
		}
		obj.Range = Range{first, last - first + 1}
	} else {
		obj.Body = &verifyingReader{rc: resp.Body, want: info.Checksum, left: info.Length}
	}
	return obj, nil
}

// verifyingReader checks length and checksum of a whole-object body as it is read.
type verifyingReader struct {
	rc   io.ReadCloser
	sum  Checksum
	want Checksum
	left int64
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	n, err := v.rc.Read(p)
	v.sum = v.sum.Update(p[:n])
	v.left -= int64(n)
	if err == io.EOF {
		if v.left != 0 {
			return n, io.ErrUnexpectedEOF
		}
		if v.sum != v.want {
			return n, fmt.Errorf("%w: content %v, header %v", ErrChecksum, v.sum, v.want)
		}
	}
	return n, err
}

func (v *verifyingReader) Close() error { return v.rc.Close() }

// Head returns the Info of name's current version on t.
func (c *Client) Head(ctx context.Context, t Target, name string) (Info, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	req, err := c.newRequest(ctx, http.MethodHead, t, objectPath(t, name), nil)
	if err != nil {
		return Info{}, err
	}
	resp, err := c.do("head", t.Host, req)
	if err != nil {
		return Info{}, err
	}
	resp.Body.Close()
	info, _, err := InfoFromHeaders(resp.Header)
	info.Name = name
	return info, err
}

// Delete records the deletion of name at ts on t (a tombstone, even if t never held the
// name, so that replication carries it). It returns ErrConflict if t holds a newer version.
func (c *Client) Delete(ctx context.Context, t Target, name string, ts hlc.Timestamp) error {
	if err := CheckName(name); err != nil {
		return err
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	req, err := c.newRequest(ctx, http.MethodDelete, t, objectPath(t, name), nil)
	if err != nil {
		return err
	}
	req.Header.Set(HeaderTimestamp, ts.String())
	resp, err := c.do("delete", t.Host, req)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

func (c *Client) postJSON(ctx context.Context, op string, t Target, in, out any) error {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	var body io.Reader
	method := http.MethodGet
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("objectd %s: %w", op, err)
		}
		body, method = bytes.NewReader(b), http.MethodPost
	}
	req, err := c.newRequest(ctx, method, t, partPath(op, t), body)
	if err != nil {
		return err
	}
	resp, err := c.do(op, t.Host, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(out); err != nil {
		return fmt.Errorf("objectd %s %s: decode response: %w", op, t.Host, err)
	}
	return nil
}
