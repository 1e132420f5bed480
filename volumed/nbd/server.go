package nbd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Server serves Exports over NBD. It is safe for concurrent use; Serve may run on several
// listeners at once (a TCP one and a unix socket, say).
type Server struct {
	cfg     Config
	exports Exports
	log     *slog.Logger
	m       *metrics
	conns   atomic.Int64 // open connections, over all listeners
}

// New returns a server for exports. Metrics are registered on reg (nil: a private
// registry); logger may be nil.
func New(cfg Config, exports Exports, logger *slog.Logger, reg prometheus.Registerer) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("nbd config: %w", err)
	}
	if exports == nil {
		return nil, errors.New("nbd: exports is nil")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("nbd metrics: %w", err)
	}
	return &Server{cfg: cfg, exports: exports, log: logger, m: m}, nil
}

// Serve accepts connections on ln and serves each until the client disconnects. When ctx
// ends it stops accepting, stops reading new requests, lets the requests in flight finish
// and send their replies (for up to ShutdownTimeout, then cancels them), closes every
// connection it accepted and returns nil. It closes ln. It returns an error only if
// accepting fails for a reason other than ctx ending, after closing its connections the
// same way.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.log.Info("nbd serving", "addr", ln.Addr().String())
	// shutdown ends with ctx, or when Serve returns on an accept error: either way every
	// connection drains. base keeps ctx's values for the requests but not its end, so that
	// requests in flight can finish.
	shutdown, stop := context.WithCancel(ctx)
	base := context.WithoutCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		stop()
		wg.Wait()
		s.log.Info("nbd stopped", "addr", ln.Addr().String())
	}()
	stopAccept := context.AfterFunc(ctx, func() { ln.Close() })
	defer stopAccept()
	defer ln.Close()

	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				// Out of descriptors, or a timeout: back off rather than spin, as net/http does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("nbd accept", "err", err, "retry_in", backoff)
				select {
				case <-time.After(backoff):
					continue
				case <-ctx.Done():
					return nil
				}
			}
			return fmt.Errorf("nbd accept on %s: %w", ln.Addr(), err)
		}
		backoff = 0
		if n := s.conns.Add(1); s.cfg.MaxConnections > 0 && n > int64(s.cfg.MaxConnections) {
			s.conns.Add(-1)
			s.log.Warn("nbd connection refused: too many connections", "remote", nc.RemoteAddr().String(),
				"max_connections", s.cfg.MaxConnections)
			nc.Close()
			continue
		}
		s.m.connections.Inc()
		c := newConn(s, nc)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.m.connections.Dec()
			defer s.conns.Add(-1)
			c.serve(shutdown, base)
		}()
	}
}
