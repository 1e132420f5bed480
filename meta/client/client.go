package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"stratus/internal/pki"
)

// Config configures a Client.
type Config struct {
	// Endpoints are the addresses (host:port) of meta nodes. Any member works: followers
	// forward to the leader. More endpoints survive more node failures.
	Endpoints []string
	// CallTimeout bounds one attempt of one call. Long polls (Watch) add their wait to it.
	CallTimeout time.Duration
	// RetryTimeout bounds all attempts of one call, including the backoff between them. It
	// must cover a leader election (a few seconds).
	RetryTimeout time.Duration
	// HTTPClient sends the requests; nil uses a client with keep-alives tuned for many
	// concurrent calls (NewTransport).
	HTTPClient *http.Client
	// TLS, if set, makes every call HTTPS with this configuration: the cluster's mutual TLS
	// (pki.Identity.ClientTLS). Nil speaks plain HTTP, which only test nodes accept.
	TLS *tls.Config
	// MaxConcurrentBatches is how many combined write calls may be in flight at once; writes
	// issued meanwhile wait and share the next call. Zero means 2.
	MaxConcurrentBatches int
	// BinaryEntries makes the object index store its entries in their binary form, which
	// listings decode several times faster than JSON. Every client reads both forms, but
	// clients from before the binary form read only JSON: turn this on once every process
	// that reads the index (proxies, s3api, tools) runs a version that reads it.
	BinaryEntries bool
}

// EnvBinaryEntries names the environment variable that turns Config.BinaryEntries on in
// DefaultConfig ("1" or "true"): every process builds its meta client there, so setting it
// on all of them after an upgrade switches the whole cluster.
const EnvBinaryEntries = "STRATUS_META_BINARY_ENTRIES"

// DefaultConfig returns a Config with timeouts suited to a LAN cluster.
func DefaultConfig(endpoints ...string) Config {
	bin, _ := strconv.ParseBool(os.Getenv(EnvBinaryEntries))
	return Config{Endpoints: endpoints, CallTimeout: 5 * time.Second, RetryTimeout: 15 * time.Second, BinaryEntries: bin}
}

// Validate reports whether the config is usable.
func (c Config) Validate() error {
	if len(c.Endpoints) == 0 {
		return errors.New("endpoints: at least one meta address is required")
	}
	if c.CallTimeout <= 0 {
		return fmt.Errorf("call_timeout (%v) must be positive", c.CallTimeout)
	}
	if c.RetryTimeout < c.CallTimeout {
		return fmt.Errorf("retry_timeout (%v) is below call_timeout (%v)", c.RetryTimeout, c.CallTimeout)
	}
	return nil
}

// Client talks to a meta cluster. It is safe for concurrent use.
type Client struct {
	cfg  Config
	http *http.Client

	comb combiner
	wire wireChoice

	gets, lists, applies atomic.Uint64 // catalog calls made, see Calls

	mu        sync.Mutex
	preferred string // last endpoint that answered, or the leader it named
	next      int    // round-robin position among Endpoints after a failure
}

// New returns a Client. It does not contact the cluster.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("meta client: %w", err)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: NewTransport(cfg)}
	}
	maxb := cfg.MaxConcurrentBatches
	if maxb <= 0 {
		maxb = 2
	}
	return &Client{cfg: cfg, http: hc, preferred: cfg.Endpoints[0], comb: combiner{max: maxb, wake: make(chan struct{})}}, nil
}

// NewTransport returns the transport a Client with config cfg uses when cfg names no HTTP
// client: connections dialed and handshaken within the call timeout and kept alive for many
// concurrent callers.
func NewTransport(cfg Config) *http.Transport {
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: cfg.CallTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     cfg.TLS,
		TLSHandshakeTimeout: cfg.CallTimeout,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	}
}

// url returns the URL of path on the node at addr.
func (c *Client) url(addr, path string) string {
	if c.cfg.TLS != nil {
		return "https://" + addr + path
	}
	return "http://" + addr + path
}

// transportError classifies a failed round trip: a certificate that failed either side's
// checks will fail again, so it is ErrUnauthenticated, not retried; anything else is
// ErrUnavailable.
func transportError(err error) error {
	var cv *tls.CertificateVerificationError
	var alert tls.AlertError
	if errors.As(err, &cv) || errors.As(err, &alert) || errors.Is(err, pki.ErrUnauthenticated) || errors.Is(err, pki.ErrForbidden) {
		return fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	}
	return fmt.Errorf("%w: %v", ErrUnavailable, err)
}

// Close releases idle connections.
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

// endpoint returns the address to try next.
func (c *Client) endpoint() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.preferred
}

