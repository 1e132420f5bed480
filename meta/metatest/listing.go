package metatest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pgregory.net/rapid"

	"stratus/meta/client"
)

// ListCase is a random delimited listing: a set of keys (false: the key's current entry is
// a delete marker), and what to list of them, page by page.
type ListCase struct {
	Keys                     map[string]bool
	Prefix, Delimiter, After string
	Page                     int
}

// keyRunes are what keys are made of: the delimiters below, alone and repeated, a letter
// the delimiters start with, and characters of two, three and four UTF-8 bytes.
var keyRunes = []string{"a", "b", "/", "//", "-", "é", "€", "😀"}

// Delimiters are the delimiters a case uses: none, one byte, several, and multi-byte runes.
var delimiters = []string{"", "/", "/", "//", "a/", "é", "😀"}

// DrawListCase draws a case of up to maxKeys keys. Every key starts with a letter, so it is
// also a good S3 key in a path-style URL.
func DrawListCase(t *rapid.T, maxKeys int) ListCase {
	word := func(label string, min, max int) string {
		parts := rapid.SliceOfN(rapid.SampledFrom(keyRunes), min, max).Draw(t, label)
		return strings.Join(parts, "")
	}
	lc := ListCase{Keys: map[string]bool{}}
	for _, k := range rapid.SliceOfN(rapid.Custom(func(t *rapid.T) string {
		return rapid.SampledFrom([]string{"a", "b", "é"}).Draw(t, "first") + word("rest", 0, 6)
	}), 0, maxKeys).Draw(t, "keys") {
		lc.Keys[k] = rapid.IntRange(0, 9).Draw(t, "live") > 1
	}
	keys := slices.Sorted(mapKeys(lc.Keys))
	lc.Delimiter = rapid.SampledFrom(delimiters).Draw(t, "delimiter")
	if len(keys) > 0 && rapid.Bool().Draw(t, "hasPrefix") {
		k := rapid.SampledFrom(keys).Draw(t, "prefixOf")
		runes := []rune(k)
		lc.Prefix = string(runes[:rapid.IntRange(0, len(runes)).Draw(t, "prefixLen")])
	}
	switch rapid.IntRange(0, 4).Draw(t, "afterKind") {
	case 1:
		lc.After = "a" + word("after", 0, 4)
	case 2:
		if len(keys) > 0 {
			lc.After = rapid.SampledFrom(keys).Draw(t, "afterKey")
		}
	case 3: // a common prefix, as a marker or continuation token ending a page names it
		if len(keys) > 0 {
			lc.After = commonPrefixOf(rapid.SampledFrom(keys).Draw(t, "afterPrefixOf"), lc.Prefix, lc.Delimiter)
		}
	}
	lc.Page = rapid.IntRange(1, 12).Draw(t, "page")
	return lc
}

func mapKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// Row is a row of a listing: a key, or a common prefix.
type Row struct {
	Name   string
	Prefix bool
}

func (r Row) String() string {
	if r.Prefix {
		return r.Name + " (prefix)"
	}
	return r.Name
}

// Model is the listing S3 gives of lc, by brute force: the current keys under Prefix after
// After (all of After, if it is a common prefix), rolled up at Delimiter.
func (lc ListCase) Model() []Row {
	var out []Row
	skip := ""
	if cp := commonPrefixOf(lc.After, lc.Prefix, lc.Delimiter); cp != "" && cp == lc.After {
		skip = cp
	}
	for _, k := range slices.Sorted(mapKeys(lc.Keys)) {
		if !lc.Keys[k] || !strings.HasPrefix(k, lc.Prefix) || k <= lc.After || (skip != "" && strings.HasPrefix(k, skip)) {
			continue
		}
		if cp := commonPrefixOf(k, lc.Prefix, lc.Delimiter); cp != "" {
			if len(out) == 0 || out[len(out)-1] != (Row{cp, true}) {
				out = append(out, Row{cp, true})
			}
			continue
		}
		out = append(out, Row{k, false})
	}
	return out
}

func commonPrefixOf(key, prefix, delimiter string) string {
	if delimiter == "" || !strings.HasPrefix(key, prefix) {
		return ""
	}
	if i := strings.Index(key[len(prefix):], delimiter); i >= 0 {
		return key[:len(prefix)+i+len(delimiter)]
	}
	return ""
}

// TestDelimitedListing checks, over random cases, that ListObjectsDelimited paged at any
// size lists what Model does, never more than a page at a time, with no row twice.
// newIndex returns an index for the given bucket with no objects in it.
func TestDelimitedListing(t *testing.T, newIndex func(bucket string) client.Index) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var n atomic.Int64
	rapid.Check(t, func(rt *rapid.T) {
		lc := DrawListCase(rt, 24)
		bucket := fmt.Sprintf("list%d", n.Add(1))
		idx := newIndex(bucket)
		if err := WriteListCase(ctx, idx, bucket, lc); err != nil {
			rt.Fatal(err)
		}
		want := lc.Model()
		var got []Row
		after := lc.After
		for calls := 0; ; calls++ {
			if calls > len(want)+len(lc.Keys)+2 {
				rt.Fatalf("listing does not end: %v so far", got)
			}
			rows, more, err := idx.ListObjectsDelimited(ctx, bucket, lc.Prefix, lc.Delimiter, after, lc.Page)
			if err != nil {
				rt.Fatal(err)
			}
			if len(rows) > lc.Page {
				rt.Fatalf("%d rows for a page of %d", len(rows), lc.Page)
			}
			for _, r := range rows {
				got = append(got, Row{r.Name(), r.Prefix != ""})
				after = r.Name()
			}
			if !more {
				break
			}
		}
		if !slices.Equal(got, want) {
			rt.Fatalf("listed %v\nwant   %v", got, want)
		}
	})
}

// WriteListCase writes lc's keys to bucket (a live key as an object, any other as a delete
// marker over one), concurrently, so that the catalog commits them in a few rounds.
func WriteListCase(ctx context.Context, idx client.Index, bucket string, lc ListCase) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(lc.Keys))
	for k, live := range lc.Keys {
		wg.Go(func() {
			e := client.ObjectEntry{Bucket: bucket, Key: k, Version: 10, Size: 1, ETag: "e"}
			err := idx.PutObject(ctx, e, !live)
			if err == nil && !live {
				err = idx.DeleteObject(ctx, bucket, k, 11, true)
			}
			if err != nil {
				errs <- fmt.Errorf("write %q: %w", k, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}
