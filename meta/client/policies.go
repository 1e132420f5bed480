package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Storage policies are records of the config table, one per policy under PolicyKeyPrefix,
// so that creating one is a conditional put of its own key rather than a rewrite of the
// whole cluster config. The policy named BuiltinPolicy always exists: replicated, on the
// ring of the same name, the one every cluster starts with. It is the default until
// another policy is made the default.

// PolicyKeyPrefix prefixes the config-table keys of storage policies.
const PolicyKeyPrefix = "policy/"

// BuiltinPolicy is the replicated policy on the ring "default", which exists in every
// cluster without a record. A bucket whose Policy is "" uses it.
const BuiltinPolicy = "default"

// PolicyType is how a policy stores an object.
type PolicyType string

const (
	PolicyReplicated PolicyType = "replicated" // whole copies on each of the ring's replicas
	PolicyEC         PolicyType = "ec"         // K data + M parity fragment archives
)

// Limits of EC policies. A segment is held in memory about 2.5 times by every request
// that encodes or decodes it; the fragment count is bounded by failure domains in practice.
const (
	MaxECFragments          = 32
	MinECSegmentBytes       = 4 << 10
	MaxECSegmentBytes       = 64 << 20
	DefaultECSegmentBytes   = 1 << 20
	DefaultECSmallThreshold = 64 << 10
)

// BuiltinStoragePolicy is the record of BuiltinPolicy; its replica count is its ring's.
func BuiltinStoragePolicy() StoragePolicy {
	return StoragePolicy{Name: BuiltinPolicy, Type: PolicyReplicated, Ring: BuiltinPolicy}
}

// RingName is the name in the rings table of the ring the policy places data with.
func (p StoragePolicy) RingName() string {
	if p.Ring != "" {
		return p.Ring
	}
	return p.Name
}

// IsEC reports whether the policy erasure-codes objects.
func (p StoragePolicy) IsEC() bool { return p.Type == PolicyEC }

// Fragments is the number of devices per partition the policy's ring must have: K+M for
// an EC policy, the replica count of a replicated one (0: whatever its ring has).
func (p StoragePolicy) Fragments() int {
	if p.IsEC() {
		return p.ECData + p.ECParity
	}
	return p.Replicas
}

// ValidatePolicy checks a policy record before it is stored, filling in defaults: the
// type (replicated), the ring (the policy's name), an EC policy's segment size and small
// object threshold.
func ValidatePolicy(p *StoragePolicy) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: storage policy %q: %s", ErrBadRequest, p.Name, fmt.Sprintf(format, args...))
	}
	if !validPolicyName(p.Name) {
		return bad("a name is 1-63 of a-z, 0-9 and '-', starting with a letter or digit")
	}
	if p.Ring != "" && !validPolicyName(p.Ring) {
		return bad("ring name %q is not valid", p.Ring)
	}
	if p.Type == "" {
		p.Type = PolicyReplicated
	}
	switch p.Type {
	case PolicyReplicated:
		if p.Replicas < 1 || p.Replicas > MaxECFragments {
			return bad("replicas %d (need 1..%d)", p.Replicas, MaxECFragments)
		}
		if p.ECData != 0 || p.ECParity != 0 || p.ECSegmentBytes != 0 || p.ECSmallBytes != 0 || p.ECSmallPolicy != "" {
			return bad("a replicated policy has no EC settings")
		}
	case PolicyEC:
		if p.ECData < 1 || p.ECParity < 1 || p.ECData+p.ECParity > MaxECFragments {
			return bad("k=%d m=%d (need k>=1, m>=1, k+m<=%d)", p.ECData, p.ECParity, MaxECFragments)
		}
		if p.Replicas != 0 {
			return bad("an EC policy has fragments, not replicas")
		}
		if p.ECSegmentBytes == 0 {
			p.ECSegmentBytes = DefaultECSegmentBytes
		}
		if p.ECSegmentBytes < MinECSegmentBytes || p.ECSegmentBytes > MaxECSegmentBytes {
			return bad("segment size %d (need %d..%d)", p.ECSegmentBytes, MinECSegmentBytes, MaxECSegmentBytes)
		}
		if p.ECSmallBytes == 0 {
			p.ECSmallBytes = DefaultECSmallThreshold
		}
		if p.ECSmallBytes < 0 {
			p.ECSmallBytes = 0 // a negative threshold: erasure-code every object
		}
		if p.ECSmallPolicy == "" {
			p.ECSmallPolicy = BuiltinPolicy
		}
		if p.ECSmallPolicy == p.Name {
			return bad("small objects need a replicated policy, not this one")
		}
	default:
		return bad("type %q (want %s or %s)", p.Type, PolicyReplicated, PolicyEC)
	}
	return nil
}

