package simulator

import (
	"encoding/json"
	"testing"
	"time"
)

func refundReq(reqID, paymentID, value, notifyURL string) map[string]any {
	return map[string]any{"refundRequestId": reqID, "paymentId": paymentID, "refundAmount": amount(value), "refundNotifyUrl": notifyURL}
}

func TestRefunds(t *testing.T) {
	h := newHarness(t, Config{})
	rc := newReceiver(t, h.srv.PublicKey())

	// An unpaid payment cannot be refunded, and the refusal is final for that refundRequestId.
	h.expect("v1/payments/pay", cashierPay("R_UNPAID", "1000", ""), "PAYMENT_IN_PROCESS", "U")
	unpaid, _ := h.srv.Payment("R_UNPAID")
	h.expect("v1/payments/refund", refundReq("RF_0", unpaid.PaymentID, "100", ""), "ORDER_STATUS_INVALID", "F")
	if _, err := h.srv.Act("R_UNPAID", BuyerPay); err != nil {
		t.Fatal(err)
	}
	h.expect("v1/payments/refund", refundReq("RF_0", unpaid.PaymentID, "100", ""), "ORDER_STATUS_INVALID", "F")
	st := h.expect("v1/payments/inquiryRefund", map[string]string{"refundRequestId": "RF_0"}, "SUCCESS", "S")
	if str(st, "refundStatus") != StatusFail {
		t.Fatalf("refused refund inquires as %v", st)
	}

	id := h.paid("R_PAID", "1000", "")
	m := h.expect("v1/payments/refund", refundReq("RF_1", id, "600", rc.url()), "SUCCESS", "S")
	refundID := str(m, "refundId")
	if refundID == "" || str(m, "refundTime") == "" || str(m, "paymentId") != id || str(m, "refundAmount", "value") != "600" {
		t.Fatalf("refund answer: %v", m)
	}
	again := h.expect("v1/payments/refund", refundReq("RF_1", id, "600", rc.url()), "SUCCESS", "S")
	if str(again, "refundId") != refundID {
		t.Fatal("a replayed refund refunded twice")
	}
	h.expect("v1/payments/refund", refundReq("RF_1", id, "599", ""), "REPEAT_REQ_INCONSISTENT", "F")
	h.expect("v1/payments/refund", refundReq("RF_2", id, "401", ""), "REFUND_AMOUNT_EXCEED", "F")
	h.expect("v1/payments/refund", refundReq("RF_3", id, "400", ""), "SUCCESS", "S")
	h.expect("v1/payments/refund", refundReq("RF_4", id, "1", ""), "REFUND_AMOUNT_EXCEED", "F")
	if p, _ := h.srv.Payment("R_PAID"); p.RefundedValue != 1000 {
		t.Fatalf("refunded %d, want 1000", p.RefundedValue)
	}

	h.expect("v1/payments/refund", refundReq("RF_5", "202401011940108000000000000000000", "1", ""), "ORDER_NOT_EXIST", "F")
	h.expect("v1/payments/refund", map[string]any{"refundRequestId": "RF_6", "paymentId": id, "refundAmount": map[string]string{"currency": "EUR", "value": "1"}}, "PARAM_ILLEGAL", "F")
	h.expect("v1/payments/refund", refundReq("", id, "1", ""), "PARAM_ILLEGAL", "F")

	for _, by := range []map[string]string{{"refundId": refundID}, {"refundRequestId": "RF_1"}} {
		q := h.expect("v1/payments/inquiryRefund", by, "SUCCESS", "S")
		if str(q, "refundStatus") != StatusSuccess || str(q, "refundId") != refundID || str(q, "refundAmount", "value") != "600" {
			t.Fatalf("inquiryRefund %v: %v", by, q)
		}
	}
	h.expect("v1/payments/inquiryRefund", map[string]string{"refundRequestId": "RF_NONE"}, "ORDER_NOT_EXIST", "F")

	q := h.expect("v1/payments/inquiryPayment", map[string]string{"paymentId": id}, "SUCCESS", "S")
	if txs, _ := q["transactions"].([]any); len(txs) != 2 {
		t.Fatalf("inquiryPayment transactions: %v", q["transactions"])
	}

	waitFor(t, 5*time.Second, "REFUND_RESULT", func() bool { return len(rc.requests()) == 1 })
	n := rc.requests()[0]
	var body map[string]any
	_ = json.Unmarshal(n.body, &body)
	if n.verified != nil || str(body, "notifyType") != "REFUND_RESULT" || str(body, "refundStatus") != StatusSuccess || str(body, "refundId") != refundID {
		t.Fatalf("REFUND_RESULT %s (verify: %v)", n.body, n.verified)
	}
}

// inquiryRefund answers with the fields Antom documents for it: refundTime only on SUCCESS,
// and never refundCreateTime, which only the REFUND_RESULT notification carries (a refund's
// result found by inquiry lacks it, as with the real Antom).
func TestInquiryRefundFields(t *testing.T) {
	h := newHarness(t, Config{})
	documented := map[string]bool{"result": true, "refundId": true, "refundRequestId": true, "refundAmount": true,
		"refundStatus": true, "refundTime": true, "grossSettlementAmount": true, "settlementQuote": true, "acquirerInfo": true}
	id := h.paid("R_FIELDS", "1000", "")
	h.expect("v1/payments/refund", refundReq("RF_OK", id, "100", ""), "SUCCESS", "S")
	h.expect("v1/payments/refund", refundReq("RF_TOO_MUCH", id, "5000", ""), "REFUND_AMOUNT_EXCEED", "F")
	for ref, status := range map[string]string{"RF_OK": StatusSuccess, "RF_TOO_MUCH": StatusFail} {
		q := h.expect("v1/payments/inquiryRefund", map[string]string{"refundRequestId": ref}, "SUCCESS", "S")
		for k := range q {
			if !documented[k] {
				t.Errorf("inquiryRefund of %s answers %s, which Antom's inquiryRefund does not have", ref, k)
			}
		}
		if str(q, "refundStatus") != status || str(q, "refundRequestId") != ref || str(q, "refundAmount", "currency") != "USD" ||
			(str(q, "refundTime") != "") != (status == StatusSuccess) {
			t.Errorf("inquiryRefund of %s: %v; want refundStatus %s, refundTime only on SUCCESS", ref, q, status)
		}
	}
}
