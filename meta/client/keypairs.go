package client

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// KeyPair is an SSH public key an account registered for its instances (table key_pairs,
// key = KeyPairKey(account, name)). The private key is never stored: EC2's CreateKeyPair
// hands it to the caller once.
type KeyPair struct {
	ID      string `json:"id"`      // "key-" and 17 hex digits
	Account string `json:"account"` // owner
	Name    string `json:"name"`
	KeyType string `json:"key_type"` // "rsa" or "ed25519"
	// Fingerprint is as EC2 reports it: for a created key, the SHA-1 of the PKCS#8 private
	// key (RSA) or SHA-256 of the public key (ED25519); for an imported one, the MD5 of the
	// public key (RSA) or SHA-256 (ED25519).
	Fingerprint string `json:"fingerprint"`
	// PublicKey is the OpenSSH authorized_keys line ("ssh-ed25519 AAAA… name").
	PublicKey string    `json:"public_key"`
	CreatedAt time.Time `json:"created_at"`
}

// KeyPairKey is the catalog key of an account's key pair: account IDs hold no '/'.
func KeyPairKey(account, name string) string { return account + "/" + name }

// CreateKeyPair stores a new key pair; an error matching ErrConflict if the account has
// one of that name. extra ops (its tags, say) are applied in the same transaction.
func (c *Client) CreateKeyPair(ctx context.Context, k KeyPair, extra ...Op) error {
	if k.Account == "" || strings.Contains(k.Account, "/") || k.Name == "" {
		return fmt.Errorf("%w: key pair needs an account without '/' and a name", ErrBadRequest)
	}
	return c.createJSON(ctx, TableKeyPairs, "key pair", KeyPairKey(k.Account, k.Name), k, extra)
}

// KeyPairs returns an account's key pairs, in name order.
func (c *Client) KeyPairs(ctx context.Context, account string, opts ...ReadOption) ([]KeyPair, error) {
	return listJSON[KeyPair](ctx, c, TableKeyPairs, account+"/", opts)
}

// DeleteKeyPair removes an account's key pair and its tags in one transaction; deleting
// one that does not exist is not an error.
func (c *Client) DeleteKeyPair(ctx context.Context, k KeyPair) error {
	_, err := c.Apply(ctx,
		Op{Kind: OpDelete, Table: TableKeyPairs, Key: KeyPairKey(k.Account, k.Name)},
		Op{Kind: OpDelete, Table: TableTags, Key: TagsKey(k.Account, k.ID)})
	return err
}
