package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A cluster of real stratus processes on loopback for the volume acceptance tests: one meta
// voter, three storage nodes (one replica each), and two volumed hosts, every port with mutual
// TLS from certificates made by `stratus ca init/issue`. The test's own calls run the same
// binary as the operator would.

// proc is one stratus process, restartable with the same arguments; its output goes to a log
// file that survives restarts.
type proc struct {
	name, bin, logPath string
	args               []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func (p *proc) start(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(logf, "=== %s start %s\n", time.Now().Format(time.RFC3339Nano), p.name)
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// The process dies with the test binary, so an interrupted run leaves nothing behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", p.name, err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(done)
	}()
	p.cmd, p.done = cmd, done
}

// signal sends sig to the process; for SIGTERM and SIGKILL it waits up to 10 s for the exit
// (then kills it).
func (p *proc) signal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(sig)
	if sig != syscall.SIGTERM && sig != syscall.SIGKILL {
		return
	}
	if sig == syscall.SIGTERM {
		p.cmd.Process.Signal(syscall.SIGCONT) // a stopped process cannot handle SIGTERM
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	p.cmd, p.done = nil, nil
}

func (p *proc) exited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) logTail(n int64) string {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return err.Error()
	}
	if int64(len(data)) > n {
		data = data[int64(len(data))-n:]
	}
	return string(data)
}

// volumedProc is a running `stratus volumed`. It reaches meta through metaLink, which the
// test can cut to partition it from meta.
type volumedProc struct {
	*proc
	host, nbd, metrics string
	metaLink           *tcpLink
}

// tcpLink forwards TCP connections to target until cut: then it drops the connections it
// carries and closes new ones at once, as a network partition would.
type tcpLink struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
}

func newTCPLink(t *testing.T, target string) *tcpLink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &tcpLink{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	go l.serve()
	t.Cleanup(func() {
		ln.Close()
		l.setCut(true)
	})
	return l
}

func (l *tcpLink) addr() string { return l.ln.Addr().String() }

func (l *tcpLink) serve() {
	for {
		in, err := l.ln.Accept()
		if err != nil {
			return
		}
		go l.carry(in)
	}
}

func (l *tcpLink) carry(in net.Conn) {
	out, err := net.DialTimeout("tcp", l.target, 2*time.Second)
	if err != nil {
		in.Close()
		return
	}
	l.mu.Lock()
	if l.cut {
		l.mu.Unlock()
		in.Close()
		out.Close()
		return
	}
	l.conns[in], l.conns[out] = struct{}{}, struct{}{}
	l.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { io.Copy(out, in); done <- struct{}{} }()
	go func() { io.Copy(in, out); done <- struct{}{} }()
	<-done
	in.Close()
	out.Close()
	<-done
	l.mu.Lock()
	delete(l.conns, in)
	delete(l.conns, out)
	l.mu.Unlock()
}

// setCut cuts the link (dropping what it carries) or mends it.
func (l *tcpLink) setCut(cut bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = cut
	if cut {
		for c := range l.conns {
			c.Close()
		}
	}
}

type procCluster struct {
	t        *testing.T
	dir, bin string
	pkiDir   string
	meta     string // the meta voter's address
	ringFile string
	metaProc *proc
	nodes    []*proc
	addrs    []string // storage nodes' addresses, as in the ring
	volumed  map[string]*volumedProc
}

// buildStratus builds the binary into dir.
func buildStratus(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "stratus")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "stratus/cmd/stratus").CombinedOutput()
	if err != nil {
		t.Fatalf("build stratus: %v\n%s", err, out)
	}
	return bin
}

