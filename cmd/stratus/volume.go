package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	vclient "stratus/volumed/client"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"stratus/meta/client"
	"stratus/volumed"
)

func init() { register(newVolumeCmd) }

// volumeAttachOutput is what volume attach prints with --json.
type volumeAttachOutput struct {
	VolumeID   string                   `json:"volume_id"`
	Host       string                   `json:"host"`
	Generation uint64                   `json:"generation"`
	ExpiresAt  time.Time                `json:"expires_at"`
	AttachedAt time.Time                `json:"attached_at"`
	TTLSeconds float64                  `json:"ttl_seconds"`
	Previous   *client.VolumeAttachment `json:"previous,omitempty"`
	// NBDURI is where the host's volumed serves the volume: --nbd, else the address the
	// host's computed registered, else volumed's default. It serves it while it holds the
	// lease, and renews the lease meanwhile.
	NBDURI string `json:"nbd_uri"`
}

// volumeListOutput is what volume list prints with --json.
type volumeListOutput struct {
	Volumes []client.Volume `json:"volumes"`
}

func newVolumeCmd() *cobra.Command {
	cmd := withMeta(&cobra.Command{
		Use:   "volume",
		Short: "Manage block volumes: create, attach to a host, grow, delete",
		Long: `Manage block volumes. A volume is a record in meta; its data are chunks on the ring.
Attaching a volume to a host gives that host the volume's lease, with a generation one
higher than any before, which fences every earlier holder at the storage nodes.`,
	})
	cmd.AddCommand(newVolumeCreateCmd(), newVolumeListCmd(), newVolumeShowCmd(), newVolumeDeleteCmd(),
		newVolumeAttachCmd(), newVolumeDetachCmd(), newVolumeResizeCmd(), newVolumeSnapshotCmd())
	return cmd
}

// printJSON writes v indented, as every --json output is.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// volumeErr turns the errors an operator can act on into sentences; others pass through.
func volumeErr(id string, err error) error {
	if errors.Is(err, client.ErrNotFound) {
		return fmt.Errorf("no volume %q", id)
	}
	return err
}

func newVolumeCreateCmd() *cobra.Command {
	var size, chunkSize, policy, fromSnapshot string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "create --size SIZE | --snapshot SNAPSHOT [--size SIZE]",
		Short: "Create a volume (sparse: it takes no space until written), empty or from a snapshot",
		Args:  cobra.NoArgs,
		RunE: withMetaClient(func(cmd *cobra.Command, mc *client.Client, args []string) error {
			if size == "" && fromSnapshot == "" {
				return errors.New("--size is required (unless --snapshot gives it)")
			}
			var sizeBytes int64
			if size != "" {
				var err error
				if sizeBytes, err = parseSize(size); err != nil {
					return fmt.Errorf("--size: %w", err)
				}
			}
			chunkBytes, err := parseSize(chunkSize)
			if err != nil {
				return fmt.Errorf("--chunk-size: %w", err)
			}
			v := client.Volume{ID: client.NewVolumeID(), SizeBytes: sizeBytes, ChunkSizeBytes: chunkBytes, Policy: policy,
				State: client.VolumeAvailable, CreatedAt: time.Now().UTC()}
			if fromSnapshot != "" {
				v.FromSnapshot = fromSnapshot
				if !cmd.Flags().Changed("chunk-size") {
					v.ChunkSizeBytes = 0 // the snapshot's
				}
				if v, err = vclient.CreateVolumeFromSnapshot(cmd.Context(), mc, v); err != nil {
					return snapshotErr(fromSnapshot, err)
				}
			} else if err := mc.CreateVolume(cmd.Context(), v); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), v)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created %s: %s in chunks of %s", v.ID, formatSize(v.SizeBytes), formatSize(v.ChunkSizeBytes))
			if v.FromSnapshot != "" {
				fmt.Fprintf(cmd.OutOrStdout(), ", from snapshot %s", v.FromSnapshot)
			}
			fmt.Fprintln(cmd.OutOrStdout())
			return nil
		}),
	}
	cmd.Flags().StringVar(&size, "size", "", "size of the volume, a multiple of 4KiB (e.g. 10GiB); from a snapshot, at least its size (default: its size)")
	cmd.Flags().StringVar(&chunkSize, "chunk-size", formatSize(client.DefaultVolumeChunkSizeBytes), "chunk size, a power of two from 64KiB to 64MiB: bigger chunks mean fewer ring names, smaller ones less to repair per chunk (from a snapshot: the snapshot's)")
	cmd.Flags().StringVar(&policy, "policy", "", "storage policy of the chunks (default: the cluster's default policy)")
	cmd.Flags().StringVar(&fromSnapshot, "snapshot", "", "create the volume from this completed snapshot; it is usable at once (copy-on-write)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the volume as JSON")
	return cmd
}

func newVolumeListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List volumes, their state and who holds them",
		Args:  cobra.NoArgs,
		RunE: withMetaClient(func(cmd *cobra.Command, mc *client.Client, args []string) error {
			vols, err := mc.Volumes(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				if vols == nil {
					vols = []client.Volume{}
				}
				return printJSON(cmd.OutOrStdout(), volumeListOutput{Volumes: vols})
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "VOLUME\tSIZE\tCHUNK\tSTATE\tHOST\tGENERATION\tLEASE")
			now := time.Now()
			for _, v := range vols {
				host, lease := "-", "-"
				if a := v.Attachment; a != nil {
					host, lease = a.Host, leaseLeft(a, now)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", v.ID, formatSize(v.SizeBytes), formatSize(v.ChunkSizeBytes), v.State, host, v.LastGeneration, lease)
			}
			return tw.Flush()
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the volumes as JSON")
	return cmd
}

// leaseLeft says how long a lease has left, or that it expired.
func leaseLeft(a *client.VolumeAttachment, now time.Time) string {
	if !now.Before(a.LeaseExpiresAt) {
		return "expired"
	}
	return a.LeaseExpiresAt.Sub(now).Round(time.Second).String() + " left"
}

func newVolumeShowCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show VOLUME",
		Short: "Show a volume",
		Args:  cobra.ExactArgs(1),
		RunE: withMetaClient(func(cmd *cobra.Command, mc *client.Client, args []string) error {
			v, _, err := mc.Volume(cmd.Context(), args[0])
			if err != nil {
				return volumeErr(args[0], err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, v)
			}
			policy := v.Policy
			if policy == "" {
				policy = "(default)"
			}
			fmt.Fprintf(out, "volume:      %s\nsize:        %s (%d bytes)\nchunk size:  %s\npolicy:      %s\nstate:       %s\ncreated:     %s\ngeneration:  %d\n",
				v.ID, formatSize(v.SizeBytes), v.SizeBytes, formatSize(v.ChunkSizeBytes), policy, v.State, v.CreatedAt.Format(time.RFC3339), v.LastGeneration)
			if v.FromSnapshot != "" {
				fmt.Fprintf(out, "snapshot:    %s\n", v.FromSnapshot)
			}
			switch a := v.Attachment; {
			case a != nil && v.State == client.VolumeDeleting:
				// A deleting volume's attachment is the claim of the volumed removing its chunks.
				fmt.Fprintf(out, "deleting by: volumed of %s since %s, generation %d, claim until %s (%s)\n",
					a.Host, a.AttachedAt.Format(time.RFC3339), a.Generation, a.LeaseExpiresAt.Format(time.RFC3339), leaseLeft(a, time.Now()))
			case a != nil:
				fmt.Fprintf(out, "attached to: %s since %s, generation %d, lease until %s (%s)\n",
					a.Host, a.AttachedAt.Format(time.RFC3339), a.Generation, a.LeaseExpiresAt.Format(time.RFC3339), leaseLeft(a, time.Now()))
			case v.State == client.VolumeDeleting:
				fmt.Fprintf(out, "deleting:    waiting for a volumed to claim it and remove its chunks\n")
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the volume as JSON")
	return cmd
}

func newVolumeDeleteCmd() *cobra.Command {
	var wait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "delete VOLUME [--wait]",
		Short: "Delete a volume that is not attached, with its data",
		Long: `Delete a volume that is not attached. The volume becomes 'deleting' and a volumed (any host's
'stratus volumed', or 'stratus server') deletes each of its chunks on every replica, fencing
any earlier holder, and then the record. A storage node that is down keeps the volume
deleting until it is back. With --wait the command returns once the record is gone.`,
		Args: cobra.ExactArgs(1),
		RunE: withMetaClient(func(cmd *cobra.Command, mc *client.Client, args []string) error {
			id := args[0]
			gone, err := volumed.Delete(cmd.Context(), mc, id)
			if err != nil {
				return volumeErr(id, err)
			}
			out := cmd.OutOrStdout()
			if gone {
				fmt.Fprintf(out, "deleted %s (never attached: it held no data)\n", id)
				return nil
			}
			if !wait {
				fmt.Fprintf(out, "deleting %s: a volumed removes its chunks, then the record ('stratus volume show %s' until it is gone)\n", id, id)
				return nil
			}
			if err := waitVolumeGone(cmd.Context(), mc, id, timeout); err != nil {
				return err
			}
			fmt.Fprintf(out, "deleted %s and its chunks\n", id)
			return nil
		}),
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the chunks and the record are gone")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "with --wait: give up waiting after this long (the deletion goes on)")
	return cmd
}

// waitVolumeGone watches volume id until its record is deleted, or timeout.
func waitVolumeGone(ctx context.Context, mc *client.Client, id string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var after uint64
	state := client.VolumeDeleting
	for {
		v, _, err := mc.Volume(ctx, id)
		switch {
		case errors.Is(err, client.ErrNotFound):
			return nil
		case ctx.Err() != nil:
			return fmt.Errorf("volume %s is still %s after %s: is a volumed running, and every storage node of its chunks up? (its volumed logs say)", id, state, timeout)
		case err != nil:
			return err
		}
		state = v.State
		w, err := mc.Watch(ctx, client.TableVolumes, id, after, 5*time.Second)
		if err == nil {
			after = w.Index
		} else if ctx.Err() == nil {
			time.Sleep(time.Second) // meta unreachable for now: look again
		}
	}
}

func newVolumeAttachCmd() *cobra.Command {
	var host, nbd string
	var force, asJSON bool
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "attach VOLUME [--host HOST]",
		Short: "Give a host the volume's lease (refused while another host's lease is live, unless --force)",
		Args:  cobra.ExactArgs(1),
		RunE: withMetaClient(func(cmd *cobra.Command, mc *client.Client, args []string) error {
			l, err := volumed.Attach(cmd.Context(), mc, args[0], host, force, ttl)
			if err != nil {
				return volumeErr(args[0], err)
			}
			if nbd == "" {
				nbd = hostNBDAddr(cmd.Context(), mc, l.Host)
			}
			o := volumeAttachOutput{VolumeID: l.VolumeID, Host: l.Host, Generation: l.Generation, ExpiresAt: l.ExpiresAt,
				AttachedAt: l.AttachedAt, TTLSeconds: l.TTL.Seconds(), Previous: l.Previous, NBDURI: "nbd://" + nbd + "/" + l.VolumeID}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, o)
			}
			fmt.Fprintf(out, "attached %s to host %s: generation %d, lease until %s\n", l.VolumeID, l.Host, l.Generation, l.ExpiresAt.Format(time.RFC3339))
			if p := l.Previous; p != nil {
				fmt.Fprintf(out, "took over from host %s (generation %d, lease until %s): its writes are fenced from now on\n",
					p.Host, p.Generation, p.LeaseExpiresAt.Format(time.RFC3339))
			}
			fmt.Fprintf(out, "the volumed of host %s ('stratus volumed' or 'stratus server' there) serves it at %s and renews the lease; if none does, the lease lapses at its expiry\n", l.Host, o.NBDURI)
			return nil
		}),
	}
	cmd.Flags().StringVar(&host, "host", defaultHost(), "host that gets the lease (its volumed serves the volume)")
	cmd.Flags().StringVar(&nbd, "nbd", "", "address the host's volumed serves NBD on, for the printed URI (default: what the host's computed registered, else "+defaultNBDAddr+")")
	cmd.Flags().BoolVar(&force, "force", false, "take the lease over even if another host's is live; the new generation fences that host")
	cmd.Flags().DurationVar(&ttl, "ttl", volumed.DefaultLeaseTTL, "lease time unless renewed")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the lease as JSON")
	return cmd
}

func newVolumeDetachCmd() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "detach VOLUME",
		Short: "Take the lease from whichever host holds it (a live one only with --force)",
		Args:  cobra.ExactArgs(1),
		RunE: withMetaClient(func(cmd *cobra.Command, mc *client.Client, args []string) error {
			a, err := volumed.Evict(cmd.Context(), mc, args[0], force)
			if err != nil {
				return volumeErr(args[0], err)
			}
			if a == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "%s was not attached\n", args[0])
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "detached %s from host %s (generation %d)\n", args[0], a.Host, a.Generation)
			return nil
		}),
	}
	cmd.Flags().BoolVar(&force, "force", false, "detach even if the holder's lease is live (the holder is fenced once the volume is attached again)")
	return cmd
}

