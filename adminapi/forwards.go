package adminapi

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-antom/caddy-antom/delivery"
)

func init() {
	caddy.RegisterModule(forwardsAdmin{})
}

// forwardsAdmin serves the forwards of the running config in Caddy's admin API:
//
//	GET  /antom/forwards                      every forward: profile, URL, route id, paused, and
//	                                          health: failing, consecutive_failures, last_error,
//	                                          failing_since, oldest_pending_age_seconds
//	POST /antom/forwards/pause[?forward=URL]  pause deliveries to URL (every forward without it)
//	POST /antom/forwards/resume[?forward=URL] resume them; the backlog drains at the forward's rate
//
// A paused forward's notifications are still verified, stored and acknowledged; nothing is
// delivered until it is resumed, also across restarts.
type forwardsAdmin struct{}

// CaddyModule returns the Caddy module information.
func (forwardsAdmin) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.antom_forwards",
		New: func() caddy.Module { return new(forwardsAdmin) },
	}
}

// Routes returns the admin routes; they are more specific than admin.api.antom's /antom/.
func (f forwardsAdmin) Routes() []caddy.AdminRoute {
	h := caddy.AdminHandlerFunc(f.serve)
	return []caddy.AdminRoute{{Pattern: "/antom/forwards", Handler: h}, {Pattern: "/antom/forwards/", Handler: h}}
}

// forwardView is a forward as the admin API shows it; never its secrets.
type forwardView struct {
	Profile string `json:"profile"`
	URL     string `json:"url"`
	Route   string `json:"route"`
	Paused  bool   `json:"paused"`
	ForwardHealth
	// OldestPendingAgeSeconds is the age of its oldest event not delivered yet (0: none).
	OldestPendingAgeSeconds float64 `json:"oldest_pending_age_seconds"`
}

func (forwardsAdmin) serve(w http.ResponseWriter, r *http.Request) error {
	app, ok := running().(ForwardsApp)
	if !ok {
		return caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: fmt.Errorf("the antom app is not running in the current config")}
	}
	action := strings.Trim(strings.TrimPrefix(r.URL.Path, "/antom/forwards"), "/")
	forward := r.URL.Query().Get("forward")
	routes := app.ForwardsMatching(forward)
	switch {
	case r.Method == http.MethodGet && action == "":
	case r.Method == http.MethodPost && (action == "pause" || action == "resume"):
		if len(routes) == 0 {
			return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("no antom_webhook forwards to %q; GET /antom/forwards lists them", forward)}
		}
		if err := app.SetPaused(r.Context(), routes, action == "pause"); err != nil {
			return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
		}
		app.Logger().Info("forwards "+action+"d through the admin API", zap.Strings("forwards", routeURLs(routes)))
	default:
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("unknown request %s %s; use GET /antom/forwards or POST /antom/forwards/pause|resume[?forward=URL]", r.Method, r.URL.Path)}
	}
	ages, err := app.OldestPending(r.Context(), time.Now())
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: fmt.Errorf("reading the pending events: %v", err)}
	}
	views := make([]forwardView, len(routes))
	for i, rt := range routes {
		views[i] = forwardView{Profile: rt.Profile, URL: rt.RedactedURL(), Route: rt.ID, Paused: app.Paused(rt.ID),
			ForwardHealth: app.ForwardHealth(rt.ID), OldestPendingAgeSeconds: ages[rt.ID].Seconds()}
	}
	return writeJSON(w, views)
}

func routeURLs(routes []delivery.Route) []string {
	urls := make([]string, len(routes))
	for i, r := range routes {
		urls[i] = r.RedactedURL()
	}
	return urls
}
