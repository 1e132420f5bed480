package main

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"stratus/ring"
)

func (c *ringCLI) showCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show FILE",
		Short: "Show devices, partitions per device, balance and dispersion",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, kind, err := loadAny(args[0])
			if err != nil {
				return err
			}
			cfg, st := b.Config(), b.Stats()
			movable := b.MovablePartitions(time.Now())
			out := showJSON{args[0], kind, b.Version(), cfg.MinPartHours, movable, cfg.Overload, b.NeedsRebalance(), newStatsJSON(st)}
			return c.emit(out, func(w io.Writer) {
				fmt.Fprintf(w, "%s: %s version %d\n", args[0], kind, b.Version())
				fmt.Fprintf(w, "%d partitions, %d replicas, %d regions, %d zones, %d hosts, %d devices\n",
					st.Partitions, st.Replicas, st.Levels[0].Domains, st.Levels[1].Domains, st.Levels[2].Domains, len(st.Devices))
				fmt.Fprintf(w, "balance %.2f%%, dispersion %.2f%%, overload %s%s\n", st.Balance, st.Dispersion, pct(cfg.Overload), overloadNote(st))
				fmt.Fprintf(w, "min_part_hours %d: %d of %d partitions may move now\n", cfg.MinPartHours, movable, st.Partitions)
				if out.NeedsRebalance {
					fmt.Fprintln(w, "devices or settings changed since the last rebalance: run rebalance before write-ring")
				}
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
				fmt.Fprintln(tw, "id\tregion\tzone\thost\tdevice\tweight\tparts\twanted\tbalance\tmeta\t")
				for _, d := range st.Devices {
					fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t%s\t%.2f\t%d\t%.1f\t%s\t%s\t\n",
						d.ID, d.Region, d.Zone, d.Host, d.Name, d.Weight, d.Parts, d.Wanted, balanceText(d.Balance), d.Meta)
				}
				tw.Flush()
			})
		},
	}
}

func overloadNote(st ring.Stats) string {
	switch {
	case st.OverloadNeeded < 0:
		return " (full dispersion needs more failure domains)"
	case st.OverloadNeeded > 1e-9:
		return fmt.Sprintf(" (full dispersion needs %.2f%%)", 100*st.OverloadNeeded)
	}
	return ""
}

func balanceText(b float64) string {
	if math.IsInf(b, 1) {
		return "drain"
	}
	return fmt.Sprintf("%.2f", b)
}

func (c *ringCLI) dispersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "dispersion FILE",
		Short: "Show how replicas spread over regions, zones, hosts and devices",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, _, err := loadAny(args[0])
			if err != nil {
				return err
			}
			st := b.Stats()
			out := struct {
				DispersionRatio     float64     `json:"dispersion_ratio"`
				OverloadNeededRatio *float64    `json:"overload_needed_ratio"`
				Levels              []levelJSON `json:"levels"`
			}{st.Dispersion / 100, overloadNeeded(st), levelsJSON(st)}
			return c.emit(out, func(w io.Writer) {
				fmt.Fprintf(w, "dispersion %.2f%%: partitions placed worse than the weights and overload allow\n", st.Dispersion)
				if note := overloadNote(st); note != "" {
					fmt.Fprintf(w, "weights and failure domains conflict%s\n", note)
				}
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
				fmt.Fprintln(tw, "level\tdomains\tunderspread partitions\t%\t")
				for _, l := range st.Levels {
					fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f\t\n", l.Name, l.Domains, l.Underspread, 100*float64(l.Underspread)/float64(st.Partitions))
				}
				tw.Flush()
				fmt.Fprintln(w, "underspread: replicas in fewer distinct domains than min(replicas, domains)")
			})
		},
	}
}

func (c *ringCLI) lookupCmd() *cobra.Command {
	var handoffs int
	cmd := &cobra.Command{
		Use:   "lookup FILE BUCKET/KEY",
		Short: "Show the partition, primaries and first handoffs of an object",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := loadRing(args[0])
			if err != nil {
				return err
			}
			name := args[1]
			p := r.Partition(name)
			type devOut struct {
				ID     ring.DeviceID `json:"id"`
				Device string        `json:"device"`
			}
			out := struct {
				Name      string         `json:"name"`
				Version   uint64         `json:"version"`
				Partition ring.Partition `json:"partition"`
				Primaries []devOut       `json:"primaries"`
				Handoffs  []devOut       `json:"handoffs"`
			}{Name: name, Version: r.Version(), Partition: p, Handoffs: []devOut{}}
			for _, d := range r.Primaries(p, nil) {
				out.Primaries = append(out.Primaries, devOut{d.ID, d.String()})
			}
			for d := range r.Handoffs(p) {
				if len(out.Handoffs) == handoffs {
					break
				}
				out.Handoffs = append(out.Handoffs, devOut{d.ID, d.String()})
			}
			return c.emit(out, func(w io.Writer) {
				fmt.Fprintf(w, "%s: partition %d (ring version %d)\n", name, p, r.Version())
				for _, d := range out.Primaries {
					fmt.Fprintf(w, "  primary  d%-5d %s\n", d.ID, d.Device)
				}
				for _, d := range out.Handoffs {
					fmt.Fprintf(w, "  handoff  d%-5d %s\n", d.ID, d.Device)
				}
			})
		},
	}
	cmd.Flags().IntVar(&handoffs, "handoffs", 3, "how many handoffs to show")
	return cmd
}

