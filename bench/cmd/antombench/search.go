package main

// search.go: the operator's searches at a million retained events, through the binary: the
// admin API's search by order number and payment id, the dead list, and `caddy antom events`,
// on SQLite and on PostgreSQL, with caddy's RSS. Seeding a million events through the store
// takes 20 minutes, so the store stores one real event and SQL copies it a million times in one
// INSERT ... SELECT, each copy with its own id, order number, payment id and times, a tenth of
// them REFUND_RESULTs and a hundredth dead: the rows and indexes a million real events leave.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx": seeding PostgreSQL

	"github.com/caddy-antom/caddy-antom/outbox"
	"github.com/caddy-antom/caddy-antom/outbox/sqlstore"
)

// searchBase is the receipt time of the first seeded event; the i-th is i seconds later.
var searchBase = time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)

// searchRoute is the seeded events' forward.
const searchRoute = "rt_0123456789abcdef"

// searchRounds is how many searches of each kind are timed.
const searchRounds = 200

// searchResult is one engine's figures.
type searchResult struct {
	Engine    string             `json:"engine"`
	Events    int                `json:"events"`
	SeedSecs  float64            `json:"seed_s"`
	Searches  map[string]latency `json:"searches"` // by what was searched
	RSSStart  float64            `json:"rss_start_mib"`
	RSSEnd    float64            `json:"rss_end_mib"`
	RSSPeak   float64            `json:"rss_peak_mib"` // VmHWM
	Load      [2]float64         `json:"load"`         // 1-minute load average before and after
	DBSizeMiB float64            `json:"db_size_mib"`
	Plans     string             `json:"plans"` // EXPLAIN of the searches, after the runs
}

type latency struct {
	N       int     `json:"n"`
	FirstMs float64 `json:"first_ms"`
	P50Ms   float64 `json:"p50_ms"`
	P99Ms   float64 `json:"p99_ms"`
	MeanMs  float64 `json:"mean_ms"`
	Results int     `json:"results"` // events in the last answer
}

// runSearch seeds each engine with o.searchEvents events and times the searches on a caddy on it.
func runSearch(ctx context.Context, o *options) error {
	e, err := newKeys(o)
	if err != nil {
		return err
	}
	var results []searchResult
	for _, engine := range []string{"sqlite", "postgres"} {
		r, err := searchEngine(ctx, o, e, engine)
		if err != nil {
			return fmt.Errorf("search on %s: %w", engine, err)
		}
		results = append(results, r)
	}
	md := searchMarkdown(results)
	var plans strings.Builder
	for _, r := range results {
		fmt.Fprintf(&plans, "## %s, %d events\n\n%s\n", r.Engine, r.Events, r.Plans)
	}
	if err := os.WriteFile(filepath.Join(o.out, "search-plans.txt"), []byte(plans.String()), 0o644); err != nil {
		return err
	}
	fmt.Print(md)
	if err := os.WriteFile(filepath.Join(o.out, "search.md"), []byte(md), 0o644); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(results, "", "  ")
	return os.WriteFile(filepath.Join(o.out, "search.json"), b, 0o644)
}

