package ec2api

import (
	"crypto/rand"
	"encoding/hex"
)

// newID returns prefix and 17 random lower-case hex digits, the form of EC2's IDs
// (key-0123456789abcdef0). Volume IDs are not made here: they are the catalog's
// (meta.NewVolumeID), shared with 'stratus volume create'.
func newID(prefix string) string {
	var b [9]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])[:17]
}
