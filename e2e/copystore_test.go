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

// The retired file store is refused, from a Caddyfile when it is adapted and from a JSON config
// when it is loaded, with what to do instead: copy its events with copy-store and drop the line.
func TestCaddyStorageStoreRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	caddyfile := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(caddyfile, []byte("{\n\tantom_store caddy_storage\n}\n\n:0 {\n\trespond ok\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	jsonConfig := filepath.Join(dir, "caddy.json")
	if err := os.WriteFile(jsonConfig, []byte(`{"apps":{"antom_store":{"store":{"module":"caddy_storage"}}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"adapt", "--config", caddyfile, "--adapter", "caddyfile"},
		{"validate", "--config", caddyfile, "--adapter", "caddyfile"},
		{"validate", "--config", jsonConfig},
	} {
		out, err := runCaddy(t, nil, args...)
		if err == nil {
			t.Fatalf("caddy %s accepted antom_store caddy_storage:\n%s", strings.Join(args, " "), out)
		}
		for _, want := range []string{
			"antom_store caddy_storage is retired",
			"Stop caddy",
			"caddy antom copy-store --from files --to sqlite",
			"--to postgres` with the DSN in ANTOM_DATABASE_URL",
			"remove `antom_store caddy_storage`",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("caddy %s printed:\n%s\nwant %q in it", strings.Join(args, " "), out, want)
			}
		}
	}
}

// A record of the file store that cannot be read stops copy-store with its file's name and what
// to do; moved out of the folder, it is left behind and the next run copies the rest.
func TestCopyStoreUnreadableRecord(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "caddy")
	if err := os.CopyFS(data, os.DirFS(filepath.Join(repoRoot, "e2e", "testdata", "filestore"))); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(data, "antom", "events", "pending", "msg_23ac74494d3f1b959947522af8f2a759")
	if err := os.WriteFile(bad, []byte(`{"id":"msg_23ac`), 0o600); err != nil { // cut short
		t.Fatal(err)
	}
	copyStore := func() (string, error) {
		return runCaddy(t, nil, "antom", "copy-store", "--data-dir", data, "--since", "87600h")
	}
	out, err := copyStore()
	if err == nil {
		t.Fatalf("copy-store copied a store with an unreadable record:\n%s", out)
	}
	for _, want := range []string{"cannot read " + bad, "repair it, or move it out of the antom folder"} {
		if !strings.Contains(out, want) {
			t.Errorf("copy-store printed:\n%s\nwant %q in it", out, want)
		}
	}
	if err := os.Rename(bad, filepath.Join(t.TempDir(), "set-aside")); err != nil {
		t.Fatal(err)
	}
	out, err = copyStore()
	// The first run had copied the event before the unreadable one (id order).
	if err != nil || !strings.Contains(out, "pending events: 1 copied, 1 there already") {
		t.Fatalf("copy-store after the record was moved out: %v\n%s\nwant the other 2 pending events there, one copied by this run", err, out)
	}
}