func validPolicyName(s string) bool {
	if len(s) < 1 || len(s) > 63 || s[0] == '-' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// CreatePolicy stores a new storage policy after ValidatePolicy; ErrConflict if the name
// is taken (BuiltinPolicy always is). An EC policy's small-object policy must exist and be
// replicated. If p.Default is set it becomes the default in the same transaction.
func (c *Client) CreatePolicy(ctx context.Context, p StoragePolicy) error {
	if err := ValidatePolicy(&p); err != nil {
		return err
	}
	if p.Name == BuiltinPolicy {
		return fmt.Errorf("storage policy %s exists: %w", p.Name, ErrConflict)
	}
	if p.IsEC() {
		small, err := c.Policy(ctx, p.ECSmallPolicy)
		if err != nil {
			return fmt.Errorf("small-object policy of %s: %w", p.Name, err)
		}
		if small.IsEC() {
			return fmt.Errorf("%w: small-object policy %s of %s is not replicated", ErrBadRequest, small.Name, p.Name)
		}
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = time.Now().UTC()
	}
	var extra []Op
	if p.Default {
		ops, err := c.undefaultOps(ctx, p.Name)
		if err != nil {
			return err
		}
		extra = ops
	}
	return c.createJSON(ctx, TableConfig, "storage policy", PolicyKeyPrefix+p.Name, p, extra)
}

// undefaultOps are the conditional puts that clear the Default flag of every stored
// policy but except, so that a transaction can make except the only default.
func (c *Client) undefaultOps(ctx context.Context, except string) ([]Op, error) {
	items, err := c.listAll(ctx, TableConfig, PolicyKeyPrefix, nil)
	if err != nil {
		return nil, err
	}
	var ops []Op
	for _, it := range items {
		var p StoragePolicy
		if err := decodeJSON(it, &p); err != nil {
			return nil, fmt.Errorf("storage policy %s: %w", it.Key, err)
		}
		if p.Default && p.Name != except {
			p.Default = false
			ops = append(ops, Op{Kind: OpPut, Table: TableConfig, Key: it.Key, Value: encodeJSON(p), Cond: CondModIndex, ModIndex: it.ModIndex})
		}
	}
	return ops, nil
}

// SetDefaultPolicy makes the named policy the one buckets get when they name none.
// Buckets that exist keep theirs. BuiltinPolicy is made the default by clearing the flag of
// every other.
func (c *Client) SetDefaultPolicy(ctx context.Context, name string) error {
	ops, err := c.undefaultOps(ctx, name)
	if err != nil {
		return err
	}
	if name != BuiltinPolicy {
		it, err := c.Get(ctx, TableConfig, PolicyKeyPrefix+name)
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("storage policy %s: %w", name, ErrNotFound)
		} else if err != nil {
			return err
		}
		var p StoragePolicy
		if err := decodeJSON(it, &p); err != nil {
			return fmt.Errorf("storage policy %s: %w", name, err)
		}
		if !p.Default {
			p.Default = true
			ops = append(ops, Op{Kind: OpPut, Table: TableConfig, Key: it.Key, Value: encodeJSON(p), Cond: CondModIndex, ModIndex: it.ModIndex})
		}
	}
	if len(ops) == 0 {
		return nil
	}
	_, err = c.Apply(ctx, ops...)
	return err
}

// Policy returns the named storage policy; ErrNotFound (wrapped) if there is none.
// "" names BuiltinPolicy, as it does in a Bucket record.
func (c *Client) Policy(ctx context.Context, name string, opts ...ReadOption) (StoragePolicy, error) {
	if name == "" || name == BuiltinPolicy {
		p := BuiltinStoragePolicy()
		def, err := c.DefaultPolicy(ctx, opts...)
		if err != nil {
			return StoragePolicy{}, err
		}
		p.Default = def.Name == BuiltinPolicy
		return p, nil
	}
	var p StoragePolicy
	if _, err := c.getJSON(ctx, TableConfig, PolicyKeyPrefix+name, &p, opts); err != nil {
		if errors.Is(err, ErrNotFound) {
			return StoragePolicy{}, fmt.Errorf("storage policy %s: %w", name, ErrNotFound)
		}
		return StoragePolicy{}, err
	}
	return p, nil
}

// Policies returns every storage policy, BuiltinPolicy included, by name.
func (c *Client) Policies(ctx context.Context, opts ...ReadOption) ([]StoragePolicy, error) {
	stored, err := listJSON[StoragePolicy](ctx, c, TableConfig, PolicyKeyPrefix, opts)
	if err != nil {
		return nil, err
	}
	builtin := BuiltinStoragePolicy()
	builtin.Default = !slices.ContainsFunc(stored, func(p StoragePolicy) bool { return p.Default })
	all := append(stored, builtin)
	slices.SortFunc(all, func(a, b StoragePolicy) int { return strings.Compare(a.Name, b.Name) })
	return all, nil
}

// DefaultPolicy returns the policy a bucket created without one gets.
func (c *Client) DefaultPolicy(ctx context.Context, opts ...ReadOption) (StoragePolicy, error) {
	stored, err := listJSON[StoragePolicy](ctx, c, TableConfig, PolicyKeyPrefix, opts)
	if err != nil {
		return StoragePolicy{}, err
	}
	for _, p := range stored {
		if p.Default {
			return p, nil
		}
	}
	p := BuiltinStoragePolicy()
	p.Default = true
	return p, nil
}

// ResolvePolicy returns the policy a new bucket asking for name gets: the default for "",
// else the named one (ErrNotFound, wrapped, if it does not exist).
func (c *Client) ResolvePolicy(ctx context.Context, name string) (StoragePolicy, error) {
	if name == "" {
		return c.DefaultPolicy(ctx)
	}
	return c.Policy(ctx, name)
}
