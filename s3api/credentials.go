package s3api

import (
	"context"
	"stratus/internal/sigv4"
)

// Credentials finds the secret behind an access key. The S3 server passes an adapter over
// the catalog in meta; tests pass a map.
type Credentials interface {
	// Lookup returns the secret key of accessKey and the account that owns it. For an
	// unknown or revoked key it returns an error that matches ErrInvalidAccessKeyID; any
	// other error (the catalog is unreachable) is reported to the client as such, not as a
	// bad key. Implementations must be safe for concurrent use.
	Lookup(ctx context.Context, accessKey string) (secret, owner string, err error)
}

// StaticCredentials is a fixed set of keys: access key → {secret, owner}. It is meant for
// tests and single-user setups.
type StaticCredentials map[string]StaticKey

// StaticKey is one entry of StaticCredentials.
type StaticKey struct {
	Secret string
	Owner  string
}

// String renders k without its secret, so printing a StaticCredentials (with %v, or in a
// log line) does not leak it.
func (k StaticKey) String() string { return "{Secret:[redacted] Owner:" + k.Owner + "}" }

// GoString is String, for %#v.
func (k StaticKey) GoString() string { return k.String() }

// Lookup implements Credentials.
func (c StaticCredentials) Lookup(_ context.Context, accessKey string) (secret, owner string, err error) {
	k, ok := c[accessKey]
	if !ok {
		return "", "", ErrInvalidAccessKeyID
	}
	return k.Secret, k.Owner, nil
}

// maxCacheIDBytes is the longest access key kept as is in a table (the negative cache, the
// failure limit); longer ones are kept by their SHA-256 (sigv4.CacheID).
const maxCacheIDBytes = sigv4.MaxCacheIDBytes

// cacheID is how accessKey is named in bounded tables: itself, or a digest if it is long.
func cacheID(accessKey string) string { return sigv4.CacheID(accessKey) }
