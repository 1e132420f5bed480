package s3api

import (
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"testing"
)

func BenchmarkChunkedReader(b *testing.B) {
	for _, m := range []mode{modes[0], modes[3]} {
		b.Run(m.name, func(b *testing.B) {
			data := randomBytes(4<<20, 1)
			body := encodeChunked(data, m.enc(64<<10))
			buf := make([]byte, 32<<10)
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				r := newChunkedReader(io.NopCloser(bytes.NewReader(body)), m.dec(int64(len(data))))
				if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerifyHeader(b *testing.B) {
	v := docVerifier(docTime)
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("GET", "http://examplebucket.s3.amazonaws.com/test.txt", nil)
		r.Header.Set("Range", "bytes=0-9")
		r.Header.Set("X-Amz-Content-Sha256", EmptySHA256)
		r.Header.Set("X-Amz-Date", "20130524T000000Z")
		r.Header.Set("Authorization", docAuthorization("host;range;x-amz-content-sha256;x-amz-date", "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"))
		if _, err := v.Verify(context.Background(), r); err != nil {
			b.Fatal(err)
		}
	}
}
