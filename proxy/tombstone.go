package proxy

import (
	"context"

	"stratus/internal/hlc"
)

// Tombstones writes a deletion of name at ts to its replicas, as Delete does but with no
// index commit and at a stamp the caller chose: bytes the index no longer names, removed
// as of just after their own version, so that a write stamped later at the same name (the
// null version of an S3 key is rewritten in place) keeps its bytes even when the deletion
// reaches a replica after it. A replica holding a newer version keeps it. It returns an
// error when fewer than a quorum took the deletion; the bytes then stay, unreferenced.
func (p *Proxy) Tombstones(ctx context.Context, name string, ts hlc.Timestamp) error {
	pl, err := p.place(name)
	if err != nil {
		return err
	}
	return p.tombstones(ctx, pl, name, ts)
}
