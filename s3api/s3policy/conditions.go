package s3policy

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Context answers the condition keys of one request. Keys come lower-cased ("aws:sourceip",
// "s3:prefix"); ok is false when the request has no such key, which is not the same as an
// empty value. It is asked only for the keys a matching statement's conditions name, so an
// implementation may compute values lazily.
type Context interface {
	Value(key string) (values []string, ok bool)
}

// MapContext is a Context over a map whose keys are lower-cased condition keys.
type MapContext map[string][]string

// Value implements Context.
func (m MapContext) Value(key string) ([]string, bool) {
	v, ok := m[key]
	return v, ok
}

// valueType is how an operator reads the values it compares.
type valueType uint8

const (
	typeString valueType = iota
	typeStringIgnoreCase
	typeStringLike
	typeNumeric
	typeDate
	typeBool
	typeBinary
	typeIP
	typeArn // ArnEquals and ArnLike match alike: wildcards within each ARN field
	typeNull
)

// comparison is how a numeric or date operator orders the request's value against the
// policy's.
type comparison uint8

const (
	cmpEq comparison = iota
	cmpLt
	cmpLe
	cmpGt
	cmpGe
)

type operator struct {
	typ    valueType
	cmp    comparison
	negate bool // the Not form: true when the value matches none of the policy's
}

// operators are the condition operators of the IAM policy language, lower-cased (names are
// matched case-insensitively), without the IfExists suffix and set qualifiers.
var operators = map[string]operator{
	"stringequals": {typ: typeString}, "stringnotequals": {typ: typeString, negate: true},
	"stringequalsignorecase": {typ: typeStringIgnoreCase}, "stringnotequalsignorecase": {typ: typeStringIgnoreCase, negate: true},
	"stringlike": {typ: typeStringLike}, "stringnotlike": {typ: typeStringLike, negate: true},
	"numericequals": {typ: typeNumeric}, "numericnotequals": {typ: typeNumeric, negate: true},
	"numericlessthan": {typ: typeNumeric, cmp: cmpLt}, "numericlessthanequals": {typ: typeNumeric, cmp: cmpLe},
	"numericgreaterthan": {typ: typeNumeric, cmp: cmpGt}, "numericgreaterthanequals": {typ: typeNumeric, cmp: cmpGe},
	"dateequals": {typ: typeDate}, "datenotequals": {typ: typeDate, negate: true},
	"datelessthan": {typ: typeDate, cmp: cmpLt}, "datelessthanequals": {typ: typeDate, cmp: cmpLe},
	"dategreaterthan": {typ: typeDate, cmp: cmpGt}, "dategreaterthanequals": {typ: typeDate, cmp: cmpGe},
	"bool": {typ: typeBool}, "binaryequals": {typ: typeBinary},
	"ipaddress": {typ: typeIP}, "notipaddress": {typ: typeIP, negate: true},
	"arnequals": {typ: typeArn}, "arnnotequals": {typ: typeArn, negate: true},
	"arnlike": {typ: typeArn}, "arnnotlike": {typ: typeArn, negate: true},
	"null": {typ: typeNull},
}

// qualifier is the set operator prefix for multivalued keys.
type qualifier uint8

const (
	qualNone      qualifier = iota
	qualAnyValue            // ForAnyValue: some request value satisfies the operator
	qualAllValues           // ForAllValues: every request value does (true when there is none)
)

// condition is one (operator, key, values) triple of a Condition block, compiled.
type condition struct {
	op       operator
	name     string // the operator as written, for IsPublic and messages
	qual     qualifier
	ifExists bool
	key      string // lower-cased
	values   []string
	nums     []float64
	times    []time.Time
	prefixes []netip.Prefix
	bools    []bool
	arns     [][]string // ARN fields of each value
	null     bool       // Null: whether the key must be absent
}

// compileConditions reads a Condition element: {operator: {key: value or [values]}}.
func compileConditions(raw json.RawMessage) ([]condition, error) {
	var block map[string]map[string]json.RawMessage
	if err := json.Unmarshal(raw, &block); err != nil {
		return nil, malformed("Invalid Condition: expected {\"<operator>\": {\"<key>\": <value or list>}}")
	}
	var out []condition
	for name, keys := range block {
		if len(keys) == 0 {
			return nil, malformed("Invalid Condition: operator %s names no condition key", name)
		}
		for key, v := range keys {
			c, err := compileCondition(name, key, v)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
	}
	// A fixed order makes evaluation and messages deterministic.
	slices.SortFunc(out, func(a, b condition) int { return strings.Compare(a.name+a.key, b.name+b.key) })
	return out, nil
}

func compileCondition(name, key string, raw json.RawMessage) (condition, error) {
	c := condition{name: name, key: strings.ToLower(key)}
	base := strings.ToLower(name)
	if rest, ok := strings.CutPrefix(base, "foranyvalue:"); ok {
		c.qual, base = qualAnyValue, rest
	} else if rest, ok := strings.CutPrefix(base, "forallvalues:"); ok {
		c.qual, base = qualAllValues, rest
	}
	if rest, ok := strings.CutSuffix(base, "ifexists"); ok && rest != "null" {
		c.ifExists, base = true, rest
	}
	op, ok := operators[base]
	if !ok {
		return c, malformed("Invalid Condition type: unknown condition operator %q", name)
	}
	c.op = op
	if err := checkConditionKey(key); err != nil {
		return c, err
	}
	values, err := conditionValues(raw)
	if err != nil || len(values) == 0 {
		return c, malformed("Invalid Condition: the value of %s %s must be a string, number, boolean or a non-empty list of them", name, key)
	}
	c.values = values
	bad := func(v string, what string) error {
		return malformed("Invalid Condition: %s %s: %q is not %s", name, key, v, what)
	}
	for _, v := range values {
		switch op.typ {
		case typeNumeric:
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return c, bad(v, "a number")
			}
			c.nums = append(c.nums, f)
		case typeDate:
			t, ok := parseDate(v)
			if !ok {
				return c, bad(v, "a date (ISO 8601 or epoch seconds)")
			}
			c.times = append(c.times, t)
		case typeBool, typeNull:
			l := strings.ToLower(v)
			if l != "true" && l != "false" {
				return c, bad(v, "true or false")
			}
			c.bools = append(c.bools, l == "true")
		case typeBinary:
			if _, err := base64.StdEncoding.DecodeString(v); err != nil {
				return c, bad(v, "base64")
			}
		case typeIP:
			p, ok := parsePrefix(v)
			if !ok {
				return c, bad(v, "an IP address or CIDR block")
			}
			c.prefixes = append(c.prefixes, p)
		case typeArn:
			fields := strings.SplitN(v, ":", 6)
			if len(fields) != 6 || !matchWildcard(fields[0], "arn", false) {
				return c, bad(v, "an ARN")
			}
			c.arns = append(c.arns, fields)
		case typeStringLike, typeString, typeStringIgnoreCase:
			if strings.Contains(v, "${") {
				return c, malformed("Invalid Condition: %s %s: policy variables (%q) are not supported", name, key, v)
			}
		}
	}
	if op.typ == typeNull {
		if len(c.bools) != 1 || c.qual != qualNone {
			return c, malformed("Invalid Condition: Null %s takes one value, true or false", key)
		}
		c.null = c.bools[0]
	}
	return c, nil
}

// conditionValues decodes a condition's value: a string, number or boolean, or a list of
// them, each as the text IAM compares.
func conditionValues(raw json.RawMessage) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	one := func(x any) (string, bool) {
		switch x := x.(type) {
		case string:
			return x, true
		case json.Number:
			return x.String(), true
		case bool:
			return strconv.FormatBool(x), true
		}
		return "", false
	}
	if list, ok := v.([]any); ok {
		out := make([]string, 0, len(list))
		for _, x := range list {
			s, ok := one(x)
			if !ok {
				return nil, malformed("not a scalar")
			}
			out = append(out, s)
		}
		return out, nil
	}
	s, ok := one(v)
	if !ok {
		return nil, malformed("not a scalar")
	}
	return []string{s}, nil
}

