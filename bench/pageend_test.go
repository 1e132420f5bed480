package bench

import "testing"

// TestPageEnd: the listing's end is read from the elements themselves, never from a key
// that spells a tag, and entities in a token are decoded.
func TestPageEnd(t *testing.T) {
	const head = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name>`
	for _, c := range []struct {
		body      string
		truncated bool
		next      string
		bad       bool
	}{
		{body: head + `<IsTruncated>false</IsTruncated><Contents><Key>&lt;IsTruncated&gt;true&lt;/IsTruncated&gt;</Key></Contents></ListBucketResult>`},
		{body: head + `<IsTruncated>true</IsTruncated><Contents><Key>a</Key></Contents><NextContinuationToken>x&amp;y=</NextContinuationToken></ListBucketResult>`, truncated: true, next: "x&y="},
		{body: head + `<IsTruncated>true</IsTruncated></ListBucketResult>`, bad: true},
		{body: `<Error><Code>SlowDown</Code></Error>`, bad: true},
		{body: head + `<IsTruncated>true</ListBucketResult>`, bad: true},
	} {
		truncated, next, err := pageEnd([]byte(c.body))
		if (err != nil) != c.bad || truncated != c.truncated || next != c.next {
			t.Errorf("%s: %v %q %v", c.body, truncated, next, err)
		}
	}
}
