package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"stratus/internal/pki"
)

// DaemonPKIDir is where daemons look for their certificate, key, the cluster CA and its
// revocation list unless told otherwise.
const DaemonPKIDir = "/etc/stratus/pki"

// operatorPKIDir is where operator commands look for the admin certificate: $STRATUS_PKI_DIR,
// else ~/.config/stratus ('stratus ca init' puts the CA and an admin certificate there).
func operatorPKIDir() string {
	if d := os.Getenv("STRATUS_PKI_DIR"); d != "" {
		return d
	}
	if d, err := os.UserConfigDir(); err == nil {
		return filepath.Join(d, "stratus")
	}
	return ".stratus"
}

// identityFlags locate the certificate a command presents and the CA it trusts: by default
// <pki-dir>/<name>.crt and .key, <pki-dir>/ca.crt and <pki-dir>/crl.pem.
type identityFlags struct {
	role pki.Role
	dir  string
	name string
	cert string
	key  string
	ca   string
	crl  string
}

func (f *identityFlags) addFlags(fs *pflag.FlagSet, role pki.Role, dir string) {
	f.role = role
	fs.StringVar(&f.dir, "pki-dir", dir, "directory of this command's certificate, key, the cluster CA (ca.crt) and revocation list (crl.pem)")
	fs.StringVar(&f.name, "cert-name", string(role), "file name of the certificate and key in --pki-dir, without .crt/.key")
	fs.StringVar(&f.cert, "cert", "", "certificate to present, PEM (default <pki-dir>/<cert-name>.crt)")
	fs.StringVar(&f.key, "key", "", "private key of --cert, PEM (default <pki-dir>/<cert-name>.key)")
	fs.StringVar(&f.ca, "ca", "", "the cluster CA certificate, PEM (default <pki-dir>/ca.crt)")
	fs.StringVar(&f.crl, "crl", "", "the CA's revocation list, PEM; reread when it changes (default <pki-dir>/crl.pem, if present)")
}

// identityFromFlags reads identity flags that addFlags added to fs (or to a parent's
// persistent flags, which a parsed command's Flags include).
func identityFromFlags(fs *pflag.FlagSet, role pki.Role) *identityFlags {
	get := func(name string) string { v, _ := fs.GetString(name); return v }
	return &identityFlags{role: role, dir: get("pki-dir"), name: get("cert-name"), cert: get("cert"), key: get("key"), ca: get("ca"), crl: get("crl")}
}

// load reads the identity and checks that it holds the command's role.
func (f *identityFlags) load() (*pki.Identity, error) {
	files := pki.InDir(f.dir, f.name)
	for _, o := range []struct{ flag, dst *string }{{&f.cert, &files.Cert}, {&f.key, &files.Key}, {&f.ca, &files.CA}, {&f.crl, &files.CRL}} {
		if *o.flag != "" {
			*o.dst = *o.flag
		}
	}
	id, err := pki.Load(files)
	if err != nil {
		return nil, fmt.Errorf("%w\n(every Stratus port speaks mutual TLS: give --pki-dir or --cert/--key/--ca; an operator makes them with 'stratus ca issue --role %s')", err, f.role)
	}
	if id.Role() != f.role {
		return nil, fmt.Errorf("%s holds a %s certificate; this command needs role %s", files.Cert, id.Role(), f.role)
	}
	return id, nil
}