// s3ConditionKeys are the S3-specific condition keys (lower-cased) a bucket policy may
// name; tag keys (s3:ExistingObjectTag/<key> and the like) are checked by prefix.
var s3ConditionKeys = map[string]bool{
	"s3:prefix": true, "s3:delimiter": true, "s3:max-keys": true, "s3:versionid": true,
	"s3:x-amz-acl": true, "s3:x-amz-content-sha256": true, "s3:x-amz-copy-source": true,
	"s3:x-amz-server-side-encryption": true, "s3:x-amz-server-side-encryption-aws-kms-key-id": true,
	"s3:x-amz-server-side-encryption-customer-algorithm": true, "s3:x-amz-storage-class": true,
	"s3:x-amz-metadata-directive": true, "s3:x-amz-grant-read": true, "s3:x-amz-grant-write": true,
	"s3:x-amz-grant-read-acp": true, "s3:x-amz-grant-write-acp": true, "s3:x-amz-grant-full-control": true,
	"s3:signatureversion": true, "s3:signatureage": true, "s3:authtype": true, "s3:tlsversion": true,
	"s3:locationconstraint": true, "s3:object-lock-mode": true, "s3:object-lock-retain-until-date": true,
	"s3:object-lock-remaining-retention-days": true, "s3:object-lock-legal-hold": true,
	"s3:requestobjecttagkeys": true, "s3:resourceaccount": true, "s3:accesspointnetworkorigin": true,
	"s3:dataaccesspointarn": true, "s3:dataaccesspointaccount": true, "s3:x-amz-object-ownership": true,
	"s3:if-match": true, "s3:if-none-match": true, "s3:x-amz-checksum-algorithm": true,
}

