package ec2api

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// debianAWS is the aws CLI v2 Debian installs. It is named explicitly: the aws first on
// PATH may be a pip-installed v1 with other defaults.
const debianAWS = "/usr/bin/aws"

// TestAWSCLI drives the server with the unmodified aws CLI: the commands a user types
// after 'stratus server' prints the EC2 endpoint.
func TestAWSCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the aws CLI thirteen times (about 10 s)")
	}
	if _, err := os.Stat(debianAWS); err != nil {
		t.Skipf("%s not installed (apt-get install awscli)", debianAWS)
	}
	e := newEnv(t)
	home := t.TempDir()
	k := e.Keys["alice"]
	run := func(args ...string) map[string]any {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, debianAWS, append([]string{"--endpoint-url", e.URL, "--region", testRegion, "--output", "json", "ec2"}, args...)...)
		cmd.Env = []string{"HOME=" + home, "PATH=/usr/bin:/bin", "AWS_ACCESS_KEY_ID=" + k.ID, "AWS_SECRET_ACCESS_KEY=" + k.Secret,
			"AWS_CONFIG_FILE=" + filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "none"),
			"AWS_PAGER=", "AWS_EC2_METADATA_DISABLED=true", "AWS_MAX_ATTEMPTS=1"}
		out, err := cmd.Output()
		if err != nil {
			var stderr string
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			t.Fatalf("aws ec2 %s: %v\n%s", strings.Join(args, " "), err, stderr)
		}
		var v map[string]any
		if len(strings.TrimSpace(string(out))) > 0 {
			if err := json.Unmarshal(out, &v); err != nil {
				t.Fatalf("aws ec2 %s printed %q: %v", args[0], out, err)
			}
		}
		return v
	}
	list := func(v map[string]any, name string) []any {
		l, _ := v[name].([]any)
		return l
	}
	field := func(v any, name string) string {
		m, _ := v.(map[string]any)
		s, _ := m[name].(string)
		return s
	}

	if r := list(run("describe-regions"), "Regions"); len(r) != 1 || field(r[0], "RegionName") != testRegion {
		t.Fatalf("describe-regions: %v", r)
	}
	kp := run("create-key-pair", "--key-name", "cli", "--key-type", "ed25519")
	if !strings.Contains(field(kp, "KeyMaterial"), "BEGIN OPENSSH PRIVATE KEY") || field(kp, "KeyFingerprint") == "" {
		t.Fatalf("create-key-pair: %v", kp)
	}
	if kps := list(run("describe-key-pairs", "--filters", "Name=key-name,Values=cli"), "KeyPairs"); len(kps) != 1 || field(kps[0], "KeyFingerprint") != field(kp, "KeyFingerprint") {
		t.Fatalf("describe-key-pairs: %v", kps)
	}
	vol := run("create-volume", "--size", "3", "--availability-zone", testRegion+"a",
		"--tag-specifications", "ResourceType=volume,Tags=[{Key=Name,Value=cli}]")
	id := field(vol, "VolumeId")
	if !strings.HasPrefix(id, "vol-") || field(vol, "State") != "available" {
		t.Fatalf("create-volume: %v", vol)
	}
	if vs := list(run("describe-volumes", "--filters", "Name=tag:Name,Values=cli"), "Volumes"); len(vs) != 1 || field(vs[0], "VolumeId") != id {
		t.Fatalf("describe-volumes: %v", vs)
	}
	run("create-tags", "--resources", id, "--tags", "Key=env,Value=test")
	if ts := list(run("describe-tags", "--filters", "Name=resource-id,Values="+id), "Tags"); len(ts) != 2 || field(ts[1], "Key") != "env" {
		t.Fatalf("describe-tags: %v", ts)
	}
	run("delete-volume", "--volume-id", id)
	if vs := list(run("describe-volumes"), "Volumes"); len(vs) != 0 {
		t.Fatalf("after delete-volume: %v", vs)
	}

	// Instances: a launch, the reservation listing, a termination.
	putHost(t, e, "h1", testRegion+"a", 8, 16384, time.Now())
	img := putImage(t, e, "")
	ri := run("run-instances", "--image-id", img, "--instance-type", "t3.micro", "--count", "2", "--key-name", "cli",
		"--tag-specifications", "ResourceType=instance,Tags=[{Key=Name,Value=cli}]")
	insts := list(ri, "Instances")
	if len(insts) != 2 || field(ri, "ReservationId") == "" {
		t.Fatalf("run-instances: %v", ri)
	}
	iid := field(insts[0], "InstanceId")
	rs := list(run("describe-instances", "--filters", "Name=tag:Name,Values=cli"), "Reservations")
	if len(rs) != 1 || len(list(rs[0].(map[string]any), "Instances")) != 2 {
		t.Fatalf("describe-instances: %v", rs)
	}
	ti := list(run("terminate-instances", "--instance-ids", iid), "TerminatingInstances")
	cur, _ := ti[0].(map[string]any)["CurrentState"].(map[string]any)
	if len(ti) != 1 || cur["Name"] != "shutting-down" {
		t.Fatalf("terminate-instances: %v", ti)
	}
}
