package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/minio/sha256-simd"

	"stratus/internal/hlc"
	"stratus/proxy"
)

// ReadChunk fills buf (exactly ref.Size bytes) with the chunk's content: zeros for a zero
// ref, otherwise the object's version the ref names, or the current version if that one
// was superseded by a second upload of the same content. The content is checked against
// the SHA-256 before ReadChunk returns; a mismatch is ErrCorrupt and buf must not be used.
func (s *Store) ReadChunk(ctx context.Context, ref Ref, buf []byte) error {
	if int64(len(buf)) != ref.Size {
		return fmt.Errorf("snapshot chunk %s: buffer of %d bytes for %d", ref.Hex(), len(buf), ref.Size)
	}
	if ref.Zero {
		clear(buf)
		return nil
	}
	err := s.readVersion(ctx, ref, ref.Timestamp, buf)
	if errors.Is(err, proxy.ErrNotFound) && ref.Timestamp != 0 {
		err = s.readVersion(ctx, ref, 0, buf)
	}
	if err != nil {
		return fmt.Errorf("snapshot chunk %s: %w", ref.Hex(), err)
	}
	return nil
}

// readVersion reads version ts (0: the current one) of ref's object into buf and checks it.
func (s *Store) readVersion(ctx context.Context, ref Ref, ts hlc.Timestamp, buf []byte) error {
	return s.readObject(ctx, ChunkName(ref.SHA), ts, buf, ref.SHA)
}

// readObject reads exactly len(buf) bytes of version ts of name, and checks that the
// object has that length and the SHA-256 sum.
func (s *Store) readObject(ctx context.Context, name string, ts hlc.Timestamp, buf []byte, sum [sha256.Size]byte) error {
	cctx, cancel := s.call(ctx)
	defer cancel()
	obj, err := s.px.Get(cctx, name, ts, nil)
	if err != nil {
		return err
	}
	defer obj.Body.Close()
	if obj.Length != int64(len(buf)) {
		return fmt.Errorf("%w: %s holds %d bytes, want %d", ErrCorrupt, name, obj.Length, len(buf))
	}
	h := sha256.New()
	if _, err := io.ReadFull(io.TeeReader(obj.Body, h), buf); err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if got := h.Sum(nil); [sha256.Size]byte(got) != sum {
		return fmt.Errorf("%w: %s content has SHA-256 %x", ErrCorrupt, name, got)
	}
	return nil
}
