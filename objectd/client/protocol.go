package client

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"unicode/utf8"

	"stratus/internal/hlc"
)

// URL paths. Names travel base64url-encoded (no padding) as one path segment, so no name,
// however hostile ("../x", "a/./b", NUL), can change how the path is routed or cleaned.
const (
	// PatternObject serves PUT, GET, HEAD and DELETE of one object.
	PatternObject = "/v1/object/{device}/{partition}/{name}"
	// PatternHashes serves GET of a partition's suffix hashes (JSON map suffix → hash).
	PatternHashes = "/v1/hashes/{device}/{partition}"
	// PatternMissing serves POST of a MissingRequest; answers a MissingResponse.
	PatternMissing = "/v1/missing/{device}/{partition}"
	// PatternPush serves POST of a stream of records; answers a PushResult.
	PatternPush = "/v1/push/{device}/{partition}"
	// PathHealth answers 200 while the node runs and has a usable device, 503 when it has
	// none (every object request would answer 507).
	PathHealth = "/healthz"
	// PathMetrics serves Prometheus metrics.
	PathMetrics = "/metrics"
)

// Header names. Part of the protocol; never rename them.
const (
	// HeaderTimestamp carries the version's timestamp (16 hex digits) on writes and reads,
	// and the held version's timestamp on ErrConflict and on ErrNotFound after a delete. On
	// a GET or HEAD request it names the version wanted: the node opens that version
	// directly if it holds it, and otherwise answers with its newest, as without it.
	HeaderTimestamp = "X-Stratus-Timestamp"
	// HeaderLength is the object's full length in bytes. A PUT must send it; the body is
	// refused unless it has exactly this many bytes.
	HeaderLength = "X-Stratus-Length"
	// HeaderChecksum is the content's Checksum. A PUT sends it as a header or, when computed
	// while streaming, as a trailer; it must be in one of the two.
	HeaderChecksum = "X-Stratus-Checksum"
	// HeaderMetaPrefix prefixes user metadata headers; keys are case-insensitive.
	HeaderMetaPrefix = "X-Stratus-Meta-"
	// HeaderRing names the ring of the request's partition when it is not the object ring
	// (a storage policy's ring, e.g. an erasure-coded one). The node keeps that ring's
	// objects in a tree of their own, which its replicator and auditor do not walk: an
	// erasure-coded policy's fragment archives differ from node to node, so copying one
	// over another would destroy a fragment, and their repair is a reconstructor's job.
	HeaderRing = "X-Stratus-Ring"
	// HeaderError carries the error code of an error response (see ErrorCode).
	HeaderError = "X-Stratus-Error"
)

// Limits on what a node accepts.
const (
	// MaxNameBytes bounds object names (S3's key limit).
	MaxNameBytes = 1024
	// MaxMetaBytes bounds the encoded metadata (name, content type, user metadata) of one
	// object.
	MaxMetaBytes = 16 << 10
)

// Target addresses one partition of one device on one storage node.
type Target struct {
	Host      string // the node's "ip:port"
	Device    string // device directory name, e.g. "sdb1"
	Partition uint32 // ring partition
	// Ring names the ring Partition is of, when not the object ring: each ring's objects
	// are kept apart on a device (see HeaderRing). Object requests only.
	Ring string
}

func (t Target) String() string { return fmt.Sprintf("%s/%s/%d", t.Host, t.Device, t.Partition) }

// Info describes one stored version of an object.
type Info struct {
	Name        string
	Timestamp   hlc.Timestamp
	Length      int64
	Checksum    Checksum
	ContentType string
	Meta        map[string]string // user metadata; keys lower-case
}

// CheckName reports why name cannot be an object name, or nil. Names are non-empty valid
// UTF-8 of at most MaxNameBytes, without NUL.
func CheckName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty name", ErrInvalid)
	case len(name) > MaxNameBytes:
		return fmt.Errorf("%w: name of %d bytes exceeds %d", ErrInvalid, len(name), MaxNameBytes)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: name is not valid UTF-8", ErrInvalid)
	case strings.IndexByte(name, 0) >= 0:
		return fmt.Errorf("%w: name contains NUL", ErrInvalid)
	}
	return nil
}

