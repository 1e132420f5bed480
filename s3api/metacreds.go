package s3api

import (
	"context"
	"errors"
	"sync"
	"time"

	meta "stratus/meta/client"
)

// MetaCredentials finds access keys in the meta catalog. Keys are cached for TTL, so a
// revoked key stops working within TTL and a busy server does not ask meta on every
// request.
type MetaCredentials struct {
	Meta *meta.Client
	TTL  time.Duration

	mu    sync.Mutex
	cache map[string]cachedKey
}

type cachedKey struct {
	key     meta.AccessKey
	fetched time.Time
}

// Lookup implements Credentials.
func (c *MetaCredentials) Lookup(ctx context.Context, accessKey string) (secret, owner string, err error) {
	c.mu.Lock()
	hit, ok := c.cache[accessKey]
	c.mu.Unlock()
	if !ok || time.Since(hit.fetched) > c.TTL {
		k, err := c.Meta.AccessKey(ctx, accessKey)
		if errors.Is(err, meta.ErrNotFound) {
			return "", "", ErrInvalidAccessKeyID
		}
		if err != nil {
			return "", "", err
		}
		hit = cachedKey{key: k, fetched: time.Now()}
		c.mu.Lock()
		if c.cache == nil {
			c.cache = map[string]cachedKey{}
		}
		c.cache[accessKey] = hit
		c.mu.Unlock()
	}
	if hit.key.Disabled {
		return "", "", ErrInvalidAccessKeyID
	}
	return hit.key.Secret, hit.key.Account, nil
}
