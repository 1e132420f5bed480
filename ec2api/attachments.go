package ec2api

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	meta "stratus/meta/client"
)

func init() {
	actions["AttachVolume"] = (*Server).attachVolume
	actions["DetachVolume"] = (*Server).detachVolume
}

// Attachments.
//
// The instance record is where an attachment lives: AttachVolume adds an entry in state
// attaching to the instance's volumes, the instance's host takes the volume's lease,
// attaches the disk and marks the entry attached; DetachVolume marks it detaching, and the
// host detaches the disk, gives the lease up and removes the entry. A volume is attached
// (for EC2) while some instance lists it.
//
// What keeps one volume on one instance: AttachVolume, DetachVolume and DeleteVolume each
// write the volume record in the same transaction as their own change — unchanged, but
// conditional on the mod index they read it at, before they looked for instances listing
// it. Two of them racing on one volume cannot both commit: the second's condition fails
// and it reads again (and then sees the first's entry).

// attachmentItem is EC2's AttachmentType, as AttachVolume and DetachVolume answer it and
// DescribeVolumes lists it.
type attachmentItem struct {
	VolumeID            string `xml:"volumeId"`
	InstanceID          string `xml:"instanceId"`
	Device              string `xml:"device"`
	Status              string `xml:"status"`
	AttachTime          string `xml:"attachTime"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
}

func attachmentOf(in meta.Instance, v meta.InstanceVolume) attachmentItem {
	return attachmentItem{VolumeID: v.VolumeID, InstanceID: in.ID, Device: v.Device, Status: attachmentStatus(v.State),
		AttachTime: ec2Time(v.AttachTime), DeleteOnTermination: v.DeleteOnTermination}
}

// attachmentsByVolume maps every volume that instances list to its attachment.
func attachmentsByVolume(insts []meta.Instance) map[string]attachmentItem {
	out := map[string]attachmentItem{}
	for _, in := range insts {
		for _, v := range in.Volumes {
			out[v.VolumeID] = attachmentOf(in, v)
		}
	}
	return out
}

// attachedTo returns the instance listing volume id and its entry; ok false if none does.
func (s *Server) attachedTo(ctx context.Context, id string) (meta.Instance, uint64, meta.InstanceVolume, bool, error) {
	all, err := s.meta.Instances(ctx)
	if err != nil {
		return meta.Instance{}, 0, meta.InstanceVolume{}, false, err
	}
	for _, in := range all {
		for _, v := range in.Volumes {
			if v.VolumeID == id {
				// The list gives no mod index: read the record for it.
				rec, idx, err := s.meta.Instance(ctx, in.ID)
				if err != nil {
					return meta.Instance{}, 0, meta.InstanceVolume{}, false, err
				}
				return rec, idx, v, true, nil
			}
		}
	}
	return meta.Instance{}, 0, meta.InstanceVolume{}, false, nil
}

// volumeTouch is the write of v unchanged, conditional on modIndex: the check that the
// volume did not change since it was read, in a transaction that writes something else.
func volumeTouch(v meta.Volume, modIndex uint64) (meta.Op, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return meta.Op{}, err
	}
	return meta.Op{Kind: meta.OpPut, Table: meta.TableVolumes, Key: v.ID, Value: b, Cond: meta.CondModIndex, ModIndex: modIndex}, nil
}

// instanceWrite is the write of in, conditional on modIndex.
func instanceWrite(in meta.Instance, modIndex uint64) (meta.Op, error) {
	op, err := instanceCreateOp(in)
	op.Cond, op.ModIndex = meta.CondModIndex, modIndex
	return op, err
}

type attachmentResponse struct {
	response
	attachmentItem
}

// attachVolume attaches one of the caller's volumes to one of its instances at Device
// (/dev/sdX or /dev/xvdX, X from b to z): an available volume of the instance's zone that no
// instance lists and no host holds, on an instance that is not terminating, at a device it
// does not use. The answer is the attaching entry; the host does the rest.
func (s *Server) attachVolume(ctx context.Context, c *call) (responder, error) {
	p := c.Params
	volID, err := p.required("VolumeId")
	if err != nil {
		return nil, err
	}
	instID, err := p.required("InstanceId")
	if err != nil {
		return nil, err
	}
	dev, err := p.required("Device")
	if err != nil {
		return nil, err
	}
	target, err := meta.VolumeTarget(dev)
	if err != nil {
		return nil, errorf(ErrInvalidParameterValue, "Value (%s) for parameter device is invalid. %s is not a valid EBS device name.", truncate(dev, 32), truncate(dev, 32))
	}
	for range maxVolumeRetries {
		v, vidx, err := s.ownVolume(ctx, c.Account, volID)
		if err != nil {
			return nil, err
		}
		in, idx, err := s.ownInstance(ctx, c.Account, instID)
		if err != nil {
			return nil, err
		}
		switch st := apparentState(in); st {
		case meta.InstanceShuttingDown, meta.InstanceTerminated:
			return nil, errorf(ErrIncorrectInstanceState, "Instance '%s' is not 'running' or 'stopped'.", instID)
		}
		if v.Zone != "" && v.Zone != in.Zone || v.Zone == "" && in.Zone != s.cfg.Zones[0] {
			return nil, errorf(ErrZoneMismatch, "The volume '%s' is not in the same availability zone as instance '%s'", volID, instID)
		}
		if v.State != meta.VolumeAvailable && v.State != meta.VolumeInUse {
			return nil, errorf(ErrIncorrectState, "vol '%s' is in '%s' state.", volID, v.State)
		}
		other, _, _, listed, err := s.attachedTo(ctx, volID)
		if err != nil {
			return nil, err
		}
		if listed || v.Attachment != nil {
			who := "a host"
			if listed {
				who = other.ID
			}
			return nil, errorf(ErrVolumeInUse, "%s is already attached to %s", volID, who)
		}
		if len(in.Volumes) >= meta.MaxInstanceVolumes {
			return nil, errorf(ErrInvalidParameterValue, "Instance '%s' has %d volumes, the most it can have.", instID, meta.MaxInstanceVolumes)
		}
		if slices.ContainsFunc(in.Volumes, func(iv meta.InstanceVolume) bool { t, _ := meta.VolumeTarget(iv.Device); return t == target }) ||
			in.RootDeviceName == dev {
			return nil, errorf(ErrInvalidParameterValue, "Attachment point %s is already in use", dev)
		}
		entry := meta.InstanceVolume{VolumeID: volID, Device: dev, AttachTime: s.cfg.Now().UTC(), State: meta.VolumeAttaching}
		in.Volumes = append(in.Volumes, entry)
		in.UpdatedAt = s.cfg.Now().UTC()
		iop, err := instanceWrite(in, idx)
		if err != nil {
			return nil, err
		}
		vop, err := volumeTouch(v, vidx)
		if err != nil {
			return nil, err
		}
		_, err = s.meta.Apply(ctx, iop, vop)
		if errors.Is(err, meta.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &attachmentResponse{attachmentItem: attachmentOf(in, entry)}, nil
	}
	return nil, errorf(ErrRequestLimitExceeded, "The volume or instance changed under this request %d times; try again.", maxVolumeRetries)
}

// detachVolume asks the host to detach one of the caller's volumes: its entry turns
// detaching. InstanceId and Device, when given, must name the attachment
// (InvalidAttachment.NotFound otherwise); a volume no instance lists is IncorrectState.
// Force is accepted: the host's detach already ends with pulling the disk if the guest
// does not release it.
func (s *Server) detachVolume(ctx context.Context, c *call) (responder, error) {
	p := c.Params
	volID, err := p.required("VolumeId")
	if err != nil {
		return nil, err
	}
	if _, err := p.boolean("Force"); err != nil {
		return nil, err
	}
	wantInst, _ := p.str("InstanceId")
	wantDev, _ := p.str("Device")
	for range maxVolumeRetries {
		v, vidx, err := s.ownVolume(ctx, c.Account, volID)
		if err != nil {
			return nil, err
		}
		in, idx, entry, listed, err := s.attachedTo(ctx, volID)
		if err != nil {
			return nil, err
		}
		if !listed || in.Account != c.Account {
			return nil, errorf(ErrIncorrectState, "Volume '%s' is in the '%s' state.", volID, volumeStatus(v))
		}
		if wantInst != "" && wantInst != in.ID || wantDev != "" && wantDev != entry.Device {
			return nil, errorf(ErrAttachmentNotFound, "The volume '%s' is not attached to '%s' at '%s'.", volID, truncate(wantInst, 64), truncate(wantDev, 32))
		}
		if entry.State != meta.VolumeDetaching {
			for i := range in.Volumes {
				if in.Volumes[i].VolumeID == volID {
					in.Volumes[i].State = meta.VolumeDetaching
					entry = in.Volumes[i]
				}
			}
			in.UpdatedAt = s.cfg.Now().UTC()
			iop, err := instanceWrite(in, idx)
			if err != nil {
				return nil, err
			}
			vop, err := volumeTouch(v, vidx)
			if err != nil {
				return nil, err
			}
			_, err = s.meta.Apply(ctx, iop, vop)
			if errors.Is(err, meta.ErrConflict) {
				continue
			}
			if err != nil {
				return nil, err
			}
		}
		return &attachmentResponse{attachmentItem: attachmentOf(in, entry)}, nil
	}
	return nil, errorf(ErrRequestLimitExceeded, "The volume or instance changed under this request %d times; try again.", maxVolumeRetries)
}
