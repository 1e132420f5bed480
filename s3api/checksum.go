package s3api

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"net/http"
	"strings"
)

// crc64NVMETable is CRC-64/NVME (polynomial 0xAD93D23594C93659, reflected, so Go's table
// takes the bit-reversed 0x9A6C9329AC4BC9B5; init and final xor all ones, as hash/crc64
// does for every table).
var crc64NVMETable = crc64.MakeTable(0x9A6C9329AC4BC9B5)

var crc32cTable = crc32.MakeTable(crc32.Castagnoli)

// checksumAlgorithms maps each x-amz-checksum-* header or trailer name to its hash. A
// checksum value is the base64 of the big-endian digest.
var checksumAlgorithms = map[string]func() hash.Hash{
	"x-amz-checksum-crc32":     func() hash.Hash { return crc32.NewIEEE() },
	"x-amz-checksum-crc32c":    func() hash.Hash { return crc32.New(crc32cTable) },
	"x-amz-checksum-crc64nvme": func() hash.Hash { return crc64.New(crc64NVMETable) },
	"x-amz-checksum-sha1":      sha1.New,
	"x-amz-checksum-sha256":    sha256.New,
}

// maxTrailers bounds the trailing headers of an aws-chunked body.
const maxTrailers = 4

// parseTrailerNames reads x-amz-trailer: a comma-separated list of checksum names. Errors
// match ErrInvalidChecksum.
func parseTrailerNames(values []string) ([]string, error) {
	var names []string
	for _, v := range values {
		for n := range strings.SplitSeq(v, ",") {
			n = strings.ToLower(strings.TrimSpace(n))
			if n == "" {
				continue
			}
			if _, ok := checksumAlgorithms[n]; !ok {
				return nil, errorf(ErrInvalidChecksum, "x-amz-trailer names an unsupported trailer: "+n)
			}
			for _, seen := range names {
				if seen == n {
					return nil, errorf(ErrInvalidChecksum, "x-amz-trailer names "+n+" twice.")
				}
			}
			names = append(names, n)
		}
	}
	if len(names) > maxTrailers {
		return nil, errorf(ErrInvalidChecksum, "x-amz-trailer names too many trailers.")
	}
	return names, nil
}

// checksumValue renders a digest as x-amz-checksum-* values are written.
func checksumValue(h hash.Hash) string {
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// CheckChecksums wraps body so that, when it ends (at EOF, or once size bytes have been read
// when size is not -1), every x-amz-checksum-* header of h (crc32, crc32c, crc64nvme, sha1,
// sha256) is compared with the bytes read: a mismatch fails that final Read with
// ErrChecksumMismatch instead of returning the last bytes. A value that is not base64 of the
// algorithm's digest length fails at once with ErrInvalidChecksum. Headers of other names
// (x-amz-checksum-mode, -type, -algorithm) are ignored. With no checksum header, body is
// returned as it is.
//
// PutObject and UploadPart use it on Auth.Body with Auth.ContentLength. Operations whose
// checksum headers describe something other than the request body (CompleteMultipartUpload)
// must not.
func CheckChecksums(body io.ReadCloser, h http.Header, size int64) (io.ReadCloser, error) {
	var sums []namedHash
	var want []string
	var writers []io.Writer
	for name := range h {
		n := strings.ToLower(name)
		newHash, ok := checksumAlgorithms[n]
		if !ok {
			continue
		}
		v := h.Get(name)
		sum := newHash()
		raw, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(raw) != sum.Size() {
			return nil, errorf(ErrInvalidChecksum, "Value for "+n+" header is invalid.")
		}
		sums = append(sums, namedHash{n, sum})
		want = append(want, v)
		writers = append(writers, sum)
	}
	if len(sums) == 0 {
		return body, nil
	}
	return &endCheckReader{src: body, size: size, sum: io.MultiWriter(writers...), check: func() error {
		for i, s := range sums {
			if checksumValue(s.h) != want[i] {
				return errorf(ErrChecksumMismatch, "The "+strings.TrimPrefix(s.name, "x-amz-checksum-")+" checksum you specified did not match the calculated checksum.")
			}
		}
		return nil
	}}, nil
}
