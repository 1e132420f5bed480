package objectd

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"stratus/internal/hlc"
	"stratus/objectd/client"
)

// testFrames builds n frames of records and drops of random sizes, and their offsets in the
// concatenation.
func testFrames(t *testing.T, rng *rand.Rand, n int) (seg []byte, offs []int64, frames [][]byte) {
	t.Helper()
	for i := range n {
		var fr []byte
		if rng.IntN(5) == 0 {
			fr = appendFrame(nil, frameDrop, uint32(i), dropPayload(nameHash(fmt.Sprint(i)), hlc.Timestamp(i)))
		} else {
			size := rng.IntN(3000)
			rec := client.Record{Kind: client.KindData, Info: client.Info{Name: fmt.Sprintf("o%d", i), Timestamp: ts(i + 1), Length: int64(size)}}
			body := payload(size, uint64(i))
			var err error
			fr, err = recordFrame(uint32(i%7), &rec, bytes.NewReader(body), func() (client.Checksum, error) { return client.ChecksumOf(body), nil })
			if err != nil {
				t.Fatal(err)
			}
		}
		if len(fr)%8 != 0 {
			t.Fatalf("frame of %d bytes is not padded to 8", len(fr))
		}
		offs = append(offs, int64(len(seg)))
		frames = append(frames, fr)
		seg = append(seg, fr...)
	}
	return seg, offs, frames
}

func scanAll(t *testing.T, b []byte) (map[int64][]byte, int64) {
	t.Helper()
	got := map[int64][]byte{}
	end, err := scanFrames(b, func(off int64, f frame, size int64) error {
		got[off] = b[off : off+size]
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, end
}

func TestFrameRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	seg, offs, frames := testFrames(t, rng, 50)
	got, end := scanAll(t, seg)
	if end != int64(len(seg)) || len(got) != len(frames) {
		t.Fatalf("scan found %d frames ending at %d; want %d ending at %d", len(got), end, len(frames), len(seg))
	}
	for i, off := range offs {
		if !bytes.Equal(got[off], frames[i]) {
			t.Fatalf("frame %d differs", i)
		}
		f, _, err := decodeFrame(frames[i])
		if err != nil {
			t.Fatal(err)
		}
		if f.kind == frameRecord {
			rec, err := recordFrameInfo(f.payload)
			if err != nil || rec.Info.Name != fmt.Sprintf("o%d", i) {
				t.Fatalf("frame %d: %+v, %v", i, rec.Info, err)
			}
		}
	}
}

// TestFrameScanProperties cuts a segment at every kind of point and damages it at random:
// a scan returns only frames exactly as written, every frame wholly before a cut, and
// every frame the damage did not touch.
func TestFrameScanProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 300 {
		seg, offs, frames := testFrames(t, rng, 1+rng.IntN(20))
		b := bytes.Clone(seg)
		cut := int64(len(b))
		if rng.IntN(2) == 0 {
			cut = rng.Int64N(int64(len(b)) + 1)
			b = b[:cut]
		}
		hit := int64(-1)
		if rng.IntN(2) == 0 && len(b) > 0 {
			hit = rng.Int64N(int64(len(b)))
			b[hit] ^= byte(1 + rng.IntN(255))
		}
		got, end := scanAll(t, b)
		for off, fr := range got {
			i := indexOf(offs, off)
			if i < 0 || !bytes.Equal(fr, frames[i]) {
				t.Fatalf("round %d: scan returned a frame at %d that was not written there", round, off)
			}
		}
		for i, off := range offs {
			whole := off+int64(len(frames[i])) <= cut
			touched := hit >= off && hit < off+int64(len(frames[i]))
			// A flipped byte in a frame's zero padding leaves it whole: both outcomes are fine.
			if whole && !touched && got[off] == nil {
				t.Fatalf("round %d: frame %d at %d (untouched, before the cut at %d) not found", round, i, off, cut)
			}
		}
		if end > cut {
			t.Fatalf("round %d: end %d beyond the cut %d", round, end, cut)
		}
	}
}

func indexOf(offs []int64, off int64) int {
	for i, o := range offs {
		if o == off {
			return i
		}
	}
	return -1
}

func TestFrameRefusesGarbage(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("SOLG"), make([]byte, 64), bytes.Repeat([]byte("SOLG"), 20)} {
		if _, _, err := decodeFrame(b); err == nil {
			t.Fatalf("decoded %q", b)
		}
		if got, end := scanAll(t, b); len(got) != 0 || end != 0 {
			t.Fatalf("scan of garbage found %d frames", len(got))
		}
	}
}
