package main

import (
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"stratus/meta/client"
	"stratus/ring"
	"stratus/s3api"
)

func init() { register(newBucketCmd) }

func newBucketCmd() *cobra.Command {
	cmd := withMeta(&cobra.Command{Use: "bucket", Short: "Create buckets for accounts with a storage policy, and list them with theirs (S3 clients use CreateBucket)"})
	create := &cobra.Command{
		Use:   "create NAME --owner ACCOUNT [--policy POLICY]",
		Short: "Create a bucket owned by ACCOUNT on POLICY (default: the cluster's default policy)",
		Args:  cobra.ExactArgs(1),
		RunE: withMetaClient(func(cmd *cobra.Command, mc *client.Client, args []string) error {
			ctx := cmd.Context()
			owner, _ := cmd.Flags().GetString("owner")
			policy, _ := cmd.Flags().GetString("policy")
			if err := s3api.CheckBucketName(args[0]); err != nil {
				return err
			}
			if _, err := mc.Account(ctx, owner); errors.Is(err, client.ErrNotFound) {
				return fmt.Errorf("no account %q", owner)
			} else if err != nil {
				return err
			}
			p, err := mc.ResolvePolicy(ctx, policy)
			if err != nil {
				return err
			}
			if err := checkServable(cmd, mc, p); err != nil {
				return err
			}
			err = mc.CreateBucket(ctx, client.Bucket{Name: args[0], Owner: owner, Policy: p.Name, CreatedAt: time.Now().UTC()})
			if errors.Is(err, client.ErrConflict) {
				return fmt.Errorf("bucket %q exists", args[0])
			} else if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created bucket %s for %s on storage policy %s\n", args[0], owner, p.Name)
			return nil
		}),
	}
	create.Flags().String("owner", "", "the account that owns the bucket")
	create.Flags().String("policy", "", "storage policy (see stratus policy list)")
	create.MarkFlagRequired("owner")
	cmd.AddCommand(create, &cobra.Command{
		Use:   "list",
		Short: "List buckets with their owners and storage policies",
		Args:  cobra.NoArgs,
		RunE: withMetaClient(func(cmd *cobra.Command, mc *client.Client, args []string) error {
			buckets, err := mc.Buckets(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "BUCKET\tOWNER\tPOLICY\tCREATED")
			for _, b := range buckets {
				policy := b.Policy
				if policy == "" {
					policy = client.BuiltinPolicy
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", b.Name, b.Owner, policy, b.CreatedAt.Format(time.RFC3339))
			}
			return tw.Flush()
		}),
	})
	return cmd
}

// checkServable refuses a policy whose objects the data path could not store: an EC
// policy whose ring is not published with one device per fragment, or a replicated policy
// on a ring other than the object ring.
func checkServable(cmd *cobra.Command, mc *client.Client, p client.StoragePolicy) error {
	if !p.IsEC() {
		if p.RingName() != client.BuiltinPolicy {
			return fmt.Errorf("storage policy %s: replicated policies on a ring of their own (%s) cannot hold data yet", p.Name, p.RingName())
		}
		return nil
	}
	rv, _, err := mc.Ring(cmd.Context(), p.RingName())
	if errors.Is(err, client.ErrNotFound) {
		return fmt.Errorf("storage policy %s: its ring %s is not published (stratus ring publish FILE --ring %s)", p.Name, p.RingName(), p.RingName())
	} else if err != nil {
		return err
	}
	r, err := ring.Decode(rv.Data)
	if err != nil {
		return fmt.Errorf("ring %s: %w", p.RingName(), err)
	}
	if r.Replicas() != p.Fragments() {
		return fmt.Errorf("storage policy %s needs %d devices per partition; its ring %s has %d", p.Name, p.Fragments(), p.RingName(), r.Replicas())
	}
	return nil
}
