package outbox

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/caddyserver/certmagic"
)

// durableFiles is certmagic.FileStorage whose Store survives a power loss once it returns.
// FileStorage fsyncs the temporary file and renames it into place, but fsyncs neither the
// directory holding the new name nor the directories it created on the way: after a crash within
// the file system's commit window an acknowledged event could vanish. Everything but Store is
// FileStorage's own.
type durableFiles struct {
	*certmagic.FileStorage
	ops fileOps
}

// Store writes value to a temporary file in the key's directory, fsyncs it, renames it over the
// key, and fsyncs the directory; directories it creates are fsynced into their parents first.
func (d *durableFiles) Store(_ context.Context, key string, value []byte) error {
	name := d.Filename(key)
	dir := filepath.Dir(name)
	if err := d.mkdirs(dir); err != nil {
		return err
	}
	tmp, err := d.ops.CreateTemp(dir)
	if err != nil {
		return err
	}
	if err := writeSyncClose(tmp, value); err != nil {
		_ = d.ops.Remove(tmp.Name())
		return err
	}
	if err := d.ops.Rename(tmp.Name(), name); err != nil {
		_ = d.ops.Remove(tmp.Name())
		return err
	}
	return d.ops.SyncDir(dir)
}

func writeSyncClose(f tempFile, value []byte) error {
	_, err := f.Write(value)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// mkdirs creates dir and its missing parents, and fsyncs the parent of each directory it had to
// create, so the new names are durable too. (A directory another writer is creating at the same
// moment gets its parent fsynced by both.)
func (d *durableFiles) mkdirs(dir string) error {
	var missing []string
	for p := dir; ; p = filepath.Dir(p) {
		if _, err := os.Stat(p); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		missing = append(missing, p)
		if filepath.Dir(p) == p {
			break
		}
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := d.ops.Mkdir(missing[i]); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		if err := d.ops.SyncDir(filepath.Dir(missing[i])); err != nil {
			return err
		}
	}
	return nil
}

// fileOps are the file system calls of a durable write; tests record their order.
type fileOps interface {
	Mkdir(dir string) error
	CreateTemp(dir string) (tempFile, error)
	Rename(from, to string) error
	Remove(name string) error
	SyncDir(dir string) error
}

type tempFile interface {
	Name() string
	Write(b []byte) (int, error)
	Sync() error
	Close() error
}

type osFiles struct{}

func (osFiles) Mkdir(dir string) error { return os.Mkdir(dir, 0o700) }

// CreateTemp names temporary files so that they are never record ids: listings skip them and
// Prune removes those a crash left behind.
func (osFiles) CreateTemp(dir string) (tempFile, error) { return os.CreateTemp(dir, ".tmp-") }
func (osFiles) Rename(from, to string) error            { return os.Rename(from, to) }
func (osFiles) Remove(name string) error                { return os.Remove(name) }

func (osFiles) SyncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
