package objectd

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"stratus/internal/testutil"
	"stratus/objectd/client"
)

// TestNoMountedDeviceRefusesStart: with the mount check on, a node whose device directories
// are all plain directories (the test machine's temp dirs are not mount points), or that
// has none, does not start, and says what to do.
func TestNoMountedDeviceRefusesStart(t *testing.T) {
	for _, tc := range []struct {
		name    string
		devices []string
		dir     func(t *testing.T) string
		found   string // what the message says it found
	}{
		{name: "plain directories", devices: []string{"sdb", "sdc"}, found: "holds sdb, sdc, and none is mounted"},
		{name: "no directories", found: "holds none"},
		{name: "missing devices dir", dir: func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") },
			found: "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.dir != nil {
				dir = tc.dir(t)
			}
			for _, d := range tc.devices {
				if err := InitDevice(filepath.Join(dir, d)); err != nil {
					t.Fatal(err)
				}
			}
			cfg := DefaultConfig()
			cfg.DevicesDir = dir
			srv, err := New(cfg, testutil.Logger(t), prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			ln := listen(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- srv.Run(ctx, ln) }()
			select {
			case <-srv.Ready():
				cancel()
				<-done
				t.Fatal("the node started with no mounted device")
			case err = <-done:
			}
			if !errors.Is(err, ErrNoMountedDevice) {
				t.Fatalf("Run = %v, want ErrNoMountedDevice", err)
			}
			t.Log(err)
			for _, want := range []string{tc.found, dir, "mount each disk", "--mount-check=false"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if c, err := ln.Accept(); err == nil {
				c.Close()
				t.Fatal("listener still open after Run refused to start")
			}
		})
	}
}

// TestSomeDevicesUnmounted: a node with one mounted device and others not starts, warns
// once per unusable device, answers 507 for those and serves the mounted one.
func TestSomeDevicesUnmounted(t *testing.T) {
	logger, rec := newLogRecorder(t)
	n := startNodeLog(t, nil, []string{"sdb", "sdc", "sdd"}, logger, func(c *Config) {
		c.MountCheck = true
		c.IsMountPoint = func(dir string) (bool, error) {
			return slices.Contains([]string{"sdc", "sde"}, filepath.Base(dir)), nil
		}
		// A mounted disk that was never initialised is not usable either.
		if err := os.Mkdir(filepath.Join(c.DevicesDir, "sde"), 0o755); err != nil {
			t.Fatal(err)
		}
	})
	var warned []string
	for _, e := range rec.take(slog.LevelWarn) {
		if e.level == slog.LevelWarn && e.attrs["device"] != nil {
			warned = append(warned, e.attrs["device"].(string))
		}
	}
	slices.Sort(warned)
	if want := []string{"sdb", "sdd", "sde"}; !slices.Equal(warned, want) {
		t.Fatalf("devices warned about at start: %v, want %v", warned, want)
	}
	mustPut(t, n, n.target("sdc", 1), "k", ts(1), []byte("v"))
	for range 20 {
		if err := put(t, n, n.target("sdb", 1), "k", ts(1), []byte("v")); !errors.Is(err, client.ErrDeviceUnavailable) {
			t.Fatalf("put to an unmounted device: %v, want ErrDeviceUnavailable", err)
		}
	}
	// The refusals are logged once per device per minute, not once per request.
	if got := rec.take(slog.LevelWarn); len(got) != 1 {
		t.Fatalf("%d warnings for 20 requests to one unmounted device, want 1: %v", len(got), got)
	}
	if code, body := health(t, n); code != http.StatusOK {
		t.Fatalf("healthz with one usable device: %d %q", code, body)
	}
}

// TestHealthzNeedsAUsableDevice: /healthz answers 503 with a reason while no device is
// usable, and 200 again once one is.
func TestHealthzNeedsAUsableDevice(t *testing.T) {
	var mu sync.Mutex
	mounted := map[string]bool{"d1": true}
	n := startNode(t, nil, []string{"d1"}, func(c *Config) {
		c.MountCheck = true
		c.IsMountPoint = func(dir string) (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			return mounted[filepath.Base(dir)], nil
		}
	})
	if code, body := health(t, n); code != http.StatusOK || body != "ok\n" {
		t.Fatalf("healthz: %d %q, want 200 ok", code, body)
	}
	mu.Lock()
	mounted["d1"] = false // the disk went away under the running node
	mu.Unlock()
	if code, body := health(t, n); code != http.StatusServiceUnavailable || !strings.Contains(body, "no usable device") {
		t.Fatalf("healthz with no device mounted: %d %q, want 503 and the reason", code, body)
	}
	if err := put(t, n, n.target("d1", 0), "k", ts(1), []byte("v")); !errors.Is(err, client.ErrDeviceUnavailable) {
		t.Fatalf("put with no device mounted: %v", err)
	}
	mu.Lock()
	mounted["d1"] = true
	mu.Unlock()
	if code, _ := health(t, n); code != http.StatusOK {
		t.Fatalf("healthz after the disk came back: %d", code)
	}

	// Without the mount check, a node whose only device lost its marker is unhealthy too.
	m := startNode(t, nil, []string{"d1"}, nil)
	if err := os.Remove(filepath.Join(m.dir, "d1", MarkerFile)); err != nil {
		t.Fatal(err)
	}
	if code, _ := health(t, m); code != http.StatusServiceUnavailable {
		t.Fatalf("healthz with no initialised device: %d, want 503", code)
	}
}

func health(t *testing.T, n *testNode) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxT(t), http.MethodGet, "http://"+n.addr+client.PathHealth, nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
