package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"stratus/internal/hlc"
	"stratus/internal/pki"
	metaclient "stratus/meta/client"
	objclient "stratus/objectd/client"
	"stratus/proxy"
	"stratus/ring"
	"stratus/s3api"
	"stratus/s3api/lifecycle"
)

func init() { register(newProxyCmd) }

// frontFlags configure the S3 front end: the proxy and the S3 API over it.
type frontFlags struct {
	listen string
	// metrics is where /metrics and /healthz are served: an address, "auto" (the S3
	// listener's host, its port + 100) or "off".
	metrics string
	region  string
	domain  string
	tlsCert string
	tlsKey  string
	// auth tunes the S3 signature checks' limit on failed attempts.
	authFailureLimit  int
	authFailureWindow time.Duration
	trustedProxies    []string
	// lifecycleInterval is the time between the lifecycle scanner's passes; 0: no scanner.
	lifecycleInterval time.Duration
}

func (f *frontFlags) addFlags(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", "127.0.0.1:9000", "address of the S3 API")
	fl.StringVar(&f.metrics, "metrics-listen", "auto", "address of /metrics (Prometheus) and /healthz (plain HTTP); auto: the --listen host with its port + 100 (9000 → 9100); off: none")
	fl.StringVar(&f.region, "region", "us-east-1", "S3 region")
	fl.StringVar(&f.domain, "domain", "", "domain for virtual-hosted-style buckets (<bucket>.<domain>); empty: path style only")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate (chain) to serve S3 over HTTPS")
	fl.StringVar(&f.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	fl.IntVar(&f.authFailureLimit, "auth-failure-limit", s3api.DefaultFailureLimit, "failed S3 authentications allowed per access key and per client address in --auth-failure-window before SlowDown (negative: no limit)")
	fl.DurationVar(&f.authFailureWindow, "auth-failure-window", s3api.DefaultFailureWindow, "the window of --auth-failure-limit")
	fl.DurationVar(&f.lifecycleInterval, "lifecycle-interval", lifecycle.DefaultConfig().Interval, "time between passes of the S3 lifecycle scanner, which expires objects and aborts uploads as buckets' lifecycle rules say (first pass a minute after start); 0: no scanner in this process")
	fl.StringSliceVar(&f.trustedProxies, "trusted-proxies", nil, "addresses or CIDR prefixes of load balancers whose X-Forwarded-For names the client (default: none; the connection's peer is the client)")
}

// metricsAddr resolves --metrics-listen: "" for off, "auto" next to the S3 port, so
// several proxies on one host each get their own.
func (f frontFlags) metricsAddr() string {
	switch f.metrics {
	case "off", "":
		return ""
	case "auto":
		host, port, err := net.SplitHostPort(f.listen)
		n, perr := strconv.Atoi(port)
		if err != nil || perr != nil || n == 0 || n+100 > 65535 {
			return net.JoinHostPort(host, "0")
		}
		return net.JoinHostPort(host, strconv.Itoa(n+100))
	}
	return f.metrics
}

// startFrontEnd starts the S3 API over a new proxy in g, with its metrics on reg, and
// returns the proxy (which has no ring yet) and the endpoint's URL. The proxy reaches
// storage nodes with objHTTP (nil: over the network) and objTLS (nil: plain HTTP).
func startFrontEnd(ctx context.Context, g *errgroup.Group, f frontFlags, mc *metaclient.Client, objHTTP *http.Client, objTLS *tls.Config, reg prometheus.Registerer) (*proxy.Proxy, string, error) {
	log := slog.Default()
	ocfg := objclient.DefaultConfig()
	ocfg.HTTPClient = objHTTP
	ocfg.TLS = objTLS
	pcfg := proxy.DefaultConfig()
	pcfg.Registerer = reg
	px, err := proxy.New(pcfg, objclient.New(ocfg), &hlc.Clock{}, log.With("part", "proxy"))
	if err != nil {
		return nil, "", err
	}
	// Any region is accepted in signatures: clients default to their own (often us-east-1).
	auth := s3api.AuthConfig{FailureLimit: f.authFailureLimit, FailureWindow: f.authFailureWindow}
	if auth.TrustedProxies, err = parseTrustedProxies(f.trustedProxies); err != nil {
		return nil, "", err
	}
	verifier := s3api.NewVerifier(auth, &s3api.MetaCredentials{Meta: mc, TTL: 10 * time.Second})
	scfg := s3api.DefaultServerConfig()
	scfg.Region, scfg.Domain, scfg.Logger, scfg.Registerer = f.region, f.domain, log.With("part", "s3api"), reg
	srv := s3api.NewServer(scfg, px, mc, verifier)
	if err := startLifecycle(ctx, g, f, mc, srv, reg); err != nil {
		return nil, "", err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	scheme := "http"
	if f.tlsCert != "" || f.tlsKey != "" {
		cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
		if err != nil {
			return nil, "", fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		scheme = "https"
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return nil, "", err
	}
	if hs.TLSConfig != nil {
		ln = tls.NewListener(ln, hs.TLSConfig)
	}
	serveHTTP(ctx, g, hs, ln)
	return px, scheme + "://" + ln.Addr().String(), nil
}

// startLifecycle runs the lifecycle scanner in g over the catalog mc, removing through srv,
// unless --lifecycle-interval is 0. Every front end may run one: removals are conditional
// on what the scanner listed, so scanners over the same catalog duplicate listing work but
// never a removal.
func startLifecycle(ctx context.Context, g *errgroup.Group, f frontFlags, mc *metaclient.Client, srv *s3api.Server, reg prometheus.Registerer) error {
	if f.lifecycleInterval == 0 {
		return nil
	}
	cfg := lifecycle.DefaultConfig()
	cfg.Interval = f.lifecycleInterval
	cfg.FirstPass = min(cfg.FirstPass, f.lifecycleInterval)
	cfg.Logger, cfg.Registerer = slog.Default().With("part", "lifecycle"), reg
	sc, err := lifecycle.New(cfg, mc, srv)
	if err != nil {
		return fmt.Errorf("--lifecycle-interval: %w", err)
	}
	g.Go(func() error { return sc.Run(ctx) })
	return nil
}

func newProxyCmd() *cobra.Command {
	var f frontFlags
	var members []string
	var ident identityFlags
	cmd := &cobra.Command{
		Use:   "proxy",
		Short: "Serve the S3 API: route object reads and writes to storage nodes by the ring in meta",
		Long: `Serve the S3 API on --listen. Buckets, the object index and credentials come from the meta
catalog (--meta); the ring comes from meta too (published with 'stratus ring publish'), and
a newer ring is adopted as soon as it is published. Run as many proxies as you like.

The proxy reaches meta and storage nodes over mutual TLS with a proxy certificate (by default
/etc/stratus/pki/proxy.crt and proxy.key, with ca.crt; see 'stratus ca'). Settings come
from flags, then STRATUS_PROXY_<FLAG>, then the JSON --config file, then defaults.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := ident.load()
			if err != nil {
				return err
			}
			mc, err := metaClientAs(id, metaAddrs(members))
			if err != nil {
				return err
			}
			defer mc.Close()
			g, ctx := errgroup.WithContext(cmd.Context())
			reg := newRegistry()
			px, endpoint, err := startFrontEnd(ctx, g, f, mc, nil, id.ClientTLS(pki.RoleObjectd), reg)
			if err != nil {
				return err
			}
			if err := serveMetrics(ctx, g, f.metricsAddr(), reg); err != nil {
				return err
			}
			g.Go(func() error { return followRing(ctx, mc, slog.Default(), px.SetRing) })
			g.Go(func() error { return followPolicyRings(ctx, mc, slog.Default(), px) })
			slog.Info("proxy serving S3", "endpoint", endpoint, "certificate", id.Name())
			err = g.Wait()
			slog.Info("proxy stopped", "err", err)
			return err
		},
	}
	daemonSettings(cmd, "STRATUS_PROXY_")
	f.addFlags(cmd)
	cmd.Flags().StringSliceVar(&members, "meta", nil, "addresses of meta members (default $STRATUS_META_ADDR, else 127.0.0.1:7400)")
	ident.addFlags(cmd.Flags(), pki.RoleProxy, DaemonPKIDir)
	return cmd
}

// parseTrustedProxies reads --trusted-proxies: addresses or CIDR prefixes.
func parseTrustedProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, p := range list {
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			addr, aerr := netip.ParseAddr(p)
			if aerr != nil {
				return nil, fmt.Errorf("--trusted-proxies %q: want an address or a CIDR prefix", p)
			}
			pfx = netip.PrefixFrom(addr, addr.BitLen())
		}
		out = append(out, pfx)
	}
	return out, nil
}

// newRegistry returns a metrics registry with the Go runtime's and the process's own.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// serveMetrics serves reg at /metrics and a liveness answer at /healthz on addr, in g,
// until ctx ends. An empty addr serves nothing.
func serveMetrics(ctx context.Context, g *errgroup.Group, addr string, reg *prometheus.Registry) error {
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--metrics-listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	serveHTTP(ctx, g, hs, ln)
	return nil
}

// serveHTTP serves hs on ln in g until ctx ends, then shuts it down, giving requests in
// flight 10 seconds to finish before their connections are closed.
func serveHTTP(ctx context.Context, g *errgroup.Group, hs *http.Server, ln net.Listener) {
	g.Go(func() error {
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := hs.Shutdown(sctx); err != nil {
			slog.Warn("requests still running after 10 s of shutdown: closing their connections", "addr", ln.Addr().String())
			hs.Close() // also cancels the remaining requests' contexts
		}
		return nil
	})
}

// followRing calls adopt with each ring published in meta, the current one first, until ctx
// ends. The ring comes from meta over mutual TLS, and only operators may publish one; adopt
// must refuse a version older than the one in use.
func followRing(ctx context.Context, mc *metaclient.Client, log *slog.Logger, adopt func(*ring.Ring) bool) error {
	var seen uint64
	for ctx.Err() == nil {
		rv, idx, err := mc.WaitRing(ctx, objectPolicy, seen, time.Minute)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, metaclient.ErrNotFound) {
				log.Warn("wait for ring", "err", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(2 * time.Second):
			}
			continue
		}
		seen = idx
		r, err := ring.Decode(rv.Data)
		if err != nil {
			log.Error("published ring unreadable", "version", rv.Version, "err", err)
			continue
		}
		adopt(r)
	}
	return nil
}