func (c *ringCLI) diffCmd() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "diff OLD NEW",
		Short: "Show how many partition-replicas move between two rings, per device and in total",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := loadRing(args[0])
			if err != nil {
				return err
			}
			b, err := loadRing(args[1])
			if err != nil {
				return err
			}
			df, err := ring.Compare(a, b)
			if err != nil {
				return err
			}
			return c.emit(newDiffJSON(df), func(w io.Writer) {
				fmt.Fprintf(w, "version %d → %d: %d of %d partition-replicas move (%.3f%% of the data)\n",
					df.OldVersion, df.NewVersion, df.Moved, df.Total, 100*df.Fraction)
				fmt.Fprintf(w, "%d partitions change; at most %d replica(s) of one partition move at once\n",
					df.PartitionsChanged, df.MaxMovedInPartition)
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
				fmt.Fprintln(tw, "host\tdevice\told parts\tnew parts\tgained\tlost\t")
				shown := 0
				for _, d := range df.Devices {
					if d.Gained+d.Lost == 0 || (!all && shown == 20) {
						continue
					}
					shown++
					fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t+%d\t-%d\t\n", d.Host, d.Name, d.OldParts, d.NewParts, d.Gained, d.Lost)
				}
				tw.Flush()
				if hidden := countChanged(df) - shown; hidden > 0 {
					fmt.Fprintf(w, "… and %d more devices (--all shows them)\n", hidden)
				}
			})
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "list every device that changes, not just the first 20")
	return cmd
}

func countChanged(df *ring.Diff) int {
	n := 0
	for _, d := range df.Devices {
		if d.Gained+d.Lost > 0 {
			n++
		}
	}
	return n
}

// The --json output of every ring command follows one convention (STYLE.md §7): snake_case
// keys, each set by a tag below; ratios as fractions named _ratio and durations named
// _seconds; and no value JSON cannot hold: a ratio that is undefined is null. The ring
// package's types carry no JSON tags (its Stats are in percent, with +Inf for a drained
// device that still holds data), so these types are the one place the schema is decided.
// docs/ring.md documents it; keep the two in step.

// deviceJSON is one device, as add, remove, set-weight and show print it.
type deviceJSON struct {
	ID     ring.DeviceID `json:"id"`
	Region int           `json:"region"`
	Zone   int           `json:"zone"`
	Host   string        `json:"host"`
	Name   string        `json:"name"`
	Weight float64       `json:"weight"`
	Meta   string        `json:"meta"`
}

func newDeviceJSON(d ring.Device) deviceJSON {
	return deviceJSON{d.ID, d.Region, d.Zone, d.Host, d.Name, d.Weight, d.Meta}
}

func devicesJSON(devs []ring.Device) []deviceJSON {
	out := make([]deviceJSON, len(devs))
	for i, d := range devs {
		out[i] = newDeviceJSON(d)
	}
	return out
}

// deviceStatsJSON is one device's line of statsJSON.
type deviceStatsJSON struct {
	deviceJSON
	// Parts is the partition-replicas the device holds, PartsWanted what its weight
	// asks for.
	Parts       int     `json:"parts"`
	PartsWanted float64 `json:"parts_wanted"`
	// BalanceRatio is (parts - parts_wanted) / parts_wanted, or null when parts_wanted
	// is 0 (weight 0): a device with no share cannot be off by a fraction of it, and its
	// parts say how much it has left to drain.
	BalanceRatio *float64 `json:"balance_ratio"`
}

// levelJSON is one failure-domain level: how many domains it has, and how many
// partitions use fewer of them than min(replicas, domains).
type levelJSON struct {
	Name                  string `json:"name"`
	Domains               int    `json:"domains"`
	UnderspreadPartitions int    `json:"underspread_partitions"`
}

func levelsJSON(st ring.Stats) []levelJSON {
	out := make([]levelJSON, len(st.Levels))
	for i, l := range st.Levels {
		out[i] = levelJSON{l.Name, l.Domains, l.Underspread}
	}
	return out
}

