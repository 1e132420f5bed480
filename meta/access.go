package meta

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"stratus/internal/pki"
	"stratus/meta/client"
)

// Who may do what. Every request is checked on the node it reaches, before it is served or
// forwarded; a request forwarded by a member arrives with that member's certificate (role
// meta), which may do anything, because the member checked the original caller first.
//
// Reads of every table are open to the roles that run the data path and to operators, but
// no read returns a secret: the access-key table's records come back without their
// secrets (see redact), and only the SigV4 front ends (proxies, EC2 APIs) get one, one key
// at a time, through PathSecret.

// tableWriters lists, per table, the roles other than meta that may write it.
var tableWriters = map[string][]pki.Role{
	client.TableConfig:         {pki.RoleAdmin},
	client.TableRings:          {pki.RoleAdmin},
	client.TableNodes:          {pki.RoleAdmin, pki.RoleObjectd},
	client.TableAccounts:       {pki.RoleAdmin},
	client.TableAccessKeys:     {pki.RoleAdmin},
	client.TableBuckets:        {pki.RoleAdmin, pki.RoleProxy},
	client.TableObjects:        {pki.RoleAdmin, pki.RoleProxy},
	client.TableObjectVersions: {pki.RoleAdmin, pki.RoleProxy},
	client.TableUploads:        {pki.RoleAdmin, pki.RoleProxy},
	client.TableUploadParts:    {pki.RoleAdmin, pki.RoleProxy},
	client.TableVolumes:        {pki.RoleAdmin, pki.RoleVolumed, pki.RoleEC2API, pki.RoleComputed},
	client.TableSnapshots:      {pki.RoleAdmin, pki.RoleVolumed, pki.RoleEC2API},
	client.TableSnapChunks:     {pki.RoleAdmin, pki.RoleVolumed},
	client.TableImages:         {pki.RoleAdmin, pki.RoleEC2API, pki.RoleComputed},
	client.TableInstances:      {pki.RoleAdmin, pki.RoleEC2API, pki.RoleComputed},
	client.TableKeyPairs:       {pki.RoleAdmin, pki.RoleEC2API},
	client.TableTags:           {pki.RoleAdmin, pki.RoleEC2API},
	client.TableComputeHosts:   {pki.RoleAdmin, pki.RoleComputed},
}

// storageReads are the tables a storage node may read: where data goes, nothing about whose.
var storageReads = []string{client.TableConfig, client.TableRings, client.TableNodes}

// volumeReads are the tables a volume daemon may read: placement, its volumes and their
// snapshots, and the reference counts of the snapshots' chunks.
var volumeReads = []string{client.TableConfig, client.TableRings, client.TableNodes, client.TableVolumes, client.TableSnapshots, client.TableSnapChunks}

// ec2Reads are the tables an EC2 front end may read: the compute catalog and who owns what
// (accounts), not buckets or objects. Secrets come one at a time through PathSecret.
var ec2Reads = []string{client.TableConfig, client.TableNodes, client.TableAccounts, client.TableVolumes,
	client.TableSnapshots, client.TableImages, client.TableInstances, client.TableKeyPairs, client.TableTags,
	client.TableComputeHosts}

// computeReads are the tables a compute host may read: what to run (instances, images), the
// volumes it attaches (it takes and gives up their leases, so it writes them too), its own
// registration, and what fetching an image from the object store needs: the ring, the
// bucket (whose owner must be the image's) and the object index (the current version).
// Not key pairs (an instance record carries its public key), accounts, access keys,
// uploads or object histories.
var computeReads = []string{client.TableConfig, client.TableRings, client.TableVolumes, client.TableImages,
	client.TableInstances, client.TableComputeHosts, client.TableBuckets, client.TableObjects}

// secretReaders are the roles that may read one access key's secret through PathSecret:
// the front ends that check SigV4 signatures.
var secretReaders = []pki.Role{pki.RoleProxy, pki.RoleEC2API}

// trusted is the identity of callers when the node runs without TLS (tests only): anything
// goes, as before there were certificates.
var trusted = pki.Peer{Role: pki.RoleMeta, Name: "plaintext"}

// peer verifies the caller of r. Refusals wrap client.ErrUnauthenticated.
func (s *Server) peer(r *http.Request) (pki.Peer, error) {
	if s.cfg.Identity == nil {
		return trusted, nil
	}
	p, err := s.cfg.Identity.PeerOf(r)
	if err != nil {
		s.refusals.note(r.RemoteAddr, err, s.log)
		return p, refusal{client.ErrUnauthenticated, err}
	}
	return p, nil
}

// permit returns nil if p's role is one of roles (meta always is).
func permit(p pki.Peer, what string, roles ...pki.Role) error {
	if err := pki.Permit(p, what, append(roles, pki.RoleMeta)...); err != nil {
		return refusal{client.ErrForbidden, err}
	}
	return nil
}

// refusal is a pki refusal under the protocol's sentinel (for its wire code), printed once.
type refusal struct{ kind, err error }

func (r refusal) Error() string   { return r.err.Error() }
func (r refusal) Unwrap() []error { return []error{r.kind, r.err} }

// mayWrite checks that p may write every table ops touch.
func mayWrite(p pki.Peer, ops []client.Op) error {
	for _, op := range ops {
		if err := permit(p, "write table "+op.Table, tableWriters[op.Table]...); err != nil {
			return err
		}
	}
	return nil
}

// mayRead checks that p may read table.
func mayRead(p pki.Peer, table string) error {
	if p.Role == pki.RoleObjectd && slices.Contains(storageReads, table) ||
		p.Role == pki.RoleVolumed && slices.Contains(volumeReads, table) ||
		p.Role == pki.RoleEC2API && slices.Contains(ec2Reads, table) ||
		p.Role == pki.RoleComputed && slices.Contains(computeReads, table) {
		return nil
	}
	return permit(p, "read table "+table, pki.RoleAdmin, pki.RoleProxy)
}

// redact removes the secret from an access-key record read through the generic API.
func redact(it *client.Item) error {
	if it.Table != client.TableAccessKeys {
		return nil
	}
	var k client.AccessKey
	if err := json.Unmarshal(it.Value, &k); err != nil {
		return fmt.Errorf("%w: access key %s: %v", ErrCorruptEntry, it.Key, err)
	}
	k.Secret = ""
	v, err := json.Marshal(k)
	if err != nil {
		return err
	}
	it.Value = v
	return nil
}

// refusalLog logs refused callers at most once per address and minute, so a scanner or a
// misconfigured client cannot flood the log.
type refusalLog struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (l *refusalLog) note(addr string, err error, log interface{ Warn(string, ...any) }) {
	host, _, err2 := net.SplitHostPort(addr)
	if err2 != nil {
		host = addr
	}
	now := time.Now()
	l.mu.Lock()
	if l.last == nil || len(l.last) > 4096 {
		l.last = map[string]time.Time{}
	}
	quiet := now.Sub(l.last[host]) < time.Minute
	if !quiet {
		l.last[host] = now
	}
	l.mu.Unlock()
	if !quiet {
		log.Warn("caller refused", "remote", host, "err", err)
	}
}

// secretLimiter is a token bucket per caller on PathSecret: a proxy asks once per key per
// cache period, so a caller far above that is enumerating keys.
type secretLimiter struct {
	rate  float64 // tokens per second
	burst float64

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// allow takes a token from caller's bucket.
func (l *secretLimiter) allow(caller string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil || len(l.buckets) > 4096 {
		l.buckets = map[string]*bucket{}
	}
	b := l.buckets[caller]
	if b == nil {
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[caller] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
