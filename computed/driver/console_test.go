package driver

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestConsoleOutputTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	if out, err := ConsoleOutput(path, 10); err != nil || len(out) != 0 {
		t.Fatalf("missing log: %q, %v; want empty, nil", out, err)
	}
	data := bytes.Repeat([]byte("0123456789"), 10)
	data = append(data, "END"...)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := ConsoleOutput(path, 8)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "56789END" {
		t.Fatalf("got %q, want the last 8 bytes", out)
	}
	out, err = ConsoleOutput(path, ConsoleOutputMax)
	if err != nil || !bytes.Equal(out, data) {
		t.Fatalf("whole log: %d bytes, %v", len(out), err)
	}
}
