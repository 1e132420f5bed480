package chaos

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stratus/internal/hlc"
	"stratus/internal/pki"
	metaclient "stratus/meta/client"
	objclient "stratus/objectd/client"
)

// TestSecurity is the acceptance test of the cluster's mutual TLS. Against a real
// multi-process cluster it calls every internal HTTP endpoint of meta (leader and follower)
// and of a storage node with no certificate, another CA's, an expired and a revoked one of
// this CA, and valid ones of roles the endpoint refuses; each must be refused (401/403, with
// a reply that says why) and leave the catalog and the storage nodes as they were. The
// same calls with a certificate the endpoint serves show that the requests were good. It
// also checks that generic reads never return a secret, that Raft takes only meta
// certificates, and that storage nodes refuse versions dated beyond their clock skew bound.
func TestSecurity(t *testing.T) {
	c := startCluster(t, clusterOptions{nodes: 3})
	f := newSecurityFixture(t, c)
	t.Run("meta", f.testMeta)
	t.Run("objectd", f.testObjectd)
	t.Run("healthz", f.testHealth)
	t.Run("secrets", f.testSecrets)
	t.Run("raft", f.testRaft)
	t.Run("future-timestamps", f.testFutureTimestamps)
}

// testHealth checks that the health checks need no certificate and say nothing more.
func (f *securityFixture) testHealth(t *testing.T) {
	for _, tc := range []struct {
		role pki.Role
		addr string
	}{
		{pki.RoleMeta, f.leader.addr}, {pki.RoleObjectd, f.target(f.victim, 0).Host},
	} {
		t.Run(string(tc.role), func(t *testing.T) {
			r, err := f.call(tc.addr, tc.role, nil, request{method: http.MethodGet, path: "/healthz"})
			if err != nil {
				t.Fatal(err)
			}
			if r.status != http.StatusOK || strings.TrimSpace(string(r.body)) != "ok" {
				t.Errorf("healthz without a certificate: %d %q", r.status, truncate(r.body))
			}
		})
	}
}

// testSecrets checks that no generic read returns a secret: not the operator's key list, not
// a proxy's, not a follower's stale read, not a backup; only the secret call does.
func (f *securityFixture) testSecrets(t *testing.T) {
	c := f.c
	checkItems := func(t *testing.T, items []metaclient.Item) {
		t.Helper()
		if len(items) == 0 {
			t.Fatal("no access keys listed")
		}
		for _, it := range items {
			var k metaclient.AccessKey
			if err := json.Unmarshal(it.Value, &k); err != nil {
				t.Fatalf("access key %s: %v", it.Key, err)
			}
			if k.Secret != "" || bytes.Contains(it.Value, []byte(c.secretKey)) {
				t.Errorf("access key %s listed with its secret", it.Key)
			}
		}
	}
	proxyCfg := c.metaConfig()
	proxyCfg.TLS = c.checkerID.ClientTLS(pki.RoleMeta)
	asProxy, err := metaclient.New(proxyCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer asProxy.Close()
	follower := f.metaAt(f.followers[0])
	defer follower.Close()

	for _, tc := range []struct {
		name string
		mc   *metaclient.Client
		opts []metaclient.ReadOption
	}{
		{"list-as-admin", f.meta, nil},
		{"list-as-proxy", asProxy, nil},
		{"stale-list-on-follower", follower, []metaclient.ReadOption{metaclient.Stale()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			items, _, err := tc.mc.List(f.ctx(t), metaclient.TableAccessKeys, "", "", 0, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			checkItems(t, items)
			it, err := tc.mc.Get(f.ctx(t), metaclient.TableAccessKeys, c.accessKey, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			checkItems(t, []metaclient.Item{it})
		})
	}
	t.Run("key-list-command", func(t *testing.T) {
		out := c.stratus("key", "list", "--meta", c.metaList())
		if !strings.Contains(out, c.accessKey) || strings.Contains(out, c.secretKey) {
			t.Errorf("stratus key list: lists the key %v, shows the secret %v:\n%s",
				strings.Contains(out, c.accessKey), strings.Contains(out, c.secretKey), out)
		}
	})
	t.Run("backup", func(t *testing.T) {
		if bytes.Contains(f.snapshot, []byte(c.secretKey)) {
			t.Error("a catalog backup holds the secret in the clear")
		}
	})
	t.Run("secret-call-as-proxy", func(t *testing.T) {
		k, err := asProxy.AccessKeySecret(f.ctx(t), c.accessKey)
		if err != nil || k.Secret != c.secretKey {
			t.Errorf("secret call as a proxy: %v (matches %v)", err, k.Secret == c.secretKey)
		}
	})
	t.Run("secret-call-as-admin", func(t *testing.T) {
		if _, err := f.meta.AccessKeySecret(f.ctx(t), c.accessKey); !errors.Is(err, metaclient.ErrForbidden) {
			t.Errorf("secret call as admin: %v, want ErrForbidden", err)
		}
	})
}

// raftProto is the ALPN protocol a meta node routes to Raft.
const raftProto = "stratus-raft/1"

// testRaft opens Raft connections to the leader: a meta certificate's stays open, any other
// (or none) is dropped right after the handshake.
func (f *securityFixture) testRaft(t *testing.T) {
	cases := []struct {
		name    string
		cert    *tls.Certificate
		dropped bool
	}{
		{"no-cert", nil, true},
		{"other-ca-meta", f.otherCA[pki.RoleMeta], true},
		{"expired-meta", f.expired[pki.RoleMeta], true},
		{"revoked-meta", f.revoked[pki.RoleMeta], true},
		{"role-admin", f.valid[pki.RoleAdmin], true},
		{"role-proxy", f.valid[pki.RoleProxy], true},
		{"role-objectd", f.valid[pki.RoleObjectd], true},
		{"allowed-meta", f.valid[pki.RoleMeta], false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := f.c.admin.ClientTLS(pki.RoleMeta)
			cfg.NextProtos = []string{raftProto}
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				if tc.cert == nil {
					return &tls.Certificate{}, nil
				}
				return tc.cert, nil
			}
			d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 2 * time.Second}, Config: cfg}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			conn, err := d.DialContext(ctx, "tcp", f.leader.addr)
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			defer conn.Close()
			if p := conn.(*tls.Conn).ConnectionState().NegotiatedProtocol; p != raftProto {
				t.Fatalf("negotiated %q, want %q", p, raftProto)
			}
			// A refused connection is closed at once; an accepted one waits for an RPC.
			wait := 5 * time.Second
			if !tc.dropped {
				wait = 500 * time.Millisecond
			}
			conn.SetReadDeadline(time.Now().Add(wait))
			_, err = conn.Read(make([]byte, 1))
			var ne net.Error
			timedOut := errors.As(err, &ne) && ne.Timeout()
			switch {
			case tc.dropped && (err == nil || timedOut):
				t.Errorf("connection not dropped within %v (read: %v)", wait, err)
			case !tc.dropped && !timedOut:
				t.Errorf("a meta certificate's Raft connection was dropped: %v", err)
			}
		})
	}
}

