package snapshot

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"

	"github.com/minio/sha256-simd"

	"stratus/internal/hlc"
	"stratus/meta/client"
)

// Manifest lists the chunks of a snapshot. Chunks not listed were never written before
// the snapshot's point in time and read as zeros.
type Manifest struct {
	SnapshotID     string
	VolumeID       string
	Parent         string // "" if none
	SizeBytes      int64
	ChunkSizeBytes int64
	// Entries are in ascending Index order, one per chunk present.
	Entries []Entry
}

// Entry is one chunk of a Manifest.
type Entry struct {
	Index int64
	// Version is the chunk's version at the snapshot's point in time: the highest write
	// sequence applied to it.
	Version uint64
	Ref     Ref
}

// Lookup returns the entry of chunk index; false if the chunk is not in the snapshot (it
// reads as zeros).
func (m *Manifest) Lookup(index int64) (Entry, bool) {
	i, ok := slices.BinarySearchFunc(m.Entries, index, func(e Entry, x int64) int {
		switch {
		case e.Index < x:
			return -1
		case e.Index > x:
			return 1
		}
		return 0
	})
	if !ok {
		return Entry{}, false
	}
	return m.Entries[i], true
}

// Refs returns the distinct non-zero contents the manifest lists, in ascending SHA-256
// order: the references its snapshot holds.
func (m *Manifest) Refs() []Ref {
	var refs []Ref
	for _, e := range m.Entries {
		if !e.Ref.Zero {
			refs = append(refs, e.Ref)
		}
	}
	sort.Slice(refs, func(i, j int) bool { return bytes.Compare(refs[i].SHA[:], refs[j].SHA[:]) < 0 })
	return slices.CompactFunc(refs, func(a, b Ref) bool { return a.SHA == b.SHA })
}

// Validate says what is wrong with m: entries out of order or past the size, or chunk
// sizes that do not match the layout (every chunk is ChunkSizeBytes but the last, which
// ends at SizeBytes).
func (m *Manifest) Validate() error {
	if !client.ValidSnapshotID(m.SnapshotID) || !client.ValidVolumeID(m.VolumeID) || m.Parent != "" && !client.ValidSnapshotID(m.Parent) {
		return fmt.Errorf("%w: snapshot %q, volume %q, parent %q", ErrBadManifest, m.SnapshotID, m.VolumeID, m.Parent)
	}
	if m.SizeBytes <= 0 || m.ChunkSizeBytes <= 0 {
		return fmt.Errorf("%w: size %d, chunk size %d", ErrBadManifest, m.SizeBytes, m.ChunkSizeBytes)
	}
	chunks := (m.SizeBytes + m.ChunkSizeBytes - 1) / m.ChunkSizeBytes
	for i, e := range m.Entries {
		if e.Index < 0 || e.Index >= chunks {
			return fmt.Errorf("%w: chunk %d outside the %d chunks", ErrBadManifest, e.Index, chunks)
		}
		if i > 0 && e.Index <= m.Entries[i-1].Index {
			return fmt.Errorf("%w: chunk %d after chunk %d", ErrBadManifest, e.Index, m.Entries[i-1].Index)
		}
		if want := min(m.ChunkSizeBytes, m.SizeBytes-e.Index*m.ChunkSizeBytes); e.Ref.Size != want {
			return fmt.Errorf("%w: chunk %d is %d bytes, want %d", ErrBadManifest, e.Index, e.Ref.Size, want)
		}
		if !e.Ref.Zero && e.Ref.Timestamp == 0 {
			return fmt.Errorf("%w: chunk %d has no object version", ErrBadManifest, e.Index)
		}
	}
	return nil
}

// The manifest's file format, version 1, all integers little-endian:
//
//	magic "STRSNAPM" | u32 format version | u16 length + snapshot ID | u16 + volume ID |
//	u16 + parent ID | i64 size | i64 chunk size | u64 entries |
//	entries: i64 index | u64 chunk version | u8 flags (1: zero) | u32 size |
//	         [32-byte SHA-256 | u64 object version] unless zero |
//	SHA-256 of everything before it
const (
	manifestMagic   = "STRSNAPM"
	manifestVersion = 1
	flagZero        = 1
)

// MarshalBinary encodes m in the manifest file format.
func (m *Manifest) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, 64+len(m.Entries)*61+sha256.Size)
	b = append(b, manifestMagic...)
	b = binary.LittleEndian.AppendUint32(b, manifestVersion)
	for _, s := range []string{m.SnapshotID, m.VolumeID, m.Parent} {
		if len(s) > 1<<16-1 {
			return nil, fmt.Errorf("%w: id of %d bytes", ErrBadManifest, len(s))
		}
		b = binary.LittleEndian.AppendUint16(b, uint16(len(s)))
		b = append(b, s...)
	}
	b = binary.LittleEndian.AppendUint64(b, uint64(m.SizeBytes))
	b = binary.LittleEndian.AppendUint64(b, uint64(m.ChunkSizeBytes))
	b = binary.LittleEndian.AppendUint64(b, uint64(len(m.Entries)))
	for _, e := range m.Entries {
		b = binary.LittleEndian.AppendUint64(b, uint64(e.Index))
		b = binary.LittleEndian.AppendUint64(b, e.Version)
		var flags byte
		if e.Ref.Zero {
			flags |= flagZero
		}
		b = append(b, flags)
		b = binary.LittleEndian.AppendUint32(b, uint32(e.Ref.Size))
		if !e.Ref.Zero {
			b = append(b, e.Ref.SHA[:]...)
			b = binary.LittleEndian.AppendUint64(b, uint64(e.Ref.Timestamp))
		}
	}
	sum := sha256.Sum256(b)
	return append(b, sum[:]...), nil
}

