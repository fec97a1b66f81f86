package outbox

import (
	"context"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// LeaderLock is the storage lock name whose holder runs the background
// workers (docs/architecture.md: antom/leader).
const LeaderLock = "antom/leader"

// leaderPoll is how often a follower tries to take the lock.
var leaderPoll = time.Second

// RunAsLeader blocks until ctx is cancelled. It waits until it holds the
// storage lock name (one instance among all sharing the storage), then runs
// fn with a context that is cancelled when ctx is; when fn returns it
// releases the lock and returns. If fn returns on its own while ctx is
// still alive, the lock is released and RunAsLeader starts waiting again.
//
// Use it from the app's Start in a goroutine, and cancel ctx (and wait for
// RunAsLeader to return) in Stop: on a config reload the old app releases
// the lock and the new app's waiting RunAsLeader takes over within about a
// second. A holder that dies without unlocking (SIGKILL) is replaced once
// its lock goes stale (about 10 s for FileStorage, which keeps held locks
// fresh by itself).
//
// Storage locks are leases, not fences: after a long pause two instances
// may briefly both believe they lead. Work done under the lock must be
// idempotent (the dispatcher is: at-least-once with stable webhook ids).
func RunAsLeader(ctx context.Context, storage certmagic.Storage, name string, log *zap.Logger, fn func(ctx context.Context)) {
	if log == nil {
		log = zap.NewNop()
	}
	log = log.With(zap.String("lock", name))
	for ctx.Err() == nil {
		if !acquire(ctx, storage, name, log) {
			return
		}
		log.Info("leadership acquired; running background workers")
		runLeading(ctx, storage, name, log, fn)
		// Unlock with a fresh context: ctx is usually cancelled by now.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if err := storage.Unlock(uctx, name); err != nil {
			log.Warn("releasing leadership lock", zap.Error(err))
		} else {
			log.Info("leadership released")
		}
		cancel()
		if ctx.Err() == nil {
			// fn returned on its own: give others a chance, and do not spin.
			select {
			case <-ctx.Done():
			case <-time.After(leaderPoll):
			}
		}
	}
}

func runLeading(ctx context.Context, storage certmagic.Storage, name string, log *zap.Logger, fn func(ctx context.Context)) {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	if r, ok := storage.(certmagic.LockLeaseRenewer); ok {
		// Storages with leases need renewal; FileStorage refreshes its own.
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(5 * time.Second)
			defer t.Stop()
			for {
				select {
				case <-lctx.Done():
					return
				case <-t.C:
					if err := r.RenewLockLease(lctx, name, 30*time.Second); err != nil && lctx.Err() == nil {
						log.Warn("renewing leadership lock", zap.Error(err))
					}
				}
			}
		}()
	}
	fn(lctx)
	cancel()
	wg.Wait()
}

// acquire waits for the lock; false means ctx was cancelled first.
func acquire(ctx context.Context, storage certmagic.Storage, name string, log *zap.Logger) bool {
	if tl, ok := storage.(certmagic.TryLocker); ok {
		logged := false
		for {
			start := time.Now()
			got, err := tl.TryLock(ctx, name)
			if got && err == nil {
				if ctx.Err() != nil {
					unlockQuietly(ctx, storage, name)
					return false
				}
				return true
			}
			if ctx.Err() != nil {
				return false
			}
			if err != nil {
				log.Warn("trying leadership lock", zap.Error(err))
			} else if !logged {
				log.Info("another instance or config holds the leadership lock; waiting")
				logged = true
			}
			// FileStorage's TryLock already waits a poll interval inside;
			// only sleep for what is left of ours.
			if d := leaderPoll - time.Since(start); d > 0 {
				select {
				case <-ctx.Done():
					return false
				case <-time.After(d):
				}
			}
		}
	}
	// Plain Locker: Lock blocks until it has the lock. It runs in a
	// goroutine so that a storage that ignores ctx cannot hold up Stop; a
	// lock obtained after ctx was cancelled is released at once.
	for {
		res := make(chan error, 1)
		go func() {
			err := storage.Lock(ctx, name)
			if err == nil && ctx.Err() != nil {
				unlockQuietly(ctx, storage, name)
				err = ctx.Err()
			}
			res <- err
		}()
		var err error
		select {
		case <-ctx.Done():
			go func() {
				if err := <-res; err == nil { // won the lock just as ctx ended
					unlockQuietly(ctx, storage, name)
				}
			}()
			return false
		case err = <-res:
		}
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		log.Warn("taking leadership lock", zap.Error(err))
		select {
		case <-ctx.Done():
			return false
		case <-time.After(leaderPoll):
		}
	}
}

func unlockQuietly(ctx context.Context, storage certmagic.Storage, name string) {
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = storage.Unlock(uctx, name)
}
