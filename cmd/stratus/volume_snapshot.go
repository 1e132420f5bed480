package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	vclient "stratus/volumed/client"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"stratus/meta/client"
)

// snapshotListOutput is what volume snapshot list prints with --json.
type snapshotListOutput struct {
	Snapshots []client.Snapshot `json:"snapshots"`
}

func newVolumeSnapshotCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "snapshot",
		Short: "Take, list and delete point-in-time snapshots of volumes",
		Long: `Snapshots of volumes. A snapshot holds every write acknowledged before it was taken and none
after; its chunks are content-addressed objects shared with every other snapshot holding
the same content, so a snapshot stores only what changed since the previous one. The volumed
serving the volume takes it; 'stratus volume create --snapshot ID' makes a volume from it at
once (copy-on-write).`,
	}
	cmd.AddCommand(newSnapshotCreateCmd(), newSnapshotListCmd(), newSnapshotShowCmd(), newSnapshotDeleteCmd())
	return cmd
}

// snapshotErr turns the errors an operator can act on into sentences; others pass through.
func snapshotErr(id string, err error) error {
	if errors.Is(err, client.ErrNotFound) {
		return fmt.Errorf("no snapshot %q", id)
	}
	return err
}

func newSnapshotCreateCmd() *cobra.Command {
	var wait, asJSON bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "create VOLUME [--wait]",
		Short: "Snapshot a volume: returns once its point in time is fixed (--wait: once it is stored)",
		Args:  cobra.ExactArgs(1),
		RunE: withMetaClient(func(cmd *cobra.Command, mc *client.Client, args []string) error {
			s, err := vclient.RequestSnapshot(cmd.Context(), mc, args[0])
			if err != nil {
				return volumeErr(args[0], err)
			}
			done := func(s client.Snapshot) bool { return s.State != client.SnapshotPending }
			if wait {
				done = func(s client.Snapshot) bool {
					return s.State != client.SnapshotPending && s.State != client.SnapshotCreating
				}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			got, err := vclient.AwaitSnapshot(ctx, mc, s.ID, done)
			if got.State == "" {
				got = s // not read again before the deadline: as requested
			}
			if errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("snapshot %s of %s is still %s after %v (it stays requested; the volumed serving the volume takes it up when it can, or delete it with 'stratus volume snapshot delete %s')",
					s.ID, args[0], got.State, timeout, s.ID)
			}
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), got)
			}
			out := cmd.OutOrStdout()
			switch got.State {
			case client.SnapshotCreating:
				fmt.Fprintf(out, "snapshot %s of %s taken; its chunks are being stored ('stratus volume snapshot show %s' for progress)\n", got.ID, got.VolumeID, got.ID)
			case client.SnapshotCompleted:
				fmt.Fprintf(out, "snapshot %s of %s completed: %s stored, %d chunks\n", got.ID, got.VolumeID, formatSize(got.StoredBytes), got.ChunksTotal)
			default:
				return fmt.Errorf("snapshot %s of %s is %s: %s", got.ID, got.VolumeID, got.State, got.Error)
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the snapshot is completed (or failed), not just taken")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the snapshot as JSON")
	return cmd
}

func newSnapshotListCmd() *cobra.Command {
	var volume string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--volume VOLUME]",
		Short: "List snapshots, their state and what they store",
		Args:  cobra.NoArgs,
		RunE: withMetaClient(func(cmd *cobra.Command, mc *client.Client, args []string) error {
			all, err := mc.Snapshots(cmd.Context())
			if err != nil {
				return err
			}
			snaps := []client.Snapshot{}
			for _, s := range all {
				if volume == "" || s.VolumeID == volume {
					snaps = append(snaps, s)
				}
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), snapshotListOutput{Snapshots: snaps})
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "SNAPSHOT\tVOLUME\tSIZE\tSTATE\tPROGRESS\tSTORED\tPARENT\tCREATED")
			for _, s := range snaps {
				parent := s.Parent
				if parent == "" {
					parent = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.VolumeID, formatSize(s.SizeBytes), s.State,
					snapshotProgress(s), formatSize(s.StoredBytes), parent, s.CreatedAt.Format(time.RFC3339))
			}
			return tw.Flush()
		}),
	}
	cmd.Flags().StringVar(&volume, "volume", "", "only the snapshots of this volume")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the snapshots as JSON")
	return cmd
}

// snapshotProgress says how far a snapshot's copy has got.
func snapshotProgress(s client.Snapshot) string {
	if s.ChunksTotal == 0 {
		return "-"
	}
	return fmt.Sprintf("%d/%d", s.ChunksCopied, s.ChunksTotal)
}

func newSnapshotShowCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show SNAPSHOT",
		Short: "Show a snapshot",
		Args:  cobra.ExactArgs(1),
		RunE: withMetaClient(func(cmd *cobra.Command, mc *client.Client, args []string) error {
			s, _, err := mc.Snapshot(cmd.Context(), args[0])
			if err != nil {
				return snapshotErr(args[0], err)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), s)
			}
			printSnapshot(cmd.OutOrStdout(), s)
			return nil
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the snapshot as JSON")
	return cmd
}

func printSnapshot(out io.Writer, s client.Snapshot) {
	fmt.Fprintf(out, "snapshot:    %s\nvolume:      %s\nsize:        %s (%d bytes)\nchunk size:  %s\nstate:       %s\ncreated:     %s\n",
		s.ID, s.VolumeID, formatSize(s.SizeBytes), s.SizeBytes, formatSize(s.ChunkSizeBytes), s.State, s.CreatedAt.Format(time.RFC3339))
	if s.Parent != "" {
		fmt.Fprintf(out, "parent:      %s\n", s.Parent)
	}
	if s.Generation != 0 {
		fmt.Fprintf(out, "generation:  %d\n", s.Generation)
	}
	if s.ChunksTotal != 0 {
		fmt.Fprintf(out, "chunks:      %s\n", snapshotProgress(s))
	}
	fmt.Fprintf(out, "stored:      %s new\n", formatSize(s.StoredBytes))
	if !s.CompletedAt.IsZero() {
		fmt.Fprintf(out, "completed:   %s\n", s.CompletedAt.Format(time.RFC3339))
	}
	if s.Error != "" {
		fmt.Fprintf(out, "error:       %s\n", s.Error)
	}
}

func newSnapshotDeleteCmd() *cobra.Command {
	var wait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "delete SNAPSHOT [--wait]",
		Short: "Delete a snapshot no volume was created from (chunks other snapshots hold stay)",
		Args:  cobra.ExactArgs(1),
		RunE: withMetaClient(func(cmd *cobra.Command, mc *client.Client, args []string) error {
			if _, err := vclient.RequestSnapshotDelete(cmd.Context(), mc, args[0]); err != nil {
				return snapshotErr(args[0], err)
			}
			out := cmd.OutOrStdout()
			if !wait {
				fmt.Fprintf(out, "deleting %s: a volumed releases its chunks and removes it\n", args[0])
				return nil
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			s, err := vclient.AwaitSnapshot(ctx, mc, args[0], func(s client.Snapshot) bool { return s.State != client.SnapshotDeleting })
			switch {
			case errors.Is(err, client.ErrNotFound):
				fmt.Fprintf(out, "deleted %s\n", args[0])
				return nil
			case errors.Is(err, context.DeadlineExceeded):
				return fmt.Errorf("snapshot %s is still being deleted after %v", args[0], timeout)
			case err != nil:
				return err
			}
			return fmt.Errorf("snapshot %s was not deleted: it is %s: %s", args[0], s.State, s.Error)
		}),
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until it is gone")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait")
	return cmd
}
