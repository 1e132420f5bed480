package objectd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"stratus/internal/faultfs"
	"stratus/internal/pki"
	"stratus/objectd/client"
	"stratus/ring"
)

// Server is one storage node: the HTTP API over its devices, the replicator and the auditor.
type Server struct {
	cfg     Config
	log     *slog.Logger
	m       *metrics
	store   *store
	chunks  *chunkStore
	handler http.Handler
	peers   *client.Client
	// promises are the versions this node asked one pusher for (see promises.go).
	promises *promises
	// chunkPromises are the chunk states asked of one pusher (chunkmissing.go).
	chunkPromises *chunkPromises
	// Rate limits on repeated log lines: callers refused (by address), requests answered
	// 507 (by device), and replication trouble (by peer or device).
	refusals, unavailable, replWarnings *logLimiter

	ring      atomic.Pointer[ring.Ring]
	advertise atomic.Pointer[string]
	// policyRings are erasure-coded policies' rings by name (SetPolicyRing).
	policyRings ring.Set
	reconMu     sync.Mutex // one reconstruction pass at a time

	replMu        sync.Mutex // one replication pass at a time
	repl          replState  // how far behind the passes left the node (nodestate.go)
	replThrottle  *throttle
	auditMu       sync.Mutex // one audit pass at a time
	auditThrottle *throttle
	reconThrottle *throttle // rebuilds and reverts of erasure-coded fragments

	ringStat os.FileInfo // last ring file seen; used by the ring-watch loop only

	ready     chan struct{} // closed once Run serves
	readyOnce sync.Once
	inflight  sync.WaitGroup // requests being handled, direct calls included
	// local gates direct calls (LocalChunks): each joins inflight under the read lock,
	// and localClosed, set under the write lock before shutdown waits for inflight,
	// refuses the rest.
	local       sync.RWMutex
	localClosed bool
}

// Ready is closed once Run has prepared the devices and started serving, for callers that
// start roles in order. (Requests sent earlier are not lost: the listener queues them.)
func (s *Server) Ready() <-chan struct{} { return s.ready }

// New returns a node. Metrics are registered on reg; if reg is also a prometheus.Gatherer
// (a *prometheus.Registry is), the node serves them at client.PathMetrics.
func New(cfg Config, logger *slog.Logger, reg prometheus.Registerer) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("objectd config: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("part", "objectd")
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("objectd metrics: %w", err)
	}
	fsys := cfg.FS
	if fsys == nil {
		fsys = faultfs.OS
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	isMount := cfg.IsMountPoint
	if isMount == nil {
		isMount = isMountPoint
	}
	peerCfg := client.Config{Timeout: cfg.ReplicationTimeout}
	if cfg.Identity != nil {
		// Replication talks only to storage nodes, and proves to them that it is one.
		peerCfg.TLS = cfg.Identity.ClientTLS(pki.RoleObjectd)
	}
	s := &Server{
		cfg: cfg,
		log: logger,
		m:   m,
		store: &store{root: cfg.DevicesDir, fs: fsys, mountCheck: cfg.MountCheck, isMountPoint: isMount,
			reclaimAge: cfg.ReclaimAge, maxSkew: cfg.MaxClockSkew, now: now, log: logger, m: m,
			smallMax: cfg.SmallObjectMax, segMax: cfg.SmallObjectSegmentMax},
		peers:         client.New(peerCfg),
		promises:      newPromises(now),
		chunkPromises: newChunkPromises(now),
		refusals:      newLogLimiter(time.Minute, now),
		unavailable:   newLogLimiter(time.Minute, now),
		replWarnings:  newLogLimiter(time.Minute, now),
		replThrottle:  newThrottle(cfg.ReplicationBytesPerSecond),
		auditThrottle: newThrottle(cfg.AuditBytesPerSecond),
		reconThrottle: newThrottle(cfg.ReconstructBytesPerSecond),
		ready:         make(chan struct{}),
	}
	s.chunks = newChunkStore(s.store, logger, m, cfg.MaxOpenChunks, newLogLimiter(time.Minute, now), s.primaryHere)
	if cfg.AdvertiseAddr != "" {
		addr := cfg.AdvertiseAddr
		s.advertise.Store(&addr)
	}
	s.repl.since = now()
	if err := reg.Register(newNodeCollector(s)); err != nil {
		return nil, fmt.Errorf("objectd metrics: %w", err)
	}
	g, _ := reg.(prometheus.Gatherer)
	s.handler = s.routes(g)
	return s, nil
}

