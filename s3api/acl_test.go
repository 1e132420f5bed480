package s3api_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestACLCannedObject: canned object ACLs decide who reads, anonymous requests included,
// and a plain owner PUT stores no ACL at all.
func TestACLCannedObject(t *testing.T) {
	c, cl, ctx := withBucket(t, "canned")
	other := c.AddAccount(t, "other")
	ocl := accountClient(c, other)
	put := func(key string, acl types.ObjectCannedACL) {
		t.Helper()
		if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("canned"), Key: aws.String(key),
			Body: strings.NewReader("body of " + key), ACL: acl}); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
	}
	put("private", "")
	put("public", types.ObjectCannedACLPublicRead)
	put("authread", types.ObjectCannedACLAuthenticatedRead)

	// What is stored: nothing for the default, the grants for the others.
	if e, err := storedEntry(t, c, "canned", "private"); err != nil || e.ACL != nil {
		t.Fatalf("plain owner put stored ACL %+v (%v), want none", e.ACL, err)
	}
	if e, err := storedEntry(t, c, "canned", "public"); err != nil || e.ACL == nil || e.ACL.Owner != "" || len(e.ACL.Grants) != 2 {
		t.Fatalf("public-read entry ACL %+v (%v)", e.ACL, err)
	}

	// Anonymous: only the public-read object.
	if st, _, body := anonymous(t, c, "GET", "/canned/public", nil); st != 200 || string(body) != "body of public" {
		t.Fatalf("anonymous get public: %d %q", st, body)
	}
	if st, _, _ := anonymous(t, c, "HEAD", "/canned/public", nil); st != 200 {
		t.Fatalf("anonymous head public: %d", st)
	}
	for _, key := range []string{"private", "authread", "missing"} {
		if st, code, _ := anonymous(t, c, "GET", "/canned/"+key, nil); st != 403 || code != "AccessDenied" {
			t.Errorf("anonymous get %s: %d %s, want 403 AccessDenied", key, st, code)
		}
	}
	if st, code, _ := anonymous(t, c, "GET", "/canned", nil); st != 403 || code != "AccessDenied" {
		t.Errorf("anonymous list of a private bucket: %d %s", st, code)
	}
	if st, code, _ := anonymous(t, c, "GET", "/nosuchbucket/k", nil); st != 404 || code != "NoSuchBucket" {
		t.Errorf("anonymous get in a missing bucket: %d %s", st, code)
	}
	if st, code, _ := anonymous(t, c, "GET", "/", nil); st != 403 || code != "AccessDenied" {
		t.Errorf("anonymous list buckets: %d %s", st, code)
	}

	// Another account: public and authenticated-read, not private.
	for key, want := range map[string]bool{"public": true, "authread": true, "private": false} {
		out, err := ocl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("canned"), Key: aws.String(key)})
		if want {
			if err != nil {
				t.Errorf("other get %s: %v", key, err)
				continue
			}
			b, _ := io.ReadAll(out.Body)
			out.Body.Close()
			if string(b) != "body of "+key {
				t.Errorf("other get %s: %q", key, b)
			}
		} else if code(err) != "AccessDenied" {
			t.Errorf("other get %s: %v, want AccessDenied", key, err)
		}
	}
	// A missing key is not told apart from a private one to whoever may not list.
	if _, err := ocl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("canned"), Key: aws.String("missing")}); code(err) != "AccessDenied" {
		t.Errorf("other get missing: %v", err)
	}
	if _, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("canned"), Key: aws.String("missing")}); code(err) != "NoSuchKey" {
		t.Errorf("owner get missing: %v", err)
	}

	// The ACL as S3 shows it.
	acl, err := cl.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: aws.String("canned"), Key: aws.String("public")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(acl.Owner.ID) != "tester" || aws.ToString(acl.Owner.DisplayName) != "tester" {
		t.Errorf("owner %+v", acl.Owner)
	}
	if got := grantSet(acl.Grants); !sameSet(got, set("tester=FULL_CONTROL", "AllUsers=READ")) {
		t.Errorf("public-read grants %v", got)
	}
	for _, g := range acl.Grants {
		if aws.ToString(g.Grantee.ID) != "" && g.Grantee.Type != types.TypeCanonicalUser ||
			aws.ToString(g.Grantee.URI) != "" && g.Grantee.Type != types.TypeGroup {
			t.Errorf("grantee type %q for %+v", g.Grantee.Type, g.Grantee)
		}
	}
	acl, err = cl.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: aws.String("canned"), Key: aws.String("private")})
	if err != nil || !sameSet(grantSet(acl.Grants), set("tester=FULL_CONTROL")) {
		t.Fatalf("default ACL: %v %v", err, acl)
	}
	// Reading an ACL takes READ_ACP, which public-read does not give.
	if _, err := ocl.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: aws.String("canned"), Key: aws.String("public")}); code(err) != "AccessDenied" {
		t.Errorf("other get acl: %v", err)
	}
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("canned"), Key: aws.String("bad"),
		Body: strings.NewReader("x"), ACL: "world-writable"}); code(err) != "InvalidArgument" {
		t.Errorf("unknown canned ACL: %v", err)
	}
	if _, err := storedEntry(t, c, "canned", "bad"); err == nil {
		t.Error("a put refused for its ACL stored the object")
	}
}

