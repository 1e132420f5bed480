// Package image keeps the host's cache of machine images (EMI root disks, EKI kernels, ERI
// ramdisks) and makes each instance's root disk as a qcow2 overlay on a cached base.
//
// The cache is content-addressed: a file is named by the SHA-256 of its bytes, is written to
// a temporary file while hashed, synced, and renamed into place only when its digest is the
// one asked for, so a file present under its name is whole and verified, and instances share
// it read-only. Concurrent requests for the same digest share one download, which runs to
// completion (bounded by Config.FetchTimeout) even if the caller that started it gives up.
// Where bytes come from is injected (computed fetches them from S3), so this package knows
// nothing of S3.
//
// The cache is bounded (Config.MaxBytes): a download that would pass the bound evicts the
// least recently used images (by modification time, refreshed whenever Get hands one out)
// that are not in use by an instance (Config.InUse), never one in use (eviction.go).
//
// Overlays are made with qemu-img (qemu-utils); the base image's format is always given by
// the caller from the image's registration, never probed, because probing a raw image that
// a user wrote a qcow2 header into would let the user name any host file as a backing file.
package image
