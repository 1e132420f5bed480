// Package lifecycle runs the S3 lifecycle rules of every bucket that has them (stored by
// PutBucketLifecycleConfiguration in the bucket record): a [Scanner] walks such buckets
// periodically, pages through their object index, version history and multipart uploads
// (under the rules' prefixes only), and removes what the rules say is due, through the S3
// front end's own removal paths ([Remover], implemented by *s3api.Server), so bytes, parts
// and the history are treated as the S3 calls treat them.
//
// What a pass does, per enabled rule whose filter matches:
//   - Expiration (Days or Date): a current version that is due is deleted (versioning off:
//     index entry, bytes and parts) or gets a delete marker (versioning on or suspended).
//   - Expiration ExpiredObjectDeleteMarker, or Days: a delete marker that is the only
//     version left of its key is removed (with Days, once the marker is that old).
//   - NoncurrentVersionExpiration: a version is removed for good NoncurrentDays after it
//     stopped being current (the time of the version that replaced it), keeping the
//     NewerNoncurrentVersions newest noncurrent versions.
//   - AbortIncompleteMultipartUpload: an upload is aborted, its parts' bytes dropped,
//     DaysAfterInitiation after it began.
//
// Days are counted as S3 counts them: the object's time plus the days, rounded up to the
// next midnight UTC.
//
// Invariants:
//   - Every removal is conditional on what the listing showed (the entry's mod index, the
//     version still being noncurrent, the upload still in progress), so a write or delete
//     that comes in between wins and the removal is skipped. That also makes passes
//     idempotent: several S3 front ends may run scanners over the same catalog; they
//     duplicate the listing work, never a removal.
//   - Work is bounded: a pass lists at most Config.MaxEntriesPerBucket entries and removes
//     at most Config.MaxRemovalsPerBucket things per bucket (the rest waits for the next
//     pass), every catalog or storage call runs under Config.CallTimeout, and a cancelled
//     context stops the pass between calls.
//
// Tag filters match the object tags kept in each version's index entry. A key with more than maxVersionsPerKey versions
// has only its newest that many considered in a pass. Transitions are refused when the
// configuration is stored: there is one storage class.
package lifecycle