func newVolumeResizeCmd() *cobra.Command {
	var size string
	cmd := &cobra.Command{
		Use:   "resize VOLUME --size SIZE",
		Short: "Grow a volume (volumes never shrink)",
		Args:  cobra.ExactArgs(1),
		RunE: withMetaClient(func(cmd *cobra.Command, mc *client.Client, args []string) error {
			sizeBytes, err := parseSize(size)
			if err != nil {
				return fmt.Errorf("--size: %w", err)
			}
			v, err := volumed.Resize(cmd.Context(), mc, args[0], sizeBytes)
			if err != nil {
				return volumeErr(args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s is %s\n", v.ID, formatSize(v.SizeBytes))
			if a := v.Attachment; a != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "host %s's volumed serves the new size to new NBD connections; a running QEMU sees it once the drive is opened again (its NBD client refuses block_resize to grow)\n", a.Host)
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&size, "size", "", "new size, at least the current one (e.g. 20GiB)")
	cmd.MarkFlagRequired("size")
	return cmd
}

// defaultNBDAddr is where volumed serves NBD unless told otherwise.
const defaultNBDAddr = "127.0.0.1:10809"

// hostNBDAddr is the NBD address host's computed registered (the one its instances use),
// or volumed's default when the host runs no computed or its record cannot be read.
func hostNBDAddr(ctx context.Context, mc *client.Client, host string) string {
	if h, err := mc.ComputeHost(ctx, host); err == nil && h.NBDAddr != "" {
		return h.NBDAddr
	}
	return defaultNBDAddr
}
