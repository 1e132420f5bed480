package nbd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// The test exports implement the optional interfaces they claim to.
var (
	_ Writer        = (*memExport)(nil)
	_ Flusher       = (*memExport)(nil)
	_ Trimmer       = (*memExport)(nil)
	_ Zeroer        = (*memExport)(nil)
	_ BlockStatuser = (*memExport)(nil)
	_ SparseReader  = (*memExport)(nil)
	_ Cacher        = (*memExport)(nil)
	_ Writer        = (*fileExport)(nil)
	_ Flusher       = (*fileExport)(nil)
	_ Trimmer       = (*fileExport)(nil)
	_ Zeroer        = (*fileExport)(nil)
	_ BlockStatuser = (*fileExport)(nil)
	_ Exports       = (*staticExports)(nil)
)

// memBlock is the allocation unit of memExport: ranges are holes or data in these steps.
const memBlock = 64 << 10

// memExport is a sparse in-memory export: blocks never written (or trimmed, or zeroed
// without NoHole) are holes that read as zeroes. It implements every optional interface,
// shares its state with every connection (so MultiConn is true of it), and counts calls.
type memExport struct {
	size uint64

	mu     sync.RWMutex
	blocks map[uint64][]byte // block index → memBlock bytes

	flushes, fuaWrites, trims, zeroes, caches atomic.Int64
}

func newMemExport(size uint64) *memExport {
	return &memExport{size: size, blocks: make(map[uint64][]byte)}
}

func (m *memExport) Size() uint64 { return m.size }

// pieces calls fn for each block-bounded piece of [off, off+n).
func pieces(off, n uint64, fn func(block, inOff, pos, n uint64)) {
	for pos := uint64(0); pos < n; {
		block, inOff := (off+pos)/memBlock, (off+pos)%memBlock
		k := min(n-pos, memBlock-inOff)
		fn(block, inOff, pos, k)
		pos += k
	}
}

func (m *memExport) ReadAt(_ context.Context, p []byte, off uint64) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	pieces(off, uint64(len(p)), func(block, inOff, pos, n uint64) {
		if b := m.blocks[block]; b != nil {
			copy(p[pos:pos+n], b[inOff:])
		} else {
			clear(p[pos : pos+n])
		}
	})
	return nil
}

// ReadSparse implements SparseReader: unallocated blocks are holes.
func (m *memExport) ReadSparse(_ context.Context, p []byte, off uint64) ([]Extent, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var exts []Extent
	pieces(off, uint64(len(p)), func(block, inOff, pos, n uint64) {
		b := m.blocks[block]
		var flags ExtentFlags
		if b == nil {
			flags = ExtentHole | ExtentZero
		} else {
			copy(p[pos:pos+n], b[inOff:])
		}
		if k := len(exts); k > 0 && exts[k-1].Flags == flags {
			exts[k-1].Length += n
		} else {
			exts = append(exts, Extent{Length: n, Flags: flags})
		}
	})
	return exts, nil
}

func (m *memExport) WriteAt(_ context.Context, p []byte, off uint64, fua bool) error {
	if fua {
		m.fuaWrites.Add(1)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	pieces(off, uint64(len(p)), func(block, inOff, pos, n uint64) {
		b := m.blocks[block]
		if b == nil {
			b = make([]byte, memBlock)
			m.blocks[block] = b
		}
		copy(b[inOff:inOff+n], p[pos:])
	})
	return nil
}

func (m *memExport) Flush(context.Context) error {
	m.flushes.Add(1)
	return nil
}

// deallocate frees whole blocks in the range and zeroes the parts of others.
func (m *memExport) deallocate(off, length uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	pieces(off, length, func(block, inOff, _, n uint64) {
		if n == memBlock {
			delete(m.blocks, block)
		} else if b := m.blocks[block]; b != nil {
			clear(b[inOff : inOff+n])
		}
	})
}

func (m *memExport) Trim(_ context.Context, off, length uint64, _ bool) error {
	m.trims.Add(1)
	m.deallocate(off, length)
	return nil
}

func (m *memExport) Zero(_ context.Context, off, length uint64, flags ZeroFlags) error {
	m.zeroes.Add(1)
	if !flags.NoHole {
		m.deallocate(off, length)
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	pieces(off, length, func(block, inOff, _, n uint64) {
		b := m.blocks[block]
		if b == nil {
			m.blocks[block] = make([]byte, memBlock)
		} else {
			clear(b[inOff : inOff+n])
		}
	})
	return nil
}

func (m *memExport) BlockStatus(_ context.Context, off, length uint64) ([]Extent, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var exts []Extent
	pieces(off, length, func(block, _, _, n uint64) {
		var flags ExtentFlags
		if m.blocks[block] == nil {
			flags = ExtentHole | ExtentZero
		}
		if k := len(exts); k > 0 && exts[k-1].Flags == flags {
			exts[k-1].Length += n
		} else {
			exts = append(exts, Extent{Length: n, Flags: flags})
		}
	})
	return exts, nil
}

func (m *memExport) Cache(context.Context, uint64, uint64) error {
	m.caches.Add(1)
	return nil
}

// allocated returns the number of allocated blocks.
func (m *memExport) allocated() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.blocks)
}

