package s3api

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"stratus/internal/hlc"
	meta "stratus/meta/client"
	objclient "stratus/objectd/client"
	"stratus/proxy"
)

// Multipart limits, as in S3.
const (
	maxParts        = 10000
	minPartBytes    = 5 << 20
	maxPartBytes    = 5 << 30
	maxCompleteBody = 2 << 20 // the CompleteMultipartUpload XML of 10,000 parts fits
)

// A completed multipart object is stored as a manifest: a small JSON object at its
// version's name (dataName) listing its parts, which stay where UploadPart put them. Its index
// entry is told apart by its ETag, which for multipart objects (and only them) ends in
// "-<parts>", as S3 defines it.
type manifest struct {
	Parts []manifestPart `json:"parts"`
}

type manifestPart struct {
	Name    string `json:"name"`
	Version uint64 `json:"version"`
	Size    int64  `json:"size"`
	// Number and Checksum are the part's as uploaded, for GetObjectAttributes.
	Number   int            `json:"number,omitempty"`
	Checksum *meta.Checksum `json:"checksum,omitempty"`
	// EC, when set, says the part is erasure-coded, and how.
	EC *meta.ECStorage `json:"ec,omitempty"`
}

func isMultipartETag(etag string) bool { return strings.Contains(etag, "-") }

// partName is where part number n of an upload lives in the ring. Bucket names never
// start with ".", so it cannot collide with an object's own name.
func partName(bucket, uploadID string, n int) string {
	return ".mpu/" + bucket + "/" + uploadID + "/" + strconv.Itoa(n)
}

type xmlInitiate struct {
	XMLName  xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ InitiateMultipartUploadResult"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	UploadID string   `xml:"UploadId"`
}

type xmlComplete struct {
	XMLName xml.Name `xml:"CompleteMultipartUpload"`
	Parts   []struct {
		PartNumber int    `xml:"PartNumber"`
		ETag       string `xml:"ETag"`
		xmlChecksum
	} `xml:"Part"`
}

type xmlCompleteResult struct {
	XMLName  xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CompleteMultipartUploadResult"`
	Location string   `xml:"Location"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	ETag     string   `xml:"ETag"`
	xmlChecksum
}

type xmlListParts struct {
	XMLName              xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListPartsResult"`
	Bucket               string   `xml:"Bucket"`
	Key                  string   `xml:"Key"`
	UploadID             string   `xml:"UploadId"`
	PartNumberMarker     int      `xml:"PartNumberMarker"`
	NextPartNumberMarker int      `xml:"NextPartNumberMarker"`
	MaxParts             int      `xml:"MaxParts"`
	IsTruncated          bool     `xml:"IsTruncated"`
	StorageClass         string   `xml:"StorageClass"`
	Parts                []struct {
		PartNumber   int    `xml:"PartNumber"`
		LastModified string `xml:"LastModified"`
		ETag         string `xml:"ETag"`
		Size         int64  `xml:"Size"`
		xmlChecksum
	} `xml:"Part"`
}

// multipartOp serves the calls of an upload in progress; it reports false if q names none.
func (s *Server) multipartOp(rq *request, q url.Values) (bool, error) {
	switch {
	case rq.r.Method == http.MethodPost && q.Has("uploads"):
		return true, s.createUpload(rq)
	case !q.Has("uploadId"):
		return false, nil
	case rq.r.Method == http.MethodPut && q.Has("partNumber"):
		return true, s.uploadPart(rq, q)
	case rq.r.Method == http.MethodPost:
		return true, s.completeUpload(rq, q)
	case rq.r.Method == http.MethodDelete:
		return true, s.abortUpload(rq, q)
	case rq.r.Method == http.MethodGet:
		return true, s.listParts(rq, q)
	}
	return true, ErrMethodNotAllowed
}