// startProcCluster starts meta, three storage nodes with a published ring, and volumed hosts
// a and b (lease TTL 6 s).
func startProcCluster(t *testing.T) *procCluster {
	start := time.Now()
	c := &procCluster{t: t, dir: t.TempDir(), volumed: map[string]*volumedProc{}}
	c.bin = buildStratus(t, c.dir)
	t.Logf("built stratus in %.1fs", time.Since(start).Seconds())
	start = time.Now()
	t.Cleanup(c.shutdown)
	c.pkiDir = filepath.Join(c.dir, "pki")
	c.run("ca", "init", "--dir", c.pkiDir, "--name", "volume-test")

	c.meta = freeAddr(t)
	c.issue("meta", "m1")
	c.metaProc = c.newProc("meta", "--log-level", "info", "meta", "--id", "m1", "--listen", c.meta,
		"--data-dir", filepath.Join(c.dir, "m1"), "--bootstrap", "--pki-dir", filepath.Join(c.pkiDir, "m1"), "--cert-name", "m1")
	c.metaProc.start(t)
	c.eventually(c.metaProc, 30*time.Second, func() error {
		_, err := c.try("volume", "list", "--meta", c.meta)
		return err
	})

	builder := filepath.Join(c.dir, "object.builder")
	c.ringFile = filepath.Join(c.dir, "object.ring")
	c.run("ring", "create", builder, "6", "3", "0")
	for i := range 3 {
		name := fmt.Sprintf("n%d", i)
		addr := freeAddr(t)
		c.issue("objectd", name)
		dev := filepath.Join(c.dir, name, "d0")
		if err := os.MkdirAll(dev, 0o755); err != nil {
			t.Fatal(err)
		}
		c.run("objectd", "init-device", dev)
		c.run("ring", "add", builder, fmt.Sprintf("r1z%d-%s/d0", i+1, addr), "100")
		// Replication and audit off: whatever a replica lacks after a restart is volumed's
		// repair to bring, which is what the tests count.
		c.nodes = append(c.nodes, c.newProc("objectd "+name, "--log-level", "info", "objectd",
			"--pki-dir", filepath.Join(c.pkiDir, name), "--cert-name", name, "--listen", addr,
			"--devices-dir", filepath.Join(c.dir, name), "--mount-check=false", "--ring-path", c.ringFile,
			"--replication-interval", "0", "--audit-interval", "0", "--shutdown-timeout", "2s"))
		c.addrs = append(c.addrs, addr)
	}
	c.run("ring", "rebalance", builder, "--seed", "1")
	c.run("ring", "write-ring", builder, c.ringFile)
	c.run("ring", "publish", c.ringFile, "--meta", c.meta)
	for i, n := range c.nodes {
		n.start(t)
		c.waitTCP(n, c.addrs[i])
	}
	for _, host := range []string{"a", "b"} {
		c.issue("volumed", host)
		v := &volumedProc{host: host, nbd: freeAddr(t), metrics: freeAddr(t), metaLink: newTCPLink(t, c.meta)}
		v.proc = c.newProc("volumed "+host, "--log-level", "info", "volumed", "--host", host,
			"--listen", v.nbd, "--metrics-listen", v.metrics, "--meta", v.metaLink.addr(), "--lease-ttl", "6s",
			"--pki-dir", filepath.Join(c.pkiDir, host), "--cert-name", host)
		v.start(t)
		c.volumed[host] = v
	}
	for _, v := range c.volumed {
		c.eventually(v.proc, 20*time.Second, func() error {
			_, err := c.scrape(v)
			return err
		})
	}
	t.Logf("cluster (meta, 3 objectd, 2 volumed) started in %.1fs", time.Since(start).Seconds())
	return c
}

func (c *procCluster) newProc(name string, args ...string) *proc {
	return &proc{name: name, bin: c.bin, args: args, logPath: filepath.Join(c.dir, strings.ReplaceAll(name, " ", "-")+".log")}
}

// issue makes a certificate of role for name, valid for 127.0.0.1, in pkiDir/name.
func (c *procCluster) issue(role, name string) {
	c.run("ca", "issue", "--dir", c.pkiDir, "--role", role, "--out", filepath.Join(c.pkiDir, name), "--host", "127.0.0.1", name)
}

