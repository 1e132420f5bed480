package ec2api

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"

	meta "stratus/meta/client"
)

func init() {
	actions["CreateVolume"] = (*Server).createVolume
	actions["DescribeVolumes"] = (*Server).describeVolumes
	actions["DeleteVolume"] = (*Server).deleteVolume
}

// Bounds of volumes, EC2's for gp2/gp3.
const (
	minVolumeGiB = 1
	maxVolumeGiB = 16384
	gib          = 1 << 30
	// defaultVolumeType is what CreateVolume without VolumeType makes, as EC2.
	defaultVolumeType = "gp2"
	// maxVolumeRetries bounds the rereads when a volume changes under a delete.
	maxVolumeRetries = 8
)

// volumeTypes are the EC2 volume types CreateVolume accepts. Stratus stores them all the
// same way (chunks on the ring); the type is kept so that DescribeVolumes shows it.
var volumeTypes = []string{"gp2", "gp3", "standard", "io1", "io2", "st1", "sc1"}

// ownVolume returns a volume of the account and its ModIndex. Another account's volume,
// or an operator's (no account), is InvalidVolume.NotFound, exactly like no volume at all.
func (s *Server) ownVolume(ctx context.Context, account, id string) (meta.Volume, uint64, error) {
	if !meta.ValidVolumeID(id) {
		return meta.Volume{}, 0, errorf(ErrVolumeIDMalformed, "Invalid id: \"%s\" (expecting \"vol-...\")", truncate(id, 64))
	}
	v, idx, err := s.meta.Volume(ctx, id)
	if errors.Is(err, meta.ErrNotFound) || err == nil && v.Account != account {
		return meta.Volume{}, 0, errorf(ErrVolumeNotFound, "The volume '%s' does not exist.", id)
	}
	return v, idx, err
}

type volumeItem struct {
	VolumeID           string              `xml:"volumeId"`
	Size               int64               `xml:"size"`
	SnapshotID         string              `xml:"snapshotId"`
	AvailabilityZone   string              `xml:"availabilityZone"`
	Status             string              `xml:"status"`
	CreateTime         string              `xml:"createTime"`
	AttachmentSet      set[attachmentItem] `xml:"attachmentSet"`
	TagSet             set[tagItem]        `xml:"tagSet"`
	VolumeType         string              `xml:"volumeType"`
	Encrypted          bool                `xml:"encrypted"`
	MultiAttachEnabled bool                `xml:"multiAttachEnabled"`
}

// volumeStatus is the EC2 status of v: its state, but in-use whenever a host holds it
// (or, see volumeItem, an instance lists it).
func volumeStatus(v meta.Volume) string {
	if v.Attachment != nil {
		return string(meta.VolumeInUse)
	}
	return string(v.State)
}

// volumeItem describes v with its tags and its attachment, if an instance lists it (att
// may be nil).
func (s *Server) volumeItem(v meta.Volume, tags map[string]string, att map[string]attachmentItem) volumeItem {
	zone, vt := v.Zone, v.VolumeType
	if zone == "" {
		zone = s.cfg.Zones[0]
	}
	if vt == "" {
		vt = defaultVolumeType
	}
	it := volumeItem{
		VolumeID: v.ID, Size: (v.SizeBytes + gib - 1) / gib, SnapshotID: v.FromSnapshot, AvailabilityZone: zone,
		Status: volumeStatus(v), CreateTime: ec2Time(v.CreatedAt), TagSet: tagSet(tags), VolumeType: vt,
	}
	if a, ok := att[v.ID]; ok {
		it.AttachmentSet.Items = []attachmentItem{a}
		if it.Status == string(meta.VolumeAvailable) {
			it.Status = string(meta.VolumeInUse)
		}
	}
	return it
}

type createVolumeResponse struct {
	response
	volumeItem
}

