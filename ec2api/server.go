package ec2api

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"stratus/internal/sigv4"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	meta "stratus/meta/client"
)

// APIVersion is the EC2 API version whose wire format the server speaks; responses are in
// its XML namespace.
const APIVersion = "2016-11-15"

// Namespace is the XML namespace of every response.
const Namespace = "http://ec2.amazonaws.com/doc/" + APIVersion + "/"

// Config configures a Server.
type Config struct {
	// Region is the one region the server is: clients must sign for it, and
	// DescribeRegions lists it alone.
	Region string
	// Zones are the region's availability zones. Empty means one, Region + "a".
	Zones []string
	// MaxClockSkew bounds the distance between a request's date and the server's clock.
	// Zero means DefaultMaxClockSkew. Larger values widen the window in which a captured
	// request can be replayed.
	MaxClockSkew time.Duration
	// MaxBodyBytes bounds a request body (the form-encoded parameters). Zero means
	// DefaultMaxBodyBytes. EC2's largest parameters (user data, 16 KiB before base64)
	// fit with room.
	MaxBodyBytes int64
	// KeyCacheTTL is how long an access key (or its absence) is remembered without asking
	// meta again: a revoked key keeps working here for up to this long. Zero means
	// DefaultKeyCacheTTL.
	KeyCacheTTL time.Duration
	// FailureLimit is how many failed authentications (a wrong signature, an unknown or
	// disabled access key) an access key, and separately a client address, may have in
	// quick succession; past it their requests are refused with RequestLimitExceeded (503,
	// Retry-After) before any secret is looked up, until they earn an attempt back (one
	// every FailureWindow/FailureLimit). An address that authenticated with a key in the
	// last hour is not refused while it uses that key, so a stranger cannot lock the
	// key's owner out. Zero means sigv4.DefaultFailureLimit (20); negative turns it off.
	// The same limiter guards the S3 port.
	FailureLimit int
	// FailureWindow is the time over which FailureLimit failures are allowed. Zero means
	// sigv4.DefaultFailureWindow (1 minute).
	FailureWindow time.Duration
	// TrustedProxies are reverse proxies in front of the server whose X-Forwarded-For
	// names the client a failure is counted against (see s3api.AuthConfig); empty: the
	// connection's peer is the client.
	TrustedProxies []netip.Prefix
	// CallTimeout bounds the catalog calls of one request. Zero means DefaultCallTimeout.
	CallTimeout time.Duration
	// Logger receives request failures that need a look (InternalError) at Warn and one
	// line per request at Debug; never parameters, keys or signatures.
	Logger *slog.Logger
	// Registerer takes the server's metrics; nil registers none.
	Registerer prometheus.Registerer
	// LostHostHeartbeats is how many of its heartbeat intervals a compute host may stay
	// silent before it is lost: no instances are placed on it and its instances show
	// impaired. Zero means DefaultLostHostHeartbeats.
	LostHostHeartbeats int
	// Now returns the current time; nil means time.Now. Tests pass a fixed clock.
	Now func() time.Time
	// S3Endpoint is the S3 API (http://host:port) RegisterImage reads images through, as
	// the caller; empty turns RegisterImage off (UnsupportedOperation).
	S3Endpoint string
	// S3Region is the region S3 requests are signed for; empty means Region.
	S3Region string
	// S3HTTPClient reaches S3Endpoint; nil means a client with a 30-second timeout.
	S3HTTPClient *http.Client
}

// Defaults of Config.
const (
	DefaultRegion       = "us-east-1"
	DefaultMaxBodyBytes = 1 << 20
	DefaultKeyCacheTTL  = 10 * time.Second
	DefaultCallTimeout  = 20 * time.Second
)

// DefaultConfig returns a Config of region us-east-1 with one zone.
func DefaultConfig() Config { return Config{Region: DefaultRegion} }

// Validate says what is wrong with cfg, naming the field.
func (cfg Config) Validate() error {
	if cfg.Region == "" || strings.ContainsAny(cfg.Region, "/ ") {
		return fmt.Errorf("region %q: want a region name such as us-east-1", cfg.Region)
	}
	for _, z := range cfg.Zones {
		if !strings.HasPrefix(z, cfg.Region) || len(z) == len(cfg.Region) {
			return fmt.Errorf("zone %q: want the region's name and a suffix, such as %sa", z, cfg.Region)
		}
	}
	if cfg.MaxBodyBytes < 0 {
		return fmt.Errorf("max body bytes (%d) must not be negative", cfg.MaxBodyBytes)
	}
	return nil
}

// Server serves the EC2 Query API over the meta catalog. It is an http.Handler; safe for
// concurrent use.
type Server struct {
	cfg     Config
	meta    *meta.Client
	keys    *keyCache
	limiter *sigv4.FailureLimiter // nil when the limit is off
	log     *slog.Logger
	m       *metrics
}