func newUploadID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *Server) createUpload(rq *request) error {
	ctx := rq.r.Context()
	b, err := s.authorize(ctx, rq, "s3:PutObject", rq.key)
	if err != nil {
		return err
	}
	acl, err := s.newObjectACL(ctx, rq, b) // kept in the upload, given to the object at completion
	if err != nil {
		return err
	}
	lock, err := s.lockHeaders(rq, b) // the bucket default applies at completion
	if err != nil {
		return err
	}
	um, err := userMeta(rq.r.Header)
	if err != nil {
		return err
	}
	tags, err := headerTags(rq.r)
	if err != nil {
		return err
	}
	if err := s.authorizeWriteTags(rq, b, tags); err != nil {
		return err
	}
	ctype := rq.r.Header.Get("Content-Type")
	if ctype == "" {
		ctype = "binary/octet-stream"
	}
	alg, full, err := uploadChecksumAlgorithm(rq.r.Header)
	if err != nil {
		return err
	}
	u := meta.Upload{Bucket: rq.bucket, Key: rq.key, UploadID: newUploadID(), Initiated: time.Now().UTC(),
		ContentType: ctype, UserMeta: um, ACL: acl, Lock: lock, Tags: tags, ChecksumAlgorithm: alg, ChecksumFullObject: full}
	if err := s.meta.Index(rq.bucket).CreateUpload(ctx, u); err != nil {
		return dataError(err)
	}
	if alg != "" {
		rq.w.Header().Set("X-Amz-Checksum-Algorithm", alg)
		rq.w.Header().Set("X-Amz-Checksum-Type", checksumType(&meta.Checksum{Composite: !full}))
	}
	return writeXML(rq.w, http.StatusOK, xmlInitiate{Bucket: rq.bucket, Key: rq.key, UploadID: u.UploadID})
}

// upload loads the bucket, which the caller must own, and the upload q names, which must
// belong to the request's key.
func (s *Server) upload(ctx context.Context, rq *request, q url.Values, action string) (meta.Bucket, meta.Upload, error) {
	b, err := s.authorize(ctx, rq, action, rq.key)
	if err != nil {
		return b, meta.Upload{}, err
	}
	u, err := s.meta.Index(rq.bucket).Upload(ctx, rq.bucket, rq.key, q.Get("uploadId"))
	if errors.Is(err, meta.ErrNotFound) {
		return b, u, ErrNoSuchUpload
	}
	return b, u, err
}

