package main

// proc.go: CPU and memory of the processes involved, read from /proc. Other people's work runs
// on the same 2 cores; the CPU each process used per request is the number that holds still
// when they do, and "others" shows how much of the machine they took during each phase.

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

const clockTicks = 100 // USER_HZ on Linux

// cpuUse is the average number of cores each party used during a phase.
type cpuUse struct {
	Caddy  float64 `json:"caddy"`
	Up     float64 `json:"upstream"` // the app or the simulator
	Gen    float64 `json:"generator"`
	PG     float64 `json:"postgres,omitempty"` // the PostgreSQL server and its backends
	Others float64 `json:"others"`             // everything else on the machine
	Busy   float64 `json:"machine_busy"`
	// Stolen is the time the hypervisor ran other machines while this one's cores waited to run
	// (the steal column of /proc/stat): a phase with some measured a machine with fewer cores.
	Stolen float64 `json:"stolen"`
}

// cpuMeter takes a snapshot at the start of a phase and returns the use at the end.
type cpuMeter struct {
	at              time.Time
	caddy, up, self float64
	pg, busy        float64
	stolen          float64
	caddyPids       []int // every caddy instance under test
	upPid, pgPid    int   // pgPid 0: no PostgreSQL
}

func startCPU(caddyPids []int, upPid, pgPid int) *cpuMeter {
	m := &cpuMeter{at: time.Now(), caddyPids: caddyPids, upPid: upPid, pgPid: pgPid}
	m.caddy, m.up, m.self, m.pg = procsCPU(caddyPids), procCPU(upPid), procCPU(os.Getpid()), procTreeCPU(pgPid)
	m.busy, m.stolen = machineBusy()
	return m
}

func (m *cpuMeter) stop() cpuUse {
	secs := time.Since(m.at).Seconds()
	if secs <= 0 {
		return cpuUse{}
	}
	busy, stolen := machineBusy()
	u := cpuUse{
		Caddy:  (procsCPU(m.caddyPids) - m.caddy) / secs,
		Up:     (procCPU(m.upPid) - m.up) / secs,
		Gen:    (procCPU(os.Getpid()) - m.self) / secs,
		PG:     (procTreeCPU(m.pgPid) - m.pg) / secs,
		Busy:   (busy - m.busy) / secs,
		Stolen: (stolen - m.stolen) / secs,
	}
	u.Others = max(0, u.Busy-u.Caddy-u.Up-u.Gen-u.PG)
	return u
}

func procsCPU(pids []int) float64 {
	var sum float64
	for _, pid := range pids {
		sum += procCPU(pid)
	}
	return sum
}

// procTreeCPU is the CPU time of pid, its children, and its children that have exited and been
// waited for, in seconds (0 for pid 0).
func procTreeCPU(pid int) float64 {
	if pid <= 0 {
		return 0
	}
	sum := procCPU(pid)
	if f := statFields(pid); len(f) >= 15 {
		cut, _ := strconv.ParseFloat(f[13], 64)
		cst, _ := strconv.ParseFloat(f[14], 64)
		sum += (cut + cst) / clockTicks
	}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, st := range stats {
		child, _ := strconv.Atoi(filepath.Base(filepath.Dir(st)))
		if f := statFields(child); len(f) > 1 && f[1] == strconv.Itoa(pid) {
			sum += procCPU(child)
		}
	}
	return sum
}

// procCPU is the user+system CPU time of pid in seconds (0 if unknown).
func procCPU(pid int) float64 {
	if pid <= 0 {
		return 0
	}
	// utime and stime are fields 14 and 15 of /proc/pid/stat.
	f := statFields(pid)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / clockTicks
}

// statFields are the fields of /proc/pid/stat after the parenthesised command name: state,
// ppid, ... (field 3 onwards; nil if unknown).
func statFields(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

// machineBusy returns the CPU time all cores spent running anything (not idle, nor waiting for
// I/O), and the time they were ready to run but the hypervisor ran other machines (steal), in
// seconds.
func machineBusy() (busy, stolen float64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	for i := 1; i < len(f) && i <= 8; i++ {
		v, _ := strconv.ParseFloat(f[i], 64)
		switch i {
		case 4, 5: // idle, iowait
		case 8:
			stolen = v / clockTicks
		default:
			busy += v / clockTicks
		}
	}
	return busy, stolen
}

// rssMiB is the resident set size of pid in MiB (0 if unknown).
func rssMiB(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// loadAvg is the 1-minute load average, to show how busy the machine was.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
