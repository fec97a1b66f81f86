package main

// env.go: what every scenario shares: the keys of the golden vectors, the pre-signed
// notifications, the caddy builds under test, and the two helper processes (the app and the
// simulator), which antombench starts as children of itself.

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/caddy-antom/caddy-antom/antom"
	"github.com/caddy-antom/caddy-antom/internal/pgtest"
)

// build is one caddy binary under test, with its event store and its antom_webhook settings.
type build struct {
	name      string // "std", "boringcrypto", the -alt name, or "postgres-N"; then the webhook settings
	caddy     string
	instances int    // > 0: this many caddy instances on one PostgreSQL database; 0: one on the default SQLite store
	webhook   string // further antom_webhook subdirectives, one per line ("" for the defaults)
}

// withWebhook is b once with each of the -webhook settings (b itself without any).
func (o *options) withWebhook(b build) []build {
	if len(o.webhook) == 0 {
		return []build{b}
	}
	var out []build
	for _, w := range o.webhook {
		bw := b
		var lines []string
		for _, l := range strings.Split(w, ",") {
			if l = strings.TrimSpace(l); l != "" {
				lines = append(lines, l)
			}
		}
		if len(lines) > 0 {
			bw.name += ", " + strings.Join(lines, ", ")
			bw.webhook = strings.Join(lines, "\n\t\t")
		}
		out = append(out, bw)
	}
	return out
}

type benchEnv struct {
	o *options

	antomKey    *rsa.PrivateKey // signs notifications (and, in the simulator, responses)
	merchantKey *rsa.PrivateKey // signs API requests
	caddyEnv    []string        // keys and secrets for the Caddyfile's {env.*} placeholders

	notes []notification

	app, sim *child
	simCA    string // the simulator's TLS certificate

	dataDirs map[string]string // by build: the storage dir of the last caddy started

	pg      *pgtest.Server // with -postgres
	pgClose func()
}

func newBenchEnv(ctx context.Context, o *options) (*benchEnv, error) {
	e, err := newKeys(o)
	if err != nil {
		return nil, err
	}
	if e.notes, err = presign(filepath.Join(repoRoot(), ".cache", "bench"), e.antomKey, max(o.pool, o.drainEvents), o.payments); err != nil {
		return nil, err
	}
	if e.app, err = startChild(ctx, "app", "-delay", o.appDelay.String()); err != nil {
		return nil, fmt.Errorf("starting the app: %w", err)
	}
	e.simCA = filepath.Join(o.work, "simulator-ca.pem")
	if e.sim, err = startChild(ctx, "sim",
		"-key", filepath.Join(o.vectors, "keys", "antom_sim_private_pkcs8.pem"),
		"-merchant-public-key", filepath.Join(o.vectors, "keys", "merchant_public_spki.b64"),
		"-ca-out", e.simCA); err != nil {
		e.app.stop()
		return nil, fmt.Errorf("starting the simulator: %w", err)
	}
	e.caddyEnv = append(e.caddyEnv, "SSL_CERT_FILE="+e.simCA)
	if len(o.postgres) > 0 {
		e.pg, e.pgClose = startPostgres()
	}
	return e, nil
}

