package faultfs

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestWriteFailsAfterBytes(t *testing.T) {
	in := New(OS)
	in.Set(Rule{Op: OpWrite, PathContains: "full", AfterBytes: 10, Err: syscall.ENOSPC})
	dir := t.TempDir()
	f, err := in.OpenFile(filepath.Join(dir, "full"), os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n, err := f.Write(make([]byte, 8)); n != 8 || err != nil {
		t.Fatalf("first write = %d, %v", n, err)
	}
	n, err := f.Write(make([]byte, 8))
	if n != 2 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("second write = %d, %v; want 2, ENOSPC", n, err)
	}
	g, err := in.OpenFile(filepath.Join(dir, "other"), os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if _, err := g.Write(make([]byte, 100)); err != nil {
		t.Fatalf("unmatched path failed: %v", err)
	}
	in.Set(Rule{Op: OpRename})
	if err := in.Rename(g.Name(), g.Name()+"2"); !errors.Is(err, ErrInjected) {
		t.Fatalf("rename = %v, want ErrInjected", err)
	}
	if in.Fired() != 2 {
		t.Fatalf("Fired = %d, want 2", in.Fired())
	}
}
