package adminapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-antom/caddy-antom/outbox"
)

func init() {
	caddy.RegisterModule(adminAPI{})
}

// adminAPI serves the antom endpoints of Caddy's admin API:
//
//	GET  /antom/events?state=pending|delivered|dead&limit=N   list events (metadata only): pending
//	                                                          oldest first, the others newest first
//	GET  /antom/events/<id>                                    one event (metadata only)
//	POST /antom/events/<id>/replay                             deliver a delivered or dead event again
//	POST /antom/events/replay-dead                             replay every dead event
//	GET  /antom/events/search?<filter>&cursor=C&limit=N        events matching a filter, newest first, paged
//	POST /antom/events/redrive?<filter>&dryRun=true|false      replay the delivered and dead events a filter matches
//	GET  /antom/timeline?paymentRequestId=X|paymentId=Y        one payment's story in time order
//	GET  /antom/payments?state=pending|done&limit=N            payments under reconciliation (pending) or reconciled (done)
//	GET  /antom/payments/<id>                                  one payment
//
// <filter> is any of state, forward (route id), source, kind, type, requestId (or
// paymentRequestId, refundRequestId, captureRequestId), paymentId, since, until (RFC 3339).
//
// Caddy's admin API has no per-route authentication, so nothing here returns a secret, a
// notification body or card data.
type adminAPI struct{}

// CaddyModule returns the Caddy module information.
func (adminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.antom",
		New: func() caddy.Module { return new(adminAPI) },
	}
}

// Routes returns the admin routes.
func (a adminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: "/antom/", Handler: caddy.AdminHandlerFunc(a.serve)}}
}

func (adminAPI) serve(w http.ResponseWriter, r *http.Request) error {
	app := running()
	if app == nil {
		return caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: fmt.Errorf("the antom app is not running in the current config")}
	}
	path := strings.Trim(strings.TrimPrefix(r.URL.Path, "/antom/"), "/")
	parts := strings.Split(path, "/")
	ctx := r.Context()
	store := app.Store()

	switch {
	case r.Method == http.MethodGet && path == "events":
		state := outbox.State(r.URL.Query().Get("state"))
		if state == "" {
			state = outbox.StatePending
		}
		if state != outbox.StatePending && state != outbox.StateDelivered && state != outbox.StateDead {
			return badRequest("state must be pending, delivered or dead")
		}
		limit := 100
		if s := r.URL.Query().Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n <= 0 {
				return badRequest("limit must be a positive number")
			}
			limit = n
		}
		// Pending events come oldest first (the queue's order); delivered and dead ones newest
		// first, since an operator looks for what just happened. Either reads limit events, not
		// every one retained.
		var events []*outbox.Event
		var err error
		if state == outbox.StatePending {
			events, err = store.List(ctx, state, limit)
		} else {
			events, _, err = store.Search(ctx, outbox.Filter{State: state}, outbox.Cursor{}, limit)
		}
		if err != nil {
			return err
		}
		out := make([]eventView, 0, len(events))
		for _, ev := range events {
			out = append(out, viewOf(ev))
		}
		return writeJSON(w, out)

	case r.Method == http.MethodPost && path == "events/replay-dead":
		n, err := store.ReplayDead(ctx)
		if err != nil {
			return err
		}
		app.Kick()
		return writeJSON(w, map[string]int{"replayed": n})

	case r.Method == http.MethodGet && path == "payments":
		state := outbox.State(r.URL.Query().Get("state"))
		if state == "" {
			state = outbox.StatePending
		}
		if state != outbox.StatePending && state != outbox.StateDone {
			return badRequest("state must be pending or done")
		}
		limit, err := limitParam(r)
		if err != nil {
			return err
		}
		payments, err := store.ListPayments(ctx, state, limit)
		if err != nil {
			return err
		}
		if payments == nil {
			payments = []*outbox.Payment{}
		}
		return writeJSON(w, payments)

	case r.Method == http.MethodGet && len(parts) == 2 && parts[0] == "payments":
		id := parts[1]
		if !outbox.ValidPaymentRecordID(id) {
			return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("%q is not a payment id (pay_ followed by 32 hex digits)", id)}
		}
		p, err := store.GetPayment(ctx, id)
		if err != nil {
			return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: err}
		}
		return writeJSON(w, p)

	case r.Method == http.MethodGet && path == "events/search":
		return serveSearch(app, w, r)

	case r.Method == http.MethodPost && path == "events/redrive":
		return serveRedrive(app, w, r)

	case r.Method == http.MethodGet && path == "timeline":
		return serveTimeline(app, w, r)

	case len(parts) >= 2 && parts[0] == "events":
		id := parts[1]
		if !outbox.ValidEventID(id) {
			return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("%q is not an event id (msg_ followed by 32 hex digits)", id)}
		}
		switch {
		case r.Method == http.MethodGet && len(parts) == 2:
			ev, err := store.Get(ctx, id)
			if err != nil {
				return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: err}
			}
			return writeJSON(w, viewOf(ev))
		case r.Method == http.MethodPost && len(parts) == 3 && parts[2] == "replay":
			if _, err := store.Replay(ctx, id); err != nil {
				return caddy.APIError{HTTPStatus: http.StatusConflict, Err: err}
			}
			app.Kick()
			return writeJSON(w, map[string]string{"replayed": id})
		}
	}
	return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("no antom admin endpoint %s %s", r.Method, r.URL.Path)}
}

// eventView is what the admin API shows of an event: everything but the body.
type eventView struct {
	*outbox.Event
	Body     struct{} `json:"body,omitzero"`
	BodySize int      `json:"bodySize"`
}

func viewOf(ev *outbox.Event) eventView {
	return eventView{Event: ev, BodySize: len(ev.Body)}
}

// limitParam reads ?limit=N (default 100).
func limitParam(r *http.Request) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return 100, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, badRequest("limit must be a positive number")
	}
	return n, nil
}

func badRequest(msg string) error {
	return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("%s", msg)}
}

func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(v)
}

// Interface guard
var _ caddy.AdminRouter = adminAPI{}
