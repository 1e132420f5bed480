package client

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func TestChunkBlockRoundTrip(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), ChunkBlockSize/16)
	blocks := []ChunkBlock{
		{Offset: 0, Sequence: 1, Data: data},
		{Offset: 3 * ChunkBlockSize, Sequence: 1 << 40, Zero: true},
		{Offset: MaxChunkSize - ChunkBlockSize, Sequence: 7, Data: data},
	}
	var stream []byte
	for _, b := range blocks {
		var err error
		if stream, err = AppendChunkBlock(stream, b); err != nil {
			t.Fatal(err)
		}
	}
	if want := 3*blockFrameHeader + 2*ChunkBlockSize; len(stream) != want {
		t.Fatalf("stream of %d bytes, want %d", len(stream), want)
	}
	var got []ChunkBlock
	for p := stream; len(p) > 0; {
		b, n, err := DecodeChunkBlock(p)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b)
		p = p[n:]
	}
	if !reflect.DeepEqual(got, blocks) {
		t.Fatalf("decoded %+v", got)
	}
	// Any flipped byte is caught: in the frame header as a bad frame, in the data as a
	// checksum mismatch.
	one, _ := AppendChunkBlock(nil, blocks[0])
	for i := range one {
		bad := bytes.Clone(one)
		bad[i] ^= 0x10
		_, _, err := DecodeChunkBlock(bad)
		want := ErrBadFrame
		if i >= blockFrameHeader {
			want = ErrChecksum
		}
		if !errors.Is(err, want) {
			t.Fatalf("byte %d flipped: %v, want %v", i, err, want)
		}
	}
	if _, _, err := DecodeChunkBlock(one[:len(one)-1]); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("truncated: %v", err)
	}
	for _, b := range []ChunkBlock{
		{Offset: 100, Sequence: 1, Data: data},
		{Offset: 0, Sequence: 0, Data: data},
		{Offset: 0, Sequence: 1, Data: data[:10]},
		{Offset: 0, Sequence: 1, Zero: true, Data: data},
		{Offset: MaxChunkSize, Sequence: 1, Zero: true},
	} {
		if _, err := AppendChunkBlock(nil, b); err == nil {
			t.Fatalf("encoded a bad block: offset %d, sequence %d, %d bytes, zero %v", b.Offset, b.Sequence, len(b.Data), b.Zero)
		}
	}
}

func TestCheckChunkRange(t *testing.T) {
	const size = 4 << 20
	cases := []struct {
		off, n int64
		want   error
	}{
		{0, ChunkBlockSize, nil},
		{size - ChunkBlockSize, ChunkBlockSize, nil},
		{0, size, nil},
		{1, ChunkBlockSize, ErrMisaligned},
		{0, 100, ErrMisaligned},
		{0, 0, ErrMisaligned},
		{-ChunkBlockSize, ChunkBlockSize, ErrMisaligned},
		{size, ChunkBlockSize, ErrRange},
		{size - ChunkBlockSize, 2 * ChunkBlockSize, ErrRange},
		{ChunkBlockSize, 1 << 62, ErrRange},
	}
	for _, c := range cases {
		if err := CheckChunkRange(c.off, c.n, size); !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
			t.Errorf("CheckChunkRange(%d, %d) = %v, want %v", c.off, c.n, err, c.want)
		}
	}
	for _, s := range []int64{0, -4096, 4095, MaxChunkSize + ChunkBlockSize} {
		if CheckChunkSize(s) == nil {
			t.Errorf("chunk size %d accepted", s)
		}
	}
}

// FuzzDecodeChunkBlock checks that no input makes the frame decoder panic, and that every
// frame it accepts re-encodes to the same bytes.
func FuzzDecodeChunkBlock(f *testing.F) {
	data := bytes.Repeat([]byte{7}, ChunkBlockSize)
	b, _ := AppendChunkBlock(nil, ChunkBlock{Offset: ChunkBlockSize, Sequence: 3, Data: data})
	f.Add(b)
	z, _ := AppendChunkBlock(nil, ChunkBlock{Offset: 0, Sequence: 9, Zero: true})
	f.Add(z)
	f.Fuzz(func(t *testing.T, p []byte) {
		blk, n, err := DecodeChunkBlock(p)
		if err != nil {
			return
		}
		again, err := AppendChunkBlock(nil, blk)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", blk, err)
		}
		if !bytes.Equal(again, p[:n]) {
			t.Fatalf("frame does not re-encode to its bytes")
		}
	})
}