// TestACLExplicitGrants: grants by account ID and group, on objects and buckets, and what
// each permission allows.
func TestACLExplicitGrants(t *testing.T) {
	c, cl, ctx := withBucket(t, "grants")
	other := c.AddAccount(t, "other")
	ocl := accountClient(c, other)
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("grants"), Key: aws.String("k"), Body: strings.NewReader("v")}); err != nil {
		t.Fatal(err)
	}
	get := func(cl *s3.Client, key string) error {
		out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("grants"), Key: aws.String(key)})
		if err == nil {
			out.Body.Close()
		}
		return err
	}
	if err := get(ocl, "k"); code(err) != "AccessDenied" {
		t.Fatalf("other before grant: %v", err)
	}
	// Other may not grant itself anything.
	if _, err := ocl.PutObjectAcl(ctx, &s3.PutObjectAclInput{Bucket: aws.String("grants"), Key: aws.String("k"), GrantRead: aws.String(`id="other"`)}); code(err) != "AccessDenied" {
		t.Fatalf("other put acl: %v", err)
	}
	if e, _ := storedEntry(t, c, "grants", "k"); e.ACL != nil {
		t.Fatalf("denied put acl changed the ACL: %+v", e.ACL)
	}
	if _, err := cl.PutObjectAcl(ctx, &s3.PutObjectAclInput{Bucket: aws.String("grants"), Key: aws.String("k"),
		GrantRead: aws.String(`id="other"`), GrantFullControl: aws.String(`id="tester"`)}); err != nil {
		t.Fatal(err)
	}
	if err := get(ocl, "k"); err != nil {
		t.Fatalf("other after READ grant: %v", err)
	}
	if _, err := ocl.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: aws.String("grants"), Key: aws.String("k")}); code(err) != "AccessDenied" {
		t.Fatalf("READ gave READ_ACP: %v", err)
	}
	// Grants in a body: READ_ACP and WRITE_ACP to other, READ to every account.
	_, err := cl.PutObjectAcl(ctx, &s3.PutObjectAclInput{Bucket: aws.String("grants"), Key: aws.String("k"),
		AccessControlPolicy: &types.AccessControlPolicy{
			Owner: &types.Owner{ID: aws.String("tester")},
			Grants: []types.Grant{
				{Grantee: &types.Grantee{Type: types.TypeCanonicalUser, ID: aws.String("tester")}, Permission: types.PermissionFullControl},
				{Grantee: &types.Grantee{Type: types.TypeCanonicalUser, ID: aws.String("other")}, Permission: types.PermissionReadAcp},
				{Grantee: &types.Grantee{Type: types.TypeCanonicalUser, ID: aws.String("other")}, Permission: types.PermissionWriteAcp},
				{Grantee: &types.Grantee{Type: types.TypeGroup, URI: aws.String("http://acs.amazonaws.com/groups/global/AuthenticatedUsers")}, Permission: types.PermissionRead},
			}}})
	if err != nil {
		t.Fatal(err)
	}
	acl, err := ocl.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: aws.String("grants"), Key: aws.String("k")})
	if err != nil {
		t.Fatalf("other with READ_ACP: %v", err)
	}
	if got := grantSet(acl.Grants); !sameSet(got, set("tester=FULL_CONTROL", "other=READ_ACP", "other=WRITE_ACP", "AuthenticatedUsers=READ")) {
		t.Errorf("grants %v", got)
	}
	if st, _, _ := anonymous(t, c, "GET", "/grants/k", nil); st != 403 {
		t.Errorf("AuthenticatedUsers let an anonymous request read: %d", st)
	}
	if err := get(ocl, "k"); err != nil {
		t.Errorf("other as an authenticated user: %v", err)
	}
	// WRITE_ACP lets other change the ACL: it makes the object private to the owner.
	if _, err := ocl.PutObjectAcl(ctx, &s3.PutObjectAclInput{Bucket: aws.String("grants"), Key: aws.String("k"), ACL: types.ObjectCannedACLPrivate}); err != nil {
		t.Fatalf("other with WRITE_ACP: %v", err)
	}
	if e, _ := storedEntry(t, c, "grants", "k"); e.ACL != nil {
		t.Errorf("private ACL stored as %+v, want the default (none)", e.ACL)
	}
	if err := get(ocl, "k"); code(err) != "AccessDenied" {
		t.Errorf("other after private: %v", err)
	}

	// Refused grants change nothing.
	for _, tc := range []struct{ grant, code string }{
		{`emailAddress="a@example.com"`, "UnresolvableGrantByEmailAddress"},
		{`id="nobody"`, "InvalidArgument"},
		{`uri="http://acs.amazonaws.com/groups/global/Nobody"`, "InvalidArgument"},
	} {
		if _, err := cl.PutObjectAcl(ctx, &s3.PutObjectAclInput{Bucket: aws.String("grants"), Key: aws.String("k"), GrantRead: aws.String(tc.grant)}); code(err) != tc.code {
			t.Errorf("grant %s: %v, want %s", tc.grant, err, tc.code)
		}
	}
	if _, err := cl.PutObjectAcl(ctx, &s3.PutObjectAclInput{Bucket: aws.String("grants"), Key: aws.String("k"),
		ACL: types.ObjectCannedACLPublicRead, GrantRead: aws.String(`id="other"`)}); code(err) != "InvalidRequest" {
		t.Errorf("canned and grant headers together: %v", err)
	}
	if e, _ := storedEntry(t, c, "grants", "k"); e.ACL != nil {
		t.Errorf("refused ACLs changed the stored one: %+v", e.ACL)
	}

	// Bucket ACL: READ lists, WRITE writes and deletes; the writer owns what it writes.
	if _, err := ocl.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("grants")}); code(err) != "AccessDenied" {
		t.Fatalf("other list before grant: %v", err)
	}
	if _, err := ocl.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String("grants"), GrantWrite: aws.String(`id="other"`)}); code(err) != "AccessDenied" {
		t.Fatalf("other put bucket acl: %v", err)
	}
	if b := storedBucket(t, c, "grants"); b.ACL != nil {
		t.Fatalf("denied PutBucketAcl stored %+v", b.ACL)
	}
	if _, err := cl.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String("grants"),
		GrantRead: aws.String(`id="other"`), GrantFullControl: aws.String(`id="tester"`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := ocl.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("grants")}); err != nil {
		t.Fatalf("other list with READ: %v", err)
	}
	if _, err := ocl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("grants"), Key: aws.String("o"), Body: strings.NewReader("x")}); code(err) != "AccessDenied" {
		t.Fatalf("other put with READ only: %v", err)
	}
	if _, err := storedEntry(t, c, "grants", "o"); err == nil {
		t.Fatal("a denied put stored the object")
	}
	// READ is not WRITE: a batch delete is refused key by key, and deletes nothing.
	dout, err := ocl.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("grants"),
		Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String("k")}}}})
	if err != nil || len(dout.Errors) != 1 || aws.ToString(dout.Errors[0].Code) != "AccessDenied" || len(dout.Deleted) != 0 {
		t.Fatalf("other batch delete with READ only: %v %+v", err, dout)
	}
	if _, err := storedEntry(t, c, "grants", "k"); err != nil {
		t.Fatalf("denied batch delete removed the key: %v", err)
	}
	// Bucket configuration stays the owner's, whatever the ACL grants.
	if _, err := ocl.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String("grants")}); code(err) != "AccessDenied" {
		t.Errorf("other get versioning: %v", err)
	}
	if _, err := ocl.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("grants")}); code(err) != "AccessDenied" {
		t.Errorf("other delete bucket: %v", err)
	}
	if _, err := ocl.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("grants")}); err != nil {
		t.Errorf("other head bucket with READ: %v", err)
	}
	bacl, err := cl.GetBucketAcl(ctx, &s3.GetBucketAclInput{Bucket: aws.String("grants")})
	if err != nil || !sameSet(grantSet(bacl.Grants), set("tester=FULL_CONTROL", "other=READ")) || aws.ToString(bacl.Owner.ID) != "tester" {
		t.Fatalf("bucket acl %v %+v", err, bacl)
	}
	if _, err := cl.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String("grants"),
		GrantWrite: aws.String(`id="other"`), GrantFullControl: aws.String(`id="tester"`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := ocl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("grants"), Key: aws.String("o"), Body: strings.NewReader("theirs")}); err != nil {
		t.Fatalf("other put with WRITE: %v", err)
	}
	e, err := storedEntry(t, c, "grants", "o")
	if err != nil || e.ACL == nil || e.ACL.Owner != "other" {
		t.Fatalf("object written by other: entry ACL %+v (%v), want owner other", e.ACL, err)
	}
	// ObjectWriter: other owns it; the bucket owner cannot read it, but can delete it.
	if err := get(ocl, "o"); err != nil {
		t.Errorf("writer reads its object: %v", err)
	}
	if err := get(cl, "o"); code(err) != "AccessDenied" {
		t.Errorf("bucket owner reads another's object: %v", err)
	}
	oacl, err := ocl.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: aws.String("grants"), Key: aws.String("o")})
	if err != nil || aws.ToString(oacl.Owner.ID) != "other" || !sameSet(grantSet(oacl.Grants), set("other=FULL_CONTROL")) {
		t.Fatalf("writer's object ACL: %v %+v", err, oacl)
	}
	// Listings show each object's own owner.
	lst, err := cl.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("grants")})
	if err != nil {
		t.Fatal(err)
	}
	owners := map[string]string{}
	for _, o := range lst.Contents {
		owners[aws.ToString(o.Key)] = aws.ToString(o.Owner.ID)
	}
	if owners["k"] != "tester" || owners["o"] != "other" {
		t.Errorf("listed owners %v", owners)
	}
	// bucket-owner-full-control gives the bucket owner the object.
	if _, err := ocl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("grants"), Key: aws.String("bofc"), Body: strings.NewReader("shared"),
		ACL: types.ObjectCannedACLBucketOwnerFullControl}); err != nil {
		t.Fatal(err)
	}
	if err := get(cl, "bofc"); err != nil {
		t.Errorf("bucket owner reads a bucket-owner-full-control object: %v", err)
	}
	if _, err := cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("grants"), Key: aws.String("o")}); err != nil {
		t.Fatalf("bucket owner deletes another's object: %v", err)
	}
	if _, err := storedEntry(t, c, "grants", "o"); err == nil {
		t.Fatal("delete left the entry")
	}
}