// createVolume makes an empty volume of Size GiB in AvailabilityZone, owned by the caller,
// with the tags of TagSpecification (resource type volume) in the same transaction.
// With SnapshotId (a completed snapshot of the caller's) the volume is a clone, available at
// once, of the snapshot's size unless Size asks for more. Encrypted and MultiAttachEnabled
// are refused, Iops and Throughput checked and ignored.
func (s *Server) createVolume(ctx context.Context, c *call) (responder, error) {
	p := c.Params
	snapID, fromSnap := p.str("SnapshotId")
	if _, ok := p.str("Size"); !ok && !fromSnap {
		return nil, errorf(ErrMissingParameter, "The request must contain the parameter Size")
	}
	size, err := p.integer("Size", minVolumeGiB, maxVolumeGiB, 0)
	if err != nil {
		return nil, err
	}
	zone, err := p.required("AvailabilityZone")
	if err != nil {
		return nil, err
	}
	if !s.validZone(zone) {
		return nil, errorf(ErrInvalidParameterValue, "Invalid availability zone: [%s]", truncate(zone, 64))
	}
	vt, ok := p.str("VolumeType")
	if !ok {
		vt = defaultVolumeType
	}
	if !slices.Contains(volumeTypes, vt) {
		return nil, errorf(ErrInvalidParameterValue, "Value (%s) for parameter volumeType is invalid. Expected one of %v.", truncate(vt, 32), volumeTypes)
	}
	for _, name := range []string{"Encrypted", "MultiAttachEnabled"} {
		on, err := p.boolean(name)
		if err != nil {
			return nil, err
		}
		if on {
			return nil, errorf(ErrUnsupportedOperation, "%s volumes are not supported.", name)
		}
	}
	for _, name := range []string{"Iops", "Throughput"} {
		if _, err := p.integer(name, 0, 1<<31, 0); err != nil {
			return nil, err
		}
	}
	tags, err := p.tagsFor("volume")
	if err != nil {
		return nil, err
	}
	v := meta.Volume{ID: meta.NewVolumeID(), SizeBytes: size * gib, Account: c.Account, Zone: zone, VolumeType: vt,
		State: meta.VolumeAvailable, CreatedAt: s.cfg.Now().UTC()}
	if fromSnap {
		if v, err = s.createVolumeFromSnapshot(ctx, v, snapID, tags); err != nil {
			return nil, err
		}
		return &createVolumeResponse{volumeItem: s.volumeItem(v, tagMap(tags), nil)}, nil
	}
	if err := s.meta.CreateVolume(ctx, v, newTagsOps(c.Account, v.ID, "volume", tags)...); err != nil {
		return nil, err
	}
	return &createVolumeResponse{volumeItem: s.volumeItem(v, tagMap(tags), nil)}, nil
}

type describeVolumesResponse struct {
	response
	VolumeSet set[volumeItem] `xml:"volumeSet"`
	NextToken string          `xml:"nextToken,omitempty"`
}

// volumeFilters are the filters DescribeVolumes takes.
var volumeFilters = append([]string{"volume-id", "status", "size", "availability-zone", "volume-type",
	"snapshot-id", "encrypted", "multi-attach-enabled", "create-time", "attachment.instance-id", "attachment.device",
	"attachment.status", "attachment.delete-on-termination"}, tagFilters...)

