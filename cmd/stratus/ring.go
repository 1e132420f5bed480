package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"stratus/ring"
)

func init() { register(newRingCmd) }

// ringCLI holds the flags shared by the `stratus ring` subcommands.
type ringCLI struct {
	json bool
	out  io.Writer
	err  io.Writer
}

func newRingCmd() *cobra.Command {
	c := &ringCLI{}
	cmd := &cobra.Command{
		Use:   "ring",
		Short: "Build and inspect rings: where every replica of every object lives",
		Long: `Build and inspect rings, in the manner of swift-ring-builder.

A builder file (e.g. object.builder) holds devices, weights and the assignment history;
'write-ring' produces the ring file (e.g. object.ring) that daemons load. Typical use:

  stratus ring create object.builder 18 3 1
  stratus ring add object.builder r1z1-10.0.0.1:6200/sdb 100 r1z2-10.0.0.2:6200/sdb 100 r1z3-10.0.0.3:6200/sdb 100
  stratus ring rebalance object.builder
  stratus ring show object.builder
  stratus ring write-ring object.builder`,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			c.out, c.err = cmd.OutOrStdout(), cmd.ErrOrStderr()
			return cmd.Root().PersistentPreRunE(cmd, args)
		},
	}
	cmd.PersistentFlags().BoolVar(&c.json, "json", false, "print results as JSON")
	cmd.AddCommand(c.createCmd(), c.addCmd(), c.removeCmd(), c.setWeightCmd(), c.setOverloadCmd(),
		c.setMinPartHoursCmd(), c.rebalanceCmd(), c.showCmd(), c.dispersionCmd(), c.validateCmd(),
		c.writeRingCmd(), c.pretendCmd(), c.lookupCmd(), c.diffCmd(), c.publishCmd())
	return cmd
}

