package ring

import (
	"fmt"
	"os"
)

// Ring file body, format 1 (used on disk; never reorder):
//
//	version     uint64
//	part power  uint8
//	replicas    uint8
//	hash key    [16]byte
//	ID space    uint32   one more than the highest device ID
//	devices     uint32 count, then each device (see encoder.device)
//	assignment  replicas × 2^part power × uint16 device ID, replica-major

// MarshalBinary encodes the ring in the ring file format.
func (r *Ring) MarshalBinary() ([]byte, error) {
	var e encoder
	e.b = make([]byte, 0, 64+len(r.devs)*64+len(r.assign)*r.PartitionCount()*2)
	e.u64(r.version)
	e.u8(r.partPower)
	e.u8(uint8(len(r.assign)))
	e.bytes(r.key[:])
	encodeDevices(&e, r.devs)
	e.assignment(r.assign)
	return frame(ringMagic, ringFormat, e.b), nil
}

// Save writes the ring to path atomically, readable by its owner only (mode 0600):
// it holds the hash key. The directory must exist.
func (r *Ring) Save(path string) error {
	data, _ := r.MarshalBinary()
	if err := writeFileAtomic(path, data); err != nil {
		return fmt.Errorf("write ring %s: %w", path, err)
	}
	return nil
}

// Load reads a ring file.
func Load(path string) (*Ring, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read ring: %w", err)
	}
	r, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("ring %s: %w", path, err)
	}
	return r, nil
}

// Decode parses a ring file's contents, checking its frame and that every assignment
// names a device.
func Decode(data []byte) (*Ring, error) {
	body, err := unframe(data, ringMagic, ringFormat)
	if err != nil {
		return nil, err
	}
	d := &decoder{b: body}
	version := d.u64()
	partPower := d.u8()
	replicas := int(d.u8())
	var key HashKey
	copy(key[:], d.take(len(key)))
	if d.err == nil {
		if err := checkShape(int(partPower), replicas); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
	}
	devs := decodeDevices(d)
	assign := d.assignment(replicas, 1<<partPower)
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d unread bytes in body", ErrCorrupt, len(d.b))
	}
	if err := checkAssignment(devs, assign); err != nil {
		return nil, err
	}
	return newRing(version, partPower, key, devs, assign), nil
}

// checkShape bounds part power and replicas.
func checkShape(partPower, replicas int) error {
	if partPower < 1 || partPower > MaxPartPower {
		return fmt.Errorf("%w: part power %d out of range 1..%d", ErrInvalid, partPower, MaxPartPower)
	}
	if replicas < 1 || replicas > MaxReplicas {
		return fmt.Errorf("%w: replicas %d out of range 1..%d", ErrInvalid, replicas, MaxReplicas)
	}
	return nil
}

// checkAssignment verifies that every slot names a present device and that no partition
// has one device twice.
func checkAssignment(devs []*Device, assign [][]uint16) error {
	if len(assign) == 0 {
		return nil
	}
	for p := range assign[0] {
		for r, row := range assign {
			id := row[p]
			if int(id) >= len(devs) || devs[id] == nil {
				return fmt.Errorf("%w: partition %d replica %d names device %d, which does not exist", ErrCorrupt, p, r, id)
			}
			for _, other := range assign[:r] {
				if other[p] == id {
					return fmt.Errorf("%w: partition %d has device %d twice", ErrCorrupt, p, id)
				}
			}
		}
	}
	return nil
}

// encodeDevices writes an ID-indexed device table with holes.
func encodeDevices(e *encoder, devs []*Device) {
	e.u32(uint32(len(devs)))
	n := 0
	for _, d := range devs {
		if d != nil {
			n++
		}
	}
	e.u32(uint32(n))
	for _, d := range devs {
		if d != nil {
			e.device(d)
		}
	}
}

func decodeDevices(d *decoder) []*Device {
	space, n := d.u32(), d.u32()
	if d.err != nil {
		return nil
	}
	if space > MaxDevices || n > space {
		d.err = fmt.Errorf("%w: device table of %d in an ID space of %d", ErrCorrupt, n, space)
		return nil
	}
	devs := make([]*Device, space)
	for range n {
		dev := d.device()
		if d.err != nil {
			return nil
		}
		if int(dev.ID) >= len(devs) || devs[dev.ID] != nil {
			d.err = fmt.Errorf("%w: device ID %d out of range or repeated", ErrCorrupt, dev.ID)
			return nil
		}
		if err := dev.validate(); err != nil {
			d.err = fmt.Errorf("%w: device %d: %v", ErrCorrupt, dev.ID, err)
			return nil
		}
		devs[dev.ID] = dev
	}
	return devs
}
