package console

import (
	"context"
	"embed"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"stratus/internal/sigv4"
)

//go:embed assets
var assets embed.FS

// Server is a console: its page, its JSON API and its sessions.
type Server struct {
	cfg      Config
	log      *slog.Logger
	sessions *sessions
	metrics  *metricsSampler
	logins   *sigv4.FailureLimiter
	mux      *http.ServeMux
}

// New makes a console; Run samples the metrics the overview charts show.
func New(cfg Config) (*Server, error) {
	if cfg.S3Endpoint == "" {
		return nil, errors.New("console: no S3 endpoint")
	}
	def := DefaultConfig()
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = def.SessionTTL
	}
	if cfg.PartSize < 5<<20 {
		cfg.PartSize = def.PartSize // S3's smallest part but the last
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = def.CallTimeout
	}
	if cfg.MetricsInterval <= 0 {
		cfg.MetricsInterval = def.MetricsInterval
	}
	if cfg.Region == "" {
		cfg.Region = def.Region
	}
	if cfg.LoginFailureLimit == 0 {
		cfg.LoginFailureLimit, cfg.LoginFailureWindow = def.LoginFailureLimit, def.LoginFailureWindow
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("part", "console"), sessions: newSessions(cfg.SessionTTL),
		metrics: newMetricsSampler(cfg.MetricsURLs, cfg.HTTPClient), mux: http.NewServeMux()}
	if cfg.LoginFailureLimit > 0 {
		s.logins = sigv4.NewFailureLimiter(cfg.LoginFailureLimit, cfg.LoginFailureWindow, sigv4.DefaultMaxTracked)
	}
	s.routes()
	return s, nil
}

// Run samples the daemons' metrics until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	s.metrics.run(ctx, s.cfg.MetricsInterval)
	return nil
}

// Handler serves the console.
func (s *Server) Handler() http.Handler { return s }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// The page loads only its own files and talks only to its own server.
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	s.mux.ServeHTTP(w, r)
}

func (s *Server) routes() {
	static, _ := fs.Sub(assets, "assets")
	files := http.FileServerFS(static)
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", files))
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		http.ServeFileFS(w, r, static, "index.html")
	})

	s.mux.HandleFunc("POST /api/login", s.login)
	s.mux.HandleFunc("POST /api/logout", s.authed(s.logout))
	s.mux.HandleFunc("GET /api/session", s.authed(s.whoami))

	s.s3Routes()
	s.ec2Routes()
	s.adminRoutes()
	s.mux.HandleFunc("GET /api/metrics", s.authed(s.metricsSeries))
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such API call: "+r.Method+" "+r.URL.Path)
	})
}

// callCtx bounds one API call.
func (s *Server) callCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), s.cfg.CallTimeout)
}

// stateChanging tells the methods that need a CSRF token.
func stateChanging(method string) bool {
	return !strings.EqualFold(method, http.MethodGet) && !strings.EqualFold(method, http.MethodHead)
}

// shortTimeout is the deadline of probes the console makes of its own accord.
const shortTimeout = 5 * time.Second