// New returns a Server that keeps its records in mc and checks signatures with secrets
// from mc (which must present the ec2api role, or meta, to the catalog).
func New(cfg Config, mc *meta.Client) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(cfg.Zones) == 0 {
		cfg.Zones = []string{cfg.Region + "a"}
	}
	if cfg.MaxClockSkew <= 0 {
		cfg.MaxClockSkew = DefaultMaxClockSkew
	}
	if cfg.LostHostHeartbeats <= 0 {
		cfg.LostHostHeartbeats = DefaultLostHostHeartbeats
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.KeyCacheTTL <= 0 {
		cfg.KeyCacheTTL = DefaultKeyCacheTTL
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.FailureLimit == 0 {
		cfg.FailureLimit = sigv4.DefaultFailureLimit
	}
	if cfg.FailureWindow <= 0 {
		cfg.FailureWindow = sigv4.DefaultFailureWindow
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:  cfg,
		meta: mc,
		keys: &keyCache{src: mc, ttl: cfg.KeyCacheTTL, now: cfg.Now},
		log:  cfg.Logger,
		m:    m,
	}
	if cfg.FailureLimit > 0 {
		s.limiter = sigv4.NewFailureLimiter(cfg.FailureLimit, cfg.FailureWindow, sigv4.DefaultMaxTracked)
	}
	if cfg.Registerer != nil && mc != nil {
		if err := cfg.Registerer.Register(newFleetCollector(s)); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// call is one authenticated request as an action handler sees it.
type call struct {
	Action  string
	Account string
	// AccessKey is the key the request was signed with (RegisterImage reads S3 with it).
	AccessKey string
	Params    params
	// Host is the Host the client reached the server by (for endpoints in answers).
	Host string
}

// handler carries out one action and returns the response body: a pointer to a struct
// whose fields are the children of <ActionResponse>, embedding response.
type handler func(s *Server, ctx context.Context, c *call) (responder, error)

// actions maps every action name to its handler. Filled in by the files of each resource.
var actions = map[string]handler{}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	reqID := newRequestID()
	action := "unknown"
	resp, err := s.serve(w, r, &action)
	code := "OK"
	if err != nil {
		c, status, msg, known := apiError(err)
		code = c
		if !known {
			s.log.Warn("ec2 request failed", "req_id", reqID, "action", action, "err", err)
		}
		var e *Error
		retryAfter := time.Duration(0)
		if errors.As(err, &e) {
			retryAfter = e.RetryAfter
		}
		writeError(w, status, c, msg, reqID, retryAfter)
	} else {
		writeResponse(w, action, resp, reqID)
	}
	s.m.observe(action, code, time.Since(start))
	s.log.Debug("ec2 request", "req_id", reqID, "action", action, "code", code, "dur", time.Since(start))
}

// serve reads, authenticates and dispatches r; action is set once it is known to be one
// of ours (for metrics and logs, which must not carry arbitrary client strings).
func (s *Server) serve(w http.ResponseWriter, r *http.Request, action *string) (responder, error) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		return nil, errorf(ErrInvalidAction, "The EC2 Query API takes GET and POST requests, not %s.", r.Method)
	}
	// w lets net/http close the connection after a too-large body it did not read.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, errorf(ErrRequestTooLarge, "The request body is over %d bytes.", s.cfg.MaxBodyBytes)
	case err != nil:
		return nil, fmt.Errorf("read request body: %w", err)
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.CallTimeout)
	defer cancel()
	who, err := s.authenticate(ctx, r, body)
	if err != nil {
		return nil, err
	}
	form := body
	if r.Method != http.MethodPost {
		form = nil
	}
	p, err := parseParams(r.URL.RawQuery, form)
	if err != nil {
		return nil, err
	}
	name, ok := p["Action"]
	if !ok || name == "" {
		return nil, errorf(ErrMissingAction, "The request must contain the parameter Action")
	}
	h, ok := actions[name]
	if !ok {
		return nil, errorf(ErrInvalidAction, "The action %s is not valid for this web service.", truncate(name, 64))
	}
	*action = name
	if _, err := p.required("Version"); err != nil {
		return nil, err
	}
	dry, err := p.boolean("DryRun")
	if err != nil {
		return nil, err
	}
	if dry {
		return nil, errorf(ErrDryRunOperation, "Request would have succeeded, but DryRun flag is set.")
	}
	resp, err := h(s, ctx, &call{Action: name, Account: who.Account, AccessKey: who.AccessKey, Params: p, Host: r.Host})
	return resp, catalogError(err)
}

// catalogError turns the catalog's transport failures into Unavailable; anything else
// passes unchanged.
func catalogError(err error) error {
	var e *Error
	switch {
	case err == nil || errors.As(err, &e):
		return err
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, meta.ErrUnavailable), errors.Is(err, meta.ErrNoLeader):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	case errors.Is(err, meta.ErrTooManyRequests):
		return fmt.Errorf("%w: %w", ErrRequestLimitExceeded, err)
	case errors.Is(err, meta.ErrForbidden), errors.Is(err, meta.ErrUnauthenticated):
		// The server's own certificate may not do this: an operator's mistake, not the
		// client's, so it is logged as an internal error.
		return fmt.Errorf("catalog refused the ec2api certificate: %w", err)
	}
	return err
}

// newRequestID returns a random UUID (version 4), the form EC2 request IDs take.
func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
