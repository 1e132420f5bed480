package s3api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"stratus/internal/hlc"
	meta "stratus/meta/client"
	objclient "stratus/objectd/client"
	"stratus/proxy"
)

// Versions. In a bucket whose versioning is enabled every write keeps its bytes under a
// name of its own (versionName) and its index entry in the version history, so older
// versions stay readable by ID. Objects written while versioning was off, or suspended,
// are the "null" version: their bytes too have a name of their own (entry marked Null),
// and the next null write removes them once its commit has replaced them. Entries from
// before that have no Data: their bytes are at the object's own name (objectName). Version
// IDs are the writes' timestamps in hex.

// nullVersion is the ID of the version written while versioning was off or suspended.
const nullVersion = "null"

// versionName is where a version of a versioned bucket keeps its bytes: ".v/bucket/<id>-<tag>/key",
// or with the key's SHA-256 when that passes the storage name limit. Bucket names never
// start with ".", so these never collide with objectName.
//
// A random tag follows the stamp: two proxies may stamp the same version, and the write the
// index then refuses (it never replaces an indexed version) must not share, and so on
// retraction delete, the bytes of the version it collided with.
func versionName(bucket, key string, v hlc.Timestamp) string {
	var tag [4]byte
	rand.Read(tag[:])
	dir := ".v/" + bucket + "/" + v.String() + "-" + hex.EncodeToString(tag[:]) + "/"
	if name := dir + key; len(name) <= objclient.MaxNameBytes {
		return name
	}
	sum := sha256.Sum256([]byte(key))
	return dir + "#" + hex.EncodeToString(sum[:])
}

// dataName is where an index entry's bytes live.
func dataName(e meta.ObjectEntry) string {
	if e.Data != "" {
		return e.Data
	}
	return objectName(e.Bucket, e.Key)
}

// versionID is the ID clients see for an entry.
func versionID(e meta.ObjectEntry) string {
	if isNull(e) && (!e.DeleteMarker || e.NullMarker) {
		return nullVersion
	}
	return hlc.Timestamp(e.Version).String()
}

// isNull reports whether e's bytes (if any) are a null version's: at the object's own
// name (entries written before null versions had names of their own), or at one of its own
// marked Null.
func isNull(e meta.ObjectEntry) bool {
	return e.Data == "" || e.Null
}

// writeTarget is where a new version goes and how it is indexed.
type writeTarget struct {
	name      string
	ts        hlc.Timestamp // zero: the proxy stamps the write
	versioned bool          // recorded in the version history
	own       bool          // the version has bytes of its own (Data in the entry)
	null      bool          // the version is the key's null version
}

// target decides where a write to key in bucket b goes.
func (s *Server) target(b meta.Bucket, key string) writeTarget {
	switch b.Versioning {
	case meta.VersioningEnabled:
		ts := s.data.Stamp()
		return writeTarget{name: versionName(b.Name, key, ts), ts: ts, versioned: true, own: true}
	}
	// A null version too gets a name of its own, never the object's: a write that fails
	// after some replicas took it retracts only its own name, and so never destroys the
	// version the index still names (a node keeps only a name's newest version). The
	// version it replaces is dropped once the commit has replaced it.
	ts := s.data.Stamp()
	return writeTarget{name: versionName(b.Name, key, ts), ts: ts, versioned: b.Versioning == meta.VersioningSuspended, own: true, null: true}
}

