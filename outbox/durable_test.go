package outbox

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

// recordedFiles performs the file system calls of osFiles and records them in order, with paths
// relative to root and temporary file names as "tmp".
type recordedFiles struct {
	root string
	mu   sync.Mutex
	ops  []string
	// failRenames makes the next renames fail: a write that never completes, as in a crash.
	failRenames int
}

func (r *recordedFiles) record(op, path string) {
	rel, _ := filepath.Rel(r.root, path)
	if strings.HasPrefix(filepath.Base(rel), ".tmp-") {
		rel = filepath.Join(filepath.Dir(rel), "tmp")
	}
	r.mu.Lock()
	r.ops = append(r.ops, op+" "+filepath.ToSlash(rel))
	r.mu.Unlock()
}

func (r *recordedFiles) Mkdir(dir string) error { r.record("mkdir", dir); return osFiles{}.Mkdir(dir) }
func (r *recordedFiles) CreateTemp(dir string) (tempFile, error) {
	f, err := osFiles{}.CreateTemp(dir)
	if err != nil {
		return nil, err
	}
	r.record("create", f.Name())
	return recordedFile{f, r}, nil
}
func (r *recordedFiles) Rename(from, to string) error {
	r.record("rename", from)
	r.record("  to", to)
	r.mu.Lock()
	fail := r.failRenames > 0
	if fail {
		r.failRenames--
	}
	r.mu.Unlock()
	if fail {
		return errors.New("rename: injected failure")
	}
	return osFiles{}.Rename(from, to)
}
func (r *recordedFiles) Remove(name string) error {
	r.record("remove", name)
	return osFiles{}.Remove(name)
}
func (r *recordedFiles) SyncDir(dir string) error {
	r.record("fsync-dir", dir)
	return osFiles{}.SyncDir(dir)
}

func (r *recordedFiles) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ops := r.ops
	r.ops = nil
	return ops
}

type recordedFile struct {
	tempFile
	r *recordedFiles
}

func (f recordedFile) Write(b []byte) (int, error) {
	f.r.record("write", f.Name())
	return f.tempFile.Write(b)
}
func (f recordedFile) Sync() error  { f.r.record("fsync", f.Name()); return f.tempFile.Sync() }
func (f recordedFile) Close() error { f.r.record("close", f.Name()); return f.tempFile.Close() }

// An event is acknowledged when Add returns: by then the file, its name in the directory, and
// every directory created on the way must be on disk (issue 13, item 2).
func TestAddIsDurableBeforeItReturns(t *testing.T) {
	root := t.TempDir()
	s := New(&certmagic.FileStorage{Path: root})
	rec := &recordedFiles{root: root}
	s.storage.(*durableFiles).ops = rec
	ctx := context.Background()

	ev := testEvent("p", "k1", `{"a":1}`)
	if added, err := s.Add(ctx, ev); err != nil || !added {
		t.Fatalf("Add = %v, %v", added, err)
	}
	pending := "antom/events/pending"
	want := []string{
		"mkdir antom", "fsync-dir .",
		"mkdir antom/events", "fsync-dir antom",
		"mkdir " + pending, "fsync-dir antom/events",
		"create " + pending + "/tmp", "write " + pending + "/tmp", "fsync " + pending + "/tmp", "close " + pending + "/tmp",
		"rename " + pending + "/tmp", "  to " + pending + "/" + ev.ID,
		"fsync-dir " + pending,
	}
	if got := rec.take(); !slices.Equal(got, want) {
		t.Fatalf("first Add's file system calls:\n got %q\nwant %q", got, want)
	}

	// The directories exist now: a second event is one file and one directory fsync.
	ev2 := testEvent("p", "k2", `{"a":2}`)
	if added, err := s.Add(ctx, ev2); err != nil || !added {
		t.Fatalf("Add = %v, %v", added, err)
	}
	want = []string{
		"create " + pending + "/tmp", "write " + pending + "/tmp", "fsync " + pending + "/tmp", "close " + pending + "/tmp",
		"rename " + pending + "/tmp", "  to " + pending + "/" + ev2.ID,
		"fsync-dir " + pending,
	}
	if got := rec.take(); !slices.Equal(got, want) {
		t.Fatalf("second Add's file system calls:\n got %q\nwant %q", got, want)
	}

	// Moves to a final state are as durable as the first write.
	if err := s.MarkDelivered(ctx, ev, now()); err != nil {
		t.Fatal(err)
	}
	got := rec.take()
	if n := len(got); n < 2 || got[n-2] != "  to antom/events/delivered/"+ev.ID || got[n-1] != "fsync-dir antom/events/delivered" {
		t.Fatalf("MarkDelivered's file system calls end with %q, want the rename then the directory fsync", got)
	}
	if back, err := s.Get(ctx, ev.ID); err != nil || back.State != StateDelivered {
		t.Fatalf("Get = %+v, %v", back, err)
	}
}

// recordingStore returns a Store on a temporary directory whose pending and delivered folders
// exist already (the steady state), recording its file system calls from then on.
func recordingStore(t *testing.T) (*Store, *recordedFiles) {
	t.Helper()
	root := t.TempDir()
	s := New(&certmagic.FileStorage{Path: root})
	warm := testEvent("p", "warm", `{}`)
	if _, err := s.Add(context.Background(), warm); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkDelivered(context.Background(), warm, now()); err != nil {
		t.Fatal(err)
	}
	rec := &recordedFiles{root: root}
	s.storage.(*durableFiles).ops = rec
	return s, rec
}

