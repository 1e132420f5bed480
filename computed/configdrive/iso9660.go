package configdrive

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf16"
)

const sectorSize = 2048

// Sector layout of the image: 16 reserved sectors, the primary and Joliet volume
// descriptors and the terminator, four one-sector path tables (little- and big-endian for
// each tree), the two root directories, then the files, each starting on a sector.
const (
	sectorPVD         = 16
	sectorSVD         = 17
	sectorTerminator  = 18
	sectorPathL       = 19
	sectorPathM       = 20
	sectorJolietPathL = 21
	sectorJolietPathM = 22
	sectorRoot        = 23
	sectorJolietRoot  = 24
	sectorFirstFile   = 25
)

type isoFile struct {
	name   string
	data   []byte
	sector uint32
}

// buildISO returns an ISO 9660 image with a Joliet tree whose root directory holds files.
func buildISO(label string, files map[string][]byte, created time.Time) ([]byte, error) {
	if len(label) > 16 {
		return nil, fmt.Errorf("label %q longer than 16", label)
	}
	var list []isoFile
	for name, data := range files {
		if name == "" || len(name) > 64 || strings.ContainsAny(name, "/;\x00") {
			return nil, fmt.Errorf("file name %q", name)
		}
		list = append(list, isoFile{name: name, data: data})
	}
	// ISO 9660 wants directory records sorted by name; both trees use the same order.
	sort.Slice(list, func(i, j int) bool { return list[i].name < list[j].name })
	next := uint32(sectorFirstFile)
	for i := range list {
		list[i].sector = next
		next += sectorsFor(len(list[i].data))
	}
	total := next
	img := make([]byte, int(total)*sectorSize)
	sector := func(n uint32) []byte { return img[n*sectorSize : (n+1)*sectorSize] }

	primaryRoot, err := rootDirectory(list, sectorRoot, created, primaryName)
	if err != nil {
		return nil, err
	}
	jolietRoot, err := rootDirectory(list, sectorJolietRoot, created, jolietName)
	if err != nil {
		return nil, err
	}
	copy(sector(sectorRoot), primaryRoot)
	copy(sector(sectorJolietRoot), jolietRoot)
	writePathTables(sector(sectorPathL), sector(sectorPathM), sectorRoot)
	writePathTables(sector(sectorJolietPathL), sector(sectorJolietPathM), sectorJolietRoot)
	writeVolumeDescriptor(sector(sectorPVD), 1, label, total, sectorPathL, sectorPathM, sectorRoot, created, false)
	writeVolumeDescriptor(sector(sectorSVD), 2, label, total, sectorJolietPathL, sectorJolietPathM, sectorJolietRoot, created, true)
	term := sector(sectorTerminator)
	term[0] = 255
	copy(term[1:6], "CD001")
	term[6] = 1
	for _, f := range list {
		copy(img[int(f.sector)*sectorSize:], f.data)
	}
	return img, nil
}

func sectorsFor(n int) uint32 { return uint32((n + sectorSize - 1) / sectorSize) }

// primaryName is a file's name in the primary tree: upper case, '-' as '_' (ISO 9660's
// d-characters), with the ";1" version suffix.
func primaryName(name string) []byte {
	up := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	if !strings.Contains(up, ".") {
		up += "."
	}
	return []byte(up + ";1")
}

// jolietName is a file's name in the Joliet tree: UCS-2 big-endian, as given.
func jolietName(name string) []byte {
	u := utf16.Encode([]rune(name))
	out := make([]byte, 2*len(u))
	for i, c := range u {
		binary.BigEndian.PutUint16(out[2*i:], c)
	}
	return out
}

func rootDirectory(list []isoFile, self uint32, created time.Time, name func(string) []byte) ([]byte, error) {
	var dir []byte
	dir = append(dir, dirRecord([]byte{0}, self, sectorSize, true, created)...)
	dir = append(dir, dirRecord([]byte{1}, self, sectorSize, true, created)...)
	for _, f := range list {
		dir = append(dir, dirRecord(name(f.name), f.sector, uint32(len(f.data)), false, created)...)
	}
	if len(dir) > sectorSize {
		return nil, errors.New("too many files for a one-sector directory")
	}
	return dir, nil
}

func dirRecord(name []byte, extent, size uint32, isDir bool, t time.Time) []byte {
	n := 33 + len(name)
	if n%2 == 1 {
		n++
	}
	r := make([]byte, n)
	r[0] = byte(n)
	putBoth32(r[2:], extent)
	putBoth32(r[10:], size)
	r[18] = byte(t.Year() - 1900)
	r[19], r[20], r[21], r[22], r[23] = byte(t.Month()), byte(t.Day()), byte(t.Hour()), byte(t.Minute()), byte(t.Second())
	if isDir {
		r[25] = 2
	}
	putBoth16(r[28:], 1)
	r[32] = byte(len(name))
	copy(r[33:], name)
	return r
}

// writePathTables writes the one-entry (root only) path tables in both byte orders.
func writePathTables(l, m []byte, root uint32) {
	l[0], m[0] = 1, 1
	binary.LittleEndian.PutUint32(l[2:], root)
	binary.BigEndian.PutUint32(m[2:], root)
	binary.LittleEndian.PutUint16(l[6:], 1)
	binary.BigEndian.PutUint16(m[6:], 1)
}

const pathTableSize = 10

func writeVolumeDescriptor(d []byte, typ byte, label string, total, pathL, pathM, root uint32, t time.Time, joliet bool) {
	d[0] = typ
	copy(d[1:6], "CD001")
	d[6] = 1
	text := func(off, n int, s string) {
		if joliet {
			b := jolietName(s)
			for i := 0; i < n; i += 2 {
				if i+1 < len(b) {
					d[off+i], d[off+i+1] = b[i], b[i+1]
				} else {
					d[off+i], d[off+i+1] = 0, ' '
				}
			}
			return
		}
		copy(d[off:off+n], fmt.Sprintf("%-*s", n, s))
	}
	text(8, 32, "LINUX")
	text(40, 32, label)
	putBoth32(d[80:], total)
	if joliet {
		copy(d[88:91], "%/E") // UCS-2 level 3
	}
	putBoth16(d[120:], 1)
	putBoth16(d[124:], 1)
	putBoth16(d[128:], sectorSize)
	putBoth32(d[132:], pathTableSize)
	binary.LittleEndian.PutUint32(d[140:], pathL)
	binary.BigEndian.PutUint32(d[148:], pathM)
	copy(d[156:190], dirRecord([]byte{0}, root, sectorSize, true, t))
	text(190, 128, "")
	text(318, 128, "")
	text(446, 128, "")
	text(574, 128, "STRATUS")
	text(702, 37, "")
	text(739, 37, "")
	text(776, 37, "")
	stamp := []byte(t.Format("20060102150405") + "00\x00")
	never := []byte("0000000000000000\x00")
	copy(d[813:], stamp)
	copy(d[830:], stamp)
	copy(d[847:], never)
	copy(d[864:], never)
	d[881] = 1
}

func putBoth16(b []byte, v uint16) {
	binary.LittleEndian.PutUint16(b, v)
	binary.BigEndian.PutUint16(b[2:], v)
}

func putBoth32(b []byte, v uint32) {
	binary.LittleEndian.PutUint32(b, v)
	binary.BigEndian.PutUint32(b[4:], v)
}
