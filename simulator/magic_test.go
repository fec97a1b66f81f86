package simulator

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/caddy-antom/caddy-antom/antom"
)

func TestMagicOf(t *testing.T) {
	for v, want := range map[string]magic{
		"4001": magicProcessFail, "14001": magicProcessFail, "99994002": magicUnknown,
		"4003": magicSlow, "104004": magicUnsigned, "4005": magicBadSignature,
		"4006": magicBalance, "4000": magicNone, "4007": magicNone, "400": magicNone, "40010": magicNone, "1000": magicNone,
	} {
		if got := magicOf(v); got != want {
			t.Errorf("magicOf(%q) = %v, want %v", v, got, want)
		}
	}
}

// 4001: a final PROCESS_FAIL, the same on every retry; the payment inquires as FAIL.
func TestMagicProcessFail(t *testing.T) {
	h := newHarness(t, Config{})
	h.expect("v1/payments/pay", cashierPay("M1", "14001", ""), "PROCESS_FAIL", "F")
	h.expect("v1/payments/pay", cashierPay("M1", "14001", ""), "PROCESS_FAIL", "F")
	q := h.expect("v1/payments/inquiryPayment", map[string]string{"paymentRequestId": "M1"}, "SUCCESS", "S")
	if str(q, "paymentStatus") != StatusFail || str(q, "paymentResultCode") != "PROCESS_FAIL" {
		t.Fatalf("inquiry: %v", q)
	}
	h.expect("v1/payments/createPaymentSession", cashierPay("M1S", "4001", ""), "PROCESS_FAIL", "F")

	id := h.paid("M1R", "100000", "")
	h.expect("v1/payments/refund", refundReq("M1RF", id, "4001", ""), "PROCESS_FAIL", "F")
	h.expect("v1/payments/capture", map[string]any{"captureRequestId": "M1C", "paymentId": id, "captureAmount": amount("4001")}, "PROCESS_FAIL", "F")
	if p, _ := h.srv.Payment("M1R"); p.RefundedValue != 0 || p.CapturedValue != 0 {
		t.Fatalf("a refused refund or capture moved money: %+v", p)
	}
}

// 4002: the payment is made, but the first answer is UNKNOWN_EXCEPTION (U, signed); a retry
// with the same request id gets the real answer.
func TestMagicUnknown(t *testing.T) {
	h := newHarness(t, Config{})
	h.expect("v1/payments/pay", cashierPay("M2", "4002", ""), "UNKNOWN_EXCEPTION", "U")
	m := h.expect("v1/payments/pay", cashierPay("M2", "4002", ""), "PAYMENT_IN_PROCESS", "U")
	if str(m, "paymentId") == "" || str(m, "normalUrl") == "" {
		t.Fatalf("retry: %v", m)
	}
	id := h.paid("M2R", "100000", "")
	h.expect("v1/payments/refund", refundReq("M2RF", id, "4002", ""), "UNKNOWN_EXCEPTION", "U")
	q := h.expect("v1/payments/inquiryRefund", map[string]string{"refundRequestId": "M2RF"}, "SUCCESS", "S")
	if str(q, "refundStatus") != StatusSuccess {
		t.Fatalf("the refund behind the U answer: %v", q)
	}
	h.expect("v1/payments/refund", refundReq("M2RF", id, "4002", ""), "SUCCESS", "S")
}

// 4003: the first answer is held back; a client that gives up gets nothing, and the handler
// stops waiting when the client goes away.
func TestMagicSlow(t *testing.T) {
	t.Run("client timeout", func(t *testing.T) {
		h := newHarness(t, Config{}) // default delay: 30 s
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := h.client.Call(ctx, "v1/payments/pay", jsonBytes(t, cashierPay("M3", "4003", "")))
		var ce *antom.CallError
		if !errors.As(err, &ce) || ce.Kind != antom.Unknown {
			t.Fatalf("want an Unknown call error, got %v", err)
		}
		// The listener's Close waits for handlers in flight: it must not wait 30 s.
		start := time.Now()
		h.srv.HTTP.Close()
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("the held-back handler outlived its client by %v", d)
		}
		if p, ok := h.srv.Payment("M3"); !ok || p.Status != StatusProcessing {
			t.Fatalf("the slow request was not processed: %+v", p)
		}
	})
	t.Run("late answer, prompt retry", func(t *testing.T) {
		h := newHarness(t, Config{SlowResponseDelay: 300 * time.Millisecond})
		start := time.Now()
		h.expect("v1/payments/pay", cashierPay("M3B", "4003", ""), "PAYMENT_IN_PROCESS", "U")
		if d := time.Since(start); d < 300*time.Millisecond {
			t.Fatalf("answered after %v, want >= 300ms", d)
		}
		start = time.Now()
		h.expect("v1/payments/pay", cashierPay("M3B", "4003", ""), "PAYMENT_IN_PROCESS", "U")
		if d := time.Since(start); d > 250*time.Millisecond {
			t.Fatalf("the retry was held back too (%v)", d)
		}
	})
}

// 4004: an UNSIGNED UNKNOWN_EXCEPTION, every time; the payment exists.
func TestMagicUnsigned(t *testing.T) {
	h := newHarness(t, Config{})
	for range 2 {
		resp, err := h.client.Call(context.Background(), "v1/payments/pay", jsonBytes(t, cashierPay("M4", "4004", "")))
		if err != nil || resp.Signed || resp.Result.ResultCode != "UNKNOWN_EXCEPTION" || resp.Result.ResultStatus != "U" {
			t.Fatalf("resp %+v err %v", resp, err)
		}
		if resp.Header.Get("signature") != "" || resp.Header.Get("response-time") != "" {
			t.Fatalf("signature headers on the unsigned answer: %v", resp.Header)
		}
	}
	if _, ok := h.srv.Payment("M4"); !ok {
		t.Fatal("the payment behind the unsigned answer does not exist")
	}
}

// 4005: a SUCCESS-looking answer whose signature does not verify.
func TestMagicBadSignature(t *testing.T) {
	h := newHarness(t, Config{})
	id := h.paid("M5", "100000", "")
	body := jsonBytes(t, refundReq("M5RF", id, "4005", ""))
	_, err := h.client.Call(context.Background(), "v1/payments/refund", body)
	var ce *antom.CallError
	if !errors.As(err, &ce) || ce.Kind != antom.BadResponse {
		t.Fatalf("want a BadResponse, got %v", err)
	}
	var ve *antom.VerifyError
	if !errors.As(err, &ve) || ve.Reason != antom.ReasonBadSignature {
		t.Fatalf("want bad_signature, got %v", err)
	}

	// Seen raw, it is well-formed and claims success.
	signer := h.client.Signer
	path := "/ams/api/v1/payments/refund"
	reqTime := antom.RequestTime(time.Now())
	sig, _ := signer.SignRequest(http.MethodPost, path, reqTime, body)
	resp, got := rawPost(t, h.srv.URL, path, map[string]string{"Client-Id": signer.ClientID, "Request-Time": reqTime, "Signature": sig}, body)
	if res, _ := antom.ParseResult(got); res.ResultCode != "SUCCESS" || resp.Header.Get("signature") == "" {
		t.Fatalf("raw answer: %s %v", got, resp.Header)
	}
	if _, err := antom.VerifyResponse(antom.NewKeyring(h.srv.PublicKey()), http.MethodPost, path, signer.ClientID, resp.Header, got); err == nil {
		t.Fatal("the broken signature verifies")
	}
}
