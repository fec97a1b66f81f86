package command

import (
	"os"
	"path/filepath"
	"testing"
)

// vectorsDir holds the golden vectors, testdata/antom-vectors at the repository root.
var vectorsDir = filepath.Join("..", "testdata", "antom-vectors")

// vectorKeyPath is the absolute path of a key file in the golden vectors.
func vectorKeyPath(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join(vectorsDir, "keys", name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("test vector missing: %v", err)
	}
	return p
}

// vectorKey is the text of a key file in the golden vectors.
func vectorKey(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(vectorKeyPath(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
