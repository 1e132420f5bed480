package ring

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
)

// Both file kinds share one frame, little-endian (used on disk; never reorder):
//
//	magic        [8]byte  "STRRING\x00" (ring) or "STRBLDR\x00" (builder)
//	format       uint16   version of the body layout
//	reserved     uint16   zero
//	body length  uint64
//	body         [body length]byte
//	crc32c       uint32   Castagnoli CRC of everything before it
//
// The length makes truncation its own error; the CRC catches every other change.
const (
	frameHeader = 8 + 2 + 2 + 8
	frameTail   = 4

	ringFormat    = 1
	builderFormat = 1
)

var (
	ringMagic    = [8]byte{'S', 'T', 'R', 'R', 'I', 'N', 'G', 0}
	builderMagic = [8]byte{'S', 'T', 'R', 'B', 'L', 'D', 'R', 0}
	castagnoli   = crc32.MakeTable(crc32.Castagnoli)
)

// frame wraps body in the header and checksum.
func frame(magic [8]byte, format uint16, body []byte) []byte {
	out := make([]byte, 0, frameHeader+len(body)+frameTail)
	out = append(out, magic[:]...)
	out = binary.LittleEndian.AppendUint16(out, format)
	out = binary.LittleEndian.AppendUint16(out, 0)
	out = binary.LittleEndian.AppendUint64(out, uint64(len(body)))
	out = append(out, body...)
	return binary.LittleEndian.AppendUint32(out, crc32.Checksum(out, castagnoli))
}

// unframe checks the frame and returns its body.
func unframe(data []byte, magic [8]byte, format uint16) ([]byte, error) {
	if len(data) < 8 || [8]byte(data[:8]) != magic {
		other := builderMagic
		if magic == builderMagic {
			other = ringMagic
		}
		if len(data) >= 8 && [8]byte(data[:8]) == other {
			return nil, fmt.Errorf("%w: this is a %s file, not a %s file", ErrFormat, kindOf(other), kindOf(magic))
		}
		return nil, fmt.Errorf("%w: not a %s file", ErrFormat, kindOf(magic))
	}
	if len(data) < frameHeader+frameTail {
		return nil, fmt.Errorf("%w: truncated header (%d bytes)", ErrCorrupt, len(data))
	}
	if v := binary.LittleEndian.Uint16(data[8:]); v != format {
		return nil, fmt.Errorf("%w: %s format version %d, this build reads %d", ErrFormat, kindOf(magic), v, format)
	}
	n := binary.LittleEndian.Uint64(data[12:])
	if want := uint64(len(data) - frameHeader - frameTail); n != want {
		if n > want {
			return nil, fmt.Errorf("%w: truncated: body is %d bytes, header says %d", ErrCorrupt, want, n)
		}
		return nil, fmt.Errorf("%w: %d bytes of trailing garbage", ErrCorrupt, want-n)
	}
	end := len(data) - frameTail
	if got, want := crc32.Checksum(data[:end], castagnoli), binary.LittleEndian.Uint32(data[end:]); got != want {
		return nil, fmt.Errorf("%w: checksum mismatch (crc32c %08x, file says %08x)", ErrCorrupt, got, want)
	}
	return data[frameHeader:end], nil
}

func kindOf(magic [8]byte) string {
	if magic == builderMagic {
		return "builder"
	}
	return "ring"
}

// fileMode is the mode of every ring and builder file: both hold the placement hash key,
// a cluster secret, so only the owner may read them.
const fileMode os.FileMode = 0o600

// writeFileAtomic replaces path with data so that a crash leaves the old file or the new
// one, never a mix: write a temporary file beside it, fsync, rename, fsync the directory.
// The file gets fileMode whatever the mode of the one it replaces, and is never readable
// by others, even as a temporary. It creates no directories: the caller chooses where
// secrets live.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	// CreateTemp already uses 0600; set it explicitly so the guarantee does not rest on
	// that, and before any byte of the key is written.
	if err := f.Chmod(fileMode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// encoder appends little-endian values.
type encoder struct{ b []byte }

func (e *encoder) u8(v uint8)     { e.b = append(e.b, v) }
func (e *encoder) u16(v uint16)   { e.b = binary.LittleEndian.AppendUint16(e.b, v) }
func (e *encoder) u32(v uint32)   { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *encoder) u64(v uint64)   { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *encoder) f64(v float64)  { e.u64(math.Float64bits(v)) }
func (e *encoder) i32(v int)      { e.u32(uint32(int32(v))) }
func (e *encoder) bytes(v []byte) { e.b = append(e.b, v...) }
func (e *encoder) str(s string) {
	e.u16(uint16(len(s)))
	e.b = append(e.b, s...)
}

// decoder reads what encoder wrote; the first short read sticks as err and every later
// read returns zero, so callers check err once at the end.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.err = fmt.Errorf("%w: body ends early", ErrCorrupt)
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8() uint8 {
	if v := d.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (d *decoder) u16() uint16 {
	if v := d.take(2); v != nil {
		return binary.LittleEndian.Uint16(v)
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if v := d.take(4); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if v := d.take(8); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}

func (d *decoder) f64() float64 { return math.Float64frombits(d.u64()) }
func (d *decoder) i32() int     { return int(int32(d.u32())) }
func (d *decoder) str() string  { return string(d.take(int(d.u16()))) }

// device encodes one device (used on disk; never reorder).
func (e *encoder) device(d *Device) {
	e.u32(uint32(d.ID))
	e.i32(d.Region)
	e.i32(d.Zone)
	e.f64(d.Weight)
	e.str(d.Host)
	e.str(d.Name)
	e.str(d.Meta)
}

func (d *decoder) device() *Device {
	return &Device{ID: DeviceID(d.u32()), Region: d.i32(), Zone: d.i32(), Weight: d.f64(),
		Host: d.str(), Name: d.str(), Meta: d.str()}
}

// assignment encodes replica rows of 16-bit device IDs.
func (e *encoder) assignment(assign [][]uint16) {
	for _, row := range assign {
		for _, id := range row {
			e.u16(id)
		}
	}
}

func (d *decoder) assignment(replicas, parts int) [][]uint16 {
	raw := d.take(replicas * parts * 2)
	if raw == nil {
		return nil
	}
	assign := make([][]uint16, replicas)
	for r := range assign {
		row := make([]uint16, parts)
		for p := range row {
			row[p] = binary.LittleEndian.Uint16(raw[2*(r*parts+p):])
		}
		assign[r] = row
	}
	return assign
}
