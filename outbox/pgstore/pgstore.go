// Package pgstore is the event store on PostgreSQL (outbox.EventStore), for several Caddy
// instances on one database. Deduplication is one INSERT ... ON CONFLICT DO NOTHING, so it is
// atomic across instances; every instance delivers and reconciles, claiming due rows with
// FOR UPDATE SKIP LOCKED and a lease that it renews while it works on them, so that the rows of
// an instance that dies are taken over by the others once the lease ends.
package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/caddy-antom/caddy-antom/outbox"
)

// Defaults.
const (
	// DefaultOpTimeout bounds one operation whose context has no earlier deadline; with the
	// database unreachable a notification gets its 503 within it.
	DefaultOpTimeout = 5 * time.Second
	// Lease is how long a claim on a due event keeps other instances off it. The claimant renews
	// it every Lease/3 while it delivers, so a killed instance's events are free again within
	// Lease.
	Lease = 15 * time.Second
	// paymentLease is the claim on a due payment: one reconciliation step (two Antom calls and a
	// few store updates) fits in it; it is not renewed.
	paymentLease = time.Minute
	// paymentBatch is how many payments DuePayments claims when not told: the reconcile
	// worker's default concurrency, so that it does not claim what it cannot start.
	paymentBatch = 8
	// maxHold ends the renewal of a claim whose outcome is never recorded (a delivery attempt
	// is bounded well below it).
	maxHold = 10 * time.Minute
	// pruneBatch is how many rows one pruning statement deletes, so that pruning never holds
	// many row locks or a long transaction.
	pruneBatch = 500
)

// Store is an outbox.EventStore on PostgreSQL. Open it with New; Close releases its connections.
type Store struct {
	pool      *pgxpool.Pool
	log       *zap.Logger
	opTimeout time.Duration

	// Grace: see outbox.DefaultGrace (zero: the default).
	Grace time.Duration

	schemaTurn  chan struct{} // held while creating or migrating the schema
	schemaReady atomic.Bool

	health health

	claimsMu sync.Mutex
	claims   map[string]time.Time // events this Store holds leases on, and since when
	renewing bool
	stop     chan struct{}
	closed   sync.Once
}

// New returns a Store on the database the DSN names (libpq key=value or URL form; sslmode and
// the other TLS parameters apply as written). It does not connect: the first operation does,
// and creates or migrates the schema first. maxConns <= 0 means pgx's default.
func New(dsn string, maxConns int, log *zap.Logger) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors can quote the DSN, password included: say only what is wrong.
		return nil, errors.New("the PostgreSQL dsn does not parse; write it as postgres://user:password@host:port/database?sslmode=verify-full or as key=value pairs")
	}
	if maxConns > 0 {
		cfg.MaxConns = int32(maxConns)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > DefaultOpTimeout {
		cfg.ConnConfig.ConnectTimeout = DefaultOpTimeout
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("opening the PostgreSQL pool: %w", err)
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Store{
		pool:       pool,
		log:        log,
		opTimeout:  DefaultOpTimeout,
		health:     health{log: log},
		schemaTurn: make(chan struct{}, 1),
		claims:     map[string]time.Time{},
		stop:       make(chan struct{}),
	}, nil
}

// Close stops the lease renewal and closes the connections.
func (s *Store) Close() {
	s.closed.Do(func() {
		close(s.stop)
		s.pool.Close()
	})
}

// Lead runs fn on this instance: with leases, every instance delivers and reconciles.
func (s *Store) Lead(ctx context.Context, log *zap.Logger, fn func(ctx context.Context)) {
	fn(ctx)
}

// op bounds ctx by the operation timeout, makes sure the schema exists, and returns the context
// to run the operation in.
func (s *Store) op(ctx context.Context) (context.Context, context.CancelFunc, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opTimeout)
	if err := s.ensureSchema(ctx); err != nil {
		cancel()
		return nil, nil, s.health.observe(err)
	}
	return ctx, cancel, nil
}

