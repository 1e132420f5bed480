package daemon

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"stratus/computed/driver"
	"stratus/meta/client"
)

// consoleState is what the worker last wrote of its console log.
type consoleState struct {
	size    int64
	mod     time.Time
	written time.Time
}

// tailConsole writes the console log's tail into the record when the log changed, at most
// once per ConsoleInterval (the next poll picks up what was held back).
func (w *worker) tailConsole(ctx context.Context) error {
	d := w.d
	p := filepath.Join(d.instanceDir(w.id), consoleLogFile)
	st, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.Size() == w.console.size && st.ModTime().Equal(w.console.mod) || time.Since(w.console.written) < d.cfg.ConsoleInterval {
		return nil
	}
	out, err := driver.ConsoleOutput(p, client.MaxInstanceConsoleBytes)
	if err != nil {
		return err
	}
	_, err = d.update(ctx, w.id, func(in *client.Instance) bool {
		if in.State == client.InstanceTerminated {
			return false
		}
		in.Console = &client.InstanceConsole{Output: out, UpdatedAt: time.Now().UTC()}
		return true
	})
	if err != nil {
		return err
	}
	d.m.consoleSets.Inc()
	w.console = consoleState{size: st.Size(), mod: st.ModTime(), written: time.Now()}
	return nil
}