// newKeys reads the keys of the golden vectors and makes the secrets caddy's config takes from
// its environment: what every scenario needs before anything runs.
func newKeys(o *options) (*benchEnv, error) {
	e := &benchEnv{o: o, dataDirs: map[string]string{}}
	read := func(name string) (string, error) {
		b, err := os.ReadFile(filepath.Join(o.vectors, "keys", name))
		if err != nil {
			return "", fmt.Errorf("%v (the golden vectors are in testdata/antom-vectors; -vectors)", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	antomPriv, err := read("antom_sim_private_pkcs8.pem")
	if err != nil {
		return nil, err
	}
	if e.antomKey, err = antom.ParsePrivateKey(antomPriv); err != nil {
		return nil, err
	}
	merchantPriv, err := read("merchant_private_pkcs8.b64")
	if err != nil {
		return nil, err
	}
	if e.merchantKey, err = antom.ParsePrivateKey(merchantPriv); err != nil {
		return nil, err
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	e.caddyEnv = []string{
		"BENCH_MERCHANT_PRIVATE_KEY=" + merchantPriv,
		"BENCH_ANTOM_PUBLIC_KEY=" + antom.EncodePublicKey(&e.antomKey.PublicKey),
		"BENCH_FORWARD_SECRET=whsec_" + base64.StdEncoding.EncodeToString(secret),
	}
	return e, nil
}

// builds are the caddy binaries to compare, the standard build first, each with every -webhook
// setting.
func (e *benchEnv) builds() []build {
	bs := e.o.withWebhook(build{name: "std", caddy: e.o.caddy})
	if e.o.boringCaddy != "" {
		bs = append(bs, e.o.withWebhook(build{name: "boringcrypto", caddy: e.o.boringCaddy})...)
	}
	if name, path, ok := strings.Cut(e.o.alt, "="); ok {
		bs = append(bs, e.o.withWebhook(build{name: name, caddy: path})...)
	}
	return bs
}

// drainBuilds are the standard build and the -alt one, each with every -webhook setting (the
// drain does not compare crypto).
func (e *benchEnv) drainBuilds() []build {
	bs := e.o.withWebhook(build{name: "std", caddy: e.o.caddy})
	if name, path, ok := strings.Cut(e.o.alt, "="); ok {
		bs = append(bs, e.o.withWebhook(build{name: name, caddy: path})...)
	}
	return bs
}

// notifyBuilds are the builds and, with -postgres, the standard build on PostgreSQL with each
// number of instances asked for.
func (e *benchEnv) notifyBuilds() []build {
	bs := e.builds()
	for _, n := range e.o.postgres {
		bs = append(bs, e.o.withWebhook(build{name: fmt.Sprintf("postgres-%d", n), caddy: e.o.caddy, instances: n})...)
	}
	return bs
}

// startCaddy starts a fresh caddy of build b (empty data dir) on the default SQLite store.
func (e *benchEnv) startCaddy(ctx context.Context, b build, label string) (*caddyProc, error) {
	c, err := startCaddy(ctx, b.caddy, e.o.work, label, e.caddyEnv, e.app.addr, e.sim.addr, "", b.webhook)
	if err == nil {
		e.dataDirs[b.name] = c.storageDir()
	}
	return c, err
}

// startInstances starts b's caddy instances: one on the default SQLite store, or b.instances on a fresh
// PostgreSQL database. On error none is left running.
func (e *benchEnv) startInstances(ctx context.Context, b build, label string) ([]*caddyProc, error) {
	if b.instances == 0 {
		c, err := e.startCaddy(ctx, b, label)
		if err != nil {
			return nil, err
		}
		return []*caddyProc{c}, nil
	}
	store := storeConfig(e.pg.DSN())
	var cs []*caddyProc
	for range b.instances {
		c, err := startCaddy(ctx, b.caddy, e.o.work, label, e.caddyEnv, e.app.addr, e.sim.addr, store, b.webhook)
		if err != nil {
			stopAll(cs)
			return nil, err
		}
		cs = append(cs, c)
	}
	return cs, nil
}

// pgPID is the PostgreSQL server's process if b uses it, else 0.
func (e *benchEnv) pgPID(b build) int {
	if b.instances == 0 {
		return 0
	}
	return e.pg.PID()
}

func (e *benchEnv) close() {
	if e.pgClose != nil {
		e.pgClose()
	}
	e.sim.stop()
	e.app.stop()
}

// child is antombench running as the app or the simulator.
type child struct {
	cmd     *exec.Cmd
	addr    string // the service
	control string // its control endpoint
}

// startChild runs this binary with role and waits for its "ready <addr> <control>" line.
func startChild(ctx context.Context, role string, args ...string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, append([]string{role}, args...)...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "ready ") {
				ready <- sc.Text()
			}
		}
	}()
	select {
	case line := <-ready:
		f := strings.Fields(line)
		if len(f) != 3 {
			_ = cmd.Process.Kill()
			return nil, fmt.Errorf("%s: unexpected line %q", role, line)
		}
		return &child{cmd: cmd, addr: f[1], control: f[2]}, nil
	case <-time.After(60 * time.Second):
	case <-ctx.Done():
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	return nil, fmt.Errorf("%s did not start within 60s", role)
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func (c *child) get(path string, v any) error {
	resp, err := http.Get("http://" + c.control + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

func (c *child) post(path string) error {
	resp, err := http.Post("http://"+c.control+path, "text/plain", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d", path, resp.StatusCode)
	}
	return nil
}

func (c *child) stop() {
	if c == nil {
		return
	}
	_ = c.cmd.Process.Kill()
	_ = c.cmd.Wait()
}

func (e *benchEnv) appStats() appStats {
	var s appStats
	_ = e.app.get("/stats", &s)
	return s
}
