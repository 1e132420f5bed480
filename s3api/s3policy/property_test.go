package s3policy

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// wildcardRegexp is the reference meaning of a wildcard pattern.
func wildcardRegexp(pattern string, fold bool) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^(?s)")
	if fold {
		b.WriteString("(?i)")
	}
	for _, r := range pattern {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

func TestWildcardMatchesRegexpReference(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		fold := rapid.Bool().Draw(t, "fold")
		subject := []rune("ab/é")
		if fold {
			subject = []rune("aAbB/") // ASCII only: folding is ASCII-only, as action names are
		}
		pattern := rapid.StringOfN(rapid.SampledFrom(append([]rune{'*', '?'}, subject...)), 0, 10, -1).Draw(t, "pattern")
		s := rapid.StringOfN(rapid.SampledFrom(subject), 0, 12, -1).Draw(t, "s")
		want := wildcardRegexp(pattern, fold).MatchString(s)
		if got := matchWildcard(pattern, s, fold); got != want {
			t.Fatalf("matchWildcard(%q, %q, %v) = %v, regexp says %v", pattern, s, fold, got, want)
		}
	})
}

// Pools the random statements and requests draw from: small, so that they often meet.
var (
	propPrincipals = []string{`"Principal":"*"`, `"Principal":{"AWS":"other"}`, `"Principal":{"AWS":["tester","other"]}`,
		`"NotPrincipal":{"AWS":"other"}`, `"Principal":{"AWS":"arn:aws:iam::third:root"}`}
	propActions = []string{`"s3:GetObject"`, `"s3:Get*"`, `"s3:*"`, `"*"`, `"s3:PutObject"`, `"s3:ListBucket"`,
		`["s3:GetObject","s3:ListBucket"]`}
	propNotActions = []string{`"s3:PutObject"`, `"s3:List*"`}
	propResources  = []string{`"arn:aws:s3:::photos"`, `"arn:aws:s3:::photos/*"`, `"arn:aws:s3:::photos/a*"`,
		`"arn:aws:s3:::photos/a/?"`, `["arn:aws:s3:::photos","arn:aws:s3:::photos/b/*"]`, `"arn:aws:s3:::photo*"`}
	propConditions = []string{``, `,"Condition":{"IpAddress":{"aws:SourceIp":"127.0.0.0/8"}}`,
		`,"Condition":{"Bool":{"aws:SecureTransport":"true"}}`, `,"Condition":{"StringNotEquals":{"aws:UserAgent":"bot"}}`,
		`,"Condition":{"StringLike":{"s3:prefix":"a/*"}}`, `,"Condition":{"Null":{"s3:prefix":"true"}}`}
	propAccounts = []string{"", "tester", "other", "third"}
	propKeys     = []string{"", "a", "a/b", "a/bc", "b/x", "c"}
	propReqActs  = []string{"s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:DeleteObject", "s3:GetObjectAcl"}
	propContexts = []MapContext{{}, {"aws:sourceip": {"127.0.0.1"}, "aws:securetransport": {"true"}},
		{"aws:sourceip": {"192.0.2.1"}, "aws:useragent": {"bot"}, "s3:prefix": {"a/x"}}}
)

func drawStatement(t *rapid.T, label string) string {
	effect := rapid.SampledFrom([]string{"Allow", "Deny"}).Draw(t, label+".effect")
	action := `"Action":` + rapid.SampledFrom(propActions).Draw(t, label+".action")
	if rapid.IntRange(0, 5).Draw(t, label+".not") == 0 {
		action = `"NotAction":` + rapid.SampledFrom(propNotActions).Draw(t, label+".notaction")
	}
	return `{"Effect":"` + effect + `",` + rapid.SampledFrom(propPrincipals).Draw(t, label+".principal") + `,` + action +
		`,"Resource":` + rapid.SampledFrom(propResources).Draw(t, label+".resource") +
		rapid.SampledFrom(propConditions).Draw(t, label+".condition") + `}`
}

func drawRequest(t *rapid.T) Request {
	return Request{
		Principal: rapid.SampledFrom(propAccounts).Draw(t, "principal"),
		Action:    rapid.SampledFrom(propReqActs).Draw(t, "action"),
		Key:       rapid.SampledFrom(propKeys).Draw(t, "key"),
		Context:   rapid.SampledFrom(propContexts).Draw(t, "context"),
	}
}

