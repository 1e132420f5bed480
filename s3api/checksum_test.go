package s3api

import (
	"errors"
	"reflect"
	"testing"
)

// TestChecksumCheckValues checks each algorithm against its catalogued check value (the
// digest of "123456789").
func TestChecksumCheckValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		want string // hex of the big-endian digest
	}{
		{"x-amz-checksum-crc32", "cbf43926"},
		{"x-amz-checksum-crc32c", "e3069283"},
		{"x-amz-checksum-crc64nvme", "ae8b14860a799888"},
		{"x-amz-checksum-sha1", "f7c3bc1d808e04732adf679965ccc34ca7ae3441"},
		{"x-amz-checksum-sha256", "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := checksumAlgorithms[tc.name]()
			h.Write([]byte("123456789"))
			if got := hexOf(h.Sum(nil)); got != tc.want {
				t.Errorf("check value %s, want %s", got, tc.want)
			}
		})
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func TestParseTrailerNames(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []string
		want   []string
		err    error
	}{
		{"none", nil, nil, nil},
		{"one", []string{"x-amz-checksum-crc32"}, []string{"x-amz-checksum-crc32"}, nil},
		{"case and spaces", []string{" X-Amz-Checksum-CRC32C , x-amz-checksum-sha256"}, []string{"x-amz-checksum-crc32c", "x-amz-checksum-sha256"}, nil},
		{"two headers", []string{"x-amz-checksum-crc32", "x-amz-checksum-sha1"}, []string{"x-amz-checksum-crc32", "x-amz-checksum-sha1"}, nil},
		{"unknown", []string{"x-amz-meta-a"}, nil, ErrInvalidChecksum},
		{"twice", []string{"x-amz-checksum-crc32,x-amz-checksum-crc32"}, nil, ErrInvalidChecksum},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseTrailerNames(tc.values)
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseTrailerNames(%q) = %q, %v; want %q, %v", tc.values, got, err, tc.want, tc.err)
			}
		})
	}
}
