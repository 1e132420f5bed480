package ec2api

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strconv"
	"time"

	meta "stratus/meta/client"
)

func init() {
	actions["DescribeInstances"] = (*Server).describeInstances
	actions["DescribeInstanceStatus"] = (*Server).describeInstanceStatus
	actions["StopInstances"] = (*Server).stopInstances
	actions["StartInstances"] = (*Server).startInstances
	actions["TerminateInstances"] = (*Server).terminateInstances
	actions["RebootInstances"] = (*Server).rebootInstances
	actions["GetConsoleOutput"] = (*Server).getConsoleOutput
}

// maxInstanceRetries bounds the rereads when instances change under a state change (their
// hosts write them too).
const maxInstanceRetries = 8

// ownInstance returns an instance of the account and its ModIndex; another account's
// instance, or a malformed ID, is InvalidInstanceID.NotFound, exactly like none.
func (s *Server) ownInstance(ctx context.Context, account, id string) (meta.Instance, uint64, error) {
	notFound := errorf(ErrInstanceNotFound, "The instance ID '%s' does not exist", truncate(id, 64))
	if !meta.ValidInstanceID(id) {
		return meta.Instance{}, 0, notFound
	}
	in, idx, err := s.meta.Instance(ctx, id)
	if errors.Is(err, meta.ErrNotFound) || err == nil && in.Account != account {
		return meta.Instance{}, 0, notFound
	}
	return in, idx, err
}

// TerminatedRetention is how long a terminated instance stays listed, as in EC2, after its
// host recorded it terminated; then a DescribeInstances of its account removes the record.
const TerminatedRetention = time.Hour

// maxReapPerCall bounds the expired records one DescribeInstances removes.
const maxReapPerCall = 20

// expired reports whether in is a terminated instance past TerminatedRetention.
func (s *Server) expired(in meta.Instance) bool {
	return in.State == meta.InstanceTerminated && s.cfg.Now().Sub(in.UpdatedAt) > TerminatedRetention
}

// ownInstances returns the account's instances, in ID order, without the expired ones.
func (s *Server) ownInstances(ctx context.Context, account string) ([]meta.Instance, error) {
	all, err := s.meta.Instances(ctx)
	if err != nil {
		return nil, err
	}
	var own []meta.Instance
	for _, in := range all {
		if in.Account == account && !s.expired(in) {
			own = append(own, in)
		}
	}
	return own, nil
}

// reapTerminated removes (with their tags) up to maxReapPerCall of the account's expired
// terminated instances, each conditional on the record read; a failure is logged and left
// for the next call.
func (s *Server) reapTerminated(ctx context.Context, account string) {
	all, err := s.meta.Instances(ctx)
	if err != nil {
		return
	}
	n := 0
	for _, in := range all {
		if in.Account != account || !s.expired(in) || n >= maxReapPerCall {
			continue
		}
		n++
		cur, idx, err := s.meta.Instance(ctx, in.ID)
		if err != nil || !s.expired(cur) {
			continue
		}
		err = s.meta.DeleteInstance(ctx, in.ID, idx, meta.Op{Kind: meta.OpDelete, Table: meta.TableTags, Key: meta.TagsKey(account, in.ID)})
		if err != nil && !errors.Is(err, meta.ErrConflict) {
			s.log.Warn("removing an expired terminated instance failed", "instance", in.ID, "err", err)
		}
	}
}

// instanceIDs returns InstanceId.N, each of which must be one of insts (any that is not is
// InvalidInstanceID.NotFound, naming every missing one, as EC2).
func instanceIDs(p params, insts []meta.Instance, required bool) ([]string, error) {
	ids, err := p.list("InstanceId")
	if err != nil {
		return nil, err
	}
	if required && len(ids) == 0 {
		return nil, errorf(ErrMissingParameter, "The request must contain the parameter InstanceId")
	}
	var missing []string
	for _, id := range ids {
		if !slices.ContainsFunc(insts, func(in meta.Instance) bool { return in.ID == id }) {
			missing = append(missing, truncate(id, 64))
		}
	}
	if len(missing) == 1 {
		return nil, errorf(ErrInstanceNotFound, "The instance ID '%s' does not exist", missing[0])
	}
	if len(missing) > 1 {
		return nil, errorf(ErrInstanceNotFound, "The instance IDs '%s' do not exist", joinComma(missing))
	}
	return ids, nil
}

