package main

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"stratus/internal/pki"
	"stratus/meta/client"
	objclient "stratus/objectd/client"
)

// metaProbeClient returns a meta client whose calls (retries included) end within timeout,
// so an unreachable voter cannot hold the command for the client's usual retry budget.
func metaProbeClient(id *pki.Identity, addrs []string, timeout time.Duration) (*client.Client, error) {
	cfg := client.DefaultConfig(addrs...)
	cfg.TLS = id.ClientTLS(pki.RoleMeta)
	cfg.CallTimeout, cfg.RetryTimeout = timeout, timeout
	return client.New(cfg)
}

// probeMeta asks the cluster for its members and leader, then asks every voter itself, in
// parallel, so the report says which are reachable. It reports whether any member answered.
func probeMeta(ctx context.Context, id *pki.Identity, mc *client.Client, addrs []string, opts statusOptions, rep *statusReport, problem func(kind, subject, format string, a ...any)) bool {
	sctx, cancel := context.WithTimeout(ctx, opts.timeout)
	st, err := mc.Status(sctx)
	cancel()
	if err != nil {
		problem("meta_unreachable", strings.Join(addrs, ","), "no meta member answered: %v", err)
		return false
	}
	rep.Meta.LeaderID, rep.Meta.LeaderAddr, rep.Meta.Term = st.LeaderID, st.LeaderAddr, st.Term
	for _, m := range st.Members {
		if m.Suffrage == "Voter" {
			rep.Meta.Voters = append(rep.Meta.Voters, metaMember{ID: m.ID, Addr: m.Addr})
		}
	}
	parallel(len(rep.Meta.Voters), opts.parallel, func(i int) {
		v := &rep.Meta.Voters[i]
		cl, err := metaProbeClient(id, []string{v.Addr}, opts.timeout)
		if err == nil {
			defer cl.Close()
			pctx, cancel := context.WithTimeout(ctx, opts.timeout)
			var vs client.Status
			vs, err = cl.Status(pctx)
			cancel()
			v.State = vs.State
		}
		v.Reachable = err == nil
		if err != nil {
			v.Error = err.Error()
		}
	})
	if st.LeaderID == "" {
		problem("meta_no_leader", "meta", "the meta cluster has no leader (term %d): the catalog accepts no writes", st.Term)
	}
	for _, v := range rep.Meta.Voters {
		if !v.Reachable {
			problem("meta_voter_down", v.ID, "meta voter %s (%s) does not answer: %s", v.ID, v.Addr, v.Error)
		}
	}
	return true
}

// probeStorage scrapes every storage node's metrics over mutual TLS, at most opts.parallel
// at once, each within opts.timeout, and judges devices and backlogs.
func probeStorage(ctx context.Context, id *pki.Identity, targets []storageTarget, opts statusOptions, rep *statusReport, problem func(kind, subject, format string, a ...any)) {
	tr := objclient.NewTransport(objclient.WithTLS(id.ClientTLS(pki.RoleObjectd)))
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: opts.timeout}
	nodes := make([]storageNodeStatus, len(targets))
	parallel(len(targets), opts.parallel, func(i int) {
		nodes[i] = probeNode(ctx, hc, targets[i], opts.timeout)
	})
	rep.StorageNodes = nodes
	for _, n := range nodes {
		if !n.Up {
			problem("node_down", n.Addr, "storage node %s does not answer: %s", n.Addr, n.Error)
			continue
		}
		for _, d := range n.Devices {
			subject := n.Addr + "/" + d.Name
			switch {
			case d.InRing && !d.Usable:
				problem("device_unusable", subject, "device %s is in the ring but unusable (not mounted or not initialised): requests to it answer 507", subject)
			case d.Usable && d.UsedRatio > opts.fullRatio:
				problem("device_full", subject, "device %s is %.0f%% full", subject, 100*d.UsedRatio)
			}
		}
		r := n.Replication
		rep.Replication.NodesReporting++
		rep.Replication.PartitionsBehind += r.PartitionsBehind
		rep.Replication.OldestUnsyncedSeconds = max(rep.Replication.OldestUnsyncedSeconds, r.UnsyncedSeconds)
		if r.UnsyncedSeconds > opts.backlog.Seconds() {
			problem("replication_behind", n.Addr, "storage node %s has changes waiting %s to reach every replica (%d partition exchanges failed in its last pass)",
				n.Addr, secondsText(r.UnsyncedSeconds), r.PartitionsBehind)
		}
	}
}

// probeNode reads one node's metrics.
func probeNode(ctx context.Context, hc *http.Client, t storageTarget, timeout time.Duration) storageNodeStatus {
	n := storageNodeStatus{Addr: t.addr, Devices: []deviceStatus{}}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	metrics, err := scrapeNode(ctx, hc, t.addr)
	if err != nil {
		n.Error = err.Error()
		for _, name := range sortedKeys(t.devices) {
			n.Devices = append(n.Devices, deviceStatus{Name: name, InRing: true})
		}
		return n
	}
	n.Up = true
	n.RingVersion = uint64(metrics.value("stratus_objectd_ring_version", ""))
	names := map[string]bool{}
	for name := range t.devices {
		names[name] = true
	}
	for _, s := range metrics.series("stratus_objectd_device_usable") {
		names[s.device] = true
	}
	for _, name := range sortedKeys(names) {
		d := deviceStatus{Name: name, InRing: t.devices[name], Usable: metrics.value("stratus_objectd_device_usable", name) == 1,
			CapacityBytes: int64(metrics.value("stratus_objectd_device_capacity_bytes", name)),
			FreeBytes:     int64(metrics.value("stratus_objectd_device_free_bytes", name))}
		if d.CapacityBytes > 0 {
			d.UsedRatio = float64(d.CapacityBytes-d.FreeBytes) / float64(d.CapacityBytes)
		}
		n.Devices = append(n.Devices, d)
	}
	n.Replication.PartitionsBehind = int(metrics.value("stratus_objectd_replication_partitions_behind", ""))
	n.Replication.UnsyncedSeconds = metrics.value("stratus_objectd_replication_unsynced_seconds", "")
	if ts := metrics.value("stratus_objectd_replication_last_pass_timestamp_seconds", ""); ts > 0 {
		at := time.Unix(0, int64(ts*1e9)).UTC()
		n.Replication.LastPassAt = &at
	}
	return n
}

// parallel runs fn(0..n-1) with at most limit at a time, and waits for all.
func parallel(n, limit int, fn func(i int)) {
	sem := make(chan struct{}, max(limit, 1))
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			fn(i)
		})
	}
	wg.Wait()
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func newStateCounts(counts map[string]int) stateCounts {
	out := stateCounts{ByState: []stateCount{}}
	for s, n := range counts {
		out.Total += n
		out.ByState = append(out.ByState, stateCount{s, n})
	}
	slices.SortFunc(out.ByState, func(a, b stateCount) int { return cmp.Compare(a.State, b.State) })
	return out
}

func sortProblems(ps []statusProblem) {
	slices.SortStableFunc(ps, func(a, b statusProblem) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Subject, b.Subject))
	})
}
