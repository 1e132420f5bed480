package daemon

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"stratus/computed/driver"
	"stratus/meta/client"
)

// worker carries out one instance's changes, one step at a time, until it is terminated.
type worker struct {
	d      *Daemon
	id     string
	wake   chan struct{}
	cancel context.CancelFunc
	log    *slog.Logger

	pendingSince time.Time // when the worker first saw the instance pending (launch latency)
	console      consoleState
	failures     int // consecutive failed steps, for backoff
	saveFailures int // consecutive failed attempts to save the requested image
}

// run steps the instance whenever it is kicked or PollInterval passes (the guest may power
// itself off, its console grows), until it is terminated or ctx ends.
func (w *worker) run(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-t.C:
		}
		done, err := w.step(ctx)
		if done {
			return
		}
		wait := w.d.cfg.PollInterval
		if err != nil && ctx.Err() == nil {
			w.failures++
			w.log.Warn("instance step failed", "err", err, "failures", w.failures)
			wait = min(time.Duration(1<<min(w.failures, 5))*time.Second, 30*time.Second)
		} else {
			w.failures = 0
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(wait)
	}
}

// step moves the instance one step toward what its record asks and reports whether the
// worker is done (the instance is terminated, gone or placed elsewhere).
func (w *worker) step(ctx context.Context) (done bool, err error) {
	d := w.d
	cctx, cancel := context.WithTimeout(ctx, d.cfg.CallTimeout)
	in, _, err := d.mc.Instance(cctx, w.id)
	cancel()
	if errors.Is(err, client.ErrNotFound) {
		// The record went without a termination here: remove what is left of it.
		return true, w.teardown(ctx, client.Instance{ID: w.id})
	}
	if err != nil {
		return false, err
	}
	if in.Host != d.cfg.Host {
		return true, nil // not ours (any more): reconciliation at start removes a domain left behind
	}
	if in.State == client.InstanceTerminated {
		return true, nil
	}
	if in.State == client.InstancePending && w.pendingSince.IsZero() {
		w.pendingSince = time.Now()
		// The pickup phase: the API's write to this sight of it (watch, worker start). The
		// clocks are two machines' in a cluster; a skewed or stale one is left out.
		if pickup := w.pendingSince.Sub(in.LaunchTime); !in.LaunchTime.IsZero() && pickup >= 0 && pickup < time.Hour {
			d.m.launchPhase.WithLabelValues(phasePickup).Observe(pickup.Seconds())
		}
	}
	if in.CreateImage != "" && in.State == client.InstanceStopped {
		// The disk is saved as it was when the API accepted the request, before a start or
		// a termination changes or removes it.
		if err := w.saveImage(ctx, in); err != nil {
			return false, err
		}
		cctx, cancel := context.WithTimeout(ctx, d.cfg.CallTimeout)
		in, _, err = d.mc.Instance(cctx, w.id)
		cancel()
		if err != nil {
			return false, err
		}
	}
	if in.DesiredState == client.DesireTerminated {
		err := w.terminate(ctx, in)
		return err == nil, err
	}
	dom, err := w.domainState(ctx)
	if err != nil {
		return false, err
	}
	if dom == driver.StateShutoff || dom == driver.StateCrashed {
		if in.State == client.InstanceRunning {
			// The guest powered itself off (or crashed): stopped, as EC2 does for an OS
			// shutdown, and it stays stopped until the API starts it again.
			w.log.Info("guest powered itself off", "domain_state", dom)
			in, err = d.update(ctx, w.id, recordPowerOff)
			if err != nil {
				return false, err
			}
		}
	}
	if changing(in.Volumes) {
		if err := w.volumes(ctx, in, dom != ""); err != nil {
			w.log.Warn("volumes", "err", err)
		}
		// A volume attached with no domain yet joins the definition: launch from the record
		// as it is now.
		cctx, cancel := context.WithTimeout(ctx, d.cfg.CallTimeout)
		in, _, err = d.mc.Instance(cctx, w.id)
		cancel()
		if err != nil {
			return false, err
		}
	}
	switch in.DesiredState {
	case client.DesireRunning:
		err = w.toRunning(ctx, in, dom)
	case client.DesireStopped:
		err = w.toStopped(ctx, in, dom)
	}
	if cerr := w.tailConsole(ctx); cerr != nil && err == nil {
		err = cerr
	}
	return false, err
}

