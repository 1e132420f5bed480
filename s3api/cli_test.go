package s3api_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stratus/internal/testcluster"
)

// tool finds a Debian-packaged S3 client. make test installs them; a plain go test -short
// without them skips.
func tool(t *testing.T, path string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if testing.Short() {
			t.Skipf("%s not installed", path)
		}
		t.Fatalf("%s not installed (make test installs it): %v", path, err)
	}
	return path
}

// run runs a command with env added and fails the test on error.
func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	// The machine's own AWS_* and RCLONE_* settings (a CA bundle, a profile) are not
	// this test's: the clients see only what env gives them.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "RCLONE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s %s: %v\nstdout: %s\nstderr: %s", filepath.Base(name), strings.Join(args, " "), err, out.String(), errb.String())
		}
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%s %s: timed out", filepath.Base(name), strings.Join(args, " "))
	}
	return out.String()
}

// writeTree makes a small directory tree and a large file under dir.
func writeTree(t *testing.T, dir string, bigBytes int) {
	t.Helper()
	for i := range 12 {
		p := filepath.Join(dir, "tree", fmt.Sprintf("d%d", i%3), fmt.Sprintf("file %02d.txt", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, payload(100+i*997, uint64(i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), payload(bigBytes, 99), 0o644); err != nil {
		t.Fatal(err)
	}
}

func sameFiles(t *testing.T, a, b string) {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x, y) {
		t.Fatalf("%s and %s differ (%d vs %d bytes)", a, b, len(x), len(y))
	}
}

func TestAWSCLI(t *testing.T) {
	aws := tool(t, "/usr/bin/aws")
	c := testcluster.StartS3(t, testcluster.S3Options{})
	dir := t.TempDir()
	writeTree(t, dir, 50<<20)
	env := []string{"AWS_ACCESS_KEY_ID=" + c.AccessKey, "AWS_SECRET_ACCESS_KEY=" + c.SecretKey,
		"AWS_DEFAULT_REGION=" + c.Region, "AWS_CONFIG_FILE=" + filepath.Join(dir, "none"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "none"), "AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER="}
	aw := func(args ...string) string {
		return run(t, env, aws, append([]string{"--endpoint-url", c.Endpoint}, args...)...)
	}

	if out := aw("s3", "mb", "s3://cli-bucket"); !strings.Contains(out, "make_bucket: cli-bucket") {
		t.Fatalf("mb: %q", out)
	}
	aw("s3", "cp", filepath.Join(dir, "big.bin"), "s3://cli-bucket/big.bin") // 50 MiB: multipart
	aw("s3", "cp", "s3://cli-bucket/big.bin", filepath.Join(dir, "big.back"))
	sameFiles(t, filepath.Join(dir, "big.bin"), filepath.Join(dir, "big.back"))
	aw("s3", "sync", filepath.Join(dir, "tree"), "s3://cli-bucket/tree")
	ls := aw("s3", "ls", "--recursive", "s3://cli-bucket/")
	if n := strings.Count(ls, "\n"); n != 13 || !strings.Contains(ls, "52428800 big.bin") || !strings.Contains(ls, "tree/d1/file 04.txt") {
		t.Fatalf("ls (%d lines):\n%s", n, ls)
	}
	// A second sync finds nothing to do.
	if out := aw("s3", "sync", filepath.Join(dir, "tree"), "s3://cli-bucket/tree"); strings.Contains(out, "upload:") {
		t.Fatalf("second sync uploaded again:\n%s", out)
	}
	// list-objects-v2 pages of 5: the CLI follows continuation tokens.
	keys := aw("s3api", "list-objects-v2", "--bucket", "cli-bucket", "--prefix", "tree/", "--page-size", "5",
		"--query", "Contents[].Key", "--output", "text")
	if n := len(strings.Fields(strings.ReplaceAll(keys, "file ", "file_"))); n != 12 {
		t.Fatalf("list-objects-v2 paging returned %d keys:\n%s", n, keys)
	}
	aw("s3", "sync", "s3://cli-bucket/tree", filepath.Join(dir, "tree.back"))
	sameFiles(t, filepath.Join(dir, "tree", "d2", "file 11.txt"), filepath.Join(dir, "tree.back", "d2", "file 11.txt"))
	aw("s3", "rm", "--recursive", "s3://cli-bucket/")
	if out := aw("s3", "ls", "--recursive", "s3://cli-bucket/"); strings.TrimSpace(out) != "" {
		t.Fatalf("objects left after rm --recursive:\n%s", out)
	}
	aw("s3", "rb", "s3://cli-bucket")
}

func TestS3cmd(t *testing.T) {
	s3cmd := tool(t, "/usr/bin/s3cmd")
	c := testcluster.StartS3(t, testcluster.S3Options{})
	dir := t.TempDir()
	writeTree(t, dir, 20<<20)
	host := strings.TrimPrefix(c.Endpoint, "http://")
	cfg := filepath.Join(dir, "s3cfg")
	os.WriteFile(cfg, []byte(fmt.Sprintf("[default]\naccess_key = %s\nsecret_key = %s\nhost_base = %s\nhost_bucket = %s\nuse_https = False\nsignature_v2 = False\nbucket_location = us-east-1\n",
		c.AccessKey, c.SecretKey, host, host)), 0o600)
	sc := func(args ...string) string { return run(t, nil, s3cmd, append([]string{"-c", cfg}, args...)...) }
	sc("mb", "s3://s3cmd-bucket")
	sc("put", filepath.Join(dir, "big.bin"), "s3://s3cmd-bucket/big.bin")
	sc("get", "s3://s3cmd-bucket/big.bin", filepath.Join(dir, "big.back"))
	sameFiles(t, filepath.Join(dir, "big.bin"), filepath.Join(dir, "big.back"))
	sc("sync", filepath.Join(dir, "tree")+"/", "s3://s3cmd-bucket/tree/")
	ls := sc("ls", "--recursive", "s3://s3cmd-bucket")
	if n := strings.Count(ls, "\n"); n != 13 {
		t.Fatalf("ls (%d lines):\n%s", n, ls)
	}
	sc("sync", "s3://s3cmd-bucket/tree/", filepath.Join(dir, "tree.back")+"/")
	sameFiles(t, filepath.Join(dir, "tree", "d0", "file 09.txt"), filepath.Join(dir, "tree.back", "d0", "file 09.txt"))
	sc("del", "--recursive", "--force", "s3://s3cmd-bucket")
	if out := sc("ls", "--recursive", "s3://s3cmd-bucket"); strings.TrimSpace(out) != "" {
		t.Fatalf("left after del:\n%s", out)
	}
	sc("rb", "s3://s3cmd-bucket")
}

func TestRclone(t *testing.T) {
	rclone := tool(t, "/usr/bin/rclone")
	c := testcluster.StartS3(t, testcluster.S3Options{})
	dir := t.TempDir()
	writeTree(t, dir, 20<<20)
	env := []string{"RCLONE_CONFIG=" + filepath.Join(dir, "none.conf"),
		"RCLONE_CONFIG_ST_TYPE=s3", "RCLONE_CONFIG_ST_PROVIDER=Other", "RCLONE_CONFIG_ST_ENDPOINT=" + c.Endpoint,
		"RCLONE_CONFIG_ST_ACCESS_KEY_ID=" + c.AccessKey, "RCLONE_CONFIG_ST_SECRET_ACCESS_KEY=" + c.SecretKey,
		"RCLONE_CONFIG_ST_REGION=" + c.Region, "RCLONE_CONFIG_ST_FORCE_PATH_STYLE=true"}
	rc := func(args ...string) string { return run(t, env, rclone, args...) }
	rc("mkdir", "st:rclone-bucket")
	rc("copy", filepath.Join(dir, "big.bin"), "st:rclone-bucket/")
	rc("sync", filepath.Join(dir, "tree"), "st:rclone-bucket/tree")
	ls := rc("ls", "st:rclone-bucket")
	if n := strings.Count(ls, "\n"); n != 13 {
		t.Fatalf("ls (%d lines):\n%s", n, ls)
	}
	rc("check", filepath.Join(dir, "tree"), "st:rclone-bucket/tree") // compares sizes and MD5s
	rc("copy", "st:rclone-bucket/big.bin", filepath.Join(dir, "back"))
	sameFiles(t, filepath.Join(dir, "big.bin"), filepath.Join(dir, "back", "big.bin"))
	rc("purge", "st:rclone-bucket")
}
