package ec2api

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	meta "stratus/meta/client"
)

func init() { actions["RunInstances"] = (*Server).runInstances }

// Bounds of RunInstances.
const (
	// maxRunCount bounds MaxCount: one launch is one catalog transaction.
	maxRunCount = 20
	// maxClientTokenChars is EC2's bound on ClientToken.
	maxClientTokenChars = 64
	// defaultInstanceType is what RunInstances without InstanceType launches.
	defaultInstanceType = "t3.micro"
	// maxLaunchOps bounds the catalog writes of one launch (the catalog takes up to 1000 in
	// a transaction).
	maxLaunchOps = 900
)

type runInstancesResponse struct {
	response
	reservationItem
}

// runSpec is what one RunInstances call asks for, checked.
type runSpec struct {
	Type      InstanceType
	Image     meta.Image
	KernelID  string
	RamdiskID string
	Zone      string
	KeyName   string
	PublicKey string
	UserData  string
	Token     string
	Min, Max  int
	Tags      map[string][]tag
	Devices   []blockDevice
}

// blockDevice is one BlockDeviceMapping.N: a volume made for each instance.
type blockDevice struct {
	Device              string
	SnapshotID          string
	SizeGiB             int64 // 0: the snapshot's
	VolumeType          string
	DeleteOnTermination bool
	snap                meta.Snapshot
}

// runInstances launches MinCount to MaxCount instances of an image the caller may use,
// placed by the scheduler (scheduler.go), with DesiredState running: the host's computed
// boots them. One transaction stores the instances, their tags and the volumes of
// BlockDeviceMapping (attaching: the host attaches them). With ClientToken the call is
// idempotent per account: the instance IDs derive from the account and the token, so a
// repeat (even a concurrent one) finds the instances of the first and answers with them.
func (s *Server) runInstances(ctx context.Context, c *call) (responder, error) {
	spec, err := s.runSpec(ctx, c)
	if err != nil {
		return nil, err
	}
	if spec.Token != "" {
		if resp, err := s.repeatedRun(ctx, c.Account, spec); resp != nil || err != nil {
			return resp, err
		}
	}
	now := s.cfg.Now().UTC()
	rid := newID("r-")
	if spec.Token != "" {
		rid = tokenID("r-", c.Account, spec.Token, "")
	}
	insts := make([]meta.Instance, spec.Max)
	for i := range insts {
		id := meta.NewInstanceID()
		if spec.Token != "" {
			id = tokenID("i-", c.Account, spec.Token, strconv.Itoa(i))
		}
		insts[i] = meta.Instance{ID: id, Account: c.Account, ImageID: spec.Image.ID, KernelID: spec.KernelID, RamdiskID: spec.RamdiskID,
			InstanceType: spec.Type.Name, VCPUs: spec.Type.VCPUs, MemoryMiB: spec.Type.MemoryMiB, Zone: spec.Zone,
			State: meta.InstancePending, DesiredState: meta.DesireRunning, KeyName: spec.KeyName, PublicKey: spec.PublicKey,
			UserData: spec.UserData, ClientToken: spec.Token, ReservationID: rid, LaunchTime: now, UpdatedAt: now,
			RootDeviceName: spec.Image.RootDeviceName}
		if insts[i].RootDeviceName == "" {
			insts[i].RootDeviceName = "/dev/sda1"
		}
	}
	launched, err := s.launch(ctx, insts, spec.Min, spec.Type, func(launched []meta.Instance) ([]meta.Op, error) {
		return s.launchOps(c.Account, spec, launched, now)
	})
	if errors.Is(err, meta.ErrConflict) && spec.Token != "" {
		// A concurrent call with the same token won the conditional create.
		if resp, err := s.repeatedRun(ctx, c.Account, spec); resp != nil || err != nil {
			return resp, err
		}
	}
	if err != nil {
		return nil, err
	}
	if err := s.checkCloneBases(ctx, spec, launched); err != nil {
		return nil, err
	}
	tags := map[string]map[string]string{}
	for _, in := range launched {
		tags[in.ID] = tagMap(spec.Tags["instance"])
	}
	r := reservations(launched, launched, tags)
	return &runInstancesResponse{reservationItem: r[0]}, nil
}

// tokenID derives a resource ID from an account's ClientToken, so that a repeated call
// names the same resources and its conditional creates conflict with the first's.
func tokenID(prefix, account, token, n string) string {
	sum := sha256.Sum256([]byte(account + "\x00" + token + "\x00" + prefix + n))
	return prefix + hex.EncodeToString(sum[:])[:17]
}

