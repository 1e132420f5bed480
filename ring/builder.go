package ring

import (
	"crypto/rand"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// BuilderConfig is the shape of a ring, fixed when the builder is created.
type BuilderConfig struct {
	// PartPower is log2 of the partition count, 1..24. More partitions spread data more
	// evenly over many devices but make the ring larger; aim for at least 100 partitions
	// per device at the largest size the cluster will reach, since it cannot change later.
	PartPower int
	// Replicas is how many devices hold each partition.
	Replicas int
	// MinPartHours is how long after one replica of a partition moves before another
	// replica of the same partition may move, so that while data is in flight at least
	// R-1 replicas stay where readers expect them. Set it longer than a replication pass.
	MinPartHours int
	// Overload lets a device take more than its weight's share, as a fraction (0.1 is 10%),
	// when that spreads replicas over more failure domains. Zero makes balance win every
	// conflict with dispersion.
	Overload float64
}

// Validate reports what is wrong with the configuration, naming the field and the bound.
func (c BuilderConfig) Validate() error {
	if err := checkShape(c.PartPower, c.Replicas); err != nil {
		return err
	}
	if c.MinPartHours < 0 || c.MinPartHours > 24*365 {
		return fmt.Errorf("%w: min_part_hours %d out of range 0..8760", ErrInvalid, c.MinPartHours)
	}
	if !(c.Overload >= 0) || c.Overload > 100 {
		return fmt.Errorf("%w: overload %v out of range 0..100", ErrInvalid, c.Overload)
	}
	return nil
}

// Builder holds a ring under construction: devices and weights as the operator set them,
// the last rebalanced assignment, and when each partition last moved. It is not safe for
// concurrent use.
type Builder struct {
	cfg     BuilderConfig
	key     HashKey
	version uint64
	// devs is indexed by DeviceID; nil where the ID is free.
	devs []*Device
	// removing marks devices whose replicas the next rebalance moves away before
	// dropping them.
	removing []bool
	// assign[r][p] is the device of replica r of partition p, or unassigned; nil before
	// the first rebalance.
	assign [][]uint16
	// lastMoved[p] is when a replica of p last moved, in Unix seconds; zero if never.
	lastMoved []uint32
	// changed reports whether devices changed since the last rebalance.
	changed bool
}

// NewBuilder returns an empty builder with a fresh random hash key.
func NewBuilder(cfg BuilderConfig) (*Builder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := &Builder{cfg: cfg, lastMoved: make([]uint32, 1<<cfg.PartPower)}
	rand.Read(b.key[:])
	return b, nil
}

// Config returns the builder's configuration.
func (b *Builder) Config() BuilderConfig { return b.cfg }

// Version is the version the ring of the last rebalance carries.
func (b *Builder) Version() uint64 { return b.version }

// HashKey returns the key of the partition hash.
func (b *Builder) HashKey() HashKey { return b.key }

// SetHashKey replaces the partition hash key; it is allowed only before the first
// rebalance, since every object would change partition.
func (b *Builder) SetHashKey(k HashKey) error {
	if b.assign != nil {
		return fmt.Errorf("%w: the hash key cannot change after the first rebalance", ErrInvalid)
	}
	b.key = k
	return nil
}

// SetMinPartHours changes min_part_hours.
func (b *Builder) SetMinPartHours(h int) error {
	cfg := b.cfg
	cfg.MinPartHours = h
	if err := cfg.Validate(); err != nil {
		return err
	}
	b.cfg = cfg
	return nil
}

// SetOverload changes the overload; it takes effect at the next rebalance.
func (b *Builder) SetOverload(f float64) error {
	cfg := b.cfg
	cfg.Overload = f
	if err := cfg.Validate(); err != nil {
		return err
	}
	b.cfg, b.changed = cfg, true
	return nil
}

// Add adds a device and returns its ID, the lowest free one. The device's ID field is
// ignored.
func (b *Builder) Add(d Device) (DeviceID, error) {
	if err := d.validate(); err != nil {
		return 0, err
	}
	for _, o := range b.devs {
		if o != nil && o.Host == d.Host && o.Name == d.Name {
			return 0, fmt.Errorf("%w: %s is already device %d", ErrDuplicateDevice, d.Host+"/"+d.Name, o.ID)
		}
	}
	id := slices.Index(b.devs, nil)
	if id < 0 {
		if len(b.devs) >= MaxDevices {
			return 0, fmt.Errorf("%w: a ring holds at most %d devices", ErrInvalid, MaxDevices)
		}
		id = len(b.devs)
		b.devs = append(b.devs, nil)
		b.removing = append(b.removing, false)
	}
	d.ID = DeviceID(id)
	b.devs[id] = &d
	b.changed = true
	return d.ID, nil
}

// Remove marks a device for removal: the next rebalance moves its replicas to other
// devices at once (ignoring min_part_hours, since the device is going away) and drops it.
// To empty a device gradually, set its weight to zero instead.
func (b *Builder) Remove(id DeviceID) error {
	if _, err := b.device(id); err != nil {
		return err
	}
	b.removing[id] = true
	b.changed = true
	return nil
}

// SetWeight changes a device's weight.
func (b *Builder) SetWeight(id DeviceID, weight float64) error {
	d, err := b.device(id)
	if err != nil {
		return err
	}
	nd := *d
	nd.Weight = weight
	if err := nd.validate(); err != nil {
		return err
	}
	d.Weight = weight
	b.changed = true
	return nil
}

// SetMeta changes a device's free-form meta.
func (b *Builder) SetMeta(id DeviceID, meta string) error {
	d, err := b.device(id)
	if err != nil {
		return err
	}
	nd := *d
	nd.Meta = meta
	if err := nd.validate(); err != nil {
		return err
	}
	d.Meta = meta
	return nil
}

func (b *Builder) device(id DeviceID) (*Device, error) {
	if int(id) >= len(b.devs) || b.devs[id] == nil || b.removing[id] {
		return nil, fmt.Errorf("%w: d%d", ErrNoDevice, id)
	}
	return b.devs[id], nil
}

// Device returns a copy of the device with the given ID.
func (b *Builder) Device(id DeviceID) (Device, error) {
	d, err := b.device(id)
	if err != nil {
		return Device{}, err
	}
	return *d, nil
}

// Devices returns copies of the builder's devices in ID order, without those marked for
// removal.
func (b *Builder) Devices() []Device {
	var out []Device
	for id, d := range b.devs {
		if d != nil && !b.removing[id] {
			out = append(out, *d)
		}
	}
	return out
}

// Search returns the IDs of the devices that match a search: "d<id>", or any part of the
// device form "r<region>z<zone>-<ip>:<port>/<device>" — "r1", "r1z2", "z2",
// "10.0.0.1", "10.0.0.1:6200", "/sdb1", "10.0.0.1/sdb1", or the whole form.
func (b *Builder) Search(s string) ([]DeviceID, error) {
	if s == "" {
		return nil, fmt.Errorf("%w: empty device search", ErrInvalid)
	}
	match, err := parseSearch(s)
	if err != nil {
		return nil, err
	}
	var ids []DeviceID
	for _, d := range b.Devices() {
		if match(&d) {
			ids = append(ids, d.ID)
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: nothing matches %q", ErrNoDevice, s)
	}
	return ids, nil
}

// parseSearch turns a search into a predicate.
func parseSearch(s string) (func(*Device) bool, error) {
	bad := fmt.Errorf("%w: device search %q (want d<id>, r<region>z<zone>-<ip>:<port>/<device> or a part of it)", ErrInvalid, s)
	if rest, ok := strings.CutPrefix(s, "d"); ok && rest != "" && strings.Trim(rest, "0123456789") == "" {
		var id DeviceID
		if _, err := fmt.Sscan(rest, &id); err != nil {
			return nil, bad
		}
		return func(d *Device) bool { return d.ID == id }, nil
	}
	region, zone := -1, -1
	rest := s
	if strings.HasPrefix(rest, "r") {
		i := strings.IndexAny(rest, "z-")
		if i < 0 {
			i = len(rest)
		}
		if _, err := fmt.Sscan(rest[1:i], &region); err != nil {
			return nil, bad
		}
		rest = rest[i:]
	}
	if strings.HasPrefix(rest, "z") {
		i := strings.IndexByte(rest, '-')
		if i < 0 {
			i = len(rest)
		}
		if _, err := fmt.Sscan(rest[1:i], &zone); err != nil {
			return nil, bad
		}
		rest = rest[i:]
	}
	rest = strings.TrimPrefix(rest, "-")
	host, name, hasName := strings.Cut(rest, "/")
	return func(d *Device) bool {
		switch {
		case region >= 0 && d.Region != region, zone >= 0 && d.Zone != zone:
			return false
		case hasName && d.Name != name:
			return false
		case host == "":
			return true
		case strings.Contains(host, ":") && !strings.HasPrefix(host, "["):
			return d.Host == host
		default:
			return d.Host == host || d.IP() == strings.Trim(host, "[]")
		}
	}, nil
}

// PretendMinPartHoursPassed forgets when partitions last moved, so the next rebalance may
// move any of them. It is for tests and emergencies: moving a second replica of a
// partition while the first is still being copied leaves fewer than R-1 readable copies.
func (b *Builder) PretendMinPartHoursPassed() {
	clear(b.lastMoved)
}

// movable reports whether a replica of p may move at now.
func (b *Builder) movable(p int, now uint32) bool {
	last := b.lastMoved[p]
	return last == 0 || int64(now)-int64(last) >= int64(b.cfg.MinPartHours)*3600
}

// Ring returns the ring of the last rebalance. It fails with ErrNotBalanced if there has
// been none, or if devices changed since, so a ring is never written that does not match
// the builder the operator sees.
func (b *Builder) Ring() (*Ring, error) {
	if b.assign == nil || b.changed {
		return nil, ErrNotBalanced
	}
	devs := make([]*Device, len(b.devs))
	for id, d := range b.devs {
		if d != nil {
			c := *d
			devs[id] = &c
		}
	}
	assign := make([][]uint16, len(b.assign))
	for r, row := range b.assign {
		assign[r] = slices.Clone(row)
	}
	return newRing(b.version, uint8(b.cfg.PartPower), b.key, devs, assign), nil
}

// unixSeconds converts t for lastMoved; it saturates instead of wrapping.
func unixSeconds(t time.Time) uint32 {
	s := t.Unix()
	return uint32(max(1, min(s, math.MaxUint32)))
}

// NeedsRebalance reports whether devices or settings changed since the last rebalance (or
// there has been none).
func (b *Builder) NeedsRebalance() bool { return b.assign == nil || b.changed }

// MovablePartitions counts the partitions min_part_hours lets move at now.
func (b *Builder) MovablePartitions(now time.Time) int {
	t, n := unixSeconds(now), 0
	for p := range b.lastMoved {
		if b.movable(p, t) {
			n++
		}
	}
	return n
}