// UnmarshalBinary decodes the manifest file format; ErrCorrupt if b is not one.
func (m *Manifest) UnmarshalBinary(b []byte) error {
	if len(b) < len(manifestMagic)+4+sha256.Size || string(b[:len(manifestMagic)]) != manifestMagic {
		return fmt.Errorf("%w: not a snapshot manifest", ErrCorrupt)
	}
	body, sum := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return fmt.Errorf("%w: manifest checksum", ErrCorrupt)
	}
	r := reader{b: body[len(manifestMagic):]}
	if v := r.u32(); v != manifestVersion {
		return fmt.Errorf("%w: manifest format version %d, this build reads %d", ErrCorrupt, v, manifestVersion)
	}
	*m = Manifest{SnapshotID: r.str(), VolumeID: r.str(), Parent: r.str(),
		SizeBytes: int64(r.u64()), ChunkSizeBytes: int64(r.u64())}
	n := r.u64()
	if r.err == nil && n > uint64(len(r.b))/21 {
		return fmt.Errorf("%w: manifest claims %d entries in %d bytes", ErrCorrupt, n, len(r.b))
	}
	m.Entries = make([]Entry, 0, n)
	for range n {
		e := Entry{Index: int64(r.u64()), Version: r.u64()}
		flags := r.u8()
		e.Ref.Size = int64(r.u32())
		e.Ref.Zero = flags&flagZero != 0
		if !e.Ref.Zero {
			copy(e.Ref.SHA[:], r.next(sha256.Size))
			e.Ref.Timestamp = hlc.Timestamp(r.u64())
		}
		if r.err != nil {
			break
		}
		m.Entries = append(m.Entries, e)
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%d bytes after the entries", len(r.b))
	}
	if r.err != nil {
		return fmt.Errorf("%w: manifest: %w", ErrCorrupt, r.err)
	}
	if err := m.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return nil
}

// reader decodes little-endian fields, remembering the first short read.
type reader struct {
	b   []byte
	err error
}

func (r *reader) next(n int) []byte {
	if r.err != nil || len(r.b) < n {
		if r.err == nil {
			r.err = errors.New("truncated")
		}
		return make([]byte, n)
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

func (r *reader) u8() byte    { return r.next(1)[0] }
func (r *reader) u32() uint32 { return binary.LittleEndian.Uint32(r.next(4)) }
func (r *reader) u64() uint64 { return binary.LittleEndian.Uint64(r.next(8)) }
func (r *reader) str() string { return string(r.next(int(binary.LittleEndian.Uint16(r.next(2))))) }

// WriteManifest stores m as its snapshot's manifest object and returns the version.
func (s *Store) WriteManifest(ctx context.Context, m *Manifest) (hlc.Timestamp, error) {
	if err := m.Validate(); err != nil {
		return 0, err
	}
	b, err := m.MarshalBinary()
	if err != nil {
		return 0, err
	}
	return s.upload(ctx, ManifestName(m.SnapshotID), b, 0)
}

// ReadManifest reads the manifest of a completed (or deleting) snapshot, at the version its
// record names, and checks it.
func (s *Store) ReadManifest(ctx context.Context, snap *client.Snapshot) (*Manifest, error) {
	if snap.Manifest == "" {
		return nil, fmt.Errorf("%w: snapshot %s (%s) has no manifest", ErrState, snap.ID, snap.State)
	}
	cctx, cancel := s.call(ctx)
	defer cancel()
	obj, err := s.px.Get(cctx, snap.Manifest, snap.ManifestTimestamp, nil)
	if err != nil {
		return nil, fmt.Errorf("read manifest of %s: %w", snap.ID, err)
	}
	defer obj.Body.Close()
	if obj.Length > 1<<30 {
		return nil, fmt.Errorf("%w: manifest of %s is %d bytes", ErrCorrupt, snap.ID, obj.Length)
	}
	b := make([]byte, obj.Length)
	if _, err := io.ReadFull(obj.Body, b); err != nil {
		return nil, fmt.Errorf("read manifest of %s: %w", snap.ID, err)
	}
	m := &Manifest{}
	if err := m.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("manifest of %s: %w", snap.ID, err)
	}
	if m.SnapshotID != snap.ID {
		return nil, fmt.Errorf("%w: manifest of %s names snapshot %s", ErrCorrupt, snap.ID, m.SnapshotID)
	}
	return m, nil
}

// Manifest returns the manifest of snapshot id, from memory if it was read before: a
// completed snapshot's manifest never changes. The caller must not modify it.
func (s *Store) Manifest(ctx context.Context, id string) (*Manifest, error) {
	s.mu.Lock()
	m := s.manifests[id]
	s.mu.Unlock()
	if m != nil {
		return m, nil
	}
	cctx, cancel := s.call(ctx)
	snap, _, err := s.mc.Snapshot(cctx, id)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", id, err)
	}
	if m, err = s.ReadManifest(ctx, &snap); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.manifests[id]; !ok && len(m.Entries) <= s.cfg.ManifestCacheEntries {
		s.manifests[id] = m
		s.order = append(s.order, id)
		s.cached += len(m.Entries)
		for s.cached > s.cfg.ManifestCacheEntries {
			s.cached -= len(s.manifests[s.order[0]].Entries)
			delete(s.manifests, s.order[0])
			s.order = s.order[1:]
		}
	}
	return m, nil
}

// forgetManifest drops id from the cache.
func (s *Store) forgetManifest(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.manifests[id]; ok {
		s.cached -= len(m.Entries)
		delete(s.manifests, id)
		s.order = slices.DeleteFunc(s.order, func(x string) bool { return x == id })
	}
}
