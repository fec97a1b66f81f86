package handlers

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-antom/caddy-antom/outbox"
)

func init() {
	caddy.RegisterModule(Console{})
}

// Console serves the operator's console: delivery health per forward, the event search, an
// event's attempts, a payment's timeline and the dead letters with replay buttons. It is plain
// server-rendered HTML without scripts or external assets. It has no authentication of its
// own: mount it behind basic_auth, a remote_ip matcher, or both. It never shows secrets; it shows
// notification bodies (with card data redacted) only with ShowBodies.
type Console struct {
	// ShowBodies shows an event's notification body on its page, with card data and
	// credentials redacted. Bodies carry buyers' personal data; default: hidden.
	ShowBodies bool `json:"show_bodies,omitempty"`

	app      consoleApp
	protect  *http.CrossOriginProtection
	template *template.Template
}

// consoleApp is what the console needs from the antom app beyond App.
type consoleApp interface {
	App
	// Kick wakes the delivery workers after a replay.
	Kick()
	// ProfileNames are the merchant profiles, whose payment records a timeline looks up.
	ProfileNames() []string
	// Forwards are the configured forwards with their paused state.
	Forwards() []Forward
	// PauseForward pauses (pause true) or resumes the forward with this route id, durably.
	PauseForward(ctx context.Context, route string, pause bool) error
}

// Forward is a configured forward as the console shows it.
type Forward struct {
	Route   string // its delivery route id (rt_...)
	Profile string
	URL     string // with any password redacted
	Paused  bool
}

// CaddyModule returns the Caddy module information.
func (Console) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.antom_console", New: func() caddy.Module { return new(Console) }}
}

//go:embed console.html
var consoleHTML string

// Provision finds the antom app.
func (c *Console) Provision(ctx caddy.Context) error {
	app, err := loadApp(ctx)
	if err != nil {
		return err
	}
	ca, ok := app.(consoleApp)
	if !ok {
		return fmt.Errorf("the antom app %T cannot serve the console", app)
	}
	return c.setup(ca)
}

// setup readies the console for app.
func (c *Console) setup(app consoleApp) error {
	c.app = app
	c.protect = http.NewCrossOriginProtection()
	var err error
	c.template, err = template.New("console").Funcs(template.FuncMap{
		"time": func(t time.Time) string {
			if t.IsZero() {
				return "-"
			}
			return t.UTC().Format("2006-01-02 15:04:05Z")
		},
		"redact": func(b []byte) string { return string(redact(b)) },
	}).Parse(consoleHTML)
	return err
}

// csrfCookie holds the console's anti-forgery token, which every form repeats.
const csrfCookie = "antom_console_csrf"

// page is what the template renders.
type page struct {
	View    string
	Path    string
	CSRF    string
	Error   string
	Notice  string
	Counts  map[string]int // events per state
	Health  []forwardHealth
	Counted time.Time // when the delivery outcomes in Health were read
	Events  []*outbox.Event
	Next    template.URL // the next page of results
	Event   *outbox.Event
	Bodies  bool
	Line    *outbox.Timeline
	Filters []filterField
}

// filterField is one input of the search form.
type filterField struct{ Name, Label, Value string }

func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return c.render(w, r, c.view(r))
	case http.MethodPost:
		return c.post(w, r)
	}
	h.Set("Allow", "GET, HEAD, POST")
	return caddyhttp.Error(http.StatusMethodNotAllowed, errors.New("the console takes GET and POST"))
}

// view gathers the data of the page the query asks for.
func (c *Console) view(r *http.Request) *page {
	q := r.URL.Query()
	p := &page{View: q.Get("view"), Bodies: c.ShowBodies, Notice: q.Get("notice")}
	ctx := r.Context()
	store := c.app.Store()
	var err error
	switch p.View {
	case "events", "dead":
		q.Del("view")
		q.Del("notice")
		if p.View == "dead" {
			q = url.Values{"state": {string(outbox.StateDead)}, "cursor": q["cursor"]}
		}
		p.Filters = filterFields(q)
		var f outbox.Filter
		var cursor outbox.Cursor
		if f, err = outbox.ParseFilter(q); err == nil {
			if cursor, err = outbox.ParseCursor(q.Get("cursor")); err == nil {
				var next outbox.Cursor
				p.Events, next, err = store.Search(ctx, f, cursor, 50)
				if next.ID != "" {
					nq := url.Values{"view": {p.View}}
					for k, v := range q {
						nq[k] = v
					}
					nq.Set("cursor", next.String())
					p.Next = template.URL(pagePath(r) + "?" + nq.Encode())
				}
			}
		}
	case "event":
		p.Event, err = store.Get(ctx, q.Get("id"))
	case "timeline":
		p.Filters = []filterField{{"paymentRequestId", "paymentRequestId (order number)", q.Get("paymentRequestId")}, {"paymentId", "Antom paymentId", q.Get("paymentId")}}
		if q.Get("paymentRequestId") != "" || q.Get("paymentId") != "" {
			p.Line, err = outbox.PaymentTimeline(ctx, store, c.app.ProfileNames(), q.Get("paymentRequestId"), q.Get("paymentId"))
		}
	default:
		p.View = "health"
		var counts map[outbox.State]int
		if counts, err = store.Counts(ctx); err == nil {
			p.Counts = map[string]int{}
			for st, n := range counts {
				p.Counts[string(st)] = n
			}
			p.Counted = time.Now()
			p.Health, err = c.health(ctx, p.Counted)
		}
	}
	if err != nil {
		p.Error = err.Error()
	}
	return p
}

