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
		err = s.meta.UpdateBucket(ctx, b, mod)
		if errors.Is(err, meta.ErrConflict) && attempt < 8 {
			continue
		}
		return err
	}
}