// Handler returns the node's HTTP API, for callers that serve it themselves.
func (s *Server) Handler() http.Handler { return s.handler }

// Ring returns the ring in use, or nil.
func (s *Server) Ring() *ring.Ring { return s.ring.Load() }

// SetRing adopts r if it is newer than the ring in use, and reports whether it did.
func (s *Server) SetRing(r *ring.Ring) bool {
	for {
		cur := s.ring.Load()
		if cur != nil && r.Version() <= cur.Version() {
			return false
		}
		if s.ring.CompareAndSwap(cur, r) {
			s.m.ringVersion.Set(float64(r.Version()))
			s.log.Info("ring adopted", "version", r.Version(), "partitions", r.PartitionCount(), "replicas", r.Replicas())
			return true
		}
	}
}

// Run serves on ln and runs the background loops until ctx ends, then shuts down: it stops
// accepting, waits up to ShutdownTimeout for requests in flight, and waits for every
// goroutine it started. It closes ln. With an Identity, ln carries mutual TLS.
//
// With MountCheck on, Run returns ErrNoMountedDevice at once if no directory under
// DevicesDir is a mount point. Devices that are not usable (not mounted, not initialised)
// while others are get one warning each; requests to them answer 507.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	usable, err := s.checkDevices()
	if err != nil {
		ln.Close()
		return err
	}
	if id := s.cfg.Identity; id != nil {
		ln = tls.NewListener(ln, id.ServerTLS())
	}
	if s.advertise.Load() == nil {
		addr := ln.Addr().String()
		s.advertise.Store(&addr)
	}
	s.cleanTemp()
	s.store.openLogs()
	s.store.openHashes()
	if s.cfg.RingPath != "" {
		s.loadRing()
	}
	s.log.Info("objectd starting", "addr", ln.Addr().String(), "advertise", *s.advertise.Load(),
		"devices_dir", s.cfg.DevicesDir, "mount_check", s.cfg.MountCheck, "devices", usable,
		"ring", s.cfg.RingPath, "tls", s.cfg.Identity != nil)

	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	var unused unusedConns
	srv.ConnState = unused.track
	srv.RegisterOnShutdown(unused.closeAll)
	loopCtx, stopLoops := context.WithCancel(ctx)
	defer stopLoops()
	var wg sync.WaitGroup
	serveErr := make(chan error, 1)
	s.readyOnce.Do(func() { close(s.ready) })
	wg.Go(func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			serveErr <- err
		}
	})
	if s.cfg.RingPath != "" {
		wg.Go(func() { s.every(loopCtx, s.cfg.RingCheckInterval, func(context.Context) { s.loadRing() }) })
	}
	if s.cfg.ReplicationInterval > 0 {
		wg.Go(func() {
			s.every(loopCtx, s.cfg.ReplicationInterval, func(ctx context.Context) {
				if _, err := s.ReplicateOnce(ctx); err != nil && !errors.Is(err, ErrNoRing) && ctx.Err() == nil {
					s.log.Warn("replication pass", "err", err)
				}
			})
		})
	}
	every := compactInterval
	if s.cfg.SmallObjectCompactInterval > 0 {
		every = s.cfg.SmallObjectCompactInterval
	}
	wg.Go(func() { s.every(loopCtx, every, func(context.Context) { s.store.compactLogs() }) })
	if s.cfg.ReconstructInterval > 0 {
		wg.Go(func() {
			s.every(loopCtx, s.cfg.ReconstructInterval, func(ctx context.Context) {
				if _, err := s.ReconstructOnce(ctx); err != nil && ctx.Err() == nil {
					s.log.Warn("reconstruction pass", "err", err)
				}
			})
		})
	}
	if s.cfg.AuditInterval > 0 {
		wg.Go(func() {
			s.every(loopCtx, s.cfg.AuditInterval, func(ctx context.Context) {
				if _, err := s.AuditOnce(ctx); err != nil && ctx.Err() == nil {
					s.log.Warn("audit pass", "err", err)
				}
			})
		})
	}

	select {
	case <-ctx.Done():
	case err = <-serveErr:
	}
	stopLoops()
	shutCtx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if serr := srv.Shutdown(shutCtx); serr != nil {
		srv.Close()
	}
	wg.Wait()
	// Close does not wait for handlers; a write finishing after the hashes are saved would
	// make them stale. Wait for them (closed connections make them fail fast), and if one
	// is stuck (a hung disk), do not mark the hashes clean.
	s.local.Lock()
	s.localClosed = true
	s.local.Unlock()
	handlersDone := make(chan struct{})
	go func() { s.inflight.Wait(); close(handlersDone) }()
	select {
	case <-handlersDone:
		s.store.saveHashes()
		s.chunks.closeAll()
		s.store.closeLogs()
	case <-time.After(s.cfg.ShutdownTimeout):
		s.log.Error("requests still running after shutdown; suffix hashes will be recomputed at next start")
	}
	s.peers.CloseIdleConnections()
	s.log.Info("objectd stopped")
	return err
}

