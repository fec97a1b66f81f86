package outbox

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/caddyserver/certmagic"
)

// recordedFiles performs the file system calls of osFiles and records them in order, with paths
// relative to root and temporary file names as "tmp".
type recordedFiles struct {
	root string
	mu   sync.Mutex
	ops  []string
}

func (r *recordedFiles) record(op, path string) {
	rel, _ := filepath.Rel(r.root, path)
	if strings.HasPrefix(filepath.Base(rel), ".tmp-") {
		rel = filepath.Join(filepath.Dir(rel), "tmp")
	}
	r.mu.Lock()
	r.ops = append(r.ops, op+" "+filepath.ToSlash(rel))
	r.mu.Unlock()
}

func (r *recordedFiles) Mkdir(dir string) error { r.record("mkdir", dir); return osFiles{}.Mkdir(dir) }
func (r *recordedFiles) CreateTemp(dir string) (tempFile, error) {
	f, err := osFiles{}.CreateTemp(dir)
	if err != nil {
		return nil, err
	}
	r.record("create", f.Name())
	return recordedFile{f, r}, nil
}
func (r *recordedFiles) Rename(from, to string) error {
	r.record("rename", from)
	r.record("  to", to)
	return osFiles{}.Rename(from, to)
}
func (r *recordedFiles) Remove(name string) error {
	r.record("remove", name)
	return osFiles{}.Remove(name)
}
func (r *recordedFiles) SyncDir(dir string) error {
	r.record("fsync-dir", dir)
	return osFiles{}.SyncDir(dir)
}

func (r *recordedFiles) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ops := r.ops
	r.ops = nil
	return ops
}

type recordedFile struct {
	tempFile
	r *recordedFiles
}

func (f recordedFile) Write(b []byte) (int, error) {
	f.r.record("write", f.Name())
	return f.tempFile.Write(b)
}
func (f recordedFile) Sync() error  { f.r.record("fsync", f.Name()); return f.tempFile.Sync() }
func (f recordedFile) Close() error { f.r.record("close", f.Name()); return f.tempFile.Close() }

// An event is acknowledged when Add returns: by then the file, its name in the directory, and
// every directory created on the way must be on disk (issue 13, item 2).
func TestAddIsDurableBeforeItReturns(t *testing.T) {
	root := t.TempDir()
	s := New(&certmagic.FileStorage{Path: root})
	rec := &recordedFiles{root: root}
	s.storage.(*durableFiles).ops = rec
	ctx := context.Background()

	ev := testEvent("p", "k1", `{"a":1}`)
	if added, err := s.Add(ctx, ev); err != nil || !added {
		t.Fatalf("Add = %v, %v", added, err)
	}
	pending := "antom/events/pending"
	want := []string{
		"mkdir antom", "fsync-dir .",
		"mkdir antom/events", "fsync-dir antom",
		"mkdir " + pending, "fsync-dir antom/events",
		"create " + pending + "/tmp", "write " + pending + "/tmp", "fsync " + pending + "/tmp", "close " + pending + "/tmp",
		"rename " + pending + "/tmp", "  to " + pending + "/" + ev.ID,
		"fsync-dir " + pending,
	}
	if got := rec.take(); !slices.Equal(got, want) {
		t.Fatalf("first Add's file system calls:\n got %q\nwant %q", got, want)
	}

	// The directories exist now: a second event is one file and one directory fsync.
	ev2 := testEvent("p", "k2", `{"a":2}`)
	if added, err := s.Add(ctx, ev2); err != nil || !added {
		t.Fatalf("Add = %v, %v", added, err)
	}
	want = []string{
		"create " + pending + "/tmp", "write " + pending + "/tmp", "fsync " + pending + "/tmp", "close " + pending + "/tmp",
		"rename " + pending + "/tmp", "  to " + pending + "/" + ev2.ID,
		"fsync-dir " + pending,
	}
	if got := rec.take(); !slices.Equal(got, want) {
		t.Fatalf("second Add's file system calls:\n got %q\nwant %q", got, want)
	}

	// Moves to a final state are as durable as the first write.
	if err := s.MarkDelivered(ctx, ev, now()); err != nil {
		t.Fatal(err)
	}
	got := rec.take()
	if n := len(got); n < 2 || got[n-2] != "  to antom/events/delivered/"+ev.ID || got[n-1] != "fsync-dir antom/events/delivered" {
		t.Fatalf("MarkDelivered's file system calls end with %q, want the rename then the directory fsync", got)
	}
	if back, err := s.Get(ctx, ev.ID); err != nil || back.State != StateDelivered {
		t.Fatalf("Get = %+v, %v", back, err)
	}
}
