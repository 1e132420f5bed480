package chaos

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"stratus/internal/pki"
	"stratus/internal/testutil"
	metaclient "stratus/meta/client"
	"stratus/objectd"
	objclient "stratus/objectd/client"
	"stratus/ring"
)

// stratusBin is the binary every process of the cluster runs, built once by TestMain.
var stratusBin string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "stratus-chaos-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	stratusBin = filepath.Join(dir, "stratus")
	build := exec.Command("go", "build", "-o", stratusBin, "stratus/cmd/stratus")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build stratus:", err)
		os.Exit(1)
	}
	stop := testutil.WatchTimeout()
	code := m.Run()
	stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

const bucket = "chaos"

// clusterOptions shapes a cluster. Storage node i sits in zone i%3+1 with devices d0, d1.
type clusterOptions struct {
	nodes  int // storage nodes in the first ring; default 5
	spares int // storage nodes started outside the ring, for a later ring change
	// smallDevice, if positive, makes node 0's device d1 a tmpfs of that many bytes, so
	// that it fills up.
	smallDevice int64
	// audit* tune the auditors (defaults: a pass every 2 s at 10 MiB/s).
	auditInterval       time.Duration
	auditBytesPerSecond int64
	// smallObjectMax, if positive, keeps objects up to that many bytes in the storage
	// nodes' small-object log; segmentMax and compactInterval then size its segments and
	// pace its compaction (0: objectd's defaults). Zero switches the log off: the other
	// scenarios find, wipe and rot object files on disk.
	smallObjectMax  int64
	segmentMax      int64
	compactInterval time.Duration
	// ec, if set, makes an erasure-coded policy with a ring of its own over every device
	// of the first ring (see ec_test.go); the test bucket then uses it.
	ec *ecOptions
}

// cluster is a running multi-process Stratus cluster.
type cluster struct {
	t         *testing.T
	dir       string
	metas     []*metaNode
	nodes     []*storageNode
	proxies   []*proc
	endpoints []string   // S3 endpoints of the proxies
	builder   string     // ring builder file
	ringFile  string     // ring file every storage node watches
	ecRing    *ring.Ring // the erasure-coded policy's ring, if the cluster has one
	accessKey string
	secretKey string
	mounts    []string

	// pkiDir holds the cluster's CA, the admin certificate and one directory of
	// certificates per process (see pki_test.go).
	pkiDir    string
	admin     *pki.Identity     // the operator's certificate, for meta
	checkerID *pki.Identity     // the test's own proxy certificate, for storage nodes
	objc      *objclient.Client // calls storage nodes as checkerID
	hc        *http.Client      // HTTP(S) as checkerID: storage nodes' and proxies' endpoints
}

type metaNode struct {
	id, addr string
	p        *proc
}

type storageNode struct {
	name    string
	zone    int
	addr    string // the address in the ring: the node's link
	dir     string // holds one directory per device
	devices []string
	link    *link
	p       *proc
}

// freeAddr returns ip:port with a port that was free a moment ago and not handed out before.
func freeAddr(t testing.TB, ip string) string {
	t.Helper()
	return testutil.FreeAddr(t, ip)
}

