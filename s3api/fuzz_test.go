package s3api

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"testing"
)

// Fuzz targets; their seed corpora are in testdata/fuzz/<target>/. The properties: parsers
// never panic, what they accept round-trips, and every error they return has an S3 code.

func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-date, Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parseAuthorization(s)
		if err != nil {
			if _, ok := Lookup(err); !ok {
				t.Fatalf("error %v has no S3 code", err)
			}
			return
		}
		again, err := parseAuthorization(h.String())
		if err != nil {
			t.Fatalf("%q parsed, but its rendering %q does not: %v", s, h.String(), err)
		}
		if !reflect.DeepEqual(h, again) {
			t.Fatalf("round trip changed %+v into %+v", h, again)
		}
	})
}

func FuzzPresignQuery(f *testing.F) {
	f.Add("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		p, err := parsePresignQuery(q)
		if err != nil {
			if _, ok := Lookup(err); !ok {
				t.Fatalf("error %v has no S3 code", err)
			}
			return
		}
		if p.Expires < 0 || p.Expires > MaxPresignExpiry || len(p.Signature) != 64 || len(p.SignedHeaders) == 0 {
			t.Fatalf("accepted out-of-bounds query %+v", p)
		}
		// Canonicalising is idempotent: a canonical query is its own canonical form.
		c := canonicalQuery(raw, querySignature)
		if again := canonicalQuery(c, querySignature); again != c {
			t.Fatalf("canonicalQuery not idempotent: %q -> %q -> %q", raw, c, again)
		}
	})
}

func FuzzCanonicalQuery(f *testing.F) {
	for _, s := range []string{"", "acl", "max-keys=2&prefix=J", "a=%zz&b=+&c=%2B&=x&&d", "list-type=2&prefix=photos%2F2006%2F&delimiter=%2F"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c := canonicalQuery(raw, "")
		if again := canonicalQuery(c, ""); again != c {
			t.Fatalf("canonicalQuery not idempotent: %q -> %q -> %q", raw, c, again)
		}
	})
}

// FuzzChunkedReader decodes arbitrary bodies in each payload mode, signed with the test key
// and seed, so corpus entries made by the test encoder reach the signature and trailer
// checks.
func FuzzChunkedReader(f *testing.F) {
	data := randomBytes(300, 1)
	for i, m := range modes[:4] {
		f.Add(encodeChunked(data, m.enc(128)), uint8(i), uint16(len(data)))
	}
	f.Fuzz(func(t *testing.T, body []byte, modeIndex uint8, decodedLength uint16) {
		m := modes[int(modeIndex)%len(modes)]
		cfg := m.dec(int64(decodedLength))
		out, err := io.ReadAll(newChunkedReader(io.NopCloser(bytes.NewReader(body)), cfg))
		if err != nil {
			if _, ok := Lookup(err); !ok {
				t.Fatalf("error %v has no S3 code", err)
			}
			return
		}
		if len(out) != int(decodedLength) {
			t.Fatalf("accepted %d bytes, declared %d", len(out), decodedLength)
		}
		if len(out) > len(body) {
			t.Fatalf("decoded more than the body holds")
		}
		for _, n := range m.trailers {
			if cfg.Out.Get(n) == "" {
				t.Fatalf("accepted without trailer %s", n)
			}
		}
	})
}

// FuzzVerify throws arbitrary Authorization headers and queries at the whole verifier.
func FuzzVerify(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential="+docScope+",SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41", "", "20130524T000000Z", EmptySHA256)
	f.Add("", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404", "", "")
	v := docVerifier(docTime)
	f.Fuzz(func(t *testing.T, authz, rawQuery, amzDate, contentSHA string) {
		r, err := http.NewRequest("GET", "http://examplebucket.s3.amazonaws.com/test.txt", nil)
		if err != nil {
			t.Fatal(err)
		}
		r.URL.RawQuery = rawQuery
		r.Header.Set("Range", "bytes=0-9")
		for k, val := range map[string]string{"Authorization": authz, "X-Amz-Date": amzDate, "X-Amz-Content-Sha256": contentSHA} {
			if val != "" {
				r.Header.Set(k, val)
			}
		}
		a, err := v.Verify(t.Context(), r)
		if err != nil {
			if _, ok := Lookup(err); !ok && !errors.Is(err, ErrInternal) {
				t.Fatalf("error %v has no S3 code", err)
			}
			return
		}
		if a.AccessKey != docAccessKey || a.Body == nil {
			t.Fatalf("accepted with %+v", a)
		}
	})
}