// repeatedRun answers a RunInstances whose ClientToken the account used already: with the
// instances of that call, or IdempotentParameterMismatch if it asked for something else.
// nil, nil: the token is new.
func (s *Server) repeatedRun(ctx context.Context, account string, spec runSpec) (responder, error) {
	all, err := s.meta.Instances(ctx)
	if err != nil {
		return nil, err
	}
	var mine []meta.Instance
	for _, in := range all {
		if in.Account == account && in.ClientToken == spec.Token {
			mine = append(mine, in)
		}
	}
	if len(mine) == 0 {
		return nil, nil
	}
	if mine[0].ImageID != spec.Image.ID || mine[0].InstanceType != spec.Type.Name || len(mine) > spec.Max || mine[0].Zone != spec.Zone {
		return nil, errorf(ErrIdempotentParameterMismatch, "The client token '%s' was used with other parameters.", spec.Token)
	}
	tags, err := s.accountTags(ctx, account)
	if err != nil {
		return nil, err
	}
	return &runInstancesResponse{reservationItem: reservations(mine, mine, tags)[0]}, nil
}

// launchOps are the writes that go with the launched instances: their tags and, for each
// BlockDeviceMapping, a volume per instance (with its tags) listed in the instance's
// volumes as attaching. It fills in the instances' Volumes.
func (s *Server) launchOps(account string, spec runSpec, launched []meta.Instance, now time.Time) ([]meta.Op, error) {
	var ops []meta.Op
	for i := range launched {
		in := &launched[i]
		in.Volumes = nil
		ops = append(ops, newTagsOps(account, in.ID, "instance", spec.Tags["instance"])...)
		for _, d := range spec.Devices {
			v := meta.Volume{ID: meta.NewVolumeID(), SizeBytes: d.SizeGiB * gib, Account: account, Zone: in.Zone, VolumeType: d.VolumeType,
				State: meta.VolumeAvailable, CreatedAt: now, ChunkSizeBytes: meta.DefaultVolumeChunkSizeBytes}
			if d.SnapshotID != "" {
				v.FromSnapshot, v.ChunkSizeBytes = d.SnapshotID, d.snap.ChunkSizeBytes
				if v.SizeBytes < d.snap.SizeBytes {
					v.SizeBytes = d.snap.SizeBytes
				}
			}
			if err := v.Validate(); err != nil {
				return nil, errorf(ErrInvalidParameterValue, "Block device %s: %v", d.Device, err)
			}
			b, err := json.Marshal(v)
			if err != nil {
				return nil, err
			}
			ops = append(ops, meta.Op{Kind: meta.OpPut, Table: meta.TableVolumes, Key: v.ID, Value: b, Cond: meta.CondAbsent})
			ops = append(ops, newTagsOps(account, v.ID, "volume", spec.Tags["volume"])...)
			in.Volumes = append(in.Volumes, meta.InstanceVolume{VolumeID: v.ID, Device: d.Device,
				DeleteOnTermination: d.DeleteOnTermination, AttachTime: now, State: meta.VolumeAttaching})
		}
	}
	return ops, nil
}

// instanceCreateOp is the conditional create of one instance record, as CreateInstance
// writes it (the record already has its defaults).
func instanceCreateOp(in meta.Instance) (meta.Op, error) {
	if err := in.Validate(); err != nil {
		return meta.Op{}, err
	}
	b, err := json.Marshal(in)
	if err != nil {
		return meta.Op{}, err
	}
	return meta.Op{Kind: meta.OpPut, Table: meta.TableInstances, Key: in.ID, Value: b, Cond: meta.CondAbsent}, nil
}

// checkCloneBases follows the protocol of vclient.CreateVolumeFromSnapshot for the volumes launched
// from snapshots: their records are written, now each snapshot must still be completed
// (a deletion marks first and checks for volumes after, so one of the two sees the other).
// If one is not, the launch is withdrawn.
func (s *Server) checkCloneBases(ctx context.Context, spec runSpec, launched []meta.Instance) error {
	for _, d := range spec.Devices {
		if d.SnapshotID == "" {
			continue
		}
		snap, _, err := s.meta.Snapshot(ctx, d.SnapshotID)
		if err == nil && snap.State == meta.SnapshotCompleted {
			continue
		}
		var extra []meta.Op
		for _, in := range launched {
			for _, v := range in.Volumes {
				extra = append(extra, meta.Op{Kind: meta.OpPut, Table: meta.TableVolumes, Key: v.VolumeID, Cond: meta.CondAbsent},
					meta.Op{Kind: meta.OpDelete, Table: meta.TableTags, Key: meta.TagsKey(in.Account, v.VolumeID)})
			}
			extra = append(extra, meta.Op{Kind: meta.OpDelete, Table: meta.TableTags, Key: meta.TagsKey(in.Account, in.ID)})
		}
		if werr := s.withdraw(ctx, launched, extra); werr != nil {
			return werr
		}
		return errorf(ErrSnapshotNotFound, "The snapshot '%s' does not exist.", d.SnapshotID)
	}
	return nil
}

