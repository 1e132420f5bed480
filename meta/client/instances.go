package client

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"time"
)

// InstanceState is where an instance is, as EC2 names it. computed moves it; the EC2 API
// sets pending (on launch) and nothing else.
type InstanceState string

const (
	InstancePending      InstanceState = "pending"
	InstanceRunning      InstanceState = "running"
	InstanceStopping     InstanceState = "stopping"
	InstanceStopped      InstanceState = "stopped"
	InstanceShuttingDown InstanceState = "shutting-down"
	InstanceTerminated   InstanceState = "terminated"
)

// DesiredInstanceState is what the API asked an instance to be; the host's computed drives
// State toward it.
type DesiredInstanceState string

const (
	DesireRunning    DesiredInstanceState = "running"
	DesireStopped    DesiredInstanceState = "stopped"
	DesireTerminated DesiredInstanceState = "terminated"
)

// InstanceVolumeState is where one volume's attachment to an instance is.
type InstanceVolumeState string

const (
	// The API adds an entry in attaching; the host takes the volume's lease, attaches the
	// disk and marks it attached. The API sets detaching; the host detaches the disk,
	// gives the lease up and removes the entry.
	VolumeAttaching InstanceVolumeState = "attaching"
	VolumeAttached  InstanceVolumeState = "attached"
	VolumeDetaching InstanceVolumeState = "detaching"
)

// Bounds of an instance record. The table holds values up to 64 KiB, and the record carries
// user data and the console's tail, so each is bounded to leave room for the rest.
const (
	// MaxInstanceUserDataBytes is EC2's limit on user data, before base64.
	MaxInstanceUserDataBytes = 16 << 10
	// MaxInstanceConsoleBytes is how much of the serial console's tail the record keeps
	// (stored base64: 32 KiB). EC2 returns up to 64 KiB; the record's size limit is why
	// this is less.
	MaxInstanceConsoleBytes = 24 << 10
	// MaxInstanceVolumes bounds the attached volumes (targets vdb to vdz).
	MaxInstanceVolumes = 25
)

const instanceIDPrefix = "i-"

// NewInstanceID returns a random instance ID, "i-" and 17 hex digits.
func NewInstanceID() string { return newEC2ID(instanceIDPrefix) }

// ValidInstanceID reports whether id has the form of an instance ID.
func ValidInstanceID(id string) bool { return validEC2ID(id, instanceIDPrefix) }

