package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"stratus/internal/hlc"
	"stratus/objectd/client"
)

// handoffCopies bounds the copies to handoff devices one proxy writes at once. Past it a
// write stays one copy short until the replicator brings its primary the version when the
// node is back; a node that keeps failing is error-limited soon anyway, and writes then go
// to a handoff from their first byte.
const handoffCopies = 4

// handOffLater completes a write that a quorum stored but that is short of copies: a
// replica dropped in the middle of the stream (it stalled, or failed after taking part of
// the body) cannot be replaced there, for the proxy holds only the last few chunks. So the
// version is copied, after the write has answered, from a replica that stored it to the
// next handoff devices: the object is at its full replica count while the primary that
// missed it is away, and the handoff's replicator delivers it to that primary once it is
// back and then removes its own copy (docs/objectd.md). The copy runs in the background,
// at most handoffCopies at once per proxy, each with one copy buffer of memory and a
// NodeTimeout watchdog on both ends.
// A handoff on a host that failed this write is passed over: it is likely no better now.
func (p *Proxy) handOffLater(name string, ts hlc.Timestamp, short int, stored []client.Target, failedHosts []string, more func() (candidate, bool)) {
	var targets []client.Target
	for len(targets) < short {
		c, ok := more()
		if !ok {
			break
		}
		if c.handoff && !slices.Contains(failedHosts, c.Host) {
			targets = append(targets, c.Target)
		}
	}
	if len(targets) == 0 {
		p.log.Warn("put below full redundancy: no handoff device left", "key", name, "short", short)
		return
	}
	for _, to := range targets {
		select {
		case p.handoffSlots <- struct{}{}:
		default:
			p.log.Warn("put below full redundancy: handoff copies busy; replication will restore it", "key", name)
			return
		}
		p.m.handoffs.WithLabelValues(opPut).Inc()
		p.bg.Go(func() {
			defer func() { <-p.handoffSlots }()
			if err := p.copyVersion(name, ts, stored, to); err != nil {
				p.log.Warn("handoff copy failed; replication will restore the replica", "key", name,
					"node", to.Host, "device", to.Device, "err", err)
				return
			}
			p.log.Info("handoff copy written", "key", name, "node", to.Host, "device", to.Device)
		})
	}
}

// copyVersion copies version ts of name from the first of from that serves it to to. A
// version already replaced on the source (a newer write, a delete) is not copied: the newer
// one is what the replicas must converge on.
func (p *Proxy) copyVersion(name string, ts hlc.Timestamp, from []client.Target, to client.Target) error {
	var last error
	for _, src := range from {
		err := p.copyFrom(name, ts, src, to)
		if err == nil || errors.Is(err, errReplaced) {
			return nil
		}
		last = err
	}
	return last
}

// errReplaced says the source holds a newer version than the one to copy.
var errReplaced = errors.New("version replaced")

func (p *Proxy) copyFrom(name string, ts hlc.Timestamp, src, to client.Target) error {
	ctx, wd := newWatchdog(context.Background(), p.cfg.NodeTimeout)
	defer wd.stop()
	obj, err := p.nodes.GetVersion(ctx, src, name, ts, nil)
	if err != nil {
		return fmt.Errorf("read from %s: %w", src, err)
	}
	defer obj.Body.Close()
	if obj.Timestamp != ts {
		return errReplaced
	}
	wd.kick()
	sum := obj.Checksum
	req := client.PutRequest{Name: name, Timestamp: ts, Length: obj.Length, Checksum: &sum,
		ContentType: obj.ContentType, Meta: obj.Meta}
	// The body's reads kick the watchdog, so a copy that keeps moving is never cut short.
	start := time.Now()
	err = p.nodes.Put(ctx, to, req, &kickingReader{r: obj.Body, wd: wd})
	p.m.replica(opPut, start, err, wd.fired.Load())
	p.observeErr(err)
	var se *client.StatusError
	if errors.As(err, &se) && errors.Is(err, client.ErrConflict) && se.Timestamp >= ts {
		return nil // the handoff holds it already, or a newer version
	}
	if err != nil {
		return fmt.Errorf("write to %s: %w", to, err)
	}
	return nil
}

// kickingReader keeps a watchdog quiet while bytes flow through it.
type kickingReader struct {
	r  io.Reader
	wd *watchdog
}

func (k *kickingReader) Read(b []byte) (int, error) {
	n, err := k.r.Read(b)
	if n > 0 {
		k.wd.kick()
	}
	return n, err
}

// WaitBackground waits for the handoff copies in flight (each ends within NodeTimeout of
// its last progress). A caller that discards the proxy, or its logger, calls it first.
func (p *Proxy) WaitBackground() { p.bg.Wait() }
