package s3api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	meta "stratus/meta/client"
	objclient "stratus/objectd/client"
)

// partNumberOf reads ?partNumber of a GET or HEAD; 0 when absent.
func partNumberOf(q url.Values) (int, error) {
	if !q.Has("partNumber") {
		return 0, nil
	}
	n, err := strconv.Atoi(q.Get("partNumber"))
	if err != nil || n < 1 || n > maxParts {
		return 0, errorf(ErrInvalidArgument, "Part number must be an integer between 1 and 10000, inclusive")
	}
	return n, nil
}

// partRange is the byte range of part n of e for a GET or HEAD with ?partNumber, and sets
// Content-Range and, for a multipart object, x-amz-mp-parts-count in h. Parts are counted
// in the order the completion listed them, as S3 counts them. An object uploaded in one
// piece is its own part 1. Only these requests read a multipart object's manifest: a plain
// GET costs nothing more.
func (s *Server) partRange(ctx context.Context, h http.Header, r *http.Request, e meta.ObjectEntry, n int) (*objclient.Range, error) {
	if r.Header.Get("Range") != "" {
		return nil, errorf(ErrInvalidRequest, "Cannot specify both Range header and partNumber query parameter")
	}
	notSatisfiable := errorf(ErrInvalidPartNumber, "The requested partnumber is not satisfiable")
	offset, length := int64(0), e.Size
	if isMultipartETag(e.ETag) {
		m, err := s.readManifest(ctx, e)
		if err != nil {
			return nil, dataError(err)
		}
		if n > len(m.Parts) {
			return nil, notSatisfiable
		}
		for _, p := range m.Parts[:n-1] {
			offset += p.Size
		}
		length = m.Parts[n-1].Size
		h.Set("X-Amz-Mp-Parts-Count", strconv.Itoa(len(m.Parts)))
		if checksumModeEnabled(r) && m.Parts[n-1].Checksum != nil {
			h.Set(checksumNames[m.Parts[n-1].Checksum.Algorithm], m.Parts[n-1].Checksum.Value)
		}
	} else if n != 1 {
		return nil, notSatisfiable
	} else if checksumModeEnabled(r) {
		setChecksumHeaders(h, e.Checksum)
	}
	if length == 0 {
		return nil, nil // an empty object: nothing to name a range of
	}
	h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", offset, offset+length-1, e.Size))
	return &objclient.Range{Offset: offset, Length: length}, nil
}
