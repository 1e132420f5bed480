package s3policy

import (
	"encoding/json"
	"slices"
	"strings"
)

// principals is a compiled Principal or NotPrincipal element.
type principals struct {
	// everyone is "*" or {"AWS": "*"}: every account and anonymous callers.
	everyone bool
	// accounts are the Stratus account IDs named (by ID, by arn:aws:iam::<id>:root, or as a
	// CanonicalUser, which in Stratus is the account ID too).
	accounts []string
	// services counts service principals: accepted, as S3 accepts them, but no Stratus
	// request is made by one.
	services int
}

// has reports whether account ("" for anonymous) is among p.
func (p *principals) has(account string) bool {
	if p.everyone {
		return true
	}
	return account != "" && slices.Contains(p.accounts, account)
}

func compilePrincipals(raw json.RawMessage) (principals, error) {
	var p principals
	var star string
	if json.Unmarshal(raw, &star) == nil {
		if star != "*" {
			return p, malformed("Invalid principal in policy: a principal given as a string must be \"*\"; name accounts as {\"AWS\": [...]}")
		}
		p.everyone = true
		return p, nil
	}
	var byType map[string]json.RawMessage
	if err := json.Unmarshal(raw, &byType); err != nil || len(byType) == 0 {
		return p, malformed("Invalid principal in policy: expected \"*\" or an object such as {\"AWS\": \"<account>\"}")
	}
	for typ, v := range byType {
		values, err := stringOrList(v)
		if err != nil || len(values) == 0 {
			return p, malformed("Invalid principal in policy: %s must be a string or a non-empty list of strings", typ)
		}
		for _, s := range values {
			switch typ {
			case "AWS":
				if s == "*" {
					p.everyone = true
					continue
				}
				acct, err := principalAccount(s)
				if err != nil {
					return p, err
				}
				p.accounts = append(p.accounts, acct)
			case "CanonicalUser":
				if !validAccountID(s) {
					return p, malformed("Invalid principal in policy: %q is not a canonical user ID", s)
				}
				p.accounts = append(p.accounts, s)
			case "Service":
				if s == "" || strings.ContainsAny(s, "*?") {
					return p, malformed("Invalid principal in policy: %q is not a service principal", s)
				}
				p.services++
			default:
				return p, malformed("Invalid principal in policy: principal type %q is not supported (AWS, CanonicalUser or Service)", typ)
			}
		}
	}
	return p, nil
}

// principalAccount reads an AWS principal naming an account: its ID, or
// arn:aws:iam::<id>:root. Stratus has no IAM users or roles to name otherwise.
func principalAccount(s string) (string, error) {
	if rest, ok := strings.CutPrefix(s, "arn:aws:iam::"); ok {
		id, res, _ := strings.Cut(rest, ":")
		if res != "root" {
			return "", malformed("Invalid principal in policy: %q names an IAM user or role; Stratus principals are accounts (arn:aws:iam::<account>:root or the account ID)", s)
		}
		s = id
	}
	if !validAccountID(s) {
		return "", malformed("Invalid principal in policy: %q is not an account ID", s)
	}
	return s, nil
}

// validAccountID reports whether s could be an account ID: not empty, and free of the
// characters that would make it a pattern or an ARN.
func validAccountID(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("-_.@+=", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

// stringOrList decodes a JSON string or array of strings, the two forms IAM allows for
// most elements.
func stringOrList(raw json.RawMessage) ([]string, error) {
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, err
	}
	return many, nil
}

// Accounts returns the account IDs the policy names as principals (in Principal or
// NotPrincipal), each once, in the order they first appear.
func (p *Policy) Accounts() []string {
	var out []string
	for i := range p.statements {
		for _, a := range p.statements[i].principals.accounts {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}
