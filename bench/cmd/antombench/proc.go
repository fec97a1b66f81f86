package main

// proc.go: CPU and memory of the processes involved, read from /proc. Other people's work runs
// on the same 2 cores; the CPU each process used per request is the number that holds still
// when they do, and "others" shows how much of the machine they took during each phase.

import (
	"bytes"
	"os"
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
	Others float64 `json:"others"` // everything else on the machine
	Busy   float64 `json:"machine_busy"`
}

// cpuMeter takes a snapshot at the start of a phase and returns the use at the end.
type cpuMeter struct {
	at              time.Time
	caddy, up, self float64
	busy            float64
	caddyPid, upPid int
}

func startCPU(caddyPid, upPid int) *cpuMeter {
	m := &cpuMeter{at: time.Now(), caddyPid: caddyPid, upPid: upPid}
	m.caddy, m.up, m.self, m.busy = procCPU(caddyPid), procCPU(upPid), procCPU(os.Getpid()), machineBusy()
	return m
}

func (m *cpuMeter) stop() cpuUse {
	secs := time.Since(m.at).Seconds()
	if secs <= 0 {
		return cpuUse{}
	}
	u := cpuUse{
		Caddy: (procCPU(m.caddyPid) - m.caddy) / secs,
		Up:    (procCPU(m.upPid) - m.up) / secs,
		Gen:   (procCPU(os.Getpid()) - m.self) / secs,
		Busy:  (machineBusy() - m.busy) / secs,
	}
	u.Others = max(0, u.Busy-u.Caddy-u.Up-u.Gen)
	return u
}

// procCPU is the user+system CPU time of pid in seconds (0 if unknown).
func procCPU(pid int) float64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name; utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / clockTicks
}

// machineBusy is the CPU time all cores spent not idle (nor waiting for I/O), in seconds.
func machineBusy() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	var busy float64
	for i := 1; i < len(f) && i <= 8; i++ {
		if i == 4 || i == 5 {
			continue
		}
		v, _ := strconv.ParseFloat(f[i], 64)
		busy += v
	}
	return busy / clockTicks
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
