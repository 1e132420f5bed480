package s3api

import (
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
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

func TestCheckChecksums(t *testing.T) {
	body := "hello, checksums"
	crc := func(name string) string {
		h := checksumAlgorithms[name]()
		h.Write([]byte(body))
		return checksumValue(h)
	}
	for _, tc := range []struct {
		name    string
		headers map[string]string
		openErr error
		readErr error
	}{
		{name: "none"},
		{name: "ignored names", headers: map[string]string{"X-Amz-Checksum-Mode": "ENABLED", "X-Amz-Checksum-Algorithm": "CRC32"}},
		{name: "crc32", headers: map[string]string{"X-Amz-Checksum-Crc32": crc("x-amz-checksum-crc32")}},
		{name: "crc64nvme and sha256", headers: map[string]string{
			"X-Amz-Checksum-Crc64nvme": crc("x-amz-checksum-crc64nvme"), "X-Amz-Checksum-Sha256": crc("x-amz-checksum-sha256")}},
		{name: "mismatch", headers: map[string]string{"X-Amz-Checksum-Crc32c": crc("x-amz-checksum-crc32")}, readErr: ErrChecksumMismatch},
		{name: "not base64", headers: map[string]string{"X-Amz-Checksum-Sha1": "!!"}, openErr: ErrInvalidChecksum},
		{name: "wrong length", headers: map[string]string{"X-Amz-Checksum-Crc32": crc("x-amz-checksum-sha1")}, openErr: ErrInvalidChecksum},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.headers {
				h.Set(k, v)
			}
			r, err := CheckChecksums(io.NopCloser(strings.NewReader(body)), h, -1)
			if !errors.Is(err, tc.openErr) || (tc.openErr == nil) != (err == nil) {
				t.Fatalf("open: err = %v, want %v", err, tc.openErr)
			}
			if err != nil {
				return
			}
			got, err := io.ReadAll(iotest.OneByteReader(r))
			if !errors.Is(err, tc.readErr) || (tc.readErr == nil) != (err == nil) {
				t.Fatalf("read: err = %v, want %v", err, tc.readErr)
			}
			if err == nil && string(got) != body {
				t.Fatalf("read %q", got)
			}
		})
	}
}

func TestStoredContentEncoding(t *testing.T) {
	for in, want := range map[string]string{
		"":                  "",
		"aws-chunked":       "",
		"aws-chunked,gzip":  "gzip",
		"gzip, AWS-CHUNKED": "gzip",
		"br":                "br",
	} {
		h := http.Header{}
		if in != "" {
			h.Set("Content-Encoding", in)
		}
		if got := StoredContentEncoding(h); got != want {
			t.Errorf("StoredContentEncoding(%q) = %q, want %q", in, got, want)
		}
	}
}