// bytes returns a copy of the whole export.
func (m *memExport) bytes() []byte {
	p := make([]byte, m.size)
	m.ReadAt(context.Background(), p, 0)
	return p
}

// fileExport is an export backed by a file, as a volume on a local disk would be: reads
// and writes are pread and pwrite, flush and FUA are fdatasync, trim punches holes, and
// block status comes from SEEK_DATA and SEEK_HOLE. It is not a SparseReader, so reads
// from it are always sent as data. Every connection shares the file, so MultiConn holds.
type fileExport struct {
	f    *os.File
	size uint64
}

func openFileExport(path string) (*fileExport, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &fileExport{f: f, size: uint64(st.Size())}, nil
}

// closeFile closes the file; not Close, which the server would call after each connection.
func (e *fileExport) closeFile() error { return e.f.Close() }

func (e *fileExport) Size() uint64 { return e.size }

func (e *fileExport) ReadAt(_ context.Context, p []byte, off uint64) error {
	_, err := e.f.ReadAt(p, int64(off))
	if errors.Is(err, io.EOF) {
		err = nil // within Size: a file never shrinks under us
	}
	return err
}

func (e *fileExport) WriteAt(_ context.Context, p []byte, off uint64, fua bool) error {
	if _, err := e.f.WriteAt(p, int64(off)); err != nil {
		return err
	}
	if fua {
		return unix.Fdatasync(int(e.f.Fd()))
	}
	return nil
}

func (e *fileExport) Flush(context.Context) error { return unix.Fdatasync(int(e.f.Fd())) }

func (e *fileExport) Trim(_ context.Context, off, length uint64, fua bool) error {
	err := unix.Fallocate(int(e.f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, int64(off), int64(length))
	if errors.Is(err, unix.EOPNOTSUPP) {
		return nil // a hint only
	}
	if err == nil && fua {
		err = unix.Fdatasync(int(e.f.Fd()))
	}
	return err
}

func (e *fileExport) Zero(ctx context.Context, off, length uint64, flags ZeroFlags) error {
	mode := uint32(unix.FALLOC_FL_PUNCH_HOLE | unix.FALLOC_FL_KEEP_SIZE)
	if flags.NoHole {
		mode = unix.FALLOC_FL_ZERO_RANGE | unix.FALLOC_FL_KEEP_SIZE
	}
	err := unix.Fallocate(int(e.f.Fd()), mode, int64(off), int64(length))
	if errors.Is(err, unix.EOPNOTSUPP) {
		if flags.Fast {
			return ErrNotFast
		}
		for done := uint64(0); done < length && err == nil; {
			n := min(length-done, uint64(len(zeroes)))
			_, err = e.f.WriteAt(zeroes[:n], int64(off+done))
			done += n
		}
	}
	if err == nil && flags.FUA {
		err = unix.Fdatasync(int(e.f.Fd()))
	}
	return err
}

// BlockStatus implements BlockStatuser with SEEK_DATA and SEEK_HOLE. The file offset they
// move is not used by pread and pwrite, so concurrent calls are safe.
func (e *fileExport) BlockStatus(_ context.Context, off, length uint64) ([]Extent, error) {
	fd := int(e.f.Fd())
	end := off + length
	var exts []Extent
	for pos := off; pos < end; {
		data, err := unix.Seek(fd, int64(pos), unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			data = int64(e.size) // no data after pos
		} else if err != nil {
			return nil, err
		}
		if uint64(data) > pos {
			n := min(uint64(data), end) - pos
			exts = append(exts, Extent{Length: n, Flags: ExtentHole | ExtentZero})
			pos += n
			continue
		}
		hole, err := unix.Seek(fd, int64(pos), unix.SEEK_HOLE)
		if err != nil {
			return nil, err
		}
		n := min(uint64(hole), end) - pos
		exts = append(exts, Extent{Length: n})
		pos += n
	}
	return exts, nil
}

// staticExports serves a fixed set of exports by name.
type staticExports struct {
	exports map[string]staticExport
}

type staticExport struct {
	exp  Export
	info ExportInfo
}

func (s *staticExports) add(name string, exp Export, info ExportInfo) {
	if s.exports == nil {
		s.exports = make(map[string]staticExport)
	}
	info.Name = name
	s.exports[name] = staticExport{exp: exp, info: info}
}

func (s *staticExports) Lookup(_ context.Context, name string) (Export, ExportInfo, error) {
	e, ok := s.exports[name]
	if !ok {
		return nil, ExportInfo{}, fmt.Errorf("export %q: %w", name, ErrUnknownExport)
	}
	return e.exp, e.info, nil
}

func (s *staticExports) List(context.Context) ([]ExportInfo, error) {
	var out []ExportInfo
	for _, e := range s.exports {
		out = append(out, e.info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
