package s3policy

import (
	"errors"
	"strings"
	"testing"
)

// doc wraps statements in a 2012-10-17 policy.
func doc(statements ...string) string {
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(statements, ",") + `]}`
}

func mustParse(t testing.TB, d string) *Policy {
	t.Helper()
	p, err := Parse([]byte(d), "photos")
	if err != nil {
		t.Fatalf("parse %s: %v", d, err)
	}
	return p
}

func TestParseAccepts(t *testing.T) {
	for _, d := range []string{
		// Statement as a single object; 2008 version; no version at all.
		`{"Version":"2008-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}}`,
		`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}]}`,
		doc(`{"Sid":"a","Effect":"Deny","Principal":{"AWS":["other","arn:aws:iam::third:root"]},"Action":["s3:Get*","s3:List*"],"Resource":["arn:aws:s3:::photos","arn:aws:s3:::photos/*"]}`),
		doc(`{"Effect":"Allow","NotPrincipal":{"AWS":"other"},"NotAction":"s3:DeleteObject","NotResource":"arn:aws:s3:::photos/private/*"}`),
		doc(`{"Effect":"Allow","Principal":{"CanonicalUser":"other","Service":"logging.s3.amazonaws.com"},"Action":"*","Resource":"arn:aws:s3:::photos*"}`),
		doc(`{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::photos",
			"Condition":{"StringLike":{"s3:prefix":["home/*",""]},"NumericLessThanEquals":{"s3:max-keys":100},
			"Bool":{"aws:SecureTransport":true},"IpAddress":{"aws:SourceIp":["10.0.0.0/8","2001:db8::/32","192.0.2.1"]},
			"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"},"DateGreaterThan":{"aws:EpochTime":1700000000},
			"ForAnyValue:StringEqualsIgnoreCase":{"aws:UserAgent":"x"},"StringNotEqualsIfExists":{"s3:x-amz-acl":"public-read"},
			"Null":{"s3:x-amz-server-side-encryption":"true"},"ArnLike":{"aws:SourceArn":"arn:aws:s3:::*"},
			"BinaryEquals":{"aws:Referer":"QUJD"},"StringEquals":{"s3:ExistingObjectTag/team":"blue"}}}`),
		// Wildcard bucket parts that reach this bucket.
		doc(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::ph*tos/*"}`),
		doc(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos*x"}`),
	} {
		mustParse(t, d)
	}
}

func TestParseRefuses(t *testing.T) {
	allow := func(fields string) string {
		return doc(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"` + fields + `}`)
	}
	for _, tc := range []struct{ doc, want string }{
		{`[]`, "first byte must be '{'"},
		{`{"Statement":`, "valid JSON"},
		{`{"Version":"2012-10-17"}`, "Missing required field Statement"},
		{`{"Version":"2012-10-17","Statement":[]}`, "Statement is empty"},
		{`{"Version":"2013-01-01","Statement":{}}`, "Invalid policy document version"},
		{`{"Version":"2012-10-17","Statement":[],"Extra":1}`, "Unknown field"},
		{doc(`{"Effect":"Maybe","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`), "Invalid effect"},
		{doc(`{"Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`), "Missing required field Effect"},
		{doc(`{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`), "Missing required field Principal"},
		{doc(`{"Effect":"Allow","Principal":"*","Resource":"arn:aws:s3:::photos/*"}`), "Missing required field Action"},
		{doc(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}`), "Missing required field Resource"},
		{allow(`,"NotResource":"arn:aws:s3:::photos/x"`), "not both"},
		{allow(`,"Colour":"red"`), "Unknown field"},
		{doc(`{"Effect":"Allow","Principal":"someone","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`), "Invalid principal"},
		{doc(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::other:user/bob"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`), "IAM user or role"},
		{doc(`{"Effect":"Allow","Principal":{"AWS":"oth*"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`), "not an account ID"},
		{doc(`{"Effect":"Allow","Principal":{"Federated":"x"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`), "not supported"},
		{doc(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObjekt","Resource":"arn:aws:s3:::photos/*"}`), "invalid action"},
		{doc(`{"Effect":"Allow","Principal":"*","Action":"ec2:RunInstances","Resource":"arn:aws:s3:::photos/*"}`), "invalid action"},
		{doc(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"photos/*"}`), "invalid resource"},
		{doc(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}`), "not in bucket photos"},
		{doc(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::x*"}`), "not in bucket photos"},
		{doc(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/${aws:username}/*"}`), "policy variables"},
		{doc(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos"}`), "does not apply to any resource"},
		{doc(`{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::photos/*"}`), "does not apply to any resource"},
		{doc(`{"Effect":"Allow","Principal":"*","Action":"s3:ListAllMyBuckets","Resource":"arn:aws:s3:::photos/*"}`), "does not apply to any resource"},
		{allow(`,"Condition":{"StringEqualz":{"aws:UserAgent":"x"}}`), "unknown condition operator"},
		{allow(`,"Condition":{"StringEquals":{"ec2:Region":"x"}}`), "invalid condition key"},
		{allow(`,"Condition":{"StringEquals":{"s3:nonsense":"x"}}`), "invalid condition key"},
		{allow(`,"Condition":{"NumericLessThan":{"s3:max-keys":"ten"}}`), "not a number"},
		{allow(`,"Condition":{"DateLessThan":{"aws:CurrentTime":"tomorrow"}}`), "not a date"},
		{allow(`,"Condition":{"Bool":{"aws:SecureTransport":"yes"}}`), "true or false"},
		{allow(`,"Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/33"}}`), "IP address"},
		{allow(`,"Condition":{"ArnEquals":{"aws:SourceArn":"photos"}}`), "not an ARN"},
		{allow(`,"Condition":{"StringEquals":{"aws:UserAgent":[]}}`), "non-empty list"},
		{allow(`,"Condition":{"StringEquals":{"aws:UserAgent":{"a":1}}}`), "non-empty list"},
		{allow(`,"Condition":{"Null":{"aws:UserAgent":["true","false"]}}`), "one value"},
		{doc(`{"Sid":"x","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`,
			`{"Sid":"x","Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`), "must be unique"},
		{`{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/` + strings.Repeat("x", MaxBytes) + `"}}`, "cannot exceed"},
	} {
		_, err := Parse([]byte(tc.doc), "photos")
		var pe *Error
		if !errors.As(err, &pe) {
			t.Errorf("%.120s: err %v, want an *Error", tc.doc, err)
			continue
		}
		if !strings.Contains(pe.Message, tc.want) {
			t.Errorf("%.120s: message %q, want it to say %q", tc.doc, pe.Message, tc.want)
		}
	}
}

func TestParseNamesTheStatement(t *testing.T) {
	_, err := Parse([]byte(doc(
		`{"Sid":"ok","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`,
		`{"Sid":"broken","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::nope/*"}`)), "photos")
	if err == nil || !strings.Contains(err.Error(), "Statement 2 (Sid broken)") {
		t.Fatalf("error %v should name statement 2 and its Sid", err)
	}
}
