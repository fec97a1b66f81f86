// Package e2e drives a real caddy binary, built with xcaddy from this checkout, over loopback.
//
// TestMain builds bin/caddy once with scripts/build-caddy.sh (a no-op when it is fresh), or uses
// $CADDY_BIN. `go test -short` skips every test that needs the binary.
//
// The harness, in short (see each function's doc):
//
//	p := startCaddy(t, caddyfile, env)        // caddy run, isolated HOME/XDG dirs, ready when admin answers
//	p := startCaddyWith(t, caddyOpts{...})    // shared DataDir (restarts, clusters), fixed admin, no wait
//	p.Stop() / p.Kill() / p.Restart() / p.Reload(caddyfile) / p.TryReload(caddyfile)
//	p.AdminGet(path) / p.AdminGetJSON(path, &v) / p.AdminDo(method, path, ctype, body)
//	p.Logs() / p.WaitLog(substr, timeout) / p.Exited()
//	out, err := runCaddy(t, env, "adapt", "--config", path)   // one-shot subcommands
//	freePort(t) / freeAddr(t)                 // 127.0.0.1 ports
//	app := newFakeApp(t)                      // records deliveries; SetStatuses, SetDelay, Off/On
//	readVector(t, "notification/body.json")   // testdata/antom-vectors
//	signNotification / postNotification       // sign like Antom with the golden antom_sim key
//	verifyStandardWebhook(t, secret, h, body) // the standardwebhooks npm package as verifier
//	requireTool(t, "php") / requireNodeModules(t)  // skip locally, FAIL in CI
//
// Every address is on 127.0.0.1. Caddyfiles given to startCaddy should use http:// site
// addresses on ports from freePort (or set their own TLS); the admin endpoint is set through
// CADDY_ADMIN, so the Caddyfile needs no `admin` option.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	repoRoot string // absolute path of the checkout
	caddyBin string // the binary under test; "" in -short mode
)

func TestMain(m *testing.M) {
	flag.Parse()
	root, err := filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	repoRoot = root
	if testing.Short() {
		os.Exit(m.Run()) // tests needing the binary skip themselves
	}
	if bin := os.Getenv("CADDY_BIN"); bin != "" {
		caddyBin = bin
	} else {
		caddyBin = filepath.Join(repoRoot, "bin", "caddy")
		if err := buildCaddy(caddyBin); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: building the caddy binary failed:", err)
			os.Exit(1)
		}
	}
	// os.Stat also makes go test's result cache depend on the binary's mtime and size.
	if fi, err := os.Stat(caddyBin); err != nil || fi.IsDir() {
		fmt.Fprintf(os.Stderr, "e2e: CADDY_BIN=%s is not a caddy binary (%v); did the build fail? "+
			"Run ./scripts/build-caddy.sh to see why.\n", caddyBin, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// buildCaddy runs scripts/build-caddy.sh, which skips the build when the binary is fresh.
func buildCaddy(out string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(repoRoot, "scripts", "build-caddy.sh"), out)
	cmd.Dir = repoRoot
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	return cmd.Run()
}

// caddyBinary returns the binary under test, or skips the test in -short mode.
func caddyBinary(t testing.TB) string {
	t.Helper()
	if caddyBin == "" {
		t.Skip("e2e: needs the caddy binary; skipped in -short mode")
	}
	return caddyBin
}

// inCI reports whether the tests run in CI (CI=true), where missing tools are failures.
func inCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v != "" && v != "false" && v != "0"
}

// missing fails the test for a tool or file it needs: ./scripts/test.sh installs them all, so a
// missing one is a broken set-up, never a reason to skip.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	t.Fatalf("%s (./scripts/test.sh installs it; run that, or see its set-up step)", fmt.Sprintf(format, args...))
}

// requireTool returns the path of an external program (php, chromium, node, ...), skipping the
// test when it is not installed, or failing it in CI.
func requireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(t, "e2e: %s is not installed", name)
	}
	return p
}

