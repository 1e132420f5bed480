package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"stratus/internal/pki"
	"stratus/meta"
	"stratus/meta/client"
)

func init() { register(newMetaCmd) }

// metaFlags are the daemon's flags; each may also be set as STRATUS_META_<FLAG>.
type metaFlags struct {
	id             string
	dataDir        string
	listen         string
	advertise      string
	bootstrap      bool
	join           []string
	clusterKeyFile string
	oldKeyFiles    []string
	identity       identityFlags
}

func newMetaCmd() *cobra.Command {
	var f metaFlags
	cmd := &cobra.Command{
		Use:   "meta",
		Short: "Run a meta node (the Raft catalog), or manage the meta cluster",
		Long: `Without a subcommand, run a meta node: the Raft catalog that holds the cluster's truth
(rings, nodes, accounts, buckets, the object index). One port carries both Raft and the API.

The port speaks mutual TLS only: the node presents a meta certificate (by default
/etc/stratus/pki/meta.crt and meta.key, with ca.crt; see 'stratus ca') and checks every
caller's. Start a new cluster with one node, then add voters:

  stratus meta --id m1 --listen 10.0.0.1:7400 --bootstrap
  stratus meta --id m2 --listen 10.0.0.2:7400 --join 10.0.0.1:7400 --cluster-key-file m1-cluster.key
  stratus meta status --meta 10.0.0.1:7400

Settings come from flags, then STRATUS_META_<FLAG> (e.g. STRATUS_META_DATA_DIR), then the
JSON --config file, then defaults.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runMeta(cmd.Context(), f) },
	}
	daemonSettings(cmd, "STRATUS_META_")
	fl := cmd.Flags()
	fl.StringVar(&f.id, "id", "", "node ID, unique and stable across restarts (default: hostname)")
	fl.StringVar(&f.dataDir, "data-dir", "./data/meta", "directory for the Raft log, snapshots and state")
	fl.StringVar(&f.listen, "listen", "127.0.0.1:7400", "address to serve Raft and the meta API on")
	fl.StringVar(&f.advertise, "advertise", "", "address other nodes use to reach this one (default: --listen)")
	fl.BoolVar(&f.bootstrap, "bootstrap", false, "start a new single-node cluster if this node has no state (ignored once it has)")
	fl.StringSliceVar(&f.join, "join", nil, "addresses of existing members to join through")
	fl.StringVar(&f.clusterKeyFile, "cluster-key-file", "", "file with the 32-byte cluster key in hex; every member needs the same key (default: <data-dir>/cluster.key, created by --bootstrap)")
	fl.StringSliceVar(&f.oldKeyFiles, "old-cluster-key-file", nil, "files with earlier cluster keys, which still open secrets sealed before a rotation")
	f.identity.addFlags(fl, pki.RoleMeta, DaemonPKIDir)
	for _, sub := range []*cobra.Command{newMetaJoinCmd(), newMetaRemoveCmd(), newMetaStatusCmd(), newMetaBackupCmd(), newMetaRestoreCmd()} {
		cmd.AddCommand(withMeta(sub))
	}
	return cmd
}

// loadClusterKey reads the hex key file, creating it when bootstrapping a new cluster.
func loadClusterKey(path string, create bool) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && create {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("write cluster key: %w", err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read cluster key (copy it from an existing member, or --bootstrap a new cluster): %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("cluster key %s: want 64 hex digits", path)
	}
	return key, nil
}

// metaGCPercent is the GOGC a meta daemon runs with unless GOGC is set. Its live Go heap is
// small (the catalog lives in bbolt's memory map, outside the heap) while every request
// leaves short-lived garbage, so the default 100 collects tens of times a second under load.
// In BenchmarkIndexCommit 400 gained about 10% throughput on an idle 2-core machine and more
// when the CPU was contended.
const metaGCPercent = 400

func runMeta(ctx context.Context, f metaFlags) error {
	if _, ok := os.LookupEnv("GOGC"); !ok {
		debug.SetGCPercent(metaGCPercent)
	}
	if f.id == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("--id not set and no hostname: %w", err)
		}
		f.id = h
	}
	if f.clusterKeyFile == "" {
		f.clusterKeyFile = filepath.Join(f.dataDir, "cluster.key")
	}
	key, err := loadClusterKey(f.clusterKeyFile, f.bootstrap)
	if err != nil {
		return err
	}
	var oldKeys [][]byte
	for _, path := range f.oldKeyFiles {
		k, err := loadClusterKey(path, false)
		if err != nil {
			return err
		}
		oldKeys = append(oldKeys, k)
	}
	id, err := f.identity.load()
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cfg := meta.DefaultConfig()
	cfg.NodeID = f.id
	cfg.DataDir = f.dataDir
	cfg.AdvertiseAddr = f.advertise
	cfg.Bootstrap = f.bootstrap
	cfg.ClusterKey = key
	cfg.OldClusterKeys = oldKeys
	cfg.Identity = id
	cfg.Logger = slog.Default()
	cfg.Registerer = reg
	cfg.Gatherer = reg
	if err := cfg.Validate(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", f.listen, err)
	}
	srv, err := meta.New(cfg, ln)
	if err != nil {
		ln.Close()
		return err
	}
	slog.Info("meta config", "node", f.id, "data_dir", f.dataDir, "listen", f.listen, "advertise", srv.Addr(),
		"bootstrap", f.bootstrap, "join", f.join, "cluster_key", "<redacted>", "certificate", id.Name())
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Run(gctx) })
	if len(f.join) > 0 {
		g.Go(func() error { return joinUntilDone(gctx, f.join, f.id, srv.Addr(), id) })
	}
	g.Go(func() error {
		select {
		case <-srv.Ready():
			slog.Info("meta node ready", "node", f.id)
		case <-gctx.Done():
		}
		return nil
	})
	return g.Wait()
}

// joinUntilDone asks the members to add this node until one accepts or ctx ends. Joining a
// cluster the node already belongs to changes nothing, so restarts may keep --join.
func joinUntilDone(ctx context.Context, members []string, id, addr string, ident *pki.Identity) error {
	cl, err := metaClientAs(ident, members)
	if err != nil {
		return err
	}
	defer cl.Close()
	for {
		err := cl.Join(ctx, id, addr)
		if err == nil {
			slog.Info("joined meta cluster", "node", id, "via", members)
			return nil
		}
		if errors.Is(err, client.ErrUnauthenticated) || errors.Is(err, client.ErrForbidden) {
			return fmt.Errorf("join meta cluster: %w", err)
		}
		slog.Warn("join meta cluster", "node", id, "err", err)
		t := time.NewTimer(2 * time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// metaClient builds a client for the operator subcommands: members from --meta, else
// $STRATUS_META_ADDR, else the all-in-one server's; the admin certificate from the identity
// flags (see withMeta).
func metaClient(cmd *cobra.Command) (*client.Client, error) {
	addrs, _ := cmd.Flags().GetStringSlice("meta")
	id, err := identityFromFlags(cmd.Flags(), pki.RoleAdmin).load()
	if err != nil {
		return nil, err
	}
	return metaClientAs(id, metaAddrs(addrs))
}

// metaClientAs returns a client of the meta members at addrs that presents id.
func metaClientAs(id *pki.Identity, addrs []string) (*client.Client, error) {
	cfg := client.DefaultConfig(addrs...)
	cfg.TLS = id.ClientTLS(pki.RoleMeta)
	return client.New(cfg)
}

// metaAddrs returns the meta members to call: those given, else $STRATUS_META_ADDR
// (comma-separated), else the all-in-one server's.
func metaAddrs(given []string) []string {
	if len(given) > 0 {
		return given
	}
	if v := os.Getenv("STRATUS_META_ADDR"); v != "" {
		return strings.Split(v, ",")
	}
	return []string{"127.0.0.1:7400"}
}

func newMetaJoinCmd() *cobra.Command {
	var id, addr string
	cmd := &cobra.Command{
		Use:   "join",
		Short: "Add a voter to the meta cluster",
		Args:  cobra.NoArgs,
		RunE: withMetaClient(func(cmd *cobra.Command, cl *client.Client, args []string) error {
			if err := cl.Join(cmd.Context(), id, addr); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "added voter %s at %s\n", id, addr)
			return nil
		}),
	}
	cmd.Flags().StringVar(&id, "id", "", "ID of the node to add")
	cmd.Flags().StringVar(&addr, "addr", "", "address of the node to add")
	cmd.MarkFlagRequired("id")
	cmd.MarkFlagRequired("addr")
	return cmd
}

func newMetaRemoveCmd() *cobra.Command {
	var id string
	cmd := &cobra.Command{
		Use:   "remove",
		Short: "Remove a server from the meta cluster",
		Args:  cobra.NoArgs,
		RunE: withMetaClient(func(cmd *cobra.Command, cl *client.Client, args []string) error {
			if err := cl.Remove(cmd.Context(), id); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", id)
			return nil
		}),
	}
	cmd.Flags().StringVar(&id, "id", "", "ID of the server to remove")
	cmd.MarkFlagRequired("id")
	return cmd
}

func newMetaStatusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show a meta node's view of the cluster: leader, members, indexes",
		Args:  cobra.NoArgs,
		RunE: withMetaClient(func(cmd *cobra.Command, cl *client.Client, args []string) error {
			st, err := cl.Status(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			fmt.Fprintf(out, "node %s (%s) is %s, term %d\nleader: %s (%s)\ncommit index %d, applied %d, last snapshot %d\n\n",
				st.ID, st.Addr, st.State, st.Term, st.LeaderID, st.LeaderAddr, st.CommitIndex, st.AppliedIndex, st.LastSnapshotIndex)
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tADDRESS\tSUFFRAGE\tLEADER")
			for _, m := range st.Members {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%v\n", m.ID, m.Addr, m.Suffrage, m.Leader)
			}
			return tw.Flush()
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	return cmd
}

func newMetaBackupCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Write a consistent snapshot of the catalog to a file",
		Args:  cobra.NoArgs,
		RunE: withMetaClient(func(cmd *cobra.Command, cl *client.Client, args []string) error {
			tmp := out + ".partial"
			fh, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
			if err != nil {
				return err
			}
			n, err := cl.Backup(cmd.Context(), fh)
			if err == nil {
				err = fh.Sync()
			}
			if cerr := fh.Close(); err == nil {
				err = cerr
			}
			if err == nil {
				err = os.Rename(tmp, out)
			}
			if err != nil {
				os.Remove(tmp)
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d bytes to %s\n", n, out)
			return nil
		}),
	}
	cmd.Flags().StringVarP(&out, "output", "o", "meta.backup", "file to write")
	return cmd
}

func newMetaRestoreCmd() *cobra.Command {
	var in string
	var yes bool
	cmd := &cobra.Command{
		Use:   "restore",
		Short: "Replace the whole catalog with a backup (disaster recovery only)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !yes {
				return errors.New("restore replaces every table and loses all writes since the backup; pass --yes to proceed")
			}
			cl, err := metaClient(cmd)
			if err != nil {
				return err
			}
			defer cl.Close()
			fh, err := os.Open(in)
			if err != nil {
				return err
			}
			defer fh.Close()
			fi, err := fh.Stat()
			if err != nil {
				return err
			}
			if err := cl.Restore(cmd.Context(), io.Reader(fh), fi.Size()); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored %s (%d bytes)\n", in, fi.Size())
			return nil
		},
	}
	cmd.Flags().StringVarP(&in, "input", "i", "meta.backup", "backup file to restore")
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm that the catalog will be replaced")
	return cmd
}