// storeVersion writes length bytes of body as a new version of e.Key in g's bucket and
// indexes it with e's metadata. check, if set, vets the content's MD5 before any replica
// stores it; index, if set, replaces the plain commit (completing a multipart upload
// indexes differently) and returns what it did, or proxy.ErrOvertaken to have the bytes
// retracted. e.ETag, if empty, becomes the content's MD5. It returns the indexed entry.
//
// The plain commit is one transaction (meta.WriteTx): it checks that the bucket record is
// still g's, indexes the entry (last writer wins), and with versioning suspended removes
// the null version it replaces from the history; it returns the entry it replaced, whose
// multipart parts are then garbage. A write that lost last-writer-wins to a later one is
// not indexed and its bytes are retracted; it still succeeds, as an overwritten write does
// in S3.
func (s *Server) storeVersion(ctx context.Context, g writeGrant, e meta.ObjectEntry, length int64, body io.Reader,
	check func(md5 []byte) error, index func(context.Context, meta.ObjectEntry, bool) (meta.WriteResult, error)) (meta.ObjectEntry, error) {
	b := g.b
	t := s.target(b, e.Key)
	plain := index == nil // a completion's index call also ends its upload: it always runs
	e.Bucket, e.Data, e.Null = b.Name, t.entryData(), t.null
	// check runs before the replicas complete the write: a refused body must not replace
	// the version they hold.
	req := proxy.PutRequest{Name: t.name, Timestamp: t.ts, Length: length, ContentType: e.ContentType, Meta: e.UserMeta,
		Verify: check}
	deleted := false
	var ecs *meta.ECStorage
	var err error
	if plain { // a completion stores its manifest, which stays whole: its parts are coded
		if ecs, err = s.ecStorage(ctx, b, length); err != nil {
			return e, err
		}
	}
	e.EC = ecs
	put := s.data.Put
	if ecs != nil {
		put = func(ctx context.Context, req proxy.PutRequest, body io.Reader, commit func(context.Context, proxy.PutResult) error) (proxy.PutResult, error) {
			return s.data.PutEC(ctx, codeOf(ecs), req, body, commit)
		}
	}
	var garbage []meta.ObjectEntry // entries the write replaced for good
	coded := s.codedParts(ctx, b, e.Key)
	_, err = put(ctx, req, body, func(ctx context.Context, res proxy.PutResult) error {
		if e.ETag == "" {
			e.ETag = hex.EncodeToString(res.MD5[:])
		}
		e.Version = uint64(res.Timestamp)
		if res.DeletedAfter && plain {
			// A delete stamped after this write has removed the key already: this write
			// comes before it, and indexing it now would undo the delete.
			deleted = true
			return nil
		}
		if !plain {
			res, err := index(ctx, e, t.versioned)
			if err != nil {
				return err // proxy.ErrOvertaken included: the bytes are retracted
			}
			garbage = s.replacedGarbage(res, b, e)
			return nil
		}
		var err error
		garbage, err = s.commitWrite(ctx, &g, e, t)
		return err
	})
	if err != nil {
		return e, dataError(err)
	}
	if !deleted {
		for _, old := range garbage {
			s.dropGarbage(ctx, old, coded, hlc.Timestamp(e.Version))
		}
		if !plain && b.Versioning == meta.VersioningSuspended {
			s.dropOlderNulls(ctx, b, e.Key, e.Version)
		}
	}
	return e, nil
}

// dropOlderNulls removes, once a completed multipart upload is indexed as the null version
// of key at v in a suspended bucket, the null versions it replaced from the history, and
// their bytes (its commit also ends the upload, so it is not a meta.WriteTx that drops
// them itself).
func (s *Server) dropOlderNulls(ctx context.Context, b meta.Bucket, key string, v uint64) {
	older, _ := s.nullVersions(ctx, b.Name, key, v)
	for _, old := range older {
		gone, err := s.meta.Index(b.Name).DeleteVersionIf(ctx, b.Name, key, old.Version, s.unlockedVersion(false))
		if err != nil {
			s.log.Warn("drop replaced null version", "bucket", b.Name, "err", err)
			continue
		}
		s.dropNullData(ctx, gone, nil)
	}
}

// commitWrite indexes e, written to t, under grant g (see storeVersion) and returns the
// entries it replaced for good. It returns proxy.ErrOvertaken for a write that lost
// last-writer-wins as a null version (or at a shared name), so its bytes are retracted.
func (s *Server) commitWrite(ctx context.Context, g *writeGrant, e meta.ObjectEntry, t writeTarget) ([]meta.ObjectEntry, error) {
	idx := s.meta.Index(e.Bucket)
	for attempt := 0; ; attempt++ {
		w := meta.WriteTx{Entry: e, Versioned: t.versioned, BucketMod: g.mod}
		if g.b.Versioning == meta.VersioningSuspended {
			nulls, curMod, newer, err := s.replacedNull(ctx, e.Bucket, e.Key, e.Version, attempt > 0)
			if err != nil {
				return nil, err
			}
			if newer {
				return nil, proxy.ErrOvertaken // a later null write replaced this one already
			}
			w.Drop, w.CheckCurrent, w.CurrentMod = nulls, true, curMod
		}
		res, err := idx.WriteTx(ctx, w)
		if errors.Is(err, meta.ErrConflict) && attempt < maxNullRetries {
			// The bucket record changed (decide again), or the current entry or a null
			// version being dropped did (read again); otherwise the version is indexed
			// already, which is an error.
			changed, rerr := s.regrant(ctx, g)
			if rerr != nil {
				return nil, rerr
			}
			if changed || w.CheckCurrent {
				continue
			}
		}
		if err != nil {
			return nil, err
		}
		if !res.Applied && (!t.own || t.null) {
			// A null write that lost last-writer-wins is overwritten: its bytes go.
			return nil, proxy.ErrOvertaken
		}
		return append(w.Drop, s.replacedGarbage(res, g.b, e)...), nil
	}
}