func searchEngine(ctx context.Context, o *options, e *benchEnv, engine string) (searchResult, error) {
	res := searchResult{Engine: engine, Events: o.searchEvents, Searches: map[string]latency{}}
	var store, dsn, dbPath string
	var s *sqlstore.Store
	var err error
	switch engine {
	case "sqlite":
		dbPath = filepath.Join(o.work, "search-sqlite", "events.db")
		store = fmt.Sprintf("antom_store sqlite {\n\t\tpath %s\n\t}", dbPath)
		s, err = sqlstore.OpenSQLite(dbPath, nil)
	case "postgres":
		pg, closePG := startPostgres()
		defer closePG()
		dsn = pg.DSN()
		store = storeConfig(dsn)
		s, err = sqlstore.OpenPostgres(dsn, 4, nil)
	}
	if err != nil {
		return res, err
	}
	counts, err := s.Counts(ctx)
	if err != nil {
		s.Close()
		return res, err
	}
	if have := counts[outbox.StateDelivered] + counts[outbox.StateDead]; have > o.searchEvents {
		// A SQLite database seeded by an earlier run in the same -work folder.
		s.Close()
		logf("search: %s holds %d events already; not seeding", dbPath, have)
	} else {
		template, err := seedTemplate(ctx, s)
		s.Close()
		if err != nil {
			return res, err
		}
		start := time.Now()
		logf("search: seeding %d events on %s", o.searchEvents, engine)
		if err := seedCopies(ctx, engine, dbPath, dsn, template, o.searchEvents); err != nil {
			return res, fmt.Errorf("seeding: %w", err)
		}
		res.SeedSecs = time.Since(start).Seconds()
		logf("search: seeded in %.0fs", res.SeedSecs)
	}
	if dbPath != "" {
		for _, f := range []string{dbPath, dbPath + "-wal"} {
			if fi, err := os.Stat(f); err == nil {
				res.DBSizeMiB += float64(fi.Size()) / (1 << 20)
			}
		}
	}

	res.Load[0] = loadAvg()
	// The forward goes nowhere: the seeded events are settled, nothing is delivered.
	c, err := startCaddy(ctx, o.caddy, o.work, "search-"+engine, e.caddyEnv, "127.0.0.1:9", "127.0.0.1:9", store, "")
	if err != nil {
		return res, err
	}
	defer c.stop()
	res.RSSStart = rssMiB(c.pid())
	mid := o.searchEvents / 2
	pick := func() int { return mid + rand.IntN(o.searchEvents/4) - o.searchEvents/8 }
	admin := "http://" + c.ports.admin
	for _, q := range []struct {
		name string
		uri  func() string
		want int
	}{
		{"admin API, order number", func() string {
			return fmt.Sprintf("/antom/events/search?paymentRequestId=order-%d&limit=50", pick())
		}, 1},
		{"admin API, payment id", func() string { return fmt.Sprintf("/antom/events/search?paymentId=pay-%d&limit=50", pick()) }, 1},
		{"admin API, dead list (GET /antom/events?state=dead)", func() string { return "/antom/events?state=dead&limit=50" }, 50},
		{"admin API, dead search, newest 50", func() string { return "/antom/events/search?state=dead&limit=50" }, 50},
	} {
		l, err := timeAdmin(ctx, admin, q.uri, q.want)
		if err != nil {
			return res, fmt.Errorf("%s: %w", q.name, err)
		}
		res.Searches[q.name] = l
	}
	l, err := timeCLI(ctx, o.caddy, c.ports.admin, pick)
	if err != nil {
		return res, fmt.Errorf("caddy antom events: %w", err)
	}
	res.Searches["caddy antom events --request-id (whole command)"] = l
	res.RSSEnd = rssMiB(c.pid())
	res.RSSPeak = hwmMiB(c.pid())
	res.Load[1] = loadAvg()
	if res.Plans, err = explainSearches(ctx, engine, dbPath, dsn, mid); err != nil {
		return res, fmt.Errorf("explaining the searches: %w", err)
	}
	return res, nil
}

// searchSQL are the statements Store.Search runs for an order number, a payment id and the dead
// list's page (one row more than the page).
var searchSQL = []string{
	`SELECT id, state, doc, profile, route, type, request_id, received_at, state_at FROM antom_events
	WHERE request_id = ? AND request_id <> '' ORDER BY received_at DESC, id DESC LIMIT 51`,
	`SELECT id, state, doc, profile, route, type, request_id, received_at, state_at FROM antom_events
	WHERE payment_id = ? AND payment_id <> '' ORDER BY received_at DESC, id DESC LIMIT 51`,
	`SELECT id, state, doc, profile, route, type, request_id, received_at, state_at FROM antom_events
	WHERE state = ? ORDER BY received_at DESC, id DESC LIMIT 51`,
}

// explainSearches returns the plans of searchSQL for the mid-th event: on PostgreSQL EXPLAIN
// ANALYZE of the statements prepared, with the plan made for the value (custom), then with the
// generic plan the server may switch to for a prepared statement after five runs; on SQLite
// EXPLAIN QUERY PLAN.
func explainSearches(ctx context.Context, engine, dbPath, dsn string, mid int) (string, error) {
	args := []any{fmt.Sprint("order-", mid), fmt.Sprint("pay-", mid), "dead"}
	var b strings.Builder
	if engine == "sqlite" {
		db, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
		if err != nil {
			return "", err
		}
		defer db.Close()
		for i, q := range searchSQL {
			rows, err := db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, args[i])
			if err != nil {
				return "", err
			}
			fmt.Fprintf(&b, "%s\n", q)
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					rows.Close()
					return "", err
				}
				fmt.Fprintf(&b, "  %s\n", detail)
			}
			rows.Close()
		}
		return b.String(), nil
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return "", err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	for i, q := range searchSQL {
		q = strings.Replace(q, "?", "$1", 1)
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("PREPARE search%d(text) AS %s", i, q)); err != nil {
			return "", err
		}
	}
	for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
		if _, err := conn.ExecContext(ctx, "SET plan_cache_mode = "+mode); err != nil {
			return "", err
		}
		for i, q := range searchSQL {
			// The values are this program's own (order-N, pay-N, dead): quoting them is safe.
			rows, err := conn.QueryContext(ctx, fmt.Sprintf("EXPLAIN (ANALYZE, BUFFERS) EXECUTE search%d('%s')", i, args[i]))
			if err != nil {
				return "", err
			}
			fmt.Fprintf(&b, "plan_cache_mode %s: %s\n", mode, q)
			for rows.Next() {
				var line string
				if err := rows.Scan(&line); err != nil {
					rows.Close()
					return "", err
				}
				fmt.Fprintf(&b, "  %s\n", line)
			}
			rows.Close()
		}
	}
	return b.String(), nil
}