// recordPowerOff records, in a fresh copy of the record, that the guest powered itself off:
// a running instance becomes stopped. Only a wish to run gives way (desired stopped, as EC2
// does for an OS shutdown): a stop or a termination the API wrote since the step read the
// record — a user terminating as the guest shuts down — must survive it.
func recordPowerOff(in *client.Instance) bool {
	if in.State != client.InstanceRunning {
		return false
	}
	in.State = client.InstanceStopped
	if in.DesiredState == client.DesireRunning {
		in.DesiredState = client.DesireStopped
		in.StateReason = &client.StateReason{Code: "Client.InstanceInitiatedShutdown", Message: "Client.InstanceInitiatedShutdown: Instance initiated shutdown"}
	}
	return true
}

// changing reports whether a volume is being attached or detached.
func changing(vols []client.InstanceVolume) bool {
	for _, v := range vols {
		if v.State != client.VolumeAttached {
			return true
		}
	}
	return false
}

// domainState is the domain's state; "" when there is no domain.
func (w *worker) domainState(ctx context.Context) (driver.State, error) {
	cctx, cancel := context.WithTimeout(ctx, w.d.cfg.CallTimeout)
	defer cancel()
	s, err := w.d.drv.State(cctx, w.id)
	if errors.Is(err, driver.ErrNotFound) {
		return "", nil
	}
	return s, err
}

// toRunning launches, starts or reboots the instance as needed, and records it running.
func (w *worker) toRunning(ctx context.Context, in client.Instance, dom driver.State) error {
	d := w.d
	switch dom {
	case "":
		if err := w.launch(ctx, in); err != nil {
			return w.launchFailed(ctx, in, err)
		}
		launched := time.Now()
		defer func() { d.m.launchPhase.WithLabelValues(phaseRecord).Observe(time.Since(launched).Seconds()) }()
	case driver.StateShutoff, driver.StateCrashed:
		if err := w.startDefined(ctx, in); err != nil {
			if in.State == client.InstancePending {
				return w.launchFailed(ctx, in, err)
			}
			return err
		}
		if in.State == client.InstancePending {
			// A launch whose first start failed (a forwarded port taken meanwhile, say)
			// completes here: its record phase counts like a first try's.
			launched := time.Now()
			defer func() { d.m.launchPhase.WithLabelValues(phaseRecord).Observe(time.Since(launched).Seconds()) }()
		}
	default:
		if in.State == client.InstanceRunning && in.RebootsDone < in.RebootRequests {
			return w.reboot(ctx, in)
		}
	}
	ip := in.PrivateIP
	if ip == "" {
		actx, cancel := context.WithTimeout(ctx, d.cfg.CallTimeout)
		if addrs, err := d.drv.Addresses(actx, w.id); err == nil && len(addrs) > 0 {
			ip = addrs[0].String()
		}
		cancel()
	}
	if in.State == client.InstanceRunning && ip == in.PrivateIP {
		return nil
	}
	_, err := d.update(ctx, w.id, func(in *client.Instance) bool {
		if in.DesiredState != client.DesireRunning {
			return false
		}
		wasPending := in.State == client.InstancePending
		in.State, in.PrivateIP, in.StateReason = client.InstanceRunning, ip, nil
		if wasPending && !w.pendingSince.IsZero() {
			d.m.launchTime.Observe(time.Since(w.pendingSince).Seconds())
			d.m.launches.WithLabelValues("ok").Inc()
			w.log.Info("instance running", "launch_seconds", time.Since(w.pendingSince).Seconds(), "private_ip", ip)
			w.pendingSince = time.Time{}
		}
		return true
	})
	return err
}

