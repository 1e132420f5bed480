package client_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"stratus/internal/pki"
	"stratus/meta/client"
	"stratus/meta/metatest"
)

// TestComputeRecords: images (written by an EC2 front end), instances (written by both the
// front end and a compute host) and compute hosts round-trip, refuse malformed records and
// stale writes, and a record at its bounds fits the table.
func TestComputeRecords(t *testing.T) {
	c := metatest.New(t, metatest.Options{Nodes: 1, Quiet: true, TLS: true})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ec2, host := c.ClientAs(pki.RoleEC2API), c.ClientAs(pki.RoleComputed)

	aki, ari := client.NewImageID(client.ImageKernel), client.NewImageID(client.ImageRamdisk)
	if !client.ValidImageID(aki, client.ImageKernel) || client.ValidImageID(aki, client.ImageMachine) || len(aki) != len("aki-")+17 {
		t.Fatalf("image id %q or its checks are wrong", aki)
	}
	kernel := client.Image{ID: aki, Account: "alice", Kind: client.ImageKernel, Name: "k", Bucket: "b", Key: "vmlinux", SizeBytes: 10,
		SHA256: strings.Repeat("ab", 32)}
	if err := ec2.CreateImage(ctx, kernel); err != nil {
		t.Fatal(err)
	}
	if err := ec2.CreateImage(ctx, kernel); !errors.Is(err, client.ErrConflict) {
		t.Fatalf("second create: %v, want ErrConflict", err)
	}
	for _, bad := range []client.Image{
		{ID: client.NewImageID(client.ImageMachine), Kind: client.ImageMachine, Bucket: "b", Key: "k", Format: "vmdk"},
		{ID: aki, Kind: client.ImageMachine, Bucket: "b", Key: "k", Format: "raw"},
		{ID: client.NewImageID(client.ImageKernel), Kind: client.ImageKernel, Bucket: "b"},
		{ID: client.NewImageID(client.ImageKernel), Kind: client.ImageKernel, Bucket: "b", Key: "k", SHA256: "AB"},
	} {
		if err := ec2.CreateImage(ctx, bad); !errors.Is(err, client.ErrBadRequest) {
			t.Errorf("create image %+v: %v, want ErrBadRequest", bad, err)
		}
	}
	// An image made from an instance: no bucket, a source instance and a host; the host
	// (which may write images since it saves them) records it saved.
	src := client.NewInstanceID()
	amiID := client.NewImageID(client.ImageMachine)
	for _, bad := range []client.Image{
		{ID: amiID, Kind: client.ImageMachine, Format: "qcow2", SourceInstance: src, Host: "h1", Bucket: "b", Key: "k", State: client.ImagePending},
		{ID: amiID, Kind: client.ImageMachine, Format: "qcow2", SourceInstance: src, State: client.ImagePending},
		{ID: amiID, Kind: client.ImageMachine, Format: "qcow2", SourceInstance: src, Host: "h1", State: client.ImageAvailable},
		{ID: amiID, Kind: client.ImageMachine, Format: "qcow2", SourceInstance: src, Host: "h1", State: client.ImageAvailable, Manifest: ".image/other/manifest"},
		{ID: client.NewImageID(client.ImageKernel), Kind: client.ImageKernel, SourceInstance: src, Host: "h1", State: client.ImagePending},
	} {
		if err := ec2.CreateImage(ctx, bad); !errors.Is(err, client.ErrBadRequest) {
			t.Errorf("create image %+v: %v, want ErrBadRequest", bad, err)
		}
	}
	saved := client.Image{ID: amiID, Account: "alice", Kind: client.ImageMachine, Name: "saved", Format: "qcow2", SourceInstance: src, Host: "h1", State: client.ImagePending}
	if err := ec2.CreateImage(ctx, saved); err != nil {
		t.Fatal(err)
	}
	got, idx, err := host.Image(ctx, amiID)
	if err != nil || !got.Created() {
		t.Fatalf("saved image read back %+v, %v", got, err)
	}
	got.State, got.Manifest, got.ManifestVersion = client.ImageAvailable, client.ImageObjectPrefix(amiID)+"manifest", 7
	if err := host.UpdateImage(ctx, got, idx); err != nil {
		t.Fatalf("the host records the image saved: %v", err)
	}
	got, idx, err = host.Image(ctx, aki)
	if err != nil || got.State != client.ImageAvailable || got.CreatedAt.IsZero() || got.SHA256 != kernel.SHA256 {
		t.Fatalf("image read back %+v, %v", got, err)
	}
	got.State = client.ImageDeregistered
	if err := ec2.UpdateImage(ctx, got, idx); err != nil {
		t.Fatal(err)
	}
	if err := ec2.UpdateImage(ctx, got, idx); !errors.Is(err, client.ErrConflict) {
		t.Fatalf("stale image update: %v, want ErrConflict", err)
	}

	id := client.NewInstanceID()
	if !client.ValidInstanceID(id) || client.ValidInstanceID("i-0123") || len(id) != 19 {
		t.Fatalf("instance id %q or its checks are wrong", id)
	}
	in := client.Instance{ID: id, Account: "alice", ImageID: aki, KernelID: aki, RamdiskID: ari, InstanceType: "t3.nano",
		VCPUs: 1, MemoryMiB: 256, Zone: "us-east-1a", UserData: base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("u"), client.MaxInstanceUserDataBytes)),
		PublicKey: "ssh-ed25519 AAAA me"}
	if err := ec2.CreateInstance(ctx, in); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []client.Instance{
		{ID: "i-1", ImageID: aki, VCPUs: 1, MemoryMiB: 256},
		{ID: client.NewInstanceID(), ImageID: ari, VCPUs: 1, MemoryMiB: 256},
		{ID: client.NewInstanceID(), ImageID: aki, VCPUs: 0, MemoryMiB: 256},
		{ID: client.NewInstanceID(), ImageID: aki, VCPUs: 1, MemoryMiB: 256, UserData: "not base64!"},
		{ID: client.NewInstanceID(), ImageID: aki, VCPUs: 1, MemoryMiB: 256, UserData: base64.StdEncoding.EncodeToString(make([]byte, client.MaxInstanceUserDataBytes+1))},
		{ID: client.NewInstanceID(), ImageID: aki, VCPUs: 1, MemoryMiB: 256, State: "exploded"},
		{ID: client.NewInstanceID(), ImageID: aki, VCPUs: 1, MemoryMiB: 256, Volumes: []client.InstanceVolume{{VolumeID: client.NewVolumeID(), Device: "/dev/sda", State: client.VolumeAttaching}}},
	} {
		if err := ec2.CreateInstance(ctx, bad); !errors.Is(err, client.ErrBadRequest) {
			t.Errorf("create instance %+v: %v, want ErrBadRequest", bad.ID, err)
		}
	}
	got2, idx, err := host.Instance(ctx, id)
	if err != nil || got2.State != client.InstancePending || got2.DesiredState != client.DesireRunning || got2.LaunchTime.IsZero() {
		t.Fatalf("instance read back %+v, %v", got2, err)
	}
	if ud, err := got2.DecodeUserData(); err != nil || len(ud) != client.MaxInstanceUserDataBytes {
		t.Fatalf("user data: %d bytes, %v", len(ud), err)
	}
	// The host fills in what it did, at the record's bounds: a full console tail and every
	// volume; the record still fits the table.
	got2.Host, got2.State, got2.PrivateIP = "h1", client.InstanceRunning, "10.0.2.15"
	got2.Network = client.InstanceNetwork{Mode: "user", MAC: "52:54:00:00:00:01", SSHForwardPort: 42022}
	got2.Console = &client.InstanceConsole{Output: bytes.Repeat([]byte{0xff}, client.MaxInstanceConsoleBytes), UpdatedAt: time.Now().UTC()}
	for i := range client.MaxInstanceVolumes {
		got2.Volumes = append(got2.Volumes, client.InstanceVolume{VolumeID: client.NewVolumeID(), Device: "/dev/sd" + string(rune('b'+i)),
			State: client.VolumeAttached, AttachTime: time.Now().UTC(), DeleteOnTermination: true})
	}
	if err := host.UpdateInstance(ctx, got2, idx); err != nil {
		t.Fatalf("a full record: %v", err)
	}
	if err := ec2.UpdateInstance(ctx, got2, idx); !errors.Is(err, client.ErrConflict) {
		t.Fatalf("stale instance update: %v, want ErrConflict", err)
	}
	back, idx, err := ec2.Instance(ctx, id)
	if err != nil || back.Host != "h1" || !bytes.Equal(back.Console.Output, got2.Console.Output) || len(back.Volumes) != client.MaxInstanceVolumes ||
		back.Network != got2.Network || !back.UpdatedAt.After(back.LaunchTime) {
		t.Fatalf("instance read back %+v, %v", back.ID, err)
	}
	if b, _ := json.Marshal(back); len(b) > 64<<10 {
		t.Fatalf("a record at its bounds is %d bytes, more than the table's 64 KiB", len(b))
	}
	back.Console.Output = append(back.Console.Output, 'x')
	if err := host.UpdateInstance(ctx, back, idx); !errors.Is(err, client.ErrBadRequest) {
		t.Fatalf("an oversized console tail: %v, want ErrBadRequest", err)
	}
	all, err := host.Instances(ctx)
	if err != nil || len(all) != 1 || all[0].ID != id {
		t.Fatalf("instances: %+v, %v", all, err)
	}
	if err := ec2.DeleteInstance(ctx, id, idx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ec2.Instance(ctx, id); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("deleted instance: %v", err)
	}

	for dev, want := range map[string]string{"/dev/sdf": "vdf", "/dev/xvdb": "vdb", "/dev/vdz": "vdz", "/dev/sda": "", "/dev/sdf1": "", "sdf": ""} {
		if got, err := client.VolumeTarget(dev); got != want || (want == "") != (err != nil) {
			t.Errorf("VolumeTarget(%q) = %q, %v; want %q", dev, got, err, want)
		}
	}

	h := client.ComputeHost{Host: "h1", Zone: "us-east-1a", VCPUs: 4, MemoryMiB: 8192, DomainType: "qemu", NBDAddr: "127.0.0.1:10809", HeartbeatAt: time.Now().UTC()}
	if err := host.PutComputeHost(ctx, h); err != nil {
		t.Fatal(err)
	}
	if err := host.PutComputeHost(ctx, client.ComputeHost{Host: "h2", VCPUs: 4, MemoryMiB: 8192, DomainType: "xen"}); !errors.Is(err, client.ErrBadRequest) {
		t.Fatalf("a host with an unknown domain type: %v", err)
	}
	hs, err := ec2.ComputeHosts(ctx)
	if err != nil || len(hs) != 1 || hs[0].NBDAddr != h.NBDAddr || !hs[0].HeartbeatAt.Equal(h.HeartbeatAt) {
		t.Fatalf("compute hosts: %+v, %v", hs, err)
	}
}