func joinComma(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ", "
		}
		out += v
	}
	return out
}

type describeInstancesResponse struct {
	response
	ReservationSet set[reservationItem] `xml:"reservationSet"`
	NextToken      string               `xml:"nextToken,omitempty"`
}

var instanceFilters = append([]string{"instance-id", "instance-state-name", "instance-state-code", "image-id", "instance-type",
	"availability-zone", "key-name", "reservation-id", "client-token", "private-ip-address", "kernel-id", "ramdisk-id"}, tagFilters...)

// describeInstances lists the caller's instances grouped by reservation: InstanceId.N (each
// must be the caller's) or, with MaxResults (5 to 1000) and NextToken, a page of them (by
// instance ID). Terminated instances are listed for TerminatedRetention, then removed.
func (s *Server) describeInstances(ctx context.Context, c *call) (responder, error) {
	fs, err := c.Params.filters(instanceFilters...)
	if err != nil {
		return nil, err
	}
	pg, err := c.Params.page(c.Action, 5, 1000)
	if err != nil {
		return nil, err
	}
	own, err := s.ownInstances(ctx, c.Account)
	if err != nil {
		return nil, err
	}
	ids, err := instanceIDs(c.Params, own, false)
	if err != nil {
		return nil, err
	}
	if len(ids) > 0 && pg.Max > 0 {
		return nil, errorf(ErrInvalidParameterCombination, "The parameter instancesSet cannot be used with the parameter maxResults")
	}
	tags, err := s.accountTags(ctx, c.Account)
	if err != nil {
		return nil, err
	}
	var match []meta.Instance
	for _, in := range own {
		if len(ids) > 0 && !slices.Contains(ids, in.ID) || !matchTags(fs, tags[in.ID]) {
			continue
		}
		st := apparentState(in)
		if matchFields(fs, map[string]string{"instance-id": in.ID, "instance-state-name": string(st),
			"instance-state-code": strconv.Itoa(stateCodes[st]), "image-id": in.ImageID, "instance-type": in.InstanceType,
			"availability-zone": in.Zone, "key-name": in.KeyName, "reservation-id": in.ReservationID, "client-token": in.ClientToken,
			"private-ip-address": in.PrivateIP, "kernel-id": in.KernelID, "ramdisk-id": in.RamdiskID}) {
			match = append(match, in)
		}
	}
	s.reapTerminated(ctx, c.Account)
	page, next := paginate(c.Action, match, func(in meta.Instance) string { return in.ID }, pg)
	if len(page) > 0 {
		live, hosts, err := s.hostHealth(ctx)
		if err != nil {
			return nil, err
		}
		for i, in := range page {
			if reason, lost := onLostHost(in, live, hosts); lost && in.StateReason == nil {
				page[i].StateReason = reason
			}
		}
	}
	return &describeInstancesResponse{ReservationSet: set[reservationItem]{Items: reservations(page, own, tags)}, NextToken: next}, nil
}

type statusDetail struct {
	Name   string `xml:"name"`
	Status string `xml:"status"`
}

type statusSummary struct {
	Status  string            `xml:"status"`
	Details set[statusDetail] `xml:"details"`
}

type instanceStatusItem struct {
	InstanceID       string        `xml:"instanceId"`
	AvailabilityZone string        `xml:"availabilityZone"`
	EventsSet        set[none]     `xml:"eventsSet"`
	InstanceState    instanceState `xml:"instanceState"`
	SystemStatus     statusSummary `xml:"systemStatus"`
	InstanceStatus   statusSummary `xml:"instanceStatus"`
}

type describeInstanceStatusResponse struct {
	response
	InstanceStatusSet set[instanceStatusItem] `xml:"instanceStatusSet"`
	NextToken         string                  `xml:"nextToken,omitempty"`
}

