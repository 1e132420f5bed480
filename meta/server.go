package meta

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
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sync/errgroup"

	"stratus/internal/pki"
)

// Server is one meta node: a Raft voter (or would-be voter) with its state machine, serving
// the meta protocol and Raft on one listener.
type Server struct {
	cfg    Config
	ln     net.Listener
	addr   string
	log    *slog.Logger
	m      *metrics
	sealer *sealer
	ready  chan struct{}
	once   sync.Once // closes ready

	// Set by Run before ready is closed or any request is served.
	raft    *raft.Raft
	fsm     *fsm
	batcher *batcher
	barrier *coalescer // Raft barriers, once per term before the first read
	verify  *coalescer // leadership checks, once per read
	// barrierTerm is the term in which a barrier last completed.
	barrierTerm atomic.Uint64
	snaps       raft.SnapshotStore
	fwd         *http.Client
	// stopping is done when Run begins shutting down; stop is its Done channel.
	stopping      context.Context
	stop          <-chan struct{}
	beginStopping context.CancelFunc
	// api is the HTTP API behind the gate that Run closes (and waits on) before shutting
	// Raft down; served on the listener and, for callers in this process, by Handler.
	api  http.Handler
	gate requestGate

	secrets  *secretLimiter
	refusals refusalLog
}

// New returns a node that will serve on ln once Run is called. It opens nothing yet.
func New(cfg Config, ln net.Listener) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("meta config: %w", err)
	}
	sl, err := newSealer(cfg.ClusterKey, cfg.OldClusterKeys...)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	a := cfg.AdvertiseAddr
	if a == "" {
		a = ln.Addr().String()
	}
	if cfg.Dial == nil {
		cfg.Dial = net.DialTimeout
	}
	stopping, beginStopping := context.WithCancel(context.Background())
	return &Server{
		cfg:           cfg,
		ln:            ln,
		addr:          a,
		log:           log.With("part", "meta", "node", cfg.NodeID),
		m:             m,
		sealer:        sl,
		ready:         make(chan struct{}),
		stopping:      stopping,
		stop:          stopping.Done(),
		secrets:       &secretLimiter{rate: cfg.SecretReadsPerSecond, burst: float64(cfg.SecretReadBurst)},
		beginStopping: beginStopping,
	}, nil
}

// scheme is how this node's API is reached: https when it has an identity.
func (s *Server) scheme() string {
	if s.cfg.Identity != nil {
		return "https://"
	}
	return "http://"
}

// Addr returns the address other nodes and clients use for this node.
func (s *Server) Addr() string { return s.addr }

// ID returns the node's Raft ID.
func (s *Server) ID() string { return s.cfg.NodeID }

// Ready returns a channel closed once the node has joined a cluster that has a leader.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Handler returns the node's HTTP API, for callers in the same process (see
// internal/inproc). Before Run serves and once it has begun to stop, it answers 503.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.gate.enter() {
			s.reply(w, "api", nil, ErrClosed)
			return
		}
		defer s.gate.leave()
		// A request made in-process is not the HTTP server's, so shutting that down does
		// not cancel it: end it when Run begins stopping, so that it cannot hold Run up.
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		defer context.AfterFunc(s.stopping, cancel)()
		s.api.ServeHTTP(w, r.WithContext(ctx))
	})
}

// requestGate counts requests in flight until it is closed; then it admits no more.
type requestGate struct {
	mu       sync.Mutex
	open     bool
	inFlight sync.WaitGroup
}

func (g *requestGate) openGate() {
	g.mu.Lock()
	g.open = true
	g.mu.Unlock()
}

func (g *requestGate) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open {
		g.inFlight.Add(1)
	}
	return g.open
}

func (g *requestGate) leave() { g.inFlight.Done() }

// close admits no more requests and waits for those in flight.
func (g *requestGate) close() {
	g.mu.Lock()
	g.open = false
	g.mu.Unlock()
	g.inFlight.Wait()
}

