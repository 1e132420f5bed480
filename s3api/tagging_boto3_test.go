package s3api_test

import "testing"

func TestBoto3Tagging(t *testing.T) {
	c, _, _ := withBucket(t, "boto-tags")
	runBoto3(t, c, "boto-tags", "tagging")
}

func TestBoto3CORS(t *testing.T) {
	c, _, _ := withBucket(t, "boto-cors")
	runBoto3(t, c, "boto-cors", "cors")
}
