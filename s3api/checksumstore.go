package s3api

import (
	"encoding/base64"
	"hash"
	"io"
	"net/http"
	"strings"

	meta "stratus/meta/client"
)

// Keeping the additional checksums of PutObject and UploadPart (x-amz-checksum-*). The
// value comes in a header (checked as the body streams, by CheckChecksums) or in a trailer
// of an aws-chunked body (checked by the decoder); if the request only names the algorithm
// (x-amz-sdk-checksum-algorithm), or the multipart upload requires one the part lacks, it
// is computed here as the body streams. Either way it is known once the body has ended and
// before the write is indexed, and goes into the index entry.

// checksumNames maps S3's algorithm names to their header names.
var checksumNames = map[string]string{
	"CRC32":     "x-amz-checksum-crc32",
	"CRC32C":    "x-amz-checksum-crc32c",
	"CRC64NVME": "x-amz-checksum-crc64nvme",
	"SHA1":      "x-amz-checksum-sha1",
	"SHA256":    "x-amz-checksum-sha256",
}

// algorithmOf is the S3 name of a checksum header name.
func algorithmOf(header string) string {
	return strings.ToUpper(strings.TrimPrefix(strings.ToLower(header), "x-amz-checksum-"))
}

// checksumKeeper finds the checksum of one request body.
type checksumKeeper struct {
	alg      string      // S3's name; "" if the request carries no checksum
	value    string      // from the header, when it came there
	trailer  http.Header // where the aws-chunked decoder leaves trailing values
	computed hash.Hash   // when this side computes it
}

