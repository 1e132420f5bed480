package s3api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"stratus/internal/hlc"
	meta "stratus/meta/client"
	objclient "stratus/objectd/client"
	"stratus/proxy"
)

// ServerConfig configures the S3 front end.
type ServerConfig struct {
	// Region is what GetBucketLocation answers and what signatures are scoped to.
	Region string
	// Domain enables virtual-hosted-style addressing: a request for
	// "<bucket>.<Domain>" names the bucket in its host. Empty means path style only.
	Domain string
	// MaxObjectBytes bounds a single PUT (S3 allows 5 GiB).
	MaxObjectBytes int64
	// Logger receives one line per failed request and lifecycle events.
	Logger *slog.Logger
	// Registerer receives the front end's metrics, the Verifier's included; nil registers
	// none.
	Registerer prometheus.Registerer
	// Now is the clock Object Lock retention periods are judged by; nil is time.Now.
	Now func() time.Time
}

// DefaultServerConfig returns S3's usual limits.
func DefaultServerConfig() ServerConfig {
	return ServerConfig{Region: "us-east-1", MaxObjectBytes: 5 << 30}
}

// Server serves the S3 REST API over the proxy (object bytes) and the meta catalog
// (buckets and the object index).
type Server struct {
	cfg   ServerConfig
	data  *proxy.Proxy
	meta  *meta.Client
	auth  *Verifier
	log   *slog.Logger
	reqID atomic.Uint64
	start int64
	m     *metrics
	// policies remembers parsed bucket policies (bucketpolicyeval.go).
	policies policyCache
	// spolicies remembers storage policies (storagepolicy.go).
	spolicies storagePolicies
	// buckets remembers bucket records read, for writes (writegrant.go).
	buckets bucketCache
}

// NewServer returns the S3 handler.
func NewServer(cfg ServerConfig, data *proxy.Proxy, catalog *meta.Client, auth *Verifier) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if auth != nil {
		auth.m.register(cfg.Registerer)
	}
	return &Server{cfg: cfg, data: data, meta: catalog, auth: auth, log: cfg.Logger, start: time.Now().UnixNano(),
		m: newMetrics(cfg.Registerer)}
}

