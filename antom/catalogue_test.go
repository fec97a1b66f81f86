package antom

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// catalogueTable renders Catalogue as the README's table of notification families.
func catalogueTable() string {
	var b strings.Builder
	b.WriteString("| family (SDK class) | recognised by | `Antom-Event-Kind` | `Antom-Event-Type` from | `Antom-Request-Id` from | deduplication key |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	code := func(names []string) string {
		if len(names) == 0 {
			return "none"
		}
		return "`" + strings.Join(names, "`, `") + "`"
	}
	for _, f := range append(Catalogue, unknownFamily) {
		class := ""
		if f.SDKClass != "" {
			class = " (`" + f.SDKClass + "`)"
		}
		b.WriteString("| " + f.Name + class + " | " + f.Recognised + " | `" + f.Kind + "` | " + code(f.TypeFields) +
			" | " + code(f.RequestIDFields) + " | " + f.Key + " |\n")
	}
	return b.String()
}

// The README's table is the catalogue, so the user reference cannot drift from the code.
func TestReadmeHasCatalogue(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if table := catalogueTable(); !strings.Contains(string(readme), table) {
		t.Fatalf("README.md does not contain the notification catalogue; put this table in the antom_webhook section:\n%s", table)
	}
}

// Every family can be recognised: the corpus has a body of each.
func TestCorpusCoversCatalogue(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range readCorpus(t) {
		n, _ := ParseNotification(c.body)
		seen[n.Family] = true
	}
	for _, f := range append(Catalogue, unknownFamily) {
		if !seen[f.Name] {
			t.Errorf("no body of the corpus is recognised as %s", f.Name)
		}
	}
}
