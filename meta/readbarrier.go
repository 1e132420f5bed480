package meta

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// readBarrier coalesces the Raft barriers of linearizable reads. A read must wait for a barrier
// proposed after it arrived, so a read that finds one in flight waits for the next; all reads
// that arrive during one barrier share the next. The in-flight barrier's goroutine is owned by
// the first reader that needs it and the group's result is shared.
type readBarrier struct {
	raft    *raft.Raft
	timeout time.Duration

	mu      sync.Mutex
	running bool
	next    *barrierRound // the round new readers join; nil until someone needs it
}

type barrierRound struct {
	done chan struct{}
	err  error
}

func (b *readBarrier) wait(ctx context.Context, stop <-chan struct{}) error {
	b.mu.Lock()
	if b.next == nil {
		b.next = &barrierRound{done: make(chan struct{})}
	}
	round := b.next
	lead := !b.running
	if lead {
		b.running = true
		b.next = nil
	}
	b.mu.Unlock()
	if lead {
		b.drive(round)
	}
	select {
	case <-round.done:
		return round.err
	case <-ctx.Done():
		return fmt.Errorf("read barrier: %w: %v", ErrUnavailable, ctx.Err())
	case <-stop:
		return ErrClosed
	}
}

// drive runs rounds on the caller's goroutine until no reader is waiting. The caller is the
// reader that started the first round; it waits for the rounds it runs, which is bounded by
// the barrier timeout.
func (b *readBarrier) drive(round *barrierRound) {
	for round != nil {
		err := b.raft.Barrier(b.timeout).Error()
		if err != nil {
			err = raftError(err)
		}
		round.err = err
		close(round.done)
		b.mu.Lock()
		round = b.next
		b.next = nil
		if round == nil {
			b.running = false
		}
		b.mu.Unlock()
	}
}