// TestACLPublicBucket: public-read lists to everyone, public-read-write takes anonymous
// writes (owned by the bucket owner), a private bucket takes none.
func TestACLPublicBucket(t *testing.T) {
	c, cl, ctx := withBucket(t, "private")
	for name, acl := range map[string]types.BucketCannedACL{"pubread": types.BucketCannedACLPublicRead, "pubrw": types.BucketCannedACLPublicReadWrite} {
		if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name), ACL: acl}); err != nil {
			t.Fatal(err)
		}
	}
	if b := storedBucket(t, c, "private"); b.ACL != nil || b.Ownership != "" {
		t.Fatalf("default bucket stored ACL %+v ownership %q", b.ACL, b.Ownership)
	}
	if st, _, body := anonymous(t, c, "GET", "/pubread?list-type=2", nil); st != 200 || !strings.Contains(string(body), "<ListBucketResult") {
		t.Fatalf("anonymous list of public-read: %d %s", st, body)
	}
	if st, code, _ := anonymous(t, c, "PUT", "/pubread/anon", []byte("x")); st != 403 || code != "AccessDenied" {
		t.Fatalf("anonymous put to public-read: %d %s", st, code)
	}
	if st, code, _ := anonymous(t, c, "PUT", "/private/anon", []byte("x")); st != 403 || code != "AccessDenied" {
		t.Fatalf("anonymous put to private: %d %s", st, code)
	}
	for _, b := range []string{"pubread", "private"} {
		if _, err := storedEntry(t, c, b, "anon"); err == nil {
			t.Errorf("denied anonymous put stored %s/anon", b)
		}
	}
	if st, code, body := anonymous(t, c, "PUT", "/pubrw/anon", []byte("from nobody")); st != 200 {
		t.Fatalf("anonymous put to public-read-write: %d %s %s", st, code, body)
	}
	if e, err := storedEntry(t, c, "pubrw", "anon"); err != nil || e.ACL != nil || e.Size != int64(len("from nobody")) {
		t.Fatalf("anonymous write stored %+v (%v), want the bucket owner's default", e, err)
	}
	out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("pubrw"), Key: aws.String("anon")})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if string(got) != "from nobody" {
		t.Fatalf("owner reads anonymous write: %q", got)
	}
	// Anonymous writers cannot set ACLs, and cannot create buckets.
	req, _ := http.NewRequest("PUT", c.Endpoint+"/pubrw/anonacl", bytes.NewReader([]byte("x")))
	req.Header.Set("x-amz-acl", "public-read")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 403 {
		t.Fatalf("anonymous put with an ACL: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if st, _, _ := anonymous(t, c, "PUT", "/anonbucket", nil); st != 403 {
		t.Fatalf("anonymous create bucket: %d", st)
	}
	if st, code, _ := anonymous(t, c, "DELETE", "/pubrw/anon", nil); st != 204 {
		t.Fatalf("anonymous delete in public-read-write: %d %s", st, code)
	}
	if st, code, _ := anonymous(t, c, "DELETE", "/pubrw", nil); st != 403 {
		t.Fatalf("anonymous delete bucket: %d %s", st, code)
	}
	// A bad signature is still refused, even where everyone may read.
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("pubread"), Key: aws.String("p"), Body: strings.NewReader("x"), ACL: types.ObjectCannedACLPublicRead}); err != nil {
		t.Fatal(err)
	}
	bad := sdkClient(c, "wrong-secret")
	if _, err := bad.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("pubread"), Key: aws.String("p")}); code(err) != "SignatureDoesNotMatch" {
		t.Fatalf("bad signature on a public object: %v", err)
	}
}