// maxLaunchAttempts is how many times a launch is tried (with backoff, about a minute in
// all) before the instance is given up on.
const maxLaunchAttempts = 6

// launchFailed records a launch that cannot succeed (an unusable image, or one that failed
// maxLaunchAttempts times) as terminated, as EC2 does; other failures are retried.
func (w *worker) launchFailed(ctx context.Context, in client.Instance, err error) error {
	if !errors.Is(err, errNoImage) && (in.State != client.InstancePending || w.failures+1 < maxLaunchAttempts) {
		return err
	}
	w.d.m.launches.WithLabelValues("failed").Inc()
	w.log.Warn("launch failed for good", "err", err)
	_, uerr := w.d.update(ctx, w.id, func(in *client.Instance) bool {
		in.DesiredState = client.DesireTerminated
		in.StateReason = &client.StateReason{Code: "Server.InternalError", Message: "Server.InternalError: " + err.Error()}
		return true
	})
	if uerr != nil {
		return uerr
	}
	w.kickSelf()
	return err
}

func (w *worker) kickSelf() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// reboot restarts a running guest: a power-button press, a plug pull after StopGrace, and a
// start; then the reboot is recorded done.
func (w *worker) reboot(ctx context.Context, in client.Instance) error {
	d := w.d
	err := w.timed(ctx, "reboot", func(ctx context.Context) error { return d.drv.Stop(ctx, w.id, d.cfg.StopGrace) })
	if err == nil {
		err = w.startDefined(ctx, in)
	}
	if err != nil {
		return err
	}
	_, err = d.update(ctx, w.id, func(cur *client.Instance) bool {
		cur.RebootsDone = in.RebootRequests
		return true
	})
	return err
}

// toStopped stops a running domain (stopping, then stopped) or records a domain that is not
// running stopped.
func (w *worker) toStopped(ctx context.Context, in client.Instance, dom driver.State) error {
	d := w.d
	if dom != "" && dom != driver.StateShutoff && dom != driver.StateCrashed {
		if in.State != client.InstanceStopping {
			if _, err := d.update(ctx, w.id, func(in *client.Instance) bool {
				in.State = client.InstanceStopping
				return true
			}); err != nil {
				return err
			}
		}
		if err := w.timed(ctx, "stop", func(ctx context.Context) error { return d.drv.Stop(ctx, w.id, d.cfg.StopGrace) }); err != nil {
			return err
		}
	}
	if in.State == client.InstanceStopped {
		return nil
	}
	_, err := d.update(ctx, w.id, func(in *client.Instance) bool {
		if in.DesiredState != client.DesireStopped || in.State == client.InstanceStopped {
			return false
		}
		in.State = client.InstanceStopped
		if in.StateReason == nil {
			in.StateReason = &client.StateReason{Code: "Client.UserInitiatedShutdown", Message: "Client.UserInitiatedShutdown: User initiated shutdown"}
		}
		return true
	})
	return err
}

// timed runs one action on the hypervisor under the call timeout (the stop grace on top for
// stops) and records its duration.
func (w *worker) timed(ctx context.Context, action string, fn func(context.Context) error) error {
	return w.timedFor(ctx, action, w.d.cfg.CallTimeout+w.d.cfg.StopGrace, fn)
}

// timedFor is timed with its own bound, for actions whose length grows with a disk's size.
func (w *worker) timedFor(ctx context.Context, action string, timeout time.Duration, fn func(context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	err := fn(cctx)
	w.d.m.actionTime.WithLabelValues(action).Observe(time.Since(start).Seconds())
	if err != nil {
		w.log.Warn("instance action failed", "action", action, "err", err)
	} else {
		w.log.Info("instance action", "action", action, "seconds", time.Since(start).Seconds())
	}
	return err
}
