package ec2api

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strings"

	meta "stratus/meta/client"
)

func init() {
	actions["CreateKeyPair"] = (*Server).createKeyPair
	actions["ImportKeyPair"] = (*Server).importKeyPair
	actions["DescribeKeyPairs"] = (*Server).describeKeyPairs
	actions["DeleteKeyPair"] = (*Server).deleteKeyPair
}

// maxKeyNameBytes bounds a key pair's name, EC2's.
const maxKeyNameBytes = 255

// keyName returns KeyName: 1 to 255 printable ASCII characters.
func keyName(p params) (string, error) {
	name, err := p.required("KeyName")
	if err != nil {
		return "", err
	}
	if len(name) > maxKeyNameBytes || strings.IndexFunc(name, func(r rune) bool { return r < 0x20 || r > 0x7e }) >= 0 {
		return "", errorf(ErrInvalidParameterValue, "Value for parameter KeyName is invalid: 1 to %d printable ASCII characters.", maxKeyNameBytes)
	}
	return name, nil
}

type createKeyPairResponse struct {
	response
	KeyName        string       `xml:"keyName"`
	KeyFingerprint string       `xml:"keyFingerprint"`
	KeyMaterial    string       `xml:"keyMaterial"`
	KeyPairID      string       `xml:"keyPairId"`
	TagSet         set[tagItem] `xml:"tagSet"`
}

// createKeyPair makes a key pair (KeyType rsa, the default, or ed25519; KeyFormat pem),
// stores its public half and returns the private key, this once.
func (s *Server) createKeyPair(ctx context.Context, c *call) (responder, error) {
	name, err := keyName(c.Params)
	if err != nil {
		return nil, err
	}
	keyType, ok := c.Params.str("KeyType")
	if !ok {
		keyType = keyTypeRSA
	}
	if f, ok := c.Params.str("KeyFormat"); ok && f != "pem" {
		return nil, errorf(ErrUnsupportedOperation, "KeyFormat %s is not supported; keys are handed out as pem.", truncate(f, 16))
	}
	tags, err := c.Params.tagsFor("key-pair")
	if err != nil {
		return nil, err
	}
	k, err := createKey(keyType)
	if err != nil {
		return nil, err
	}
	kp := meta.KeyPair{ID: newID("key-"), Account: c.Account, Name: name, KeyType: keyType,
		Fingerprint: k.Fingerprint, PublicKey: k.PublicKey, CreatedAt: s.cfg.Now().UTC()}
	if err := s.storeKeyPair(ctx, kp, tags); err != nil {
		return nil, err
	}
	return &createKeyPairResponse{KeyName: name, KeyFingerprint: kp.Fingerprint, KeyMaterial: k.PrivatePEM,
		KeyPairID: kp.ID, TagSet: tagSet(tagMap(tags))}, nil
}

// storeKeyPair records kp and its tags in one transaction; InvalidKeyPair.Duplicate if the
// account has a key pair of that name.
func (s *Server) storeKeyPair(ctx context.Context, kp meta.KeyPair, tags []tag) error {
	err := s.meta.CreateKeyPair(ctx, kp, newTagsOps(kp.Account, kp.ID, "key-pair", tags)...)
	if errors.Is(err, meta.ErrConflict) {
		return errorf(ErrKeyPairDuplicate, "The keypair '%s' already exists.", kp.Name)
	}
	return err
}

type importKeyPairResponse struct {
	response
	KeyName        string       `xml:"keyName"`
	KeyFingerprint string       `xml:"keyFingerprint"`
	KeyPairID      string       `xml:"keyPairId"`
	TagSet         set[tagItem] `xml:"tagSet"`
}

// importKeyPair stores a public key the caller made (PublicKeyMaterial, base64 of the key
// file: OpenSSH, RFC 4716 or PEM; RSA of 2048 bits or more, or ED25519).
func (s *Server) importKeyPair(ctx context.Context, c *call) (responder, error) {
	name, err := keyName(c.Params)
	if err != nil {
		return nil, err
	}
	b64, err := c.Params.required("PublicKeyMaterial")
	if err != nil {
		return nil, err
	}
	material, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, errorf(ErrInvalidParameterValue, "Value for parameter PublicKeyMaterial is invalid: it must be base64.")
	}
	tags, err := c.Params.tagsFor("key-pair")
	if err != nil {
		return nil, err
	}
	k, err := parsePublicKey(material)
	if err != nil {
		return nil, err
	}
	kp := meta.KeyPair{ID: newID("key-"), Account: c.Account, Name: name, KeyType: k.KeyType,
		Fingerprint: k.Fingerprint, PublicKey: k.PublicKey, CreatedAt: s.cfg.Now().UTC()}
	if err := s.storeKeyPair(ctx, kp, tags); err != nil {
		return nil, err
	}
	return &importKeyPairResponse{KeyName: name, KeyFingerprint: kp.Fingerprint, KeyPairID: kp.ID, TagSet: tagSet(tagMap(tags))}, nil
}