// TestACLOwnershipControls: BucketOwnerEnforced turns ACLs off; BucketOwnerPreferred hands
// bucket-owner-full-control objects to the bucket owner.
func TestACLOwnershipControls(t *testing.T) {
	c, cl, ctx := withBucket(t, "writer")
	other := c.AddAccount(t, "other")
	ocl := accountClient(c, other)
	if _, err := cl.GetBucketOwnershipControls(ctx, &s3.GetBucketOwnershipControlsInput{Bucket: aws.String("writer")}); code(err) != "OwnershipControlsNotFoundError" {
		t.Fatalf("controls of a new bucket: %v", err)
	}
	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bad"), ObjectOwnership: types.ObjectOwnershipBucketOwnerEnforced,
		ACL: types.BucketCannedACLPublicRead}); code(err) != "InvalidBucketAclWithObjectOwnership" {
		t.Fatalf("enforced bucket with a public ACL: %v", err)
	}
	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("enforced"), ObjectOwnership: types.ObjectOwnershipBucketOwnerEnforced}); err != nil {
		t.Fatal(err)
	}
	if b := storedBucket(t, c, "enforced"); b.Ownership != "BucketOwnerEnforced" {
		t.Fatalf("stored ownership %q", b.Ownership)
	}
	oc, err := cl.GetBucketOwnershipControls(ctx, &s3.GetBucketOwnershipControlsInput{Bucket: aws.String("enforced")})
	if err != nil || len(oc.OwnershipControls.Rules) != 1 || oc.OwnershipControls.Rules[0].ObjectOwnership != types.ObjectOwnershipBucketOwnerEnforced {
		t.Fatalf("get controls: %v %+v", err, oc)
	}
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("enforced"), Key: aws.String("pub"), Body: strings.NewReader("x"),
		ACL: types.ObjectCannedACLPublicRead}); code(err) != "AccessControlListNotSupported" {
		t.Fatalf("public-read put in an enforced bucket: %v", err)
	}
	if _, err := storedEntry(t, c, "enforced", "pub"); err == nil {
		t.Fatal("refused put stored the object")
	}
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("enforced"), Key: aws.String("ok"), Body: strings.NewReader("x"),
		ACL: types.ObjectCannedACLBucketOwnerFullControl}); err != nil {
		t.Fatalf("bucket-owner-full-control put in an enforced bucket: %v", err)
	}
	if _, err := cl.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String("enforced"), ACL: types.BucketCannedACLPublicRead}); code(err) != "AccessControlListNotSupported" {
		t.Fatalf("public bucket ACL on an enforced bucket: %v", err)
	}
	if b := storedBucket(t, c, "enforced"); b.ACL != nil {
		t.Fatalf("refused PutBucketAcl stored %+v", b.ACL)
	}

	// ObjectWriter bucket: other writes an object, then the owner enforces.
	if _, err := cl.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String("writer"),
		GrantWrite: aws.String(`id="other"`), GrantFullControl: aws.String(`id="tester"`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := ocl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("writer"), Key: aws.String("theirs"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	enforce := func(cl *s3.Client, o types.ObjectOwnership) error {
		_, err := cl.PutBucketOwnershipControls(ctx, &s3.PutBucketOwnershipControlsInput{Bucket: aws.String("writer"),
			OwnershipControls: &types.OwnershipControls{Rules: []types.OwnershipControlsRule{{ObjectOwnership: o}}}})
		return err
	}
	if err := enforce(ocl, types.ObjectOwnershipBucketOwnerEnforced); code(err) != "AccessDenied" {
		t.Fatalf("other sets ownership: %v", err)
	}
	if err := enforce(cl, types.ObjectOwnershipBucketOwnerEnforced); code(err) != "InvalidBucketAclWithObjectOwnership" {
		t.Fatalf("enforce while the bucket ACL grants: %v", err)
	}
	if b := storedBucket(t, c, "writer"); b.Ownership != "" {
		t.Fatalf("refused controls stored %q", b.Ownership)
	}
	if _, err := cl.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String("writer"), ACL: types.BucketCannedACLPrivate}); err != nil {
		t.Fatal(err)
	}
	if err := enforce(cl, types.ObjectOwnershipBucketOwnerEnforced); err != nil {
		t.Fatal(err)
	}
	// Now the bucket owner owns "theirs"; other (no bucket grant, ACLs off) has nothing.
	acl, err := cl.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: aws.String("writer"), Key: aws.String("theirs")})
	if err != nil || aws.ToString(acl.Owner.ID) != "tester" || !sameSet(grantSet(acl.Grants), set("tester=FULL_CONTROL")) {
		t.Fatalf("enforced object ACL: %v %+v", err, acl)
	}
	if out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("writer"), Key: aws.String("theirs")}); err != nil {
		t.Fatalf("owner reads under enforced: %v", err)
	} else {
		out.Body.Close()
	}
	if _, err := ocl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("writer"), Key: aws.String("theirs")}); code(err) != "AccessDenied" {
		t.Fatalf("writer reads under enforced: %v", err)
	}
	// Deleting the controls turns ACLs back on, and the writer owns its object again.
	if _, err := cl.DeleteBucketOwnershipControls(ctx, &s3.DeleteBucketOwnershipControlsInput{Bucket: aws.String("writer")}); err != nil {
		t.Fatal(err)
	}
	if b := storedBucket(t, c, "writer"); b.Ownership != "" {
		t.Fatalf("deleted controls left %q", b.Ownership)
	}
	acl, err = ocl.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: aws.String("writer"), Key: aws.String("theirs")})
	if err != nil || aws.ToString(acl.Owner.ID) != "other" {
		t.Fatalf("writer's ACL back: %v %+v", err, acl)
	}

	// BucketOwnerPreferred.
	if err := enforce(cl, types.ObjectOwnershipBucketOwnerPreferred); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String("writer"),
		GrantWrite: aws.String(`id="other"`), GrantFullControl: aws.String(`id="tester"`)}); err != nil {
		t.Fatal(err)
	}
	for key, acl := range map[string]types.ObjectCannedACL{"preferred": types.ObjectCannedACLBucketOwnerFullControl, "kept": ""} {
		if _, err := ocl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("writer"), Key: aws.String(key), Body: strings.NewReader("x"), ACL: acl}); err != nil {
			t.Fatal(err)
		}
	}
	if e, err := storedEntry(t, c, "writer", "preferred"); err != nil || e.ACL != nil {
		t.Errorf("preferred: %+v %v, want the bucket owner's default", e.ACL, err)
	}
	if e, err := storedEntry(t, c, "writer", "kept"); err != nil || e.ACL == nil || e.ACL.Owner != "other" {
		t.Errorf("kept: %+v %v, want owned by other", e.ACL, err)
	}
}

