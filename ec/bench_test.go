package ec

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
)

// benchLayouts are the codes measured: the policy Stratus ships, and a wider one.
var benchLayouts = []struct {
	name string
	k, m int
}{{"4+2", 4, 2}, {"8+3", 8, 3}}

const benchSize = 32 << 20

// BenchmarkEncode measures encoding throughput (object bytes per second) into discarded
// outputs, one 1 MiB segment at a time.
func BenchmarkEncode(b *testing.B) {
	data := randomBytes(rand.New(rand.NewPCG(1, 1)), benchSize)
	for _, c := range benchLayouts {
		b.Run(c.name, func(b *testing.B) {
			l := Layout{K: c.k, M: c.m, SegmentSize: DefaultSegmentSize, Size: benchSize}
			outs := make([]io.Writer, c.k+c.m)
			for i := range outs {
				outs[i] = io.Discard
			}
			b.SetBytes(benchSize)
			for b.Loop() {
				e, err := NewEncoder(l, outs, len(outs))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := e.Write(data); err != nil {
					b.Fatal(err)
				}
				if err := e.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecode measures decoding throughput from the K data archives (no arithmetic,
// checksums only) and from a degraded set (M data archives missing, parity used).
func BenchmarkDecode(b *testing.B) {
	data := randomBytes(rand.New(rand.NewPCG(2, 2)), benchSize)
	for _, c := range benchLayouts {
		l := Layout{K: c.k, M: c.m, SegmentSize: DefaultSegmentSize, Size: benchSize}
		archives := encodeAll(b, l, data)
		for _, mode := range []string{"healthy", "degraded"} {
			var use []int
			for i := range c.k + c.m {
				if mode == "healthy" && i < c.k || mode == "degraded" && i >= c.m {
					use = append(use, i)
				}
			}
			b.Run(c.name+"/"+mode, func(b *testing.B) {
				b.SetBytes(benchSize)
				for b.Loop() {
					var srcs []Source
					for _, i := range use {
						srcs = append(srcs, Source{Index: i, R: bytes.NewReader(archives[i]), Header: true})
					}
					r, err := NewReader(l, l.Whole(), srcs, nil)
					if err != nil {
						b.Fatal(err)
					}
					if n, err := io.Copy(io.Discard, r); err != nil || n != benchSize {
						b.Fatal(n, err)
					}
					r.Close()
				}
			})
		}
	}
}