// emit prints v as JSON with --json, or calls text otherwise.
func (c *ringCLI) emit(v any, text func(w io.Writer)) error {
	if c.json {
		enc := json.NewEncoder(c.out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	text(c.out)
	return nil
}

func (c *ringCLI) createCmd() *cobra.Command {
	var overload string
	var force bool
	cmd := &cobra.Command{
		Use:   "create FILE PART_POWER REPLICAS MIN_PART_HOURS",
		Short: "Create a new builder file",
		Args:  cobra.ExactArgs(4),
		RunE: func(cmd *cobra.Command, args []string) error {
			var cfg ring.BuilderConfig
			var err error
			if cfg.PartPower, err = atoiArg("PART_POWER", args[1]); err != nil {
				return err
			}
			if cfg.Replicas, err = atoiArg("REPLICAS", args[2]); err != nil {
				return err
			}
			if cfg.MinPartHours, err = atoiArg("MIN_PART_HOURS", args[3]); err != nil {
				return err
			}
			if cfg.Overload, err = parseOverload(overload); err != nil {
				return err
			}
			if _, err := os.Stat(args[0]); err == nil && !force {
				return fmt.Errorf("%s exists; use --force to replace it", args[0])
			}
			b, err := ring.NewBuilder(cfg)
			if err != nil {
				return err
			}
			if err := b.Save(args[0]); err != nil {
				return err
			}
			out := struct {
				File          string  `json:"file"`
				PartPower     int     `json:"part_power"`
				Partitions    int     `json:"partitions"`
				Replicas      int     `json:"replicas"`
				MinPartHours  int     `json:"min_part_hours"`
				OverloadRatio float64 `json:"overload_ratio"`
			}{args[0], cfg.PartPower, 1 << cfg.PartPower, cfg.Replicas, cfg.MinPartHours, cfg.Overload}
			return c.emit(out, func(w io.Writer) {
				fmt.Fprintf(w, "created %s: %d partitions, %d replicas, min_part_hours %d, overload %s\n",
					args[0], 1<<cfg.PartPower, cfg.Replicas, cfg.MinPartHours, pct(cfg.Overload))
			})
		},
	}
	cmd.Flags().StringVar(&overload, "overload", "0", "overload as a fraction or percentage (0.1 or 10%)")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing file")
	return cmd
}

func (c *ringCLI) addCmd() *cobra.Command {
	var d ring.Device
	var ip string
	var port int
	cmd := &cobra.Command{
		Use:   "add FILE [r<region>z<zone>-<ip>:<port>/<device>[_<meta>] WEIGHT]...",
		Short: "Add devices (positional pairs, or one device from flags)",
		Example: `  stratus ring add object.builder r1z2-10.0.0.1:6200/sdb1 100 r1z2-10.0.0.1:6200/sdc1 100
  stratus ring add object.builder --region 1 --zone 2 --ip 10.0.0.1 --port 6200 --device sdb1 --weight 100`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var devs []ring.Device
			if cmd.Flags().Changed("device") || cmd.Flags().Changed("ip") {
				if len(args) > 1 {
					return errors.New("give devices either as arguments or with flags, not both")
				}
				d.Host = joinHostPort(ip, port)
				devs = append(devs, d)
			} else {
				pairs := args[1:]
				if len(pairs) == 0 || len(pairs)%2 != 0 {
					return errors.New("want DEVICE WEIGHT pairs, e.g. r1z1-10.0.0.1:6200/sdb1 100")
				}
				for i := 0; i < len(pairs); i += 2 {
					dev, err := ring.ParseDevice(pairs[i])
					if err != nil {
						return err
					}
					if dev.Weight, err = parseWeight(pairs[i+1]); err != nil {
						return err
					}
					devs = append(devs, dev)
				}
			}
			return c.edit(args[0], func(b *ring.Builder) (any, func(io.Writer), error) {
				var added []ring.Device
				for _, dev := range devs {
					id, err := b.Add(dev)
					if err != nil {
						return nil, nil, err
					}
					dev.ID = id
					added = append(added, dev)
				}
				return devicesJSON(added), func(w io.Writer) {
					for _, dev := range added {
						fmt.Fprintf(w, "added d%d %s weight %g\n", dev.ID, dev.String(), dev.Weight)
					}
				}, nil
			})
		},
	}
	f := cmd.Flags()
	f.IntVar(&d.Region, "region", 1, "region")
	f.IntVar(&d.Zone, "zone", 1, "zone")
	f.StringVar(&ip, "ip", "", "IP address of the storage node")
	f.IntVar(&port, "port", 6200, "port of the storage node's objectd")
	f.StringVar(&d.Name, "device", "", "device directory name on the node, e.g. sdb1")
	f.Float64Var(&d.Weight, "weight", 100, "weight, usually the size in GiB")
	f.StringVar(&d.Meta, "meta", "", "free-form text")
	return cmd
}

func (c *ringCLI) removeCmd() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "remove FILE SEARCH",
		Short: "Remove devices: the next rebalance moves their replicas away at once",
		Long: `Remove devices matching SEARCH (d<id>, or all or part of r<region>z<zone>-<ip>:<port>/<device>).
The next rebalance moves every replica they hold, ignoring min_part_hours. To drain a device
gradually instead, set its weight to 0.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.edit(args[0], func(b *ring.Builder) (any, func(io.Writer), error) {
				devs, err := c.search(b, args[1], yes)
				if err != nil {
					return nil, nil, err
				}
				for _, d := range devs {
					if err := b.Remove(d.ID); err != nil {
						return nil, nil, err
					}
				}
				return devicesJSON(devs), func(w io.Writer) {
					for _, d := range devs {
						fmt.Fprintf(w, "marked d%d %s for removal\n", d.ID, d.String())
					}
				}, nil
			})
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "allow a search that matches more than one device")
	return cmd
}

func (c *ringCLI) setWeightCmd() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "set-weight FILE SEARCH WEIGHT",
		Short: "Set the weight of devices (0 drains them gradually)",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			weight, err := parseWeight(args[2])
			if err != nil {
				return err
			}
			return c.edit(args[0], func(b *ring.Builder) (any, func(io.Writer), error) {
				devs, err := c.search(b, args[1], yes)
				if err != nil {
					return nil, nil, err
				}
				for i := range devs {
					if err := b.SetWeight(devs[i].ID, weight); err != nil {
						return nil, nil, err
					}
					devs[i].Weight = weight
				}
				return devicesJSON(devs), func(w io.Writer) {
					for _, d := range devs {
						fmt.Fprintf(w, "d%d %s weight %g\n", d.ID, d.String(), weight)
					}
				}, nil
			})
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "allow a search that matches more than one device")
	return cmd
}

func (c *ringCLI) setOverloadCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "set-overload FILE OVERLOAD",
		Short: "Let devices take more than their weight's share (0.1 or 10%) to spread replicas further",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := parseOverload(args[1])
			if err != nil {
				return err
			}
			return c.edit(args[0], func(b *ring.Builder) (any, func(io.Writer), error) {
				if err := b.SetOverload(f); err != nil {
					return nil, nil, err
				}
				out := struct {
					OverloadRatio float64 `json:"overload_ratio"`
				}{f}
				return out, func(w io.Writer) {
					fmt.Fprintf(w, "overload %s; takes effect at the next rebalance\n", pct(f))
				}, nil
			})
		},
	}
}

func (c *ringCLI) setMinPartHoursCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "set-min-part-hours FILE HOURS",
		Short: "Set how long a partition rests after one of its replicas moves",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := atoiArg("HOURS", args[1])
			if err != nil {
				return err
			}
			return c.edit(args[0], func(b *ring.Builder) (any, func(io.Writer), error) {
				if err := b.SetMinPartHours(h); err != nil {
					return nil, nil, err
				}
				out := struct {
					MinPartHours int `json:"min_part_hours"`
				}{h}
				return out, func(w io.Writer) {
					fmt.Fprintf(w, "min_part_hours %d\n", h)
				}, nil
			})
		},
	}
}

func (c *ringCLI) rebalanceCmd() *cobra.Command {
	var seed uint64
	cmd := &cobra.Command{
		Use:   "rebalance FILE",
		Short: "Assign partitions to devices after devices or weights changed",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("seed") {
				seed = rand.Uint64() >> 1 // printed below, so the run can be repeated
			}
			return c.edit(args[0], func(b *ring.Builder) (any, func(io.Writer), error) {
				prog := newProgress(c.err)
				rep, err := b.Rebalance(ring.RebalanceOptions{Seed: seed, Progress: prog.update})
				prog.done()
				if err != nil {
					return nil, nil, err
				}
				return newRebalanceJSON(seed, rep), func(w io.Writer) {
					total := rep.Partitions * rep.Replicas
					fmt.Fprintf(w, "rebalanced to version %d in %v (seed %d)\n", rep.Version, rep.Duration.Round(time.Millisecond), seed)
					fmt.Fprintf(w, "moved %d partition-replicas (%.2f%% of %d); placed %d new\n",
						rep.Moved, 100*float64(rep.Moved)/float64(total), total, rep.Placed)
					fmt.Fprintf(w, "balance %.2f%%, dispersion %.2f%%\n", rep.Balance, rep.Dispersion)
					for _, warn := range rep.Warnings {
						fmt.Fprintf(w, "warning: %s\n", warn)
					}
				}, nil
			})
		},
	}
	cmd.Flags().Uint64Var(&seed, "seed", 0, "seed for a reproducible rebalance (default: random, printed)")
	return cmd
}

func (c *ringCLI) validateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a builder or ring file: format, checksum and placement invariants",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, kind, err := loadAny(args[0])
			if err != nil {
				return err
			}
			if err := b.Check(); err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			st := b.Stats()
			out := struct {
				File            string  `json:"file"`
				Kind            string  `json:"kind"`
				Valid           bool    `json:"valid"`
				Version         uint64  `json:"version"`
				BalanceRatio    float64 `json:"balance_ratio"`
				DispersionRatio float64 `json:"dispersion_ratio"`
			}{args[0], kind, true, b.Version(), st.Balance / 100, st.Dispersion / 100}
			return c.emit(out, func(w io.Writer) {
				fmt.Fprintf(w, "%s: valid %s, version %d, balance %.2f%%, dispersion %.2f%%\n",
					args[0], kind, b.Version(), st.Balance, st.Dispersion)
			})
		},
	}
}

func (c *ringCLI) writeRingCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "write-ring FILE [RING_FILE]",
		Short: "Write the ring file daemons load (default: FILE with .builder replaced by .ring)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := ring.LoadBuilder(args[0])
			if err != nil {
				return err
			}
			out := ringPath(args[0])
			if len(args) == 2 {
				out = args[1]
			}
			r, err := b.Ring()
			if errors.Is(err, ring.ErrNotBalanced) {
				return fmt.Errorf("%s: devices or settings changed since the last rebalance; run 'stratus ring rebalance %s' first", args[0], args[0])
			}
			if err != nil {
				return err
			}
			if err := r.Save(out); err != nil {
				return err
			}
			res := struct {
				File    string `json:"file"`
				Version uint64 `json:"version"`
			}{out, r.Version()}
			return c.emit(res, func(w io.Writer) {
				fmt.Fprintf(w, "wrote %s (version %d)\n", out, r.Version())
			})
		},
	}
}

func (c *ringCLI) publishCmd() *cobra.Command {
	cmd := withMeta(&cobra.Command{
		Use:   "publish RING_FILE",
		Short: "Publish a ring file through meta, where proxies (and later nodes) adopt it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := ring.Load(args[0])
			if err != nil {
				return err
			}
			mc, err := metaClient(cmd)
			if err != nil {
				return err
			}
			defer mc.Close()
			name, _ := cmd.Flags().GetString("ring")
			if err := checkRingForPolicies(cmd, mc, name, r.Replicas()); err != nil {
				return err
			}
			cur, _, err := mc.Ring(cmd.Context(), name)
			if err == nil && cur.Version >= r.Version() {
				return fmt.Errorf("meta already has ring version %d; %s is version %d", cur.Version, args[0], r.Version())
			}
			if err := publishRingAs(cmd.Context(), mc, name, r); err != nil {
				return err
			}
			out := struct {
				Version uint64 `json:"version"`
			}{r.Version()}
			return c.emit(out, func(w io.Writer) {
				fmt.Fprintf(w, "published ring version %d\n", r.Version())
			})
		},
	})
	cmd.Flags().String("ring", objectPolicy, "the ring's name in meta: a storage policy's ring (see stratus policy list)")
	return cmd
}

func (c *ringCLI) pretendCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "pretend-min-part-hours-passed FILE",
		Short: "Let the next rebalance move any partition (risky while replication is catching up)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.edit(args[0], func(b *ring.Builder) (any, func(io.Writer), error) {
				b.PretendMinPartHoursPassed()
				out := struct {
					Reset bool `json:"reset"`
				}{true}
				return out, func(w io.Writer) {
					fmt.Fprintln(w, "every partition may move at the next rebalance")
				}, nil
			})
		},
	}
}

// edit loads a builder, applies fn and saves it back atomically only if fn succeeds.
func (c *ringCLI) edit(path string, fn func(*ring.Builder) (any, func(io.Writer), error)) error {
	b, err := ring.LoadBuilder(path)
	if err != nil {
		return err
	}
	v, text, err := fn(b)
	if err != nil {
		return err
	}
	if err := b.Save(path); err != nil {
		return err
	}
	return c.emit(v, text)
}

// search resolves a device search; more than one match needs --yes.
func (c *ringCLI) search(b *ring.Builder, s string, many bool) ([]ring.Device, error) {
	ids, err := b.Search(s)
	if err != nil {
		return nil, err
	}
	if len(ids) > 1 && !many {
		return nil, fmt.Errorf("%q matches %d devices; repeat with --yes to change them all", s, len(ids))
	}
	devs := make([]ring.Device, len(ids))
	for i, id := range ids {
		if devs[i], err = b.Device(id); err != nil {
			return nil, err
		}
	}
	return devs, nil
}

// loadAny reads a builder file, or a ring file as a builder, and says which it was.
func loadAny(path string) (*ring.Builder, string, error) {
	b, err := ring.LoadBuilder(path)
	if err == nil {
		return b, "builder", nil
	}
	if !errors.Is(err, ring.ErrFormat) {
		return nil, "", err
	}
	r, rerr := ring.Load(path)
	if rerr != nil {
		if errors.Is(rerr, ring.ErrFormat) {
			return nil, "", err
		}
		return nil, "", rerr
	}
	b, err = ring.FromRing(r, 0)
	return b, "ring", err
}

// loadRing reads a ring file, or builds the ring of a builder file.
func loadRing(path string) (*ring.Ring, error) {
	r, err := ring.Load(path)
	if err == nil || !errors.Is(err, ring.ErrFormat) {
		return r, err
	}
	b, berr := ring.LoadBuilder(path)
	if berr != nil {
		return nil, err
	}
	r, err = b.Ring()
	if errors.Is(err, ring.ErrNotBalanced) {
		return nil, fmt.Errorf("%s: not rebalanced since its last change", path)
	}
	return r, err
}

func ringPath(builder string) string {
	if base, ok := strings.CutSuffix(builder, ".builder"); ok {
		return base + ".ring"
	}
	return builder + ".ring"
}

func atoiArg(name, s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a whole number", name, s)
	}
	return n, nil
}

func parseWeight(s string) (float64, error) {
	w, err := strconv.ParseFloat(s, 64)
	if err != nil || !(w >= 0) {
		return 0, fmt.Errorf("weight %q must be a number ≥ 0", s)
	}
	return w, nil
}

// parseOverload reads "0.1" or "10%".
func parseOverload(s string) (float64, error) {
	p, isPct := strings.CutSuffix(s, "%")
	f, err := strconv.ParseFloat(p, 64)
	if err != nil {
		return 0, fmt.Errorf("overload %q must be a fraction like 0.1 or a percentage like 10%%", s)
	}
	if isPct {
		f /= 100
	}
	return f, nil
}

func pct(f float64) string { return strconv.FormatFloat(100*f, 'f', -1, 64) + "%" }

func joinHostPort(ip string, port int) string {
	if strings.Contains(ip, ":") {
		return "[" + ip + "]:" + strconv.Itoa(port)
	}
	return ip + ":" + strconv.Itoa(port)
}

// progress shows a rebalance's progress on a terminal once it has run for a second.
type progress struct {
	w     io.Writer
	tty   bool
	start time.Time
	shown bool
}

func newProgress(w io.Writer) *progress {
	f, ok := w.(*os.File)
	return &progress{w: w, tty: ok && term.IsTerminal(int(f.Fd())), start: time.Now()}
}

func (p *progress) update(stage string, done, total int) {
	if !p.tty || time.Since(p.start) < time.Second || total == 0 {
		return
	}
	p.shown = true
	fmt.Fprintf(p.w, "\r%-8s %3d%%  %v ", stage, 100*done/total, time.Since(p.start).Round(100*time.Millisecond))
}

func (p *progress) done() {
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
