package meta

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

type hclogger = hclog.Logger

// newHclog adapts slog for raft, which logs through hclog. The returned func detaches it: raft's
// transport goroutines can log after Shutdown returns, and the node's logger may be gone then.
func newHclog(log *slog.Logger) (hclog.Logger, func()) {
	w := &hclogWriter{log: log.With("sub", "raft")}
	return hclog.New(&hclog.LoggerOptions{
		Name:        "raft",
		Output:      w,
		Level:       hclog.Info,
		DisableTime: true,
	}), func() { w.closed.Store(true) }
}

type hclogWriter struct {
	log    *slog.Logger
	closed atomic.Bool
}

func (w *hclogWriter) Write(p []byte) (int, error) {
	if w.closed.Load() {
		return len(p), nil
	}
	line := strings.TrimSpace(string(bytes.TrimSpace(p)))
	lvl := slog.LevelInfo
	switch {
	case strings.Contains(line, "use of closed network connection"):
		lvl = slog.LevelDebug // raft reports its own listener closing at shutdown
	case strings.HasPrefix(line, "[ERROR]"):
		lvl = slog.LevelError
	case strings.HasPrefix(line, "[WARN]"):
		lvl = slog.LevelWarn
	case strings.HasPrefix(line, "[DEBUG]"), strings.HasPrefix(line, "[TRACE]"):
		lvl = slog.LevelDebug
	}
	w.log.Log(context.Background(), lvl, line)
	return len(p), nil
}
