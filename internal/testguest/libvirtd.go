package testguest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// SystemURI is the libvirt connection boot tests use.
const SystemURI = "qemu:///system"

// daemon is a libvirt daemon a boot test needs: its binary, the socket that answers when it
// runs, and the pid file it writes when started with -d.
type daemon struct {
	binary, socket, pidFile string
}

var (
	virtlogd = daemon{"virtlogd", "/run/libvirt/virtlogd-sock", "/run/virtlogd.pid"}
	libvirtd = daemon{"libvirtd", "/run/libvirt/libvirt-sock", "/run/libvirtd.pid"}
)

var (
	daemonsMu sync.Mutex
	// started are the daemons this process started, by PID, last first.
	started []startedDaemon
)

type startedDaemon struct {
	name string
	pid  int
}

// Libvirtd makes sure virtlogd (which writes serial console logs) and libvirtd run, starting
// whichever is not running with -d (there is no service manager to ask), and returns the
// URI to connect to. The daemons it starts stay up for the package's other tests; the
// package's TestMain calls StopDaemons after its tests, which stops, by PID, only those.
// It skips the test when they cannot be run here (not root, not installed, QEMU missing).
//
// Another package's tests running at the same time may find and use the daemons this one
// started, and lose them when this one ends; only one package boots guests today.
func Libvirtd(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("boot test: qemu-system-x86_64 not installed (apt-get install qemu-system-x86)")
	}
	daemonsMu.Lock()
	defer daemonsMu.Unlock()
	for _, d := range []daemon{virtlogd, libvirtd} {
		if answers(d.socket) {
			continue
		}
		if os.Geteuid() != 0 {
			t.Skipf("boot test: %s is not running and only root may start it", d.binary)
		}
		pid, err := d.start()
		if err != nil {
			t.Skipf("boot test: %v", err)
		}
		t.Logf("started %s (pid %d)", d.binary, pid)
		started = append([]startedDaemon{{d.binary, pid}}, started...)
	}
	return SystemURI
}

// StopDaemons stops the daemons Libvirtd started in this process, libvirtd before
// virtlogd, and reports what it could not stop.
func StopDaemons() error {
	daemonsMu.Lock()
	defer daemonsMu.Unlock()
	var errs []error
	for _, d := range started {
		if err := stopPID(d.pid, 10*time.Second); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", d.name, err))
		}
	}
	started = nil
	return errors.Join(errs...)
}

func answers(socket string) bool {
	c, err := net.DialTimeout("unix", socket, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func (d daemon) start() (int, error) {
	path, err := exec.LookPath(d.binary)
	if err != nil {
		if p := "/usr/sbin/" + d.binary; fileExists(p) {
			path = p
		} else {
			return 0, fmt.Errorf("%s not installed (apt-get install libvirt-daemon-system)", d.binary)
		}
	}
	// -d forks the daemon and returns; the daemon then writes its pid file.
	if out, err := exec.Command(path, "-d").CombinedOutput(); err != nil {
		return 0, fmt.Errorf("%s -d: %v: %s", d.binary, err, strings.TrimSpace(string(out)))
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if answers(d.socket) {
			b, err := os.ReadFile(d.pidFile)
			if err != nil {
				return 0, fmt.Errorf("%s runs but its pid file: %v", d.binary, err)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil || pid <= 1 {
				return 0, fmt.Errorf("%s pid file %q", d.binary, b)
			}
			return pid, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return 0, fmt.Errorf("%s started but %s does not answer", d.binary, d.socket)
}

// stopPID sends SIGTERM to pid and waits for it to exit, then SIGKILL if it has not.
func stopPID(pid int, grace time.Duration) error {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return err
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if exited(pid) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return fmt.Errorf("pid %d ignored SIGTERM for %v; killed", pid, grace)
}

// exited reports whether pid is gone or a zombie: a daemon started with -d is reparented to
// PID 1, which in a container may never reap it.
func exited(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name.
	if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] == 'Z'
	}
	return false
}
