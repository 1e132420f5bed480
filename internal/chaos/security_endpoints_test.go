package chaos

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"stratus/internal/hlc"
	"stratus/internal/pki"
	metaclient "stratus/meta/client"
	objclient "stratus/objectd/client"
)

// absent checks that table holds no key, reading as admin from the leader.
func (f *securityFixture) absent(t *testing.T, table, key string) {
	t.Helper()
	if it, err := f.meta.Get(f.ctx(t), table, key); !errors.Is(err, metaclient.ErrNotFound) {
		t.Errorf("%s/%s after a refused write: %v (value %q)", table, key, err, it.Value)
	}
}

// members checks that the meta membership is still m1, m2, m3, all voters.
func (f *securityFixture) members(t *testing.T) {
	t.Helper()
	st, err := f.metaAt(f.leader).Status(f.ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range st.Members {
		if m.Suffrage != "Voter" {
			t.Errorf("member %s is %s", m.ID, m.Suffrage)
		}
		ids = append(ids, m.ID)
	}
	slices.Sort(ids)
	if want := []string{"m1", "m2", "m3"}; !slices.Equal(ids, want) {
		t.Errorf("members %v after a refused call, want %v", ids, want)
	}
}

// noItems checks that a refused read's reply holds no record.
func noItems(t *testing.T, _ string, r reply) {
	t.Helper()
	for _, field := range []string{`"item"`, `"items"`, `"events"`, `"value"`} {
		if bytes.Contains(r.body, []byte(field)) {
			t.Errorf("refused read returned %s: %q", field, truncate(r.body))
		}
	}
}

func (f *securityFixture) metaEndpoints() []endpoint {
	account := func(key string) metaclient.Op {
		return metaclient.Op{Kind: metaclient.OpPut, Table: metaclient.TableAccounts, Key: key,
			Value: mustJSON(metaclient.Account{ID: key, Name: key, CreatedAt: time.Now().UTC()}), Cond: metaclient.CondAbsent}
	}
	bucketOp := func(key string) metaclient.Op {
		return metaclient.Op{Kind: metaclient.OpPut, Table: metaclient.TableBuckets, Key: key,
			Value: mustJSON(metaclient.Bucket{Name: key, Owner: "chaos", CreatedAt: time.Now().UTC()}), Cond: metaclient.CondAbsent}
	}
	post := func(path string, v any) request {
		return request{method: http.MethodPost, path: path, body: mustJSON(v), header: http.Header{"Content-Type": {"application/json"}}}
	}
	get := func(path string) request { return request{method: http.MethodGet, path: path} }
	noSecret := func(t *testing.T, _ string, r reply) {
		t.Helper()
		if bytes.Contains(r.body, []byte(f.c.secretKey)) {
			t.Errorf("reply holds the secret key: %q", truncate(r.body))
		}
	}
	return []endpoint{{
		name: "apply", allowed: pki.RoleAdmin, wrong: []pki.Role{pki.RoleProxy, pki.RoleObjectd}, control: true,
		request: func(key string) request {
			return post(metaclient.PathApply, metaclient.ApplyRequest{ID: metaclient.NewRequestID(), Ops: []metaclient.Op{account(key)}})
		},
		unchanged: func(t *testing.T, key string, _ reply) { f.absent(t, metaclient.TableAccounts, key) },
		served: func(t *testing.T, key string, _ reply) {
			if _, err := f.meta.Account(f.ctx(t), key); err != nil {
				t.Errorf("account %s after a served apply: %v", key, err)
			}
		},
	}, {
		// The batch's first request writes a table proxies may write, its second one they
		// may not: the whole batch is refused.
		name: "apply-batch", allowed: pki.RoleAdmin, wrong: []pki.Role{pki.RoleProxy, pki.RoleObjectd}, control: true,
		request: func(key string) request {
			return post(metaclient.PathApplyBatch, metaclient.ApplyBatchRequest{Requests: []metaclient.ApplyRequest{
				{ID: metaclient.NewRequestID(), Ops: []metaclient.Op{bucketOp(key)}},
				{ID: metaclient.NewRequestID(), Ops: []metaclient.Op{account(key)}},
			}})
		},
		unchanged: func(t *testing.T, key string, _ reply) {
			f.absent(t, metaclient.TableBuckets, key)
			f.absent(t, metaclient.TableAccounts, key)
		},
		served: func(t *testing.T, key string, r reply) {
			var resp metaclient.ApplyBatchResponse
			if err := json.Unmarshal(r.body, &resp); err != nil || len(resp.Results) != 2 || resp.Results[0].Error != nil || resp.Results[1].Error != nil {
				t.Errorf("served batch: %v %q", err, truncate(r.body))
			}
			if _, err := f.meta.Account(f.ctx(t), key); err != nil {
				t.Errorf("account %s after a served batch: %v", key, err)
			}
		},
	}, {
		name: "get", allowed: pki.RoleAdmin, wrong: []pki.Role{pki.RoleObjectd}, control: true,
		request: func(string) request {
			return post(metaclient.PathGet, metaclient.GetRequest{Table: metaclient.TableBuckets, Key: bucket})
		},
		unchanged: noItems,
		served: func(t *testing.T, _ string, r reply) {
			var resp metaclient.GetResponse
			if err := json.Unmarshal(r.body, &resp); err != nil || resp.Item.Key != bucket {
				t.Errorf("served get: %v %q", err, truncate(r.body))
			}
		},
	}, {
		name: "list", allowed: pki.RoleAdmin, wrong: []pki.Role{pki.RoleObjectd}, control: true,
		request: func(string) request {
			return post(metaclient.PathList, metaclient.ListRequest{Table: metaclient.TableAccessKeys})
		},
		unchanged: noItems,
		served: func(t *testing.T, key string, r reply) {
			var resp metaclient.ListResponse
			if err := json.Unmarshal(r.body, &resp); err != nil || len(resp.Items) == 0 {
				t.Errorf("served list: %v %q", err, truncate(r.body))
			}
			noSecret(t, key, r)
		},
	}, {
		name: "watch", allowed: pki.RoleAdmin, wrong: []pki.Role{pki.RoleObjectd}, control: true,
		request: func(string) request {
			return post(metaclient.PathWatch, metaclient.WatchRequest{Table: metaclient.TableAccounts, WaitSeconds: 0.1})
		},
		unchanged: noItems,
	}, {
		// A voter that does not exist would cost the cluster its quorum margin.
		name: "join", allowed: pki.RoleAdmin, wrong: []pki.Role{pki.RoleProxy, pki.RoleObjectd},
		request: func(key string) request {
			return post(metaclient.PathJoin, metaclient.JoinRequest{ID: key, Addr: "127.0.0.99:7400"})
		},
		unchanged: func(t *testing.T, _ string, _ reply) { f.members(t) },
	}, {
		name: "remove", allowed: pki.RoleAdmin, wrong: []pki.Role{pki.RoleProxy, pki.RoleObjectd},
		request: func(string) request {
			return post(metaclient.PathRemove, metaclient.RemoveRequest{ID: f.followers[1].id})
		},
		unchanged: func(t *testing.T, _ string, _ reply) { f.members(t) },
	}, {
		// Every role may read the status: only certificates themselves are refused.
		name: "status", allowed: pki.RoleAdmin, control: true,
		request: func(string) request { return get(metaclient.PathStatus) },
		unchanged: func(t *testing.T, _ string, r reply) {
			if bytes.Contains(r.body, []byte(`"members"`)) {
				t.Errorf("refused status returned it: %q", truncate(r.body))
			}
		},
	}, {
		name: "snapshot", allowed: pki.RoleAdmin, wrong: []pki.Role{pki.RoleProxy, pki.RoleObjectd}, control: true,
		request: func(string) request { return get(metaclient.PathSnapshot) },
		unchanged: func(t *testing.T, _ string, r reply) {
			if len(r.body) > 4<<10 {
				t.Errorf("refused snapshot returned %d bytes", len(r.body))
			}
		},
		served: func(t *testing.T, key string, r reply) {
			if len(r.body) < 1<<10 {
				t.Errorf("served snapshot of %d bytes", len(r.body))
			}
			noSecret(t, key, r)
		},
	}, {
		// A restore of the backup taken before the canary account would remove it.
		name: "restore", allowed: pki.RoleAdmin, wrong: []pki.Role{pki.RoleProxy, pki.RoleObjectd},
		request: func(string) request {
			return request{method: http.MethodPost, path: metaclient.PathRestore, body: f.snapshot}
		},
		unchanged: func(t *testing.T, _ string, _ reply) {
			if _, err := f.meta.Account(f.ctx(t), canaryAccount); err != nil {
				t.Errorf("account %s after a refused restore: %v", canaryAccount, err)
			}
		},
	}, {
		name: "secret", allowed: pki.RoleProxy, wrong: []pki.Role{pki.RoleAdmin, pki.RoleObjectd}, control: true,
		request: func(string) request {
			return post(metaclient.PathSecret, metaclient.SecretRequest{AccessKey: f.c.accessKey})
		},
		unchanged: noSecret,
		served: func(t *testing.T, _ string, r reply) {
			var k metaclient.AccessKey
			if err := json.Unmarshal(r.body, &k); err != nil || k.Secret != f.c.secretKey {
				t.Errorf("served secret call: %v (the secret %s)", err, map[bool]string{true: "matches", false: "does not match"}[k.Secret == f.c.secretKey])
			}
		},
	}, {
		// Any cluster certificate may read metrics.
		name: "metrics", allowed: pki.RoleAdmin, control: true,
		request: func(string) request { return get("/metrics") },
		unchanged: func(t *testing.T, _ string, r reply) {
			if bytes.Contains(r.body, []byte("stratus_meta")) {
				t.Errorf("refused metrics call returned them: %q", truncate(r.body))
			}
		},
	}}
}

// testMeta calls every meta endpoint on the leader and on a follower (which must refuse
// before it forwards anything to the leader as itself).
func (f *securityFixture) testMeta(t *testing.T) {
	eps := f.metaEndpoints()
	for _, n := range []struct {
		name string
		m    *metaNode
	}{{"leader", f.leader}, {"follower", f.followers[0]}} {
		t.Run(n.name, func(t *testing.T) { f.run(t, n.m.addr, pki.RoleMeta, eps) })
	}
}

func (f *securityFixture) objectdEndpoints(t *testing.T) []endpoint {
	victimTarget := f.target(f.victim, 0)
	objectPath := func(t objclient.Target, name string) string {
		return fmt.Sprintf("/v1/object/%s/%d/%s", t.Device, t.Partition, objclient.EncodeName(name))
	}
	partPath := func(verb string, t objclient.Target) string {
		return fmt.Sprintf("/v1/%s/%s/%d", verb, t.Device, t.Partition)
	}
	intruder := func(key string) string { return bucket + "/sec/" + key }
	// intruderTarget is where a call creating intruder(key) goes: its partition, on the
	// node called (which serves any partition of its devices).
	intruderTarget := func(key string) objclient.Target {
		return objclient.Target{Host: victimTarget.Host, Device: victimTarget.Device, Partition: uint32(f.c.ring().Partition(intruder(key)))}
	}
	// nowhere checks that neither the node called nor any primary holds the name.
	nowhere := func(t *testing.T, key string, _ reply) {
		t.Helper()
		name := intruder(key)
		for _, tg := range append(f.targets(name), intruderTarget(key)) {
			if info, err := f.c.objc.Head(f.ctx(t), tg, name); !errors.Is(err, objclient.ErrNotFound) {
				t.Errorf("%s on %s after a refused write: %v (version %v)", name, tg, err, info.Timestamp)
			}
		}
	}
	stored := func(t *testing.T, key string, _ reply) {
		t.Helper()
		name := intruder(key)
		if _, err := f.c.objc.Head(f.ctx(t), intruderTarget(key), name); err != nil {
			t.Errorf("%s after a served write: %v", name, err)
		}
	}
	// victimIntact checks that the victim's first primary still serves its content and
	// version, and that its reply gave nothing of it away.
	victimIntact := func(t *testing.T, _ string, r reply) {
		t.Helper()
		if bytes.Contains(r.body, f.victimContent) || r.header.Get(objclient.HeaderChecksum) != "" {
			t.Errorf("refused call returned the victim's content or metadata")
		}
		obj, err := f.c.objc.Get(f.ctx(t), victimTarget, f.victim, nil)
		if err != nil {
			t.Fatalf("victim after a refused call: %v", err)
		}
		defer obj.Body.Close()
		data, err := io.ReadAll(obj.Body)
		if err != nil || !bytes.Equal(data, f.victimContent) || obj.Info.Timestamp != f.victimTS {
			t.Errorf("victim after a refused call: %v, version %v (want %v), content intact %v", err, obj.Info.Timestamp, f.victimTS, bytes.Equal(data, f.victimContent))
		}
	}
	notJSON := func(t *testing.T, _ string, r reply) {
		t.Helper()
		if bytes.HasPrefix(bytes.TrimSpace(r.body), []byte("{")) {
			t.Errorf("refused call answered JSON: %q", truncate(r.body))
		}
	}
	content := []byte("an intruder's content")
	putRequest := func(key string) request {
		name := intruder(key)
		return request{method: http.MethodPut, path: objectPath(intruderTarget(key), name), body: content, header: http.Header{
			objclient.HeaderTimestamp: {hlc.FromTime(time.Now()).String()},
			objclient.HeaderLength:    {strconv.Itoa(len(content))},
			objclient.HeaderChecksum:  {objclient.ChecksumOf(content).String()},
		}}
	}
	objectRefused := []pki.Role{pki.RoleAdmin, pki.RoleMeta}
	replicationRefused := []pki.Role{pki.RoleProxy, pki.RoleAdmin}
	return slices.Concat([]endpoint{{
		name: "put", allowed: pki.RoleProxy, wrong: objectRefused, control: true,
		request: putRequest, unchanged: nowhere, served: stored,
	}, {
		name: "get", allowed: pki.RoleProxy, wrong: objectRefused, control: true,
		request: func(string) request {
			return request{method: http.MethodGet, path: objectPath(victimTarget, f.victim)}
		},
		unchanged: victimIntact,
		served: func(t *testing.T, _ string, r reply) {
			if !bytes.Equal(r.body, f.victimContent) {
				t.Errorf("served get returned %q", truncate(r.body))
			}
		},
	}, {
		name: "head", allowed: pki.RoleProxy, wrong: objectRefused, control: true,
		request: func(string) request {
			return request{method: http.MethodHead, path: objectPath(victimTarget, f.victim)}
		},
		unchanged: victimIntact,
		served: func(t *testing.T, _ string, r reply) {
			if r.header.Get(objclient.HeaderTimestamp) != f.victimTS.String() {
				t.Errorf("served head: version %q", r.header.Get(objclient.HeaderTimestamp))
			}
		},
	}, {
		// A tombstone dated now would delete the victim; the control deletes another name.
		name: "delete", allowed: pki.RoleProxy, wrong: objectRefused, control: true,
		request: func(key string) request {
			tg, name := victimTarget, f.victim
			if strings.HasSuffix(key, "allowed-"+string(pki.RoleProxy)) {
				name = intruder(key)
				tg = intruderTarget(key)
			}
			return request{method: http.MethodDelete, path: objectPath(tg, name),
				header: http.Header{objclient.HeaderTimestamp: {hlc.FromTime(time.Now()).String()}}}
		},
		unchanged: victimIntact,
	}, {
		name: "hashes", allowed: pki.RoleObjectd, wrong: replicationRefused, control: true,
		request: func(string) request {
			return request{method: http.MethodGet, path: partPath("hashes", victimTarget)}
		},
		unchanged: notJSON,
		served: func(t *testing.T, _ string, r reply) {
			var h objclient.SuffixHashes
			if err := json.Unmarshal(r.body, &h); err != nil || len(h) == 0 {
				t.Errorf("served hashes: %v %q", err, truncate(r.body))
			}
		},
	}, {
		// An offer answered would make the node promise the version to the caller for a
		// while, and its other primaries skip it.
		name: "missing", allowed: pki.RoleObjectd, wrong: replicationRefused, control: true,
		request: func(key string) request {
			sum := md5.Sum([]byte(intruder(key)))
			return request{method: http.MethodPost, path: partPath("missing", victimTarget), body: mustJSON(objclient.MissingRequest{
				Offers: []objclient.Offer{{Hash: hex.EncodeToString(sum[:]), Timestamp: hlc.FromTime(time.Now())}}})}
		},
		unchanged: notJSON,
		served: func(t *testing.T, _ string, r reply) {
			var resp objclient.MissingResponse
			if err := json.Unmarshal(r.body, &resp); err != nil || len(resp.Want) != 1 {
				t.Errorf("served missing: %v %q", err, truncate(r.body))
			}
		},
	}, {
		name: "push", allowed: pki.RoleObjectd, wrong: replicationRefused, control: true,
		request: func(key string) request {
			name := intruder(key)
			return request{method: http.MethodPost, path: partPath("push", intruderTarget(key)),
				body: pushBody(name, hlc.FromTime(time.Now()), content)}
		},
		unchanged: nowhere,
		served: func(t *testing.T, key string, r reply) {
			var res objclient.PushResult
			if err := json.Unmarshal(r.body, &res); err != nil || res.Stored != 1 {
				t.Errorf("served push: %v %q", err, truncate(r.body))
			}
			stored(t, key, r)
		},
	}}, f.chunkEndpoints(t), []endpoint{{
		// Any cluster certificate may read metrics.
		name: "metrics", allowed: pki.RoleAdmin, control: true,
		request: func(string) request { return request{method: http.MethodGet, path: objclient.PathMetrics} },
		unchanged: func(t *testing.T, _ string, r reply) {
			if bytes.Contains(r.body, []byte("stratus_objectd")) {
				t.Errorf("refused metrics call returned them: %q", truncate(r.body))
			}
		},
	}, {
		// A path the node does not serve: a stranger is not told which paths exist.
		name: "unknown-path", allowed: pki.RoleAdmin, control: true,
		request: func(string) request { return request{method: http.MethodGet, path: "/v1/nothing-here"} },
	}})
}

// chunkEndpoints are the block-volume chunk calls: volumed's data path (and objectd's, for
// healing), and the replicators' chunk comparison (objectd only). A proxy holds no volume.
func (f *securityFixture) chunkEndpoints(t *testing.T) []endpoint {
	victim := f.target(f.victim, 0)
	r := f.c.ring()
	// The checker's own certificate is a proxy's, which may not read chunks.
	id := f.c.loadIdentity("intruder-" + string(pki.RoleObjectd))
	chunks := objclient.New(objclient.Config{Timeout: 5 * time.Second, TLS: id.ClientTLS(pki.RoleObjectd)})
	// chunkAt names a chunk of a volume made from key whose partition the victim's device
	// is a primary of: nodes create chunks on their primaries only.
	chunkAt := func(key string) (string, objclient.Target) {
		for i := 0; ; i++ {
			sum := md5.Sum([]byte(fmt.Sprintf("%s/%d", key, i)))
			name := fmt.Sprintf(".vol/vol-%x/0000000000000000", sum[:8])
			part := r.Partition(name)
			for _, d := range r.Primaries(part, nil) {
				if d.Host == victim.Host && d.Name == victim.Device {
					return name, objclient.Target{Host: victim.Host, Device: victim.Device, Partition: uint32(part)}
				}
			}
		}
	}
	chunkPath := func(name string, t objclient.Target) string {
		return fmt.Sprintf("/v1/chunk/%s/%d/%s", t.Device, t.Partition, objclient.EncodeName(name))
	}
	block := bytes.Repeat([]byte("an intruder's block "), 4096/20+1)[:4096]
	// A volume's chunk the reads aim at, written as a storage node may.
	secret := bytes.Repeat([]byte("a volume's secret block "), 4096/24+1)[:4096]
	victimChunk, victimTarget := chunkAt("victim-chunk")
	if _, err := chunks.WriteChunk(f.ctx(t), victimTarget, objclient.ChunkWrite{Name: victimChunk, Generation: 1, Sequence: 1}, secret); err != nil {
		t.Fatalf("write the victim chunk: %v", err)
	}
	absent := func(t *testing.T, key string, _ reply) {
		t.Helper()
		name, tg := chunkAt(key)
		if _, err := chunks.ReadChunk(f.ctx(t), tg, name, 0, make([]byte, 4096)); !errors.Is(err, objclient.ErrNotFound) {
			t.Errorf("chunk %s on %s after a refused write: %v", name, tg, err)
		}
	}
	notJSON := func(t *testing.T, _ string, r reply) {
		t.Helper()
		if bytes.HasPrefix(bytes.TrimSpace(r.body), []byte("{")) {
			t.Errorf("refused call answered JSON: %q", truncate(r.body))
		}
	}
	dataRefused := []pki.Role{pki.RoleProxy, pki.RoleAdmin, pki.RoleMeta}
	return []endpoint{{
		name: "chunk-write", allowed: pki.RoleVolumed, wrong: dataRefused, control: true,
		request: func(key string) request {
			name, tg := chunkAt(key)
			return request{method: http.MethodPut, path: chunkPath(name, tg), body: block, header: http.Header{
				objclient.HeaderChunkGeneration: {"1"},
				objclient.HeaderChunkSequence:   {"1"},
				objclient.HeaderChunkOffset:     {"0"},
				objclient.HeaderChunkSize:       {strconv.Itoa(objclient.DefaultChunkSize)},
				objclient.HeaderChecksum:        {objclient.ChecksumOf(block).String()},
			}}
		},
		unchanged: absent,
		served: func(t *testing.T, key string, _ reply) {
			name, tg := chunkAt(key)
			got := make([]byte, 4096)
			if _, err := chunks.ReadChunk(f.ctx(t), tg, name, 0, got); err != nil || !bytes.Equal(got, block) {
				t.Errorf("chunk %s after a served write: %v (content intact %v)", name, err, bytes.Equal(got, block))
			}
		},
	}, {
		name: "chunk-read", allowed: pki.RoleVolumed, wrong: dataRefused, control: true,
		request: func(string) request {
			return request{method: http.MethodGet, path: chunkPath(victimChunk, victimTarget), header: http.Header{
				objclient.HeaderChunkOffset: {"0"}, objclient.HeaderChunkLength: {"4096"}}}
		},
		unchanged: func(t *testing.T, _ string, r reply) {
			if bytes.Contains(r.body, secret[:64]) {
				t.Errorf("refused chunk read returned the volume's data")
			}
		},
		served: func(t *testing.T, _ string, r reply) {
			if !bytes.Equal(r.body, secret) {
				t.Errorf("served chunk read returned %q", truncate(r.body))
			}
		},
	}, {
		name: "chunk-missing", allowed: pki.RoleObjectd, wrong: []pki.Role{pki.RoleProxy, pki.RoleAdmin, pki.RoleVolumed}, control: true,
		request: func(key string) request {
			name, tg := chunkAt(key)
			sum := md5.Sum([]byte(name))
			return request{method: http.MethodPost, path: fmt.Sprintf("/v1/chunk-missing/%s/%d", tg.Device, tg.Partition),
				body: mustJSON(objclient.ChunkMissingRequest{Chunks: []objclient.ChunkOffer{{Hash: hex.EncodeToString(sum[:]), Fence: 1, Version: 1}}})}
		},
		unchanged: notJSON,
		served: func(t *testing.T, _ string, r reply) {
			var resp objclient.ChunkMissingResponse
			if err := json.Unmarshal(r.body, &resp); err != nil || len(resp.Differ) != 1 {
				t.Errorf("served chunk-missing: %v %q", err, truncate(r.body))
			}
		},
	}}
}

// pushBody is a push stream of one data record.
func pushBody(name string, ts hlc.Timestamp, content []byte) []byte {
	rec := objclient.Record{Kind: objclient.KindData, Info: objclient.Info{Name: name, Timestamp: ts,
		Length: int64(len(content)), Checksum: objclient.ChecksumOf(content)}}
	hdr, err := rec.MarshalBinary()
	if err != nil {
		panic(err)
	}
	return append(hdr, content...)
}

// testObjectd calls every endpoint of the victim's first primary, through its link (the
// address in the ring).
func (f *securityFixture) testObjectd(t *testing.T) {
	f.run(t, f.target(f.victim, 0).Host, pki.RoleObjectd, f.objectdEndpoints(t))
}
