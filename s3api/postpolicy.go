package s3api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The policy of a POST Object form: base64 JSON with an expiration and the conditions
// every field of the form must meet, signed by the uploader's key.

// postPolicy is a decoded policy.
type postPolicy struct {
	expiration time.Time
	conditions []postCondition
	// minSize and maxSize are content-length-range's bounds; maxSize -1 when unbounded.
	minSize, maxSize int64
}

// postCondition is one eq or starts-with condition on a field (lower-case, without "$").
type postCondition struct {
	op, field, value string
	raw              string // as the policy wrote it, for the error message
}

// parsePostPolicy decodes a policy field. Errors are InvalidPolicyDocument.
func parsePostPolicy(b64 string) (*postPolicy, error) {
	invalid := func(msg string) error { return errorf(ErrInvalidPolicyDocument, "Invalid Policy: "+msg) }
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, invalid("Invalid base64 encoding.")
	}
	var doc struct {
		Expiration string            `json:"expiration"`
		Conditions []json.RawMessage `json:"conditions"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, invalid("Invalid JSON.")
	}
	p := &postPolicy{maxSize: -1}
	if p.expiration, err = time.Parse(time.RFC3339, doc.Expiration); err != nil {
		return nil, invalid("Invalid 'expiration' value: '" + doc.Expiration + "'")
	}
	if doc.Conditions == nil {
		return nil, invalid("Policy missing conditions.")
	}
	for _, c := range doc.Conditions {
		if err := p.addCondition(c); err != nil {
			return nil, invalid(err.Error())
		}
	}
	return p, nil
}

// addCondition reads {"field": "value"}, ["eq"|"starts-with", "$field", "value"] or
// ["content-length-range", min, max].
func (p *postPolicy) addCondition(c json.RawMessage) error {
	var exact map[string]any
	if json.Unmarshal(c, &exact) == nil {
		if len(exact) != 1 {
			return fmt.Errorf("Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.")
		}
		for k, v := range exact {
			s, ok := v.(string)
			if !ok {
				return fmt.Errorf("Invalid Simple-Condition: value of %s must be a string.", k)
			}
			p.conditions = append(p.conditions, postCondition{op: "eq", field: strings.ToLower(k), value: s, raw: string(c)})
		}
		return nil
	}
	var list []any
	dec := json.NewDecoder(bytes.NewReader(c))
	dec.UseNumber()
	if dec.Decode(&list) != nil || len(list) == 0 {
		return fmt.Errorf("Invalid condition: %s", c)
	}
	op, _ := list[0].(string)
	switch op = strings.ToLower(op); op {
	case "eq", "starts-with":
		field, _ := list[min(1, len(list)-1)].(string)
		value, ok := list[len(list)-1].(string)
		if len(list) != 3 || !strings.HasPrefix(field, "$") || !ok {
			return fmt.Errorf("Invalid condition: %s", c)
		}
		p.conditions = append(p.conditions, postCondition{op: op, field: strings.ToLower(field[1:]), value: value, raw: string(c)})
	case "content-length-range":
		if len(list) != 3 {
			return fmt.Errorf("Invalid content-length-range: %s", c)
		}
		lo, err1 := policyInt(list[1])
		hi, err2 := policyInt(list[2])
		if err1 != nil || err2 != nil || lo < 0 || hi < lo {
			return fmt.Errorf("Invalid content-length-range: %s", c)
		}
		p.minSize, p.maxSize = lo, hi
	default:
		return fmt.Errorf("Invalid condition: %s", c)
	}
	return nil
}

// policyInt reads a number of a policy, written as a JSON number or a string of digits.
func policyInt(v any) (int64, error) {
	switch n := v.(type) {
	case json.Number:
		return n.Int64()
	case string:
		return strconv.ParseInt(n, 10, 64)
	}
	return 0, fmt.Errorf("not a number")
}

// postExemptFields need no condition: the signature and what it is computed from, the
// file, and x-ignore-* fields.
var postExemptFields = map[string]bool{"policy": true, "x-amz-signature": true, "signature": true,
	"awsaccesskeyid": true, "file": true}

// check applies the policy to the form's fields (bucket is the request's bucket) and the
// file's size, at now. Failures are S3's: AccessDenied "Invalid according to Policy",
// EntityTooSmall, EntityTooLarge.
func (p *postPolicy) check(fields map[string]string, bucket string, size int64, now time.Time) error {
	denied := func(msg string) error { return errorf(ErrAccessDenied, "Invalid according to Policy: "+msg) }
	if !now.Before(p.expiration) {
		return denied("Policy expired.")
	}
	value := func(field string) string {
		if field == "bucket" {
			return bucket
		}
		return fields[field]
	}
	covered := map[string]bool{}
	for _, c := range p.conditions {
		covered[c.field] = true
		v := value(c.field)
		ok := c.op == "eq" && v == c.value || c.op == "starts-with" && strings.HasPrefix(v, c.value)
		if c.op == "starts-with" && c.field == "content-type" {
			// Content-Type may list several types, each of which must match.
			ok = true
			for t := range strings.SplitSeq(v, ",") {
				ok = ok && strings.HasPrefix(strings.TrimSpace(t), c.value)
			}
		}
		if !ok {
			return denied("Policy Condition failed: " + c.raw)
		}
	}
	var extra []string
	for name := range fields {
		if !covered[name] && !postExemptFields[name] && !strings.HasPrefix(name, "x-ignore-") {
			extra = append(extra, name)
		}
	}
	if len(extra) > 0 {
		slices.Sort(extra)
		return denied("Extra input fields: " + strings.Join(extra, ", "))
	}
	if size < p.minSize {
		return errorf(ErrEntityTooSmall, "Your proposed upload is smaller than the minimum allowed size")
	}
	if p.maxSize >= 0 && size > p.maxSize {
		return errorf(ErrEntityTooLarge, "Your proposed upload exceeds the maximum allowed size")
	}
	return nil
}
