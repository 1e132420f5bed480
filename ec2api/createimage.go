package ec2api

import (
	"context"
	"errors"
	"strings"
	"unicode/utf8"

	meta "stratus/meta/client"
)

func init() {
	actions["CreateImage"] = (*Server).createImage
}

// createImage makes a machine image from the root disk of one of the caller's stopped
// instances: InstanceId, Name (3 to 128 characters, unique among the caller's images),
// Description, NoReboot (accepted: the instance is stopped anyway), TagSpecification
// (image). It stores a pending image (the source's kernel and ramdisk as its defaults, the
// instance's host as the one that saves it) and sets the instance's CreateImage request in
// one transaction conditional on the instance read; the host flattens the disk into the
// object store and marks the image available (computed/daemon/saveimage.go).
//
// Refused: a running (or starting, stopping) instance, IncorrectInstanceState — EC2 stops,
// snapshots and restarts it (or snapshots it live with NoReboot); here the caller stops it,
// so the saved disk is one the guest shut down cleanly; an instance with no root disk (a
// kernel boot, aki-), InvalidParameterValue, since there is no disk to save and its kernel
// and ramdisk are already images; an instance with an image being made from it,
// IncorrectInstanceState; BlockDeviceMapping (volumes in the image), UnsupportedOperation.
func (s *Server) createImage(ctx context.Context, c *call) (responder, error) {
	p := c.Params
	instID, err := p.required("InstanceId")
	if err != nil {
		return nil, err
	}
	name, desc, err := imageNaming(p)
	if err != nil {
		return nil, err
	}
	if _, err := p.boolean("NoReboot"); err != nil {
		return nil, err
	}
	for k := range p {
		if strings.HasPrefix(k, "BlockDeviceMapping.") {
			return nil, errorf(ErrUnsupportedOperation, "CreateImage saves the root disk only: BlockDeviceMapping is not supported.")
		}
	}
	tags, err := p.tagsFor("image")
	if err != nil {
		return nil, err
	}
	for range maxInstanceRetries {
		in, idx, err := s.ownInstance(ctx, c.Account, instID)
		if err != nil {
			return nil, err
		}
		if !meta.ValidImageID(in.ImageID, meta.ImageMachine) {
			return nil, errorf(ErrInvalidParameterValue, "Instance '%s' has no root disk to save: it boots kernel %s directly. Launch its kernel and ramdisk again instead.", instID, in.ImageID)
		}
		if st := apparentState(in); st != meta.InstanceStopped {
			return nil, errorf(ErrIncorrectInstanceState, "The instance '%s' is not in the 'stopped' state (it is '%s'); stop it first.", instID, st)
		}
		if in.CreateImage != "" {
			return nil, errorf(ErrIncorrectInstanceState, "The instance '%s' is busy: image %s is being created from it.", instID, in.CreateImage)
		}
		images, err := s.meta.Images(ctx)
		if err != nil {
			return nil, err
		}
		if nameTaken(images, c.Account, name) {
			return nil, errorf(ErrAMINameDuplicate, "AMI name %s is already in use by AMI of this account.", name)
		}
		kernel, ramdisk := in.KernelID, in.RamdiskID
		if src, _, err := s.meta.Image(ctx, in.ImageID); err == nil {
			if kernel == "" {
				kernel = src.KernelID
			}
			if ramdisk == "" {
				ramdisk = src.RamdiskID
			}
		}
		im := meta.Image{ID: meta.NewImageID(meta.ImageMachine), Account: c.Account, Kind: meta.ImageMachine, Name: name,
			Description: desc, Format: "qcow2", KernelID: kernel, RamdiskID: ramdisk, RootDeviceName: in.RootDeviceName,
			State: meta.ImagePending, CreatedAt: s.cfg.Now().UTC(), SourceInstance: in.ID, Host: in.Host}
		in.CreateImage = im.ID
		op, err := instanceWrite(in, idx)
		if err != nil {
			return nil, err
		}
		err = s.meta.CreateImage(ctx, im, append([]meta.Op{op}, newTagsOps(c.Account, im.ID, "image", tags)...)...)
		if errors.Is(err, meta.ErrConflict) {
			continue // the instance changed (its host wrote it): look again
		}
		if err != nil {
			return nil, err
		}
		return &registerImageResponse{ImageID: im.ID}, nil
	}
	return nil, errorf(ErrRequestLimitExceeded, "The instance changed under this request %d times; try again.", maxInstanceRetries)
}

// checkImageName checks an AMI name as EC2 does: 3 to 128 characters, one line.
// imageNaming reads and checks an image's Name and Description, as RegisterImage and
// CreateImage take them.
func imageNaming(p params) (name, desc string, err error) {
	if name, err = p.required("Name"); err != nil {
		return "", "", err
	}
	if err := checkImageName(name); err != nil {
		return "", "", err
	}
	desc, _ = p.str("Description")
	if utf8.RuneCountInString(desc) > maxDescriptionChars || !utf8.ValidString(desc) {
		return "", "", errorf(ErrInvalidParameterValue, "The description must be at most %d characters of UTF-8.", maxDescriptionChars)
	}
	return name, desc, nil
}

func checkImageName(name string) error {
	if n := utf8.RuneCountInString(name); n < minImageNameChars || n > maxImageNameChars || strings.ContainsAny(name, "\x00\n\r") || !utf8.ValidString(name) {
		return errorf(ErrInvalidParameterValue, "AMI names must be between %d and %d characters long.", minImageNameChars, maxImageNameChars)
	}
	return nil
}

// nameTaken reports whether account has an image called name that is not deregistered.
func nameTaken(images []meta.Image, account, name string) bool {
	for _, o := range images {
		if o.Account == account && o.Name == name && o.State != meta.ImageDeregistered {
			return true
		}
	}
	return false
}
