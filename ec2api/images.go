package ec2api

import (
	"context"
	"errors"
	"slices"
	"strings"
	"unicode/utf8"

	meta "stratus/meta/client"
)

func init() {
	actions["RegisterImage"] = (*Server).registerImage
	actions["DescribeImages"] = (*Server).describeImages
	actions["DeregisterImage"] = (*Server).deregisterImage
}

// Bounds of image names, EC2's.
const (
	minImageNameChars = 3
	maxImageNameChars = 128
)

// imageKindOf returns the kind an image ID names by its prefix.
func imageKindOf(id string) (meta.ImageKind, bool) {
	for _, k := range []meta.ImageKind{meta.ImageMachine, meta.ImageKernel, meta.ImageRamdisk} {
		if meta.ValidImageID(id, k) {
			return k, true
		}
	}
	return "", false
}

// visible reports whether account may see and launch im: its own images and those an
// operator registered (no account), which every account sees, like EC2's public images.
func visible(im meta.Image, account string) bool {
	return (im.Account == account || im.Account == "") && im.State != meta.ImageDeregistered
}

// usableImage returns an available image the account may launch (its own or an
// operator's); anything else is InvalidAMIID.NotFound.
func (s *Server) usableImage(ctx context.Context, account, id string) (meta.Image, error) {
	notFound := errorf(ErrImageNotFound, "The image id '[%s]' does not exist", truncate(id, 64))
	if _, ok := imageKindOf(id); !ok {
		return meta.Image{}, notFound
	}
	im, _, err := s.meta.Image(ctx, id)
	if errors.Is(err, meta.ErrNotFound) || err == nil && !visible(im, account) {
		return meta.Image{}, notFound
	}
	if err != nil {
		return meta.Image{}, err
	}
	if im.State != meta.ImageAvailable {
		return meta.Image{}, errorf(ErrIncorrectState, "The image '%s' is %s.", id, im.State)
	}
	return im, nil
}

type imageItem struct {
	ImageID            string           `xml:"imageId"`
	ImageLocation      string           `xml:"imageLocation"`
	ImageState         string           `xml:"imageState"`
	ImageOwnerID       string           `xml:"imageOwnerId"`
	CreationDate       string           `xml:"creationDate"`
	IsPublic           bool             `xml:"isPublic"`
	Architecture       string           `xml:"architecture"`
	ImageType          string           `xml:"imageType"`
	KernelID           string           `xml:"kernelId,omitempty"`
	RamdiskID          string           `xml:"ramdiskId,omitempty"`
	ImageOwnerAlias    string           `xml:"imageOwnerAlias,omitempty"`
	Name               string           `xml:"name"`
	Description        string           `xml:"description,omitempty"`
	RootDeviceType     string           `xml:"rootDeviceType"`
	RootDeviceName     string           `xml:"rootDeviceName,omitempty"`
	BlockDeviceMapping set[none]        `xml:"blockDeviceMapping"`
	VirtualizationType string           `xml:"virtualizationType"`
	TagSet             set[tagItem]     `xml:"tagSet"`
	Hypervisor         string           `xml:"hypervisor"`
	StateReason        *stateReasonItem `xml:"stateReason,omitempty"`
}

func imageItemOf(im meta.Image, tags map[string]string) imageItem {
	it := imageItem{ImageID: im.ID, ImageLocation: im.Bucket + "/" + im.Key, ImageState: string(im.State), ImageOwnerID: im.Account,
		CreationDate: ec2Time(im.CreatedAt), IsPublic: im.Account == "", Architecture: "x86_64", ImageType: string(im.Kind),
		KernelID: im.KernelID, RamdiskID: im.RamdiskID, Name: im.Name, Description: im.Description,
		RootDeviceType: "instance-store", VirtualizationType: "hvm", TagSet: tagSet(tags), Hypervisor: "xen"}
	if im.Kind == meta.ImageMachine {
		it.RootDeviceName = im.RootDeviceName
		if it.RootDeviceName == "" {
			it.RootDeviceName = "/dev/sda1"
		}
	}
	if im.Account == "" {
		it.ImageOwnerID, it.ImageOwnerAlias = "system", "system"
	}
	if im.Created() {
		// Saved by a compute host: its objects live in the store's system namespace.
		it.ImageLocation = meta.ImageObjectPrefix(im.ID)
	}
	if im.StateReason != nil {
		it.StateReason = &stateReasonItem{Code: im.StateReason.Code, Message: im.StateReason.Message}
	}
	return it
}

type registerImageResponse struct {
	response
	ImageID string `xml:"imageId"`
}

