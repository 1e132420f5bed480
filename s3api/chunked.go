package s3api

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// aws-chunked framing (Content-Encoding: aws-chunked), as S3 clients send it:
//
//	<hex size>;chunk-signature=<sig>\r\n<size bytes>\r\n     signed chunk, repeated
//	0;chunk-signature=<sig>\r\n                             final chunk
//	<name>:<value>\r\n ...                                  trailers (trailer modes only)
//	x-amz-trailer-signature:<sig>\r\n                       (signed trailer mode only)
//	\r\n
//
// Unsigned chunks omit ";chunk-signature=<sig>". Each chunk signature signs the SHA-256 of
// the chunk's data and the previous signature, starting from the request's signature (the
// seed), so chunks can be neither altered, dropped nor reordered.

const (
	// maxChunkLine bounds a chunk header or trailer line, CRLF included. The longest valid
	// one is ~100 bytes.
	maxChunkLine = 1024
	// chunkBufferBytes is the read buffer of the decoder: its whole memory per request.
	chunkBufferBytes = 32 << 10
	// maxChunkSize bounds one chunk's declared size (the decoder never holds a chunk, this
	// only keeps sizes sane).
	maxChunkSize = 1 << 40

	chunkSignatureExt = "chunk-signature="
	trailerSignature  = "x-amz-trailer-signature"
)

// chunkSigner holds what chunk and trailer signatures are computed from.
type chunkSigner struct {
	key     []byte // the day's signing key
	amzDate string
	scope   string
	seed    string // the request signature
	// failed, if set, is called once for each chunk or trailer signature that does not
	// match, so the failure counts against the key and the client like a bad request
	// signature.
	failed func()
}

// mismatch reports a chunk or trailer signature that does not match, as the error to return.
func (s chunkSigner) mismatch(message string) error {
	if s.failed != nil {
		s.failed()
	}
	return errorf(ErrSignatureDoesNotMatch, message)
}

// chunkSignature signs one chunk's data hash after prev.
func (s chunkSigner) chunkSignature(prev, dataHash string) string {
	return sign(s.key, "AWS4-HMAC-SHA256-PAYLOAD\n"+s.amzDate+"\n"+s.scope+"\n"+prev+"\n"+EmptySHA256+"\n"+dataHash)
}

// trailerSignature signs the trailing headers, rendered "name:value\n" each, after prev.
func (s chunkSigner) trailerSignature(prev, trailers string) string {
	return sign(s.key, "AWS4-HMAC-SHA256-TRAILER\n"+s.amzDate+"\n"+s.scope+"\n"+prev+"\n"+sha256Hex(trailers))
}

// chunkedConfig says what an aws-chunked body must look like.
type chunkedConfig struct {
	// DecodedLength is x-amz-decoded-content-length: the payload must be exactly this long.
	DecodedLength int64
	// Signed: every chunk carries a signature (and so does the trailer, if Trailer).
	Signed bool
	// Trailer: trailing headers may follow the final chunk.
	Trailer bool
	// TrailerNames are the checksum trailers x-amz-trailer announced; each must arrive and
	// match the payload, and no other may.
	TrailerNames []string
	Signer       chunkSigner
	// Out receives the verified trailers once the body is read; nil discards them.
	Out http.Header
}

// chunkedReader decodes and verifies an aws-chunked body as it streams: memory is its read
// buffer and a few hash states, whatever the body size. Bytes of a chunk are returned before
// the chunk's signature (which follows them) is checked, so only io.EOF vouches for them;
// the payload's last bytes come only together with io.EOF, once the final chunk, the
// trailers and the length have been verified (a failure is returned instead of them).
type chunkedReader struct {
	src  io.ReadCloser
	br   *bufio.Reader
	cfg  chunkedConfig
	prev string // the last verified signature

	inChunk   bool      // the data of a non-empty chunk has started
	remaining int64     // data bytes left in the current chunk
	chunkSig  string    // the current chunk's presented signature
	chunkHash hash.Hash // SHA-256 of the current chunk's data (signed mode)
	total     int64     // payload bytes so far
	sums      []namedHash
	err       error // sticky: io.EOF when verified to the end, or the failure
}

type namedHash struct {
	name string
	h    hash.Hash
}

