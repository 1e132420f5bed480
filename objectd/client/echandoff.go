package client

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
)

// MetaECName is the metadata key of a fragment archive stored on a handoff device: the
// name of the object it is a fragment of (its storage name is ECHandoffName's).
const MetaECName = "x-stratus-ec-name"

// ecHandoffPrefix starts the storage names of fragment archives on handoff devices. No
// object name starts with "." (bucket names cannot), so these never meet an object's.
const ecHandoffPrefix = ".ecf/"

// ECHandoffName is the storage name of fragment index of name when it is kept somewhere
// else than on its primary device: ".ecf/<index>/<name>", or, when that would pass
// MaxNameBytes, ".ecf/<index>/#" and the name's SHA-256. A name of its own per fragment
// lets one device hold two fragments of an object when there are fewer live devices than
// fragments, and lets a reader or a tombstone find fragment index without knowing which
// device took it. The archive's record is in the partition of name, not of this name.
func ECHandoffName(name string, index int) string {
	pre := ecHandoffPrefix + strconv.Itoa(index) + "/"
	if len(pre)+len(name) <= MaxNameBytes {
		return pre + name
	}
	sum := sha256.Sum256([]byte(name))
	return pre + "#" + hex.EncodeToString(sum[:])
}

// ParseECHandoffName undoes ECHandoffName: the fragment index and the object's name, which
// is empty when it was too long to be kept in the handoff name (MetaECName says it for a
// fragment archive; a tombstone does not need it). ok is false for any other name.
func ParseECHandoffName(s string) (index int, name string, ok bool) {
	rest, found := strings.CutPrefix(s, ecHandoffPrefix)
	if !found {
		return 0, "", false
	}
	idx, name, found := strings.Cut(rest, "/")
	i, err := strconv.Atoi(idx)
	if !found || err != nil || i < 0 || i > 255 || strconv.Itoa(i) != idx {
		return 0, "", false
	}
	if strings.HasPrefix(name, "#") {
		return i, "", true
	}
	return i, name, true
}
