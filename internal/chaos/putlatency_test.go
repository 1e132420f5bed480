package chaos

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	metaclient "stratus/meta/client"
	objclient "stratus/objectd/client"
	"stratus/proxy"
	"stratus/ring"
)

// putLatencySizes are the object sizes the paused-node latency scenario writes.
var putLatencySizes = []int{1 << 20, 5 << 20, 16 << 20}

// putLatencyBound is the PUT p99 the scenario allows with a node stopped: the post-quorum
// grace and the write itself, far from the proxies' NodeTimeout (10 s), which is what a
// write used to wait for a replica that stopped taking its body.
const putLatencyBound = 4 * time.Second

// 9. One storage node is SIGSTOPped; PUTs of 1, 5 and 16 MiB whose primaries include it
// are timed, against the same PUTs with every node up. A stopped replica must cost a PUT at
// most the post-quorum grace, wherever in the body it stops; every PUT must succeed and,
// after SIGCONT and healing, read back with all its primaries holding it.
func TestPausedNodePutLatency(t *testing.T) {
	// Three storage nodes, one a zone: every write's three replicas include the stopped
	// node, whatever storage name the write gets.
	c := startCluster(t, clusterOptions{nodes: 3})
	victim := c.nodes[1]
	perSize := 3
	if *long {
		perSize = 20
	}
	r := c.ring()
	keys := victimKeys(r, victim.addr, "lat", len(putLatencySizes)*perSize*2)
	rng := mrand.New(mrand.NewPCG(9, uint64(time.Now().UnixNano())))
	acked := map[string][sha256.Size]byte{}
	put := func(i int, key string, size int) (time.Duration, error) {
		data := make([]byte, size)
		fillRandom(rng, data)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		start := time.Now()
		_, err := c.s3(i%len(c.endpoints)).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket),
			Key: aws.String(key), Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(size))})
		took := time.Since(start)
		if err == nil {
			acked[key] = sha256.Sum256(data)
		}
		return took, err
	}
	// round writes perSize objects of each size, alternating proxies, and returns the
	// latencies by size.
	round := func(keys []string) (map[int][]time.Duration, int) {
		lat := map[int][]time.Duration{}
		failed := 0
		for i, key := range keys {
			size := putLatencySizes[i%len(putLatencySizes)]
			took, err := put(i, key, size)
			if err != nil {
				failed++
				t.Logf("PUT %s (%d MiB): %v after %v", key, size>>20, err, took)
				continue
			}
			lat[size] = append(lat[size], took)
		}
		return lat, failed
	}
	half := len(keys) / 2
	healthy, failedHealthy := round(keys[:half])

	// Under load a proxy holds several idle connections to each node; a write that reuses
	// one after the node stopped sends its body into socket buffers until they fill, and
	// stalls in the middle. (A new connection stalls in its TLS handshake, before the
	// first chunk, and a handoff takes its place at once.) Open enough of them for every
	// paused PUT, as concurrent writes do.
	// (Past ten failures in a row a proxy skips the node for a minute, so no more than that
	// are needed per proxy.)
	c.warmConnections(victimKeys(r, victim.addr, "warm", min(2*perSize*len(putLatencySizes), 24*len(c.endpoints))), 64<<10)

	lateCopies0, firstChunk0 := c.proxyLogCount(`msg="handoff copy written"`), c.proxyLogCount(`msg="handoff used"`)
	must(t, victim.p.pause())
	paused, failedPaused := round(keys[half:])
	// While the node is stopped, each write's third copy goes to a handoff.
	copies := c.copiesAway(r, keys[half:], acked, victim.addr, 15*time.Second)
	// How the stopped replica was left behind: in the middle of the body or at its end
	// (its copy then written to a handoff afterwards), or before the first chunk (a
	// handoff took its place in the stream).
	lateCopies := c.proxyLogCount(`msg="handoff copy written"`) - lateCopies0
	firstChunk := c.proxyLogCount(`msg="handoff used"`) - firstChunk0
	must(t, victim.p.resume())

	// Healing: every key's primaries, the resumed node among them, hold what was acknowledged.
	start := time.Now()
	c.eventually(victim.p, 3*time.Minute, func() error {
		short := 0
		for _, key := range keys {
			if n, err := c.primariesHolding(r, key); err != nil {
				return err
			} else if n != r.Replicas() {
				short++
			}
		}
		if short > 0 {
			return fmt.Errorf("%d of %d keys not on all their primaries", short, len(keys))
		}
		return nil
	})
	healed := time.Since(start)
	lost := 0
	for _, key := range keys {
		want, ok := acked[key]
		if !ok {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		got, err := read(ctx, c.s3(0), key)
		cancel()
		if err != nil || got.deleted || got.sum != want {
			lost++
			t.Logf("final read of %s: %v (deleted %v)", key, err, got.deleted)
		}
	}

	var figs []string
	for _, size := range putLatencySizes {
		figs = append(figs, fmt.Sprintf("%dMiB_healthy_p50_s=%.2f %dMiB_healthy_p99_s=%.2f %dMiB_paused_p50_s=%.2f %dMiB_paused_p99_s=%.2f",
			size>>20, quantile(healthy[size], 0.5), size>>20, quantile(healthy[size], 0.99),
			size>>20, quantile(paused[size], 0.5), size>>20, quantile(paused[size], 0.99)))
	}
	line := fmt.Sprintf("chaos paused-node-put-latency: puts=%d failed=%d lost=%d third_copy_while_paused=%d/%d late_handoff_copies=%d handoffs_at_first_chunk=%d full_redundancy_s=%.1f node_timeout_s=%.0f %s",
		len(keys), failedHealthy+failedPaused, lost, copies, len(keys)-half, lateCopies, firstChunk, healed.Seconds(),
		proxy.DefaultConfig().NodeTimeout.Seconds(), strings.Join(figs, " "))
	t.Log(line)
	recordResult(line)

	if failedHealthy+failedPaused > 0 {
		t.Errorf("%d PUTs failed", failedHealthy+failedPaused)
	}
	if lost > 0 {
		t.Errorf("%d acknowledged objects lost", lost)
	}
	for _, size := range putLatencySizes {
		if p99 := quantile(paused[size], 0.99); p99 > putLatencyBound.Seconds() {
			t.Errorf("%d MiB PUTs with a stopped node: p99 %.2fs, bound %v", size>>20, p99, putLatencyBound)
		}
	}
	if copies == 0 {
		t.Errorf("no write reached a third copy while its primary was stopped")
	}
}

