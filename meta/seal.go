package meta

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
)

// sealer encrypts values of sealed tables with the cluster key (AES-256-GCM). The table and
// key are the additional data, so a sealed value copied to another key does not open.
// Values sealed with an older cluster key still open while that key is configured, so the
// key can be rotated one node at a time.
//
// Sealed value format (stored in the log and the state machine; never change it without a new
// version byte): byte version (1) ‖ 12-byte nonce ‖ ciphertext and tag.
type sealer struct {
	aead cipher.AEAD   // seals, and opens first
	old  []cipher.AEAD // open what aead cannot
}

const sealVersion = 1

func newSealer(key []byte, old ...[]byte) (*sealer, error) {
	aeads := make([]cipher.AEAD, 0, 1+len(old))
	for _, k := range append([][]byte{key}, old...) {
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("cluster key: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("cluster key: %w", err)
		}
		aeads = append(aeads, aead)
	}
	return &sealer{aead: aeads[0], old: aeads[1:]}, nil
}

func sealAD(table, key string) []byte { return []byte(table + "\x00" + key) }

func (s *sealer) seal(table, key string, plain []byte) []byte {
	out := make([]byte, 1+s.aead.NonceSize(), 1+s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	out[0] = sealVersion
	_, _ = rand.Read(out[1:])
	return s.aead.Seal(out, out[1:], plain, sealAD(table, key))
}

func (s *sealer) open(table, key string, sealed []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < 1+ns || sealed[0] != sealVersion {
		return nil, fmt.Errorf("%s/%s: %w", table, key, ErrSealed)
	}
	for _, aead := range append([]cipher.AEAD{s.aead}, s.old...) {
		if plain, err := aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], sealAD(table, key)); err == nil {
			return plain, nil
		}
	}
	return nil, fmt.Errorf("%s/%s: %w", table, key, ErrSealed)
}
