package sqlstore

import (
	"sync"
	"time"

	"go.uber.org/zap"
)

// health tracks whether the database answers (PostgreSQL: a server that may be down; an
// embedded SQLite always answers, if only with an error), so that an outage is logged once (and
// its end once), and the background workers stop asking while it lasts, probing with backoff.
type health struct {
	log         *zap.Logger
	unreachable func(error) bool

	mu        sync.Mutex
	down      bool
	nextProbe time.Time
	backoff   time.Duration
}

// observe records the outcome of an operation and returns err.
func (h *health) observe(err error) error {
	lost := err != nil && h.unreachable(err)
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case lost && !h.down:
		h.down = true
		h.backoff = time.Second
		h.nextProbe = time.Now().Add(h.backoff)
		h.log.Error("the event database is unreachable: notifications get 503 (Antom retries them) and deliveries pause until it answers again",
			zap.Error(err))
	case lost:
		h.backoff = min(2*h.backoff, 30*time.Second)
		h.nextProbe = time.Now().Add(h.backoff)
	case err == nil && h.down:
		h.down = false
		h.log.Info("the event database answers again; deliveries resume")
	}
	return err
}

// probeDue reports whether background work should ask the database now: always while it is up,
// and once per backoff step while it is down.
func (h *health) probeDue() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.down {
		return true
	}
	if time.Now().Before(h.nextProbe) {
		return false
	}
	h.nextProbe = time.Now().Add(h.backoff) // one probe per step, even with several workers
	return true
}
