package ring

import (
	"strconv"
	"testing"
	"time"
)

// benchTopology is the acceptance cluster: 2 regions × 4 zones × 16 hosts × 8 devices.
var benchTopology = topology{regions: 2, zones: 4, hosts: 16, devices: 8, weight: 100}

func benchmarkRebalanceFromScratch(b *testing.B, partPower int) {
	b.ReportAllocs()
	var rep *Report
	for b.Loop() {
		b.StopTimer()
		bld := newTestBuilder(b, partPower, 3, 1)
		addTopology(b, bld, benchTopology, 0)
		b.StartTimer()
		var err error
		if rep, err = bld.Rebalance(RebalanceOptions{Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(rep.Balance, "balance-%")
	b.ReportMetric(rep.Dispersion, "dispersion-%")
}

func BenchmarkRebalanceFromScratchPP18(b *testing.B) { benchmarkRebalanceFromScratch(b, 18) }
func BenchmarkRebalanceFromScratchPP20(b *testing.B) { benchmarkRebalanceFromScratch(b, 20) }
func BenchmarkRebalanceFromScratchPP22(b *testing.B) { benchmarkRebalanceFromScratch(b, 22) }

// BenchmarkRebalanceAddHost adds one 8-device host to a balanced part power 18 ring and
// reports the moves against the ideal (the added weight's share).
func BenchmarkRebalanceAddHost(b *testing.B) {
	b.ReportAllocs()
	base := newTestBuilder(b, 18, 3, 1)
	addTopology(b, base, benchTopology, 0)
	now := time.Unix(1_800_000_000, 0)
	if _, err := base.Rebalance(RebalanceOptions{Seed: 1, Now: now}); err != nil {
		b.Fatal(err)
	}
	data, _ := base.MarshalBinary()
	var rep *Report
	for b.Loop() {
		b.StopTimer()
		bld, err := DecodeBuilder(data)
		if err != nil {
			b.Fatal(err)
		}
		addTopology(b, bld, topology{1, 1, 1, 8, 100}, benchTopology.hosts)
		b.StartTimer()
		if rep, err = bld.Rebalance(RebalanceOptions{Seed: 2, Now: now.Add(2 * time.Hour)}); err != nil {
			b.Fatal(err)
		}
	}
	ideal := float64(8) / float64(benchTopology.size()+8) * float64(3<<18)
	b.ReportMetric(float64(rep.Moved), "moved")
	b.ReportMetric(float64(rep.Moved)/ideal, "moved/ideal")
	b.ReportMetric(rep.Balance, "balance-%")
}

// BenchmarkLookup is the hot path of every request: hash a name, list its primaries.
func BenchmarkLookup(b *testing.B) {
	bld := newTestBuilder(b, 18, 3, 1)
	addTopology(b, bld, benchTopology, 0)
	if _, err := bld.Rebalance(RebalanceOptions{Seed: 1}); err != nil {
		b.Fatal(err)
	}
	r, err := bld.Ring()
	if err != nil {
		b.Fatal(err)
	}
	names := make([]string, 1024)
	for i := range names {
		names[i] = "photos/2026/11/img_" + strconv.Itoa(i) + ".jpg"
	}
	dst := make([]*Device, 0, 3)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		dst = r.Primaries(r.Partition(names[i&1023]), dst[:0])
		i++
	}
	if len(dst) != 3 {
		b.Fatal("want 3 primaries")
	}
}
