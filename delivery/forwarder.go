package delivery

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"

	"github.com/caddy-antom/caddy-antom/antom"
	"github.com/caddy-antom/caddy-antom/internal/tracing"
	"github.com/caddy-antom/caddy-antom/outbox"
)

// Route is where the events of one antom_webhook go. Events name their
// route by ID only, so the secret can rotate without orphaning them.
type Route struct {
	ID      string
	Profile string
	URL     string
	// Secrets sign every delivery, one signature each, so the app can move
	// from one secret to the next at its own pace (at least one in the
	// Standard Webhooks format; optional in Antom's, where they add the
	// Standard Webhooks headers).
	Secrets []Secret
	// Format is FormatStandardWebhooks ("" too) or FormatAntom.
	Format string
	// AntomSigner re-signs each delivery in Antom's format as Antom signs a
	// notification; nil passes Antom's own signature through.
	AntomSigner *antom.Signer `json:"-"`
	// MaxAge is how long after ReceivedAt delivery is retried before the
	// event goes dead; <= 0 means DefaultMaxAge.
	MaxAge time.Duration
	// MaxInFlight bounds the deliveries to URL at once, synchronous first
	// attempts included; <= 0 means DefaultMaxInFlight.
	MaxInFlight int
	// Rate bounds the deliveries to URL per second (a token bucket); <= 0
	// means no limit beyond MaxInFlight.
	Rate float64
	// Unordered lets the events of one payment overtake each other
	// (antom_webhook `ordering off`): OrderKey gives them none.
	Unordered bool
}

// OrderKey is the OrderKey of an event of the payment paymentID forwarded
// on r: the payment's (outbox.PaymentOrderKey), so that the store holds it
// behind the payment's earlier pending events, or "" when r is Unordered or
// the paymentId is unknown. Notifications and results found by inquiry both
// take theirs from here.
func (r Route) OrderKey(paymentID string) string {
	if paymentID == "" || r.Unordered {
		return ""
	}
	return outbox.PaymentOrderKey(paymentID)
}

// DefaultMaxInFlight is a forward's max_in_flight when none is set: one less
// than the 5 workers of a stock PHP-FPM pool (pm.max_children = 5), so a
// backlog drain leaves a worker for the shop's own pages.
const DefaultMaxInFlight = 4

// DefaultMaxAge is the retry window of a route without MaxAge: long enough
// to outlast a weekend outage of the app (dead events can be replayed).
const DefaultMaxAge = 72 * time.Hour

// RouteID is the stable id of a delivery route: "rt_" + the first 16 hex
// digits of sha256(profile + "\n" + url). The secret is not part of it.
func RouteID(profile, url string) string {
	sum := sha256.Sum256([]byte(profile + "\n" + url))
	return "rt_" + hex.EncodeToString(sum[:])[:16]
}

