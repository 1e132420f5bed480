package pki

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Organization is the subject organization of every certificate a cluster CA issues.
const Organization = "stratus"

// Role says what a certificate's holder is in the cluster. Stored in certificates; never
// rename one.
type Role string

// The roles.
const (
	RoleMeta     Role = "meta"     // a catalog voter
	RoleObjectd  Role = "objectd"  // a storage node
	RoleProxy    Role = "proxy"    // an S3 front end
	RoleVolumed  Role = "volumed"  // a host's block-volume daemon
	RoleEC2API   Role = "ec2api"   // an EC2 API front end
	RoleComputed Role = "computed" // a host's compute daemon
	RoleAdmin    Role = "admin"    // an operator's tools
)

// Roles lists every role, in the order the CLI shows them.
var Roles = []Role{RoleMeta, RoleObjectd, RoleProxy, RoleVolumed, RoleEC2API, RoleComputed, RoleAdmin}

// RoleOf returns the role a certificate carries.
func RoleOf(c *x509.Certificate) (Role, bool) {
	if !slices.Contains(c.Subject.Organization, Organization) || len(c.Subject.OrganizationalUnit) != 1 {
		return "", false
	}
	r := Role(c.Subject.OrganizationalUnit[0])
	return r, slices.Contains(Roles, r)
}

// ReloadInterval is how often an Identity looks for replaced certificate, key and CRL files.
const ReloadInterval = 10 * time.Second

// Files names the files of an identity.
type Files struct {
	Cert string // this holder's certificate (chain), PEM
	Key  string // its private key, PEM
	CA   string // the cluster CA certificate, PEM
	CRL  string // the CA's revocation list; optional (a missing file revokes nothing)
}

// InDir returns the files of the identity called name in dir: name.crt, name.key, ca.crt
// and crl.pem.
func InDir(dir, name string) Files {
	return Files{
		Cert: filepath.Join(dir, name+".crt"),
		Key:  filepath.Join(dir, name+".key"),
		CA:   filepath.Join(dir, CACertFile),
		CRL:  filepath.Join(dir, CRLFile),
	}
}

// Peer is a verified caller.
type Peer struct {
	Role   Role
	Name   string // the certificate's common name
	Serial string // hex
	// notBefore and notAfter are checked on every use of a cached verification.
	notBefore, notAfter time.Time
}

func (p Peer) String() string { return fmt.Sprintf("%s %q (serial %s)", p.Role, p.Name, p.Serial) }

// Identity is what a daemon or tool presents to others and how it checks them: its own
// certificate and key, and the cluster CA and revocation list it trusts. It is safe for
// concurrent use.
type Identity struct {
	files  Files
	roots  *x509.CertPool
	ca     *x509.Certificate
	role   Role
	name   string
	cert   atomic.Pointer[tls.Certificate]
	revoke atomic.Pointer[map[string]bool] // hex serials

	reloadMu  sync.Mutex
	nextCheck atomic.Int64 // unix nanoseconds of the next look at the files
	stamps    map[string]time.Time

	cacheMu sync.Mutex
	cache   map[[32]byte]Peer // verified leaf certificates by SHA-256 of their DER
}

// Load reads an identity's files. Its certificate must be one the CA issued, with a role.
func Load(f Files) (*Identity, error) {
	cas, err := readCerts(f.CA)
	if err != nil {
		return nil, fmt.Errorf("cluster CA: %w", err)
	}
	id := &Identity{files: f, roots: x509.NewCertPool(), ca: cas[0], stamps: map[string]time.Time{}, cache: map[[32]byte]Peer{}}
	for _, c := range cas {
		id.roots.AddCert(c)
	}
	if err := id.reload(); err != nil {
		return nil, err
	}
	leaf := id.cert.Load().Leaf
	p, err := id.verify(leaf, nil, time.Now())
	if err != nil {
		return nil, fmt.Errorf("own certificate %s: %w", f.Cert, err)
	}
	id.role, id.name = p.Role, p.Name
	return id, nil
}

