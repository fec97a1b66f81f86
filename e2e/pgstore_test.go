package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/caddy-antom/caddy-antom/internal/pgtest"
)

// pgPassword is in the DSN the instances get; it must never appear in their logs.
const pgPassword = "e2e-db-secret-8c1f"

// pgCluster is n caddy instances, each with its own data directory, on one PostgreSQL database,
// in front of one fake app.
type pgCluster struct {
	server *pgtest.Server
	dsn    string
	app    *fakeApp
	nodes  []*whStack
}

func startPgCluster(t *testing.T, n int) *pgCluster {
	t.Helper()
	c := &pgCluster{server: pgtest.Start(t), app: newFakeApp(t)}
	// The server trusts loopback connections, so the password is only there to be kept secret.
	c.dsn = strings.Replace(c.server.DSN(), "postgres@", "postgres:"+pgPassword+"@", 1)
	for range n {
		c.addNode(t)
	}
	return c
}

// addNode starts one more instance on the cluster's database.
func (c *pgCluster) addNode(t *testing.T) *whStack {
	t.Helper()
	s := whStartWith(t, whConf{AppURL: c.app.URL, Global: `	antom_store postgres {
		dsn       {env.ANTOM_DATABASE_URL}
		max_conns 8
	}`}, caddyOpts{Name: fmt.Sprintf("caddy-%c", 'a'+len(c.nodes)), Env: map[string]string{"ANTOM_DATABASE_URL": c.dsn}})
	s.app = c.app
	c.nodes = append(c.nodes, s)
	return s
}

// leased counts the pending events some instance holds a claim on.
func (c *pgCluster) leased(t *testing.T) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM antom_events WHERE state = 'pending' AND lease_until > now()`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// notifyAll posts body to every instance, copies times each, all at once, and returns the
// statuses Antom saw.
func (c *pgCluster) notifyAll(t *testing.T, body []byte, copies int) []int {
	var mu sync.Mutex
	var statuses []int
	var wg sync.WaitGroup
	for _, s := range c.nodes {
		for range copies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				status, _, _ := postNotification(t, s.Notify, whClientID, body)
				mu.Lock()
				statuses = append(statuses, status)
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	return statuses
}

// Three instances on one database; every notification reaches all three several times at once:
// each is delivered exactly once, and every copy is acknowledged.
func TestPostgresStoreThreeInstancesDeliverOnce(t *testing.T) {
	t.Parallel()
	c := startPgCluster(t, 3)
	want := map[string][]byte{}
	var ids []string
	for i := range 20 {
		body := whBody(fmt.Sprintf("PGONCE%03d", i))
		id := whEventID(t, body)
		want[id], ids = body, append(ids, id)
		for _, status := range c.notifyAll(t, body, 3) {
			if status != http.StatusOK {
				t.Fatalf("a copy of notification %d got HTTP %d, want the ack", i, status)
			}
		}
	}
	whWaitDelivered(t, c.app, ids)
	for _, id := range ids {
		whWaitState(t, c.nodes[2].p, id, "delivered")
	}
	whCheckDeliveries(t, c.app, want, true)
	for _, s := range c.nodes {
		if strings.Contains(s.p.Logs(), "leadership") {
			t.Errorf("%s took a leadership lock; on PostgreSQL every instance delivers", s.p.opts.Name)
		}
	}
}

// An instance is killed while it holds claims on its events, its deliveries hanging on a slow
// app; the instances started meanwhile deliver all its events, the claimed ones once the leases
// end.
func TestPostgresStoreKilledInstanceEventsDeliveredByOthers(t *testing.T) {
	t.Parallel()
	c := startPgCluster(t, 1)
	victim := c.nodes[0]
	c.app.SetDelay(time.Minute) // the first attempts time out after sync_timeout, the retries hang
	want := map[string][]byte{}
	var ids []string
	for i := range 12 {
		body := whBody(fmt.Sprintf("PGKILL%03d", i))
		id := whEventID(t, body)
		want[id], ids = body, append(ids, id)
		victim.whNotify(body)
	}
	// The dispatcher claims only what it delivers now: the forward's max_in_flight (4) events.
	waitFor(t, whWait, "the only instance holding claims on max_in_flight events", func() bool { return c.leased(t) >= 4 })
	others := []*whStack{c.addNode(t), c.addNode(t)}
	victim.p.Kill()
	c.app.SetDelay(0)
	for _, id := range ids {
		whWaitState(t, others[0].p, id, "delivered")
	}
	whCheckDeliveries(t, c.app, want, false)
}

// PostgreSQL stops and restarts under load: while it is down notifications get 503 (Antom retries
// them), afterwards every notification is delivered exactly once.
func TestPostgresStoreRestartMidLoad(t *testing.T) {
	t.Parallel()
	c := startPgCluster(t, 3)
	want := map[string][]byte{}
	var ids []string
	// send posts body to instance i until it is acknowledged, as Antom's retries would.
	send := func(i int, body []byte) {
		t.Helper()
		deadline := time.Now().Add(whWait)
		for {
			status, h, resp := postNotification(t, c.nodes[i%len(c.nodes)].Notify, whClientID, body)
			if status == http.StatusOK {
				whRequireAck(t, "notification", status, h, resp)
				return
			}
			if status != http.StatusServiceUnavailable || time.Now().After(deadline) {
				t.Fatalf("HTTP %d %s, want the ack (or 503 for a while)", status, resp)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	for i := range 40 {
		body := whBody(fmt.Sprintf("PGDOWN%03d", i))
		id := whEventID(t, body)
		want[id], ids = body, append(ids, id)
		if i == 15 {
			c.server.Stop()
			for _, s := range c.nodes { // Antom's attempts while it is down
				status, _, resp := postNotification(t, s.Notify, whClientID, body)
				if status != http.StatusServiceUnavailable {
					t.Fatalf("with PostgreSQL down: HTTP %d %s, want 503", status, resp)
				}
			}
			c.server.Start()
		}
		send(i, body)
	}
	whWaitDelivered(t, c.app, ids)
	for _, id := range ids {
		whWaitState(t, c.nodes[1].p, id, "delivered")
	}
	whCheckDeliveries(t, c.app, want, true)
	for _, s := range c.nodes {
		if n := strings.Count(s.p.Logs(), "PostgreSQL is unreachable"); n > 1 {
			t.Errorf("%s logged the outage %d times, want at most once", s.p.opts.Name, n)
		}
		if strings.Contains(s.p.Logs(), pgPassword) {
			t.Errorf("%s logged the database password", s.p.opts.Name)
		}
	}
}
