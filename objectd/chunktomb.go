package objectd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"stratus/internal/faultfs"
	"stratus/objectd/client"
)

// A chunk tombstone records that a chunk was deleted, and by which generation, at
// <device>/chunks/<partition>/<name hash>.tomb. Without it a replica that missed the delete
// (down at the time) would look to the replicator like a replica the others lack, and its
// copy would be pushed back everywhere. With it, a deletion is state like a write: the
// tombstone wins over any copy whose fence is not newer than its generation (such a copy
// was written before the delete), is replicated like a chunk, refuses changes at its
// generation or older, and is reaped after Config.ReclaimAge, as object tombstones are. A
// change at a newer generation creates the chunk anew and removes the tombstone.
//
// File, little-endian; used on disk, never renumber:
//
//	off  len field
//	  0    8 magic "STRCTMB1"
//	  8    8 generation of the delete
//	 16    8 time of the delete, Unix nanoseconds (for reaping)
//	 24    2 name length N
//	 26    N chunk name
//	26+N   4 CRC-32C of everything before
//
// It is written whole under a temp name, fsynced and renamed into place; the directory is
// fsynced by the caller, together with the removal of the chunk file.
const (
	tombExt   = ".tomb"
	tombMagic = "STRCTMB1"
)

// chunkTomb is a decoded tombstone. gen 0 means none.
type chunkTomb struct {
	name string
	gen  uint64
	at   time.Time
}

// tombPathOf returns the tombstone path of a chunk file path.
func tombPathOf(chunkPath string) string {
	return strings.TrimSuffix(chunkPath, chunkExt) + tombExt
}

func encodeTomb(t chunkTomb) []byte {
	b := make([]byte, 26, 26+len(t.name)+4)
	copy(b, tombMagic)
	le := binary.LittleEndian
	le.PutUint64(b[8:], t.gen)
	le.PutUint64(b[16:], uint64(t.at.UnixNano()))
	le.PutUint16(b[24:], uint16(len(t.name)))
	b = append(b, t.name...)
	return le.AppendUint32(b, uint32(client.ChecksumOf(b)))
}

func decodeTomb(b []byte) (chunkTomb, error) {
	le := binary.LittleEndian
	if len(b) < 30 || !bytes.Equal(b[:8], []byte(tombMagic)) {
		return chunkTomb{}, errors.New("not a chunk tombstone")
	}
	n := int(le.Uint16(b[24:]))
	if len(b) != 26+n+4 {
		return chunkTomb{}, fmt.Errorf("tombstone of %d bytes names %d", len(b), n)
	}
	if sum := uint32(client.ChecksumOf(b[:26+n])); sum != le.Uint32(b[26+n:]) {
		return chunkTomb{}, errors.New("tombstone checksum fails")
	}
	t := chunkTomb{gen: le.Uint64(b[8:]), at: time.Unix(0, int64(le.Uint64(b[16:]))), name: string(b[26 : 26+n])}
	if t.gen == 0 || client.CheckName(t.name) != nil {
		return chunkTomb{}, errors.New("tombstone holds no generation or a bad name")
	}
	return t, nil
}

// readTomb reads the tombstone at path; a missing one is the zero chunkTomb.
func readTomb(fsys faultfs.FS, path string) (chunkTomb, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return chunkTomb{}, nil
	}
	if err != nil {
		return chunkTomb{}, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return chunkTomb{}, fmt.Errorf("read %s: %w", path, err)
	}
	t, err := decodeTomb(b)
	if err != nil {
		return chunkTomb{}, fmt.Errorf("%w: %s: %v", client.ErrCorrupt, path, err)
	}
	return t, nil
}

// writeTomb puts a tombstone in place durably but for its directory entry, which the caller
// fsyncs (chunkPartDir).
func (cs *chunkStore) writeTomb(devDir string, part uint32, path string, t chunkTomb) error {
	tmp, err := cs.createTemp(devDir, filepath.Base(path))
	if err != nil {
		return noSpace(err)
	}
	name := tmp.Name()
	fail := func(err error) error {
		tmp.Close()
		cs.st.fs.Remove(name)
		return noSpace(err)
	}
	if _, err := tmp.WriteAt(encodeTomb(t), 0); err != nil {
		return fail(fmt.Errorf("write %s: %w", name, err))
	}
	if err := tmp.Sync(); err != nil {
		return fail(fmt.Errorf("fsync %s: %w", name, err))
	}
	if err := cs.st.mkdirs(devDir, chunkPartDir(devDir, part)); err != nil {
		return fail(err)
	}
	if err := cs.st.fs.Rename(name, path); err != nil {
		return fail(fmt.Errorf("publish %s: %w", path, err))
	}
	return tmp.Close()
}
