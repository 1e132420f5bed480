package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"stratus/ec2api"
	"stratus/internal/pki"
	"stratus/meta/client"
)

func init() { register(newStatusCmd) }

// statusOptions bound what status waits for and say what counts as trouble.
type statusOptions struct {
	// timeout is the deadline of each probe (one meta voter, one storage node) and of each
	// catalog read, so a dead node costs at most this much, in parallel with the others.
	timeout time.Duration
	// parallel is how many probes run at once.
	parallel int
	// backlog is how long a change may wait to reach every replica before it is a problem.
	backlog time.Duration
	// fullRatio is the share of a device in use beyond which it is a problem.
	fullRatio float64
	// lostHeartbeats is how many heartbeat intervals a compute host may miss before it is
	// lost, as ec2api judges it.
	lostHeartbeats int
}

func newStatusCmd() *cobra.Command {
	var opts statusOptions
	var asJSON bool
	cmd := withMeta(&cobra.Command{
		Use:   "status",
		Short: "Show the cluster's health at a glance; exit non-zero when something needs an operator",
		Long: `Show the cluster's health: meta voters and leader, rings, storage nodes and their
devices, the replication backlog, volumes and instances by state, and compute hosts.

Problems come first, one line each. The command exits 1 when there is any: no meta leader
or a voter unreachable, a storage node down, a device unusable or nearly full, replication
behind by more than --backlog, a volume in error, or a lost compute host. Every probe has a
deadline (--timeout), so a dead node slows the command by at most that much.`,
		Args: cobra.NoArgs,
	})
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		id, err := identityFromFlags(cmd.Flags(), pki.RoleAdmin).load()
		if err != nil {
			return err
		}
		addrs, _ := cmd.Flags().GetStringSlice("meta")
		rep := gatherStatus(cmd.Context(), id, metaAddrs(addrs), opts, time.Now())
		w := cmd.OutOrStdout()
		if asJSON {
			if err := printJSON(w, rep); err != nil {
				return err
			}
		} else {
			printStatus(w, rep)
		}
		if n := len(rep.Problems); n > 0 {
			return fmt.Errorf("%d problem(s) need an operator", n)
		}
		return nil
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print the status as JSON")
	f.DurationVar(&opts.timeout, "timeout", 3*time.Second, "deadline of each probe and catalog read")
	f.IntVar(&opts.parallel, "parallel", 16, "probes run at once")
	f.DurationVar(&opts.backlog, "backlog", 10*time.Minute, "how long a change may wait to reach every replica before it is a problem")
	f.Float64Var(&opts.fullRatio, "full-ratio", 0.9, "share of a device in use beyond which it is a problem")
	f.IntVar(&opts.lostHeartbeats, "lost-host-heartbeats", ec2api.DefaultLostHostHeartbeats, "heartbeat intervals a compute host may miss before it is lost")
	return cmd
}

// The --json output follows the machine-output convention: snake_case keys, _bytes,
// _seconds and _ratio in base units, states as lists of {state, count} since state names
// ("in-use") are data, not keys.

// statusReport is what status prints.
type statusReport struct {
	OK           bool                `json:"ok"`
	Problems     []statusProblem     `json:"problems"`
	Meta         metaStatus          `json:"meta"`
	Rings        []ringStatus        `json:"rings"`
	StorageNodes []storageNodeStatus `json:"storage_nodes"`
	Replication  replicationStatus   `json:"replication"`
	Volumes      stateCounts         `json:"volumes"`
	Instances    stateCounts         `json:"instances"`
	ComputeHosts []computeHostStatus `json:"compute_hosts"`
	CheckedAt    time.Time           `json:"checked_at"`
}

// statusProblem is one thing that needs an operator.
type statusProblem struct {
	Kind    string `json:"kind"`    // node_down, device_unusable, device_full, meta_no_leader, …
	Subject string `json:"subject"` // what it is about: a node's address, node/device, a host
	Message string `json:"message"`
}

type metaStatus struct {
	LeaderID   string       `json:"leader_id"`
	LeaderAddr string       `json:"leader_addr"`
	Term       uint64       `json:"term"`
	Voters     []metaMember `json:"voters"`
}

