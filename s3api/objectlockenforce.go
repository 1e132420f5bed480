package s3api

import (
	"strings"
	"time"

	meta "stratus/meta/client"
)

// Object Lock enforcement: what a version's retention period and legal hold refuse.
// Versions in a bucket with Object Lock are never replaced in place (its versioning stays
// enabled, and the index refuses a second entry for a version), so what is left to guard
// is deleting a version and changing its retention.

// errLocked is S3's answer to a delete or change the lock refuses.
var errLocked = errorf(ErrAccessDenied, "Access Denied because object protected by object lock.")

// governanceBypass reports whether rq asks to bypass GOVERNANCE retention in bucket b and
// may: the caller must be allowed s3:BypassGovernanceRetention on the key, which the bucket
// owner is unless the bucket policy denies it, and anyone else only if the policy allows it.
func (s *Server) governanceBypass(rq *request, b meta.Bucket) bool {
	return strings.EqualFold(rq.r.Header.Get("X-Amz-Bypass-Governance-Retention"), "true") &&
		s.decide(rq, b, "s3:BypassGovernanceRetention", rq.key, nil) == nil
}

// retaining reports whether l holds a retention period still in force at now.
func retaining(l *meta.ObjectLock, now time.Time) bool {
	return l != nil && l.Mode != "" && l.RetainUntil.After(now)
}

// deletable refuses deleting version e while its legal hold is on or its retention period
// is in force, unless that is GOVERNANCE and bypass is set. Delete markers carry no lock.
func deletable(e meta.ObjectEntry, now time.Time, bypass bool) error {
	l := e.Lock
	if l == nil || e.DeleteMarker {
		return nil
	}
	if l.LegalHold == "ON" {
		return errLocked
	}
	if retaining(l, now) && !(l.Mode == lockGovernance && bypass) {
		return errLocked
	}
	return nil
}

// unlockedVersion is the check a version delete makes, against the server's clock.
func (s *Server) unlockedVersion(bypass bool) func(meta.ObjectEntry) error {
	return func(e meta.ObjectEntry) error { return deletable(e, s.now(), bypass) }
}

// retentionChange refuses changing a retention period from cur to want when that weakens
// one still in force: a COMPLIANCE period may only be extended (its mode kept); a
// GOVERNANCE one may be extended or made COMPLIANCE, and anything else needs bypass.
func (s *Server) retentionChange(cur, want meta.ObjectLock, bypass bool) error {
	if !retaining(&cur, s.now()) {
		return nil
	}
	stronger := want.Mode != "" && !want.RetainUntil.Before(cur.RetainUntil) &&
		(want.Mode == lockCompliance || cur.Mode == lockGovernance)
	if stronger || cur.Mode == lockGovernance && bypass {
		return nil
	}
	return errLocked
}
