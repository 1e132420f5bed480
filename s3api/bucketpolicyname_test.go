package s3api_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"stratus/internal/testcluster"
	meta "stratus/meta/client"
)

// TestCreateBucketPolicy: CreateBucket's LocationConstraint names the bucket's storage
// policy (or the region, for the default); the bucket records the policy it got; unknown
// names are InvalidLocationConstraint and policies the data path cannot serve yet are
// refused rather than silently stored elsewhere.
func TestCreateBucketPolicy(t *testing.T) {
	c := testcluster.StartS3(t, testcluster.S3Options{})
	cl := sdkClient(c, c.SecretKey)
	ctx := ctxT(t)
	// A replicated policy on the built-in ring (served) and an EC one (not yet).
	if err := c.Meta.CreatePolicy(ctx, meta.StoragePolicy{Name: "replicated-3", Replicas: 3, Ring: meta.BuiltinPolicy}); err != nil {
		t.Fatal(err)
	}
	if err := c.Meta.CreatePolicy(ctx, meta.StoragePolicy{Name: "ec-4-2", Type: meta.PolicyEC, ECData: 4, ECParity: 2}); err != nil {
		t.Fatal(err)
	}
	create := func(bucket, location string) error {
		in := &s3.CreateBucketInput{Bucket: aws.String(bucket)}
		if location != "" {
			in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(location)}
		}
		_, err := cl.CreateBucket(ctx, in)
		return err
	}
	for _, tc := range []struct{ bucket, location, policy string }{
		{"plain", "", meta.BuiltinPolicy},
		{"region", c.Region, meta.BuiltinPolicy},
		{"named", "replicated-3", "replicated-3"},
		{"rgw-style", c.Region + ":replicated-3", "replicated-3"},
	} {
		if err := create(tc.bucket, tc.location); err != nil {
			t.Fatalf("create %s at %q: %v", tc.bucket, tc.location, err)
		}
		b, _, err := c.Meta.Bucket(ctx, tc.bucket)
		if err != nil || b.Policy != tc.policy {
			t.Fatalf("bucket %s: policy %q %v, want %q", tc.bucket, b.Policy, err, tc.policy)
		}
	}
	// A new default applies to buckets created after it, not before.
	if err := c.Meta.SetDefaultPolicy(ctx, "replicated-3"); err != nil {
		t.Fatal(err)
	}
	if err := create("later", ""); err != nil {
		t.Fatal(err)
	}
	if b, _, _ := c.Meta.Bucket(ctx, "later"); b.Policy != "replicated-3" {
		t.Fatalf("bucket after the default changed has policy %q", b.Policy)
	}
	if b, _, _ := c.Meta.Bucket(ctx, "plain"); b.Policy != meta.BuiltinPolicy {
		t.Fatalf("bucket before the default changed now has policy %q", b.Policy)
	}
	for _, tc := range []struct{ location, code string }{
		{"no-such-policy", "InvalidLocationConstraint"},
		{"eu-west-1:replicated-3", "InvalidLocationConstraint"},
		{c.Region + ":", "InvalidLocationConstraint"},
		{"ec-4-2", "NotImplemented"},
	} {
		if err := create("refused", tc.location); code(err) != tc.code {
			t.Fatalf("location %q: %v, want %s", tc.location, err, tc.code)
		}
	}
	if _, err := cl.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("refused")}); err == nil {
		t.Fatal("a refused bucket exists")
	}
}
