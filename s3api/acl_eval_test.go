package s3api

import (
	"testing"

	meta "stratus/meta/client"
)

// TestACLEvaluation: aclAllows over the cases that need no cluster: owners, groups, the
// object owner's implicit ACL access, BucketOwnerEnforced and IgnorePublicAcls.
func TestACLEvaluation(t *testing.T) {
	public := &meta.ACL{Grants: []meta.Grant{{ID: "b", Permission: meta.PermFullControl}, {Group: meta.GroupAllUsers, Permission: meta.PermRead}}}
	authRead := &meta.ACL{Grants: []meta.Grant{{ID: "b", Permission: meta.PermFullControl}, {Group: meta.GroupAuthenticatedUsers, Permission: meta.PermRead}}}
	writerOwned := &meta.ACL{Owner: "w", Grants: []meta.Grant{{ID: "w", Permission: meta.PermWrite}}} // w kept no READ
	plain := meta.Bucket{Owner: "b"}
	enforced := meta.Bucket{Owner: "b", Ownership: meta.OwnershipBucketOwnerEnforced, ACL: public}
	ignoring := meta.Bucket{Owner: "b", PublicAccess: &meta.PublicAccessBlock{IgnorePublicAcls: true}}
	publicBucket := meta.Bucket{Owner: "b", ACL: public}
	for _, tc := range []struct {
		name    string
		account string
		b       meta.Bucket
		action  string
		acl     *meta.ACL
		want    bool
	}{
		{"owner lists", "b", plain, "s3:ListBucket", nil, true},
		{"stranger lists", "x", plain, "s3:ListBucket", nil, false},
		{"anonymous lists public bucket", "", publicBucket, "s3:ListBucket", nil, true},
		{"anonymous writes public-read bucket", "", publicBucket, "s3:PutObject", nil, false},
		{"owner config", "b", publicBucket, "s3:PutBucketVersioning", nil, true},
		{"grantee config", "x", publicBucket, "s3:PutBucketVersioning", nil, false},
		{"anonymous never owns", "", meta.Bucket{Owner: ""}, "s3:PutBucketVersioning", nil, false},
		{"owner reads default", "b", plain, "s3:GetObject", nil, true},
		{"anonymous reads public", "", plain, "s3:GetObject", public, true},
		{"anonymous reads auth-read", "", plain, "s3:GetObject", authRead, false},
		{"account reads auth-read", "x", plain, "s3:GetObject", authRead, true},
		{"bucket owner reads writer's object", "b", plain, "s3:GetObject", writerOwned, false},
		{"writer without READ", "w", plain, "s3:GetObject", writerOwned, false},
		{"writer reads its ACL anyway", "w", plain, "s3:GetObjectAcl", writerOwned, true},
		{"writer writes its ACL anyway", "w", plain, "s3:PutObjectAcl", writerOwned, true},
		{"enforced: owner reads writer's object", "b", enforced, "s3:GetObject", writerOwned, true},
		{"enforced: public ACL ignored", "", enforced, "s3:GetObject", public, false},
		{"enforced: bucket ACL ignored", "", enforced, "s3:ListBucket", nil, false},
		{"ignore public: object", "", ignoring, "s3:GetObject", public, false},
		{"ignore public: authenticated", "x", ignoring, "s3:GetObject", authRead, false},
		{"ignore public: owner unaffected", "b", ignoring, "s3:GetObject", public, true},
	} {
		e := &meta.ObjectEntry{ACL: tc.acl}
		if got := aclAllows(tc.account, tc.b, tc.action, e); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
