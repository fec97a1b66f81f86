package e2e

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-antom/caddy-antom/outbox"
)

// fileStoreApp is the app address the file store in testdata/filestore forwarded to: its
// events name the forward's route, which the forward's URL makes.
const fileStoreApp = "127.0.0.1:29413"

// testdata/filestore/antom is a file store (the antom/ folder of Caddy's data directory) that
// caddy-antom wrote before SQLite, with whConf's Caddyfile forwarding to fileStoreApp: payment
// COPYDONE's result delivered and then received again (a notification_duplicate activity in its
// timeline); the forward paused; then the payment result, capture and refund of payment COPY1
// acknowledged and pending. `caddy antom copy-store` copies it into the default SQLite database,
// and a second run copies nothing. caddy started on that database keeps the forward paused,
// and after resume delivers the three pending events once each, in order; COPYDONE received
// once more is a duplicate, and its timeline holds the copied activity and the new one.
func TestCopyStoreFromFileStore(t *testing.T) {
	t.Parallel()
	data := fileStoreData(t)
	copyStoreRuns(t, nil, []string{"--data-dir", filepath.Join(data, "caddy")},
		[]string{"pending events: 3 copied, 0 there already", "delivered events: 1 copied", "activities: 1 read", "paused forwards: 1"},
		[]string{"pending events: 0 copied, 3 there already", "delivered events: 0 copied, 1 there already"})

	app := newFakeAppAt(t, fileStoreApp)
	s := whStartWith(t, whConf{AppURL: app.URL}, caddyOpts{DataDir: data})
	s.app = app
	forward := app.URL + s.conf.ForwardPath
	if !forwardPaused(t, s, forward) {
		t.Fatal("the forward paused in the file store is not paused after the copy")
	}
	bodies := whPaymentLife("COPY1")
	want := map[string][]byte{}
	ids := make([]string, len(bodies))
	for i, b := range bodies {
		ids[i] = whEventID(t, b)
		want[ids[i]] = b
		whWaitState(t, s.p, ids[i], "pending")
	}
	if status, resp := s.p.AdminDo(http.MethodPost, "/antom/forwards/resume?forward="+url.QueryEscape(forward), "", nil); status != http.StatusOK {
		t.Fatalf("resume: HTTP %d %s", status, resp)
	}
	whRequireOrder(t, app, ids)

	done := whBody("COPYDONE")
	whWaitState(t, s.p, whEventID(t, done), "delivered")
	s.whNotify(done) // Antom's retry of a notification the file store had delivered
	countDuplicates := func() int {
		var tl outbox.Timeline
		s.p.AdminGetJSON("/antom/timeline?paymentRequestId=PAYREQ_COPYDONE", &tl)
		n := 0
		for _, e := range tl.Entries {
			if e.What == outbox.ActivityDuplicate {
				n++
			}
		}
		return n
	}
	waitFor(t, whWait, "the copied duplicate activity and the new one in COPYDONE's timeline", func() bool { return countDuplicates() == 2 })
	for _, id := range ids {
		whWaitState(t, s.p, id, "delivered")
	}
	whCheckDeliveries(t, app, want, true) // COPYDONE was not delivered again
}

// fileStoreData returns a new XDG_DATA_HOME whose Caddy data directory (caddy/) holds
// testdata/filestore: the antom/ folder of a file store.
func fileStoreData(t *testing.T) string {
	t.Helper()
	data := t.TempDir()
	if err := os.CopyFS(filepath.Join(data, "caddy"), os.DirFS(filepath.Join(repoRoot, "e2e", "testdata", "filestore"))); err != nil {
		t.Fatal(err)
	}
	return data
}

// copyStoreRuns runs `caddy antom copy-store args...` once per entry of runs, and fails the test
// unless each run prints every line of its entry. The records in testdata are from when the tree
// was written: --since reaches back to them.
func copyStoreRuns(t *testing.T, env map[string]string, args []string, runs ...[]string) {
	t.Helper()
	for run, want := range runs {
		out, err := runCaddy(t, env, append([]string{"antom", "copy-store", "--since", "87600h"}, args...)...)
		if err != nil {
			t.Fatalf("caddy antom copy-store %s (run %d): %v\n%s", strings.Join(args, " "), run+1, err, out)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Fatalf("copy-store run %d printed:\n%s\nwant %q in it", run+1, out, w)
			}
		}
	}
}