func (s *Server) uploadPart(rq *request, q url.Values) error {
	ctx := rq.r.Context()
	n, err := strconv.Atoi(q.Get("partNumber"))
	if err != nil || n < 1 || n > maxParts {
		return errorf(ErrInvalidArgument, "Part number must be an integer between 1 and 10000, inclusive.")
	}
	b, u, err := s.upload(ctx, rq, q, "s3:PutObject")
	if err != nil {
		return err
	}
	if rq.r.Header.Get("X-Amz-Copy-Source") != "" {
		return s.uploadPartCopy(rq, q, n, b, u)
	}
	if rq.length < 0 {
		return unknownLength(rq.r)
	}
	if rq.length > maxPartBytes {
		return ErrEntityTooLarge
	}
	body, err := checkedBody(rq.r.Header, rq.body, rq.length)
	if err != nil {
		return err
	}
	data, check, sum, err := keepChecksum(rq, body, u.ChecksumAlgorithm)
	if err != nil {
		return err
	}
	etag, _, err := s.putPart(rq, b, u, n, data, rq.length, check, sum)
	if err != nil {
		return err
	}
	rq.w.Header().Set("ETag", `"`+etag+`"`)
	setChecksumHeaders(rq.w.Header(), sum)
	rq.w.Header().Del("X-Amz-Checksum-Type") // S3 names the type of objects, not of parts
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

// putPart stores part n of upload u and records it in the index; check, if set, vets the
// content's MD5 before any replica stores it (a refused body must not replace an earlier
// upload of the part). In an erasure-coded bucket a part at or above the policy's
// small-object threshold is erasure-coded, as an object would be. It returns the part's
// ETag and version.
func (s *Server) putPart(rq *request, b meta.Bucket, u meta.Upload, n int, body io.Reader, length int64, check func(md5 []byte) error, sum *meta.Checksum) (string, uint64, error) {
	var etag string
	var version uint64
	ecs, err := s.ecStorage(rq.r.Context(), b, length)
	if err != nil {
		return "", 0, err
	}
	put := s.data.Put
	if ecs != nil {
		put = func(ctx context.Context, req proxy.PutRequest, body io.Reader, commit func(context.Context, proxy.PutResult) error) (proxy.PutResult, error) {
			return s.data.PutEC(ctx, codeOf(ecs), req, body, commit)
		}
	}
	_, err = put(rq.r.Context(), proxy.PutRequest{Name: partName(rq.bucket, u.UploadID, n), Length: length, Verify: check}, body,
		func(ctx context.Context, res proxy.PutResult) error {
			etag, version = hex.EncodeToString(res.MD5[:]), uint64(res.Timestamp)
			return s.meta.Index(rq.bucket).PutPart(ctx, rq.bucket, meta.Part{UploadID: u.UploadID, Number: n,
				Size: length, ETag: etag, Version: version, Checksum: sum, EC: ecs})
		})
	return etag, version, dataError(err)
}

func (s *Server) completeUpload(rq *request, q url.Values) error {
	ctx := rq.r.Context()
	// A completion is a write: decided on a bucket record its commit checks (writegrant.go).
	g, err := s.authorizeWrite(ctx, rq, "s3:PutObject", rq.key)
	if err != nil {
		return err
	}
	b := g.b
	u, err := s.meta.Index(rq.bucket).Upload(ctx, rq.bucket, rq.key, q.Get("uploadId"))
	if errors.Is(err, meta.ErrNotFound) {
		return ErrNoSuchUpload
	}
	if err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(rq.body, maxCompleteBody+1))
	if err != nil {
		return err
	}
	var req xmlComplete
	if len(body) > maxCompleteBody || xml.Unmarshal(body, &req) != nil || len(req.Parts) == 0 {
		return errorf(ErrMalformedXML, "The XML you provided was not well-formed or did not validate against our published schema.")
	}
	stored, err := s.meta.Index(rq.bucket).ListParts(ctx, rq.bucket, u.UploadID)
	if err != nil {
		return err
	}
	byNumber := make(map[int]meta.Part, len(stored))
	for _, p := range stored {
		byNumber[p.Number] = p
	}
	var m manifest
	var listed []meta.Part
	sums := md5.New()
	var size int64
	for i, want := range req.Parts {
		if i > 0 && want.PartNumber <= req.Parts[i-1].PartNumber {
			return ErrInvalidPartOrder
		}
		p, ok := byNumber[want.PartNumber]
		if !ok || strings.Trim(want.ETag, `"`) != p.ETag {
			return errorf(ErrInvalidPart, fmt.Sprintf("Part %d was not uploaded, or its ETag does not match.", want.PartNumber))
		}
		if i < len(req.Parts)-1 && p.Size < minPartBytes {
			return errorf(ErrEntityTooSmall, fmt.Sprintf("Part %d is smaller than the 5 MiB minimum.", want.PartNumber))
		}
		if err := checkListedChecksum(want.PartNumber, want.xmlChecksum, p); err != nil {
			return err
		}
		listed = append(listed, p)
		raw, _ := hex.DecodeString(p.ETag)
		sums.Write(raw)
		size += p.Size
		m.Parts = append(m.Parts, manifestPart{Name: partName(rq.bucket, u.UploadID, p.Number), Version: p.Version, Size: p.Size, EC: p.EC,
			Number: p.Number, Checksum: p.Checksum})
	}
	etag := hex.EncodeToString(sums.Sum(nil)) + "-" + strconv.Itoa(len(req.Parts))
	sum, err := uploadChecksum(u, listed, rq.r.Header.Get(checksumNames[u.ChecksumAlgorithm]))
	if err != nil {
		return err
	}
	data, _ := json.Marshal(m)
	overtaken := false // a later write of the key is current: this object was never indexed
	e, err := s.storeVersion(ctx, g, meta.ObjectEntry{Key: rq.key, Size: size, ETag: etag, ContentType: u.ContentType,
		UserMeta: u.UserMeta, ACL: u.ACL, Lock: s.withDefaultRetention(u.Lock, b), Tags: u.Tags, Checksum: sum, Parts: uploadParts(u.UploadID, listed)}, int64(len(data)), bytes.NewReader(data), nil,
		func(ctx context.Context, e meta.ObjectEntry, versioned bool) (meta.WriteResult, error) {
			return s.commitCompletion(ctx, &g, u, e, versioned, &overtaken)
		})
	if errors.Is(err, meta.ErrNotFound) {
		return ErrNoSuchUpload // aborted while this completed: its parts are going
	}
	if err != nil {
		return err
	}
	setWrittenVersionHeader(rq.w, b, e)
	// Parts uploaded but left out of the object are garbage now, and all of them if the
	// object lost to a later write (its manifest was retracted; the upload has ended).
	used := map[int]bool{}
	for _, p := range req.Parts {
		used[p.PartNumber] = !overtaken
	}
	for _, p := range stored {
		if !used[p.Number] {
			s.dropPart(ctx, partName(rq.bucket, u.UploadID, p.Number), p.EC)
		}
	}
	out := xmlCompleteResult{Location: "/" + rq.bucket + "/" + rq.key, Bucket: rq.bucket, Key: rq.key, ETag: `"` + etag + `"`}
	if sum != nil {
		out.xmlChecksum = *checksumXML(sum, true)
	}
	return writeXML(rq.w, http.StatusOK, out)
}

