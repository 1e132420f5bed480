package client

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
)

// ec2IDHexDigits is how many hex digits follow the prefix of an instance or image ID, as in
// EC2's long IDs ("i-0123456789abcdef0").
const ec2IDHexDigits = 17

// newEC2ID returns prefix and 17 random lowercase hex digits.
func newEC2ID(prefix string) string {
	var b [9]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("meta client: random id: %v", err)) // crypto/rand does not fail
	}
	return prefix + hex.EncodeToString(b[:])[:ec2IDHexDigits]
}

// validEC2ID reports whether id is prefix and 17 lowercase hex digits.
func validEC2ID(id, prefix string) bool {
	h, ok := strings.CutPrefix(id, prefix)
	if !ok || len(h) != ec2IDHexDigits {
		return false
	}
	for _, c := range h {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
