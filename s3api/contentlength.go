package s3api

import (
	"net/http"
	"strings"
)

// unknownLength refuses a PutObject or UploadPart body whose length the request does not
// give, as S3 does: with 501 NotImplemented naming Transfer-Encoding when the body comes in
// HTTP chunked transfer coding (S3 supports chunked uploads only as aws-chunked, which
// declares x-amz-decoded-content-length), else with 411 MissingContentLength. The data
// path stores exactly the declared number of bytes on every replica, so it needs the
// length before the first byte.
func unknownLength(r *http.Request) error {
	for _, te := range r.TransferEncoding {
		if strings.EqualFold(te, "chunked") {
			return errorf(ErrNotImplemented, "A header you provided implies functionality that is not implemented: Transfer-Encoding")
		}
	}
	return ErrMissingContentLength
}
