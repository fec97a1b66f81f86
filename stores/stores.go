// Package stores is the antom_store Caddy app and its modules: which event store the antom app
// keeps its events and payments in (antom.stores.sqlite, the default; .postgres; .caddy_storage),
// and the antom_store global option that sets it.
package stores

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-antom/caddy-antom/internal/metrics"
	"github.com/caddy-antom/caddy-antom/outbox"
	"github.com/caddy-antom/caddy-antom/outbox/sqlstore"
)

func init() {
	caddy.RegisterModule(new(StoreApp))
	caddy.RegisterModule(new(SQLiteStore))
	caddy.RegisterModule(new(CaddyStorageStore))
	caddy.RegisterModule(new(PostgresStore))
	httpcaddyfile.RegisterGlobalOption("antom_store", parseStoreOption)
}

// unreadableRecords counts the stored events a SQL store could not decode when claimed.
var unreadableRecords = prometheus.NewCounter(prometheus.CounterOpts{
	Namespace: "caddy", Subsystem: "antom", Name: "unreadable_records_total",
	Help: "Stored events that could not be decoded when claimed, set aside dead (unreadable_record) so that the other deliveries go on.",
})

// EventStoreModule is what a module in the antom.stores namespace provides: the event store,
// ready after the module's Provision.
type EventStoreModule interface {
	EventStore() outbox.EventStore
}

// StoreApp is the `antom_store` app: which event store the antom app keeps its events and
// payments in. It is an app of its own so that the `antom_store` global option can set it
// beside the `antom` option; without it the antom app uses sqlite in Caddy's data directory.
type StoreApp struct {
	// Store is a module in the antom.stores namespace: sqlite (the default) or postgres.
	StoreRaw json.RawMessage `json:"store,omitempty" caddy:"namespace=antom.stores inline_key=module"`

	store outbox.EventStore
}

// CaddyModule returns the Caddy module information.
func (*StoreApp) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "antom_store", New: func() caddy.Module { return new(StoreApp) }}
}

// Provision opens the configured store.
func (s *StoreApp) Provision(ctx caddy.Context) error {
	metrics.Register(ctx.GetMetricsRegistry(), ctx.Logger(), unreadableRecords)
	if s.StoreRaw == nil {
		s.StoreRaw = caddyconfig.JSONModuleObject(new(SQLiteStore), "module", "sqlite", nil)
	}
	mod, err := ctx.LoadModule(s, "StoreRaw")
	if err != nil {
		return fmt.Errorf("loading the antom event store: %v", err)
	}
	s.store = mod.(EventStoreModule).EventStore()
	return nil
}

// EventStore returns the store Provision opened.
func (s *StoreApp) EventStore() outbox.EventStore { return s.store }

// Start does nothing: the antom app runs the workers.
func (*StoreApp) Start() error { return nil }

// Stop does nothing: the store's module closes it in its Cleanup.
func (*StoreApp) Stop() error { return nil }

// SQLiteStore (`antom.stores.sqlite`), the default, keeps events in one SQLite database file
// on this machine, embedded in Caddy (no server to run). Instances of one machine's Caddy share
// it; several machines share PostgreSQL instead.
type SQLiteStore struct {
	// Path is the database file (default: antom/events.db in Caddy's data directory). Its
	// directory is created if need be; keep it on a local disk, not a network file system.
	Path string `json:"path,omitempty"`

	store *sqlstore.Store
}

// CaddyModule returns the Caddy module information.
func (*SQLiteStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "antom.stores.sqlite", New: func() caddy.Module { return new(SQLiteStore) }}
}

// SQLiteDefaultPath is where the SQLite store lives when no path is set: antom/events.db in
// Caddy's data directory dataDir.
func SQLiteDefaultPath(dataDir string) string { return filepath.Join(dataDir, "antom", "events.db") }

// Provision opens the database, creating or migrating its schema.
func (q *SQLiteStore) Provision(ctx caddy.Context) error {
	path := caddy.NewReplacer().ReplaceKnown(q.Path, "")
	if path == "" {
		path = SQLiteDefaultPath(caddy.AppDataDir())
	}
	store, err := sqlstore.OpenSQLite(path, ctx.Logger())
	if err != nil {
		return fmt.Errorf("antom_store sqlite: %v; check that the directory is writable, or set path", err)
	}
	store.OnUnreadable = unreadableRecords.Inc
	q.store = store
	return nil
}

// Cleanup closes the database.
func (q *SQLiteStore) Cleanup() error {
	if q.store != nil {
		q.store.Close()
	}
	return nil
}

// EventStore returns the store.
func (q *SQLiteStore) EventStore() outbox.EventStore { return q.store }

// UnmarshalCaddyfile reads
//
//	antom_store sqlite {
//		path /var/lib/caddy/antom/events.db
//	}
func (q *SQLiteStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch option := d.Val(); option {
		case "path":
			if !d.Args(&q.Path) || d.NextArg() {
				return d.Err("antom_store sqlite path takes exactly one value: the database file")
			}
		default:
			return d.Errf("unrecognized antom_store sqlite option '%s' (path)", option)
		}
	}
	return nil
}

// CaddyStorageStore (`antom.stores.caddy_storage`) is the retired file store, which kept events
// as files in Caddy's storage. It is still registered only so that a config naming it is refused
// with errCaddyStorageRetired, which says how to move its events, instead of "unknown module".
type CaddyStorageStore struct{}