// seedTemplate stores one event as the webhook would and settles it: the document every copy
// starts from.
func seedTemplate(ctx context.Context, s *sqlstore.Store) (*outbox.Event, error) {
	body := []byte(`{"notifyType":"PAYMENT_RESULT","result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"},` +
		`"paymentRequestId":"order-template","paymentId":"pay-template","paymentAmount":{"currency":"USD","value":"1000"},` +
		`"paymentCreateTime":"2026-05-01T00:00:00+08:00","paymentTime":"2026-05-01T00:00:01+08:00"}`)
	ev := &outbox.Event{
		Profile: "default", Route: searchRoute, Source: outbox.SourceNotification,
		Kind: "notifyType", Type: "PAYMENT_RESULT", ResultStatus: "S",
		RequestIDField: "paymentRequestId", RequestID: "order-template", DedupKey: "template",
		OrderKey: "payment:pay-template", Body: body, ReceivedAt: searchBase.Add(-time.Hour),
	}
	if _, err := s.Add(ctx, ev); err != nil {
		return nil, err
	}
	if err := s.MarkDelivered(ctx, ev, ev.ReceivedAt.Add(50*time.Millisecond)); err != nil {
		return nil, err
	}
	return s.Get(ctx, ev.ID)
}

// seedSQL is the INSERT ... SELECT of each engine: the i-th copy of the template (?) gets the id
// msg_<i in hex>, order number order-<i>, payment id pay-<i>, receipt at searchBase + i s, and is
// delivered a second later; every 10th is a REFUND_RESULT, every 100th dead a minute later.
var seedSQL = map[string]string{
	"sqlite": `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2),
	s AS (SELECT i, printf('msg_%032x', i) AS id, ?3 + i * 1000000 AS at,
		CASE WHEN i % 100 = 0 THEN 'dead' ELSE 'delivered' END AS state,
		CASE WHEN i % 10 = 0 THEN 'REFUND_RESULT' ELSE t.type END AS type, t.doc AS doc
		FROM n, (SELECT type, doc FROM antom_events WHERE id = ?1) t)
	INSERT INTO antom_events (id, profile, state, type, request_id, payment_id, route, order_key, received_at,
		next_attempt, state_at, lease_until, claim, dead_reason, doc)
	SELECT id, 'default', state, type, 'order-' || i, 'pay-' || i, ?4, 'payment:pay-' || i, at, NULL,
		at + CASE state WHEN 'dead' THEN 60000000 ELSE 1000000 END, NULL, NULL,
		CASE state WHEN 'dead' THEN 'gave up' END,
		json_set(doc, '$.id', id, '$.requestId', 'order-' || i, '$.dedupKey', 'seed-' || i,
			'$.orderKey', 'payment:pay-' || i, '$.type', type, '$.state', state,
			'$.receivedAt', strftime('%Y-%m-%dT%H:%M:%SZ', at / 1000000, 'unixepoch'))
	FROM s`,
	"postgres": `WITH s AS (SELECT i, 'msg_' || lpad(to_hex(i), 32, '0') AS id,
		$3::timestamptz + i * interval '1 second' AS at,
		CASE WHEN i % 100 = 0 THEN 'dead' ELSE 'delivered' END AS state,
		CASE WHEN i % 10 = 0 THEN 'REFUND_RESULT' ELSE t.type END AS type, t.doc AS doc
		FROM generate_series(1, $2::int) i, (SELECT type, doc FROM antom_events WHERE id = $1) t)
	INSERT INTO antom_events (id, profile, state, type, request_id, payment_id, route, order_key, received_at,
		next_attempt, state_at, lease_until, claim, dead_reason, doc)
	SELECT id, 'default', state, type, 'order-' || i, 'pay-' || i, $4, 'payment:pay-' || i, at, NULL,
		at + CASE state WHEN 'dead' THEN interval '1 minute' ELSE interval '1 second' END, NULL, NULL,
		CASE state WHEN 'dead' THEN 'gave up' END,
		doc || jsonb_build_object('id', id, 'requestId', 'order-' || i, 'dedupKey', 'seed-' || i,
			'orderKey', 'payment:pay-' || i, 'type', type, 'state', state, 'receivedAt', at)
	FROM s`,
}

