package objectd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"stratus/objectd/client"
)

// TestRealFullDisk runs against a real small file system, when one is provided:
//
//	mkdir -p /tmp/objectd-small/d1 && mount -t tmpfs -o size=4m tmpfs /tmp/objectd-small/d1
//	STRATUS_TEST_SMALL_FS=/tmp/objectd-small/d1 go test -run RealFullDisk ./objectd/
//
// The device is the mount point itself, so the mount check is on. Objects that do not fit
// fail with ErrNoSpace and leave nothing behind; what was stored stays readable.
func TestRealFullDisk(t *testing.T) {
	mnt := os.Getenv("STRATUS_TEST_SMALL_FS")
	if mnt == "" {
		t.Skip("set STRATUS_TEST_SMALL_FS to the mount point of a small file system (a few MiB)")
	}
	dev := filepath.Base(mnt)
	for _, e := range files(t, mnt) {
		os.Remove(filepath.Join(mnt, e))
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Join(mnt, objectsDir)); os.RemoveAll(filepath.Join(mnt, quarantineDir)) })
	n := startNode(t, nil, nil, func(c *Config) {
		c.DevicesDir = filepath.Dir(mnt)
		c.MountCheck = true
		c.FS = nil
		if err := InitDevice(mnt); err != nil {
			t.Fatal(err)
		}
	})
	tg := n.target(dev, 1)
	// Far too big: refused at once by the space reservation.
	huge := int64(1 << 30)
	err := n.cl.Put(ctxT(t), tg, client.PutRequest{Name: "huge", Timestamp: ts(1), Length: huge},
		&patternReader{block: payload(64<<10, 1), left: huge})
	if !errors.Is(err, client.ErrNoSpace) {
		t.Fatalf("1 GiB on a small disk: %v, want ErrNoSpace", err)
	}
	assertNothingVisible(t, n, tg, "huge")
	// Fill it with 256 KiB objects until it is full.
	var stored []string
	for i := 0; ; i++ {
		name := fmt.Sprintf("fill-%d", i)
		err := put(t, n, tg, name, ts(1), payload(256<<10, uint64(i)))
		if errors.Is(err, client.ErrNoSpace) {
			assertNothingVisible(t, n, tg, name)
			break
		}
		if err != nil {
			t.Fatalf("fill %d: %v", i, err)
		}
		stored = append(stored, name)
		if i > 10000 {
			t.Fatal("the disk never filled: is STRATUS_TEST_SMALL_FS a small file system?")
		}
	}
	if len(stored) == 0 {
		t.Fatal("nothing fitted")
	}
	for _, name := range stored {
		if _, b, err := get(t, n, tg, name); err != nil || len(b) != 256<<10 {
			t.Fatalf("%s after the disk filled: %d bytes, %v", name, len(b), err)
		}
	}
	t.Logf("stored %d objects of 256 KiB before ENOSPC", len(stored))
}
