package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stratus/bench"
)

// TestServerRestart: the all-in-one server starts on an empty directory, serves S3 with the
// credentials it printed, and after a restart on the same directory keeps its data,
// account and ring.
func TestServerRestart(t *testing.T) {
	dir := t.TempDir()
	// The ring names the storage node's address, so both starts use one port.
	objAddr, metricsAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run := func(op string, count int) *bench.Report {
		t.Helper()
		creds, srv, err := startBenchServer(t, ctx, dir, 3, objAddr, metricsAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.stopOrFail(t)
		rep, err := bench.RunS3(ctx, bench.S3Config{Endpoint: creds.Endpoint, AccessKey: creds.AccessKey, SecretKey: creds.SecretKey,
			Bucket: "kept", Op: op, SizeBytes: 1000, Concurrency: 2, Count: count, Objects: 5})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range rep.Ops {
			if s.Errors != 0 || s.Count != count {
				t.Fatalf("%s: %+v", op, s)
			}
		}
		// Metrics and health are served beside S3.
		for path, want := range map[string]string{"/healthz": "ok", "/metrics": `stratus_s3api_requests_total{code="200",op="PUT_object"}`} {
			resp, err := http.Get("http://" + metricsAddr + path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), want) {
				t.Fatalf("%s lacks %q", path, want)
			}
		}
		return rep
	}
	run("put", 10)
	first, err := os.ReadFile(filepath.Join(dir, "data", "credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	ringBefore, err := os.ReadFile(filepath.Join(dir, "data", "object.ring"))
	if err != nil {
		t.Fatal(err)
	}
	// The second start reads the pool the first one wrote ("get" writes it first, under the
	// same names, and then reads it back).
	run("get", 20)
	second, _ := os.ReadFile(filepath.Join(dir, "data", "credentials.json"))
	ringAfter, _ := os.ReadFile(filepath.Join(dir, "data", "object.ring"))
	var a, b adminCredentials
	mustJSON(t, first, &a)
	mustJSON(t, second, &b)
	if a.AccessKey != b.AccessKey || a.SecretKey != b.SecretKey || string(ringBefore) != string(ringAfter) {
		t.Fatal("a restart changed the admin key or the ring")
	}
}

func mustJSON(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatal(err)
	}
}

// TestServerRefusesMovedStorage: a restart whose storage node listens elsewhere than the
// ring says fails with advice instead of answering every request with 503.
func TestServerRefusesMovedStorage(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, srv, err := startBenchServer(t, ctx, dir, 3, "127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	srv.stopOrFail(t)
	if _, _, err := startBenchServer(t, ctx, dir, 3, "127.0.0.1:0", ""); err == nil {
		t.Fatal("restart on another storage address succeeded")
	} else if !strings.Contains(err.Error(), "--objectd-listen") {
		t.Fatalf("error gives no advice: %v", err)
	}
}

// startBenchServer runs a stratus server under dir until the test ends (or stop), its
// storage node on objListen, its metrics on metrics ("" for none) and everything else on
// free loopback ports.
func startBenchServer(t testing.TB, ctx context.Context, dir string, replicas int, objListen, metrics string) (adminCredentials, *running, error) {
	f := serverFlags{dataDir: filepath.Join(dir, "data"), devices: 3, replicas: replicas, partPower: 10,
		metaListen: "127.0.0.1:0", objListen: objListen, front: frontFlags{listen: "127.0.0.1:0", region: "us-east-1", metrics: metrics}}
	return launchServer(t, ctx, f)
}