type metaMember struct {
	ID        string `json:"id"`
	Addr      string `json:"addr"`
	Reachable bool   `json:"reachable"`
	State     string `json:"state"` // as the member reports itself: Leader, Follower, Candidate; "" if unreachable
	Error     string `json:"error,omitempty"`
}

type ringStatus struct {
	Policy     string    `json:"policy"`
	Version    uint64    `json:"version"`
	Published  time.Time `json:"published_at"`
	Partitions int       `json:"partitions"`
	Replicas   int       `json:"replicas"`
	Devices    int       `json:"devices"`
	Hosts      int       `json:"hosts"`
	// BalanceRatio is the worst |parts - wanted| / wanted over devices of positive weight.
	BalanceRatio float64 `json:"balance_ratio"`
}

type storageNodeStatus struct {
	Addr  string `json:"addr"`
	Up    bool   `json:"up"`
	Error string `json:"error,omitempty"`
	// RingVersion is the version of the ring the node uses (0: none, or down).
	RingVersion uint64          `json:"ring_version"`
	Devices     []deviceStatus  `json:"devices"`
	Replication nodeReplication `json:"replication"`
}

type deviceStatus struct {
	Name string `json:"name"`
	// InRing says the ring places partitions on it; a device the node has but the ring
	// does not name is listed too.
	InRing        bool    `json:"in_ring"`
	Usable        bool    `json:"usable"`
	CapacityBytes int64   `json:"capacity_bytes"`
	FreeBytes     int64   `json:"free_bytes"`
	UsedRatio     float64 `json:"used_ratio"`
}

type nodeReplication struct {
	PartitionsBehind int     `json:"partitions_behind"`
	UnsyncedSeconds  float64 `json:"unsynced_seconds"`
	// LastPassAt is when the node's last replication pass ended; null if none has.
	LastPassAt *time.Time `json:"last_pass_at"`
}

// replicationStatus sums the nodes' backlogs.
type replicationStatus struct {
	PartitionsBehind int `json:"partitions_behind"`
	// OldestUnsyncedSeconds is the worst node's unsynced age.
	OldestUnsyncedSeconds float64 `json:"oldest_unsynced_seconds"`
	NodesReporting        int     `json:"nodes_reporting"`
}

type stateCounts struct {
	Total   int          `json:"total"`
	ByState []stateCount `json:"by_state"`
}

type stateCount struct {
	State string `json:"state"`
	Count int    `json:"count"`
}

type computeHostStatus struct {
	Host                string  `json:"host"`
	Zone                string  `json:"zone"`
	Live                bool    `json:"live"`
	VCPUs               int     `json:"vcpus"`
	UsedVCPUs           int     `json:"used_vcpus"`
	MemoryBytes         int64   `json:"memory_bytes"`
	UsedMemoryBytes     int64   `json:"used_memory_bytes"`
	Instances           int     `json:"instances"`
	HeartbeatAgeSeconds float64 `json:"heartbeat_age_seconds"`
}