// replacedGarbage returns the entry a commit of e in bucket b reports it replaced for good:
// without versioning, the version it replaced as current (kept in the history otherwise).
func (s *Server) replacedGarbage(res meta.WriteResult, b meta.Bucket, e meta.ObjectEntry) []meta.ObjectEntry {
	if res.ReplacedUnknown {
		s.log.Warn("replaced entry unknown after a retried commit: its bytes and parts, if any, stay", "bucket", e.Bucket)
	}
	if r := res.Replaced; r != nil && b.Versioning == meta.VersioningOff && r.Version != e.Version {
		return []meta.ObjectEntry{*r}
	}
	return nil
}

// nullVersions returns the null versions of key in the version history older than
// version (a null delete marker among them), and whether one is newer.
func (s *Server) nullVersions(ctx context.Context, bucket, key string, version uint64) (older []meta.ObjectEntry, newer bool) {
	for _, old := range s.versionsOf(ctx, bucket, key) {
		if versionID(old) != nullVersion {
			continue
		}
		if old.Version >= version {
			newer = newer || old.Version > version
			continue
		}
		if deletable(old, s.now(), false) == nil {
			older = append(older, old)
		}
	}
	return older, newer
}

// entryData is the Data field of an entry written to t.
func (t writeTarget) entryData() string {
	if t.own {
		return t.name
	}
	return ""
}

// dropGarbage removes the data of old, an entry a write at ts replaced for good: the
// fragment archives of an erasure-coded version (tombstoned at ts, see dropReplaced), or
// the whole copies of another, and the parts of a multipart one, named by its entry; coded
// gives the coding of the parts an erasure-coded bucket coded (codedParts). The write went
// to a name of its own, so old's bytes stay at theirs until removed here; the whole copies
// get tombstones just after old's own version, which at the object's own name (where old
// entries live) no later write there can be older than.
func (s *Server) dropGarbage(ctx context.Context, old meta.ObjectEntry, coded map[string]*meta.ECStorage, ts hlc.Timestamp) {
	if old.DeleteMarker {
		return
	}
	if old.EC != nil {
		s.dropReplaced(ctx, replacedData{ec: old.EC, name: dataName(old)}, ts)
		return
	}
	if err := s.data.Tombstones(context.WithoutCancel(ctx), dataName(old), hlc.Timestamp(old.Version+1)); err != nil {
		s.log.Warn("drop the bytes of a replaced version", "bucket", old.Bucket, "err", err)
	}
	parts, known := entryParts(old)
	if !known {
		s.log.Warn("replaced a multipart object whose entry does not name its parts: they stay", "bucket", old.Bucket)
	}
	for i := range parts {
		parts[i].EC = coded[parts[i].Name]
	}
	s.dropParts(ctx, parts)
}

// codedParts returns, for a write to key in an erasure-coded bucket, the coding of the
// parts of the multipart object it may replace, by part name. An entry names its
// parts but not how each was stored, which only the object's manifest says; the manifest
// is read now, before the write may overwrite it. Stale: a part missed in a race is
// tombstoned as a whole copy and its archives stay as garbage, never a dangling reference.
func (s *Server) codedParts(ctx context.Context, b meta.Bucket, key string) map[string]*meta.ECStorage {
	if b.Versioning == meta.VersioningEnabled {
		return nil
	}
	if p, err := s.storagePolicy(ctx, b); err != nil || !p.IsEC() {
		return nil
	}
	var coded map[string]*meta.ECStorage
	for _, p := range s.partsOf(ctx, b.Name, key).parts {
		if p.EC != nil {
			if coded == nil {
				coded = map[string]*meta.ECStorage{}
			}
			coded[p.Name] = p.EC
		}
	}
	return coded
}

