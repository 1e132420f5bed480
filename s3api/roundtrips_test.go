package s3api_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	metaclient "stratus/meta/client"
)

// TestPutCatalogRoundTrips counts the catalog calls one PUT makes, per versioning state:
// the median over several PUTs of one key (the credential cache's refreshes are rare
// outliers).
func TestPutCatalogRoundTrips(t *testing.T) {
	c, cl, ctx := withBucket(t, "rtrips")
	// Before the commit carried its own checks: 3, 2 and 6; before every write had a storage
	// name of its own (and so could be authorized on a remembered bucket record): 2, 1, 3.
	want := map[types.BucketVersioningStatus]uint64{"": 1, types.BucketVersioningStatusEnabled: 1, types.BucketVersioningStatusSuspended: 2}
	for _, st := range []types.BucketVersioningStatus{"", types.BucketVersioningStatusEnabled, types.BucketVersioningStatusSuspended} {
		if st != "" {
			if _, err := cl.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("rtrips"),
				VersioningConfiguration: &types.VersioningConfiguration{Status: st}}); err != nil {
				t.Fatal(err)
			}
		}
		var per []metaclient.CallCounts
		for i := range 9 {
			before := c.Meta.Calls()
			if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("rtrips"), Key: aws.String("k"),
				Body: strings.NewReader(fmt.Sprint("body ", i))}); err != nil {
				t.Fatal(err)
			}
			per = append(per, c.Meta.Calls().Sub(before))
		}
		slices.SortFunc(per, func(a, b metaclient.CallCounts) int { return int(a.Total()) - int(b.Total()) })
		med := per[len(per)/2]
		t.Logf("versioning %q: %d catalog calls per PUT (%+v)", st, med.Total(), med)
		if med.Total() > want[st] {
			t.Errorf("versioning %q: %d catalog calls per PUT, want at most %d", st, med.Total(), want[st])
		}
	}
}
