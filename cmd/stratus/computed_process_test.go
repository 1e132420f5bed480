package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"stratus/internal/hlc"
	"stratus/internal/pki"
	"stratus/internal/testguest"
	"stratus/internal/testutil"
	"stratus/meta/client"
	objclient "stratus/objectd/client"
	"stratus/proxy"
	"stratus/ring"
)

// TestComputedProcess runs `stratus computed` as an operator would, beside the volume
// daemon of its host, in a cluster of real processes with certificates from `stratus ca`:
// the host registers, an instance of the test guest placed on it boots with a volume
// attached at launch, the guest writes the volume and powers off (stopped), and termination
// hands the volume back. The daemon's metrics are scraped from its --metrics-listen.
func TestComputedProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("a cluster of processes and a TCG boot (about 20 s)")
	}
	uri := testguest.Libvirtd(t)
	t.Cleanup(func() {
		if err := testguest.StopDaemons(); err != nil {
			t.Error(err)
		}
	})
	g := testguest.BuildGuest(t)
	c := startProcCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	adminID, err := pki.Load(pki.InDir(c.pkiDir, "admin"))
	if err != nil {
		t.Fatal(err)
	}
	mc, err := metaClientAs(adminID, []string{c.meta})
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()

	// The guest's kernel and initrd, stored as the S3 API stores a single-part PUT.
	c.issue("proxy", "p1")
	proxyID, err := pki.Load(pki.InDir(filepath.Join(c.pkiDir, "p1"), "p1"))
	if err != nil {
		t.Fatal(err)
	}
	oc := objclient.New(objclient.Config{Timeout: 10 * time.Second, TLS: proxyID.ClientTLS(pki.RoleObjectd)})
	defer oc.CloseIdleConnections()
	px, err := proxy.New(proxy.DefaultConfig(), oc, &hlc.Clock{}, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	rg, err := ring.Load(c.ringFile)
	if err != nil {
		t.Fatal(err)
	}
	px.SetRing(rg)
	if err := mc.CreateAccount(ctx, client.Account{ID: "alice"}); err != nil {
		t.Fatal(err)
	}
	if err := mc.CreateBucket(ctx, client.Bucket{Name: "images", Owner: "alice"}); err != nil {
		t.Fatal(err)
	}
	aki, ari := client.NewImageID(client.ImageKernel), client.NewImageID(client.ImageRamdisk)
	for _, im := range []struct {
		id, key, path string
		kind          client.ImageKind
	}{{aki, "vmlinux", g.Kernel, client.ImageKernel}, {ari, "initrd.img", g.Initrd, client.ImageRamdisk}} {
		data, err := os.ReadFile(im.path)
		if err != nil {
			t.Fatal(err)
		}
		_, err = px.Put(ctx, proxy.PutRequest{Name: "images/" + im.key, Length: int64(len(data))}, bytes.NewReader(data),
			func(ctx context.Context, r proxy.PutResult) error {
				return mc.Index("images").PutObject(ctx, client.ObjectEntry{Bucket: "images", Key: im.key, Version: uint64(r.Timestamp),
					Size: int64(len(data)), ETag: hex.EncodeToString(r.MD5[:])}, false)
			})
		if err != nil {
			t.Fatal(err)
		}
		if err := mc.CreateImage(ctx, client.Image{ID: im.id, Account: "alice", Kind: im.kind, Name: im.key, Bucket: "images", Key: im.key}); err != nil {
			t.Fatal(err)
		}
	}

	// The compute daemon of host a, whose volumed serves the cluster's host a.
	c.issue("computed", "compute-a")
	dataDir, err := os.MkdirTemp("", "stratus-computed-proc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dataDir) })
	metrics := freeAddr(t)
	cp := c.newProc("computed a", "--log-level", "info", "computed", "--host", "a", "--domain-type", "qemu",
		"--meta", c.meta, "--libvirt-uri", uri, "--data", dataDir, "--vcpus", "2", "--memory-mib", "1024",
		"--nbd", c.volumed["a"].nbd, "--metrics-listen", metrics, "--kernel-cmdline", "console=ttyS0 quiet panic=-1",
		"--pki-dir", filepath.Join(c.pkiDir, "compute-a"), "--cert-name", "compute-a")
	cp.start(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- log of computed (tail):\n%s", cp.logTail(4<<10))
		}
		cp.signal(syscall.SIGTERM)
	})
	c.eventually(cp, 20*time.Second, func() error {
		h, err := mc.ComputeHost(ctx, "a")
		if err != nil || h.DomainType != "qemu" || h.NBDAddr != c.volumed["a"].nbd {
			return fmt.Errorf("host registration %+v, %v", h, err)
		}
		return nil
	})

	volID := c.createVolume("64MiB", "4MiB")
	id := client.NewInstanceID()
	if err := mc.CreateInstance(ctx, client.Instance{ID: id, Account: "alice", ImageID: aki, RamdiskID: ari, InstanceType: "t3.nano",
		VCPUs: 1, MemoryMiB: 256, Zone: "z", Host: "a",
		Volumes: []client.InstanceVolume{{VolumeID: volID, Device: "/dev/sdf", State: client.VolumeAttaching}}}); err != nil {
		t.Fatal(err)
	}
	c.eventually(cp, 40*time.Second, func() error {
		in, _, err := mc.Instance(ctx, id)
		if err != nil {
			return err
		}
		if in.State != client.InstanceStopped || in.Console == nil || !bytes.Contains(in.Console.Output, []byte(testguest.VolumeWritten+" "+volID)) {
			return fmt.Errorf("instance %s (reason %+v), console %d bytes", in.State, in.StateReason, len(consoleOf(in)))
		}
		return nil
	})
	text := scrapeMetrics(t, metrics)
	if v := metric(text, "stratus_computed_launches_total", `result="ok"`); v != 1 {
		t.Errorf("launches in the daemon's metrics: %v, want 1", v)
	}
	if v := metric(text, "stratus_computed_instances", `state="stopped"`); v != 1 {
		t.Errorf("stopped instances in the daemon's metrics: %v, want 1", v)
	}

	if err := updateRecord(ctx, mc, id, func(in *client.Instance) { in.DesiredState = client.DesireTerminated }); err != nil {
		t.Fatal(err)
	}
	c.eventually(cp, 20*time.Second, func() error {
		in, _, err := mc.Instance(ctx, id)
		if err != nil || in.State != client.InstanceTerminated {
			return fmt.Errorf("instance %s, %v", in.State, err)
		}
		v, _, err := mc.Volume(ctx, volID)
		if err != nil || v.State != client.VolumeAvailable {
			return fmt.Errorf("volume %s, %v", v.State, err)
		}
		return nil
	})
	if ents, err := os.ReadDir(filepath.Join(dataDir, "instances")); err != nil || len(ents) != 0 {
		t.Errorf("instance files after termination: %v, %v", ents, err)
	}
}

func consoleOf(in client.Instance) []byte {
	if in.Console == nil {
		return nil
	}
	return in.Console.Output
}

// updateRecord changes an instance as the API does: read, change, conditional write.
func updateRecord(ctx context.Context, mc *client.Client, id string, change func(*client.Instance)) error {
	for range 20 {
		in, idx, err := mc.Instance(ctx, id)
		if err != nil {
			return err
		}
		change(&in)
		if err = mc.UpdateInstance(ctx, in, idx); !errors.Is(err, client.ErrConflict) {
			return err
		}
	}
	return errors.New("instance changed under every update")
}

// scrapeMetrics reads the Prometheus text at addr/metrics.
func scrapeMetrics(t *testing.T, addr string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || !strings.Contains(string(b), "stratus_computed_") {
		t.Fatalf("metrics: %v\n%.500s", err, b)
	}
	return string(b)
}