// versionsOf lists every version of one key, newest first, page by page from the last
// version of the page before: a key may have more versions than a page holds.
func (s *Server) versionsOf(ctx context.Context, bucket, key string) []meta.ObjectEntry {
	var out []meta.ObjectEntry
	var below uint64
	for {
		entries, more, err := s.meta.Index(bucket).ListKeyVersions(ctx, bucket, key, below, 1000)
		if err != nil {
			s.log.Warn("list versions", "bucket", bucket, "err", err)
			return out
		}
		out = append(out, entries...)
		if !more || len(entries) == 0 {
			return out
		}
		below = entries[len(entries)-1].Version
	}
}

// resolve finds the entry a request names: the current version, or ?versionId's. It
// returns ErrNoSuchKey or ErrNoSuchVersion, and for a delete marker sets the headers S3
// sets.
func (s *Server) resolve(ctx context.Context, w http.ResponseWriter, bucket, key string, q url.Values) (meta.ObjectEntry, error) {
	idx := s.meta.Index(bucket)
	if !q.Has("versionId") {
		e, err := idx.GetObject(ctx, bucket, key)
		if errors.Is(err, meta.ErrNotFound) {
			if e.DeleteMarker && w != nil {
				w.Header().Set("X-Amz-Delete-Marker", "true")
				w.Header().Set("X-Amz-Version-Id", versionID(e))
			}
			return e, ErrNoSuchKey
		}
		return e, dataError(err)
	}
	vid := q.Get("versionId")
	var e meta.ObjectEntry
	if vid == nullVersion {
		if cur, err := idx.GetObject(ctx, bucket, key); err == nil && isNull(cur) {
			return cur, nil
		}
		found := false
		for _, v := range s.versionsOf(ctx, bucket, key) {
			if versionID(v) == nullVersion { // a version, or a delete marker
				e, found = v, true
				break
			}
		}
		if !found {
			return meta.ObjectEntry{}, ErrNoSuchVersion
		}
	} else {
		v, err := hlc.Parse(vid)
		if err != nil {
			return meta.ObjectEntry{}, argumentError("versionId", vid, "Invalid version id specified")
		}
		e, err = idx.GetObjectVersion(ctx, bucket, key, uint64(v))
		if errors.Is(err, meta.ErrNotFound) {
			return e, ErrNoSuchVersion
		}
		if err != nil {
			return e, dataError(err)
		}
	}
	if e.DeleteMarker {
		if w != nil {
			w.Header().Set("X-Amz-Delete-Marker", "true")
			w.Header().Set("X-Amz-Version-Id", vid)
			w.Header().Set("Last-Modified", lastModified(e.Version).Format(http.TimeFormat))
		}
		return e, ErrMethodNotAllowed
	}
	return e, nil
}

