package main

// postgres.go: the PostgreSQL event store under test. A throwaway server from Debian's packages
// (internal/pgtest, as the tests run it, but with fsync on: SQLite fsyncs too), on a
// loopback port, stopped and removed when antombench exits; every notify run gets a fresh
// database and one or more caddy instances with `antom_store postgres` on it.

import (
	"fmt"
	"slices"

	"github.com/caddy-antom/caddy-antom/internal/pgtest"
)

// pgMaxConns is each caddy instance's pool (the README's example).
const pgMaxConns = 16

// pgHost lets pgtest run outside a test: cleanups run at close, a failure cleans up and exits.
type pgHost struct{ cleanups []func() }

func (h *pgHost) Helper()          {}
func (h *pgHost) Cleanup(f func()) { h.cleanups = append(h.cleanups, f) }

func (h *pgHost) Fatal(args ...any) { h.Fatalf("%s", fmt.Sprint(args...)) }

func (h *pgHost) Fatalf(format string, args ...any) {
	h.close()
	fatalf("postgres: "+format, args...)
}

func (h *pgHost) close() {
	for _, f := range slices.Backward(h.cleanups) {
		f()
	}
	h.cleanups = nil
}

// startPostgres starts the server; close stops it and removes its files.
func startPostgres() (server *pgtest.Server, close func()) {
	h := &pgHost{}
	return pgtest.Start(h, "fsync=on", "synchronous_commit=on"), h.close
}

// storeConfig is the antom_store global option for a database.
func storeConfig(dsn string) string {
	return fmt.Sprintf("antom_store postgres {\n\t\tdsn       %s\n\t\tmax_conns %d\n\t}", dsn, pgMaxConns)
}
