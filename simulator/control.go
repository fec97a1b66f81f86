package simulator

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/caddy-antom/caddy-antom/antom"
)

// The control endpoints under /simulator/ are for scripts, tests and curious users. They are
// not part of Antom and have no authentication: never expose the simulator publicly.

// serveIndex lists the endpoints.
func (s *Simulator) serveIndex(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, `caddy-antom offline Antom simulator (state in memory; no money moves)

Gateway (signed like Antom; client ids SANDBOX_... under /ams/sandbox/api/):
  POST /ams/api/v1/payments/{consult,pay,createPaymentSession,inquiryPayment,cancel,capture,refund,inquiryRefund}
  POST /ams/api/v1/authorizations/applyToken
Buyer:
  GET  /cashier/{paymentId}                        the normalUrl: cashier (Pay / Fail / Cancel), entry-code wallet
                                                   confirmation, or card form (hosted card payments)
  GET  /cashier/{paymentId}/3ds                    3-D Secure challenge (Pass / Fail)
Control:
  GET  /simulator/public_key                       the simulator's Antom public key (base64 SPKI)
  GET  /simulator/payments                         payments (JSON)
  GET  /simulator/payments/{paymentRequestId}      one payment (JSON; ?clientId= if ambiguous)
  POST /simulator/payments/{paymentRequestId}/pay  also /fail and /cancel: act as the buyer
  GET  /simulator/notifications                    notifications with attempts and acks (JSON)
  POST /simulator/drop_notifications               {"drop":true|false}, optionally "types":["REFUND_RESULT",...]
Magic amounts (last 4 digits of amount.value): 4001 PROCESS_FAIL, 4002 first answer UNKNOWN_EXCEPTION,
  4003 first answer delayed, 4004 unsigned UNKNOWN_EXCEPTION, 4005 broken signature,
  4006 the buyer's balance is not enough (USER_BALANCE_NOT_ENOUGH when the buyer pays).
Magic cards: 4111111111111111 approved, 4000000000000002 DO_NOT_HONOR, 4000000000009995
  USER_BALANCE_NOT_ENOUGH, 4000000000003220 issuer requires 3-D Secure, 4000000000000101 AVS/CVV mismatch.
`)
}

// servePublicKey returns the simulator's Antom public key as one line of base64 SPKI, the
// form the Antom Dashboard shows and the SDKs take as alipayPublicKey.
func (s *Simulator) servePublicKey(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Antom-Key-Version", s.keyVersion)
	_, _ = io.WriteString(w, antom.EncodePublicKey(&s.key.PublicKey))
}

// serveNotifications lists every notification with its attempts.
func (s *Simulator) serveNotifications(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, struct {
		DropNotifications bool           `json:"dropNotifications"`
		Notifications     []Notification `json:"notifications"`
	}{s.DropNotifications(), s.Notifications()})
}

// serveDrop reads (GET) or sets (POST {"drop":bool, "types":[notifyType...]}) the drop switch;
// types, if given, limits it to those notifyTypes (an empty list: every type again).
func (s *Simulator) serveDrop(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		var req struct {
			Drop  *bool     `json:"drop"`
			Types *[]string `json:"types"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil || req.Drop == nil {
			writeError(w, http.StatusBadRequest, `expected {"drop":true} or {"drop":false}, optionally with "types":["REFUND_RESULT",...]`)
			return
		}
		if req.Types != nil {
			s.SetDropTypes(*req.Types...)
		}
		s.SetDropNotifications(*req.Drop)
	}
	writeJSON(w, http.StatusOK, struct {
		Drop  bool     `json:"drop"`
		Types []string `json:"types,omitempty"`
	}{s.DropNotifications(), s.DropTypes()})
}

// Payments returns a snapshot of every payment, oldest first.
func (s *Simulator) Payments() []Payment {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireAllLocked()
	out := make([]Payment, 0, len(s.state.payments))
	for _, p := range s.state.payments {
		out = append(out, p.snapshot())
	}
	slices.SortFunc(out, func(a, b Payment) int {
		if c := a.CreateTime.Compare(b.CreateTime); c != 0 {
			return c
		}
		return strings.Compare(a.PaymentID, b.PaymentID)
	})
	return out
}

// Payment returns a snapshot of the payment with this paymentRequestId or paymentId.
func (s *Simulator) Payment(ref string) (Payment, bool) {
	snap, err := s.snapshotOf("", ref)
	return snap, err == nil
}

// snapshotOf returns a snapshot of the payment findLocked finds, with its expiry applied.
func (s *Simulator) snapshotOf(clientID, ref string) (Payment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.findLocked(clientID, ref)
	if err != nil {
		return Payment{}, err
	}
	s.expireLocked(p, s.now())
	return p.snapshot(), nil
}

func (s *Simulator) servePayments(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, struct {
		Payments []Payment `json:"payments"`
	}{s.Payments()})
}

func (s *Simulator) servePayment(w http.ResponseWriter, r *http.Request) {
	snap, err := s.snapshotOf(r.URL.Query().Get("clientId"), r.PathValue("ref"))
	if err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	writeJSON(w, http.StatusOK, snap)
}

// servePaymentAction acts as the buyer: POST /simulator/payments/{ref}/pay|fail|cancel.
func (s *Simulator) servePaymentAction(w http.ResponseWriter, r *http.Request) {
	p, err := s.act(r.URL.Query().Get("clientId"), r.PathValue("ref"), BuyerAction(r.PathValue("action")))
	if err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	writeJSON(w, http.StatusOK, struct {
		PaymentID        string `json:"paymentId"`
		PaymentRequestID string `json:"paymentRequestId"`
		PaymentStatus    string `json:"paymentStatus"`
		ResultCode       string `json:"paymentResultCode"`
		RedirectURL      string `json:"redirectUrl,omitempty"`
	}{p.PaymentID, p.PaymentRequestID, p.Status, p.ResultCode, p.RedirectURL})
}

func statusOf(err error) int {
	switch {
	case errors.Is(err, errNotFound):
		return http.StatusNotFound
	case errors.Is(err, errConflict):
		return http.StatusConflict
	}
	return http.StatusBadRequest
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(antom.MustMarshal(v))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
