package s3api

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"hash/crc32"
	"io"
	"strconv"
	"strings"
)

// chunkEncoder writes aws-chunked framing as S3 clients do, written from the S3 SigV4
// documentation independently of the decoder (it shares none of its code), to drive the
// decoder with bodies of any size, signed or not, with or without trailers. It streams:
// memory is one chunk.
type chunkEncoder struct {
	src  io.Reader
	o    encOptions
	prev string
	buf  []byte
	out  bytes.Buffer
	sums []hash.Hash
	done bool
}

type encOptions struct {
	signed    bool
	chunkSize int
	// trailers names the checksum trailers to append (the trailer section is written,
	// possibly empty, when trailerMode is set).
	trailerMode bool
	trailers    []string
	// key, amzDate, scope and seed sign the chunks (signed only).
	key                  []byte
	amzDate, scope, seed string
	corruptTrailerValue  bool   // send a wrong checksum value
	extraTrailer         string // a trailer line to add, unannounced
	omitTrailerSignature bool
}

func newChunkEncoder(src io.Reader, o encOptions) *chunkEncoder {
	if o.chunkSize == 0 {
		o.chunkSize = 64 << 10
	}
	e := &chunkEncoder{src: src, o: o, prev: o.seed, buf: make([]byte, o.chunkSize)}
	for _, n := range o.trailers {
		e.sums = append(e.sums, testChecksum(n))
	}
	return e
}

func (e *chunkEncoder) Read(p []byte) (int, error) {
	for e.out.Len() == 0 {
		if e.done {
			return 0, io.EOF
		}
		n, err := io.ReadFull(e.src, e.buf)
		if n > 0 {
			e.chunk(e.buf[:n])
		}
		switch err {
		case nil:
		case io.EOF, io.ErrUnexpectedEOF:
			e.chunk(nil)
			e.trailer()
			e.done = true
		default:
			return 0, err
		}
	}
	return e.out.Read(p)
}

func testHMAC(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	io.WriteString(m, s)
	return m.Sum(nil)
}

func (e *chunkEncoder) chunk(data []byte) {
	for _, s := range e.sums {
		s.Write(data)
	}
	e.out.WriteString(strconv.FormatInt(int64(len(data)), 16))
	if e.o.signed {
		dataHash := sha256.Sum256(data)
		sts := strings.Join([]string{"AWS4-HMAC-SHA256-PAYLOAD", e.o.amzDate, e.o.scope, e.prev,
			"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", hex.EncodeToString(dataHash[:])}, "\n")
		e.prev = hex.EncodeToString(testHMAC(e.o.key, sts))
		e.out.WriteString(";chunk-signature=" + e.prev)
	}
	e.out.WriteString("\r\n")
	if len(data) > 0 {
		e.out.Write(data)
		e.out.WriteString("\r\n")
	}
}

func (e *chunkEncoder) trailer() {
	if e.o.trailerMode {
		var signed strings.Builder
		for i, n := range e.o.trailers {
			v := base64.StdEncoding.EncodeToString(e.sums[i].Sum(nil))
			if e.o.corruptTrailerValue {
				v = base64.StdEncoding.EncodeToString(make([]byte, e.sums[i].Size()))
			}
			e.out.WriteString(n + ":" + v + "\r\n")
			signed.WriteString(n + ":" + v + "\n")
		}
		if e.o.extraTrailer != "" {
			e.out.WriteString(e.o.extraTrailer + "\r\n")
		}
		if e.o.signed && !e.o.omitTrailerSignature {
			h := sha256.Sum256([]byte(signed.String()))
			sts := strings.Join([]string{"AWS4-HMAC-SHA256-TRAILER", e.o.amzDate, e.o.scope, e.prev, hex.EncodeToString(h[:])}, "\n")
			e.out.WriteString("x-amz-trailer-signature:" + hex.EncodeToString(testHMAC(e.o.key, sts)) + "\r\n")
		}
	}
	e.out.WriteString("\r\n")
}

// testChecksum is the hash behind a checksum trailer, chosen here without the decoder's
// table (crc64nvme is checked against its published check value in checksum_test.go).
func testChecksum(name string) hash.Hash {
	switch name {
	case "x-amz-checksum-crc32":
		return crc32.NewIEEE()
	case "x-amz-checksum-crc32c":
		return crc32.New(crc32.MakeTable(crc32.Castagnoli))
	case "x-amz-checksum-sha256":
		return sha256.New()
	default:
		return checksumAlgorithms[name]()
	}
}

// encodeChunked frames data in memory.
func encodeChunked(data []byte, o encOptions) []byte {
	out, err := io.ReadAll(newChunkEncoder(bytes.NewReader(data), o))
	if err != nil {
		panic(err)
	}
	return out
}

// testSigningKey derives a signing key from the documentation's recipe.
func testSigningKey(secret, date, region string) []byte {
	k := testHMAC([]byte("AWS4"+secret), date)
	k = testHMAC(k, region)
	k = testHMAC(k, "s3")
	return testHMAC(k, "aws4_request")
}