// TestACLPublicAccessBlock: BlockPublicAcls refuses public ACLs, IgnorePublicAcls makes
// them count for nothing; only the owner sets the block.
func TestACLPublicAccessBlock(t *testing.T) {
	c, cl, ctx := withBucket(t, "pab")
	other := c.AddAccount(t, "other")
	ocl := accountClient(c, other)
	if _, err := cl.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String("pab")}); code(err) != "NoSuchPublicAccessBlockConfiguration" {
		t.Fatalf("get without: %v", err)
	}
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("pab"), Key: aws.String("pub"), Body: strings.NewReader("x"), ACL: types.ObjectCannedACLPublicRead}); err != nil {
		t.Fatal(err)
	}
	setBlock := func(cl *s3.Client, cfg types.PublicAccessBlockConfiguration) error {
		_, err := cl.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String("pab"), PublicAccessBlockConfiguration: &cfg})
		return err
	}
	if err := setBlock(ocl, types.PublicAccessBlockConfiguration{BlockPublicAcls: aws.Bool(true)}); code(err) != "AccessDenied" {
		t.Fatalf("other sets the block: %v", err)
	}
	if b := storedBucket(t, c, "pab"); b.PublicAccess != nil {
		t.Fatalf("denied put stored %+v", b.PublicAccess)
	}
	if err := setBlock(cl, types.PublicAccessBlockConfiguration{BlockPublicAcls: aws.Bool(true), BlockPublicPolicy: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	got, err := cl.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String("pab")})
	if err != nil || !aws.ToBool(got.PublicAccessBlockConfiguration.BlockPublicAcls) || !aws.ToBool(got.PublicAccessBlockConfiguration.BlockPublicPolicy) ||
		aws.ToBool(got.PublicAccessBlockConfiguration.IgnorePublicAcls) {
		t.Fatalf("get: %v %+v", err, got)
	}
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("pab"), Key: aws.String("blocked"), Body: strings.NewReader("x"), ACL: types.ObjectCannedACLPublicRead}); code(err) != "AccessDenied" {
		t.Fatalf("public put under BlockPublicAcls: %v", err)
	}
	if _, err := storedEntry(t, c, "pab", "blocked"); err == nil {
		t.Fatal("blocked put stored the object")
	}
	if _, err := cl.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String("pab"), ACL: types.BucketCannedACLPublicRead}); code(err) != "AccessDenied" {
		t.Fatalf("public bucket ACL under BlockPublicAcls: %v", err)
	}
	if b := storedBucket(t, c, "pab"); b.ACL != nil {
		t.Fatalf("blocked PutBucketAcl stored %+v", b.ACL)
	}
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("pab"), Key: aws.String("private"), Body: strings.NewReader("x"), ACL: types.ObjectCannedACLPrivate}); err != nil {
		t.Fatalf("private put under BlockPublicAcls: %v", err)
	}
	// The object made public before the block is still public: BlockPublicAcls only refuses.
	if st, _, _ := anonymous(t, c, "GET", "/pab/pub", nil); st != 200 {
		t.Fatalf("existing public object under BlockPublicAcls: %d", st)
	}
	if err := setBlock(cl, types.PublicAccessBlockConfiguration{IgnorePublicAcls: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := anonymous(t, c, "GET", "/pab/pub", nil); st != 403 {
		t.Fatalf("public object under IgnorePublicAcls: %d", st)
	}
	if _, err := cl.DeletePublicAccessBlock(ctx, &s3.DeletePublicAccessBlockInput{Bucket: aws.String("pab")}); err != nil {
		t.Fatal(err)
	}
	if b := storedBucket(t, c, "pab"); b.PublicAccess != nil {
		t.Fatalf("deleted block left %+v", b.PublicAccess)
	}
	if st, _, _ := anonymous(t, c, "GET", "/pab/pub", nil); st != 200 {
		t.Fatalf("public object after the block is gone: %d", st)
	}
}

// TestACLExpectedBucketOwner: a request naming another owner is refused and does nothing.
func TestACLExpectedBucketOwner(t *testing.T) {
	c, cl, ctx := withBucket(t, "expect")
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("expect"), Key: aws.String("k"), Body: strings.NewReader("x"),
		ExpectedBucketOwner: aws.String("tester")}); err != nil {
		t.Fatalf("matching owner: %v", err)
	}
	wrong := aws.String("someone-else")
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("expect"), Key: aws.String("k2"), Body: strings.NewReader("x"), ExpectedBucketOwner: wrong}); code(err) != "AccessDenied" {
		t.Errorf("put: %v", err)
	}
	if _, err := storedEntry(t, c, "expect", "k2"); err == nil {
		t.Error("mismatched put stored the object")
	}
	if _, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("expect"), Key: aws.String("k"), ExpectedBucketOwner: wrong}); code(err) != "AccessDenied" {
		t.Errorf("get: %v", err)
	}
	if _, err := cl.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("expect"), ExpectedBucketOwner: wrong}); code(err) != "AccessDenied" {
		t.Errorf("list: %v", err)
	}
	if _, err := cl.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String("expect"), ExpectedBucketOwner: wrong}); code(err) != "AccessDenied" {
		t.Errorf("get versioning: %v", err)
	}
	if _, err := cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("expect"), Key: aws.String("k"), ExpectedBucketOwner: wrong}); code(err) != "AccessDenied" {
		t.Errorf("delete: %v", err)
	}
	if _, err := storedEntry(t, c, "expect", "k"); err != nil {
		t.Errorf("mismatched delete removed the object: %v", err)
	}
	if _, err := cl.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("expect"), Key: aws.String("copy"), CopySource: aws.String("expect/k"),
		ExpectedSourceBucketOwner: wrong}); code(err) != "AccessDenied" {
		t.Errorf("copy with a wrong source owner: %v", err)
	}
}

