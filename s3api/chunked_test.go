package s3api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

const (
	testAmzDate = "20260101T000000Z"
	testScope   = "20260101/us-east-1/s3/aws4_request"
	testSeed    = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
)

var testKey = testSigningKey("secret", "20260101", "us-east-1")

// mode is one aws-chunked payload mode with matching encoder and decoder settings.
type mode struct {
	name     string
	signed   bool
	trailer  bool
	trailers []string
}

var modes = []mode{
	{name: "signed", signed: true},
	{name: "signed-trailer", signed: true, trailer: true, trailers: []string{"x-amz-checksum-crc32c"}},
	{name: "signed-trailer-none", signed: true, trailer: true},
	{name: "unsigned-trailer-crc32", trailer: true, trailers: []string{"x-amz-checksum-crc32"}},
	{name: "unsigned-trailer-sha256", trailer: true, trailers: []string{"x-amz-checksum-sha256"}},
	{name: "unsigned-trailer-crc64nvme", trailer: true, trailers: []string{"x-amz-checksum-crc64nvme"}},
	{name: "unsigned-trailer-sha1", trailer: true, trailers: []string{"x-amz-checksum-sha1"}},
}

func (m mode) enc(chunkSize int) encOptions {
	return encOptions{signed: m.signed, chunkSize: chunkSize, trailerMode: m.trailer, trailers: m.trailers,
		key: testKey, amzDate: testAmzDate, scope: testScope, seed: testSeed}
}

func (m mode) dec(decodedLength int64) chunkedConfig {
	return chunkedConfig{
		DecodedLength: decodedLength, Signed: m.signed, Trailer: m.trailer, TrailerNames: m.trailers,
		Signer: chunkSigner{key: testKey, amzDate: testAmzDate, scope: testScope, seed: testSeed},
		Out:    http.Header{},
	}
}

func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func decode(body []byte, cfg chunkedConfig, wrap func(io.Reader) io.Reader) ([]byte, error) {
	var r io.Reader = newChunkedReader(io.NopCloser(bytes.NewReader(body)), cfg)
	if wrap != nil {
		r = wrap(r)
	}
	return io.ReadAll(r)
}

func TestChunkedRoundTrip(t *testing.T) {
	readers := map[string]func(io.Reader) io.Reader{
		"ReadAll":  nil,
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
	}
	for _, m := range modes {
		for _, size := range []int{0, 1, 8191, 8192, 65536, 100_003} {
			for rname, wrap := range readers {
				if rname == "one byte" && size > 8192 {
					continue
				}
				t.Run(fmt.Sprintf("%s/%d/%s", m.name, size, rname), func(t *testing.T) {
					data := randomBytes(size, uint64(size))
					cfg := m.dec(int64(size))
					got, err := decode(encodeChunked(data, m.enc(8192)), cfg, wrap)
					if err != nil {
						t.Fatalf("decode: %v", err)
					}
					if !bytes.Equal(got, data) {
						t.Fatalf("decoded %d bytes, differ from the %d sent", len(got), size)
					}
					for _, n := range m.trailers {
						if cfg.Out.Get(n) == "" {
							t.Errorf("trailer %s not reported", n)
						}
					}
				})
			}
		}
	}
}