// Instance is a compute instance (table instances, key = ID).
type Instance struct {
	ID           string `json:"id"`
	Account      string `json:"account"`
	ImageID      string `json:"image_id"`             // ami- (root disk) or aki- (a kernel boot without one)
	KernelID     string `json:"kernel_id,omitempty"`  // aki-: boot this kernel directly
	RamdiskID    string `json:"ramdisk_id,omitempty"` // ari-: with this initrd
	InstanceType string `json:"instance_type"`
	VCPUs        int    `json:"vcpus"`
	MemoryMiB    int    `json:"memory_mib"`
	Zone         string `json:"zone"`
	// Host is the compute host the instance is placed on; "" until it is placed.
	Host         string               `json:"host,omitempty"`
	State        InstanceState        `json:"state"`
	DesiredState DesiredInstanceState `json:"desired_state"`
	// RebootRequests counts the reboots the API asked for; RebootsDone the ones the host
	// carried out. The host reboots a running instance while RebootsDone < RebootRequests.
	RebootRequests uint64       `json:"reboot_requests,omitempty"`
	RebootsDone    uint64       `json:"reboots_done,omitempty"`
	StateReason    *StateReason `json:"state_reason,omitempty"`
	KeyName        string       `json:"key_name,omitempty"`
	// PublicKey is the key pair's OpenSSH line, copied at launch for the config drive.
	PublicKey string `json:"public_key,omitempty"`
	// UserData is RunInstances' user data, base64 (at most MaxInstanceUserDataBytes decoded).
	UserData    string `json:"user_data,omitempty"`
	ClientToken string `json:"client_token,omitempty"`
	// ReservationID groups the instances one RunInstances call launched ("r-" and 17 hex
	// digits), as EC2's DescribeInstances reports them.
	ReservationID string    `json:"reservation_id,omitempty"`
	LaunchTime    time.Time `json:"launch_time"`
	// RootDeviceName is the root disk's device as EC2 names it ("/dev/sda1"); the host
	// attaches the root disk as vda whatever it says.
	RootDeviceName string           `json:"root_device_name,omitempty"`
	Volumes        []InstanceVolume `json:"volumes,omitempty"`
	PrivateIP      string           `json:"private_ip,omitempty"`
	Network        InstanceNetwork  `json:"network,omitzero"`
	Console        *InstanceConsole `json:"console,omitempty"`
	// CreateImage is a pending image (ami-) the API asked to make from this stopped
	// instance's root disk; its host saves the disk before any other change of state and
	// clears the field.
	CreateImage string    `json:"create_image,omitempty"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// StateReason says why an instance is in its state (EC2's StateReason).
type StateReason struct {
	Code    string `json:"code"` // EC2's codes: "Client.UserInitiatedShutdown", "Client.InstanceInitiatedShutdown", "Server.InternalError", …
	Message string `json:"message"`
}

// InstanceVolume is a volume attached (or being attached) to an instance.
type InstanceVolume struct {
	VolumeID string `json:"volume_id"`
	// Device is the name the API was given ("/dev/sdf"); the disk's target is
	// VolumeTarget(Device) ("vdf"). Inside the guest the volume is best found by its serial
	// (the volume ID), since guests name disks in the order they find them.
	Device              string              `json:"device"`
	DeleteOnTermination bool                `json:"delete_on_termination,omitempty"`
	AttachTime          time.Time           `json:"attach_time"`
	State               InstanceVolumeState `json:"state"`
}

// InstanceNetwork is how the host connected the instance, set when it defines the domain.
type InstanceNetwork struct {
	// Mode is "libvirt-network:<name>" (a NAT network of the host, DHCP by MAC) or "user"
	// (QEMU user networking; the guest's SSH port forwarded from a host loopback port).
	Mode           string `json:"mode,omitempty"`
	MAC            string `json:"mac,omitempty"`
	SSHForwardPort int    `json:"ssh_forward_port,omitempty"`
}

// InstanceConsole is the tail of the instance's serial console, as the host last read it.
type InstanceConsole struct {
	Output    []byte    `json:"output"` // at most MaxInstanceConsoleBytes; base64 in JSON
	UpdatedAt time.Time `json:"updated_at"`
}

// VolumeTarget maps a device name the EC2 API takes (/dev/sdX, /dev/xvdX, /dev/vdX, X from
// b to z) to the virtio target the host attaches the volume at (vdX). vda is the root disk.
func VolumeTarget(device string) (string, error) {
	for _, p := range []string{"/dev/sd", "/dev/xvd", "/dev/vd"} {
		if l, ok := strings.CutPrefix(device, p); ok && len(l) == 1 && 'b' <= l[0] && l[0] <= 'z' {
			return "vd" + l, nil
		}
	}
	return "", fmt.Errorf("%w: device %q is not /dev/sdX, /dev/xvdX or /dev/vdX with X from b to z", ErrBadRequest, device)
}

// Validate says what is wrong with in's shape, naming the field and the bound.
func (in Instance) Validate() error {
	switch {
	case !ValidInstanceID(in.ID):
		return fmt.Errorf("%w: instance id %q is not i- and 17 lowercase hex digits", ErrBadRequest, in.ID)
	case in.VCPUs < 1 || in.MemoryMiB < 16:
		return fmt.Errorf("%w: instance %s: vcpus (%d) must be at least 1 and memory_mib (%d) at least 16", ErrBadRequest, in.ID, in.VCPUs, in.MemoryMiB)
	case in.KernelID != "" && !ValidImageID(in.KernelID, ImageKernel):
		return fmt.Errorf("%w: instance %s: kernel_id %q is not an aki- ID", ErrBadRequest, in.ID, in.KernelID)
	case in.RamdiskID != "" && !ValidImageID(in.RamdiskID, ImageRamdisk):
		return fmt.Errorf("%w: instance %s: ramdisk_id %q is not an ari- ID", ErrBadRequest, in.ID, in.RamdiskID)
	case !ValidImageID(in.ImageID, ImageMachine) && !ValidImageID(in.ImageID, ImageKernel):
		return fmt.Errorf("%w: instance %s: image_id %q is not an ami- or aki- ID", ErrBadRequest, in.ID, in.ImageID)
	case in.Console != nil && len(in.Console.Output) > MaxInstanceConsoleBytes:
		return fmt.Errorf("%w: instance %s: console tail is %d bytes, more than %d", ErrBadRequest, in.ID, len(in.Console.Output), MaxInstanceConsoleBytes)
	case len(in.Volumes) > MaxInstanceVolumes:
		return fmt.Errorf("%w: instance %s: %d volumes, more than %d", ErrBadRequest, in.ID, len(in.Volumes), MaxInstanceVolumes)
	case in.CreateImage != "" && !ValidImageID(in.CreateImage, ImageMachine):
		return fmt.Errorf("%w: instance %s: create_image %q is not an ami- ID", ErrBadRequest, in.ID, in.CreateImage)
	}
	if in.UserData != "" {
		if _, err := in.DecodeUserData(); err != nil {
			return err
		}
	}
	switch in.State {
	case InstancePending, InstanceRunning, InstanceStopping, InstanceStopped, InstanceShuttingDown, InstanceTerminated:
	default:
		return fmt.Errorf("%w: instance state %q is not one of pending, running, stopping, stopped, shutting-down, terminated", ErrBadRequest, in.State)
	}
	switch in.DesiredState {
	case DesireRunning, DesireStopped, DesireTerminated:
	default:
		return fmt.Errorf("%w: desired state %q is not one of running, stopped, terminated", ErrBadRequest, in.DesiredState)
	}
	targets := map[string]bool{}
	for _, v := range in.Volumes {
		t, err := VolumeTarget(v.Device)
		if err != nil {
			return fmt.Errorf("instance %s: volume %s: %w", in.ID, v.VolumeID, err)
		}
		if !ValidVolumeID(v.VolumeID) || targets[t] || targets[v.VolumeID] {
			return fmt.Errorf("%w: instance %s: volume %q at %s is malformed or given twice", ErrBadRequest, in.ID, v.VolumeID, v.Device)
		}
		targets[t], targets[v.VolumeID] = true, true
		switch v.State {
		case VolumeAttaching, VolumeAttached, VolumeDetaching:
		default:
			return fmt.Errorf("%w: instance %s: volume %s state %q is not attaching, attached or detaching", ErrBadRequest, in.ID, v.VolumeID, v.State)
		}
	}
	return nil
}

// DecodeUserData returns the instance's user data, decoded from base64.
func (in Instance) DecodeUserData() ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(in.UserData)
	if err != nil {
		return nil, fmt.Errorf("%w: instance %s: user_data is not base64: %v", ErrBadRequest, in.ID, err)
	}
	if len(b) > MaxInstanceUserDataBytes {
		return nil, fmt.Errorf("%w: instance %s: user data is %d bytes, more than %d", ErrBadRequest, in.ID, len(b), MaxInstanceUserDataBytes)
	}
	return b, nil
}

// CreateInstance stores a new instance; ErrConflict if the ID exists. A zero LaunchTime
// becomes now, an empty State pending, an empty DesiredState running. extra ops (its tags,
// the volumes it attaches) are applied in the same transaction.
func (c *Client) CreateInstance(ctx context.Context, in Instance, extra ...Op) error {
	now := time.Now().UTC()
	if in.LaunchTime.IsZero() {
		in.LaunchTime = now
	}
	in.UpdatedAt = now
	if in.State == "" {
		in.State = InstancePending
	}
	if in.DesiredState == "" {
		in.DesiredState = DesireRunning
	}
	if err := in.Validate(); err != nil {
		return err
	}
	return c.createJSON(ctx, TableInstances, "instance", in.ID, in, extra)
}

// Instance returns an instance and its ModIndex (for UpdateInstance and DeleteInstance).
func (c *Client) Instance(ctx context.Context, id string, opts ...ReadOption) (Instance, uint64, error) {
	var in Instance
	idx, err := c.getJSON(ctx, TableInstances, id, &in, opts)
	return in, idx, err
}

// Instances returns every instance, in ID order.
func (c *Client) Instances(ctx context.Context, opts ...ReadOption) ([]Instance, error) {
	return listJSON[Instance](ctx, c, TableInstances, "", opts)
}

// UpdateInstance replaces an instance if it is unchanged since modIndex; ErrConflict
// otherwise (including when it was deleted). UpdatedAt is set to now. Every change is a
// read, a change and an UpdateInstance, retried from the read on ErrConflict: the API and
// the host both write the record.
func (c *Client) UpdateInstance(ctx context.Context, in Instance, modIndex uint64, extra ...Op) error {
	in.UpdatedAt = time.Now().UTC()
	if err := in.Validate(); err != nil {
		return err
	}
	return c.replaceJSON(ctx, TableInstances, "instance", in.ID, in, modIndex, extra)
}

// DeleteInstance removes an instance's record if it is unchanged since modIndex;
// ErrConflict otherwise. EC2 shows terminated instances for a while, so the API deletes a
// record some time after the host marked it terminated. extra ops (its tags) are applied in
// the same transaction.
func (c *Client) DeleteInstance(ctx context.Context, id string, modIndex uint64, extra ...Op) error {
	return c.deleteAt(ctx, TableInstances, "instance", id, modIndex, extra)
}
