package s3api

import (
	"sync"
	"time"

	meta "stratus/meta/client"
)

// bucketCacheTTL bounds how old a remembered bucket record may be when a write is decided
// on it. Staleness cannot let a write land (its commit checks that the record is
// unchanged, writegrant.go); it bounds how long a deleted bucket's record is kept.
const bucketCacheTTL = 2 * time.Second

// bucketCacheSize bounds the records kept; past it an arbitrary one is dropped.
const bucketCacheSize = 4096

// bucketCache remembers the bucket records this server read, with their mod indexes.
type bucketCache struct {
	mu sync.Mutex
	m  map[string]cachedBucket
}

type cachedBucket struct {
	b   meta.Bucket
	mod uint64
	at  time.Time
}

// get returns the record of bucket read less than bucketCacheTTL ago.
func (c *bucketCache) get(bucket string, now time.Time) (meta.Bucket, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[bucket]
	if !ok || now.Sub(e.at) >= bucketCacheTTL || now.Before(e.at) {
		return meta.Bucket{}, 0, false
	}
	return e.b, e.mod, true
}

// put remembers a record read at mod index mod (a record older than the one kept is
// ignored: concurrent reads may finish out of order).
func (c *bucketCache) put(b meta.Bucket, mod uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]cachedBucket)
	}
	old, had := c.m[b.Name]
	if had && old.mod > mod {
		return
	}
	if !had && len(c.m) >= bucketCacheSize {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[b.Name] = cachedBucket{b: b, mod: mod, at: now}
}

// forget drops what is known of bucket.
func (c *bucketCache) forget(bucket string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, bucket)
}
