package outbox

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap/zaptest"
)

// Two leaders on one storage (old and new config during a reload): only
// one runs at a time, and when the first is cancelled the second takes
// over.
func TestLeaderHandover(t *testing.T) {
	fsys := &certmagic.FileStorage{Path: t.TempDir()}
	testLeaderHandover(t, fsys)
}

// Storages without TryLock fall back to Lock.
func TestLeaderHandoverPlainLocker(t *testing.T) {
	testLeaderHandover(t, lockOnly{&certmagic.FileStorage{Path: t.TempDir()}})
}

// lockOnly hides FileStorage's TryLock.
type lockOnly struct{ fs *certmagic.FileStorage }

func (l lockOnly) Lock(ctx context.Context, name string) error   { return l.fs.Lock(ctx, name) }
func (l lockOnly) Unlock(ctx context.Context, name string) error { return l.fs.Unlock(ctx, name) }
func (l lockOnly) Store(ctx context.Context, k string, v []byte) error {
	return l.fs.Store(ctx, k, v)
}
func (l lockOnly) Load(ctx context.Context, k string) ([]byte, error) { return l.fs.Load(ctx, k) }
func (l lockOnly) Delete(ctx context.Context, k string) error         { return l.fs.Delete(ctx, k) }
func (l lockOnly) Exists(ctx context.Context, k string) bool          { return l.fs.Exists(ctx, k) }
func (l lockOnly) List(ctx context.Context, p string, r bool) ([]string, error) {
	return l.fs.List(ctx, p, r)
}
func (l lockOnly) Stat(ctx context.Context, k string) (certmagic.KeyInfo, error) {
	return l.fs.Stat(ctx, k)
}

func testLeaderHandover(t *testing.T, storage certmagic.Storage) {
	old := leaderPoll
	leaderPoll = 50 * time.Millisecond
	defer func() { leaderPoll = old }()
	log := zaptest.NewLogger(t)

	var running, maxRunning atomic.Int32
	started := make(chan string, 2)
	leader := func(name string) func(ctx context.Context) {
		return func(ctx context.Context) {
			n := running.Add(1)
			if n > maxRunning.Load() {
				maxRunning.Store(n)
			}
			started <- name
			<-ctx.Done()
			running.Add(-1)
		}
	}

	ctx1, cancel1 := context.WithCancel(context.Background())
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	var wg sync.WaitGroup
	wg.Add(2)
	done1 := make(chan struct{})
	go func() {
		defer wg.Done()
		defer close(done1)
		RunAsLeader(ctx1, storage, LeaderLock, log, leader("first"))
	}()
	if got := waitFor(t, started); got != "first" {
		t.Fatalf("first leader = %s", got)
	}
	go func() { defer wg.Done(); RunAsLeader(ctx2, storage, LeaderLock, log, leader("second")) }()

	select {
	case got := <-started:
		t.Fatalf("%s became leader while the first holds the lock", got)
	case <-time.After(300 * time.Millisecond):
	}

	cancel1()
	select {
	case <-done1:
	case <-time.After(5 * time.Second):
		t.Fatal("RunAsLeader did not return after cancel")
	}
	if got := waitFor(t, started); got != "second" {
		t.Fatalf("second leader = %s", got)
	}
	if maxRunning.Load() != 1 {
		t.Fatalf("%d leaders ran at once", maxRunning.Load())
	}
	cancel2()
	wg.Wait()
}

func waitFor(t *testing.T, ch chan string) string {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no leader within 10s")
		return ""
	}
}

// Cancelling a waiting follower returns promptly.
func TestLeaderCancelWhileWaiting(t *testing.T) {
	fsys := &certmagic.FileStorage{Path: t.TempDir()}
	ctx1, cancel1 := context.WithCancel(context.Background())
	defer cancel1()
	got := make(chan struct{})
	go RunAsLeader(ctx1, fsys, LeaderLock, nil, func(ctx context.Context) { close(got); <-ctx.Done() })
	<-got

	ctx2, cancel2 := context.WithCancel(context.Background())
	ret := make(chan struct{})
	go func() {
		RunAsLeader(ctx2, fsys, LeaderLock, nil, func(context.Context) { t.Error("follower ran") })
		close(ret)
	}()
	time.Sleep(100 * time.Millisecond)
	cancel2()
	select {
	case <-ret:
	case <-time.After(3 * time.Second):
		t.Fatal("waiting follower did not return after cancel")
	}
}