// describeInstanceStatus reports the caller's running instances (every one with
// IncludeAllInstances=true). Status checks: a running instance whose host is live is ok
// (system) and ok (instance: the host saw the domain running); a lost host (hosts.go)
// makes both "impaired", reachability failed; other states are "not-applicable".
func (s *Server) describeInstanceStatus(ctx context.Context, c *call) (responder, error) {
	fs, err := c.Params.filters("availability-zone", "instance-state-name", "instance-state-code", "system-status.status", "instance-status.status")
	if err != nil {
		return nil, err
	}
	all, err := c.Params.boolean("IncludeAllInstances")
	if err != nil {
		return nil, err
	}
	pg, err := c.Params.page(c.Action, 5, 1000)
	if err != nil {
		return nil, err
	}
	own, err := s.ownInstances(ctx, c.Account)
	if err != nil {
		return nil, err
	}
	ids, err := instanceIDs(c.Params, own, false)
	if err != nil {
		return nil, err
	}
	live, hosts, err := s.hostHealth(ctx)
	if err != nil {
		return nil, err
	}
	var match []instanceStatusItem
	for _, in := range own {
		st := apparentState(in)
		if len(ids) > 0 && !slices.Contains(ids, in.ID) || !all && st != meta.InstanceRunning {
			continue
		}
		check := "not-applicable"
		if st == meta.InstanceRunning {
			check = "ok"
			if _, lost := onLostHost(in, live, hosts); lost {
				check = "impaired"
			}
		}
		summary := func() statusSummary {
			reach := map[string]string{"ok": "passed", "impaired": "failed"}[check]
			if reach == "" {
				return statusSummary{Status: check}
			}
			return statusSummary{Status: check, Details: set[statusDetail]{Items: []statusDetail{{Name: "reachability", Status: reach}}}}
		}
		it := instanceStatusItem{InstanceID: in.ID, AvailabilityZone: in.Zone, InstanceState: stateOf(st), SystemStatus: summary(), InstanceStatus: summary()}
		if matchFields(fs, map[string]string{"availability-zone": in.Zone, "instance-state-name": string(st),
			"instance-state-code": strconv.Itoa(stateCodes[st]), "system-status.status": check, "instance-status.status": check}) {
			match = append(match, it)
		}
	}
	items, next := paginate(c.Action, match, func(it instanceStatusItem) string { return it.InstanceID }, pg)
	return &describeInstanceStatusResponse{InstanceStatusSet: set[instanceStatusItem]{Items: items}, NextToken: next}, nil
}

type stateChangeItem struct {
	InstanceID    string        `xml:"instanceId"`
	CurrentState  instanceState `xml:"currentState"`
	PreviousState instanceState `xml:"previousState"`
}

type stateChangeResponse struct {
	response
	InstancesSet set[stateChangeItem] `xml:"instancesSet"`
}

// transition is one state-changing action: it checks an instance may make it (an error
// otherwise) and changes the record; changed false leaves it as it is.
type transition func(in *meta.Instance) (changed bool, err error)

