// Package sqlstore is the event store (outbox.EventStore) on a SQL database: SQLite, embedded in
// the process (OpenSQLite, the default store), or PostgreSQL, shared by several instances
// (OpenPostgres). Both run one queue design; the SQL that differs between them is in one file
// per engine (sqlite.go, postgres.go), everything else is shared.
//
// Events, payments under reconciliation, activities, paused routes and deduplication identities
// (the events' primary keys: an insert that finds its id is a duplicate) are rows. Claims are
// leases on the database's clock, held by a claim token that every write of a claimed event
// checks. On SQLite, writes go through one writer goroutine that gathers the writes waiting
// (group commit): they share one transaction and one durable commit (one fsync), and each caller
// is answered only after the commit holding its write. On PostgreSQL each write is a transaction
// of its own (see dialect.groupCommit).
package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-antom/caddy-antom/outbox"
)

// Defaults.
const (
	// DefaultOpTimeout bounds one operation whose context has no earlier deadline (and one group
	// commit); with the database unreachable a notification gets its 503 within it.
	DefaultOpTimeout = 5 * time.Second
	// DefaultLease is how long a claim holds unless renewed; the claimant renews it every
	// third of it while the outcome is not recorded, so a dead instance's events are free
	// again within it.
	DefaultLease = 15 * time.Second
	// paymentLease is the claim on a due payment: one reconciliation step fits in it.
	paymentLease = time.Minute
	// paymentBatch is how many payments DuePayments claims when not told.
	paymentBatch = 8
	// maxHold ends the renewal of a claim whose outcome is never recorded.
	maxHold = 10 * time.Minute
	// pruneBatch is how many rows one pruning statement deletes.
	pruneBatch = 500
	// maxBatch bounds the writes one group commit carries.
	maxBatch = 256
)

// Store is an outbox.EventStore on SQLite or PostgreSQL. Open it with OpenSQLite or
// OpenPostgres; Close stops its writer and closes its connections.
type Store struct {
	d   dialect
	w   *sql.DB // writes: the writer goroutine's transactions
	r   *sql.DB // reads
	log *zap.Logger

	// Grace: see outbox.DefaultGrace (zero: the default).
	Grace time.Duration
	// OnUnreadable, if set, is called once for each record set aside as unreadable.
	OnUnreadable func()

	instance string        // this Store's claim prefix
	seq      atomic.Uint64 // claim counter
	jobs     chan *job
	batch    int               // the writes one commit carries at most (maxBatch)
	pieces   *strings.Replacer // the dialect's pieces of shared statements (q)
	// stmts are the statements prepared on w, and unprepared those a transaction used before
	// they were; with group commit only, and the writer goroutine's alone (see prepared).
	stmts      map[string]*sql.Stmt
	unprepared map[string]bool
	stop       chan struct{}
	done       chan struct{}
	closed     sync.Once

	schemaMu    sync.Mutex
	schemaReady atomic.Bool

	claimsMu sync.Mutex
	claims   map[string]held // claim token + "/" + event id -> the claim to renew
	renewing bool

	health health
}

// held is a claim this Store renews.
type held struct {
	claim, id string
	lease     time.Duration
	since     time.Time
}

