package s3api

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	meta "stratus/meta/client"
)

// Checksums of multipart uploads. An upload created with x-amz-checksum-algorithm has every
// part carry that checksum (sent or computed); completing it checks the checksums the
// request lists against the parts' and gives the object the composite checksum S3 gives:
// the algorithm over the concatenated raw part checksums, base64, with "-<parts>".

// uploadChecksumAlgorithm reads CreateMultipartUpload's x-amz-checksum-algorithm (and
// x-amz-checksum-type, of which only COMPOSITE is kept).
func uploadChecksumAlgorithm(h http.Header) (string, error) {
	alg := strings.ToUpper(h.Get("X-Amz-Checksum-Algorithm"))
	typ := strings.ToUpper(h.Get("X-Amz-Checksum-Type"))
	if alg == "" {
		if typ != "" {
			return "", errorf(ErrInvalidRequest, "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.")
		}
		return "", nil
	}
	if _, ok := checksumNames[alg]; !ok {
		return "", errorf(ErrInvalidRequest, "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
	}
	switch typ {
	case "", "COMPOSITE":
	case "FULL_OBJECT":
		return "", errorf(ErrInvalidRequest, "The FULL_OBJECT checksum type is not supported here; use COMPOSITE.")
	default:
		return "", errorf(ErrInvalidRequest, "Value for x-amz-checksum-type header is invalid.")
	}
	if alg == "CRC64NVME" {
		// S3 defines CRC64NVME multipart checksums as FULL_OBJECT only.
		return "", errorf(ErrInvalidRequest, "The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm.")
	}
	return alg, nil
}

// partChecksum is the checksum a CompleteMultipartUpload part lists, if any: the
// algorithm's S3 name and the value.
func (c xmlChecksum) listed() (string, string) {
	for _, v := range []struct{ alg, value string }{{"CRC32", c.ChecksumCRC32}, {"CRC32C", c.ChecksumCRC32C},
		{"CRC64NVME", c.ChecksumCRC64NVME}, {"SHA1", c.ChecksumSHA1}, {"SHA256", c.ChecksumSHA256}} {
		if v.value != "" {
			return v.alg, v.value
		}
	}
	return "", ""
}

// checkListedChecksum compares the checksum a completion lists for part n with the one
// stored for it.
func checkListedChecksum(n int, listed xmlChecksum, p meta.Part) error {
	alg, value := listed.listed()
	if alg == "" {
		return nil
	}
	if p.Checksum == nil || p.Checksum.Algorithm != alg || p.Checksum.Value != value {
		return errorf(ErrInvalidPart, fmt.Sprintf("Part %d: the %s checksum listed does not match the part's.", n, strings.ToLower(alg)))
	}
	return nil
}

// compositeChecksum is the checksum of an upload's object made of parts, or nil if the
// upload has no algorithm. want, the completion's x-amz-checksum-<alg> header if sent, must
// match it (with or without the "-<parts>" suffix).
func compositeChecksum(alg string, parts []meta.Part, want string) (*meta.Checksum, error) {
	if alg == "" {
		return nil, nil
	}
	h := checksumAlgorithms[checksumNames[alg]]()
	for _, p := range parts {
		if p.Checksum == nil || p.Checksum.Algorithm != alg {
			return nil, errorf(ErrInvalidPart, fmt.Sprintf("Part %d carries no %s checksum.", p.Number, strings.ToLower(alg)))
		}
		raw, err := base64.StdEncoding.DecodeString(p.Checksum.Value)
		if err != nil {
			return nil, fmt.Errorf("part %d checksum: %w", p.Number, err)
		}
		h.Write(raw)
	}
	value := base64.StdEncoding.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(parts))
	if want != "" && want != value && want+"-"+strconv.Itoa(len(parts)) != value {
		return nil, errorf(ErrChecksumMismatch, "The "+strings.ToLower(alg)+" checksum you specified did not match the calculated checksum.")
	}
	return &meta.Checksum{Algorithm: alg, Value: value, Composite: true}, nil
}

// partChecksumXML renders a part's checksum, if it has one, as ListParts lists it.
func partChecksumXML(c *meta.Checksum) xmlChecksum {
	if c == nil {
		return xmlChecksum{}
	}
	return *checksumXML(c, false)
}