// registerImage registers an object of the caller's S3 store as an image (imagelocation.go
// reads and probes it): ImageLocation "bucket/key", Name (3 to 128 characters, unique among
// the caller's images), Description, Architecture (x86_64 only), KernelId and RamdiskId
// (defaults of a machine image's launches; kernels and ramdisks the caller may use),
// RootDeviceName. The object's user metadata "image-type" (kernel or ramdisk) registers a
// kernel (aki-) or a ramdisk (ari-) instead of a machine image, as Eucalyptus's bundles
// said in their manifest. A machine image's format, raw or qcow2, is probed from its first
// bytes; a qcow2 image that names a backing or an external data file is refused.
func (s *Server) registerImage(ctx context.Context, c *call) (responder, error) {
	p := c.Params
	loc, err := p.required("ImageLocation")
	if err != nil {
		if _, ok := p.str("BlockDeviceMapping.1.DeviceName"); ok {
			return nil, errorf(ErrUnsupportedOperation, "Images backed by EBS snapshots are not supported yet; give ImageLocation.")
		}
		return nil, err
	}
	bucket, key, ok := strings.Cut(loc, "/")
	if !ok || !validBucketName(bucket) || key == "" || len(key) > 1024 || !utf8.ValidString(key) {
		return nil, errorf(ErrInvalidParameterValue, "ImageLocation '%s' is not bucket/key.", truncate(loc, 128))
	}
	name, desc, err := imageNaming(p)
	if err != nil {
		return nil, err
	}
	if arch, ok := p.str("Architecture"); ok && arch != "x86_64" {
		return nil, errorf(ErrInvalidParameterValue, "Architecture '%s' is not supported: x86_64 only.", truncate(arch, 32))
	}
	if vt, ok := p.str("VirtualizationType"); ok && vt != "hvm" && vt != "paravirtual" {
		return nil, errorf(ErrInvalidParameterValue, "Value (%s) for parameter virtualizationType is invalid.", truncate(vt, 32))
	}
	root, _ := p.str("RootDeviceName")
	if root != "" && !strings.HasPrefix(root, "/dev/") {
		return nil, errorf(ErrInvalidParameterValue, "Invalid root device name %s.", truncate(root, 64))
	}
	im := meta.Image{Account: c.Account, Name: name, Description: desc, Bucket: bucket, Key: key,
		RootDeviceName: root, State: meta.ImageAvailable, CreatedAt: s.cfg.Now().UTC()}
	for _, ref := range []struct {
		param string
		kind  meta.ImageKind
		dst   *string
	}{{"KernelId", meta.ImageKernel, &im.KernelID}, {"RamdiskId", meta.ImageRamdisk, &im.RamdiskID}} {
		id, ok := p.str(ref.param)
		if !ok {
			continue
		}
		if got, err := s.usableImage(ctx, c.Account, id); err != nil || got.Kind != ref.kind {
			return nil, errorf(ErrInvalidParameterValue, "%s '%s' is not an available %s image.", ref.param, truncate(id, 64), ref.kind)
		}
		*ref.dst = id
	}
	images, err := s.meta.Images(ctx)
	if err != nil {
		return nil, err
	}
	if nameTaken(images, c.Account, name) {
		return nil, errorf(ErrAMINameDuplicate, "AMI name %s is already in use by AMI of this account.", name)
	}
	obj, err := s.readImageObject(ctx, c.AccessKey, bucket, key)
	if err != nil {
		return nil, err
	}
	im.Kind, im.Format, im.SizeBytes = obj.Kind, obj.Format, obj.Size
	if im.Kind != meta.ImageMachine && (im.KernelID != "" || im.RamdiskID != "") {
		return nil, errorf(ErrInvalidParameterCombination, "A %s image takes no KernelId or RamdiskId.", im.Kind)
	}
	im.ID = meta.NewImageID(im.Kind)
	if err := s.meta.CreateImage(ctx, im); err != nil {
		return nil, err
	}
	return &registerImageResponse{ImageID: im.ID}, nil
}

type describeImagesResponse struct {
	response
	ImagesSet set[imageItem] `xml:"imagesSet"`
	NextToken string         `xml:"nextToken,omitempty"`
}

var imageFilters = append([]string{"image-id", "name", "state", "image-type", "owner-id", "owner-alias", "is-public",
	"architecture", "kernel-id", "ramdisk-id", "description", "root-device-type", "virtualization-type", "hypervisor"}, tagFilters...)

