package caddyantom

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
	"github.com/spf13/cobra"

	"github.com/caddy-antom/caddy-antom/outbox"
	"github.com/caddy-antom/caddy-antom/outbox/sqlstore"
)

func newCopyStoreCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "copy-store [--data-dir DIR] [--dsn-env VAR] [--since DURATION]",
		Short: "Copy the events and payments of the file store into the PostgreSQL store",
		Long: `Copies, from the caddy_storage store in a data directory to the postgres store, every pending
event and payment, and the delivered and dead events and done payments of the last --since (their
ids keep deduplicating Antom's retries), and the paused forwards (they stay paused). What the database has already is left alone, so the command
can run again. The DSN is read from an environment variable, never from a flag.

Moving a running shop: run it, switch the config to antom_store postgres and reload, then run it
once more for what arrived in between. An event pending in both stores at the switch may reach the
app twice, with the same webhook-id.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			dir, _ := f.GetString("data-dir")
			dsnEnv, _ := f.GetString("dsn-env")
			since, _ := f.GetDuration("since")
			dsn := os.Getenv(dsnEnv)
			if dsn == "" {
				return fmt.Errorf("the environment variable %s is empty; set it to the PostgreSQL DSN the config's antom_store uses", dsnEnv)
			}
			dst, err := sqlstore.OpenPostgres(dsn, 4, nil)
			if err != nil {
				return err
			}
			defer dst.Close()
			src := outbox.New(&certmagic.FileStorage{Path: dir})
			return copyStore(cmd.Context(), cmd.OutOrStdout(), src, dst, time.Now().Add(-since))
		},
	}
	c.Flags().String("data-dir", caddy.AppDataDir(), "Caddy's data directory holding the file store (antom/ inside)")
	c.Flags().String("dsn-env", "ANTOM_DATABASE_URL", "environment variable holding the PostgreSQL DSN")
	c.Flags().Duration("since", outbox.DefaultRetention, "copy delivered and dead events and done payments this recent")
	return c
}

// copyStore copies src's pending records, and its final ones that settled after since, to dst.
func copyStore(ctx context.Context, w io.Writer, src *outbox.Store, dst *sqlstore.Store, since time.Time) error {
	for _, st := range []outbox.State{outbox.StatePending, outbox.StateDelivered, outbox.StateDead} {
		evs, err := src.List(ctx, st, 0)
		if err != nil {
			return fmt.Errorf("reading %s events: %w", st, err)
		}
		copied := 0
		for _, ev := range evs {
			if st != outbox.StatePending && ev.StateTime().Before(since) {
				continue
			}
			added, err := dst.Import(ctx, ev)
			if err != nil {
				return fmt.Errorf("copying event %s: %w", ev.ID, err)
			}
			if added {
				copied++
			}
		}
		fmt.Fprintf(w, "%s events: %d copied, %d there already or older\n", st, copied, len(evs)-copied)
	}
	for _, st := range []outbox.State{outbox.StatePending, outbox.StateDone} {
		ps, err := src.ListPayments(ctx, st, 0)
		if err != nil {
			return fmt.Errorf("reading %s payments: %w", st, err)
		}
		copied := 0
		for _, p := range ps {
			if st == outbox.StateDone && p.CreatedAt.Before(since) {
				continue
			}
			added, err := dst.ImportPayment(ctx, p)
			if err != nil {
				return fmt.Errorf("copying payment %s: %w", p.ID, err)
			}
			if added {
				copied++
			}
		}
		fmt.Fprintf(w, "%s payments: %d copied, %d there already or older\n", st, copied, len(ps)-copied)
	}
	// A forward paused on the file store stays paused on PostgreSQL; none is resumed here.
	paused, err := src.PausedRoutes(ctx)
	if err != nil {
		return err
	}
	if len(paused) > 0 {
		if err := dst.SetPaused(ctx, paused, true); err != nil {
			return fmt.Errorf("copying the paused forwards: %w", err)
		}
	}
	fmt.Fprintf(w, "paused forwards: %d, paused on PostgreSQL too\n", len(paused))
	return nil
}