// CheckDevice reports why dev cannot be a device name, or nil.
func CheckDevice(dev string) error {
	if dev == "" || dev == "." || dev == ".." || len(dev) > 255 || strings.ContainsAny(dev, "/\\\x00") {
		return fmt.Errorf("%w: device name %q", ErrInvalid, dev)
	}
	return nil
}

// Metadata keys of an erasure-coded fragment archive stored as an object: its fragment
// index and its code ("K+M/segment bytes"). The archive's header says the same; these let
// a reader tell an archive from a whole object by its record.
const (
	MetaECIndex  = "x-stratus-ec-index"
	MetaECLayout = "x-stratus-ec-layout"
)

// ObjectRing is the name of the object ring, whose objects requests without HeaderRing
// address.
const ObjectRing = "default"

// CheckRing reports why name cannot be a ring's name in HeaderRing, or nil: 1-63 of a-z,
// 0-9 and '-', as storage policy names.
func CheckRing(name string) error {
	ok := len(name) >= 1 && len(name) <= 63 && name[0] != '-'
	for _, c := range name {
		ok = ok && (c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-')
	}
	if !ok {
		return fmt.Errorf("%w: ring name %q", ErrInvalid, name)
	}
	return nil
}

// SnapshotNamePrefix starts the names of volume snapshot objects (chunks and manifests).
// Besides proxies, volume daemons may write, read and delete objects under it, and no
// others: a volumed certificate cannot reach S3 data.
const SnapshotNamePrefix = ".snap/"

// ImageNamePrefix starts the names of the objects of images compute hosts save from
// instances' root disks (CreateImage): the one prefix storage nodes let computed
// certificates write and delete. Like ".snap/", no S3 bucket or key maps there.
const ImageNamePrefix = ".image/"

// EncodeName returns the path segment for name.
func EncodeName(name string) string { return base64.RawURLEncoding.EncodeToString([]byte(name)) }

// DecodeName reads a path segment written by EncodeName and checks the name.
func DecodeName(seg string) (string, error) {
	if len(seg) > base64.RawURLEncoding.EncodedLen(MaxNameBytes) {
		return "", fmt.Errorf("%w: name longer than %d bytes", ErrInvalid, MaxNameBytes)
	}
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return "", fmt.Errorf("%w: name is not base64url", ErrInvalid)
	}
	name := string(b)
	return name, CheckName(name)
}

// ParsePartition reads a partition path segment.
func ParsePartition(seg string) (uint32, error) {
	v, err := strconv.ParseUint(seg, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%w: partition %q", ErrInvalid, seg)
	}
	return uint32(v), nil
}

func objectPath(t Target, name string) string {
	return fmt.Sprintf("/v1/object/%s/%d/%s", t.Device, t.Partition, EncodeName(name))
}

func partPath(verb string, t Target) string {
	return fmt.Sprintf("/v1/%s/%s/%d", verb, t.Device, t.Partition)
}

// SetInfoHeaders writes info into response or request headers (except the name, which is
// in the path). Metadata keys and values must already have passed CheckMeta.
func SetInfoHeaders(h http.Header, info *Info) {
	h.Set(HeaderTimestamp, info.Timestamp.String())
	h.Set(HeaderLength, strconv.FormatInt(info.Length, 10))
	h.Set(HeaderChecksum, info.Checksum.String())
	if info.ContentType != "" {
		h.Set("Content-Type", info.ContentType)
	}
	for k, v := range info.Meta {
		h.Set(HeaderMetaPrefix+k, v)
	}
}

