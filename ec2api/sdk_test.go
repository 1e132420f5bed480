package ec2api

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"golang.org/x/crypto/ssh"

	meta "stratus/meta/client"
)

func TestSDKRegionsZonesInstanceTypes(t *testing.T) {
	e := newEnv(t)
	c := e.sdk("alice")
	regions, err := c.DescribeRegions(e.ctx(), &ec2.DescribeRegionsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(regions.Regions) != 1 || aws.ToString(regions.Regions[0].RegionName) != testRegion ||
		aws.ToString(regions.Regions[0].Endpoint) != strings.TrimPrefix(e.URL, "http://") {
		t.Fatalf("regions = %+v", regions.Regions)
	}
	_, err = c.DescribeRegions(e.ctx(), &ec2.DescribeRegionsInput{RegionNames: []string{"mars-north-1"}})
	wantCode(t, err, "InvalidParameterValue")

	zones, err := c.DescribeAvailabilityZones(e.ctx(), &ec2.DescribeAvailabilityZonesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(zones.AvailabilityZones) != 1 || aws.ToString(zones.AvailabilityZones[0].ZoneName) != testRegion+"a" ||
		zones.AvailabilityZones[0].State != types.AvailabilityZoneStateAvailable {
		t.Fatalf("zones = %+v", zones.AvailabilityZones)
	}
	none, err := c.DescribeAvailabilityZones(e.ctx(), &ec2.DescribeAvailabilityZonesInput{
		Filters: []types.Filter{{Name: aws.String("zone-name"), Values: []string{"*b"}}}})
	if err != nil || len(none.AvailabilityZones) != 0 {
		t.Fatalf("zone-name *b: %v, %d zones", err, len(none.AvailabilityZones))
	}

	one, err := c.DescribeInstanceTypes(e.ctx(), &ec2.DescribeInstanceTypesInput{InstanceTypes: []types.InstanceType{"t3.micro"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(one.InstanceTypes) != 1 || aws.ToInt32(one.InstanceTypes[0].VCpuInfo.DefaultVCpus) != 2 ||
		aws.ToInt64(one.InstanceTypes[0].MemoryInfo.SizeInMiB) != 1024 {
		t.Fatalf("t3.micro = %+v", one.InstanceTypes)
	}
	_, err = c.DescribeInstanceTypes(e.ctx(), &ec2.DescribeInstanceTypesInput{InstanceTypes: []types.InstanceType{"x9.huge"}})
	wantCode(t, err, "InvalidInstanceType")
	// Pages of 5 walk the whole catalogue once.
	var seen []string
	p := ec2.NewDescribeInstanceTypesPaginator(c, &ec2.DescribeInstanceTypesInput{MaxResults: aws.Int32(5)})
	for pages := 0; p.HasMorePages(); pages++ {
		if pages > len(InstanceTypes) {
			t.Fatal("pagination does not end")
		}
		out, err := p.NextPage(e.ctx())
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range out.InstanceTypes {
			seen = append(seen, string(it.InstanceType))
		}
	}
	if len(seen) != len(InstanceTypes) {
		t.Fatalf("paged through %v, want the %d types", seen, len(InstanceTypes))
	}
}

func TestSDKKeyPairs(t *testing.T) {
	e := newEnv(t)
	alice, bob := e.sdk("alice"), e.sdk("bob")

	// RSA: the private key comes back once, and the fingerprint is the SHA-1 of its PKCS#8 form.
	rsaOut, err := alice.CreateKeyPair(e.ctx(), &ec2.CreateKeyPairInput{KeyName: aws.String("deploy"),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeKeyPair, Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("ops")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(aws.ToString(rsaOut.KeyMaterial)))
	if block == nil || block.Type != "RSA PRIVATE KEY" {
		t.Fatalf("key material is not an RSA PEM key: %.40q", aws.ToString(rsaOut.KeyMaterial))
	}
	priv, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil || priv.N.BitLen() != 2048 {
		t.Fatalf("private key: %v", err)
	}
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(priv)
	if want := colonHex(sha1Sum(pkcs8)); aws.ToString(rsaOut.KeyFingerprint) != want {
		t.Fatalf("fingerprint %s, want %s", aws.ToString(rsaOut.KeyFingerprint), want)
	}
	if !strings.HasPrefix(aws.ToString(rsaOut.KeyPairId), "key-") || len(aws.ToString(rsaOut.KeyPairId)) != 21 {
		t.Fatalf("key pair id %q", aws.ToString(rsaOut.KeyPairId))
	}
	_, err = alice.CreateKeyPair(e.ctx(), &ec2.CreateKeyPairInput{KeyName: aws.String("deploy")})
	wantCode(t, err, "InvalidKeyPair.Duplicate")

	// ED25519: an OpenSSH private key whose public half is what DescribeKeyPairs returns.
	edOut, err := alice.CreateKeyPair(e.ctx(), &ec2.CreateKeyPairInput{KeyName: aws.String("laptop"), KeyType: types.KeyTypeEd25519})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey([]byte(aws.ToString(edOut.KeyMaterial)))
	if err != nil || signer.PublicKey().Type() != ssh.KeyAlgoED25519 {
		t.Fatalf("ed25519 key material: %v", err)
	}
	if want := sha256Fingerprint(signer.PublicKey()); aws.ToString(edOut.KeyFingerprint) != want {
		t.Fatalf("ed25519 fingerprint %s, want %s", aws.ToString(edOut.KeyFingerprint), want)
	}

	// Import: an RSA public key's fingerprint is the MD5 of its PKIX form.
	imported, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, _ := ssh.NewPublicKey(&imported.PublicKey)
	impOut, err := alice.ImportKeyPair(e.ctx(), &ec2.ImportKeyPairInput{KeyName: aws.String("imported"), PublicKeyMaterial: ssh.MarshalAuthorizedKey(sshPub)})
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&imported.PublicKey)
	if sum := md5.Sum(der); aws.ToString(impOut.KeyFingerprint) != colonHex(sum[:]) {
		t.Fatalf("imported fingerprint %s, want %s", aws.ToString(impOut.KeyFingerprint), colonHex(sum[:]))
	}
	_, err = alice.ImportKeyPair(e.ctx(), &ec2.ImportKeyPairInput{KeyName: aws.String("junk"), PublicKeyMaterial: []byte("ssh-dss AAAA not a key")})
	wantCode(t, err, "InvalidKey.Format")

	all, err := alice.DescribeKeyPairs(e.ctx(), &ec2.DescribeKeyPairsInput{IncludePublicKey: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if got := keyNames(all.KeyPairs); got != "deploy,imported,laptop" {
		t.Fatalf("key pairs = %s", got)
	}
	for _, k := range all.KeyPairs {
		if aws.ToString(k.KeyName) == "laptop" && !strings.HasPrefix(aws.ToString(k.PublicKey), string(ssh.MarshalAuthorizedKey(signer.PublicKey()))[:60]) {
			t.Fatalf("laptop public key %q", aws.ToString(k.PublicKey))
		}
		if aws.ToString(k.KeyName) == "deploy" && (len(k.Tags) != 1 || aws.ToString(k.Tags[0].Value) != "ops") {
			t.Fatalf("deploy tags %+v", k.Tags)
		}
	}
	byFilter, err := alice.DescribeKeyPairs(e.ctx(), &ec2.DescribeKeyPairsInput{Filters: []types.Filter{
		{Name: aws.String("fingerprint"), Values: []string{aws.ToString(edOut.KeyFingerprint)}}}})
	if err != nil || keyNames(byFilter.KeyPairs) != "laptop" {
		t.Fatalf("fingerprint filter: %v %s", err, keyNames(byFilter.KeyPairs))
	}
	byTag, err := alice.DescribeKeyPairs(e.ctx(), &ec2.DescribeKeyPairsInput{Filters: []types.Filter{
		{Name: aws.String("tag:team"), Values: []string{"o*"}}}})
	if err != nil || keyNames(byTag.KeyPairs) != "deploy" {
		t.Fatalf("tag filter: %v %s", err, keyNames(byTag.KeyPairs))
	}
	_, err = alice.DescribeKeyPairs(e.ctx(), &ec2.DescribeKeyPairsInput{KeyNames: []string{"nope"}})
	wantCode(t, err, "InvalidKeyPair.NotFound")

	// Bob sees none of Alice's keys and cannot delete them; he may reuse her names.
	bobs, err := bob.DescribeKeyPairs(e.ctx(), &ec2.DescribeKeyPairsInput{})
	if err != nil || len(bobs.KeyPairs) != 0 {
		t.Fatalf("bob's key pairs: %v %s", err, keyNames(bobs.KeyPairs))
	}
	_, err = bob.DescribeKeyPairs(e.ctx(), &ec2.DescribeKeyPairsInput{KeyNames: []string{"deploy"}})
	wantCode(t, err, "InvalidKeyPair.NotFound")
	if _, err := bob.DeleteKeyPair(e.ctx(), &ec2.DeleteKeyPairInput{KeyName: aws.String("deploy")}); err != nil {
		t.Fatalf("bob deletes a key he does not have: %v (EC2 answers true)", err)
	}
	if _, err := bob.CreateKeyPair(e.ctx(), &ec2.CreateKeyPairInput{KeyName: aws.String("deploy"), KeyType: types.KeyTypeEd25519}); err != nil {
		t.Fatal(err)
	}

	// Deleting is idempotent and takes the key's tags with it.
	for range 2 {
		if _, err := alice.DeleteKeyPair(e.ctx(), &ec2.DeleteKeyPairInput{KeyName: aws.String("deploy")}); err != nil {
			t.Fatal(err)
		}
	}
	after, err := alice.DescribeKeyPairs(e.ctx(), &ec2.DescribeKeyPairsInput{})
	if err != nil || keyNames(after.KeyPairs) != "imported,laptop" {
		t.Fatalf("after delete: %v %s", err, keyNames(after.KeyPairs))
	}
	if rt, _, err := e.Admin.Tags(e.ctx(), "alice", aws.ToString(rsaOut.KeyPairId)); err != nil || len(rt.Tags) != 0 {
		t.Fatalf("deleted key's tags: %v %v", rt.Tags, err)
	}
}

func TestSDKVolumesAndTags(t *testing.T) {
	e := newEnv(t)
	alice, bob := e.sdk("alice"), e.sdk("bob")
	zone := testRegion + "a"

	v, err := alice.CreateVolume(e.ctx(), &ec2.CreateVolumeInput{Size: aws.Int32(2), AvailabilityZone: aws.String(zone), VolumeType: types.VolumeTypeGp3,
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeVolume, Tags: []types.Tag{{Key: aws.String("Name"), Value: aws.String("db")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(v.VolumeId)
	if !meta.ValidVolumeID(id) || aws.ToInt32(v.Size) != 2 || v.State != types.VolumeStateAvailable || v.VolumeType != types.VolumeTypeGp3 || len(v.Tags) != 1 {
		t.Fatalf("created %+v", v)
	}
	// The record is the one 'stratus volume' manages, owned by alice.
	rec, _, err := e.Admin.Volume(e.ctx(), id)
	if err != nil || rec.Account != "alice" || rec.SizeBytes != 2<<30 {
		t.Fatalf("catalog record %+v, %v", rec, err)
	}
	for range 6 {
		if _, err := alice.CreateVolume(e.ctx(), &ec2.CreateVolumeInput{Size: aws.Int32(1), AvailabilityZone: aws.String(zone)}); err != nil {
			t.Fatal(err)
		}
	}
	// Pages of 5: all seven volumes, once each.
	seen := map[string]bool{}
	p := ec2.NewDescribeVolumesPaginator(alice, &ec2.DescribeVolumesInput{MaxResults: aws.Int32(5)})
	for pages := 0; p.HasMorePages(); pages++ {
		if pages > 7 {
			t.Fatal("pagination does not end")
		}
		out, err := p.NextPage(e.ctx())
		if err != nil {
			t.Fatal(err)
		}
		for _, vol := range out.Volumes {
			if seen[aws.ToString(vol.VolumeId)] {
				t.Fatalf("%s twice", aws.ToString(vol.VolumeId))
			}
			seen[aws.ToString(vol.VolumeId)] = true
		}
	}
	if len(seen) != 7 {
		t.Fatalf("paged %d volumes, want 7", len(seen))
	}
	byTag, err := alice.DescribeVolumes(e.ctx(), &ec2.DescribeVolumesInput{Filters: []types.Filter{{Name: aws.String("tag:Name"), Values: []string{"db"}}}})
	if err != nil || len(byTag.Volumes) != 1 || aws.ToString(byTag.Volumes[0].VolumeId) != id {
		t.Fatalf("tag:Name=db: %v %+v", err, byTag.Volumes)
	}
	bySize, err := alice.DescribeVolumes(e.ctx(), &ec2.DescribeVolumesInput{Filters: []types.Filter{{Name: aws.String("size"), Values: []string{"1"}},
		{Name: aws.String("status"), Values: []string{"available"}}}})
	if err != nil || len(bySize.Volumes) != 6 {
		t.Fatalf("size=1: %v %d volumes", err, len(bySize.Volumes))
	}

	// Tags: add, describe by filters, remove one by value.
	if _, err := alice.CreateTags(e.ctx(), &ec2.CreateTagsInput{Resources: []string{id}, Tags: []types.Tag{
		{Key: aws.String("env"), Value: aws.String("prod")}, {Key: aws.String("Name"), Value: aws.String("db-1")}}}); err != nil {
		t.Fatal(err)
	}
	tags, err := alice.DescribeTags(e.ctx(), &ec2.DescribeTagsInput{Filters: []types.Filter{{Name: aws.String("resource-id"), Values: []string{id}}}})
	if err != nil || tagString(tags.Tags) != "Name=db-1,env=prod" {
		t.Fatalf("tags %v %s", err, tagString(tags.Tags))
	}
	if tags.Tags[0].ResourceType != types.ResourceTypeVolume {
		t.Fatalf("resource type %q", tags.Tags[0].ResourceType)
	}
	if _, err := alice.DeleteTags(e.ctx(), &ec2.DeleteTagsInput{Resources: []string{id}, Tags: []types.Tag{
		{Key: aws.String("env"), Value: aws.String("staging")}, {Key: aws.String("Name")}}}); err != nil {
		t.Fatal(err)
	}
	tags, err = alice.DescribeTags(e.ctx(), &ec2.DescribeTagsInput{Filters: []types.Filter{{Name: aws.String("key"), Values: []string{"*"}}}})
	if err != nil || tagString(tags.Tags) != "env=prod" {
		t.Fatalf("after DeleteTags (env only if staging, Name always): %v %s", err, tagString(tags.Tags))
	}

	// Bob: Alice's volume does not exist for him, whatever he tries, and nothing changes.
	_, err = bob.DescribeVolumes(e.ctx(), &ec2.DescribeVolumesInput{VolumeIds: []string{id}})
	wantCode(t, err, "InvalidVolume.NotFound")
	_, err = bob.DeleteVolume(e.ctx(), &ec2.DeleteVolumeInput{VolumeId: aws.String(id)})
	wantCode(t, err, "InvalidVolume.NotFound")
	_, err = bob.CreateTags(e.ctx(), &ec2.CreateTagsInput{Resources: []string{id}, Tags: []types.Tag{{Key: aws.String("pwned"), Value: aws.String("1")}}})
	wantCode(t, err, "InvalidVolume.NotFound")
	_, err = bob.DeleteTags(e.ctx(), &ec2.DeleteTagsInput{Resources: []string{id}})
	wantCode(t, err, "InvalidVolume.NotFound")
	bobs, err := bob.DescribeVolumes(e.ctx(), &ec2.DescribeVolumesInput{})
	if err != nil || len(bobs.Volumes) != 0 {
		t.Fatalf("bob's volumes: %v %d", err, len(bobs.Volumes))
	}
	bobTags, err := bob.DescribeTags(e.ctx(), &ec2.DescribeTagsInput{})
	if err != nil || len(bobTags.Tags) != 0 {
		t.Fatalf("bob's tags: %v %d", err, len(bobTags.Tags))
	}
	if rec2, _, err := e.Admin.Volume(e.ctx(), id); err != nil || rec2.Account != "alice" || rec2.State != meta.VolumeAvailable {
		t.Fatalf("alice's volume after bob: %+v %v", rec2, err)
	}
	tags, err = alice.DescribeTags(e.ctx(), &ec2.DescribeTagsInput{})
	if err != nil || tagString(tags.Tags) != "env=prod" {
		t.Fatalf("alice's tags after bob: %v %s", err, tagString(tags.Tags))
	}

	// An attached volume stays; a detached one goes with its tags.
	rec, idx, err := e.Admin.Volume(e.ctx(), id)
	if err != nil {
		t.Fatal(err)
	}
	rec.LastGeneration++
	rec.State = meta.VolumeInUse
	rec.Attachment = &meta.VolumeAttachment{Host: "h1", Generation: rec.LastGeneration, LeaseExpiresAt: time.Now().Add(time.Minute), AttachedAt: time.Now()}
	if err := e.Admin.UpdateVolume(e.ctx(), rec, idx); err != nil {
		t.Fatal(err)
	}
	_, err = alice.DeleteVolume(e.ctx(), &ec2.DeleteVolumeInput{VolumeId: aws.String(id)})
	wantCode(t, err, "VolumeInUse")
	inUse, err := alice.DescribeVolumes(e.ctx(), &ec2.DescribeVolumesInput{Filters: []types.Filter{{Name: aws.String("status"), Values: []string{"in-use"}}}})
	if err != nil || len(inUse.Volumes) != 1 {
		t.Fatalf("in-use volumes: %v %d", err, len(inUse.Volumes))
	}
	rec, idx, _ = e.Admin.Volume(e.ctx(), id)
	rec.Attachment, rec.State = nil, meta.VolumeAvailable
	if err := e.Admin.UpdateVolume(e.ctx(), rec, idx); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.DeleteVolume(e.ctx(), &ec2.DeleteVolumeInput{VolumeId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	_, err = alice.DescribeVolumes(e.ctx(), &ec2.DescribeVolumesInput{VolumeIds: []string{id}})
	wantCode(t, err, "InvalidVolume.NotFound")
	if rt, _, err := e.Admin.Tags(e.ctx(), "alice", id); err != nil || len(rt.Tags) != 0 {
		t.Fatalf("deleted volume's tags: %v %v", rt.Tags, err)
	}
	_, err = alice.DeleteVolume(e.ctx(), &ec2.DeleteVolumeInput{VolumeId: aws.String(id)})
	wantCode(t, err, "InvalidVolume.NotFound")
}

func keyNames(kps []types.KeyPairInfo) string {
	var names []string
	for _, k := range kps {
		names = append(names, aws.ToString(k.KeyName))
	}
	return strings.Join(names, ",")
}

func tagString(ts []types.TagDescription) string {
	var out []string
	for _, t := range ts {
		out = append(out, fmt.Sprintf("%s=%s", aws.ToString(t.Key), aws.ToString(t.Value)))
	}
	return strings.Join(out, ",")
}

func sha1Sum(b []byte) []byte {
	s := sha1.Sum(b)
	return s[:]
}
