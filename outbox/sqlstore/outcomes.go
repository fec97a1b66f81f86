package sqlstore

import (
	"context"
	"database/sql"
	"hash/fnv"
	"time"

	"github.com/caddy-antom/caddy-antom/outbox"
)

// The console's hourly chart of deliveries and failed attempts (outbox.EventStore.HourlyOutcomes)
// reads counters, never events: antom_outcomes holds, per UTC hour and route, the deliveries and
// failed attempts, and each outcome write adds its own in its transaction (update). One route's
// hour is spread over outcomeShards rows, by event id, so that on PostgreSQL the outcome writes of
// one route (every connection of every instance) seldom wait for one row's lock until the other
// commits; the read sums them. The table holds at most hours of retention × routes ×
// outcomeShards rows, however many events pass.

// outcomeShards is how many rows one route's hour is spread over.
const outcomeShards = 8

// countOutcomeSQL adds an outcome to its hour, route and shard.
const countOutcomeSQL = `INSERT INTO antom_outcomes (hour, route, shard, delivered, failed) VALUES (?, ?, ?, ?, ?)
	ON CONFLICT (hour, route, shard) DO UPDATE SET delivered = antom_outcomes.delivered + excluded.delivered,
		failed = antom_outcomes.failed + excluded.failed`

// countOutcome counts the outcome that the write of upd records, the last step of its History
// (MarkDelivered, MarkDead and Reschedule each append one), in the hour of its time.
func (s *Store) countOutcome(ctx context.Context, tx *sql.Tx, upd *outbox.Event) error {
	if len(upd.History) == 0 {
		return nil
	}
	st := upd.History[len(upd.History)-1]
	var delivered, failed int
	switch st.What {
	case outbox.StepDelivered:
		delivered = 1
	case outbox.StepRetry, outbox.StepDead:
		failed = 1
	default:
		return nil
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(upd.ID))
	_, err := s.txExec(ctx, tx, s.q(countOutcomeSQL), s.d.t(hourOf(st.At)), upd.Route, int(h.Sum32()%outcomeShards), delivered, failed)
	return err
}

// hourOf is the start of t's UTC hour.
func hourOf(t time.Time) time.Time { return t.UTC().Truncate(time.Hour) }

// HourlyOutcomes returns the outcomes counted per route and hour from since's hour on, oldest
// first; see outbox.EventStore. It reads the counters of those hours on the primary key.
func (s *Store) HourlyOutcomes(ctx context.Context, since time.Time) (map[string][]outbox.HourOutcomes, error) {
	type routeHour struct {
		route string
		outbox.HourOutcomes
	}
	rows, err := readAll(ctx, s, func(rows *sql.Rows) (routeHour, bool, error) {
		var r routeHour
		var hour any
		err := rows.Scan(&r.route, &hour, &r.Delivered, &r.Failed)
		r.Hour = timeOf(hour).UTC()
		return r, err == nil, err
	}, `SELECT route, hour, sum(delivered), sum(failed) FROM antom_outcomes
		WHERE hour >= ? GROUP BY route, hour ORDER BY route, hour`, s.d.t(hourOf(since)))
	if err != nil {
		return nil, err
	}
	out := map[string][]outbox.HourOutcomes{}
	for _, r := range rows {
		out[r.route] = append(out[r.route], r.HourOutcomes)
	}
	return out, nil
}

// pruneOutcomes deletes the counters of the hours before cutoff's: a few rows per route and
// hour, so one statement.
func (s *Store) pruneOutcomes(ctx context.Context, cutoff time.Time) error {
	_, err := s.exec(ctx, `DELETE FROM antom_outcomes WHERE hour < ?`, s.d.t(hourOf(cutoff)))
	return err
}
