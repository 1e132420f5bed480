package testguest

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestDecodeLZ4LegacyOverlappingMatchAndTrailer(t *testing.T) {
	// One block: literal "ab", then a match of length 8 at offset 2 (overlapping: it repeats
	// "ab"), then the mandatory literal-only last sequence "xyz".
	block := []byte{
		0x24, 'a', 'b', 0x02, 0x00, // 2 literals, then a match of 4+4=8 bytes at offset 2
		0x30, 'x', 'y', 'z', // 3 literals, end
	}
	var stream []byte
	stream = binary.LittleEndian.AppendUint32(stream, lz4LegacyMagic)
	stream = binary.LittleEndian.AppendUint32(stream, uint32(len(block)))
	stream = append(stream, block...)
	stream = binary.LittleEndian.AppendUint32(stream, 13) // the kernel's appended size word
	got, err := decodeLZ4Legacy(stream)
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte("abababababxyz"); !bytes.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestDecodeLZ4RejectsBadOffset(t *testing.T) {
	if _, err := decodeLZ4Block(nil, []byte{0x10, 'a', 0x05, 0x00, 0x00}); err == nil {
		t.Fatal("offset past the output was accepted")
	}
}
