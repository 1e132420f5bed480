package s3policy

// Decision is what a policy says of a request.
type Decision uint8

const (
	// None: no statement applies.
	None Decision = iota
	// Allow: an Allow statement applies and no Deny does.
	Allow
	// Deny: a Deny statement applies; it wins over every Allow.
	Deny
)

func (d Decision) String() string {
	switch d {
	case Allow:
		return "Allow"
	case Deny:
		return "Deny"
	}
	return "None"
}

// Request is what a policy is asked about.
type Request struct {
	// Principal is the caller's account ID; "" for an anonymous request.
	Principal string
	// Action is the IAM action, such as "s3:GetObject" (case-insensitive).
	Action string
	// Key is the object the action is on; "" for the bucket itself.
	Key string
	// Context answers condition keys; nil means the request has none.
	Context Context
}

// Evaluate returns the policy's decision on r: Deny if any Deny statement applies, else
// Allow if any Allow statement does, else None.
func (p *Policy) Evaluate(r Request) Decision {
	ctx := r.Context
	if ctx == nil {
		ctx = MapContext(nil)
	}
	resource := p.bucket
	if r.Key != "" {
		resource = p.bucket + "/" + r.Key
	}
	d := None
	for i := range p.statements {
		st := &p.statements[i]
		if d == Allow && !st.deny {
			continue // already allowed; only a Deny can change the answer
		}
		if st.applies(&r, resource, ctx) {
			if st.deny {
				return Deny
			}
			d = Allow
		}
	}
	return d
}

// applies reports whether st covers the request: principal, action, resource and every
// condition. Cheap tests go first.
func (st *statement) applies(r *Request, resource string, ctx Context) bool {
	if anyMatch(st.actions, r.Action, true) == st.notAction {
		return false
	}
	if st.principals.has(r.Principal) == st.notPrincipal {
		return false
	}
	if anyMatch(st.resources, resource, false) == st.notResource {
		return false
	}
	for i := range st.conditions {
		if !st.conditions[i].holds(ctx) {
			return false
		}
	}
	return true
}

func anyMatch(patterns []string, s string, fold bool) bool {
	for _, p := range patterns {
		if matchWildcard(p, s, fold) {
			return true
		}
	}
	return false
}
