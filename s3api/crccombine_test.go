package s3api

import (
	"encoding/binary"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"testing"
)

// TestCRCCombine: the combined CRC of two pieces is the CRC of their concatenation, for
// every CRC a FULL_OBJECT multipart checksum is made with and pieces of many lengths.
func TestCRCCombine(t *testing.T) {
	data := make([]byte, 70000)
	for i := range data {
		data[i] = byte(i*7 + i>>8)
	}
	algs := map[string]struct {
		poly  uint64
		width int
		h     func() hash.Hash
	}{
		"CRC32":     {0xEDB88320, 32, func() hash.Hash { return crc32.NewIEEE() }},
		"CRC32C":    {0x82F63B78, 32, func() hash.Hash { return crc32.New(crc32cTable) }},
		"CRC64NVME": {0x9A6C9329AC4BC9B5, 64, func() hash.Hash { return crc64.New(crc64NVMETable) }},
	}
	sum := func(h hash.Hash, b []byte) uint64 {
		h.Write(b)
		out := h.Sum(nil)
		if len(out) == 4 {
			return uint64(binary.BigEndian.Uint32(out))
		}
		return binary.BigEndian.Uint64(out)
	}
	for name, a := range algs {
		for _, cut := range []int{0, 1, 7, 8, 1000, 65536, 69999, 70000} {
			got := crcCombine(a.poly, a.width, sum(a.h(), data[:cut]), sum(a.h(), data[cut:]), int64(len(data)-cut))
			if want := sum(a.h(), data); got != want {
				t.Fatalf("%s cut at %d: %x, want %x", name, cut, got, want)
			}
		}
	}
}
