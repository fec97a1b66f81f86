//go:build ignore

// gotestsum.go reads `go test -json` events on stdin and prints what a plain `go test` would
// print (package lines, the output of failed tests, build errors), plus the output of skipped
// tests (so a skip reason is never silent), then a closing line
//
//	go test: N passed, N failed, N skipped
//
// Counts are per test and subtest (like the --- lines of `go test -v`). A package that fails
// without a failing test (build error, TestMain exit, crash, timeout) counts as one failure.
//
//	go test -json ./... | go run scripts/gotestsum.go [-counts FILE]
//
// -counts FILE writes "passed failed skipped" to FILE for scripts/test.sh. The exit code is 1
// when anything failed. This file is a script (build tag ignore), not part of the module.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

type event struct {
	Time        time.Time
	Action      string
	Package     string
	ImportPath  string
	Test        string
	Elapsed     float64
	Output      string
	FailedBuild string
}

type key struct{ pkg, test string }

func main() {
	countsFile := flag.String("counts", "", "write 'passed failed skipped' to this file")
	flag.Parse()

	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()

	var (
		passed, failed, skipped int
		buf                     = map[key][]string{}    // output of running tests, and of packages
		pkgTestFails            = map[string]int{}      // failed tests per package
		pending                 = map[key]bool{}        // tests started and not finished
		failedPkgs              = map[string]bool{}     // packages that failed
		buildOut                = map[string][]string{} // build output per import path
		printed                 = map[string]bool{}     // build output already printed
		pkgTimes                = map[string]float64{}  // elapsed per package
		slow                    = map[key]float64{}     // elapsed per top-level test
		nonJSON                 []string                // lines that were not JSON (go command errors)
	)

	flushTest := func(k key, header string) {
		lines := buf[k]
		delete(buf, k)
		if header != "" {
			fmt.Fprintln(out, header)
		}
		for _, l := range lines {
			t := strings.TrimSpace(l)
			if strings.HasPrefix(t, "=== RUN") || strings.HasPrefix(t, "=== PAUSE") || strings.HasPrefix(t, "=== CONT") || strings.HasPrefix(t, "=== NAME") {
				continue
			}
			fmt.Fprint(out, l)
		}
		out.Flush()
	}

	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1024*1024), 64*1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			// The go command itself prints some errors outside of JSON (e.g. setup failures).
			fmt.Fprintln(out, string(line))
			out.Flush()
			nonJSON = append(nonJSON, string(line))
			continue
		}
		k := key{e.Package, e.Test}
		switch e.Action {
		case "build-output":
			buildOut[e.ImportPath] = append(buildOut[e.ImportPath], e.Output)
		case "build-fail":
			if !printed[e.ImportPath] {
				printed[e.ImportPath] = true
				for _, l := range buildOut[e.ImportPath] {
					fmt.Fprint(out, l)
				}
				out.Flush()
			}
		case "start":
		case "run":
			pending[k] = true
		case "output":
			buf[k] = append(buf[k], e.Output)
		case "pass":
			if e.Test == "" {
				pkgTimes[e.Package] = e.Elapsed
				flushPackage(out, buf, k)
				continue
			}
			delete(pending, k)
			delete(buf, k)
			passed++
			if !strings.Contains(e.Test, "/") {
				slow[k] = e.Elapsed
			}
		case "skip":
			if e.Test == "" {
				flushPackage(out, buf, k)
				continue
			}
			delete(pending, k)
			skipped++
			flushTest(k, "")
		case "fail":
			if e.Test == "" {
				failedPkgs[e.Package] = true
				if e.FailedBuild != "" && !printed[e.FailedBuild] {
					printed[e.FailedBuild] = true
					for _, l := range buildOut[e.FailedBuild] {
						fmt.Fprint(out, l)
					}
				}
				// Tests still running when the package died (timeout, crash, os.Exit).
				var names []string
				for p := range pending {
					if p.pkg == e.Package {
						names = append(names, p.test)
					}
				}
				sort.Strings(names)
				for _, n := range names {
					pk := key{e.Package, n}
					delete(pending, pk)
					failed++
					pkgTestFails[e.Package]++
					flushTest(pk, fmt.Sprintf("--- FAIL: %s (did not finish)", n))
				}
				if pkgTestFails[e.Package] == 0 {
					failed++ // a package failure with no failing test: build error, TestMain, crash
				}
				flushPackage(out, buf, k)
				continue
			}
			delete(pending, k)
			failed++
			pkgTestFails[e.Package]++
			flushTest(k, "")
		}
	}
	if err := sc.Err(); err != nil && err != io.EOF {
		fmt.Fprintf(out, "gotestsum: reading input: %v\n", err)
		failed++
	}
	// Anything left pending means the stream ended early.
	for k := range pending {
		failed++
		flushTest(k, fmt.Sprintf("--- FAIL: %s (no result; go test stopped)", k.test))
	}
	if len(nonJSON) > 0 && passed+failed+skipped == 0 {
		failed++ // the go command failed before running anything
	}

	// The slowest tests, to keep an eye on the suite's time.
	type st struct {
		k key
		s float64
	}
	var ss []st
	for k, s := range slow {
		if s >= 5 {
			ss = append(ss, st{k, s})
		}
	}
	sort.Slice(ss, func(i, j int) bool { return ss[i].s > ss[j].s })
	if len(ss) > 0 {
		fmt.Fprintln(out, "slowest tests:")
		for i, s := range ss {
			if i == 8 {
				break
			}
			fmt.Fprintf(out, "  %6.1fs  %s %s\n", s.s, s.k.pkg, s.k.test)
		}
	}
	if len(failedPkgs) > 0 {
		var ps []string
		for p := range failedPkgs {
			ps = append(ps, p)
		}
		sort.Strings(ps)
		fmt.Fprintf(out, "failed packages: %s\n", strings.Join(ps, " "))
	}
	fmt.Fprintf(out, "go test: %d passed, %d failed, %d skipped\n", passed, failed, skipped)
	out.Flush()
	if *countsFile != "" {
		if err := os.WriteFile(*countsFile, []byte(fmt.Sprintf("%d %d %d\n", passed, failed, skipped)), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "gotestsum: %v\n", err)
			os.Exit(1)
		}
	}
	if failed > 0 {
		os.Exit(1)
	}
}

// flushPackage prints a package's own output (the "ok"/"FAIL"/"no test files" lines, panics
// outside tests), leaving out the bare PASS line as plain `go test` does.
func flushPackage(out *bufio.Writer, buf map[key][]string, k key) {
	for _, l := range buf[k] {
		if t := strings.TrimSpace(l); t == "PASS" || t == "FAIL" {
			continue
		}
		fmt.Fprint(out, l)
	}
	delete(buf, k)
	out.Flush()
}
