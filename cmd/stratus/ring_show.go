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
			out := struct {
				File           string  `json:"file"`
				Kind           string  `json:"kind"`
				Version        uint64  `json:"version"`
				MinPartHours   int     `json:"min_part_hours"`
				MovableParts   int     `json:"movable_partitions"`
				Overload       float64 `json:"overload"`
				NeedsRebalance bool    `json:"needs_rebalance"`
				ring.Stats
			}{args[0], kind, b.Version(), cfg.MinPartHours, movable, cfg.Overload, b.NeedsRebalance(), st}
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
				Dispersion     float64           `json:"dispersion_pct"`
				OverloadNeeded float64           `json:"overload_needed"`
				Levels         []ring.LevelStats `json:"levels"`
			}{st.Dispersion, st.OverloadNeeded, st.Levels[:]}
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
				Partition ring.Partition `json:"partition"`
				Primaries []devOut       `json:"primaries"`
				Handoffs  []devOut       `json:"handoffs"`
			}{Name: name, Partition: p}
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
			return c.emit(df, func(w io.Writer) {
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