// statsJSON is ring.Stats in the JSON convention.
type statsJSON struct {
	Partitions int `json:"partitions"`
	Replicas   int `json:"replicas"`
	// BalanceRatio is the worst |balance_ratio| among devices of positive weight.
	BalanceRatio float64 `json:"balance_ratio"`
	// DispersionRatio is the share of partitions placed worse than the plan allows.
	DispersionRatio float64 `json:"dispersion_ratio"`
	// OverloadNeededRatio is the overload that would spread every partition over as
	// many failure domains as exist, or null when no overload can (too few devices).
	OverloadNeededRatio *float64          `json:"overload_needed_ratio"`
	Levels              []levelJSON       `json:"levels"`
	Devices             []deviceStatsJSON `json:"devices"`
}

func newStatsJSON(st ring.Stats) statsJSON {
	out := statsJSON{
		Partitions:          st.Partitions,
		Replicas:            st.Replicas,
		BalanceRatio:        st.Balance / 100,
		DispersionRatio:     st.Dispersion / 100,
		OverloadNeededRatio: overloadNeeded(st),
		Levels:              levelsJSON(st),
		Devices:             make([]deviceStatsJSON, len(st.Devices)),
	}
	for i, d := range st.Devices {
		ds := deviceStatsJSON{deviceJSON: newDeviceJSON(d.Device), Parts: d.Parts, PartsWanted: d.Wanted}
		if d.Wanted > 0 {
			b := (float64(d.Parts) - d.Wanted) / d.Wanted
			ds.BalanceRatio = &b
		}
		out.Devices[i] = ds
	}
	return out
}

// overloadNeeded turns Stats.OverloadNeeded's -1 ("no overload can") into null.
func overloadNeeded(st ring.Stats) *float64 {
	if st.OverloadNeeded < 0 {
		return nil
	}
	v := st.OverloadNeeded
	return &v
}

// showJSON is what `ring show --json` prints.
type showJSON struct {
	File              string  `json:"file"`
	Kind              string  `json:"kind"`
	Version           uint64  `json:"version"`
	MinPartHours      int     `json:"min_part_hours"`
	MovablePartitions int     `json:"movable_partitions"`
	OverloadRatio     float64 `json:"overload_ratio"`
	NeedsRebalance    bool    `json:"needs_rebalance"`
	statsJSON
}

// rebalanceJSON is what `ring rebalance --json` prints.
type rebalanceJSON struct {
	Seed    uint64 `json:"seed"`
	Version uint64 `json:"version"`
	// Moved, Placed and Pinned count partition-replicas, as ring.Report does.
	Moved           int      `json:"moved"`
	Placed          int      `json:"placed"`
	Pinned          int      `json:"pinned"`
	DurationSeconds float64  `json:"duration_seconds"`
	Warnings        []string `json:"warnings"`
	statsJSON
}

func newRebalanceJSON(seed uint64, rep *ring.Report) rebalanceJSON {
	return rebalanceJSON{
		Seed: seed, Version: rep.Version, Moved: rep.Moved, Placed: rep.Placed, Pinned: rep.Pinned,
		DurationSeconds: rep.Duration.Seconds(),
		Warnings:        append([]string{}, rep.Warnings...), // [] rather than null
		statsJSON:       newStatsJSON(rep.Stats),
	}
}

// diffJSON is what `ring diff --json` prints.
type diffJSON struct {
	OldVersion uint64 `json:"old_version"`
	NewVersion uint64 `json:"new_version"`
	Moved      int    `json:"moved"`
	Total      int    `json:"total"`
	// MovedRatio is moved/total: the share of the data that will be copied.
	MovedRatio          float64          `json:"moved_ratio"`
	PartitionsChanged   int              `json:"partitions_changed"`
	MaxMovedInPartition int              `json:"max_moved_in_partition"`
	Devices             []deviceDiffJSON `json:"devices"`
}

type deviceDiffJSON struct {
	Host     string `json:"host"`
	Name     string `json:"name"`
	OldParts int    `json:"old_parts"`
	NewParts int    `json:"new_parts"`
	Gained   int    `json:"gained"`
	Lost     int    `json:"lost"`
}

func newDiffJSON(df *ring.Diff) diffJSON {
	out := diffJSON{df.OldVersion, df.NewVersion, df.Moved, df.Total, df.Fraction,
		df.PartitionsChanged, df.MaxMovedInPartition, make([]deviceDiffJSON, len(df.Devices))}
	for i, d := range df.Devices {
		out.Devices[i] = deviceDiffJSON{d.Host, d.Name, d.OldParts, d.NewParts, d.Gained, d.Lost}
	}
	return out
}
