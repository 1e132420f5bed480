package client

// PublicAccessBlock is a bucket's public access block configuration (S3's
// PutPublicAccessBlock): switches that override ACLs and bucket policies granting access to
// everyone.
type PublicAccessBlock struct {
	// BlockPublicAcls refuses requests that set a public ACL (on the bucket or an object).
	BlockPublicAcls bool `json:"block_public_acls,omitempty"`
	// IgnorePublicAcls makes public grants in ACLs count for nothing.
	IgnorePublicAcls bool `json:"ignore_public_acls,omitempty"`
	// BlockPublicPolicy refuses a bucket policy that grants public access.
	BlockPublicPolicy bool `json:"block_public_policy,omitempty"`
	// RestrictPublicBuckets limits a bucket whose policy is public to its owner's account.
	RestrictPublicBuckets bool `json:"restrict_public_buckets,omitempty"`
}
