package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-antom/caddy-antom/outbox"
)

// insertEventSQL inserts an event (insertEvent gives the arguments).
const insertEventSQL = `INSERT INTO antom_events
	(id, profile, state, type, request_id, payment_id, route, order_key, received_at, next_attempt, state_at, lease_until, claim, doc)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, {later}, ?, ?) ON CONFLICT (id) DO NOTHING`

// insertEvent inserts ev, whose JSON is doc (nil: marshalled here), unless its id exists,
// claimed by claim for lease ("": unclaimed), and reports whether it did. A caller marshals
// doc before its write where it can: on SQLite the writer goroutine runs the write, one at a time.
func (s *Store) insertEvent(ctx context.Context, tx *sql.Tx, ev *outbox.Event, doc []byte, claim string, lease time.Duration) (bool, error) {
	if doc == nil {
		var err error
		if doc, err = json.Marshal(ev); err != nil {
			return false, err
		}
	}
	var c any
	var l int64
	if claim != "" {
		c, l = claim, lease.Microseconds()
	}
	q := insertEventSQL
	if claim == "" {
		q = replaceLater(q)
	}
	args := []any{ev.ID, ev.Profile, string(ev.State), ev.Type, ev.RequestID, ev.PaymentID(), ev.Route, ev.OrderKey,
		s.d.t(ev.ReceivedAt), s.d.t(ev.NextAttempt), s.d.t(ev.StateTime())}
	if claim != "" {
		args = append(args, l)
	}
	args = append(args, c, string(doc))
	res, err := s.txExec(ctx, tx, s.q(q), args...)
	if err != nil {
		return false, fmt.Errorf("storing event %s: %w", ev.ID, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// replaceLater makes insertEventSQL insert no lease.
func replaceLater(q string) string { return strings.Replace(q, "{later}", "NULL", 1) }

// Add inserts ev as pending unless its id exists; the answer comes after the commit.
func (s *Store) Add(ctx context.Context, ev *outbox.Event) (bool, error) {
	if err := ev.PrepareAdd(s.grace()); err != nil {
		return false, err
	}
	return s.Import(ctx, ev)
}

// AddDelivering adds ev and, if it was new, calls deliver. In the transaction that inserts it,
// the store decides whether its first attempt may go now: its route is not paused and no other
// event of its route and order key is pending. Then the event is stored claimed by this
// instance (ev.Claim) with NextAttempt after the grace, and deliver's outcome is written with
// that claim; otherwise it is stored due at once and unclaimed, so that Claim hands it out when
// its turn comes, and deliver is not called.
func (s *Store) AddDelivering(ctx context.Context, ev *outbox.Event, deliver func()) (bool, error) {
	if err := ev.PrepareAdd(s.grace()); err != nil {
		return false, err
	}
	claim := s.newClaim()
	doc, err := json.Marshal(ev)
	if err != nil {
		return false, err
	}
	var added, mayGo bool
	err = s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		mayGo, err = s.mayGo(ctx, tx, ev)
		if err != nil {
			return err
		}
		if mayGo {
			added, err = s.insertEvent(ctx, tx, ev, doc, claim, DefaultLease)
			return err
		}
		waiting := *ev
		waiting.NextAttempt = ev.ReceivedAt
		added, err = s.insertEvent(ctx, tx, &waiting, nil, "", 0)
		return err
	})
	if err != nil || !added {
		return false, err
	}
	if !mayGo {
		ev.NextAttempt = ev.ReceivedAt
		return true, nil
	}
	ev.Claim = claim
	s.hold(claim, ev.ID, DefaultLease)
	if deliver != nil {
		deliver()
	}
	return true, nil
}

// mayGo reports whether ev, about to be inserted, may be delivered at once.
func (s *Store) mayGo(ctx context.Context, tx *sql.Tx, ev *outbox.Event) (bool, error) {
	if ev.OrderKey != "" && s.d.orderLock() != "" {
		if _, err := s.txExec(ctx, tx, s.q(s.d.orderLock()), ev.Route+"\n"+ev.OrderKey); err != nil {
			return false, err
		}
	}
	var blocked bool
	err := s.txQueryRow(ctx, tx, s.q(`SELECT EXISTS (SELECT 1 FROM antom_paused_routes WHERE route_id = ?)
		OR (? <> '' AND `+waitingSQL+`)`),
		ev.Route, ev.OrderKey, ev.Route, ev.OrderKey, ev.ID).Scan(&blocked)
	return !blocked, err
}

// pendingRoutesSQL lists the routes that have pending events, one index probe per route (a loose
// scan of antom_events_state_route), however many events wait.
const pendingRoutesSQL = `WITH RECURSIVE r(route) AS (
	SELECT MIN(route) FROM antom_events WHERE state = 'pending'
	UNION ALL
	SELECT (SELECT MIN(route) FROM antom_events WHERE state = 'pending' AND route > r.route) FROM r WHERE r.route IS NOT NULL
) SELECT route FROM r WHERE route IS NOT NULL`

// orderFreeSQL holds for an event e no earlier-received pending event of its route and order
// key precedes (on the antom_events_order index).
const orderFreeSQL = `(e.order_key = '' OR NOT EXISTS (SELECT 1 FROM antom_events o
	WHERE o.state = 'pending' AND o.route = e.route AND o.order_key = e.order_key
	AND (o.received_at < e.received_at OR (o.received_at = e.received_at AND o.id < e.id))))`

// routeDueSQL selects, in due order, up to ? events of one route that a claim may take: due, no
// lease holds them, and no earlier pending event of their route and order key precedes them. It
// walks antom_events_route_due and stops at the limit, so a claim costs what it takes, not what
// waits.
const routeDueSQL = `SELECT e.id FROM antom_events e
	WHERE e.state = 'pending' AND e.route = ? AND e.next_attempt <= {now}
		AND (e.lease_until IS NULL OR e.lease_until <= {now}) AND ` + orderFreeSQL + `
	ORDER BY e.next_attempt, e.id LIMIT ?`

// claimSQL claims the first ? of the candidates ({ids}) in due order that a claim may still
// take now: everything routeDueSQL checked is checked again (the candidates were read outside
// this transaction), and their route is not paused. It locks the rows, skipping those another
// transaction holds, where the engine can.
const claimSQL = `UPDATE antom_events SET claim = ?, lease_until = {later}
WHERE id IN (
	SELECT e.id FROM antom_events e WHERE e.id IN ({ids}) AND e.state = 'pending' AND e.next_attempt <= {now}
		AND (e.lease_until IS NULL OR e.lease_until <= {now})
		AND NOT EXISTS (SELECT 1 FROM antom_paused_routes p WHERE p.route_id = e.route)
		AND ` + orderFreeSQL + `
	ORDER BY e.next_attempt, e.id LIMIT ?{lock}
) RETURNING id, doc, state`

// candidates returns, from the read pool, the ids of the events req admits, per route: paused
// routes are left out, each configured route gets at most its room in req.Free, each other
// route req.Others. Reading them costs the writer nothing; claimSQL checks them again.
func (s *Store) candidates(ctx context.Context, req outbox.ClaimRequest) ([]string, error) {
	ctx, cancel, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	routes, err := s.readStrings(ctx, s.q(pendingRoutesSQL))
	if err != nil {
		return nil, err
	}
	paused, err := s.readStrings(ctx, s.q(`SELECT route_id FROM antom_paused_routes`))
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, route := range routes {
		room, known := req.Free[route]
		if !known {
			room = req.Others
		}
		if room = min(room, req.Limit); room <= 0 || slices.Contains(paused, route) {
			continue
		}
		got, err := s.readStrings(ctx, s.q(routeDueSQL), route, room)
		if err != nil {
			return nil, err
		}
		ids = append(ids, got...)
	}
	return ids, nil
}

// readStrings returns the one text column q selects, read on the read pool.
func (s *Store) readStrings(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return scanEach(rows, scanString)
}

// Claim claims the due events req admits; see outbox.ClaimRequest. A record among them that
// cannot be decoded is set aside dead (outbox.ReasonUnreadable) in a statement of its own,
// logged and counted, and the others are returned. It finds the candidates on the read pool
// and writes only when there are some: a claim that finds nothing costs no write (on SQLite,
// no turn of the one writer that notifications' acks wait for), and one that finds some costs
// the writer one statement.
func (s *Store) Claim(ctx context.Context, req outbox.ClaimRequest) ([]*outbox.Event, error) {
	if req.Limit <= 0 || !s.health.probeDue() {
		return nil, nil // the database is down: the next probe comes with backoff
	}
	ids, err := s.candidates(ctx, req)
	if err = s.health.observe(err); err != nil {
		if s.d.unreachable(err) {
			return nil, nil // logged once by health
		}
		return nil, fmt.Errorf("looking for due events: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	lease := req.Lease
	if lease <= 0 {
		lease = DefaultLease
	}
	claim := s.newClaim()
	args := []any{claim, lease.Microseconds()}
	for _, id := range ids {
		args = append(args, id)
	}
	args = append(args, req.Limit)
	q := s.q(strings.Replace(claimSQL, "{ids}", strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", "), 1))
	var evs []*outbox.Event
	var bad []string
	err = s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		evs, bad = nil, nil
		rows, err := s.txQuery(ctx, tx, q, args...)
		if err != nil {
			return err
		}
		evs, err = scanEach(rows, func(rows *sql.Rows) (*outbox.Event, bool, error) {
			var id, state string
			var doc []byte
			if err := rows.Scan(&id, &doc, &state); err != nil {
				return nil, false, err
			}
			ev, err := decodeEvent(id, doc, state)
			if err != nil {
				bad = append(bad, id)
				return nil, false, nil
			}
			ev.Claim = claim
			return ev, true, nil
		})
		return err
	})
	if err != nil {
		if s.d.unreachable(err) {
			return nil, nil // logged once by health
		}
		return nil, fmt.Errorf("claiming due events: %w", err)
	}
	for _, id := range bad {
		s.setAside(ctx, id)
	}
	sort.Slice(evs, func(i, j int) bool {
		if !evs[i].NextAttempt.Equal(evs[j].NextAttempt) {
			return evs[i].NextAttempt.Before(evs[j].NextAttempt)
		}
		return evs[i].ID < evs[j].ID
	})
	for _, ev := range evs {
		s.hold(claim, ev.ID, lease)
	}
	return evs, nil
}