// seedCopies copies template n times (seedSQL), then lets PostgreSQL gather its statistics, as
// autovacuum does after a bulk of inserts (SQLite keeps none unless told).
func seedCopies(ctx context.Context, engine, dbPath, dsn string, template *outbox.Event, n int) error {
	var db *sql.DB
	var err error
	args := []any{template.ID, n, nil, searchRoute}
	if engine == "sqlite" {
		db, err = sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
		args[2] = searchBase.UnixMicro()
	} else {
		db, err = sql.Open("pgx", dsn)
		args[2] = searchBase
	}
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, seedSQL[engine], args...); err != nil {
		return err
	}
	if engine == "postgres" {
		_, err = db.ExecContext(ctx, `ANALYZE antom_events`)
		return err
	}
	_, err = db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

// timeAdmin GETs uri() searchRounds times, one at a time on one keep-alive connection.
func timeAdmin(ctx context.Context, admin string, uri func() string, want int) (latency, error) {
	client := &http.Client{Timeout: 30 * time.Second}
	var ms []float64
	var last int
	for range searchRounds {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, admin+uri(), nil)
		t := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return latency{}, err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		ms = append(ms, float64(time.Since(t).Microseconds())/1000)
		if err != nil || resp.StatusCode != http.StatusOK {
			return latency{}, fmt.Errorf("%s: HTTP %d %.300s", req.URL.Path, resp.StatusCode, b)
		}
		var page struct {
			Events []json.RawMessage `json:"events"`
		}
		var list []json.RawMessage
		if json.Unmarshal(b, &page) == nil && page.Events != nil {
			last = len(page.Events)
		} else if json.Unmarshal(b, &list) == nil {
			last = len(list)
		}
		if last != want {
			return latency{}, fmt.Errorf("%s answered %d events, want %d", req.URL, last, want)
		}
	}
	return summarize(ms, last), nil
}

// timeCLI runs `caddy antom events --request-id order-N` 20 times: what an operator waits for.
func timeCLI(ctx context.Context, bin, admin string, pick func() int) (latency, error) {
	var ms []float64
	for range 20 {
		id := fmt.Sprintf("order-%d", pick())
		t := time.Now()
		out, err := exec.CommandContext(ctx, bin, "antom", "events", "--request-id", id, "--admin", admin).CombinedOutput()
		ms = append(ms, float64(time.Since(t).Microseconds())/1000)
		if err != nil || !strings.Contains(string(out), id) {
			return latency{}, fmt.Errorf("%v: %.300s", err, out)
		}
	}
	return summarize(ms, 1), nil
}

func summarize(ms []float64, results int) latency {
	l := latency{N: len(ms), FirstMs: ms[0], Results: results}
	sum := 0.0
	for _, v := range ms {
		sum += v
	}
	l.MeanMs = sum / float64(len(ms))
	s := slices.Clone(ms)
	slices.Sort(s)
	l.P50Ms = s[len(s)/2]
	l.P99Ms = s[min(len(s)-1, len(s)*99/100)]
	return l
}

// hwmMiB is the peak resident set size of pid in MiB (VmHWM; 0 if unknown).
func hwmMiB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb float64
			fmt.Sscanf(strings.TrimSpace(rest), "%f", &kb)
			return kb / 1024
		}
	}
	return 0
}

func searchMarkdown(rs []searchResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| engine | search | first | p50 | p99 | mean | runs |\n|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		names := make([]string, 0, len(r.Searches))
		for n := range r.Searches {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			l := r.Searches[n]
			fmt.Fprintf(&b, "| %s | %s | %.2f ms | %.2f ms | %.2f ms | %.2f ms | %d |\n", r.Engine, n, l.FirstMs, l.P50Ms, l.P99Ms, l.MeanMs, l.N)
		}
	}
	fmt.Fprintf(&b, "\n| engine | events | seeded in | database | caddy RSS at start / after / peak | load before / after |\n|---|---|---|---|---|---|\n")
	for _, r := range rs {
		db := "–"
		if r.DBSizeMiB > 0 {
			db = fmt.Sprintf("%.0f MiB", r.DBSizeMiB)
		}
		fmt.Fprintf(&b, "| %s | %d | %.0f s | %s | %.0f / %.0f / %.0f MiB | %.1f / %.1f |\n",
			r.Engine, r.Events, r.SeedSecs, db, r.RSSStart, r.RSSEnd, r.RSSPeak, r.Load[0], r.Load[1])
	}
	return b.String()
}
