package main

// report.go: one Markdown table set (results.md, also printed) and the raw numbers
// (results.json) in the results folder. Repeated phases are shown as the median with the range
// over the runs, so the variance caused by other work on the machine stays visible.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

type report struct {
	o       *options
	env     *benchEnv
	started time.Time
	loadAt  float64

	Machine map[string]string `json:"machine"`
	Phases  []phase           `json:"phases"`
	micro   *microResults
	store   *storeResult
	drains  []*drainResult
}

func newReport(o *options, env *benchEnv) *report {
	r := &report{o: o, env: env, started: time.Now(), loadAt: loadAvg()}
	r.Machine = map[string]string{
		"cores":   fmt.Sprint(runtime.NumCPU()),
		"cpu":     cpuModel(),
		"memory":  memTotal(),
		"go":      runtime.Version(),
		"kernel":  strings.TrimSpace(cmdOutput("uname", "-r")),
		"caddy":   strings.TrimSpace(cmdOutput(o.caddy, "version")),
		"commit":  strings.TrimSpace(cmdOutput("git", "-C", repoRoot(), "rev-parse", "--short", "HEAD")),
		"dirty":   fmt.Sprint(strings.TrimSpace(cmdOutput("git", "-C", repoRoot(), "status", "--porcelain", "--untracked-files=no")) != ""),
		"disk":    strings.TrimSpace(cmdOutput("sh", "-c", "df -T "+o.work+" | tail -1 | awk '{print $1\" \"$2}'")),
		"started": r.started.Format(time.RFC3339),
	}
	for _, b := range env.builds() {
		r.Machine["build_"+b.name] = buildFlags(b.caddy)
	}
	return r
}

func (r *report) add(ps ...phase) { r.Phases = append(r.Phases, ps...) }

func (r *report) write() error {
	md := r.markdown()
	fmt.Println(md)
	if err := os.WriteFile(filepath.Join(r.o.out, "results.md"), []byte(md), 0o644); err != nil {
		return err
	}
	raw := map[string]any{"machine": r.Machine, "phases": r.Phases, "micro": r.micro, "store": r.store,
		"drains": r.drains, "profiles": summaries}
	b, err := json.MarshalIndent(raw, "", "  ")
	if err != nil {
		return err
	}
	logf("results in %s", r.o.out)
	return os.WriteFile(filepath.Join(r.o.out, "results.json"), b, 0o644)
}

// agg is one (scenario, build, load) over the runs.
type agg struct{ ps []phase }

