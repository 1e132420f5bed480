package testguest

import (
	"bytes"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// cpioNames parses a newc archive and returns the names in it, checking the header fields
// the kernel reads as it goes.
func cpioNames(t *testing.T, a []byte) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for off := 0; ; {
		if off+110 > len(a) || string(a[off:off+6]) != "070701" {
			t.Fatalf("bad cpio header at %d", off)
		}
		field := func(i int) int {
			v, err := strconv.ParseUint(string(a[off+6+8*i:off+14+8*i]), 16, 32)
			if err != nil {
				t.Fatalf("cpio field %d at %d: %v", i, off, err)
			}
			return int(v)
		}
		size, nameSize := field(6), field(11)
		name := string(a[off+110 : off+110+nameSize-1])
		if name == "TRAILER!!!" {
			return names
		}
		names[name] = true
		off = align4(off+110+nameSize) + align4(size)
	}
}

func TestCPIOReadByCpioTool(t *testing.T) {
	var buf bytes.Buffer
	err := writeCPIO(&buf, []cpioEntry{
		{Name: "init", Mode: modeRegular | 0o755, Data: []byte("#!/bin/sh\necho hi\n")},
		{Name: "bin", Mode: modeDir | 0o755},
		{Name: "bin/sh", Mode: modeSymlink | 0o777, Data: []byte("busybox")},
		{Name: "odd", Mode: modeRegular | 0o644, Data: []byte("abcde")},
	})
	if err != nil {
		t.Fatal(err)
	}
	names := cpioNames(t, buf.Bytes())
	for _, n := range []string{"init", "bin", "bin/sh", "odd"} {
		if !names[n] {
			t.Errorf("archive lacks %s", n)
		}
	}
	// busybox-static's cpio applet stands in where the cpio package is not installed.
	var cmd *exec.Cmd
	if p, err := exec.LookPath("cpio"); err == nil {
		cmd = exec.Command(p, "-t", "-v")
	} else if p, err := exec.LookPath("busybox"); err == nil {
		cmd = exec.Command(p, "cpio", "-t", "-v")
	} else {
		t.Skip("no cpio tool to cross-check with")
	}
	cmd.Stdin = bytes.NewReader(buf.Bytes())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -t: %v: %s", err, out)
	}
	for _, want := range []string{"bin/sh -> busybox", "init", "odd"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("cpio -t output lacks %q:\n%s", want, out)
		}
	}
}
