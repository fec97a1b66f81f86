package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// nodeDir is e2e/node: package.json with standardwebhooks and playwright-core, and the scripts
// the Go tests run. `npm ci` there installs node_modules (.ci/run does it).
func nodeDir() string { return filepath.Join(repoRoot, "e2e", "node") }

// requireNodeModules fails the test when node or the standardwebhooks package in
// e2e/node/node_modules is missing: `scripts/setup.sh test` installs both.
func requireNodeModules(t testing.TB) {
	t.Helper()
	requireTool(t, "node")
	if _, err := os.Stat(filepath.Join(nodeDir(), "node_modules", "standardwebhooks")); err != nil {
		missing(t, "e2e: the npm package standardwebhooks is not in e2e/node/node_modules (run: scripts/setup.sh test, or cd e2e/node && npm ci)")
	}
}

// runNode runs `node <script> args...` in e2e/node with stdin, and returns its stdout; a
// non-zero exit is returned as an error carrying stderr, and the stdout is still returned.
func runNode(t testing.TB, script string, stdin []byte, args ...string) ([]byte, error) {
	t.Helper()
	requireNodeModules(t)
	cmd := exec.Command("node", append([]string{script}, args...)...)
	cmd.Dir = nodeDir()
	defer time.AfterFunc(2*time.Minute, owned(t, cmd, stdin)).Stop()
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("node %s: %w; stderr: %s", script, err, stderr.Bytes())
	}
	return stdout.Bytes(), nil
}

// verifyStandardWebhook verifies a delivery (the headers and raw body our forwarder sent) with
// the standardwebhooks npm package — a third-party Standard Webhooks implementation. It returns
// nil when that library accepts the signature, else its error message. The library refuses
// timestamps more than 5 minutes from now.
func verifyStandardWebhook(t testing.TB, secret string, h http.Header, body []byte) error {
	t.Helper()
	headers := map[string]string{}
	for k := range h {
		headers[k] = h.Get(k)
	}
	in, err := json.Marshal(map[string]any{"secret": secret, "headers": headers, "bodyBase64": body})
	if err != nil {
		t.Fatal(err)
	}
	out, runErr := runNode(t, "swh-verify.cjs", in)
	var res struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("swh-verify.cjs: unreadable answer %q (%v)", out, runErr)
	}
	if res.OK {
		return nil
	}
	return errors.New("standardwebhooks: " + res.Error)
}