// every runs f, then waits interval, until ctx ends.
func (s *Server) every(ctx context.Context, interval time.Duration, f func(context.Context)) {
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f(ctx)
		t.Reset(interval)
	}
}

// loadRing loads the ring file and adopts it if it is newer.
func (s *Server) loadRing() {
	st, err := os.Stat(s.cfg.RingPath)
	if err == nil && s.ringStat != nil && st.ModTime().Equal(s.ringStat.ModTime()) && st.Size() == s.ringStat.Size() {
		return
	}
	s.ringStat = st
	r, err := ring.Load(s.cfg.RingPath)
	if err != nil {
		if s.ring.Load() == nil {
			s.log.Warn("no ring yet", "path", s.cfg.RingPath, "err", err)
		} else {
			s.log.Warn("ring reload", "path", s.cfg.RingPath, "err", err)
		}
		return
	}
	s.SetRing(r)
}

// checkDevices looks at the device directories before the node serves, and returns the
// usable ones. With mount checks on, a node none of whose directories is a mount point
// refuses to start: its disks are not mounted (or it runs on plain directories and should
// not check), and it would answer every request with 507 while /healthz said ok.
func (s *Server) checkDevices() ([]string, error) {
	checks, err := s.store.checkDevices()
	if err != nil {
		if s.cfg.MountCheck {
			return nil, fmt.Errorf("%w: %v; %s", ErrNoMountedDevice, err, s.mountAdvice())
		}
		s.log.Warn("no device usable: requests will answer 507", "err", err)
		return nil, nil
	}
	var usable, names []string
	mounted := 0
	for _, c := range checks {
		names = append(names, c.name)
		if c.mounted {
			mounted++
		}
		if c.err == nil {
			usable = append(usable, c.name)
		}
	}
	if s.cfg.MountCheck && mounted == 0 {
		found := "holds none"
		if len(names) > 0 {
			if len(names) > 8 {
				names = append(names[:8], "…")
			}
			found = fmt.Sprintf("holds %s, and none is mounted", strings.Join(names, ", "))
		}
		return nil, fmt.Errorf("%w: %s %s; %s", ErrNoMountedDevice, s.cfg.DevicesDir, found, s.mountAdvice())
	}
	for _, c := range checks {
		if c.err != nil {
			s.log.Warn("device not usable: requests to it answer 507", "device", c.name, "err", c.err)
		}
	}
	if len(usable) == 0 {
		s.log.Error("no device usable: requests will answer 507 and /healthz 503", "devices_dir", s.cfg.DevicesDir)
	}
	return usable, nil
}

// mountAdvice says what to do about a node with no mounted device.
func (s *Server) mountAdvice() string {
	return fmt.Sprintf("mount each disk at %s/<device> (then run 'stratus objectd init-device' on it), "+
		"or pass --mount-check=false (mount_check: false) to serve plain directories (tests, single-disk hosts)",
		filepath.Clean(s.cfg.DevicesDir))
}

// cleanTemp removes temp files left by writes interrupted by a crash.
func (s *Server) cleanTemp() {
	devs, err := s.store.devices()
	if err != nil {
		s.log.Warn("list devices", "err", err)
		return
	}
	for _, dev := range devs {
		dir := filepath.Join(s.cfg.DevicesDir, dev, tmpDir)
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// primaryHere reports whether this node's device dev is a primary of partition part in the
// current ring, and the ring's version; without a ring every device counts as one.
func (s *Server) primaryHere(dev string, part uint32) (bool, uint64) {
	r := s.ring.Load()
	if r == nil {
		return true, 0
	}
	self := s.self()
	var buf [8]*ring.Device
	for _, d := range r.Primaries(ring.Partition(part), buf[:0]) {
		if d.Host == self && d.Name == dev {
			return true, r.Version()
		}
	}
	return false, r.Version()
}

func (s *Server) self() string {
	if p := s.advertise.Load(); p != nil {
		return *p
	}
	return ""
}
