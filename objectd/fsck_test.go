package objectd

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"stratus/internal/faultfs"
	"stratus/internal/testutil"
	"stratus/objectd/client"
)

// fsck checks the invariants of every device under root once its node has stopped: each file
// in the object tree is a well-formed record in the directory its name hashes to, named by
// its own timestamp and kind, with content matching its checksum; each hash directory holds
// one version; no temp file is left. Tests that corrupt files on purpose end with them
// quarantined, which is outside the tree.
func fsck(t testing.TB, root string) {
	t.Helper()
	devs, _ := os.ReadDir(root)
	for _, d := range devs {
		dev := filepath.Join(root, d.Name())
		if tmp := files(t, filepath.Join(dev, tmpDir)); len(tmp) != 0 {
			t.Errorf("fsck %s: temp files left: %v", d.Name(), tmp)
		}
		hashDirs := map[string]int{}
		for _, rel := range files(t, filepath.Join(dev, objectsDir)) {
			if filepath.Base(rel) == hashesFile && strings.Count(rel, string(filepath.Separator)) == 1 {
				if err := fsckHashes(dev, filepath.Dir(rel)); err != nil {
					t.Errorf("fsck %s: %s: %v", d.Name(), rel, err)
				}
				continue
			}
			if err := fsckFile(dev, rel); err != nil {
				t.Errorf("fsck %s: %s: %v", d.Name(), rel, err)
			}
			hashDirs[filepath.Dir(rel)]++
		}
		for dir, n := range hashDirs {
			if n != 1 {
				t.Errorf("fsck %s: %s holds %d versions", d.Name(), dir, n)
			}
		}
		for _, rel := range files(t, filepath.Join(dev, logDir)) {
			if err := fsckSegment(filepath.Join(dev, logDir, rel)); err != nil {
				t.Errorf("fsck %s: small-object log %s: %v", d.Name(), rel, err)
			}
		}
		for _, rel := range files(t, filepath.Join(dev, chunksDir)) {
			if strings.HasSuffix(rel, tombExt) {
				if _, err := readTomb(faultfs.OS, filepath.Join(dev, chunksDir, rel)); err != nil {
					t.Errorf("fsck %s: chunk tombstone %s: %v", d.Name(), rel, err)
				}
				continue
			}
			if err := fsckChunk(dev, rel); err != nil {
				t.Errorf("fsck %s: chunk %s: %v", d.Name(), rel, err)
			}
		}
	}
}

// fsckChunk checks a chunk file: where it lives, its header, that it is the file of the
// chunk its header names, its size, and every block table entry. Block data is not checked:
// a crash may leave blocks torn, which readers refuse.
func fsckChunk(dev, rel string) error {
	parts := strings.Split(rel, string(filepath.Separator))
	if len(parts) != 2 {
		return fmt.Errorf("not at <partition>/<hash>.chunk")
	}
	if _, err := strconv.ParseUint(parts[0], 10, 32); err != nil {
		return fmt.Errorf("partition directory %q", parts[0])
	}
	hash, ok := strings.CutSuffix(parts[1], chunkExt)
	if !ok || !validHash(hash) {
		return fmt.Errorf("bad file name")
	}
	b, err := os.ReadFile(filepath.Join(dev, chunksDir, rel))
	if err != nil {
		return err
	}
	if len(b) < chunkHeaderSize {
		return fmt.Errorf("%d bytes", len(b))
	}
	h, _, err := decodeChunkHeader(b)
	if err != nil {
		return err
	}
	if nameHash(h.name) != hash {
		return fmt.Errorf("header names %q, whose hash is not the file's", h.name)
	}
	dataOff := chunkDataOffset(h.chunkSize)
	if int64(len(b)) < dataOff || int64(len(b)) > dataOff+h.chunkSize {
		return fmt.Errorf("file is %d bytes; data starts at %d and ends by %d", len(b), dataOff, dataOff+h.chunkSize)
	}
	for i := range h.blocks() {
		if _, ok := decodeEntry(b[chunkHeaderSize+i*chunkEntrySize:]); !ok {
			return fmt.Errorf("block table entry %d fails its check", i)
		}
	}
	return nil
}

