package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"stratus/console"
	"stratus/internal/pki"
)

func init() { register(newConsoleCmd) }

// DefaultConsoleListen is where the web console listens unless told otherwise.
const DefaultConsoleListen = "127.0.0.1:9300"

// consoleFlags are the settings of the web console.
type consoleFlags struct {
	listen       string
	s3           string
	ec2          string
	region       string
	sessionTTL   time.Duration
	metrics      []string
	adminAccount string
	tlsCert      string
	tlsKey       string
	// secureCookies marks the session cookie Secure without --tls-cert: behind an HTTPS
	// reverse proxy.
	secureCookies bool
	// trustedProxies are reverse proxies whose X-Forwarded-For names the browser, whose
	// failed logins are then counted by that address.
	trustedProxies []string
}

func (f *consoleFlags) addFlags(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", DefaultConsoleListen, "address of the web console")
	fl.StringVar(&f.s3, "s3", "http://127.0.0.1:9000", "URL of the S3 API the console calls with each user's key")
	fl.StringVar(&f.ec2, "ec2", "", "URL of the EC2 API; empty: no volume, instance or image pages")
	fl.StringVar(&f.region, "region", "us-east-1", "region the console signs requests for")
	fl.DurationVar(&f.sessionTTL, "session-ttl", time.Hour, "how long a login lasts")
	fl.StringSliceVar(&f.metrics, "metrics", nil, "URLs of daemons' /metrics pages the overview charts sample (e.g. http://127.0.0.1:9100/metrics)")
	fl.StringVar(&f.adminAccount, "admin-account", "admin", "account whose users see the admin pages (cluster status, users and keys)")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate (chain) to serve the console over HTTPS (cookies are then Secure)")
	fl.StringVar(&f.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	fl.BoolVar(&f.secureCookies, "secure-cookies", false, "mark the session cookie Secure without --tls-cert (behind an HTTPS reverse proxy)")
	fl.StringSliceVar(&f.trustedProxies, "trusted-proxies", nil, "addresses or CIDR prefixes of reverse proxies whose X-Forwarded-For names the browser (default: none; the connection's peer is the browser)")
}

func newConsoleCmd() *cobra.Command {
	var f consoleFlags
	cmd := withMeta(&cobra.Command{
		Use:   "console",
		Short: "Run the web console against a cluster's S3 and EC2 APIs",
		Long: `Serve the web console: users log in with an access key and secret, and every action
is an S3 or EC2 request signed with their key. Sessions live in this process's memory.

The admin pages (cluster status, users and keys) need the admin certificate (--pki-dir or
--cert/--key/--ca, and --meta); without it the console runs without them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var admin console.Admin
			if id, err := identityFromFlags(cmd.Flags(), pki.RoleAdmin).load(); err != nil {
				slog.Warn("console: no admin certificate, admin pages off", "err", err)
			} else {
				addrs, _ := cmd.Flags().GetStringSlice("meta")
				a, err := newConsoleAdmin(id, metaAddrs(addrs))
				if err != nil {
					return err
				}
				defer a.close()
				admin = a
			}
			g, ctx := errgroup.WithContext(cmd.Context())
			url, err := startConsole(ctx, g, f, admin)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Stratus console at %s\n", url)
			return g.Wait()
		},
	})
	f.addFlags(cmd)
	daemonSettings(cmd, "STRATUS_CONSOLE_")
	return cmd
}

// consoleHTTPClient is how the console calls the APIs: every step has a deadline but the
// body's transfer, which lasts as long as an upload or download does.
func consoleHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 2 * time.Minute,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   16,
	}}
}

// startConsole serves the console in g until ctx ends and returns its URL.
func startConsole(ctx context.Context, g *errgroup.Group, f consoleFlags, admin console.Admin) (string, error) {
	hc := consoleHTTPClient()
	cfg := console.DefaultConfig()
	cfg.S3Endpoint, cfg.EC2Endpoint, cfg.Region = f.s3, f.ec2, f.region
	cfg.SessionTTL, cfg.AdminAccount, cfg.Admin, cfg.MetricsURLs = f.sessionTTL, f.adminAccount, admin, f.metrics
	cfg.HTTPClient, cfg.Logger = hc, slog.Default()
	cfg.SecureCookies = f.tlsCert != "" || f.secureCookies
	trusted, err := parseTrustedProxies(f.trustedProxies)
	if err != nil {
		return "", err
	}
	cfg.TrustedProxies = trusted
	srv, err := console.New(cfg)
	if err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return "", fmt.Errorf("console: %w", err)
	}
	scheme := "http"
	if f.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
		if err != nil {
			ln.Close()
			return "", fmt.Errorf("console: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		scheme = "https"
	}
	// No write timeout: a download lasts as long as its bytes flow. Slow clients are held
	// off by the header and idle timeouts.
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	g.Go(func() error { return srv.Run(ctx) })
	serveHTTP(ctx, g, hs, ln)
	g.Go(func() error {
		<-ctx.Done()
		hc.CloseIdleConnections()
		return nil
	})
	return scheme + "://" + ln.Addr().String(), nil
}

// serverConsole starts the all-in-one server's console (unless --console-listen is empty)
// against its own S3 and EC2 endpoints and metrics, with admin for the admin pages.
func serverConsole(ctx context.Context, g *errgroup.Group, f serverFlags, s3, ec2 string, admin console.Admin) (string, error) {
	if f.consoleListen == "" {
		return "", nil
	}
	cf := consoleFlags{listen: f.consoleListen, s3: s3, ec2: ec2, region: f.front.region, sessionTTL: f.consoleTTL, adminAccount: "admin",
		trustedProxies: f.front.trustedProxies} // a load balancer in front of S3 is in front of the console too
	if m := f.front.metricsAddr(); m != "" && !strings.HasSuffix(m, ":0") {
		cf.metrics = []string{"http://" + m + "/metrics"}
	}
	return startConsole(ctx, g, cf, admin)
}
