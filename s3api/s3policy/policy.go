package s3policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// MaxBytes is the largest bucket policy S3 accepts: 20 KiB.
const MaxBytes = 20 << 10

// Policy is a parsed, validated bucket policy. It is immutable.
type Policy struct {
	// Version is the policy language version: "2012-10-17" or "2008-10-17" (the default
	// when the document names none).
	Version string
	// ID is the document's optional Id.
	ID         string
	bucket     string
	statements []statement
	public     bool
}

// statement is one compiled Statement.
type statement struct {
	sid          string
	deny         bool
	principals   principals
	notPrincipal bool
	actions      []string // case-insensitive patterns over "s3:<Name>"
	notAction    bool
	resources    []string // patterns over "bucket" and "bucket/key"
	notResource  bool
	conditions   []condition
}

// Parse reads and validates doc as the policy of bucket, refusing with an [*Error] what S3
// would refuse as MalformedPolicy.
func Parse(doc []byte, bucket string) (*Policy, error) {
	if len(doc) > MaxBytes {
		return nil, malformed("Policies cannot exceed %d bytes (20 KiB); this one is %d bytes", MaxBytes, len(doc))
	}
	if t := bytes.TrimLeft(doc, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return nil, malformed("Policies must be valid JSON and the first byte must be '{'")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(doc, &top); err != nil {
		return nil, malformed("Policies must be valid JSON: %v", err)
	}
	p := &Policy{Version: "2008-10-17", bucket: bucket}
	for field, raw := range top {
		switch field {
		case "Version":
			if json.Unmarshal(raw, &p.Version) != nil || (p.Version != "2012-10-17" && p.Version != "2008-10-17") {
				return nil, malformed("Invalid policy document version: %s (2012-10-17 or 2008-10-17)", raw)
			}
		case "Id":
			if json.Unmarshal(raw, &p.ID) != nil {
				return nil, malformed("Id must be a string")
			}
		case "Statement":
		default:
			return nil, malformed("Unknown field %q in the policy", field)
		}
	}
	raw, ok := top["Statement"]
	if !ok {
		return nil, malformed("Missing required field Statement")
	}
	var list []json.RawMessage
	if t := bytes.TrimLeft(raw, " \t\r\n"); len(t) > 0 && t[0] == '{' {
		list = []json.RawMessage{raw}
	} else if err := json.Unmarshal(raw, &list); err != nil {
		return nil, malformed("Statement must be an object or a list of objects")
	}
	if len(list) == 0 {
		return nil, malformed("Could not parse the policy: Statement is empty")
	}
	sids := map[string]bool{}
	for i, rs := range list {
		st, err := p.compileStatement(rs)
		if err != nil {
			msg := err.Error()
			var e *Error
			if errors.As(err, &e) {
				msg = e.Message
			}
			return nil, malformed("Statement %d%s: %s", i+1, sidSuffix(st.sid), msg)
		}
		if st.sid != "" {
			if sids[st.sid] {
				return nil, malformed("Statement IDs (SID) in a single policy must be unique: %q repeats", st.sid)
			}
			sids[st.sid] = true
		}
		p.statements = append(p.statements, st)
	}
	p.public = p.computePublic()
	return p, nil
}

func sidSuffix(sid string) string {
	if sid == "" {
		return ""
	}
	return " (Sid " + sid + ")"
}

// statementFields are the elements a Statement may hold.
var statementFields = map[string]bool{"Sid": true, "Effect": true, "Principal": true, "NotPrincipal": true,
	"Action": true, "NotAction": true, "Resource": true, "NotResource": true, "Condition": true}

func (p *Policy) compileStatement(raw json.RawMessage) (statement, error) {
	var st statement
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return st, malformed("a statement must be an object")
	}
	if s, ok := m["Sid"]; ok && json.Unmarshal(s, &st.sid) != nil {
		return st, malformed("Sid must be a string")
	}
	for field := range m {
		if !statementFields[field] {
			return st, malformed("Unknown field %q", field)
		}
	}
	var effect string
	if e, ok := m["Effect"]; !ok {
		return st, malformed("Missing required field Effect")
	} else if json.Unmarshal(e, &effect) != nil || (effect != "Allow" && effect != "Deny") {
		return st, malformed("Invalid effect: %s (Allow or Deny)", e)
	}
	st.deny = effect == "Deny"

	pr, notPr, err := exactlyOne(m, "Principal", "NotPrincipal")
	if err != nil {
		return st, err
	}
	st.notPrincipal = notPr
	if st.principals, err = compilePrincipals(pr); err != nil {
		return st, err
	}

	ar, notA, err := exactlyOne(m, "Action", "NotAction")
	if err != nil {
		return st, err
	}
	st.notAction = notA
	actions, err := stringOrList(ar)
	if err != nil || len(actions) == 0 {
		return st, malformed("Action must be a string or a non-empty list of strings")
	}
	var actionKinds resourceKind
	for _, a := range actions {
		pat, kinds, err := compileAction(a)
		if err != nil {
			return st, err
		}
		st.actions = append(st.actions, pat)
		actionKinds |= kinds
	}

	rr, notR, err := exactlyOne(m, "Resource", "NotResource")
	if err != nil {
		return st, err
	}
	st.notResource = notR
	resources, err := stringOrList(rr)
	if err != nil || len(resources) == 0 {
		return st, malformed("Resource must be a string or a non-empty list of strings")
	}
	var resourceKinds resourceKind
	for _, r := range resources {
		if p.Version == "2012-10-17" && strings.Contains(r, "${") {
			return st, malformed("Policy has invalid resource: %q: policy variables are not supported", r)
		}
		pat, kinds, err := compileResource(r, p.bucket)
		if err != nil {
			return st, err
		}
		st.resources = append(st.resources, pat)
		resourceKinds |= kinds
	}
	if !notA && !notR && actionKinds&resourceKinds == 0 {
		return st, malformed("Action does not apply to any resource(s) in statement")
	}

	if c, ok := m["Condition"]; ok {
		if st.conditions, err = compileConditions(c); err != nil {
			return st, err
		}
	}
	return st, nil
}

// exactlyOne returns the one of the two elements m holds, and whether it is the Not form.
func exactlyOne(m map[string]json.RawMessage, name, notName string) (json.RawMessage, bool, error) {
	v, has := m[name]
	nv, hasNot := m[notName]
	switch {
	case has && hasNot:
		return nil, false, malformed("a statement may hold %s or %s, not both", name, notName)
	case hasNot:
		return nv, true, nil
	case !has:
		return nil, false, malformed("Missing required field %s", name)
	}
	return v, false, nil
}

// Bucket is the bucket the policy was parsed for.
func (p *Policy) Bucket() string { return p.bucket }

// Statements is how many statements the policy holds.
func (p *Policy) Statements() int { return len(p.statements) }