func newChunkedReader(src io.ReadCloser, cfg chunkedConfig) *chunkedReader {
	c := &chunkedReader{
		src:  src,
		br:   bufio.NewReaderSize(src, chunkBufferBytes),
		cfg:  cfg,
		prev: cfg.Signer.seed,
	}
	if cfg.Signed {
		c.chunkHash = sha256.New()
	}
	for _, n := range cfg.TrailerNames {
		c.sums = append(c.sums, namedHash{n, checksumAlgorithms[n]()})
	}
	return c
}

// Read implements io.Reader: it yields the payload and returns io.EOF only once every
// signature, the declared length and the trailer checksums have been verified.
func (c *chunkedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	for c.remaining == 0 {
		if err := c.next(); err != nil {
			c.err = err
			return 0, err
		}
	}
	if int64(len(p)) > c.remaining {
		p = p[:c.remaining]
	}
	n, err := c.br.Read(p)
	c.remaining -= int64(n)
	c.total += int64(n)
	if c.chunkHash != nil {
		c.chunkHash.Write(p[:n])
	}
	for _, s := range c.sums {
		s.h.Write(p[:n])
	}
	if err != nil {
		c.err = bodyError(err)
		return n, c.err
	}
	if c.remaining == 0 && c.total == c.cfg.DecodedLength {
		// The payload is complete: check everything after it before handing over its last
		// bytes, so a caller that stops at the declared length still gets the verdict.
		if err := c.next(); err != io.EOF {
			if err == nil { // next started another chunk; it cannot, as the length is reached
				err = errorf(ErrIncompleteBody, "The aws-chunked body carries more than x-amz-decoded-content-length bytes.")
			}
			c.err = err
			return 0, err
		}
		c.err = io.EOF
		return n, io.EOF
	}
	return n, nil
}

// Close implements io.Closer.
func (c *chunkedReader) Close() error { return c.src.Close() }

// next finishes the current chunk and starts the next one. It returns io.EOF after the
// final chunk and trailers have been verified.
func (c *chunkedReader) next() error {
	if c.inChunk {
		if err := c.expectCRLF(); err != nil {
			return err
		}
		if err := c.verifyChunk(); err != nil {
			return err
		}
		c.inChunk = false
	}
	line, err := c.readLine(true)
	if err != nil {
		return err
	}
	size, sig, err := c.parseHeader(line)
	if err != nil {
		return err
	}
	c.chunkSig = sig
	if size == 0 {
		if err := c.verifyChunk(); err != nil {
			return err
		}
		return c.finish()
	}
	if size > c.cfg.DecodedLength-c.total {
		return errorf(ErrIncompleteBody, "The aws-chunked body carries more than x-amz-decoded-content-length bytes.")
	}
	c.remaining = size
	c.inChunk = true
	return nil
}

// parseHeader parses "<hex size>[;chunk-signature=<sig>]".
func (c *chunkedReader) parseHeader(line []byte) (int64, string, error) {
	sizePart, ext, hasExt := bytes.Cut(line, []byte(";"))
	if len(sizePart) == 0 || len(sizePart) > 16 {
		return 0, "", errorf(ErrMalformedChunk, "A chunk header has no valid size.")
	}
	size, err := strconv.ParseInt(string(sizePart), 16, 64)
	if err != nil || size < 0 || size > maxChunkSize {
		return 0, "", errorf(ErrMalformedChunk, "A chunk header has no valid size.")
	}
	if !c.cfg.Signed {
		// Unsigned chunks carry no extension we use; any that comes is ignored, as
		// HTTP/1.1 chunk extensions are.
		return size, "", nil
	}
	sig, ok := bytes.CutPrefix(ext, []byte(chunkSignatureExt))
	if !hasExt || !ok || !isLowerHex(string(sig), 64) {
		return 0, "", errorf(ErrMalformedChunk, "A chunk header has no valid chunk-signature.")
	}
	return size, string(sig), nil
}

// verifyChunk checks the current chunk's signature and advances the chain.
func (c *chunkedReader) verifyChunk() error {
	if !c.cfg.Signed {
		return nil
	}
	want := c.cfg.Signer.chunkSignature(c.prev, hex.EncodeToString(c.chunkHash.Sum(nil)))
	if !signatureEqual(want, c.chunkSig) {
		return c.cfg.Signer.mismatch("A chunk signature does not match.")
	}
	c.prev = c.chunkSig
	c.chunkHash.Reset()
	return nil
}