// newChecksumKeeper reads which checksum a PutObject or UploadPart carries. required is
// the algorithm a multipart upload was created with ("" if none): a part must carry that
// one or none (then it is computed). Errors are S3's InvalidRequest.
func newChecksumKeeper(h, trailer http.Header, trailerNames []string, required string) (*checksumKeeper, error) {
	k := &checksumKeeper{trailer: trailer}
	for name := range h {
		n := strings.ToLower(name)
		if _, ok := checksumAlgorithms[n]; !ok {
			continue
		}
		if k.alg != "" {
			return nil, errorf(ErrInvalidRequest, "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
		}
		k.alg, k.value = algorithmOf(n), h.Get(name)
	}
	for _, n := range trailerNames {
		if k.alg != "" {
			return nil, errorf(ErrInvalidRequest, "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
		}
		k.alg = algorithmOf(n)
	}
	sdk := strings.ToUpper(h.Get("X-Amz-Sdk-Checksum-Algorithm"))
	if sdk != "" {
		if _, ok := checksumNames[sdk]; !ok {
			return nil, errorf(ErrInvalidRequest, "Value for x-amz-sdk-checksum-algorithm header is invalid.")
		}
		if k.alg != "" && k.alg != sdk {
			return nil, errorf(ErrInvalidRequest, "Value for x-amz-sdk-checksum-algorithm header is invalid.")
		}
	}
	if k.alg == "" {
		k.alg = sdk
	}
	if required != "" {
		if k.alg != "" && k.alg != required {
			return nil, errorf(ErrInvalidRequest, "Checksum Type mismatch occurred, expected checksum Type: "+strings.ToLower(required)+
				", actual checksum Type: "+strings.ToLower(k.alg))
		}
		k.alg = required
	}
	if k.alg != "" && k.value == "" && len(trailerNames) == 0 {
		k.computed = checksumAlgorithms[checksumNames[k.alg]]()
	}
	return k, nil
}

// wrap returns body, feeding this side's hash when it computes the checksum.
func (k *checksumKeeper) wrap(body io.Reader) io.Reader {
	if k.computed == nil {
		return body
	}
	return io.TeeReader(body, k.computed)
}

// result is the checksum to keep, once the body has been read to its end; nil if none.
func (k *checksumKeeper) result() *meta.Checksum {
	switch {
	case k.alg == "":
		return nil
	case k.computed != nil:
		return &meta.Checksum{Algorithm: k.alg, Value: base64.StdEncoding.EncodeToString(k.computed.Sum(nil))}
	case k.value != "":
		return &meta.Checksum{Algorithm: k.alg, Value: k.value}
	}
	if v := k.trailer.Get(checksumNames[k.alg]); v != "" {
		return &meta.Checksum{Algorithm: k.alg, Value: v}
	}
	return nil
}

// setChecksumHeaders sends c as S3 sends a stored checksum: x-amz-checksum-<alg> and
// x-amz-checksum-type.
func setChecksumHeaders(h http.Header, c *meta.Checksum) {
	if c == nil {
		return
	}
	h.Set(checksumNames[c.Algorithm], c.Value)
	h.Set("X-Amz-Checksum-Type", checksumType(c))
}

// checksumModeEnabled reports whether a GET or HEAD asks for the stored checksum.
func checksumModeEnabled(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("X-Amz-Checksum-Mode"), "ENABLED")
}

// keepChecksum prepares the checksum kept with rq's body (already wrapped by checkedBody):
// it returns the reader to store, the Verify function for the data path (Content-MD5, then
// the checksum is fixed, once the body has ended and before any replica commits), and the
// checksum to put in the index entry, filled in by that Verify; nil if the request carries
// none. required is the algorithm of the multipart upload a part belongs to.
func keepChecksum(rq *request, body *md5Body, required string) (io.Reader, func([]byte) error, *meta.Checksum, error) {
	var trailerNames []string
	if mode := rq.r.Header.Get(headerContentSHA256); mode == PayloadStreamingTrailer || mode == PayloadStreamingUnsignedTrailer {
		// Only these payload modes carry trailers; the decoder has checked those named.
		var err error
		if trailerNames, err = parseTrailerNames(rq.r.Header.Values(headerTrailer)); err != nil {
			return nil, nil, nil, err
		}
	}
	k, err := newChecksumKeeper(rq.r.Header, rq.trailer, trailerNames, required)
	if err != nil {
		return nil, nil, nil, err
	}
	if k.alg == "" {
		return body, body.check, nil, nil
	}
	kept := &meta.Checksum{Algorithm: k.alg}
	return k.wrap(body), func(md5 []byte) error {
		if err := body.check(md5); err != nil {
			return err
		}
		c := k.result()
		if c == nil {
			return errorf(ErrInvalidChecksum, "The "+strings.ToLower(k.alg)+" checksum trailer is missing.")
		}
		*kept = *c
		return nil
	}, kept, nil
}

// copiedPartChecksum computes the checksum an UploadPartCopy part must carry when its
// upload requires one; body is returned as it is otherwise.
func copiedPartChecksum(body io.Reader, required string) (io.Reader, func([]byte) error, *meta.Checksum) {
	if required == "" {
		return body, nil, nil
	}
	h := checksumAlgorithms[checksumNames[required]]()
	kept := &meta.Checksum{Algorithm: required}
	return io.TeeReader(body, h), func([]byte) error {
		kept.Value = base64.StdEncoding.EncodeToString(h.Sum(nil))
		return nil
	}, kept
}

// copyChecksumAlgorithm is the checksum a CopyObject computes for its copy: the one
// x-amz-checksum-algorithm asks for, else the source's algorithm. It is computed afresh as
// the bytes are copied, since a copy is stored in one piece and a multipart source's
// composite checksum does not describe it.
func copyChecksumAlgorithm(h http.Header, src meta.ObjectEntry) (string, error) {
	if alg := strings.ToUpper(h.Get("X-Amz-Checksum-Algorithm")); alg != "" {
		if _, ok := checksumNames[alg]; !ok {
			return "", errorf(ErrInvalidRequest, "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
		}
		return alg, nil
	}
	if src.Checksum != nil {
		return src.Checksum.Algorithm, nil
	}
	return "", nil
}