// commitCompletion indexes e, a completed upload's object, under grant g and ends upload
// u (meta.Index.CompleteUpload). A bucket record changed since g was decided is read
// again and the completion decided again, as commitWrite does for a PUT; a completion a
// later write overtook answers proxy.ErrOvertaken (setting *overtaken), so its manifest is
// retracted. The part rows an ended upload leaves behind are garbage, not a failure.
func (s *Server) commitCompletion(ctx context.Context, g *writeGrant, u meta.Upload, e meta.ObjectEntry, versioned bool, overtaken *bool) (meta.WriteResult, error) {
	idx := s.meta.Index(e.Bucket)
	for attempt := 0; ; attempt++ {
		res, err := idx.CompleteUpload(ctx, u, e, versioned, g.mod)
		if errors.Is(err, meta.ErrConflict) && attempt == 0 {
			changed, rerr := s.regrant(ctx, g)
			if rerr != nil {
				return res, rerr
			}
			if changed {
				continue
			}
		}
		var left *meta.LeftoverError
		if errors.As(err, &left) {
			s.log.Warn("completed upload's part rows left behind", "bucket", e.Bucket, "err", left.Err)
			err = nil
		}
		if err == nil && !res.Applied && s.overtakenCompletion(ctx, g.b, e, versioned) {
			*overtaken = true
			return res, proxy.ErrOvertaken
		}
		return res, err
	}
}

// overtakenCompletion reports whether the object of a completed upload, which a write
// stamped later kept from becoming current, is to be retracted (its upload has ended all
// the same). Without versioning it was never indexed. With versioning suspended it is a
// null version in the history, beside the later null version that replaces it: it leaves
// the history here, unless Object Lock keeps it. With versioning enabled (or re-enabled
// meanwhile) it stays, a noncurrent version.
func (s *Server) overtakenCompletion(ctx context.Context, b meta.Bucket, e meta.ObjectEntry, versioned bool) bool {
	if !versioned {
		return true
	}
	if b.Versioning != meta.VersioningSuspended {
		return false
	}
	if _, newer := s.nullVersions(ctx, b.Name, e.Key, e.Version); !newer {
		return false
	}
	if _, err := s.meta.Index(b.Name).DeleteVersionIf(ctx, b.Name, e.Key, e.Version, s.unlockedVersion(false)); err != nil {
		s.log.Warn("drop an overtaken completion's null version", "bucket", b.Name, "err", err)
		return false
	}
	return true
}

