package outbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

func newTestStore(t testing.TB) (*Store, *certmagic.FileStorage) {
	t.Helper()
	fs := &certmagic.FileStorage{Path: t.TempDir()}
	return New(fs), fs
}

func testEvent(profile, key string, body string) *Event {
	return &Event{
		Profile:        profile,
		Route:          "rt_0123456789abcdef",
		Source:         SourceNotification,
		Kind:           "notifyType",
		Type:           "PAYMENT_RESULT",
		ResultStatus:   "S",
		RequestIDField: "paymentRequestId",
		RequestID:      "req-" + key,
		DedupKey:       key,
		Body:           []byte(body),
	}
}

func TestEventID(t *testing.T) {
	id := EventID("shop", "PAYMENT_RESULT|2024...")
	if !strings.HasPrefix(id, "msg_") || len(id) != 36 || !ValidEventID(id) {
		t.Fatalf("EventID = %q", id)
	}
	if id != EventID("shop", "PAYMENT_RESULT|2024...") {
		t.Fatal("EventID not stable")
	}
	if id == EventID("shop2", "PAYMENT_RESULT|2024...") {
		t.Fatal("profile not part of EventID")
	}
	sum := sha256.Sum256([]byte("p\nk"))
	if got, want := EventID("p", "k"), "msg_"+hex.EncodeToString(sum[:16]); got != want {
		t.Fatalf("EventID = %s, want %s", got, want)
	}
	for _, bad := range []string{"", "msg_", "msg_../../etc/passwd", "msg_" + strings.Repeat("A", 32), "pay_" + strings.Repeat("a", 32), "msg_" + strings.Repeat("a", 33)} {
		if ValidEventID(bad) {
			t.Errorf("ValidEventID(%q) = true", bad)
		}
	}
}

func TestBodyRoundTripByteIdentical(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	bodies := [][]byte{
		[]byte(`{"notifyType":"PAYMENT_RESULT" ,  "result":{"resultStatus":"S"}}` + "\r\n"),
		[]byte("{\n\t\"a\" : 1.50,\"b\":\"\\u00e9\", \"c\":\"é\"}\n\n"),
		{0xff, 0xfe, 0x00, '{', '}', 0x80, 0xc3},        // not UTF-8 at all
		[]byte(`{"z":1,"a":2,"z":3}`),                   // duplicate keys, odd order
		[]byte("  {\"amount\":{\"value\":\"100\"}}   "), // leading/trailing spaces
		[]byte(`{"s":"<script>&amp;\u2028"}`),           // characters json.Marshal would escape
		{},                                              // empty
	}
	for i, b := range bodies {
		ev := testEvent("p", fmt.Sprint("k", i), "")
		ev.Body = append([]byte(nil), b...)
		added, err := s.Add(ctx, ev)
		if err != nil || !added {
			t.Fatalf("Add %d: %v %v", i, added, err)
		}
		got, err := s.Get(ctx, ev.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Body, b) {
			t.Errorf("body %d: got %q, want %q", i, got.Body, b)
		}
		if got.Profile != "p" || got.RequestIDField != "paymentRequestId" || got.State != StatePending ||
			!got.ReceivedAt.Equal(ev.ReceivedAt) || !got.NextAttempt.Equal(ev.ReceivedAt.Add(DefaultGrace)) {
			t.Errorf("fields did not round-trip: %+v", got)
		}
	}
}

func TestAddDedupAcrossStates(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	for _, final := range []string{"pending", "delivered", "dead"} {
		ev := testEvent("p", "k-"+final, `{}`)
		if added, err := s.Add(ctx, ev); !added || err != nil {
			t.Fatal(added, err)
		}
		switch final {
		case "delivered":
			if err := s.MarkDelivered(ctx, ev, time.Now()); err != nil {
				t.Fatal(err)
			}
		case "dead":
			if err := s.MarkDead(ctx, ev, time.Now(), "gave up"); err != nil {
				t.Fatal(err)
			}
		}
		dup := testEvent("p", "k-"+final, `{"different":"bytes"}`)
		added, err := s.Add(ctx, dup)
		if err != nil || added {
			t.Errorf("%s: duplicate Add = %v, %v; want false, nil", final, added, err)
		}
		got, _ := s.Get(ctx, ev.ID)
		if string(got.Body) != `{}` || string(got.State) != final {
			t.Errorf("%s: stored event changed: %+v", final, got)
		}
	}
	// Same dedup key, other profile: a different event.
	if added, _ := s.Add(ctx, testEvent("q", "k-pending", `{}`)); !added {
		t.Error("other profile deduplicated")
	}
}

