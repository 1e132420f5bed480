package client_test

import (
	"errors"
	"testing"

	"stratus/meta/client"
)

// TestPolicyValidation refuses what the data path could not honour and fills in defaults.
func TestPolicyValidation(t *testing.T) {
	for _, p := range []client.StoragePolicy{
		{Name: "", Replicas: 3},
		{Name: "Bad_Name", Replicas: 3},
		{Name: "-x", Replicas: 3},
		{Name: "r0", Replicas: 0},
		{Name: "r", Replicas: 3, ECData: 4},
		{Name: "e", Type: client.PolicyEC, ECData: 0, ECParity: 2},
		{Name: "e", Type: client.PolicyEC, ECData: 4, ECParity: 0},
		{Name: "e", Type: client.PolicyEC, ECData: 30, ECParity: 3},
		{Name: "e", Type: client.PolicyEC, ECData: 4, ECParity: 2, Replicas: 3},
		{Name: "e", Type: client.PolicyEC, ECData: 4, ECParity: 2, ECSegmentBytes: 100},
		{Name: "e", Type: client.PolicyEC, ECData: 4, ECParity: 2, ECSmallPolicy: "e"},
		{Name: "x", Type: "mirrored", Replicas: 2},
	} {
		if err := client.ValidatePolicy(&p); !errors.Is(err, client.ErrBadRequest) {
			t.Errorf("%+v: %v, want ErrBadRequest", p, err)
		}
	}
	p := client.StoragePolicy{Name: "ec-4-2", Type: client.PolicyEC, ECData: 4, ECParity: 2}
	if err := client.ValidatePolicy(&p); err != nil {
		t.Fatal(err)
	}
	if p.ECSegmentBytes != client.DefaultECSegmentBytes || p.ECSmallBytes != client.DefaultECSmallThreshold ||
		p.ECSmallPolicy != client.BuiltinPolicy || p.RingName() != "ec-4-2" || p.Fragments() != 6 {
		t.Fatalf("defaults not filled in: %+v", p)
	}
}

// TestPolicies: the built-in policy exists and is the default until another is made
// the default; exactly one policy is ever the default; names are unique.
func TestPolicies(t *testing.T) {
	cl, ctx := setup(t)
	def, err := cl.DefaultPolicy(ctx)
	if err != nil || def.Name != client.BuiltinPolicy || def.IsEC() {
		t.Fatalf("fresh cluster default %+v %v", def, err)
	}
	if err := cl.CreatePolicy(ctx, client.StoragePolicy{Name: client.BuiltinPolicy, Replicas: 3}); !errors.Is(err, client.ErrConflict) {
		t.Fatalf("re-creating the built-in policy: %v", err)
	}
	if err := cl.CreatePolicy(ctx, client.StoragePolicy{Name: "replicated-2", Replicas: 2}); err != nil {
		t.Fatal(err)
	}
	if err := cl.CreatePolicy(ctx, client.StoragePolicy{Name: "ec-bad", Type: client.PolicyEC, ECData: 4, ECParity: 2, ECSmallPolicy: "nope"}); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("EC policy with a missing small-object policy: %v", err)
	}
	ec := client.StoragePolicy{Name: "ec-4-2", Type: client.PolicyEC, ECData: 4, ECParity: 2, Default: true}
	if err := cl.CreatePolicy(ctx, ec); err != nil {
		t.Fatal(err)
	}
	if err := cl.CreatePolicy(ctx, ec); !errors.Is(err, client.ErrConflict) {
		t.Fatalf("second create: %v", err)
	}
	assertDefault := func(want string) {
		t.Helper()
		all, err := cl.Policies(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var defaults []string
		for _, p := range all {
			if p.Default {
				defaults = append(defaults, p.Name)
			}
		}
		if len(all) != 3 || len(defaults) != 1 || defaults[0] != want {
			t.Fatalf("policies %+v: defaults %v, want only %s", all, defaults, want)
		}
		if p, err := cl.ResolvePolicy(ctx, ""); err != nil || p.Name != want {
			t.Fatalf("resolve \"\": %+v %v", p, err)
		}
	}
	assertDefault("ec-4-2")
	got, err := cl.Policy(ctx, "ec-4-2")
	if err != nil || !got.IsEC() || got.ECSegmentBytes != client.DefaultECSegmentBytes || got.CreatedAt.IsZero() {
		t.Fatalf("stored EC policy %+v %v", got, err)
	}
	if err := cl.SetDefaultPolicy(ctx, "replicated-2"); err != nil {
		t.Fatal(err)
	}
	assertDefault("replicated-2")
	if err := cl.SetDefaultPolicy(ctx, client.BuiltinPolicy); err != nil {
		t.Fatal(err)
	}
	assertDefault(client.BuiltinPolicy)
	if err := cl.SetDefaultPolicy(ctx, "missing"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("default to a missing policy: %v", err)
	}
	if _, err := cl.ResolvePolicy(ctx, "missing"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("resolve missing: %v", err)
	}
	if p, err := cl.Policy(ctx, ""); err != nil || p.Name != client.BuiltinPolicy {
		t.Fatalf("policy \"\" (old buckets) is %+v %v, want the built-in one", p, err)
	}
}
