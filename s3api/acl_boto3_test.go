package s3api_test

import "testing"

// TestACLBoto3 runs testdata/boto3/acl.py: ACLs, ownership controls, public access blocks
// and expected owners as Debian's boto3 sends and parses them.
func TestACLBoto3(t *testing.T) {
	c, _, _ := withBucket(t, "boto3acl")
	other := c.AddAccount(t, "other")
	runBoto3(t, c, "boto3acl", "acl", "AK2="+other.AccessKey, "SK2="+other.SecretKey, "ID2="+other.ID)
	// The script's last state, read from the catalog: the block deleted, the bucket public-read.
	b := storedBucket(t, c, "boto3acl")
	if b.PublicAccess != nil || b.ACL == nil || len(b.ACL.Grants) != 2 {
		t.Fatalf("stored bucket after the script: block %+v acl %+v", b.PublicAccess, b.ACL)
	}
	if _, err := storedEntry(t, c, "boto3acl", "blocked"); err == nil {
		t.Fatal("a put refused by BlockPublicAcls stored the object")
	}
}
