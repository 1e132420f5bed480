package objectd

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"stratus/objectd/client"
)

// TestSmallObjectLogOnlyInObjectSpace: with the small-object log on, a small version
// addressed to another ring (an erasure-coded fragment archive) is still a file in that
// ring's tree, and the log entry of the same name in the object ring neither hides it nor
// refuses it, though the entry is newer.
func TestSmallObjectLogOnlyInObjectSpace(t *testing.T) {
	n := startNode(t, listen(t), []string{"d1"}, withLog)
	const part, name = 3, "bucket/small"
	objT := n.target("d1", part)
	ecT := objT
	ecT.Ring = "ec-4-2"
	inLog, fragment := payload(100, 1), payload(200, 2)
	mustPut(t, n, objT, name, ts(5), inLog)
	mustPut(t, n, ecT, name, ts(1), fragment) // older than the logged version: still stored

	devDir := filepath.Join(n.dir, "d1")
	if _, err := os.Stat(filepath.Join(hashDir(devDir, part, nameHash(name)), fileName(client.KindData, ts(5)))); !os.IsNotExist(err) {
		t.Fatalf("the object ring's small version is not in the log (stat of its file: %v)", err)
	}
	onDisk := filepath.Join(hashDirIn(devDir, "ec-4-2", part, nameHash(name)), fileName(client.KindData, ts(1)))
	if _, err := os.Stat(onDisk); err != nil {
		t.Fatalf("fragment not a file at %s: %v", onDisk, err)
	}
	if info, got, err := get(t, n, ecT, name); err != nil || !bytes.Equal(got, fragment) || info.Timestamp != ts(1) {
		t.Fatalf("fragment read back: %v (version %v)", err, info.Timestamp)
	}
	if info, got, err := get(t, n, objT, name); err != nil || !bytes.Equal(got, inLog) || info.Timestamp != ts(5) {
		t.Fatalf("logged version read back: %v (version %v)", err, info.Timestamp)
	}
}