func TestChunkedRejects(t *testing.T) {
	data := randomBytes(20000, 7)
	signed, trailer := modes[0], modes[1]
	unsignedTrailer := modes[3]
	good := encodeChunked(data, signed.enc(8192))
	eq := bytes.Index(good, []byte("="))
	firstSig := bytes.Clone(good[eq : eq+65]) // "=" and the first chunk's signature
	for _, tc := range []struct {
		name string
		m    mode
		body []byte
		// decodedLength overrides len(data) when not zero.
		decodedLength int64
		want          error
	}{
		{name: "flipped data byte", m: signed, body: replaceAt(good, bytes.Index(good, []byte("\r\n"))+100, 'x'), want: ErrSignatureDoesNotMatch},
		{name: "flipped chunk signature", m: signed, body: replaceAt(good, bytes.Index(good, []byte("="))+64, flipDigit(good[bytes.Index(good, []byte("="))+64])), want: ErrSignatureDoesNotMatch},
		{name: "chunks reordered", m: signed, body: swapChunks(good), want: ErrSignatureDoesNotMatch},
		{name: "chunk dropped", m: signed, body: dropSecondChunk(good), decodedLength: 20000 - 8192, want: ErrSignatureDoesNotMatch},
		{name: "other seed", m: signed, body: encodeChunked(data, func() encOptions { o := signed.enc(8192); o.seed = strings.Repeat("0", 64); return o }()), want: ErrSignatureDoesNotMatch},
		{name: "unsigned body to a signed mode", m: signed, body: encodeChunked(data, unsignedTrailer.enc(8192)), want: ErrMalformedChunk},
		{name: "decoded length too large", m: signed, body: good, decodedLength: 20001, want: ErrIncompleteBody},
		{name: "decoded length too small", m: signed, body: good, decodedLength: 19999, want: ErrIncompleteBody},
		{name: "data after the end", m: signed, body: append(bytes.Clone(good), "0\r\n"...), want: ErrMalformedChunk},
		{name: "no CRLF after data", m: signed, body: replaceAt(good, bytes.Index(good, []byte("\r\n"))+2+8192, 'X'), want: ErrMalformedChunk},
		{name: "chunk header ends in LF", m: signed, body: bytes.Replace(good, []byte(string(firstSig[1:])+"\r\n"), []byte(string(firstSig[1:])+"\n"), 1), want: ErrMalformedChunk},
		{name: "overlong chunk header", m: signed, body: append([]byte("2000;"+strings.Repeat("x", 2000)+"\r\n"), good...), want: ErrMalformedChunk},
		{name: "endless chunk header", m: signed, body: bytes.Repeat([]byte("a"), 100_000), want: ErrMalformedChunk},
		{name: "bad size", m: signed, body: append([]byte("zz;chunk-signature="+testSeed+"\r\n"), good...), want: ErrMalformedChunk},
		{name: "upper-case signature", m: signed, body: bytes.Replace(good, firstSig, []byte(strings.ToUpper(string(firstSig))), 1), want: ErrMalformedChunk},
		{name: "trailer in a mode without", m: signed, body: encodeChunked(data, func() encOptions {
			o := signed.enc(8192)
			o.trailerMode, o.trailers = true, []string{"x-amz-checksum-crc32"}
			return o
		}()), want: ErrMalformedChunk},
		{name: "wrong trailer checksum, unsigned", m: unsignedTrailer, body: encodeChunked(data, func() encOptions {
			o := unsignedTrailer.enc(8192)
			o.corruptTrailerValue = true
			return o
		}()), want: ErrChecksumMismatch},
		{name: "wrong trailer checksum, signed", m: trailer, body: encodeChunked(data, func() encOptions {
			o := trailer.enc(8192)
			o.corruptTrailerValue = true
			return o
		}()), want: ErrChecksumMismatch},
		{name: "missing trailer signature", m: trailer, body: encodeChunked(data, func() encOptions {
			o := trailer.enc(8192)
			o.omitTrailerSignature = true
			return o
		}()), want: ErrSignatureDoesNotMatch},
		{name: "announced trailer missing", m: unsignedTrailer, body: encodeChunked(data, func() encOptions {
			o := unsignedTrailer.enc(8192)
			o.trailers = nil
			return o
		}()), want: ErrInvalidChecksum},
		{name: "unannounced trailer", m: unsignedTrailer, body: encodeChunked(data, func() encOptions {
			o := unsignedTrailer.enc(8192)
			o.extraTrailer = "x-amz-meta-evil:1"
			return o
		}()), want: ErrInvalidChecksum},
		{name: "trailer line without colon", m: unsignedTrailer, body: encodeChunked(data, func() encOptions {
			o := unsignedTrailer.enc(8192)
			o.extraTrailer = "nocolon"
			return o
		}()), want: ErrMalformedChunk},
		{name: "empty body", m: signed, body: nil, want: ErrIncompleteBody},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := int64(len(data))
			if tc.decodedLength != 0 {
				n = tc.decodedLength
			}
			_, err := decode(tc.body, tc.m.dec(n), nil)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if _, ok := Lookup(err); err != nil && !ok {
				t.Errorf("error %v has no S3 code", err)
			}
		})
	}
}

// TestChunkedTruncated cuts a valid body at every offset: each cut must fail, and never
// with io.EOF.
func TestChunkedTruncated(t *testing.T) {
	for _, m := range []mode{modes[0], modes[1], modes[3]} {
		t.Run(m.name, func(t *testing.T) {
			data := randomBytes(300, 3)
			body := encodeChunked(data, m.enc(128))
			for cut := 0; cut < len(body); cut++ {
				_, err := decode(body[:cut], m.dec(int64(len(data))), nil)
				if !errors.Is(err, ErrIncompleteBody) {
					t.Fatalf("cut at %d of %d: err = %v, want IncompleteBody", cut, len(body), err)
				}
			}
		})
	}
}

