package main

import (
	"log/slog"
	"os"

	"github.com/spf13/cobra"
)

// subcommands holds the constructors of the top-level subcommands; each subcommand's file
// registers itself from init, so adding a role touches only its own file.
var subcommands []func() *cobra.Command

// register adds a top-level subcommand. Call it from init.
func register(newCmd func() *cobra.Command) { subcommands = append(subcommands, newCmd) }

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func newRootCmd() *cobra.Command {
	var logLevel, cpuProfile, blockProfile, memProfile string
	var stopProfiles func()
	root := &cobra.Command{
		Use:           "stratus",
		Short:         "Stratus: a replicated object store with S3, block volumes and EC2 on top",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
				return err
			}
			slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})))
			if err := loadSettings(cmd); err != nil {
				return err
			}
			var err error
			stopProfiles, err = startProfiles(cpuProfile, blockProfile, memProfile)
			return err
		},
		PersistentPostRun: func(cmd *cobra.Command, args []string) {
			if stopProfiles != nil {
				stopProfiles()
			}
		},
	}
	root.PersistentFlags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the command to this file (for go tool pprof)")
	root.PersistentFlags().StringVar(&blockProfile, "blockprofile", "", "write a profile of where goroutines wait on locks and channels to this file")
	root.PersistentFlags().StringVar(&memProfile, "memprofile", "", "write a profile of where the command allocated memory to this file, when it ends")
	root.PersistentFlags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	for _, newCmd := range subcommands {
		root.AddCommand(newCmd())
	}
	return root
}
