package command

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-antom/caddy-antom/adminapi"
	"github.com/caddy-antom/caddy-antom/internal/teststore"
	"github.com/caddy-antom/caddy-antom/outbox"
)

// adminApp is the running antom app as the admin endpoints see it: an event store and the
// default profile.
type adminApp struct{ store outbox.EventStore }

func (a adminApp) Store() outbox.EventStore { return a.store }
func (adminApp) ProfileNames() []string     { return []string{"default"} }
func (adminApp) Kick()                      {}

// realAdmin serves the antom admin endpoints (the admin.api modules, as registered) over app as
// Caddy's admin server does, errors as {"error": "..."}, for the commands to talk to.
func realAdmin(t *testing.T, app adminapi.App) string {
	adminapi.SetRunning(func() adminapi.App { return app })
	t.Cleanup(func() { adminapi.SetRunning(func() adminapi.App { return nil }) })
	mux := http.NewServeMux()
	for _, id := range []string{"admin.api.antom", "admin.api.antom_forwards"} {
		mod, err := caddy.GetModule(id)
		if err != nil {
			t.Fatal(err)
		}
		for _, route := range mod.New().(caddy.AdminRouter).Routes() {
			mux.HandleFunc(route.Pattern, func(w http.ResponseWriter, r *http.Request) {
				if err := route.Handler.ServeHTTP(w, r); err != nil {
					status := http.StatusInternalServerError
					var apiErr caddy.APIError
					if errors.As(err, &apiErr) {
						status = apiErr.HTTPStatus
					}
					w.WriteHeader(status)
					_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
				}
			})
		}
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// The events, redrive and timeline commands against the admin API: a search by order number,
// paging with the printed cursor, a dry run that replays nothing, then the redrive, and the
// payment's timeline.
func TestSearchRedriveTimelineCommands(t *testing.T) {
	ctx := context.Background()
	store := teststore.SQLite(t)
	admin := realAdmin(t, adminApp{store})

	t0 := time.Now().Add(-time.Hour)
	ids := map[string]string{}
	for i, req := range []string{"ORDER-1", "ORDER-2", "ORDER-3"} {
		ev := &outbox.Event{Profile: "default", Route: "rt_0123456789abcdef", Source: outbox.SourceNotification,
			Type: "PAYMENT_RESULT", ResultStatus: "S", RequestIDField: "paymentRequestId", RequestID: req, DedupKey: req,
			ReceivedAt: t0.Add(time.Duration(i) * time.Minute), Body: []byte(`{"paymentId":"P-` + req + `"}`)}
		if _, err := store.Add(ctx, ev); err != nil {
			t.Fatal(err)
		}
		ev.LastStatus = 500
		if err := store.MarkDead(ctx, ev, t0.Add(30*time.Minute), "HTTP 500 from the app"); err != nil {
			t.Fatal(err)
		}
		ids[req] = ev.ID
	}

	out, _, err := runAntom(t, "events", "--request-id", "ORDER-2", "--admin", admin)
	if err != nil || !strings.Contains(out, ids["ORDER-2"]) || strings.Contains(out, ids["ORDER-1"]) ||
		!strings.Contains(out, "STATE") || !strings.Contains(out, "1 events matching the filter") {
		t.Fatalf("events --request-id: %v\n%s", err, out)
	}
	out, _, err = runAntom(t, "events", "--state", "dead", "--type", "PAYMENT_RESULT", "--limit", "2", "--admin", admin)
	_, cursor, found := strings.Cut(strings.TrimSpace(out), "next page: --cursor ")
	if err != nil || !found || !strings.Contains(out, ids["ORDER-3"]) || !strings.Contains(out, ids["ORDER-2"]) {
		t.Fatalf("first page: %v\n%s", err, out)
	}
	out, _, err = runAntom(t, "events", "--state", "dead", "--type", "PAYMENT_RESULT", "--limit", "2", "--cursor", cursor, "--admin", admin)
	if err != nil || !strings.Contains(out, ids["ORDER-1"]) || strings.Contains(out, ids["ORDER-2"]) || strings.Contains(out, "next page") {
		t.Fatalf("second page: %v\n%s", err, out)
	}
	if _, _, err := runAntom(t, "events", "--since", "today", "--admin", admin); err == nil || !strings.Contains(err.Error(), "RFC 3339") {
		t.Fatalf("a bad --since: %v", err)
	}

	out, _, err = runAntom(t, "redrive", "--state", "dead", "--payment-id", "P-ORDER-1", "--admin", admin)
	if err != nil || !strings.Contains(out, "dry run: 1 event(s) match") || !strings.Contains(out, ids["ORDER-1"]) {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	if ev, _ := store.Get(ctx, ids["ORDER-1"]); ev.State != outbox.StateDead {
		t.Fatalf("the dry run replayed the event")
	}
	out, _, err = runAntom(t, "redrive", "--state", "dead", "--payment-id", "P-ORDER-1", "--confirm", "--admin", admin)
	if err != nil || !strings.Contains(out, "replayed 1 event(s)") {
		t.Fatalf("redrive: %v\n%s", err, out)
	}
	for req, want := range map[string]outbox.State{"ORDER-1": outbox.StatePending, "ORDER-2": outbox.StateDead} {
		if ev, _ := store.Get(ctx, ids[req]); ev.State != want {
			t.Fatalf("%s after the redrive is %s, want %s", req, ev.State, want)
		}
	}
	if _, _, err := runAntom(t, "redrive", "--admin", admin); err == nil || !strings.Contains(err.Error(), "give a filter") {
		t.Fatalf("redrive without a filter: %v", err)
	}

	out, _, err = runAntom(t, "timeline", "--request-id", "ORDER-1", "--admin", admin)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err != nil || len(lines) != 5 || !strings.Contains(lines[0], "P-ORDER-1") ||
		!strings.Contains(lines[2], "notification") || !strings.Contains(lines[3], "dead") || !strings.Contains(lines[3], "500") ||
		!strings.Contains(lines[4], "replayed") {
		t.Fatalf("timeline: %v\n%s", err, out)
	}
}