// Run serves until ctx ends, then shuts down: it stops the API, waits for in-flight writes,
// shuts Raft down and closes the listener and every file. The listener is closed on return
// even if Run fails early.
func (s *Server) Run(ctx context.Context) error {
	defer s.ln.Close()
	if err := os.MkdirAll(s.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	hlog, closeHlog := newHclog(s.log)
	defer closeHlog()

	f, err := newFSM(s.cfg.DataDir, s.cfg, s.log, s.m)
	if err != nil {
		return err
	}
	defer f.Close()
	logStore, err := raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(s.cfg.DataDir, "raft.db"),
		BoltOptions: &bolt.Options{Timeout: time.Second, FreelistType: bolt.FreelistMapType, NoFreelistSync: true},
	})
	if err != nil {
		return fmt.Errorf("open raft log %s: %w", s.cfg.DataDir, err)
	}
	defer logStore.Close()
	cached, err := raft.NewLogCache(1024, logStore)
	if err != nil {
		return fmt.Errorf("raft log cache: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(s.cfg.DataDir, s.cfg.RetainSnapshots, hlog)
	if err != nil {
		return fmt.Errorf("open snapshots: %w", err)
	}

	mx := newMux(s.ln, addr(s.addr), s.cfg.Identity, s.log)
	var clientTLS *tls.Config
	if s.cfg.Identity != nil {
		clientTLS = s.cfg.Identity.ClientTLS(pki.RoleMeta)
	}
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  &streamLayer{chanListener: mx.raft, dial: s.cfg.Dial, tls: clientTLS},
		MaxPool: 4,
		Timeout: 10 * time.Second,
		Logger:  hlog,
	})
	defer trans.Close()

	r, err := raft.NewRaft(s.raftConfig(hlog), f, cached, logStore, snaps, trans)
	if err != nil {
		mx.close()
		return fmt.Errorf("start raft: %w", err)
	}
	s.raft, s.fsm, s.snaps = r, f, snaps
	s.batcher = newBatcher(r, s.cfg, s.m)
	s.barrier = &coalescer{round: func() raft.Future { return r.Barrier(s.cfg.ApplyTimeout) }}
	s.verify = &coalescer{round: r.VerifyLeader}
	s.fwd = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			d := 5 * time.Second
			if dl, ok := ctx.Deadline(); ok {
				d = time.Until(dl)
			}
			return s.cfg.Dial(network, a, d)
		},
		TLSClientConfig:     clientTLS,
		TLSHandshakeTimeout: 5 * time.Second,
		MaxIdleConnsPerHost: 64,
	}}

	if s.cfg.Bootstrap {
		if err := s.bootstrap(logStore, snaps); err != nil {
			_ = r.Shutdown().Error()
			mx.close()
			return err
		}
	}

	s.api = s.handler()
	s.gate.openGate()
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	g, gctx := errgroup.WithContext(ctx)
	bctx, stopBatcher := context.WithCancel(context.Background())
	g.Go(func() error { return mx.serve() })
	g.Go(func() error {
		if err := hs.Serve(mx.http); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			return fmt.Errorf("serve api: %w", err)
		}
		return nil
	})
	var bwg sync.WaitGroup
	bwg.Add(1)
	go func() { defer bwg.Done(); s.batcher.run(bctx) }()
	g.Go(func() error { s.observe(gctx); return nil })
	s.log.Info("meta node started", "addr", s.addr, "data_dir", s.cfg.DataDir, "bootstrap", s.cfg.Bootstrap)

	<-gctx.Done()
	s.beginStopping()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close() // cancels the remaining requests' contexts
	}
	cancel()
	s.gate.close() // Run returns only after the last request, even those cut off above
	stopBatcher()
	bwg.Wait()
	if err := r.Shutdown().Error(); err != nil {
		s.log.Warn("raft shutdown", "err", err)
	}
	mx.close()
	trans.Close()
	mx.closeRaftConns()
	err = g.Wait()
	s.fwd.CloseIdleConnections()
	s.log.Info("meta node stopped")
	return err
}

func (s *Server) raftConfig(hlog hclogger) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(s.cfg.NodeID)
	rc.HeartbeatTimeout = s.cfg.HeartbeatTimeout
	rc.ElectionTimeout = s.cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = s.cfg.LeaderLeaseTimeout
	rc.CommitTimeout = s.cfg.CommitTimeout
	rc.SnapshotInterval = s.cfg.SnapshotInterval
	rc.SnapshotThreshold = s.cfg.SnapshotThreshold
	rc.TrailingLogs = s.cfg.TrailingLogs
	rc.BatchApplyCh = true
	rc.MaxAppendEntries = 256
	rc.Logger = hlog
	return rc
}

// bootstrap makes this node the only voter of a new cluster, unless state already exists.
func (s *Server) bootstrap(logs raft.LogStore, snaps raft.SnapshotStore) error {
	has, err := raft.HasExistingState(logs, logs.(raft.StableStore), snaps)
	if err != nil {
		return fmt.Errorf("check raft state: %w", err)
	}
	if has {
		return nil
	}
	err = s.raft.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{
		Suffrage: raft.Voter, ID: raft.ServerID(s.cfg.NodeID), Address: raft.ServerAddress(s.addr),
	}}}).Error()
	if err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		return fmt.Errorf("bootstrap: %w", err)
	}
	s.log.Info("bootstrapped a new meta cluster")
	return nil
}

// observe tracks leadership for the ready channel, the leader gauge and logs.
func (s *Server) observe(ctx context.Context) {
	ch := make(chan raft.Observation, 16)
	obs := raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	s.raft.RegisterObserver(obs)
	defer s.raft.DeregisterObserver(obs)
	update := func() {
		leaderAddr, leaderID := s.raft.LeaderWithID()
		if s.raft.State() == raft.Leader {
			s.m.leader.Set(1)
		} else {
			s.m.leader.Set(0)
		}
		if leaderAddr != "" {
			s.once.Do(func() { close(s.ready) })
		}
		s.log.Debug("leader changed", "leader", leaderID, "leader_addr", leaderAddr)
	}
	update()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ch:
			update()
		}
	}
}

// isLeader reports whether this node is the Raft leader now.
func (s *Server) isLeader() bool { return s.raft.State() == raft.Leader }

// leaderAddr returns the leader's address, or an error saying why there is none.
func (s *Server) leaderAddr() (string, error) {
	if a, _ := s.raft.LeaderWithID(); a != "" {
		return string(a), nil
	}
	return "", s.noLeaderError()
}

// noLeaderError tells a node that was never part of a cluster from one waiting for an election.
func (s *Server) noLeaderError() error {
	fut := s.raft.GetConfiguration()
	if err := fut.Error(); err != nil {
		return raftError(err)
	}
	for _, srv := range fut.Configuration().Servers {
		if srv.ID == raft.ServerID(s.cfg.NodeID) {
			return ErrNoLeader
		}
	}
	return fmt.Errorf("%w: node %s at %s (bootstrap it, or join it with 'stratus meta join')", ErrNotMember, s.cfg.NodeID, s.addr)
}
