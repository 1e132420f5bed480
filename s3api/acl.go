package s3api

import (
	"context"
	"encoding/xml"
	"errors"
	"net/http"
	"slices"
	"strings"

	meta "stratus/meta/client"
)

const (
	headerACL       = "X-Amz-Acl"
	xsiNamespace    = "http://www.w3.org/2001/XMLSchema-instance"
	groupAllUsers   = "http://acs.amazonaws.com/groups/global/AllUsers"
	groupAuthUsers  = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
	groupLogDeliver = "http://acs.amazonaws.com/groups/s3/LogDelivery"
)

// groupURIs maps S3's group grantee URIs to the groups they name.
var groupURIs = map[string]meta.ACLGroup{
	groupAllUsers:   meta.GroupAllUsers,
	groupAuthUsers:  meta.GroupAuthenticatedUsers,
	groupLogDeliver: meta.GroupLogDelivery,
}

// grantHeaders are the x-amz-grant-* headers and the permission each grants.
var grantHeaders = []struct {
	name string
	perm meta.Permission
}{
	{"X-Amz-Grant-Read", meta.PermRead},
	{"X-Amz-Grant-Write", meta.PermWrite},
	{"X-Amz-Grant-Read-Acp", meta.PermReadACP},
	{"X-Amz-Grant-Write-Acp", meta.PermWriteACP},
	{"X-Amz-Grant-Full-Control", meta.PermFullControl},
}

// aclHeaders is what a request's ACL headers ask for: a canned ACL or explicit grants.
type aclHeaders struct {
	canned string       // x-amz-acl, "" when absent
	grants []meta.Grant // from x-amz-grant-*
	set    bool         // any of them was sent
}

// parseACLHeaders reads x-amz-acl and x-amz-grant-*. Both kinds at once is refused, as S3
// does; a grant to an e-mail address is UnresolvableGrantByEmailAddress.
func parseACLHeaders(h http.Header) (aclHeaders, error) {
	var a aclHeaders
	a.canned = h.Get(headerACL)
	for _, gh := range grantHeaders {
		for _, v := range h.Values(gh.name) {
			gs, err := parseGrantHeader(v, gh.perm)
			if err != nil {
				return a, err
			}
			a.grants = append(a.grants, gs...)
			a.set = true
		}
	}
	if a.canned != "" {
		if a.set {
			return a, errorf(ErrInvalidRequest, "Specifying both Canned ACLs and Header Grants is not allowed")
		}
		if !knownCanned(a.canned) {
			return a, errorf(ErrInvalidArgument, "The canned ACL "+a.canned+" is not one S3 defines.")
		}
		a.set = true
	}
	return a, nil
}

// parseGrantHeader reads one x-amz-grant-* value: a comma-separated list of id="…",
// uri="…" or emailAddress="…".
func parseGrantHeader(v string, perm meta.Permission) ([]meta.Grant, error) {
	var out []meta.Grant
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		typ, val, ok := strings.Cut(item, "=")
		if !ok {
			return nil, errorf(ErrInvalidArgument, "Grant header values take the form id=\"…\", uri=\"…\" or emailAddress=\"…\".")
		}
		val = strings.Trim(strings.TrimSpace(val), `"`)
		switch strings.ToLower(strings.TrimSpace(typ)) {
		case "id":
			if val == "" {
				return nil, errorf(ErrInvalidArgument, "Invalid id")
			}
			out = append(out, meta.Grant{ID: val, Permission: perm})
		case "uri":
			g, ok := groupURIs[val]
			if !ok {
				return nil, errorf(ErrInvalidArgument, "Invalid group uri")
			}
			out = append(out, meta.Grant{Group: g, Permission: perm})
		case "emailaddress":
			return nil, ErrUnresolvableGrantByEmail
		default:
			return nil, errorf(ErrInvalidArgument, "Grant header values take the form id=\"…\", uri=\"…\" or emailAddress=\"…\".")
		}
	}
	return out, nil
}

func knownCanned(name string) bool {
	switch name {
	case "private", "public-read", "public-read-write", "authenticated-read", "bucket-owner-read",
		"bucket-owner-full-control", "aws-exec-read", "log-delivery-write":
		return true
	}
	return false
}