// changeInstances applies t to every InstanceId.N of the caller in one transaction,
// conditional on each record being unchanged since read (hosts write them too), so either
// all change or, on any refusal, none does. It answers with the states before and after, as
// clients see them.
func (s *Server) changeInstances(ctx context.Context, c *call, t transition) (responder, error) {
	for range maxInstanceRetries {
		ids, err := c.Params.list("InstanceId")
		if err != nil {
			return nil, err
		}
		if len(ids) == 0 {
			return nil, errorf(ErrMissingParameter, "The request must contain the parameter InstanceId")
		}
		// One instance named twice is changed and answered once (two writes of one record
		// in a transaction would conflict with each other).
		ids = slices.Compact(slices.Sorted(slices.Values(ids)))
		var ops []meta.Op
		resp := &stateChangeResponse{}
		for _, id := range ids {
			in, idx, err := s.ownInstance(ctx, c.Account, id)
			if err != nil {
				return nil, err
			}
			prev := apparentState(in)
			changed, err := t(&in)
			if err != nil {
				return nil, err
			}
			if changed {
				in.UpdatedAt = s.cfg.Now().UTC()
				if err := in.Validate(); err != nil {
					return nil, err
				}
				op, err := instanceCreateOp(in)
				if err != nil {
					return nil, err
				}
				op.Cond, op.ModIndex = meta.CondModIndex, idx
				ops = append(ops, op)
			}
			resp.InstancesSet.Items = append(resp.InstancesSet.Items, stateChangeItem{InstanceID: id,
				CurrentState: stateOf(apparentState(in)), PreviousState: stateOf(prev)})
		}
		if len(ops) == 0 {
			return resp, nil
		}
		_, err = s.meta.Apply(ctx, ops...)
		if errors.Is(err, meta.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return resp, nil
	}
	return nil, errorf(ErrRequestLimitExceeded, "The instances changed under this request %d times; try again.", maxInstanceRetries)
}

func incorrect(in *meta.Instance, verb string) error {
	return errorf(ErrIncorrectInstanceState, "The instance '%s' is not in a state from which it can be %s.", in.ID, verb)
}

// stopInstances asks the hosts to stop instances (an ACPI shutdown, then power off after a
// grace period; Force skips the grace, as EC2's forced stop). Stopping a stopped or stopping
// instance changes nothing; a terminated or terminating one is IncorrectInstanceState.
func (s *Server) stopInstances(ctx context.Context, c *call) (responder, error) {
	if _, err := c.Params.boolean("Force"); err != nil {
		return nil, err
	}
	return s.changeInstances(ctx, c, func(in *meta.Instance) (bool, error) {
		switch {
		case in.DesiredState == meta.DesireTerminated || in.State == meta.InstanceTerminated || in.State == meta.InstanceShuttingDown:
			return false, incorrect(in, "stopped")
		case in.DesiredState == meta.DesireStopped:
			return false, nil
		}
		in.DesiredState = meta.DesireStopped
		in.StateReason = &meta.StateReason{Code: "Client.UserInitiatedShutdown", Message: "Client.UserInitiatedShutdown: User initiated shutdown"}
		return true, nil
	})
}

// startInstances asks the hosts to boot stopped instances. A running or pending one
// changes nothing; one still stopping, or terminated, is IncorrectInstanceState, as EC2.
func (s *Server) startInstances(ctx context.Context, c *call) (responder, error) {
	return s.changeInstances(ctx, c, func(in *meta.Instance) (bool, error) {
		switch {
		case in.DesiredState == meta.DesireTerminated || in.State == meta.InstanceTerminated || in.State == meta.InstanceShuttingDown:
			return false, incorrect(in, "started")
		case in.DesiredState == meta.DesireRunning:
			return false, nil
		case in.State != meta.InstanceStopped:
			return false, incorrect(in, "started")
		}
		in.DesiredState, in.StateReason = meta.DesireRunning, nil
		return true, nil
	})
}

// terminateInstances asks the hosts to destroy instances; terminating a terminated
// instance changes nothing, as in EC2.
func (s *Server) terminateInstances(ctx context.Context, c *call) (responder, error) {
	return s.changeInstances(ctx, c, func(in *meta.Instance) (bool, error) {
		if in.DesiredState == meta.DesireTerminated || in.State == meta.InstanceTerminated {
			return false, nil
		}
		in.DesiredState = meta.DesireTerminated
		in.StateReason = &meta.StateReason{Code: "Client.UserInitiatedShutdown", Message: "Client.UserInitiatedShutdown: User initiated shutdown"}
		return true, nil
	})
}

// rebootInstances asks the hosts to reboot running instances (one more reboot request
// each); an instance that is not running is IncorrectInstanceState.
func (s *Server) rebootInstances(ctx context.Context, c *call) (responder, error) {
	_, err := s.changeInstances(ctx, c, func(in *meta.Instance) (bool, error) {
		if apparentState(*in) != meta.InstanceRunning {
			return false, incorrect(in, "rebooted")
		}
		in.RebootRequests++
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return &returnResponse{Return: true}, nil
}

type consoleOutputResponse struct {
	response
	InstanceID string `xml:"instanceId"`
	Timestamp  string `xml:"timestamp"`
	Output     string `xml:"output"`
}

// getConsoleOutput returns the tail of the instance's serial console as its host last
// recorded it (at most meta.MaxInstanceConsoleBytes), base64, with the time it was read;
// empty, timed now, before the host recorded any.
func (s *Server) getConsoleOutput(ctx context.Context, c *call) (responder, error) {
	id, err := c.Params.required("InstanceId")
	if err != nil {
		return nil, err
	}
	if _, err := c.Params.boolean("Latest"); err != nil {
		return nil, err
	}
	in, _, err := s.ownInstance(ctx, c.Account, id)
	if err != nil {
		return nil, err
	}
	resp := &consoleOutputResponse{InstanceID: id, Timestamp: ec2Time(s.cfg.Now())}
	if in.Console != nil {
		resp.Timestamp = ec2Time(in.Console.UpdatedAt)
		resp.Output = base64.StdEncoding.EncodeToString(in.Console.Output)
	}
	return resp, nil
}
