package e2e

import (
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
	OK            bool     `json:"ok"`
	Error         string   `json:"error"`
	FailedAt      string   `json:"failedAt"`
	Timeline      string   `json:"timeline"`
	ForgeryStatus int      `json:"forgeryStatus"`
	ForgeryBody   string   `json:"forgeryBody"`
	Console       []string `json:"console"`
	browserLog
}

// An operator in a real browser, on the console behind basic_auth, finds a payment by its order
// number, opens its timeline, replays its dead event and sees it delivered; a form on another
// site that posts a replay to the console is refused.
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

	// The forger's page, on another site (localhost, not 127.0.0.1), with a replay form.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	forger := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><form method="post" action="%s/ops/"><input type="hidden" name="action" value="replay">`+
			`<input type="hidden" name="id" value="%s"><input type="hidden" name="csrf" value="%s"><button id="forge">win a prize</button></form>`,
			s.Base, id, strings.Repeat("0", 64))
	})}
	go func() { _ = forger.Serve(ln) }()
	t.Cleanup(func() { _ = forger.Close() })

	shots := screenshotDir(t)
	t.Logf("screenshots go to %s", shots)
	in, err := json.Marshal(map[string]any{
		"consoleUrl": s.Base + "/ops/", "user": user, "password": password, "order": "PAYREQ_CONSOLE01",
		"forgeryUrl": fmt.Sprintf("http://localhost:%d/", ln.Addr().(*net.TCPAddr).Port),
		"shotDir":    shots, "executablePath": chromium, "timeoutMs": 30000,
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
}
