package s3api

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"io"
	"net/http"
)

// md5Body is a PUT body whose x-amz-checksum-* headers are checked as it is read, and
// whose Content-MD5, if the client sent one, is checked once the data path has hashed the
// content.
type md5Body struct {
	io.Reader
	want []byte
}

// checkedBody wraps the size-byte body of a PutObject or UploadPart.
func checkedBody(h http.Header, body io.ReadCloser, size int64) (*md5Body, error) {
	checked, err := CheckChecksums(body, h, size)
	if err != nil {
		return nil, err
	}
	b := &md5Body{Reader: checked}
	if v := h.Get("Content-Md5"); v != "" {
		sum, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(sum) != md5.Size {
			return nil, ErrInvalidDigest
		}
		b.want = sum
	}
	return b, nil
}

// check compares the content's MD5 with Content-MD5.
func (b *md5Body) check(got []byte) error {
	if b.want != nil && !bytes.Equal(b.want, got) {
		return ErrBadDigest
	}
	return nil
}
