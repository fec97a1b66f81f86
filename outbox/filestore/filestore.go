// Package filestore reads the event store caddy-antom kept in Caddy's storage before SQLite
// (`antom_store caddy_storage`, retired): the antom/ folder of Caddy's data directory. It only
// reads, for `caddy antom copy-store --from files`. An old caddy may still be writing the tree
// (a first copy on a running shop): a record that moves or goes while it is read is passed over,
// and the copy made once it has stopped finds it.
//
// The tree, under antom/, each record one JSON file:
//
//	events/{pending,delivered,dead}/<event id>          an outbox.Event
//	payments/{pending,done}/<payment record id>         an outbox.Payment
//	activity/<YYYY-MM-DD>/<hash>/<HHMMSS.nnnnnnnnn>-<id> an outbox.Activity, once per id it names
//	forwards/paused.json                                the paused route ids, a JSON list
//
// A record was written as a temporary file (a name starting with a dot) renamed into place, so
// such files are what an interrupted write left: they are passed over. A move to another state
// wrote the new copy before it deleted the old one, so an interrupted move can leave an event in
// two states; the copy that entered its state last is the event.
package filestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/caddy-antom/caddy-antom/outbox"
)

// Reader reads one file store. Its methods read the files anew on every call.
type Reader struct {
	root string // the antom folder
}

// Open returns the Reader of the file store in dataDir, Caddy's data directory (the one holding
// the antom/ folder). It fails if there is no antom/ folder there.
func Open(dataDir string) (*Reader, error) {
	root := filepath.Join(dataDir, "antom")
	info, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("no file store (an antom folder) in %s: %w", dataDir, err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("no file store in %s: %s is not a folder", dataDir, root)
	}
	return &Reader{root: root}, nil
}

// RecordError is a file of the store that cannot be read as the record its place says it is.
type RecordError struct {
	Path string // the file
	Err  error
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("cannot read %s: %v; repair it, or move it out of the antom folder to leave that record behind, then run again (what was copied already is not copied twice)", e.Path, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }

// eventStates are the event folders, in the order a tie between copies of one event is won.
var eventStates = []outbox.State{outbox.StateDelivered, outbox.StateDead, outbox.StatePending}

// Events calls fn with every event in state, in id order. An event found in several states (an
// interrupted move) is given in the state its latest copy is in, and only there.
func (r *Reader) Events(ctx context.Context, state outbox.State, fn func(*outbox.Event) error) error {
	if !slices.Contains(eventStates, state) {
		return fmt.Errorf("filestore: no event state %q", state)
	}
	listed := map[outbox.State][]string{} // sorted
	for _, st := range eventStates {
		ids, err := r.ids(filepath.Join("events", string(st)), outbox.ValidEventID)
		if err != nil {
			return err
		}
		listed[st] = ids
	}
	for _, id := range listed[state] {
		if err := ctx.Err(); err != nil {
			return err
		}
		ev, err := r.event(state, id)
		if errors.Is(err, fs.ErrNotExist) {
			continue // moved meanwhile
		}
		if err != nil {
			return err
		}
		latest := true
		for _, st := range eventStates {
			if _, there := slices.BinarySearch(listed[st], id); st == state || !there {
				continue
			}
			other, err := r.event(st, id)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return err
			}
			if outranks(other, ev) {
				latest = false
				break
			}
		}
		if latest {
			if err := fn(ev); err != nil {
				return err
			}
		}
	}
	return nil
}

// outranks reports whether copy a of an event is the event rather than copy b: a entered its
// state later, or at the same time in a state earlier in eventStates (a pending copy that was
// never replayed has no state time, and loses to any final one).
func outranks(a, b *outbox.Event) bool {
	if !a.StateTime().Equal(b.StateTime()) {
		return a.StateTime().After(b.StateTime())
	}
	return slices.Index(eventStates, a.State) < slices.Index(eventStates, b.State)
}

func (r *Reader) event(state outbox.State, id string) (*outbox.Event, error) {
	var ev outbox.Event
	if err := r.decode(filepath.Join("events", string(state), id), &ev); err != nil {
		return nil, err
	}
	if ev.ID != id {
		return nil, &RecordError{Path: filepath.Join(r.root, "events", string(state), id), Err: fmt.Errorf("it holds event %q", ev.ID)}
	}
	ev.State = state // the folder is the truth
	return &ev, nil
}

