package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/caddy-antom/caddy-antom/outbox"
)

// execFunc runs a statement in the current write transaction (Store.txExec: prepared where
// writes are group-committed).
type execFunc func(q string, args ...any) (sql.Result, error)

// dialect is what differs between the engines; sqlite.go and postgres.go implement it. Shared
// statements are written with ? placeholders and the pieces below in braces (Store.q).
type dialect interface {
	name() string
	// rebind turns the ? placeholders into the engine's.
	rebind(q string) string
	// now is the database's clock as a stored time; later is now plus ? microseconds.
	now() string
	later() string
	// lock ends the subquery that selects the rows a claim takes: row locks skipping those
	// locked by another transaction, where the engine has them.
	lock() string
	// orderLock serializes the inserts of one route and order key until the end of the
	// transaction ("" where writes are serialized anyway), so that two instances adding events
	// of one payment at once both see the one added first.
	orderLock() string
	// t is a time as a statement argument (zero: NULL).
	t(time.Time) any
	// jsonText is the text of a top-level field of the doc column.
	jsonText(field string) string
	// migrate creates or migrates the schema.
	migrate(ctx context.Context, db *sql.DB) error
	// addActivity inserts a (once per id); activities selects the docs of those naming the
	// id activityArg(field, id) makes, oldest first; pruneActivities deletes up to pruneBatch activities
	// older than cutoff and returns how many.
	addActivity(exec execFunc, a *outbox.Activity, doc []byte) error
	activities() string
	activityArg(field, id string) any
	pruneActivities(ctx context.Context, tx *sql.Tx, cutoff time.Time) (int, error)
	// groupCommit reports whether writes go through the writer goroutine, several to a
	// transaction (SQLite: one writer anyway, and one fsync per commit), or each in its own
	// transaction on the pool (PostgreSQL: instances writing batches at once would lock rows
	// and order keys in different orders and deadlock; the server groups concurrent commits
	// itself, commit_delay).
	groupCommit() bool
	// unreachable reports whether err means the database could not be asked (as opposed to an
	// answer from it).
	unreachable(err error) bool
	// afterPrune reclaims the space pruning freed ("" for nothing to do).
	afterPrune() string
}
