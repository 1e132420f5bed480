package ec2api

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	meta "stratus/meta/client"
)

// SecretSource is what the EC2 API needs to check signatures: one access key with its
// secret at a time (meta's /v1/secret, which the ec2api role may call). *meta.Client
// implements it.
type SecretSource interface {
	// AccessKeySecret returns an access key with its secret, or an error matching
	// meta.ErrNotFound when there is no such key.
	AccessKeySecret(ctx context.Context, id string) (meta.AccessKey, error)
}

// maxCachedKeys bounds the keys (found and unknown) a keyCache remembers; past it the
// cache starts afresh, which costs a lookup per key, never correctness.
const maxCachedKeys = 10000

// keyCache remembers access keys for ttl, and unknown ones for ttl too, so neither a busy
// client nor a stream of bogus keys asks meta on every request. A revoked or rotated key
// keeps working here for up to ttl, as on the S3 port. Safe for concurrent use.
type keyCache struct {
	src SecretSource
	ttl time.Duration
	now func() time.Time

	mu    sync.Mutex
	found map[string]cachedKey
}

type cachedKey struct {
	key     meta.AccessKey
	missing bool
	at      time.Time
}

// String keeps fmt from printing the cached secrets.
func (c *keyCache) String() string { return fmt.Sprintf("keyCache{ttl:%v}", c.ttl) }

// lookup returns the secret and account of accessKey. An unknown or disabled key is
// ErrAuthFailure; an unreachable catalog ErrUnavailable; a catalog that refuses to be asked
// faster ErrRequestLimitExceeded.
func (c *keyCache) lookup(ctx context.Context, accessKey string) (secret, account string, err error) {
	now := c.now()
	c.mu.Lock()
	hit, ok := c.found[accessKey]
	c.mu.Unlock()
	if !ok || now.Sub(hit.at) > c.ttl {
		k, err := c.src.AccessKeySecret(ctx, accessKey)
		switch {
		case errors.Is(err, meta.ErrNotFound):
			hit = cachedKey{missing: true, at: now}
		case errors.Is(err, meta.ErrTooManyRequests):
			return "", "", fmt.Errorf("%w: %w", ErrRequestLimitExceeded, err)
		case err != nil:
			return "", "", fmt.Errorf("%w: look up access key: %w", ErrUnavailable, err)
		default:
			hit = cachedKey{key: k, at: now}
		}
		c.mu.Lock()
		if c.found == nil || len(c.found) >= maxCachedKeys {
			c.found = map[string]cachedKey{}
		}
		c.found[accessKey] = hit
		c.mu.Unlock()
	}
	if hit.missing || hit.key.Disabled {
		return "", "", errorf(ErrAuthFailure, "AWS was not able to validate the provided access credentials")
	}
	return hit.key.Secret, hit.key.Account, nil
}