// fsckHashes checks a saved suffix hashes file against the files on disk.
func fsckHashes(dev, partName string) error {
	part, err := strconv.ParseUint(partName, 10, 32)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(filepath.Join(dev, objectsDir, partName, hashesFile))
	if err != nil {
		return err
	}
	var saved hashesOnDisk
	if err := json.Unmarshal(data, &saved); err != nil {
		return err
	}
	st := &store{root: filepath.Dir(dev), fs: faultfs.OS, reclaimAge: 1 << 62, now: time.Now, log: slog.New(slog.DiscardHandler)}
	sfxs, err := st.suffixes(dev, uint32(part))
	if err != nil {
		return err
	}
	actual := map[string]string{}
	for _, sfx := range sfxs {
		h, err := st.hashSuffix(dev, uint32(part), sfx)
		if err != nil {
			return err
		}
		if h != "" {
			actual[sfx] = h
		}
	}
	if !equalMaps(saved.Hashes, actual) {
		return fmt.Errorf("saved suffix hashes %v, files on disk hash to %v", saved.Hashes, actual)
	}
	return nil
}

func fsckFile(dev, rel string) error {
	parts := strings.Split(rel, string(filepath.Separator))
	if len(parts) != 4 {
		return fmt.Errorf("not at <partition>/<suffix>/<hash>/<file>")
	}
	if _, err := strconv.ParseUint(parts[0], 10, 32); err != nil {
		return fmt.Errorf("partition directory %q", parts[0])
	}
	v, ok := parseFileName(parts[3])
	if !ok || !validHash(parts[2]) || suffixOf(parts[2]) != parts[1] {
		return fmt.Errorf("bad path")
	}
	f, err := os.Open(filepath.Join(dev, objectsDir, rel))
	if err != nil {
		return err
	}
	defer f.Close()
	rec, err := client.ReadRecord(f)
	if err != nil {
		return err
	}
	if rec.Kind != v.kind || rec.Info.Timestamp != v.ts || nameHash(rec.Info.Name) != parts[2] {
		return fmt.Errorf("header (kind %d, %v, %q) does not match the path", rec.Kind, rec.Info.Timestamp, rec.Info.Name)
	}
	h := client.NewHash()
	n, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	if n != rec.Info.Length || client.Checksum(h.Sum32()) != rec.Info.Checksum {
		return fmt.Errorf("content: %d bytes, checksum %v; header says %d, %v", n, client.Checksum(h.Sum32()), rec.Info.Length, rec.Info.Checksum)
	}
	return nil
}

// fsckSegment checks every whole frame of a small-object log segment: a record is a
// well-formed version whose content matches its checksum, a drop names a hash. (Torn
// stretches a crash left are skipped, as the rebuild skips them.)
func fsckSegment(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	_, err = scanFrames(b, func(off int64, f frame, size int64) error {
		if f.kind == frameDrop {
			_, _, err := parseDrop(f.payload)
			return err
		}
		rec, err := recordFrameInfo(f.payload)
		if err != nil {
			return fmt.Errorf("frame at %d: %w", off, err)
		}
		if got := client.ChecksumOf(f.payload[rec.HeaderLen:]); got != rec.Info.Checksum {
			return fmt.Errorf("frame at %d: content %v, header %v", off, got, rec.Info.Checksum)
		}
		return nil
	})
	return err
}

// TestMain fails the run if goroutines of this package outlive the tests: every goroutine a
// node starts must be owned and waited for.
func TestMain(m *testing.M) {
	stop := testutil.WatchTimeout()
	code := m.Run()
	stop()
	if code == 0 {
		deadline := time.Now().Add(5 * time.Second)
		for {
			leaked := leakedGoroutines()
			if leaked == "" {
				break
			}
			if time.Now().After(deadline) {
				fmt.Fprintf(os.Stderr, "leaked goroutines:\n%s\n", leaked)
				code = 1
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	os.Exit(code)
}

func leakedGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var leaked []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "stratus/objectd.") && !strings.Contains(g, "TestMain") && !strings.Contains(g, "leakedGoroutines") {
			leaked = append(leaked, g)
		}
	}
	return strings.Join(leaked, "\n\n")
}
