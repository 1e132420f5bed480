package ec2api

import (
	"bytes"
	"crypto/ed25519"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Key types, as EC2 names them.
const (
	keyTypeRSA     = "rsa"
	keyTypeED25519 = "ed25519"
)

// Bounds of imported RSA keys.
const (
	minRSABits = 2048
	maxRSABits = 16384
	// createdRSABits is the size of RSA keys CreateKeyPair makes, EC2's.
	createdRSABits = 2048
)

// newKey is a key pair made by CreateKeyPair: the private key in the form EC2 hands it
// out, which is never stored or logged, and what is stored.
type newKey struct {
	PrivatePEM  string
	PublicKey   string // authorized_keys line, without comment
	Fingerprint string
}

// createKey makes a key pair of keyType. The fingerprints are EC2's for created keys: the
// SHA-1 of the PKCS#8 private key for RSA, the SHA-256 of the public key for ED25519.
func createKey(keyType string) (newKey, error) {
	switch keyType {
	case keyTypeRSA:
		priv, err := rsa.GenerateKey(rand.Reader, createdRSABits)
		if err != nil {
			return newKey{}, err
		}
		pkcs8, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return newKey{}, err
		}
		pub, err := ssh.NewPublicKey(&priv.PublicKey)
		if err != nil {
			return newKey{}, err
		}
		sum := sha1.Sum(pkcs8)
		return newKey{
			PrivatePEM:  string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(priv)})),
			PublicKey:   authorizedKey(pub),
			Fingerprint: colonHex(sum[:]),
		}, nil
	case keyTypeED25519:
		pubKey, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return newKey{}, err
		}
		block, err := ssh.MarshalPrivateKey(priv, "")
		if err != nil {
			return newKey{}, err
		}
		pub, err := ssh.NewPublicKey(pubKey)
		if err != nil {
			return newKey{}, err
		}
		return newKey{PrivatePEM: string(pem.EncodeToMemory(block)), PublicKey: authorizedKey(pub), Fingerprint: sha256Fingerprint(pub)}, nil
	}
	return newKey{}, errorf(ErrInvalidParameterValue, "Value (%s) for parameter KeyType is invalid. Expected rsa or ed25519.", keyType)
}

// importedKey is a public key given to ImportKeyPair.
type importedKey struct {
	KeyType     string
	PublicKey   string
	Fingerprint string
}

// parsePublicKey reads an RSA or ED25519 public key in any form EC2 imports: an OpenSSH
// authorized_keys line, an RFC 4716 "SSH2 PUBLIC KEY" block, or PEM (PKIX "PUBLIC KEY" or
// PKCS#1 "RSA PUBLIC KEY"). The fingerprint is EC2's for imported keys: the MD5 of the
// PKIX public key for RSA, the SHA-256 of the public key for ED25519.
func parsePublicKey(material []byte) (importedKey, error) {
	material = bytes.TrimSpace(material)
	var pub ssh.PublicKey
	if p, _, _, _, err := ssh.ParseAuthorizedKey(material); err == nil {
		pub = p
	} else if p, ok := parseRFC4716(material); ok {
		pub = p
	} else if block, _ := pem.Decode(material); block != nil {
		var raw any
		var err error
		switch block.Type {
		case "PUBLIC KEY":
			raw, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			raw, err = x509.ParsePKCS1PublicKey(block.Bytes)
		default:
			err = fmt.Errorf("PEM block %q", block.Type)
		}
		if err == nil {
			pub, err = ssh.NewPublicKey(raw)
		}
		if err != nil {
			return importedKey{}, errorf(ErrInvalidKeyFormat, "Key is not in valid OpenSSH public key format")
		}
	} else {
		return importedKey{}, errorf(ErrInvalidKeyFormat, "Key is not in valid OpenSSH public key format")
	}
	cpk, ok := pub.(ssh.CryptoPublicKey)
	if !ok {
		return importedKey{}, errorf(ErrInvalidKeyFormat, "Key is not in valid OpenSSH public key format")
	}
	switch k := cpk.CryptoPublicKey().(type) {
	case *rsa.PublicKey:
		if bits := k.N.BitLen(); bits < minRSABits || bits > maxRSABits {
			return importedKey{}, errorf(ErrInvalidKeyFormat, "RSA keys must have %d to %d bits, not %d.", minRSABits, maxRSABits, bits)
		}
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return importedKey{}, err
		}
		sum := md5.Sum(der)
		return importedKey{KeyType: keyTypeRSA, PublicKey: authorizedKey(pub), Fingerprint: colonHex(sum[:])}, nil
	case ed25519.PublicKey:
		return importedKey{KeyType: keyTypeED25519, PublicKey: authorizedKey(pub), Fingerprint: sha256Fingerprint(pub)}, nil
	}
	return importedKey{}, errorf(ErrInvalidKeyFormat, "Key type %s is not supported: import an RSA or ED25519 key.", pub.Type())
}

// parseRFC4716 reads "---- BEGIN SSH2 PUBLIC KEY ----" blocks (ssh-keygen -e): header lines
// (with '\' continuations) then the base64 key.
func parseRFC4716(b []byte) (ssh.PublicKey, bool) {
	lines := strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
	if len(lines) < 3 || strings.TrimSpace(lines[0]) != "---- BEGIN SSH2 PUBLIC KEY ----" ||
		strings.TrimSpace(lines[len(lines)-1]) != "---- END SSH2 PUBLIC KEY ----" {
		return nil, false
	}
	var body strings.Builder
	continued := false
	for _, l := range lines[1 : len(lines)-1] {
		l = strings.TrimSpace(l)
		switch {
		case continued:
			continued = strings.HasSuffix(l, "\\")
		case strings.Contains(l, ":"):
			continued = strings.HasSuffix(l, "\\")
		default:
			body.WriteString(l)
		}
	}
	raw, err := base64.StdEncoding.DecodeString(body.String())
	if err != nil {
		return nil, false
	}
	pub, err := ssh.ParsePublicKey(raw)
	return pub, err == nil
}

// authorizedKey is pub's authorized_keys line without a trailing newline.
func authorizedKey(pub ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
}

// sha256Fingerprint is EC2's ED25519 fingerprint: the base64 SHA-256 of the key's wire form
// (what ssh-keygen -l prints after "SHA256:", with base64 padding).
func sha256Fingerprint(pub ssh.PublicKey) string {
	sum := sha256.Sum256(pub.Marshal())
	return base64.StdEncoding.EncodeToString(sum[:])
}

// colonHex renders b as lower-case hex pairs joined by ':'.
func colonHex(b []byte) string {
	h := hex.EncodeToString(b)
	var s strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			s.WriteByte(':')
		}
		s.WriteString(h[i : i+2])
	}
	return s.String()
}
