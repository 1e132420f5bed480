package chaos

import (
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"stratus/internal/pki"
	metaclient "stratus/meta/client"
	objclient "stratus/objectd/client"
)

// Every port of the cluster speaks mutual TLS, so each cluster has its own CA, made with
// `stratus ca init` in c.pkiDir (ca.crt, ca.key, and the operator's admin.crt/.key, which
// every operator command presents through STRATUS_PKI_DIR). Each process gets its own
// directory, <c.pkiDir>/<name>/, holding <name>.crt, <name>.key and a copy of ca.crt, made
// with `stratus ca issue`; daemons are started with --pki-dir and --cert-name pointing at
// it, so each certificate's common name is the process's name.

// issue makes a certificate of role for the process called name, valid for hosts (the
// addresses others dial it by), and returns its directory.
func (c *cluster) issue(role pki.Role, name string, hosts ...string) string {
	c.t.Helper()
	dir := filepath.Join(c.pkiDir, name)
	args := []string{"ca", "issue", "--dir", c.pkiDir, "--role", string(role), "--out", dir}
	var seen []string
	for _, h := range hosts {
		if ip, _, err := net.SplitHostPort(h); err == nil {
			h = ip
		}
		if !slices.Contains(seen, h) {
			seen = append(seen, h)
		}
	}
	if len(seen) > 0 {
		args = append(args, "--host", strings.Join(seen, ","))
	}
	c.stratus(append(args, name)...)
	return dir
}

// pkiArgs are a daemon's flags for the certificate issue made in dir for name.
func pkiArgs(dir, name string) []string {
	return []string{"--pki-dir", dir, "--cert-name", name}
}

// loadIdentity reads the certificate issue made for name.
func (c *cluster) loadIdentity(name string) *pki.Identity {
	c.t.Helper()
	id, err := pki.Load(pki.InDir(filepath.Join(c.pkiDir, name), name))
	if err != nil {
		c.t.Fatalf("load identity %s: %v", name, err)
	}
	return id
}

// initPKI creates the cluster's CA and the test process's own identities: the operator's
// (admin, for meta) and a proxy's (for direct reads from storage nodes and their metrics).
func (c *cluster) initPKI() {
	c.t.Helper()
	c.pkiDir = filepath.Join(c.dir, "pki")
	c.stratus("ca", "init", "--dir", c.pkiDir, "--name", "chaos")
	admin, err := pki.Load(pki.InDir(c.pkiDir, string(pki.RoleAdmin)))
	if err != nil {
		c.t.Fatalf("load admin identity: %v", err)
	}
	c.admin = admin
	c.issue(pki.RoleProxy, "checker", "127.0.0.1")
	c.checkerID = c.loadIdentity("checker")
	c.objc = objclient.New(objclient.Config{Timeout: 5 * time.Second, TLS: c.checkerID.ClientTLS(pki.RoleObjectd)})
	c.hc = &http.Client{Timeout: 2 * time.Second, Transport: objclient.NewTransport(objclient.WithTLS(c.checkerID.ClientTLS(pki.RoleObjectd)))}
}

// metaConfig returns the configuration of a meta client that presents the admin
// certificate to addrs (default: every meta node).
func (c *cluster) metaConfig(addrs ...string) metaclient.Config {
	if len(addrs) == 0 {
		addrs = strings.Split(c.metaList(), ",")
	}
	cfg := metaclient.DefaultConfig(addrs...)
	cfg.TLS = c.admin.ClientTLS(pki.RoleMeta)
	return cfg
}
