//go:build linux

package e2e

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

// remount makes a mounted file system read-only or writable again, like `mount -o
// remount,ro`. A file open for writing makes a read-only remount fail with EBUSY; caddy
// keeps none open for long, so it is tried again.
func remount(t *testing.T, dir string, readOnly bool) {
	t.Helper()
	flags := uintptr(syscall.MS_REMOUNT)
	if readOnly {
		flags |= syscall.MS_RDONLY
	}
	var err error
	waitFor(t, 30*time.Second, fmt.Sprintf("remounting %s (read-only %v): %v", dir, readOnly, err), func() bool {
		err = syscall.Mount("tmpfs", dir, "tmpfs", flags, "size=16m,mode=0700")
		if err != nil && !errors.Is(err, syscall.EBUSY) {
			t.Fatalf("remounting %s: %v", dir, err)
		}
		return err == nil
	})
}

// Caddy's storage turns read-only after events were stored (ext4's errors=remount-ro does
// that after an I/O error), and then the app comes back. Every delivery reaches the app but
// cannot be recorded: each event must then be retried on the backoff schedule, with its
// Antom-Attempt growing, not redelivered at every poll; one error line per event, not one per
// retry; and once storage is writable again the next delivery is recorded.
func TestWebhookReadOnlyStorageBacksOff(t *testing.T) {
	t.Parallel()
	data := tmpfsDataDir(t)
	// The file store: the SQLite default keeps its database open for writing, which a
	// read-only remount refuses (EBUSY) for as long as caddy runs.
	s := whStartWith(t, whConf{MaxAge: "10m", Global: "\tantom_store caddy_storage"}, caddyOpts{DataDir: data, Name: "caddy (read-only storage)"})

	s.app.Off()
	var ids []string
	for i := range 3 {
		body := whBody(fmt.Sprintf("RDONLY%04d", i))
		s.whNotify(body)
		ids = append(ids, whEventID(t, body))
	}
	for _, id := range ids {
		if ev := whWaitState(t, s.p, id, "pending"); ev.Attempts != 1 {
			t.Fatalf("event %s: %d attempts after the failed synchronous delivery, want 1", id, ev.Attempts)
		}
	}
	remount(t, data, true)
	s.app.On()

	// The retries start within a second. The backoff after the first retry is at least 1s,
	// then 2s, 4s, 8s, 16s (NextDelay with the least jitter): at most 5 deliveries of an
	// event within 20s (the 6th would come after 31s); without backoff, hundreds.
	const window, most = 20 * time.Second, 5
	whWaitDelivered(t, s.app, ids)
	first := s.app.Requests()[0].At
	time.Sleep(time.Until(first.Add(window)))
	by := whByID(s.app.Requests())
	for _, id := range ids {
		var attempts []string
		for _, r := range by[id] {
			if !r.At.After(first.Add(window)) {
				attempts = append(attempts, r.Header.Get("Antom-Attempt"))
			}
		}
		if len(attempts) < 2 || len(attempts) > most {
			t.Errorf("event %s delivered %d times within %s of read-only storage, want 2 to %d (the backoff schedule); Antom-Attempt %.200s",
				id, len(attempts), window, most, fmt.Sprint(attempts))
			continue
		}
		for i, a := range attempts {
			if a != strconv.Itoa(i+2) {
				t.Errorf("event %s: Antom-Attempt %v, want 2, 3, ... (growing on every retry)", id, attempts)
				break
			}
		}
	}
	failed := 0
	for _, e := range s.p.LogEntries() {
		if e["level"] == "error" && strings.Contains(fmt.Sprint(e["msg"]), "recording it failed") {
			failed++
		}
	}
	if failed != len(ids) {
		t.Errorf("%d error lines about deliveries that could not be recorded, want one per event (%d)", failed, len(ids))
	}

	// Writable again: the next retry is recorded, with the attempts made meanwhile.
	remount(t, data, false)
	for _, id := range ids {
		if ev := whWaitState(t, s.p, id, "delivered"); ev.Attempts < 3 {
			t.Errorf("event %s delivered with %d attempts recorded, want those made while storage was read-only too", id, ev.Attempts)
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
