package volumed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"stratus/meta/client"
	objclient "stratus/objectd/client"
	"stratus/ring"
	"stratus/volumed/chunkdev"
	"stratus/volumed/nbd"
	"stratus/volumed/snapshot"
)

// Config configures a Server.
type Config struct {
	// Host is this host's name in attachments: the server serves the volumes attached to it.
	Host string
	// LeaseTTL is the lease period the server renews attachments for (every third of it).
	LeaseTTL time.Duration
	// ResyncInterval bounds how long a change of the volumes table can go unnoticed when a
	// watch is lost; a watch normally reports it at once.
	ResyncInterval time.Duration
	// NBD configures the NBD server.
	NBD nbd.Config
	// Device holds the block devices' tunables; the volume fields are filled per attachment.
	Device chunkdev.Config
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
	// Registerer receives the NBD server's metrics and the devices' (labelled by volume, and
	// dropped when the server stops serving a volume); nil registers none.
	Registerer prometheus.Registerer
	// Snapshots stores volume snapshots (snapshots.go); nil: snapshots are not taken or
	// deleted, and volumes created from a snapshot cannot be served.
	Snapshots *snapshot.Store
	// Reap tunes the removal of deleted volumes' chunks; Host and ClaimTTL are filled from
	// Host and LeaseTTL.
	Reap ReapConfig
	// Reapers bounds the deleted volumes this server removes at once.
	Reapers int
}

// DefaultConfig returns a Config with defaults; Host must be set.
func DefaultConfig() Config {
	return Config{LeaseTTL: DefaultLeaseTTL, ResyncInterval: 30 * time.Second, NBD: nbd.DefaultConfig(), Device: chunkdev.DefaultConfig(),
		Reap: DefaultReapConfig(), Reapers: 2}
}

// Server serves, over NBD, every volume attached to its host: for each attachment it opens a
// block device with the lease's generation, keeps the lease renewed, and stops serving (after
// a flush) when the attachment ends or the lease is lost. Export names are volume IDs.
type Server struct {
	cfg  Config
	mc   *client.Client
	cl   *objclient.Client
	ring func() *ring.Ring
	log  *slog.Logger
	nbd  *nbd.Server
	devm *chunkdev.Metrics // every device's, labelled by volume
	m    *metrics          // attachments served, started and stopped (metrics.go)

	mu      sync.Mutex
	served  map[string]*served
	reaping map[string]bool // deleted volumes a reaper goroutine is removing
	reapers chan struct{}   // a slot per reap pass running
	wg      sync.WaitGroup  // Keep and reaper goroutines
	snaps   snapshotter
}

// served is one attachment being served.
type served struct {
	dev    *chunkdev.Device
	gen    uint64
	cancel context.CancelFunc
	base   chunkdev.Base // the snapshot a clone was made from; nil otherwise
}

