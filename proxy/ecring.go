package proxy

import (
	"fmt"

	"stratus/objectd/client"
	"stratus/ring"
)

// SetPolicyRing adopts r as the ring named name (a storage policy's ring, as published in
// meta) if it is newer than the one in use under that name, and reports whether it did.
// The object ring stays SetRing's.
func (p *Proxy) SetPolicyRing(name string, r *ring.Ring) bool {
	if !p.rings.Adopt(name, r) {
		return false
	}
	p.log.Info("policy ring adopted", "ring", name, "version", r.Version())
	return true
}

// policyRing returns the ring named name: the object ring for "" or client.ObjectRing.
func (p *Proxy) policyRing(name string) (*ring.Ring, error) {
	if name == "" || name == client.ObjectRing {
		if r := p.ring.Load(); r != nil {
			return r, nil
		}
		return nil, ErrNoRing
	}
	if r := p.rings.Get(name); r != nil {
		return r, nil
	}
	return nil, fmt.Errorf("%w: ring %s", ErrNoRing, name)
}

// ServesEC reports whether the proxy can store objects under c now: it has c's ring, with
// one device per fragment.
func (p *Proxy) ServesEC(c ECCode) bool {
	r, err := p.policyRing(c.Ring)
	return err == nil && c.Ring != "" && c.Ring != client.ObjectRing && r.Replicas() == c.K+c.M
}