// Payments returns the payments (reconciliation records) in state, outbox.StatePending or
// outbox.StateDone, oldest CreatedAt first. A payment found in both is done.
func (r *Reader) Payments(ctx context.Context, state outbox.State) ([]*outbox.Payment, error) {
	if state != outbox.StatePending && state != outbox.StateDone {
		return nil, fmt.Errorf("filestore: no payment state %q", state)
	}
	ids, err := r.ids(filepath.Join("payments", string(state)), outbox.ValidPaymentRecordID)
	if err != nil {
		return nil, err
	}
	var done []string // sorted
	if state == outbox.StatePending {
		if done, err = r.ids(filepath.Join("payments", string(outbox.StateDone)), outbox.ValidPaymentRecordID); err != nil {
			return nil, err
		}
	}
	var ps []*outbox.Payment
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if _, isDone := slices.BinarySearch(done, id); isDone {
			continue // an interrupted move to done
		}
		var p outbox.Payment
		err := r.decode(filepath.Join("payments", string(state), id), &p)
		if errors.Is(err, fs.ErrNotExist) {
			continue // moved meanwhile
		}
		if err != nil {
			return nil, err
		}
		if p.ID != id {
			return nil, &RecordError{Path: filepath.Join(r.root, "payments", string(state), id), Err: fmt.Errorf("it holds payment %q", p.ID)}
		}
		p.State = state
		ps = append(ps, &p)
	}
	slices.SortStableFunc(ps, func(a, b *outbox.Payment) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return ps, nil
}

// pausedFile is the list of paused route ids.
var pausedFile = filepath.Join("forwards", "paused.json")

// PausedRoutes returns the ids of the paused forwards' routes, sorted; no list: none.
func (r *Reader) PausedRoutes(context.Context) ([]string, error) {
	var ids []string
	err := r.decode(pausedFile, &ids)
	if errors.Is(err, fs.ErrNotExist) {
		return []string{}, nil
	}
	if err != nil {
		return nil, err
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// activityDay is the layout of an activity day folder's name.
const activityDay = "2006-01-02"

// EachActivity calls fn once with every activity stored on a day that ends after since (a
// record is stored once per id it names; fn sees it once).
func (r *Reader) EachActivity(ctx context.Context, since time.Time, fn func(*outbox.Activity) error) error {
	days, err := r.names("activity")
	if err != nil {
		return err
	}
	for _, day := range days {
		t, err := time.Parse(activityDay, day)
		if err != nil {
			return &RecordError{Path: filepath.Join(r.root, "activity", day), Err: errors.New("not a day folder (YYYY-MM-DD)")}
		}
		if !t.AddDate(0, 0, 1).After(since) {
			continue
		}
		if err := r.eachActivityOn(ctx, day, fn); err != nil {
			return err
		}
	}
	return nil
}

// eachActivityOn calls fn with each activity of one day folder, once.
func (r *Reader) eachActivityOn(ctx context.Context, day string, fn func(*outbox.Activity) error) error {
	dir := filepath.Join("activity", day)
	keys, err := r.names(dir)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, key := range keys {
		names, err := r.names(filepath.Join(dir, key))
		if err != nil {
			return err
		}
		for _, name := range names {
			if err := ctx.Err(); err != nil {
				return err
			}
			file := filepath.Join(dir, key, name)
			_, id, _ := strings.Cut(name, "-")
			if !outbox.ValidActivityID(id) {
				return &RecordError{Path: filepath.Join(r.root, file), Err: errors.New("not an activity record's name (<time>-act_<id>)")}
			}
			if seen[id] {
				continue // the record under another of its ids
			}
			var a outbox.Activity
			err := r.decode(file, &a)
			if errors.Is(err, fs.ErrNotExist) {
				continue // pruned meanwhile
			}
			if err != nil {
				return err
			}
			seen[id] = true
			if err := fn(&a); err != nil {
				return err
			}
		}
	}
	return nil
}

// ids returns the record ids in dir (under the antom folder), sorted; a missing dir has none.
// A name that is not a valid id is an error, unless it is a temporary file.
func (r *Reader) ids(dir string, valid func(string) bool) ([]string, error) {
	names, err := r.names(dir)
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		if !valid(name) {
			return nil, &RecordError{Path: filepath.Join(r.root, dir, name), Err: errors.New("its name is not a record id")}
		}
	}
	return names, nil
}

// names returns the names in dir (under the antom folder), sorted, less the temporary files
// (a leading dot); a missing dir has none.
func (r *Reader) names(dir string) ([]string, error) {
	f, err := os.Open(filepath.Join(r.root, dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &RecordError{Path: filepath.Join(r.root, dir), Err: err}
	}
	defer f.Close()
	all, err := f.Readdirnames(-1) // names only: a folder may hold a million events
	if err != nil {
		return nil, &RecordError{Path: filepath.Join(r.root, dir), Err: err}
	}
	names := slices.DeleteFunc(all, func(n string) bool { return strings.HasPrefix(n, ".") })
	slices.Sort(names)
	return names, nil
}

// decode reads the JSON file name (under the antom folder) into v. A missing file is
// fs.ErrNotExist, as it is.
func (r *Reader) decode(name string, v any) error {
	path := filepath.Join(r.root, name)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err != nil {
		return &RecordError{Path: path, Err: err}
	}
	if err := json.Unmarshal(b, v); err != nil {
		return &RecordError{Path: path, Err: fmt.Errorf("not JSON of its kind: %w", err)}
	}
	return nil
}
