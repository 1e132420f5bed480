package ring

import (
	"encoding/binary"
	"fmt"
	"os"
)

// Builder file body, format 1 (used on disk; never reorder):
//
//	part power      uint8
//	replicas        uint8
//	min part hours  uint32
//	overload        float64
//	hash key        [16]byte
//	version         uint64
//	changed         uint8    1 if devices changed since the last rebalance
//	devices         as in the ring file
//	removing        uint32 count, then that many uint32 device IDs
//	has assignment  uint8, then the assignment as in the ring file (0xFFFF = none)
//	last moved      2^part power × uint32 Unix seconds

// MarshalBinary encodes the builder in the builder file format.
func (b *Builder) MarshalBinary() ([]byte, error) {
	parts := 1 << b.cfg.PartPower
	var e encoder
	e.b = make([]byte, 0, 128+len(b.devs)*64+(len(b.assign)*2+4)*parts)
	e.u8(uint8(b.cfg.PartPower))
	e.u8(uint8(b.cfg.Replicas))
	e.u32(uint32(b.cfg.MinPartHours))
	e.f64(b.cfg.Overload)
	e.bytes(b.key[:])
	e.u64(b.version)
	e.u8(boolByte(b.changed))
	encodeDevices(&e, b.devs)
	var removing []uint32
	for id, r := range b.removing {
		if r {
			removing = append(removing, uint32(id))
		}
	}
	e.u32(uint32(len(removing)))
	for _, id := range removing {
		e.u32(id)
	}
	e.u8(boolByte(b.assign != nil))
	e.assignment(b.assign)
	for _, t := range b.lastMoved {
		e.u32(t)
	}
	return frame(builderMagic, builderFormat, e.b), nil
}

// Save writes the builder to path atomically, readable by its owner only (mode 0600):
// it holds the hash key. The directory must exist.
func (b *Builder) Save(path string) error {
	data, _ := b.MarshalBinary()
	if err := writeFileAtomic(path, data); err != nil {
		return fmt.Errorf("write builder %s: %w", path, err)
	}
	return nil
}

// LoadBuilder reads a builder file.
func LoadBuilder(path string) (*Builder, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read builder: %w", err)
	}
	b, err := DecodeBuilder(data)
	if err != nil {
		return nil, fmt.Errorf("builder %s: %w", path, err)
	}
	return b, nil
}

// DecodeBuilder parses a builder file's contents.
func DecodeBuilder(data []byte) (*Builder, error) {
	body, err := unframe(data, builderMagic, builderFormat)
	if err != nil {
		return nil, err
	}
	d := &decoder{b: body}
	b := &Builder{}
	b.cfg.PartPower = int(d.u8())
	b.cfg.Replicas = int(d.u8())
	b.cfg.MinPartHours = int(d.u32())
	b.cfg.Overload = d.f64()
	copy(b.key[:], d.take(len(b.key)))
	b.version = d.u64()
	b.changed = d.u8() != 0
	if d.err == nil {
		if err := b.cfg.Validate(); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
	}
	b.devs = decodeDevices(d)
	b.removing = make([]bool, len(b.devs))
	for range d.u32() {
		id := d.u32()
		if d.err != nil {
			break
		}
		if int(id) >= len(b.devs) || b.devs[id] == nil {
			return nil, fmt.Errorf("%w: removing device %d, which does not exist", ErrCorrupt, id)
		}
		b.removing[id] = true
	}
	parts := 1 << b.cfg.PartPower
	if d.u8() != 0 {
		b.assign = d.assignment(b.cfg.Replicas, parts)
	}
	raw := d.take(4 * parts)
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d unread bytes in body", ErrCorrupt, len(d.b))
	}
	b.lastMoved = make([]uint32, parts)
	for p := range b.lastMoved {
		b.lastMoved[p] = binary.LittleEndian.Uint32(raw[4*p:])
	}
	for r, row := range b.assign {
		for p, id := range row {
			if id != unassigned && (int(id) >= len(b.devs) || b.devs[id] == nil) {
				return nil, fmt.Errorf("%w: partition %d replica %d names device %d, which does not exist", ErrCorrupt, p, r, id)
			}
		}
	}
	return b, nil
}

func boolByte(v bool) uint8 {
	if v {
		return 1
	}
	return 0
}
