package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"stratus/internal/hlc"
	"stratus/internal/inproc"
	"stratus/internal/pki"
	"stratus/meta"
	metaclient "stratus/meta/client"
	"stratus/objectd"
	objclient "stratus/objectd/client"
	"stratus/proxy"
	"stratus/ring"
	"stratus/volumed"
	"stratus/volumed/snapshot"
)

func init() { register(newServerCmd) }

// serverFlags are the settings of the all-in-one server.
type serverFlags struct {
	dataDir    string
	devices    int
	replicas   int
	partPower  int
	metaListen string
	objListen  string
	// storageHop is how the front end reaches the storage node: "inproc" (a call in this
	// process), "mtls" (loopback HTTPS, as in a cluster) or "plain" (loopback HTTP, the
	// storage port unauthenticated). Only benchmarks of the hop's cost use the last two.
	storageHop string
	// nbdListen is where attached volumes are served over NBD (loopback); empty serves none.
	nbdListen string
	// volumeHost is this host's name in volume attachments.
	volumeHost string
	// ec2Listen is the address of the EC2 API; empty serves none.
	ec2Listen string
	// smallObjectMax is objectd.Config.SmallObjectMax for the storage node.
	smallObjectMax int64
	// consoleListen is the address of the web console; empty serves none.
	consoleListen string
	// consoleTTL is how long a console login lasts.
	consoleTTL time.Duration
	// ec, if set ("K+M"), makes an erasure-coded policy over the devices (server_ec.go).
	ec string
	// reconstructInterval paces the storage node's EC reconstructor (0: off).
	reconstructInterval time.Duration
	// compute runs instances on this machine when its domain type is set.
	compute computeFlags
	front   frontFlags
}