func durableWrite(dir, id string) []string {
	return []string{
		"create " + dir + "/tmp", "write " + dir + "/tmp", "fsync " + dir + "/tmp", "close " + dir + "/tmp",
		"rename " + dir + "/tmp", "  to " + dir + "/" + id,
		"fsync-dir " + dir,
	}
}

// A notification delivered at once costs one durable write, in the delivered folder, before
// AddDelivering returns (the handler acknowledges after that); nothing is written before the
// delivery (issue 16: the ack path wrote pending, then moved it: two writes and a delete).
func TestAddDeliveringDeliveredIsOneDurableWrite(t *testing.T) {
	s, rec := recordingStore(t)
	ctx := context.Background()
	ev := testEvent("p", "k", `{"a":1}`)
	added, err := s.AddDelivering(ctx, ev, func() {
		if ops := rec.take(); len(ops) != 0 {
			t.Errorf("file system calls before the delivery: %q", ops)
		}
		ev.Attempts, ev.LastStatus = 1, 200
		if err := s.MarkDelivered(ctx, ev, now()); err != nil {
			t.Error(err)
		}
	})
	if err != nil || !added {
		t.Fatalf("AddDelivering = %v, %v", added, err)
	}
	if got, want := rec.take(), durableWrite("antom/events/delivered", ev.ID); !slices.Equal(got, want) {
		t.Fatalf("file system calls of a delivered notification:\n got %q\nwant %q", got, want)
	}
	if got, err := s.Get(ctx, ev.ID); err != nil || got.State != StateDelivered {
		t.Fatalf("Get = %+v, %v", got, err)
	}
}

// A first delivery that fails is recorded by one durable write of the pending event, which the
// background retries, before AddDelivering returns.
func TestAddDeliveringFailedIsOnePendingWrite(t *testing.T) {
	s, rec := recordingStore(t)
	ctx := context.Background()
	ev := testEvent("p", "k", `{"a":1}`)
	next := now().Add(time.Second)
	added, err := s.AddDelivering(ctx, ev, func() {
		ev.Attempts = 1
		if err := s.Reschedule(ctx, ev, next, "app answered 500", 500); err != nil {
			t.Error(err)
		}
	})
	if err != nil || !added {
		t.Fatalf("AddDelivering = %v, %v", added, err)
	}
	if got, want := rec.take(), durableWrite("antom/events/pending", ev.ID); !slices.Equal(got, want) {
		t.Fatalf("file system calls of a failed first delivery:\n got %q\nwant %q", got, want)
	}
	if due, err := s.DueExcept(ctx, next, 10, nil); err != nil || len(due) != 1 || due[0].ID != ev.ID || due[0].Attempts != 1 {
		t.Fatalf("DueExcept = %v, %v; want the event with its attempt", due, err)
	}
}

// Delivered but not durably recorded (the write never completes, as in a crash between the
// delivery and the rename): AddDelivering fails, so the handler does not acknowledge, and
// nothing is stored; Antom's retry delivers it again with the same id. When only the delivered
// write fails, the event is written pending and due at once instead.
func TestAddDeliveringUnrecordedIsNotAcknowledged(t *testing.T) {
	s, rec := recordingStore(t)
	ctx := context.Background()
	deliveries := 0
	deliver := func(ev *Event) func() {
		return func() {
			deliveries++
			if err := s.MarkDelivered(ctx, ev, now()); err != nil {
				t.Log("recording the delivery failed:", err)
			}
		}
	}
	rec.failRenames = 2 // the delivered write and the pending write after it
	ev := testEvent("p", "k", `{"a":1}`)
	if added, err := s.AddDelivering(ctx, ev, deliver(ev)); err == nil {
		t.Fatalf("AddDelivering = %v, nil; want the storage error (no ack)", added)
	}
	if got, err := s.Get(ctx, ev.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after the failed write = %+v, %v; want nothing stored", got, err)
	}

	rec.failRenames = 1 // Antom's retry: the delivered write fails, the pending one works
	retry := testEvent("p", "k", `{"a":1}`)
	if added, err := s.AddDelivering(ctx, retry, deliver(retry)); err != nil || !added {
		t.Fatalf("retry: AddDelivering = %v, %v", added, err)
	}
	if deliveries != 2 || retry.ID != ev.ID {
		t.Fatalf("%d deliveries of ids %s and %s, want 2 with one id", deliveries, ev.ID, retry.ID)
	}
	got, err := s.Get(ctx, ev.ID)
	if err != nil || got.State != StatePending || !got.DeliveredAt.IsZero() || got.NextAttempt.After(now()) {
		t.Fatalf("after a failed delivered write = %+v, %v; want pending and due", got, err)
	}
}

// A deliver that panics (a bug; Caddy recovers the request's panic) leaves nothing behind:
// nothing stored or acknowledged, no event held in memory, and Antom's retry is added afresh.
func TestAddDeliveringPanicLeavesNothing(t *testing.T) {
	s, _ := recordingStore(t)
	ctx := context.Background()
	ev := testEvent("p", "k", `{"a":1}`)
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic of deliver did not reach the caller")
			}
		}()
		_, _ = s.AddDelivering(ctx, ev, func() { panic("a bug in delivery") })
	}()
	held := 0
	s.unwritten.Range(func(any, any) bool { held++; return true })
	if held != 0 {
		t.Fatalf("%d event(s) still held as being delivered after the panic", held)
	}
	if added, err := s.Add(ctx, testEvent("p", "k", `{"a":1}`)); err != nil || !added {
		t.Fatalf("Antom's retry after the panic: Add = %v, %v; want added", added, err)
	}
}