type keyPairItem struct {
	KeyPairID      string       `xml:"keyPairId"`
	KeyType        string       `xml:"keyType"`
	TagSet         set[tagItem] `xml:"tagSet"`
	PublicKey      string       `xml:"publicKey,omitempty"`
	CreateTime     string       `xml:"createTime"`
	KeyName        string       `xml:"keyName"`
	KeyFingerprint string       `xml:"keyFingerprint"`
}

type describeKeyPairsResponse struct {
	response
	KeySet set[keyPairItem] `xml:"keySet"`
}

// describeKeyPairs lists the caller's key pairs. KeyName.N and KeyPairId.N name some (each
// must exist); filters: key-name, key-pair-id, fingerprint, key-type, tag:<key>, tag-key,
// tag-value. IncludePublicKey adds the public keys.
func (s *Server) describeKeyPairs(ctx context.Context, c *call) (responder, error) {
	names, err := c.Params.list("KeyName")
	if err != nil {
		return nil, err
	}
	ids, err := c.Params.list("KeyPairId")
	if err != nil {
		return nil, err
	}
	fs, err := c.Params.filters(append([]string{"key-name", "key-pair-id", "fingerprint", "key-type"}, tagFilters...)...)
	if err != nil {
		return nil, err
	}
	withPublic, err := c.Params.boolean("IncludePublicKey")
	if err != nil {
		return nil, err
	}
	kps, err := s.meta.KeyPairs(ctx, c.Account)
	if err != nil {
		return nil, err
	}
	tags, err := s.accountTags(ctx, c.Account)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if !slices.ContainsFunc(kps, func(k meta.KeyPair) bool { return k.Name == n }) {
			return nil, errorf(ErrKeyPairNotFound, "The key pair '%s' does not exist", n)
		}
	}
	for _, id := range ids {
		if !slices.ContainsFunc(kps, func(k meta.KeyPair) bool { return k.ID == id }) {
			return nil, errorf(ErrKeyPairNotFound, "The key pair '%s' does not exist", id)
		}
	}
	resp := &describeKeyPairsResponse{}
	for _, k := range kps {
		if len(names) > 0 && !slices.Contains(names, k.Name) || len(ids) > 0 && !slices.Contains(ids, k.ID) {
			continue
		}
		if !matchFields(fs, map[string]string{"key-name": k.Name, "key-pair-id": k.ID, "fingerprint": k.Fingerprint, "key-type": k.KeyType}) {
			continue
		}
		if !matchTags(fs, tags[k.ID]) {
			continue
		}
		it := keyPairItem{KeyPairID: k.ID, KeyType: k.KeyType, TagSet: tagSet(tags[k.ID]), CreateTime: ec2Time(k.CreatedAt), KeyName: k.Name, KeyFingerprint: k.Fingerprint}
		if withPublic {
			it.PublicKey = k.PublicKey + " " + k.Name
		}
		resp.KeySet.Items = append(resp.KeySet.Items, it)
	}
	return resp, nil
}

type deleteKeyPairResponse struct {
	response
	Return    bool   `xml:"return"`
	KeyPairID string `xml:"keyPairId,omitempty"`
}

// deleteKeyPair removes a key pair (by KeyName or KeyPairId) and its tags. Deleting one
// that does not exist succeeds, as in EC2.
func (s *Server) deleteKeyPair(ctx context.Context, c *call) (responder, error) {
	name, byName := c.Params.str("KeyName")
	id, byID := c.Params.str("KeyPairId")
	if name == "" && id == "" {
		return nil, errorf(ErrMissingParameter, "The request must contain the parameter KeyName or KeyPairId")
	}
	kps, err := s.meta.KeyPairs(ctx, c.Account)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(kps, func(k meta.KeyPair) bool {
		return (!byName || name == "" || k.Name == name) && (!byID || id == "" || k.ID == id)
	})
	if i < 0 {
		return &deleteKeyPairResponse{Return: true}, nil
	}
	if err := s.meta.DeleteKeyPair(ctx, kps[i]); err != nil {
		return nil, err
	}
	return &deleteKeyPairResponse{Return: true, KeyPairID: kps[i].ID}, nil
}