// setAside marks the unreadable record id dead, in its own statement.
func (s *Store) setAside(ctx context.Context, id string) {
	_, err := s.exec(ctx, `UPDATE antom_events SET state = 'dead', state_at = {now}, next_attempt = NULL,
		lease_until = NULL, claim = NULL, dead_reason = ? WHERE id = ?`, outbox.ReasonUnreadable, id)
	if err != nil {
		s.log.Error("an event record cannot be read, and setting it aside failed; it is claimed again when its lease ends",
			zap.String("id", id), zap.Error(err))
		return
	}
	if s.OnUnreadable != nil {
		s.OnUnreadable()
	}
	s.log.Error("an event record cannot be read; it is set aside as dead (unreadable_record) and the other events go on; "+
		"inspect it in the database, fix or delete it",
		zap.String("id", id))
}

// claimCond is the condition a write of ev adds: its claim still holds it, or (no claim) no
// live claim does.
func claimCond(ev *outbox.Event) (string, []any) {
	if ev.Claim != "" {
		return "claim = ?", []any{ev.Claim}
	}
	return "(claim IS NULL OR lease_until IS NULL OR lease_until <= {now})", nil
}

// update writes upd (a changed copy of ev) with the columns set says, and counts the outcome it
// records (countOutcome), if ev's claim still holds the event; then ev becomes upd and the claim
// ends, and when the write ended the event, ev.Followed says whether an event of its order waits.
// Zero rows: outbox.ErrClaimLost.
func (s *Store) update(ctx context.Context, ev, upd *outbox.Event, set string, args ...any) error {
	doc, err := json.Marshal(upd)
	if err != nil {
		return err
	}
	cond, cargs := claimCond(ev)
	args = append(args, string(doc), ev.ID)
	args = append(args, cargs...)
	var n int64
	var followed bool
	err = s.writeRetrying(ctx, func(ctx context.Context, tx *sql.Tx) error {
		followed = false
		res, err := s.txExec(ctx, tx, s.q(`UPDATE antom_events SET `+set+`, lease_until = NULL, claim = NULL, doc = ?
			WHERE id = ? AND state = 'pending' AND `+cond), args...)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil || n != 1 {
			return err
		}
		if err := s.countOutcome(ctx, tx, upd); err != nil {
			return err
		}
		if upd.State != outbox.StatePending && upd.OrderKey != "" {
			followed, err = s.waiting(ctx, tx, upd)
		}
		return err
	})
	if err != nil {
		// The claimant gives up on this attempt (it delivers again once claimed): renewing the
		// lease would keep the event from every claim, its own included, for maxHold.
		s.unhold(ev.Claim, ev.ID)
		return fmt.Errorf("recording the outcome of event %s: %w", ev.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("event %s: %w", ev.ID, outbox.ErrClaimLost)
	}
	s.unhold(ev.Claim, ev.ID)
	*ev = *upd
	ev.Claim = ""
	ev.Followed = followed
	return nil
}

// waitingSQL holds when an event of a route and order key other than the one with id is
// pending (arguments: route, order key, id), on the antom_events_order index.
const waitingSQL = `EXISTS (SELECT 1 FROM antom_events WHERE state = 'pending' AND route = ? AND order_key = ? AND id <> ?)`

// waiting reports whether an event of ev's route and order key other than ev is pending.
func (s *Store) waiting(ctx context.Context, tx *sql.Tx, ev *outbox.Event) (bool, error) {
	var found bool
	err := s.txQueryRow(ctx, tx, s.q(`SELECT `+waitingSQL), ev.Route, ev.OrderKey, ev.ID).Scan(&found)
	return found, err
}

func changed(ev *outbox.Event) *outbox.Event {
	upd := *ev
	upd.History = slices.Clone(ev.History)
	return &upd
}

// MarkDelivered records a delivery.
func (s *Store) MarkDelivered(ctx context.Context, ev *outbox.Event, at time.Time) error {
	upd := changed(ev)
	upd.MarkDelivered(at)
	upd.LastLatency = 0
	return s.update(ctx, ev, upd, "state = 'delivered', state_at = ?, next_attempt = NULL", s.d.t(at))
}

// MarkDead records that delivery was given up.
func (s *Store) MarkDead(ctx context.Context, ev *outbox.Event, at time.Time, reason string) error {
	upd := changed(ev)
	upd.MarkDead(at, reason)
	upd.LastLatency = 0
	return s.update(ctx, ev, upd, "state = 'dead', state_at = ?, next_attempt = NULL, dead_reason = ?", s.d.t(at), reason)
}

// Reschedule keeps ev pending with a new NextAttempt.
func (s *Store) Reschedule(ctx context.Context, ev *outbox.Event, next time.Time, lastErr string, status int) error {
	upd := changed(ev)
	upd.Reschedule(time.Now(), next, lastErr, status)
	upd.LastLatency = 0
	return s.update(ctx, ev, upd, "next_attempt = ?", s.d.t(next))
}

// Release ends this instance's claim on ev without changing the event.
func (s *Store) Release(ctx context.Context, ev *outbox.Event) error {
	if ev.Claim == "" {
		return nil
	}
	s.unhold(ev.Claim, ev.ID)
	_, err := s.exec(ctx, `UPDATE antom_events SET lease_until = NULL, claim = NULL WHERE id = ? AND claim = ?`, ev.ID, ev.Claim)
	if err == nil {
		ev.Claim = ""
	}
	return err
}

// Get returns the event with id.
func (s *Store) Get(ctx context.Context, id string) (*outbox.Event, error) {
	if !outbox.ValidEventID(id) {
		return nil, fmt.Errorf("%w: %q", outbox.ErrInvalidID, id)
	}
	ctx, cancel, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	var doc []byte
	var state string
	err = s.r.QueryRowContext(ctx, s.q(`SELECT doc, state FROM antom_events WHERE id = ?`), id).Scan(&doc, &state)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("event %s: %w", id, outbox.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	ev, err := decodeEvent(id, doc, state)
	if err != nil {
		return nil, errUnreadable(id, err)
	}
	return ev, nil
}

// List returns up to limit events in state, oldest ReceivedAt first (limit <= 0: all); one
// whose record cannot be decoded is listed Unreadable (scanEvent).
func (s *Store) List(ctx context.Context, state outbox.State, limit int) ([]*outbox.Event, error) {
	return readAll(ctx, s, scanEvent, `SELECT `+eventColumns+` FROM antom_events WHERE state = ? ORDER BY received_at, id LIMIT ?`,
		string(state), limitOrAll(limit))
}

// limitOrAll is a LIMIT argument: limit, or all rows.
func limitOrAll(limit int) int64 {
	if limit <= 0 {
		return 1<<63 - 1
	}
	return int64(limit)
}

// Counts returns the number of events per state.
func (s *Store) Counts(ctx context.Context) (map[outbox.State]int, error) {
	ctx, cancel, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	rows, err := s.r.QueryContext(ctx, `SELECT state, count(*) FROM antom_events GROUP BY state`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[outbox.State]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[outbox.State(st)] = n
	}
	return out, rows.Err()
}

// Backlogs counts the pending and dead events per route, and finds the oldest pending one's
// receipt time, on the (state, route, received_at) index.
func (s *Store) Backlogs(ctx context.Context) (map[string]outbox.Backlog, error) {
	ctx, cancel, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	rows, err := s.r.QueryContext(ctx, `SELECT route, state, count(*), min(received_at) FROM antom_events
		WHERE state IN ('pending', 'dead') GROUP BY route, state`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]outbox.Backlog{}
	for rows.Next() {
		var route, st string
		var n int
		var oldest any
		if err := rows.Scan(&route, &st, &n, &oldest); err != nil {
			return nil, err
		}
		b := out[route]
		if outbox.State(st) == outbox.StatePending {
			b.Pending, b.OldestPending = n, timeOf(oldest)
		} else {
			b.Dead = n
		}
		out[route] = b
	}
	return out, rows.Err()
}

// Replay moves a delivered or dead event back to pending, due now, in one transaction.
func (s *Store) Replay(ctx context.Context, id string) (*outbox.Event, error) {
	if !outbox.ValidEventID(id) {
		return nil, fmt.Errorf("%w: %q", outbox.ErrInvalidID, id)
	}
	var ev *outbox.Event
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var doc []byte
		var state string
		err := s.txQueryRow(ctx, tx, s.q(`SELECT doc, state FROM antom_events WHERE id = ?`), id).Scan(&doc, &state)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("event %s: %w", id, outbox.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if ev, err = decodeEvent(id, doc, state); err != nil {
			return errUnreadable(id, err)
		}
		if ev.State == outbox.StatePending {
			return fmt.Errorf("event %s: %w", id, outbox.ErrAlreadyPending)
		}
		t := ev.PrepareReplay(time.Now())
		if doc, err = json.Marshal(ev); err != nil {
			return err
		}
		_, err = s.txExec(ctx, tx, s.q(`UPDATE antom_events SET state = 'pending', next_attempt = ?, state_at = NULL,
			lease_until = NULL, claim = NULL, dead_reason = NULL, doc = ? WHERE id = ?`), s.d.t(t), string(doc), id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return ev, nil
}

// ReplayDead replays every dead event but the unreadable ones and returns how many it replayed,
// reading them a page at a time (outbox.Redrive), not every one at once.
func (s *Store) ReplayDead(ctx context.Context) (int, error) {
	n, _, err := outbox.Redrive(ctx, s, outbox.Filter{State: outbox.StateDead}, false, 0)
	return n, err
}

// Prune deletes delivered and dead events, done payments, activities and outcome counters older
// than retention, pruneBatch rows per transaction, then reclaims the space (SQLite). It returns
// how many events and payments it deleted.
func (s *Store) Prune(ctx context.Context, at time.Time, retention time.Duration) (int, error) {
	if retention <= 0 {
		retention = outbox.DefaultRetention
	}
	cutoff := s.d.t(at.Add(-retention))
	total := 0
	for _, q := range []string{
		`DELETE FROM antom_events WHERE id IN (SELECT id FROM antom_events
			WHERE state IN ('delivered', 'dead') AND state_at < ? LIMIT ?)`,
		`DELETE FROM antom_payments WHERE id IN (SELECT id FROM antom_payments
			WHERE state = 'done' AND created_at < ? LIMIT ?)`,
	} {
		for {
			n, err := s.exec(ctx, q, cutoff, pruneBatch)
			total += n
			if err != nil {
				return total, err
			}
			if n < pruneBatch {
				break
			}
		}
	}
	if err := s.pruneOutcomes(ctx, at.Add(-retention)); err != nil {
		return total, err
	}
	for {
		var n int
		err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) (err error) {
			n, err = s.d.pruneActivities(ctx, tx, at.Add(-retention))
			return err
		})
		if err != nil {
			return total, err
		}
		if n < pruneBatch {
			break
		}
	}
	if q := s.d.afterPrune(); q != "" {
		if _, err := s.exec(ctx, q); err != nil {
			return total, err
		}
	}
	return total, nil
}
