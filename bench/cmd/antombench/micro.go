package main

// micro.go: the yardsticks the end-to-end numbers are divided by, measured in the same run: one
// RSA-2048 signature (PKCS#1 v1.5, SHA-256, as Antom uses), one verification, and one durable
// write with certmagic's FileStorage.Store (temp file, fsync, rename) in a caddy data dir.

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/caddy-antom/caddy-antom/antom"
)

// cryptoResult is the RSA-2048 yardstick of one build of antombench.
type cryptoResult struct {
	Build        string  `json:"build"` // std or boringcrypto (how this binary was built)
	SignUs       float64 `json:"sign_us"`
	VerifyUs     float64 `json:"verify_us"`
	SignPerSec   float64 `json:"sign_per_s_all_cores"`
	VerifyPerSec float64 `json:"verify_per_s_all_cores"`
	Cores        int     `json:"cores"`
	// Rounds and SignUsAll: runMicro keeps the best of several rounds and lists every sign time.
	Rounds    int       `json:"rounds,omitempty"`
	SignUsAll []float64 `json:"sign_us_rounds,omitempty"`
}

// storeResult is the FileStorage.Store yardstick.
type storeResult struct {
	Dir       string     `json:"dir"`
	Bytes     int        `json:"bytes"`
	SeqP50    float64    `json:"seq_p50_ms"`
	SeqP99    float64    `json:"seq_p99_ms"`
	SeqMean   float64    `json:"seq_mean_ms"`
	StatUs    float64    `json:"stat_miss_us"`
	Parallel  []storePar `json:"parallel"`
	LoadAvg1m float64    `json:"loadavg_1m"`
}

type storePar struct {
	Pattern string  `json:"pattern"`
	Writers int     `json:"writers"`
	CPUUs   float64 `json:"cpu_us"` // CPU (user+system) per operation
	PerSec  float64 `json:"per_s"`
	P50     float64 `json:"p50_ms"`
	P99     float64 `json:"p99_ms"`
}

type microResults struct {
	Crypto []cryptoResult `json:"crypto"`
	Store  *storeResult   `json:"store,omitempty"`
}

// runMicro measures RSA here and, if given, in the boringcrypto build of antombench: three
// rounds, alternating the builds, keeping each build's best round (the least disturbed by other
// work on the machine; the spread is printed).
func runMicro(ctx context.Context, o *options, env *benchEnv) *microResults {
	rounds := map[string][]cryptoResult{}
	var order []string
	for i := 0; i < 3 && ctx.Err() == nil; i++ {
		rs := []cryptoResult{runMicroCrypto()}
		if o.boringSelf != "" {
			out, err := exec.CommandContext(ctx, o.boringSelf, "-vectors", o.vectors, "-json", "micro").Output()
			var r cryptoResult
			if err == nil {
				err = json.Unmarshal(out, &r)
			}
			if err != nil {
				logf("micro: %s: %v", o.boringSelf, err)
			} else {
				rs = append(rs, r)
			}
		}
		for _, r := range rs {
			if _, ok := rounds[r.Build]; !ok {
				order = append(order, r.Build)
			}
			rounds[r.Build] = append(rounds[r.Build], r)
			logf("micro: %-12s sign %4.0fµs verify %3.0fµs; all cores: %5.0f signs/s, %6.0f verifies/s",
				r.Build, r.SignUs, r.VerifyUs, r.SignPerSec, r.VerifyPerSec)
		}
	}
	m := &microResults{}
	for _, b := range order {
		best := rounds[b][0]
		for _, r := range rounds[b][1:] {
			best.SignUs, best.VerifyUs = min(best.SignUs, r.SignUs), min(best.VerifyUs, r.VerifyUs)
			best.SignPerSec, best.VerifyPerSec = max(best.SignPerSec, r.SignPerSec), max(best.VerifyPerSec, r.VerifyPerSec)
		}
		best.Rounds = len(rounds[b])
		for _, r := range rounds[b] {
			best.SignUsAll = append(best.SignUsAll, r.SignUs)
		}
		m.Crypto = append(m.Crypto, best)
	}
	return m
}

func runMicroCrypto() cryptoResult {
	r := cryptoResult{Build: cryptoBuild(), Cores: runtime.NumCPU()}
	// A fresh key: the numbers do not depend on which 2048-bit key signs.
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		fatalf("micro: %v", err)
	}
	const path, ts = "/ams/api/v1/payments/pay", "1704067200000"
	body := notificationBody(1)
	content := antom.ContentToSign(http.MethodPost, path, clientID, ts, body)
	sig, err := antom.Sign(key, content)
	if err != nil {
		fatalf("micro: %v", err)
	}
	keys := antom.NewKeyring(&key.PublicKey)
	header := antom.SignatureHeader("1", sig)
	sign := func() {
		if _, err := antom.Sign(key, content); err != nil {
			panic(err)
		}
	}
	verify := func() { // what antom_webhook does per notification
		if _, err := keys.Verify(http.MethodPost, path, clientID, ts, body, header); err != nil {
			panic(err)
		}
	}
	r.SignUs = perOp(1, 2*time.Second, sign)
	r.VerifyUs = perOp(1, time.Second, verify)
	r.SignPerSec = 1e6 / perOp(r.Cores, 2*time.Second, sign)
	r.VerifyPerSec = 1e6 / perOp(r.Cores, time.Second, verify)
	return r
}

