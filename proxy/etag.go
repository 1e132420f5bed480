package proxy

import (
	"sync"

	md5simd "github.com/minio/md5-simd"
)

// etagHashes computes the MD5 (the S3 ETag) of every body this process stores. md5-simd
// hashes many streams at once, one per lane of a vector (16 with AVX-512, 8 with AVX2; plain
// crypto/md5 on CPUs without them), so concurrent PUTs share one server. With 8 concurrent
// 1 MiB bodies it costs about half the CPU of crypto/md5 per byte; a lone stream costs about
// a quarter more (BenchmarkETagMD5, numbers in BENCHMARKS.md). The server lives as long as
// the process.
var etagHashes = sync.OnceValue(md5simd.NewServer)

// newETagHash returns a hash for one body's ETag; the caller closes it, which frees its lane.
func newETagHash() md5simd.Hasher { return etagHashes().NewHash() }
