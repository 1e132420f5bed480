package bench

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ServerCost is what the server process spent during a measured phase, from its Prometheus
// metrics read before and after: CPU time and bytes allocated, in all and per operation.
// It makes a regression in efficiency visible even where throughput hides it (a faster
// disk, an idler machine).
type ServerCost struct {
	CPUSeconds float64 `json:"cpu_seconds"`
	AllocBytes float64 `json:"alloc_bytes"`
	// CPUSecondsPerOp and AllocBytesPerOp are nil (null in JSON) when no operation
	// completed: a cost per operation is then undefined.
	CPUSecondsPerOp *float64 `json:"cpu_seconds_per_op"`
	AllocBytesPerOp *float64 `json:"alloc_bytes_per_op"`
	// HeapSysBytes is the heap the server had obtained from the OS at the end of the phase
	// (go_memstats_heap_sys_bytes, which the runtime is slow to give back: about the peak),
	// 0 if not exported. With large objects it shows whether requests are streamed: a
	// server that buffered each object would hold concurrency × size.
	HeapSysBytes float64 `json:"heap_sys_bytes,omitempty"`
}

// processCounters are the two counters ServerCost is made of, at one moment, and the
// server's heap then.
type processCounters struct{ cpuSeconds, allocBytes, heapSys float64 }

// scrapeProcess reads process_cpu_seconds_total and go_memstats_alloc_bytes_total from a
// Prometheus text endpoint (what the Go client's process and Go collectors export).
func scrapeProcess(ctx context.Context, url string) (processCounters, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return processCounters{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return processCounters{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return processCounters{}, fmt.Errorf("server metrics %s: %s", url, resp.Status)
	}
	var pc processCounters
	found := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		var dst *float64
		switch name {
		case "process_cpu_seconds_total":
			dst = &pc.cpuSeconds
		case "go_memstats_alloc_bytes_total":
			dst = &pc.allocBytes
		case "go_memstats_heap_sys_bytes": // optional: not counted in found
			pc.heapSys, _ = strconv.ParseFloat(value, 64)
			continue
		default:
			continue
		}
		if *dst, err = strconv.ParseFloat(value, 64); err != nil {
			return processCounters{}, fmt.Errorf("server metrics %s: %s: %w", url, name, err)
		}
		found++
	}
	if err := sc.Err(); err != nil {
		return processCounters{}, err
	}
	if found != 2 {
		return processCounters{}, fmt.Errorf("server metrics %s: no process_cpu_seconds_total or go_memstats_alloc_bytes_total", url)
	}
	return pc, nil
}

// cost is what was spent between before and after, over ops operations.
func cost(before, after processCounters, ops int) *ServerCost {
	c := &ServerCost{CPUSeconds: after.cpuSeconds - before.cpuSeconds, AllocBytes: after.allocBytes - before.allocBytes,
		HeapSysBytes: after.heapSys}
	if ops > 0 {
		cpu, alloc := c.CPUSeconds/float64(ops), c.AllocBytes/float64(ops)
		c.CPUSecondsPerOp, c.AllocBytesPerOp = &cpu, &alloc
	}
	return c
}