func TestAddRejectsBadID(t *testing.T) {
	s, _ := newTestStore(t)
	ev := testEvent("p", "k", "{}")
	ev.ID = "msg_../../x"
	if _, err := s.Add(context.Background(), ev); !errors.Is(err, ErrInvalidID) {
		t.Fatal(err)
	}
	if _, err := s.Get(context.Background(), "../../etc/passwd"); !errors.Is(err, ErrInvalidID) {
		t.Fatal(err)
	}
}

func TestAddStorageErrorIsNotDuplicate(t *testing.T) {
	// A storage that cannot stat must make Add fail (Antom retries), not
	// report a duplicate (which would be acked and lost).
	s := New(statFails{&certmagic.FileStorage{Path: t.TempDir()}})
	added, err := s.Add(context.Background(), testEvent("p", "k", "{}"))
	if err == nil || added {
		t.Fatalf("Add = %v, %v; want an error", added, err)
	}
}

type statFails struct{ *certmagic.FileStorage }

func (statFails) Stat(context.Context, string) (certmagic.KeyInfo, error) {
	return certmagic.KeyInfo{}, errors.New("disk on fire")
}

func TestConcurrentAddOneWinner(t *testing.T) {
	s, _ := newTestStore(t)
	s2 := New(s.Storage()) // a second config generation in the same process
	ctx := context.Background()
	var wins atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			st := s
			if i%2 == 1 {
				st = s2
			}
			added, err := st.Add(ctx, testEvent("p", "same", fmt.Sprint(`{"n":`, i, `}`)))
			if err != nil {
				t.Error(err)
			}
			if added {
				wins.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d winners, want 1", wins.Load())
	}
	if c, _ := s.Counts(ctx); c[StatePending] != 1 {
		t.Fatalf("counts %v", c)
	}
}

func TestStateMoves(t *testing.T) {
	s, fs := newTestStore(t)
	ctx := context.Background()
	ev := testEvent("p", "k", `{"x":1}`)
	s.Add(ctx, ev)

	next := time.Now().Add(time.Minute).Truncate(time.Second)
	ev.Attempts = 1
	if err := s.Reschedule(ctx, ev, next, "app answered 500", 500); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Get(ctx, ev.ID)
	if got.State != StatePending || !got.NextAttempt.Equal(next) || got.LastStatus != 500 || got.LastError != "app answered 500" || got.Attempts != 1 {
		t.Fatalf("after Reschedule: %+v", got)
	}

	at := time.Now().Truncate(time.Second)
	ev.Attempts = 2
	ev.LastStatus = 200
	if err := s.MarkDelivered(ctx, ev, at); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Get(ctx, ev.ID)
	if got.State != StateDelivered || !got.DeliveredAt.Equal(at) || got.LastError != "" || got.Attempts != 2 {
		t.Fatalf("after MarkDelivered: %+v", got)
	}
	if fileExists(fs, "antom/events/pending/"+ev.ID) || !fileExists(fs, "antom/events/delivered/"+ev.ID) {
		t.Fatal("files not moved")
	}

	ev2 := testEvent("p", "k2", `{}`)
	s.Add(ctx, ev2)
	if err := s.MarkDead(ctx, ev2, at, "max_age"); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Get(ctx, ev2.ID)
	if got.State != StateDead || !got.DeadAt.Equal(at) || got.LastError != "max_age" {
		t.Fatalf("after MarkDead: %+v", got)
	}
	c, _ := s.Counts(ctx)
	if c[StatePending] != 0 || c[StateDelivered] != 1 || c[StateDead] != 1 {
		t.Fatalf("counts %v", c)
	}
	if _, err := s.Get(ctx, EventID("p", "nope")); !errors.Is(err, ErrNotFound) || !errors.Is(err, fs2ErrNotExist) {
		t.Fatalf("Get missing: %v", err)
	}
}

var fs2ErrNotExist = fs.ErrNotExist

func fileExists(s *certmagic.FileStorage, key string) bool {
	_, err := os.Stat(s.Filename(key))
	return err == nil
}

