package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-antom/caddy-antom/antom"
)

// retrySchedule is Antom's notification schedule: the wait before each of the (at most 8)
// attempts, counted from the previous attempt. About 24 h in all. Config.RetryScale
// multiplies it.
var retrySchedule = []time.Duration{
	0, 2 * time.Minute, 10 * time.Minute, 10 * time.Minute,
	time.Hour, 2 * time.Hour, 6 * time.Hour, 15 * time.Hour,
}

// Notification states.
const (
	NotifyPending = "pending" // being delivered, or waiting for its next attempt
	NotifyAcked   = "acked"   // the merchant answered with the exact SUCCESS acknowledgement
	NotifyFailed  = "failed"  // all attempts of the schedule done, none acknowledged
	NotifyDropped = "dropped" // the drop switch was on: not sent (any more)
	NotifySkipped = "skipped" // the request named no notify URL
	NotifyStopped = "stopped" // the simulator was closed before an acknowledgement
)

// Notification is a notification the simulator sent or meant to send, as listed by
// GET /simulator/notifications and Simulator.Notifications.
type Notification struct {
	ID            string          `json:"id"`
	Type          string          `json:"type"` // notifyType, or authorizationNotifyType
	URL           string          `json:"url"`
	ClientID      string          `json:"clientId"`
	PaymentID     string          `json:"paymentId,omitempty"`
	Body          json.RawMessage `json:"body"` // the exact bytes sent
	State         string          `json:"state"`
	CreatedAt     time.Time       `json:"createdAt"`
	NextAttemptAt *time.Time      `json:"nextAttemptAt,omitempty"`
	Attempts      []Attempt       `json:"attempts"`

	// after is the notification this one must wait for: Antom tells the merchant about an
	// authorisation before the payment it came with, and a payment before its automatic capture.
	after *Notification
	// done is closed when the notification reaches a final state.
	done chan struct{}
}

// Attempt is one POST of a notification.
type Attempt struct {
	At         time.Time `json:"at"`
	StatusCode int       `json:"statusCode,omitempty"`
	Acked      bool      `json:"acked"`
	// Error says why the attempt does not count as received: a transport error, a non-200
	// status or an answer that is not the SUCCESS acknowledgement.
	Error string `json:"error,omitempty"`
	// Response is the start of the merchant's answer body.
	Response string `json:"response,omitempty"`
}

// maxAckBytes bounds how much of a merchant's answer is read; the acknowledgement is 80 bytes.
const maxAckBytes = 64 << 10

// notifyLocked records a notification and starts delivering it. url "" (the request named no
// notify URL; the real Antom would use the one in its dashboard) is recorded as skipped.
func (s *Simulator) notifyLocked(clientID, notifyURL, typ, paymentID string, body any) *Notification {
	return s.notifyAfterLocked(nil, clientID, notifyURL, typ, paymentID, body)
}

// notifyAfterLocked is notifyLocked for a notification whose first attempt waits until after
// (if not nil) is acknowledged or otherwise final, so that the merchant gets them in order.
func (s *Simulator) notifyAfterLocked(after *Notification, clientID, notifyURL, typ, paymentID string, body any) *Notification {
	now := s.now()
	n := &Notification{
		ID:        s.state.nextSeq(),
		Type:      typ,
		URL:       notifyURL,
		ClientID:  clientID,
		PaymentID: paymentID,
		Body:      antom.MustMarshal(body),
		CreatedAt: now,
		Attempts:  []Attempt{},
		after:     after,
		done:      make(chan struct{}),
	}
	s.state.notifications = append(s.state.notifications, n)
	switch {
	case notifyURL == "":
		n.finalLocked(NotifySkipped)
	case s.dropping(typ):
		n.finalLocked(NotifyDropped)
	case !s.goLocked(func() { s.deliver(n) }):
		n.finalLocked(NotifyStopped)
	default:
		n.State = NotifyPending
		n.NextAttemptAt = &now
	}
	s.log.Debug("antom simulator: notification queued", zap.String("id", n.ID), zap.String("type", typ), zap.String("url", notifyURL), zap.String("state", n.State))
	return n
}

// finalLocked gives n its final state and releases the notifications waiting for it.
func (n *Notification) finalLocked(state string) {
	n.State, n.NextAttemptAt = state, nil
	close(n.done)
}

