// Package vectors finds the golden vectors (testdata/antom-vectors at the repository root) for
// the tests of any package.
package vectors

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Dir is the absolute path of the golden vectors.
var Dir = func() string {
	_, file, _, _ := runtime.Caller(0) // internal/vectors/vectors.go
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "antom-vectors")
}()

// KeyPath is the absolute path of a key file in the golden vectors, for {file.*}.
func KeyPath(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(Dir, "keys", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("test vector missing: %v", err)
	}
	return p
}

// Key is the text of a key file in the golden vectors.
func Key(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(KeyPath(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
