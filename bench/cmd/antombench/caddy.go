package main

// caddy.go: runs the xcaddy-built caddy under test, as users run it (`caddy run` with a
// Caddyfile and the default file_system storage in its data dir), on 127.0.0.1 ports, and reads
// CPU profiles from its admin endpoint while it is under load.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// caddyPorts are the sites of one caddy instance.
type caddyPorts struct {
	admin  string // admin endpoint (pprof)
	notify string // antom_webhook at notifyPath
	rp     string // plain reverse_proxy to the app
	api    string // antom_api (the signing proxy)
}

// caddyfile is the config under test. The notify site and the reverse_proxy site forward to the
// same app; antom_api calls the simulator over HTTPS. store is an antom_store global option (""
// for the default SQLite store); webhook holds further antom_webhook subdirectives (max_in_flight,
// rate, ordering), one per line. Logging stays at Caddy's default (INFO to stderr, which goes to a
// file), as users run it.
func caddyfile(p caddyPorts, appAddr, simAddr, store, webhook string) string {
	return fmt.Sprintf(`{
	admin %[1]s
	persist_config off
	%[9]s
	antom {
		client_id        %[2]s
		private_key      {env.BENCH_MERCHANT_PRIVATE_KEY}
		antom_public_key {env.BENCH_ANTOM_PUBLIC_KEY}
		gateway          https://%[7]s
	}
}

http://%[3]s {
	bind 127.0.0.1
	antom_webhook %[8]s {
		forward        http://%[6]s/antom-events
		forward_secret {env.BENCH_FORWARD_SECRET}
		%[10]s
	}
}

http://%[4]s {
	bind 127.0.0.1
	reverse_proxy %[6]s
}

http://%[5]s {
	bind 127.0.0.1
	antom_api
}
`, p.admin, clientID, p.notify, p.rp, p.api, appAddr, simAddr, notifyPath, store, webhook)
}

// caddyProc is a running caddy.
type caddyProc struct {
	cmd   *exec.Cmd
	dir   string // HOME; data in dir/data/caddy
	ports caddyPorts
	log   string
	done  chan struct{}
}

// startCaddy writes the Caddyfile into a fresh folder under work and runs bin in it. It returns
// when the admin endpoint and every site answer.
func startCaddy(ctx context.Context, bin, work, name string, env []string, appAddr, simAddr, store, webhook string) (*caddyProc, error) {
	dir, err := os.MkdirTemp(work, fileSafe(name)+"-")
	if err != nil {
		return nil, err
	}
	var ports caddyPorts
	for _, p := range []*string{&ports.admin, &ports.notify, &ports.rp, &ports.api} {
		if *p, err = freeAddr(); err != nil {
			return nil, err
		}
	}
	cfg := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cfg, []byte(caddyfile(ports, appAddr, simAddr, store, webhook)), 0o600); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "caddy.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "run", "--config", cfg, "--adapter", "caddyfile")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"HOME="+dir,
		"XDG_DATA_HOME="+filepath.Join(dir, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // dies with antombench
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &caddyProc{cmd: cmd, dir: dir, ports: ports, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(c.done) }()

	deadline := time.Now().Add(30 * time.Second)
	for _, addr := range []string{ports.admin, ports.notify, ports.rp, ports.api} {
		for !dialable(addr) {
			select {
			case <-c.done:
				return nil, fmt.Errorf("caddy exited at start; last lines of %s:\n%s", logPath, tail(logPath, 15))
			case <-ctx.Done():
				c.stop()
				return nil, ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				c.stop()
				return nil, fmt.Errorf("caddy did not listen on %s within 30s; see %s", addr, logPath)
			}
		}
	}
	return c, nil
}

func (c *caddyProc) pid() int { return c.cmd.Process.Pid }

func (c *caddyProc) notifyURL() string { return "http://" + c.ports.notify + notifyPath }

// storageDir is caddy's file_system storage (the antom outbox lives under antom/ in it).
func (c *caddyProc) storageDir() string { return filepath.Join(c.dir, "data", "caddy") }

// stop asks caddy to exit (SIGINT, as Ctrl-C) and kills it after 15 s.
func (c *caddyProc) stop() {
	_ = c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

func stopAll(cs []*caddyProc) {
	for _, c := range cs {
		c.stop()
	}
}

// profile fetches a CPU profile of secs seconds from the admin endpoint into path. Run it in a
// goroutine while the load runs.
func (c *caddyProc) profile(secs int, path string) error {
	client := &http.Client{Timeout: time.Duration(secs+30) * time.Second}
	resp, err := client.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", c.ports.admin, secs))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return fmt.Errorf("pprof: HTTP %d: %s", resp.StatusCode, b)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// admin POSTs to path on caddy's admin endpoint (pause and resume of the forwards).
func (c *caddyProc) admin(path string) error {
	resp, err := http.Post("http://"+c.ports.admin+path, "application/json", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return fmt.Errorf("POST %s: HTTP %d: %s", path, resp.StatusCode, b)
	}
	return nil
}

// deliveryTime reads caddy's caddy_antom_delivery_duration_seconds histogram from its admin
// /metrics: the number of delivery attempts so far and the seconds they took in all.
func (c *caddyProc) deliveryTime() (count, seconds float64) {
	resp, err := http.Get("http://" + c.ports.admin + "/metrics")
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		name, v, _ := strings.Cut(line, " ")
		switch name {
		case "caddy_antom_delivery_duration_seconds_count":
			count, _ = strconv.ParseFloat(v, 64)
		case "caddy_antom_delivery_duration_seconds_sum":
			seconds, _ = strconv.ParseFloat(v, 64)
		}
	}
	return count, seconds
}

// deliveryMeter measures the mean time of caddy's delivery attempts from now until its result
// is called (milliseconds, 0 when none were made).
func (c *caddyProc) deliveryMeter() func() float64 {
	n0, s0 := c.deliveryTime()
	return func() float64 {
		n, s := c.deliveryTime()
		if n <= n0 {
			return 0
		}
		return (s - s0) / (n - n0) * 1000
	}
}

// countLog counts lines of caddy's log containing s (e.g. errors).
func (c *caddyProc) countLog(s string) int {
	b, err := os.ReadFile(c.log)
	if err != nil {
		return 0
	}
	return strings.Count(string(b), s)
}

// fileSafe turns a build's name ("std, rate 200/s") into a file name ("std_rate_200_s").
func fileSafe(name string) string {
	return strings.Join(strings.FieldsFunc(name, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '.')
	}), "_")
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func dialable(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