// TestACLCopyAndMultipart: ACL headers on CopyObject and CreateMultipartUpload (applied at
// completion), and a copy's source read by its own ACL.
func TestACLCopyAndMultipart(t *testing.T) {
	c, cl, ctx := withBucket(t, "cmp")
	other := c.AddAccount(t, "other")
	ocl := accountClient(c, other)
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("cmp"), Key: aws.String("src"), Body: strings.NewReader("source")}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("cmp"), Key: aws.String("copy"), CopySource: aws.String("cmp/src"),
		ACL: types.ObjectCannedACLPublicRead}); err != nil {
		t.Fatal(err)
	}
	if st, _, body := anonymous(t, c, "GET", "/cmp/copy", nil); st != 200 || string(body) != "source" {
		t.Fatalf("anonymous get of a public-read copy: %d %q", st, body)
	}
	if st, _, _ := anonymous(t, c, "GET", "/cmp/src", nil); st != 403 {
		t.Fatalf("the copy's ACL leaked to its source: %d", st)
	}
	// Other has its own bucket; it may copy from a public object, not from a private one.
	if _, err := ocl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("others")}); err != nil {
		t.Fatal(err)
	}
	if _, err := ocl.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("others"), Key: aws.String("c"), CopySource: aws.String("cmp/src")}); code(err) != "AccessDenied" {
		t.Fatalf("other copies a private object: %v", err)
	}
	if _, err := storedEntry(t, c, "others", "c"); err == nil {
		t.Fatal("denied copy stored the object")
	}
	if _, err := ocl.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("others"), Key: aws.String("c"), CopySource: aws.String("cmp/copy")}); err != nil {
		t.Fatalf("other copies a public object: %v", err)
	}

	up, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("cmp"), Key: aws.String("mp"), ACL: types.ObjectCannedACLPublicRead})
	if err != nil {
		t.Fatal(err)
	}
	part, err := cl.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("cmp"), Key: aws.String("mp"), UploadId: up.UploadId, PartNumber: aws.Int32(1),
		Body: strings.NewReader("multi")})
	if err != nil {
		t.Fatal(err)
	}
	if st, _, _ := anonymous(t, c, "GET", "/cmp/mp", nil); st != 403 {
		t.Fatalf("object readable before completion: %d", st)
	}
	if _, err := cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("cmp"), Key: aws.String("mp"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{ETag: part.ETag, PartNumber: aws.Int32(1)}}}}); err != nil {
		t.Fatal(err)
	}
	if st, _, body := anonymous(t, c, "GET", "/cmp/mp", nil); st != 200 || string(body) != "multi" {
		t.Fatalf("anonymous get of a completed public-read upload: %d %q", st, body)
	}
	// Other cannot touch the bucket owner's uploads.
	up2, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("cmp"), Key: aws.String("mp2")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ocl.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("cmp"), Key: aws.String("mp2"), UploadId: up2.UploadId}); code(err) != "AccessDenied" {
		t.Fatalf("other aborts: %v", err)
	}
	if _, err := ocl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("cmp"), Key: aws.String("mp3")}); code(err) != "AccessDenied" {
		t.Fatalf("other creates an upload: %v", err)
	}
}

