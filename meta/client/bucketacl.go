package client

// ACL is the access control list of a bucket or of an object version (S3's ACLs). A nil
// *ACL in a record means the default: the owner has full control and nobody else has
// anything, so records that never had an ACL set need no migration and stay small.
type ACL struct {
	// Owner is the object's owner when that is not the bucket's owner (an object written by
	// another account that has WRITE on the bucket); "" means the bucket owner. Buckets
	// leave it empty: their owner is Bucket.Owner.
	Owner string `json:"owner,omitempty"`
	// Grants is the whole list: the owner has only what it grants (S3 lets an owner drop
	// its own READ), apart from reading and writing the ACL itself, which an owner always
	// may.
	Grants []Grant `json:"grants,omitempty"`
}

// Grant gives one permission to one grantee: an account (ID) or a group (Group).
type Grant struct {
	ID         string     `json:"id,omitempty"`
	Group      ACLGroup   `json:"group,omitempty"`
	Permission Permission `json:"perm"`
}

// Permission is an S3 ACL permission.
type Permission string

// S3's ACL permissions. On a bucket READ lists it and WRITE creates, replaces and deletes
// its objects; on an object READ reads its data and metadata (WRITE means nothing there).
// READ_ACP and WRITE_ACP read and replace the ACL; FULL_CONTROL is all four.
const (
	PermRead        Permission = "READ"
	PermWrite       Permission = "WRITE"
	PermReadACP     Permission = "READ_ACP"
	PermWriteACP    Permission = "WRITE_ACP"
	PermFullControl Permission = "FULL_CONTROL"
)

// ACLGroup is one of S3's predefined grantee groups.
type ACLGroup string

// The groups S3 defines. AllUsers is everyone, anonymous requests included;
// AuthenticatedUsers is every signed request of any account; LogDelivery is S3's log
// writer, which Stratus does not have (a grant to it is kept and matches nobody).
const (
	GroupAllUsers           ACLGroup = "AllUsers"
	GroupAuthenticatedUsers ACLGroup = "AuthenticatedUsers"
	GroupLogDelivery        ACLGroup = "LogDelivery"
)

// ObjectOwnership is a bucket's Object Ownership setting (S3's ownership controls).
type ObjectOwnership string

// The settings S3 defines. "" (never set) behaves as ObjectWriter.
const (
	// OwnershipObjectWriter: the account that writes an object owns it; ACLs apply.
	OwnershipObjectWriter ObjectOwnership = "ObjectWriter"
	// OwnershipBucketOwnerPreferred: as ObjectWriter, but an object written with the
	// bucket-owner-full-control canned ACL is owned by the bucket owner.
	OwnershipBucketOwnerPreferred ObjectOwnership = "BucketOwnerPreferred"
	// OwnershipBucketOwnerEnforced: ACLs are off; the bucket owner owns every object and
	// only the bucket owner (and the bucket policy) decides access.
	OwnershipBucketOwnerEnforced ObjectOwnership = "BucketOwnerEnforced"
)
