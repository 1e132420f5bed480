package daemon

import (
	"context"
	"errors"
	"os"
	"time"

	"stratus/computed/driver"
	"stratus/meta/client"
)

// terminate records the instance shutting-down, removes its domain and files, gives its
// volumes' leases up (deleting those marked delete-on-termination) and records it
// terminated. Each part is safe to repeat, so a daemon that died halfway finishes the job.
func (w *worker) terminate(ctx context.Context, in client.Instance) error {
	d := w.d
	if in.State != client.InstanceShuttingDown {
		var err error
		in, err = d.update(ctx, in.ID, func(in *client.Instance) bool {
			in.State = client.InstanceShuttingDown
			return true
		})
		if err != nil {
			return err
		}
	}
	// The console's last lines stay readable in the record once the log is gone.
	w.console.written = time.Time{}
	if err := w.tailConsole(ctx); err != nil {
		w.log.Warn("last console tail", "err", err)
	}
	if err := w.timed(ctx, "terminate", func(ctx context.Context) error { return w.teardown(ctx, in) }); err != nil {
		return err
	}
	for _, v := range in.Volumes {
		if err := d.releaseVolume(ctx, v.VolumeID, v.DeleteOnTermination); err != nil {
			return err
		}
	}
	_, err := d.update(ctx, in.ID, func(in *client.Instance) bool {
		in.State, in.Volumes, in.PrivateIP = client.InstanceTerminated, nil, ""
		if in.StateReason == nil {
			in.StateReason = &client.StateReason{Code: "Client.UserInitiatedShutdown", Message: "Client.UserInitiatedShutdown: User initiated shutdown"}
		}
		return true
	})
	if err == nil {
		w.log.Info("instance terminated")
	}
	return err
}

// teardown destroys and undefines the domain and removes the instance's files (overlay,
// config drive, console log: its tail stays in the record).
func (w *worker) teardown(ctx context.Context, in client.Instance) error {
	d := w.d
	cctx, cancel := context.WithTimeout(ctx, d.cfg.CallTimeout)
	defer cancel()
	if err := d.drv.Destroy(cctx, in.ID); err != nil && !errors.Is(err, driver.ErrNotFound) {
		return err
	}
	if err := d.drv.Undefine(cctx, in.ID); err != nil && !errors.Is(err, driver.ErrNotFound) {
		return err
	}
	d.releasePorts(in.ID)
	return os.RemoveAll(d.instanceDir(in.ID))
}