// handedOut are the ports freePort returned in this test process: the kernel may offer a port
// again once its listener closed, and two sites of one Caddyfile on one port do not load.
var handedOut sync.Map

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago and that it never
// returned before.
func freePort(t testing.TB) int {
	t.Helper()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("freePort: %v", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if _, seen := handedOut.LoadOrStore(port, true); !seen {
			return port
		}
	}
}

// freeAddr returns "127.0.0.1:<free port>".
func freeAddr(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", freePort(t))
}

// runCaddy runs a one-shot caddy subcommand (adapt, validate, list-modules, fmt, antom ...) in
// an isolated environment plus env, and returns its combined output.
func runCaddy(t testing.TB, env map[string]string, args ...string) (string, error) {
	t.Helper()
	bin := caddyBinary(t)
	home := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = home
	cmd.Env = caddyEnv(map[string]string{
		"HOME":            home,
		"XDG_DATA_HOME":   filepath.Join(home, "data"),
		"XDG_CONFIG_HOME": filepath.Join(home, "config"),
	}, env)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// caddyEnv is the process environment minus the variables the harness owns, plus defaults,
// plus env (which wins).
func caddyEnv(defaults, env map[string]string) []string {
	owned := map[string]bool{"HOME": true, "XDG_DATA_HOME": true, "XDG_CONFIG_HOME": true, "CADDY_ADMIN": true}
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		_, inDefaults := defaults[k]
		_, inEnv := env[k]
		if owned[k] || inDefaults || inEnv {
			continue
		}
		out = append(out, kv)
	}
	for k, v := range defaults {
		if _, ok := env[k]; !ok {
			out = append(out, k+"="+v)
		}
	}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// caddyOpts configures startCaddyWith.
type caddyOpts struct {
	Caddyfile string            // the config, adapted by caddy itself (so {$VAR} sees Env)
	Env       map[string]string // extra environment; wins over the harness defaults
	Name      string            // label in log dumps (default "caddy")
	// DataDir is XDG_DATA_HOME (caddy's default file storage is DataDir/caddy). Give two
	// processes, or two runs, the same DataDir to simulate a restart or a cluster sharing
	// storage. Default: a fresh t.TempDir().
	DataDir string
	Admin   string        // admin listen address; default freeAddr(t)
	NoWait  bool          // return right after starting, without waiting for the admin endpoint
	Ready   time.Duration // how long to wait for the admin endpoint (default 30s)
}

// caddyProc is one running `caddy run`.
type caddyProc struct {
	t          testing.TB
	opts       caddyOpts
	Admin      string // admin endpoint address (127.0.0.1:port)
	Dir        string // the process's working directory; holds the Caddyfile
	ConfigPath string // the Caddyfile
	DataDir    string // XDG_DATA_HOME
	ConfigDir  string // XDG_CONFIG_HOME (autosave.json lives in ConfigDir/caddy)
	HomeDir    string

	logs *syncBuffer
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when the current process has exited
	err  error         // its exit error
	runs int
}

// startCaddy starts `caddy run --config <Caddyfile> --adapter caddyfile` with its own HOME and
// XDG dirs and a free admin port, waits until the config is loaded (the admin endpoint answers
// GET /config/ only after the apps started), and stops it when the test ends. On test failure
// its logs are dumped.
func startCaddy(t testing.TB, caddyfile string, env map[string]string) *caddyProc {
	t.Helper()
	return startCaddyWith(t, caddyOpts{Caddyfile: caddyfile, Env: env})
}

// startCaddyWith is startCaddy with options: a shared data dir, a fixed admin address, a name.
func startCaddyWith(t testing.TB, o caddyOpts) *caddyProc {
	t.Helper()
	caddyBinary(t)
	if o.Name == "" {
		o.Name = "caddy"
	}
	if o.Admin == "" {
		o.Admin = freeAddr(t)
	}
	if o.Ready == 0 {
		o.Ready = 30 * time.Second
	}
	dir := t.TempDir()
	p := &caddyProc{
		t:          t,
		opts:       o,
		Admin:      o.Admin,
		Dir:        dir,
		ConfigPath: filepath.Join(dir, "Caddyfile"),
		DataDir:    o.DataDir,
		ConfigDir:  filepath.Join(dir, "config"),
		HomeDir:    filepath.Join(dir, "home"),
		logs:       &syncBuffer{},
	}
	if p.DataDir == "" {
		p.DataDir = filepath.Join(dir, "data")
	}
	for _, d := range []string{p.DataDir, p.ConfigDir, p.HomeDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(p.ConfigPath, []byte(o.Caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.running() {
			p.stop(10 * time.Second)
		}
		if t.Failed() {
			t.Logf("---- %s logs (admin %s) ----\n%s---- end of %s logs ----", o.Name, p.Admin, p.Logs(), o.Name)
		}
	})
	p.start()
	return p
}

func (p *caddyProc) start() {
	p.t.Helper()
	p.mu.Lock()
	p.runs++
	if p.runs > 1 {
		fmt.Fprintf(p.logs, "==== %s: restart #%d ====\n", p.opts.Name, p.runs-1)
	}
	cmd := exec.Command(caddyBin, "run", "--config", p.ConfigPath, "--adapter", "caddyfile")
	cmd.Dir = p.Dir
	cmd.Env = caddyEnv(map[string]string{
		"HOME":            p.HomeDir,
		"XDG_DATA_HOME":   p.DataDir,
		"XDG_CONFIG_HOME": p.ConfigDir,
		"CADDY_ADMIN":     p.Admin,
	}, p.opts.Env)
	cmd.Stdout = p.logs
	cmd.Stderr = p.logs
	// If the test binary dies, take caddy with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		p.mu.Unlock()
		p.t.Fatalf("starting %s: %v", p.opts.Name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.err = cmd, done, nil
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(done)
	}()
	if !p.opts.NoWait {
		p.waitReady(p.opts.Ready)
	}
}

// waitReady polls GET /config/ until it answers 200; fails the test if caddy exits first.
func (p *caddyProc) waitReady(timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case <-p.doneChan():
			p.t.Fatalf("%s exited during startup (%v); logs:\n%s", p.opts.Name, p.exitErr(), p.Logs())
		default:
		}
		resp, err := client.Get("http://" + p.Admin + "/config/")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: admin endpoint %s not ready after %s (last error: %v); logs:\n%s",
				p.opts.Name, p.Admin, timeout, err, p.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *caddyProc) doneChan() chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

func (p *caddyProc) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *caddyProc) running() bool {
	done := p.doneChan()
	if done == nil {
		return false // never started
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// Exited returns a channel closed when the current caddy process exits.
func (p *caddyProc) Exited() <-chan struct{} { return p.doneChan() }

// ExitErr is the exit error of the last process (nil while running or after a clean exit).
func (p *caddyProc) ExitErr() error { return p.exitErr() }

// PID is the current process id.
func (p *caddyProc) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Pid
}

// Stop sends SIGTERM (a graceful shutdown: apps' Stop and Cleanup run) and waits up to 20s,
// then SIGKILLs and fails the test. It returns the exit error (nil for a clean exit).
func (p *caddyProc) Stop() error {
	p.t.Helper()
	return p.stop(20 * time.Second)
}

func (p *caddyProc) stop(grace time.Duration) error {
	p.t.Helper()
	if !p.running() {
		return p.exitErr()
	}
	p.mu.Lock()
	proc := p.cmd.Process
	p.mu.Unlock()
	_ = proc.Signal(syscall.SIGTERM)
	select {
	case <-p.doneChan():
		return p.exitErr()
	case <-time.After(grace):
		_ = proc.Kill()
		<-p.doneChan()
		p.t.Errorf("%s did not exit within %s of SIGTERM; killed", p.opts.Name, grace)
		return p.exitErr()
	}
}

// Kill sends SIGKILL (a crash: no Stop, no Cleanup) and waits for the process to be gone.
func (p *caddyProc) Kill() {
	p.t.Helper()
	if !p.running() {
		return
	}
	p.mu.Lock()
	proc := p.cmd.Process
	p.mu.Unlock()
	_ = proc.Kill()
	<-p.doneChan()
}

// Restart stops caddy (SIGTERM) if it runs, and starts it again with the same Caddyfile (the
// last one given to Reload), data dir, config dir and admin address; it waits until ready.
func (p *caddyProc) Restart() {
	p.t.Helper()
	p.Stop()
	p.start()
}

// Reload loads a new Caddyfile through the admin API (POST /load, text/caddyfile), as
// `caddy reload` does; it returns once the new config runs, and fails the test if it is refused.
// The file on disk is updated too, so a later Restart uses it.
func (p *caddyProc) Reload(caddyfile string) {
	p.t.Helper()
	if err := p.TryReload(caddyfile); err != nil {
		p.t.Fatalf("%s: reload: %v", p.opts.Name, err)
	}
}

// TryReload is Reload returning the error (with caddy's message) instead of failing the test.
// A refused config leaves the old one running, and the file on disk unchanged.
func (p *caddyProc) TryReload(caddyfile string) error {
	p.t.Helper()
	status, body, err := p.adminDo(http.MethodPost, "/load", "text/caddyfile", []byte(caddyfile))
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("POST /load: HTTP %d: %s", status, strings.TrimSpace(string(body)))
	}
	p.opts.Caddyfile = caddyfile
	return os.WriteFile(p.ConfigPath, []byte(caddyfile), 0o600)
}

