package chaos

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// proc is one stratus process of the cluster, restartable with the same arguments. Its
// output goes to a log file that survives restarts, so a failing test can show it.
type proc struct {
	name    string
	bin     string
	args    []string
	logPath string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

func newProc(name, bin, logPath string, args ...string) *proc {
	return &proc{name: name, bin: bin, args: args, logPath: logPath}
}

// start runs the process if it is not running.
func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return fmt.Errorf("%s: already running", p.name)
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "=== %s start %s\n", time.Now().Format(time.RFC3339Nano), p.name)
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// The process dies with the test binary, so an interrupted run leaves nothing behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("%s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(done)
	}()
	p.cmd, p.done = cmd, done
	return nil
}

// setArg changes the value following flag in the arguments of the next start.
func (p *proc) setArg(flag, value string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range len(p.args) - 1 {
		if p.args[i] == flag {
			p.args[i+1] = value
			return
		}
	}
	p.args = append(p.args, flag, value)
}

// signal sends sig and, for signals that end the process, waits up to wait for the exit
// (then kills it). It returns once the process is gone, or at once for other signals.
func (p *proc) signal(sig syscall.Signal, wait time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("%s: %v: %w", p.name, sig, err)
	}
	if sig == syscall.SIGSTOP || sig == syscall.SIGCONT {
		return nil
	}
	if sig == syscall.SIGTERM {
		// A paused process cannot handle SIGTERM.
		p.cmd.Process.Signal(syscall.SIGCONT)
	}
	select {
	case <-p.done:
	case <-time.After(wait):
		p.cmd.Process.Kill()
		<-p.done
	}
	p.cmd, p.done = nil, nil
	return nil
}

// kill ends the process at once, as a crash or power loss of its machine would.
func (p *proc) kill() error { return p.signal(syscall.SIGKILL, 10*time.Second) }

// stop asks the process to shut down cleanly.
func (p *proc) stop() error { return p.signal(syscall.SIGTERM, 15*time.Second) }

// pause freezes the process (SIGSTOP); it keeps its sockets but answers nothing.
func (p *proc) pause() error { return p.signal(syscall.SIGSTOP, 0) }

// resume undoes pause.
func (p *proc) resume() error { return p.signal(syscall.SIGCONT, 0) }

// exited reports whether the process was started and has exited by itself.
func (p *proc) exited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// logTail returns the last n bytes of the process's log.
func (p *proc) logTail(n int64) string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		f.Seek(st.Size()-n, 0)
	}
	buf := make([]byte, n)
	k, _ := f.Read(buf)
	return string(buf[:k])
}
