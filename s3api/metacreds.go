package s3api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	meta "stratus/meta/client"
)

// Defaults of MetaCredentials.
const (
	// DefaultNegativeTTL is how long an unknown access key is remembered as unknown.
	DefaultNegativeTTL = 10 * time.Second
	// DefaultMaxNegative bounds the unknown access keys remembered.
	DefaultMaxNegative = 10000
)

// SecretSource is what MetaCredentials needs of the meta catalog; *meta.Client implements
// it. Tests pass a fake.
type SecretSource interface {
	// AccessKeySecret returns an access key with its secret, or an error matching
	// meta.ErrNotFound when there is no such key.
	AccessKeySecret(ctx context.Context, id string) (meta.AccessKey, error)
}

// MetaCredentials finds access keys in the meta catalog, through the one call that returns
// secrets. It remembers what it learns, both ways: a found key (with its secret) for TTL,
// an unknown key for NegativeTTL, so neither a busy client nor a flood of bogus keys asks
// meta on every request. Concurrent lookups of a key that is not cached share one call to
// meta. Safe for concurrent use; set the fields before the first Lookup.
type MetaCredentials struct {
	// Meta is the catalog.
	Meta SecretSource
	// TTL is how long a found key is used without asking meta again: a revoked or rotated
	// key keeps working on this server for up to TTL. Zero asks meta on every request that
	// is not already waiting for the same key.
	TTL time.Duration
	// NegativeTTL is how long an unknown key is refused without asking meta again: a key
	// created meanwhile is refused here for up to NegativeTTL, and each distinct bogus key
	// reaches meta at most once per NegativeTTL. Zero means DefaultNegativeTTL; a negative
	// value remembers nothing.
	NegativeTTL time.Duration
	// MaxNegative bounds how many unknown keys are remembered, so a flood of distinct
	// random keys cannot grow memory without limit: when the set is full, expired entries
	// are dropped and, if that is not enough, arbitrary ones. Zero means DefaultMaxNegative.
	MaxNegative int
	// Now returns the current time; nil means time.Now. Tests pass a fake clock.
	Now func() time.Time

	mu       sync.Mutex
	cache    map[string]cachedKey  // found keys, by cacheID
	negative map[string]time.Time  // unknown keys, by cacheID: when they were found missing
	flights  map[string]*keyFlight // calls to meta in progress, by cacheID
}

type cachedKey struct {
	key     meta.AccessKey
	fetched time.Time
}

// keyFlight is one call to meta that every concurrent Lookup of the key waits for.
type keyFlight struct {
	done    chan struct{} // closed once key and err are set
	key     meta.AccessKey
	err     error
	waiters int // lookups that joined the call after it started; tests read it
}

// errAbandoned is a flight's answer when the caller that made the call gave up (its ctx
// ended) before meta answered: the others waiting for it ask again with their own ctx.
var errAbandoned = errors.New("s3api: secret lookup abandoned by its caller")

// String describes c by its settings: printed whole (%v of the pointer), c would show the
// cached secrets.
func (c *MetaCredentials) String() string {
	return fmt.Sprintf("MetaCredentials{TTL:%v NegativeTTL:%v MaxNegative:%d}", c.TTL, c.NegativeTTL, c.MaxNegative)
}

// GoString is String, for %#v.
func (c *MetaCredentials) GoString() string { return c.String() }

// LogValue implements slog.LogValuer, with String's reason.
func (c *MetaCredentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Lookup implements Credentials.
func (c *MetaCredentials) Lookup(ctx context.Context, accessKey string) (secret, owner string, err error) {
	k, err := c.key(ctx, accessKey)
	if err != nil {
		return "", "", err
	}
	if k.Disabled {
		return "", "", ErrInvalidAccessKeyID
	}
	return k.Secret, k.Account, nil
}

// key returns the access key from the caches or, by one call shared with concurrent
// lookups, from meta.
func (c *MetaCredentials) key(ctx context.Context, accessKey string) (meta.AccessKey, error) {
	id := cacheID(accessKey)
	for {
		now := c.now()
		c.mu.Lock()
		if hit, ok := c.cache[id]; ok && now.Sub(hit.fetched) <= c.TTL {
			c.mu.Unlock()
			return hit.key, nil
		}
		if at, ok := c.negative[id]; ok {
			if now.Sub(at) <= c.negativeTTL() {
				c.mu.Unlock()
				return meta.AccessKey{}, ErrInvalidAccessKeyID
			}
			delete(c.negative, id)
		}
		if f, ok := c.flights[id]; ok {
			f.waiters++
			c.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return meta.AccessKey{}, ctx.Err()
			}
			if errors.Is(f.err, errAbandoned) {
				continue
			}
			return f.key, f.err
		}
		f := &keyFlight{done: make(chan struct{})}
		if c.flights == nil {
			c.flights = map[string]*keyFlight{}
		}
		c.flights[id] = f
		c.mu.Unlock()
		c.fetch(ctx, id, accessKey, f)
		if errors.Is(f.err, errAbandoned) {
			return meta.AccessKey{}, fmt.Errorf("%w: %w", ctx.Err(), f.err)
		}
		return f.key, f.err
	}
}

// fetch makes f's call to meta, records the answer in the caches, and releases f's waiters.
func (c *MetaCredentials) fetch(ctx context.Context, id, accessKey string, f *keyFlight) {
	k, err := c.Meta.AccessKeySecret(ctx, accessKey)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		// Meta did not answer this caller, which tells nothing about the key.
		err = errAbandoned
	case errors.Is(err, meta.ErrNotFound):
		err = ErrInvalidAccessKeyID
	case errors.Is(err, meta.ErrTooManyRequests):
		err = fmt.Errorf("%w: %w", ErrSlowDown, err)
	}
	now := c.now()
	c.mu.Lock()
	switch {
	case err == nil:
		if c.cache == nil {
			c.cache = map[string]cachedKey{}
		}
		c.cache[id] = cachedKey{key: k, fetched: now}
	case errors.Is(err, ErrInvalidAccessKeyID):
		delete(c.cache, id)
		c.rememberMissing(id, now)
	}
	delete(c.flights, id)
	f.key, f.err = k, err
	c.mu.Unlock()
	close(f.done)
}

// rememberMissing adds id to the negative cache, making room first if it is full. The
// caller holds c.mu.
func (c *MetaCredentials) rememberMissing(id string, now time.Time) {
	ttl := c.negativeTTL()
	if ttl < 0 {
		return
	}
	limit := c.MaxNegative
	if limit <= 0 {
		limit = DefaultMaxNegative
	}
	if c.negative == nil {
		c.negative = map[string]time.Time{}
	}
	if len(c.negative) >= limit {
		// Sweep down to 7/8 of the limit, so the O(n) sweep runs at most once per
		// limit/8 insertions. Expired entries go first; then any (map order is random).
		for k, at := range c.negative {
			if now.Sub(at) > ttl {
				delete(c.negative, k)
			}
		}
		for k := range c.negative {
			if len(c.negative) < limit-limit/8 {
				break
			}
			delete(c.negative, k)
		}
	}
	c.negative[id] = now
}

func (c *MetaCredentials) negativeTTL() time.Duration {
	if c.NegativeTTL == 0 {
		return DefaultNegativeTTL
	}
	return c.NegativeTTL
}

func (c *MetaCredentials) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}