// deleteVersioned serves DELETE in a bucket with versioning on or suspended: without a
// version ID it adds a delete marker, and with versioning suspended also removes the null
// version for good, as S3 does; with one it removes that version for good, bytes and all.
// It sets x-amz-version-id and x-amz-delete-marker in h, if h is not nil. A version under
// Object Lock is not deleted (objectlockenforce.go); bypass asks past GOVERNANCE retention.
func (s *Server) deleteVersioned(ctx context.Context, h http.Header, b meta.Bucket, key, vid string, bypass bool) error {
	bucket := b.Name
	idx := s.meta.Index(bucket)
	if vid == "" {
		marker, err := s.addDeleteMarker(ctx, b, key, nil)
		if err != nil {
			return err
		}
		if h != nil {
			h.Set("X-Amz-Delete-Marker", "true")
			h.Set("X-Amz-Version-Id", versionID(marker))
		}
		return nil
	}
	e, err := s.resolve(ctx, nil, bucket, key, url.Values{"versionId": {vid}})
	if errors.Is(err, ErrNoSuchVersion) || errors.Is(err, ErrNoSuchKey) {
		return nil // S3 answers 204 for a version that is not there
	}
	if err != nil && !errors.Is(err, ErrMethodNotAllowed) { // a marker can be deleted
		return err
	}
	if err := deletable(e, s.now(), bypass); err != nil {
		return err
	}
	if b.Versioning == meta.VersioningOff {
		// No history: the null version is the current entry, deleted only while it is
		// still the one resolved. A write that replaced it meanwhile comes after this
		// delete, and stays.
		if err := s.deleteCurrent(ctx, bucket, key, &e); err != nil && !errors.Is(err, meta.ErrConflict) {
			return err
		}
		if h != nil {
			h.Set("X-Amz-Version-Id", vid)
		}
		return nil
	}
	gone, err := s.removeVersion(ctx, e, func() (meta.ObjectEntry, error) {
		return idx.DeleteVersionIf(ctx, bucket, key, e.Version, s.unlockedVersion(bypass))
	})
	if errors.Is(err, meta.ErrNotFound) {
		return nil // removed meanwhile (a null write replaces the null version): gone, as asked
	}
	if err != nil {
		return err
	}
	if h != nil {
		h.Set("X-Amz-Version-Id", vid)
		if gone.DeleteMarker {
			h.Set("X-Amz-Delete-Marker", "true")
		}
	}
	return nil
}

// addDeleteMarker puts a delete marker on key, stamped now, and returns it. With
// versioning suspended the marker is the key's null version: it replaces the null version
// there was (a version or a marker) in the same transaction, conditional on the current
// entry and the replaced rows as read, so a null write committed in between makes it list
// again instead of leaving two null versions; the replaced version's bytes then go. With
// cur set it adds the marker only while cur is still the current entry (meta.ErrConflict
// otherwise).
func (s *Server) addDeleteMarker(ctx context.Context, b meta.Bucket, key string, cur *meta.ObjectEntry) (meta.ObjectEntry, error) {
	ts := s.data.Stamp()
	idx := s.meta.Index(b.Name)
	suspended := b.Versioning == meta.VersioningSuspended
	marker := meta.ObjectEntry{Bucket: b.Name, Key: key, Version: uint64(ts), DeleteMarker: true}
	if cur != nil && uint64(ts) <= cur.Version {
		// This server's clock is behind the entry's writer's: a marker stamped now would
		// not be current. The expiration waits for a later pass.
		return marker, fmt.Errorf("%s/%s: a marker stamped %d is not after version %d: %w", b.Name, key, ts, cur.Version, meta.ErrConflict)
	}
	if cur != nil && !suspended {
		if err := idx.DeleteCurrentIf(ctx, *cur, uint64(ts), true); err != nil {
			return marker, dataError(err)
		}
		return marker, nil
	}
	marker.NullMarker = suspended
	for attempt := 0; ; attempt++ {
		w := meta.WriteTx{Entry: marker, Versioned: true}
		if suspended {
			nulls, curMod, newer, err := s.replacedNull(ctx, b.Name, key, uint64(ts), attempt > 0)
			if err != nil {
				return marker, dataError(err)
			}
			if cur != nil && curMod != cur.ModIndex {
				return marker, fmt.Errorf("%s/%s changed since read: %w", b.Name, key, meta.ErrConflict)
			}
			if newer {
				// A null write stamped after this delete replaced the null version
				// already: it replaces this marker too, as a later write does.
				return marker, nil
			}
			w.Drop, w.CheckCurrent, w.CurrentMod = nulls, true, curMod
		}
		_, err := idx.WriteTx(ctx, w)
		if errors.Is(err, meta.ErrConflict) && suspended && attempt < maxNullRetries {
			continue // the current entry or a null version changed meanwhile: read again (and, with cur, refuse)
		}
		if errors.Is(err, meta.ErrConflict) {
			if _, _, berr := s.meta.Bucket(ctx, b.Name); errors.Is(berr, meta.ErrNotFound) {
				return marker, ErrNoSuchBucket
			}
		}
		if err != nil {
			return marker, dataError(err)
		}
		for _, old := range w.Drop {
			s.dropNullData(ctx, old, nil)
		}
		return marker, nil
	}
}

