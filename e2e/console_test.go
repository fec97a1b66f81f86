package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// consoleResult is console.cjs's answer.
type consoleResult struct {
	OK            bool   `json:"ok"`
	Error         string `json:"error"`
	FailedAt      string `json:"failedAt"`
	Timeline      string `json:"timeline"`
	ForgeryStatus int    `json:"forgeryStatus"`
	ForgeryBody   string `json:"forgeryBody"`
	// PausedDeliveries is how many deliveries of the notification sent while its forward was
	// paused the app had got when the console showed it pending, just before the resume.
	PausedDeliveries int      `json:"pausedDeliveries"`
	ForgeryPause     int      `json:"forgeryPauseStatus"`
	Console          []string `json:"console"`
	browserLog
}

// An operator in a real browser, on the console behind basic_auth, finds a payment by its order
// number, opens its timeline, replays its dead event and sees it delivered; pauses the forward,
// sees a notification acknowledged and left pending, resumes and sees it delivered. Forms on
// another site that post a replay or a pause to the console are refused.
func TestBrowserConsole(t *testing.T) {
	caddyBinary(t)
	chromium := requireTool(t, "chromium")
	requireNodeModules(t)
	if _, err := os.Stat(filepath.Join(nodeDir(), "node_modules", "playwright-core")); err != nil {
		missing(t, "e2e: playwright-core is not in e2e/node/node_modules (run: cd e2e/node && npm ci)")
	}
	const user, password = "ops", "console e2e password"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	s := whStart(t, whConf{MaxAge: "3s", Site: fmt.Sprintf(`	handle /ops/* {
		basic_auth {
			%s %s
		}
		antom_console
	}`, user, hash)})
	s.app.SetDefaultStatus(http.StatusInternalServerError)
	body := whBody("CONSOLE01")
	id := whEventID(t, body)
	s.whNotify(body)
	whWaitState(t, s.p, id, "dead")
	s.app.SetDefaultStatus(http.StatusOK)

	var forwards []struct {
		Route  string `json:"route"`
		Paused bool   `json:"paused"`
	}
	s.p.AdminGetJSON("/antom/forwards", &forwards)
	if len(forwards) != 1 {
		t.Fatalf("GET /antom/forwards = %+v, want one forward", forwards)
	}

	// The forger's page, on another site (localhost, not 127.0.0.1), with a replay and a pause
	// form. The same server sends Antom's notification while the forward is paused (/notify)
	// and says how many deliveries of it the app has got (/deliveries).
	pausedBody := whBody("CONSOLEPAUSE")
	pausedID := whEventID(t, pausedBody)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><form method="post" action="%[1]s/ops/"><input type="hidden" name="action" value="replay">`+
			`<input type="hidden" name="id" value="%[2]s"><input type="hidden" name="csrf" value="%[3]s"><button id="forge">win a prize</button></form>`+
			`<form method="post" action="%[1]s/ops/"><input type="hidden" name="action" value="pause">`+
			`<input type="hidden" name="route" value="%[4]s"><input type="hidden" name="csrf" value="%[3]s"><button id="forge-pause">win another</button></form>`,
			s.Base, id, strings.Repeat("0", 64), forwards[0].Route)
	})
	mux.HandleFunc("POST /notify", func(w http.ResponseWriter, r *http.Request) {
		status, _, ack := postNotification(t, s.Notify, whClientID, pausedBody)
		if status != http.StatusOK || !bytes.Equal(ack, whAck(t)) {
			t.Errorf("the notification sent while paused got HTTP %d %q, want the ack", status, ack)
		}
		fmt.Fprintf(w, "%d", status)
	})
	mux.HandleFunc("/deliveries", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%d", len(whByID(s.app.Requests())[pausedID]))
	})
	forger := &http.Server{Handler: mux}
	go func() { _ = forger.Serve(ln) }()
	t.Cleanup(func() { _ = forger.Close() })

	shots := screenshotDir(t)
	t.Logf("screenshots go to %s", shots)
	in, err := json.Marshal(map[string]any{
		"consoleUrl": s.Base + "/ops/", "user": user, "password": password, "order": "PAYREQ_CONSOLE01",
		"forgeryUrl":  fmt.Sprintf("http://localhost:%d/", ln.Addr().(*net.TCPAddr).Port),
		"pausedOrder": "PAYREQ_CONSOLEPAUSE", "helperUrl": fmt.Sprintf("http://127.0.0.1:%d", ln.Addr().(*net.TCPAddr).Port),
		"shotDir": shots, "executablePath": chromium, "timeoutMs": 30000,
	})
	if err != nil {
		t.Fatal(err)
	}
	var res consoleResult
	stderr, runErr := runBrowserScript(t, "console.cjs", in, &res)
	if !res.OK || runErr != nil {
		t.Fatalf("console in the browser failed: %s (at %s), %v\nconsole: %q\nstderr: %s", res.Error, res.FailedAt, runErr, res.Console, stderr)
	}
	if !strings.Contains(res.Timeline, "notification") || !strings.Contains(res.Timeline, "dead") || !strings.Contains(res.Timeline, "500") {
		t.Errorf("the timeline did not show the notification, its failed attempts and its death: %s", res.Timeline)
	}
	if len(res.Screenshots) == 0 {
		t.Error("no screenshot was saved")
	}

	// Delivered by the replay, and the forged replay changed nothing.
	ev := whWaitState(t, s.p, id, "delivered")
	whWaitDelivered(t, s.app, []string{id})
	if res.ForgeryStatus != http.StatusForbidden {
		t.Errorf("the cross-site POST got HTTP %d %q, want 403", res.ForgeryStatus, res.ForgeryBody)
	}
	if after, _, _ := whGetEvent(t, s.p, id); after.State != "delivered" || !after.DeliveredAt.Equal(ev.DeliveredAt) {
		t.Errorf("the forged POST replayed the event: %+v", after)
	}

	// Nothing reached the app while the console said paused; after its resume, exactly once.
	if res.PausedDeliveries != 0 {
		t.Errorf("the app got %d deliveries while the forward was paused", res.PausedDeliveries)
	}
	whCheckDeliveries(t, s.app, map[string][]byte{id: body, pausedID: pausedBody}, true)
	if res.ForgeryPause != http.StatusForbidden {
		t.Errorf("the cross-site pause got HTTP %d, want 403", res.ForgeryPause)
	}
	s.p.AdminGetJSON("/antom/forwards", &forwards)
	if forwards[0].Paused {
		t.Error("the forged POST paused the forward")
	}
}
