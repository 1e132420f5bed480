package meta_test

import (
	"errors"
	"testing"
	"time"

	"stratus/internal/pki"
	"stratus/meta/client"
	"stratus/meta/metatest"
)

// TestComputeRoles: an EC2 front end reads one secret at a time and writes the compute
// catalog (volumes, key pairs, tags) but no tenant's buckets or keys; a compute host reads
// what it runs (and the buckets and object index its images are read through) and writes
// instances, volumes' leases and its registration, not key pairs or storage nodes.
func TestComputeRoles(t *testing.T) {
	c := metatest.New(t, metatest.Options{Nodes: 1, TLS: true, Quiet: true})
	ctx := ctxT(t, 30*time.Second)
	admin, ec2, computed := c.Client(), c.ClientAs(pki.RoleEC2API), c.ClientAs(pki.RoleComputed)
	if err := admin.CreateAccount(ctx, client.Account{ID: "alice"}); err != nil {
		t.Fatal(err)
	}
	if err := admin.CreateAccessKey(ctx, client.AccessKey{ID: "AK1", Account: "alice", Secret: "s3cr3t"}); err != nil {
		t.Fatal(err)
	}
	if k, err := ec2.AccessKeySecret(ctx, "AK1"); err != nil || k.Secret != "s3cr3t" {
		t.Fatalf("ec2api reads a secret: %+v, %v", k, err)
	}
	if k, err := ec2.AccessKey(ctx, "AK1"); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("ec2api lists access keys: %+v, %v", k, err)
	}
	kp := client.KeyPair{ID: "key-0123456789abcdef0", Account: "alice", Name: "k", KeyType: "ed25519", PublicKey: "ssh-ed25519 AAAA"}
	tags := client.ResourceTags{Account: "alice", Resource: kp.ID, ResourceType: "key-pair", Tags: map[string]string{"a": "b"}}
	if err := ec2.CreateKeyPair(ctx, kp, tags.Op(0)); err != nil {
		t.Fatalf("ec2api writes a key pair and its tags: %v", err)
	}
	if err := ec2.CreateVolume(ctx, client.Volume{ID: client.NewVolumeID(), SizeBytes: 1 << 20, Account: "alice"}); err != nil {
		t.Fatalf("ec2api writes a volume: %v", err)
	}
	if err := ec2.CreateBucket(ctx, client.Bucket{Name: "b", Owner: "alice"}); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("ec2api writes a bucket: %v", err)
	}
	if err := ec2.CreateAccessKey(ctx, client.AccessKey{ID: "AK2", Account: "alice", Secret: "x"}); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("ec2api writes an access key: %v", err)
	}
	if _, _, err := ec2.Bucket(ctx, "b"); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("ec2api reads buckets: %v", err)
	}

	if kps, err := computed.KeyPairs(ctx, "alice"); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("computed reads key pairs: %v, %v", kps, err)
	}
	if err := admin.CreateBucket(ctx, client.Bucket{Name: "b", Owner: "alice"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := computed.Bucket(ctx, "b"); err != nil {
		t.Fatalf("computed reads a bucket (an image's owner): %v", err)
	}
	if err := computed.CreateBucket(ctx, client.Bucket{Name: "c", Owner: "alice"}); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("computed writes a bucket: %v", err)
	}
	if _, err := computed.Index("b").GetObject(ctx, "b", "k"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("computed reads the object index: %v, want ErrNotFound", err)
	}
	if err := computed.PutComputeHost(ctx, client.ComputeHost{Host: "h1", VCPUs: 2, MemoryMiB: 1024, DomainType: "qemu"}); err != nil {
		t.Fatalf("computed registers its host: %v", err)
	}
	if hs, err := ec2.ComputeHosts(ctx); err != nil || len(hs) != 1 {
		t.Fatalf("ec2api reads compute hosts: %v, %v", hs, err)
	}
	if err := ec2.PutComputeHost(ctx, client.ComputeHost{Host: "h2", VCPUs: 2, MemoryMiB: 1024, DomainType: "qemu"}); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("ec2api registers a compute host: %v", err)
	}
	if err := computed.Put(ctx, client.TableNodes, "n1", []byte(`{}`)); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("computed writes a storage node: %v", err)
	}
	if _, err := computed.AccessKey(ctx, "AK1"); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("computed reads an access key record: %v", err)
	}
	if err := computed.DeleteKeyPair(ctx, kp); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("computed deletes a key pair: %v", err)
	}
	if _, err := computed.AccessKeySecret(ctx, "AK1"); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("computed reads a secret: %v", err)
	}
	if err := computed.Put(ctx, client.TableInstances, "i-0123456789abcdef0", []byte(`{}`)); err != nil {
		t.Fatalf("computed writes an instance: %v", err)
	}
	if _, _, err := computed.Tags(ctx, "alice", kp.ID); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("computed reads tags: %v", err)
	}
	if rt, _, err := admin.Tags(ctx, "alice", kp.ID); err != nil || rt.Tags["a"] != "b" {
		t.Fatalf("tags stored with the key pair: %+v, %v", rt, err)
	}
}
