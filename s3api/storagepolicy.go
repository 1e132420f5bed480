package s3api

import (
	"context"
	"sync"

	meta "stratus/meta/client"
	"stratus/proxy"
)

// storagePolicies remembers storage policies by name. A policy's storage parameters never
// change once created (only which one is the default does), so an entry never goes stale.
type storagePolicies struct {
	mu sync.Mutex
	m  map[string]meta.StoragePolicy
}

// storagePolicy returns the policy of bucket b: for "" or the built-in one without asking
// meta, as most buckets have it.
func (s *Server) storagePolicy(ctx context.Context, b meta.Bucket) (meta.StoragePolicy, error) {
	if b.Policy == "" || b.Policy == meta.BuiltinPolicy {
		return meta.BuiltinStoragePolicy(), nil
	}
	s.spolicies.mu.Lock()
	p, ok := s.spolicies.m[b.Policy]
	s.spolicies.mu.Unlock()
	if ok {
		return p, nil
	}
	p, err := s.meta.Policy(ctx, b.Policy)
	if err != nil {
		return p, err
	}
	s.spolicies.mu.Lock()
	if s.spolicies.m == nil {
		s.spolicies.m = map[string]meta.StoragePolicy{}
	}
	s.spolicies.m[p.Name] = p
	s.spolicies.mu.Unlock()
	return p, nil
}

// ecCode is the erasure code of a policy.
func ecCode(p meta.StoragePolicy) proxy.ECCode {
	return proxy.ECCode{Ring: p.RingName(), K: p.ECData, M: p.ECParity, SegmentBytes: p.ECSegmentBytes}
}

// ecStorage returns how a new object of length bytes in bucket b is stored: erasure-coded
// under the returned code, or (nil) whole copies on the object ring — the bucket's policy
// is replicated, or the object is below its EC policy's small-object threshold.
func (s *Server) ecStorage(ctx context.Context, b meta.Bucket, length int64) (*meta.ECStorage, error) {
	p, err := s.storagePolicy(ctx, b)
	if err != nil || !p.IsEC() || length < p.ECSmallBytes {
		return nil, err
	}
	c := ecCode(p)
	return &meta.ECStorage{Ring: c.Ring, K: c.K, M: c.M, SegmentBytes: c.SegmentBytes}, nil
}

func codeOf(e *meta.ECStorage) proxy.ECCode {
	return proxy.ECCode{Ring: e.Ring, K: e.K, M: e.M, SegmentBytes: e.SegmentBytes}
}