func (a agg) med(f func(phase) float64) (med, lo, hi float64) {
	if len(a.ps) == 0 {
		return 0, 0, 0
	}
	v := make([]float64, len(a.ps))
	for i, p := range a.ps {
		v[i] = f(p)
	}
	slices.Sort(v)
	mid := v[len(v)/2]
	if len(v)%2 == 0 {
		mid = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return mid, v[0], v[len(v)-1]
}

// cell prints the median and, with several runs, the range.
func (a agg) cell(f func(phase) float64, format string) string {
	if len(a.ps) == 0 {
		return "–"
	}
	m, lo, hi := a.med(f)
	if len(a.ps) == 1 || lo == hi {
		return fmt.Sprintf(format, m)
	}
	return fmt.Sprintf(format+" ("+format+"–"+format+")", m, lo, hi)
}

func (a agg) sum(f func(phase) int) int {
	n := 0
	for _, p := range a.ps {
		n += f(p)
	}
	return n
}

func (r *report) get(scenario, build, load string) agg {
	var a agg
	for _, p := range r.Phases {
		if p.Scenario == scenario && p.Build == build && p.Load == load {
			a.ps = append(a.ps, p)
		}
	}
	return a
}

func (r *report) loads(scenario string) []string {
	var out []string
	for _, p := range r.Phases {
		if p.Scenario == scenario && !slices.Contains(out, p.Load) {
			out = append(out, p.Load)
		}
	}
	return out
}

var (
	rate  = func(p phase) float64 { return p.Rate }
	p50   = func(p phase) float64 { return p.P50 }
	p99   = func(p phase) float64 { return p.P99 }
	cpuRq = func(p phase) float64 { return p.CaddyUsReq }
	other = func(p phase) float64 { return p.CPU.Others }
	stole = func(p phase) float64 { return p.CPU.Stolen }
	fails = func(p phase) int { return p.Errors + p.Dropped }
	// deliveredRate is the distinct events the app received per second of the phase.
	deliveredRate = func(p phase) float64 { return float64(p.Delivered) / max(p.Seconds, 1e-9) }
	upConc        = func(p phase) float64 { return float64(p.UpMaxConc) }
)

func (r *report) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	m := r.Machine
	w("## Results (%s)", m["started"])
	w("")
	w("Machine: %s cores (%s), %s, Linux %s, storage on %s. %s. caddy-antom %s (uncommitted changes: %s).",
		m["cores"], m["cpu"], m["memory"], m["kernel"], m["disk"], m["go"], m["commit"], m["dirty"])
	w("Caddy: %s.", m["caddy"])
	for _, bl := range r.env.builds() {
		w("Build %s: %s.", bl.name, m["build_"+bl.name])
	}
	w("Load average (1 min) %.1f at the start and %.1f at the end: other work shared the 2 cores; the `others` column is the cores it used during each phase, and `stolen` the cores' time the hypervisor gave to other machines.",
		r.loadAt, loadAvg())
	w("Phases of %s, %d run(s) each on a fresh caddy; cells are `median (min–max over runs)`.", r.o.phase, r.o.repeat)
	w("")

	if r.micro != nil {
		w("### Yardsticks")
		w("")
		w("Best of %d rounds, builds alternating (the sign time of every round in brackets).", r.micro.Crypto[0].Rounds)
		w("")
		w("| build | RSA-2048 sign, 1 core | verify, 1 core | signs/s, all cores | verifies/s, all cores |")
		w("|---|---|---|---|---|")
		for _, c := range r.micro.Crypto {
			w("| %s | %.0f µs (%s) | %.0f µs | %.0f | %.0f |", c.Build, c.SignUs, floatsString(c.SignUsAll, "%.0f"), c.VerifyUs, c.SignPerSec, c.VerifyPerSec)
		}
		w("")
	}
	if s := r.store; s != nil {
		w("FileStorage.Store of %d bytes in a caddy data dir (temp file, fsync, rename), load average %.1f: sequential p50 %.2f ms, p99 %.2f ms, mean %.2f ms; Stat of a missing key %.1f µs.",
			s.Bytes, s.LoadAvg1m, s.SeqP50, s.SeqP99, s.SeqMean, s.StatUs)
		w("")
		w("| file operations | writers | per s | p50 ms | p99 ms | CPU µs each (incl. kernel) |")
		w("|---|---|---|---|---|---|")
		for _, p := range s.Parallel {
			w("| %s | %d | %.0f | %.2f | %.2f | %.0f |", p.Pattern, p.Writers, p.PerSec, p.P50, p.P99, p.CPUUs)
		}
		w("")
	}

	if loads := r.loads("notify"); len(loads) > 0 {
		w("### Notify path: antom_webhook vs reverse_proxy to the same app")
		w("")
		w("| build | load | notify ok/s | p50 ms | p99 ms | caddy CPU µs/req | delivered in the phase /s | app at once | delivery attempt ms | reverse_proxy ok/s | p50 ms | p99 ms | caddy CPU µs/req | CPU ratio | others / stolen (cores) | failed |")
		w("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
		for _, bl := range r.env.notifyBuilds() {
			for _, l := range loads {
				n, rp := r.get("notify", bl.name, l), r.get("reverse_proxy", bl.name, l)
				nc, _, _ := n.med(cpuRq)
				rc, _, _ := rp.med(cpuRq)
				w("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %.1fx | %s | %d / %d |", bl.name, l,
					n.cell(rate, "%.0f"), n.cell(p50, "%.2f"), n.cell(p99, "%.1f"), n.cell(cpuRq, "%.0f"),
					n.cell(deliveredRate, "%.0f"), n.cell(upConc, "%.0f"), n.cell(func(p phase) float64 { return p.DeliveryMs }, "%.1f"),
					rp.cell(rate, "%.0f"), rp.cell(p50, "%.2f"), rp.cell(p99, "%.1f"), rp.cell(cpuRq, "%.0f"),
					nc/max(rc, 1e-9), n.cell(other, "%.2f")+" / "+n.cell(stole, "%.2f"), n.sum(fails), rp.sum(fails))
			}
		}
		w("")
		if len(r.o.postgres) > 0 {
			w("postgres-N: the std build with `antom_store postgres` (max_conns %d), N instances on one fresh database per run, load spread round robin; caddy CPU is the sum over the instances. PostgreSQL is a local throwaway server from Debian's packages (fsync and synchronous_commit on, otherwise defaults) on the same 2 cores; its CPU (the server and its backends) is counted apart from caddy's and from `others`:", pgMaxConns)
			w("")
			pgUs := func(p phase) float64 { return p.CPU.PG * p.Seconds / max(1, float64(p.OK)) * 1e6 }
			pgCores := func(p phase) float64 { return p.CPU.PG }
			for _, bl := range r.env.notifyBuilds()[len(r.env.builds()):] {
				for _, l := range loads {
					n := r.get("notify", bl.name, l)
					w("- %s, %s: PostgreSQL %s µs CPU per notification (%s cores).", bl.name, l, n.cell(pgUs, "%.0f"), n.cell(pgCores, "%.2f"))
				}
			}
			w("")
		}
		for _, p := range r.Phases {
			if (p.Scenario == "notify" || p.Scenario == "reverse_proxy") && p.Note != "" {
				w("- %s %s %s run %d: %s", p.Scenario, p.Build, p.Load, p.Run, p.Note)
			}
		}
		sat := r.get("notify", "std", fmt.Sprintf("saturation c=%d", r.o.conc))
		if len(sat.ps) > 0 {
			c, _, _ := sat.med(func(p phase) float64 { return float64(p.NewConns) / max(1, float64(p.OK)) })
			w("New TCP connections from caddy to the app per notification at saturation: %.3f.", c)
		}
		w("")
	}

	if loads := r.loads("api_proxy"); len(loads) > 0 {
		w("### API proxy path: app -> caddy (antom_api) -> simulator vs app -> simulator")
		w("")
		w("| build | load | via caddy ok/s | p50 ms | p99 ms | conns | direct keep-alive ok/s | p50 ms | p99 ms | of which client crypto p50 | conns | direct new conn per call ok/s | p50 ms | p99 ms | conns | others / stolen |")
		w("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
		conns := func(p phase) float64 { return float64(p.NewConns) }
		excl := func(p phase) float64 { return p.Excluded }
		for _, bl := range r.env.builds() {
			for _, l := range loads {
				pr, d, dn := r.get("api_proxy", bl.name, l), r.get("api_direct", bl.name, l), r.get("api_direct_newconn", bl.name, l)
				w("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |", bl.name, l,
					pr.cell(rate, "%.0f"), pr.cell(p50, "%.2f"), pr.cell(p99, "%.1f"), pr.cell(conns, "%.0f"),
					d.cell(rate, "%.0f"), d.cell(p50, "%.2f"), d.cell(p99, "%.1f"), d.cell(excl, "%.2f"), d.cell(conns, "%.0f"),
					dn.cell(rate, "%.0f"), dn.cell(p50, "%.2f"), dn.cell(p99, "%.1f"), dn.cell(conns, "%.0f"), pr.cell(other, "%.2f")+" / "+pr.cell(stole, "%.2f"))
			}
		}
		w("")
		for _, bl := range r.env.builds() {
			limit, sign := r.rsaLimit(bl.name)
			if limit == 0 {
				continue
			}
			sat := r.get("api_proxy", bl.name, loads[0])
			got, _, _ := sat.med(rate)
			w("- %s: RSA limit %.0f calls/s (see below); via caddy at saturation %.0f calls/s = %.0f%% of it.", bl.name, limit, got, 100*got/limit)
			for _, l := range loads[1:] {
				pp, _, _ := r.get("api_proxy", bl.name, l).med(p50)
				dp, _, _ := r.get("api_direct", bl.name, l).med(p50)
				dnet, _, _ := r.get("api_direct", bl.name, l).med(func(p phase) float64 { return p.NetP50 })
				w("- %s at %s: added p50 %.2f ms over a direct client that signs itself, %.2f ms over the direct client's time without its own signing and verifying; one signature in caddy is %.2f ms (1.5x: %.2f ms).",
					bl.name, l, pp-dp, pp-dnet, sign/1000, 1.5*sign/1000)
			}
		}
		w("")
		w("RSA limit: per call caddy (or the direct client) signs the request and verifies the answer, and the simulator verifies the request and signs the answer; all four run on these 2 cores and are counted in. Limit = 1 / (1/caddy signs/s + 1/simulator signs/s + 2/verifies/s), rates on all cores from the yardsticks (the simulator is always the std build).")
		w("")
	}

	if len(r.drains) > 0 {
		d0 := r.drains[0]
		w("### Backlog drain")
		w("")
		w("%d events (%s) held back by %s, then released; the app answers after %s. Rate: distinct deliveries per second from the app's first to its last; at once: the most requests the app had in progress.",
			d0.Events, paymentsString(d0.Payments), map[string]string{"outage": "the app refusing connections", "pause": "a paused forward"}[d0.Backlog], r.o.appDelay)
		w("")
		w("| build, antom_webhook settings | acked/s while held | drain s | rate /s | at once | delivery attempt ms | duplicates | caddy cores while draining | others (cores) | RSS MiB start / peak ingest / peak drain |")
		w("|---|---|---|---|---|---|---|---|---|---|")
		for _, d := range r.drains {
			w("| %s | %.0f | %.1f | %.0f | %d | %.1f | %d | %.2f | %.2f | %.0f / %.0f / %.0f |", d.Build, d.Ingest.Rate, d.DrainSeconds, d.Rate, d.MaxConcurrent, d.DeliveryMs,
				d.Duplicates, d.DrainCPU.Caddy, d.DrainCPU.Others, d.RSSStart, d.RSSPeakIngest, d.RSSPeakDrain)
		}
		w("")
		for _, d := range r.drains {
			w("- %s: %d acked (p50 %.1f ms, p99 %.1f ms, %d failed; caddy %.0f µs CPU each), held %.1f s in all; %d pending at release, %d delivered %.1f s later, none pending in storage after %.1f s. Per second: %s.",
				d.Build, d.Ingest.OK, d.Ingest.P50, d.Ingest.P99, d.Ingest.Errors, d.Ingest.CaddyUsReq, d.AppDownSeconds,
				d.PendingAtOn, d.Delivered, d.DrainSeconds, d.RecordedSeconds, intsString(d.PerSecond, 40))
			if d.Note != "" {
				w("  %s", d.Note)
			}
		}
		w("")
	}

	if len(summaries) > 0 {
		w("### Where caddy's CPU time goes (pprof from the admin endpoint, first run)")
		w("")
		var files []string
		for f := range summaries {
			files = append(files, f)
		}
		slices.Sort(files)
		for _, f := range files {
			s := summaries[f]
			var parts []string
			for _, c := range s.Categories {
				if c.Percent >= 2 {
					parts = append(parts, fmt.Sprintf("%s %.0f%%", c.Name, c.Percent))
				}
			}
			w("- `%s` (%.2f cores): %s.", filepath.Base(f), s.Total/max(s.Duration, 1e-9), strings.Join(parts, ", "))
		}
		w("")
	}
	r.targets(w)
	w("Run time %s.", time.Since(r.started).Round(time.Second))
	return b.String()
}

// targets checks the targets against the std build's medians.
func (r *report) targets(w func(string, ...any)) {
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	w("### Targets (std build, medians over the runs)")
	w("")
	if sat := r.get("notify", "std", fmt.Sprintf("saturation c=%d", r.o.conc)); len(sat.ps) > 0 {
		v, lo, hi := sat.med(rate)
		w("- Notify throughput >= 2000/s: %.0f/s (%.0f–%.0f): %s.", v, lo, hi, verdict(v >= 2000))
	}
	if a := r.get("notify", "std", "500/s"); len(a.ps) > 0 {
		v, lo, hi := a.med(p99)
		w("- Notify p99 < 50 ms at 500/s: %.1f ms (%.1f–%.1f): %s.", v, lo, hi, verdict(v < 50))
	}
	if loads := r.loads("api_proxy"); len(loads) > 1 {
		if limit, sign := r.rsaLimit("std"); limit > 0 {
			l := loads[1]
			pp, _, _ := r.get("api_proxy", "std", l).med(p50)
			dnet, _, _ := r.get("api_direct", "std", l).med(func(p phase) float64 { return p.NetP50 })
			w("- API proxy added p50 <= 1.5x one signature (%.2f ms), at %s, over the direct client without its own signing: %.2f ms: %s.",
				1.5*sign/1000, l, pp-dnet, verdict(pp-dnet <= 1.5*sign/1000))
			got, _, _ := r.get("api_proxy", "std", loads[0]).med(rate)
			w("- API proxy throughput >= 80%% of the RSA limit (%.0f calls/s): %.0f calls/s = %.0f%%: %s.", limit, got, 100*got/limit, verdict(got >= 0.8*limit))
		}
	}
	for _, d := range r.drains {
		w("- Drain of %d events (%s) < 60 s: %.1f s: %s. Memory flat: RSS %.0f MiB at start, %.0f MiB peak while draining.",
			d.Events, d.Build, d.DrainSeconds, verdict(d.DrainSeconds < 60 && d.Delivered == d.Events), d.RSSStart, d.RSSPeakDrain)
	}
	w("")
}

func paymentsString(n int) string {
	if n == 0 {
		return "one payment each"
	}
	return fmt.Sprintf("of %d payments", n)
}

// rsaLimit is the API proxy calls per second this machine's RSA allows for build, and the
// time of one signature in that build's caddy (µs); 0 without micro numbers.
func (r *report) rsaLimit(build string) (limit, signUs float64) {
	if r.micro == nil || len(r.micro.Crypto) == 0 {
		return 0, 0
	}
	std := r.micro.Crypto[0]
	c := std
	for _, x := range r.micro.Crypto {
		if x.Build == build {
			c = x
		}
	}
	return 1 / (1/c.SignPerSec + 1/std.SignPerSec + 1/c.VerifyPerSec + 1/std.VerifyPerSec), c.SignUs
}

func floatsString(v []float64, format string) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(s, ", ")
}

func intsString(v []int, n int) string {
	if len(v) > n {
		v = v[:n]
	}
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, " ")
}

func cmdOutput(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return "?"
	}
	return string(out)
}

// buildFlags reports how a Go binary was built (GOEXPERIMENT, CGO_ENABLED), from its build info.
func buildFlags(bin string) string {
	out := cmdOutput("go", "version", "-m", bin)
	var parts []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "build" && (strings.HasPrefix(f[1], "GOEXPERIMENT=") || strings.HasPrefix(f[1], "CGO_ENABLED=")) {
			parts = append(parts, f[1])
		}
		if len(f) >= 2 && strings.HasPrefix(f[0], bin) {
			parts = append(parts, f[1])
		}
	}
	if len(parts) == 0 {
		return "?"
	}
	return strings.Join(parts, " ")
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

func memTotal() string {
	b, _ := os.ReadFile("/proc/meminfo")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			var kb float64
			fmt.Sscanf(strings.TrimSpace(v), "%f", &kb)
			return fmt.Sprintf("%.0f GiB RAM", kb/1024/1024)
		}
	}
	return "?"
}
