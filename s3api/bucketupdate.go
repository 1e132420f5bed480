package s3api

import (
	"context"
	"errors"

	meta "stratus/meta/client"
)

// updateBucket applies change to the caller's bucket and writes it back under the mod index
// it was read at, reading again when a concurrent change of another setting won the race,
// so two clients setting (say) tagging and CORS at once both keep their change.
func (s *Server) updateBucket(ctx context.Context, rq *request, change func(*meta.Bucket) error) error {
	for attempt := 0; ; attempt++ {
		b, mod, err := s.ownedAt(ctx, rq)
		if err != nil {
			return err
		}
		if err := change(&b); err != nil {
			return err
		}
		err = s.storeBucket(ctx, b, mod)
		if errors.Is(err, meta.ErrConflict) && attempt < 8 {
			continue
		}
		return err
	}
}

// storeBucket writes a changed bucket record under the mod index it was read at, and
// forgets what this server remembered of it: its own next write then decides on the new
// record without a failed commit first.
func (s *Server) storeBucket(ctx context.Context, b meta.Bucket, mod uint64) error {
	defer s.buckets.forget(b.Name)
	return s.meta.UpdateBucket(ctx, b, mod)
}