// gatherStatus asks meta, then probes what meta names, and judges what it found.
func gatherStatus(ctx context.Context, id *pki.Identity, addrs []string, opts statusOptions, now time.Time) statusReport {
	rep := statusReport{Problems: []statusProblem{}, Rings: []ringStatus{}, StorageNodes: []storageNodeStatus{},
		ComputeHosts: []computeHostStatus{}, Volumes: stateCounts{ByState: []stateCount{}},
		Instances: stateCounts{ByState: []stateCount{}}, Meta: metaStatus{Voters: []metaMember{}}, CheckedAt: now.UTC()}
	var mu sync.Mutex // the parts below run in parallel, and all may report problems
	problem := func(kind, subject, format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		rep.Problems = append(rep.Problems, statusProblem{kind, subject, fmt.Sprintf(format, a...)})
	}
	mc, err := metaProbeClient(id, addrs, opts.timeout)
	if err != nil {
		problem("meta_unreachable", "meta", "%v", err)
		return finish(rep)
	}
	defer mc.Close()

	if !probeMeta(ctx, id, mc, addrs, opts, &rep, problem) {
		// Every catalog read would wait out its deadline the same way: there is nothing
		// more to learn, and the storage nodes are known only from the ring in meta.
		return finish(rep)
	}

	read := func(what string, fn func(ctx context.Context) error) bool {
		rctx, cancel := context.WithTimeout(ctx, opts.timeout)
		defer cancel()
		if err := fn(rctx); err != nil {
			problem("catalog_unreadable", what, "cannot read %s from meta: %v", what, err)
			return false
		}
		return true
	}
	// The storage probes (which need the rings) and the catalog reads run side by side, so
	// the command takes about two deadlines at worst (after meta's), not one per part.
	// Each fills its own fields of rep.
	var wg sync.WaitGroup
	wg.Go(func() {
		var rings []client.RingVersion
		read("rings", func(ctx context.Context) (err error) { rings, err = readRings(ctx, mc); return })
		targets := ringStatuses(rings, &rep, problem)
		probeStorage(ctx, id, targets, opts, &rep, problem)
	})
	wg.Go(func() { readVolumes(mc, &rep, read, problem) })
	wg.Go(func() { readInstances(mc, &rep, read) })
	wg.Go(func() { readComputeHosts(mc, now, opts, &rep, read, problem) })
	wg.Wait()
	return finish(rep)
}

// readVolumes counts volumes by state; one in error is a problem.
func readVolumes(mc *client.Client, rep *statusReport, read func(what string, fn func(ctx context.Context) error) bool,
	problem func(kind, subject, format string, a ...any)) {
	var vols []client.Volume
	if read("volumes", func(ctx context.Context) (err error) { vols, err = mc.Volumes(ctx, client.Stale()); return }) {
		counts := map[string]int{}
		for _, v := range vols {
			counts[string(v.State)]++
			if v.State == client.VolumeError {
				problem("volume_error", v.ID, "volume %s is in state error", v.ID)
			}
		}
		rep.Volumes = newStateCounts(counts)
	}
}

// readInstances counts instances by state.
func readInstances(mc *client.Client, rep *statusReport, read func(what string, fn func(ctx context.Context) error) bool) {
	var insts []client.Instance
	if read("instances", func(ctx context.Context) (err error) { insts, err = mc.Instances(ctx, client.Stale()); return }) {
		counts := map[string]int{}
		for _, in := range insts {
			counts[string(in.State)]++
		}
		rep.Instances = newStateCounts(counts)
	}
}

// readComputeHosts lists the compute hosts and their capacity; a lost one is a problem.
func readComputeHosts(mc *client.Client, now time.Time, opts statusOptions, rep *statusReport,
	read func(what string, fn func(ctx context.Context) error) bool, problem func(kind, subject, format string, a ...any)) {
	var hosts []client.ComputeHost
	if read("compute hosts", func(ctx context.Context) (err error) { hosts, err = mc.ComputeHosts(ctx, client.Stale()); return }) {
		for _, h := range hosts {
			window := time.Duration(opts.lostHeartbeats) * h.HeartbeatInterval()
			age := now.Sub(h.HeartbeatAt)
			live := age < window && age > -window
			rep.ComputeHosts = append(rep.ComputeHosts, computeHostStatus{Host: h.Host, Zone: h.Zone, Live: live,
				VCPUs: h.VCPUs, UsedVCPUs: h.UsedVCPUs, MemoryBytes: int64(h.MemoryMiB) << 20, UsedMemoryBytes: int64(h.UsedMemoryMiB) << 20,
				Instances: h.Instances, HeartbeatAgeSeconds: age.Seconds()})
			if !live {
				problem("compute_host_lost", h.Host, "compute host %s has sent no heartbeat for %s (lost after %s); its instances are impaired",
					h.Host, age.Round(time.Second), window)
			}
		}
	}
}

// finish orders the problems so the output is stable, and sets OK.
func finish(rep statusReport) statusReport {
	sortProblems(rep.Problems)
	rep.OK = len(rep.Problems) == 0
	return rep
}