// NewServer returns a server that reads attachments from mc, reaches storage nodes with cl
// and places chunks with the ring currentRing returns at each attachment.
func NewServer(cfg Config, mc *client.Client, cl *objclient.Client, currentRing func() *ring.Ring) (*Server, error) {
	if cfg.Host == "" {
		return nil, errors.New("volumed: host is required")
	}
	if cfg.LeaseTTL < 3*time.Second {
		return nil, fmt.Errorf("lease_ttl (%v) must be at least 3s", cfg.LeaseTTL)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.Reap.Host, cfg.Reap.ClaimTTL = cfg.Host, cfg.LeaseTTL
	s := &Server{cfg: cfg, mc: mc, cl: cl, ring: currentRing, log: log.With("part", "volumed", "host", cfg.Host),
		served: map[string]*served{}, reaping: map[string]bool{}, reapers: make(chan struct{}, max(1, cfg.Reapers))}
	srv, err := nbd.New(cfg.NBD, exports{s}, s.log, cfg.Registerer)
	if err != nil {
		return nil, err
	}
	s.nbd = srv
	if s.devm, err = chunkdev.NewMetrics(cfg.Registerer); err != nil {
		return nil, err
	}
	if s.m, err = newMetrics(cfg.Registerer, s); err != nil {
		return nil, err
	}
	return s, nil
}

// Run serves NBD on the listeners and follows the volumes table until ctx ends; then it
// stops serving, flushes every device and leaves the leases to expire (another host may take
// a volume once its lease has lapsed; an operator may detach it at once).
func (s *Server) Run(ctx context.Context, listeners ...net.Listener) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, ln := range listeners {
		g.Go(func() error { return s.nbd.Serve(gctx, ln) })
	}
	g.Go(func() error { s.follow(gctx); return nil })
	g.Go(func() error { s.followSnapshots(gctx); return nil })
	err := g.Wait()
	s.mu.Lock()
	ids := make([]string, 0, len(s.served))
	for id := range s.served {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	for _, id := range ids {
		s.stop(id, stopShutdown)
	}
	s.snaps.wg.Wait()
	s.wg.Wait()
	return err
}

// Serving returns the IDs of the volumes being served, with their generations.
func (s *Server) Serving() map[string]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]uint64, len(s.served))
	for id, sv := range s.served {
		out[id] = sv.gen
	}
	return out
}

