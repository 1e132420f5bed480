package client

// Checksum is an additional checksum S3 keeps with an object version or an uploaded part
// (x-amz-checksum-*): what the client sent, or for a multipart object the checksum of its
// parts' checksums.
type Checksum struct {
	// Algorithm is S3's name for it: CRC32, CRC32C, CRC64NVME, SHA1 or SHA256.
	Algorithm string `json:"algorithm"`
	// Value is the base64 of the big-endian digest; a composite one ends in "-<parts>".
	Value string `json:"value"`
	// Composite: Value is the checksum of the parts' checksums (ChecksumType COMPOSITE),
	// not of the object's bytes (FULL_OBJECT).
	Composite bool `json:"composite,omitempty"`
}
