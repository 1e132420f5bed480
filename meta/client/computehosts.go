package client

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// ComputeHost is a compute host's registration (table compute_hosts, key = Host), written by
// its computed at start and every heartbeat. The scheduler places instances on hosts whose
// heartbeat is recent and whose capacity, less what their instances use, fits.
//
// It has its own table rather than a record in nodes: nodes are the storage nodes the ring
// is built from (devices, capacity in bytes) and objectd writes them; compute hosts carry
// other fields, and keeping them apart means a computed certificate cannot rewrite the
// storage nodes' records, nor an objectd one the compute hosts'.
type ComputeHost struct {
	Host       string `json:"host"`
	Zone       string `json:"zone"`
	VCPUs      int    `json:"vcpus"`      // what instances may use in all
	MemoryMiB  int    `json:"memory_mib"` // likewise
	DomainType string `json:"domain_type"`
	// NBDAddr is where the host's volumed serves volumes to the local QEMU.
	NBDAddr string `json:"nbd_addr,omitempty"`
	// UsedVCPUs, UsedMemoryMiB and Instances are what the host's instances not stopped or
	// terminated held at the heartbeat: a hint. A scheduler adds the instances placed
	// since, from the instances table.
	UsedVCPUs     int       `json:"used_vcpus"`
	UsedMemoryMiB int       `json:"used_memory_mib"`
	Instances     int       `json:"instances"`
	HeartbeatAt   time.Time `json:"heartbeat_at"`
	// HeartbeatIntervalMS is how often the host writes HeartbeatAt; readers judge a host
	// lost by it (zero: written by a host that did not say, DefaultHeartbeatInterval).
	HeartbeatIntervalMS int64     `json:"heartbeat_interval_ms,omitempty"`
	StartedAt           time.Time `json:"started_at"`
	Version             string    `json:"version,omitempty"`
}

// DefaultHeartbeatInterval is a compute host's heartbeat interval when its record does not
// say.
const DefaultHeartbeatInterval = 10 * time.Second

// HeartbeatInterval is how often h says it writes its heartbeat.
func (h ComputeHost) HeartbeatInterval() time.Duration {
	if h.HeartbeatIntervalMS <= 0 {
		return DefaultHeartbeatInterval
	}
	return time.Duration(h.HeartbeatIntervalMS) * time.Millisecond
}

// Validate says what is wrong with h's shape.
func (h ComputeHost) Validate() error {
	switch {
	case h.Host == "" || strings.ContainsAny(h.Host, "/ \t\n"):
		return fmt.Errorf("%w: compute host name %q is empty or holds '/' or spaces", ErrBadRequest, h.Host)
	case h.VCPUs < 1 || h.MemoryMiB < 1:
		return fmt.Errorf("%w: compute host %s: vcpus (%d) and memory_mib (%d) must be positive", ErrBadRequest, h.Host, h.VCPUs, h.MemoryMiB)
	case h.DomainType != "kvm" && h.DomainType != "qemu":
		return fmt.Errorf("%w: compute host %s: domain_type %q is not kvm or qemu", ErrBadRequest, h.Host, h.DomainType)
	}
	return nil
}

// PutComputeHost registers h or refreshes its registration (a heartbeat): the host is its
// record's only writer, so the write is unconditional.
func (c *Client) PutComputeHost(ctx context.Context, h ComputeHost) error {
	if err := h.Validate(); err != nil {
		return err
	}
	_, err := c.Apply(ctx, Op{Kind: OpPut, Table: TableComputeHosts, Key: h.Host, Value: encodeJSON(h)})
	return err
}

// ComputeHost returns one host's registration.
func (c *Client) ComputeHost(ctx context.Context, host string, opts ...ReadOption) (ComputeHost, error) {
	var h ComputeHost
	_, err := c.getJSON(ctx, TableComputeHosts, host, &h, opts)
	return h, err
}

// ComputeHosts returns every registered compute host, in name order.
func (c *Client) ComputeHosts(ctx context.Context, opts ...ReadOption) ([]ComputeHost, error) {
	return listJSON[ComputeHost](ctx, c, TableComputeHosts, "", opts)
}

// DeleteComputeHost forgets a host (an operator retiring it).
func (c *Client) DeleteComputeHost(ctx context.Context, host string) error {
	_, err := c.Apply(ctx, Op{Kind: OpDelete, Table: TableComputeHosts, Key: host})
	return err
}