// request is one S3 call being served.
type request struct {
	w       http.ResponseWriter
	r       *http.Request
	id      string
	account string
	// body is the payload, checked against its signature or hash as it is read; length
	// is how many bytes it yields (-1 if unknown).
	body   io.ReadCloser
	length int64
	bucket string
	key    string
	// trailer receives the trailing headers of an aws-chunked body once it has been read
	// to its end; nil for other payloads.
	trailer http.Header
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if r.ContentLength == 0 && r.ProtoAtLeast(1, 1) && r.Header.Get("Expect") != "" {
		// net/http sends "100 Continue" when a handler first reads a body, and a body of
		// nothing is never read. Clients that wait for the interim answer before they read
		// the final one (boto3 with "Expect: 100-continue" on every PutObject) get it here.
		// Any other expectation has been refused by net/http already.
		w.WriteHeader(http.StatusContinue)
	}
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	w = sw
	rq := &request{w: w, r: r, id: s.newRequestID()}
	defer func() { s.m.observe(opName(r.Method, rq.bucket, rq.key), sw.status, start) }()
	w.Header().Set(HeaderRequestID, rq.id)
	w.Header().Set("Server", "Stratus")
	if err := s.serve(rq); err != nil {
		if r.Context().Err() != nil {
			// The client went away; nobody is left to answer.
			s.log.Debug("request abandoned by the client", "req_id", rq.id, "method", r.Method, "bucket", rq.bucket, "err", err)
			return
		}
		if _, mapped := WriteError(w, r, rq.id, err); !mapped {
			s.log.Error("request failed", "req_id", rq.id, "method", r.Method, "bucket", rq.bucket, "err", err)
		} else {
			s.log.Debug("request refused", "req_id", rq.id, "method", r.Method, "bucket", rq.bucket, "err", err)
		}
	}
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Server) newRequestID() string {
	var b [16]byte
	n := s.reqID.Add(1)
	hex.Encode(b[:8], []byte{byte(s.start >> 24), byte(s.start >> 16), byte(s.start >> 8), byte(s.start)})
	hex.Encode(b[8:], []byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
	return strings.ToUpper(string(b[:]))
}

// serve authenticates, addresses and dispatches one request.
func (s *Server) serve(rq *request) error {
	r := rq.r
	var err error
	if rq.bucket, rq.key, err = s.address(r); err != nil {
		return err
	}
	if r.Method == http.MethodOptions {
		return s.preflight(rq) // browsers never sign a preflight
	}
	if origin := r.Header.Get("Origin"); origin != "" && rq.bucket != "" {
		s.corsHeaders(rq, origin)
	}
	if isPostObject(r, rq.bucket, rq.key) {
		return s.postObject(rq) // authenticated by the form's signed policy
	}
	auth, err := s.auth.Verify(r.Context(), r)
	if errors.Is(err, ErrAnonymous) {
		auth = anonymousAuth(r) // account "": only what ACLs or the bucket policy grant everyone
	} else if err != nil {
		return err
	}
	defer auth.Body.Close()
	rq.account, rq.body, rq.length = auth.Owner, auth.Body, auth.ContentLength
	rq.trailer = auth.Trailer
	q := r.URL.Query()
	switch {
	case rq.bucket == "":
		if r.Method != http.MethodGet {
			return ErrMethodNotAllowed
		}
		return s.listBuckets(rq)
	case rq.key == "":
		return s.bucketOp(rq, q)
	default:
		return s.objectOp(rq, q)
	}
}

// address finds the bucket and key: from the host for virtual-hosted style, else from the
// first path segment. The path is used as sent (EscapedPath), so a key may hold "//",
// "./" or "../" as S3 allows.
func (s *Server) address(r *http.Request) (bucket, key string, err error) {
	path := r.URL.Path
	host := r.Host
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host = host[:i]
	}
	if s.cfg.Domain != "" && strings.HasSuffix(host, "."+s.cfg.Domain) {
		bucket = strings.TrimSuffix(host, "."+s.cfg.Domain)
		key = strings.TrimPrefix(path, "/")
	} else {
		rest := strings.TrimPrefix(path, "/")
		bucket, key, _ = strings.Cut(rest, "/")
	}
	if key != "" {
		if err := checkKey(key); err != nil {
			return bucket, "", err
		}
	}
	return bucket, key, nil
}

// owned loads a bucket and checks that the caller owns it: for configuration actions only
// the owner may take (see authorize for the rest).
func (s *Server) owned(ctx context.Context, rq *request) (meta.Bucket, error) {
	b, _, err := s.ownedAt(ctx, rq)
	return b, err
}

// ownedAt is owned that also returns the bucket's mod index, for a conditional update.
func (s *Server) ownedAt(ctx context.Context, rq *request) (meta.Bucket, uint64, error) {
	b, mod, err := s.bucketOf(ctx, rq, rq.bucket, headerExpectedOwner)
	if err != nil {
		return b, 0, err
	}
	if rq.account == "" || b.Owner != rq.account {
		return b, 0, ErrAccessDenied
	}
	return b, mod, nil
}

// objectName is where bucket/key's bytes lived in the ring before every version had a name
// of its own (entries without Data still name it): "bucket/key", or, when that
// would pass the storage layer's name limit, ".h/bucket/" and the key's SHA-256. Bucket
// names never start with ".", so the two forms cannot collide.
func objectName(bucket, key string) string {
	if len(bucket)+1+len(key) <= objclient.MaxNameBytes {
		return bucket + "/" + key
	}
	sum := sha256.Sum256([]byte(key))
	return ".h/" + bucket + "/" + hex.EncodeToString(sum[:])
}

// lastModified converts a version stamp to the time S3 reports.
func lastModified(v uint64) time.Time { return hlc.Timestamp(v).Time().UTC().Truncate(time.Second) }
