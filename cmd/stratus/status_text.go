package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// printStatus writes the report for a person: problems first, one line each, then one
// short section per part of the cluster, columns aligned.
func printStatus(w io.Writer, rep statusReport) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	defer tw.Flush()
	if len(rep.Problems) == 0 {
		fmt.Fprintln(tw, "OK: nothing needs an operator")
	} else {
		fmt.Fprintf(tw, "PROBLEMS: %d\n", len(rep.Problems))
		for _, p := range rep.Problems {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", p.Kind, p.Subject, p.Message)
		}
	}
	tw.Flush()

	m := rep.Meta
	reachable := 0
	for _, v := range m.Voters {
		if v.Reachable {
			reachable++
		}
	}
	leader := "none"
	if m.LeaderID != "" {
		leader = fmt.Sprintf("%s (%s)", m.LeaderID, m.LeaderAddr)
	}
	fmt.Fprintf(tw, "\nmeta: leader %s, term %d, %d of %d voters reachable\n", leader, m.Term, reachable, len(m.Voters))
	for _, v := range m.Voters {
		state := v.State
		if !v.Reachable {
			state = "UNREACHABLE"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", v.ID, v.Addr, state)
	}
	tw.Flush()

	fmt.Fprintf(tw, "\nrings: %d\n", len(rep.Rings))
	for _, r := range rep.Rings {
		fmt.Fprintf(tw, "  %s\tversion %d\t%d partitions × %d replicas\t%d devices on %d hosts\tbalance %.2f%%\tpublished %s\n",
			r.Policy, r.Version, r.Partitions, r.Replicas, r.Devices, r.Hosts, 100*r.BalanceRatio, r.Published.Format(time.RFC3339))
	}
	tw.Flush()

	up, devs, usable := 0, 0, 0
	var capacity, free int64
	for _, n := range rep.StorageNodes {
		if n.Up {
			up++
		}
		for _, d := range n.Devices {
			devs++
			if d.Usable {
				usable++
				capacity += d.CapacityBytes
				free += d.FreeBytes
			}
		}
	}
	fmt.Fprintf(tw, "\nstorage: %d of %d nodes up, %d of %d devices usable, %s used of %s\n",
		up, len(rep.StorageNodes), usable, devs, humanBytes(capacity-free), humanBytes(capacity))
	if len(rep.StorageNodes) > 0 {
		fmt.Fprintln(tw, "  NODE\tUP\tRING\tDEVICES\tUSED\tBEHIND\tUNSYNCED")
	}
	for _, n := range rep.StorageNodes {
		if !n.Up {
			fmt.Fprintf(tw, "  %s\tDOWN\t-\t%s\t-\t-\t-\n", n.Addr, deviceList(n))
			continue
		}
		var c, f int64
		for _, d := range n.Devices {
			c += d.CapacityBytes
			f += d.FreeBytes
		}
		fmt.Fprintf(tw, "  %s\tup\tv%d\t%s\t%s/%s\t%d\t%s\n", n.Addr, n.RingVersion, deviceList(n),
			humanBytes(c-f), humanBytes(c), n.Replication.PartitionsBehind, secondsText(n.Replication.UnsyncedSeconds))
	}
	tw.Flush()

	r := rep.Replication
	fmt.Fprintf(tw, "\nreplication: %d partition exchanges behind, oldest unsynced change %s (%d nodes reporting)\n",
		r.PartitionsBehind, secondsText(r.OldestUnsyncedSeconds), r.NodesReporting)
	fmt.Fprintf(tw, "volumes: %s\n", countsText(rep.Volumes))
	fmt.Fprintf(tw, "instances: %s\n", countsText(rep.Instances))

	lost, vcpus, used := 0, 0, 0
	var mem, usedMem int64
	for _, h := range rep.ComputeHosts {
		if !h.Live {
			lost++
			continue
		}
		vcpus, used, mem, usedMem = vcpus+h.VCPUs, used+h.UsedVCPUs, mem+h.MemoryBytes, usedMem+h.UsedMemoryBytes
	}
	fmt.Fprintf(tw, "\ncompute: %d hosts, %d lost; live hosts use %d of %d vCPUs, %s of %s memory\n",
		len(rep.ComputeHosts), lost, used, vcpus, humanBytes(usedMem), humanBytes(mem))
	if len(rep.ComputeHosts) > 0 {
		fmt.Fprintln(tw, "  HOST\tZONE\tSTATE\tVCPUS\tMEMORY\tINSTANCES\tHEARTBEAT")
	}
	for _, h := range rep.ComputeHosts {
		state := "live"
		if !h.Live {
			state = "LOST"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d/%d\t%s/%s\t%d\t%s ago\n", h.Host, h.Zone, state, h.UsedVCPUs, h.VCPUs,
			humanBytes(h.UsedMemoryBytes), humanBytes(h.MemoryBytes), h.Instances, secondsText(h.HeartbeatAgeSeconds))
	}
}

// deviceList names a node's devices, marking the unusable ones.
func deviceList(n storageNodeStatus) string {
	var parts []string
	for _, d := range n.Devices {
		switch {
		case !n.Up:
			parts = append(parts, d.Name)
		case !d.Usable:
			parts = append(parts, d.Name+"(UNUSABLE)")
		case !d.InRing:
			parts = append(parts, d.Name+"(not in ring)")
		default:
			parts = append(parts, d.Name)
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

func countsText(c stateCounts) string {
	if c.Total == 0 {
		return "none"
	}
	var parts []string
	for _, s := range c.ByState {
		parts = append(parts, fmt.Sprintf("%d %s", s.Count, s.State))
	}
	return fmt.Sprintf("%d (%s)", c.Total, strings.Join(parts, ", "))
}

// humanBytes prints n in binary units with one decimal.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	v, i := float64(n), 0
	for v >= unit && i < 6 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f%ciB", v, "BKMGTPE"[i])
}

// secondsText prints a duration in seconds to a tenth of a second under a minute, to the
// second above.
func secondsText(s float64) string {
	d := time.Duration(s * float64(time.Second))
	if d < time.Minute {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