// runSpec reads and checks RunInstances' parameters.
func (s *Server) runSpec(ctx context.Context, c *call) (runSpec, error) {
	p := c.Params
	var spec runSpec
	imageID, err := p.required("ImageId")
	if err != nil {
		return spec, err
	}
	for _, name := range []string{"MinCount", "MaxCount"} {
		if _, err := p.required(name); err != nil {
			return spec, err
		}
	}
	minC, err := p.integer("MinCount", 1, maxRunCount, 1)
	if err != nil {
		return spec, err
	}
	maxC, err := p.integer("MaxCount", 1, maxRunCount, 1)
	if err != nil {
		return spec, err
	}
	if minC > maxC {
		return spec, errorf(ErrInvalidParameterValue, "MinCount (%d) is more than MaxCount (%d).", minC, maxC)
	}
	spec.Min, spec.Max = int(minC), int(maxC)
	tname, ok := p.str("InstanceType")
	if !ok {
		tname = defaultInstanceType
	}
	if spec.Type, ok = LookupInstanceType(tname); !ok {
		return spec, errorf(ErrInvalidParameterValue, "The instance type '%s' does not exist.", truncate(tname, 64))
	}
	spec.Zone, ok = p.str("Placement.AvailabilityZone")
	if !ok || spec.Zone == "" {
		spec.Zone = s.cfg.Zones[0]
	}
	if !s.validZone(spec.Zone) {
		return spec, errorf(ErrInvalidParameterValue, "Invalid availability zone: [%s]", truncate(spec.Zone, 64))
	}
	if ud, ok := p.str("UserData"); ok {
		raw, err := base64.StdEncoding.DecodeString(ud)
		if err != nil {
			return spec, errorf(ErrInvalidParameterValue, "Invalid BASE64 encoding of user data.")
		}
		if len(raw) > meta.MaxInstanceUserDataBytes {
			return spec, errorf(ErrInvalidParameterValue, "User data is limited to %d bytes (got %d).", meta.MaxInstanceUserDataBytes, len(raw))
		}
		spec.UserData = base64.StdEncoding.EncodeToString(raw)
	}
	if tok, ok := p.str("ClientToken"); ok {
		if len(tok) > maxClientTokenChars || strings.IndexFunc(tok, func(r rune) bool { return r < 0x21 || r > 0x7e }) >= 0 {
			return spec, errorf(ErrInvalidParameterValue, "The client token must be at most %d printable ASCII characters.", maxClientTokenChars)
		}
		spec.Token = tok
	}
	if spec.Tags, err = p.tagSpecs("instance", "volume"); err != nil {
		return spec, err
	}
	for _, name := range []string{"SecurityGroup", "SecurityGroupId", "NetworkInterface"} {
		if idx, _ := p.indexes(name); len(idx) > 0 {
			return spec, errorf(ErrUnsupportedOperation, "%s is not supported: instances get the host's network.", name)
		}
	}
	if _, ok := p.str("SubnetId"); ok {
		return spec, errorf(ErrUnsupportedOperation, "SubnetId is not supported: instances get the host's network.")
	}
	if spec.Devices, err = s.blockDevices(ctx, c); err != nil {
		return spec, err
	}
	// One launch is one catalog transaction: an instance, its tags, and a volume and its
	// tags per mapping, for each instance.
	if ops := spec.Max * (2 + 2*len(spec.Devices)); ops > maxLaunchOps {
		return spec, errorf(ErrInvalidParameterValue, "%d instances with %d block devices each are too many for one launch; launch fewer at a time.", spec.Max, len(spec.Devices))
	}
	if spec.Image, err = s.usableImage(ctx, c.Account, imageID); err != nil {
		return spec, err
	}
	if spec.Image.Kind == meta.ImageRamdisk {
		return spec, errorf(ErrImageNotFound, "The image id '[%s]' is a ramdisk; launch a machine image or a kernel.", imageID)
	}
	spec.KernelID, spec.RamdiskID = spec.Image.KernelID, spec.Image.RamdiskID
	if spec.Image.Kind == meta.ImageKernel {
		spec.KernelID = spec.Image.ID
	}
	if k, ok := p.str("KernelId"); ok {
		im, err := s.usableImage(ctx, c.Account, k)
		if err != nil || im.Kind != meta.ImageKernel {
			return spec, errorf(ErrInvalidParameterValue, "The kernel ID '%s' is not an available kernel image.", truncate(k, 64))
		}
		spec.KernelID = k
	}
	if r, ok := p.str("RamdiskId"); ok {
		im, err := s.usableImage(ctx, c.Account, r)
		if err != nil || im.Kind != meta.ImageRamdisk {
			return spec, errorf(ErrInvalidParameterValue, "The ramdisk ID '%s' is not an available ramdisk image.", truncate(r, 64))
		}
		spec.RamdiskID = r
	}
	if name, ok := p.str("KeyName"); ok {
		kps, err := s.meta.KeyPairs(ctx, c.Account)
		if err != nil {
			return spec, err
		}
		i := slices.IndexFunc(kps, func(k meta.KeyPair) bool { return k.Name == name })
		if i < 0 {
			return spec, errorf(ErrKeyPairNotFound, "The key pair '%s' does not exist", truncate(name, 255))
		}
		spec.KeyName, spec.PublicKey = name, kps[i].PublicKey
	}
	return spec, nil
}

