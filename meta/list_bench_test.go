package meta

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"stratus/meta/client"
)

// BenchmarkListDelimited lists 10,000 prefixes through the state machine, one key each and
// ten keys each, 1,000 items a call, against plain lists of the same keys: a common prefix
// must cost about one key, however many it holds, and next to nothing more where the next
// key is past it already.
func BenchmarkListDelimited(b *testing.B) {
	cfg := DefaultConfig()
	m, _ := newMetrics(nil)
	f, err := newFSM(b.TempDir(), cfg, discardLogger(), m)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	idx := uint64(1)
	for _, per := range []int{1, 10} {
		for start := 0; start < 10000*per; start += 1000 {
			var ops []client.Op
			for i := start; i < start+1000; i++ {
				ops = append(ops, client.Op{Kind: client.OpPut, Table: client.TableObjects, Key: fmt.Sprintf("b%d/p%05d/%d", per, i/per, i), Value: []byte(`{"key":"x"}`)})
			}
			req := client.ApplyRequest{ID: fmt.Sprintf("fill-%d-%d", per, start), Ops: ops}
			f.ApplyBatch([]*raft.Log{{Index: idx, Type: raft.LogCommand, Data: encodeBatch(batch{Time: time.Now().UnixNano(), Requests: []client.ApplyRequest{req}})}})
			idx++
		}
	}
	for _, c := range []struct {
		name, bucket, delimiter string
		rows                    int
	}{{"plain-1", "b1/", "", 10000}, {"delimiter-1", "b1/", "/", 10000}, {"plain-10", "b10/", "", 100000}, {"delimiter-10", "b10/", "/", 10000}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				after, n := "", 0
				for {
					items, more, _, err := f.list(client.TableObjects, c.bucket, after, c.delimiter, 1000)
					if err != nil {
						b.Fatal(err)
					}
					n += len(items)
					last := items[len(items)-1]
					after = last.Key
					if last.CommonPrefix != "" {
						after = last.CommonPrefix
					}
					if !more {
						break
					}
				}
				if n != c.rows {
					b.Fatalf("listed %d", n)
				}
			}
		})
	}
}
