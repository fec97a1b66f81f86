package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// demoPorts are the fixed ports of examples/Caddyfile and scripts/demo.sh. Other e2e tests use
// free random ports; this test is not parallel, and the browser test runs the same stack on free
// ports, so they never share these.
var demoPorts = []int{8443, 8444, 8600, 8700, 8081, 8080, 2019}

// demoPortsBusy lists the demo's ports that something listens on.
func demoPortsBusy() []int {
	var busy []int
	for _, p := range demoPorts {
		ln, err := net.Listen("tcp", fmt.Sprintf(":%d", p))
		if err != nil {
			busy = append(busy, p)
			continue
		}
		ln.Close()
	}
	return busy
}

// demoPortsTaken skips the test locally and fails it in CI, where nothing else should hold the
// demo's fixed ports.
func demoPortsTaken(t testing.TB, why string) {
	t.Helper()
	msg := fmt.Sprintf("e2e: the demo needs the fixed ports %v; %s", demoPorts, why)
	if inCI() {
		t.Fatalf("%s (CI=true: they must be free)", msg)
	}
	t.Skipf("%s; skipping (in CI this fails)", msg)
}

// TestDemoWalkOnly runs `scripts/demo.sh --walk-only`, the README's "run it" command, with its
// state in a temp dir: fresh keys and secret, caddy and the PHP shop on the demo's fixed ports, one
// payment from checkout to "paid" and its refund, a 3-D Secure card payment authorised then
// captured, then everything stopped.
func TestDemoWalkOnly(t *testing.T) {
	bin := caddyBinary(t)
	requireTool(t, "php")
	if busy := demoPortsBusy(); len(busy) > 0 {
		demoPortsTaken(t, fmt.Sprintf("%v are in use (a demo running?)", busy))
	}

	dir := filepath.Join(t.TempDir(), "demo")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(repoRoot, "scripts", "demo.sh"), "--walk-only")
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "DEMO_DIR="+dir, "CADDY_BIN="+bin)
	// On timeout, SIGTERM lets the script's trap stop caddy and the shop.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	start := time.Now()
	outb, err := cmd.CombinedOutput()
	out := string(outb)
	t.Logf("scripts/demo.sh --walk-only (%s):\n%s", time.Since(start).Round(time.Millisecond), out)
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && exitErr.ExitCode() == 3 {
		demoPortsTaken(t, "scripts/demo.sh found some in use (exit status 3)")
	}
	if err != nil {
		for _, f := range []string{"logs/caddy.log", "logs/shop.log"} {
			if b, rerr := os.ReadFile(filepath.Join(dir, f)); rerr == nil {
				t.Logf("---- %s ----\n%s", f, b)
			}
		}
		t.Fatalf("scripts/demo.sh --walk-only: %v", err)
	}

	for _, want := range []string{
		"[1/8] The shop creates an order",
		"caddy -> signed it with the merchant key",
		"shop  -> 303 to the cashier page (normalUrl): http://127.0.0.1:8600/cashier/",
		"[2/8] The buyer pays 12.50 USD on Antom's cashier page", // minor units shown as money
		"[3/8] Antom (the simulator) sends a signed PAYMENT_RESULT notification to https://localhost:8443/antom/notify",
		"acked on attempt",
		"[4/8] Caddy verified the signature, stored the event",
		"type        PAYMENT_RESULT, resultStatus S, source notification",
		"[5/8] The shop verified the forwarded event and shows the order \"paid\"",
		"#order-state = paid",
		"[6/8] Refund",
		"#order-state = refunded",
		"Payment walked through",
		"[7/8] A card payment: the shop's card form (server to server), 3-D Secure, authorisation only",
		"antom -> PAYMENT_RESULT S (card 411111******1111, 3-D Secure passed)",
		"#order-state = authorized",
		"[8/8] Capture",
		"antom -> CAPTURE_RESULT; caddy verified, stored and delivered it",
		"Card payment walked through: 3-D Secure -> authorised -> captured -> shop \"paid\"",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the demo's output lacks %q", want)
		}
	}
	if strings.Contains(out, "FAILED") {
		t.Errorf("the demo's output reports a failure")
	}

	// First run: keys and secret made into DEMO_DIR, readable only by the user; Caddy's storage
	// (its local CA, the antom events) under DEMO_DIR too.
	fi, err := os.Stat(filepath.Join(dir, "demo.env"))
	if err != nil {
		t.Fatalf("no demo.env in DEMO_DIR: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("demo.env has mode %v, want 0600", fi.Mode().Perm())
	}
	env, _ := os.ReadFile(filepath.Join(dir, "demo.env"))
	for _, v := range []string{"ANTOM_CLIENT_ID=", "ANTOM_MERCHANT_PRIVATE_KEY=MII", "ANTOM_MERCHANT_PUBLIC_KEY=MII",
		"ANTOM_SIMULATOR_PRIVATE_KEY=MII", "ANTOM_PUBLIC_KEY=MII", "ANTOM_FORWARD_SECRET=whsec_"} {
		if !strings.Contains(string(env), "\n"+v) {
			t.Errorf("demo.env has no line starting %q", v)
		}
	}
	for _, p := range []string{"data/caddy/pki/authorities/local/root.crt", "data/caddy/antom/events.db"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("DEMO_DIR lacks %s: %v", p, err)
		}
	}
	// Everything stopped: the ports are free again.
	waitFor(t, 10*time.Second, "the demo's ports to be free after --walk-only", func() bool { return len(demoPortsBusy()) == 0 })
}
