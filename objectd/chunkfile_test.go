package objectd

import (
	"bytes"
	"errors"
	"testing"

	"stratus/objectd/client"
)

func testHeader() chunkHeader {
	return chunkHeader{name: ".vol/vol-0123456789abcdef/0000000000000007", chunkSize: 4 << 20,
		fence: 3, version: 3<<32 | 41, slotSeq: 9}
}

// headerImage returns a 4 KiB header with h in slot i and the other slot empty.
func headerImage(t testing.TB, h chunkHeader, i int) []byte {
	t.Helper()
	b := make([]byte, chunkHeaderSize)
	if err := encodeSlot(b[i*chunkSlotSize:], &h); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestChunkHeaderRoundTrip(t *testing.T) {
	want := testHeader()
	for slot := range 2 {
		got, cur, err := decodeChunkHeader(headerImage(t, want, slot))
		if err != nil || got != want || cur != slot {
			t.Fatalf("slot %d: got %+v in slot %d, %v; want %+v", slot, got, cur, err, want)
		}
	}
	// Both slots valid: the higher slot sequence wins, wherever it is.
	older := want
	older.slotSeq, older.fence, older.version = 8, 2, 7
	b := headerImage(t, want, 1)
	if err := encodeSlot(b, &older); err != nil {
		t.Fatal(err)
	}
	if got, cur, err := decodeChunkHeader(b); err != nil || got != want || cur != 1 {
		t.Fatalf("two slots: got %+v in slot %d, %v", got, cur, err)
	}
	if chunkDataOffset(4<<20) != 20480 || chunkDataOffset(4096) != 8192 || chunkDataOffset(64<<20) != 4096+256<<10 {
		t.Fatalf("data offsets %d %d %d", chunkDataOffset(4<<20), chunkDataOffset(4096), chunkDataOffset(64<<20))
	}
}

// TestChunkHeaderCorruption flips every byte of the slot in use: the header must fail to
// decode (so a damaged chunk is never trusted), unless the other slot holds a valid older
// header, which is then used.
func TestChunkHeaderCorruption(t *testing.T) {
	h := testHeader()
	b := headerImage(t, h, 0)
	for i := range chunkSlotSize {
		bad := bytes.Clone(b)
		bad[i] ^= 0x20
		if got, _, err := decodeChunkHeader(bad); !errors.Is(err, errBadChunkHeader) {
			t.Fatalf("byte %d flipped: decoded %+v, %v", i, got, err)
		}
	}
	// A torn write of slot 1 leaves slot 0 in charge.
	older := h
	older.slotSeq--
	b = headerImage(t, older, 0)
	newer := h
	if err := encodeSlot(b[chunkSlotSize:], &newer); err != nil {
		t.Fatal(err)
	}
	copy(b[chunkSlotSize+1024:], make([]byte, 512)) // half the sectors of the write landed
	b[chunkSlotSize+30] ^= 1
	if got, cur, err := decodeChunkHeader(b); err != nil || got != older || cur != 0 {
		t.Fatalf("torn slot 1: got %+v in slot %d, %v; want the older slot 0", got, cur, err)
	}
	// Slots that name different chunks are not trusted either.
	other := h
	other.name = "other"
	b = headerImage(t, h, 0)
	if err := encodeSlot(b[chunkSlotSize:], &other); err != nil {
		t.Fatal(err)
	}
	if _, _, err := decodeChunkHeader(b); !errors.Is(err, errBadChunkHeader) {
		t.Fatalf("slots of different chunks: %v", err)
	}
	if _, _, err := decodeChunkHeader(make([]byte, chunkHeaderSize)); !errors.Is(err, errBadChunkHeader) {
		t.Fatalf("zero header: %v", err)
	}
}

func TestBlockEntryRoundTrip(t *testing.T) {
	for _, e := range []blockEntry{{}, {seq: 1, crc: 0xdeadbeef}, {seq: 1 << 63, flags: blockZero}} {
		var b [chunkEntrySize]byte
		encodeEntry(b[:], e)
		got, ok := decodeEntry(b[:])
		if !ok || got != e {
			t.Fatalf("entry %+v: got %+v, %v", e, got, ok)
		}
		if e.seq == 0 {
			continue
		}
		for i := range b {
			bad := b
			bad[i] ^= 4
			if got, ok := decodeEntry(bad[:]); ok {
				t.Fatalf("entry %+v with byte %d flipped decoded as %+v", e, i, got)
			}
		}
	}
	// A damaged entry decodes as damaged, and never with a sequence a write must beat.
	raw := make([]byte, 3*chunkEntrySize)
	encodeEntry(raw[chunkEntrySize:], blockEntry{seq: 5, crc: 1})
	raw[chunkEntrySize+3] ^= 1
	tab := decodeTable(raw, 3)
	if tab[0] != (blockEntry{}) || !tab[1].damaged() || tab[1].seq != 0 || tab[2] != (blockEntry{}) {
		t.Fatalf("table %+v", tab)
	}
	// The in-memory damaged flag never reaches the disk.
	var b [chunkEntrySize]byte
	encodeEntry(b[:], blockEntry{seq: 2, crc: 3, flags: blockDamaged})
	if got, ok := decodeEntry(b[:]); !ok || got.damaged() {
		t.Fatalf("damaged flag written: %+v %v", got, ok)
	}
}

// FuzzChunkHeader checks that no header or block table bytes make the decoders panic, and
// that whatever decodes re-encodes to bytes that decode the same (for a slot or entry on
// its own, to the same bytes).
func FuzzChunkHeader(f *testing.F) {
	h := testHeader()
	b := make([]byte, chunkHeaderSize+2*chunkEntrySize)
	if err := encodeSlot(b, &h); err != nil {
		f.Fatal(err)
	}
	encodeEntry(b[chunkHeaderSize:], blockEntry{seq: 4, crc: 0x1234})
	f.Add(b)
	f.Add([]byte(chunkMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) >= chunkEntrySize {
			if e, ok := decodeEntry(data); ok {
				var again [chunkEntrySize]byte
				encodeEntry(again[:], e)
				if !bytes.Equal(again[:], data[:chunkEntrySize]) {
					t.Fatalf("entry %+v re-encodes as %x, decoded from %x", e, again, data[:chunkEntrySize])
				}
			}
			decodeTable(data, len(data)/chunkEntrySize)
		}
		if len(data) >= chunkSlotSize {
			if h, err := decodeSlot(data); err == nil {
				again := make([]byte, chunkSlotSize)
				if err := encodeSlot(again, &h); err != nil {
					t.Fatalf("re-encode %+v: %v", h, err)
				}
				if !bytes.Equal(again, data[:chunkSlotSize]) {
					t.Fatalf("slot %+v does not re-encode to the same bytes", h)
				}
			}
		}
		buf := data
		if len(buf) < chunkHeaderSize {
			buf = append(bytes.Clone(data), make([]byte, chunkHeaderSize-len(data))...)
		}
		h, _, err := decodeChunkHeader(buf)
		if err != nil {
			return
		}
		if client.CheckChunkSize(h.chunkSize) != nil || client.CheckName(h.name) != nil {
			t.Fatalf("decoded an invalid header %+v", h)
		}
		img := make([]byte, chunkHeaderSize)
		if err := encodeSlot(img, &h); err != nil {
			t.Fatal(err)
		}
		if again, _, err := decodeChunkHeader(img); err != nil || again != h {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, h)
		}
	})
}
