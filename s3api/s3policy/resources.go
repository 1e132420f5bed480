package s3policy

import "strings"

// arnPrefix starts every S3 resource ARN; patterns are kept without it and matched against
// "bucket" or "bucket/key".
const arnPrefix = "arn:aws:s3:::"

// compileResource checks one Resource/NotResource entry of bucket's policy and returns it
// as a pattern over "bucket" or "bucket/key", with the kinds of resource it can name.
func compileResource(r, bucket string) (string, resourceKind, error) {
	rest, ok := strings.CutPrefix(r, arnPrefix)
	if !ok || rest == "" {
		return "", 0, malformed("Policy has invalid resource: %q is not an S3 ARN (arn:aws:s3:::bucket or arn:aws:s3:::bucket/key)", r)
	}
	bucketPart, _, hasKey := strings.Cut(rest, "/")
	if !resourceInBucket(bucketPart, bucket) {
		return "", 0, malformed("Policy has invalid resource: %q is not in bucket %s", r, bucket)
	}
	var kinds resourceKind
	if matchWildcard(rest, bucket, false) {
		kinds |= kindBucket
	}
	if hasKey || strings.Contains(rest, "*") {
		kinds |= kindObject
	}
	return rest, kinds, nil
}

// resourceInBucket reports whether the bucket part of a resource (before its first '/')
// can name bucket or something in it: a bucket policy governs its own bucket only.
func resourceInBucket(bucketPart, bucket string) bool {
	if !hasWildcard(bucketPart) {
		return bucketPart == bucket
	}
	if matchWildcard(bucketPart, bucket, false) {
		return true
	}
	// A pattern such as "bucket*x" names no bucket but does name keys of this one.
	// Its part up to the first '*' must then match "bucket/".
	star := strings.IndexByte(bucketPart, '*')
	return star >= 0 && matchWildcard(bucketPart[:star+1], bucket+"/", false)
}
