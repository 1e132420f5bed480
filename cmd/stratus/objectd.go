package main

import (
	"fmt"
	"log/slog"
	"net"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"stratus/internal/pki"
	"stratus/objectd"
	"stratus/ring"
)

func init() { register(newObjectdCmd) }

func newObjectdCmd() *cobra.Command {
	cfg := objectd.DefaultConfig()
	var listen string
	var members []string
	var ident identityFlags
	cmd := &cobra.Command{
		Use:   "objectd",
		Short: "Run a storage node: serve its devices, replicate and audit them",
		Long: `Run a storage node. It serves the devices under --devices-dir (one directory per disk,
named as in the ring, each prepared once with 'stratus objectd init-device'), replicates
their partitions to the other replicas named by the ring file, and audits what it stores.

The node serves mutual TLS only, with an objectd certificate (by default
/etc/stratus/pki/objectd.crt and objectd.key, with ca.crt; see 'stratus ca'): proxies and
other storage nodes must present theirs.

Settings come from flags, then STRATUS_OBJECTD_<FLAG> environment variables (e.g.
STRATUS_OBJECTD_DEVICES_DIR), then a JSON --config file, then defaults. The config file's
keys are the flag names or their snake_case forms, which are also the JSON names of
objectd.Config.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := ident.load()
			if err != nil {
				return err
			}
			cfg.Identity = id
			if err := cfg.Validate(); err != nil {
				return err
			}
			logger := slog.Default().With("node", listen)
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			srv, err := objectd.New(cfg, logger, reg)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			logger.Info("effective config", "config", fmt.Sprintf("%+v", cfg), "meta", members, "certificate", id.Name())
			if len(members) == 0 {
				return srv.Run(cmd.Context(), ln)
			}
			mc, err := metaClientAs(id, members)
			if err != nil {
				ln.Close()
				return err
			}
			defer mc.Close()
			g, ctx := errgroup.WithContext(cmd.Context())
			g.Go(func() error { return srv.Run(ctx, ln) })
			g.Go(func() error { return followPolicyRings(ctx, mc, logger, srv) })
			g.Go(func() error {
				return followRing(ctx, mc, logger, func(r *ring.Ring) bool {
					if !srv.SetRing(r) {
						return false
					}
					if cfg.RingPath != "" {
						// The file is the fallback for a start while meta is unreachable.
						if err := r.Save(cfg.RingPath); err != nil {
							logger.Warn("save the adopted ring", "path", cfg.RingPath, "err", err)
						}
					}
					return true
				})
			})
			return g.Wait()
		},
	}
	daemonSettings(cmd, "STRATUS_OBJECTD_")
	f := cmd.Flags()
	ident.addFlags(f, pki.RoleObjectd, DaemonPKIDir)
	f.StringVar(&listen, "listen", "127.0.0.1:6200", "address to serve the node's HTTP API on")
	f.StringVar(&cfg.DevicesDir, "devices-dir", "/srv/node", "directory holding one directory per device")
	f.BoolVar(&cfg.MountCheck, "mount-check", cfg.MountCheck, "require each device directory to be a mount point")
	f.StringVar(&cfg.AdvertiseAddr, "advertise-addr", "", "this node's ip:port in the ring (default: the listen address)")
	f.StringVar(&cfg.RingPath, "ring-path", "", "ring file to load and watch for newer versions; with --meta, also where the newest published ring is kept")
	f.StringSliceVar(&members, "meta", nil, "meta members to follow the published ring from (a newer one is adopted at once; the ring file stays the fallback)")
	f.DurationVar(&cfg.RingCheckInterval, "ring-check-interval", cfg.RingCheckInterval, "how often to look for a newer ring file")
	f.Int64Var(&cfg.SmallObjectMax, "small-object-max", cfg.SmallObjectMax, "largest object (bytes) kept in the per-device small-object log instead of a file of its own; 0 keeps every object in files")
	f.Int64Var(&cfg.SmallObjectSegmentMax, "small-object-segment-max", cfg.SmallObjectSegmentMax, "size (bytes) at which a small-object log segment is sealed; compaction rewrites whole sealed segments; 0: 64 MiB")
	f.DurationVar(&cfg.SmallObjectCompactInterval, "small-object-compact-interval", cfg.SmallObjectCompactInterval, "how often each small-object log is checked for compaction; 0: 10s")
	f.IntVar(&cfg.MaxOpenChunks, "max-open-chunks", cfg.MaxOpenChunks, "volume chunk files kept open between requests (a file closed to make room is synced first)")
	f.DurationVar(&cfg.MaxClockSkew, "max-clock-skew", cfg.MaxClockSkew, "refuse versions and tombstones timestamped further than this ahead of this node's clock")
	f.DurationVar(&cfg.ReclaimAge, "reclaim-age", cfg.ReclaimAge, "how long tombstones are kept; longer than any replica can be away")
	f.DurationVar(&cfg.ReplicationInterval, "replication-interval", cfg.ReplicationInterval, "pause between replication passes (0: off)")
	f.IntVar(&cfg.ReplicationConcurrency, "replication-concurrency", cfg.ReplicationConcurrency, "partitions replicated at once")
	f.Int64Var(&cfg.ReconstructBytesPerSecond, "reconstruct-bytes-per-second", cfg.ReconstructBytesPerSecond, "cap on bytes the fragment reconstructor decodes, writes and pushes (0: none)")
	f.Int64Var(&cfg.ReplicationBytesPerSecond, "replication-bytes-per-second", cfg.ReplicationBytesPerSecond, "cap on bytes pushed to peers (0: none)")
	f.DurationVar(&cfg.ReplicationTimeout, "replication-timeout", cfg.ReplicationTimeout, "deadline of each request to a peer")
	f.DurationVar(&cfg.AuditInterval, "audit-interval", cfg.AuditInterval, "pause between auditor passes (0: off)")
	f.DurationVar(&cfg.ReconstructInterval, "reconstruct-interval", cfg.ReconstructInterval, "pause between passes of the erasure-coded fragment reconstructor (0: off)")
	f.Int64Var(&cfg.AuditBytesPerSecond, "audit-bytes-per-second", cfg.AuditBytesPerSecond, "cap on the auditor's read rate (0: none)")
	f.DurationVar(&cfg.BodyIdleTimeout, "body-idle-timeout", cfg.BodyIdleTimeout, "how long a request body may deliver nothing before it fails")
	f.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "how long to wait for requests in flight at shutdown")

	cmd.AddCommand(&cobra.Command{
		Use:   "init-device DIR...",
		Short: "Mark mounted disks as devices, so the node will write to them",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, dir := range args {
				if err := objectd.InitDevice(dir); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), "initialised", dir)
			}
			return nil
		},
	})
	return cmd
}
