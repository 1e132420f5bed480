package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"stratus/meta/client"
)

func init() { register(newPolicyCmd) }

func newPolicyCmd() *cobra.Command {
	cmd := withMeta(&cobra.Command{Use: "policy", Short: "Manage storage policies: how a bucket's objects are stored (replicated or erasure-coded), each on its own ring"})
	create := &cobra.Command{
		Use:   "create NAME (replicated REPLICAS | ec K M)",
		Short: "Create a storage policy; build and publish its ring with `stratus ring … publish --ring NAME`",
		Example: "  stratus policy create replicated-3 replicated 3 --ring default\n" +
			"  stratus policy create ec-4-2 ec 4 2",
		Args: cobra.RangeArgs(3, 4),
		RunE: withMetaClient(func(cmd *cobra.Command, mc *client.Client, args []string) error {
			p, err := policyFromArgs(args)
			if err != nil {
				return err
			}
			f := cmd.Flags()
			p.Ring, _ = f.GetString("ring")
			p.Default, _ = f.GetBool("default")
			p.ECSegmentBytes, _ = f.GetInt("segment-bytes")
			p.ECSmallBytes, _ = f.GetInt64("small-bytes")
			if err := mc.CreatePolicy(cmd.Context(), p); errors.Is(err, client.ErrConflict) {
				return fmt.Errorf("storage policy %q exists", p.Name)
			} else if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created storage policy %s on ring %s\n", p.Name, p.RingName())
			return nil
		}),
	}
	create.Flags().String("ring", "", "the ring the policy places data with (default: the policy's name)")
	create.Flags().Bool("default", false, "make it the policy of buckets created without one")
	create.Flags().Int("segment-bytes", 0, fmt.Sprintf("EC segment size (default %d)", client.DefaultECSegmentBytes))
	create.Flags().Int64("small-bytes", 0, fmt.Sprintf("EC: objects below this stay replicated (default %d; negative: none)", client.DefaultECSmallThreshold))
	cmd.AddCommand(create, &cobra.Command{
		Use:   "list",
		Short: "List storage policies",
		Args:  cobra.NoArgs,
		RunE: withMetaClient(func(cmd *cobra.Command, mc *client.Client, args []string) error {
			all, err := mc.Policies(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "POLICY\tTYPE\tLAYOUT\tRING\tDEFAULT")
			for _, p := range all {
				layout := "replicas: as its ring"
				if p.IsEC() {
					layout = fmt.Sprintf("k=%d m=%d segment=%d small<%d", p.ECData, p.ECParity, p.ECSegmentBytes, p.ECSmallBytes)
				} else if p.Replicas > 0 {
					layout = fmt.Sprintf("replicas=%d", p.Replicas)
				}
				def := ""
				if p.Default {
					def = "yes"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Name, p.Type, layout, p.RingName(), def)
			}
			return tw.Flush()
		}),
	}, &cobra.Command{
		Use:   "set-default NAME",
		Short: "Make NAME the policy of buckets created without one (existing buckets keep theirs)",
		Args:  cobra.ExactArgs(1),
		RunE: withMetaClient(func(cmd *cobra.Command, mc *client.Client, args []string) error {
			if err := mc.SetDefaultPolicy(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "default storage policy is %s\n", args[0])
			return nil
		}),
	})
	return cmd
}

// policyFromArgs parses NAME replicated N | NAME ec K M.
func policyFromArgs(args []string) (client.StoragePolicy, error) {
	p := client.StoragePolicy{Name: args[0], Type: client.PolicyType(strings.ToLower(args[1]))}
	nums := make([]int, 0, 2)
	for _, a := range args[2:] {
		n, err := strconv.Atoi(a)
		if err != nil {
			return p, fmt.Errorf("%q is not a number", a)
		}
		nums = append(nums, n)
	}
	switch {
	case p.Type == client.PolicyReplicated && len(nums) == 1:
		p.Replicas = nums[0]
	case p.Type == client.PolicyEC && len(nums) == 2:
		p.ECData, p.ECParity = nums[0], nums[1]
	default:
		return p, fmt.Errorf("want NAME replicated REPLICAS or NAME ec K M")
	}
	return p, nil
}

// checkRingForPolicies refuses a ring whose replica count is not what the policies placing
// data with it need: an EC policy's ring has K+M "replicas", one per fragment.
func checkRingForPolicies(cmd *cobra.Command, mc *client.Client, ringName string, replicas int) error {
	all, err := mc.Policies(cmd.Context())
	if err != nil {
		return err
	}
	for _, p := range all {
		if p.RingName() == ringName && p.Fragments() > 0 && p.Fragments() != replicas {
			return fmt.Errorf("ring %s has %d replicas; storage policy %s needs %d", ringName, replicas, p.Name, p.Fragments())
		}
	}
	return nil
}