// Role returns the role of this identity's own certificate.
func (id *Identity) Role() Role { return id.role }

// Name returns the common name of this identity's own certificate.
func (id *Identity) Name() string { return id.name }

// Chain returns this identity's own certificate chain, leaf first: what an in-process
// caller presents in place of a handshake.
func (id *Identity) Chain() []*x509.Certificate {
	c := id.current()
	chain := []*x509.Certificate{c.Leaf}
	for _, der := range c.Certificate[1:] {
		if x, err := x509.ParseCertificate(der); err == nil {
			chain = append(chain, x)
		}
	}
	return chain
}

// current returns the certificate to present, rereading the files if they changed.
func (id *Identity) current() *tls.Certificate {
	if time.Now().UnixNano() >= id.nextCheck.Load() {
		_ = id.reload() // a half-replaced pair fails to load; keep the old one until it is whole
	}
	return id.cert.Load()
}

// reload rereads whichever of the certificate, key and CRL files changed since last time.
func (id *Identity) reload() error {
	id.reloadMu.Lock()
	defer id.reloadMu.Unlock()
	id.nextCheck.Store(time.Now().Add(ReloadInterval).UnixNano())
	changed := func(path string) bool {
		fi, err := os.Stat(path)
		if err != nil {
			_, had := id.stamps[path]
			delete(id.stamps, path)
			return had
		}
		old, ok := id.stamps[path]
		id.stamps[path] = fi.ModTime()
		return !ok || !old.Equal(fi.ModTime())
	}
	certChanged := changed(id.files.Cert)
	keyChanged := changed(id.files.Key)
	if certChanged || keyChanged || id.cert.Load() == nil {
		c, err := tls.LoadX509KeyPair(id.files.Cert, id.files.Key)
		if err != nil {
			delete(id.stamps, id.files.Cert) // try again next time
			return fmt.Errorf("load %s and %s: %w", id.files.Cert, id.files.Key, err)
		}
		id.cert.Store(&c)
	}
	if id.files.CRL != "" && (changed(id.files.CRL) || id.revoke.Load() == nil) {
		revoked := map[string]bool{}
		crl, err := readCRL(id.files.CRL)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			delete(id.stamps, id.files.CRL)
			return err
		default:
			if err := crl.CheckSignatureFrom(id.ca); err != nil {
				delete(id.stamps, id.files.CRL)
				return fmt.Errorf("%s is not signed by the cluster CA: %w", id.files.CRL, err)
			}
			for _, e := range crl.RevokedCertificateEntries {
				revoked[e.SerialNumber.Text(16)] = true
			}
		}
		id.revoke.Store(&revoked)
	}
	if id.revoke.Load() == nil {
		id.revoke.Store(&map[string]bool{})
	}
	return nil
}

// ServerTLS returns the configuration of a port this identity serves. It asks every client
// for a certificate but leaves checking it to Peer, so refusals can say why.
func (id *Identity) ServerTLS() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		// Internal hops carry bulk object data: full-size records from the first byte cost
		// less CPU per byte than growing them as a browser-facing server would.
		DynamicRecordSizingDisabled: true,
		ClientAuth:                  tls.RequestClientCert,
		NextProtos:                  []string{"http/1.1"},
		GetCertificate:              func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return id.current(), nil },
	}
}

// ClientTLS returns the configuration for calling servers of the given roles: the server must
// present a certificate from the cluster CA for the address dialled, not revoked, whose role
// is one of roles.
func (id *Identity) ClientTLS(roles ...Role) *tls.Config {
	return &tls.Config{
		MinVersion:                  tls.VersionTLS13,
		DynamicRecordSizingDisabled: true,
		RootCAs:                     id.roots,
		NextProtos:                  []string{"http/1.1"},
		ClientSessionCache:          tls.NewLRUClientSessionCache(256),
		GetClientCertificate:        func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return id.current(), nil },
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("server %s: %w", cs.ServerName, ErrNoCertificate)
			}
			p, err := id.Verify(cs.PeerCertificates)
			if err != nil {
				return fmt.Errorf("server %s: %w", cs.ServerName, err)
			}
			return Permit(p, "serve this port", roles...)
		},
	}
}

