package meta

import (
	"context"
	"fmt"
	"sync"

	"github.com/hashicorp/raft"
)

// coalescer shares one Raft round (a barrier or a leadership check) among concurrent reads. A
// read must wait for a round started after it arrived, so a read that finds one in flight waits
// for the next; all reads that arrive during one round share the next. The round runs on the
// goroutine of the first reader that needs it, and its result is shared.
type coalescer struct {
	round func() raft.Future

	mu      sync.Mutex
	running bool
	next    *barrierRound // the round new readers join; nil until someone needs it
}

type barrierRound struct {
	done chan struct{}
	err  error
}

func (b *coalescer) wait(ctx context.Context, stop <-chan struct{}) error {
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
		return fmt.Errorf("confirm leadership for read: %w: %v", ErrUnavailable, ctx.Err())
	case <-stop:
		return ErrClosed
	}
}

// drive runs rounds on the caller's goroutine until no reader is waiting. The caller is the
// reader that started the first round; it waits for the rounds it runs, each bounded by raft
// (a barrier's timeout, or a leadership check's lease).
func (b *coalescer) drive(round *barrierRound) {
	for round != nil {
		err := b.round().Error()
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