// InfoFromHeaders reads what SetInfoHeaders wrote. The checksum is optional (a PUT may send
// it as a trailer); ok reports whether it was present.
func InfoFromHeaders(h http.Header) (info Info, hasChecksum bool, err error) {
	if info.Timestamp, err = hlc.Parse(h.Get(HeaderTimestamp)); err != nil {
		return info, false, fmt.Errorf("%w: %s: %v", ErrInvalid, HeaderTimestamp, err)
	}
	if info.Length, err = strconv.ParseInt(h.Get(HeaderLength), 10, 64); err != nil || info.Length < 0 {
		return info, false, fmt.Errorf("%w: %s %q", ErrInvalid, HeaderLength, h.Get(HeaderLength))
	}
	if s := h.Get(HeaderChecksum); s != "" {
		if info.Checksum, err = ParseChecksum(s); err != nil {
			return info, false, err
		}
		hasChecksum = true
	}
	info.ContentType = h.Get("Content-Type")
	canonPrefix := textproto.CanonicalMIMEHeaderKey(HeaderMetaPrefix)
	for k, vs := range h {
		if rest, ok := strings.CutPrefix(k, canonPrefix); ok && len(vs) > 0 {
			if info.Meta == nil {
				info.Meta = make(map[string]string)
			}
			info.Meta[strings.ToLower(rest)] = vs[0]
		}
	}
	return info, hasChecksum, CheckMeta(&info)
}

// CheckMeta reports why info's content type or user metadata cannot be stored, or nil. Keys
// are lower-cased header tokens; values are printable ASCII and spaces (encode anything else,
// as S3 does); all of it together fits in MaxMetaBytes.
func CheckMeta(info *Info) error {
	size := len(info.Name) + len(info.ContentType)
	if !printable(info.ContentType) {
		return fmt.Errorf("%w: content type is not printable ASCII", ErrInvalid)
	}
	for k, v := range info.Meta {
		size += len(k) + len(v)
		if k == "" || k != strings.ToLower(k) || !token(k) {
			return fmt.Errorf("%w: metadata key %q", ErrInvalid, k)
		}
		if !printable(v) {
			return fmt.Errorf("%w: metadata value of %q is not printable ASCII", ErrInvalid, k)
		}
	}
	if size > MaxMetaBytes {
		return fmt.Errorf("%w: metadata of %d bytes exceeds %d", ErrInvalid, size, MaxMetaBytes)
	}
	return nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func token(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// Range is a byte range of an object: Length bytes from Offset. Length < 0 means to the end.
type Range struct {
	Offset int64
	Length int64
}

// header returns the HTTP Range header value.
func (r Range) header() string {
	if r.Length < 0 {
		return fmt.Sprintf("bytes=%d-", r.Offset)
	}
	return fmt.Sprintf("bytes=%d-%d", r.Offset, r.Offset+r.Length-1)
}

// ParseRange reads a single-range HTTP Range header ("bytes=a-b", "bytes=a-", "bytes=-n")
// against an object of size bytes and returns the range to serve. Multiple ranges are not
// supported and are refused as invalid.
func ParseRange(s string, size int64) (Range, error) {
	spec, ok := strings.CutPrefix(s, "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return Range{}, fmt.Errorf("%w: range %q", ErrInvalid, s)
	}
	first, last, ok := strings.Cut(spec, "-")
	if !ok {
		return Range{}, fmt.Errorf("%w: range %q", ErrInvalid, s)
	}
	if first == "" { // suffix range: the last n bytes
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n < 0 {
			return Range{}, fmt.Errorf("%w: range %q", ErrInvalid, s)
		}
		if n == 0 || size == 0 {
			return Range{}, fmt.Errorf("%w: %q of %d bytes", ErrRange, s, size)
		}
		n = min(n, size)
		return Range{Offset: size - n, Length: n}, nil
	}
	off, err := strconv.ParseInt(first, 10, 64)
	if err != nil || off < 0 {
		return Range{}, fmt.Errorf("%w: range %q", ErrInvalid, s)
	}
	if off >= size {
		return Range{}, fmt.Errorf("%w: %q of %d bytes", ErrRange, s, size)
	}
	end := size - 1
	if last != "" {
		e, err := strconv.ParseInt(last, 10, 64)
		if err != nil || e < off {
			return Range{}, fmt.Errorf("%w: range %q", ErrInvalid, s)
		}
		end = min(e, size-1)
	}
	return Range{Offset: off, Length: end - off + 1}, nil
}
