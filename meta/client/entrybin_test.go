package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"pgregory.net/rapid"
)

func genEntry(t *rapid.T) ObjectEntry {
	str := func(label string) string { return rapid.OneOf(rapid.Just(""), rapid.String()).Draw(t, label) }
	e := ObjectEntry{Bucket: str("bucket"), Key: str("key"), Version: rapid.Uint64().Draw(t, "version"),
		Size: rapid.Int64().Draw(t, "size"), ETag: str("etag"), ContentType: str("ctype"),
		DeleteMarker: rapid.Bool().Draw(t, "dm"), Data: str("data")}
	if rapid.Bool().Draw(t, "hasMeta") {
		e.UserMeta = rapid.MapOfN(rapid.String(), rapid.String(), 1, 5).Draw(t, "meta")
	}
	if rapid.Bool().Draw(t, "hasSum") {
		e.Checksum = &Checksum{Algorithm: str("alg"), Value: str("sum"), Composite: rapid.Bool().Draw(t, "composite")}
	}
	if rapid.Bool().Draw(t, "hasTags") {
		e.Tags = []Tag{{Key: str("tk"), Value: str("tv")}}
	}
	if rapid.Bool().Draw(t, "hasLock") {
		e.Lock = &ObjectLock{LegalHold: "ON"}
	}
	if rapid.Bool().Draw(t, "hasEC") {
		e.EC = &ECStorage{Ring: str("ring"), K: 4, M: 2}
	}
	return e
}

// TestEntryBinaryRoundTrip: an entry's binary form decodes to the entry, the same as its
// JSON form does, and both forms are read through the same path.
func TestEntryBinaryRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		e := genEntry(t)
		bin := encodeEntryBinary(e)
		var fromBin, fromJSON ObjectEntry
		if err := decodeJSON(Item{Table: TableObjects, Key: "k", Value: bin}, &fromBin); err != nil {
			t.Fatalf("decode binary: %v", err)
		}
		if err := decodeJSON(Item{Table: TableObjects, Key: "k", Value: encodeJSON(e)}, &fromJSON); err != nil {
			t.Fatalf("decode JSON: %v", err)
		}
		if !reflect.DeepEqual(fromBin, fromJSON) {
			t.Fatalf("binary and JSON forms differ:\n bin %#v\njson %#v", fromBin, fromJSON)
		}
		// JSON is lossy only where ObjectEntry's own tags make it (empty maps and slices);
		// compare with what JSON keeps.
		var want ObjectEntry
		_ = json.Unmarshal(encodeJSON(e), &want)
		if !reflect.DeepEqual(fromBin, want) {
			t.Fatalf("round trip:\n got %#v\nwant %#v", fromBin, want)
		}
		if cut := rapid.IntRange(0, len(bin)-1).Draw(t, "cut"); true {
			if _, err := decodeEntryBinary(bin[:cut]); !errors.Is(err, ErrBadWire) {
				t.Fatalf("truncated at %d of %d: %v", cut, len(bin), err)
			}
		}
	})
}

// TestEntryBinaryWhenConfigured: a client writes the binary form only when told to, and
// the common entry (no nested fields) carries no JSON at all.
func TestEntryBinaryWhenConfigured(t *testing.T) {
	e := ObjectEntry{Bucket: "b", Key: "k", Version: 7, Size: 4096, ETag: "d41d8cd98f00b204e9800998ecf8427e", ContentType: "text/plain"}
	off := &Client{}
	if v := off.encodeEntry(e); v[0] != '{' {
		t.Fatalf("default client wrote % x, want JSON", v[:1])
	}
	on := &Client{cfg: Config{BinaryEntries: true}}
	v := on.encodeEntry(e)
	if v[0] != entryMagic || v[len(v)-1] != 0 {
		t.Fatalf("binary client wrote % x, want the binary form with an empty rest", v)
	}
	if len(v) >= len(encodeJSON(e)) {
		t.Fatalf("binary form %d bytes, JSON %d", len(v), len(encodeJSON(e)))
	}
}

// FuzzDecodeEntry: no input makes the entry decoder panic; what it accepts re-encodes to
// an encoding that decodes and re-encodes unchanged.
func FuzzDecodeEntry(f *testing.F) {
	f.Add(encodeEntryBinary(ObjectEntry{Bucket: "b", Key: "k", Version: 1, Size: 3, ETag: "e"}))
	f.Add(encodeEntryBinary(ObjectEntry{Bucket: "b", Key: "k", UserMeta: map[string]string{"a": "1", "b": "2"},
		Checksum: &Checksum{Algorithm: "CRC32", Value: "AAAA", Composite: true}, Tags: []Tag{{Key: "t", Value: "v"}}}))
	f.Add([]byte{entryMagic, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := decodeEntryBinary(data)
		if err != nil {
			if !errors.Is(err, ErrBadWire) {
				t.Fatalf("error %v does not match ErrBadWire", err)
			}
			return
		}
		// The rest's JSON may spell an entry several ways ("tags":[] and no tags); its
		// encoding must be stable from the first re-encoding on.
		enc := encodeEntryBinary(e)
		again, err := decodeEntryBinary(enc)
		if err != nil || !bytes.Equal(encodeEntryBinary(again), enc) {
			t.Fatalf("accepted entry does not round-trip: %v", err)
		}
	})
}
