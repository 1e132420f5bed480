package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/chromedp/chromedp"
	"golang.org/x/sync/errgroup"

	"stratus/internal/testguest"
)

// TestConsoleInstances: in the browser, launch an instance from a machine image, see its
// boot in the console output, and terminate it. It boots a guest under TCG, so it skips
// where libvirt cannot run (startComputeServer says why).
func TestConsoleInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a guest under TCG")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cs := startComputeServer(t, ctx, "")
	aki := cs.register("vmlinux", cs.guest.Kernel, "kernel", nil)
	ari := cs.register("initrd.img", cs.guest.Initrd, "ramdisk", nil)
	disk := filepath.Join(t.TempDir(), "root.raw")
	if err := os.WriteFile(disk, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(disk, 8<<20); err != nil {
		t.Fatal(err)
	}
	ami := cs.register("root.raw", disk, "", &ec2.RegisterImageInput{KernelId: aws.String(aki), RamdiskId: aws.String(ari)})

	cctx, stopConsole := context.WithCancel(ctx)
	g, gctx := errgroup.WithContext(cctx)
	url, err := startConsole(gctx, g, consoleFlags{listen: "127.0.0.1:0", s3: cs.creds.Endpoint, ec2: cs.creds.EC2Endpoint,
		region: cs.creds.Region, sessionTTL: time.Hour, adminAccount: "admin"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := finishWithin("stopped", func() { stopConsole(); _ = g.Wait() }); err != nil {
			t.Errorf("console: %v", err)
		}
	}()

	tab := browserTab(t, 150*time.Second)
	loginAs(t, tab, url, cs.creds.AccessKey, cs.creds.SecretKey)
	waitFor(t, tab, "logged in", `document.querySelector("#bucket-name")`, 10*time.Second)
	eval[chromedp.Void](t, tab, `location.hash = "#/instances"`)
	waitFor(t, tab, "the image offered", `document.querySelector('#launch-image option[value="`+ami+`"]') && document.querySelector('#launch-type option[value="t3.nano"]')`, 10*time.Second)
	do(t, tab, "launch", chromedp.SetValue(chromedp.CSS("#launch-image"), ami), chromedp.Click(chromedp.CSS("#launch-form button[type=submit]")))
	waitFor(t, tab, "the launch", `document.getElementById("msg").textContent.startsWith("Launched i-")`, 20*time.Second)
	id := eval[string](t, tab, `document.getElementById("msg").textContent.match(/i-[0-9a-f]+/)[0]`)
	begin := time.Now()
	for {
		waitFor(t, tab, "the instance listed", `document.querySelector('button[aria-label="Console output of `+id+`"]')`, 10*time.Second)
		do(t, tab, "show the console output", chromedp.Click(chromedp.CSS(`button[aria-label="Console output of `+id+`"]`)))
		time.Sleep(time.Second)
		out := eval[string](t, tab, `(document.querySelector("#console-output pre") || {}).textContent || ""`)
		if strings.Contains(out, testguest.BootMarker) {
			break
		}
		if time.Since(begin) > 90*time.Second {
			t.Fatalf("console output after %v: %q", time.Since(begin), tail(out, 400))
		}
	}
	t.Logf("the page shows the guest's boot %v after the launch", time.Since(begin).Round(time.Millisecond))
	screenshot(t, tab, artifactsDir(t), "instances")

	// A volume attached to the instance and detached again, from the volumes page.
	eval[chromedp.Void](t, tab, `location.hash = "#/volumes"`)
	waitFor(t, tab, "the volumes page", `document.querySelector("#create-volume") && document.querySelector("#volumes table")`, 10*time.Second)
	do(t, tab, "create a volume", chromedp.Click(chromedp.CSS("#create-volume button[type=submit]")))
	waitFor(t, tab, "the volume", `document.getElementById("msg").textContent.startsWith("Volume vol-")`, 10*time.Second)
	vol := eval[string](t, tab, `document.getElementById("msg").textContent.match(/vol-[0-9a-f]+/)[0]`)
	waitFor(t, tab, "the volume listed", `document.querySelector('button[aria-label="Attach `+vol+`"]')`, 10*time.Second)
	do(t, tab, "attach it", chromedp.Click(chromedp.CSS(`button[aria-label="Attach `+vol+`"]`)),
		chromedp.WaitVisible(chromedp.CSS("#attach-instance")),
		chromedp.SendKeys(chromedp.CSS("#attach-instance"), id),
		chromedp.Click(chromedp.CSS("#attach-form button[type=submit]")))
	waitFor(t, tab, "attached", `document.getElementById("volumes").textContent.includes("`+id+` /dev/sdf (attached)")`, 60*time.Second)
	screenshot(t, tab, artifactsDir(t), "volume-attached")
	do(t, tab, "detach it", chromedp.Click(chromedp.CSS(`button[aria-label="Detach `+vol+`"]`)))
	waitFor(t, tab, "detached", `document.querySelector('button[aria-label="Attach `+vol+`"]')`, 60*time.Second)
	eval[chromedp.Void](t, tab, `location.hash = "#/instances"`)
	waitFor(t, tab, "the instance listed", `document.querySelector('button[aria-label="Terminate `+id+`"]')`, 10*time.Second)
	eval[chromedp.Void](t, tab, `window.confirm = () => true`)
	do(t, tab, "terminate", chromedp.Click(chromedp.CSS(`button[aria-label="Terminate `+id+`"]`)))
	waitFor(t, tab, "terminated", `document.getElementById("msg").textContent === "Terminate `+id+`."`, 20*time.Second)
}
