package console

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"time"
)

// Config is how a console reaches the cluster and treats its users.
type Config struct {
	// S3Endpoint and EC2Endpoint are the public API URLs; EC2Endpoint may be empty (no
	// compute pages).
	S3Endpoint  string
	EC2Endpoint string
	Region      string
	// SessionTTL is how long a login lasts.
	SessionTTL time.Duration
	// SecureCookies marks the session cookie Secure: set it when the console is served
	// over TLS.
	SecureCookies bool
	// AdminAccount is the account whose users see the admin pages.
	AdminAccount string
	// Admin backs the admin pages; nil turns them off.
	Admin Admin
	// MetricsURLs are daemons' /metrics pages the overview charts sample.
	MetricsURLs []string
	// MetricsInterval is the time between samples of MetricsURLs.
	MetricsInterval time.Duration
	// PartSize is the size of an upload's multipart parts; files up to it are one PUT.
	PartSize int64
	// LoginFailureLimit is how many failed logins a browser's address, and separately an
	// access key, may have per LoginFailureWindow before the console refuses more. It sits
	// below S3's own limit, which counts the console's address for every browser behind
	// it, so one browser's guessing cannot lock the others out of logging in.
	LoginFailureLimit  int
	LoginFailureWindow time.Duration
	// TrustedProxies are reverse proxies in front of the console: from one of them, the
	// browser's address (for the failed-login limit) is the rightmost address of
	// X-Forwarded-For that is not a trusted proxy. Otherwise it is the connection's peer.
	TrustedProxies []netip.Prefix
	// HTTPClient makes the API calls; its transport should have timeouts.
	HTTPClient *http.Client
	// CallTimeout bounds each API call but uploads and downloads (which last as long as
	// their bytes flow).
	CallTimeout time.Duration
	Logger      *slog.Logger
}

// DefaultConfig is a console with one-hour sessions and 8 MiB parts.
func DefaultConfig() Config {
	return Config{Region: "us-east-1", SessionTTL: time.Hour, AdminAccount: "admin",
		MetricsInterval: 5 * time.Second, PartSize: 8 << 20, CallTimeout: 30 * time.Second,
		LoginFailureLimit: 10, LoginFailureWindow: time.Minute}
}

// Admin is what the admin pages need from the cluster's operator tools.
type Admin interface {
	// Status is the cluster's health as `stratus status --json` prints it.
	Status(ctx context.Context) (any, error)
	Users(ctx context.Context) ([]User, error)
	CreateUser(ctx context.Context, name string) (NewKey, error)
	CreateKey(ctx context.Context, account string) (NewKey, error)
	RevokeKey(ctx context.Context, id string) error
}

// User is an account and its access keys' IDs (never their secrets).
type User struct {
	Account   string    `json:"account"`
	CreatedAt time.Time `json:"created_at"`
	Keys      []string  `json:"keys"`
}

// NewKey is a freshly made access key, the only time its secret is shown.
type NewKey struct {
	Account   string `json:"account"`
	AccessKey string `json:"access_key"`
	SecretKey string `json:"secret_key"`
}
