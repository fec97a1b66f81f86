//go:build linux

package e2e

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
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

// Caddy's storage fills up after events were stored, and then the app comes back. A claim is a
// write to the event database, so nothing can be claimed, and nothing is delivered: no event
// reaches the app without its outcome being recordable. The failure is logged, not once per
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