// blockDevices reads BlockDeviceMapping.N: DeviceName (/dev/sdb to /dev/sdz, or xvd/vd) and
// Ebs.SnapshotId, Ebs.VolumeSize, Ebs.VolumeType, Ebs.DeleteOnTermination (default true,
// as EC2). A mapping of the root device, NoDevice and VirtualName (instance store) are
// refused: the root disk is the image's overlay on the host.
func (s *Server) blockDevices(ctx context.Context, c *call) ([]blockDevice, error) {
	p := c.Params
	idx, err := p.indexes("BlockDeviceMapping")
	if err != nil {
		return nil, err
	}
	var out []blockDevice
	seen := map[string]bool{}
	for _, n := range idx {
		base := "BlockDeviceMapping." + strconv.Itoa(n) + "."
		dev, err := p.required(base + "DeviceName")
		if err != nil {
			return nil, err
		}
		for _, name := range []string{"NoDevice", "VirtualName"} {
			if _, ok := p.str(base + name); ok {
				return nil, errorf(ErrUnsupportedOperation, "%s%s is not supported: instances have no instance store.", base, name)
			}
		}
		target, err := meta.VolumeTarget(dev)
		if err != nil {
			return nil, errorf(ErrInvalidParameterValue, "Invalid device name %s: want /dev/sdX (X from b to z); the root device is the image's.", truncate(dev, 64))
		}
		if seen[target] {
			return nil, errorf(ErrInvalidParameterValue, "The device %s is mapped twice.", dev)
		}
		seen[target] = true
		d := blockDevice{Device: dev, DeleteOnTermination: true, VolumeType: defaultVolumeType}
		if v, ok := p.str(base + "Ebs.DeleteOnTermination"); ok {
			d.DeleteOnTermination = strings.EqualFold(v, "true")
			if !d.DeleteOnTermination && !strings.EqualFold(v, "false") {
				return nil, errorf(ErrInvalidParameterValue, "Value (%s) for parameter %sEbs.DeleteOnTermination is invalid.", truncate(v, 16), base)
			}
		}
		if vt, ok := p.str(base + "Ebs.VolumeType"); ok {
			if !slices.Contains(volumeTypes, vt) {
				return nil, errorf(ErrInvalidParameterValue, "Value (%s) for parameter volumeType is invalid.", truncate(vt, 32))
			}
			d.VolumeType = vt
		}
		if d.SizeGiB, err = p.integer(base+"Ebs.VolumeSize", minVolumeGiB, maxVolumeGiB, 0); err != nil {
			return nil, err
		}
		if d.SnapshotID, _ = p.str(base + "Ebs.SnapshotId"); d.SnapshotID != "" {
			snap, _, err := s.ownSnapshot(ctx, c.Account, d.SnapshotID)
			if err != nil {
				return nil, err
			}
			if snap.State != meta.SnapshotCompleted {
				return nil, errorf(ErrIncorrectState, "Snapshot is in invalid state - %s", snapshotStatus(snap.State))
			}
			if d.SizeGiB != 0 && d.SizeGiB*gib < snap.SizeBytes {
				return nil, errorf(ErrInvalidParameterValue, "Volume of %d GiB is smaller than snapshot '%s'.", d.SizeGiB, d.SnapshotID)
			}
			d.snap = snap
		} else if d.SizeGiB == 0 {
			return nil, errorf(ErrMissingParameter, "The request must contain the parameter %sEbs.VolumeSize or %sEbs.SnapshotId", base, base)
		}
		out = append(out, d)
	}
	return out, nil
}
