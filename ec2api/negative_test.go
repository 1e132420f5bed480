package ec2api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// TestAuthFailures: every way a signature can be wrong is refused with EC2's code and
// status, before the request's action runs.
func TestAuthFailures(t *testing.T) {
	e := newEnv(t)
	alice := e.Keys["alice"]
	create := form("Action", "CreateVolume", "Version", APIVersion, "Size", "1", "AvailabilityZone", testRegion+"a")
	now := time.Now()
	cases := []struct {
		name   string
		key    testKey
		region string
		at     time.Time
		status int
		code   string
	}{
		{"wrong secret", testKey{alice.ID, "not-the-secret"}, testRegion, now, http.StatusForbidden, "SignatureDoesNotMatch"},
		{"unknown key", testKey{"AKNOBODY000000000000", "x"}, testRegion, now, http.StatusUnauthorized, "AuthFailure"},
		{"other region", alice, "us-west-2", now, http.StatusUnauthorized, "AuthFailure"},
		{"an hour late", alice, testRegion, now.Add(-time.Hour), http.StatusBadRequest, "RequestExpired"},
		{"unsigned", testKey{}, testRegion, now, http.StatusUnauthorized, "MissingAuthenticationToken"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := e.raw(tc.key, tc.region, tc.at, create)
			wantError(t, status, body, tc.status, tc.code)
		})
	}
	t.Run("s3 scope", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, e.URL+"/", strings.NewReader(create))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+alice.ID+"/"+now.UTC().Format("20060102")+"/"+testRegion+"/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature="+strings.Repeat("0", 64))
		req.Header.Set("X-Amz-Date", now.UTC().Format("20060102T150405Z"))
		status, body := e.do(req)
		wantError(t, status, body, http.StatusUnauthorized, "AuthFailure")
	})
	t.Run("tampered body", func(t *testing.T) {
		// Signed for Size=1, sent with Size=9: the signature covers the body.
		req, _ := http.NewRequest(http.MethodPost, e.URL+"/", strings.NewReader(strings.Replace(create, "Size=1", "Size=9", 1)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		signRequest(t, e, req, alice, create)
		status, body := e.do(req)
		wantError(t, status, body, http.StatusForbidden, "SignatureDoesNotMatch")
	})
	t.Run("SigV2", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, e.URL+"/", strings.NewReader(create))
		req.Header.Set("Authorization", "AWS "+alice.ID+":c2lnbmF0dXJl")
		status, body := e.do(req)
		wantError(t, status, body, http.StatusBadRequest, "IncompleteSignature")
	})
	if vols, err := e.Admin.Volumes(e.ctx()); err != nil || len(vols) != 0 {
		t.Fatalf("refused requests made volumes: %d, %v", len(vols), err)
	}
}

