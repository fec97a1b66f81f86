// Command antombench measures caddy-antom on this machine, end to end, against a real
// xcaddy-built caddy on loopback, and prints one table (BENCHMARKS.md explains it):
//
//   - notify: signed Antom notifications -> verify -> durable write -> delivery to a fast app
//     -> ack, side by side with Caddy's plain reverse_proxy to the same app;
//   - proxy: app -> caddy (antom_api) -> simulator, side by side with app -> simulator directly,
//     once with a keep-alive client and once with a client that opens a connection per call;
//   - drain: 10,000 notifications stored while the app refuses connections (or, with -backlog
//     pause, while the forward is paused), then the time the dispatcher takes to deliver them all
//     once the app is back, the rate and the most deliveries at once the app saw, and caddy's RSS
//     meanwhile; -webhook compares antom_webhook settings (max_in_flight, rate, ordering) and
//     -payments makes the notifications the events of a few payments;
//   - micro: one RSA-2048 signature, one verification and one FileStorage.Store, the yardsticks;
//   - search (not in all): the operator's searches at -search-events retained events (a million)
//     on SQLite and on PostgreSQL, through the admin API and `caddy antom events`, with caddy's RSS.
//
// Usually run through bench/run.sh, which builds the caddy binaries first. Directly:
//
//	go run ./bench/cmd/antombench -caddy bin/caddy-bench [-boring-caddy bin/caddy-bench-boring] all
//
// Subcommands: all (default), micro, notify, proxy, drain, search. The roles app and sim are the upstream
// app and the Antom simulator; antombench starts them as child processes of itself.
//
// Everything listens on 127.0.0.1, every loop is bounded in count and time, and the child
// processes (caddy, app, sim) die with this one.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// options are the command-line flags shared by the scenarios.
type options struct {
	caddy        string        // the caddy binary under test
	boringCaddy  string        // optional: the same caddy built with GOEXPERIMENT=boringcrypto
	boringSelf   string        // optional: antombench built with GOEXPERIMENT=boringcrypto, for micro
	alt          string        // optional: "name=path" of another caddy build to compare (before/after a change)
	vectors      string        // testdata/antom-vectors
	out          string        // results folder (results.md, results.json, profiles)
	work         string        // scratch folder for caddy's data dirs
	repeat       int           // how often the notify and proxy scenarios are repeated
	phase        time.Duration // length of one measured phase
	rates        []int         // fixed arrival rates for the notify path
	proxyRates   []int         // fixed arrival rates for the API proxy path
	conc         int           // concurrency of the saturation (closed-loop) phases
	pool         int           // pre-signed notifications per caddy instance
	drainEvents  int           // events queued in the drain scenario
	profile      bool          // capture CPU profiles from caddy's admin endpoint
	jsonOut      bool          // micro only: print JSON (used for the boringcrypto build)
	postgres     []int         // notify also on the PostgreSQL store, with these numbers of instances
	webhook      []string      // antom_webhook settings to compare ("max_in_flight 16, rate 200/s"); none: the defaults
	payments     int           // notifications are events of this many payments (0: one payment each)
	backlog      string        // drain: how the backlog builds up, "outage" (the app refuses) or "pause"
	appDelay     time.Duration // how long the app takes to answer
	searchEvents int           // search: events seeded on each engine
}

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "app":
			runApp(os.Args[2:])
			return
		case "sim":
			runSim(os.Args[2:])
			return
		}
	}
	root := repoRoot()
	var o options
	var rates, proxyRates, postgres string
	flag.StringVar(&o.caddy, "caddy", filepath.Join(root, "bin", "caddy-bench"), "caddy binary built with xcaddy (scripts/build-caddy.sh)")
	flag.StringVar(&o.boringCaddy, "boring-caddy", "", "the same caddy built with GOEXPERIMENT=boringcrypto CGO_ENABLED=1 (optional)")
	flag.StringVar(&o.boringSelf, "boring-self", "", "antombench built with GOEXPERIMENT=boringcrypto CGO_ENABLED=1, for the micro numbers (optional)")
	flag.StringVar(&o.alt, "alt", "", "another caddy build to run side by side, as name=path (e.g. before=bin/caddy-before)")
	flag.StringVar(&o.vectors, "vectors", filepath.Join(root, "testdata", "antom-vectors"), "the golden Antom vectors (keys)")
	flag.StringVar(&o.out, "out", filepath.Join(root, "bench", "results", "latest"), "results folder")
	flag.StringVar(&o.work, "work", "", "scratch folder for caddy data dirs (default: a new temp dir, removed at the end)")
	flag.IntVar(&o.repeat, "repeat", 3, "repetitions of the notify and proxy scenarios (each on a fresh caddy)")
	flag.DurationVar(&o.phase, "phase", 10*time.Second, "length of one measured phase")
	flag.StringVar(&rates, "rates", "100,500,1000", "fixed arrival rates for the notify path, per second")
	flag.StringVar(&proxyRates, "proxy-rates", "100,300", "fixed arrival rates for the API proxy path, per second")
	flag.IntVar(&o.conc, "conc", 64, "concurrency of the saturation phases")
	flag.IntVar(&o.pool, "pool", 60000, "pre-signed notifications (cached in .cache/bench)")
	flag.IntVar(&o.drainEvents, "drain-events", 10000, "events queued in the drain scenario")
	flag.BoolVar(&o.profile, "profile", true, "capture CPU profiles through caddy's admin /debug/pprof/profile")
	flag.BoolVar(&o.jsonOut, "json", false, "micro: print JSON only")
	flag.StringVar(&postgres, "postgres", "", "notify: also run the std build with antom_store postgres on a throwaway local PostgreSQL, with each of these numbers of caddy instances on one database (e.g. 1,3)")
	flag.Func("webhook", "antom_webhook subdirectives for every caddy, comma-separated (e.g. \"max_in_flight 16, rate 200/s\" or \"ordering off\"); repeat the flag to compare settings, \"\" for the defaults", func(s string) error {
		o.webhook = append(o.webhook, s)
		return nil
	})
	flag.IntVar(&o.payments, "payments", 0, "notify and drain: events of this many payments (PAYMENT_RESULT, then REFUND_RESULTs of one paymentId: what ordering keeps in order); 0: each notification a payment of its own")
	flag.StringVar(&o.backlog, "backlog", "outage", "drain: how the backlog builds up: outage (the app refuses connections, each event's first delivery fails) or pause (the forward is paused through the admin API, then resumed)")
	flag.IntVar(&o.searchEvents, "search-events", 1_000_000, "search: events retained on each engine (seeded by SQL from one stored event)")
	flag.DurationVar(&o.appDelay, "app-delay", 0, "time the app takes per request (a PHP worker's page time); 0: it answers at once")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: antombench [flags] [all|micro|notify|proxy|drain|search]\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	var err error
	if o.rates, err = parseInts(rates); err != nil {
		fatalf("-rates: %v", err)
	}
	if o.proxyRates, err = parseInts(proxyRates); err != nil {
		fatalf("-proxy-rates: %v", err)
	}
	if o.postgres, err = parseInts(postgres); err != nil {
		fatalf("-postgres: %v", err)
	}
	if o.backlog != "outage" && o.backlog != "pause" {
		fatalf("-backlog %q: want outage or pause", o.backlog)
	}
	what := "all"
	if flag.NArg() > 0 {
		what = flag.Arg(0)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	if what == "micro" && o.jsonOut {
		printJSON(os.Stdout, runMicroCrypto())
		return
	}
	if err := run(ctx, &o, what); err != nil {
		fatalf("%v", err)
	}
}