// perOp runs f in g goroutines for about d and returns wall-clock µs per operation (all
// goroutines together).
func perOp(g int, d time.Duration, f func()) float64 {
	f() // warm up
	var n atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < g; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(start) < d {
				f()
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(time.Since(start).Microseconds()) / float64(n.Load())
}

// cryptoBuild says whether this binary was built with GOEXPERIMENT=boringcrypto and cgo (without
// cgo the experiment silently falls back to Go's own crypto).
func cryptoBuild() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "std"
	}
	var exp, cgo string
	for _, s := range bi.Settings {
		switch s.Key {
		case "GOEXPERIMENT":
			exp = s.Value
		case "CGO_ENABLED":
			cgo = s.Value
		}
	}
	if exp == "boringcrypto" && cgo == "1" {
		return "boringcrypto"
	}
	if exp == "boringcrypto" {
		return "std (boringcrypto requested without cgo: not in effect)"
	}
	return "std"
}

// runMicroStore measures FileStorage.Store in dir (a caddy data dir) with an event-sized value:
// one writer, then many; then the file operations the outbox makes per notification today
// (Add: 3 Stat + Store pending; MarkDelivered: Store delivered + Delete pending), without the
// rest of caddy. CPU per operation is this process's user+system time, so it includes the
// kernel's file system work. Nothing is deleted afterwards: mass deletes make the next file
// creations slow on ext4 without a journal (BENCHMARKS.md), and the folder goes with the rest.
func runMicroStore(ctx context.Context, dir string) *storeResult {
	fs := &certmagic.FileStorage{Path: dir}
	value := make([]byte, 900) // a stored event (JSON with the notification body) is ~900 bytes
	for i := range value {
		value[i] = 'x'
	}
	r := &storeResult{Dir: dir, Bytes: len(value), LoadAvg1m: loadAvg()}
	var seq atomic.Int64
	must := func(err error) {
		if err != nil {
			fatalf("micro: FileStorage: %v", err)
		}
	}
	store := func() {
		must(fs.Store(ctx, fmt.Sprintf("antom/bench/store/%d", seq.Add(1)), value))
	}
	outbox := func() {
		id := seq.Add(1)
		for _, st := range []string{"pending", "delivered", "dead"} {
			_, _ = fs.Stat(ctx, fmt.Sprintf("antom/bench/%s/%d", st, id))
		}
		must(fs.Store(ctx, fmt.Sprintf("antom/bench/pending/%d", id), value))
		must(fs.Store(ctx, fmt.Sprintf("antom/bench/delivered/%d", id), value))
		must(fs.Delete(ctx, fmt.Sprintf("antom/bench/pending/%d", id)))
	}
	// What the same notification would cost if a successful first delivery were recorded
	// directly as delivered (no pending copy): the proposal in BENCHMARKS.md.
	deliverFirst := func() {
		id := seq.Add(1)
		for _, st := range []string{"pending", "delivered", "dead"} {
			_, _ = fs.Stat(ctx, fmt.Sprintf("antom/bench/%s/%d", st, id))
		}
		must(fs.Store(ctx, fmt.Sprintf("antom/bench/delivered/%d", id), value))
	}
	lats := make([]time.Duration, 0, 300)
	var total time.Duration
	for i := 0; i < 300 && ctx.Err() == nil; i++ {
		t0 := time.Now()
		store()
		d := time.Since(t0)
		lats = append(lats, d)
		total += d
	}
	r.SeqMean = float64(total) / float64(len(lats)) / float64(time.Millisecond)
	r.SeqP50, r.SeqP99 = pct(lats, 0.5), pct(lats, 0.99)
	r.StatUs = perOp(1, 200*time.Millisecond, func() { _, _ = fs.Stat(ctx, "antom/bench/missing") })

	for _, c := range []struct {
		name    string
		writers int
		op      func()
	}{
		{"Store", 16, store},
		{"Store", 64, store},
		{"outbox per notification: 3 Stat, Store, Store, Delete", 64, outbox},
		{"if delivered first: 3 Stat, Store", 64, deliverFirst},
	} {
		var mu sync.Mutex
		var all []time.Duration
		var wg sync.WaitGroup
		cpu0 := procCPU(os.Getpid())
		start := time.Now()
		for i := 0; i < c.writers; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine []time.Duration
				for time.Since(start) < 3*time.Second && ctx.Err() == nil {
					t0 := time.Now()
					c.op()
					mine = append(mine, time.Since(t0))
				}
				mu.Lock()
				all = append(all, mine...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		p := storePar{Pattern: c.name, Writers: c.writers, PerSec: float64(len(all)) / time.Since(start).Seconds(),
			P50: pct(all, 0.5), P99: pct(all, 0.99), CPUUs: (procCPU(os.Getpid()) - cpu0) / float64(len(all)) * 1e6}
		r.Parallel = append(r.Parallel, p)
		logf("micro: %s, %d writers: %.0f/s, p50 %.2fms p99 %.2fms, %.0fµs CPU each", p.Pattern, p.Writers, p.PerSec, p.P50, p.P99, p.CPUUs)
	}
	logf("micro: FileStorage.Store %d B, one writer: p50 %.2fms p99 %.2fms", r.Bytes, r.SeqP50, r.SeqP99)
	return r
}
