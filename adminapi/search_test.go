package adminapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddy-antom/caddy-antom/internal/teststore"
	"github.com/caddy-antom/caddy-antom/outbox"
)

func adminDo(t *testing.T, method, path string) (int, string) {
	t.Helper()
	if method == http.MethodGet {
		return adminGet(t, path)
	}
	w := httptest.NewRecorder()
	if err := (adminAPI{}).serve(w, httptest.NewRequest(method, path, nil)); err != nil {
		return http.StatusBadRequest, err.Error()
	}
	return w.Code, w.Body.String()
}

// The admin API searches by the ids people have, pages with a cursor, dry-runs a redrive and
// tells a payment's story, all without bodies.
func TestAdminSearchRedriveTimeline(t *testing.T) {
	ctx := context.Background()
	app := &testApp{store: teststore.SQLite(t), profiles: []string{"default"}}
	runApp(t, app)

	t0 := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	if _, err := app.store.AddPayment(ctx, &outbox.Payment{Profile: "default", PaymentRequestID: "order-7", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	var order7 string
	for i, req := range []string{"order-7", "order-8", "order-9"} {
		ev := &outbox.Event{Profile: "default", Route: "rt_0123456789abcdef", Source: outbox.SourceNotification,
			Type: "PAYMENT_RESULT", RequestIDField: "paymentRequestId", RequestID: req, DedupKey: req,
			ReceivedAt: t0.Add(time.Duration(i+1) * time.Second),
			Body:       []byte(`{"paymentRequestId":"` + req + `","paymentId":"antom-` + req + `","card":"SECRET-BODY"}`)}
		if _, err := app.store.Add(ctx, ev); err != nil {
			t.Fatal(err)
		}
		if err := app.store.MarkDead(ctx, ev, t0.Add(time.Hour), "gave up"); err != nil {
			t.Fatal(err)
		}
		if req == "order-7" {
			order7 = ev.ID
		}
	}

	var page searchResult
	code, body := adminGet(t, "/antom/events/search?paymentRequestId=order-7")
	if code != 200 || json.Unmarshal([]byte(body), &page) != nil || len(page.Events) != 1 || page.Events[0].ID != order7 || page.Next != "" {
		t.Fatalf("search by order number: %d %s", code, body)
	}
	if _, body := adminGet(t, "/antom/events/search?paymentId=antom-order-7"); !strings.Contains(body, order7) {
		t.Fatalf("search by paymentId: %s", body)
	}
	// Pages of two, newest first, following the cursor.
	var seen []string
	uri := "/antom/events/search?state=dead&limit=2"
	for uri != "" {
		code, body := adminGet(t, uri)
		page = searchResult{}
		if code != 200 || json.Unmarshal([]byte(body), &page) != nil {
			t.Fatalf("%s: %d %s", uri, code, body)
		}
		for _, ev := range page.Events {
			seen = append(seen, ev.RequestID)
		}
		uri = ""
		if page.Next != "" {
			uri = "/antom/events/search?state=dead&limit=2&cursor=" + page.Next
		}
	}
	if strings.Join(seen, ",") != "order-9,order-8,order-7" {
		t.Fatalf("paged search = %v", seen)
	}

	code, body = adminDo(t, http.MethodPost, "/antom/events/redrive?state=dead&dryRun=true")
	var dry redriveResult
	if code != 200 || json.Unmarshal([]byte(body), &dry) != nil || !dry.DryRun || dry.Count != 3 || len(dry.Sample) != 3 {
		t.Fatalf("dry run: %d %s", code, body)
	}
	if ev, _ := app.store.Get(ctx, order7); ev.State != outbox.StateDead {
		t.Fatalf("the dry run replayed: %s", ev.State)
	}

	code, body = adminGet(t, "/antom/timeline?paymentRequestId=order-7")
	var tl outbox.Timeline
	if code != 200 || json.Unmarshal([]byte(body), &tl) != nil || len(tl.Entries) != 3 ||
		tl.Entries[0].What != outbox.EntryReconcile || tl.Entries[1].EventID != order7 || tl.Entries[2].What != outbox.StepDead ||
		tl.PaymentID != "antom-order-7" {
		t.Fatalf("timeline: %d %s", code, body)
	}

	for uri, want := range map[string]string{
		"/antom/events/search?state=lost":                    "state must be",
		"/antom/events/search?since=yesterday":               "RFC 3339",
		"/antom/events/search?cursor=nonsense":               "cursor",
		"/antom/events/search?requestId=a&refundRequestId=b": "one request id",
		"/antom/timeline":                                    "paymentRequestId",
	} {
		if code, body := adminGet(t, uri); code != http.StatusBadRequest || !strings.Contains(body, want) {
			t.Errorf("%s: %d %s, want 400 naming %q", uri, code, body, want)
		}
	}
	if code, body := adminDo(t, http.MethodPost, "/antom/events/redrive"); code != http.StatusBadRequest || !strings.Contains(body, "give a filter") {
		t.Errorf("redrive without a filter: %d %s", code, body)
	}
	for _, req := range [][2]string{
		{http.MethodGet, "/antom/events/search"},
		{http.MethodGet, "/antom/timeline?paymentRequestId=order-7"},
		{http.MethodPost, "/antom/events/redrive?state=dead&dryRun=true"},
	} {
		if _, body := adminDo(t, req[0], req[1]); strings.Contains(body, "SECRET-BODY") {
			t.Errorf("%s shows a body: %s", req[1], body)
		}
	}
}
