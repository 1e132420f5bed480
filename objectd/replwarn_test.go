package objectd

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"stratus/ring"
)

// TestReplicationWarnsPerPeer: a pass against a dead peer logs one line for that peer,
// however many partitions failed against it, and repeats of that line are held back for a
// minute and then say how many failures went unlogged.
func TestReplicationWarnsPerPeer(t *testing.T) {
	// Three hosts, one device each, three replicas: every node is primary for every
	// partition. The third host is down: nothing listens at its address.
	b, err := ring.NewBuilder(ring.BuilderConfig{PartPower: 6, Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	lnA, lnB, lnDead := listen(t), listen(t), listen(t)
	dead := lnDead.Addr().String()
	lnDead.Close()
	for i, host := range []string{lnA.Addr().String(), lnB.Addr().String(), dead} {
		if _, err := b.Add(ring.Device{Region: 1, Zone: i + 1, Host: host, Name: "d1", Weight: 100}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Rebalance(ring.RebalanceOptions{Seed: 1}); err != nil {
		t.Fatal(err)
	}
	r, err := b.Ring()
	if err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock(time.Now())
	logger, rec := newLogRecorder(t)
	a := startNodeLog(t, lnA, []string{"d1"}, logger, func(c *Config) { c.Now = clock.Now })
	peer := startNode(t, lnB, []string{"d1"}, nil)
	a.srv.SetRing(r)
	peer.srv.SetRing(r)

	parts := map[uint32]bool{}
	for i := range 300 {
		name := fmt.Sprintf("obj-%d", i)
		part := uint32(r.Partition(name))
		parts[part] = true
		mustPut(t, a, a.target("d1", part), name, ts(1), []byte(name))
	}
	if len(parts) < 32 {
		t.Fatalf("only %d partitions hold data; the test needs many", len(parts))
	}
	rec.take(slog.LevelDebug)

	pass := func() ReplicationReport {
		t.Helper()
		rep, err := a.srv.ReplicateOnce(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if rep.Errors != len(parts) {
			t.Fatalf("pass: %d errors, want one per partition (%d)", rep.Errors, len(parts))
		}
		return rep
	}
	// deadPeerLine returns the one warning of a pass, which must be about the dead peer.
	deadPeerLine := func(warnings []logged) logged {
		t.Helper()
		if len(warnings) != 1 {
			for _, w := range warnings {
				t.Logf("%s %v", w.msg, w.attrs)
			}
			t.Fatalf("%d warnings in a pass against one dead peer with %d partitions, want 1", len(warnings), len(parts))
		}
		w := warnings[0]
		if w.msg != warnPeerFailed || w.attrs["peer"] != dead || w.attrs["err"] == nil {
			t.Fatalf("warning %q %v, want %q about peer %s with its error", w.msg, w.attrs, warnPeerFailed, dead)
		}
		return w
	}

	pass()
	w := deadPeerLine(rec.take(slog.LevelWarn))
	if got := w.attrs["partitions"]; got != int64(len(parts)) {
		t.Fatalf("line counts %v partitions, want %d", got, len(parts))
	}
	if got := w.attrs["unlogged_since_last_line"]; got != int64(0) {
		t.Fatalf("first line: unlogged_since_last_line = %v, want 0", got)
	}
	// The live peer got everything despite the dead one.
	for i := range 300 {
		name := fmt.Sprintf("obj-%d", i)
		if _, body, err := get(t, peer, peer.target("d1", uint32(r.Partition(name))), name); err != nil || string(body) != name {
			t.Fatalf("%s on the live peer: %q, %v", name, body, err)
		}
	}

	// Half a minute later the same trouble is not logged again...
	clock.Add(30 * time.Second)
	pass()
	if got := rec.take(slog.LevelWarn); len(got) != 0 {
		t.Fatalf("%d warnings within the minute, want none: %v", len(got), got)
	}
	// ...and once the minute is up, one line says how many failures went unlogged.
	clock.Add(31 * time.Second)
	pass()
	w = deadPeerLine(rec.take(slog.LevelWarn))
	if got := w.attrs["unlogged_since_last_line"]; got != int64(len(parts)) {
		t.Fatalf("unlogged_since_last_line = %v, want the previous pass's %d", got, len(parts))
	}
}
