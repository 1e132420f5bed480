package metatest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"stratus/meta/client"
)

// TestIndex is a conformance suite for client.Index implementations (in the manner of
// fstest.TestFS): last-writer-wins puts and deletes, listing with paging, version history with
// delete markers, and multipart upload state. newIndex returns an index for the given bucket
// with no objects in it.
func TestIndex(t *testing.T, newIndex func(bucket string) client.Index) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	t.Run("current", func(t *testing.T) {
		idx := newIndex("photos")
		put := func(key string, v uint64) {
			t.Helper()
			if err := idx.PutObject(ctx, client.ObjectEntry{Bucket: "photos", Key: key, Version: v, Size: int64(v), ETag: fmt.Sprint(v)}, false); err != nil {
				t.Fatal(err)
			}
		}
		put("a.jpg", 10)
		put("a.jpg", 5) // an older write arriving late loses
		put("b.jpg", 1)
		put("dir/c.jpg", 1)
		e, err := idx.GetObject(ctx, "photos", "a.jpg")
		if err != nil || e.Version != 10 || e.ETag != "10" {
			t.Fatalf("get a.jpg = %+v, %v", e, err)
		}
		list, more, err := idx.ListObjects(ctx, "photos", "", "", 2)
		if err != nil || len(list) != 2 || !more || list[0].Key != "a.jpg" || list[1].Key != "b.jpg" {
			t.Fatalf("list = %+v %v %v", list, more, err)
		}
		list, more, err = idx.ListObjects(ctx, "photos", "", "b.jpg", 10)
		if err != nil || len(list) != 1 || more || list[0].Key != "dir/c.jpg" {
			t.Fatalf("list after b.jpg = %+v %v %v", list, more, err)
		}
		list, _, err = idx.ListObjects(ctx, "photos", "dir/", "", 10)
		if err != nil || len(list) != 1 {
			t.Fatalf("list prefix dir/ = %+v %v", list, err)
		}
		if err := idx.DeleteObject(ctx, "photos", "a.jpg", 9, false); err != nil {
			t.Fatal(err)
		}
		if _, err := idx.GetObject(ctx, "photos", "a.jpg"); err != nil {
			t.Fatalf("a delete older than the current version removed it: %v", err)
		}
		if err := idx.DeleteObject(ctx, "photos", "a.jpg", 11, false); err != nil {
			t.Fatal(err)
		}
		if _, err := idx.GetObject(ctx, "photos", "a.jpg"); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("deleted object: %v", err)
		}
	})
	t.Run("versions", func(t *testing.T) {
		idx := newIndex("archive")
		for _, v := range []uint64{1, 3, 2} {
			if err := idx.PutObject(ctx, client.ObjectEntry{Bucket: "archive", Key: "v.txt", Version: v, ETag: fmt.Sprint(v)}, true); err != nil {
				t.Fatal(err)
			}
		}
		if e, err := idx.GetObject(ctx, "archive", "v.txt"); err != nil || e.Version != 3 {
			t.Fatalf("current version = %+v, %v", e, err)
		}
		if err := idx.DeleteObject(ctx, "archive", "v.txt", 4, true); err != nil {
			t.Fatal(err)
		}
		if _, err := idx.GetObject(ctx, "archive", "v.txt"); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("object behind a delete marker: %v", err)
		}
		vers, _, err := idx.ListObjectVersions(ctx, "archive", "v.txt", "", 0)
		if err != nil || len(vers) != 4 {
			t.Fatalf("versions = %+v, %v", vers, err)
		}
		for i, want := range []uint64{4, 3, 2, 1} {
			if vers[i].Version != want {
				t.Fatalf("version %d = %d, want %d (newest first)", i, vers[i].Version, want)
			}
		}
		if !vers[0].DeleteMarker {
			t.Fatal("newest version is not the delete marker")
		}
		old, err := idx.GetObjectVersion(ctx, "archive", "v.txt", 2)
		if err != nil || old.ETag != "2" {
			t.Fatalf("get version 2 = %+v, %v", old, err)
		}
		// One key's versions alone, page by page from below a version: a longer key with
		// this one as prefix never comes back.
		if err := idx.PutObject(ctx, client.ObjectEntry{Bucket: "archive", Key: "v.txt2", Version: 9, ETag: "9"}, true); err != nil {
			t.Fatal(err)
		}
		var got []uint64
		var below uint64
		for page := 0; ; page++ {
			vers, more, err := idx.ListKeyVersions(ctx, "archive", "v.txt", below, 3)
			if err != nil || page > 3 || len(vers) > 3 {
				t.Fatalf("key versions page %d: %+v %v", page, vers, err)
			}
			for _, e := range vers {
				if e.Key != "v.txt" || e.ModIndex == 0 {
					t.Fatalf("key versions: %+v", e)
				}
				got = append(got, e.Version)
			}
			if !more || len(vers) == 0 {
				break
			}
			below = vers[len(vers)-1].Version
		}
		if fmt.Sprint(got) != "[4 3 2 1]" {
			t.Fatalf("key versions = %v, want [4 3 2 1]", got)
		}
		if vers, more, err := idx.ListKeyVersions(ctx, "archive", "v.txt", 2, 10); err != nil || more || len(vers) != 1 || vers[0].Version != 1 {
			t.Fatalf("key versions below 2 = %+v %v %v", vers, more, err)
		}
	})
	t.Run("multipart", func(t *testing.T) {
		idx := newIndex("uploads")
		u := client.Upload{Bucket: "uploads", Key: "big", UploadID: "up1", Initiated: time.Now().UTC()}
		if err := idx.CreateUpload(ctx, u); err != nil {
			t.Fatal(err)
		}
		if err := idx.CreateUpload(ctx, u); !errors.Is(err, client.ErrConflict) {
			t.Fatalf("duplicate upload id: %v", err)
		}
		for n := 3; n >= 1; n-- {
			if err := idx.PutPart(ctx, "uploads", client.Part{UploadID: "up1", Number: n, Size: 5 << 20, ETag: fmt.Sprint(n), Version: 1}); err != nil {
				t.Fatal(err)
			}
		}
		parts, err := idx.ListParts(ctx, "uploads", "up1")
		if err != nil || len(parts) != 3 || parts[0].Number != 1 || parts[2].Number != 3 {
			t.Fatalf("parts = %+v, %v", parts, err)
		}
		if err := idx.PutObject(ctx, client.ObjectEntry{Bucket: "uploads", Key: "big", Version: 1, ETag: "old"}, false); err != nil {
			t.Fatal(err)
		}
		res, err := idx.CompleteUpload(ctx, u, client.ObjectEntry{Bucket: "uploads", Key: "big", Version: 2, Size: 15 << 20, ETag: "x-3"}, false, 0)
		if err != nil || !res.Applied || res.Replaced == nil || res.Replaced.ETag != "old" {
			t.Fatalf("complete = %+v, %v; want applied, replacing version 1", res, err)
		}
		if _, err := idx.Upload(ctx, "uploads", "big", "up1"); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("upload after complete: %v", err)
		}
		if parts, _ := idx.ListParts(ctx, "uploads", "up1"); len(parts) != 0 {
			t.Fatalf("parts after complete: %v", parts)
		}
		if e, err := idx.GetObject(ctx, "uploads", "big"); err != nil || e.ETag != "x-3" {
			t.Fatalf("completed object = %+v, %v", e, err)
		}
		// An upload that ended (completed, or aborted) cannot be completed again.
		if _, err := idx.CompleteUpload(ctx, u, client.ObjectEntry{Bucket: "uploads", Key: "big", Version: 9, ETag: "y-1"}, false, 0); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("complete of an ended upload: %v", err)
		}
		if e, _ := idx.GetObject(ctx, "uploads", "big"); e.ETag != "x-3" {
			t.Fatalf("complete of an ended upload indexed %+v", e)
		}
		// A completion stamped before the current version ends its upload but is not
		// current, and says so.
		u3 := client.Upload{Bucket: "uploads", Key: "big", UploadID: "up3", Initiated: time.Now().UTC()}
		if err := idx.CreateUpload(ctx, u3); err != nil {
			t.Fatal(err)
		}
		if res, err := idx.CompleteUpload(ctx, u3, client.ObjectEntry{Bucket: "uploads", Key: "big", Version: 1, ETag: "z-1"}, false, 0); err != nil || res.Applied || res.Replaced != nil {
			t.Fatalf("complete stamped before the current version = %+v, %v; want not applied", res, err)
		}
		if _, err := idx.Upload(ctx, "uploads", "big", "up3"); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("upload after an overtaken complete: %v", err)
		}
		if e, _ := idx.GetObject(ctx, "uploads", "big"); e.ETag != "x-3" {
			t.Fatalf("overtaken complete indexed %+v", e)
		}
		// AbortUploadIf aborts an upload in progress, and nothing once it has ended.
		u2 := client.Upload{Bucket: "uploads", Key: "big", UploadID: "up2", Initiated: time.Now().UTC()}
		if err := idx.CreateUpload(ctx, u2); err != nil {
			t.Fatal(err)
		}
		if err := idx.PutPart(ctx, "uploads", client.Part{UploadID: "up2", Number: 1, Size: 1, ETag: "1", Version: 1}); err != nil {
			t.Fatal(err)
		}
		if err := idx.AbortUploadIf(ctx, u2); err != nil {
			t.Fatal(err)
		}
		if parts, _ := idx.ListParts(ctx, "uploads", "up2"); len(parts) != 0 {
			t.Fatalf("parts after abort: %v", parts)
		}
		if err := idx.AbortUploadIf(ctx, u2); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("second abort: %v", err)
		}
	})
	t.Run("conditional removals", func(t *testing.T) {
		idx := newIndex("cond")
		put := func(v uint64, versioned bool) {
			t.Helper()
			if err := idx.PutObject(ctx, client.ObjectEntry{Bucket: "cond", Key: "k", Version: v, ETag: fmt.Sprint(v)}, versioned); err != nil {
				t.Fatal(err)
			}
		}
		// Unversioned: the delete happens only while the entry is the one read.
		put(10, false)
		cur, err := idx.GetObject(ctx, "cond", "k")
		if err != nil {
			t.Fatal(err)
		}
		put(11, false)
		if err := idx.DeleteCurrentIf(ctx, cur, 12, false); !errors.Is(err, client.ErrConflict) {
			t.Fatalf("delete of a replaced entry: %v", err)
		}
		cur, _ = idx.GetObject(ctx, "cond", "k")
		if err := idx.DeleteCurrentIf(ctx, cur, 12, false); err != nil {
			t.Fatal(err)
		}
		if _, err := idx.GetObject(ctx, "cond", "k"); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("after the conditional delete: %v", err)
		}
		// Versioned: a marker, only over the version read.
		put(20, true)
		cur, _ = idx.GetObject(ctx, "cond", "k")
		put(21, true)
		if err := idx.DeleteCurrentIf(ctx, cur, 22, true); !errors.Is(err, client.ErrConflict) {
			t.Fatalf("marker over a replaced version: %v", err)
		}
		cur, _ = idx.GetObject(ctx, "cond", "k")
		if err := idx.DeleteCurrentIf(ctx, cur, 22, true); err != nil {
			t.Fatal(err)
		}
		if m, err := idx.GetObjectVersion(ctx, "cond", "k", 22); err != nil || !m.DeleteMarker {
			t.Fatalf("marker = %+v, %v", m, err)
		}
		// Noncurrent removal: refused for the current version, done for an older one.
		put(30, true)
		if _, err := idx.DeleteNoncurrentVersion(ctx, "cond", "k", 30, nil); !errors.Is(err, client.ErrConflict) {
			t.Fatalf("noncurrent removal of the current version: %v", err)
		}
		gone, err := idx.DeleteNoncurrentVersion(ctx, "cond", "k", 20, nil)
		if err != nil || gone.Version != 20 {
			t.Fatalf("noncurrent removal = %+v, %v", gone, err)
		}
		if _, err := idx.GetObjectVersion(ctx, "cond", "k", 20); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("removed version still there: %v", err)
		}
		if e, err := idx.GetObject(ctx, "cond", "k"); err != nil || e.Version != 30 {
			t.Fatalf("current after noncurrent removal = %+v, %v", e, err)
		}
	})
	t.Run("version history", func(t *testing.T) {
		idx := newIndex("hist")
		e := func(v uint64, marker bool) client.ObjectEntry {
			return client.ObjectEntry{Bucket: "hist", Key: "k", Version: v, ETag: fmt.Sprint(v), DeleteMarker: marker}
		}
		// A version from before versioning joins the history without becoming current.
		if err := idx.PutObject(ctx, e(1, false), false); err != nil {
			t.Fatal(err)
		}
		if err := idx.PutVersion(ctx, e(1, false)); err != nil {
			t.Fatal(err)
		}
		for _, x := range []client.ObjectEntry{e(2, false), e(3, true)} {
			if err := idx.PutObject(ctx, x, true); err != nil {
				t.Fatal(err)
			}
		}
		// Pages of nothing but delete markers do not stop a listing.
		if list, _, err := idx.ListObjects(ctx, "hist", "", "", 1); err != nil || len(list) != 0 {
			t.Fatalf("current listing with only a marker = %+v %v", list, err)
		}
		// Deleting the current marker brings version 2 back.
		gone, err := idx.DeleteVersion(ctx, "hist", "k", 3)
		if err != nil || !gone.DeleteMarker {
			t.Fatalf("delete marker version = %+v %v", gone, err)
		}
		if cur, err := idx.GetObject(ctx, "hist", "k"); err != nil || cur.Version != 2 {
			t.Fatalf("current after removing the marker = %+v %v", cur, err)
		}
		// Deleting an older version leaves the current alone.
		if _, err := idx.DeleteVersion(ctx, "hist", "k", 1); err != nil {
			t.Fatal(err)
		}
		if cur, err := idx.GetObject(ctx, "hist", "k"); err != nil || cur.Version != 2 {
			t.Fatalf("current after removing an old version = %+v %v", cur, err)
		}
		// Deleting the last version removes the key.
		if _, err := idx.DeleteVersion(ctx, "hist", "k", 2); err != nil {
			t.Fatal(err)
		}
		if _, err := idx.GetObject(ctx, "hist", "k"); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("key after its last version went = %v", err)
		}
		if _, err := idx.DeleteVersion(ctx, "hist", "k", 2); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("deleting a missing version = %v", err)
		}
	})
	t.Run("update in place", func(t *testing.T) {
		idx := newIndex("attrs")
		tag := func(v string) func(*client.ObjectEntry) error {
			return func(e *client.ObjectEntry) error {
				e.UserMeta = map[string]string{"tag": v}
				e.Version = 999 // ignored: an update never moves an entry
				return nil
			}
		}
		if _, err := idx.UpdateObject(ctx, "attrs", "k", 0, tag("x")); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("updating a missing key = %v", err)
		}
		for _, v := range []uint64{1, 2} {
			if err := idx.PutObject(ctx, client.ObjectEntry{Bucket: "attrs", Key: "k", Version: v, ETag: fmt.Sprint(v)}, true); err != nil {
				t.Fatal(err)
			}
		}
		// The current version changes in both tables; an older one only in the history.
		if e, err := idx.UpdateObject(ctx, "attrs", "k", 0, tag("cur")); err != nil || e.Version != 2 || e.UserMeta["tag"] != "cur" {
			t.Fatalf("update current = %+v, %v", e, err)
		}
		if _, err := idx.UpdateObject(ctx, "attrs", "k", 1, tag("old")); err != nil {
			t.Fatal(err)
		}
		cur, err := idx.GetObject(ctx, "attrs", "k")
		h2, err2 := idx.GetObjectVersion(ctx, "attrs", "k", 2)
		h1, err1 := idx.GetObjectVersion(ctx, "attrs", "k", 1)
		if err != nil || err1 != nil || err2 != nil || cur.Version != 2 || cur.ETag != "2" || cur.UserMeta["tag"] != "cur" ||
			h2.UserMeta["tag"] != "cur" || h1.UserMeta["tag"] != "old" {
			t.Fatalf("after updates: cur %+v (%v), v2 %+v (%v), v1 %+v (%v)", cur, err, h2, err2, h1, err1)
		}
		refused := errors.New("refused")
		if _, err := idx.UpdateObject(ctx, "attrs", "k", 0, func(*client.ObjectEntry) error { return refused }); !errors.Is(err, refused) {
			t.Fatalf("update refusing = %v", err)
		}
		if _, err := idx.UpdateObject(ctx, "attrs", "k", 7, tag("none")); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("updating a missing version = %v", err)
		}
		// An unversioned current entry has no history row.
		if err := idx.PutObject(ctx, client.ObjectEntry{Bucket: "attrs", Key: "plain", Version: 5}, false); err != nil {
			t.Fatal(err)
		}
		if e, err := idx.UpdateObject(ctx, "attrs", "plain", 5, tag("p")); err != nil || e.UserMeta["tag"] != "p" {
			t.Fatalf("update unversioned = %+v, %v", e, err)
		}
	})
}
