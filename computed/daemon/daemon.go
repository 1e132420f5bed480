package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"stratus/computed/driver"
	"stratus/computed/image"
	"stratus/meta/client"
)

// Daemon runs the instances placed on one host.
type Daemon struct {
	cfg     Config
	mc      *client.Client
	drv     driver.Driver
	objs    ObjectStore
	cache   *image.Cache
	log     *slog.Logger
	m       *metrics
	network string // libvirt network name; "" for user networking
	started time.Time

	mu      sync.Mutex
	workers map[string]*worker
	digests map[string]string    // image ID @ object version → SHA-256, for images registered without one
	ports   map[int]string       // forwarded SSH ports in use → instance
	seen    map[string]time.Time // each instance's updated_at when its worker was last woken (follow's goroutine only)
	wg      sync.WaitGroup
}

// New returns a daemon that reads and writes the catalog with mc, runs domains with drv,
// reads image objects with objs and writes there the images it saves.
func New(cfg Config, mc *client.Client, drv driver.Driver, objs ObjectStore) (*Daemon, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("computed: %w", err)
	}
	network, _ := cfg.network()
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	d := &Daemon{cfg: cfg, mc: mc, drv: drv, objs: objs, log: log.With("part", "computed", "host", cfg.Host), m: m,
		network: network, workers: map[string]*worker{}, digests: map[string]string{}, ports: map[int]string{}, seen: map[string]time.Time{}}
	// QEMU runs as its own user and opens files under DataDir: the directories must be
	// traversable by it (files in them are created 0644).
	for _, dir := range []string{cfg.DataDir, d.instancesDir(), d.stagingDir()} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			return nil, err
		}
	}
	d.cache, err = image.NewCache(image.Config{Dir: filepath.Join(cfg.DataDir, "images"), Fetch: d.fetch,
		MaxBytes: cfg.ImageCacheMaxBytes, InUse: d.imagesInUse})
	if err != nil {
		return nil, err
	}
	if err := d.registerCacheMetrics(cfg.Registerer); err != nil {
		return nil, err
	}
	if err := d.loadDigests(); err != nil {
		d.log.Warn("image digests remembered from the last run are lost", "err", err)
	}
	return d, nil
}

func (d *Daemon) instancesDir() string { return filepath.Join(d.cfg.DataDir, "instances") }
func (d *Daemon) stagingDir() string   { return filepath.Join(d.cfg.DataDir, "staging") }

// instanceDir holds one instance's root-disk overlay, config drive and console log.
func (d *Daemon) instanceDir(id string) string { return filepath.Join(d.instancesDir(), id) }

// Run registers the host, reconciles the hypervisor with the catalog, then follows the
// instances table until ctx ends. Domains keep running when the daemon stops: a restarted
// daemon takes them up again.
func (d *Daemon) Run(ctx context.Context) error {
	d.started = time.Now().UTC()
	// Register before anything else, waiting out a meta that is not there yet.
	for {
		err := d.heartbeat(ctx)
		if err == nil {
			break
		}
		if errors.Is(err, client.ErrBadRequest) || errors.Is(err, client.ErrForbidden) || errors.Is(err, client.ErrUnauthenticated) {
			return fmt.Errorf("register host %s: %w", d.cfg.Host, err)
		}
		d.log.Warn("register host: retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Second):
		}
	}
	// Staged downloads of a previous run are garbage.
	if ents, err := os.ReadDir(d.stagingDir()); err == nil {
		for _, e := range ents {
			os.Remove(filepath.Join(d.stagingDir(), e.Name()))
		}
	}
	if err := d.reconcileDomains(ctx); err != nil && ctx.Err() == nil {
		d.log.Warn("reconcile domains with the catalog", "err", err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		d.heartbeats(ctx)
	}()
	go func() {
		defer wg.Done()
		d.followImages(ctx)
	}()
	d.follow(ctx)
	wg.Wait()
	d.mu.Lock()
	for _, w := range d.workers {
		w.cancel()
	}
	d.mu.Unlock()
	d.wg.Wait()
	return nil
}

// heartbeats refreshes the host's registration every HeartbeatInterval.
func (d *Daemon) heartbeats(ctx context.Context) {
	t := time.NewTicker(d.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := d.heartbeat(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("heartbeat", "err", err)
		}
	}
}

// heartbeat writes the host's registration, with the capacity its instances use.
func (d *Daemon) heartbeat(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, d.cfg.CallTimeout)
	defer cancel()
	h := client.ComputeHost{Host: d.cfg.Host, Zone: d.cfg.Zone, VCPUs: d.cfg.VCPUs, MemoryMiB: d.cfg.MemoryMiB,
		DomainType: string(d.cfg.DomainType), NBDAddr: d.cfg.NBDAddr, HeartbeatAt: time.Now().UTC(), StartedAt: d.started,
		HeartbeatIntervalMS: d.cfg.HeartbeatInterval.Milliseconds(),
		Version:             d.cfg.Version}
	if ins, err := d.mc.Instances(cctx); err == nil {
		for _, in := range ins {
			if in.Host == d.cfg.Host && usesCapacity(in) {
				h.UsedVCPUs += in.VCPUs
				h.UsedMemoryMiB += in.MemoryMiB
				h.Instances++
			}
		}
	}
	err := d.mc.PutComputeHost(cctx, h)
	result := "ok"
	if err != nil {
		result = "error"
	}
	d.m.heartbeats.WithLabelValues(result).Inc()
	return err
}

