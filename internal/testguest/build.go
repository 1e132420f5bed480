package testguest

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

//go:embed init.sh
var initScript []byte

//go:embed dhcp-event.sh
var dhcpEventScript []byte

// recipeVersion changes whenever the way a guest is built changes, so cached guests built
// the old way are not reused.
const recipeVersion = "2"

const (
	kernelMetaPackage = "linux-image-cloud-amd64"
	busyboxPackage    = "busybox-static"
)

// ErrUnavailable means the machine cannot build a guest (no apt, no package lists, no
// network); tests skip on it rather than fail.
var ErrUnavailable = errors.New("test guest cannot be built here")

// Guest is a built test guest.
type Guest struct {
	// Kernel is an ELF vmlinux when KernelIsELF, else the package's bzImage.
	Kernel      string
	KernelIsELF bool
	Initrd      string
	// Versions names the Debian packages it was built from, e.g.
	// "linux-image-6.1.0-57-cloud-amd64=6.1.192-3".
	Versions []string
}

// Build returns the kernel and initramfs of the test guest, building them on first use on
// this machine, and skips the test when that cannot be done here.
func Build(t testing.TB) (kernel, initrd string) {
	t.Helper()
	g := BuildGuest(t)
	return g.Kernel, g.Initrd
}

// BuildGuest is Build returning the whole Guest.
func BuildGuest(t testing.TB) Guest {
	t.Helper()
	root, err := CacheRoot()
	if err != nil {
		t.Skipf("test guest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	g, built, err := BuildIn(ctx, root)
	if errors.Is(err, ErrUnavailable) {
		t.Skipf("test guest: %v", err)
	}
	if err != nil {
		t.Fatalf("test guest: %v", err)
	}
	if built {
		t.Logf("test guest built in %v from %s", time.Since(start).Round(time.Millisecond), strings.Join(g.Versions, " "))
	}
	return g
}

// CacheRoot is where built guests are kept: $STRATUS_TESTGUEST_CACHE, else
// stratus-testguest in the user cache directory.
func CacheRoot() (string, error) {
	if d := os.Getenv("STRATUS_TESTGUEST_CACHE"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return filepath.Join(d, "stratus-testguest"), nil
}

var (
	memoMu sync.Mutex
	// memo holds the guest already found per cache root in this process, sparing the
	// package-list lookups (about a second) for every test after the first.
	memo = map[string]Guest{}
)

// BuildIn returns the guest cached under root for the current package versions, building
// it if it is not there yet; built reports whether it was built by this call.
func BuildIn(ctx context.Context, root string) (g Guest, built bool, err error) {
	memoMu.Lock()
	defer memoMu.Unlock()
	if g, ok := memo[root]; ok && fileExists(g.Kernel) && fileExists(g.Initrd) {
		return g, false, nil
	}
	g, built, err = buildIn(ctx, root)
	if err == nil {
		memo[root] = g
		pruneOthers(root, filepath.Base(filepath.Dir(g.Initrd)))
	}
	return g, built, err
}

func buildIn(ctx context.Context, root string) (g Guest, built bool, err error) {
	for _, tool := range []string{"apt-get", "apt-cache", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			return Guest{}, false, fmt.Errorf("%w: %s not found", ErrUnavailable, tool)
		}
	}
	kernelPkg, err := resolveKernelPackage(ctx)
	if err != nil {
		return Guest{}, false, err
	}
	kernelVer, err := candidateVersion(ctx, kernelPkg)
	if err != nil {
		return Guest{}, false, err
	}
	busyboxVer, err := candidateVersion(ctx, busyboxPackage)
	if err != nil {
		return Guest{}, false, err
	}
	versions := []string{kernelPkg + "=" + kernelVer, busyboxPackage + "=" + busyboxVer}
	dir := filepath.Join(root, cacheKey(versions))
	if g, ok := cached(dir, versions); ok {
		return g, false, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return Guest{}, false, err
	}
	work, err := os.MkdirTemp(root, ".build-")
	if err != nil {
		return Guest{}, false, err
	}
	defer os.RemoveAll(work)
	out := filepath.Join(work, "out")
	if err := buildGuest(ctx, work, out, versions); err != nil {
		return Guest{}, false, err
	}
	// Readable by all: libvirt's QEMU runs as its own user and must read kernel and initrd.
	if err := os.Chmod(out, 0o755); err != nil {
		return Guest{}, false, err
	}
	if err := os.Rename(out, dir); err != nil {
		// Another process built the same guest first; use theirs.
		if g, ok := cached(dir, versions); ok {
			return g, false, nil
		}
		return Guest{}, false, err
	}
	if err := syncDir(root); err != nil {
		return Guest{}, false, err
	}
	g, ok := cached(dir, versions)
	if !ok {
		return Guest{}, false, fmt.Errorf("built guest missing from %s", dir)
	}
	return g, true, nil
}

// pruneOthers removes guests built for other package versions or recipes (about 60 MB
// each); builds in progress (".build-*") are left alone.
func pruneOthers(root, keep string) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() && e.Name() != keep && !strings.HasPrefix(e.Name(), ".") {
			os.RemoveAll(filepath.Join(root, e.Name()))
		}
	}
}

func cacheKey(versions []string) string {
	h := sha256.New()
	fmt.Fprintf(h, "recipe %s\n", recipeVersion)
	for _, v := range versions {
		fmt.Fprintf(h, "package %s\n", v)
	}
	fmt.Fprintf(h, "modules %s\n", strings.Join(guestModules, ","))
	h.Write(initScript)
	h.Write(dhcpEventScript)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func cached(dir string, versions []string) (Guest, bool) {
	g := Guest{Initrd: filepath.Join(dir, "initrd.img"), Versions: versions}
	if _, err := os.Stat(g.Initrd); err != nil {
		return Guest{}, false
	}
	if k := filepath.Join(dir, "vmlinux"); fileExists(k) {
		g.Kernel, g.KernelIsELF = k, true
	} else if k := filepath.Join(dir, "vmlinuz"); fileExists(k) {
		g.Kernel = k
	} else {
		return Guest{}, false
	}
	return g, true
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// resolveKernelPackage names the versioned kernel package the cloud meta-package points at.
func resolveKernelPackage(ctx context.Context) (string, error) {
	out, err := run(ctx, "", "apt-cache", "depends", kernelMetaPackage)
	if err != nil {
		return "", fmt.Errorf("%w: apt-cache depends %s: %v (run apt-get update?)", ErrUnavailable, kernelMetaPackage, err)
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "Depends:" && strings.HasPrefix(f[1], "linux-image-") {
			return f[1], nil
		}
	}
	return "", fmt.Errorf("%w: %s has no kernel dependency (run apt-get update?)", ErrUnavailable, kernelMetaPackage)
}

func candidateVersion(ctx context.Context, pkg string) (string, error) {
	out, err := run(ctx, "", "apt-cache", "show", "--no-all-versions", pkg)
	if err != nil {
		return "", fmt.Errorf("%w: apt-cache show %s: %v", ErrUnavailable, pkg, err)
	}
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "Version: "); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("%w: no version of %s in the package lists", ErrUnavailable, pkg)
}

func run(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
