package ec2api

import (
	"context"
	"errors"
	"slices"
	vclient "stratus/volumed/client"
	"strconv"
	"unicode/utf8"

	meta "stratus/meta/client"
)

func init() {
	actions["CreateSnapshot"] = (*Server).createSnapshot
	actions["DescribeSnapshots"] = (*Server).describeSnapshots
	actions["DeleteSnapshot"] = (*Server).deleteSnapshot
}

// maxDescriptionChars bounds a snapshot's (and an image's) description, as EC2.
const maxDescriptionChars = 255

// ownSnapshot returns a snapshot of the account and its ModIndex. Another account's
// snapshot, an operator's, a malformed ID and a snapshot being deleted (EC2 no longer
// lists one once DeleteSnapshot returned) are all InvalidSnapshot.NotFound.
func (s *Server) ownSnapshot(ctx context.Context, account, id string) (meta.Snapshot, uint64, error) {
	if !meta.ValidSnapshotID(id) {
		return meta.Snapshot{}, 0, errorf(ErrSnapshotNotFound, "The snapshot '%s' does not exist.", truncate(id, 64))
	}
	snap, idx, err := s.meta.Snapshot(ctx, id)
	if errors.Is(err, meta.ErrNotFound) || err == nil && (snap.Account != account || snap.State == meta.SnapshotDeleting) {
		return meta.Snapshot{}, 0, errorf(ErrSnapshotNotFound, "The snapshot '%s' does not exist.", id)
	}
	return snap, idx, err
}

type snapshotItem struct {
	SnapshotID    string       `xml:"snapshotId"`
	VolumeID      string       `xml:"volumeId"`
	Status        string       `xml:"status"`
	StatusMessage string       `xml:"statusMessage,omitempty"`
	StartTime     string       `xml:"startTime"`
	Progress      string       `xml:"progress"`
	OwnerID       string       `xml:"ownerId"`
	VolumeSize    int64        `xml:"volumeSize"`
	Description   string       `xml:"description"`
	Encrypted     bool         `xml:"encrypted"`
	TagSet        set[tagItem] `xml:"tagSet"`
}

// snapshotStatus maps the store's states to EC2's three: the store's pending (asked for)
// and creating (point in time fixed, chunks being copied) are both EC2's pending.
func snapshotStatus(st meta.SnapshotState) string {
	switch st {
	case meta.SnapshotCompleted:
		return "completed"
	case meta.SnapshotError:
		return "error"
	}
	return "pending"
}

// snapshotProgress is EC2's percentage: the chunks copied of the chunks to go through,
// 100% once completed (a snapshot of a volume never written has no chunks to copy).
func snapshotProgress(snap meta.Snapshot) string {
	switch {
	case snap.State == meta.SnapshotCompleted:
		return "100%"
	case snap.ChunksTotal <= 0:
		return "0%"
	}
	return strconv.FormatInt(min(snap.ChunksCopied*100/snap.ChunksTotal, 99), 10) + "%"
}

func snapshotItemOf(snap meta.Snapshot, tags map[string]string) snapshotItem {
	it := snapshotItem{SnapshotID: snap.ID, VolumeID: snap.VolumeID, Status: snapshotStatus(snap.State),
		StartTime: ec2Time(snap.CreatedAt), Progress: snapshotProgress(snap), OwnerID: snap.Account,
		VolumeSize: (snap.SizeBytes + gib - 1) / gib, Description: snap.Description, TagSet: tagSet(tags)}
	if snap.State == meta.SnapshotError {
		it.StatusMessage = snap.Error
	}
	return it
}

type createSnapshotResponse struct {
	response
	snapshotItem
}

