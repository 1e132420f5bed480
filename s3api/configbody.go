package s3api

import (
	"crypto/md5"
	"encoding/base64"
	"io"
)

// readConfigBody reads the XML document of a configuration call (tagging, CORS) of at most
// limit bytes, checked against the integrity header S3 asks for on them: SDKs send
// Content-MD5 or an x-amz-checksum-*, and a body that does not match is refused before it
// is parsed, so nothing is stored from it.
func readConfigBody(rq *request, limit int) ([]byte, error) {
	checked, err := CheckChecksums(rq.body, rq.r.Header, rq.length)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(io.LimitReader(checked, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(body) > limit {
		return nil, ErrMalformedXML
	}
	if v := rq.r.Header.Get("Content-Md5"); v != "" {
		sum := md5.Sum(body)
		if v != base64.StdEncoding.EncodeToString(sum[:]) {
			return nil, ErrBadDigest
		}
	}
	return body, nil
}