// A crash after "write delivered" but before "delete pending" leaves the
// event in two states: Get prefers delivered, Due does not hand it out and
// removes the pending copy, Add still deduplicates.
func TestCrashBetweenWriteAndDelete(t *testing.T) {
	s, fsys := newTestStore(t)
	ctx := context.Background()
	ev := testEvent("p", "k", `{}`)
	ev.NextAttempt = time.Now().Add(-time.Second)
	s.Add(ctx, ev)
	// Simulate the crash: copy to delivered without deleting pending.
	d := *ev
	d.State = StateDelivered
	d.DeliveredAt = time.Now()
	if err := s.putEvent(ctx, &d); err != nil {
		t.Fatal(err)
	}

	restarted := New(fsys)
	if evs, _ := restarted.List(ctx, StatePending, 0); len(evs) != 0 {
		t.Fatal("List(pending) shows an event that is delivered")
	}
	got, err := restarted.Get(ctx, ev.ID)
	if err != nil || got.State != StateDelivered {
		t.Fatalf("Get = %+v, %v; want delivered", got, err)
	}
	if added, _ := restarted.Add(ctx, testEvent("p", "k", `{}`)); added {
		t.Fatal("Add after crash not deduplicated")
	}
	due, err := restarted.Due(ctx, time.Now(), 10)
	if err != nil || len(due) != 0 {
		t.Fatalf("Due = %v, %v; want none", due, err)
	}
	if fileExists(fsys, "antom/events/pending/"+ev.ID) {
		t.Fatal("pending copy not cleaned up")
	}

	// A crash during Reschedule after another instance delivered it: the
	// pending write is dropped.
	ev2 := testEvent("p", "k2", `{}`)
	s.Add(ctx, ev2)
	d2 := *ev2
	d2.State = StateDead
	s.putEvent(ctx, &d2)
	if err := s.Reschedule(ctx, ev2, time.Now(), "x", 500); err != nil {
		t.Fatal(err)
	}
	if fileExists(fsys, "antom/events/pending/"+ev2.ID) {
		t.Fatal("Reschedule resurrected a final event")
	}
}