// testFutureTimestamps writes and deletes the victim with a timestamp an hour ahead, with
// valid certificates, on every primary: each refuses it. Then a write through S3 wins.
func (f *securityFixture) testFutureTimestamps(t *testing.T) {
	c := f.c
	future := hlc.FromTime(time.Now().Add(time.Hour))
	objectdCfg := objclient.Config{Timeout: 5 * time.Second}
	id, err := pki.Load(pki.InDir(filepath.Join(c.pkiDir, "intruder-objectd"), "intruder-objectd"))
	if err != nil {
		t.Fatal(err)
	}
	objectdCfg.TLS = id.ClientTLS(pki.RoleObjectd)
	clients := []struct {
		role pki.Role
		cl   *objclient.Client
	}{{pki.RoleProxy, c.objc}, {pki.RoleObjectd, objclient.New(objectdCfg)}}
	body := []byte("from the future")
	for _, tg := range f.targets(f.victim) {
		for _, cl := range clients {
			t.Run(fmt.Sprintf("put-as-%s-on-%s", cl.role, tg.Host), func(t *testing.T) {
				sum := objclient.ChecksumOf(body)
				err := cl.cl.Put(f.ctx(t), tg, objclient.PutRequest{Name: f.victim, Timestamp: future, Length: int64(len(body)), Checksum: &sum}, bytes.NewReader(body))
				if !errors.Is(err, objclient.ErrFutureTimestamp) {
					t.Errorf("future put: %v, want ErrFutureTimestamp", err)
				}
			})
			t.Run(fmt.Sprintf("delete-as-%s-on-%s", cl.role, tg.Host), func(t *testing.T) {
				if err := cl.cl.Delete(f.ctx(t), tg, f.victim, future); !errors.Is(err, objclient.ErrFutureTimestamp) {
					t.Errorf("future delete: %v, want ErrFutureTimestamp", err)
				}
			})
		}
		t.Run("push-tombstone-on-"+tg.Host, func(t *testing.T) {
			rec := objclient.Record{Kind: objclient.KindTombstone, Info: objclient.Info{Name: f.victim, Timestamp: future}}
			hdr, err := rec.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			res, err := clients[1].cl.Push(f.ctx(t), tg, func(w io.Writer) error { _, err := w.Write(hdr); return err })
			if err != nil || res.Refused != 1 || res.Stored != 0 {
				t.Errorf("future tombstone pushed: %+v, %v; want it refused", res, err)
			}
		})
	}
	t.Run("victim-intact", func(t *testing.T) {
		for _, tg := range f.targets(f.victim) {
			info, err := c.objc.Head(f.ctx(t), tg, f.victim)
			if err != nil || info.Timestamp != f.victimTS {
				t.Errorf("victim on %s: version %v, %v; want %v", tg, info.Timestamp, err, f.victimTS)
			}
		}
		got, err := f.s3Get(f.ctx(t), "sec/victim")
		if err != nil || !bytes.Equal(got, f.victimContent) {
			t.Errorf("S3 get of the victim: %v, content intact %v", err, bytes.Equal(got, f.victimContent))
		}
	})
	t.Run("later-s3-write-wins", func(t *testing.T) {
		next := make([]byte, 64)
		rand.Read(next)
		f.s3Put(t, f.ctx(t), "sec/victim", next)
		got, err := f.s3Get(f.ctx(t), "sec/victim")
		if err != nil || !bytes.Equal(got, next) {
			t.Fatalf("S3 get after the new write: %v, new content %v", err, bytes.Equal(got, next))
		}
		// Every primary of the new write's own name converges on it, and it is not from
		// the future.
		name, err := c.storageName("sec/victim")
		if err != nil {
			t.Fatal(err)
		}
		c.eventually(nil, 30*time.Second, func() error {
			for _, tg := range f.targets(name) {
				obj, err := c.objc.Get(f.ctx(t), tg, name, nil)
				if err != nil {
					return fmt.Errorf("%s: %w", tg, err)
				}
				data, err := io.ReadAll(obj.Body)
				obj.Body.Close()
				if err != nil || !bytes.Equal(data, next) {
					return fmt.Errorf("%s holds version %v, not the new write (%v)", tg, obj.Info.Timestamp, err)
				}
				if obj.Info.Timestamp.Time().After(time.Now().Add(time.Minute)) {
					return fmt.Errorf("%s holds version %v, from the future", tg, obj.Info.Timestamp)
				}
			}
			return nil
		})
	})
}