// checkConditionKey refuses keys of other services and unknown S3 keys, as S3 does; global
// aws: keys are all accepted (the ones a Stratus request never has are simply absent).
func checkConditionKey(key string) error {
	k := strings.ToLower(key)
	switch {
	case strings.HasPrefix(k, "aws:") && len(k) > len("aws:"):
		if strings.Contains(k, "${") {
			break
		}
		return nil
	case s3ConditionKeys[k]:
		return nil
	case strings.HasPrefix(k, "s3:existingobjecttag/"), strings.HasPrefix(k, "s3:requestobjecttag/"):
		if _, tag, _ := strings.Cut(k, "/"); tag != "" {
			return nil
		}
	}
	return malformed("Policy has an invalid condition key: %q", key)
}

// parseDate reads IAM's date forms: ISO 8601 (with or without time and zone) or epoch
// seconds.
func parseDate(s string) (time.Time, bool) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), true
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05", "2006-01-02T15:04Z07:00", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// parsePrefix reads a CIDR block or a single address (a /32 or /128).
func parsePrefix(s string) (netip.Prefix, bool) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, false
		}
		return p.Masked(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, a.BitLen()), true
}

// holds reports whether the condition is true of the request.
func (c *condition) holds(ctx Context) bool {
	vals, ok := ctx.Value(c.key)
	present := ok && len(vals) > 0
	if c.op.typ == typeNull {
		return present != c.null
	}
	if !present {
		switch {
		case c.ifExists:
			return true
		case c.qual == qualAllValues:
			return true // vacuously: no value fails
		case c.qual == qualAnyValue:
			return false
		}
		// A key the request lacks matches no value: the Not operators hold.
		return c.op.negate
	}
	test := func(v string) bool { return c.matches(v) != c.op.negate }
	all := c.qual == qualAllValues || (c.qual == qualNone && c.op.negate)
	for _, v := range vals {
		if t := test(v); all && !t {
			return false
		} else if !all && t {
			return true
		}
	}
	return all
}

// matches reports whether one request value matches any of the condition's values, in
// the operator's positive sense (StringNotEquals asks StringEquals). A request value the
// operator cannot read matches nothing.
func (c *condition) matches(v string) bool {
	switch c.op.typ {
	case typeString:
		return slices.Contains(c.values, v)
	case typeStringIgnoreCase:
		for _, pv := range c.values {
			if strings.EqualFold(pv, v) {
				return true
			}
		}
	case typeStringLike:
		for _, pv := range c.values {
			if matchWildcard(pv, v, false) {
				return true
			}
		}
	case typeNumeric:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return false
		}
		for _, pv := range c.nums {
			if compare(f, pv, c.op.cmp) {
				return true
			}
		}
	case typeDate:
		t, ok := parseDate(v)
		if !ok {
			return false
		}
		for _, pv := range c.times {
			if compare(t.Compare(pv), 0, c.op.cmp) {
				return true
			}
		}
	case typeBool:
		l := strings.ToLower(v)
		return (l == "true" || l == "false") && slices.Contains(c.bools, l == "true")
	case typeBinary:
		got, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return false
		}
		for _, pv := range c.values {
			want, _ := base64.StdEncoding.DecodeString(pv)
			if bytes.Equal(got, want) {
				return true
			}
		}
	case typeIP:
		a, err := netip.ParseAddr(v)
		if err != nil {
			return false
		}
		a = a.Unmap()
		for _, p := range c.prefixes {
			if p.Contains(a) {
				return true
			}
		}
	case typeArn:
		fields := strings.SplitN(v, ":", 6)
		if len(fields) != 6 {
			return false
		}
	next:
		for _, pf := range c.arns {
			for i := range pf {
				if !matchWildcard(pf[i], fields[i], false) {
					continue next
				}
			}
			return true
		}
	}
	return false
}

func compare[T int | float64](a, b T, cmp comparison) bool {
	switch cmp {
	case cmpLt:
		return a < b
	case cmpLe:
		return a <= b
	case cmpGt:
		return a > b
	case cmpGe:
		return a >= b
	}
	return a == b
}