// follow reconciles the served set with the volumes table whenever it changes.
func (s *Server) follow(ctx context.Context) {
	var after uint64
	for ctx.Err() == nil {
		vols, err := s.mc.Volumes(ctx)
		if err == nil {
			if s.reconcile(ctx, vols) > 0 {
				s.reconcileSnapshots(ctx) // a volume served now may have a snapshot waiting
			}
		} else if ctx.Err() == nil {
			s.log.Warn("list volumes", "err", err)
		}
		w, err := s.mc.Watch(ctx, client.TableVolumes, "", after, s.cfg.ResyncInterval)
		switch {
		case err == nil:
			after = w.Index
		case ctx.Err() == nil:
			s.log.Warn("watch volumes", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// reconcile starts serving the volumes attached here and stops the others, and starts
// removing deleted volumes no reaper has claimed; it returns how many it started serving.
func (s *Server) reconcile(ctx context.Context, vols []client.Volume) (started int) {
	want := map[string]client.Volume{}
	now := time.Now()
	for _, v := range vols {
		a := v.Attachment
		switch {
		case v.State == client.VolumeInUse && a != nil && a.Host == s.cfg.Host && now.Before(a.LeaseExpiresAt):
			want[v.ID] = v
		case v.State == client.VolumeDeleting && !live(a, now):
			s.startReaper(ctx, v.ID)
		}
	}
	s.mu.Lock()
	var stale []string
	for id, sv := range s.served {
		if v, ok := want[id]; !ok || v.Attachment.Generation != sv.gen {
			stale = append(stale, id)
		}
	}
	s.mu.Unlock()
	for _, id := range stale {
		s.stop(id, stopEnded)
	}
	for id, v := range want {
		s.mu.Lock()
		sv, ok := s.served[id]
		s.mu.Unlock()
		if !ok {
			if err := s.start(ctx, v); err != nil {
				s.log.Error("serve volume", "volume", id, "err", err)
			} else {
				started++
			}
			continue
		}
		s.grow(id, sv, v.SizeBytes)
	}
	return started
}

// grow serves a volume resized while attached at its new size: new NBD connections see it
// (qemu-img, qemu-io; a running QEMU once the drive is opened again: its NBD client
// refuses to grow); open ones keep the size they negotiated.
func (s *Server) grow(id string, sv *served, sizeBytes int64) {
	old := int64(sv.dev.Size())
	if sizeBytes <= old {
		return
	}
	if err := sv.dev.SetSize(sizeBytes); err != nil {
		s.log.Error("grow volume", "volume", id, "err", err)
		return
	}
	s.log.Info("volume grown", "volume", id, "from_bytes", old, "size_bytes", sizeBytes)
}

// start opens a device for v's attachment and keeps its lease.
func (s *Server) start(ctx context.Context, v client.Volume) error {
	var err error
	r := s.ring()
	if r == nil {
		return errors.New("no ring yet")
	}
	dcfg := s.cfg.Device
	dcfg.Volume, dcfg.SizeBytes, dcfg.ChunkSizeBytes, dcfg.Generation = v.ID, v.SizeBytes, v.ChunkSizeBytes, v.Attachment.Generation
	dcfg.Logger, dcfg.Metrics = s.log, s.devm
	if dcfg.Base, err = s.cloneBase(ctx, v); err != nil {
		return err
	}
	dev, err := chunkdev.New(dcfg, r, s.cl, nil)
	if err != nil {
		return err
	}
	kctx, cancel := context.WithCancel(ctx)
	sv := &served{dev: dev, gen: v.Attachment.Generation, cancel: cancel, base: dcfg.Base}
	s.mu.Lock()
	if s.served[v.ID] != nil { // started meanwhile (for a snapshot, or by reconcile)
		s.mu.Unlock()
		cancel()
		dev.Detach()
		return nil
	}
	s.served[v.ID] = sv
	s.mu.Unlock()
	lease := Lease{VolumeID: v.ID, Host: s.cfg.Host, Generation: sv.gen, ExpiresAt: v.Attachment.LeaseExpiresAt, AttachedAt: v.Attachment.AttachedAt, TTL: s.cfg.LeaseTTL}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := Keep(kctx, s.mc, lease, nil); err != nil {
			s.log.Warn("lease lost: no longer serving", "volume", v.ID, "generation", sv.gen, "err", err)
			s.stopIf(v.ID, sv, stopLeaseLost)
		}
	}()
	s.m.started.Inc()
	s.log.Info("serving volume", "volume", v.ID, "generation", sv.gen, "size_bytes", v.SizeBytes)
	return nil
}

// stop ends the service of volume id, if any.
func (s *Server) stop(id, why string) {
	s.mu.Lock()
	sv := s.served[id]
	s.mu.Unlock()
	if sv != nil {
		s.stopIf(id, sv, why)
	}
}

// stopIf ends sv's service if it is still the one serving id: new connections no longer find
// the export, acknowledged writes are flushed where a quorum can take them, and the device
// fails every later call.
func (s *Server) stopIf(id string, sv *served, why string) {
	s.mu.Lock()
	if s.served[id] != sv {
		s.mu.Unlock()
		return
	}
	delete(s.served, id)
	s.mu.Unlock()
	s.m.stopped.WithLabelValues(why).Inc()
	sv.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Device.CallTimeout)
	if err := sv.dev.Flush(ctx); err != nil {
		s.log.Warn("flush at detach", "volume", id, "err", err)
	}
	cancel()
	sv.dev.Detach()
	// Its series go with it, unless a new attachment of the volume is served already.
	s.mu.Lock()
	if s.served[id] == nil {
		s.devm.Forget(id)
	}
	s.mu.Unlock()
	s.log.Info("stopped serving volume", "volume", id, "generation", sv.gen, "why", why)
}

// exports are the served volumes as the NBD server sees them.
type exports struct{ s *Server }

// Lookup implements nbd.Exports.
func (e exports) Lookup(ctx context.Context, name string) (nbd.Export, nbd.ExportInfo, error) {
	e.s.mu.Lock()
	sv := e.s.served[name]
	e.s.mu.Unlock()
	if sv == nil {
		return nil, nbd.ExportInfo{}, fmt.Errorf("%w: volume %q is not attached to %s", nbd.ErrUnknownExport, name, e.s.cfg.Host)
	}
	return sv.dev, sv.dev.Info(), nil
}

// List implements nbd.Exports.
func (e exports) List(ctx context.Context) ([]nbd.ExportInfo, error) {
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	out := make([]nbd.ExportInfo, 0, len(e.s.served))
	for _, sv := range e.s.served {
		out = append(out, sv.dev.Info())
	}
	return out, nil
}
