package libvirtdriver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"stratus/computed/configdrive"
	"stratus/computed/driver"
	"stratus/computed/image"
	"stratus/internal/testguest"
	"stratus/internal/testutil"
)

// The boot tests run the test guest under QEMU's TCG (domain type qemu, which works on any
// host) through the system libvirtd, with its serial console in a file, a NoCloud config
// drive and volumes served over NBD by qemu-nbd on loopback. They skip where libvirtd or
// QEMU cannot run or the guest cannot be built.

// bootEnv is what a boot test needs: a driver on the system libvirtd and a directory QEMU
// (which libvirt runs as its own user) can read, holding the guest's kernel and initrd.
type bootEnv struct {
	d              *Driver
	dir            string
	kernel, initrd string
}

func newBootEnv(t *testing.T) *bootEnv {
	t.Helper()
	uri := testguest.Libvirtd(t)
	g := testguest.BuildGuest(t)
	if _, err := exec.LookPath("qemu-nbd"); err != nil {
		t.Skip("qemu-nbd not installed (apt-get install qemu-utils)")
	}
	dir, err := os.MkdirTemp("", "stratus-boot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	env := &bootEnv{dir: dir, kernel: filepath.Join(dir, filepath.Base(g.Kernel)), initrd: filepath.Join(dir, "initrd.img")}
	copyFile(t, g.Kernel, env.kernel)
	copyFile(t, g.Initrd, env.initrd)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	env.d, err = New(ctx, Config{URI: uri, CallTimeout: 20 * time.Second})
	if err != nil {
		t.Skipf("boot test: %v", err)
	}
	t.Cleanup(func() { env.d.Close() })
	return env
}

// spec is a TCG kernel boot of the test guest with its console log in the test directory.
func (e *bootEnv) spec(t *testing.T, name, cmdline string) driver.Spec {
	s := driver.Spec{
		Name: name, VCPUs: 1, MemoryMiB: 256, Type: driver.DomainQEMU,
		Kernel: e.kernel, Initrd: e.initrd,
		Cmdline:    "console=ttyS0 quiet panic=-1 " + cmdline,
		ConsoleLog: filepath.Join(e.dir, name+".console.log"),
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		e.d.Destroy(ctx, name)
		e.d.Undefine(ctx, name)
	})
	return s
}

