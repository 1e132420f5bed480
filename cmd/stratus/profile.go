package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// startProfiles starts the profiles asked for and returns what writes them out, so a
// developer can see where a daemon or a benchmark spends its time:
//
//	stratus --cpuprofile cpu.out server   # then: go tool pprof bin/stratus cpu.out
//	stratus --memprofile mem.out server   # go tool pprof -sample_index=alloc_space ...
func startProfiles(cpuPath, blockPath, memPath string) (func(), error) {
	var stops []func()
	if cpuPath != "" {
		f, err := os.Create(cpuPath)
		if err != nil {
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
		stops = append(stops, func() { pprof.StopCPUProfile(); f.Close() })
	}
	if blockPath != "" {
		runtime.SetBlockProfileRate(int(1e5)) // one sample per 100 µs blocked
		stops = append(stops, func() {
			if f, err := os.Create(blockPath); err == nil {
				pprof.Lookup("block").WriteTo(f, 0)
				f.Close()
			}
		})
	}
	if memPath != "" {
		stops = append(stops, func() {
			if f, err := os.Create(memPath); err == nil {
				pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		})
	}
	return func() {
		for _, stop := range stops {
			stop()
		}
	}, nil
}