// deliver runs the retry schedule of n until the first acknowledgement, the drop switch, the
// end of the schedule or Close.
func (s *Simulator) deliver(n *Notification) {
	if n.after != nil {
		select {
		case <-n.after.done:
		case <-s.ctx.Done():
			s.finish(n, NotifyStopped)
			return
		}
	}
	for i, gap := range retrySchedule {
		if wait := s.scaled(gap); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-s.ctx.Done():
				t.Stop()
				s.finish(n, NotifyStopped)
				return
			}
		}
		if s.dropping(n.Type) {
			s.finish(n, NotifyDropped)
			return
		}
		a := s.attempt(n)
		if s.closed() && !a.Acked {
			s.finish(n, NotifyStopped) // an attempt cut short by Close does not count
			return
		}
		s.mu.Lock()
		n.Attempts = append(n.Attempts, a)
		switch {
		case a.Acked:
			n.finalLocked(NotifyAcked)
		case i == len(retrySchedule)-1:
			n.finalLocked(NotifyFailed)
		default:
			next := a.At.Add(s.scaled(retrySchedule[i+1]))
			n.NextAttemptAt = &next
		}
		s.mu.Unlock()
		fields := []zap.Field{zap.String("id", n.ID), zap.String("type", n.Type), zap.String("url", n.URL), zap.Int("attempt", i+1), zap.Int("status", a.StatusCode)}
		switch {
		case a.Acked:
			s.log.Info("antom simulator: notification acknowledged", fields...)
			return
		case i == len(retrySchedule)-1:
			s.log.Warn("antom simulator: notification never acknowledged; giving up as Antom does", append(fields, zap.String("why", a.Error))...)
			return
		default:
			s.log.Info("antom simulator: notification not acknowledged; will retry", append(fields, zap.String("why", a.Error))...)
		}
	}
}

// finish gives n a final state without a further attempt.
func (s *Simulator) finish(n *Notification, state string) {
	s.mu.Lock()
	n.finalLocked(state)
	s.mu.Unlock()
}

// scaled applies RetryScale to a schedule step.
func (s *Simulator) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) * s.retryScale)
}

// attempt POSTs n once, signed like Antom: content "POST <path[?query]>\n<client-id>.<request-time>.<body>".
func (s *Simulator) attempt(n *Notification) Attempt {
	a := Attempt{At: s.now()}
	u, err := url.Parse(n.URL)
	if err != nil {
		a.Error = "the notify URL does not parse: " + err.Error()
		return a
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	if u.RawQuery != "" {
		path += "?" + u.RawQuery
	}
	reqTime := iso(a.At)
	sig, err := antom.Signer{ClientID: n.ClientID, KeyVersion: s.keyVersion, Key: s.key}.SignRequest(http.MethodPost, path, reqTime, n.Body)
	if err != nil {
		a.Error = "signing: " + err.Error()
		return a
	}
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, n.URL, bytes.NewReader(n.Body))
	if err != nil {
		a.Error = err.Error()
		return a
	}
	req.Header.Set("Content-Type", "application/json; charset=UTF-8")
	req.Header["client-id"] = []string{n.ClientID} // lower case, as the gateway sends them
	req.Header["request-time"] = []string{reqTime}
	req.Header["signature"] = []string{sig}
	resp, err := s.client.Do(req)
	if err != nil {
		a.Error = err.Error()
		return a
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAckBytes))
	a.StatusCode = resp.StatusCode
	a.Response = string(body[:min(len(body), 256)])
	a.Acked, a.Error = isAck(resp.StatusCode, body, err)
	return a
}

// isAck decides whether an answer counts as received: HTTP 200 and exactly
// {"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"}}. Leading
// and trailing whitespace (a newline from echo or a JSON encoder) is tolerated; anything else,
// even equivalent JSON with other key order or spacing, is not, so that an acknowledgement
// the simulator accepts is one Antom accepts.
func isAck(status int, body []byte, readErr error) (bool, string) {
	switch {
	case readErr != nil:
		return false, "reading the answer: " + readErr.Error()
	case status != http.StatusOK:
		return false, fmt.Sprintf("HTTP %d; Antom requires HTTP 200 with the SUCCESS acknowledgement", status)
	case !bytes.Equal(bytes.TrimSpace(body), antom.AckBody):
		return false, "HTTP 200, but the body is not exactly " + string(antom.AckBody)
	}
	return true, ""
}

// Notifications returns a snapshot of every notification, oldest first.
func (s *Simulator) Notifications() []Notification {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Notification, 0, len(s.state.notifications))
	for _, n := range s.state.notifications {
		c := *n
		c.after, c.done = nil, nil
		c.Body = slices.Clone(n.Body)
		c.Attempts = slices.Clone(n.Attempts)
		if n.NextAttemptAt != nil {
			t := *n.NextAttemptAt
			c.NextAttemptAt = &t
		}
		out = append(out, c)
	}
	return out
}
