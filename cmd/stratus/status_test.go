package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"stratus/internal/hlc"
	"stratus/internal/pki"
	"stratus/internal/testcluster"
	"stratus/meta/client"
	"stratus/meta/metatest"
	"stratus/objectd"
	objclient "stratus/objectd/client"
)

// TestStatus runs status against three meta voters and three storage nodes, all in this
// process over mutual TLS: with everything up it exits zero and its --json follows the
// convention; with a storage node stopped, or a compute host silent, it names the problem
// and exits non-zero, and the dead node costs at most the probe deadline.
func TestStatus(t *testing.T) {
	mc := metatest.New(t, metatest.Options{Nodes: 3, Quiet: true, TLS: true})
	mc.Leader(10 * time.Second)
	mc.Identity(pki.IssueRequest{Role: pki.RoleAdmin, Name: "ops"})
	st := testcluster.StartStorage(t, testcluster.StorageOptions{Nodes: 3, Devices: 2, PKI: mc.PKI})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := mc.Client()
	data, err := st.Ring.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.PublishRing(ctx, client.RingVersion{Policy: objectPolicy, Version: st.Ring.Version(), Data: data, PublishedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	hosts := mc.ClientAs(pki.RoleComputed)
	if err := hosts.PutComputeHost(ctx, client.ComputeHost{Host: "h1", Zone: "z1", VCPUs: 8, MemoryMiB: 4096, UsedVCPUs: 2,
		UsedMemoryMiB: 1024, Instances: 1, DomainType: "qemu", HeartbeatAt: time.Now().UTC(), StartedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	if err := admin.CreateVolume(ctx, client.Volume{ID: client.NewVolumeID(), SizeBytes: 1 << 20, State: client.VolumeAvailable, CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	// Objects on node 0, so its replication passes have something to exchange with the other
	// nodes, and a clean pass everywhere, so every node starts with no backlog.
	px := objclient.New(objclient.Config{Timeout: 5 * time.Second, TLS: mc.Identity(pki.IssueRequest{Role: pki.RoleProxy, Name: "px"}).ClientTLS(pki.RoleObjectd)})
	defer px.CloseIdleConnections()
	for i := range 8 {
		name := fmt.Sprintf("o%d", i)
		p := st.Ring.Partition(name)
		for _, d := range st.Ring.Primaries(p, nil) {
			body := []byte(name)
			if err := px.Put(ctx, objclient.Target{Host: d.Host, Device: d.Name, Partition: uint32(p)},
				objclient.PutRequest{Name: name, Timestamp: hlc.Timestamp(time.Now().UnixMilli()) << 16, Length: int64(len(body))}, bytes.NewReader(body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := st.ReplicateAll(ctx); err != nil {
		t.Fatal(err)
	}
	var metaAddrs []string
	for _, n := range mc.Nodes {
		metaAddrs = append(metaAddrs, n.Addr)
	}
	args := []string{"status", "--meta", strings.Join(metaAddrs, ","), "--pki-dir", mc.PKI, "--cert-name=ops", "--timeout", "2s",
		"--full-ratio", "1"} // the test's devices share whatever disk the machine has

	// Any device counts as full above a ratio of 0.
	out, err := stratus(t, append(args, "--json", "--full-ratio", "0")...)
	if err == nil || strings.Count(out, `"kind": "device_full"`) != 6 {
		t.Fatalf("full ratio 0: err %v, want 6 device_full problems:\n%s", err, out)
	}

	out, err = stratus(t, append(args, "--json")...)
	if err != nil {
		t.Fatalf("all up: status failed: %v\n%s", err, out)
	}
	v := checkMachineJSON(t, out)
	if v["ok"] != true {
		t.Fatalf("all up: not ok:\n%s", out)
	}
	nodes, _ := v["storage_nodes"].([]any)
	if len(nodes) != 3 {
		t.Fatalf("all up: %d storage nodes, want 3:\n%s", len(nodes), out)
	}
	for _, n := range nodes {
		n := n.(map[string]any)
		devs, _ := n["devices"].([]any)
		if n["up"] != true || len(devs) != 2 || n["ring_version"] != float64(st.Ring.Version()) {
			t.Fatalf("all up: node %v", n)
		}
		for _, d := range devs {
			if d := d.(map[string]any); d["usable"] != true || d["in_ring"] != true || d["capacity_bytes"].(float64) <= 0 {
				t.Fatalf("all up: device %v of %v", d, n["addr"])
			}
		}
	}
	m := v["meta"].(map[string]any)
	voters, _ := m["voters"].([]any)
	if m["leader_id"] == "" || len(voters) != 3 {
		t.Fatalf("all up: meta %v", m)
	}
	for _, vo := range voters {
		if vo.(map[string]any)["reachable"] != true {
			t.Fatalf("all up: voter %v", vo)
		}
	}
	if rings, _ := v["rings"].([]any); len(rings) != 1 || rings[0].(map[string]any)["devices"] != float64(6) {
		t.Fatalf("all up: rings %v", v["rings"])
	}
	if vols := v["volumes"].(map[string]any); vols["total"] != float64(1) {
		t.Fatalf("all up: volumes %v", vols)
	}
	if hs, _ := v["compute_hosts"].([]any); len(hs) != 1 || hs[0].(map[string]any)["live"] != true {
		t.Fatalf("all up: compute hosts %v", v["compute_hosts"])
	}
	if r := v["replication"].(map[string]any); r["nodes_reporting"] != float64(3) || r["oldest_unsynced_seconds"] != float64(0) {
		t.Fatalf("all up after a clean pass: replication %v", r)
	}
	text := mustStratus(t, args...)
	if !strings.HasPrefix(text, "OK") || !strings.Contains(text, "3 of 3 nodes up, 6 of 6 devices usable") {
		t.Fatalf("all up, text:\n%s", text)
	}

	// One storage node down, a device of another without its marker (as when its disk is not
	// mounted), node 0's pass failing against the down node, one compute host silent.
	down := st.Nodes[1]
	down.Stop()
	if err := os.Remove(filepath.Join(st.Nodes[2].Dir, "d1", objectd.MarkerFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Nodes[0].Server().ReplicateOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if err := hosts.PutComputeHost(ctx, client.ComputeHost{Host: "h2", Zone: "z1", VCPUs: 4, MemoryMiB: 2048, DomainType: "qemu",
		HeartbeatAt: time.Now().Add(-time.Hour).UTC(), StartedAt: time.Now().Add(-2 * time.Hour).UTC()}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out, err = stratus(t, append(args, "--json", "--backlog", "1ms")...)
	took := time.Since(start)
	if err == nil {
		t.Fatalf("node down: status exited zero:\n%s", out)
	}
	if took > 10*time.Second {
		t.Errorf("node down: status took %v; a dead node must cost at most the probe deadline", took)
	}
	v = checkMachineJSON(t, out)
	kinds := map[string]string{}
	for _, p := range v["problems"].([]any) {
		p := p.(map[string]any)
		kinds[p["kind"].(string)] = p["subject"].(string)
	}
	want := map[string]string{"node_down": down.Addr, "device_unusable": st.Nodes[2].Addr + "/d1",
		"replication_behind": st.Nodes[0].Addr, "compute_host_lost": "h2"}
	if !maps.Equal(kinds, want) || v["ok"] != false {
		t.Fatalf("node down: problems %v, want %v:\n%s", kinds, want, out)
	}
	text, err = stratus(t, append(args, "--backlog", "1ms")...)
	if err == nil || !strings.HasPrefix(text, "PROBLEMS: 4") || !strings.Contains(text, "d1(UNUSABLE)") || !strings.Contains(text, "DOWN") {
		t.Fatalf("node down, text (err %v):\n%s", err, text)
	}
	t.Logf("status with a node down (%v):\n%s", took, text)
}

// TestStatusProbeDeadline: a node that accepts connections and never answers (a hung
// process, a black-holed route) is reported down once the probe deadline passes, while the
// other probes run alongside it.
func TestStatusProbeDeadline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // never read, never answered
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	}()
	mc := metatest.New(t, metatest.Options{Nodes: 1, Quiet: true, TLS: true})
	id := mc.Identity(pki.IssueRequest{Role: pki.RoleAdmin, Name: "ops"})
	targets := []storageTarget{{addr: ln.Addr().String(), devices: map[string]bool{"d0": true}}}
	for range 5 {
		targets = append(targets, storageTarget{addr: ln.Addr().String(), devices: map[string]bool{"d1": true}})
	}
	var rep statusReport
	var problems []string
	start := time.Now()
	probeStorage(context.Background(), id, targets, statusOptions{timeout: 300 * time.Millisecond, parallel: 16}, &rep,
		func(kind, subject, format string, a ...any) { problems = append(problems, kind) })
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("six hung nodes took %v to probe with a 300ms deadline", took)
	}
	if len(problems) != 6 || problems[0] != "node_down" || rep.StorageNodes[0].Up {
		t.Fatalf("hung nodes: problems %v, nodes %+v", problems, rep.StorageNodes)
	}

	// Meta itself hung: one problem, within the deadline, and no catalog reads after it.
	start = time.Now()
	out, err := stratus(t, "status", "--json", "--meta", ln.Addr().String(), "--pki-dir", mc.PKI, "--cert-name=ops", "--timeout", "300ms")
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("status against a hung meta took %v with a 300ms deadline", took)
	}
	v := checkMachineJSON(t, out)
	ps, _ := v["problems"].([]any)
	if err == nil || len(ps) != 1 || ps[0].(map[string]any)["kind"] != "meta_unreachable" {
		t.Fatalf("hung meta: err %v, output:\n%s", err, out)
	}
}