// createSnapshot asks for a snapshot of one of the caller's volumes: a pending record (the
// one vclient.RequestSnapshot writes, with the account, description and tags in the same
// transaction), which the volumed serving the volume — or any volumed, for a detached
// volume — takes up and completes. It answers at once, pending, as EC2 does.
func (s *Server) createSnapshot(ctx context.Context, c *call) (responder, error) {
	id, err := c.Params.required("VolumeId")
	if err != nil {
		return nil, err
	}
	desc, _ := c.Params.str("Description")
	if utf8.RuneCountInString(desc) > maxDescriptionChars || !utf8.ValidString(desc) {
		return nil, errorf(ErrInvalidParameterValue, "The description must be at most %d characters of UTF-8.", maxDescriptionChars)
	}
	tags, err := c.Params.tagsFor("snapshot")
	if err != nil {
		return nil, err
	}
	v, _, err := s.ownVolume(ctx, c.Account, id)
	if err != nil {
		return nil, err
	}
	if v.State != meta.VolumeAvailable && v.State != meta.VolumeInUse {
		return nil, errorf(ErrIncorrectState, "The volume '%s' is '%s'; only an available or in-use volume can be snapshotted.", id, v.State)
	}
	snap := meta.Snapshot{ID: meta.NewSnapshotID(), VolumeID: v.ID, SizeBytes: v.SizeBytes, ChunkSizeBytes: v.ChunkSizeBytes,
		State: meta.SnapshotPending, CreatedAt: s.cfg.Now().UTC(), Account: c.Account, Description: desc}
	if err := s.meta.CreateSnapshot(ctx, snap, newTagsOps(c.Account, snap.ID, "snapshot", tags)...); err != nil {
		return nil, err
	}
	return &createSnapshotResponse{snapshotItem: snapshotItemOf(snap, tagMap(tags))}, nil
}

type describeSnapshotsResponse struct {
	response
	SnapshotSet set[snapshotItem] `xml:"snapshotSet"`
	NextToken   string            `xml:"nextToken,omitempty"`
}

var snapshotFilters = append([]string{"snapshot-id", "volume-id", "status", "owner-id", "description", "progress",
	"start-time", "volume-size", "encrypted"}, tagFilters...)

// describeSnapshots lists the caller's snapshots in ID order: SnapshotId.N (each must be
// the caller's) or, with MaxResults (5 to 1000) and NextToken, a page of them. Owner.N
// may name self or the caller's account (anything else lists nothing: no snapshot is
// shared); RestorableBy.N is accepted and ignored for the same reason.
func (s *Server) describeSnapshots(ctx context.Context, c *call) (responder, error) {
	ids, owners, fs, pg, err := c.Params.ownedListing(c.Action, "SnapshotId", "snapshotSet", "RestorableBy", snapshotFilters)
	if err != nil {
		return nil, err
	}
	all, err := s.meta.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	tags, err := s.accountTags(ctx, c.Account)
	if err != nil {
		return nil, err
	}
	var own []meta.Snapshot
	for _, snap := range all {
		if snap.Account == c.Account && snap.State != meta.SnapshotDeleting {
			own = append(own, snap)
		}
	}
	for _, id := range ids {
		if !slices.ContainsFunc(own, func(snap meta.Snapshot) bool { return snap.ID == id }) {
			return nil, errorf(ErrSnapshotNotFound, "The snapshot '%s' does not exist.", truncate(id, 64))
		}
	}
	if len(owners) > 0 && !slices.ContainsFunc(owners, func(o string) bool { return o == "self" || o == c.Account }) {
		own = nil
	}
	var match []snapshotItem
	for _, snap := range own {
		if len(ids) > 0 && !slices.Contains(ids, snap.ID) || !matchTags(fs, tags[snap.ID]) {
			continue
		}
		it := snapshotItemOf(snap, tags[snap.ID])
		if matchFields(fs, map[string]string{"snapshot-id": it.SnapshotID, "volume-id": it.VolumeID, "status": it.Status,
			"owner-id": it.OwnerID, "description": it.Description, "progress": it.Progress, "start-time": it.StartTime,
			"volume-size": strconv.FormatInt(it.VolumeSize, 10), "encrypted": "false"}) {
			match = append(match, it)
		}
	}
	items, next := paginate(c.Action, match, func(it snapshotItem) string { return it.SnapshotID }, pg)
	return &describeSnapshotsResponse{SnapshotSet: set[snapshotItem]{Items: items}, NextToken: next}, nil
}

