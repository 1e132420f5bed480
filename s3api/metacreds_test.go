package s3api

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	meta "stratus/meta/client"
)

// fakeSecrets is a SecretSource over a map that counts its calls.
type fakeSecrets struct {
	mu    sync.Mutex
	keys  map[string]meta.AccessKey
	err   error // returned instead of a lookup when set
	calls map[string]int
}

func (f *fakeSecrets) AccessKeySecret(_ context.Context, id string) (meta.AccessKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[id]++
	if f.err != nil {
		return meta.AccessKey{}, f.err
	}
	k, ok := f.keys[id]
	if !ok {
		return meta.AccessKey{}, fmt.Errorf("secret %s: %w", id, meta.ErrNotFound)
	}
	return k, nil
}

func (f *fakeSecrets) count(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[id]
}

func TestMetaCredentialsLookup(t *testing.T) {
	src := &fakeSecrets{keys: map[string]meta.AccessKey{
		"AK":  {ID: "AK", Account: "acct", Secret: "sekrit"},
		"OFF": {ID: "OFF", Account: "acct", Secret: "sekrit", Disabled: true},
	}}
	c := &MetaCredentials{Meta: src, TTL: time.Minute}
	ctx := context.Background()
	for range 3 {
		secret, owner, err := c.Lookup(ctx, "AK")
		if err != nil || secret != "sekrit" || owner != "acct" {
			t.Fatalf("Lookup(AK) = %q, %q, %v", secret, owner, err)
		}
	}
	if n := src.count("AK"); n != 1 {
		t.Errorf("AK fetched %d times within the TTL, want 1", n)
	}
	if _, _, err := c.Lookup(ctx, "OFF"); !errors.Is(err, ErrInvalidAccessKeyID) {
		t.Errorf("disabled key: %v", err)
	}
	if _, _, err := c.Lookup(ctx, "NOPE"); !errors.Is(err, ErrInvalidAccessKeyID) {
		t.Errorf("unknown key: %v", err)
	}
}

func TestMetaCredentialsErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"rate limited by meta", fmt.Errorf("secret: %w", meta.ErrTooManyRequests), ErrSlowDown},
		{"meta down", fmt.Errorf("secret: %w", meta.ErrUnavailable), meta.ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &MetaCredentials{Meta: &fakeSecrets{err: tc.err}, TTL: time.Minute}
			_, _, err := c.Lookup(context.Background(), "AK")
			if !errors.Is(err, tc.want) || errors.Is(err, ErrInvalidAccessKeyID) {
				t.Errorf("Lookup = %v, want %v", err, tc.want)
			}
		})
	}
}
