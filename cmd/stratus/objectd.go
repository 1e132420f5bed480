package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"stratus/objectd"
)

func init() { register(newObjectdCmd) }

func newObjectdCmd() *cobra.Command {
	cfg := objectd.DefaultConfig()
	var listen, configFile string
	cmd := &cobra.Command{
		Use:   "objectd",
		Short: "Run a storage node: serve its devices, replicate and audit them",
		Long: `Run a storage node. It serves the devices under --devices-dir (one directory per disk,
named as in the ring, each prepared once with 'stratus objectd init-device'), replicates
their partitions to the other replicas named by the ring file, and audits what it stores.

Settings come from flags, then STRATUS_OBJECTD_<FLAG> environment variables (e.g.
STRATUS_OBJECTD_DEVICES_DIR), then a JSON --config file, then defaults. The config file's
keys are the flag names or their snake_case forms, which are also the JSON names of
objectd.Config.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := applyConfigSources(cmd.Flags(), "STRATUS_OBJECTD_", configFile); err != nil {
				return err
			}
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
			logger.Info("effective config", "config", fmt.Sprintf("%+v", cfg))
			return srv.Run(cmd.Context(), ln)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "JSON file of settings, keyed by flag name or its snake_case form (unknown keys are errors)")
	f.StringVar(&listen, "listen", "127.0.0.1:6200", "address to serve the node's HTTP API on")
	f.StringVar(&cfg.DevicesDir, "devices-dir", "/srv/node", "directory holding one directory per device")
	f.BoolVar(&cfg.MountCheck, "mount-check", cfg.MountCheck, "require each device directory to be a mount point")
	f.StringVar(&cfg.AdvertiseAddr, "advertise-addr", "", "this node's ip:port in the ring (default: the listen address)")
	f.StringVar(&cfg.RingPath, "ring-path", "", "ring file to load and watch for newer versions")
	f.DurationVar(&cfg.RingCheckInterval, "ring-check-interval", cfg.RingCheckInterval, "how often to look for a newer ring file")
	f.DurationVar(&cfg.ReclaimAge, "reclaim-age", cfg.ReclaimAge, "how long tombstones are kept; longer than any replica can be away")
	f.DurationVar(&cfg.ReplicationInterval, "replication-interval", cfg.ReplicationInterval, "pause between replication passes (0: off)")
	f.IntVar(&cfg.ReplicationConcurrency, "replication-concurrency", cfg.ReplicationConcurrency, "partitions replicated at once")
	f.Int64Var(&cfg.ReplicationBytesPerSecond, "replication-bytes-per-second", cfg.ReplicationBytesPerSecond, "cap on bytes pushed to peers (0: none)")
	f.DurationVar(&cfg.ReplicationTimeout, "replication-timeout", cfg.ReplicationTimeout, "deadline of each request to a peer")
	f.DurationVar(&cfg.AuditInterval, "audit-interval", cfg.AuditInterval, "pause between auditor passes (0: off)")
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

// applyConfigSources fills every flag not given on the command line from the environment
// (prefix + flag name in upper case, dashes as underscores), then from the JSON file, so the
// precedence is flag > environment > file > default.
func applyConfigSources(fs *pflag.FlagSet, envPrefix, file string) error {
	var fromFile map[string]json.RawMessage
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(data, &raw); err != nil {
			return fmt.Errorf("config %s: %w", file, err)
		}
		// Keys are flag names; the snake_case names of the Config struct's JSON form work too.
		fromFile = map[string]json.RawMessage{}
		for k, v := range raw {
			name := strings.ReplaceAll(k, "_", "-")
			if fs.Lookup(name) == nil || name == "config" {
				return fmt.Errorf("config %s: unknown key %q", file, k)
			}
			fromFile[name] = v
		}
	}
	var errs []error
	fs.VisitAll(func(fl *pflag.Flag) {
		if fl.Changed || fl.Name == "config" {
			return
		}
		env := envPrefix + strings.ToUpper(strings.ReplaceAll(fl.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if err := fl.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", env, err))
			}
			return
		}
		if raw, ok := fromFile[fl.Name]; ok {
			var v any
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber() // keep 10485760 from becoming 1.048576e+07
			if err := dec.Decode(&v); err != nil {
				errs = append(errs, fmt.Errorf("config %s: %w", fl.Name, err))
				return
			}
			if err := fl.Value.Set(fmt.Sprint(v)); err != nil {
				errs = append(errs, fmt.Errorf("config %s: %w", fl.Name, err))
			}
		}
	})
	return errors.Join(errs...)
}
