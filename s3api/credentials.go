package s3api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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
// failure limit); longer ones (meta allows 2 KiB, a presigned URL's query far more) are
// kept by their SHA-256, so an entry's size is bounded whatever a client sends.
const maxCacheIDBytes = 128

// cacheID is how accessKey is named in bounded tables: itself, or a digest if it is long.
func cacheID(accessKey string) string {
	if len(accessKey) <= maxCacheIDBytes {
		return accessKey
	}
	sum := sha256.Sum256([]byte(accessKey))
	return "sha256:" + hex.EncodeToString(sum[:])
}
