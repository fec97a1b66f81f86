package command

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/spf13/cobra"

	"github.com/caddy-antom/caddy-antom/outbox"
	"github.com/caddy-antom/caddy-antom/outbox/filestore"
	"github.com/caddy-antom/caddy-antom/outbox/sqlstore"
	"github.com/caddy-antom/caddy-antom/stores"
)

func newCopyStoreCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "copy-store [--from files|sqlite] [--to sqlite|postgres] [--data-dir DIR] [--sqlite PATH] [--dsn-env VAR] [--since DURATION]",
		Short: "Copy the events, payments, activities and paused forwards of one event store into another",
		Long: `Copies into an antom_store every pending event and payment, the delivered and dead events and
done payments of the last --since (their ids keep deduplicating Antom's retries), the timeline's
activities of that time, and the paused forwards (they stay paused), from:

  --from files    the file store of caddy-antom before SQLite (antom_store caddy_storage): the
                  antom/ folder in Caddy's data directory (--data-dir)
  --from sqlite   the SQLite event database (--sqlite, by default antom/events.db in --data-dir)

into:

  --to sqlite     the SQLite event database (--sqlite), created if need be
  --to postgres   the PostgreSQL database whose DSN is in the environment variable --dsn-env
                  (never given as a flag)

What the target has already is left alone, so the command can run again and copies nothing
twice. Upgrading from caddy_storage: stop caddy, run copy-store (files to sqlite, or to
postgres), then start the new caddy (see the README). On a running shop, run it before and once
more after the switch for what arrived in between; an event pending in both stores at the switch
may reach the app twice, with the same webhook-id.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			from, _ := f.GetString("from")
			to, _ := f.GetString("to")
			dir, _ := f.GetString("data-dir")
			dbPath, _ := f.GetString("sqlite")
			dsnEnv, _ := f.GetString("dsn-env")
			since, _ := f.GetDuration("since")
			if dbPath == "" {
				dbPath = stores.SQLiteDefaultPath(dir)
			}
			src, closeSrc, err := openCopySource(from, dir, dbPath, to)
			if err != nil {
				return err
			}
			defer closeSrc()
			dst, err := openCopyTarget(to, dbPath, dsnEnv)
			if err != nil {
				return err
			}
			defer dst.Close()
			return copyStore(cmd.Context(), cmd.OutOrStdout(), src, dst, time.Now().Add(-since))
		},
	}
	c.Flags().String("from", "files", "the store to copy from: files (caddy_storage's antom/ folder) or sqlite")
	c.Flags().String("to", "sqlite", "the store to copy into: sqlite or postgres")
	c.Flags().String("data-dir", caddy.AppDataDir(), "Caddy's data directory (the file store's antom/ folder, and the default SQLite database)")
	c.Flags().String("sqlite", "", "the SQLite event database (default: antom/events.db in --data-dir)")
	c.Flags().String("dsn-env", "ANTOM_DATABASE_URL", "environment variable holding the PostgreSQL DSN, for --to postgres")
	c.Flags().Duration("since", outbox.DefaultRetention, "copy delivered and dead events, done payments and activities this recent")
	return c
}

// copySource is the store copy-store reads.
type copySource interface {
	// eachEvent calls fn with every event in state.
	eachEvent(ctx context.Context, state outbox.State, fn func(*outbox.Event) error) error
	ListPayments(ctx context.Context, state outbox.State, limit int) ([]*outbox.Payment, error)
	PausedRoutes(ctx context.Context) ([]string, error)
	EachActivity(ctx context.Context, since time.Time, fn func(*outbox.Activity) error) error
}

// copyTarget is the store copy-store writes: each write leaves alone what the store has already
// (an event or payment with the same id, an activity with the same id, a paused forward).
type copyTarget interface {
	Import(ctx context.Context, ev *outbox.Event) (bool, error)
	ImportPayment(ctx context.Context, p *outbox.Payment) (bool, error)
	AddActivity(ctx context.Context, a *outbox.Activity) error
	SetPaused(ctx context.Context, routeIDs []string, paused bool) error
}

func openCopySource(from, dataDir, dbPath, to string) (copySource, func(), error) {
	switch from {
	case "files":
		r, err := filestore.Open(dataDir)
		if err != nil {
			return nil, nil, fmt.Errorf("%v; give Caddy's data directory, the one holding it, with --data-dir", err)
		}
		return fileSource{r}, func() {}, nil
	case "sqlite":
		if to == "sqlite" {
			return nil, nil, fmt.Errorf("--from sqlite --to sqlite copies a database into itself; use --to postgres")
		}
		if _, err := os.Stat(dbPath); err != nil {
			return nil, nil, fmt.Errorf("no SQLite event database (%v); give its path with --sqlite", err)
		}
		s, err := sqlstore.OpenSQLite(dbPath, nil)
		if err != nil {
			return nil, nil, err
		}
		return sqlSource{s}, s.Close, nil
	}
	return nil, nil, fmt.Errorf("--from %q: use files or sqlite", from)
}

func openCopyTarget(to, dbPath, dsnEnv string) (*sqlstore.Store, error) {
	switch to {
	case "sqlite":
		return sqlstore.OpenSQLite(dbPath, nil)
	case "postgres":
		dsn := os.Getenv(dsnEnv)
		if dsn == "" {
			return nil, fmt.Errorf("the environment variable %s is empty; set it to the PostgreSQL DSN the config's antom_store uses", dsnEnv)
		}
		return sqlstore.OpenPostgres(dsn, 4, nil)
	}
	return nil, fmt.Errorf("--to %q: use sqlite or postgres", to)
}

// fileSource reads the retired file store.
type fileSource struct{ *filestore.Reader }

func (f fileSource) eachEvent(ctx context.Context, state outbox.State, fn func(*outbox.Event) error) error {
	return f.Events(ctx, state, fn)
}

func (f fileSource) ListPayments(ctx context.Context, state outbox.State, _ int) ([]*outbox.Payment, error) {
	return f.Payments(ctx, state)
}

// sqlSource reads a SQL store: its events of a state come a page at a time.
type sqlSource struct{ *sqlstore.Store }

// copyPage is how many events a SQL source reads at a time.
const copyPage = 500

func (s sqlSource) eachEvent(ctx context.Context, state outbox.State, fn func(*outbox.Event) error) error {
	var cursor outbox.Cursor
	for {
		evs, next, err := s.Search(ctx, outbox.Filter{State: state}, cursor, copyPage)
		if err != nil {
			return err
		}
		for _, ev := range evs {
			if err := fn(ev); err != nil {
				return err
			}
		}
		if next.ID == "" {
			return nil
		}
		cursor = next
	}
}

// copyStore copies src's pending records, its final ones that settled after since, its
// activities since then and its paused forwards to dst, and says what it copied.
func copyStore(ctx context.Context, w io.Writer, src copySource, dst copyTarget, since time.Time) error {
	for _, st := range []outbox.State{outbox.StatePending, outbox.StateDelivered, outbox.StateDead} {
		read, copied, unreadable := 0, 0, 0
		err := src.eachEvent(ctx, st, func(ev *outbox.Event) error {
			if ev.Unreadable {
				unreadable++ // only its id is left to copy
				return nil
			}
			if st != outbox.StatePending && ev.StateTime().Before(since) {
				return nil
			}
			read++
			added, err := dst.Import(ctx, ev)
			if err != nil {
				return fmt.Errorf("copying event %s: %w", ev.ID, err)
			}
			if added {
				copied++
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("copying the %s events: %w", st, err)
		}
		fmt.Fprintf(w, "%s events: %d copied, %d there already\n", st, copied, read-copied)
		if unreadable > 0 {
			fmt.Fprintf(w, "%s events: %d not copied, their records cannot be read (%s): caddy antom events --state %s lists them\n",
				st, unreadable, outbox.ReasonUnreadable, st)
		}
	}
	for _, st := range []outbox.State{outbox.StatePending, outbox.StateDone} {
		ps, err := src.ListPayments(ctx, st, 0)
		if err != nil {
			return fmt.Errorf("reading the %s payments: %w", st, err)
		}
		read, copied := 0, 0
		for _, p := range ps {
			if st == outbox.StateDone && p.CreatedAt.Before(since) {
				continue
			}
			read++
			added, err := dst.ImportPayment(ctx, p)
			if err != nil {
				return fmt.Errorf("copying payment %s: %w", p.ID, err)
			}
			if added {
				copied++
			}
		}
		fmt.Fprintf(w, "%s payments: %d copied, %d there already\n", st, copied, read-copied)
	}
	acts := 0
	err := src.EachActivity(ctx, since, func(a *outbox.Activity) error {
		if a.At.Before(since) {
			return nil
		}
		acts++
		return dst.AddActivity(ctx, a)
	})
	if err != nil {
		return fmt.Errorf("copying the timeline's activities: %w", err)
	}
	fmt.Fprintf(w, "activities: %d read, each copied unless there already\n", acts)
	// A paused forward stays paused; none is resumed here.
	paused, err := src.PausedRoutes(ctx)
	if err != nil {
		return fmt.Errorf("reading the paused forwards: %w", err)
	}
	if len(paused) > 0 {
		if err := dst.SetPaused(ctx, paused, true); err != nil {
			return fmt.Errorf("copying the paused forwards: %w", err)
		}
	}
	fmt.Fprintf(w, "paused forwards: %d, paused in the target too\n", len(paused))
	return nil
}
