package s3policy

import "strings"

// resourceKind is what an action acts on, which decides the resources it can apply to.
type resourceKind uint8

const (
	kindBucket  resourceKind = 1 << iota // arn:aws:s3:::bucket
	kindObject                           // arn:aws:s3:::bucket/key
	kindAccount                          // no bucket at all: never applies in a bucket policy
)

// s3Actions are the IAM actions of S3 (without the "s3:" prefix) and what each applies
// to. A policy action pattern must match at least one of them, as S3 refuses a policy that
// names no action it knows; the list follows the S3 service authorization reference.
var s3Actions = map[string]resourceKind{
	// Objects.
	"AbortMultipartUpload": kindObject, "BypassGovernanceRetention": kindObject,
	"DeleteObject": kindObject, "DeleteObjectTagging": kindObject, "DeleteObjectVersion": kindObject,
	"DeleteObjectVersionTagging": kindObject, "GetObject": kindObject, "GetObjectAcl": kindObject,
	"GetObjectAttributes": kindObject, "GetObjectLegalHold": kindObject, "GetObjectRetention": kindObject,
	"GetObjectTagging": kindObject, "GetObjectTorrent": kindObject, "GetObjectVersion": kindObject,
	"GetObjectVersionAcl": kindObject, "GetObjectVersionAttributes": kindObject,
	"GetObjectVersionForReplication": kindObject, "GetObjectVersionTagging": kindObject,
	"GetObjectVersionTorrent": kindObject, "ListMultipartUploadParts": kindObject,
	"ObjectOwnerOverrideToBucketOwner": kindObject, "PutObject": kindObject, "PutObjectAcl": kindObject,
	"PutObjectLegalHold": kindObject, "PutObjectRetention": kindObject, "PutObjectTagging": kindObject,
	"PutObjectVersionAcl": kindObject, "PutObjectVersionTagging": kindObject, "ReplicateDelete": kindObject,
	"ReplicateObject": kindObject, "ReplicateTags": kindObject, "RestoreObject": kindObject,
	// Buckets.
	"CreateBucket": kindBucket, "DeleteBucket": kindBucket, "DeleteBucketOwnershipControls": kindBucket,
	"DeleteBucketPolicy": kindBucket, "DeleteBucketWebsite": kindBucket,
	"GetAccelerateConfiguration": kindBucket, "GetAnalyticsConfiguration": kindBucket,
	"GetBucketAcl": kindBucket, "GetBucketCORS": kindBucket, "GetBucketLocation": kindBucket,
	"GetBucketLogging": kindBucket, "GetBucketNotification": kindBucket,
	"GetBucketObjectLockConfiguration": kindBucket, "GetBucketOwnershipControls": kindBucket,
	"GetBucketPolicy": kindBucket, "GetBucketPolicyStatus": kindBucket,
	"GetBucketPublicAccessBlock": kindBucket, "GetBucketRequestPayment": kindBucket,
	"GetBucketTagging": kindBucket, "GetBucketVersioning": kindBucket, "GetBucketWebsite": kindBucket,
	"GetEncryptionConfiguration": kindBucket, "GetIntelligentTieringConfiguration": kindBucket,
	"GetInventoryConfiguration": kindBucket, "GetLifecycleConfiguration": kindBucket,
	"GetMetricsConfiguration": kindBucket, "GetReplicationConfiguration": kindBucket,
	"ListBucket": kindBucket, "ListBucketMultipartUploads": kindBucket, "ListBucketVersions": kindBucket,
	"PutAccelerateConfiguration": kindBucket, "PutAnalyticsConfiguration": kindBucket,
	"PutBucketAcl": kindBucket, "PutBucketCORS": kindBucket, "PutBucketLogging": kindBucket,
	"PutBucketNotification": kindBucket, "PutBucketObjectLockConfiguration": kindBucket,
	"PutBucketOwnershipControls": kindBucket, "PutBucketPolicy": kindBucket,
	"PutBucketPublicAccessBlock": kindBucket, "PutBucketRequestPayment": kindBucket,
	"PutBucketTagging": kindBucket, "PutBucketVersioning": kindBucket, "PutBucketWebsite": kindBucket,
	"PutEncryptionConfiguration": kindBucket, "PutIntelligentTieringConfiguration": kindBucket,
	"PutInventoryConfiguration": kindBucket, "PutLifecycleConfiguration": kindBucket,
	"PutMetricsConfiguration": kindBucket, "PutReplicationConfiguration": kindBucket,
	// The account: valid actions, but no bucket policy resource is theirs.
	"ListAllMyBuckets": kindAccount, "GetAccountPublicAccessBlock": kindAccount,
	"PutAccountPublicAccessBlock": kindAccount, "ListAccessPoints": kindAccount, "ListJobs": kindAccount,
}

// compileAction checks one Action/NotAction entry and returns it as a case-insensitive
// pattern over "s3:<Name>", with the kinds of the actions it names.
func compileAction(a string) (string, resourceKind, error) {
	if a == "*" {
		return "s3:*", kindBucket | kindObject | kindAccount, nil
	}
	service, name, ok := strings.Cut(a, ":")
	if !ok || !strings.EqualFold(service, "s3") || name == "" {
		return "", 0, malformed("Policy has invalid action: %q", a)
	}
	var kinds resourceKind
	for known, kind := range s3Actions {
		if matchWildcard(name, known, true) {
			kinds |= kind
		}
	}
	if kinds == 0 {
		return "", 0, malformed("Policy has invalid action: %q", a)
	}
	return "s3:" + name, kinds, nil
}
