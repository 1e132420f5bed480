package ec2api

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// TestErrorTable: every code has a status and one sentinel, and unknown errors are
// InternalError without their text.
func TestErrorTable(t *testing.T) {
	codes := map[string]bool{}
	for _, row := range errorTable {
		if row.err == nil || row.code == "" || row.status < 400 || row.status > 599 {
			t.Errorf("row %+v incomplete", row)
		}
		if codes[row.code] {
			t.Errorf("code %s twice", row.code)
		}
		codes[row.code] = true
		code, status, msg, known := apiError(errorf(row.err, "because"))
		if !known || code != row.code || status != row.status || msg != "because" {
			t.Errorf("%v maps to %s %d %q", row.err, code, status, msg)
		}
	}
	code, status, msg, known := apiError(errors.New("disk on fire at /secret/path"))
	if known || code != "InternalError" || status != http.StatusInternalServerError || strings.Contains(msg, "secret") {
		t.Errorf("unknown error: %s %d %q", code, status, msg)
	}
}

func TestParams(t *testing.T) {
	p, err := parseParams("Action=DescribeVolumes", []byte("Filter.2.Name=size&Filter.2.Value.1=1&Filter.10.Name=tag%3AName&Filter.10.Value.2=b&Filter.10.Value.1=a&VolumeId.3=vol-3&VolumeId.1=vol-1"))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := p.list("VolumeId")
	if err != nil || strings.Join(ids, ",") != "vol-1,vol-3" {
		t.Fatalf("VolumeId list = %v, %v", ids, err)
	}
	fs, err := p.filters(volumeFilters...)
	if err != nil || len(fs) != 2 || fs[0].Name != "size" || fs[1].Name != "tag:Name" || strings.Join(fs[1].Values, ",") != "a,b" {
		t.Fatalf("filters = %+v, %v", fs, err)
	}
	if _, err := parseParams("Action=A", []byte("Action=B")); !errors.Is(err, ErrInvalidParameterValue) {
		t.Fatalf("Action in query and body: %v", err)
	}
	if _, err := (params{"Filter.1.Name": "tag:"}).filters(volumeFilters...); !errors.Is(err, ErrInvalidParameterValue) {
		t.Fatalf("filter tag: with no key: %v", err)
	}
	if _, err := (params{"VolumeId.0": "x"}).list("VolumeId"); !errors.Is(err, ErrInvalidParameterValue) {
		t.Fatalf("list numbered from 0: %v", err)
	}
	pg, err := (params{"MaxResults": "5000"}).page("X", 5, 500)
	if err != nil || pg.Max != 500 {
		t.Fatalf("MaxResults above the bound: %+v, %v", pg, err)
	}
	tok := nextToken("DescribeVolumes", "vol-1")
	if _, err := (params{"NextToken": tok}).page("DescribeTags", 5, 1000); !errors.Is(err, ErrInvalidPaginationToken) {
		t.Fatalf("another call's token: %v", err)
	}
	items, next := paginate("X", []string{"a", "b", "c"}, func(s string) string { return s }, page{Max: 2})
	if strings.Join(items, "") != "ab" || next == "" {
		t.Fatalf("first page %v %q", items, next)
	}
	pg, _ = (params{"NextToken": next}).page("X", 1, 10)
	items, next = paginate("X", []string{"a", "b", "c"}, func(s string) string { return s }, pg)
	if strings.Join(items, "") != "c" || next != "" {
		t.Fatalf("second page %v %q", items, next)
	}
}

func TestWildcardMatch(t *testing.T) {
	cases := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true}, {"abc", "abc", true}, {"abc", "abd", false}, {"a*c", "abbbc", true},
		{"a?c", "abc", true}, {"a?c", "ac", false}, {"*db*", "prod-db-1", true}, {`a\*`, "a*", true},
		{`a\*`, "ab", false}, {"a*b*c", "aXbYbZc", true}, {"a*b", "aXbYc", false},
	}
	for _, tc := range cases {
		if got := wildcardMatch(tc.pattern, tc.s); got != tc.want {
			t.Errorf("wildcardMatch(%q, %q) = %v", tc.pattern, tc.s, got)
		}
	}
}

