package main

// measure.go: one measured phase against a running caddy: resets the upstream's counters,
// optionally takes a CPU profile from caddy's admin endpoint during the phase, and fills in the
// CPU each process used, caddy's CPU per request and the new upstream connections.

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

type measurer struct {
	o     *options
	c     *caddyProc   // the instance profiled
	peers []*caddyProc // further instances on the same store: their CPU counts as caddy's
	up    *child       // the app or the simulator
	pgPid int          // the PostgreSQL server the instances use, 0 if none
	b     build
	run   int
	out   []phase
	after func(*phase) // scenario-specific checks, run after the phase
}

// measure runs f as one phase. With profile, caddy is profiled while f runs (first run only).
func (m *measurer) measure(scenario, load string, profile bool, f func() phase) phase {
	_ = m.up.post("/reset")
	var prof chan error
	slug := strings.NewReplacer("/s", "ps", " ", "-", "=", "").Replace(load)
	profPath := filepath.Join(m.o.out, "profiles", fmt.Sprintf("%s-%s-%s.pprof", scenario, fileSafe(m.b.name), slug))
	if profile && m.o.profile && m.run == 1 {
		prof = make(chan error, 1)
		secs := max(1, int(m.o.phase.Seconds())-2)
		go func() { prof <- m.c.profile(secs, profPath) }()
		time.Sleep(500 * time.Millisecond) // the profile starts with the load
	}
	pids := []int{m.c.pid()}
	for _, p := range m.peers {
		pids = append(pids, p.pid())
	}
	cpu := startCPU(pids, m.up.pid(), m.pgPid)
	deliveryMs := m.c.deliveryMeter()
	ph := f()
	ph.CPU = cpu.stop()
	ph.DeliveryMs = deliveryMs()
	ph.Scenario, ph.Build, ph.Run, ph.Load = scenario, m.b.name, m.run, load
	if ph.OK > 0 {
		ph.CaddyUsReq = ph.CPU.Caddy * ph.Seconds / float64(ph.OK) * 1e6
	}
	var st struct {
		Conns   int   `json:"conns"`
		Unique  int   `json:"unique"`
		MaxConc int64 `json:"max_concurrent"`
	}
	_ = m.up.get("/stats", &st)
	ph.NewConns, ph.Delivered, ph.UpMaxConc = st.Conns, st.Unique, st.MaxConc
	if m.after != nil {
		m.after(&ph)
	}
	if prof != nil {
		if err := <-prof; err != nil {
			ph.Note = firstNonEmpty(ph.Note, "profile: "+err.Error())
		} else {
			summarizeProfile(profPath)
		}
	}
	logPhase(ph)
	m.out = append(m.out, ph)
	return ph
}