func (s *Server) abortUpload(rq *request, q url.Values) error {
	ctx := rq.r.Context()
	_, u, err := s.upload(ctx, rq, q, "s3:AbortMultipartUpload")
	if err != nil {
		return err
	}
	if err := s.abort(ctx, u, s.meta.Index(rq.bucket).AbortUpload); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listParts(rq *request, q url.Values) error {
	ctx := rq.r.Context()
	_, u, err := s.upload(ctx, rq, q, "s3:ListMultipartUploadParts")
	if err != nil {
		return err
	}
	max, err := countArg("max-parts", q.Get("max-parts"), 1000, "")
	if err != nil {
		return err
	}
	max = min(max, 1000)
	marker, err := countArg("part-number-marker", q.Get("part-number-marker"), 0, "")
	if err != nil {
		return err
	}
	parts, err := s.meta.Index(rq.bucket).ListParts(ctx, rq.bucket, u.UploadID)
	if err != nil {
		return err
	}
	out := xmlListParts{Bucket: rq.bucket, Key: rq.key, UploadID: u.UploadID, PartNumberMarker: marker,
		MaxParts: max, StorageClass: "STANDARD"}
	for _, p := range parts {
		if p.Number <= marker {
			continue
		}
		if len(out.Parts) == max {
			out.IsTruncated = true
			break
		}
		out.Parts = append(out.Parts, struct {
			PartNumber   int    `xml:"PartNumber"`
			LastModified string `xml:"LastModified"`
			ETag         string `xml:"ETag"`
			Size         int64  `xml:"Size"`
			xmlChecksum
		}{p.Number, isoTime(lastModified(p.Version)), `"` + p.ETag + `"`, p.Size, partChecksumXML(p.Checksum)})
		out.NextPartNumberMarker = p.Number
	}
	return writeXML(rq.w, http.StatusOK, out)
}

// abort ends upload u: forget removes it from the index, then its parts' bytes are dropped.
func (s *Server) abort(ctx context.Context, u meta.Upload, forget func(context.Context, meta.Upload) error) error {
	parts, err := s.meta.Index(u.Bucket).ListParts(ctx, u.Bucket, u.UploadID)
	if err != nil {
		return err
	}
	if err := forget(ctx, u); err != nil {
		return err
	}
	for _, p := range parts {
		s.dropPart(ctx, partName(u.Bucket, u.UploadID, p.Number), p.EC)
	}
	return nil
}

// dropPart is dropData for a part, which may be erasure-coded.
func (s *Server) dropPart(ctx context.Context, name string, ec *meta.ECStorage) {
	if ec == nil {
		s.dropData(ctx, name)
		return
	}
	s.dropReplaced(ctx, replacedData{ec: ec, name: name}, s.data.Stamp())
}

// uploadParts names the parts a completion from listed uses, for its index entry.
func uploadParts(uploadID string, listed []meta.Part) *meta.UploadParts {
	up := &meta.UploadParts{Upload: uploadID}
	for i, p := range listed {
		if p.Number != i+1 {
			up.Numbers = make([]int, len(listed))
			for j, q := range listed {
				up.Numbers[j] = q.Number
			}
			break
		}
	}
	return up
}

// entryParts returns the parts of a multipart object's entry, named from its Parts; known
// is false for a multipart entry completed before entries named their parts.
func entryParts(e meta.ObjectEntry) (parts []manifestPart, known bool) {
	if e.DeleteMarker || !isMultipartETag(e.ETag) {
		return nil, true
	}
	if e.Parts == nil {
		return nil, false
	}
	nums := e.Parts.Numbers
	if nums == nil {
		n, err := strconv.Atoi(e.ETag[strings.LastIndexByte(e.ETag, '-')+1:])
		if err != nil || n < 1 || n > 10000 {
			return nil, false
		}
		for i := 1; i <= n; i++ {
			nums = append(nums, i)
		}
	}
	for _, n := range nums {
		parts = append(parts, manifestPart{Name: partName(e.Bucket, e.Parts.Upload, n), Number: n})
	}
	return parts, true
}

// dropData tombstones an object's bytes that nothing indexes any more. Failures only
// leave garbage behind, so they are logged, not returned.
func (s *Server) dropData(ctx context.Context, name string) {
	if _, err := s.data.Delete(context.WithoutCancel(ctx), name, nil); err != nil {
		s.log.Warn("drop unreferenced data", "key", name, "err", err)
	}
}

// readManifest loads the parts list of a multipart object.
func (s *Server) readManifest(ctx context.Context, e meta.ObjectEntry) (manifest, error) {
	var m manifest
	obj, err := s.data.Get(ctx, dataName(e), hlc.Timestamp(e.Version), nil)
	if err != nil {
		return m, err
	}
	defer obj.Body.Close()
	data, err := io.ReadAll(io.LimitReader(obj.Body, 8<<20))
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("manifest of %s/%s: %w", e.Bucket, e.Key, err)
	}
	return m, nil
}

