package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testProcessStatus runs `stratus status` as the operator would, against the process
// cluster: exit status 0 with every node up, 1 with a storage node killed (named, with one
// line on standard error), 0 again once it is back.
func testProcessStatus(t *testing.T, c *procCluster) {
	status := func() (stdout, stderr string, code int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// --full-ratio 1: the nodes' devices share whatever disk the machine has.
		cmd := exec.CommandContext(ctx, c.bin, "status", "--json", "--meta", c.meta, "--timeout", "2s", "--full-ratio", "1")
		cmd.Env = append(os.Environ(), "STRATUS_PKI_DIR="+c.pkiDir)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		var exit *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &exit):
			code = exit.ExitCode()
		default:
			t.Fatalf("stratus status: %v", err)
		}
		return out.String(), errOut.String(), code
	}
	problems := func(out string) []string {
		t.Helper()
		var kinds []string
		for _, p := range checkMachineJSON(t, out)["problems"].([]any) {
			p := p.(map[string]any)
			kinds = append(kinds, p["kind"].(string)+" "+p["subject"].(string))
		}
		return kinds
	}

	if out, errOut, code := status(); code != 0 || len(problems(out)) != 0 {
		t.Fatalf("all up: exit %d, problems %v\n%s%s", code, problems(out), out, errOut)
	}

	n := c.nodes[1]
	n.signal(syscall.SIGKILL) // returns once it exited
	out, errOut, code := status()
	if ps := problems(out); code != 1 || len(ps) != 1 || ps[0] != "node_down "+c.addrs[1] {
		t.Fatalf("n1 killed: exit %d, problems %v, want node_down %s\n%s%s", code, ps, c.addrs[1], out, errOut)
	}
	if !strings.Contains(errOut, "1 problem(s) need an operator") {
		t.Errorf("n1 killed: standard error %q", errOut)
	}

	n.start(t)
	c.waitTCP(n, c.addrs[1])
	if out, errOut, code := status(); code != 0 {
		t.Fatalf("n1 back: exit %d\n%s%s", code, out, errOut)
	}
}