// RedactedURL is the forward URL without the password it may carry, for
// logs and views.
func (r Route) RedactedURL() string {
	u, err := url.Parse(r.URL)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

func (r Route) maxInFlight() int {
	if r.MaxInFlight > 0 {
		return r.MaxInFlight
	}
	return DefaultMaxInFlight
}

func (r Route) maxAge() time.Duration {
	if r.MaxAge > 0 {
		return r.MaxAge
	}
	return DefaultMaxAge
}

// Attempt is the outcome of one delivery attempt.
type Attempt struct {
	OK         bool          // the app answered 2xx (in Antom's format: with Antom's success ack)
	Status     int           // HTTP status; 0 if there was no answer
	RetryAfter time.Duration // from Retry-After on 429/503; 0 if absent
	Err        string        // short reason for a failure; no secrets, at most ~200 bytes of the app's answer
	Latency    time.Duration
}

// DefaultAttemptTimeout bounds one delivery attempt when the context has no
// earlier deadline.
const DefaultAttemptTimeout = 30 * time.Second

// maxErrBody is how much of the app's answer goes into Attempt.Err.
const maxErrBody = 200

// Forwarder makes single delivery attempts. The zero value is usable.
type Forwarder struct {
	// HTTP is the client to use (shared transport, keep-alive). Nil means a
	// client with defaultTransport. Redirects are never followed: a 301/302
	// would turn the POST into a GET and lose the body.
	HTTP *http.Client
	// Timeout bounds one attempt; zero means DefaultAttemptTimeout.
	Timeout time.Duration
	// UserAgent, if set, is sent as User-Agent.
	UserAgent string
}

// Deliver POSTs ev.Body, byte for byte, to route.URL with the headers of the
// route's format (Standard Webhooks, or Antom's own: antomformat.go) and the
// Antom-* descriptive headers. It makes exactly one attempt
// and never changes ev; the attempt number sent is ev.Attempts+1.
func (f *Forwarder) Deliver(ctx context.Context, route Route, ev *outbox.Event) Attempt {
	ctx, span := tracing.Start(ctx, "antom.deliver")
	defer span.End()
	span.SetAttributes(attribute.String("antom.webhook_id", ev.ID), attribute.Int("antom.attempt", ev.Attempts+1))
	start := time.Now()
	a := f.deliver(ctx, route, ev)
	a.Latency = time.Since(start)
	span.SetAttributes(attribute.Int("http.response.status_code", a.Status))
	if !a.OK {
		span.SetStatus(codes.Error, a.Err)
	}
	return a
}

// AttemptTimeout is how long one attempt may take at most: Timeout, or DefaultAttemptTimeout.
func (f *Forwarder) AttemptTimeout() time.Duration {
	if f.Timeout > 0 {
		return f.Timeout
	}
	return DefaultAttemptTimeout
}

func (f *Forwarder) deliver(ctx context.Context, route Route, ev *outbox.Event) Attempt {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, f.AttemptTimeout())
	defer cancel()

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, route.URL, bytes.NewReader(ev.Body))
	if err != nil {
		return Attempt{Err: "invalid forward URL: " + describeErr(err)}
	}
	ts := now()
	h := req.Header
	if route.Format == FormatAntom {
		if err := setAntomHeaders(h, route, ev, ts); err != nil {
			return Attempt{Err: err.Error()}
		}
	} else {
		h.Set("Content-Type", "application/json")
	}
	h.Set("webhook-id", ev.ID)
	if len(route.Secrets) > 0 {
		h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
		h.Set("webhook-signature", SignAll(route.Secrets, ev.ID, ts, ev.Body))
	}
	setIf(h, "Antom-Profile", ev.Profile)
	setIf(h, "Antom-Event-Kind", ev.Kind)
	setIf(h, "Antom-Event-Type", ev.Type)
	setIf(h, "Antom-Result-Status", ev.ResultStatus)
	setIf(h, "Antom-Request-Id", ev.RequestID)
	setIf(h, "Antom-Request-Id-Field", ev.RequestIDField)
	setIf(h, "Antom-Subscription-Id", ev.SubscriptionID)
	setIf(h, "Antom-Event-Source", ev.Source)
	h.Set("Antom-Attempt", strconv.Itoa(ev.Attempts+1))
	tracing.Inject(ctx, propagation.HeaderCarrier(h))
	if f.UserAgent != "" {
		h.Set("User-Agent", f.UserAgent)
	}

	resp, err := f.client().Do(req)
	if err != nil {
		switch {
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			return Attempt{Err: "no answer from the app within " + time.Since(start).Round(time.Millisecond).String()}
		case ctx.Err() != nil:
			return Attempt{Err: "cancelled"}
		}
		return Attempt{Err: describeErr(err)}
	}
	defer resp.Body.Close()
	limit := int64(maxErrBody)
	if route.Format == FormatAntom {
		limit = maxAckBody // the ack is read whole
	}
	head, _ := io.ReadAll(io.LimitReader(resp.Body, limit))
	// Drain a little more so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))

	a := Attempt{Status: resp.StatusCode}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if route.Format == FormatAntom {
			a.Err = checkAck(head)
		}
		a.OK = a.Err == ""
		return a
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		a.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), ts)
	}
	msg := fmt.Sprintf("app answered %d", resp.StatusCode)
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		msg += " (redirects are not followed; set the forward URL to the final address)"
	}
	if s := snippet(head); s != "" {
		msg += ": " + s
	}
	a.Err = msg
	return a
}

