package client

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"time"
)

// The typed records stored in the catalog's tables, JSON-encoded. Field names are part of the
// stored format: add fields freely, never rename or repurpose one.

// ClusterConfig is the cluster-wide configuration (table config, key ConfigKey).
type ClusterConfig struct {
	// HashSecret salts the ring's hash of object names (hex). It must never change once
	// data is stored.
	HashSecret string `json:"hash_secret"`
	// Policies is unused: storage policies are records of their own in the config table
	// (PolicyKeyPrefix), so that one can be created without rewriting this record.
	Policies []StoragePolicy `json:"policies"`
}

// ConfigKey is the key of the ClusterConfig in TableConfig.
const ConfigKey = "cluster"

// ECStorage is how one object version is erasure-coded: the ring holding its K+M
// fragment archives (fragment i on the i-th device of its partition), the code and the
// segment size. Opaque to meta.
type ECStorage struct {
	Ring         string `json:"ring"`
	K            int    `json:"k"`
	M            int    `json:"m"`
	SegmentBytes int    `json:"segment_bytes"`
}

// StoragePolicy is a named way of storing objects, each on its own ring (table config,
// key PolicyKeyPrefix + name; see policies.go). A bucket picks one when it is created and
// keeps it.
type StoragePolicy struct {
	Name     string     `json:"name"`
	Type     PolicyType `json:"type,omitempty"`      // "" is replicated
	Replicas int        `json:"replicas,omitempty"`  // replicated policies
	ECData   int        `json:"ec_data,omitempty"`   // erasure-coded policies: data fragments
	ECParity int        `json:"ec_parity,omitempty"` // and parity fragments
	// ECSegmentBytes is the EC segment size: objects are encoded one segment at a time.
	ECSegmentBytes int `json:"ec_segment_bytes,omitempty"`
	// ECSmallBytes: objects smaller than this in an EC policy's buckets are stored whole,
	// replicated under the policy ECSmallPolicy, as fragments of them would cost more in
	// headers and requests than they save in bytes.
	ECSmallBytes  int64  `json:"ec_small_bytes,omitempty"`
	ECSmallPolicy string `json:"ec_small_policy,omitempty"`
	// Ring names the policy's ring in the rings table; "" is the policy's name.
	Ring      string    `json:"ring,omitempty"`
	Default   bool      `json:"default,omitempty"`
	CreatedAt time.Time `json:"created_at,omitzero"`
}

// RingVersion is a published ring (table rings, key = policy name).
type RingVersion struct {
	Policy      string    `json:"policy"`
	Version     uint64    `json:"version"` // strictly increasing per policy
	Data        []byte    `json:"data"`    // the ring file, opaque to meta
	PublishedAt time.Time `json:"published_at"`
}

// Node is a registered storage or compute node (table nodes, key = ID).
type Node struct {
	ID          string    `json:"id"`
	Addr        string    `json:"addr"`
	Zone        string    `json:"zone,omitempty"`
	Roles       []string  `json:"roles,omitempty"`
	Devices     []Device  `json:"devices,omitempty"`
	HeartbeatAt time.Time `json:"heartbeat_at"`
}

// Device is one disk of a Node.
type Device struct {
	ID            string `json:"id"`
	CapacityBytes int64  `json:"capacity_bytes"`
	UsedBytes     int64  `json:"used_bytes"`
}

// Account owns buckets and access keys (table accounts, key = ID).
type Account struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// AccessKey is an S3/EC2 credential (table access_keys, key = ID). The table is sealed: the
// record, secret included, is encrypted with the cluster key before it is stored.
type AccessKey struct {
	ID        string    `json:"id"`
	Account   string    `json:"account"`
	Secret    string    `json:"secret"`
	CreatedAt time.Time `json:"created_at"`
	Disabled  bool      `json:"disabled,omitempty"`
}

// String redacts the secret, so an AccessKey can be logged.
func (k AccessKey) String() string {
	return fmt.Sprintf("AccessKey{ID:%s Account:%s Secret:<redacted> Disabled:%v}", k.ID, k.Account, k.Disabled)
}

// LogValue redacts the secret for log/slog.
func (k AccessKey) LogValue() slog.Value { return slog.StringValue(k.String()) }

// Versioning is a bucket's versioning state, as in S3.
type Versioning string

const (
	VersioningOff       Versioning = ""
	VersioningEnabled   Versioning = "Enabled"
	VersioningSuspended Versioning = "Suspended"
)