// usesCapacity reports whether in holds its host's capacity: anything not stopped or gone.
// A stopped instance gives it up, as in EC2, so starting it again can fail for capacity.
func usesCapacity(in client.Instance) bool {
	switch in.State {
	case client.InstanceStopped, client.InstanceTerminated:
		return false
	}
	return true
}

// follow starts a worker for every live instance placed here whenever the table changes,
// and kicks the workers of instances that changed.
func (d *Daemon) follow(ctx context.Context) {
	var after uint64
	for ctx.Err() == nil {
		ins, err := d.mc.Instances(ctx)
		if err == nil {
			d.dispatch(ctx, ins)
		} else if ctx.Err() == nil {
			d.log.Warn("list instances", "err", err)
		}
		w, err := d.mc.Watch(ctx, client.TableInstances, "", after, d.cfg.ResyncInterval)
		switch {
		case err == nil:
			after = w.Index
		case ctx.Err() == nil:
			d.log.Warn("watch instances", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// dispatch kicks (starting if needed) the worker of every instance placed here that is not
// terminated, and counts the instances by state.
func (d *Daemon) dispatch(ctx context.Context, ins []client.Instance) {
	counts := map[client.InstanceState]int{}
	for _, in := range ins {
		if in.Host != d.cfg.Host {
			continue
		}
		counts[in.State]++
		if in.State == client.InstanceTerminated {
			continue
		}
		// A worker polls its domain anyway; the table wakes it only when its own record
		// changed, not at every other instance's console update.
		if d.seen[in.ID].Equal(in.UpdatedAt) && d.hasWorker(in.ID) {
			continue
		}
		d.seen[in.ID] = in.UpdatedAt
		d.kick(ctx, in.ID)
	}
	for id := range d.seen {
		if !slices.ContainsFunc(ins, func(in client.Instance) bool { return in.ID == id && in.Host == d.cfg.Host }) {
			delete(d.seen, id)
		}
	}
	for _, s := range []client.InstanceState{client.InstancePending, client.InstanceRunning, client.InstanceStopping,
		client.InstanceStopped, client.InstanceShuttingDown, client.InstanceTerminated} {
		d.m.instances.WithLabelValues(string(s)).Set(float64(counts[s]))
	}
}

// hasWorker reports whether instance id has a worker running.
func (d *Daemon) hasWorker(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.workers[id] != nil
}

// kick wakes instance id's worker, starting one if it has none.
func (d *Daemon) kick(ctx context.Context, id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	w := d.workers[id]
	if w == nil {
		wctx, cancel := context.WithCancel(ctx)
		w = &worker{d: d, id: id, wake: make(chan struct{}, 1), cancel: cancel, log: d.log.With("instance", id)}
		d.workers[id] = w
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			w.run(wctx)
			d.mu.Lock()
			if d.workers[id] == w {
				delete(d.workers, id)
			}
			d.mu.Unlock()
			cancel()
		}()
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// update reads instance id, lets change modify it and writes it back on the record read,
// again from the read if the record changed meanwhile. change returns false to write
// nothing.
func (d *Daemon) update(ctx context.Context, id string, change func(*client.Instance) bool) (client.Instance, error) {
	for i := 0; ; i++ {
		cctx, cancel := context.WithTimeout(ctx, d.cfg.CallTimeout)
		in, idx, err := d.mc.Instance(cctx, id)
		if err != nil {
			cancel()
			return in, err
		}
		if !change(&in) {
			cancel()
			return in, nil
		}
		err = d.mc.UpdateInstance(cctx, in, idx)
		cancel()
		if err == nil || !errors.Is(err, client.ErrConflict) || i >= 20 {
			return in, err
		}
	}
}
