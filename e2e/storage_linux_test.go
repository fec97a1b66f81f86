//go:build linux

package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// tmpfsDataDir mounts a small tmpfs as a caddy data dir (caddyOpts.DataDir) and unmounts it
// at the end of the test, whatever happens. It skips the test only where mounting is
// impossible (not root, no CAP_SYS_ADMIN); CI runs as root.
func tmpfsDataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=16m,mode=0700"); err != nil {
		if errors.Is(err, syscall.EPERM) {
			t.Skipf("mounting a tmpfs needs root or CAP_SYS_ADMIN: %v", err)
		}
		t.Fatalf("mounting a tmpfs on %s: %v", dir, err)
	}
	// Registered after t.TempDir's removal, so it runs before it; and after the caddy started
	// on it is stopped, which registers its cleanup later.
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmounting the tmpfs %s: %v", dir, err)
		}
	})
	return dir
}

// The disk of the default store (SQLite) fills up while deliveries are at the app (ext4 turning
// read-only after an I/O error fails writes the same way), and then has room again. The app got
// each event, but its outcome cannot be recorded: one error line per event must say so, the
// event must not be redelivered at every poll meanwhile, and once there is room the next
// delivery is recorded, its Antom-Attempt counting the delivery that was not.
func TestWebhookDiskFullAfterDeliveryBacksOff(t *testing.T) {
	t.Parallel()
	data := tmpfsDataDir(t)
	app := newFakeApp(t)
	// The forward goes through gate: once armed, it holds each delivery until all three are at
	// the app (claimed, so the claims were written), and until the disk is full.
	var (
		armed    atomic.Bool
		mu       sync.Mutex
		arrived  = map[string]bool{}
		allThere = make(chan struct{})
		filled   = make(chan struct{})
	)
	gate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if armed.Load() {
			mu.Lock()
			arrived[r.Header.Get("webhook-id")] = true
			if len(arrived) == 3 {
				select {
				case <-allThere:
				default:
					close(allThere)
				}
			}
			mu.Unlock()
			select {
			case <-filled:
			case <-r.Context().Done():
			}
		}
		app.serve(w, r)
	}))
	t.Cleanup(gate.Close)
	s := whStartWith(t, whConf{AppURL: gate.URL, MaxAge: "10m"}, caddyOpts{DataDir: data, Name: "caddy (disk full after delivery)"})
	s.app = app

	app.SetDefaultStatus(http.StatusServiceUnavailable)
	var ids []string
	for i := range 3 {
		body := whBody(fmt.Sprintf("DISKFULL%04d", i))
		s.whNotify(body)
		ids = append(ids, whEventID(t, body))
	}
	for _, id := range ids {
		if ev := whWaitRetrying(t, s.p, id); ev.Attempts != 1 {
			t.Fatalf("event %s: %d attempts after the failed synchronous delivery, want 1", id, ev.Attempts)
		}
	}
	armed.Store(true)
	app.SetDefaultStatus(http.StatusOK)
	select {
	case <-allThere:
	case <-time.After(whWait):
		t.Fatalf("the three retries did not reach the app together\n%s", app.dump())
	}
	free := fillDisk(t, data)
	close(filled)

	recordingFailed := func() int {
		n := 0
		for _, e := range s.p.LogEntries() {
			if e["level"] == "error" && strings.Contains(fmt.Sprint(e["msg"]), "recording it failed") {
				n++
			}
		}
		return n
	}
	waitFor(t, whWait, "an error line for each delivery that could not be recorded", func() bool { return recordingFailed() >= len(ids) })
	app.Never(5 * time.Second) // not redelivered at every poll: a claim is a write, and fails too
	if n := recordingFailed(); n != len(ids) {
		t.Errorf("%d error lines about deliveries that could not be recorded, want one per event (%d)", n, len(ids))
	}

	// Room again: the next delivery is recorded.
	free()
	for _, id := range ids {
		whWaitState(t, s.p, id, "delivered")
	}
	for id, reqs := range whByID(app.Requests()) {
		var attempts []string
		for _, r := range reqs {
			attempts = append(attempts, r.Header.Get("Antom-Attempt"))
		}
		// 1: the synchronous delivery (503), 2: delivered but not recorded, 3: recorded.
		if !slices.Equal(attempts, []string{"1", "2", "3"}) {
			t.Errorf("event %s: Antom-Attempt %v, want [1 2 3]", id, attempts)
		}
	}
}

// fillDisk fills the file system at dir with a file until it has no room left, and returns
// the function that deletes it again.
func fillDisk(t *testing.T, dir string) (free func()) {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling %s: %v", dir, err)
			}
			break
		}
	}
	for { // the last blocks
		if _, err := f.Write(chunk[:512]); err != nil {
			break
		}
	}
	return func() {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	}
}

// The default store's disk (SQLite) fills up after events were stored, and then the app comes
// back. A claim is a write to the event database, so nothing can be claimed, and nothing is
// delivered: no event reaches the app without its outcome being recordable. The failure is logged, not once per
// poll; once storage has room again every event is delivered, once.
func TestWebhookFullStorageBacksOff(t *testing.T) {
	t.Parallel()
	data := tmpfsDataDir(t)
	s := whStartWith(t, whConf{MaxAge: "10m"}, caddyOpts{DataDir: data, Name: "caddy (full storage)"})

	s.app.Off()
	want := map[string][]byte{}
	var ids []string
	for i := range 3 {
		body := whBody(fmt.Sprintf("RDONLY%04d", i))
		s.whNotify(body)
		id := whEventID(t, body)
		want[id], ids = body, append(ids, id)
	}
	for _, id := range ids {
		whWaitState(t, s.p, id, "pending")
	}
	free := fillDisk(t, data)
	s.app.On()
	s.app.Never(5 * time.Second)
	failed := 0
	for _, e := range s.p.LogEntries() {
		if e["level"] == "error" && strings.Contains(fmt.Sprint(e["error"]), "disk is full") {
			failed++
		}
	}
	if failed == 0 || failed > 2 {
		t.Errorf("%d error lines about the full storage in 5 s, want it logged (and not at every poll)", failed)
	}

	// Room again: every event is delivered, once.
	free()
	whWaitDelivered(t, s.app, ids)
	for _, id := range ids {
		whWaitState(t, s.p, id, "delivered")
	}
	whCheckDeliveries(t, s.app, want, true)
}
