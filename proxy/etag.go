package proxy

import (
	"sync"

	md5simd "github.com/minio/md5-simd"
)

// etagHashes computes the MD5 (the S3 ETag) of large bodies. md5-simd hashes many streams at
// once, one per lane of a vector (16 with AVX-512, 8 with AVX2; plain crypto/md5 on CPUs
// without them), so concurrent PUTs share one server. With 8 concurrent bodies of 256 KiB
// or 1 MiB it costs about 0.6 and 0.5 of crypto/md5's CPU; a lone stream costs about a
// fifth more (BenchmarkETagMD5, numbers in BENCHMARKS.md). The server lives as long as the
// process.
var etagHashes = sync.OnceValue(md5simd.NewServer)

// etagSIMDMinBytes is the body length from which md5-simd is used. Below it a hash's
// round trips through the server cost more than the lanes save: at 4 KiB md5-simd took 10
// (one stream) to 27 (eight) times crypto/md5's CPU; at 64 KiB the two were even.
const etagSIMDMinBytes = 256 << 10

// newETagHash returns a hash for the ETag of a body of length bytes; the caller closes it,
// which frees its lane.
func newETagHash(length int64) md5simd.Hasher {
	if length < etagSIMDMinBytes {
		return md5simd.StdlibHasher()
	}
	return etagHashes().NewHash()
}