// warmConnections writes keys of size bytes all at once, spread over the proxies, so that
// each holds that many connections to the keys' primaries, idle afterwards.
func (c *cluster) warmConnections(keys []string, size int) {
	var wg sync.WaitGroup
	for i, key := range keys {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
			defer cancel()
			_, err := c.s3(i%len(c.endpoints)).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket),
				Key: aws.String(key), Body: bytes.NewReader(make([]byte, size)), ContentLength: aws.Int64(int64(size))})
			if err != nil {
				c.t.Errorf("warm-up PUT %s: %v", key, err)
			}
		})
	}
	wg.Wait()
}

// proxyLogCount counts the lines of the proxies' logs that contain s.
func (c *cluster) proxyLogCount(s string) int {
	n := 0
	for _, p := range c.proxies {
		b, err := os.ReadFile(p.logPath)
		if err != nil {
			c.t.Fatal(err)
		}
		n += strings.Count(string(b), s)
	}
	return n
}

// victimKeys returns n key names whose primaries in r include host.
func victimKeys(r *ring.Ring, host, prefix string, n int) []string {
	var keys []string
	for i := 0; len(keys) < n; i++ {
		key := fmt.Sprintf("%s/%05d", prefix, i)
		for _, d := range r.Primaries(r.Partition(bucket+"/"+key), nil) {
			if d.Host == host {
				keys = append(keys, key)
				break
			}
		}
	}
	return keys
}

// primariesHolding counts the primaries of key that hold it (each key is written once).
func (c *cluster) primariesHolding(r *ring.Ring, key string) (int, error) {
	name, err := c.storageName(key)
	if err != nil {
		return 0, err
	}
	part := r.Partition(name)
	n := 0
	for _, d := range r.Primaries(part, nil) {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		_, err := c.objc.Head(ctx, objclient.Target{Host: d.Host, Device: d.Name, Partition: uint32(part)}, name)
		cancel()
		switch {
		case err == nil:
			n++
		case !errors.Is(err, objclient.ErrNotFound):
			return 0, fmt.Errorf("head %s on %s/%s: %w", name, d.Host, d.Name, err)
		}
	}
	return n, nil
}

// copiesAway waits up to limit for each acknowledged key to be held, at its current
// version, by three devices off host (primaries and handoffs), and returns how many are.
// Host is stopped: it is not asked.
func (c *cluster) copiesAway(r *ring.Ring, keys []string, acked map[string][sha256.Size]byte, host string, limit time.Duration) int {
	deadline := time.Now().Add(limit)
	for {
		full := 0
		for _, key := range keys {
			if _, ok := acked[key]; ok && c.heldAway(r, key, host) >= r.Replicas() {
				full++
			}
		}
		if full == len(keys) || time.Now().After(deadline) {
			return full
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// heldAway counts the devices off host, primaries and the first handoffs, that hold key's
// newest version among them.
func (c *cluster) heldAway(r *ring.Ring, key, host string) int {
	name, err := c.storageName(key)
	if err != nil {
		return 0
	}
	part := r.Partition(name)
	devs := r.Primaries(part, nil)
	for d := range r.Handoffs(part) {
		if len(devs) >= 2*r.Replicas() {
			break
		}
		devs = append(devs, d)
	}
	var versions []int64
	for _, d := range devs {
		if d.Host == host {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		info, err := c.objc.Head(ctx, objclient.Target{Host: d.Host, Device: d.Name, Partition: uint32(part)}, name)
		cancel()
		if err == nil {
			versions = append(versions, int64(info.Timestamp))
		}
	}
	if len(versions) == 0 {
		return 0
	}
	newest := slices.Max(versions)
	n := 0
	for _, v := range versions {
		if v == newest {
			n++
		}
	}
	return n
}

// quantile returns the q-quantile of ds in seconds (nearest rank), -1 for none.
func quantile(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return -1
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[max(0, min(i, len(s)-1))].Seconds()
}

// storageName is where the current version of key in the bucket keeps its bytes: every
// write has a storage name of its own, which the index entry names.
func (c *cluster) storageName(key string) (string, error) {
	mc, err := metaclient.New(c.metaConfig())
	if err != nil {
		return "", err
	}
	defer mc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	e, err := mc.Index(bucket).GetObject(ctx, bucket, key)
	if err != nil {
		return "", fmt.Errorf("index entry of %s: %w", key, err)
	}
	if e.Data != "" {
		return e.Data, nil
	}
	return bucket + "/" + key, nil
}
