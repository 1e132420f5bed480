package s3api

import "context"

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

// Lookup implements Credentials.
func (c StaticCredentials) Lookup(_ context.Context, accessKey string) (secret, owner string, err error) {
	k, ok := c[accessKey]
	if !ok {
		return "", "", ErrInvalidAccessKeyID
	}
	return k.Secret, k.Owner, nil
}