// Add inserts ev as pending unless its id exists: atomic across instances.
func (s *Store) Add(ctx context.Context, ev *outbox.Event) (bool, error) {
	if err := ev.PrepareAdd(s.grace()); err != nil {
		return false, err
	}
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return false, err
	}
	defer cancel()
	doc, err := json.Marshal(ev)
	if err != nil {
		return false, err
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO antom_events
		(id, profile, state, type, request_id, payment_id, received_at, next_attempt, state_at, doc)
		VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7, NULL, $8)
		ON CONFLICT (id) DO NOTHING`,
		ev.ID, ev.Profile, ev.Type, ev.RequestID, ev.PaymentID(), ev.ReceivedAt, ev.NextAttempt, doc)
	if err = s.health.observe(err); err != nil {
		return false, fmt.Errorf("storing event %s in PostgreSQL: %w", ev.ID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// AddDelivering adds ev pending, then makes its first delivery attempt: the insert is what
// deduplicates across instances, so the event is written before it is delivered.
func (s *Store) AddDelivering(ctx context.Context, ev *outbox.Event, deliver func()) (bool, error) {
	added, err := s.Add(ctx, ev)
	if added && deliver != nil {
		deliver()
	}
	return added, err
}

// Get returns the event with id.
func (s *Store) Get(ctx context.Context, id string) (*outbox.Event, error) {
	if !outbox.ValidEventID(id) {
		return nil, fmt.Errorf("%w: %q", outbox.ErrInvalidID, id)
	}
	evs, err := s.queryEvents(ctx, `SELECT doc, state FROM antom_events WHERE id = $1`, id)
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 {
		return nil, fmt.Errorf("event %s: %w", id, outbox.ErrNotFound)
	}
	return evs[0], nil
}

// List returns up to limit events in state, oldest ReceivedAt first (limit <= 0: all).
func (s *Store) List(ctx context.Context, state outbox.State, limit int) ([]*outbox.Event, error) {
	return s.queryEvents(ctx, `SELECT doc, state FROM antom_events WHERE state = $1
		ORDER BY received_at, id LIMIT $2`, string(state), limitOrAll(limit))
}

func limitOrAll(limit int) any {
	if limit <= 0 {
		return nil // LIMIT NULL: no limit
	}
	return limit
}

// Counts returns the number of events per state.
func (s *Store) Counts(ctx context.Context) (map[outbox.State]int, error) {
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT state, count(*) FROM antom_events GROUP BY state`)
	if err = s.health.observe(err); err != nil {
		return nil, err
	}
	out := map[outbox.State]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[outbox.State(st)] = n
	}
	return out, s.health.observe(rows.Err())
}

