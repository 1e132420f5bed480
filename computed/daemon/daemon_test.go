package daemon_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"stratus/computed/daemon"
	"stratus/computed/driver"
	"stratus/computed/image"
	"stratus/computed/libvirtdriver"
	"stratus/internal/hlc"
	"stratus/internal/pki"
	"stratus/internal/testcluster"
	"stratus/internal/testguest"
	itestutil "stratus/internal/testutil"
	"stratus/meta/client"
	"stratus/meta/metatest"
	objclient "stratus/objectd/client"
	"stratus/proxy"
	"stratus/ring"
	"stratus/volumed"
)

// TestInstanceLifecycle runs computed against a real catalog (meta over mutual TLS), three
// storage nodes, a volumed serving NBD on loopback and the system libvirtd under TCG. The
// test guest's kernel and initrd are stored as S3 stores objects (bytes through a proxy,
// the version in meta's object index) and registered as images; an instance placed on the
// host reaches running with its console tail (boot marker, user data) in its record; a
// volume attached live receives the guest's marker; the guest powers itself off (stopped);
// termination removes the domain and files and hands the volume back. A domain left by a
// previous run with no record is removed at start.
func TestInstanceLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a guest under TCG (about 20 s)")
	}
	uri := testguest.Libvirtd(t)
	g := testguest.BuildGuest(t)
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img not installed (apt-get install qemu-utils)")
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Second)
	defer cancel()

	meta := metatest.New(t, metatest.Options{Nodes: 1, Quiet: true, TLS: true})
	st := testcluster.StartStorage(t, testcluster.StorageOptions{Nodes: 3, Replicas: 3, PKI: meta.PKI})
	admin := meta.Client()
	const host = "h1"

	// The images, stored as the S3 API stores a single-part PUT.
	writer := newProxy(t, meta, st.Ring, pki.RoleProxy)
	if err := admin.CreateAccount(ctx, client.Account{ID: "alice"}); err != nil {
		t.Fatal(err)
	}
	if err := admin.CreateBucket(ctx, client.Bucket{Name: "images", Owner: "alice"}); err != nil {
		t.Fatal(err)
	}
	kernelSum := putObject(t, ctx, admin, writer, "images", "vmlinux", g.Kernel)
	putObject(t, ctx, admin, writer, "images", "initrd.img", g.Initrd)
	ec2 := meta.ClientAs(pki.RoleEC2API)
	aki, ari := client.NewImageID(client.ImageKernel), client.NewImageID(client.ImageRamdisk)
	// The kernel is registered with its digest; the ramdisk without (the host hashes it).
	if err := ec2.CreateImage(ctx, client.Image{ID: aki, Account: "alice", Kind: client.ImageKernel, Name: "k", Bucket: "images", Key: "vmlinux", SHA256: kernelSum}); err != nil {
		t.Fatal(err)
	}
	if err := ec2.CreateImage(ctx, client.Image{ID: ari, Account: "alice", Kind: client.ImageRamdisk, Name: "r", Bucket: "images", Key: "initrd.img"}); err != nil {
		t.Fatal(err)
	}

	// The host's volumed, serving NBD on loopback TCP for QEMU.
	vcfg := volumed.DefaultConfig()
	vcfg.Host, vcfg.LeaseTTL, vcfg.ResyncInterval = host, 6*time.Second, time.Second
	vcfg.Logger = itestutil.Logger(t).With("part", "volumed")
	vid := meta.Identity(pki.IssueRequest{Role: pki.RoleVolumed, Name: "test-volumed-oc"})
	vcl := objclient.New(objclient.Config{TLS: vid.ClientTLS(pki.RoleObjectd), Timeout: 5 * time.Second})
	t.Cleanup(vcl.CloseIdleConnections)
	vsrv, err := volumed.NewServer(vcfg, meta.ClientAs(pki.RoleVolumed), vcl, func() *ring.Ring { return st.Ring })
	if err != nil {
		t.Fatal(err)
	}
	nbdLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	vctx, vstop := context.WithCancel(context.Background())
	vdone := make(chan error, 1)
	go func() { vdone <- vsrv.Run(vctx, nbdLn) }()
	t.Cleanup(func() { vstop(); <-vdone })
	volID := client.NewVolumeID()
	if err := ec2.CreateVolume(ctx, client.Volume{ID: volID, SizeBytes: 64 << 20, Account: "alice"}); err != nil {
		t.Fatal(err)
	}

	// The hypervisor, with an orphan: a domain the daemon defined, whose record is gone; and
	// another daemon's domain, which is left alone.
	dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
	drv, err := libvirtdriver.New(dctx, libvirtdriver.Config{URI: uri, CallTimeout: 20 * time.Second})
	dcancel()
	if err != nil {
		t.Skipf("libvirt: %v", err)
	}
	t.Cleanup(func() { drv.Close() })
	dataDir, err := os.MkdirTemp("", "stratus-computed-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dataDir) })
	cfg := daemon.DefaultConfig()
	cfg.Host, cfg.Zone, cfg.DomainType, cfg.VCPUs, cfg.MemoryMiB = host, "us-east-1a", driver.DomainQEMU, 2, 1024
	cfg.DataDir, cfg.NBDAddr = dataDir, nbdLn.Addr().String()
	// Ports of their own: other test packages boot guests with the default range at the same
	// time, and one of them could take a stopped instance's port before it starts again.
	cfg.SSHPortFirst, cfg.SSHPortLast = 23200, 23999
	orphan, foreign := client.NewInstanceID(), client.NewInstanceID()
	for name, owner := range map[string]string{orphan: cfg.DomainOwner(), foreign: "another-host:" + dataDir} {
		if err := drv.Define(ctx, driver.Spec{Name: name, VCPUs: 1, MemoryMiB: 64, Type: driver.DomainQEMU, Kernel: g.Kernel,
			ConsoleLog: filepath.Join(dataDir, name+".log"), Owner: owner}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { drv.Undefine(context.Background(), name) })
	}
	cfg.KernelCmdline = "console=ttyS0 quiet panic=-1 stratus.wait=30"
	cfg.HeartbeatInterval, cfg.PollInterval, cfg.ConsoleInterval, cfg.StopGrace = time.Second, 250*time.Millisecond, 500*time.Millisecond, 5*time.Second
	cfg.LeaseTTL = vcfg.LeaseTTL
	cfg.SavedImagePartBytes = 64 << 10 // a saved image of a few hundred KiB in several parts
	cfg.Logger = itestutil.Logger(t).With("part", "computed")
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	mc := meta.ClientAs(pki.RoleComputed)
	d, err := daemon.New(cfg, mc, drv, newProxy(t, meta, st.Ring, pki.RoleComputed))
	if err != nil {
		t.Fatal(err)
	}
	stopDaemon := runDaemon(t, d)

	itestutil.Eventually(t, 10*time.Second, func() error {
		if _, err := drv.State(ctx, orphan); !errors.Is(err, driver.ErrNotFound) {
			return fmt.Errorf("orphan domain: %v", err)
		}
		return nil
	})
	if _, err := drv.State(ctx, foreign); err != nil {
		t.Fatalf("another daemon's domain: %v", err)
	}

	// Launch.
	id := client.NewInstanceID()
	userData := "hello from user data"
	launched := time.Now()
	if err := ec2.CreateInstance(ctx, client.Instance{ID: id, Account: "alice", ImageID: aki, RamdiskID: ari, InstanceType: "t3.nano",
		VCPUs: 1, MemoryMiB: 256, Zone: "us-east-1a", Host: host, UserData: base64.StdEncoding.EncodeToString([]byte(userData))}); err != nil {
		t.Fatal(err)
	}
	in := waitInstance(t, ctx, ec2, id, 60*time.Second, "running", func(in client.Instance) bool { return in.State == client.InstanceRunning })
	t.Logf("running %v after the record was written", time.Since(launched).Round(time.Millisecond))
	if in.Network.Mode != "user" || in.Network.SSHForwardPort < cfg.SSHPortFirst || in.PrivateIP != "10.0.2.15" {
		t.Errorf("network of the running instance: %+v, private IP %q", in.Network, in.PrivateIP)
	}
	for _, f := range []string{"config.iso", "console.log"} {
		if _, err := os.Stat(filepath.Join(dataDir, "instances", id, f)); err != nil {
			t.Errorf("instance file: %v", err)
		}
	}
	waitInstance(t, ctx, ec2, id, 30*time.Second, "console shows the boot and the user data", func(in client.Instance) bool {
		return in.Console != nil && bytes.Contains(in.Console.Output, []byte(testguest.BootMarker)) && bytes.Contains(in.Console.Output, []byte(userData))
	})
	itestutil.Eventually(t, 5*time.Second, func() error {
		h, err := ec2.ComputeHost(ctx, host)
		if err != nil || h.UsedVCPUs != 1 || h.UsedMemoryMiB != 256 || h.NBDAddr != cfg.NBDAddr || time.Since(h.HeartbeatAt) > 3*time.Second {
			return fmt.Errorf("host registration %+v, %v", h, err)
		}
		return nil
	})

	// Attach a volume live, as AttachVolume will: the guest writes its marker to it, then
	// powers itself off.
	attached := time.Now()
	updateInstance(t, ctx, ec2, id, func(in *client.Instance) {
		in.Volumes = append(in.Volumes, client.InstanceVolume{VolumeID: volID, Device: "/dev/sdf", State: client.VolumeAttaching})
	})
	waitInstance(t, ctx, ec2, id, 40*time.Second, "volume attached", func(in client.Instance) bool {
		return len(in.Volumes) == 1 && in.Volumes[0].State == client.VolumeAttached
	})
	t.Logf("volume attached %v after the request", time.Since(attached).Round(time.Millisecond))
	in = waitInstance(t, ctx, ec2, id, 40*time.Second, "stopped by the guest", func(in client.Instance) bool { return in.State == client.InstanceStopped })
	if in.DesiredState != client.DesireStopped || in.StateReason == nil || in.StateReason.Code != "Client.InstanceInitiatedShutdown" {
		t.Errorf("after the guest's power-off: desired %s, reason %+v", in.DesiredState, in.StateReason)
	}
	in = waitInstance(t, ctx, ec2, id, 10*time.Second, "console shows the volume written", func(in client.Instance) bool {
		return in.Console != nil && bytes.Contains(in.Console.Output, []byte(testguest.VolumeWritten+" "+volID))
	})
	block := readVolume(t, ctx, cfg.NBDAddr, volID)
	if want := testguest.VolumeMarker + " " + volID; !bytes.HasPrefix(block, []byte(want)) {
		t.Fatalf("volume's first block starts %q, want %q", block[:min(len(block), 64)], want)
	}

	// Detach the volume from the stopped instance, as DetachVolume will: it leaves the
	// definition, the lease is given up, the entry goes.
	updateInstance(t, ctx, ec2, id, func(in *client.Instance) { in.Volumes[0].State = client.VolumeDetaching })
	waitInstance(t, ctx, ec2, id, 20*time.Second, "volume detached", func(in client.Instance) bool { return len(in.Volumes) == 0 })
	if v, _, err := ec2.Volume(ctx, volID); err != nil || v.State != client.VolumeAvailable || v.Attachment != nil {
		t.Fatalf("volume after the detach: %+v, %v", v, err)
	}
	doms, err := drv.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, dom := range doms {
		if dom.Name == id && len(dom.Volumes) != 0 {
			t.Fatalf("the stopped domain still has %+v", dom.Volumes)
		}
	}

	// An image requested of this instance, which boots a kernel and has no root disk (the
	// EC2 API refuses that; a record written anyway): the host records it failed, with why,
	// and drops the request.
	noDisk := client.NewImageID(client.ImageMachine)
	if err := ec2.CreateImage(ctx, client.Image{ID: noDisk, Account: "alice", Kind: client.ImageMachine, Name: "nodisk", Format: "qcow2",
		SourceInstance: id, Host: host, State: client.ImagePending}); err != nil {
		t.Fatal(err)
	}
	updateInstance(t, ctx, ec2, id, func(in *client.Instance) { in.CreateImage = noDisk })
	waitInstance(t, ctx, ec2, id, 10*time.Second, "image request dropped", func(in client.Instance) bool { return in.CreateImage == "" })
	if im, _, err := ec2.Image(ctx, noDisk); err != nil || im.State != client.ImageFailed || im.StateReason == nil ||
		!strings.Contains(im.StateReason.Message, "no root disk") {
		t.Errorf("image of an instance with no root disk: %+v, %v", im, err)
	}

	// Terminate.
	terminated := time.Now()
	updateInstance(t, ctx, ec2, id, func(in *client.Instance) { in.DesiredState = client.DesireTerminated })
	in = waitInstance(t, ctx, ec2, id, 30*time.Second, "terminated", func(in client.Instance) bool { return in.State == client.InstanceTerminated })
	t.Logf("terminated %v after the request", time.Since(terminated).Round(time.Millisecond))
	if _, err := drv.State(ctx, id); !errors.Is(err, driver.ErrNotFound) {
		t.Errorf("domain after termination: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "instances", id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("instance files after termination: %v", err)
	}
	if len(in.Volumes) != 0 || in.Console == nil {
		t.Errorf("terminated record: volumes %+v, console kept %v", in.Volumes, in.Console != nil)
	}
	v, _, err := ec2.Volume(ctx, volID)
	if err != nil || v.State != client.VolumeAvailable || v.Attachment != nil {
		t.Fatalf("volume after termination: %+v, %v", v, err)
	}

	// A third instance with the volume from the start: it is in the definition, the guest
	// writes to it at boot and powers off; terminated, the volume (delete on termination)
	// goes to the reapers.
	id3 := client.NewInstanceID()
	if err := ec2.CreateInstance(ctx, client.Instance{ID: id3, Account: "alice", ImageID: aki, RamdiskID: ari, InstanceType: "t3.nano",
		VCPUs: 1, MemoryMiB: 256, Zone: "us-east-1a", Host: host,
		Volumes: []client.InstanceVolume{{VolumeID: volID, Device: "/dev/xvdg", State: client.VolumeAttaching, DeleteOnTermination: true}}}); err != nil {
		t.Fatal(err)
	}
	in = waitInstance(t, ctx, ec2, id3, 40*time.Second, "stopped by the guest after writing the volume", func(in client.Instance) bool {
		return in.State == client.InstanceStopped && in.Console != nil && bytes.Contains(in.Console.Output, []byte(testguest.VolumeWritten+" "+volID))
	})
	// Guests name disks in the order they find them (this one's only disk is its vda): the
	// serial identifies the volume.
	diskLine := regexp.MustCompile(testguest.DiskLine + ` vd[a-z] [0-9]+ ` + volID)
	if len(in.Volumes) != 1 || in.Volumes[0].State != client.VolumeAttached || !diskLine.Match(in.Console.Output) {
		t.Errorf("volume in the definition: %+v, console:\n%s", in.Volumes, in.Console.Output)
	}
	updateInstance(t, ctx, ec2, id3, func(in *client.Instance) { in.DesiredState = client.DesireTerminated })
	waitInstance(t, ctx, ec2, id3, 30*time.Second, "terminated", func(in client.Instance) bool { return in.State == client.InstanceTerminated })
	if v, _, err := ec2.Volume(ctx, volID); err == nil && v.State != client.VolumeDeleting || err != nil && !errors.Is(err, client.ErrNotFound) {
		t.Errorf("volume deleted on termination: %+v, %v", v, err)
	}

	// An image whose object is in another account's bucket: the launch fails for good.
	if err := admin.CreateBucket(ctx, client.Bucket{Name: "bobs", Owner: "bob"}); err != nil {
		t.Fatal(err)
	}
	stolen := client.NewImageID(client.ImageKernel)
	if err := ec2.CreateImage(ctx, client.Image{ID: stolen, Account: "alice", Kind: client.ImageKernel, Name: "s", Bucket: "bobs", Key: "vmlinux"}); err != nil {
		t.Fatal(err)
	}
	bad := client.NewInstanceID()
	if err := ec2.CreateInstance(ctx, client.Instance{ID: bad, Account: "alice", ImageID: stolen, InstanceType: "t3.nano",
		VCPUs: 1, MemoryMiB: 256, Zone: "us-east-1a", Host: host}); err != nil {
		t.Fatal(err)
	}
	in = waitInstance(t, ctx, ec2, bad, 10*time.Second, "terminated", func(in client.Instance) bool { return in.State == client.InstanceTerminated })
	if in.StateReason == nil || in.StateReason.Code != "Server.InternalError" || !strings.Contains(in.StateReason.Message, "not its account's") {
		t.Errorf("launch from another account's bucket: reason %+v", in.StateReason)
	}

	// A machine image (a raw root disk) booted with the registered kernel and ramdisk: the
	// root disk is a qcow2 overlay on the cached image, the guest's vda.
	rootImg := filepath.Join(t.TempDir(), "root.img")
	if err := os.WriteFile(rootImg, bytes.Repeat([]byte("stratus root disk\n"), (8<<20)/18+1)[:8<<20], 0o644); err != nil {
		t.Fatal(err)
	}
	rootSum := putObject(t, ctx, admin, writer, "images", "root.img", rootImg)
	ami := client.NewImageID(client.ImageMachine)
	if err := ec2.CreateImage(ctx, client.Image{ID: ami, Account: "alice", Kind: client.ImageMachine, Name: "m", Bucket: "images", Key: "root.img",
		Format: "raw", SHA256: rootSum, KernelID: aki, RamdiskID: ari}); err != nil {
		t.Fatal(err)
	}
	id4 := client.NewInstanceID()
	if err := ec2.CreateInstance(ctx, client.Instance{ID: id4, Account: "alice", ImageID: ami, InstanceType: "t3.nano",
		VCPUs: 1, MemoryMiB: 256, Zone: "us-east-1a", Host: host}); err != nil {
		t.Fatal(err)
	}
	rootLine := regexp.MustCompile(testguest.DiskLine + ` vda 16384`)
	waitInstance(t, ctx, ec2, id4, 60*time.Second, "running from its root disk", func(in client.Instance) bool {
		return in.State == client.InstanceRunning && in.Console != nil && rootLine.Match(in.Console.Output)
	})
	// -U: QEMU holds the image's write lock while the guest runs.
	out, err := exec.CommandContext(ctx, "qemu-img", "info", "-U", "--output=json", "-f", "qcow2", filepath.Join(dataDir, "instances", id4, "root.qcow2")).Output()
	var info image.Info
	if err == nil {
		err = json.Unmarshal(out, &info)
	}
	if err != nil || info.BackingFile != filepath.Join(dataDir, "images", "sha256-"+rootSum) || info.BackingFileFormat != "raw" {
		t.Errorf("root disk: %+v, %v", info, err)
	}

	// Its disk saved as an image, as CreateImage asks: stopped, a pending image and the
	// request on the instance. The host flattens the overlay and writes it under .image/ on
	// the three storage nodes (as its computed certificate may), and records it available
	// with the file's digest; the objects read back are that file, a qcow2 with no backing
	// file. Deregistered, the host deletes the objects, then the record.
	updateInstance(t, ctx, ec2, id4, func(in *client.Instance) { in.DesiredState = client.DesireStopped })
	waitInstance(t, ctx, ec2, id4, 30*time.Second, "stopped", func(in client.Instance) bool { return in.State == client.InstanceStopped })
	saved := client.NewImageID(client.ImageMachine)
	if err := ec2.CreateImage(ctx, client.Image{ID: saved, Account: "alice", Kind: client.ImageMachine, Name: "saved", Format: "qcow2",
		KernelID: aki, RamdiskID: ari, SourceInstance: id4, Host: host, State: client.ImagePending}); err != nil {
		t.Fatal(err)
	}
	requested := time.Now()
	updateInstance(t, ctx, ec2, id4, func(in *client.Instance) { in.CreateImage = saved })
	waitInstance(t, ctx, ec2, id4, 30*time.Second, "image request done", func(in client.Instance) bool { return in.CreateImage == "" })
	t.Logf("image saved %v after the request", time.Since(requested).Round(time.Millisecond))
	im, _, err := ec2.Image(ctx, saved)
	if err != nil || im.State != client.ImageAvailable || im.Manifest != client.ImageObjectPrefix(saved)+"manifest" || im.SHA256 == "" {
		t.Fatalf("saved image %+v, %v", im, err)
	}
	savedFile := filepath.Join(t.TempDir(), "saved.qcow2")
	parts := readSavedImage(t, ctx, writer, im, savedFile)
	if len(parts) < 2 {
		t.Errorf("saved image in %d parts of 64 KiB, want several", len(parts))
	}
	out, err = exec.CommandContext(ctx, "qemu-img", "info", "--output=json", "-f", "qcow2", savedFile).Output()
	info = image.Info{}
	if err == nil {
		err = json.Unmarshal(out, &info)
	}
	if err != nil || info.BackingFile != "" || info.VirtualSize != 8<<20 {
		t.Errorf("saved image: %+v, %v", info, err)
	}
	if ents, _ := os.ReadDir(filepath.Join(dataDir, "staging")); len(ents) != 0 {
		t.Errorf("staging after the save: %v", ents)
	}
	im.State = client.ImageDeregistered
	_, idx, _ := ec2.Image(ctx, saved)
	if err := ec2.UpdateImage(ctx, im, idx); err != nil {
		t.Fatal(err)
	}
	itestutil.Eventually(t, 15*time.Second, func() error {
		if _, _, err := ec2.Image(ctx, saved); !errors.Is(err, client.ErrNotFound) {
			return fmt.Errorf("deregistered image record: %v", err)
		}
		return nil
	})
	for _, name := range append(parts, im.Manifest) {
		if o, err := writer.Get(ctx, name, 0, nil); !errors.Is(err, objclient.ErrNotFound) {
			if err == nil {
				o.Body.Close()
			}
			t.Errorf("object %s of the removed image: %v, want ErrNotFound", name, err)
		}
	}

	updateInstance(t, ctx, ec2, id4, func(in *client.Instance) { in.DesiredState = client.DesireTerminated })
	waitInstance(t, ctx, ec2, id4, 30*time.Second, "terminated", func(in client.Instance) bool { return in.State == client.InstanceTerminated })

	// A second instance, with no volume (the guest waits for one for 30 s, so it stays up):
	// reboot, stop, start, then the daemon restarts after its domain was lost.
	id2 := client.NewInstanceID()
	if err := ec2.CreateInstance(ctx, client.Instance{ID: id2, Account: "alice", ImageID: aki, RamdiskID: ari, InstanceType: "t3.nano",
		VCPUs: 1, MemoryMiB: 256, Zone: "us-east-1a", Host: host}); err != nil {
		t.Fatal(err)
	}
	// Booted, and listening for the power button (a press before that is lost, and a stop
	// then waits out its grace).
	boots := func(n int) func(client.Instance) bool {
		return func(in client.Instance) bool {
			return in.State == client.InstanceRunning && in.Console != nil && bytes.Count(in.Console.Output, []byte(testguest.ACPIReady)) >= n
		}
	}
	waitInstance(t, ctx, ec2, id2, 60*time.Second, "running and booted", boots(1))
	step := time.Now()
	updateInstance(t, ctx, ec2, id2, func(in *client.Instance) { in.RebootRequests++ })
	in = waitInstance(t, ctx, ec2, id2, 60*time.Second, "rebooted", boots(2))
	t.Logf("rebooted (booted again) %v after the request", time.Since(step).Round(time.Millisecond))
	if in.RebootsDone != 1 || !bytes.Contains(in.Console.Output, []byte(testguest.PowerButton)) {
		t.Errorf("after a reboot: reboots done %d, console shows the power button %v", in.RebootsDone, bytes.Contains(in.Console.Output, []byte(testguest.PowerButton)))
	}
	step = time.Now()
	updateInstance(t, ctx, ec2, id2, func(in *client.Instance) { in.DesiredState = client.DesireStopped })
	waitInstance(t, ctx, ec2, id2, 30*time.Second, "stopped", func(in client.Instance) bool { return in.State == client.InstanceStopped })
	t.Logf("stopped %v after the request", time.Since(step).Round(time.Millisecond))
	if s, err := drv.State(ctx, id2); err != nil || s != driver.StateShutoff {
		t.Errorf("domain of the stopped instance: %s, %v", s, err)
	}
	// Another program takes the stopped guest's forwarded SSH port: the start defines the
	// domain again on a free one.
	stopped, _, err := ec2.Instance(ctx, id2)
	if err != nil {
		t.Fatal(err)
	}
	taken, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(stopped.Network.SSHForwardPort)))
	if err != nil {
		t.Fatal(err)
	}
	step = time.Now()
	updateInstance(t, ctx, ec2, id2, func(in *client.Instance) { in.DesiredState, in.StateReason = client.DesireRunning, nil })
	in = waitInstance(t, ctx, ec2, id2, 60*time.Second, "started again", boots(3))
	t.Logf("started and booted %v after the request", time.Since(step).Round(time.Millisecond))
	taken.Close()
	if p := in.Network.SSHForwardPort; p == stopped.Network.SSHForwardPort || p < cfg.SSHPortFirst || p > cfg.SSHPortLast {
		t.Errorf("started with forwarded port %d; %d was taken meanwhile", p, stopped.Network.SSHForwardPort)
	}

	// The daemon stops; meanwhile the domain is lost. A new daemon defines and starts it again
	// from the record, on the same forwarded port.
	before, _, _ := ec2.Instance(ctx, id2)
	if err := stopDaemon(); err != nil {
		t.Fatalf("daemon run: %v", err)
	}
	if err := drv.Destroy(ctx, id2); err != nil {
		t.Fatal(err)
	}
	if err := drv.Undefine(ctx, id2); err != nil {
		t.Fatal(err)
	}
	reg2 := prometheus.NewRegistry()
	cfg.Registerer = reg2
	d2, err := daemon.New(cfg, mc, drv, newProxy(t, meta, st.Ring, pki.RoleComputed))
	if err != nil {
		t.Fatal(err)
	}
	step = time.Now()
	runDaemon(t, d2)
	in = waitInstance(t, ctx, ec2, id2, 60*time.Second, "running again after the daemon's restart", boots(4))
	t.Logf("relaunched and booted %v after the daemon's restart", time.Since(step).Round(time.Millisecond))
	if in.Network != before.Network {
		t.Errorf("network after the relaunch %+v, before %+v", in.Network, before.Network)
	}
	// The ramdisk, registered without a digest, is found in the cache by the digest the
	// first daemon remembered.
	if miss, hit := counterValue(t, reg2, "stratus_computed_image_cache_total", "result", "miss"), counterValue(t, reg2, "stratus_computed_image_cache_total", "result", "hit"); miss != 0 || hit != 2 {
		t.Errorf("image cache after the daemon's restart: %v misses, %v hits; want 0 and 2", miss, hit)
	}
	if s, err := drv.State(ctx, id2); err != nil || s != driver.StateRunning {
		t.Errorf("domain after the relaunch: %s, %v", s, err)
	}
	updateInstance(t, ctx, ec2, id2, func(in *client.Instance) { in.DesiredState = client.DesireTerminated })
	waitInstance(t, ctx, ec2, id2, 30*time.Second, "terminated", func(in client.Instance) bool { return in.State == client.InstanceTerminated })
	if _, err := drv.State(ctx, id2); !errors.Is(err, driver.ErrNotFound) {
		t.Errorf("domain after termination: %v", err)
	}

	if n := counterValue(t, reg, "stratus_computed_launches_total", "result", "ok"); n != 4 {
		t.Errorf("launches: %v, want 4", n)
	}
	if n := counterValue(t, reg, "stratus_computed_image_cache_total", "result", "miss"); n != 3 {
		t.Errorf("image cache misses: %v, want 3 (kernel, ramdisk and root disk, once each)", n)
	}
	if n := counterValue(t, reg, "stratus_computed_image_cache_total", "result", "hit"); n != 8 {
		t.Errorf("image cache hits: %v, want 8 (the later instances' kernel and ramdisk, and the start on a new port)", n)
	}
	if n := counterValue(t, reg, "stratus_computed_launches_total", "result", "failed"); n != 1 {
		t.Errorf("failed launches: %v, want 1", n)
	}
	t.Logf("whole test %v", time.Since(start).Round(time.Millisecond))
}

