package s3api

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"

	"stratus/internal/hlc"
	meta "stratus/meta/client"
)

// maxDeleteKeys is S3's limit on keys in one DeleteObjects request.
const maxDeleteKeys = 1000

type xmlDelete struct {
	XMLName xml.Name `xml:"Delete"`
	Quiet   bool     `xml:"Quiet"`
	Objects []struct {
		Key       string `xml:"Key"`
		VersionID string `xml:"VersionId"`
	} `xml:"Object"`
}

type xmlDeleteResult struct {
	XMLName xml.Name     `xml:"http://s3.amazonaws.com/doc/2006-03-01/ DeleteResult"`
	Deleted []xmlDeleted `xml:"Deleted"`
	Errors  []struct {
		Key     string `xml:"Key"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
}

// xmlDeleted is one key DeleteObjects deleted: the version it removed, or the delete
// marker it removed or added.
type xmlDeleted struct {
	Key                   string `xml:"Key"`
	VersionID             string `xml:"VersionId,omitempty"`
	DeleteMarker          bool   `xml:"DeleteMarker,omitempty"`
	DeleteMarkerVersionID string `xml:"DeleteMarkerVersionId,omitempty"`
}

// deleteObjects serves POST ?delete: up to 1,000 keys in one request, each deleted as
// DeleteObject would, each reported on its own.
func (s *Server) deleteObjects(rq *request) error {
	ctx := rq.r.Context()
	// Each key is decided on its own below: a policy may allow some and deny others.
	b, _, err := s.bucketOf(ctx, rq, rq.bucket, headerExpectedOwner)
	if err != nil {
		return err
	}
	checked, err := CheckChecksums(rq.body, rq.r.Header, rq.length)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(checked, 2<<20+1))
	if err != nil {
		return err
	}
	if len(body) > 2<<20 {
		return errorf(ErrMalformedXML, "The Delete request body is too large.")
	}
	// S3 requires an integrity header here; SDKs send Content-MD5 or an x-amz-checksum-*,
	// which the verifier checked already.
	if v := rq.r.Header.Get("Content-Md5"); v != "" {
		sum := md5.Sum(body)
		if v != base64.StdEncoding.EncodeToString(sum[:]) {
			return ErrBadDigest
		}
	}
	var req xmlDelete
	if err := xml.Unmarshal(body, &req); err != nil || len(req.Objects) == 0 {
		return errorf(ErrMalformedXML, "The XML you provided was not well-formed or did not validate against our published schema.")
	}
	if len(req.Objects) > maxDeleteKeys {
		return errorf(ErrMalformedXML, "A Delete request names at most 1000 keys.")
	}
	var out xmlDeleteResult
	for _, o := range req.Objects {
		err := checkKey(o.Key)
		if err == nil {
			err = s.decide(rq, b, deleteAction(o.VersionID), o.Key, nil)
		}
		done := xmlDeleted{Key: o.Key, VersionID: o.VersionID}
		if err == nil {
			if b.Versioning == meta.VersioningOff && o.VersionID == "" {
				err = s.deleteKey(ctx, rq.bucket, o.Key)
			} else {
				h := http.Header{}
				err = s.deleteVersioned(ctx, h, b, o.Key, o.VersionID, s.governanceBypass(rq, b))
				if h.Get("X-Amz-Delete-Marker") == "true" {
					done.DeleteMarker, done.DeleteMarkerVersionID = true, h.Get("X-Amz-Version-Id")
				}
			}
		}
		if err != nil {
			api, mapped := Lookup(err)
			if !mapped {
				s.log.Error("delete in batch failed", "req_id", rq.id, "bucket", rq.bucket, "err", err)
			}
			out.Errors = append(out.Errors, struct {
				Key     string `xml:"Key"`
				Code    string `xml:"Code"`
				Message string `xml:"Message"`
			}{o.Key, api.Code, api.Message})
			continue
		}
		if !req.Quiet {
			out.Deleted = append(out.Deleted, done)
		}
	}
	return writeXML(rq.w, http.StatusOK, out)
}

// deleteKey deletes bucket/key: the index entry first (what makes the delete visible and
// durable), then the bytes, then the parts of a multipart object. A key that does not
// exist is deleted already.
func (s *Server) deleteKey(ctx context.Context, bucket, key string) error {
	return s.deleteCurrent(ctx, bucket, key, nil)
}

// deleteCurrent is deleteKey, and with cur set deletes only while cur is still the current
// entry: meta.ErrConflict, and nothing deleted, if a write or delete came in between.
//
// The bytes to drop are those of the entry the index removed, at its own name (or the
// object's, for entries from before null versions had names of their own): the removal
// returns it, so a write that replaced the entry read before keeps its bytes.
func (s *Server) deleteCurrent(ctx context.Context, bucket, key string, cur *meta.ObjectEntry) error {
	var parts []manifestPart
	if cur != nil && cur.EC == nil && isMultipartETag(cur.ETag) {
		m, err := s.readManifest(ctx, *cur)
		if err != nil {
			return fmt.Errorf("read manifest of %s/%s: %w", bucket, key, err)
		}
		parts = m.Parts
	}
	ts := s.data.Stamp()
	idx := s.meta.Index(bucket)
	removed := cur
	var err error
	if cur != nil {
		err = idx.DeleteCurrentIf(ctx, *cur, uint64(ts), false)
	} else {
		removed, err = idx.RemoveObject(ctx, bucket, key, uint64(ts))
		if errors.Is(err, meta.ErrNotFound) {
			return nil
		}
	}
	if err != nil {
		return dataError(err)
	}
	if removed != nil {
		s.dropRemoved(ctx, *removed, parts, ts)
	}
	return nil
}

// dropRemoved removes the bytes of e, an entry a delete at ts removed from the index: its
// whole copies or fragment archives, and a multipart object's parts (parts, if already read
// from its manifest, else read now, before the manifest goes). Failures leave garbage,
// never a dangling reference, so they are logged.
func (s *Server) dropRemoved(ctx context.Context, e meta.ObjectEntry, parts []manifestPart, ts hlc.Timestamp) {
	if e.DeleteMarker {
		return
	}
	if parts == nil && e.EC == nil && isMultipartETag(e.ETag) {
		if m, err := s.readManifest(ctx, e); err == nil {
			parts = m.Parts
		} else {
			parts, _ = entryParts(e) // the parts' coding is then unknown: coded ones stay
		}
	}
	if e.EC != nil {
		s.dropReplaced(ctx, replacedData{ec: e.EC, name: dataName(e)}, ts)
		return
	}
	if err := s.data.Tombstones(context.WithoutCancel(ctx), dataName(e), ts); err != nil {
		s.log.Warn("delete committed but tombstones short of quorum", "bucket", e.Bucket, "err", err)
	}
	s.dropParts(ctx, parts)
}
