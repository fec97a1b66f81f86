package caddyantom

import (
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/caddy-antom/caddy-antom/antom"
	"github.com/caddy-antom/caddy-antom/reconcile"
)

// antom_api handlers register their reconcile settings; the worker sees them with the
// profile's client, and nothing for other profiles.
func TestRegisterReconcile(t *testing.T) {
	client := &antom.Client{}
	app := &App{
		Profiles:   map[string]*Profile{"default": {client: client}, "other": {client: &antom.Client{}}},
		reconciles: map[string]reconcile.Config{},
		log:        zaptest.NewLogger(t),
	}
	cfg := reconcile.Config{After: time.Minute, GiveUp: time.Hour, CancelUnpaid: true}
	app.RegisterReconcile("default", cfg)
	p, ok := app.reconcileProfile("default")
	if !ok || p.Client != client || p.Config != cfg {
		t.Errorf("reconcileProfile(default) = %+v, %v", p, ok)
	}
	if _, ok := app.reconcileProfile("other"); ok {
		t.Error("a profile without reconcile is reconciled")
	}
	if _, ok := app.reconcileProfile("missing"); ok {
		t.Error("an unknown profile is reconciled")
	}
	if got := app.reconcileProfiles(); len(got) != 1 || got[0] != "default" {
		t.Errorf("reconcileProfiles = %v", got)
	}
}