// errCaddyStorageRetired is what a config naming the retired file store gets.
const errCaddyStorageRetired = "antom_store caddy_storage is retired: the file store in Caddy's storage is no longer supported. " +
	"Stop caddy, copy its events with `caddy antom copy-store --from files --to sqlite` " +
	"(or `--to postgres` with the DSN in ANTOM_DATABASE_URL), then remove `antom_store caddy_storage` " +
	"(in JSON, the antom_store app) from the config: SQLite is the default (README: Upgrading from caddy_storage)"

// CaddyModule returns the Caddy module information.
func (*CaddyStorageStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "antom.stores.caddy_storage", New: func() caddy.Module { return new(CaddyStorageStore) }}
}

// Provision refuses the config (a JSON one: the Caddyfile is refused when adapted).
func (*CaddyStorageStore) Provision(caddy.Context) error { return errors.New(errCaddyStorageRetired) }

// UnmarshalCaddyfile refuses `antom_store caddy_storage`.
func (*CaddyStorageStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return d.Err(errCaddyStorageRetired)
}

// PostgresStore (`antom.stores.postgres`) keeps events in PostgreSQL, for several instances:
// deduplication is atomic across them, and every instance delivers and reconciles.
type PostgresStore struct {
	// DSN is the connection string, as a URL (postgres://user:password@host:5432/db?sslmode=verify-full)
	// or key=value pairs; TLS is as it says (sslmode, sslrootcert, ...). It holds a password:
	// give it as a placeholder ({env.ANTOM_DATABASE_URL}, {file./path}), which stays a
	// placeholder in the adapted JSON and is never logged.
	DSN string `json:"dsn,omitempty"`
	// MaxConns bounds the connections of this instance (default: pgx's, the larger of 4 and
	// the number of CPUs).
	MaxConns int `json:"max_conns,omitempty"`

	store *sqlstore.Store
}

// CaddyModule returns the Caddy module information.
func (*PostgresStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "antom.stores.postgres", New: func() caddy.Module { return new(PostgresStore) }}
}

// Provision resolves the DSN and opens the connection pool; it does not connect (the first
// operation does, and creates or migrates the schema).
func (p *PostgresStore) Provision(ctx caddy.Context) error {
	dsn := caddy.NewReplacer().ReplaceKnown(p.DSN, "")
	if dsn == "" {
		return errors.New("antom_store postgres: dsn is empty; set it, e.g. dsn {env.ANTOM_DATABASE_URL}, and make sure the variable is set")
	}
	if p.MaxConns < 0 {
		return errors.New("antom_store postgres: max_conns must be positive")
	}
	store, err := sqlstore.OpenPostgres(dsn, p.MaxConns, ctx.Logger())
	if err != nil {
		return fmt.Errorf("antom_store postgres: %v", err)
	}
	store.OnUnreadable = unreadableRecords.Inc
	p.store = store
	return nil
}

// Cleanup closes the connections.
func (p *PostgresStore) Cleanup() error {
	if p.store != nil {
		p.store.Close()
	}
	return nil
}

// EventStore returns the store.
func (p *PostgresStore) EventStore() outbox.EventStore { return p.store }

// UnmarshalCaddyfile reads
//
//	antom_store postgres {
//		dsn       {env.ANTOM_DATABASE_URL}
//		max_conns 16
//	}
func (p *PostgresStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		option := d.Val()
		var value string
		if !d.Args(&value) || d.NextArg() {
			return d.Errf("antom_store postgres option '%s' takes exactly one value", option)
		}
		switch option {
		case "dsn":
			p.DSN = value
		case "max_conns":
			if _, err := fmt.Sscan(value, &p.MaxConns); err != nil || p.MaxConns <= 0 {
				return d.Errf("antom_store postgres max_conns must be a positive number, not %q", value)
			}
		default:
			return d.Errf("unrecognized antom_store postgres option '%s' (dsn, max_conns)", option)
		}
	}
	if p.DSN == "" {
		return d.Err("antom_store postgres needs dsn, e.g. dsn {env.ANTOM_DATABASE_URL}")
	}
	return nil
}

// parseStoreOption reads the `antom_store <module> [{ ... }]` global option.
func parseStoreOption(d *caddyfile.Dispenser, existing any) (any, error) {
	if existing != nil {
		return nil, d.Err("antom_store is given twice")
	}
	d.Next() // the option name
	if !d.NextArg() {
		return nil, d.Err("antom_store needs a store: sqlite or postgres")
	}
	name := d.Val()
	mod, err := caddy.GetModule("antom.stores." + name)
	if err != nil {
		return nil, d.Errf("unknown antom_store %q: use sqlite or postgres", name)
	}
	store := mod.New()
	if err := store.(caddyfile.Unmarshaler).UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	app := StoreApp{StoreRaw: caddyconfig.JSONModuleObject(store, "module", name, nil)}
	return httpcaddyfile.App{Name: "antom_store", Value: caddyconfig.JSON(app, nil)}, nil
}

// Interface guards
var (
	_ caddy.App             = (*StoreApp)(nil)
	_ caddy.Provisioner     = (*StoreApp)(nil)
	_ EventStoreModule      = (*SQLiteStore)(nil)
	_ caddy.CleanerUpper    = (*SQLiteStore)(nil)
	_ caddyfile.Unmarshaler = (*SQLiteStore)(nil)
	_ caddy.Provisioner     = (*CaddyStorageStore)(nil)
	_ caddyfile.Unmarshaler = (*CaddyStorageStore)(nil)
	_ EventStoreModule      = (*PostgresStore)(nil)
	_ caddy.CleanerUpper    = (*PostgresStore)(nil)
	_ caddyfile.Unmarshaler = (*PostgresStore)(nil)
)
