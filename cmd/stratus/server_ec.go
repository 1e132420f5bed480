package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	metaclient "stratus/meta/client"
	"stratus/ring"
)

// parseECLayout reads "K+M" (e.g. "4+2").
func parseECLayout(s string) (k, m int, err error) {
	ks, ms, ok := strings.Cut(s, "+")
	if ok {
		k, err = strconv.Atoi(ks)
		if err == nil {
			m, err = strconv.Atoi(ms)
		}
	}
	if !ok || err != nil || k < 1 || m < 1 {
		return 0, 0, fmt.Errorf("--ec %q: want K+M, e.g. 4+2", s)
	}
	return k, m, nil
}

// checkECFlag refuses an --ec the server cannot serve, before anything starts.
func checkECFlag(f serverFlags) error {
	if f.ec == "" {
		return nil
	}
	k, m, err := parseECLayout(f.ec)
	if err != nil {
		return err
	}
	if k+m > f.devices {
		return fmt.Errorf("--ec %s needs %d devices (one per fragment); give --devices %d", f.ec, k+m, k+m)
	}
	return nil
}

// serverECPolicy makes what --ec K+M asks for: the erasure-coded storage policy ec-K-M
// (created in meta if missing) and its ring, K+M "replicas" over the server's devices
// (built on first start, kept in data/ec-K-M.ring, published in meta), so that buckets
// can be created on it at once. It returns the policy's name and ring.
func serverECPolicy(ctx context.Context, f serverFlags, admin *metaclient.Client, devDir, host string) (string, *ring.Ring, error) {
	if err := checkECFlag(f); err != nil {
		return "", nil, err
	}
	k, m, _ := parseECLayout(f.ec)
	name := fmt.Sprintf("ec-%d-%d", k, m)
	p := metaclient.StoragePolicy{Name: name, Type: metaclient.PolicyEC, ECData: k, ECParity: m}
	if err := admin.CreatePolicy(ctx, p); err != nil && !errors.Is(err, metaclient.ErrConflict) {
		return "", nil, fmt.Errorf("create storage policy %s: %w", name, err)
	}
	r, err := serverPolicyRing(f, filepath.Join(f.dataDir, name+".ring"), k+m, host)
	if err != nil {
		return "", nil, err
	}
	if err := publishRingAs(ctx, admin, name, r); err != nil {
		return "", nil, fmt.Errorf("publish ring %s: %w", name, err)
	}
	return name, r, nil
}

// serverPolicyRing loads the ring at path, or builds it over the server's devices (made by
// serverRing) with the given replica count and saves it there.
func serverPolicyRing(f serverFlags, path string, replicas int, host string) (*ring.Ring, error) {
	if r, err := ring.Load(path); err == nil {
		if r.Replicas() != replicas {
			return nil, fmt.Errorf("%s has %d replicas, --ec %s needs %d", path, r.Replicas(), f.ec, replicas)
		}
		return r, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	b, err := ring.NewBuilder(ring.BuilderConfig{PartPower: f.partPower, Replicas: replicas})
	if err != nil {
		return nil, err
	}
	for i := range f.devices {
		if _, err := b.Add(ring.Device{Region: 1, Zone: i + 1, Host: host, Name: fmt.Sprintf("d%d", i+1), Weight: 100}); err != nil {
			return nil, err
		}
	}
	if _, err := b.Rebalance(ring.RebalanceOptions{}); err != nil {
		return nil, err
	}
	r, err := b.Ring()
	if err != nil {
		return nil, err
	}
	return r, r.Save(path)
}