// removeVersion removes version e for good: remove takes it out of the index and returns
// what it removed, then its bytes and, for a multipart object, its parts are dropped.
func (s *Server) removeVersion(ctx context.Context, e meta.ObjectEntry, remove func() (meta.ObjectEntry, error)) (meta.ObjectEntry, error) {
	var parts []manifestPart
	if !e.DeleteMarker && isMultipartETag(e.ETag) {
		if m, err := s.readManifest(ctx, e); err == nil {
			parts = m.Parts
		}
	}
	gone, err := remove()
	if err != nil {
		return gone, dataError(err)
	}
	switch {
	case gone.DeleteMarker:
	case isNull(gone):
		s.dropNullData(ctx, gone, parts)
	case gone.EC != nil:
		s.dropReplaced(ctx, replacedData{ec: gone.EC, name: dataName(gone)}, s.data.Stamp())
	default:
		s.dropData(ctx, dataName(gone))
		s.dropParts(ctx, parts)
	}
	return gone, nil
}

// historize puts every current object of a bucket into its version history: when
// versioning is first turned on, the objects already there become their null versions.
func (s *Server) historize(ctx context.Context, bucket string) error {
	idx := s.meta.Index(bucket)
	after := ""
	for {
		entries, more, err := idx.ListObjects(ctx, bucket, "", after, 1000)
		if err != nil {
			return err
		}
		for _, e := range entries {
			// A version already filed (by a concurrent or an earlier, interrupted request)
			// is kept as it is now: the entry listed here may be older than it.
			if err := idx.PutVersion(ctx, e); err != nil && !errors.Is(err, meta.ErrConflict) {
				return err
			}
			after = e.Key
		}
		if !more || len(entries) == 0 {
			return nil
		}
	}
}

type xmlVersionEntry struct {
	Key          string    `xml:"Key"`
	VersionID    string    `xml:"VersionId"`
	IsLatest     bool      `xml:"IsLatest"`
	LastModified string    `xml:"LastModified"`
	ETag         string    `xml:"ETag,omitempty"`
	Size         *int64    `xml:"Size,omitempty"`
	StorageClass string    `xml:"StorageClass,omitempty"`
	Owner        *xmlOwner `xml:"Owner,omitempty"`
}

type xmlVersions struct {
	XMLName             xml.Name          `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListVersionsResult"`
	Name                string            `xml:"Name"`
	Prefix              string            `xml:"Prefix"`
	KeyMarker           string            `xml:"KeyMarker"`
	VersionIDMarker     string            `xml:"VersionIdMarker"`
	NextKeyMarker       string            `xml:"NextKeyMarker,omitempty"`
	NextVersionIDMarker string            `xml:"NextVersionIdMarker,omitempty"`
	MaxKeys             int               `xml:"MaxKeys"`
	EncodingType        string            `xml:"EncodingType,omitempty"`
	Delimiter           string            `xml:"Delimiter,omitempty"`
	IsTruncated         bool              `xml:"IsTruncated"`
	Versions            []xmlVersionEntry `xml:"Version"`
	DeleteMarkers       []xmlVersionEntry `xml:"DeleteMarker"`
	CommonPrefixes      []xmlPrefix       `xml:"CommonPrefixes"`
}

