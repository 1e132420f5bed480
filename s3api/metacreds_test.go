package s3api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"stratus/internal/testutil"
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

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestMetaCredentialsNegativeCache(t *testing.T) {
	clock := newFakeClock()
	src := &fakeSecrets{keys: map[string]meta.AccessKey{}}
	c := &MetaCredentials{Meta: src, TTL: time.Minute, NegativeTTL: 10 * time.Second, Now: clock.Now}
	ctx := context.Background()
	lookup := func() error {
		t.Helper()
		_, _, err := c.Lookup(ctx, "LATE")
		return err
	}
	for range 100 {
		if err := lookup(); !errors.Is(err, ErrInvalidAccessKeyID) {
			t.Fatalf("unknown key: %v", err)
		}
	}
	if n := src.count("LATE"); n != 1 {
		t.Fatalf("an unknown key reached meta %d times within NegativeTTL, want 1", n)
	}

	// The key is created: it stays refused until NegativeTTL passes, then works.
	src.mu.Lock()
	src.keys["LATE"] = meta.AccessKey{ID: "LATE", Account: "acct", Secret: "s"}
	src.mu.Unlock()
	clock.Advance(10 * time.Second)
	if err := lookup(); !errors.Is(err, ErrInvalidAccessKeyID) {
		t.Fatalf("at NegativeTTL: %v, want still refused", err)
	}
	clock.Advance(time.Millisecond)
	if err := lookup(); err != nil {
		t.Fatalf("after NegativeTTL: %v", err)
	}
	if n := src.count("LATE"); n != 2 {
		t.Errorf("meta asked %d times, want 2", n)
	}

	// A negative NegativeTTL remembers nothing.
	off := &fakeSecrets{}
	c = &MetaCredentials{Meta: off, NegativeTTL: -1, Now: clock.Now}
	for range 3 {
		c.Lookup(ctx, "NOPE")
	}
	if n := off.count("NOPE"); n != 3 {
		t.Errorf("with the negative cache off, meta asked %d times, want 3", n)
	}
}

// TestMetaCredentialsNegativeCacheBounded floods the cache with distinct random keys: it
// must never hold more than MaxNegative, and recent entries must still work.
func TestMetaCredentialsNegativeCacheBounded(t *testing.T) {
	clock := newFakeClock()
	src := &fakeSecrets{}
	const limit = 100
	c := &MetaCredentials{Meta: src, TTL: time.Minute, MaxNegative: limit, Now: clock.Now}
	ctx := context.Background()
	long := strings.Repeat("x", 4096)
	for i := range 10 * limit {
		key := fmt.Sprintf("BOGUS%06d", i)
		if i%2 == 1 {
			key += long // long keys are kept by digest, not whole
		}
		if _, _, err := c.Lookup(ctx, key); !errors.Is(err, ErrInvalidAccessKeyID) {
			t.Fatalf("%d: %v", i, err)
		}
		c.mu.Lock()
		n := len(c.negative)
		for id := range c.negative {
			if len(id) > maxCacheIDBytes {
				t.Fatalf("an entry of %d bytes is kept", len(id))
			}
		}
		c.mu.Unlock()
		if n > limit {
			t.Fatalf("after %d keys the negative cache holds %d, limit %d", i+1, n, limit)
		}
		clock.Advance(time.Millisecond)
	}
	// The last key is remembered.
	last := fmt.Sprintf("BOGUS%06d", 10*limit-1) + long
	before := src.count(last)
	c.Lookup(ctx, last)
	if src.count(last) != before {
		t.Errorf("the latest unknown key was forgotten")
	}
}

// blockingSecrets answers only when release is closed, and counts the calls it got.
type blockingSecrets struct {
	fakeSecrets
	release chan struct{}
}

func (b *blockingSecrets) AccessKeySecret(ctx context.Context, id string) (meta.AccessKey, error) {
	select {
	case <-b.release:
	case <-ctx.Done():
		b.fakeSecrets.AccessKeySecret(ctx, id) // counted all the same
		return meta.AccessKey{}, fmt.Errorf("secret: %w", meta.ErrUnavailable)
	}
	return b.fakeSecrets.AccessKeySecret(ctx, id)
}

func waiters(c *MetaCredentials, key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f := c.flights[cacheID(key)]; f != nil {
		return f.waiters
	}
	return -1
}

