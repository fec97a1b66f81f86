package main

// profiles.go: where caddy's CPU time goes. Each CPU profile taken from caddy's admin endpoint
// is kept (*.pprof, open it with `go tool pprof -http=: file`), printed as the usual top list
// (*.top.txt), and every sampled stack is put in the first category below that any of its
// frames matches (*.categories.txt), so "RSA" counts everything under the signature code, and
// "storage" every FileStorage call except the fsync itself.

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"
)

// categories, in priority order: a stack goes to the first one any of its frames matches.
var categories = []struct{ name, match string }{
	{"RSA (crypto/rsa, bigmod, boring)", "crypto/rsa.|crypto/internal/fips140/rsa|bigmod|crypto/internal/boring|goboringcrypto"},
	{"fsync", "Fsync|(*File).Sync"},
	{"storage: other file syscalls (create, write, rename, stat, unlink, readdir)", "certmagic.(*FileStorage)|os.ReadDir|os.Stat|os.Remove|os.Rename"},
	{"logging (zap)", "go.uber.org/zap"},
	{"JSON", "encoding/json"},
	{"hashing (SHA-256, HMAC)", "crypto/sha256|crypto/hmac|crypto/internal/fips140/sha256|crypto/internal/fips140/hmac"},
	{"GC and allocation", "runtime.gcBgMarkWorker|runtime.mallocgc|runtime.gcAssist|runtime.bgsweep|runtime.bgscavenge|runtime.gcDrain"},
	{"TLS", "crypto/tls"},
	{"network syscalls (read, write, accept, connect, epoll)", "internal/poll.(*FD)|runtime.netpoll|net.(*netFD)|net.(*sysDialer)"},
	{"HTTP (net/http, caddyhttp, reverse_proxy)", "net/http.|caddyhttp|net/textproto"},
	{"scheduler and other runtime", "runtime."},
}

// categoryShare is one line of a breakdown.
type categoryShare struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
	Percent float64 `json:"percent"`
}

// profileSummary is the breakdown of one profile.
type profileSummary struct {
	File       string          `json:"file"`
	Total      float64         `json:"total_s"`
	Duration   float64         `json:"duration_s"`
	Categories []categoryShare `json:"categories"`
}

var summaries = map[string]*profileSummary{}

// summarizeProfile writes path.top.txt and path.categories.txt and remembers the breakdown.
func summarizeProfile(path string) {
	top, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=35", path).CombinedOutput()
	if err != nil {
		logf("pprof -top %s: %v", path, err)
		return
	}
	_ = os.WriteFile(path+".top.txt", top, 0o644)
	cum, err := exec.Command("go", "tool", "pprof", "-top", "-cum", "-nodecount=60", path).CombinedOutput()
	if err == nil {
		_ = os.WriteFile(path+".cum.txt", cum, 0o644)
	}
	traces, err := exec.Command("go", "tool", "pprof", "-traces", path).Output()
	if err != nil {
		logf("pprof -traces %s: %v", path, err)
		return
	}
	s := categorize(traces)
	s.File = path
	summaries[path] = s
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %.2fs of CPU samples in %.1fs (%.2f cores)\n", path, s.Total, s.Duration, s.Total/max(s.Duration, 1e-9))
	for _, c := range s.Categories {
		fmt.Fprintf(&b, "%6.1f%%  %7.2fs  %s\n", c.Percent, c.Seconds, c.Name)
	}
	_ = os.WriteFile(path+".categories.txt", []byte(b.String()), 0o644)
}

// categorize reads `go tool pprof -traces` output: blocks separated by lines of dashes, each
// starting with the sample value and the leaf frame, then one caller per line.
func categorize(traces []byte) *profileSummary {
	s := &profileSummary{}
	secs := map[string]float64{}
	var value float64
	var frames []string
	flush := func() {
		if value == 0 {
			return
		}
		name := "other"
	find:
		for _, c := range categories {
			for _, m := range strings.Split(c.match, "|") {
				for _, f := range frames {
					if strings.Contains(f, m) {
						name = c.name
						break find
					}
				}
			}
		}
		secs[name] += value
		s.Total += value
		value, frames = 0, frames[:0]
	}
	sc := bufio.NewScanner(bytes.NewReader(traces))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "Duration:"):
			f := strings.Fields(strings.TrimPrefix(line, "Duration:"))
			if len(f) > 0 {
				if d, err := time.ParseDuration(strings.TrimSuffix(f[0], ",")); err == nil {
					s.Duration = d.Seconds()
				}
			}
		case strings.HasPrefix(line, "-----------+"):
			flush()
		case strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t"):
			f := strings.Fields(line)
			if len(f) == 0 {
				continue
			}
			if len(frames) == 0 && value == 0 {
				if v, ok := parseSeconds(f[0]); ok {
					value = v
					f = f[1:]
				}
			}
			if len(f) > 0 {
				frames = append(frames, f[0])
			}
		}
	}
	flush()
	for name, v := range secs {
		s.Categories = append(s.Categories, categoryShare{Name: name, Seconds: v, Percent: 100 * v / max(s.Total, 1e-9)})
	}
	sort.Slice(s.Categories, func(i, j int) bool { return s.Categories[i].Seconds > s.Categories[j].Seconds })
	return s
}

// parseSeconds reads pprof's "10ms", "1.20s", "500us".
func parseSeconds(v string) (float64, bool) {
	for _, u := range []struct {
		suffix string
		scale  float64
	}{{"ms", 1e-3}, {"us", 1e-6}, {"µs", 1e-6}, {"ns", 1e-9}, {"s", 1}} {
		if n, ok := strings.CutSuffix(v, u.suffix); ok {
			f, err := strconv.ParseFloat(n, 64)
			return f * u.scale, err == nil
		}
	}
	return 0, false
}