func newStore(d dialect, w, r *sql.DB, log *zap.Logger) *Store {
	if log == nil {
		log = zap.NewNop()
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	s := &Store{
		d: d, w: w, r: r, log: log,
		instance: hex.EncodeToString(b[:]),
		jobs:     make(chan *job, maxBatch),
		batch:    maxBatch,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		claims:   map[string]held{},
		health:   health{log: log, unreachable: d.unreachable},

		pieces:     strings.NewReplacer("{now}", d.now(), "{later}", d.later(), "{lock}", d.lock()),
		stmts:      map[string]*sql.Stmt{},
		unprepared: map[string]bool{},
	}
	go s.writer()
	return s
}

// Close stops the writer (the writes waiting are answered first) and closes the connections.
func (s *Store) Close() {
	s.closed.Do(func() {
		close(s.stop)
		<-s.done
		_ = s.w.Close()
		if s.r != s.w {
			_ = s.r.Close()
		}
	})
}

// errClosed is returned by writes after Close.
var errClosed = errors.New("the event store is closed")

// job is one write: fn runs inside the group's transaction (see commit: its failure does not
// undo the others'; it may run twice, so it sets its results anew each time); err gets its
// outcome once the group committed.
type job struct {
	fn  func(ctx context.Context, tx *sql.Tx) error
	err chan error
}

// write runs fn in the next group commit and returns once that commit is durable (or failed).
func (s *Store) write(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil { // not started: the select below could still pick the queue
		return err
	}
	if err := s.ensureSchema(ctx); err != nil {
		return err
	}
	if !s.d.groupCommit() {
		return s.health.observe(s.alone(ctx, fn))
	}
	j := &job{fn: fn, err: make(chan error, 1)}
	select {
	case s.jobs <- j:
	case <-s.stop:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// The write is under way: its outcome is waited for even if ctx ends, so that the caller
	// never reports as failed what was committed (a bounded wait: the commit has its timeout).
	return s.health.observe(<-j.err)
}

// writeRetrying is write for an outcome worth keeping (a delivery): while the database is
// unreachable it tries again, with backoff, until ctx ends, so that a restart of a few seconds
// does not have the event delivered again.
func (s *Store) writeRetrying(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	wait := 100 * time.Millisecond
	for {
		err := s.write(ctx, fn)
		if err == nil || !s.d.unreachable(err) || ctx.Err() != nil {
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

// alone runs fn in a transaction of its own.
func (s *Store) alone(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	select {
	case <-s.stop:
		return errClosed
	default:
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultOpTimeout)
	defer cancel()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(ctx, tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// writer gathers the writes waiting into one transaction, commits it, and answers each.
func (s *Store) writer() {
	defer close(s.done)
	for {
		var first *job
		select {
		case first = <-s.jobs:
		case <-s.stop:
			for {
				select {
				case j := <-s.jobs:
					s.commit([]*job{j})
				default:
					return
				}
			}
		}
		batch := []*job{first}
	gather:
		for len(batch) < s.batch {
			select {
			case j := <-s.jobs:
				batch = append(batch, j)
			default:
				break gather
			}
		}
		s.commit(batch)
	}
}

// commit runs batch in one transaction and answers each job. The jobs run one after another
// without savepoints (a savepoint makes SQLite copy each page it changes first, a large part
// of the writer's time); if one fails, the transaction is rolled back and the batch runs again
// with a savepoint around each job (runSeparately), so that a failing job is answered with its
// error and the others commit. Jobs are closures that can run twice: each sets its results
// anew. A failed commit fails every job.
func (s *Store) commit(batch []*job) {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultOpTimeout)
	defer cancel()
	errs, err := s.runTogether(ctx, batch)
	if err == errJobFailed {
		errs, err = s.runSeparately(ctx, batch)
	}
	s.prepareUsed(ctx)
	for i, j := range batch {
		if err != nil {
			j.err <- fmt.Errorf("committing to the event store: %w", err)
		} else {
			j.err <- errs[i]
		}
	}
}

// errJobFailed says that a job of a batch run together failed: the batch is run again separately.
var errJobFailed = errors.New("a job of the batch failed")

// runTogether runs batch in one transaction, no savepoints, and commits it if every job succeeded
// (errJobFailed, rolled back, otherwise).
func (s *Store) runTogether(ctx context.Context, batch []*job) ([]error, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	for _, j := range batch {
		if err := j.fn(ctx, tx); err != nil {
			_ = tx.Rollback()
			if len(batch) == 1 {
				return []error{err}, nil
			}
			return nil, errJobFailed
		}
	}
	if err := tx.Commit(); err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	return make([]error, len(batch)), nil
}

// runSeparately runs batch in one transaction, each job in a savepoint of its own so that its
// failure does not undo the others', and commits it.
func (s *Store) runSeparately(ctx context.Context, batch []*job) ([]error, error) {
	errs := make([]error, len(batch))
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	for i, j := range batch {
		errs[i] = s.runJob(ctx, tx, j)
	}
	if err := tx.Commit(); err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	return errs, nil
}

func (s *Store) runJob(ctx context.Context, tx *sql.Tx, j *job) error {
	if _, err := s.txExec(ctx, tx, "SAVEPOINT w"); err != nil {
		return err
	}
	if err := j.fn(ctx, tx); err != nil {
		_, _ = s.txExec(ctx, tx, "ROLLBACK TO SAVEPOINT w")
		_, _ = s.txExec(ctx, tx, "RELEASE SAVEPOINT w")
		return err
	}
	_, err := s.txExec(ctx, tx, "RELEASE SAVEPOINT w")
	return err
}

// prepared returns q prepared on the writer's one connection (nil: not yet). With group commit
// every write transaction is on that connection, and SQLite would otherwise parse each statement
// anew on every use, a large part of the writer's time. The connection is busy with the
// transaction meanwhile, so a statement is prepared after the commit that first used it.
func (s *Store) prepared(q string) *sql.Stmt {
	st := s.stmts[q]
	if st == nil {
		s.unprepared[q] = true
	}
	return st
}

// prepareUsed prepares the statements the last transaction used unprepared; a failure only
// leaves a statement unprepared.
func (s *Store) prepareUsed(ctx context.Context) {
	for q := range s.unprepared {
		if st, err := s.w.PrepareContext(ctx, q); err == nil {
			s.stmts[q] = st
		}
		delete(s.unprepared, q)
	}
}

// txExec, txQuery and txQueryRow run q in tx, prepared where writes are group-committed
// (elsewhere the driver keeps its own statement cache: pgx).
func (s *Store) txExec(ctx context.Context, tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	if !s.d.groupCommit() {
		return tx.ExecContext(ctx, q, args...)
	}
	if st := s.prepared(q); st != nil {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, q, args...)
}

func (s *Store) txQuery(ctx context.Context, tx *sql.Tx, q string, args ...any) (*sql.Rows, error) {
	if !s.d.groupCommit() {
		return tx.QueryContext(ctx, q, args...)
	}
	if st := s.prepared(q); st != nil {
		return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return tx.QueryContext(ctx, q, args...)
}

func (s *Store) txQueryRow(ctx context.Context, tx *sql.Tx, q string, args ...any) *sql.Row {
	if !s.d.groupCommit() {
		return tx.QueryRowContext(ctx, q, args...)
	}
	if st := s.prepared(q); st != nil {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, q, args...)
}

// exec runs one statement as a write and returns the rows it changed.
func (s *Store) exec(ctx context.Context, q string, args ...any) (int, error) {
	var n int64
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := s.txExec(ctx, tx, s.q(q), args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// read bounds ctx by the operation timeout and makes sure the schema exists.
func (s *Store) read(ctx context.Context) (context.Context, context.CancelFunc, error) {
	ctx, cancel := context.WithTimeout(ctx, DefaultOpTimeout)
	if err := s.ensureSchema(ctx); err != nil {
		cancel()
		return nil, nil, err
	}
	return ctx, cancel, nil
}

// ensureSchema creates or migrates the schema once per Store.
func (s *Store) ensureSchema(ctx context.Context) error {
	if s.schemaReady.Load() {
		return nil
	}
	s.schemaMu.Lock()
	defer s.schemaMu.Unlock()
	if s.schemaReady.Load() {
		return nil
	}
	if err := s.health.observe(s.d.migrate(ctx, s.w)); err != nil {
		return fmt.Errorf("creating or migrating the %s schema of the event store: %w", s.d.name(), err)
	}
	s.schemaReady.Store(true)
	return nil
}

// q expands the dialect's pieces in a shared statement ({now}, {later}, {lock}) and
// its placeholders.
func (s *Store) q(q string) string {
	return s.d.rebind(s.pieces.Replace(q))
}

// newClaim returns a new claim token of this instance.
func (s *Store) newClaim() string {
	return s.instance + "." + strconv.FormatUint(s.seq.Add(1), 36)
}

func (s *Store) grace() time.Duration {
	if s.Grace > 0 {
		return s.Grace
	}
	return outbox.DefaultGrace
}

// hold renews claim's lease on the event id until unhold (or maxHold).
func (s *Store) hold(claim, id string, lease time.Duration) {
	s.claimsMu.Lock()
	defer s.claimsMu.Unlock()
	s.claims[claim+"/"+id] = held{claim: claim, id: id, lease: lease, since: time.Now()}
	if !s.renewing {
		s.renewing = true
		go s.renew()
	}
}

func (s *Store) unhold(claim, id string) {
	if claim == "" {
		return
	}
	s.claimsMu.Lock()
	delete(s.claims, claim+"/"+id)
	s.claimsMu.Unlock()
}

// renew extends the leases this Store holds, every third of the shortest, until Close.
func (s *Store) renew() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last := map[string]time.Time{}
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		type claim struct {
			key string
			held
		}
		var due []claim
		s.claimsMu.Lock()
		for token, h := range s.claims {
			if time.Since(h.since) > maxHold {
				delete(s.claims, token)
				continue
			}
			from := last[token]
			if from.IsZero() {
				from = h.since
			}
			if time.Since(from) >= h.lease/3 {
				due = append(due, claim{token, h})
			}
		}
		for token := range last {
			if _, ok := s.claims[token]; !ok {
				delete(last, token)
			}
		}
		s.claimsMu.Unlock()
		if len(due) == 0 {
			continue
		}
		err := s.write(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
			for _, c := range due {
				if _, err := s.txExec(ctx, tx, s.q(`UPDATE antom_events SET lease_until = {later}
					WHERE id = ? AND claim = ? AND state = 'pending'`), c.lease.Microseconds(), c.id, c.claim); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			s.log.Debug("renewing delivery leases", zap.Error(err))
			continue
		}
		for _, c := range due {
			last[c.key] = time.Now()
		}
	}
}

// timeOf converts a time read from a column (SQLite: microseconds; PostgreSQL: timestamptz).
func timeOf(v any) time.Time {
	switch t := v.(type) {
	case int64:
		return time.UnixMicro(t)
	case time.Time:
		return t
	}
	return time.Time{}
}

var _ outbox.EventStore = (*Store)(nil)