// deleteSnapshot asks for one of the caller's snapshots to go (vclient.RequestSnapshotDelete: the
// record is marked deleting and a volumed releases its chunks and removes it). Refused with
// InvalidSnapshot.InUse while a volume made from it exists (clones read from it for as
// long as they live) or a snapshot is being taken on top of it, and with IncorrectState
// while its chunks are being copied. Its tags go at once: the snapshot is gone for EC2.
func (s *Server) deleteSnapshot(ctx context.Context, c *call) (responder, error) {
	id, err := c.Params.required("SnapshotId")
	if err != nil {
		return nil, err
	}
	if _, _, err := s.ownSnapshot(ctx, c.Account, id); err != nil {
		return nil, err
	}
	_, err = vclient.RequestSnapshotDelete(ctx, s.meta, id)
	var inUse *vclient.SnapshotInUseError
	switch {
	case errors.As(err, &inUse):
		return nil, errorf(ErrSnapshotInUse, "The snapshot %s is in use: %s", id, inUse.Error())
	case errors.Is(err, vclient.ErrSnapshotState):
		return nil, errorf(ErrIncorrectState, "The snapshot '%s' is being created; delete it once it is completed.", id)
	case errors.Is(err, meta.ErrNotFound):
		return nil, errorf(ErrSnapshotNotFound, "The snapshot '%s' does not exist.", id)
	case errors.Is(err, vclient.ErrSnapshotContention):
		return nil, errorf(ErrRequestLimitExceeded, "The snapshot changed under this request too often; try again.")
	case err != nil:
		return nil, err
	}
	if _, err := s.meta.Apply(ctx, meta.Op{Kind: meta.OpDelete, Table: meta.TableTags, Key: meta.TagsKey(c.Account, id)}); err != nil {
		s.log.Warn("tags of a deleted snapshot left behind", "snapshot", id, "err", err)
	}
	return &returnResponse{Return: true}, nil
}

// createVolumeFromSnapshot makes v (size 0: the snapshot's) from snapshot id of the
// caller, through vclient.CreateVolumeFromSnapshot, which writes the record and then checks the
// snapshot is still completed, so that a deletion racing it never loses the clone's base.
// The tags are a second write (that call takes no extra ops); if it fails the volume is
// removed again.
func (s *Server) createVolumeFromSnapshot(ctx context.Context, v meta.Volume, id string, tags []tag) (meta.Volume, error) {
	snap, _, err := s.ownSnapshot(ctx, v.Account, id)
	if err != nil {
		return v, err
	}
	if snap.State != meta.SnapshotCompleted {
		return v, errorf(ErrIncorrectState, "Snapshot is in invalid state - %s", snapshotStatus(snap.State))
	}
	if v.SizeBytes != 0 && v.SizeBytes < snap.SizeBytes {
		return v, errorf(ErrInvalidParameterValue, "Volume of %d GiB is smaller than snapshot '%s', which needs %d GiB.",
			v.SizeBytes/gib, id, (snap.SizeBytes+gib-1)/gib)
	}
	v.FromSnapshot = id
	v, err = vclient.CreateVolumeFromSnapshot(ctx, s.meta, v)
	if errors.Is(err, vclient.ErrSnapshotState) {
		return v, errorf(ErrSnapshotNotFound, "The snapshot '%s' does not exist.", id)
	}
	if err != nil {
		return v, err
	}
	if ops := newTagsOps(v.Account, v.ID, "volume", tags); len(ops) > 0 {
		if _, err := s.meta.Apply(ctx, ops...); err != nil {
			if _, idx, rerr := s.meta.Volume(ctx, v.ID); rerr == nil {
				s.meta.DeleteVolume(ctx, v.ID, idx)
			}
			return v, err
		}
	}
	return v, nil
}