// parseOrSkip parses a generated policy; a combination S3 refuses (an action that applies
// to none of the resources) is not a case of the property.
func parseOrSkip(t *rapid.T, statements []string) *Policy {
	p, err := Parse([]byte(doc(statements...)), "photos")
	var pe *Error
	if errors.As(err, &pe) && strings.Contains(pe.Message, "does not apply") {
		t.Skip("incompatible action and resource")
	}
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return p
}

// TestEvaluateIsTheMaxOfStatements: a policy's decision is the strongest of its
// statements' (None < Allow < Deny). So adding a statement never weakens a decision: an
// added Allow cannot undo a Deny, and an added Deny never turns anything into Allow.
func TestEvaluateIsTheMaxOfStatements(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 4).Draw(t, "n")
		var stmts []string
		for i := range n {
			stmts = append(stmts, drawStatement(t, "s"+string(rune('0'+i))))
		}
		extra := drawStatement(t, "extra")
		r := drawRequest(t)
		base := parseOrSkip(t, stmts).Evaluate(r)
		alone := parseOrSkip(t, []string{extra}).Evaluate(r)
		both := parseOrSkip(t, append(stmts, extra)).Evaluate(r)
		if want := max(base, alone); both != want {
			t.Fatalf("policy says %v, the extra statement alone %v, together %v (want %v)", base, alone, both, want)
		}
		if base == Deny && both != Deny {
			t.Fatalf("adding a statement turned Deny into %v", both)
		}
	})
}

// TestParseNeverPanics: any bytes either parse or are refused with an *Error.
func TestParseNeverPanics(t *testing.T) {
	valid := doc(`{"Effect":"Allow","Principal":{"AWS":["a","*"]},"Action":["s3:Get*"],"Resource":"arn:aws:s3:::photos/*","Condition":{"ForAnyValue:StringLike":{"aws:UserAgent":["a*",1,true]}}}`)
	rapid.Check(t, func(t *rapid.T) {
		b := []byte(valid)
		for range rapid.IntRange(1, 4).Draw(t, "edits") {
			i := rapid.IntRange(0, len(b)-1).Draw(t, "at")
			switch rapid.IntRange(0, 2).Draw(t, "op") {
			case 0:
				b = append(b[:i], b[i+1:]...)
			case 1:
				c := rapid.SampledFrom([]byte(`{}[]":,*?/ax1`)).Draw(t, "byte")
				b = append(b[:i], append([]byte{c}, b[i:]...)...)
			case 2:
				b[i] = rapid.Byte().Draw(t, "replace")
			}
			if len(b) == 0 {
				b = []byte("{")
			}
		}
		p, err := Parse(b, "photos")
		var pe *Error
		if err != nil && !errors.As(err, &pe) {
			t.Fatalf("%q: error %v is not an *Error", b, err)
		}
		if err == nil {
			p.Evaluate(Request{Principal: "a", Action: "s3:GetObject", Key: "k", Context: MapContext{"aws:useragent": {"ab"}}})
		}
	})
}

// FuzzParse: whatever the document, Parse refuses it with an *Error or returns a policy
// that evaluates without panicking and whose public-ness is stable across parses.
func FuzzParse(f *testing.F) {
	f.Add([]byte(benchPolicy))
	f.Add([]byte(doc(`{"Effect":"Allow","NotPrincipal":{"AWS":"x"},"NotAction":"s3:Put*","NotResource":"arn:aws:s3:::photos/?"}`)))
	f.Add([]byte(`{"Statement":{"Effect":"Deny","Principal":"*","Action":"*","Resource":"arn:aws:s3:::photos*","Condition":{"ForAllValues:StringLikeIfExists":{"aws:UserAgent":["*"]}}}}`))
	f.Fuzz(func(t *testing.T, d []byte) {
		p, err := Parse(d, "photos")
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not an *Error", err)
			}
			return
		}
		p.Evaluate(Request{Principal: "x", Action: "s3:GetObject", Key: "a/b", Context: MapContext{"aws:useragent": {"u"}}})
		p.Evaluate(Request{Action: "s3:ListBucket"})
		if again, err := Parse(d, "photos"); err != nil || again.IsPublic() != p.IsPublic() {
			t.Fatalf("second parse: %v", err)
		}
	})
}
