package s3policy

import "strings"

// IsPublic reports whether the policy is public in S3's sense ("The meaning of public" in
// S3's Block Public Access): some Allow statement grants to everyone ("*", {"AWS": "*"},
// or a NotPrincipal) without a condition that pins the caller down to fixed values of a
// key that identifies who or where it is. Block Public Access acts on this answer:
// BlockPublicPolicy refuses such a policy, RestrictPublicBuckets confines it to the owner.
func (p *Policy) IsPublic() bool { return p.public }

func (p *Policy) computePublic() bool {
	for i := range p.statements {
		st := &p.statements[i]
		if st.deny || !(st.notPrincipal || st.principals.everyone) {
			continue
		}
		restricted := false
		for j := range st.conditions {
			if st.conditions[j].restrictsCaller() {
				restricted = true
				break
			}
		}
		if !restricted {
			return true
		}
	}
	return false
}

// restrictingKeys are the condition keys S3 accepts as making a grant to "*" non-public
// when they are tied to fixed values: they name the caller's account, organization,
// network or the resource it comes through.
var restrictingKeys = map[string]bool{
	"aws:sourceip": true, "aws:sourcearn": true, "aws:sourcevpc": true, "aws:sourcevpce": true,
	"aws:sourceowner": true, "aws:sourceaccount": true, "aws:userid": true, "aws:principalarn": true,
	"aws:principalaccount": true, "aws:principalorgid": true,
	"s3:dataaccesspointarn": true, "s3:dataaccesspointaccount": true,
}

// restrictsCaller reports whether the condition holds only for callers named by fixed
// values of a restricting key. A negated operator, IfExists (true when the key is absent),
// ForAllValues (true when it is empty), a wildcard or a policy variable in a value, or an
// address range wider than /8 (IPv4) or /32 (IPv6) leaves the grant public.
func (c *condition) restrictsCaller() bool {
	if !restrictingKeys[c.key] || c.op.negate || c.ifExists || c.qual == qualAllValues {
		return false
	}
	if c.key == "aws:sourceip" {
		if c.op.typ != typeIP {
			return false
		}
		for _, p := range c.prefixes {
			if (p.Addr().Is4() && p.Bits() < 8) || (!p.Addr().Is4() && p.Bits() < 32) {
				return false
			}
		}
		return true
	}
	switch c.op.typ {
	case typeString, typeStringIgnoreCase, typeStringLike, typeArn:
	default:
		return false
	}
	for _, v := range c.values {
		if v == "" || strings.ContainsAny(v, "*?") || strings.Contains(v, "${") {
			return false
		}
	}
	return true
}
