package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"stratus/ec2api"
	"stratus/internal/pki"
	"stratus/internal/sigv4"
	metaclient "stratus/meta/client"
)

func init() { register(newEC2APICmd) }

// DefaultEC2Listen is where the EC2 API listens by default: Eucalyptus's port.
const DefaultEC2Listen = "127.0.0.1:8773"

// startEC2API serves the EC2 API on listen in g until ctx ends, with its records and
// secrets in mc (which presents an ec2api certificate), and returns its URL.
func startEC2API(ctx context.Context, g *errgroup.Group, listen string, cfg ec2api.Config, mc *metaclient.Client) (string, error) {
	srv, err := ec2api.New(cfg, mc)
	if err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return "", fmt.Errorf("EC2 API: %w", err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 30 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	serveHTTP(ctx, g, hs, ln)
	return "http://" + ln.Addr().String(), nil
}

func newEC2APICmd() *cobra.Command {
	var listen, metricsListen string
	var members, trusted []string
	var ident identityFlags
	cfg := ec2api.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "ec2api",
		Short: "Serve the EC2 API: instances, images, volumes, snapshots, key pairs and tags over the meta catalog",
		Long: `Serve the EC2 Query API (version 2016-11-15) on --listen, for the aws CLI, boto3 and the
SDKs: aws --endpoint-url http://127.0.0.1:8773 --region us-east-1 ec2 describe-volumes

Requests are signed with the same access keys as S3 (SigV4, service ec2, region --region).
Records and secrets come from the meta catalog (--meta), reached over mutual TLS with an
ec2api certificate (by default /etc/stratus/pki/ec2api.crt and ec2api.key, with ca.crt;
'stratus ca issue --role ec2api'). Settings come from flags, then STRATUS_EC2API_<FLAG>,
then the JSON --config file, then defaults.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := ident.load()
			if err != nil {
				return err
			}
			if cfg.TrustedProxies, err = parseTrustedProxies(trusted); err != nil {
				return err
			}
			mc, err := metaClientAs(id, metaAddrs(members))
			if err != nil {
				return err
			}
			defer mc.Close()
			g, ctx := errgroup.WithContext(cmd.Context())
			reg := newRegistry()
			cfg.Logger, cfg.Registerer = slog.Default().With("part", "ec2api"), reg
			endpoint, err := startEC2API(ctx, g, listen, cfg, mc)
			if err != nil {
				return err
			}
			if err := serveMetrics(ctx, g, ec2MetricsAddr(metricsListen, listen), reg); err != nil {
				return err
			}
			slog.Info("ec2api serving", "endpoint", endpoint, "region", cfg.Region, "certificate", id.Name())
			err = g.Wait()
			slog.Info("ec2api stopped", "err", err)
			return err
		},
	}
	daemonSettings(cmd, "STRATUS_EC2API_")
	f := cmd.Flags()
	f.StringVar(&listen, "listen", DefaultEC2Listen, "address of the EC2 API")
	f.StringVar(&cfg.Region, "region", cfg.Region, "the region this API is: clients sign for it")
	f.StringSliceVar(&cfg.Zones, "zones", nil, "availability zones of the region (default <region>a)")
	f.DurationVar(&cfg.MaxClockSkew, "max-clock-skew", ec2api.DefaultMaxClockSkew, "how far a request's date may be from this server's clock")
	f.IntVar(&cfg.FailureLimit, "auth-failure-limit", sigv4.DefaultFailureLimit, "failed authentications allowed per access key and per client address in --auth-failure-window before RequestLimitExceeded (negative: no limit)")
	f.DurationVar(&cfg.FailureWindow, "auth-failure-window", sigv4.DefaultFailureWindow, "the window of --auth-failure-limit")
	f.IntVar(&cfg.LostHostHeartbeats, "lost-host-heartbeats", ec2api.DefaultLostHostHeartbeats, "heartbeat intervals a compute host may miss before it is lost: nothing placed on it, its instances impaired")
	f.StringSliceVar(&trusted, "trusted-proxies", nil, "addresses or CIDR prefixes of load balancers whose X-Forwarded-For names the client (default: none)")
	f.StringVar(&cfg.S3Endpoint, "s3-endpoint", "", "the S3 API (http://host:port) RegisterImage reads images through, as the caller; empty: RegisterImage is off")
	f.StringVar(&cfg.S3Region, "s3-region", "", "the region S3 requests are signed for (default --region)")
	f.StringVar(&metricsListen, "metrics-listen", "auto", "address of /metrics and /healthz (plain HTTP); auto: the --listen host with its port + 100 (8773 → 8873); off: none")
	f.StringSliceVar(&members, "meta", nil, "addresses of meta members (default $STRATUS_META_ADDR, else 127.0.0.1:7400)")
	ident.addFlags(f, pki.RoleEC2API, DaemonPKIDir)
	return cmd
}

// ec2MetricsAddr resolves --metrics-listen of the EC2 API as the proxy's is resolved.
func ec2MetricsAddr(flag, listen string) string {
	switch flag {
	case "off", "":
		return ""
	case "auto":
		host, port, err := net.SplitHostPort(listen)
		n, perr := strconv.Atoi(port)
		if err != nil || perr != nil || n == 0 || n+100 > 65535 {
			return net.JoinHostPort(host, "0")
		}
		return net.JoinHostPort(host, strconv.Itoa(n+100))
	}
	return flag
}

// serverEC2 starts the all-in-one server's EC2 API, if --ec2-listen is set, reaching the
// catalog in-process as an ec2api and reading images through the server's S3 endpoint; it
// returns the endpoint ("" when off).
func serverEC2(ctx context.Context, g *errgroup.Group, f serverFlags, mc *metaclient.Client, reg prometheus.Registerer, s3Endpoint string) (string, error) {
	if f.ec2Listen == "" {
		return "", nil
	}
	cfg := ec2api.DefaultConfig()
	cfg.Region, cfg.Logger, cfg.Registerer = f.front.region, slog.Default().With("part", "ec2api"), reg
	cfg.S3Endpoint = s3Endpoint
	// The S3 port's limit on failed authentications applies here too.
	cfg.FailureLimit, cfg.FailureWindow = f.front.authFailureLimit, f.front.authFailureWindow
	var err error
	if cfg.TrustedProxies, err = parseTrustedProxies(f.front.trustedProxies); err != nil {
		return "", err
	}
	return startEC2API(ctx, g, f.ec2Listen, cfg, mc)
}
