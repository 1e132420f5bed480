package s3policy

import (
	"slices"
	"testing"
)

func TestEvaluate(t *testing.T) {
	p := mustParse(t, doc(
		`{"Sid":"OtherReadsPublic","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::other:root"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/public/*"}`,
		`{"Sid":"NoSecrets","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::photos/public/secret*"}`,
		`{"Sid":"LocalList","Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::photos",
			"Condition":{"IpAddress":{"aws:SourceIp":"127.0.0.0/8"},"StringLike":{"s3:prefix":"public/*"}}}`,
		`{"Sid":"TLSOnly","Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::photos/*",
			"Condition":{"Bool":{"aws:SecureTransport":"false"}}}`,
	))
	local := MapContext{"aws:sourceip": {"127.0.0.1"}, "s3:prefix": {"public/a"}, "aws:securetransport": {"false"}}
	remote := MapContext{"aws:sourceip": {"192.0.2.7"}, "s3:prefix": {"public/a"}, "aws:securetransport": {"true"}}
	for _, tc := range []struct {
		name string
		r    Request
		want Decision
	}{
		{"granted account reads", Request{Principal: "other", Action: "s3:GetObject", Key: "public/cat.jpg"}, Allow},
		{"action names are case-insensitive", Request{Principal: "other", Action: "S3:getobject", Key: "public/cat.jpg"}, Allow},
		{"outside the prefix", Request{Principal: "other", Action: "s3:GetObject", Key: "private/cat.jpg"}, None},
		{"another action", Request{Principal: "other", Action: "s3:PutObject", Key: "public/cat.jpg", Context: remote}, None},
		{"another account", Request{Principal: "third", Action: "s3:GetObject", Key: "public/cat.jpg"}, None},
		{"anonymous", Request{Action: "s3:GetObject", Key: "public/cat.jpg"}, None},
		{"deny wins over allow", Request{Principal: "other", Action: "s3:GetObject", Key: "public/secret.txt"}, Deny},
		{"deny applies to the owner too", Request{Principal: "tester", Action: "s3:DeleteObject", Key: "public/secret.txt"}, Deny},
		{"keys are case-sensitive", Request{Principal: "other", Action: "s3:GetObject", Key: "Public/cat.jpg"}, None},
		{"list from loopback", Request{Action: "s3:ListBucket", Context: local}, Allow},
		{"list from elsewhere", Request{Action: "s3:ListBucket", Context: remote}, None},
		{"list without prefix", Request{Action: "s3:ListBucket", Context: MapContext{"aws:sourceip": {"127.0.0.1"}}}, None},
		{"list is on the bucket, not a key", Request{Action: "s3:ListBucket", Key: "public/x", Context: local}, None},
		{"put without TLS", Request{Principal: "tester", Action: "s3:PutObject", Key: "a", Context: local}, Deny},
		{"put with TLS", Request{Principal: "tester", Action: "s3:PutObject", Key: "a", Context: remote}, None},
		{"put with no transport key", Request{Principal: "tester", Action: "s3:PutObject", Key: "a"}, None},
	} {
		if got := p.Evaluate(tc.r); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestEvaluateNotElements(t *testing.T) {
	p := mustParse(t, doc(
		`{"Effect":"Deny","NotPrincipal":{"AWS":["tester","other"]},"Action":"s3:*","Resource":"arn:aws:s3:::photos/*"}`,
		`{"Effect":"Allow","Principal":{"AWS":"other"},"NotAction":["s3:Delete*","s3:Put*"],"NotResource":"arn:aws:s3:::photos/private/*"}`,
	))
	for _, tc := range []struct {
		r    Request
		want Decision
	}{
		{Request{Principal: "third", Action: "s3:GetObject", Key: "x"}, Deny},
		{Request{Action: "s3:GetObject", Key: "x"}, Deny}, // anonymous is not among the NotPrincipal
		{Request{Principal: "other", Action: "s3:GetObject", Key: "x"}, Allow},
		{Request{Principal: "other", Action: "s3:ListBucket"}, Allow}, // the bucket is not under NotResource
		{Request{Principal: "other", Action: "s3:DeleteObject", Key: "x"}, None},
		{Request{Principal: "other", Action: "s3:GetObject", Key: "private/x"}, None},
	} {
		if got := p.Evaluate(tc.r); got != tc.want {
			t.Errorf("%+v: %v, want %v", tc.r, got, tc.want)
		}
	}
}

// cond evaluates a single Allow statement whose Condition block is c against ctx.
func cond(t *testing.T, c string, ctx MapContext) bool {
	t.Helper()
	p := mustParse(t, doc(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":`+c+`}`))
	return p.Evaluate(Request{Action: "s3:GetObject", Key: "k", Context: ctx}) == Allow
}

func TestConditionOperators(t *testing.T) {
	m := func(kv ...string) MapContext {
		out := MapContext{}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = append(out[kv[i]], kv[i+1])
		}
		return out
	}
	for _, tc := range []struct {
		c    string
		ctx  MapContext
		want bool
	}{
		{`{"StringEquals":{"aws:UserAgent":["a","b"]}}`, m("aws:useragent", "b"), true},
		{`{"StringEquals":{"aws:UserAgent":"a"}}`, m("aws:useragent", "A"), false},
		{`{"StringEquals":{"aws:UserAgent":"a"}}`, m(), false},
		{`{"StringNotEquals":{"aws:UserAgent":["a","b"]}}`, m("aws:useragent", "c"), true},
		{`{"StringNotEquals":{"aws:UserAgent":["a","b"]}}`, m("aws:useragent", "a"), false},
		{`{"StringNotEquals":{"aws:UserAgent":"a"}}`, m(), true}, // a missing key matches no value
		{`{"StringEqualsIgnoreCase":{"aws:UserAgent":"abc"}}`, m("aws:useragent", "ABC"), true},
		{`{"StringNotEqualsIgnoreCase":{"aws:UserAgent":"abc"}}`, m("aws:useragent", "ABC"), false},
		{`{"StringLike":{"aws:Referer":"https://*.example.com/?"}}`, m("aws:referer", "https://www.example.com/a"), true},
		{`{"StringLike":{"aws:Referer":"https://*.example.com/?"}}`, m("aws:referer", "https://www.example.com/ab"), false},
		{`{"StringNotLike":{"aws:Referer":"https://*.example.com/*"}}`, m("aws:referer", "https://evil.test/"), true},
		{`{"StringEqualsIfExists":{"aws:UserAgent":"a"}}`, m(), true},
		{`{"StringEqualsIfExists":{"aws:UserAgent":"a"}}`, m("aws:useragent", "b"), false},
		{`{"NumericEquals":{"s3:max-keys":10}}`, m("s3:max-keys", "10"), true},
		{`{"NumericNotEquals":{"s3:max-keys":"10"}}`, m("s3:max-keys", "10"), false},
		{`{"NumericLessThan":{"s3:max-keys":10}}`, m("s3:max-keys", "10"), false},
		{`{"NumericLessThanEquals":{"s3:max-keys":10}}`, m("s3:max-keys", "10"), true},
		{`{"NumericGreaterThan":{"s3:max-keys":"9.5"}}`, m("s3:max-keys", "10"), true},
		{`{"NumericGreaterThanEquals":{"s3:max-keys":11}}`, m("s3:max-keys", "10"), false},
		{`{"NumericLessThan":{"s3:max-keys":10}}`, m("s3:max-keys", "lots"), false},
		{`{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}`, m("aws:currenttime", "2026-12-05T01:00:00Z"), true},
		{`{"DateGreaterThan":{"aws:CurrentTime":"2030-01-01"}}`, m("aws:currenttime", "2026-12-05T01:00:00Z"), false},
		{`{"DateGreaterThanEquals":{"aws:EpochTime":"1700000000"}}`, m("aws:epochtime", "1700000000"), true},
		{`{"DateEquals":{"aws:EpochTime":"2023-11-14T22:13:20Z"}}`, m("aws:epochtime", "1700000000"), true},
		{`{"DateNotEquals":{"aws:EpochTime":1700000000}}`, m("aws:epochtime", "1700000001"), true},
		{`{"DateLessThanEquals":{"aws:CurrentTime":"2026-12-05T01:00:00+01:00"}}`, m("aws:currenttime", "2026-12-05T00:00:00Z"), true},
		{`{"Bool":{"aws:SecureTransport":"true"}}`, m("aws:securetransport", "true"), true},
		{`{"Bool":{"aws:SecureTransport":true}}`, m("aws:securetransport", "false"), false},
		{`{"Bool":{"aws:SecureTransport":"false"}}`, m(), false},
		{`{"BinaryEquals":{"aws:Referer":"QUJD"}}`, m("aws:referer", "QUJD"), true},
		{`{"IpAddress":{"aws:SourceIp":"127.0.0.0/8"}}`, m("aws:sourceip", "127.9.9.9"), true},
		{`{"IpAddress":{"aws:SourceIp":"127.0.0.0/8"}}`, m("aws:sourceip", "::ffff:127.0.0.1"), true},
		{`{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","2001:db8::/32"]}}`, m("aws:sourceip", "2001:db8::1"), true},
		{`{"IpAddress":{"aws:SourceIp":"2001:db8::/32"}}`, m("aws:sourceip", "2001:db9::1"), false},
		{`{"IpAddress":{"aws:SourceIp":"192.0.2.1"}}`, m("aws:sourceip", "192.0.2.1"), true},
		{`{"NotIpAddress":{"aws:SourceIp":"127.0.0.0/8"}}`, m("aws:sourceip", "192.0.2.1"), true},
		{`{"NotIpAddress":{"aws:SourceIp":"127.0.0.0/8"}}`, m("aws:sourceip", "127.0.0.1"), false},
		{`{"ArnLike":{"aws:SourceArn":"arn:aws:s3:::photos*"}}`, m("aws:sourcearn", "arn:aws:s3:::photos-logs"), true},
		{`{"ArnEquals":{"aws:SourceArn":"arn:aws:iam::*:root"}}`, m("aws:sourcearn", "arn:aws:iam::other:root"), true},
		{`{"ArnNotLike":{"aws:SourceArn":"arn:aws:iam::*:root"}}`, m("aws:sourcearn", "arn:aws:iam::other:root"), false},
		{`{"Null":{"s3:x-amz-server-side-encryption":"true"}}`, m(), true},
		{`{"Null":{"s3:x-amz-server-side-encryption":"true"}}`, m("s3:x-amz-server-side-encryption", "AES256"), false},
		{`{"Null":{"s3:x-amz-server-side-encryption":"false"}}`, m("s3:x-amz-server-side-encryption", "AES256"), true},
		{`{"ForAnyValue:StringEquals":{"aws:UserAgent":["a","b"]}}`, m("aws:useragent", "x", "aws:useragent", "b"), true},
		{`{"ForAnyValue:StringEquals":{"aws:UserAgent":["a","b"]}}`, m(), false},
		{`{"ForAllValues:StringEquals":{"aws:UserAgent":["a","b"]}}`, m("aws:useragent", "a", "aws:useragent", "b"), true},
		{`{"ForAllValues:StringEquals":{"aws:UserAgent":["a","b"]}}`, m("aws:useragent", "a", "aws:useragent", "c"), false},
		{`{"ForAllValues:StringEquals":{"aws:UserAgent":["a","b"]}}`, m(), true},
		{`{"ForAnyValue:StringNotEquals":{"aws:UserAgent":"a"}}`, m("aws:useragent", "a", "aws:useragent", "c"), true},
		// Keys are ANDed, values ORed.
		{`{"StringEquals":{"aws:UserAgent":["a","b"],"aws:Referer":"r"}}`, m("aws:useragent", "a", "aws:referer", "r"), true},
		{`{"StringEquals":{"aws:UserAgent":["a","b"],"aws:Referer":"r"}}`, m("aws:useragent", "a", "aws:referer", "q"), false},
		{`{"StringEquals":{"aws:UserAgent":"a"},"StringLike":{"aws:UserAgent":"*"}}`, m("aws:useragent", "a"), true},
		// Operator names and keys are case-insensitive.
		{`{"stringequals":{"AWS:USERAGENT":"a"}}`, m("aws:useragent", "a"), true},
	} {
		if got := cond(t, tc.c, tc.ctx); got != tc.want {
			t.Errorf("%s with %v: %v, want %v", tc.c, tc.ctx, got, tc.want)
		}
	}
}

func TestIsPublic(t *testing.T) {
	stmt := func(principal, condition string) string {
		s := `{"Effect":"Allow","Principal":` + principal + `,"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"`
		if condition != "" {
			s += `,"Condition":` + condition
		}
		return doc(s + `}`)
	}
	for _, tc := range []struct {
		doc  string
		want bool
	}{
		{stmt(`"*"`, ""), true},
		{stmt(`{"AWS":"*"}`, ""), true},
		{stmt(`{"AWS":["other","*"]}`, ""), true},
		{stmt(`{"AWS":"other"}`, ""), false},
		{stmt(`{"CanonicalUser":"other"}`, ""), false},
		{stmt(`"*"`, `{"IpAddress":{"aws:SourceIp":"127.0.0.0/8"}}`), false},
		{stmt(`"*"`, `{"IpAddress":{"aws:SourceIp":["127.0.0.0/8","0.0.0.0/1"]}}`), true},
		{stmt(`"*"`, `{"IpAddress":{"aws:SourceIp":"2001:db8::/32"}}`), false},
		{stmt(`"*"`, `{"IpAddress":{"aws:SourceIp":"2001::/16"}}`), true},
		{stmt(`"*"`, `{"NotIpAddress":{"aws:SourceIp":"127.0.0.0/8"}}`), true},
		{stmt(`"*"`, `{"IpAddressIfExists":{"aws:SourceIp":"127.0.0.0/8"}}`), true},
		{stmt(`"*"`, `{"StringEquals":{"aws:PrincipalAccount":"other"}}`), false},
		{stmt(`"*"`, `{"StringLike":{"aws:PrincipalAccount":"oth*"}}`), true},
		{stmt(`"*"`, `{"ForAllValues:StringEquals":{"aws:PrincipalAccount":"other"}}`), true},
		{stmt(`"*"`, `{"StringEquals":{"aws:UserAgent":"curl"}}`), true},
		{stmt(`"*"`, `{"Bool":{"aws:SecureTransport":"true"}}`), true},
		{stmt(`"*"`, `{"Bool":{"aws:SecureTransport":"true"},"StringEquals":{"aws:SourceVpce":"vpce-1"}}`), false},
		{doc(`{"Effect":"Allow","NotPrincipal":{"AWS":"other"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`), true},
		{doc(`{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`), false},
	} {
		if got := mustParse(t, tc.doc).IsPublic(); got != tc.want {
			t.Errorf("%s: public %v, want %v", tc.doc, got, tc.want)
		}
	}
}

func TestAccounts(t *testing.T) {
	p := mustParse(t, doc(
		`{"Effect":"Allow","Principal":{"AWS":["b","arn:aws:iam::a:root","*"]},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`,
		`{"Effect":"Deny","NotPrincipal":{"CanonicalUser":"c","AWS":"a"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`))
	got := p.Accounts()
	slices.Sort(got)
	if !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("accounts %v", got)
	}
}