// TestImportFormats: the same key imported as an OpenSSH line, an RFC 4716 block and PEM
// gets one fingerprint; keys EC2 refuses are refused.
func TestImportFormats(t *testing.T) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := ssh.NewPublicKey(&priv.PublicKey)
	pkix, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	b64 := base64.StdEncoding.EncodeToString(pub.Marshal())
	var rfc4716 strings.Builder
	rfc4716.WriteString("---- BEGIN SSH2 PUBLIC KEY ----\nComment: \"2048-bit RSA, a very long comment \\\n that continues\"\n")
	for i := 0; i < len(b64); i += 70 {
		rfc4716.WriteString(b64[i:min(i+70, len(b64))] + "\n")
	}
	rfc4716.WriteString("---- END SSH2 PUBLIC KEY ----\n")
	forms := map[string]string{
		"openssh": string(ssh.MarshalAuthorizedKey(pub)),
		"rfc4716": rfc4716.String(),
		"pkix":    string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix})),
		"pkcs1":   string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&priv.PublicKey)})),
	}
	want := ""
	for name, f := range forms {
		k, err := parsePublicKey([]byte(f))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if want == "" {
			want = k.Fingerprint
		}
		if k.Fingerprint != want || k.KeyType != keyTypeRSA || !strings.HasPrefix(k.PublicKey, "ssh-rsa ") {
			t.Fatalf("%s: %+v, want fingerprint %s", name, k, want)
		}
	}
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallPub, _ := ssh.NewPublicKey(&small.PublicKey)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	edKey, _ := ssh.NewPublicKey(edPub)
	if k, err := parsePublicKey(ssh.MarshalAuthorizedKey(edKey)); err != nil || k.KeyType != keyTypeED25519 || k.Fingerprint != sha256Fingerprint(edKey) {
		t.Fatalf("ed25519: %+v, %v", k, err)
	}
	for name, bad := range map[string][]byte{
		"1024-bit RSA": ssh.MarshalAuthorizedKey(smallPub),
		"garbage":      []byte("hello"),
		"private key":  pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(small)}),
	} {
		if _, err := parsePublicKey(bad); !errors.Is(err, ErrInvalidKeyFormat) {
			t.Errorf("%s: %v, want InvalidKey.Format", name, err)
		}
	}
}

// FuzzParams: any query string and body parse or are refused with an EC2 client error,
// never a panic, and the lists and filters drawn from what parses behave the same.
func FuzzParams(f *testing.F) {
	f.Add("Action=DescribeVolumes&Version=2016-11-15", "Filter.1.Name=tag%3Aa&Filter.1.Value.1=b*&MaxResults=5")
	f.Add("", "VolumeId.1=vol-1&VolumeId.2=vol-2&TagSpecification.1.ResourceType=volume&TagSpecification.1.Tag.1.Key=k")
	f.Add("a=%zz", "Filter.x.Name=1")
	f.Add("NextToken=AAAA", "Tag.1.Value=v&ResourceId.99999999999999999999=x")
	f.Fuzz(func(t *testing.T, query, body string) {
		p, err := parseParams(query, []byte(body))
		if err != nil {
			if _, _, _, known := apiError(err); !known {
				t.Fatalf("parse error %v is not an EC2 error", err)
			}
			return
		}
		for _, step := range []func() error{
			func() error { _, err := p.list("VolumeId"); return err },
			func() error { _, err := p.filters(volumeFilters...); return err },
			func() error { _, err := p.tagsFor("volume"); return err },
			func() error { _, err := p.tags("Tag"); return err },
			func() error { _, err := p.page("DescribeVolumes", 5, 500); return err },
		} {
			if err := step(); err != nil {
				if _, _, _, known := apiError(err); !known {
					t.Fatalf("%v is not an EC2 error", err)
				}
			}
		}
	})
}