// cannedGrants spells out canned ACL name for a resource owned by owner in a bucket owned
// by bucketOwner. aws-exec-read (read access for EC2 image bundles on S3) is private here:
// nothing in Stratus reads images that way. The bucket-owner-* ACLs are private on a
// bucket, as in S3.
func cannedGrants(name, owner, bucketOwner string) []meta.Grant {
	gs := []meta.Grant{{ID: owner, Permission: meta.PermFullControl}}
	switch name {
	case "public-read":
		gs = append(gs, meta.Grant{Group: meta.GroupAllUsers, Permission: meta.PermRead})
	case "public-read-write":
		gs = append(gs, meta.Grant{Group: meta.GroupAllUsers, Permission: meta.PermRead},
			meta.Grant{Group: meta.GroupAllUsers, Permission: meta.PermWrite})
	case "authenticated-read":
		gs = append(gs, meta.Grant{Group: meta.GroupAuthenticatedUsers, Permission: meta.PermRead})
	case "bucket-owner-read":
		if bucketOwner != owner {
			gs = append(gs, meta.Grant{ID: bucketOwner, Permission: meta.PermRead})
		}
	case "bucket-owner-full-control":
		if bucketOwner != owner {
			gs = append(gs, meta.Grant{ID: bucketOwner, Permission: meta.PermFullControl})
		}
	case "log-delivery-write":
		gs = append(gs, meta.Grant{Group: meta.GroupLogDelivery, Permission: meta.PermWrite},
			meta.Grant{Group: meta.GroupLogDelivery, Permission: meta.PermReadACP})
	}
	return gs
}

// grants is the list the headers ask for, for a resource owned by owner.
func (a aclHeaders) grantsFor(owner, bucketOwner string) []meta.Grant {
	if a.canned != "" {
		return cannedGrants(a.canned, owner, bucketOwner)
	}
	return a.grants
}

// onlyOwnerCanned reports whether the headers ask for nothing beyond the default: the two
// canned ACLs BucketOwnerEnforced still takes.
func (a aclHeaders) onlyOwnerCanned() bool {
	return !a.set || (len(a.grants) == 0 && (a.canned == "private" || a.canned == "bucket-owner-full-control"))
}

// isPublic reports whether grants give anything to everyone or to every account: what a
// public access block calls a public ACL.
func isPublic(grants []meta.Grant) bool {
	for _, g := range grants {
		if g.Group == meta.GroupAllUsers || g.Group == meta.GroupAuthenticatedUsers {
			return true
		}
	}
	return false
}

// compactACL is the ACL to store for grants on a resource owned by owner in a bucket owned
// by bucketOwner: nil when that is the default (the bucket owner owns it with full
// control and nobody else has anything), so records stay small.
func compactACL(owner, bucketOwner string, grants []meta.Grant) *meta.ACL {
	if owner == bucketOwner && len(grants) == 1 && grants[0] == (meta.Grant{ID: owner, Permission: meta.PermFullControl}) {
		return nil
	}
	acl := &meta.ACL{Grants: slices.Clone(grants)}
	if owner != bucketOwner {
		acl.Owner = owner
	}
	return acl
}

// checkGrantees refuses grants to accounts that do not exist, as S3 refuses unknown
// canonical IDs. known are accounts already known to exist (the owners).
func (s *Server) checkGrantees(ctx context.Context, grants []meta.Grant, known ...string) error {
	seen := map[string]bool{}
	for _, k := range known {
		seen[k] = true
	}
	for _, g := range grants {
		if g.ID == "" || seen[g.ID] {
			continue
		}
		if _, err := s.meta.Account(ctx, g.ID); errors.Is(err, meta.ErrNotFound) {
			return errorf(ErrInvalidArgument, "Invalid id")
		} else if err != nil {
			return err
		}
		seen[g.ID] = true
	}
	return nil
}

// xmlACP is an AccessControlPolicy document, as GetBucketAcl and GetObjectAcl answer.
type xmlACP struct {
	XMLName xml.Name   `xml:"http://s3.amazonaws.com/doc/2006-03-01/ AccessControlPolicy"`
	Owner   xmlOwner   `xml:"Owner"`
	Grants  []xmlGrant `xml:"AccessControlList>Grant"`
}

