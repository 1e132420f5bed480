package chaos

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"stratus/ring"
)

// The erasure-coded scenarios run on three "hosts" (storage nodes, two devices each) with
// an EC 4+2 policy whose ring spreads every partition's six fragments over all six
// devices, two per host: one host may be lost.

// ecOptions describe the erasure-coded policy of a cluster.
type ecOptions struct {
	policy              string // its name, also its ring's
	k, m                int
	reconstructInterval time.Duration // the storage nodes' reconstructor pace
}

// ecPolicy is the policy of the EC scenarios.
const ecPolicy = "ec-4-2"

// ecCluster starts three storage nodes with an EC 4+2 policy and the test bucket on it.
func ecCluster(t *testing.T, reconstruct time.Duration) *cluster {
	return startCluster(t, clusterOptions{nodes: 3, auditBytesPerSecond: 64 << 20,
		ec: &ecOptions{policy: ecPolicy, k: 4, m: 2, reconstructInterval: reconstruct}})
}

// ecLoad is baseLoad with objects large enough to be erasure-coded (the policy keeps
// objects below 64 KiB whole), and fewer keys, so that the scenarios stay short.
func ecLoad() loadOptions {
	o := baseLoad()
	if o.keys == 0 {
		o.keys = 10
	}
	o.sizes = []int{96 << 10, 300<<10 + 7, 1<<20 + 13}
	if *long {
		o.sizes = append(o.sizes, 4<<20+1)
	}
	return o
}

// createECPolicy creates the policy, builds its ring with `stratus ring` over every device
// of the first nodes, publishes it under the policy's name, and returns the request that
// creates the test bucket on the policy.
func (c *cluster) createECPolicy(o *ecOptions, nodes int) *s3.CreateBucketInput {
	c.t.Helper()
	c.stratus("policy", "create", o.policy, "ec", strconv.Itoa(o.k), strconv.Itoa(o.m), "--meta", c.metaList())
	builder := filepath.Join(c.dir, o.policy+".builder")
	ringFile := filepath.Join(c.dir, o.policy+".ring")
	c.stratus("ring", "create", builder, "6", strconv.Itoa(o.k+o.m), "0")
	devices := 0
	for _, n := range c.nodes[:nodes] {
		for _, d := range n.devices {
			c.stratus("ring", "add", builder, fmt.Sprintf("r1z%d-%s/%s", n.zone, n.addr, d), "100")
			devices++
		}
	}
	if devices < o.k+o.m {
		c.t.Fatalf("an EC %d+%d ring needs %d devices; the cluster has %d", o.k, o.m, o.k+o.m, devices)
	}
	c.stratus("ring", "rebalance", builder, "--seed", "1")
	c.stratus("ring", "write-ring", builder, ringFile)
	c.stratus("ring", "publish", ringFile, "--ring", o.policy, "--meta", c.metaList())
	r, err := ring.Load(ringFile)
	if err != nil {
		c.t.Fatal(err)
	}
	c.ecRing = r
	return &s3.CreateBucketInput{Bucket: aws.String(bucket), CreateBucketConfiguration: &types.CreateBucketConfiguration{
		LocationConstraint: types.BucketLocationConstraint(o.policy)}}
}

// fragments maps each fragment archive file on a device of n (its path below the
// policy's tree) to the digest of the whole file.
func (n *storageNode) fragments(device string) map[string][sha256.Size]byte {
	files := map[string][sha256.Size]byte{}
	root := filepath.Join(n.dir, device, "objects-"+ecPolicy)
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".data") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil // replaced meanwhile: the next look sees it
		}
		rel, _ := filepath.Rel(root, path)
		files[rel] = sha256.Sum256(data)
		return nil
	})
	return files
}

// fragmentsDiff explains how got differs from want: archives missing, and archives whose
// bytes differ (not rebuilt byte for byte). Empty when they are the same.
func fragmentsDiff(want, got map[string][sha256.Size]byte) string {
	var missing, differ []string
	for path, sum := range want {
		g, ok := got[path]
		switch {
		case !ok:
			missing = append(missing, path)
		case g != sum:
			differ = append(differ, path)
		}
	}
	if len(missing)+len(differ) == 0 {
		return ""
	}
	slices.Sort(missing)
	slices.Sort(differ)
	return fmt.Sprintf("%d of %d fragment archives missing (e.g. %v), %d with other bytes than before (e.g. %v)",
		len(missing), len(want), head(missing, 3), len(differ), head(differ, 3))
}

func head(s []string, n int) []string { return s[:min(n, len(s))] }
