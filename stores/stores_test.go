package stores

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// The antom_store option of issue 16, as written there: the DSN stays a placeholder in the
// adapted JSON (it holds a password).
func TestAdaptAntomStorePostgres(t *testing.T) {
	// Adapted as the issue writes it: the aligned values only draw caddy fmt's warning.
	out, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(`{
	antom_store postgres {
		dsn       {env.ANTOM_DATABASE_URL}
		max_conns 16
	}
}

:8080 {
	respond ok
}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range warnings {
		if !strings.Contains(w.Message, "not formatted") {
			t.Errorf("adapter warning: %s", w)
		}
	}
	want := `"antom_store":{"store":{"dsn":"{env.ANTOM_DATABASE_URL}","max_conns":16,"module":"postgres"}}`
	if !strings.Contains(string(out), want) {
		t.Fatalf("adapted JSON lacks\n%s\nin\n%s", want, out)
	}
}

// antom_store sqlite with a path adapts to the sqlite module; without the option the adapted
// JSON has no antom_store app (the default is applied at provision).
func TestAdaptAntomStoreSQLite(t *testing.T) {
	for src, want := range map[string]string{
		"{\n\tantom_store sqlite {\n\t\tpath /var/lib/caddy/events.db\n\t}\n}\n\n:8080 {\n\trespond ok\n}\n": `"antom_store":{"store":{"module":"sqlite","path":"/var/lib/caddy/events.db"}}`,
		":8080 {\n\trespond ok\n}\n": "",
	} {
		out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(src), nil)
		if err != nil {
			t.Fatal(err)
		}
		if want == "" && strings.Contains(string(out), "antom_store") || !strings.Contains(string(out), want) {
			t.Fatalf("adapted JSON of\n%s\nis\n%s\nwant it to contain %q", src, out, want)
		}
	}
}

func TestAntomStoreOptionErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"antom_store", "needs a store: sqlite or postgres"},
		{"antom_store mysql", `unknown antom_store "mysql"`},
		{"antom_store postgres", "needs dsn"},
		{"antom_store postgres {\n dsn x\n max_conns -1\n}", "max_conns must be a positive number"},
		{"antom_store postgres {\n dsn\n}", "'dsn' takes exactly one value"},
		{"antom_store postgres {\n password x\n}", "unrecognized antom_store postgres option 'password'"},
		{"antom_store caddy_storage", "caddy_storage is retired"},
		{"antom_store caddy_storage", "caddy antom copy-store --from files --to sqlite"},
		{"antom_store sqlite {\n path\n}", "path takes exactly one value"},
		{"antom_store sqlite {\n dsn x\n}", "unrecognized antom_store sqlite option 'dsn'"},
	} {
		_, err := parseStoreOption(caddyfile.NewTestDispenser(tc.src), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.src, err, tc.want)
		}
	}
}