func filterFields(q url.Values) []filterField {
	var out []filterField
	for _, f := range [][2]string{
		{"requestId", "request id (order number, refund or capture request id)"}, {"paymentId", "Antom paymentId"},
		{"state", "state (pending, delivered, dead)"}, {"type", "type"}, {"kind", "kind"},
		{"source", "source (notification, inquiry)"}, {"forward", "forward (rt_...)"},
		{"since", "since (RFC 3339)"}, {"until", "until (RFC 3339)"},
	} {
		out = append(out, filterField{f[0], f[1], q.Get(f[0])})
	}
	return out
}

// render writes p with a fresh or existing anti-forgery token.
func (c *Console) render(w http.ResponseWriter, r *http.Request, p *page) error {
	p.Path = pagePath(r)
	if ck, err := r.Cookie(csrfCookie); err == nil && len(ck.Value) == 64 {
		p.CSRF = ck.Value
	} else {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		p.CSRF = hex.EncodeToString(b)
		http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: p.CSRF, Path: p.Path, HttpOnly: true,
			Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	return c.template.Execute(w, p)
}

// post replays an event, or pauses or resumes a forward. A cross-site request is refused twice
// over: by its Sec-Fetch-Site or Origin header, and by the token it cannot know.
func (c *Console) post(w http.ResponseWriter, r *http.Request) error {
	if err := c.protect.Check(r); err != nil {
		return caddyhttp.Error(http.StatusForbidden, fmt.Errorf("cross-site request refused: %v", err))
	}
	ck, err := r.Cookie(csrfCookie)
	if err != nil || len(ck.Value) != 64 || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		return caddyhttp.Error(http.StatusForbidden, errors.New("the form's token does not match; reload the console page and try again"))
	}
	switch r.PostFormValue("action") {
	case "replay":
	case "pause", "resume":
		return c.pause(w, r, r.PostFormValue("action") == "pause")
	default:
		return caddyhttp.Error(http.StatusBadRequest, errors.New("unknown console action"))
	}
	id := r.PostFormValue("id")
	notice := "replayed; it is pending and will be delivered shortly"
	if _, err := c.app.Store().Replay(r.Context(), id); err != nil {
		notice = "not replayed: " + err.Error()
	} else {
		c.app.Kick()
	}
	q := url.Values{"view": {"event"}, "id": {id}, "notice": {notice}}
	http.Redirect(w, r, pagePath(r)+"?"+q.Encode(), http.StatusSeeOther)
	return nil
}

// pause pauses or resumes the forward the form names and shows the health page again.
func (c *Console) pause(w http.ResponseWriter, r *http.Request, pause bool) error {
	route := r.PostFormValue("route")
	notice := "resumed " + route + "; its backlog drains at the forward's rate"
	if pause {
		notice = "paused " + route + "; its notifications are still acknowledged and stored, and delivered after resume"
	}
	if err := c.app.PauseForward(r.Context(), route, pause); err != nil {
		notice = "nothing changed: " + err.Error()
	}
	http.Redirect(w, r, pagePath(r)+"?"+url.Values{"notice": {notice}}.Encode(), http.StatusSeeOther)
	return nil
}

// pagePath is the console's path as the browser sees it: under handle_path, r.URL.Path has
// lost its prefix, so links and the form's target are built from the original request.
func pagePath(r *http.Request) string {
	if orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok {
		return orig.URL.Path
	}
	return r.URL.Path
}

var (
	_ caddy.Provisioner           = (*Console)(nil)
	_ caddyhttp.MiddlewareHandler = (*Console)(nil)
)
