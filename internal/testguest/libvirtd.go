package testguest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
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
	// useLock is this process's shared lock on the daemons while it may use them (nil when
	// it holds none).
	useLock *os.File
)

// Several test processes (packages tested in parallel) boot guests on the one system
// libvirtd, and whichever started a daemon may finish first. So every process holds a
// shared lock on useLockPath while it may use the daemons, starting them under an exclusive
// lock on startLockPath, and the daemons any of them started are listed in registryPath;
// the last process to let go — the one that gets the use lock exclusively — stops those.
var (
	useLockPath   = filepath.Join(os.TempDir(), "stratus-testguest-libvirtd.use.lock")
	startLockPath = filepath.Join(os.TempDir(), "stratus-testguest-libvirtd.start.lock")
	registryPath  = filepath.Join(os.TempDir(), "stratus-testguest-libvirtd.started")
)

// Libvirtd makes sure virtlogd (which writes serial console logs) and libvirtd run, starting
// whichever is not running with -d (there is no service manager to ask), and returns the
// URI to connect to. The daemons it starts stay up for the package's other tests and for
// other test processes using them; the package's TestMain calls StopDaemons after its
// tests, and the last process to do so stops, by PID, the daemons the tests started (never
// ones that were running already). It skips the test when they cannot be run here (not
// root, not installed, QEMU missing).
func Libvirtd(t testing.TB) string {
	t.Helper()
	uri, started, err := UseDaemons()
	if err != nil {
		t.Skipf("boot test: %v", err)
	}
	for _, s := range started {
		t.Logf("started %s", s)
	}
	return uri
}

// UseDaemons is Libvirtd for a program rather than a test (a benchmark): it returns the
// URI, what it started ("libvirtd (pid N)"), or an error wrapping ErrUnavailable when the
// daemons cannot be run here. The caller calls StopDaemons when done.
func UseDaemons() (uri string, started []string, err error) {
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		return "", nil, fmt.Errorf("%w: qemu-system-x86_64 not installed (apt-get install qemu-system-x86)", ErrUnavailable)
	}
	daemonsMu.Lock()
	defer daemonsMu.Unlock()
	if useLock == nil {
		f, err := lockFile(useLockPath, syscall.LOCK_SH)
		if err != nil {
			return "", nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		useLock = f
	}
	sl, err := lockFile(startLockPath, syscall.LOCK_EX)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer sl.Close()
	for _, d := range []daemon{virtlogd, libvirtd} {
		if answers(d.socket) {
			continue
		}
		if os.Geteuid() != 0 {
			return "", started, fmt.Errorf("%w: %s is not running and only root may start it", ErrUnavailable, d.binary)
		}
		pid, err := d.start()
		if err != nil {
			return "", started, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		started = append(started, fmt.Sprintf("%s (pid %d)", d.binary, pid))
		if err := appendRegistry(d.binary, pid); err != nil {
			started = append(started, fmt.Sprintf("(its pid not recorded, so it will not be stopped: %v)", err))
		}
	}
	return SystemURI, started, nil
}

// StopDaemons lets go of the daemons; if no other test process is using them, it stops
// those Libvirtd started (in any process), libvirtd before virtlogd, and reports what it
// could not stop.
func StopDaemons() error {
	daemonsMu.Lock()
	defer daemonsMu.Unlock()
	if useLock == nil {
		return nil
	}
	useLock.Close()
	useLock = nil
	f, err := os.OpenFile(useLockPath, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return nil // another process still uses them; the last one stops them
	}
	data, err := os.ReadFile(registryPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	for i := len(lines) - 1; i >= 0; i-- { // last started first: libvirtd, then virtlogd
		name, pidText, ok := strings.Cut(lines[i], " ")
		pid, perr := strconv.Atoi(pidText)
		if !ok || perr != nil || pid <= 1 {
			continue
		}
		// The PID may be another process's by now: only a process of that name is stopped.
		if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err != nil || strings.TrimSpace(string(comm)) != name {
			continue
		}
		if err := stopPID(pid, 10*time.Second); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", name, err))
		}
	}
	if err := os.Remove(registryPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// lockFile opens path (creating it) and takes how (a flock operation) on it, waiting at
// most a minute.
func lockFile(path string, how int) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(time.Minute)
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// appendRegistry records a daemon a test started, for the last user to stop.
func appendRegistry(name string, pid int) error {
	f, err := os.OpenFile(registryPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(f, "%s %d\n", name, pid); err != nil {
		f.Close()
		return err
	}
	return f.Close()
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
