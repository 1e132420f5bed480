package proxy_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"stratus/internal/hlc"
	"stratus/internal/testcluster"
	"stratus/internal/testutil"
	"stratus/objectd/client"
	"stratus/proxy"
)

// BenchmarkPolicies compares a 3-replica write and read with an erasure-coded 4+2 one
// (1 MiB segments) of the same object, through real storage nodes: six devices on three
// nodes in this process, on the test's temporary disk, over loopback. Bytes per second are
// the object's, not the bytes stored (3x against 1.5x).
func BenchmarkPolicies(b *testing.B) {
	st := testcluster.StartStorage(b, testcluster.StorageOptions{Nodes: 3, Devices: 2})
	nodes := client.New(client.Config{Timeout: 30 * time.Second})
	b.Cleanup(nodes.CloseIdleConnections)
	p, err := proxy.New(proxy.DefaultConfig(), nodes, &hlc.Clock{}, testutil.Logger(b))
	if err != nil {
		b.Fatal(err)
	}
	p.SetRing(st.Ring)
	code := proxy.ECCode{Ring: "ec-4-2", K: 4, M: 2, SegmentBytes: 1 << 20}
	p.SetPolicyRing(code.Ring, st.PolicyRing(b, 6))
	ctx := context.Background()
	for _, size := range []int{1 << 20, 8 << 20} {
		body := payload(size, 1)
		put := map[string]func(name string) (hlc.Timestamp, error){
			"replicated-3": func(name string) (hlc.Timestamp, error) {
				res, err := p.Put(ctx, proxy.PutRequest{Name: name, Length: int64(size)}, bytes.NewReader(body), nil)
				return res.Timestamp, err
			},
			"ec-4-2": func(name string) (hlc.Timestamp, error) {
				res, err := p.PutEC(ctx, code, proxy.PutRequest{Name: name, Length: int64(size)}, bytes.NewReader(body), nil)
				return res.Timestamp, err
			},
		}
		get := map[string]func(name string, v hlc.Timestamp) (*client.Object, error){
			"replicated-3": func(name string, v hlc.Timestamp) (*client.Object, error) { return p.Get(ctx, name, v, nil) },
			"ec-4-2": func(name string, v hlc.Timestamp) (*client.Object, error) {
				return p.GetEC(ctx, code, name, v, int64(size), nil)
			},
		}
		for _, policy := range []string{"replicated-3", "ec-4-2"} {
			b.Run(fmt.Sprintf("%s/put/%dMiB", policy, size>>20), func(b *testing.B) {
				b.SetBytes(int64(size))
				i := 0
				for b.Loop() {
					i++
					if _, err := put[policy](fmt.Sprintf("bench/%s/%d", policy, i)); err != nil {
						b.Fatal(err)
					}
				}
			})
			name := fmt.Sprintf("bench/%s/read", policy)
			v, err := put[policy](name)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%s/get/%dMiB", policy, size>>20), func(b *testing.B) {
				b.SetBytes(int64(size))
				for b.Loop() {
					obj, err := get[policy](name, v)
					if err != nil {
						b.Fatal(err)
					}
					n, err := io.Copy(io.Discard, obj.Body)
					obj.Body.Close()
					if err != nil || n != int64(size) {
						b.Fatal(n, err)
					}
				}
			})
		}
	}
}
