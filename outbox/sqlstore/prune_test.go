package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-antom/caddy-antom/internal/teststore"
	"github.com/caddy-antom/caddy-antom/outbox"
	"github.com/caddy-antom/caddy-antom/outbox/sqlstore"
	"github.com/caddy-antom/caddy-antom/outbox/storetest"
)

// settled imports n events delivered at at (16 writers at once: SQLite commits them in groups),
// each with a body of about size bytes, keyed prefix-<i>, with request id prefix-<i> and payment
// id pay-prefix-<i>.
func settled(t *testing.T, s *sqlstore.Store, prefix string, n, size int, at time.Time) {
	t.Helper()
	storetest.Parallel(n, func(i int) {
		key := fmt.Sprint(prefix, "-", i)
		body := fmt.Sprintf(`{"paymentId":"pay-%s","pad":"%s"}`, key, strings.Repeat("x", size))
		ev := &outbox.Event{ID: outbox.EventID("p", key), Profile: "p", Route: "rt_0123456789abcdef", DedupKey: key,
			RequestID: key, Body: []byte(body), ReceivedAt: at.Add(-time.Second), State: outbox.StateDelivered, DeliveredAt: at}
		if added, err := s.Import(context.Background(), ev); err != nil || !added {
			t.Errorf("Import(%s) = %v, %v", key, added, err)
		}
	})
}

// Prune deletes more than one batch (sqlstore.PruneBatch rows a statement) of events, payments
// and activities: it goes on batch after batch until none is left, on both engines.
func TestPruneBatches(t *testing.T) {
	onBothEngines(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		now := time.Now()
		old := now.Add(-8 * 24 * time.Hour)
		n := 2*sqlstore.PruneBatch + 1
		settled(t, s, "old", n, 10, old)
		settled(t, s, "recent", 3, 10, now)
		for i := range n {
			p := &outbox.Payment{ID: outbox.PaymentRecordID("p", fmt.Sprint("r", i)), Profile: "p", PaymentRequestID: fmt.Sprint("r", i),
				State: outbox.StateDone, CreatedAt: old}
			if added, err := s.ImportPayment(ctx, p); err != nil || !added {
				t.Fatalf("ImportPayment = %v, %v", added, err)
			}
			a := &outbox.Activity{ID: fmt.Sprintf("act_%032x", i), At: old, What: outbox.ActivityAPICall,
				IDs: map[string]string{"paymentRequestId": fmt.Sprint("r", i)}}
			if err := s.AddActivity(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Prune(ctx, now, 0)
		if err != nil || got != 2*n {
			t.Fatalf("Prune = %d, %v; want %d (the old events and payments, %d batches each)", got, err, 2*n, 3)
		}
		counts, err := s.Counts(ctx)
		if err != nil || counts[outbox.StateDelivered] != 3 {
			t.Fatalf("after Prune: %v, %v; want the 3 recent events left", counts, err)
		}
		if ps, err := s.ListPayments(ctx, outbox.StateDone, 0); err != nil || len(ps) != 0 {
			t.Fatalf("after Prune: %d done payments, %v; want none", len(ps), err)
		}
		if acts, err := s.Activities(ctx, "paymentRequestId", fmt.Sprint("r", n-1)); err != nil || len(acts) != 0 {
			t.Fatalf("after Prune: %d activities of the last payment, %v; want none", len(acts), err)
		}
	})
}

// Under steady traffic, with pruning, the SQLite database does not grow: pruning hands the
// freed pages back (auto_vacuum incremental), so the file is as large after the tenth round of
// traffic as after the first; and the WAL is started over after checkpoints (the writer's, which
// the checkpointer's in the background make short), so it does not grow either.
func TestSQLiteSizeStaysBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s := teststore.OpenSQLite(t, path)
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pages := func(pragma string) int {
		var n int
		if err := db.QueryRow("PRAGMA " + pragma).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	ctx := context.Background()
	var first int
	var firstWAL int64
	for round := range 10 {
		// A day of traffic (400 events of 4 KiB), then the prune a week later.
		day := time.Now().Add(time.Duration(round-20) * 24 * time.Hour)
		settled(t, s, fmt.Sprint("round", round), 400, 4096, day)
		if got, err := s.Prune(ctx, day.Add(8*24*time.Hour), 0); err != nil || got != 400 {
			t.Fatalf("round %d: Prune = %d, %v; want 400", round, got, err)
		}
		if free := pages("freelist_count"); free != 0 {
			t.Fatalf("round %d: %d free pages left in the file after Prune; want them handed back", round, free)
		}
		size := pages("page_count")
		wal, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		if round == 0 {
			first, firstWAL = size, wal.Size()
		} else if size > first {
			t.Fatalf("round %d: the database has %d pages after Prune, the first round %d: it grows", round, size, first)
		} else if wal.Size() > 2*firstWAL {
			t.Fatalf("round %d: the WAL has %d bytes, %d after the first round: checkpoints do not start it over", round, wal.Size(), firstWAL)
		}
	}
}