func newServerCmd() *cobra.Command {
	var f serverFlags
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run a whole Stratus cluster in one process: meta, storage, proxy and S3",
		Long: `Run every role in one process on this machine, with data under --data: a single-voter
meta catalog, a storage node with --devices devices (directories under data/devices),
a ring placing --replicas replicas over them, the proxy, and the S3 API. On first start it
creates an admin account and prints its credentials (also saved in data/credentials.json).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runServer(cmd.Context(), f, func(c adminCredentials) { printWelcome(cmd.OutOrStdout(), f.dataDir, c) })
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dataDir, "data", "./data", "directory for all state")
	fl.IntVar(&f.devices, "devices", 3, "storage devices (directories) to create on first start")
	fl.IntVar(&f.replicas, "replicas", 3, "replicas of every object (at most --devices)")
	fl.IntVar(&f.partPower, "part-power", 10, "log2 of the ring's partition count, fixed on first start")
	fl.StringVar(&f.metaListen, "meta-listen", "127.0.0.1:7400", "address of the meta catalog")
	fl.StringVar(&f.ec2Listen, "ec2-listen", DefaultEC2Listen, "address of the EC2 API; empty: none")
	fl.StringVar(&f.consoleListen, "console-listen", DefaultConsoleListen, "address of the web console; empty: none")
	fl.DurationVar(&f.consoleTTL, "console-session-ttl", time.Hour, "how long a web console login lasts")
	fl.StringVar(&f.nbdListen, "nbd-listen", "127.0.0.1:10809", "loopback address to serve attached volumes on over NBD; empty: none")
	fl.StringVar(&f.volumeHost, "volume-host", defaultHost(), "this host's name in volume attachments (stratus volume attach ID --host)")
	fl.StringVar(&f.storageHop, "storage-hop", "inproc", "how the proxy reaches the storage node: inproc, mtls or plain (benchmarks of the hop only)")
	fl.MarkHidden("storage-hop")
	fl.StringVar(&f.objListen, "objectd-listen", "127.0.0.1:6200", "address of the storage node (named in the ring: keep it stable)")
	fl.StringVar(&f.ec, "ec", "", "K+M (e.g. 4+2): also make the erasure-coded storage policy ec-K-M, its ring over the devices (at least K+M), on first start")
	fl.Int64Var(&f.smallObjectMax, "small-object-max", objectd.DefaultConfig().SmallObjectMax, "largest object (bytes) kept in the storage node's small-object log instead of a file of its own; 0: every object in files")
	fl.DurationVar(&f.reconstructInterval, "reconstruct-interval", objectd.DefaultConfig().ReconstructInterval, "pause between passes of the erasure-coded fragment reconstructor (0: off; benchmarks of degraded reads)")
	fl.MarkHidden("reconstruct-interval")
	f.compute.addFlags(fl)
	f.front.addFlags(cmd)
	daemonSettings(cmd, "STRATUS_SERVER_")
	return cmd
}

// adminCredentials is data/credentials.json.
type adminCredentials struct {
	Endpoint    string `json:"endpoint"`
	EC2Endpoint string `json:"ec2_endpoint,omitempty"`
	ConsoleURL  string `json:"console_url,omitempty"`
	Region      string `json:"region"`
	AccessKey   string `json:"access_key"`
	SecretKey   string `json:"secret_key"`
	// MetaAddr is the catalog's address, for the operator commands; NBDAddr is where
	// attached volumes are served ("" for nowhere).
	MetaAddr string `json:"meta_addr"`
	NBDAddr  string `json:"nbd_addr,omitempty"`
}

// runServer runs every role until ctx ends; ready is called once they all serve.
func runServer(ctx context.Context, f serverFlags, ready func(adminCredentials)) error {
	if f.replicas < 1 || f.replicas > f.devices {
		return fmt.Errorf("replicas (%d) must be between 1 and devices (%d)", f.replicas, f.devices)
	}
	if err := checkECFlag(f); err != nil {
		return err
	}
	log := slog.Default()
	if err := os.MkdirAll(f.dataDir, 0o700); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	// Whatever happens, stop every role before returning.
	defer func() { cancel(); _ = g.Wait() }()

	// Its own CA and a certificate per role: the ports it opens require them like a
	// multi-host cluster's, and the roles in this process present them to each other.
	ids, err := serverIdentities(f)
	if err != nil {
		return err
	}
	metaID, objID, proxyID, adminID, volumedID, ec2ID := ids[0], ids[1], ids[2], ids[3], ids[4], ids[5]

	// Meta first: everything else keeps its truth there.
	key, err := loadClusterKey(filepath.Join(f.dataDir, "cluster.key"), true)
	if err != nil {
		return err
	}
	mcfg := meta.DefaultConfig()
	metricsReg := newRegistry()
	var reg prometheus.Registerer = metricsReg
	if wrapServerRegisterer != nil {
		reg = wrapServerRegisterer(metricsReg)
	}
	mcfg.NodeID, mcfg.DataDir, mcfg.Bootstrap, mcfg.ClusterKey = "server", filepath.Join(f.dataDir, "meta"), true, key
	mcfg.Identity = metaID
	mcfg.Registerer = reg
	mcfg.Logger = log
	mln, err := net.Listen("tcp", f.metaListen)
	if err != nil {
		return err
	}
	msrv, err := meta.New(mcfg, mln)
	if err != nil {
		mln.Close()
		return err
	}
	g.Go(func() error { return msrv.Run(gctx) })
	select {
	case <-msrv.Ready():
	case <-gctx.Done():
		return g.Wait()
	}

	// Storage: devices and the ring over them.
	devDir := filepath.Join(f.dataDir, "devices")
	olnAddr := f.objListen
	oln, err := net.Listen("tcp", olnAddr)
	if err != nil {
		return err
	}
	ocfg := objectd.DefaultConfig()
	ocfg.DevicesDir, ocfg.MountCheck, ocfg.AdvertiseAddr = devDir, false, oln.Addr().String()
	ocfg.RingPath = filepath.Join(f.dataDir, "object.ring")
	ocfg.SmallObjectMax = f.smallObjectMax
	ocfg.ReconstructInterval = f.reconstructInterval
	ocfg.Identity = objID
	if f.storageHop == "plain" {
		ocfg.Identity = nil
	}
	osrv, err := objectd.New(ocfg, log, reg)
	if err != nil {
		oln.Close()
		return err
	}

	// The front end reaches the catalog and the storage node in this process directly, with
	// the proxy's certificate (and the set-up below with the admin's); both still listen for
	// other nodes and tools.
	local := map[string]http.Handler{msrv.Addr(): msrv.Handler(), ocfg.AdvertiseAddr: osrv.Handler()}
	localMeta := func(id *pki.Identity) (*metaclient.Client, error) {
		cfg := metaclient.DefaultConfig(msrv.Addr())
		cfg.TLS = id.ClientTLS(pki.RoleMeta)
		t := inproc.NewTransport(local, metaclient.NewTransport(cfg), log)
		t.PresentAs(id.ConnectionState)
		cfg.HTTPClient = &http.Client{Transport: t}
		return metaclient.New(cfg)
	}
	mc, err := localMeta(proxyID)
	if err != nil {
		oln.Close()
		return err
	}
	defer mc.Close()
	admin, err := localMeta(adminID)
	if err != nil {
		oln.Close()
		return err
	}
	defer admin.Close()
	ec2Meta, err := localMeta(ec2ID)
	if err != nil {
		oln.Close()
		return err
	}
	defer ec2Meta.Close()
	objTLS := proxyID.ClientTLS(pki.RoleObjectd)
	objTransport := inproc.NewTransport(local, objclient.NewTransport(objclient.WithTLS(objTLS)), log)
	objTransport.PresentAs(proxyID.ConnectionState)
	objHTTP := &http.Client{Transport: objTransport}
	switch f.storageHop {
	case "inproc", "":
	case "mtls":
		objHTTP = nil // the front end's own client, over the network
	case "plain":
		objHTTP, objTLS = &http.Client{Transport: objclient.NewTransport()}, nil
	default:
		oln.Close()
		return fmt.Errorf("--storage-hop %q: want inproc, mtls or plain", f.storageHop)
	}
	rg, err := serverRing(f, devDir, oln.Addr().String())
	if err != nil {
		oln.Close()
		return err
	}
	if err := publishRing(gctx, admin, rg); err != nil {
		oln.Close()
		return err
	}
	osrv.SetRing(rg)
	var ecName string
	var ecRing *ring.Ring
	if f.ec != "" {
		if ecName, ecRing, err = serverECPolicy(gctx, f, admin, devDir, oln.Addr().String()); err != nil {
			oln.Close()
			return err
		}
		// Given at once rather than at the roles' first poll of meta, so that a bucket can
		// be created on the policy as soon as the server is ready.
		osrv.SetPolicyRing(ecName, ecRing)
	}
	g.Go(func() error { return osrv.Run(gctx, oln) })
	g.Go(func() error { return followPolicyRings(gctx, admin, log, osrv) })

	// Data path and S3.
	creds, err := adminAccount(gctx, admin, f)
	if err != nil {
		return err
	}
	px, endpoint, err := startFrontEnd(gctx, g, f.front, mc, objHTTP, objTLS, reg)
	if err != nil {
		return err
	}
	if err := serveMetrics(gctx, g, f.front.metricsAddr(), metricsReg); err != nil {
		return err
	}
	px.SetRing(rg)
	if ecRing != nil {
		px.SetPolicyRing(ecName, ecRing)
	}
	g.Go(func() error { return followPolicyRings(gctx, mc, log, px) })
	var localChunks map[string]objclient.LocalChunks
	if f.storageHop == "inproc" || f.storageHop == "" {
		localChunks = map[string]objclient.LocalChunks{ocfg.AdvertiseAddr: osrv.LocalChunks()}
	}
	nbdAddr, err := startVolumes(gctx, g, f, msrv.Addr(), local, localChunks, volumedID, rg, reg)
	if err != nil {
		return err
	}
	ec2Endpoint, err := serverEC2(gctx, g, f, ec2Meta, reg, endpoint)
	if err != nil {
		return err
	}
	if err := startCompute(gctx, g, f, msrv.Addr(), nbdAddr, local, ids[6], rg, reg); err != nil {
		return err
	}
	consoleURL, err := serverConsole(gctx, g, f, endpoint, ec2Endpoint, &consoleAdmin{id: adminID, addrs: []string{msrv.Addr()}, mc: admin})
	if err != nil {
		return err
	}
	creds.Endpoint = endpoint
	creds.EC2Endpoint = ec2Endpoint
	creds.ConsoleURL = consoleURL
	creds.Region = f.front.region
	creds.MetaAddr, creds.NBDAddr = msrv.Addr(), nbdAddr
	if err := writeJSONFile(filepath.Join(f.dataDir, "credentials.json"), creds); err != nil {
		return err
	}
	ready(creds)
	log.Info("stratus server ready", "s3", creds.Endpoint, "ec2", creds.EC2Endpoint, "console", creds.ConsoleURL, "meta", msrv.Addr(), "objectd", oln.Addr().String())
	<-gctx.Done()
	return g.Wait()
}

// startVolumes serves, in g, the volumes attached to this host over NBD on --nbd-listen,
// reaching the catalog and the storage node in-process as a volumed, with the storage
// node's hot chunk calls (localChunks) made directly.
func startVolumes(ctx context.Context, g *errgroup.Group, f serverFlags, metaAddr string, local map[string]http.Handler, localChunks map[string]objclient.LocalChunks, id *pki.Identity, rg *ring.Ring, reg prometheus.Registerer) (nbdAddr string, err error) {
	if f.nbdListen == "" {
		return "", nil
	}
	log := slog.Default()
	mcfg := metaclient.DefaultConfig(metaAddr)
	mcfg.TLS = id.ClientTLS(pki.RoleMeta)
	mt := inproc.NewTransport(local, metaclient.NewTransport(mcfg), log)
	mt.PresentAs(id.ConnectionState)
	mcfg.HTTPClient = &http.Client{Transport: mt}
	mc, err := metaclient.New(mcfg)
	if err != nil {
		return "", err
	}
	ocfg := objclient.DefaultConfig()
	ocfg.TLS = id.ClientTLS(pki.RoleObjectd)
	ot := inproc.NewTransport(local, objclient.NewTransport(objclient.WithTLS(ocfg.TLS)), log)
	ot.PresentAs(id.ConnectionState)
	ocfg.HTTPClient = &http.Client{Transport: ot}
	ocfg.Local = localChunks
	cl := objclient.New(ocfg)
	px, err := proxy.New(proxy.DefaultConfig(), cl, &hlc.Clock{}, log.With("part", "proxy"))
	if err != nil {
		return "", err
	}
	px.SetRing(rg)
	cfg := volumed.DefaultConfig()
	cfg.Host, cfg.Logger, cfg.Registerer = f.volumeHost, log, reg
	cfg.Snapshots = snapshot.New(snapshot.DefaultConfig(), mc, px, log)
	srv, err := volumed.NewServer(cfg, mc, cl, func() *ring.Ring { return rg })
	if err != nil {
		return "", err
	}
	ln, err := listenLoopback(f.nbdListen)
	if err != nil {
		return "", fmt.Errorf("--nbd-listen: %w", err)
	}
	g.Go(func() error { defer mc.Close(); return srv.Run(ctx, ln) })
	return ln.Addr().String(), nil
}

// serverIdentities makes (on first start) or loads the server's CA and its meta, objectd,
// proxy and admin certificates under data/pki, as meta.crt, objectd.crt, proxy.crt and
// admin.crt: the admin certificate is the operator's, for the CLI.
func serverIdentities(f serverFlags) ([]*pki.Identity, error) {
	hosts := []string{"127.0.0.1", "localhost"}
	for _, l := range []string{f.metaListen, f.objListen} {
		if h, _, err := net.SplitHostPort(l); err == nil && h != "" && !slices.Contains(hosts, h) {
			if ip := net.ParseIP(h); ip == nil || !ip.IsUnspecified() {
				hosts = append(hosts, h)
			}
		}
	}
	if h, err := os.Hostname(); err == nil {
		hosts = append(hosts, h)
	}
	return pki.Ensure(filepath.Join(f.dataDir, "pki"), "stratus server",
		pki.IssueRequest{Role: pki.RoleMeta, Name: string(pki.RoleMeta), Hosts: hosts},
		pki.IssueRequest{Role: pki.RoleObjectd, Name: string(pki.RoleObjectd), Hosts: hosts},
		pki.IssueRequest{Role: pki.RoleProxy, Name: string(pki.RoleProxy), Hosts: hosts},
		pki.IssueRequest{Role: pki.RoleAdmin, Name: string(pki.RoleAdmin)},
		pki.IssueRequest{Role: pki.RoleVolumed, Name: string(pki.RoleVolumed), Hosts: hosts},
		pki.IssueRequest{Role: pki.RoleEC2API, Name: string(pki.RoleEC2API), Hosts: hosts},
		pki.IssueRequest{Role: pki.RoleComputed, Name: string(pki.RoleComputed)},
	)
}

// printWelcome tells the person who ran the server how to reach it.
func printWelcome(w io.Writer, dataDir string, c adminCredentials) {
	ec2 := "  EC2 endpoint: off (--ec2-listen)\n"
	if c.EC2Endpoint != "" {
		ec2 = fmt.Sprintf("  EC2 endpoint: %s\n", c.EC2Endpoint)
	}
	if c.ConsoleURL != "" {
		ec2 += fmt.Sprintf("  web console:  %s (log in with the keys below)\n", c.ConsoleURL)
	}
	fmt.Fprintf(w, `Stratus is running (data in %s).

  S3 endpoint:  %s
%s  region:       %s
  access key:   %s
  secret key:   %s

  aws --endpoint-url %s s3 ls
`, dataDir, c.Endpoint, ec2, c.Region, c.AccessKey, c.SecretKey, c.Endpoint)
	if c.EC2Endpoint != "" {
		fmt.Fprintf(w, "  aws --endpoint-url %s --region %s ec2 describe-volumes\n", c.EC2Endpoint, c.Region)
	}
	fmt.Fprintf(w, `  (credentials also in %s)

  Operator commands (stratus user, key, volume, ring publish, meta …) use the admin certificate:
  export STRATUS_META_ADDR=%s STRATUS_PKI_DIR=%s
`, filepath.Join(dataDir, "credentials.json"), c.MetaAddr, absPath(filepath.Join(dataDir, "pki")))
	if c.NBDAddr != "" {
		fmt.Fprintf(w, `  Block volumes: stratus volume create --size 10GiB; stratus volume attach <id>
  (served over NBD at nbd://%s/<id>)
`, c.NBDAddr)
	}
}

// serverRing loads the server's ring, or on first start makes its devices and builds one.
func serverRing(f serverFlags, devDir, host string) (*ring.Ring, error) {
	ringPath := filepath.Join(f.dataDir, "object.ring")
	if r, err := ring.Load(ringPath); err == nil {
		// The ring names this node by the address of its first start.
		for _, d := range r.Devices() {
			if d.Host != host {
				return nil, fmt.Errorf("the ring in %s places data on %s, but the storage node now listens on %s: start with --objectd-listen %s", f.dataDir, d.Host, host, d.Host)
			}
		}
		return r, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	b, err := ring.NewBuilder(ring.BuilderConfig{PartPower: f.partPower, Replicas: f.replicas})
	if err != nil {
		return nil, err
	}
	for i := range f.devices {
		name := fmt.Sprintf("d%d", i+1)
		if err := objectd.InitDevice(filepath.Join(devDir, name)); err != nil {
			return nil, err
		}
		if _, err := b.Add(ring.Device{Region: 1, Zone: i + 1, Host: host, Name: name, Weight: 100}); err != nil {
			return nil, err
		}
	}
	if _, err := b.Rebalance(ring.RebalanceOptions{}); err != nil {
		return nil, err
	}
	if err := b.Save(filepath.Join(f.dataDir, "object.builder")); err != nil {
		return nil, err
	}
	r, err := b.Ring()
	if err != nil {
		return nil, err
	}
	return r, r.Save(ringPath)
}

// objectPolicy names the storage policy of the object ring in meta: the default one,
// which buckets with no policy use.
const objectPolicy = "default"

// wrapServerRegisterer, when a test sets it, stands between the all-in-one server's roles
// and the registry they register their metrics on: the deploy/ rules test lists through it
// every metric the server can export, including vectors no request has filled yet (a
// scrape shows only those that have series). Nil in production.
var wrapServerRegisterer func(*prometheus.Registry) prometheus.Registerer

// publishRing records the object ring in meta, where other nodes of a larger cluster find it.
func publishRing(ctx context.Context, mc *metaclient.Client, r *ring.Ring) error {
	return publishRingAs(ctx, mc, objectPolicy, r)
}

// publishRingAs records r in meta as the ring named name, unless meta has that version or
// a newer one.
func publishRingAs(ctx context.Context, mc *metaclient.Client, name string, r *ring.Ring) error {
	cur, _, err := mc.Ring(ctx, name)
	if err == nil && cur.Version >= r.Version() {
		return nil
	}
	if err != nil && !errors.Is(err, metaclient.ErrNotFound) {
		return err
	}
	data, _ := r.MarshalBinary()
	return mc.PublishRing(ctx, metaclient.RingVersion{Policy: name, Version: r.Version(), Data: data, PublishedAt: time.Now().UTC()})
}

// adminAccount returns the admin credentials, creating the account and a key on first
// start.
func adminAccount(ctx context.Context, mc *metaclient.Client, f serverFlags) (adminCredentials, error) {
	path := filepath.Join(f.dataDir, "credentials.json")
	var c adminCredentials
	if data, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(data, &c); err != nil {
			return c, fmt.Errorf("%s: %w", path, err)
		}
		return c, nil
	}
	if err := mc.CreateAccount(ctx, metaclient.Account{ID: "admin", Name: "admin", CreatedAt: time.Now().UTC()}); err != nil && !errors.Is(err, metaclient.ErrConflict) {
		return c, err
	}
	c.AccessKey, c.SecretKey = newAccessKey()
	err := mc.CreateAccessKey(ctx, metaclient.AccessKey{ID: c.AccessKey, Account: "admin", Secret: c.SecretKey, CreatedAt: time.Now().UTC()})
	return c, err
}

// newAccessKey makes an AWS-shaped key pair: a 20-character ID and a 40-character secret.
func newAccessKey() (id, secret string) {
	const upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	const mixed = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	pick := func(alphabet string, n int) string {
		b := make([]byte, n)
		rand.Read(b)
		for i := range b {
			b[i] = alphabet[int(b[i])%len(alphabet)]
		}
		return string(b)
	}
	return "SK" + pick(upper, 18), pick(mixed, 40)
}

// defaultHost is the host name volumes are attached to by default.
func defaultHost() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "localhost"
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func writeJSONFile(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