// listVersions serves GET ?versions. A page holds max-keys entries (versions and delete
// markers), newest first within a key; a truncated one names its last entry in
// NextKeyMarker and NextVersionIdMarker, and the next page starts after that version, in
// the middle of its key if need be.
func (s *Server) listVersions(rq *request, q url.Values) error {
	ctx := rq.r.Context()
	b, err := s.authorize(ctx, rq, "s3:ListBucketVersions", "")
	if err != nil {
		return err
	}
	max, err := maxKeys(q, negativeVersionsMaxKeys)
	if err != nil {
		return err
	}
	prefix, keyMarker, vidMarker := q.Get("prefix"), q.Get("key-marker"), q.Get("version-id-marker")
	if vidMarker != "" && keyMarker == "" {
		return argumentError("version-id-marker", vidMarker, "A version-id marker cannot be specified without a key marker.")
	}
	if _, err := hlc.Parse(vidMarker); vidMarker != "" && vidMarker != nullVersion && err != nil {
		// Checked whatever the bucket holds, as S3 does, not only where the marker is used.
		return argumentError("version-id-marker", vidMarker, "Invalid version id specified")
	}
	enc, encName, err := encodingFn(q)
	if err != nil {
		return err
	}
	out := xmlVersions{Name: rq.bucket, Prefix: enc(prefix), KeyMarker: enc(keyMarker), VersionIDMarker: vidMarker, MaxKeys: max,
		EncodingType: encName}
	if d := q.Get("delimiter"); d != "" {
		return s.listVersionsDelimited(rq, b, out, prefix, d, keyMarker, vidMarker, max, enc)
	}
	idx := s.meta.Index(rq.bucket)
	versioned := b.Versioning != meta.VersioningOff
	list := idx.ListObjectVersions
	if !versioned {
		list = idx.ListObjects // no history: the current objects are the null versions
	}
	// The marker key's versions older than the marker come first; none of them is latest.
	var entries []meta.ObjectEntry
	if vidMarker != "" && versioned && strings.HasPrefix(keyMarker, prefix) {
		entries, err = s.versionsAfter(ctx, rq.bucket, keyMarker, vidMarker, max+1)
		if err != nil {
			return err
		}
	}
	continued := len(entries)
	var more bool
	if len(entries) <= max {
		var rest []meta.ObjectEntry
		if rest, more, err = list(ctx, rq.bucket, prefix, keyMarker, max+1-len(entries)); err != nil {
			return err
		}
		entries = append(entries, rest...)
	}
	page := entries[:min(max, len(entries))]
	out.IsTruncated = max > 0 && (len(entries) > max || more)
	if out.IsTruncated && len(page) > 0 {
		last := page[len(page)-1]
		out.NextKeyMarker, out.NextVersionIDMarker = enc(last.Key), versionID(last)
	}
	for i, e := range page {
		latest := i >= continued && (i == 0 || page[i-1].Key != e.Key)
		v := xmlVersionEntry{Key: enc(e.Key), VersionID: versionID(e), IsLatest: latest,
			LastModified: isoTime(lastModified(e.Version)), Owner: entryOwner(b, e)}
		if e.DeleteMarker {
			out.DeleteMarkers = append(out.DeleteMarkers, v)
			continue
		}
		size := e.Size
		v.ETag, v.Size, v.StorageClass = `"`+e.ETag+`"`, &size, "STANDARD"
		out.Versions = append(out.Versions, v)
	}
	return writeXML(rq.w, http.StatusOK, out)
}

// versionsAfter lists up to limit versions of key older than the one vid names ("null"
// for the null version), newest first: where a page that ended in the middle of key goes
// on. It reads only as far as it returns, but for "null", which it must find first.
func (s *Server) versionsAfter(ctx context.Context, bucket, key, vid string, limit int) ([]meta.ObjectEntry, error) {
	idx := s.meta.Index(bucket)
	var below uint64
	if vid != nullVersion {
		v, err := hlc.Parse(vid)
		if err != nil {
			return nil, argumentError("version-id-marker", vid, "Invalid version id specified")
		}
		below = uint64(v)
	} else {
		found := false
		for _, e := range s.versionsOf(ctx, bucket, key) {
			if versionID(e) == nullVersion {
				below, found = e.Version, true
				break
			}
		}
		if !found {
			return nil, nil
		}
	}
	var out []meta.ObjectEntry
	for len(out) < limit {
		entries, more, err := idx.ListKeyVersions(ctx, bucket, key, below, limit-len(out))
		if err != nil {
			return nil, dataError(err)
		}
		out = append(out, entries...)
		if !more || len(entries) == 0 {
			break
		}
		below = entries[len(entries)-1].Version
	}
	return out, nil
}

// setWrittenVersionHeader tells the client the ID of the version a write created, where
// versioning is on. A write with versioning suspended makes the null version, and S3 names
// no version for it.
func setWrittenVersionHeader(w http.ResponseWriter, b meta.Bucket, e meta.ObjectEntry) {
	if b.Versioning == meta.VersioningEnabled {
		w.Header().Set("X-Amz-Version-Id", versionID(e))
	}
}

// setVersionHeader tells the client which version a response is about, in buckets that
// have ever had versioning.
func setVersionHeader(w http.ResponseWriter, b meta.Bucket, e meta.ObjectEntry) {
	if b.Versioning != meta.VersioningOff {
		w.Header().Set("X-Amz-Version-Id", versionID(e))
	}
}