// try runs a stratus command as the operator (admin certificate) and returns its output.
func (c *procCluster) try(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = append(os.Environ(), "STRATUS_PKI_DIR="+c.pkiDir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("stratus %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (c *procCluster) run(args ...string) string {
	c.t.Helper()
	out, err := c.try(args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

// createVolume creates a volume and returns its ID.
func (c *procCluster) createVolume(size, chunk string) string {
	c.t.Helper()
	out := c.run("volume", "create", "--size", size, "--chunk-size", chunk, "--json", "--meta", c.meta)
	m := regexp.MustCompile(`"id": "(vol-[0-9a-f]{16})"`).FindStringSubmatch(out)
	if m == nil {
		c.t.Fatalf("volume create printed no id:\n%s", out)
	}
	return m[1]
}

func (c *procCluster) waitTCP(p *proc, addr string) {
	c.t.Helper()
	c.eventually(p, 20*time.Second, func() error {
		nc, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			nc.Close()
		}
		return err
	})
}

// scrape returns volumed v's /metrics.
func (c *procCluster) scrape(v *volumedProc) (string, error) {
	hc := http.Client{Timeout: 2 * time.Second}
	resp, err := hc.Get("http://" + v.metrics + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("metrics: %s", resp.Status)
	}
	return string(body), err
}

// metric returns the value of the series name{labels} in text (the exposition format), or
// -1 if absent.
func metric(text, name, labels string) float64 {
	for line := range strings.Lines(text) {
		rest, ok := strings.CutPrefix(line, name+"{"+labels+"} ")
		if !ok {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(rest, &v); err == nil {
			return v
		}
	}
	return -1
}

// eventually retries fn every 100 ms until it succeeds, failing the test after d or as soon
// as p (if any) exits.
func (c *procCluster) eventually(p *proc, d time.Duration, fn func() error) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := fn()
		if err == nil {
			return
		}
		if p != nil && p.exited() {
			c.t.Fatalf("%s exited: %v\n%s", p.name, err, p.logTail(4<<10))
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("after %v: %v", d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *procCluster) procs() []*proc {
	ps := append([]*proc{c.metaProc}, c.nodes...)
	for _, v := range c.volumed {
		ps = append(ps, v.proc)
	}
	return ps
}

func (c *procCluster) shutdown() {
	if c.t.Failed() {
		for _, p := range c.procs() {
			if p != nil {
				c.t.Logf("--- log of %s (tail):\n%s", p.name, p.logTail(3<<10))
			}
		}
	}
	for _, v := range c.volumed {
		v.signal(syscall.SIGTERM)
	}
	for _, n := range c.nodes {
		n.signal(syscall.SIGTERM)
	}
	if c.metaProc != nil {
		c.metaProc.signal(syscall.SIGTERM)
	}
}

// qemuIO runs one qemu-io invocation (one NBD connection) with cmds and returns its output;
// a command that fails shows in the output, not in the error.
func qemuIO(t *testing.T, bin, uri string, cmds ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := []string{"-f", "raw"}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	out, err := exec.CommandContext(ctx, bin, append(args, uri)...).CombinedOutput()
	if err != nil && ctx.Err() != nil {
		t.Fatalf("qemu-io %s: %v\n%s", uri, err, out)
	}
	if err != nil {
		return string(out) + "\n(exit: " + err.Error() + ")"
	}
	return string(out)
}

// ioFailed reports whether qemu-io output shows a failed command or a wrong pattern.
func ioFailed(out string) bool {
	return strings.Contains(out, "failed") || strings.Contains(out, "exit:") || strings.Contains(out, "error")
}

// qemuSession is one long-lived qemu-io process: one NBD connection that stays open across
// commands, as a VM's does.
type qemuSession struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

func startQemuSession(t *testing.T, bin, uri string) *qemuSession {
	t.Helper()
	cmd := exec.Command(bin, "-f", "raw", uri)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &qemuSession{cmd: cmd, stdin: stdin, lines: make(chan string, 256)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			s.lines <- strings.ReplaceAll(sc.Text(), "qemu-io> ", "")
		}
		close(s.lines)
	}()
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	return s
}

// do sends one command and returns its result line ("wrote …", "read …" or "… failed: …").
// One at a time: qemu-io reads its commands through stdio when stdin is not a terminal, and
// a second line already in its buffer would wait for more input. A flush prints nothing, so
// durable writes use FUA (write -f) instead.
func (s *qemuSession) do(t *testing.T, cmd string) string {
	t.Helper()
	if _, err := io.WriteString(s.stdin, cmd+"\n"); err != nil {
		t.Fatalf("qemu-io session: %v", err)
	}
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				return "(qemu-io exited)"
			}
			if strings.HasPrefix(l, "wrote ") || strings.HasPrefix(l, "read ") || strings.Contains(l, "failed") {
				return l
			}
		case <-timeout:
			t.Fatalf("qemu-io %q: no answer in 30s", cmd)
		}
	}
}

// sizeLine is what qemu-io's length command prints.
var sizeLine = regexp.MustCompile(`^[0-9.]+ (bytes|KiB|MiB|GiB|TiB)$`)

// length returns the size the session's connection negotiated, as qemu-io prints it.
func (s *qemuSession) length(t *testing.T) string {
	t.Helper()
	if _, err := io.WriteString(s.stdin, "length\n"); err != nil {
		t.Fatalf("qemu-io session: %v", err)
	}
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				return "(qemu-io exited)"
			}
			if l = strings.TrimSpace(l); sizeLine.MatchString(l) {
				return l
			}
		case <-timeout:
			t.Fatal("qemu-io length: no answer in 30s")
		}
	}
}

var errNotServed = errors.New("not served")

// waitServed waits until v serves volume id over NBD.
func (c *procCluster) waitServed(qemu string, v *volumedProc, id string) {
	c.t.Helper()
	c.eventually(v.proc, 20*time.Second, func() error {
		if out := qemuIO(c.t, qemu, "nbd://"+v.nbd+"/"+id, "length"); ioFailed(out) {
			return fmt.Errorf("%w: %s", errNotServed, out)
		}
		return nil
	})
}
