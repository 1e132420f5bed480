package client

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

func TestRecordRoundTrip(t *testing.T) {
	want := Record{Kind: KindData, Info: Info{Name: "a/b ü", Timestamp: 0x1234, Length: 10,
		Checksum: 0xdeadbeef, ContentType: "text/plain", Meta: map[string]string{"k": "v"}}}
	b, err := want.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if len(b)%recordHeaderAlgn != 0 || int64(len(b)) != want.HeaderLen {
		t.Fatalf("header length %d, HeaderLen %d", len(b), want.HeaderLen)
	}
	got, err := ReadRecord(bytes.NewReader(append(b, "0123456789"...)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if _, err := ReadRecord(bytes.NewReader(nil)); err != io.EOF {
		t.Fatalf("empty stream: %v, want io.EOF", err)
	}
	for i := range b {
		bad := bytes.Clone(b)
		bad[i] ^= 0x40
		if _, err := ReadRecord(bytes.NewReader(bad)); !errors.Is(err, ErrBadRecord) {
			t.Fatalf("flipped byte %d: err = %v, want ErrBadRecord", i, err)
		}
	}
	if _, err := ReadRecord(bytes.NewReader(b[:len(b)-1])); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("truncated: %v", err)
	}
}

func FuzzReadRecord(f *testing.F) {
	r := Record{Kind: KindTombstone, Info: Info{Name: "x", Timestamp: 7}}
	b, _ := r.MarshalBinary()
	f.Add(b)
	f.Add([]byte("STRX"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := ReadRecord(bytes.NewReader(data))
		if err != nil {
			return
		}
		enc, err := rec.MarshalBinary()
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		again, err := ReadRecord(bytes.NewReader(enc))
		if err != nil || !reflect.DeepEqual(again.Info, rec.Info) || again.Kind != rec.Kind {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, rec)
		}
	})
}

func TestParseRange(t *testing.T) {
	cases := []struct {
		name, h string
		size    int64
		want    Range
		err     error
	}{
		{"closed", "bytes=2-5", 10, Range{2, 4}, nil},
		{"open", "bytes=7-", 10, Range{7, 3}, nil},
		{"suffix", "bytes=-3", 10, Range{7, 3}, nil},
		{"suffix longer than object", "bytes=-30", 10, Range{0, 10}, nil},
		{"end past object", "bytes=8-100", 10, Range{8, 2}, nil},
		{"start past object", "bytes=10-", 10, Range{}, ErrRange},
		{"multi", "bytes=1-2,4-5", 10, Range{}, ErrInvalid},
		{"reversed", "bytes=5-2", 10, Range{}, ErrInvalid},
		{"garbage", "items=1-2", 10, Range{}, ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRange(tc.h, tc.size)
			if !errors.Is(err, tc.err) || (err == nil && got != tc.want) {
				t.Fatalf("ParseRange(%q, %d) = %+v, %v; want %+v, %v", tc.h, tc.size, got, err, tc.want, tc.err)
			}
		})
	}
}

func TestNames(t *testing.T) {
	for _, name := range []string{"../../etc/passwd", "a/./b", "..", "ü", string(make([]byte, 0)) + "x"} {
		got, err := DecodeName(EncodeName(name))
		if err != nil || got != name {
			t.Errorf("round trip %q: %q, %v", name, got, err)
		}
	}
	long := string(bytes.Repeat([]byte("a"), 2048))
	for _, bad := range []string{"", "a\x00b", long, "\xff"} {
		if _, err := DecodeName(EncodeName(bad)); !errors.Is(err, ErrInvalid) {
			t.Errorf("DecodeName(%q...) = %v, want ErrInvalid", bad[:min(len(bad), 8)], err)
		}
	}
}

func FuzzParseRange(f *testing.F) {
	f.Add("bytes=0-10", int64(100))
	f.Add("bytes=-5", int64(3))
	f.Add("bytes=7-", int64(7))
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			return
		}
		r, err := ParseRange(h, size)
		if err != nil {
			return
		}
		if r.Offset < 0 || r.Length <= 0 || r.Offset+r.Length > size {
			t.Fatalf("ParseRange(%q, %d) = %+v: outside the object", h, size, r)
		}
	})
}