// AdminGet GETs an admin API path ("/config/", "/antom/events", ...) and returns the body;
// anything but 200 fails the test.
func (p *caddyProc) AdminGet(path string) []byte {
	p.t.Helper()
	status, body, err := p.adminDo(http.MethodGet, path, "", nil)
	if err != nil {
		p.t.Fatalf("%s: GET %s: %v", p.opts.Name, path, err)
	}
	if status != http.StatusOK {
		p.t.Fatalf("%s: GET %s: HTTP %d: %s", p.opts.Name, path, status, body)
	}
	return body
}

// AdminGetJSON GETs an admin API path and decodes the JSON answer into v.
func (p *caddyProc) AdminGetJSON(path string, v any) {
	p.t.Helper()
	body := p.AdminGet(path)
	if err := json.Unmarshal(body, v); err != nil {
		p.t.Fatalf("%s: GET %s: decoding %q: %v", p.opts.Name, path, body, err)
	}
}

// AdminDo sends any request to the admin API and returns status and body; only a transport
// error fails the test.
func (p *caddyProc) AdminDo(method, path, contentType string, body []byte) (int, []byte) {
	p.t.Helper()
	status, resp, err := p.adminDo(method, path, contentType, body)
	if err != nil {
		p.t.Fatalf("%s: %s %s: %v", p.opts.Name, method, path, err)
	}
	return status, resp
}

func (p *caddyProc) adminDo(method, path, contentType string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(method, "http://"+p.Admin+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	client := &http.Client{Timeout: 60 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// Logs returns everything caddy wrote to stdout and stderr so far, over all restarts.
func (p *caddyProc) Logs() string { return p.logs.String() }

// WaitLog waits until the logs contain substr and fails the test after timeout.
func (p *caddyProc) WaitLog(substr string, timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.Logs(), substr) {
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: no %q in the logs after %s", p.opts.Name, substr, timeout)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// LogEntries parses caddy's JSON log lines (non-JSON lines are skipped).
func (p *caddyProc) LogEntries() []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(p.Logs(), "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for the process's writers and the test's readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls cond every 20ms until it is true, failing the test after timeout with msg.
func waitFor(t testing.TB, timeout time.Duration, msg string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// httpDo sends a request to a loopback URL and returns status, headers and body; a transport
// error fails the test.
func httpDo(t testing.TB, method, url string, h http.Header, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	// A fresh connection per call: a pooled one may be the one a reload is closing (EOF).
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	client := &http.Client{Timeout: 30 * time.Second, Transport: tr}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return resp.StatusCode, resp.Header, b
}