// describeImages lists the images the caller may launch (its own and the operators'), in
// ID order: ImageId.N (each must be visible), Owner.N (self, the caller's account, system
// or amazon for the operators'), ExecutableBy.N (accepted; every visible image is
// executable by the caller), filters, MaxResults (5 to 1000) and NextToken.
func (s *Server) describeImages(ctx context.Context, c *call) (responder, error) {
	ids, owners, fs, pg, err := c.Params.ownedListing(c.Action, "ImageId", "imagesSet", "ExecutableBy", imageFilters)
	if err != nil {
		return nil, err
	}
	all, err := s.meta.Images(ctx)
	if err != nil {
		return nil, err
	}
	tags, err := s.accountTags(ctx, c.Account)
	if err != nil {
		return nil, err
	}
	var vis []meta.Image
	for _, im := range all {
		if visible(im, c.Account) {
			vis = append(vis, im)
		}
	}
	for _, id := range ids {
		if !slices.ContainsFunc(vis, func(im meta.Image) bool { return im.ID == id }) {
			return nil, errorf(ErrImageNotFound, "The image id '[%s]' does not exist", truncate(id, 64))
		}
	}
	ownerOK := func(im meta.Image) bool {
		if len(owners) == 0 {
			return true
		}
		for _, o := range owners {
			if im.Account == c.Account && (o == "self" || o == c.Account) || im.Account == "" && (o == "system" || o == "amazon") {
				return true
			}
		}
		return false
	}
	var match []imageItem
	for _, im := range vis {
		if len(ids) > 0 && !slices.Contains(ids, im.ID) || !ownerOK(im) || !matchTags(fs, tags[im.ID]) {
			continue
		}
		it := imageItemOf(im, tags[im.ID])
		public := "false"
		if it.IsPublic {
			public = "true"
		}
		if matchFields(fs, map[string]string{"image-id": it.ImageID, "name": it.Name, "state": it.ImageState, "image-type": it.ImageType,
			"owner-id": it.ImageOwnerID, "owner-alias": it.ImageOwnerAlias, "is-public": public, "architecture": it.Architecture,
			"kernel-id": it.KernelID, "ramdisk-id": it.RamdiskID, "description": it.Description, "root-device-type": it.RootDeviceType,
			"virtualization-type": it.VirtualizationType, "hypervisor": it.Hypervisor}) {
			match = append(match, it)
		}
	}
	items, next := paginate(c.Action, match, func(it imageItem) string { return it.ImageID }, pg)
	return &describeImagesResponse{ImagesSet: set[imageItem]{Items: items}, NextToken: next}, nil
}

// deregisterImage removes one of the caller's images with its tags, in one transaction
// conditional on the record read; an image made by CreateImage is marked deregistered
// instead (no longer listed or launchable, its name free again), and the host that saved
// it removes its objects and then the record. Instances launched from it keep running:
// their hosts hold the image in their caches (a new launch, or a start on another host,
// cannot fetch it).
// An operator's image cannot be deregistered through EC2 (UnauthorizedOperation).
func (s *Server) deregisterImage(ctx context.Context, c *call) (responder, error) {
	id, err := c.Params.required("ImageId")
	if err != nil {
		return nil, err
	}
	notFound := errorf(ErrImageNotFound, "The image id '[%s]' does not exist", truncate(id, 64))
	if _, ok := imageKindOf(id); !ok {
		return nil, notFound
	}
	for range maxVolumeRetries {
		im, idx, err := s.meta.Image(ctx, id)
		if errors.Is(err, meta.ErrNotFound) || err == nil && !visible(im, c.Account) {
			return nil, notFound
		}
		if err != nil {
			return nil, err
		}
		if im.Account != c.Account {
			return nil, errorf(ErrUnauthorizedOperation, "You are not authorized to deregister image '%s'.", id)
		}
		untag := meta.Op{Kind: meta.OpDelete, Table: meta.TableTags, Key: meta.TagsKey(c.Account, id)}
		if im.Created() {
			// Its bytes are objects the API cannot delete: marked, the host that saved
			// them removes them and then the record (computed/daemon/reapimages.go).
			im.State = meta.ImageDeregistered
			err = s.meta.UpdateImage(ctx, im, idx, untag)
		} else {
			err = s.meta.DeleteImage(ctx, id, idx, untag)
		}
		if errors.Is(err, meta.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &returnResponse{Return: true}, nil
	}
	return nil, errorf(ErrRequestLimitExceeded, "The image changed under this request %d times; try again.", maxVolumeRetries)
}

// validBucketName reports whether b is an S3 bucket name: 3 to 63 lowercase letters,
// digits, dots and hyphens, starting and ending with a letter or digit.
func validBucketName(b string) bool {
	if len(b) < 3 || len(b) > 63 || strings.Contains(b, "..") {
		return false
	}
	for i, r := range b {
		alnum := 'a' <= r && r <= 'z' || '0' <= r && r <= '9'
		if !alnum && (r != '.' && r != '-' || i == 0 || i == len(b)-1) {
			return false
		}
	}
	return true
}