// rootDisk makes the instance's root disk the way computed will: the base image goes
// through the verified cache (fetched from memory here instead of S3), then a qcow2 overlay
// of sizeBytes sits on it. QEMU, running as libvirt's user, must open both.
func (e *bootEnv) rootDisk(t *testing.T, ctx context.Context, name string, sizeBytes int64) string {
	t.Helper()
	base := bytes.Repeat([]byte("stratus base image\n"), (4<<20)/19+1)[:4<<20]
	sum := sha256.Sum256(base)
	cache, err := image.NewCache(image.Config{
		Dir: filepath.Join(e.dir, "images"),
		Fetch: func(ctx context.Context, key string, w io.Writer) error {
			_, err := w.Write(base)
			return err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	basePath, err := cache.Get(ctx, image.Ref{Key: "emi-test/root.img", SHA256: hex.EncodeToString(sum[:])})
	if err != nil {
		t.Fatal(err)
	}
	overlay := filepath.Join(e.dir, name+".root.qcow2")
	if err := image.CreateOverlay(ctx, image.Overlay{Path: overlay, Base: basePath, BaseFormat: image.FormatRaw, SizeBytes: sizeBytes}); err != nil {
		t.Fatal(err)
	}
	return overlay
}

// volume is a raw file served by qemu-nbd on loopback, as volumed will serve a volume.
type volume struct {
	path string
	disk driver.NBDDisk
}

func (e *bootEnv) volume(t *testing.T, target, serial string) volume {
	t.Helper()
	path := filepath.Join(e.dir, serial+".raw")
	if err := os.WriteFile(path, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	// -t: keep serving after the guest disconnects (a detach, a reboot).
	cmd := exec.Command("qemu-nbd", "-f", "raw", "-x", serial, "-b", "127.0.0.1", "-p", fmt.Sprint(port), "-t", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("qemu-nbd does not listen on %s: %s", addr, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return volume{path: path, disk: driver.NBDDisk{Target: target, Serial: serial, Host: "127.0.0.1", Port: port, Export: serial}}
}

func TestBootTCGWithConfigDriveAndVolume(t *testing.T) {
	e := newBootEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	name := "i-boottest" + fmt.Sprint(time.Now().UnixNano()%1e6)
	vol := e.volume(t, "vdb", "vol-boot1")
	userData := "hello from user data " + name
	seed := filepath.Join(e.dir, "cidata.iso")
	if err := configdrive.Write(seed, configdrive.Seed{InstanceID: name, UserData: []byte(userData)}); err != nil {
		t.Fatal(err)
	}
	s := e.spec(t, name, "stratus.dhcp=1")
	s.RootDisk = e.rootDisk(t, ctx, name, 8<<20)
	s.ConfigDrive = seed
	s.Volumes = []driver.NBDDisk{vol.disk}
	s.NIC = &driver.NIC{SSHHostPort: freePort(t)}
	if err := e.d.Define(ctx, s); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := e.d.Start(ctx, name); err != nil {
		t.Fatal(err)
	}
	waitShutoff(t, e.d, name, s.ConsoleLog, 60*time.Second)
	t.Logf("guest booted, wrote its volume and powered off in %v", time.Since(start).Round(time.Millisecond))

	log := consoleOf(t, s.ConsoleLog)
	for _, want := range []string{
		testguest.BootMarker,
		testguest.UserDataBegin + "\n" + userData,
		testguest.DiskLine + " vda 16384 \n", // the 8 MiB overlay on the 4 MiB cached base
		testguest.DiskLine + " vdb 2048 vol-boot1\n",
		testguest.VolumeWritten + " vol-boot1",
		testguest.NetLine + " eth0 " + UserNetGuestAddress + "\n", // QEMU user networking's DHCP
		testguest.DoneMarker,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("console log lacks %q:\n%s", want, log)
		}
	}
	mustMarker(t, vol)
}

func TestBootTCGLiveAttachDetach(t *testing.T) {
	e := newBootEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	name := "i-livetest" + fmt.Sprint(time.Now().UnixNano()%1e6)
	scratch := e.volume(t, "vdb", "scratch1") // not "vol…": the guest leaves it alone
	vol := e.volume(t, "vdc", "vol-live1")
	// The guest waits up to 40 s for a volume to appear after boot.
	s := e.spec(t, name, "stratus.wait=40")
	if err := e.d.Define(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := e.d.Start(ctx, name); err != nil {
		t.Fatal(err)
	}
	waitConsole(t, s.ConsoleLog, testguest.BootMarker, 40*time.Second)

	// Attach and detach a disk the guest does not touch: the detach needs the guest's
	// consent (ACPI eject), so this checks it comes.
	if err := e.d.AttachNBD(ctx, name, scratch.disk); err != nil {
		t.Fatal(err)
	}
	mustVolumes(t, e.d, name, scratch.disk)
	detachStart := time.Now()
	if err := e.d.DetachNBD(ctx, name, "vdb"); err != nil {
		t.Fatal(err)
	}
	t.Logf("live detach took %v", time.Since(detachStart).Round(time.Millisecond))
	mustVolumes(t, e.d, name)

	if err := e.d.AttachNBD(ctx, name, vol.disk); err != nil {
		t.Fatal(err)
	}
	waitShutoff(t, e.d, name, s.ConsoleLog, 45*time.Second)
	log := consoleOf(t, s.ConsoleLog)
	if !strings.Contains(log, testguest.VolumeWritten+" vol-live1") {
		t.Fatalf("guest did not write the live-attached volume:\n%s", log)
	}
	if strings.Contains(log, "scratch1") {
		t.Fatalf("guest touched the scratch disk:\n%s", log)
	}
	mustMarker(t, vol)
	if b, err := os.ReadFile(scratch.path); err != nil || !bytes.Equal(b, make([]byte, len(b))) {
		t.Fatalf("scratch disk changed (%v)", err)
	}
}

// TestBootTCGNetworkLeaseAndGracefulStop boots the guest on libvirt's "default" NAT network
// where the host can run it (without a NIC where it cannot), checks that Addresses reports
// the lease the guest got, then stops it with the power button, which the guest answers.
func TestBootTCGNetworkLeaseAndGracefulStop(t *testing.T) {
	e := newBootEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	name := "i-nattest" + fmt.Sprint(time.Now().UnixNano()%1e6)
	s := e.spec(t, name, "stratus.dhcp=1 stratus.wait=40")
	withNetwork := ensureNetwork(t, e.d, "default")
	if withNetwork {
		s.NIC = &driver.NIC{Network: "default", MAC: "52:54:00:5a:7e:01"}
	}
	if err := e.d.Define(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := e.d.Start(ctx, name); err != nil {
		t.Fatal(err)
	}
	waitConsole(t, s.ConsoleLog, testguest.NetLine, 40*time.Second)
	if withNetwork {
		line := ""
		for _, l := range strings.Split(consoleOf(t, s.ConsoleLog), "\n") {
			if strings.HasPrefix(l, testguest.NetLine+" eth0 ") {
				line = l
			}
		}
		guestIP, err := netip.ParseAddr(strings.TrimPrefix(line, testguest.NetLine+" eth0 "))
		if err != nil {
			t.Fatalf("guest got no address: %q", line)
		}
		addrs, err := e.d.Addresses(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if len(addrs) != 1 || addrs[0] != guestIP {
			t.Fatalf("Addresses %v, guest says %v", addrs, guestIP)
		}
		t.Logf("guest leased %v on the default network", guestIP)
	}

	if !strings.Contains(consoleOf(t, s.ConsoleLog), testguest.ACPIReady) {
		t.Fatalf("guest does not listen for the power button:\n%s", consoleOf(t, s.ConsoleLog))
	}
	const grace = 30 * time.Second
	start := time.Now()
	if err := e.d.Stop(ctx, name, grace); err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	t.Logf("graceful stop took %v", el.Round(time.Millisecond))
	if el >= grace {
		t.Fatalf("Stop took the whole grace period (%v): the guest was destroyed, not stopped", el)
	}
	mustState(t, e.d, name, driver.StateShutoff)
	if !strings.Contains(consoleOf(t, s.ConsoleLog), testguest.PowerButton) {
		t.Fatalf("guest did not see the power button:\n%s", consoleOf(t, s.ConsoleLog))
	}
}

// ensureNetwork starts the libvirt network name for the test if it is defined but not
// active, and stops it afterwards (only if it started it); it reports false where the host
// cannot run it.
func ensureNetwork(t *testing.T, d *Driver, name string) bool {
	t.Helper()
	net, err := d.conn.LookupNetworkByName(name)
	if err != nil {
		t.Logf("no libvirt network %q: %v", name, err)
		return false
	}
	t.Cleanup(func() { net.Free() })
	active, err := net.IsActive()
	if err != nil {
		t.Fatal(err)
	}
	if active {
		return true
	}
	if err := net.Create(); err != nil {
		t.Logf("libvirt network %q cannot start here: %v", name, err)
		return false
	}
	t.Cleanup(func() {
		if err := net.Destroy(); err != nil {
			t.Errorf("stop network %s: %v", name, err)
		}
	})
	return true
}

// TestBootTCGStopDestroysAfterGrace: the guest is told to ignore the power button, like a
// hung guest, so Stop's press goes unanswered and Stop must destroy it once the grace period
// is over. Before that, while it runs, the test reaches
// the guest through its user-mode NIC's forwarded SSH port.
func TestBootTCGStopDestroysAfterGrace(t *testing.T) {
	e := newBootEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	name := "i-stoptest" + fmt.Sprint(time.Now().UnixNano()%1e6)
	s := e.spec(t, name, "stratus.wait=40 stratus.dhcp=1 stratus.listen=1 stratus.acpi=ignore")
	s.NIC = &driver.NIC{SSHHostPort: freePort(t)}
	if err := e.d.Define(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := e.d.Start(ctx, name); err != nil {
		t.Fatal(err)
	}
	waitConsole(t, s.ConsoleLog, testguest.ListenLine, 40*time.Second)

	// While it runs: the user-mode NIC forwards the host port to the guest's port 22.
	banner := readForwardedBanner(t, s.NIC.SSHHostPort, 20*time.Second)
	if banner != testguest.SSHBanner {
		t.Fatalf("forwarded port %d answered %q, want %q", s.NIC.SSHHostPort, banner, testguest.SSHBanner)
	}
	start := time.Now()
	const grace = time.Second
	if err := e.d.Stop(ctx, name, grace); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < grace {
		t.Fatalf("Stop returned after %v, before the %v grace period", el, grace)
	}
	mustState(t, e.d, name, driver.StateShutoff)
	if strings.Contains(consoleOf(t, s.ConsoleLog), testguest.DoneMarker) {
		t.Fatal("guest finished on its own; the test did not exercise Stop")
	}
}

// readForwardedBanner reads the first line the guest sends through the forwarded port,
// retrying while slirp accepts connections the guest's listener is not ready for yet.
func readForwardedBanner(t *testing.T, port int, limit time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(limit)
	var last error
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 2*time.Second)
		if err == nil {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			line, rerr := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if rerr == nil {
				return strings.TrimSpace(line)
			}
			err = rerr
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no banner through port %d within %v: %v", port, limit, last)
	return ""
}

func mustMarker(t *testing.T, v volume) {
	t.Helper()
	b, err := os.ReadFile(v.path)
	if err != nil {
		t.Fatal(err)
	}
	want := testguest.VolumeMarker + " " + v.disk.Serial + "\n"
	if !bytes.HasPrefix(b, []byte(want)) {
		t.Fatalf("volume %s starts %q, want %q", v.disk.Serial, b[:64], want)
	}
}

func waitShutoff(t *testing.T, d *Driver, name, consoleLog string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		st, err := d.State(ctx, name)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if st == driver.StateShutoff {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still %s after %v; console:\n%s", name, st, limit, consoleOf(t, consoleLog))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func waitConsole(t *testing.T, path, want string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !strings.Contains(consoleOf(t, path), want) {
		if time.Now().After(deadline) {
			t.Fatalf("console has no %q after %v:\n%s", want, limit, consoleOf(t, path))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func consoleOf(t *testing.T, path string) string {
	t.Helper()
	b, err := driver.ConsoleOutput(path, driver.ConsoleOutputMax)
	if err != nil {
		t.Fatal(err)
	}
	// The guest's serial tty ends lines with CR LF.
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}

func freePort(t *testing.T) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(testutil.FreeAddr(t, "127.0.0.1"))
	n, _ := strconv.Atoi(port)
	return n
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
