package main

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"stratus/internal/pki"
)

func init() { register(newCACmd) }

func newCACmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "ca",
		Short: "Manage the cluster's certificate authority: every internal port speaks mutual TLS",
		Long: `Every Stratus daemon and operator tool proves who it is with a certificate from the
cluster CA, and every port checks the role the certificate carries (meta, objectd, proxy,
admin). Keep the CA's directory (its ca.key) on the operator's machine only.

  stratus ca init                          # CA and an admin certificate in --dir
  stratus ca issue --role meta --host 10.0.0.1 m1 --out m1-pki/
  stratus ca revoke m1-pki/m1.crt          # then copy crl.pem to every host

Copy <name>.crt, <name>.key, ca.crt (and crl.pem) to the host's /etc/stratus/pki/, named
after the daemon's role (meta.crt, meta.key …) or pointed to with --cert/--key/--ca.`,
	}
	cmd.PersistentFlags().StringVar(&dir, "dir", operatorPKIDir(), "the CA's directory ($STRATUS_PKI_DIR, else ~/.config/stratus)")

	var name string
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Create the cluster CA, and an admin certificate for this operator",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ca, err := pki.InitCA(dir, name)
			if err != nil {
				return err
			}
			if err := ca.IssueTo(dir, string(pki.RoleAdmin), pki.IssueRequest{Role: pki.RoleAdmin, Name: adminName()}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created the cluster CA in %s (ca.crt, ca.key: keep ca.key private)\nand an admin certificate for this machine (admin.crt, admin.key)\n", dir)
			return nil
		},
	}
	initCmd.Flags().StringVar(&name, "name", "stratus", "cluster name, shown in the CA's subject")

	var role string
	var hosts []string
	var days int
	var out, file string
	issueCmd := &cobra.Command{
		Use:   "issue --role ROLE NAME",
		Short: "Issue a certificate of a role: meta, objectd, proxy or admin",
		Long: `Issue a certificate and key named NAME for a daemon or an operator, written as NAME.crt and
NAME.key (or --file.crt and --file.key) into --out, with a copy of ca.crt. Servers need --host
for every address or name clients dial them by (their advertised address); a client checks it.

  stratus ca issue --role objectd --host 10.0.0.2 --file objectd node2 --out pki-node2/`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ca, err := pki.LoadCA(dir)
			if err != nil {
				return fmt.Errorf("load the CA (stratus ca init first?): %w", err)
			}
			r := pki.Role(role)
			if r != pki.RoleAdmin && len(hosts) == 0 {
				return fmt.Errorf("a %s certificate needs --host: the addresses other nodes dial it by", r)
			}
			if out == "" {
				out = dir
			}
			req := pki.IssueRequest{Role: r, Name: args[0], Hosts: hosts, Validity: time.Duration(days) * 24 * time.Hour}
			if file == "" {
				file = args[0]
			}
			if err := ca.IssueTo(out, file, req); err != nil {
				return err
			}
			if out != dir {
				caPEM, err := os.ReadFile(filepath.Join(dir, pki.CACertFile))
				if err != nil {
					return err
				}
				files := map[string][]byte{pki.CACertFile: caPEM}
				if crl, err := os.ReadFile(filepath.Join(dir, pki.CRLFile)); err == nil {
					files[pki.CRLFile] = crl
				}
				if err := pki.WriteFiles(out, files); err != nil {
					return err
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "issued %s certificate %q: %s, %s (with %s)\n", r, args[0],
				filepath.Join(out, file+".crt"), filepath.Join(out, file+".key"), filepath.Join(out, pki.CACertFile))
			return nil
		},
	}
	fl := issueCmd.Flags()
	fl.StringVar(&role, "role", "", "role the certificate carries: "+strings.Join(roleNames(), ", "))
	fl.StringSliceVar(&hosts, "host", nil, "IP address or DNS name clients dial this server by (repeatable)")
	fl.IntVar(&days, "days", 365, "days the certificate is valid")
	fl.StringVar(&out, "out", "", "directory to write NAME.crt, NAME.key and ca.crt into (default --dir)")
	fl.StringVar(&file, "file", "", "base name of the written files (default NAME); daemons look for <role>.crt and <role>.key")
	issueCmd.MarkFlagRequired("role")

	var serials []string
	revokeCmd := &cobra.Command{
		Use:   "revoke [CERT_FILE...]",
		Short: "Revoke certificates (by file or --serial) and rewrite crl.pem",
		Long: `Add certificates to the CA's revocation list (crl.pem in --dir). Copy crl.pem to every
host's PKI directory: daemons reread it within seconds and refuse the revoked certificates.
Revoking nothing renews the list's validity.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ca, err := pki.LoadCA(dir)
			if err != nil {
				return err
			}
			var revoke []*big.Int
			for _, f := range args {
				c, err := readCertFile(f)
				if err != nil {
					return err
				}
				revoke = append(revoke, c.SerialNumber)
			}
			for _, s := range serials {
				n, ok := new(big.Int).SetString(strings.TrimPrefix(strings.ReplaceAll(s, ":", ""), "0x"), 16)
				if !ok {
					return fmt.Errorf("--serial %q: want hexadecimal", s)
				}
				revoke = append(revoke, n)
			}
			path, err := ca.Revoke(revoke...)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked %d certificate(s); copy %s to every host's PKI directory\n", len(revoke), path)
			return nil
		},
	}
	revokeCmd.Flags().StringSliceVar(&serials, "serial", nil, "serial number to revoke, in hex (repeatable)")

	showCmd := &cobra.Command{
		Use:   "show CERT_FILE...",
		Short: "Show a certificate's role, name, serial, addresses and validity",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, f := range args {
				c, err := readCertFile(f)
				if err != nil {
					return err
				}
				printCert(cmd.OutOrStdout(), f, c)
			}
			return nil
		},
	}
	cmd.AddCommand(initCmd, issueCmd, revokeCmd, showCmd)
	return cmd
}

func roleNames() []string {
	var s []string
	for _, r := range pki.Roles {
		s = append(s, string(r))
	}
	return s
}

// adminName names the first admin certificate after the operator and the machine.
func adminName() string {
	user := os.Getenv("USER")
	if user == "" {
		user = "admin"
	}
	host, _ := os.Hostname()
	return user + "@" + host
}

func readCertFile(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no PEM certificate", path)
	}
	return x509.ParseCertificate(b.Bytes)
}

func printCert(w io.Writer, path string, c *x509.Certificate) {
	role, _ := pki.RoleOf(c)
	var hosts []string
	hosts = append(hosts, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		hosts = append(hosts, ip.String())
	}
	fmt.Fprintf(w, "%s\n  role:    %s\n  name:    %s\n  serial:  %s\n  hosts:   %s\n  valid:   %s to %s\n  issuer:  %s\n",
		path, role, c.Subject.CommonName, c.SerialNumber.Text(16), strings.Join(hosts, ", "),
		c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339), c.Issuer.CommonName)
}