// copyParts writes length bytes of a multipart object from offset, part by part.
func (s *Server) copyParts(ctx context.Context, w io.Writer, m manifest, offset, length int64) error {
	for _, p := range m.Parts {
		if length == 0 {
			return nil
		}
		if offset >= p.Size {
			offset -= p.Size
			continue
		}
		n := min(p.Size-offset, length)
		get := s.data.Get
		if p.EC != nil {
			get = func(ctx context.Context, name string, v hlc.Timestamp, rng *objclient.Range) (*objclient.Object, error) {
				return s.data.GetEC(ctx, codeOf(p.EC), name, v, p.Size, rng)
			}
		}
		obj, err := get(ctx, p.Name, hlc.Timestamp(p.Version), rangeOf(offset, n, p.Size))
		if err != nil {
			return err
		}
		_, err = io.CopyN(w, obj.Body, n)
		obj.Body.Close()
		if err != nil {
			return err
		}
		offset, length = 0, length-n
	}
	return nil
}

type xmlListUploads struct {
	XMLName            xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListMultipartUploadsResult"`
	Bucket             string   `xml:"Bucket"`
	KeyMarker          string   `xml:"KeyMarker"`
	UploadIDMarker     string   `xml:"UploadIdMarker"`
	NextKeyMarker      string   `xml:"NextKeyMarker,omitempty"`
	NextUploadIDMarker string   `xml:"NextUploadIdMarker,omitempty"`
	Prefix             string   `xml:"Prefix"`
	Delimiter          string   `xml:"Delimiter,omitempty"`
	MaxUploads         int      `xml:"MaxUploads"`
	EncodingType       string   `xml:"EncodingType,omitempty"`
	IsTruncated        bool     `xml:"IsTruncated"`
	Uploads            []struct {
		Key          string   `xml:"Key"`
		UploadID     string   `xml:"UploadId"`
		Initiator    xmlOwner `xml:"Initiator"`
		Owner        xmlOwner `xml:"Owner"`
		StorageClass string   `xml:"StorageClass"`
		Initiated    string   `xml:"Initiated"`
	} `xml:"Upload"`
	CommonPrefixes []xmlPrefix `xml:"CommonPrefixes"`
}

