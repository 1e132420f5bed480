package s3api

import (
	"strings"
	"testing"

	meta "stratus/meta/client"
)

// TestACLXMLForm: the AccessControlPolicy is written as S3 writes it (namespaces and
// xsi:type included), and what clients send reads back to the same grants.
func TestACLXMLForm(t *testing.T) {
	out := string(encodeXML(xmlACP{Owner: xmlOwner{ID: "o", DisplayName: "O"}, Grants: []xmlGrant{
		{Grantee: xmlGrantee{XSI: xsiNamespace, Type: "CanonicalUser", ID: "o", DisplayName: "O"}, Permission: "FULL_CONTROL"},
		{Grantee: xmlGrantee{XSI: xsiNamespace, Type: "Group", URI: groupAllUsers}, Permission: "READ"},
	}}))
	for _, want := range []string{
		`<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>o</ID><DisplayName>O</DisplayName></Owner><AccessControlList><Grant>`,
		`<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>o</ID><DisplayName>O</DisplayName></Grantee><Permission>FULL_CONTROL</Permission>`,
		`<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission>`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s\nin %s", want, out)
		}
	}
	grants, err := parseACP([]byte(out), "o")
	if err != nil {
		t.Fatal(err)
	}
	if len(grants) != 2 || grants[0] != (meta.Grant{ID: "o", Permission: meta.PermFullControl}) ||
		grants[1] != (meta.Grant{Group: meta.GroupAllUsers, Permission: meta.PermRead}) {
		t.Fatalf("read back %+v", grants)
	}
	for body, want := range map[string]error{
		`<AccessControlPolicy><Owner><ID>someone</ID></Owner></AccessControlPolicy>`: ErrAccessDenied,
		`<AccessControlPolicy><AccessControlList><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="AmazonCustomerByEmail"><EmailAddress>a@b</EmailAddress></Grantee><Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>`: ErrUnresolvableGrantByEmail,
		`<AccessControlPolicy><AccessControlList><Grant><Grantee><ID>x</ID></Grantee><Permission>EVERYTHING</Permission></Grant></AccessControlList></AccessControlPolicy>`:                                                                                                        ErrMalformedACL,
		`not xml`: ErrMalformedACL,
	} {
		if _, err := parseACP([]byte(body), "o"); err != want {
			t.Errorf("%s: %v, want %v", body, err, want)
		}
	}
}
