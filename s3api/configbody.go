package s3api

import (
	"crypto/md5"
	"encoding/base64"
	"io"
)

// readConfigBody reads the XML document of a configuration call (tagging, CORS, lifecycle,
// Object Lock) of at most limit bytes (more is MalformedXML), checked as readCheckedBody
// checks it.
func readConfigBody(rq *request, limit int) ([]byte, error) {
	body, err := readCheckedBody(rq, limit+1)
	if err != nil {
		return nil, err
	}
	if len(body) > limit {
		return nil, ErrMalformedXML
	}
	return body, nil
}

// readCheckedBody reads at most n bytes of a small request body, checked against the
// integrity header S3 asks for on configuration calls: SDKs send Content-MD5 or an
// x-amz-checksum-*, and a body that does not match is refused before it is parsed, so
// nothing is stored from it. A body cut off at n is returned unchecked against Content-MD5:
// the caller refuses it as too large.
func readCheckedBody(rq *request, n int) ([]byte, error) {
	checked, err := CheckChecksums(rq.body, rq.r.Header, rq.length)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(io.LimitReader(checked, int64(n)))
	if err != nil {
		return nil, err
	}
	if v := rq.r.Header.Get("Content-Md5"); v != "" && len(body) < n {
		sum := md5.Sum(body)
		if want, err := base64.StdEncoding.DecodeString(v); err != nil || len(want) != md5.Size {
			return nil, ErrInvalidDigest
		} else if string(want) != string(sum[:]) {
			return nil, ErrBadDigest
		}
	}
	return body, nil
}