// Backlogs counts the pending and dead events per route, and finds the oldest pending one's
// receipt time, in the database.
func (s *Store) Backlogs(ctx context.Context) (map[string]outbox.Backlog, error) {
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT doc->>'route', state, count(*), min(received_at) FROM antom_events
		WHERE state IN ('pending', 'dead') GROUP BY 1, 2`)
	if err = s.health.observe(err); err != nil {
		return nil, err
	}
	out := map[string]outbox.Backlog{}
	for rows.Next() {
		var route, st string
		var n int
		var oldest time.Time
		if err := rows.Scan(&route, &st, &n, &oldest); err != nil {
			return nil, err
		}
		b := out[route]
		if outbox.State(st) == outbox.StatePending {
			b.Pending, b.OldestPending = n, oldest
		} else {
			b.Dead = n
		}
		out[route] = b
	}
	return out, s.health.observe(rows.Err())
}

// DueExcept claims up to limit due pending events that no other instance holds, earliest
// NextAttempt first, and keeps their leases until their outcome is recorded. While the database
// is unreachable it returns nothing until the next probe (deliveries pause, with backoff).
func (s *Store) DueExcept(ctx context.Context, at time.Time, limit int, skip func(id string) bool) ([]*outbox.Event, error) {
	if limit <= 0 || !s.health.probeDue() {
		return nil, nil
	}
	evs, err := s.queryEvents(ctx, `UPDATE antom_events e SET lease_until = $3
		FROM (SELECT id FROM antom_events
			WHERE state = 'pending' AND next_attempt <= $1 AND (lease_until IS NULL OR lease_until <= $1)
			ORDER BY next_attempt, id LIMIT $2 FOR UPDATE SKIP LOCKED) due
		WHERE e.id = due.id RETURNING e.doc, e.state`, at, limit, at.Add(Lease))
	if unreachable(err) {
		return nil, nil // logged once by health; the next probe comes with backoff
	}
	if err != nil {
		return nil, err
	}
	sort.Slice(evs, func(i, j int) bool {
		if !evs[i].NextAttempt.Equal(evs[j].NextAttempt) {
			return evs[i].NextAttempt.Before(evs[j].NextAttempt)
		}
		return evs[i].ID < evs[j].ID
	})
	out := evs[:0]
	for _, ev := range evs {
		// Skipped ones are being delivered by this instance already, which records them.
		if skip == nil || !skip(ev.ID) {
			out = append(out, ev)
			s.hold(ev.ID)
		}
	}
	return out, nil
}

// Release ends this instance's claim on ev without changing it.
func (s *Store) Release(ctx context.Context, ev *outbox.Event) error {
	s.release(ev.ID)
	_, err := s.exec(ctx, `UPDATE antom_events SET lease_until = NULL WHERE id = $1 AND state = 'pending'`, ev.ID)
	return err
}

// MarkDelivered records a delivery.
func (s *Store) MarkDelivered(ctx context.Context, ev *outbox.Event, at time.Time) error {
	ev.MarkDelivered(at)
	return s.settle(ctx, ev, at)
}

// MarkDead records that delivery was given up.
func (s *Store) MarkDead(ctx context.Context, ev *outbox.Event, at time.Time, reason string) error {
	ev.MarkDead(at, reason)
	return s.settle(ctx, ev, at)
}

// settle writes ev in its final state and ends this instance's claim on it.
func (s *Store) settle(ctx context.Context, ev *outbox.Event, at time.Time) error {
	doc, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	defer s.release(ev.ID) // on failure too: the lease then ends and any instance retries
	return s.retry(ctx, func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, `UPDATE antom_events
			SET state = $2, state_at = $3, next_attempt = NULL, lease_until = NULL, doc = $4 WHERE id = $1`,
			ev.ID, string(ev.State), at, doc)
		return err
	})
}

// Reschedule keeps ev pending with a new NextAttempt; an event that reached a final state
// meanwhile is left alone.
func (s *Store) Reschedule(ctx context.Context, ev *outbox.Event, next time.Time, lastErr string, status int) error {
	upd := *ev
	upd.History = slices.Clone(ev.History)
	upd.Reschedule(time.Now(), next, lastErr, status)
	doc, err := json.Marshal(&upd)
	if err != nil {
		return err
	}
	defer s.release(ev.ID)
	var updated bool
	err = s.retry(ctx, func(ctx context.Context) error {
		tag, err := s.pool.Exec(ctx, `UPDATE antom_events SET next_attempt = $2, lease_until = NULL, doc = $3
			WHERE id = $1 AND state = 'pending'`, ev.ID, next, doc)
		updated = tag.RowsAffected() == 1
		return err
	})
	if err != nil {
		return err
	}
	if updated {
		*ev = upd
	}
	return nil
}

// Replay moves a delivered or dead event back to pending, due now, in one statement.
func (s *Store) Replay(ctx context.Context, id string) (*outbox.Event, error) {
	if !outbox.ValidEventID(id) {
		return nil, fmt.Errorf("%w: %q", outbox.ErrInvalidID, id)
	}
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	var ev *outbox.Event
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		evs, err := scanEvents(tx.Query(ctx, `SELECT doc, state FROM antom_events WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			return fmt.Errorf("event %s: %w", id, outbox.ErrNotFound)
		}
		ev = evs[0]
		if ev.State == outbox.StatePending {
			return fmt.Errorf("event %s: %w", id, outbox.ErrAlreadyPending)
		}
		t := ev.PrepareReplay(time.Now())
		doc, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE antom_events SET state = 'pending', next_attempt = $2, state_at = NULL,
			lease_until = NULL, doc = $3 WHERE id = $1`, id, t, doc)
		return err
	})
	if err = s.health.observe(err); err != nil {
		return nil, err
	}
	return ev, nil
}

// ReplayDead replays every dead event and returns how many it replayed.
func (s *Store) ReplayDead(ctx context.Context) (int, error) {
	dead, err := s.List(ctx, outbox.StateDead, 0)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, ev := range dead {
		if _, err := s.Replay(ctx, ev.ID); err != nil {
			if errors.Is(err, outbox.ErrNotFound) || errors.Is(err, outbox.ErrAlreadyPending) {
				continue
			}
			return n, err
		}
		n++
	}
	return n, nil
}

// Prune deletes delivered and dead events, done payments and activities older than retention,
// pruneBatch rows per statement. It returns how many events and payments it deleted.
func (s *Store) Prune(ctx context.Context, at time.Time, retention time.Duration) (int, error) {
	if retention <= 0 {
		retention = outbox.DefaultRetention
	}
	cutoff := at.Add(-retention)
	total := 0
	for _, q := range []string{
		`DELETE FROM antom_events WHERE id IN (SELECT id FROM antom_events
			WHERE state IN ('delivered', 'dead') AND state_at < $1 LIMIT $2)`,
		`DELETE FROM antom_payments WHERE id IN (SELECT id FROM antom_payments
			WHERE state = 'done' AND created_at < $1 LIMIT $2)`,
	} {
		n, err := s.pruneRows(ctx, q, cutoff)
		total += n
		if err != nil {
			return total, err
		}
	}
	_, err := s.pruneRows(ctx, `DELETE FROM antom_activity WHERE id IN (SELECT id FROM antom_activity WHERE at < $1 LIMIT $2)`, cutoff)
	return total, err
}

// pruneRows runs the deletion q (of up to $2 rows older than $1) until it deletes fewer than
// pruneBatch rows.
func (s *Store) pruneRows(ctx context.Context, q string, cutoff time.Time) (int, error) {
	total := 0
	for {
		n, err := s.exec(ctx, q, cutoff, pruneBatch)
		total += n
		if err != nil || n < pruneBatch {
			return total, err
		}
	}
}

// exec runs one statement in its own bounded operation and returns the rows it touched.
func (s *Store) exec(ctx context.Context, sql string, args ...any) (int, error) {
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return 0, err
	}
	defer cancel()
	tag, err := s.pool.Exec(ctx, sql, args...)
	return int(tag.RowsAffected()), s.health.observe(err)
}

func (s *Store) queryEvents(ctx context.Context, sql string, args ...any) ([]*outbox.Event, error) {
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	evs, err := scanEvents(s.pool.Query(ctx, sql, args...))
	return evs, s.health.observe(err)
}

func scanEvents(rows pgx.Rows, err error) ([]*outbox.Event, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*outbox.Event, error) {
		var doc []byte
		var state string
		if err := row.Scan(&doc, &state); err != nil {
			return nil, err
		}
		var ev outbox.Event
		if err := json.Unmarshal(doc, &ev); err != nil {
			return nil, fmt.Errorf("decoding an event row: %w", err)
		}
		ev.State = outbox.State(state) // the column is the truth
		return &ev, nil
	})
}

// retry runs an idempotent update until it succeeds, the database answers with an error, or
// ctx ends: an outcome worth recording (a delivery) survives a database restart of a few
// seconds instead of being delivered again.
func (s *Store) retry(ctx context.Context, fn func(ctx context.Context) error) error {
	wait := 100 * time.Millisecond
	for {
		octx, cancel, err := s.op(ctx)
		if err == nil {
			err = s.health.observe(fn(octx))
			cancel()
		}
		if err == nil || !unreachable(err) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

func (s *Store) grace() time.Duration {
	if s.Grace > 0 {
		return s.Grace
	}
	return outbox.DefaultGrace
}

// hold remembers a claim so that its lease is renewed until release.
func (s *Store) hold(id string) {
	s.claimsMu.Lock()
	defer s.claimsMu.Unlock()
	s.claims[id] = time.Now()
	if !s.renewing {
		s.renewing = true
		go s.renew()
	}
}

func (s *Store) release(id string) {
	s.claimsMu.Lock()
	delete(s.claims, id)
	s.claimsMu.Unlock()
}

// renew extends the leases this Store holds every Lease/3, until Close.
func (s *Store) renew() {
	tick := time.NewTicker(Lease / 3)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		var ids []string
		s.claimsMu.Lock()
		for id, since := range s.claims {
			if time.Since(since) > maxHold {
				delete(s.claims, id)
			} else {
				ids = append(ids, id)
			}
		}
		s.claimsMu.Unlock()
		if len(ids) == 0 {
			continue
		}
		if _, err := s.exec(context.Background(), `UPDATE antom_events SET lease_until = $2
			WHERE id = ANY($1) AND state = 'pending' AND lease_until IS NOT NULL`, ids, time.Now().Add(Lease)); err != nil {
			s.log.Debug("renewing delivery leases", zap.Error(err))
		}
	}
}

// unreachable reports whether err means the database could not be asked (as opposed to an
// answer from it, or a caller that gave up, such as a client that hung up).
func unreachable(err error) bool {
	var pgErr *pgconn.PgError
	return err != nil && !errors.As(err, &pgErr) && !errors.Is(err, context.Canceled) &&
		!errors.Is(err, outbox.ErrNotFound) && !errors.Is(err, outbox.ErrAlreadyPending) &&
		!errors.Is(err, pgx.ErrNoRows)
}

var _ outbox.EventStore = (*Store)(nil)