// TestMetaCredentialsCoalesce checks that concurrent lookups of one key, found or not,
// make one call to meta.
func TestMetaCredentialsCoalesce(t *testing.T) {
	for _, tc := range []struct {
		name, key string
		want      error
	}{
		{"found", "AK", nil},
		{"missing", "NOPE", ErrInvalidAccessKeyID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &blockingSecrets{release: make(chan struct{}),
				fakeSecrets: fakeSecrets{keys: map[string]meta.AccessKey{"AK": {ID: "AK", Account: "a", Secret: "s"}}}}
			c := &MetaCredentials{Meta: src, TTL: time.Minute}
			const n = 16
			errs := make(chan error, n)
			var wg sync.WaitGroup
			for range n {
				wg.Go(func() {
					_, _, err := c.Lookup(context.Background(), tc.key)
					errs <- err
				})
			}
			testutil.Eventually(t, 10*time.Second, func() error {
				if w := waiters(c, tc.key); w != n-1 {
					return fmt.Errorf("%d lookups wait for the call in flight, want %d", w, n-1)
				}
				return nil
			})
			close(src.release)
			wg.Wait()
			close(errs)
			for err := range errs {
				if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
					t.Errorf("Lookup = %v, want %v", err, tc.want)
				}
			}
			if got := src.count(tc.key); got != 1 {
				t.Errorf("meta asked %d times, want 1", got)
			}
		})
	}
}

// TestMetaCredentialsAbandonedCall checks that when the lookup that called meta gives up,
// the lookups waiting for the same key ask again instead of failing with its error.
func TestMetaCredentialsAbandonedCall(t *testing.T) {
	src := &blockingSecrets{release: make(chan struct{}),
		fakeSecrets: fakeSecrets{keys: map[string]meta.AccessKey{"AK": {ID: "AK", Account: "a", Secret: "s"}}}}
	c := &MetaCredentials{Meta: src, TTL: time.Minute}
	leaderCtx, cancel := context.WithCancel(context.Background())
	leaderErr := make(chan error, 1)
	go func() {
		_, _, err := c.Lookup(leaderCtx, "AK")
		leaderErr <- err
	}()
	testutil.Eventually(t, 10*time.Second, func() error {
		if waiters(c, "AK") < 0 {
			return errors.New("no call in flight yet")
		}
		return nil
	})
	waiterErr := make(chan error, 1)
	go func() {
		_, _, err := c.Lookup(context.Background(), "AK")
		waiterErr <- err
	}()
	testutil.Eventually(t, 10*time.Second, func() error {
		if w := waiters(c, "AK"); w != 1 {
			return fmt.Errorf("waiters = %d, want 1", w)
		}
		return nil
	})
	cancel()
	if err := <-leaderErr; !errors.Is(err, context.Canceled) {
		t.Errorf("the abandoning lookup: %v, want context.Canceled", err)
	}
	// The waiter has made its own call, which blocks until released.
	close(src.release)
	if err := <-waiterErr; err != nil {
		t.Errorf("the waiting lookup: %v", err)
	}
	if got := src.count("AK"); got != 2 {
		t.Errorf("meta asked %d times, want 2", got)
	}
}

// TestCredentialsDoNotPrintSecrets formats credential stores every way a log line might.
func TestCredentialsDoNotPrintSecrets(t *testing.T) {
	const secret = "sekrit-do-not-print"
	mc := &MetaCredentials{Meta: &fakeSecrets{keys: map[string]meta.AccessKey{"AK": {ID: "AK", Account: "a", Secret: secret}}}, TTL: time.Minute}
	if _, _, err := mc.Lookup(context.Background(), "AK"); err != nil {
		t.Fatal(err)
	}
	static := StaticCredentials{"AK": {Secret: secret, Owner: "a"}}
	v := NewVerifier(AuthConfig{}, static)
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, nil))
	for _, x := range []any{mc, static, static["AK"], v} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			if s := fmt.Sprintf(verb, x); strings.Contains(s, secret) {
				t.Errorf("%s of %T shows the secret: %s", verb, x, s)
			}
		}
		log.Info("creds", "c", x)
	}
	if strings.Contains(logs.String(), secret) {
		t.Errorf("a log line shows the secret: %s", logs.String())
	}
}
