package s3api

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	meta "stratus/meta/client"
)

// SecretSource is what MetaCredentials needs of the meta catalog; *meta.Client implements
// it. Tests pass a fake.
type SecretSource interface {
	// AccessKeySecret returns an access key with its secret, or an error matching
	// meta.ErrNotFound when there is no such key.
	AccessKeySecret(ctx context.Context, id string) (meta.AccessKey, error)
}

// MetaCredentials finds access keys in the meta catalog. Keys are cached for TTL, so a
// revoked key stops working within TTL and a busy server does not ask meta on every
// request.
type MetaCredentials struct {
	Meta SecretSource
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
		// Generic reads of the access-key table come without secrets; this is the one call
		// that returns them.
		k, err := c.Meta.AccessKeySecret(ctx, accessKey)
		switch {
		case errors.Is(err, meta.ErrNotFound):
			return "", "", ErrInvalidAccessKeyID
		case errors.Is(err, meta.ErrTooManyRequests):
			return "", "", fmt.Errorf("%w: %w", ErrSlowDown, err)
		case err != nil:
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