// TestACLVersions: an ACL set with versionId applies to that version only.
func TestACLVersions(t *testing.T) {
	c, cl, ctx := withBucket(t, "ver")
	if _, err := cl.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("ver"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	v1, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("ver"), Key: aws.String("k"), Body: strings.NewReader("one")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("ver"), Key: aws.String("k"), Body: strings.NewReader("two")}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.PutObjectAcl(ctx, &s3.PutObjectAclInput{Bucket: aws.String("ver"), Key: aws.String("k"), VersionId: v1.VersionId,
		ACL: types.ObjectCannedACLPublicRead}); err != nil {
		t.Fatal(err)
	}
	if st, _, body := anonymous(t, c, "GET", "/ver/k?versionId="+aws.ToString(v1.VersionId), nil); st != 200 || string(body) != "one" {
		t.Fatalf("anonymous get of the public version: %d %q", st, body)
	}
	if st, _, _ := anonymous(t, c, "GET", "/ver/k", nil); st != 403 {
		t.Fatalf("anonymous get of the private current version: %d", st)
	}
	acl, err := cl.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: aws.String("ver"), Key: aws.String("k"), VersionId: v1.VersionId})
	if err != nil || !sameSet(grantSet(acl.Grants), set("tester=FULL_CONTROL", "AllUsers=READ")) {
		t.Fatalf("version ACL: %v %+v", err, acl)
	}
	acl, err = cl.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: aws.String("ver"), Key: aws.String("k")})
	if err != nil || !sameSet(grantSet(acl.Grants), set("tester=FULL_CONTROL")) {
		t.Fatalf("current ACL: %v %+v", err, acl)
	}
}