// runDaemon runs d until the returned function (also called at the test's end) stops it.
func runDaemon(t *testing.T, d *daemon.Daemon) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

// newProxy is a proxy over the storage nodes presenting a certificate of role.
func newProxy(t *testing.T, meta *metatest.Cluster, r *ring.Ring, role pki.Role) *proxy.Proxy {
	t.Helper()
	id := meta.Identity(pki.IssueRequest{Role: role, Name: "test-" + string(role) + "-oc"})
	oc := objclient.New(objclient.Config{TLS: id.ClientTLS(pki.RoleObjectd), Timeout: 10 * time.Second})
	t.Cleanup(oc.CloseIdleConnections)
	pcfg := proxy.DefaultConfig()
	pcfg.NodeTimeout = 10 * time.Second
	px, err := proxy.New(pcfg, oc, &hlc.Clock{}, itestutil.Logger(t).With("part", "proxy"))
	if err != nil {
		t.Fatal(err)
	}
	px.SetRing(r)
	return px
}

// putObject stores the file at path as bucket/key the way the S3 API stores a single-part
// PUT, and returns its SHA-256.
func putObject(t *testing.T, ctx context.Context, mc *client.Client, px *proxy.Proxy, bucket, key, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = px.Put(ctx, proxy.PutRequest{Name: bucket + "/" + key, Length: int64(len(data))}, bytes.NewReader(data),
		func(ctx context.Context, r proxy.PutResult) error {
			return mc.Index(bucket).PutObject(ctx, client.ObjectEntry{Bucket: bucket, Key: key, Version: uint64(r.Timestamp),
				Size: int64(len(data)), ETag: hex.EncodeToString(r.MD5[:])}, false)
		})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// readSavedImage reads a saved image's parts, as its manifest lists them, into path, checks
// the size and digest the record holds, and returns the parts' names.
func readSavedImage(t *testing.T, ctx context.Context, px *proxy.Proxy, im client.Image, path string) []string {
	t.Helper()
	read := func(name string, version uint64) []byte {
		o, err := px.Get(ctx, name, hlc.Timestamp(version), nil)
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		defer o.Body.Close()
		b, err := io.ReadAll(o.Body)
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		return b
	}
	var m struct {
		Parts []struct {
			Name    string `json:"name"`
			Version uint64 `json:"version"`
			Size    int64  `json:"size"`
		} `json:"parts"`
	}
	if err := json.Unmarshal(read(im.Manifest, im.ManifestVersion), &m); err != nil || len(m.Parts) == 0 {
		t.Fatalf("manifest of %s: %+v, %v", im.ID, m, err)
	}
	var data []byte
	var names []string
	for _, p := range m.Parts {
		b := read(p.Name, p.Version)
		if int64(len(b)) != p.Size || !strings.HasPrefix(p.Name, client.ImageObjectPrefix(im.ID)) {
			t.Fatalf("part %s: %d bytes, manifest says %d", p.Name, len(b), p.Size)
		}
		data = append(data, b...)
		names = append(names, p.Name)
	}
	sum := sha256.Sum256(data)
	if int64(len(data)) != im.SizeBytes || hex.EncodeToString(sum[:]) != im.SHA256 {
		t.Fatalf("saved image %s: %d bytes with digest %x, the record says %d and %s", im.ID, len(data), sum, im.SizeBytes, im.SHA256)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return names
}

// waitInstance polls the instance until ok, failing the test after timeout.
func waitInstance(t *testing.T, ctx context.Context, mc *client.Client, id string, timeout time.Duration, what string, ok func(client.Instance) bool) client.Instance {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		in, _, err := mc.Instance(ctx, id)
		if err == nil && ok(in) {
			return in
		}
		if time.Now().After(deadline) {
			console := ""
			if in.Console != nil {
				console = string(in.Console.Output)
			}
			t.Fatalf("instance %s not %s within %v: state %s desired %s reason %+v volumes %+v err %v\nconsole:\n%s",
				id, what, timeout, in.State, in.DesiredState, in.StateReason, in.Volumes, err, console)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// updateInstance changes the instance as the API would: read, change, conditional write.
func updateInstance(t *testing.T, ctx context.Context, mc *client.Client, id string, change func(*client.Instance)) {
	t.Helper()
	for range 20 {
		in, idx, err := mc.Instance(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		change(&in)
		err = mc.UpdateInstance(ctx, in, idx)
		if err == nil {
			return
		}
		if !errors.Is(err, client.ErrConflict) {
			t.Fatal(err)
		}
	}
	t.Fatal("instance changed under every update")
}

// readVolume reads the volume's first 512 bytes through volumed's NBD export.
func readVolume(t *testing.T, ctx context.Context, addr, volID string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "block")
	cmd := exec.CommandContext(ctx, "qemu-img", "dd", "-f", "raw", "-O", "raw", "bs=512", "count=1",
		"if=nbd://"+addr+"/"+volID, "of="+out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("qemu-img dd: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// counterValue returns the value of a counter vector's series with the given label; 0 if
// there is none.
func counterValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