// TestChunkedConstantMemory streams 64 MiB through the decoder and bounds what it
// allocates: the decoder never holds a chunk, let alone the body.
func TestChunkedConstantMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 64 MiB")
	}
	const size = 64 << 20
	m := modes[1]
	src := io.LimitReader(zeros{}, size)
	dec := newChunkedReader(io.NopCloser(newChunkEncoder(src, m.enc(1<<20))), m.dec(size))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{dec}, make([]byte, 32<<10))
	runtime.ReadMemStats(&after)
	if err != nil || n != size {
		t.Fatalf("copied %d, %v", n, err)
	}
	// The encoder's 1 MiB chunk buffer and framing are most of this; the decoder is 32 KiB.
	if got := after.TotalAlloc - before.TotalAlloc; got > 8<<20 {
		t.Errorf("allocated %d bytes to decode %d", got, size)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func replaceAt(b []byte, i int, c byte) []byte {
	out := bytes.Clone(b)
	out[i] = c
	return out
}

func flipDigit(c byte) byte {
	if c == '0' {
		return '1'
	}
	return '0'
}

// splitChunks cuts a signed body into its framed chunks (header line, data, CRLF).
func splitChunks(b []byte) [][]byte {
	var chunks [][]byte
	for len(b) > 0 {
		eol := bytes.Index(b, []byte("\r\n"))
		var size int
		fmt.Sscanf(string(b[:eol]), "%x;", &size)
		end := eol + 2 + size
		if size > 0 {
			end += 2
		} else {
			end = len(b)
		}
		chunks = append(chunks, b[:end])
		b = b[end:]
	}
	return chunks
}

func swapChunks(b []byte) []byte {
	c := splitChunks(b)
	return bytes.Join([][]byte{c[1], c[0], bytes.Join(c[2:], nil)}, nil)
}

func dropSecondChunk(b []byte) []byte {
	c := splitChunks(b)
	return bytes.Join(append([][]byte{c[0]}, c[2:]...), nil)
}

// TestVerdictAtDeclaredLength: a caller that reads exactly the declared length (io.ReadFull)
// and never asks for io.EOF still gets every check: the last bytes come only with the
// verdict.
func TestVerdictAtDeclaredLength(t *testing.T) {
	data := randomBytes(20000, 5)
	readFull := func(r io.Reader) error {
		buf := make([]byte, len(data))
		_, err := io.ReadFull(r, buf)
		if err == nil && !bytes.Equal(buf, data) {
			return fmt.Errorf("read other bytes")
		}
		return err
	}
	signed, trailer, unsignedTrailer := modes[0], modes[1], modes[3]
	lastSigBroken := func() []byte {
		b := encodeChunked(data, signed.enc(8192))
		i := bytes.LastIndex(b, []byte("0;chunk-signature=")) + len("0;chunk-signature=")
		return replaceAt(b, i, flipDigit(b[i]))
	}()
	badChecksum := func(m mode) []byte {
		o := m.enc(8192)
		o.corruptTrailerValue = true
		return encodeChunked(data, o)
	}
	for _, tc := range []struct {
		name string
		r    io.Reader
		want error
	}{
		{"chunked, valid", newChunkedReader(io.NopCloser(bytes.NewReader(encodeChunked(data, trailer.enc(8192)))), trailer.dec(20000)), nil},
		{"chunked, final chunk signature", newChunkedReader(io.NopCloser(bytes.NewReader(lastSigBroken)), signed.dec(20000)), ErrSignatureDoesNotMatch},
		{"chunked, signed trailer checksum", newChunkedReader(io.NopCloser(bytes.NewReader(badChecksum(trailer))), trailer.dec(20000)), ErrChecksumMismatch},
		{"chunked, unsigned trailer checksum", newChunkedReader(io.NopCloser(bytes.NewReader(badChecksum(unsignedTrailer))), unsignedTrailer.dec(20000)), ErrChecksumMismatch},
		{"hashed, valid", newHashReader(io.NopCloser(bytes.NewReader(data)), 20000, hexSHA256(data)), nil},
		{"hashed, mismatch", newHashReader(io.NopCloser(bytes.NewReader(data)), 20000, EmptySHA256), ErrContentSHA256Mismatch},
		{"checksum header, mismatch", func() io.Reader {
			r, err := CheckChecksums(io.NopCloser(bytes.NewReader(data)), http.Header{"X-Amz-Checksum-Crc32": {"AAAAAA=="}}, 20000)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}(), ErrChecksumMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := readFull(tc.r); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}
