package e2e

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// TestPHPShopSuite runs the example shop's own test runner with Debian's php-cli: the
// Standard Webhooks verifier against openssl-made vectors, and the shop end to end against a stub
// antom_api (checkout, verified events, duplicates, refunds, the result page never marking paid).
func TestPHPShopSuite(t *testing.T) {
	php := requireTool(t, "php")
	cmd := exec.Command(php, filepath.Join(repoRoot, "examples", "php-shop", "tests", "run.php"))
	cmd.Dir = repoRoot
	owned(t, cmd, nil) // the suite's php -S servers go with it
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("php examples/php-shop/tests/run.php: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`(?m)^(\d+) passed, (\d+) failed`).FindSubmatch(out)
	if m == nil || string(m[2]) != "0" || string(m[1]) == "0" {
		t.Fatalf("the shop suite did not report a clean run:\n%s", out)
	}
	t.Logf("php shop suite: %s passed", m[1])
}