// Bucket is an S3 bucket (table buckets, key = name).
type Bucket struct {
	Name  string `json:"name"`
	Owner string `json:"owner"` // account ID
	// Policy names the bucket's storage policy, fixed at creation. "" is BuiltinPolicy (the
	// buckets made before there were policies), not the current default.
	Policy     string     `json:"policy,omitempty"`
	Versioning Versioning `json:"versioning,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	// PublicAccess, when set, overrides what ACLs and the bucket policy grant to everyone.
	PublicAccess *PublicAccessBlock `json:"public_access,omitempty"`
	ACL          *ACL               `json:"acl,omitempty"`       // nil: owner full control
	Ownership    ObjectOwnership    `json:"ownership,omitempty"` // "": ObjectWriter, never set
	// ObjectLock, when set, means Object Lock is enabled (for good) and holds its default.
	ObjectLock *ObjectLockConfig `json:"object_lock,omitempty"`
	Tags       []Tag             `json:"tags,omitempty"` // bucket tagging
	CORS       *CORSConfig       `json:"cors,omitempty"`
	// AccessPolicy is the bucket policy (S3's PutBucketPolicy), the JSON document as the
	// owner sent it; "" when there is none. Not to be confused with Policy above.
	AccessPolicy string `json:"access_policy,omitempty"`
	// Lifecycle, when set, is the bucket's lifecycle configuration.
	Lifecycle *Lifecycle `json:"lifecycle,omitempty"`
}

// ObjectEntry is an object index entry: the current version of bucket/key (table objects) or
// one version of it (table object_versions).
type ObjectEntry struct {
	Bucket       string            `json:"bucket"`
	Key          string            `json:"key"`
	Version      uint64            `json:"version"` // HLC timestamp assigned by the proxy
	Size         int64             `json:"size"`
	ETag         string            `json:"etag"`
	ContentType  string            `json:"content_type,omitempty"`
	UserMeta     map[string]string `json:"user_meta,omitempty"`
	DeleteMarker bool              `json:"delete_marker,omitempty"`
	// NullMarker is set on a delete marker written with versioning suspended: it is the
	// key's null version (its ID is "null"), which the next null write or delete replaces.
	NullMarker bool      `json:"null_marker,omitempty"`
	Checksum   *Checksum `json:"checksum,omitempty"` // x-amz-checksum-*, if one was given or asked for
	// Data names where the version's bytes live in the ring when that is not the object's
	// own name: versions of a versioned bucket each have their own. Opaque to meta.
	Data string `json:"data,omitempty"`
	// Null is set on a null version (written with versioning off or suspended) whose bytes
	// live at a name of its own (Data): its ID is still "null". Older null versions have no
	// Data and live at the object's own name.
	Null bool `json:"null,omitempty"`
	// EC, when set, says the version's bytes are erasure-coded fragment archives on a
	// storage policy's ring, and how; nil: whole copies on the object ring. It is fixed
	// at the write, so objects keep how they were stored whatever their bucket's policy
	// becomes, and small objects of an EC bucket (stored whole) say so by its absence.
	EC *ECStorage `json:"ec,omitempty"`
	// ACL is the version's ACL and, when not the bucket owner, its owner; nil: the bucket
	// owner owns it with full control.
	ACL *ACL `json:"acl,omitempty"`
	// Lock is the version's Object Lock retention and legal hold, if any.
	Lock *ObjectLock `json:"lock,omitempty"`
	Tags []Tag       `json:"tags,omitempty"` // the version's object tags
	// Parts names the parts of a completed multipart upload, so a write that replaces the
	// object (and its manifest, at the same name) learns from the commit which parts it
	// made garbage, without reading the manifest first. Nil for single-part objects and
	// for multipart objects completed before it was recorded.
	Parts *UploadParts `json:"parts,omitempty"`
	// ModIndex is the Raft index of the entry's last write; filled in on reads, not stored.
	ModIndex uint64 `json:"-"`
}

// UploadParts names the parts of a completed multipart upload.
type UploadParts struct {
	Upload string `json:"upload"`
	// Numbers are the part numbers; nil means 1 to N, N from the ETag's "-N" (the usual
	// case, kept short since every version's entry carries it).
	Numbers []int `json:"numbers,omitempty"`
}

// Upload is a multipart upload in progress (table uploads).
type Upload struct {
	Bucket             string            `json:"bucket"`
	Key                string            `json:"key"`
	UploadID           string            `json:"upload_id"`
	Initiated          time.Time         `json:"initiated"`
	ContentType        string            `json:"content_type,omitempty"`
	UserMeta           map[string]string `json:"user_meta,omitempty"`
	ChecksumAlgorithm  string            `json:"checksum_algorithm,omitempty"`   // every part must carry this checksum
	ChecksumFullObject bool              `json:"checksum_full_object,omitempty"` // the object's checksum is of its bytes (CRCs), not of the parts' checksums
	ACL                *ACL              `json:"acl,omitempty"`                  // the completed object's ACL
	// Lock is the Object Lock state the completed object's version starts with.
	Lock *ObjectLock `json:"lock,omitempty"`
	Tags []Tag       `json:"tags,omitempty"` // x-amz-tagging, applied at completion
}

// Part is one uploaded part of an Upload (table upload_parts).
type Part struct {
	UploadID string     `json:"upload_id"`
	Number   int        `json:"number"` // 1 to 10000
	Size     int64      `json:"size"`
	ETag     string     `json:"etag"`
	Version  uint64     `json:"version"` // timestamp of the part's data on the storage nodes
	Checksum *Checksum  `json:"checksum,omitempty"`
	EC       *ECStorage `json:"ec,omitempty"` // how the part is erasure-coded; nil: whole copies
}

func encodeJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Every record type above marshals; failure is a programmer error.
		panic(fmt.Sprintf("meta client: encode %T: %v", v, err))
	}
	return b
}

// decodeJSON decodes a stored record; an ObjectEntry may also be in its binary form.
func decodeJSON(it Item, v any) error {
	if e, ok := v.(*ObjectEntry); ok && len(it.Value) > 0 && it.Value[0] == entryMagic {
		d, err := decodeEntryBinary(it.Value)
		if err != nil {
			return fmt.Errorf("decode %s/%s: %w", it.Table, it.Key, err)
		}
		*e = d
		return nil
	}
	if err := json.Unmarshal(it.Value, v); err != nil {
		return fmt.Errorf("decode %s/%s: %w", it.Table, it.Key, err)
	}
	return nil
}

// VolumeState is where a Volume is in its life. Stored: never rename a value.
type VolumeState string

const (
	VolumeCreating  VolumeState = "creating"  // being made (from a snapshot); not attachable yet
	VolumeAvailable VolumeState = "available" // attachable
	VolumeInUse     VolumeState = "in-use"    // a host holds, or held until its lease expired, the attachment lease
	VolumeDeleting  VolumeState = "deleting"  // its chunks are being removed
	VolumeError     VolumeState = "error"     // needs an operator
)

// Volume is a block volume (table volumes, key = ID, "vol-" and 16 hex digits). Its chunks
// live on the ring under ".vol/<id>/<index>" (docs/volumes.md).
type Volume struct {
	ID             string      `json:"id"`
	SizeBytes      int64       `json:"size_bytes"`
	ChunkSizeBytes int64       `json:"chunk_size_bytes"`
	Policy         string      `json:"policy,omitempty"` // storage policy name; "" is the default
	State          VolumeState `json:"state"`
	CreatedAt      time.Time   `json:"created_at"`
	FromSnapshot   string      `json:"from_snapshot,omitempty"` // snapshot ID it was made from
	// Account owns the volume as the EC2 API sees it: only that account's keys find it
	// there. Empty for volumes made by operators ('stratus volume create'), which no
	// account sees.
	Account string `json:"account,omitempty"`
	// Zone is the availability zone the volume was created in; empty means the region's
	// default zone.
	Zone string `json:"zone,omitempty"`
	// VolumeType is the EC2 volume type asked for (gp2, gp3, standard, …). Every type is
	// stored the same way; it is kept so that the EC2 API reports what was asked.
	VolumeType string `json:"volume_type,omitempty"`
	// LastGeneration is the highest attachment generation ever issued for the volume. It stays
	// after a detach, so a generation is never reused: chunk replicas fence writes by it.
	LastGeneration uint64 `json:"last_generation"`
	// Attachment is the current lease holder; nil when detached.
	Attachment *VolumeAttachment `json:"attachment,omitempty"`
}

// VolumeAttachment is the attachment lease of a Volume: the one host that may write it.
type VolumeAttachment struct {
	Host       string `json:"host"`
	Generation uint64 `json:"generation"` // equals the volume's LastGeneration while held
	// LeaseExpiresAt is when the lease lapses unless renewed, by the holder's clock.
	LeaseExpiresAt time.Time `json:"lease_expires_at"`
	AttachedAt     time.Time `json:"attached_at"`
}
