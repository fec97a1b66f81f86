package simulator

import (
	"net/http"
	"time"
)

// 3-D Secure in the simulator: a card payment that needs it answers PAYMENT_IN_PROCESS with
// normalUrl /cashier/{paymentId}/3ds, the (simulated) issuer's challenge page. Pass authorises
// the payment with a threeDSResult (the issuer may still decline it); Fail ends it with
// USER_PAYMENT_VERIFICATION_FAILED. Either way the buyer goes back to paymentRedirectUrl.

// threeDSResult is paymentResultInfo.threeDSResult.
type threeDSResult struct {
	ThreeDSVersion  string `json:"threeDSVersion"`
	ECI             string `json:"eci"`
	CAVV            string `json:"cavv,omitempty"`
	DSTransactionID string `json:"dsTransactionId"`
	Challenged      bool   `json:"challenged"`
}

// challengeLocked applies the buyer's answer to the 3-D Secure challenge of p.
func (s *Simulator) challengeLocked(p *payment, passed bool, now time.Time) {
	r := &threeDSResult{ThreeDSVersion: "2.2.0", DSTransactionID: randToken(18), Challenged: true}
	p.card.threeDS = r
	if !passed {
		r.ECI = "07" // authentication failed: no liability shift
		p.resultCode, p.resultMessage = "USER_PAYMENT_VERIFICATION_FAILED", "The buyer failed the 3-D Secure challenge."
		s.settleLocked(p, StatusFail, now)
		return
	}
	r.ECI, r.CAVV = "05", randToken(20)
	if p.card.card.brand == "MASTERCARD" {
		r.ECI = "02"
	}
	s.authoriseCardLocked(p, now)
}

// serveChallenge shows the 3-D Secure challenge page of a payment.
func (s *Simulator) serveChallenge(w http.ResponseWriter, r *http.Request) {
	s.renderPage(w, r.PathValue("paymentId"), http.StatusOK, "", challengePage)
}

// serveChallengeAction handles the Pass / Fail form of the challenge page, then sends the buyer
// to paymentRedirectUrl.
func (s *Simulator) serveChallengeAction(w http.ResponseWriter, r *http.Request) {
	if !parseSmallForm(w, r) {
		return
	}
	id := r.PathValue("paymentId")
	s.mu.Lock()
	p := s.state.payments[id]
	waiting := p != nil && p.card != nil && p.card.challenge && p.status == StatusProcessing
	if waiting {
		s.challengeLocked(p, r.PostForm.Has("pass"), s.now())
	}
	s.mu.Unlock()
	if !waiting {
		s.renderPage(w, id, http.StatusConflict, "This payment is not waiting for a 3-D Secure challenge.", challengePage)
		return
	}
	s.backToMerchant(w, r, p)
}