// describeVolumes lists the caller's volumes in ID order: VolumeId.N (each must be the
// caller's) or, with MaxResults (5 to 500) and NextToken, a page of them.
func (s *Server) describeVolumes(ctx context.Context, c *call) (responder, error) {
	ids, err := c.Params.list("VolumeId")
	if err != nil {
		return nil, err
	}
	fs, err := c.Params.filters(volumeFilters...)
	if err != nil {
		return nil, err
	}
	pg, err := c.Params.page(c.Action, 5, 500)
	if err != nil {
		return nil, err
	}
	if len(ids) > 0 && pg.Max > 0 {
		return nil, errorf(ErrInvalidParameterCombination, "The parameter volumeSet cannot be used with the parameter maxResults")
	}
	for _, id := range ids {
		if !meta.ValidVolumeID(id) {
			return nil, errorf(ErrVolumeIDMalformed, "Invalid id: \"%s\" (expecting \"vol-...\")", truncate(id, 64))
		}
	}
	all, err := s.meta.Volumes(ctx)
	if err != nil {
		return nil, err
	}
	tags, err := s.accountTags(ctx, c.Account)
	if err != nil {
		return nil, err
	}
	insts, err := s.ownInstances(ctx, c.Account)
	if err != nil {
		return nil, err
	}
	att := attachmentsByVolume(insts)
	var own []meta.Volume
	for _, v := range all {
		if v.Account == c.Account {
			own = append(own, v)
		}
	}
	for _, id := range ids {
		if !slices.ContainsFunc(own, func(v meta.Volume) bool { return v.ID == id }) {
			return nil, errorf(ErrVolumeNotFound, "The volume '%s' does not exist.", id)
		}
	}
	var match []volumeItem
	for _, v := range own {
		if len(ids) > 0 && !slices.Contains(ids, v.ID) || !matchTags(fs, tags[v.ID]) {
			continue
		}
		it := s.volumeItem(v, tags[v.ID], att)
		if matchFields(fs, map[string]string{"volume-id": it.VolumeID, "status": it.Status, "size": strconv.FormatInt(it.Size, 10),
			"availability-zone": it.AvailabilityZone, "volume-type": it.VolumeType, "snapshot-id": it.SnapshotID,
			"encrypted": "false", "multi-attach-enabled": "false", "create-time": it.CreateTime}) && matchAttachment(fs, it.AttachmentSet.Items) {
			match = append(match, it)
		}
	}
	items, next := paginate(c.Action, match, func(it volumeItem) string { return it.VolumeID }, pg)
	return &describeVolumesResponse{VolumeSet: set[volumeItem]{Items: items}, NextToken: next}, nil
}

// accountTags returns the tags of every resource of the account, by resource ID.
func (s *Server) accountTags(ctx context.Context, account string) (map[string]map[string]string, error) {
	all, err := s.meta.AccountTags(ctx, account)
	if err != nil {
		return nil, err
	}
	out := make(map[string]map[string]string, len(all))
	for _, rt := range all {
		out[rt.Resource] = rt.Tags
	}
	return out, nil
}

// deleteVolume removes a volume of the caller that no host holds, with its tags, in one
// transaction conditional on the volume being unchanged since it was checked.
func (s *Server) deleteVolume(ctx context.Context, c *call) (responder, error) {
	id, err := c.Params.required("VolumeId")
	if err != nil {
		return nil, err
	}
	for range maxVolumeRetries {
		v, idx, err := s.ownVolume(ctx, c.Account, id)
		if err != nil {
			return nil, err
		}
		// Read after the volume: an attach committed since changed the volume too, and the
		// conditional delete below fails.
		in, _, _, listed, err := s.attachedTo(ctx, id)
		if err != nil {
			return nil, err
		}
		switch {
		case listed:
			return nil, errorf(ErrVolumeInUse, "Volume %s is currently attached to %s.", id, in.ID)
		case v.Attachment != nil || v.State == meta.VolumeInUse:
			host := "a host"
			if v.Attachment != nil {
				host = "host " + v.Attachment.Host
			}
			return nil, errorf(ErrVolumeInUse, "Volume %s is currently attached to %s.", id, host)
		case v.State == meta.VolumeCreating || v.State == meta.VolumeDeleting:
			return nil, errorf(ErrIncorrectState, "The volume '%s' is '%s'.", id, v.State)
		}
		err = s.meta.DeleteVolume(ctx, id, idx, meta.Op{Kind: meta.OpDelete, Table: meta.TableTags, Key: meta.TagsKey(c.Account, id)})
		if errors.Is(err, meta.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &returnResponse{Return: true}, nil
	}
	return nil, errorf(ErrRequestLimitExceeded, "The volume changed under this request %d times; try again.", maxVolumeRetries)
}

// matchAttachment reports whether a volume with attachments passes the attachment.*
// filters of fs (a volume with none passes only if there are none).
func matchAttachment(fs []filter, atts []attachmentItem) bool {
	for _, f := range fs {
		if !strings.HasPrefix(f.Name, "attachment.") {
			continue
		}
		ok := false
		for _, a := range atts {
			v := map[string]string{"attachment.instance-id": a.InstanceID, "attachment.device": a.Device,
				"attachment.status": a.Status, "attachment.delete-on-termination": strconv.FormatBool(a.DeleteOnTermination)}[f.Name]
			ok = ok || matchAny(f.Values, v)
		}
		if !ok {
			return false
		}
	}
	return true
}
