package main

// app.go: the merchant's app, as fast as an app can be: `antombench app` answers every request
// 204 at once (or after -delay, like a worker of a PHP app). It counts requests, distinct
// webhook-ids (so redeliveries show), the most requests it had in progress at once (what
// max_in_flight bounds) and accepted TCP connections, and can go down: "off" closes its listener and every connection, so caddy's
// deliveries get "connection refused" until "on" listens again on the same port. Control
// endpoints live on a second port.

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// appStats is what GET /stats on the control port answers.
type appStats struct {
	Requests   int64   `json:"requests"`
	Unique     int     `json:"unique"`     // distinct webhook-id values
	Duplicates int64   `json:"duplicates"` // webhook-ids seen again
	Conns      int64   `json:"conns"`      // TCP connections accepted
	FirstNano  int64   `json:"first_unix_nano"`
	LastNano   int64   `json:"last_unix_nano"` // time of the last new webhook-id
	PerSecond  []int   `json:"per_second"`     // new webhook-ids per second since the last reset
	MaxConc    int64   `json:"max_concurrent"` // most requests in progress at once
	Up         bool    `json:"up"`
	SinceReset float64 `json:"since_reset_s"`
}

type fastApp struct {
	addr  string
	delay time.Duration // how long each answer takes

	requests, dups, conns atomic.Int64
	active, maxActive     atomic.Int64 // requests in progress, and the most at once

	mu        sync.Mutex
	seen      map[string]struct{}
	first     int64
	last      int64
	reset     time.Time
	perSecond []int
	srv       *http.Server // nil while down
}

func runApp(args []string) {
	fs := flag.NewFlagSet("app", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	delay := fs.Duration("delay", 0, "time each request takes")
	_ = fs.Parse(args)

	a := &fastApp{delay: *delay, seen: map[string]struct{}{}, reset: time.Now()}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fatalf("app: %v", err)
	}
	a.addr = ln.Addr().String()
	a.serve(ln)

	ctl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatalf("app: %v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, a.stats()) })
	mux.HandleFunc("POST /reset", func(w http.ResponseWriter, _ *http.Request) { a.doReset() })
	mux.HandleFunc("POST /off", func(w http.ResponseWriter, _ *http.Request) { a.off() })
	mux.HandleFunc("POST /on", func(w http.ResponseWriter, _ *http.Request) {
		if err := a.on(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	fmt.Printf("ready %s %s\n", a.addr, ctl.Addr())
	_ = http.Serve(ctl, mux)
}

func (a *fastApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := a.active.Add(1)
	defer a.active.Add(-1)
	for m := a.maxActive.Load(); n > m && !a.maxActive.CompareAndSwap(m, n); m = a.maxActive.Load() {
	}
	_, _ = io.Copy(io.Discard, r.Body)
	time.Sleep(a.delay)
	a.requests.Add(1)
	if id := r.Header.Get("webhook-id"); id != "" {
		now := time.Now()
		a.mu.Lock()
		if _, dup := a.seen[id]; dup {
			a.dups.Add(1)
		} else {
			a.seen[id] = struct{}{}
			if a.first == 0 {
				a.first = now.UnixNano()
			}
			a.last = now.UnixNano()
			sec := int(now.Sub(a.reset) / time.Second)
			for len(a.perSecond) <= sec && sec < 3600 {
				a.perSecond = append(a.perSecond, 0)
			}
			if sec < len(a.perSecond) {
				a.perSecond[sec]++
			}
		}
		a.mu.Unlock()
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *fastApp) serve(ln net.Listener) {
	srv := &http.Server{Handler: a, ReadHeaderTimeout: 10 * time.Second,
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				a.conns.Add(1)
			}
		}}
	a.mu.Lock()
	a.srv = srv
	a.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// off closes the listener and every open connection: new deliveries are refused.
func (a *fastApp) off() {
	a.mu.Lock()
	srv := a.srv
	a.srv = nil
	a.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// on listens again on the same address.
func (a *fastApp) on() error {
	a.mu.Lock()
	up := a.srv != nil
	a.mu.Unlock()
	if up {
		return nil
	}
	ln, err := net.Listen("tcp", a.addr)
	if err != nil {
		return err
	}
	a.serve(ln)
	return nil
}

func (a *fastApp) doReset() {
	a.requests.Store(0)
	a.dups.Store(0)
	a.conns.Store(0)
	a.maxActive.Store(a.active.Load())
	a.mu.Lock()
	a.seen = map[string]struct{}{}
	a.first, a.last = 0, 0
	a.reset = time.Now()
	a.perSecond = nil
	a.mu.Unlock()
}

func (a *fastApp) stats() appStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return appStats{
		Requests:   a.requests.Load(),
		Unique:     len(a.seen),
		Duplicates: a.dups.Load(),
		Conns:      a.conns.Load(),
		MaxConc:    a.maxActive.Load(),
		FirstNano:  a.first,
		LastNano:   a.last,
		PerSecond:  append([]int(nil), a.perSecond...),
		Up:         a.srv != nil,
		SinceReset: time.Since(a.reset).Seconds(),
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func printJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
}