// failed moves off addr after it failed, to the leader it named if any.
func (c *Client) failed(addr, leader string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.preferred != addr {
		return // another call already moved on
	}
	if leader != "" && leader != addr {
		c.preferred = leader
		return
	}
	c.next = (c.next + 1) % len(c.cfg.Endpoints)
	if c.cfg.Endpoints[c.next] == addr && len(c.cfg.Endpoints) > 1 {
		c.next = (c.next + 1) % len(c.cfg.Endpoints)
	}
	c.preferred = c.cfg.Endpoints[c.next]
}

// call sends req to path and decodes the reply into resp, retrying on leader change and
// transport errors. extra lengthens each attempt's deadline (for long polls). Bodies with a
// binary form (see EncodeBinary) go binary unless the cluster was found not to speak it.
func (c *Client) call(ctx context.Context, method, path string, req, resp any, extra time.Duration) error {
	var body []byte
	bin := false
	if req != nil {
		var err error
		if body, bin, err = c.encode(req); err != nil {
			return fmt.Errorf("encode %s: %w", path, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RetryTimeout+extra)
	defer cancel()
	backoff := 10 * time.Millisecond
	var lastErr error
	for {
		addr := c.endpoint()
		err := c.attempt(ctx, addr, method, path, body, bin, resp, extra)
		if err == nil {
			return nil
		}
		var se *ServerError
		leader := ""
		if errors.As(err, &se) {
			leader = se.Leader
		}
		if bin && se != nil && refusedBinary(se) {
			// A node from before the binary form (a rolling upgrade): speak JSON for a while
			// and resend at once; the node has not acted on a body it could not parse.
			c.wire.binaryOff()
			if body, err = json.Marshal(req); err != nil {
				return fmt.Errorf("encode %s: %w", path, err)
			}
			bin = false
			continue
		}
		if !retriable(err) && (se != nil || errors.Is(err, ErrUnauthenticated)) {
			return err
		}
		lastErr = err
		c.failed(addr, leader)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w (last error: %v)", path, ErrUnavailable, lastErr)
		case <-t.C:
		}
		if backoff < 500*time.Millisecond {
			backoff *= 2
		}
	}
}

// encode returns req's body, binary if it has that form and the cluster speaks it.
func (c *Client) encode(req any) (body []byte, bin bool, err error) {
	if c.wire.binaryOn() && HasBinaryForm(req) {
		body, err = EncodeBinary(req)
		return body, err == nil, err
	}
	body, err = json.Marshal(req)
	return body, false, err
}

func (c *Client) attempt(ctx context.Context, addr, method, path string, body []byte, bin bool, resp any, extra time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout+extra)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	hreq, err := http.NewRequestWithContext(ctx, method, c.url(addr, path), rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if bin {
		hreq.Header.Set("Content-Type", ContentTypeBinary)
	} else {
		hreq.Header.Set("Content-Type", "application/json")
	}
	if bin || (resp != nil && HasBinaryForm(resp) && c.wire.binaryOn()) {
		hreq.Header.Set("Accept", ContentTypeBinary+", application/json")
	}
	hresp, err := c.http.Do(hreq)
	if err != nil {
		return fmt.Errorf("%s %s: %w", addr, path, transportError(err))
	}
	defer hresp.Body.Close()
	data, err := ReadBody(hresp.Body, hresp.ContentLength)
	if err != nil {
		return fmt.Errorf("%s %s: read reply: %w: %v", addr, path, ErrUnavailable, err)
	}
	if hresp.StatusCode/100 != 2 {
		var er ErrorResponse
		if err := json.Unmarshal(data, &er); err != nil || er.Code == "" {
			return fmt.Errorf("%s %s: http %d: %w", addr, path, hresp.StatusCode, ErrUnavailable)
		}
		return &ServerError{Code: er.Code, Message: er.Message, Leader: er.Leader}
	}
	if resp == nil {
		return nil
	}
	// The reply's own type decides: a node that does not speak the binary form answers JSON.
	if hresp.Header.Get("Content-Type") == ContentTypeBinary {
		err = DecodeBinary(data, resp)
	} else {
		err = json.Unmarshal(data, resp)
	}
	if err != nil {
		return fmt.Errorf("%s %s: decode reply: %w", addr, path, err)
	}
	return nil
}

// NewRequestID returns a fresh request ID for ApplyRequest.ID: the current time in
// nanoseconds then 8 random bytes, in hex. Starting with the time keeps the catalog's
// dedup table append-mostly (random IDs would rewrite a random B-tree page per request).
func NewRequestID() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixNano()))
	_, _ = rand.Read(b[8:])
	return hex.EncodeToString(b[:])
}