type xmlGrant struct {
	Grantee    xmlGrantee `xml:"Grantee"`
	Permission string     `xml:"Permission"`
}

// xmlGrantee is written with the xsi:type attribute S3 sends. (encoding/xml has no
// prefixed attributes; the names below are written as given.)
type xmlGrantee struct {
	XSI         string `xml:"xmlns:xsi,attr"`
	Type        string `xml:"xsi:type,attr"`
	ID          string `xml:"ID,omitempty"`
	DisplayName string `xml:"DisplayName,omitempty"`
	URI         string `xml:"URI,omitempty"`
}

// xmlACPIn is an AccessControlPolicy as clients send it.
type xmlACPIn struct {
	XMLName xml.Name `xml:"AccessControlPolicy"`
	Owner   *struct {
		ID string `xml:"ID"`
	} `xml:"Owner"`
	Grants []struct {
		Grantee *struct {
			Attrs        []xml.Attr `xml:",any,attr"`
			ID           string     `xml:"ID"`
			URI          string     `xml:"URI"`
			EmailAddress string     `xml:"EmailAddress"`
		} `xml:"Grantee"`
		Permission string `xml:"Permission"`
	} `xml:"AccessControlList>Grant"`
}

// parseACP reads a PutBucketAcl/PutObjectAcl body for a resource owned by owner.
func parseACP(body []byte, owner string) ([]meta.Grant, error) {
	var in xmlACPIn
	if err := xml.Unmarshal(body, &in); err != nil {
		return nil, ErrMalformedACL
	}
	if in.Owner != nil && in.Owner.ID != "" && in.Owner.ID != owner {
		// An ACL cannot hand the resource to someone else.
		return nil, ErrAccessDenied
	}
	grants := []meta.Grant{}
	for _, g := range in.Grants {
		perm := meta.Permission(g.Permission)
		switch perm {
		case meta.PermRead, meta.PermWrite, meta.PermReadACP, meta.PermWriteACP, meta.PermFullControl:
		default:
			return nil, ErrMalformedACL
		}
		if g.Grantee == nil {
			return nil, ErrMalformedACL
		}
		typ := ""
		for _, a := range g.Grantee.Attrs {
			if a.Name.Local == "type" {
				typ = a.Value
			}
		}
		switch {
		case typ == "AmazonCustomerByEmail" || typ == "" && g.Grantee.EmailAddress != "":
			return nil, ErrUnresolvableGrantByEmail
		case typ == "CanonicalUser" || typ == "" && g.Grantee.ID != "":
			if g.Grantee.ID == "" {
				return nil, ErrMalformedACL
			}
			grants = append(grants, meta.Grant{ID: g.Grantee.ID, Permission: perm})
		case typ == "Group" || typ == "" && g.Grantee.URI != "":
			grp, ok := groupURIs[g.Grantee.URI]
			if !ok {
				return nil, errorf(ErrInvalidArgument, "Invalid group uri")
			}
			grants = append(grants, meta.Grant{Group: grp, Permission: perm})
		default:
			return nil, ErrMalformedACL
		}
	}
	return grants, nil
}

// writeACP answers an ACL: owner and grants, with account names as display names.
func (s *Server) writeACP(ctx context.Context, w http.ResponseWriter, owner string, acl meta.ACL) error {
	names := map[string]string{}
	name := func(id string) string {
		if n, ok := names[id]; ok {
			return n
		}
		n := id
		if a, err := s.meta.Account(ctx, id, meta.Stale()); err == nil && a.Name != "" {
			n = a.Name
		}
		names[id] = n
		return n
	}
	out := xmlACP{Owner: xmlOwner{ID: owner, DisplayName: name(owner)}, Grants: []xmlGrant{}}
	for _, g := range acl.Grants {
		ge := xmlGrantee{XSI: xsiNamespace}
		if g.ID != "" {
			ge.Type, ge.ID, ge.DisplayName = "CanonicalUser", g.ID, name(g.ID)
		} else {
			ge.Type = "Group"
			for uri, grp := range groupURIs {
				if grp == g.Group {
					ge.URI = uri
				}
			}
		}
		out.Grants = append(out.Grants, xmlGrant{Grantee: ge, Permission: string(g.Permission)})
	}
	return writeXML(w, http.StatusOK, out)
}
