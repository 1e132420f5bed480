package ec2api

import (
	"context"
	"fmt"
	"time"

	meta "stratus/meta/client"
)

// Lost hosts.
//
// A compute host writes its heartbeat every interval (which its record states). One whose
// heartbeat is older than LostHostHeartbeats of its intervals — a crashed machine, a
// daemon stopped, a host cut off from meta — is lost. Nothing is written when that
// happens: whether a host is lost is derived at every read from compute_hosts, so there is
// no sweeper to run, and a host that beats again is live again at once (its daemon then
// reconciles its domains with the catalog as after any restart). While it is lost:
//
//   - the scheduler places nothing on it;
//   - DescribeInstanceStatus shows its running instances impaired (system and instance
//     status, reachability failed);
//   - DescribeInstances keeps their last recorded state, since the host alone knows the
//     truth, and says why it may be stale in StateReason (where the record has none).

// DefaultLostHostHeartbeats is Config.LostHostHeartbeats's default.
const DefaultLostHostHeartbeats = 3

// LostHostCode is the StateReason code of an instance whose host is lost. EC2 has no code
// for it; Server.InternalError is the nearest of its own and what clients handle.
const LostHostCode = "Server.InternalError"

// hostLive reports whether h's heartbeat is recent at now: less than LostHostHeartbeats of
// its intervals old, and not as far in the future (a clock gone wrong).
func (s *Server) hostLive(h meta.ComputeHost, now time.Time) bool {
	window := time.Duration(s.cfg.LostHostHeartbeats) * h.HeartbeatInterval()
	age := now.Sub(h.HeartbeatAt)
	return age < window && age > -window
}

// hostHealth reads compute_hosts and returns, for every host placed on, whether it is
// live, and each host's record. An instance whose host has no record is on a lost host.
func (s *Server) hostHealth(ctx context.Context) (live map[string]bool, hosts map[string]meta.ComputeHost, err error) {
	all, err := s.meta.ComputeHosts(ctx)
	if err != nil {
		return nil, nil, err
	}
	now := s.cfg.Now()
	live, hosts = map[string]bool{}, map[string]meta.ComputeHost{}
	for _, h := range all {
		live[h.Host] = s.hostLive(h, now)
		hosts[h.Host] = h
	}
	return live, hosts, nil
}

// onLostHost reports whether in is placed on a host that is lost, and says so as a state
// reason: in's record shows what the host last reported.
func onLostHost(in meta.Instance, live map[string]bool, hosts map[string]meta.ComputeHost) (*meta.StateReason, bool) {
	if in.Host == "" || in.State == meta.InstanceTerminated || live[in.Host] {
		return nil, false
	}
	msg := fmt.Sprintf("Host lost: compute host %s has sent no heartbeat", in.Host)
	if h, ok := hosts[in.Host]; ok {
		msg += " since " + ec2Time(h.HeartbeatAt)
	}
	return &meta.StateReason{Code: LostHostCode, Message: msg + "; the state shown is the last it reported."}, true
}