// finish reads the trailers after the final chunk, verifies them and the payload length,
// and requires the body to end there.
func (c *chunkedReader) finish() error {
	if c.total != c.cfg.DecodedLength {
		return errorf(ErrIncompleteBody, "The aws-chunked body carries fewer than x-amz-decoded-content-length bytes.")
	}
	var names, values []string
	var signature string
	var rendered strings.Builder
	for {
		line, err := c.readLine(false)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			break
		}
		if !c.cfg.Trailer {
			return errorf(ErrMalformedChunk, "Trailing headers follow the final chunk of a payload mode without trailers.")
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return errorf(ErrMalformedChunk, "A trailing header is not of the form name:value.")
		}
		n := strings.ToLower(strings.TrimSpace(string(name)))
		v := strings.TrimSpace(string(value))
		if n == trailerSignature {
			if !c.cfg.Signed || signature != "" || !isLowerHex(v, 64) {
				return errorf(ErrMalformedChunk, "The trailer signature is missing, repeated or malformed.")
			}
			signature = v
			continue
		}
		if signature != "" || len(names) >= maxTrailers {
			return errorf(ErrMalformedChunk, "Unexpected trailing header.")
		}
		names = append(names, n)
		values = append(values, v)
		rendered.WriteString(n + ":" + v + "\n")
	}
	if c.cfg.Signed && c.cfg.Trailer {
		if signature == "" {
			return c.cfg.Signer.mismatch("The trailer signature is missing.")
		}
		if !signatureEqual(c.cfg.Signer.trailerSignature(c.prev, rendered.String()), signature) {
			return c.cfg.Signer.mismatch("The trailer signature does not match.")
		}
		c.prev = signature
	}
	if err := c.checkTrailers(names, values); err != nil {
		return err
	}
	if _, err := c.br.ReadByte(); err != io.EOF {
		if err != nil {
			return bodyError(err)
		}
		return errorf(ErrMalformedChunk, "Data follows the end of the aws-chunked body.")
	}
	return io.EOF
}

// checkTrailers requires exactly the announced trailers and compares their checksums.
func (c *chunkedReader) checkTrailers(names, values []string) error {
	if len(names) != len(c.sums) {
		return errorf(ErrInvalidChecksum, "The trailing headers differ from those x-amz-trailer announced.")
	}
	for i, n := range names {
		var sum hash.Hash
		for _, s := range c.sums {
			if s.name == n {
				sum = s.h
			}
		}
		if sum == nil {
			return errorf(ErrInvalidChecksum, "The trailing header "+n+" was not announced in x-amz-trailer.")
		}
		if checksumValue(sum) != values[i] {
			return errorf(ErrChecksumMismatch, "The "+strings.TrimPrefix(n, "x-amz-checksum-")+" checksum you specified did not match the calculated checksum.")
		}
	}
	for i, n := range names {
		if c.cfg.Out != nil {
			c.cfg.Out.Set(n, values[i])
		}
	}
	return nil
}

// expectCRLF consumes the CRLF that ends a chunk's data.
func (c *chunkedReader) expectCRLF() error {
	var crlf [2]byte
	if _, err := io.ReadFull(c.br, crlf[:]); err != nil {
		return bodyError(err)
	}
	if crlf != [2]byte{'\r', '\n'} {
		return errorf(ErrMalformedChunk, "A chunk's data is not followed by CRLF.")
	}
	return nil
}

// readLine reads one line of at most maxChunkLine bytes and returns it without its line
// end. Chunk headers must end in CRLF (strict); trailer lines may end in a bare LF, which
// some clients send.
func (c *chunkedReader) readLine(strict bool) ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull) || len(line) > maxChunkLine:
		return nil, errorf(ErrMalformedChunk, "A chunk header or trailer line is too long.")
	case err != nil:
		return nil, bodyError(err)
	}
	line = line[:len(line)-1]
	if l, ok := bytes.CutSuffix(line, []byte("\r")); ok {
		line = l
	} else if strict {
		return nil, errorf(ErrMalformedChunk, "A chunk header does not end in CRLF.")
	}
	return line, nil
}
