package adminapi

import (
	"cmp"
	"net/http"
	"net/url"
	"strconv"

	"github.com/caddy-antom/caddy-antom/outbox"
)

// maxPage bounds one page of search results.
const maxPage = 1000

// filterOf reads the search filter from query parameters (outbox.ParseFilter).
func filterOf(q url.Values) (outbox.Filter, error) {
	f, err := outbox.ParseFilter(q)
	if err != nil {
		return f, badRequest(err.Error())
	}
	return f, nil
}

// searchResult is a page of GET /antom/events/search.
type searchResult struct {
	Events []eventView `json:"events"`
	// Next is the cursor of the next page (pass it as ?cursor=); empty on the last page.
	Next string `json:"next,omitempty"`
}

// redriveResult is what POST /antom/events/redrive answers.
type redriveResult struct {
	DryRun bool        `json:"dryRun,omitempty"`
	Count  int         `json:"count"` // replayed, or (dry run) would be replayed
	Sample []eventView `json:"sample,omitempty"`
}

// redriveSample is how many events a dry run shows.
const redriveSample = 10

func serveSearch(app App, w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f, err := filterOf(q)
	if err != nil {
		return err
	}
	cursor, err := outbox.ParseCursor(q.Get("cursor"))
	if err != nil {
		return badRequest(err.Error())
	}
	limit, err := limitParam(r)
	if err != nil {
		return err
	}
	evs, next, err := app.Store().Search(r.Context(), f, cursor, min(limit, maxPage))
	if err != nil {
		return err
	}
	return writeJSON(w, searchResult{Events: viewsOf(evs), Next: next.String()})
}

func serveRedrive(app App, w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f, err := filterOf(q)
	if err != nil {
		return err
	}
	dryRun, err := strconv.ParseBool(cmp.Or(q.Get("dryRun"), "false"))
	if err != nil {
		return badRequest("dryRun must be true or false")
	}
	if f == (outbox.Filter{}) && !dryRun {
		return badRequest("give a filter (e.g. state=dead, type=..., since=...): replaying every stored event is rarely meant")
	}
	n, sample, err := outbox.Redrive(r.Context(), app.Store(), f, dryRun, redriveSample)
	if n > 0 && !dryRun {
		app.Kick()
	}
	if err != nil {
		return err
	}
	res := redriveResult{DryRun: dryRun, Count: n}
	if dryRun {
		res.Sample = viewsOf(sample)
	}
	return writeJSON(w, res)
}

func serveTimeline(app App, w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	requestID, paymentID := q.Get("paymentRequestId"), q.Get("paymentId")
	if requestID == "" && paymentID == "" {
		return badRequest("give ?paymentRequestId= (the order number) or ?paymentId= (Antom's payment id)")
	}
	tl, err := outbox.PaymentTimeline(r.Context(), app.Store(), app.ProfileNames(), requestID, paymentID)
	if err != nil {
		return err
	}
	return writeJSON(w, tl)
}

func viewsOf(evs []*outbox.Event) []eventView {
	out := make([]eventView, len(evs))
	for i, ev := range evs {
		out[i] = viewOf(ev)
	}
	return out
}