// Temporary files (a writer killed mid-write) are not events.
func TestListIgnoresTempFiles(t *testing.T) {
	s, fsys := newTestStore(t)
	ctx := context.Background()
	ev := testEvent("p", "k", `{}`)
	ev.NextAttempt = time.Now()
	s.Add(ctx, ev)
	tmp := filepath.Join(fsys.Filename("antom/events/pending"), "123456789")
	if err := os.WriteFile(tmp, []byte("{partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(tmp, old, old)
	evs, err := s.List(ctx, StatePending, 0)
	if err != nil || len(evs) != 1 {
		t.Fatalf("List = %d, %v", len(evs), err)
	}
	if err := New(fsys).Rescan(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prune(ctx, time.Now(), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatal("stale temp file not pruned")
	}
}

func TestListSortedAndLimited(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, off := range []int{5, 1, 3, 2, 4} {
		ev := testEvent("p", fmt.Sprint("k", i), "{}")
		ev.ReceivedAt = base.Add(time.Duration(off) * time.Second)
		s.Add(ctx, ev)
	}
	evs, err := s.List(ctx, StatePending, 3)
	if err != nil || len(evs) != 3 {
		t.Fatal(len(evs), err)
	}
	for i, ev := range evs {
		if want := base.Add(time.Duration(i+1) * time.Second); !ev.ReceivedAt.Equal(want) {
			t.Errorf("List[%d].ReceivedAt = %v, want %v", i, ev.ReceivedAt, want)
		}
	}
	if evs, _ := s.List(ctx, StateDead, 0); len(evs) != 0 {
		t.Fatal("dead not empty")
	}
}

func TestReplay(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	ev := testEvent("p", "k", `{}`)
	s.Add(ctx, ev)
	ev.Attempts = 9
	s.MarkDead(ctx, ev, time.Now(), "gave up")

	before := time.Now()
	got, err := s.Replay(ctx, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != StatePending || got.Attempts != 0 || got.LastError != "" || !got.DeadAt.IsZero() || got.NextAttempt.Before(before) {
		t.Fatalf("replayed: %+v", got)
	}
	due, _ := s.Due(ctx, time.Now(), 10)
	if len(due) != 1 || due[0].ID != ev.ID {
		t.Fatalf("replayed event not due: %v", due)
	}
	if _, err := s.Replay(ctx, ev.ID); err == nil || !strings.Contains(err.Error(), "pending already") {
		t.Fatalf("Replay of pending: %v", err)
	}
	if _, err := s.Replay(ctx, EventID("p", "missing")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Replay missing: %v", err)
	}

	// Delivered events can be replayed too.
	s.MarkDelivered(ctx, due[0], time.Now())
	if got, err := s.Replay(ctx, ev.ID); err != nil || got.State != StatePending || !got.DeliveredAt.IsZero() {
		t.Fatalf("replay delivered: %+v %v", got, err)
	}

	// ReplayDead moves all dead events.
	for i := range 3 {
		e := testEvent("p", fmt.Sprint("d", i), `{}`)
		s.Add(ctx, e)
		s.MarkDead(ctx, e, time.Now(), "x")
	}
	n, err := s.ReplayDead(ctx)
	if err != nil || n != 3 {
		t.Fatal(n, err)
	}
	if c, _ := s.Counts(ctx); c[StateDead] != 0 || c[StatePending] != 4 {
		t.Fatalf("counts %v", c)
	}
}

func TestPrune(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	mk := func(key string, state State, at time.Time) *Event {
		ev := testEvent("p", key, `{}`)
		ev.ReceivedAt = at.Add(-time.Minute)
		s.Add(ctx, ev)
		switch state {
		case StateDelivered:
			s.MarkDelivered(ctx, ev, at)
		case StateDead:
			s.MarkDead(ctx, ev, at, "x")
		}
		return ev
	}
	oldDel := mk("old-del", StateDelivered, t0)
	oldDead := mk("old-dead", StateDead, t0)
	newDel := mk("new-del", StateDelivered, t0.Add(6*24*time.Hour))
	oldPending := mk("old-pending", StatePending, t0)
	oldPay := &Payment{Profile: "p", PaymentRequestID: "r1", CreatedAt: t0}
	s.AddPayment(ctx, oldPay)
	s.FinishPayment(ctx, oldPay, "SUCCESS")

	n, err := s.Prune(ctx, t0.Add(7*24*time.Hour+time.Second), 0)
	if err != nil || n != 3 {
		t.Fatalf("Prune = %d, %v; want 3", n, err)
	}
	for _, ev := range []*Event{oldDel, oldDead} {
		if _, err := s.Get(ctx, ev.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s not pruned", ev.DedupKey)
		}
	}
	for _, ev := range []*Event{newDel, oldPending} {
		if _, err := s.Get(ctx, ev.ID); err != nil {
			t.Errorf("%s pruned: %v", ev.DedupKey, err)
		}
	}
	// Dedup holds until pruned; after pruning the id is free again.
	if added, _ := s.Add(ctx, testEvent("p", "new-del", `{}`)); added {
		t.Error("dedup lost before retention")
	}
	if added, _ := s.Add(ctx, testEvent("p", "old-del", `{}`)); !added {
		t.Error("pruned id not reusable")
	}
}

func TestCountsEmptyStorage(t *testing.T) {
	s, _ := newTestStore(t)
	c, err := s.Counts(context.Background())
	if err != nil || c[StatePending] != 0 {
		t.Fatal(c, err)
	}
	if due, err := s.Due(context.Background(), time.Now(), 5); err != nil || len(due) != 0 {
		t.Fatal(due, err)
	}
}

// crashAfter lets the first n writes or deletes through and fails every later one, as a process
// killed at that point would have left storage.
type crashAfter struct {
	certmagic.Storage
	mu sync.Mutex
	n  int
}

var errCrashed = errors.New("crashed")

func (c *crashAfter) step() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == 0 {
		return errCrashed
	}
	c.n--
	return nil
}

func (c *crashAfter) Store(ctx context.Context, key string, value []byte) error {
	if err := c.step(); err != nil {
		return err
	}
	return c.Storage.Store(ctx, key, value)
}

func (c *crashAfter) Delete(ctx context.Context, key string) error {
	if err := c.step(); err != nil {
		return err
	}
	return c.Storage.Delete(ctx, key)
}

// A replay interrupted after any of its writes is either done (the event is pending and due,
// and stays so through the clean-ups a restart runs) or visibly not done (the event is dead and
// nothing is pending); a replay that answered without error is done. A deletion the file system
// lost in a power cut (the dead copy back after a replay) does not undo it (issue 13, item 9).
func TestReplayCrashAtEveryStep(t *testing.T) {
	ctx := context.Background()
	for writes := 0; writes <= 3; writes++ {
		for _, lostDelete := range []bool{false, true} {
			t.Run(fmt.Sprintf("writes=%d,lost_delete=%v", writes, lostDelete), func(t *testing.T) {
				s, fsys := newTestStore(t)
				ev := testEvent("p", "k", `{}`)
				s.Add(ctx, ev)
				ev.Attempts = 9
				if err := s.MarkDead(ctx, ev, time.Now().Add(-time.Minute), "gave up"); err != nil {
					t.Fatal(err)
				}
				deadCopy, err := os.ReadFile(fsys.Filename(eventKey(StateDead, ev.ID)))
				if err != nil {
					t.Fatal(err)
				}

				_, replayErr := New(&crashAfter{Storage: s.Storage(), n: writes}).Replay(ctx, ev.ID)
				if lostDelete {
					if err := os.WriteFile(fsys.Filename(eventKey(StateDead, ev.ID)), deadCopy, 0o600); err != nil {
						t.Fatal(err)
					}
				}

				restarted := New(fsys)
				got, err := restarted.Get(ctx, ev.ID)
				if err != nil {
					t.Fatal(err)
				}
				if replayErr == nil && got.State != StatePending {
					t.Fatalf("Replay answered success, yet after the crash the event is %s", got.State)
				}
				// What a restarted instance does: deliver due events, prune.
				due, err := restarted.Due(ctx, time.Now(), 10)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := restarted.Prune(ctx, time.Now(), 0); err != nil {
					t.Fatal(err)
				}
				pending, _ := restarted.List(ctx, StatePending, 0)
				dead, _ := restarted.List(ctx, StateDead, 0)
				again, _ := restarted.Get(ctx, ev.ID)
				switch got.State {
				case StatePending:
					if len(due) != 1 || len(pending) != 1 || len(dead) != 0 || again.State != StatePending || again.Attempts != 0 {
						t.Fatalf("replay done, but due=%d pending=%d dead=%d state after clean-up=%s attempts=%d",
							len(due), len(pending), len(dead), again.State, again.Attempts)
					}
				case StateDead:
					if len(due) != 0 || len(pending) != 0 || len(dead) != 1 || again.State != StateDead || fileExists(fsys, eventKey(StatePending, ev.ID)) {
						t.Fatalf("replay not done, but due=%d pending=%d dead=%d state after clean-up=%s",
							len(due), len(pending), len(dead), again.State)
					}
				default:
					t.Fatalf("event is %s", got.State)
				}
			})
		}
	}
}

// movingStorage moves the event from pending to delivered, as MarkDelivered does (new copy
// first, then the old one deleted), just after a reader found no delivered copy.
type movingStorage struct {
	certmagic.Storage
	id    string
	moved bool
}

func (s *movingStorage) Load(ctx context.Context, key string) ([]byte, error) {
	b, err := s.Storage.Load(ctx, key)
	if key == eventKey(StateDelivered, s.id) && errors.Is(err, fs.ErrNotExist) && !s.moved {
		s.moved = true
		pending, lerr := s.Storage.Load(ctx, eventKey(StatePending, s.id))
		if lerr != nil {
			return nil, lerr
		}
		var ev Event
		if err := json.Unmarshal(pending, &ev); err != nil {
			return nil, err
		}
		ev.MarkDelivered(now())
		moved, _ := json.Marshal(&ev)
		if err := s.Storage.Store(ctx, eventKey(StateDelivered, s.id), moved); err != nil {
			return nil, err
		}
		if err := s.Storage.Delete(ctx, eventKey(StatePending, s.id)); err != nil {
			return nil, err
		}
	}
	return b, err
}

// An event being moved is found in its new state, never "not found", whenever the reader looks
// (the reader missed the new copy, then the old one: the test that once failed this way was
// TestStoreFailureBacksOff).
func TestGetDuringAMove(t *testing.T) {
	ctx := context.Background()
	files := &certmagic.FileStorage{Path: t.TempDir()}
	ev := testEvent("p", "moving", `{"a":1}`)
	if _, err := New(files).Add(ctx, ev); err != nil {
		t.Fatal(err)
	}
	got, err := New(&movingStorage{Storage: files, id: ev.ID}).Get(ctx, ev.ID)
	if err != nil || got.State != StateDelivered {
		t.Fatalf("Get during the move = %+v, %v; want the delivered copy", got, err)
	}
}
