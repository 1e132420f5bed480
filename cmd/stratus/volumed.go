package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync/atomic"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"stratus/internal/hlc"
	"stratus/internal/pki"
	objclient "stratus/objectd/client"
	"stratus/proxy"
	"stratus/ring"
	"stratus/volumed"
	"stratus/volumed/snapshot"
)

func init() { register(newVolumedCmd) }

// listenLoopback listens on addr, which must be a loopback address: NBD carries no
// authentication, so exports are for the local QEMU only.
func listenLoopback(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
		ln.Close()
		return nil, fmt.Errorf("%s is not a loopback address: NBD carries no authentication, so it is served to this host only (or on a unix socket)", addr)
	}
	return ln, nil
}

func newVolumedCmd() *cobra.Command {
	cfg := volumed.DefaultConfig()
	var listen, socket, metricsListen string
	var members []string
	var ident identityFlags
	cmd := &cobra.Command{
		Use:   "volumed",
		Short: "Serve the block volumes attached to this host over NBD",
		Long: `Run the block-volume daemon of a compute host: every volume attached to --host
('stratus volume attach ID --host H') is served over NBD as export <volume ID>, on --listen
(loopback TCP) and --socket (a unix socket), to the local QEMU:

  qemu-img info nbd://127.0.0.1:10809/vol-0123456789abcdef

The daemon keeps each attachment's lease renewed and writes the volume's chunks with the
lease's generation, so a forced attach elsewhere fences it. It reaches meta and the storage
nodes over mutual TLS with a volumed certificate (by default /etc/stratus/pki/volumed.crt and
volumed.key, with ca.crt). Settings come from flags, then STRATUS_VOLUMED_<FLAG>, then the
JSON --config file, then defaults.`,
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
			ocfg := objclient.DefaultConfig()
			ocfg.TLS = id.ClientTLS(pki.RoleObjectd)
			cl := objclient.New(ocfg)
			defer cl.CloseIdleConnections()

			reg := newRegistry()
			cfg.Registerer = reg
			cfg.Logger = slog.Default()
			// Snapshots go to the object store through a proxy of the daemon's own, with
			// its volumed certificate (storage nodes open names under .snap/ to it).
			px, err := proxy.New(proxy.DefaultConfig(), cl, &hlc.Clock{}, slog.Default().With("part", "proxy"))
			if err != nil {
				return err
			}
			cfg.Snapshots = snapshot.New(snapshot.DefaultConfig(), mc, px, slog.Default())
			var current atomic.Pointer[ring.Ring]
			srv, err := volumed.NewServer(cfg, mc, cl, current.Load)
			if err != nil {
				return err
			}
			var lns []net.Listener
			defer func() {
				for _, ln := range lns {
					ln.Close()
				}
			}()
			if listen != "" {
				ln, err := listenLoopback(listen)
				if err != nil {
					return fmt.Errorf("--listen: %w", err)
				}
				lns = append(lns, ln)
			}
			if socket != "" {
				os.Remove(socket) // a socket file left by a killed daemon
				ln, err := net.Listen("unix", socket)
				if err != nil {
					return fmt.Errorf("--socket: %w", err)
				}
				lns = append(lns, ln)
			}
			if len(lns) == 0 {
				return fmt.Errorf("give --listen or --socket")
			}
			g, ctx := errgroup.WithContext(cmd.Context())
			g.Go(func() error {
				return followRing(ctx, mc, slog.Default(), func(r *ring.Ring) bool {
					for {
						cur := current.Load()
						if cur != nil && r.Version() <= cur.Version() {
							return false
						}
						if current.CompareAndSwap(cur, r) {
							px.SetRing(r)
							return true
						}
					}
				})
			})
			if err := serveMetrics(ctx, g, metricsListen, reg); err != nil {
				return err
			}
			g.Go(func() error { return srv.Run(ctx, lns...) })
			slog.Info("volumed serving NBD", "host", cfg.Host, "listen", listen, "socket", socket, "certificate", id.Name())
			err = g.Wait()
			slog.Info("volumed stopped", "err", err)
			return err
		},
	}
	daemonSettings(cmd, "STRATUS_VOLUMED_")
	f := cmd.Flags()
	f.StringVar(&cfg.Host, "host", defaultHost(), "this host's name in attachments")
	f.StringVar(&listen, "listen", defaultNBDAddr, "loopback address to serve NBD on (empty: none)")
	f.StringVar(&socket, "socket", "", "unix socket to serve NBD on (empty: none)")
	f.StringVar(&metricsListen, "metrics-listen", "127.0.0.1:9109", "address of /metrics and /healthz (plain HTTP); empty: none")
	f.StringSliceVar(&members, "meta", nil, "addresses of meta members (default $STRATUS_META_ADDR, else 127.0.0.1:7400)")
	f.DurationVar(&cfg.LeaseTTL, "lease-ttl", cfg.LeaseTTL, "lease period the daemon renews attachments for (every third of it)")
	ident.addFlags(f, pki.RoleVolumed, DaemonPKIDir)
	return cmd
}
