package handlers

import (
	"encoding/json"
	"net"
	"strings"
	"time"

	"github.com/caddy-antom/caddy-antom/outbox"
	"github.com/caddy-antom/caddy-antom/reconcile"
)

// activityFields are the top-level fields of an Antom request, answer or notification that a
// timeline activity keeps: the ids (reconcile.IDs) and the amounts. Nothing else of
// the body (card data, buyer details) is decoded into them.
type activityFields struct {
	reconcile.IDs
	PaymentAmount *outbox.Amount `json:"paymentAmount"`
	RefundAmount  *outbox.Amount `json:"refundAmount"`
	CaptureAmount *outbox.Amount `json:"captureAmount"`
}

// newActivity returns an activity of kind what at at, naming the ids the JSON bodies carry
// (unreadable bodies name none). It returns the amount the bodies name as "<value>
// <currency>", or "".
func newActivity(what string, at time.Time, bodies ...[]byte) (act *outbox.Activity, amount string) {
	act = outbox.NewActivity(what, at)
	for _, body := range bodies {
		var f activityFields
		if json.Unmarshal(body, &f) != nil {
			continue
		}
		f.IDs.Name(act)
		for _, a := range []*outbox.Amount{f.PaymentAmount, f.RefundAmount, f.CaptureAmount} {
			if a != nil && amount == "" && len(a.Value) <= 20 && len(a.Currency) <= 3 {
				amount = a.Value + " " + a.Currency
			}
		}
	}
	return act, amount
}

// remoteIP is the IP address of a request's TCP peer.
func remoteIP(remoteAddr string) string {
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return host
	}
	return remoteAddr
}

// truncateDetail bounds a message kept in an activity (it may quote a sender's headers).
func truncateDetail(s string) string {
	if len(s) > 300 {
		return strings.ToValidUTF8(s[:300], "") + "..."
	}
	return s
}
