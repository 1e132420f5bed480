package chunkdev

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"stratus/internal/testutil"
)

// TestTornBlockReadElsewhereAndRepaired damages one block of one replica on disk: reads
// go to another replica and return the data, and repair copies that one block back.
func TestTornBlockReadElsewhereAndRepaired(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d := e.device(4*mib, mib, 1)
	p := testutil.Payload(16*kib, 9)
	mustWrite(t, d, p, 0, false)
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Reads of chunk 0 start at its replica 0: tear its block 1.
	c := d.chunk(0)
	var node string
	for _, n := range e.st.Nodes {
		if n.Addr == c.targets[0].Host {
			node = filepath.Join(n.Dir, c.targets[0].Device, "chunks", strconv.FormatUint(uint64(c.targets[0].Partition), 10))
		}
	}
	files, err := filepath.Glob(filepath.Join(node, "*.chunk"))
	if err != nil || len(files) != 1 {
		t.Fatalf("chunk files in %s: %v %v", node, files, err)
	}
	f, err := os.OpenFile(files[0], os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A 1 MiB chunk's data starts after the 4 KiB header and its 4 KiB table.
	if _, err := f.WriteAt([]byte("torn torn torn"), 8*kib+4*kib+100); err != nil {
		t.Fatal(err)
	}
	f.Close()

	mustRead(t, d, p, 0)
	testutil.Eventually(t, 10*time.Second, func() error {
		if d.Repaired() != 1 || d.Degraded() != 0 {
			return fmt.Errorf("repaired %d, degraded %d", d.Repaired(), d.Degraded())
		}
		return nil
	})
	if d.RepairedBlocks() != 1 {
		t.Fatalf("repaired %d blocks, want 1", d.RepairedBlocks())
	}
	got, err := e.replicaData(d, 0, 0, 0, 16*kib)
	if err != nil || string(got) != string(p) {
		t.Fatalf("torn replica after repair: %v", err)
	}
}