// listUploads serves GET ?uploads: the uploads in progress, by key then upload ID.
func (s *Server) listUploads(rq *request, q url.Values) error {
	ctx := rq.r.Context()
	b, err := s.authorize(ctx, rq, "s3:ListBucketMultipartUploads", "")
	if err != nil {
		return err
	}
	max, err := countArg("max-uploads", q.Get("max-uploads"), 1000, "")
	if err != nil {
		return err
	}
	max = min(max, 1000)
	enc, encName, err := encodingFn(q)
	if err != nil {
		return err
	}
	prefix, keyMarker, idMarker := q.Get("prefix"), q.Get("key-marker"), q.Get("upload-id-marker")
	delimiter := q.Get("delimiter")
	out := xmlListUploads{Bucket: rq.bucket, KeyMarker: enc(keyMarker), UploadIDMarker: idMarker, Prefix: enc(prefix), MaxUploads: max,
		EncodingType: encName, Delimiter: enc(delimiter)}
	// Upload records are keyed "bucket/key\x00uploadID" in meta, so they list in S3's order.
	after := ""
	if keyMarker != "" {
		after = rq.bucket + "/" + keyMarker + "\x00" + idMarker
		if idMarker == "" {
			after = rq.bucket + "/" + keyMarker + "\x00\U0010FFFF"
		}
		if delimiter != "" && commonPrefix(keyMarker, prefix, delimiter) == keyMarker {
			after = rq.bucket + "/" + keyMarker + maxKeyRune // the page before ended with this common prefix
		}
	}
	for {
		items, more, err := s.meta.List(ctx, meta.TableUploads, rq.bucket+"/"+prefix, after, max+1)
		if err != nil {
			return err
		}
		rolledUp := false
		for _, it := range items {
			var u meta.Upload
			if err := json.Unmarshal(it.Value, &u); err != nil {
				return fmt.Errorf("upload record %q: %w", it.Key, err)
			}
			if len(out.Uploads)+len(out.CommonPrefixes) == max {
				out.IsTruncated = true
				return writeXML(rq.w, http.StatusOK, out)
			}
			if cp := commonPrefix(u.Key, prefix, delimiter); cp != "" {
				// The uploads under the prefix count once; the next read starts past them.
				out.CommonPrefixes = append(out.CommonPrefixes, xmlPrefix{enc(cp)})
				out.NextKeyMarker, out.NextUploadIDMarker = enc(cp), ""
				after, rolledUp = rq.bucket+"/"+cp+maxKeyRune, true
				break
			}
			owner := *entryOwner(b, meta.ObjectEntry{ACL: u.ACL}) // the object's owner-to-be
			out.Uploads = append(out.Uploads, struct {
				Key          string   `xml:"Key"`
				UploadID     string   `xml:"UploadId"`
				Initiator    xmlOwner `xml:"Initiator"`
				Owner        xmlOwner `xml:"Owner"`
				StorageClass string   `xml:"StorageClass"`
				Initiated    string   `xml:"Initiated"`
			}{enc(u.Key), u.UploadID, owner, owner, "STANDARD", isoTime(u.Initiated)})
			out.NextKeyMarker, out.NextUploadIDMarker = enc(u.Key), u.UploadID
			after = it.Key
		}
		if !rolledUp && (!more || len(items) == 0) {
			out.NextKeyMarker, out.NextUploadIDMarker = "", ""
			return writeXML(rq.w, http.StatusOK, out)
		}
	}
}

// uploadPartCopy serves UploadPart with x-amz-copy-source: a part copied from (a range
// of) an existing object.
func (s *Server) uploadPartCopy(rq *request, q url.Values, n int, b meta.Bucket, u meta.Upload) error {
	ctx := rq.r.Context()
	var length int64
	_, body, err := s.openSource(ctx, rq, func(src meta.ObjectEntry) (int64, int64, error) {
		offset, n := int64(0), src.Size
		if spec := rq.r.Header.Get("X-Amz-Copy-Source-Range"); spec != "" {
			r, err := parseRange(spec, src.Size)
			if err != nil || r == nil {
				return 0, 0, errorf(ErrInvalidArgument, "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
			}
			offset, n = r.Offset, r.Length
		}
		if n > maxPartBytes {
			return 0, 0, ErrEntityTooLarge
		}
		length = n
		return offset, n, nil
	})
	if err != nil {
		return err
	}
	defer body.Close()
	data, check, sum := copiedPartChecksum(body, u.ChecksumAlgorithm)
	etag, version, err := s.putPart(rq, b, u, n, data, length, check, sum)
	if err != nil {
		return err
	}
	return writeXML(rq.w, http.StatusOK, struct {
		XMLName      xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CopyPartResult"`
		LastModified string   `xml:"LastModified"`
		ETag         string   `xml:"ETag"`
		xmlChecksum
	}{LastModified: isoTime(lastModified(version)), ETag: `"` + etag + `"`, xmlChecksum: partChecksumXML(sum)})
}