// run prepares the shared pieces (keys, pre-signed notifications, the app and the simulator)
// and runs the scenarios asked for, then writes the report.
func run(ctx context.Context, o *options, what string) error {
	switch what {
	case "all", "micro", "notify", "proxy", "drain", "search":
	default:
		return fmt.Errorf("unknown scenario %q (all, micro, notify, proxy, drain, search)", what)
	}
	for _, p := range []*string{&o.caddy, &o.boringCaddy, &o.boringSelf, &o.out, &o.vectors} {
		if *p != "" {
			abs, err := filepath.Abs(*p)
			if err != nil {
				return err
			}
			*p = abs
		}
	}
	if err := checkBinary(o.caddy); err != nil {
		return err
	}
	if o.boringCaddy != "" {
		if err := checkBinary(o.boringCaddy); err != nil {
			return err
		}
	}
	if o.alt != "" {
		name, path, ok := strings.Cut(o.alt, "=")
		if !ok || name == "" || name == "std" {
			return fmt.Errorf("-alt %q: want name=path", o.alt)
		}
		if path, err := filepath.Abs(path); err != nil || checkBinary(path) != nil {
			return fmt.Errorf("-alt %q: no caddy binary at %s", o.alt, path)
		} else {
			o.alt = name + "=" + path
		}
	}
	if o.work == "" {
		dir, err := os.MkdirTemp("", "antombench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.work = dir
	}
	if err := os.MkdirAll(filepath.Join(o.out, "profiles"), 0o755); err != nil {
		return err
	}
	if what == "search" { // its own caddy and databases; not part of all (it seeds for minutes)
		return runSearch(ctx, o)
	}
	env, err := newBenchEnv(ctx, o)
	if err != nil {
		return err
	}
	defer env.close()
	rep := newReport(o, env)

	if what == "all" || what == "micro" {
		rep.micro = runMicro(ctx, o, env)
	}
	if what == "all" || what == "notify" {
		for r := 1; r <= o.repeat && ctx.Err() == nil; r++ {
			for _, b := range env.notifyBuilds() {
				rows, err := runNotify(ctx, o, env, b, r)
				if err != nil {
					return fmt.Errorf("notify (%s, run %d): %w", b.name, r, err)
				}
				rep.add(rows...)
			}
			if r == 1 { // the raw cost of a durable write, in the data dir caddy just used
				rep.store = runMicroStore(ctx, env.dataDirs["std"])
			}
		}
	}
	if what == "micro" {
		rep.store = runMicroStore(ctx, filepath.Join(o.work, "micro", "data", "caddy"))
	}
	if what == "all" || what == "proxy" {
		for r := 1; r <= o.repeat && ctx.Err() == nil; r++ {
			for _, b := range env.builds() {
				rows, err := runProxy(ctx, o, env, b, r)
				if err != nil {
					return fmt.Errorf("proxy (%s, run %d): %w", b.name, r, err)
				}
				rep.add(rows...)
			}
		}
	}
	if what == "all" || what == "drain" {
		for _, b := range env.drainBuilds() {
			d, err := runDrain(ctx, o, env, b)
			if err != nil {
				return fmt.Errorf("drain (%s): %w", b.name, err)
			}
			rep.drains = append(rep.drains, d)
		}
	}
	return rep.write()
}

func checkBinary(path string) error {
	fi, err := os.Stat(path)
	if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("caddy binary %s not found or not executable; build it with bench/run.sh or scripts/build-caddy.sh %s", path, path)
	}
	return nil
}

// repoRoot is the checkout this command runs from (the folder holding go.mod).
func repoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return "."
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s antombench: "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "antombench: "+format+"\n", args...)
	os.Exit(1)
}