// startCluster starts three meta voters, the storage nodes (each behind a link), a ring
// built and published with `stratus ring`, two proxies, an account and the test bucket.
// Everything stops when the test ends.
func startCluster(t *testing.T, opts clusterOptions) *cluster {
	t.Helper()
	if opts.nodes == 0 {
		opts.nodes = 5
	}
	if opts.auditInterval == 0 {
		opts.auditInterval = 2 * time.Second
	}
	if opts.auditBytesPerSecond == 0 {
		opts.auditBytesPerSecond = 10 << 20
	}
	start := time.Now()
	c := &cluster{t: t, dir: t.TempDir()}
	if *keepFlag {
		dir, err := os.MkdirTemp("", "stratus-chaos-"+t.Name()+"-")
		if err != nil {
			t.Fatal(err)
		}
		c.dir = dir
		t.Logf("cluster data and logs in %s (kept)", dir)
	}
	t.Cleanup(c.shutdown)
	c.builder = filepath.Join(c.dir, "object.builder")
	c.ringFile = filepath.Join(c.dir, "object.ring")
	c.initPKI()

	for i := range 3 {
		c.startMeta(i)
	}
	out := c.stratus("user", "create", "chaos", "--meta", c.metaList())
	c.accessKey, c.secretKey = field(out, "access key:"), field(out, "secret key:")
	if c.accessKey == "" || c.secretKey == "" {
		t.Fatalf("user create printed no key:\n%s", out)
	}

	c.stratus("ring", "create", c.builder, "8", "3", "0")
	for i := range opts.nodes + opts.spares {
		n := c.addStorageNode(i, opts)
		if i < opts.nodes {
			for _, d := range n.devices {
				c.stratus("ring", "add", c.builder, fmt.Sprintf("r1z%d-%s/%s", n.zone, n.addr, d), "100")
			}
		}
	}
	c.stratus("ring", "rebalance", c.builder, "--seed", "1")
	c.publishRing()
	var createBucket *s3.CreateBucketInput
	if opts.ec != nil {
		// Published before any node or proxy starts, so that each loads it at once rather
		// than at its next poll of meta.
		createBucket = c.createECPolicy(opts.ec, opts.nodes)
	}
	for _, n := range c.nodes {
		if err := n.p.start(); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range c.nodes {
		c.waitHTTP(n.p, "https://"+n.addr+objclient.PathMetrics)
	}
	for i := range 2 {
		c.startProxy(i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		in := &s3.CreateBucketInput{Bucket: aws.String(bucket)}
		if createBucket != nil {
			in = createBucket
		}
		_, err := c.s3(0).CreateBucket(ctx, in)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("create bucket: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("cluster started in %.1fs", time.Since(start).Seconds())
	return c
}

func (c *cluster) startMeta(i int) {
	id := fmt.Sprintf("m%d", i+1)
	m := &metaNode{id: id, addr: freeAddr(c.t, fmt.Sprintf("127.0.0.%d", 11+i))}
	pkiDir := c.issue(pki.RoleMeta, id, m.addr)
	args := []string{"--log-level", "info", "meta", "--id", id, "--listen", m.addr, "--data-dir", filepath.Join(c.dir, id)}
	args = append(args, pkiArgs(pkiDir, id)...)
	if i == 0 {
		args = append(args, "--bootstrap")
	} else {
		args = append(args, "--join", c.metas[0].addr, "--cluster-key-file", filepath.Join(c.dir, "m1", "cluster.key"))
	}
	m.p = newProc("meta "+id, stratusBin, filepath.Join(c.dir, id+".log"), args...)
	if err := m.p.start(); err != nil {
		c.t.Fatal(err)
	}
	c.metas = append(c.metas, m)
	// Ready when the node itself knows a leader (a joiner: once it has been added).
	c.eventually(m.p, 30*time.Second, func() error {
		st, err := c.metaStatus(m.addr)
		if err != nil {
			return err
		}
		if st.LeaderID == "" {
			return errors.New("no leader known")
		}
		return nil
	})
}

func (c *cluster) addStorageNode(i int, opts clusterOptions) *storageNode {
	ip := fmt.Sprintf("127.0.0.%d", 21+i)
	n := &storageNode{name: fmt.Sprintf("n%d", i), zone: i%3 + 1, dir: filepath.Join(c.dir, fmt.Sprintf("n%d", i)),
		devices: []string{"d0", "d1"}}
	// The link and the node share an IP address: the link's port, picked after the node's
	// was released, may be that very port, which the node could then not bind.
	var listen string
	for n.link == nil || n.link.addr() == listen {
		if n.link != nil {
			n.link.close()
		}
		listen = freeAddr(c.t, ip)
		var err error
		if n.link, err = newLink(ip+":0", listen); err != nil {
			c.t.Fatal(err)
		}
	}
	n.addr = n.link.addr()
	// Callers dial the link (the ring's address); the node's own address is in the
	// certificate too, for whoever reaches it directly.
	pkiDir := c.issue(pki.RoleObjectd, n.name, n.addr, listen)
	for _, d := range n.devices {
		dir := filepath.Join(n.dir, d)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			c.t.Fatal(err)
		}
		if i == 0 && d == "d1" && opts.smallDevice > 0 {
			if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+strconv.FormatInt(opts.smallDevice, 10)); err != nil {
				c.t.Skipf("a small device needs a tmpfs mount (root): %v", err)
			}
			c.mounts = append(c.mounts, dir)
		}
		c.stratus("objectd", "init-device", dir)
	}
	args := []string{"--log-level", "info", "objectd", "--pki-dir", pkiDir, "--cert-name", n.name,
		"--listen", listen, "--advertise-addr", n.addr, "--devices-dir", n.dir, "--mount-check=false",
		"--ring-path", c.ringFile, "--ring-check-interval", "500ms",
		"--replication-interval", "1s", "--replication-timeout", "20s",
		"--audit-interval", opts.auditInterval.String(),
		"--audit-bytes-per-second", strconv.FormatInt(opts.auditBytesPerSecond, 10),
		"--shutdown-timeout", "5s"}
	if opts.smallObjectMax > 0 {
		args = append(args, "--small-object-max", strconv.FormatInt(opts.smallObjectMax, 10),
			"--small-object-segment-max", strconv.FormatInt(opts.segmentMax, 10),
			"--small-object-compact-interval", opts.compactInterval.String())
	} else {
		args = append(args, "--small-object-max", "0")
	}
	if opts.ec != nil {
		// The node follows meta for the policy's ring, and reconstructs its fragments.
		args = append(args, "--meta", c.metaList(), "--reconstruct-interval", opts.ec.reconstructInterval.String())
	}
	n.p = newProc("objectd "+n.name, stratusBin, filepath.Join(c.dir, n.name+".log"), args...)
	c.nodes = append(c.nodes, n)
	return n
}

func (c *cluster) startProxy(i int) {
	ip := fmt.Sprintf("127.0.0.%d", 31+i)
	listen, metrics := freeAddr(c.t, ip), freeAddr(c.t, ip)
	name := fmt.Sprintf("p%d", i)
	pkiDir := c.issue(pki.RoleProxy, name, ip)
	p := newProc("proxy "+name, stratusBin, filepath.Join(c.dir, name+".log"),
		"--log-level", "info", "proxy", "--pki-dir", pkiDir, "--cert-name", name,
		"--listen", listen, "--metrics-listen", metrics, "--meta", c.metaList())
	if err := p.start(); err != nil {
		c.t.Fatal(err)
	}
	c.proxies = append(c.proxies, p)
	c.endpoints = append(c.endpoints, "http://"+listen)
	c.waitHTTP(p, "http://"+metrics+"/healthz")
}

// publishRing writes the ring file the storage nodes watch (atomically) and publishes it
// through meta for the proxies.
func (c *cluster) publishRing() {
	c.stratus("ring", "write-ring", c.builder, c.ringFile)
	c.stratus("ring", "publish", c.ringFile, "--meta", c.metaList())
}

// changeRing runs `stratus ring` commands on the builder, rebalances and publishes the
// result, returning the rings before and after.
func (c *cluster) changeRing(cmds ...[]string) (before, after *ring.Ring) {
	before = c.ring()
	for _, args := range cmds {
		c.stratus(append([]string{"ring", args[0], c.builder}, args[1:]...)...)
	}
	c.stratus("ring", "rebalance", c.builder, "--seed", "2")
	c.publishRing()
	return before, c.ring()
}

func (c *cluster) ring() *ring.Ring {
	r, err := ring.Load(c.ringFile)
	if err != nil {
		c.t.Fatal(err)
	}
	return r
}

func (c *cluster) metaList() string {
	addrs := make([]string, len(c.metas))
	for i, m := range c.metas {
		addrs[i] = m.addr
	}
	return strings.Join(addrs, ",")
}

func (c *cluster) metaStatus(addr string) (metaclient.Status, error) {
	cfg := c.metaConfig(addr)
	cfg.CallTimeout, cfg.RetryTimeout = time.Second, time.Second
	mc, err := metaclient.New(cfg)
	if err != nil {
		return metaclient.Status{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return mc.Status(ctx)
}

// leader returns the meta node that is the Raft leader.
func (c *cluster) leader() *metaNode {
	var lead *metaNode
	c.eventually(nil, 30*time.Second, func() error {
		for _, m := range c.metas {
			if st, err := c.metaStatus(m.addr); err == nil && st.State == "Leader" {
				lead = m
				return nil
			}
		}
		return errors.New("no meta node is leader")
	})
	return lead
}

// s3 returns an S3 client of proxy i: path style, no retries (a failure is recorded, not
// hidden), every call bounded by its context.
func (c *cluster) s3(i int) *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(c.endpoints[i]),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(c.accessKey, c.secretKey, ""),
		Retryer:      aws.NopRetryer{},
		HTTPClient: &http.Client{Transport: &http.Transport{
			DialContext:           (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			MaxIdleConnsPerHost:   32,
			ResponseHeaderTimeout: 15 * time.Second,
		}},
	})
}

// stratus runs a stratus command and returns its output; a failure fails the test.
// Operator commands present the cluster's admin certificate.
func (c *cluster) stratus(args ...string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, stratusBin, args...)
	cmd.Env = append(os.Environ(), "STRATUS_PKI_DIR="+c.pkiDir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		c.t.Fatalf("stratus %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// field returns the rest of the line of out that starts with label, trimmed.
func field(out, label string) string {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), label); ok {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}

// waitHTTP waits until url answers 200, failing early if p exits.
func (c *cluster) waitHTTP(p *proc, url string) {
	c.t.Helper()
	c.eventually(p, 30*time.Second, func() error {
		resp, err := c.hc.Get(url)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		return nil
	})
}

// eventually retries fn every 100 ms until it succeeds, failing the test after d or as
// soon as p (if any) exits.
func (c *cluster) eventually(p *proc, d time.Duration, fn func() error) {
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

// procs lists every process of the cluster.
func (c *cluster) procs() []*proc {
	var ps []*proc
	for _, m := range c.metas {
		ps = append(ps, m.p)
	}
	for _, n := range c.nodes {
		ps = append(ps, n.p)
	}
	return append(ps, c.proxies...)
}

func (c *cluster) shutdown() {
	if c.t.Failed() {
		for _, p := range c.procs() {
			c.t.Logf("--- log of %s (tail):\n%s", p.name, p.logTail(3<<10))
		}
	}
	for _, p := range c.proxies {
		p.stop()
	}
	for _, n := range c.nodes {
		n.p.stop()
		n.link.close()
	}
	for _, m := range c.metas {
		m.p.stop()
	}
	for _, dir := range c.mounts {
		syscall.Unmount(dir, syscall.MNT_DETACH)
	}
}

// dataFiles lists the object files (.data) on a device of n.
func (n *storageNode) dataFiles(device string) ([]string, int64) {
	var files []string
	var bytes int64
	filepath.WalkDir(filepath.Join(n.dir, device, "objects"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".data") {
			files = append(files, path)
			if info, err := d.Info(); err == nil {
				bytes += info.Size()
			}
		}
		return nil
	})
	return files, bytes
}

// wipe replaces a device of a stopped node with an empty one, as a disk swap does.
func (n *storageNode) wipe(device string) error {
	dir := filepath.Join(n.dir, device)
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return objectd.InitDevice(dir)
}