// TestBadParameters: malformed requests get EC2's client errors and change nothing.
func TestBadParameters(t *testing.T) {
	e := newEnv(t)
	alice := e.Keys["alice"]
	zone := testRegion + "a"
	cases := []struct {
		name   string
		form   string
		status int
		code   string
	}{
		{"unknown action", form("Action", "LaunchRockets", "Version", APIVersion), 400, "InvalidAction"},
		{"no action", form("Version", APIVersion), 400, "MissingAction"},
		{"no version", form("Action", "DescribeRegions"), 400, "MissingParameter"},
		{"size not a number", form("Action", "CreateVolume", "Version", APIVersion, "Size", "abc", "AvailabilityZone", zone), 400, "InvalidParameterValue"},
		{"size too large", form("Action", "CreateVolume", "Version", APIVersion, "Size", "16385", "AvailabilityZone", zone), 400, "InvalidParameterValue"},
		{"no size", form("Action", "CreateVolume", "Version", APIVersion, "AvailabilityZone", zone), 400, "MissingParameter"},
		{"unknown zone", form("Action", "CreateVolume", "Version", APIVersion, "Size", "1", "AvailabilityZone", "mars-1a"), 400, "InvalidParameterValue"},
		{"from a snapshot", form("Action", "CreateVolume", "Version", APIVersion, "SnapshotId", "snap-0123456789abcdef0", "AvailabilityZone", zone), 400, "InvalidSnapshot.NotFound"},
		{"encrypted", form("Action", "CreateVolume", "Version", APIVersion, "Size", "1", "AvailabilityZone", zone, "Encrypted", "true"), 400, "UnsupportedOperation"},
		{"tags for another type", form("Action", "CreateVolume", "Version", APIVersion, "Size", "1", "AvailabilityZone", zone,
			"TagSpecification.1.ResourceType", "instance", "TagSpecification.1.Tag.1.Key", "a"), 400, "InvalidParameterValue"},
		{"reserved tag key", form("Action", "CreateVolume", "Version", APIVersion, "Size", "1", "AvailabilityZone", zone,
			"TagSpecification.1.ResourceType", "volume", "TagSpecification.1.Tag.1.Key", "aws:owner"), 400, "InvalidParameterValue"},
		{"dry run", form("Action", "CreateVolume", "Version", APIVersion, "Size", "1", "AvailabilityZone", zone, "DryRun", "true"), 412, "DryRunOperation"},
		{"MaxResults 0", form("Action", "DescribeVolumes", "Version", APIVersion, "MaxResults", "0"), 400, "InvalidParameterValue"},
		{"MaxResults with ids", form("Action", "DescribeVolumes", "Version", APIVersion, "MaxResults", "5", "VolumeId.1", "vol-0123456789abcdef"), 400, "InvalidParameterCombination"},
		{"forged token", form("Action", "DescribeVolumes", "Version", APIVersion, "NextToken", "bm90LWEtdG9rZW4"), 400, "InvalidPaginationToken"},
		{"filter without name", form("Action", "DescribeVolumes", "Version", APIVersion, "Filter.1.Value.1", "available"), 400, "MissingParameter"},
		{"filter without values", form("Action", "DescribeVolumes", "Version", APIVersion, "Filter.1.Name", "status"), 400, "InvalidParameterValue"},
		{"unknown filter", form("Action", "DescribeVolumes", "Version", APIVersion, "Filter.1.Name", "colour", "Filter.1.Value.1", "red"), 400, "InvalidParameterValue"},
		{"list not numbered", form("Action", "DescribeVolumes", "Version", APIVersion, "VolumeId.first", "vol-0123456789abcdef"), 400, "InvalidParameterValue"},
		{"malformed volume id", form("Action", "DeleteVolume", "Version", APIVersion, "VolumeId", "vol-xyz"), 400, "InvalidVolumeID.Malformed"},
		{"tags on an unknown kind", form("Action", "CreateTags", "Version", APIVersion, "ResourceId.1", "bucket-1", "Tag.1.Key", "a"), 400, "InvalidID"},
		{"tags on no resource", form("Action", "CreateTags", "Version", APIVersion, "Tag.1.Key", "a"), 400, "MissingParameter"},
		{"key name too long", form("Action", "CreateKeyPair", "Version", APIVersion, "KeyName", strings.Repeat("k", 256)), 400, "InvalidParameterValue"},
		{"key type", form("Action", "CreateKeyPair", "Version", APIVersion, "KeyName", "k", "KeyType", "dsa"), 400, "InvalidParameterValue"},
		{"public key not base64", form("Action", "ImportKeyPair", "Version", APIVersion, "KeyName", "k", "PublicKeyMaterial", "%%%"), 400, "InvalidParameterValue"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := e.raw(alice, testRegion, time.Now(), tc.form)
			wantError(t, status, body, tc.status, tc.code)
		})
	}
	t.Run("parameter twice", func(t *testing.T) {
		status, body := e.raw(alice, testRegion, time.Now(), "Action=DescribeRegions&Version="+APIVersion+"&RegionName.1=a&RegionName.1=b")
		wantError(t, status, body, 400, "InvalidParameterValue")
	})
	t.Run("body too large", func(t *testing.T) {
		status, body := e.raw(alice, testRegion, time.Now(), form("Action", "DescribeRegions", "Version", APIVersion, "Pad", strings.Repeat("x", DefaultMaxBodyBytes)))
		wantError(t, status, body, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge")
	})
	if vols, err := e.Admin.Volumes(e.ctx()); err != nil || len(vols) != 0 {
		t.Fatalf("refused requests made volumes: %d, %v", len(vols), err)
	}
	if kps, err := e.Admin.KeyPairs(e.ctx(), "alice"); err != nil || len(kps) != 0 {
		t.Fatalf("refused requests made key pairs: %d, %v", len(kps), err)
	}
	// The SDK's own view of a refusal: the code, and the request ID it carries.
	_, err := e.sdk("alice").DescribeVolumes(e.ctx(), &ec2.DescribeVolumesInput{MaxResults: aws.Int32(1)})
	wantCode(t, err, "InvalidParameterValue")
}

// TestGetQuery: the Query protocol's GET form, parameters and all in the query string.
func TestGetQuery(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequest(http.MethodGet, e.URL+"/?"+form("Action", "DescribeAvailabilityZones", "Version", APIVersion, "ZoneName.1", testRegion+"a"), nil)
	signRequest(t, e, req, e.Keys["alice"], "")
	status, body := e.do(req)
	if status != 200 || !strings.Contains(string(body), "<zoneName>"+testRegion+"a</zoneName>") ||
		!strings.Contains(string(body), `<DescribeAvailabilityZonesResponse xmlns="`+Namespace+`">`) {
		t.Fatalf("GET: %d %s", status, body)
	}
}

// TestFailedAuthThrottled: past the limit of failed signatures, a key and an address are
// refused with RequestLimitExceeded and Retry-After, while an address that authenticated
// with its own key keeps working.
func TestFailedAuthThrottled(t *testing.T) {
	e := newEnv(t)
	alice, bob := e.Keys["alice"], e.Keys["bob"]
	describe := form("Action", "DescribeRegions", "Version", APIVersion)
	if status, body := e.raw(alice, testRegion, time.Now(), describe); status != 200 {
		t.Fatalf("alice: %d %s", status, body)
	}
	wrong := testKey{bob.ID, "guessed"}
	for range 20 {
		status, body := e.raw(wrong, testRegion, time.Now(), describe)
		wantError(t, status, body, http.StatusForbidden, "SignatureDoesNotMatch")
	}
	req, _ := http.NewRequest(http.MethodPost, e.URL+"/", strings.NewReader(describe))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	signRequest(t, e, req, bob, describe)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "3" {
		t.Fatalf("bob's key after 20 failures: %d, Retry-After %q; want 503 after 3 s", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	status, body := e.raw(wrong, testRegion, time.Now(), describe)
	wantError(t, status, body, http.StatusServiceUnavailable, "RequestLimitExceeded")
	if status, body := e.raw(alice, testRegion, time.Now(), describe); status != 200 {
		t.Fatalf("alice, proven from this address, is refused: %d %s", status, body)
	}
}
