package sigv4

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Defaults of a FailureLimiter, as the S3 and EC2 front ends use them.
const (
	// DefaultFailureLimit is how many failed authentications an access key, and separately
	// a client address, may have in quick succession.
	DefaultFailureLimit = 20
	// DefaultFailureWindow is the time over which DefaultFailureLimit failures are allowed.
	DefaultFailureWindow = time.Minute
	// DefaultMaxTracked bounds each table of the limiter.
	DefaultMaxTracked = 10000
)

// MaxCacheIDBytes is the longest access key kept as is in a table (a negative cache, the
// failure limit); longer ones (a presigned URL's query may carry far more) are kept by
// their SHA-256, so an entry's size is bounded whatever a client sends.
const MaxCacheIDBytes = 128

// CacheID is how accessKey is named in bounded tables: itself, or a digest if it is long.
func CacheID(accessKey string) string {
	if len(accessKey) <= MaxCacheIDBytes {
		return accessKey
	}
	sum := sha256.Sum256([]byte(accessKey))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ProvenFor is how long an address that authenticated with an access key stays exempt from
// that key's limit (and its own): long enough for a client that works in bursts, bounded so
// a table of such pairs forgets clients that left.
const ProvenFor = time.Hour

// evictSample is how many entries a full table looks at to choose one to drop.
const evictSample = 8

// What refused a request (Admit's scope; front ends use it as a metrics label).
const (
	ScopeKey     = "key"
	ScopeAddress = "address"
)

// FailureLimiter counts failed authentications per access key and per client address in
// token buckets: each holds up to limit attempts and earns one back every window/limit;
// a failure spends one. A key or address with no attempt left is refused before its
// secret is looked up. Successes spend nothing.
//
// Anyone may name an access key, so a key's limit alone would let a stranger lock its
// owner out with a few bad requests. An address that authenticated with a key within
// ProvenFor is therefore exempt from the limits while it uses that key, until it fails
// with it. Such an exemption is earned only by a valid signature, so it gives an
// attacker nothing the signature had not.
//
// Memory is bounded: each of the three tables (keys, addresses, proven pairs) holds at
// most maxTracked entries; a full table drops, of a few sampled entries, the one that
// carries least (the fullest bucket, the oldest proof). A bucket that has refilled carries
// nothing and is dropped when next touched.
//
// Safe for concurrent use.
type FailureLimiter struct {
	limit      float64
	perAttempt time.Duration // window/limit: the time to earn one attempt back
	maxTracked int

	mu     sync.RWMutex
	keys   map[string]bucket
	addrs  map[netip.Addr]bucket
	proven map[provenPair]time.Time // when the pair last authenticated
}

// bucket is a token bucket: tokens attempts were left at at.
type bucket struct {
	tokens float64
	at     time.Time
}

type provenPair struct {
	key  string
	addr netip.Addr
}

func NewFailureLimiter(limit int, window time.Duration, maxTracked int) *FailureLimiter {
	return &FailureLimiter{
		limit:      float64(limit),
		perAttempt: max(window/time.Duration(limit), time.Nanosecond),
		maxTracked: maxTracked,
		keys:       map[string]bucket{},
		addrs:      map[netip.Addr]bucket{},
		proven:     map[provenPair]time.Time{},
	}
}

// available returns the attempts b holds at now.
func (l *FailureLimiter) available(b bucket, now time.Time) float64 {
	earned := float64(now.Sub(b.at)) / float64(l.perAttempt)
	return min(l.limit, b.tokens+max(earned, 0))
}

// wait returns how long until b holds one attempt.
func (l *FailureLimiter) wait(b bucket, now time.Time) time.Duration {
	return time.Duration((1 - l.available(b, now)) * float64(l.perAttempt))
}

// Admit returns "" if a request with key from addr may be verified or, when key or addr has
// no attempt left, the scope that refused it (ScopeKey or ScopeAddress) and how long until
// it has one. addr may be the zero Addr (unknown), which is not limited. A nil limiter
// admits everything.
func (l *FailureLimiter) Admit(key string, addr netip.Addr, now time.Time) (scope string, retryAfter time.Duration) {
	if l == nil {
		return "", 0
	}
	key = CacheID(key)
	l.mu.RLock()
	defer l.mu.RUnlock()
	if at, ok := l.proven[provenPair{key, addr}]; ok && addr.IsValid() && now.Sub(at) <= ProvenFor {
		return "", 0
	}
	if b, ok := l.addrs[addr]; ok && l.available(b, now) < 1 {
		return ScopeAddress, l.wait(b, now)
	}
	if b, ok := l.keys[key]; ok && l.available(b, now) < 1 {
		return ScopeKey, l.wait(b, now)
	}
	return "", 0
}

// Failed spends an attempt of key and of addr, and revokes their pair's proof.
func (l *FailureLimiter) Failed(key string, addr netip.Addr, now time.Time) {
	if l == nil {
		return
	}
	key = CacheID(key)
	l.mu.Lock()
	defer l.mu.Unlock()
	spend(l, l.keys, key, now)
	if addr.IsValid() {
		spend(l, l.addrs, addr, now)
	}
	delete(l.proven, provenPair{key, addr})
}

// spend takes one attempt from m[id], adding the entry (and making room) if it is new.
// Attempts do not go below zero, so a burst that passed admit together does not lock its
// key out for longer than a full window.
func spend[K comparable](l *FailureLimiter, m map[K]bucket, id K, now time.Time) {
	b, ok := m[id]
	if !ok {
		if len(m) >= l.maxTracked {
			evict(l, m, now)
		}
		b = bucket{tokens: l.limit, at: now}
	}
	m[id] = bucket{tokens: max(l.available(b, now)-1, 0), at: now}
}

// evict drops, of a few entries of a full table, the one with most attempts left: the one
// least likely to be refused soon. Map iteration starts at a random place, which makes the
// sample random enough.
func evict[K comparable](l *FailureLimiter, m map[K]bucket, now time.Time) {
	var victim K
	most, n := -1.0, 0
	for id, b := range m {
		if a := l.available(b, now); a > most {
			victim, most = id, a
		}
		if n++; n == evictSample || most >= l.limit {
			break
		}
	}
	delete(m, victim)
}

// Succeeded records that key authenticated from addr, which exempts the pair from the
// limits for ProvenFor. A bucket with every attempt back is dropped.
func (l *FailureLimiter) Succeeded(key string, addr netip.Addr, now time.Time) {
	if l == nil || !addr.IsValid() {
		return
	}
	key = CacheID(key)
	pair := provenPair{key, addr}
	l.mu.RLock()
	at, ok := l.proven[pair]
	l.mu.RUnlock()
	if ok && now.Sub(at) < ProvenFor/8 {
		return // fresh enough: most successes take only the read lock
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.proven[pair]; !ok && len(l.proven) >= l.maxTracked {
		var victim provenPair
		var oldest time.Time
		n := 0
		for p, at := range l.proven {
			if n == 0 || at.Before(oldest) {
				victim, oldest = p, at
			}
			if n++; n == evictSample {
				break
			}
		}
		delete(l.proven, victim)
	}
	l.proven[pair] = now
	if b, ok := l.keys[key]; ok && l.available(b, now) >= l.limit {
		delete(l.keys, key)
	}
	if b, ok := l.addrs[addr]; ok && l.available(b, now) >= l.limit {
		delete(l.addrs, addr)
	}
}

// ClientAddr returns the address r's failures are counted against: the connection's peer,
// or, when the peer is a trusted proxy, the rightmost address of X-Forwarded-For that is
// not one. An IPv6 address is reduced to its /64, which one host can hold whole. The zero
// Addr means unknown (an in-process caller).
func ClientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	addr := parseHostAddr(r.RemoteAddr)
	if addr.IsValid() && len(trusted) > 0 && inPrefixes(addr, trusted) {
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			hop := parseHostAddr(strings.TrimSpace(hops[i]))
			if !hop.IsValid() {
				break // a garbled hop: trust nothing to its left
			}
			addr = hop
			if !inPrefixes(hop, trusted) {
				break
			}
		}
	}
	if addr.Is6() {
		addr = netip.PrefixFrom(addr, 64).Masked().Addr()
	}
	return addr
}

// parseHostAddr parses "ip", "ip:port" or "[ip]:port", unmapping IPv4-in-IPv6 and
// dropping any zone; the zero Addr if s is none of them.
func parseHostAddr(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone("")
	}
	return netip.Addr{}
}

func inPrefixes(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
