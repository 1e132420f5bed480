package objectd

import (
	"crypto/md5"
	"encoding/hex"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"stratus/internal/hlc"
	"stratus/objectd/client"
)

// On-disk layout of one device, in the manner of Swift's object server:
//
//	<device>/.stratus-device                   marker: the device is mounted and ours
//	<device>/objects/<partition>/<suffix>/<hash>/<timestamp>.data
//	<device>/objects/<partition>/<suffix>/<hash>/<timestamp>.ts
//	<device>/tmp/                              writes in progress; emptied at start
//	<device>/quarantined/objects/<hash>/<timestamp>.data
//
// <partition> is decimal, <hash> is the 32-hex-digit MD5 of the object name, <suffix> its
// last three digits, <timestamp> 16 hex digits (hlc.Timestamp). A hash directory normally
// holds one file, the newest version; older ones are removed when a newer one lands. The
// name hash only spreads names over directories: the name itself is in every file's header,
// and a reader checks it. The layout is frozen: never rename these directories.
const (
	objectsDir     = "objects"
	tmpDir         = "tmp"
	quarantineDir  = "quarantined"
	dataExt        = ".data"
	tombstoneExt   = ".ts"
	hashLen        = 32
	suffixLen      = 3
	timestampChars = 16
)

// nameHash returns the hash directory name of an object name.
func nameHash(name string) string {
	sum := md5.Sum([]byte(name))
	return hex.EncodeToString(sum[:])
}

// suffixOf returns the suffix directory of a name hash.
func suffixOf(hash string) string { return hash[hashLen-suffixLen:] }

// validHash reports whether s looks like a name hash (from a peer, so checked).
func validHash(s string) bool {
	if len(s) != hashLen {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

// validSuffix reports whether s is a suffix directory name.
func validSuffix(s string) bool {
	if len(s) != suffixLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func partDir(dev string, part uint32) string {
	return filepath.Join(dev, objectsDir, strconv.FormatUint(uint64(part), 10))
}

func hashDir(dev string, part uint32, hash string) string {
	return filepath.Join(partDir(dev, part), suffixOf(hash), hash)
}

// A space is one ring's object tree on a device: "" is the object ring's, objects/; a
// storage policy's own ring (client.HeaderRing) has objects-<ring>/, laid out alike. Only
// the object ring's tree is replicated and audited: the others hold erasure-coded
// fragment archives, which differ between the nodes of a partition.
type space string

func (sp space) dir() string {
	if sp == "" {
		return objectsDir
	}
	return objectsDir + "-" + string(sp)
}

// hashDirIn is hashDir in space sp.
func hashDirIn(dev string, sp space, part uint32, hash string) string {
	if sp == "" {
		return hashDir(dev, part, hash)
	}
	return filepath.Join(dev, sp.dir(), strconv.FormatUint(uint64(part), 10), suffixOf(hash), hash)
}

// fileName returns the name of the file holding a version.
func fileName(kind client.Kind, ts hlc.Timestamp) string {
	if kind == client.KindTombstone {
		return ts.String() + tombstoneExt
	}
	return ts.String() + dataExt
}

// version is one file in a hash directory.
type version struct {
	ts   hlc.Timestamp
	kind client.Kind
}

func (v version) file() string { return fileName(v.kind, v.ts) }

// parseFileName reads a version file name; ok is false for anything else.
func parseFileName(name string) (v version, ok bool) {
	base, ext := name, ""
	if i := strings.IndexByte(name, '.'); i >= 0 {
		base, ext = name[:i], name[i:]
	}
	switch ext {
	case dataExt:
		v.kind = client.KindData
	case tombstoneExt:
		v.kind = client.KindTombstone
	default:
		return v, false
	}
	if len(base) != timestampChars {
		return v, false
	}
	ts, err := hlc.Parse(base)
	if err != nil {
		return v, false
	}
	v.ts = ts
	return v, true
}

// sortVersions orders versions newest first. At equal timestamps (two files that should not
// coexist), the tombstone sorts first so that a delete wins.
func sortVersions(vs []version) {
	slices.SortFunc(vs, func(a, b version) int {
		switch {
		case a.ts != b.ts:
			if a.ts > b.ts {
				return -1
			}
			return 1
		case a.kind == b.kind:
			return 0
		case a.kind == client.KindTombstone:
			return -1
		}
		return 1
	})
}
