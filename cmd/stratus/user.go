package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"stratus/internal/pki"
	"stratus/meta/client"
)

func init() {
	register(newUserCmd)
	register(newKeyCmd)
}

// withMeta adds the flags of a command that calls meta as an operator: --meta and the admin
// certificate's (--pki-dir, default $STRATUS_PKI_DIR or ~/.config/stratus; --cert, --key, --ca).
func withMeta(cmd *cobra.Command) *cobra.Command {
	cmd.PersistentFlags().StringSlice("meta", nil, "addresses of meta members (default $STRATUS_META_ADDR, else 127.0.0.1:7400)")
	new(identityFlags).addFlags(cmd.PersistentFlags(), pki.RoleAdmin, operatorPKIDir())
	return cmd
}

func newUserCmd() *cobra.Command {
	cmd := withMeta(&cobra.Command{Use: "user", Short: "Manage accounts: each owns buckets and access keys"})
	cmd.AddCommand(&cobra.Command{
		Use:   "create NAME",
		Short: "Create an account and its first access key",
		Args:  cobra.ExactArgs(1),
		RunE: withMetaClient(func(cmd *cobra.Command, mc *client.Client, args []string) error {
			ctx := cmd.Context()
			err := mc.CreateAccount(ctx, client.Account{ID: args[0], Name: args[0], CreatedAt: time.Now().UTC()})
			if errors.Is(err, client.ErrConflict) {
				return fmt.Errorf("account %q exists", args[0])
			}
			if err != nil {
				return err
			}
			return createKey(cmd, mc, args[0])
		}),
	}, &cobra.Command{
		Use:   "list",
		Short: "List accounts",
		Args:  cobra.NoArgs,
		RunE: withMetaClient(func(cmd *cobra.Command, mc *client.Client, args []string) error {
			items, err := listAll(cmd, mc, client.TableAccounts)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ACCOUNT\tCREATED")
			for _, it := range items {
				var a client.Account
				if json.Unmarshal(it.Value, &a) == nil {
					fmt.Fprintf(tw, "%s\t%s\n", a.ID, a.CreatedAt.Format(time.RFC3339))
				}
			}
			return tw.Flush()
		}),
	}, &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete an account with no buckets, and its access keys",
		Args:  cobra.ExactArgs(1),
		RunE: withMetaClient(func(cmd *cobra.Command, mc *client.Client, args []string) error {
			ctx := cmd.Context()
			if _, err := mc.Account(ctx, args[0]); errors.Is(err, client.ErrNotFound) {
				return fmt.Errorf("no account %q", args[0])
			} else if err != nil {
				return err
			}
			buckets, err := mc.Buckets(ctx)
			if err != nil {
				return err
			}
			for _, b := range buckets {
				if b.Owner == args[0] {
					return fmt.Errorf("account %q still owns bucket %q: delete its buckets first", args[0], b.Name)
				}
			}
			keys, err := accountKeys(cmd, mc, args[0])
			if err != nil {
				return err
			}
			for _, k := range keys {
				if err := mc.Delete(ctx, client.TableAccessKeys, k.ID); err != nil {
					return err
				}
			}
			if err := mc.Delete(ctx, client.TableAccounts, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted account %s and %d access keys\n", args[0], len(keys))
			return nil
		}),
	})
	return cmd
}

func newKeyCmd() *cobra.Command {
	cmd := withMeta(&cobra.Command{Use: "key", Short: "Manage access keys (S3 and EC2 credentials)"})
	cmd.AddCommand(&cobra.Command{
		Use:   "create ACCOUNT",
		Short: "Create an access key for an account and print its secret (shown only once)",
		Args:  cobra.ExactArgs(1),
		RunE: withMetaClient(func(cmd *cobra.Command, mc *client.Client, args []string) error {
			if _, err := mc.Account(cmd.Context(), args[0]); errors.Is(err, client.ErrNotFound) {
				return fmt.Errorf("no account %q", args[0])
			} else if err != nil {
				return err
			}
			return createKey(cmd, mc, args[0])
		}),
	}, &cobra.Command{
		Use:   "list [ACCOUNT]",
		Short: "List access keys (never their secrets)",
		Args:  cobra.MaximumNArgs(1),
		RunE: withMetaClient(func(cmd *cobra.Command, mc *client.Client, args []string) error {
			account := ""
			if len(args) == 1 {
				account = args[0]
			}
			keys, err := accountKeys(cmd, mc, account)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ACCESS KEY\tACCOUNT\tCREATED")
			for _, k := range keys {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", k.ID, k.Account, k.CreatedAt.Format(time.RFC3339))
			}
			return tw.Flush()
		}),
	}, &cobra.Command{
		Use:   "revoke ACCESS_KEY",
		Short: "Revoke an access key; servers stop accepting it within their cache time (10 s)",
		Args:  cobra.ExactArgs(1),
		RunE: withMetaClient(func(cmd *cobra.Command, mc *client.Client, args []string) error {
			if _, err := mc.AccessKey(cmd.Context(), args[0]); errors.Is(err, client.ErrNotFound) {
				return fmt.Errorf("no access key %q", args[0])
			} else if err != nil {
				return err
			}
			if err := mc.Delete(cmd.Context(), client.TableAccessKeys, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked %s\n", args[0])
			return nil
		}),
	})
	return cmd
}

// withMetaClient adapts fn to cobra, giving it a meta client built from --meta that is
// closed when fn returns.
func withMetaClient(fn func(cmd *cobra.Command, mc *client.Client, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		mc, err := metaClient(cmd)
		if err != nil {
			return err
		}
		defer mc.Close()
		return fn(cmd, mc, args)
	}
}

// createKey makes a key for account and prints it.
func createKey(cmd *cobra.Command, mc *client.Client, account string) error {
	id, secret := newAccessKey()
	if err := mc.CreateAccessKey(cmd.Context(), client.AccessKey{ID: id, Account: account, Secret: secret, CreatedAt: time.Now().UTC()}); err != nil {
		return err
	}
	printKey(cmd.OutOrStdout(), account, id, secret)
	return nil
}

func printKey(w io.Writer, account, id, secret string) {
	fmt.Fprintf(w, "account:     %s\naccess key:  %s\nsecret key:  %s\n", account, id, secret)
}

// listAll reads a whole table.
func listAll(cmd *cobra.Command, mc *client.Client, table string) ([]client.Item, error) {
	var all []client.Item
	after := ""
	for {
		items, more, err := mc.List(cmd.Context(), table, "", after, client.MaxListLimit)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if !more || len(items) == 0 {
			return all, nil
		}
		after = items[len(items)-1].Key
	}
}

// accountKeys lists the access keys of account ("" for all).
func accountKeys(cmd *cobra.Command, mc *client.Client, account string) ([]client.AccessKey, error) {
	items, err := listAll(cmd, mc, client.TableAccessKeys)
	if err != nil {
		return nil, err
	}
	var keys []client.AccessKey
	for _, it := range items {
		var k client.AccessKey
		if err := json.Unmarshal(it.Value, &k); err != nil {
			return nil, fmt.Errorf("access key %s: %w", it.Key, err)
		}
		if account == "" || k.Account == account {
			keys = append(keys, k)
		}
	}
	return keys, nil
}
