package s3api

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// countingWriter counts the writes it gets.
type countingWriter struct {
	bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) { w.writes++; return w.Buffer.Write(p) }

func TestCopyBody(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	// A source that yields 16 KiB at a time (like TLS records) still costs few writes.
	var w countingWriter
	n, err := copyBody(&w, io.LimitReader(iotest.HalfReader(bytes.NewReader(data)), int64(len(data))), int64(len(data)))
	if err != nil || n != int64(len(data)) || !bytes.Equal(w.Bytes(), data) {
		t.Fatalf("copied %d, %v", n, err)
	}
	if max := 1 + (len(data)-firstPieceBytes+pieceBytes-1)/pieceBytes; w.writes > max {
		t.Errorf("%d writes for 1 MiB, want at most %d", w.writes, max)
	}
	// A short source is an error after what it had.
	w = countingWriter{}
	n, err = copyBody(&w, bytes.NewReader(data[:1000]), 2000)
	if n != 1000 || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short source: %d, %v", n, err)
	}
	// Zero bytes: nothing read or written.
	if n, err := copyBody(&w, iotest.ErrReader(errors.New("read")), 0); n != 0 || err != nil {
		t.Fatalf("empty copy: %d, %v", n, err)
	}
}
