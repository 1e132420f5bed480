package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stratus/internal/testutil"
)

// TestConsoleCommand: 'stratus console' alone serves the console against a cluster's
// APIs; with the admin certificate its admin pages read meta, without one they are off.
func TestConsoleCommand(t *testing.T) {
	fx := consoleServer(t)
	for _, withCert := range []bool{true, false} {
		listen := freeAddr(t)
		pkiDir := filepath.Join(fx.f.dataDir, "pki")
		if !withCert {
			pkiDir = t.TempDir()
		}
		cmd := newRootCmd()
		cmd.SetArgs([]string{"console", "--listen", listen, "--s3", fx.creds.Endpoint, "--ec2", fx.creds.EC2Endpoint,
			"--meta", fx.creds.MetaAddr, "--pki-dir", pkiDir, "--session-ttl", "10m"})
		console := runInBackground(context.Background(), cmd.ExecuteContext)
		t.Cleanup(func() { console.stopOrFail(t) })
		jar, _ := cookiejar.New(nil)
		hc := &http.Client{Jar: jar, Timeout: 10 * time.Second}
		var who map[string]any
		testutil.Eventually(t, 10*time.Second, func() error {
			if err := console.exited(); err != nil {
				t.Fatalf("stratus console: %v", err)
			}
			resp, err := hc.Post("http://"+listen+"/api/login", "application/json",
				strings.NewReader(`{"access_key":"`+fx.creds.AccessKey+`","secret_key":"`+fx.creds.SecretKey+`"}`))
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			who = nil
			return json.NewDecoder(resp.Body).Decode(&who)
		})
		if who["account"] != "admin" || who["admin"] != true || who["compute"] != true {
			t.Fatalf("login through stratus console: %v", who)
		}
		resp, err := hc.Get("http://" + listen + "/api/admin/users")
		if err != nil {
			t.Fatal(err)
		}
		var users []map[string]any
		json.NewDecoder(resp.Body).Decode(&users)
		resp.Body.Close()
		if withCert && (resp.StatusCode != http.StatusOK || len(users) == 0) {
			t.Fatalf("users with the admin certificate: %d %v", resp.StatusCode, users)
		}
		if !withCert && resp.StatusCode != http.StatusForbidden {
			t.Fatalf("users without a certificate: %d", resp.StatusCode)
		}
		if err := console.stop(); err != nil {
			t.Fatal(err)
		}
		if console.err != nil {
			t.Fatalf("stratus console: %v", console.err)
		}
	}
}
