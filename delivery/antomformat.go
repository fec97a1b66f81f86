package delivery

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/caddy-antom/caddy-antom/antom"
	"github.com/caddy-antom/caddy-antom/outbox"
)

// Delivery formats (Route.Format).
const (
	// FormatStandardWebhooks signs each delivery per Standard Webhooks with the route's secrets.
	FormatStandardWebhooks = "standard_webhooks"
	// FormatAntom delivers what Antom itself would send, so that an app's existing Antom notify
	// handler takes it unchanged: Antom's Content-Type, client-id, request-time and signature,
	// and success only with Antom's ack.
	FormatAntom = "antom"
)

// antomContentType is the Content-Type of Antom's notifications.
const antomContentType = "application/json; charset=UTF-8"

// maxAckBody is how much of an answer is read to find Antom's ack in it: the ack is 80 bytes,
// an app's answer with its own result a little more.
const maxAckBody = 4 << 10

// errNoAntomSignature is the failure of a pass-through delivery of an event that never had
// Antom's signature: sending it would only have the app refuse it.
var errNoAntomSignature = errors.New("no Antom signature to pass through: the event is an inquiry result or was stored " +
	"before signatures were kept; give this forward a forward_key so Caddy signs it, then replay it")

// setAntomHeaders sets the headers Antom sends with a notification: Caddy's own signature when
// the route re-signs, Antom's as received otherwise. Header names are lower case, as Antom's
// gateway sends them.
func setAntomHeaders(h http.Header, route Route, ev *outbox.Event, at time.Time) error {
	h.Set("Content-Type", antomContentType)
	path, err := SignedPath(route.URL)
	if err != nil {
		return err
	}
	if route.AntomSigner == nil {
		switch {
		case ev.Signed == nil:
			return errNoAntomSignature
		case ev.Signed.Path != path:
			return fmt.Errorf("this notification was signed by Antom over the path %s, not the forward URL's path %s, so the app could not verify it; "+
				"give this forward a forward_key so Caddy signs it, then replay it", ev.Signed.Path, path)
		}
		h["client-id"] = []string{ev.Signed.ClientID}
		h["request-time"] = []string{ev.Signed.RequestTime}
		h["signature"] = []string{ev.Signed.Signature}
		return nil
	}
	requestTime := antom.RequestTime(at)
	sig, err := route.AntomSigner.SignRequest(http.MethodPost, path, requestTime, ev.Body)
	if err != nil {
		return fmt.Errorf("signing with forward_key: %v", err)
	}
	h["client-id"] = []string{route.AntomSigner.ClientID}
	h["request-time"] = []string{requestTime}
	h["signature"] = []string{sig}
	return nil
}

// SignedPath is the path (and query, if any) of forward, as Antom's scheme signs it and the app
// sees it.
func SignedPath(forward string) (string, error) {
	u, err := url.Parse(forward)
	if err != nil {
		return "", errors.New("invalid forward URL")
	}
	return u.RequestURI(), nil
}

// checkAck says why an app's 2xx answer is not Antom's success ack ("" when it is one): an
// Antom notify handler answers result.resultStatus S once it has taken the notification, and
// anything else means it has not, so the delivery is retried as Antom would retry it.
func checkAck(body []byte) string {
	r, err := antom.ParseResult(body)
	switch {
	case err != nil:
		msg := "app answered 2xx without Antom's ack (result.resultStatus S)"
		if s := snippet(body); s != "" {
			msg += ": " + s
		}
		return msg
	case r.ResultStatus != "S":
		return truncate(fmt.Sprintf("app refused the notification: resultStatus %q, resultCode %q, resultMessage %q",
			r.ResultStatus, r.ResultCode, r.ResultMessage), 2*maxErrBody)
	}
	return ""
}
