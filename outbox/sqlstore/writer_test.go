package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/caddy-antom/caddy-antom/internal/teststore"
	"github.com/caddy-antom/caddy-antom/outbox"
	"github.com/caddy-antom/caddy-antom/outbox/sqlstore"
)

// A group commit runs its writes without savepoints; when one fails, the others still commit
// and only the failing one is undone and answered with its error.
func TestGroupCommitFailingWriteUndoesOnlyItself(t *testing.T) {
	s := teststore.SQLite(t)
	ctx := context.Background()
	var evs []*outbox.Event
	for i := range 3 {
		ev := &outbox.Event{Profile: "p", Route: "rt_0123456789abcdef", DedupKey: fmt.Sprint("k", i), Body: []byte(`{}`)}
		if err := ev.PrepareAdd(time.Second); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	errs := sqlstore.CommitTogether(s, evs, []bool{false, true, false})
	if errs[0] != nil || errs[2] != nil || errs[1] == nil {
		t.Fatalf("errors %v; want the second write's only", errs)
	}
	for i, ev := range evs {
		_, err := s.Get(ctx, ev.ID)
		if stored := err == nil; stored != (i != 1) {
			t.Errorf("event %d stored: %v (%v); want only the failing write's undone", i, stored, err)
		}
		if err != nil && !errors.Is(err, outbox.ErrNotFound) {
			t.Errorf("event %d: %v", i, err)
		}
	}
	// Alone in its commit, a failing write is undone too.
	lone := &outbox.Event{Profile: "p", Route: "rt_0123456789abcdef", DedupKey: "lone", Body: []byte(`{}`)}
	if err := lone.PrepareAdd(time.Second); err != nil {
		t.Fatal(err)
	}
	if errs := sqlstore.CommitTogether(s, []*outbox.Event{lone}, []bool{true}); errs[0] == nil {
		t.Fatal("a failing write alone in its commit succeeded")
	}
	if _, err := s.Get(ctx, lone.ID); !errors.Is(err, outbox.ErrNotFound) {
		t.Errorf("the failing write alone in its commit was stored: %v", err)
	}
}

// A claim that finds nothing to claim does not write: it answers while the writer is busy
// (the writer that notifications' acks wait for).
func TestClaimFindingNothingDoesNotWrite(t *testing.T) {
	s := teststore.SQLite(t)
	ctx := context.Background()
	later := &outbox.Event{Profile: "p", Route: "rt_0123456789abcdef", DedupKey: "later", Body: []byte(`{}`),
		NextAttempt: time.Now().Add(time.Hour)}
	if _, err := s.Add(ctx, later); err != nil {
		t.Fatal(err)
	}
	release := sqlstore.HoldWriter(s)
	defer release()
	done := make(chan error, 1)
	go func() {
		evs, err := s.Claim(ctx, outbox.ClaimRequest{Limit: 4, Others: 4})
		if err == nil && len(evs) > 0 {
			err = fmt.Errorf("claimed %d events, none due", len(evs))
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a claim with nothing due waited for the busy writer")
	}
}
