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
// request lists against the parts' and gives the object the checksum S3 gives: COMPOSITE,
// the algorithm over the concatenated raw part checksums, base64, with "-<parts>"; or, for
// the CRCs with x-amz-checksum-type FULL_OBJECT, the CRC of the whole object's bytes,
// combined from the parts' CRCs and sizes.

// crcParams are the CRCs a FULL_OBJECT checksum can be combined for: reflected polynomial
// and width.
var crcParams = map[string]struct {
	poly  uint64
	width int
}{"CRC32": {0xEDB88320, 32}, "CRC32C": {0x82F63B78, 32}, "CRC64NVME": {0x9A6C9329AC4BC9B5, 64}}

// uploadChecksumAlgorithm reads CreateMultipartUpload's x-amz-checksum-algorithm and
// x-amz-checksum-type: the algorithm, and whether the object's checksum is FULL_OBJECT.
func uploadChecksumAlgorithm(h http.Header) (string, bool, error) {
	alg := strings.ToUpper(h.Get("X-Amz-Checksum-Algorithm"))
	typ := strings.ToUpper(h.Get("X-Amz-Checksum-Type"))
	if alg == "" {
		if typ != "" {
			return "", false, errorf(ErrInvalidRequest, "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.")
		}
		return "", false, nil
	}
	if _, ok := checksumNames[alg]; !ok {
		return "", false, errorf(ErrInvalidRequest, "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
	}
	_, crc := crcParams[alg]
	switch typ {
	case "":
		// CRC64NVME multipart checksums are FULL_OBJECT only; the others default to COMPOSITE.
		return alg, alg == "CRC64NVME", nil
	case "COMPOSITE":
		if alg == "CRC64NVME" {
			return "", false, errorf(ErrInvalidRequest, "The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm.")
		}
		return alg, false, nil
	case "FULL_OBJECT":
		if !crc {
			return "", false, errorf(ErrInvalidRequest, "The FULL_OBJECT checksum type cannot be used with the "+strings.ToLower(alg)+" checksum algorithm.")
		}
		return alg, true, nil
	}
	return "", false, errorf(ErrInvalidRequest, "Value for x-amz-checksum-type header is invalid.")
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

// uploadChecksum is the checksum of upload u's object made of parts, or nil if the upload
// has no algorithm. want, the completion's x-amz-checksum-<alg> header if sent, must match
// it (a composite one with or without the "-<parts>" suffix).
func uploadChecksum(u meta.Upload, parts []meta.Part, want string) (*meta.Checksum, error) {
	alg := u.ChecksumAlgorithm
	if alg == "" {
		return nil, nil
	}
	h := checksumAlgorithms[checksumNames[alg]]()
	crc := crcParams[alg]
	var full uint64
	for i, p := range parts {
		if p.Checksum == nil || p.Checksum.Algorithm != alg {
			return nil, errorf(ErrInvalidPart, fmt.Sprintf("Part %d carries no %s checksum.", p.Number, strings.ToLower(alg)))
		}
		raw, err := base64.StdEncoding.DecodeString(p.Checksum.Value)
		if err != nil || u.ChecksumFullObject && len(raw)*8 != crc.width {
			return nil, fmt.Errorf("part %d checksum %q: %v", p.Number, p.Checksum.Value, err)
		}
		if !u.ChecksumFullObject {
			h.Write(raw)
			continue
		}
		if part := beUint(raw); i == 0 {
			full = part
		} else {
			full = crcCombine(crc.poly, crc.width, full, part, p.Size)
		}
	}
	if u.ChecksumFullObject {
		value := base64.StdEncoding.EncodeToString(beBytes(full, crc.width/8))
		if want != "" && want != value {
			return nil, errorf(ErrChecksumMismatch, "The "+strings.ToLower(alg)+" checksum you specified did not match the calculated checksum.")
		}
		return &meta.Checksum{Algorithm: alg, Value: value}, nil
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

// beUint reads a big-endian CRC of 4 or 8 bytes.
func beUint(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

// beBytes writes v as n big-endian bytes.
func beBytes(v uint64, n int) []byte {
	b := make([]byte, n)
	for i := n - 1; i >= 0; i-- {
		b[i], v = byte(v), v>>8
	}
	return b
}
