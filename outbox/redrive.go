package outbox

import (
	"context"
	"errors"
)

// redrivePage is how many events Redrive reads per search.
const redrivePage = 500

// Redrive replays every delivered or dead event that matches f (pending events are on their
// way already; f.State may narrow to delivered or dead) and returns how many it replayed.
// With dryRun it replays nothing and returns how many it would, and up to sample of them.
// Unreadable events are left out: there is nothing to deliver.
func Redrive(ctx context.Context, s EventStore, f Filter, dryRun bool, sample int) (n int, samples []*Event, err error) {
	if f.State == StatePending {
		return 0, nil, errors.New("pending events are being delivered already; redrive delivered or dead ones")
	}
	states := []State{StateDead, StateDelivered}
	if f.State != "" {
		states = []State{f.State}
	}
	for _, st := range states {
		f.State = st
		var cursor Cursor
		for {
			// A replayed event keeps its ReceivedAt, so the cursor's place holds while the
			// events before it change state.
			evs, next, err := s.Search(ctx, f, cursor, redrivePage)
			if err != nil {
				return n, samples, err
			}
			for _, ev := range evs {
				if ev.Unreadable {
					continue
				}
				if len(samples) < sample {
					samples = append(samples, ev)
				}
				if !dryRun {
					if _, err := s.Replay(ctx, ev.ID); errors.Is(err, ErrNotFound) || errors.Is(err, ErrAlreadyPending) {
						continue // pruned or replayed meanwhile
					} else if err != nil {
						return n, samples, err
					}
				}
				n++
			}
			if next.ID == "" {
				break
			}
			cursor = next
		}
	}
	return n, samples, nil
}