// Verify checks a peer's certificate chain (leaf first): issued by the cluster CA, within its
// validity, not revoked, carrying a role. Chains verified before are remembered, so a
// connection's requests cost a hash and a map look-up each.
func (id *Identity) Verify(chain []*x509.Certificate) (Peer, error) {
	if len(chain) == 0 || chain[0] == nil {
		return Peer{}, fmt.Errorf("%w: %w", ErrUnauthenticated, ErrNoCertificate)
	}
	return id.verify(chain[0], chain[1:], time.Now())
}

func (id *Identity) verify(leaf *x509.Certificate, intermediates []*x509.Certificate, now time.Time) (Peer, error) {
	sum := sha256.Sum256(leaf.Raw)
	id.cacheMu.Lock()
	p, ok := id.cache[sum]
	id.cacheMu.Unlock()
	if !ok {
		var err error
		if p, err = id.verifyChain(leaf, intermediates, now); err != nil {
			return Peer{}, err
		}
		id.cacheMu.Lock()
		if len(id.cache) >= 4096 {
			clear(id.cache)
		}
		id.cache[sum] = p
		id.cacheMu.Unlock()
	}
	if now.Before(p.notBefore) || now.After(p.notAfter) {
		return Peer{}, fmt.Errorf("%w: %w: %s is valid from %s to %s", ErrUnauthenticated, ErrExpired, p, p.notBefore.UTC().Format(time.RFC3339), p.notAfter.UTC().Format(time.RFC3339))
	}
	id.current() // rereads the CRL when it changed
	if (*id.revoke.Load())[p.Serial] {
		return Peer{}, fmt.Errorf("%w: %w: %s", ErrUnauthenticated, ErrRevoked, p)
	}
	return p, nil
}

func (id *Identity) verifyChain(leaf *x509.Certificate, intermediates []*x509.Certificate, now time.Time) (Peer, error) {
	p := Peer{Name: leaf.Subject.CommonName, Serial: leaf.SerialNumber.Text(16), notBefore: leaf.NotBefore, notAfter: leaf.NotAfter}
	opts := x509.VerifyOptions{Roots: id.roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	if len(intermediates) > 0 {
		opts.Intermediates = x509.NewCertPool()
		for _, c := range intermediates {
			opts.Intermediates.AddCert(c)
		}
	}
	if _, err := leaf.Verify(opts); err != nil {
		var ua x509.UnknownAuthorityError
		var ci x509.CertificateInvalidError
		switch {
		case errors.As(err, &ua):
			return p, fmt.Errorf("%w: %w: %q is signed by %q", ErrUnauthenticated, ErrUnknownCA, p.Name, leaf.Issuer.CommonName)
		case errors.As(err, &ci) && ci.Reason == x509.Expired:
			return p, fmt.Errorf("%w: %w: %q (serial %s) is valid from %s to %s", ErrUnauthenticated, ErrExpired, p.Name, p.Serial,
				leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
		default:
			return p, fmt.Errorf("%w: certificate %q: %v", ErrUnauthenticated, p.Name, err)
		}
	}
	role, ok := RoleOf(leaf)
	if !ok {
		return p, fmt.Errorf("%w: %w: %q", ErrUnauthenticated, ErrNoRole, p.Name)
	}
	p.Role = role
	return p, nil
}

// Permit returns nil if p's role is one of roles, and otherwise an error wrapping
// ErrForbidden that says what was refused; what describes the action ("write objects").
func Permit(p Peer, what string, roles ...Role) error {
	if slices.Contains(roles, p.Role) {
		return nil
	}
	return fmt.Errorf("%w: %s may not %s (only %v)", ErrForbidden, p, what, roles)
}