// defaultTransport is the transport of a Forwarder without HTTP: http.DefaultTransport with
// enough idle connections per host for the deliveries in flight. http.DefaultTransport keeps
// only 2 idle connections per host, so under load (the dispatcher's 16 deliveries plus one
// synchronous delivery per notification being answered) most deliveries opened a new TCP
// connection to the app and closed it again: 0.74 new connections per notification at
// saturation in bench/ (BENCHMARKS.md).
var defaultTransport http.RoundTripper = newDefaultTransport()

func newDefaultTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 512
	t.MaxIdleConnsPerHost = 256
	return t
}

func (f *Forwarder) client() *http.Client {
	c := http.Client{Transport: defaultTransport}
	if f.HTTP != nil {
		c = *f.HTTP // a shallow copy shares the transport
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// setIf sets a descriptive header from an event field, which comes from the notification's
// body and may hold anything JSON can. The body is what matters, so a value that cannot go in
// a header must never make the event undeliverable: it is percent-encoded (headerValue), or
// left out when even that is too long.
func setIf(h http.Header, k, v string) {
	if v, ok := headerValue(v); ok && v != "" {
		h.Set(k, v)
	}
}

// maxHeaderValue is the longest descriptive header value sent; Antom's ids are at most 64
// characters, and app servers refuse requests with large headers (431).
const maxHeaderValue = 1024

// headerValue percent-encodes (%XX, as in URLs) every byte of v that is not printable ASCII
// ('!' to '~'), and '%' itself, so that any value fits in a header, round-trips through
// rawurldecode / decodeURIComponent, and an ordinary value stays as it is. ok is false when
// the result would be longer than maxHeaderValue.
func headerValue(v string) (string, bool) {
	const hex = "0123456789ABCDEF"
	var b []byte // nil while v needs no encoding
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c > ' ' && c < 0x7f && c != '%' {
			if b != nil {
				b = append(b, c)
			}
			continue
		}
		if b == nil {
			b = append(make([]byte, 0, len(v)+16), v[:i]...)
		}
		b = append(b, '%', hex[c>>4], hex[c&15])
	}
	if b != nil {
		v = string(b)
	}
	return v, len(v) <= maxHeaderValue
}

// describeErr drops the URL from transport errors (a forward URL may carry
// credentials or a token) and keeps the cause.
func describeErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne *net.OpError
	if errors.As(err, &ne) && ne.Err != nil {
		return ne.Op + ": " + ne.Err.Error()
	}
	return truncate(err.Error(), maxErrBody)
}

// parseRetryAfter reads Retry-After as delay-seconds or an HTTP date.
func parseRetryAfter(v string, at time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(at); d > 0 {
			return min(d, maxRetryAfter)
		}
	}
	return 0
}

// snippet makes a short single-line printable excerpt of the app's answer.
func snippet(b []byte) string {
	var sb strings.Builder
	space := false
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		b = b[size:]
		switch {
		case r == utf8.RuneError && size <= 1:
			r = '?'
		case r == '\n' || r == '\r' || r == '\t' || r == ' ':
			if !space && sb.Len() > 0 {
				sb.WriteByte(' ')
			}
			space = true
			continue
		case r < 0x20 || r == 0x7f:
			r = '?'
		}
		space = false
		sb.WriteRune(r)
	}
	return truncate(strings.TrimSpace(sb.String()), maxErrBody)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
