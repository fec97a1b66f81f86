package filestore

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddy-antom/caddy-antom/outbox"
)

// fixture is a file store the last binary with antom_store caddy_storage wrote (see
// e2e/copystore_test.go): three pending events of payment COPY1, one delivered event of
// COPYDONE, one activity stored under its two ids, and a paused forward.
var fixture = filepath.Join("..", "..", "e2e", "testdata", "filestore")

const (
	fixtureRoute     = "rt_3b6b8e621a748381"
	fixtureDelivered = "msg_a44b20657f39f90f7ba07ce8f59a022e"
	fixtureActivity  = "act_b33cee7a6657d097391839e64d00dbc2"
)

var fixturePending = []string{"msg_135866513c3f57c91f8bd4a5d4bf98c8", "msg_23ac74494d3f1b959947522af8f2a759", "msg_2604f554c6750de19411e39e5af6df34"}

// copyFixture returns a data directory holding a copy of the fixture, to change.
func copyFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(fixture)); err != nil {
		t.Fatal(err)
	}
	return dir
}

// put writes v as JSON to name under the data directory's antom folder.
func put(t *testing.T, dataDir, name string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	putRaw(t, dataDir, name, b)
}

func putRaw(t *testing.T, dataDir, name string, b []byte) {
	t.Helper()
	path := filepath.Join(dataDir, "antom", name)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func open(t *testing.T, dataDir string) *Reader {
	t.Helper()
	r, err := Open(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// events returns the events r gives in state.
func events(t *testing.T, r *Reader, state outbox.State) []*outbox.Event {
	t.Helper()
	var evs []*outbox.Event
	if err := r.Events(context.Background(), state, func(ev *outbox.Event) error {
		evs = append(evs, ev)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return evs
}

func ids(evs []*outbox.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.ID)
	}
	return out
}

// Every record of the store the old binary wrote is read, as what it was.
func TestReadsFixture(t *testing.T) {
	ctx := context.Background()
	r := open(t, fixture)

	pending := events(t, r, outbox.StatePending)
	if got := ids(pending); !slices.Equal(got, fixturePending) {
		t.Fatalf("pending events %v, want %v", got, fixturePending)
	}
	types := map[string]bool{}
	for _, ev := range pending {
		if ev.State != outbox.StatePending || ev.Route != fixtureRoute || ev.OrderKey != "payment:2024010119401080010018COPY1" || len(ev.Body) == 0 {
			t.Errorf("pending event read as %+v", ev)
		}
		types[ev.Type] = true
	}
	if len(types) != 3 || !types["PAYMENT_RESULT"] || !types["CAPTURE_RESULT"] || !types["REFUND_RESULT"] {
		t.Errorf("pending event types %v, want the payment result, capture and refund", types)
	}
	delivered := events(t, r, outbox.StateDelivered)
	if len(delivered) != 1 || delivered[0].ID != fixtureDelivered || delivered[0].DeliveredAt.IsZero() || delivered[0].LastStatus != 200 {
		t.Fatalf("delivered events %+v, want %s delivered with 200", delivered, fixtureDelivered)
	}
	if dead := events(t, r, outbox.StateDead); len(dead) != 0 {
		t.Fatalf("dead events %v, want none", ids(dead))
	}
	for _, st := range []outbox.State{outbox.StatePending, outbox.StateDone} {
		if ps, err := r.Payments(ctx, st); err != nil || len(ps) != 0 {
			t.Fatalf("%s payments %v, %v; want none", st, ps, err)
		}
	}
	if paused, err := r.PausedRoutes(ctx); err != nil || !slices.Equal(paused, []string{fixtureRoute}) {
		t.Fatalf("paused routes %v, %v; want [%s]", paused, err, fixtureRoute)
	}

	var acts []*outbox.Activity
	collect := func(a *outbox.Activity) error { acts = append(acts, a); return nil }
	written := time.Date(2026, 12, 7, 18, 8, 38, 0, time.UTC)
	if err := r.EachActivity(ctx, written.Add(-time.Hour), collect); err != nil {
		t.Fatal(err)
	}
	if len(acts) != 1 || acts[0].ID != fixtureActivity || acts[0].What != outbox.ActivityDuplicate || acts[0].IDs["paymentRequestId"] != "PAYREQ_COPYDONE" {
		t.Fatalf("activities %+v, want %s once (it is stored under each of its two ids)", acts, fixtureActivity)
	}
	acts = nil
	if err := r.EachActivity(ctx, written.AddDate(0, 0, 1), collect); err != nil || len(acts) != 0 {
		t.Fatalf("activities of days that ended before since: %v, %v; want none", acts, err)
	}
}

// An interrupted move leaves an event in two states: the copy that entered its state last is
// the event, and the other is not given at all.
func TestInterruptedMoves(t *testing.T) {
	data := copyFixture(t)
	r := open(t, data)
	final := events(t, r, outbox.StateDelivered)[0]

	// A pending copy never replayed: the move to delivered wrote delivered, then the deletion
	// of pending was lost.
	stale := *final
	stale.State, stale.DeliveredAt = outbox.StatePending, time.Time{}
	put(t, data, "events/pending/"+final.ID, stale)
	if got := ids(events(t, r, outbox.StatePending)); !slices.Equal(got, fixturePending) {
		t.Fatalf("pending events with a stale pending copy of a delivered one: %v, want %v", got, fixturePending)
	}
	if got := ids(events(t, r, outbox.StateDelivered)); !slices.Equal(got, []string{final.ID}) {
		t.Fatalf("delivered events: %v, want [%s]", got, final.ID)
	}

	// A replay after the delivery: the pending copy is the event.
	stale.ReplayedAt = final.DeliveredAt.Add(time.Second)
	put(t, data, "events/pending/"+final.ID, stale)
	if got := ids(events(t, r, outbox.StatePending)); !slices.Contains(got, final.ID) || len(got) != 4 {
		t.Fatalf("pending events with a replayed copy of a delivered one: %v, want it among the 4", got)
	}
	if got := events(t, r, outbox.StateDelivered); len(got) != 0 {
		t.Fatalf("delivered events with the replayed copy pending: %v, want none", ids(got))
	}

	// Dead and delivered at the same time: delivered wins, as the old store decided.
	dead := *final
	dead.State, dead.DeadAt = outbox.StateDead, final.DeliveredAt
	put(t, data, "events/dead/"+final.ID, dead)
	if err := os.Remove(filepath.Join(data, "antom", "events", "pending", final.ID)); err != nil {
		t.Fatal(err)
	}
	if got := events(t, r, outbox.StateDead); len(got) != 0 {
		t.Fatalf("dead events tied with a delivered copy: %v, want none", ids(got))
	}
	if got := events(t, r, outbox.StateDelivered); len(got) != 1 {
		t.Fatalf("delivered events tied with a dead copy: %v, want the one", ids(got))
	}
}

// Payments under reconciliation are read by state, oldest first; one caught between pending
// and done is done.
func TestPayments(t *testing.T) {
	ctx := context.Background()
	data := copyFixture(t)
	at := time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)
	newer := &outbox.Payment{ID: outbox.PaymentRecordID("default", "B"), Profile: "default", PaymentRequestID: "B", CreatedAt: at.Add(time.Minute), Attempts: 2}
	older := &outbox.Payment{ID: outbox.PaymentRecordID("default", "A"), Profile: "default", PaymentRequestID: "A", CreatedAt: at}
	moving := &outbox.Payment{ID: outbox.PaymentRecordID("default", "C"), Profile: "default", PaymentRequestID: "C", CreatedAt: at}
	for _, p := range []*outbox.Payment{newer, older, moving} {
		put(t, data, "payments/pending/"+p.ID, p)
	}
	done := *moving
	done.FinalStatus = "SUCCESS"
	put(t, data, "payments/done/"+moving.ID, done)
	putRaw(t, data, "payments/pending/.tmp-12345", []byte(`{"half`)) // an interrupted write
	r := open(t, data)

	pending, err := r.Payments(ctx, outbox.StatePending)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 2 || pending[0].PaymentRequestID != "A" || pending[1].PaymentRequestID != "B" || pending[1].Attempts != 2 || pending[0].State != outbox.StatePending {
		t.Fatalf("pending payments %+v, want A then B", pending)
	}
	ps, err := r.Payments(ctx, outbox.StateDone)
	if err != nil || len(ps) != 1 || ps[0].PaymentRequestID != "C" || ps[0].State != outbox.StateDone || ps[0].FinalStatus != "SUCCESS" {
		t.Fatalf("done payments %+v, %v; want C", ps, err)
	}
}

// A record that cannot be read stops the read with an error naming its file and the fix; a
// temporary file of an interrupted write is passed over.
func TestUnreadableRecords(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, file string
		content    []byte
		read       func(*Reader) error
		want       string
	}{
		{"bad JSON", "events/pending/msg_00000000000000000000000000000000", []byte(`{"id":`),
			func(r *Reader) error {
				return r.Events(ctx, outbox.StatePending, func(*outbox.Event) error { return nil })
			}, "not JSON of its kind"},
		{"another event's record", "events/dead/msg_00000000000000000000000000000000", []byte(`{"id":"msg_11111111111111111111111111111111"}`),
			func(r *Reader) error {
				return r.Events(ctx, outbox.StateDead, func(*outbox.Event) error { return nil })
			}, `it holds event "msg_11111111111111111111111111111111"`},
		{"not a record name", "events/delivered/notes.txt", []byte("x"),
			func(r *Reader) error {
				return r.Events(ctx, outbox.StateDelivered, func(*outbox.Event) error { return nil })
			}, "its name is not a record id"},
		{"bad payment", "payments/done/pay_00000000000000000000000000000000", []byte(`[]`),
			func(r *Reader) error { _, err := r.Payments(ctx, outbox.StateDone); return err }, "not JSON of its kind"},
		{"bad activity", "activity/2026-12-07/00/180838.1-act_00000000000000000000000000000000", []byte(`{`),
			func(r *Reader) error {
				return r.EachActivity(ctx, time.Time{}, func(*outbox.Activity) error { return nil })
			}, "not JSON of its kind"},
		{"bad paused forwards", "forwards/paused.json", []byte(`{"rt":true}`),
			func(r *Reader) error { _, err := r.PausedRoutes(ctx); return err }, "not JSON of its kind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := copyFixture(t)
			putRaw(t, data, tc.file, tc.content)
			err := tc.read(open(t, data))
			var rerr *RecordError
			if !errors.As(err, &rerr) || rerr.Path != filepath.Join(data, "antom", tc.file) {
				t.Fatalf("error %v, want a RecordError on %s", err, tc.file)
			}
			for _, want := range []string{tc.file, tc.want, "repair it, or move it out of the antom folder", "run again"} {
				if !strings.Contains(err.Error(), filepath.FromSlash(want)) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

// A record that cannot be read from the disk is an error naming it, not a record passed over.
// (A folder in its place fails the read as an I/O error would, even for root.)
func TestUnreadableFile(t *testing.T) {
	data := copyFixture(t)
	file := filepath.Join(data, "antom", "events", "pending", fixturePending[1])
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(file, 0o700); err != nil {
		t.Fatal(err)
	}
	var read []string
	err := open(t, data).Events(context.Background(), outbox.StatePending, func(ev *outbox.Event) error {
		read = append(read, ev.ID)
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), file) {
		t.Fatalf("error %v, want one naming %s", err, file)
	}
	if !slices.Equal(read, fixturePending[:1]) {
		t.Fatalf("events given before the unreadable one: %v, want %v", read, fixturePending[:1])
	}
}

// A data directory without a file store is refused by Open.
func TestOpenWithoutStore(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "no file store") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Open of an empty folder: %v, want no file store in %s", err, dir)
	}
}
