package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
)

// The console's health page, on the default store (SQLite, created at start), counts a forward's
// failed attempts and deaths and its deliveries as the store recorded them on the events.
func TestConsoleHealthChart(t *testing.T) {
	caddyBinary(t)
	s := whStart(t, whConf{MaxAge: "3s", Site: "	handle /ops/* {\n		antom_console\n	}"})
	s.app.SetDefaultStatus(http.StatusInternalServerError)
	failing := whBody("HEALTH01")
	failingID := whEventID(t, failing)
	s.whNotify(failing)
	dead := whWaitState(t, s.p, failingID, "dead")
	s.app.SetDefaultStatus(http.StatusOK)
	delivered := whBody("HEALTH02")
	deliveredID := whEventID(t, delivered)
	s.whNotify(delivered)
	whWaitState(t, s.p, deliveredID, "delivered")

	// The failed attempts and the death the dead event's history holds.
	_, raw, _ := whGetEvent(t, s.p, failingID)
	var ev struct {
		History []struct {
			What string `json:"what"`
		} `json:"history"`
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, st := range ev.History {
		if st.What == "retry" || st.What == "dead" {
			failed++
		}
	}
	if failed < 2 {
		t.Fatalf("the dead event's history holds %d failed attempts, want its retries and its death: %s", failed, raw)
	}

	resp, err := http.Get(s.Base + "/ops/")
	if err != nil {
		t.Fatal(err)
	}
	page, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /ops/: %d, %v\n%s", resp.StatusCode, err, page)
	}
	// The forward's row: ... delivered (24 h), failed attempts (24 h), the chart.
	m := regexp.MustCompile(`(?s)<tr id="forward-` + regexp.QuoteMeta(dead.Route) + `">.*?<td>(\d+)</td><td>(\d+)</td>\s*<td><svg`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("no row of forward %s with its counts on the health page:\n%s", dead.Route, page)
	}
	if d, f := atoi(t, m[1]), atoi(t, m[2]); d != 1 || f != failed {
		t.Errorf("health page: %d delivered and %d failed attempts in 24 h, want 1 and %d", d, f, failed)
	}
}

func atoi(t *testing.T, b []byte) int {
	t.Helper()
	n, err := strconv.Atoi(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return n
}
