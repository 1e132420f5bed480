package client

// The catalog's tables. Names are used on disk and on the wire; never rename one. A new kind
// of record is a new table: add a constant and a line to Tables.
const (
	TableConfig         = "config"          // cluster config: ring hash secret, storage policies
	TableRings          = "rings"           // current ring per storage policy (opaque ring file)
	TableNodes          = "nodes"           // registered nodes: address, devices, capacity, heartbeat
	TableAccounts       = "accounts"        // accounts by ID
	TableAccessKeys     = "access_keys"     // access keys by key ID; sealed with the cluster key
	TableBuckets        = "buckets"         // buckets by name
	TableObjects        = "objects"         // object index: bucket/key → current version
	TableObjectVersions = "object_versions" // every version when versioning is on
	TableUploads        = "uploads"         // multipart uploads in progress
	TableUploadParts    = "upload_parts"    // parts of uploads in progress
	TableVolumes        = "volumes"         // block volumes
	TableSnapshots      = "snapshots"       // volume snapshots
	TableSnapChunks     = "snapchunks"      // reference counts of snapshot chunks by SHA-256
	TableImages         = "images"          // machine images
	TableInstances      = "instances"       // compute instances
	TableKeyPairs       = "key_pairs"       // SSH key pairs, by account/name
	TableTags           = "tags"            // EC2 resource tags, by account/resource ID
	TableComputeHosts   = "compute_hosts"   // compute hosts: capacity, heartbeat
)

// TableSpec describes one table.
type TableSpec struct {
	Name string
	// MaxValueBytes bounds a value. Raft replicates every value to every voter and keeps it
	// in the log until the next snapshot, so large values cost memory and bandwidth.
	MaxValueBytes int
	// Sealed tables have their values encrypted with the cluster key before they enter the
	// Raft log, and decrypted when read. Their values are never logged.
	Sealed bool
}

// DefaultMaxValueBytes is the value size limit of most tables.
const DefaultMaxValueBytes = 1 << 20

// Tables is the schema: every table clients may read and write.
var Tables = []TableSpec{
	{Name: TableConfig, MaxValueBytes: DefaultMaxValueBytes},
	{Name: TableRings, MaxValueBytes: 32 << 20},
	{Name: TableNodes, MaxValueBytes: DefaultMaxValueBytes},
	{Name: TableAccounts, MaxValueBytes: 64 << 10},
	{Name: TableAccessKeys, MaxValueBytes: 64 << 10, Sealed: true},
	{Name: TableBuckets, MaxValueBytes: DefaultMaxValueBytes},
	{Name: TableObjects, MaxValueBytes: 64 << 10},
	{Name: TableObjectVersions, MaxValueBytes: 64 << 10},
	{Name: TableUploads, MaxValueBytes: 64 << 10},
	{Name: TableUploadParts, MaxValueBytes: 64 << 10},
	{Name: TableVolumes, MaxValueBytes: 64 << 10},
	{Name: TableSnapshots, MaxValueBytes: 64 << 10},
	{Name: TableSnapChunks, MaxValueBytes: 4 << 10},
	{Name: TableImages, MaxValueBytes: 64 << 10},
	{Name: TableInstances, MaxValueBytes: 64 << 10},
	{Name: TableKeyPairs, MaxValueBytes: 64 << 10},
	{Name: TableTags, MaxValueBytes: 64 << 10},
	{Name: TableComputeHosts, MaxValueBytes: 4 << 10},
}

// LookupTable returns the spec of the named table.
func LookupTable(name string) (TableSpec, bool) {
	for _, t := range Tables {
		if t.Name == name {
			return t, true
		}
	}
	return TableSpec{}, false
}
