package s3api_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"pgregory.net/rapid"

	"stratus/internal/testcluster"
	"stratus/meta/metatest"
)

// TestListingMatchesModel checks, over random key sets (delimiters repeated inside keys,
// prefixes that are keys, multi-byte characters, delete markers, start-after anywhere), that
// ListObjectsV2 through the SDK's paginator and ListObjects (V1) paged by NextMarker, at any
// max-keys, list exactly what S3's rules give, each page full unless it is the last.
func TestListingMatchesModel(t *testing.T) {
	c := testcluster.StartS3(t, testcluster.S3Options{})
	cl := sdkClient(c, c.SecretKey)
	ctx := ctxT(t)
	n := 0
	rapid.Check(t, func(rt *rapid.T) {
		lc := metatest.DrawListCase(rt, 12)
		n++
		bucket := fmt.Sprintf("list-%d", n)
		writeListCase(ctx, rt, cl, bucket, lc)
		want := lc.Model()
		if got := listV2(ctx, rt, cl, bucket, lc); !slices.Equal(got, want) {
			rt.Fatalf("ListObjectsV2 listed %v\nwant %v", got, want)
		}
		if got := listV1(ctx, rt, cl, bucket, lc); !slices.Equal(got, want) {
			rt.Fatalf("ListObjects listed %v\nwant %v", got, want)
		}
	})
}

// writeListCase makes bucket (versioned if a key is to be a delete marker) and writes lc's
// keys to it: a delete marker goes over an object written first.
func writeListCase(ctx context.Context, rt *rapid.T, cl *s3.Client, bucket string, lc metatest.ListCase) {
	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		rt.Fatal(err)
	}
	versioned := false
	for _, live := range lc.Keys {
		versioned = versioned || !live
	}
	if versioned {
		_, err := cl.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(bucket),
			VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}})
		if err != nil {
			rt.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(lc.Keys))
	for k, live := range lc.Keys {
		wg.Go(func() {
			_, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: bytes.NewReader([]byte("x"))})
			if err == nil && !live {
				_, err = cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)})
			}
			if err != nil {
				errs <- fmt.Errorf("write %q: %w", k, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		rt.Fatal(err)
	}
}

// pageRows merges a page's keys and common prefixes into key order, which is the order
// they were listed in: no key sorts between a common prefix and the keys it stands for.
func pageRows(contents []types.Object, prefixes []types.CommonPrefix) []metatest.Row {
	var rows []metatest.Row
	for _, o := range contents {
		rows = append(rows, metatest.Row{Name: aws.ToString(o.Key)})
	}
	for _, p := range prefixes {
		rows = append(rows, metatest.Row{Name: aws.ToString(p.Prefix), Prefix: true})
	}
	slices.SortFunc(rows, func(a, b metatest.Row) int { return strings.Compare(a.Name, b.Name) })
	return rows
}

// checkPage fails unless a page holds at most max rows, and exactly max if truncated.
func checkPage(rt *rapid.T, rows []metatest.Row, truncated bool, max int) {
	if len(rows) > max || (truncated && len(rows) != max) {
		rt.Fatalf("page of %d rows (truncated %v) at max-keys %d: %v", len(rows), truncated, max, rows)
	}
}

func listV2(ctx context.Context, rt *rapid.T, cl *s3.Client, bucket string, lc metatest.ListCase) []metatest.Row {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), MaxKeys: aws.Int32(int32(lc.Page))}
	if lc.Prefix != "" {
		in.Prefix = aws.String(lc.Prefix)
	}
	if lc.Delimiter != "" {
		in.Delimiter = aws.String(lc.Delimiter)
	}
	if lc.After != "" {
		in.StartAfter = aws.String(lc.After)
	}
	var got []metatest.Row
	p := s3.NewListObjectsV2Paginator(cl, in)
	for pages := 0; p.HasMorePages(); pages++ {
		if pages > len(lc.Keys)+1 {
			rt.Fatalf("ListObjectsV2 does not end: %v so far", got)
		}
		out, err := p.NextPage(ctx)
		if err != nil {
			rt.Fatal(err)
		}
		rows := pageRows(out.Contents, out.CommonPrefixes)
		checkPage(rt, rows, aws.ToBool(out.IsTruncated), lc.Page)
		if int(aws.ToInt32(out.KeyCount)) != len(rows) {
			rt.Fatalf("KeyCount %d for %d rows", aws.ToInt32(out.KeyCount), len(rows))
		}
		got = append(got, rows...)
	}
	return got
}

// listV1 pages by NextMarker, or with no delimiter (when S3 sends none) by the last key.
func listV1(ctx context.Context, rt *rapid.T, cl *s3.Client, bucket string, lc metatest.ListCase) []metatest.Row {
	var got []metatest.Row
	marker := lc.After
	for pages := 0; ; pages++ {
		if pages > len(lc.Keys)+1 {
			rt.Fatalf("ListObjects does not end: %v so far", got)
		}
		in := &s3.ListObjectsInput{Bucket: aws.String(bucket), MaxKeys: aws.Int32(int32(lc.Page))}
		if lc.Prefix != "" {
			in.Prefix = aws.String(lc.Prefix)
		}
		if lc.Delimiter != "" {
			in.Delimiter = aws.String(lc.Delimiter)
		}
		if marker != "" {
			in.Marker = aws.String(marker)
		}
		out, err := cl.ListObjects(ctx, in)
		if err != nil {
			rt.Fatal(err)
		}
		rows := pageRows(out.Contents, out.CommonPrefixes)
		truncated := aws.ToBool(out.IsTruncated)
		checkPage(rt, rows, truncated, lc.Page)
		got = append(got, rows...)
		if !truncated {
			return got
		}
		marker = aws.ToString(out.NextMarker)
		if lc.Delimiter == "" {
			if marker != "" {
				rt.Fatalf("NextMarker %q without a delimiter", marker)
			}
			marker = rows[len(rows)-1].Name
		} else if marker != rows[len(rows)-1].Name {
			rt.Fatalf("NextMarker %q, last row %v", marker, rows[len(rows)-1])
		}
	}
}
