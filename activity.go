package caddyantom

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/caddy-antom/caddy-antom/outbox"
)

// Activity recording is off the payment path: handlers and workers queue a record and one
// writer per config generation stores it. A full queue drops records rather than wait.
const (
	// activityQueueSize bounds the records waiting for the writer (a flood of rejected
	// notifications then costs at most this much memory).
	activityQueueSize = 1024
	// activityBatch bounds the records written at once.
	activityBatch = 128
	// activityLinger is how long the writer waits for more records after the first of a
	// batch: the timeline is read by people, and one commit per batch instead of one per API
	// call is CPU the calls get.
	activityLinger = 250 * time.Millisecond
	// activityWriteTimeout bounds one store write of a record.
	activityWriteTimeout = 5 * time.Second
	// activityDrainTime is how long Stop lets the writer store what is queued.
	activityDrainTime = 5 * time.Second
	// activityDropWarnEvery spaces the warnings about dropped records.
	activityDropWarnEvery = time.Minute
	// activityBackoffMax is the longest wait between the attempts of a failing write.
	activityBackoffMax = 30 * time.Second
	// unverifiedPerSecond caps the records of rejected notifications (a burst of twice as many
	// passes): anyone can send those, and their writes share the disk with real notifications.
	unverifiedPerSecond = 10
)

// activityRecorder stores timeline activities asynchronously (see outbox.Activity).
type activityRecorder struct {
	store outbox.EventStore
	log   *zap.Logger
	queue chan *outbox.Activity
	// unverified limits the records of rejected notifications.
	unverified *rate.Limiter
	stopped    atomic.Bool  // the writer is draining or gone: nothing more is queued
	lastWarn   atomic.Int64 // unix nanoseconds of the last warning about drops or failures
}

func newActivityRecorder(store outbox.EventStore, log *zap.Logger) *activityRecorder {
	return &activityRecorder{store: store, log: log, queue: make(chan *outbox.Activity, activityQueueSize),
		unverified: rate.NewLimiter(unverifiedPerSecond, 2*unverifiedPerSecond)}
}

// record queues act; an activity naming no id is of no timeline's concern.
func (r *activityRecorder) record(act *outbox.Activity) {
	if len(act.IDs) == 0 {
		return
	}
	if r.stopped.Load() {
		activityDropped.Inc()
		return
	}
	select {
	case r.queue <- act:
	default:
		activityDropped.Inc()
		r.warn("timeline activity dropped: the writer is behind (a flood of notifications, or a slow store); see caddy_antom_activity_dropped_total")
	}
}

// admitUnverified reports whether a record of a rejected notification may be made now: at
// most unverifiedPerSecond. Asked before its body is read, so a flood is not even read.
func (r *activityRecorder) admitUnverified() bool { return r.unverified.Allow() }

// run writes queued records until ctx ends, then drains the queue for activityDrainTime. The
// records queued within activityLinger of the first (up to activityBatch) are written at once,
// each in its own call, so a store that commits the writes waiting together (sqlstore's group commit) makes them durable
// with one commit instead of one each: on the API proxy's path that commit per call cost more
// CPU than the call itself. A failing write is retried with a growing pause, so a store that is
// down costs no busy loop (records queued meanwhile beyond the queue's size are dropped).
func (r *activityRecorder) run(ctx context.Context) {
	// A write outlives ctx (activityWriteTimeout bounds it): a record taken from the queue just
	// as the writer stops is written, not lost.
	writeCtx := context.WithoutCancel(ctx)
	backoff := 100 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			r.drain(nil)
			return
		case act := <-r.queue:
			batch := r.gather(act, activityLinger)
			for batch = r.writeAll(writeCtx, batch); len(batch) > 0; batch = r.writeAll(writeCtx, batch) {
				select {
				case <-ctx.Done():
					r.drain(batch)
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, activityBackoffMax)
			}
			backoff = 100 * time.Millisecond
		}
	}
}

// gather returns first and the records queued behind it within linger (zero: those queued
// already), at most activityBatch in all.
func (r *activityRecorder) gather(first *outbox.Activity, linger time.Duration) []*outbox.Activity {
	batch := []*outbox.Activity{first}
	if linger == 0 {
		for len(batch) < activityBatch && len(r.queue) > 0 {
			batch = append(batch, <-r.queue)
		}
		return batch
	}
	timer := time.NewTimer(linger)
	defer timer.Stop()
	for len(batch) < activityBatch {
		select {
		case act := <-r.queue:
			batch = append(batch, act)
		case <-timer.C:
			return batch
		}
	}
	return batch
}

// writeAll writes the records of batch at once and returns those whose write failed.
func (r *activityRecorder) writeAll(ctx context.Context, batch []*outbox.Activity) []*outbox.Activity {
	ok := make([]bool, len(batch))
	var wg sync.WaitGroup
	for i, act := range batch {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok[i] = r.write(ctx, act)
		}()
	}
	wg.Wait()
	var failed []*outbox.Activity
	for i, act := range batch {
		if !ok[i] {
			failed = append(failed, act)
		}
	}
	return failed
}

// drain writes failed (the records whose write just failed) and what is queued, until the queue
// is empty or activityDrainTime passed; the rest is dropped, and so is what is recorded
// afterwards.
func (r *activityRecorder) drain(failed []*outbox.Activity) {
	r.stopped.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), activityDrainTime)
	defer cancel()
	if len(failed) > 0 {
		activityDropped.Add(float64(len(r.writeAll(ctx, failed))))
	}
	for {
		select {
		case act := <-r.queue:
			if ctx.Err() != nil {
				activityDropped.Add(float64(len(r.gather(act, 0))))
				continue
			}
			activityDropped.Add(float64(len(r.writeAll(ctx, r.gather(act, 0)))))
		default:
			return
		}
	}
}

func (r *activityRecorder) write(ctx context.Context, act *outbox.Activity) bool {
	ctx, cancel := context.WithTimeout(ctx, activityWriteTimeout)
	defer cancel()
	err := r.store.AddActivity(ctx, act)
	if err != nil {
		r.warn("storing a timeline activity failed; retrying", zap.Error(err))
	}
	return err == nil
}

// warn logs msg unless a warning was logged within activityDropWarnEvery.
func (r *activityRecorder) warn(msg string, fields ...zap.Field) {
	last, now := r.lastWarn.Load(), time.Now().UnixNano()
	if now-last < int64(activityDropWarnEvery) || !r.lastWarn.CompareAndSwap(last, now) {
		return
	}
	r.log.Warn(msg, fields...)
}
