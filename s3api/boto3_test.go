package s3api_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stratus/internal/testcluster"
)

// boto3Preamble gives every script an S3 client for the cluster (path style, one attempt,
// so a server error is not hidden by retries) and the bucket it may use.
const boto3Preamble = `
import os, time, boto3, botocore
s3 = boto3.client('s3', endpoint_url=os.environ['EP'], region_name=os.environ['REGION'],
    aws_access_key_id=os.environ['AK'], aws_secret_access_key=os.environ['SK'],
    verify=not os.environ.get('INSECURE'),
    config=botocore.config.Config(retries={'max_attempts': 1}, s3={'addressing_style': 'path'}))
import urllib3; urllib3.disable_warnings()
BUCKET = os.environ['BUCKET']
`

// boto3Python is Debian's python3 when it has boto3: the boto3 most installs run, which
// behaves differently from a pip one in ways clients notice (Expect: 100-continue).
func boto3Python(t *testing.T) string {
	t.Helper()
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import boto3").Run(); err != nil {
		if testing.Short() {
			t.Skip("/usr/bin/python3 has no boto3 (apt-get install python3-boto3)")
		}
		t.Fatalf("/usr/bin/python3 has no boto3 (make deps installs python3-boto3): %v", err)
	}
	return py
}

// runBoto3 runs testdata/boto3/<name>.py against the cluster, with BUCKET set to bucket
// (which the caller has created, or "" for a script that makes its own), and fails the test
// unless the script prints "ok" last. env adds NAME=value settings for the script.
func runBoto3(t *testing.T, c *testcluster.S3, bucket, name string, env ...string) {
	t.Helper()
	py := boto3Python(t)
	src, err := os.ReadFile(filepath.Join("testdata", "boto3", name+".py"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "-c", boto3Preamble+string(src))
	cmd.Env = []string{"HOME=" + t.TempDir(), "EP=" + c.Endpoint, "REGION=" + c.Region, "AK=" + c.AccessKey,
		"SK=" + c.SecretKey, "BUCKET=" + bucket, "AWS_CONFIG_FILE=/nonexistent",
		"AWS_SHARED_CREDENTIALS_FILE=/nonexistent", "AWS_EC2_METADATA_DISABLED=true"}
	cmd.Env = append(cmd.Env, env...) // extra NAME=value settings a script reads
	if strings.HasPrefix(c.Endpoint, "https:") {
		cmd.Env = append(cmd.Env, "INSECURE=1") // a fresh self-signed certificate; loopback only
	}
	out, err := cmd.CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err != nil || lines[len(lines)-1] != "ok" {
		t.Fatalf("boto3 %s: %v\n%s", name, err, out)
	}
}
