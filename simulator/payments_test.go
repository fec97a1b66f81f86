package simulator

import (
	"encoding/json"
	"testing"
	"time"
)

func TestCashierPaymentLifecycle(t *testing.T) {
	h := newHarness(t, Config{})
	rc := newReceiver(t, h.srv.PublicKey())

	m := h.expect("v1/payments/pay", cashierPay("PAY_1", "1000", rc.url()), "PAYMENT_IN_PROCESS", "U")
	id := str(m, "paymentId")
	if len(id) != 33 || str(m, "paymentRequestId") != "PAY_1" || str(m, "paymentCreateTime") == "" {
		t.Fatalf("pay answer: %v", m)
	}
	if want := h.srv.URL + "/cashier/" + id; str(m, "normalUrl") != want || str(m, "redirectActionForm", "redirectUrl") != want {
		t.Fatalf("normalUrl %q, want %q", str(m, "normalUrl"), want)
	}

	// Until the buyer acts: PROCESSING, and no notification.
	q := h.expect("v1/payments/inquiryPayment", map[string]string{"paymentRequestId": "PAY_1"}, "SUCCESS", "S")
	if str(q, "paymentStatus") != StatusProcessing || str(q, "paymentId") != id {
		t.Fatalf("inquiry before the buyer: %v", q)
	}

	if _, err := h.srv.Act("PAY_1", BuyerPay); err != nil {
		t.Fatal(err)
	}
	q = h.expect("v1/payments/inquiryPayment", map[string]string{"paymentId": id}, "SUCCESS", "S")
	if str(q, "paymentStatus") != StatusSuccess || str(q, "paymentTime") == "" || str(q, "paymentAmount", "value") != "1000" {
		t.Fatalf("inquiry after Pay: %v", q)
	}
	// A retry of pay now learns the outcome.
	m = h.expect("v1/payments/pay", cashierPay("PAY_1", "1000", rc.url()), "SUCCESS", "S")
	if str(m, "paymentId") != id || str(m, "paymentTime") == "" {
		t.Fatalf("pay replay after success: %v", m)
	}

	waitFor(t, 5*time.Second, "PAYMENT_RESULT", func() bool { return len(rc.requests()) == 1 })
	n := rc.requests()[0]
	if n.verified != nil {
		t.Fatalf("notification does not verify with the simulator's public key: %v", n.verified)
	}
	var body map[string]any
	_ = json.Unmarshal(n.body, &body)
	if str(body, "notifyType") != "PAYMENT_RESULT" || str(body, "result", "resultStatus") != "S" ||
		str(body, "paymentId") != id || str(body, "paymentRequestId") != "PAY_1" || str(body, "paymentTime") == "" {
		t.Fatalf("notification body: %s", n.body)
	}
	if n.path != "/antom/notify?shop=main" || n.header.Get("client-id") != testClientID {
		t.Fatalf("notification path %q, client-id %q", n.path, n.header.Get("client-id"))
	}
}

func TestIdempotency(t *testing.T) {
	// ClientID "" accepts any client id signed with the merchant key.
	h := newHarness(t, Config{Merchants: []Merchant{{PublicKey: &merchantKey(t).PublicKey}}})
	first := h.expect("v1/payments/pay", cashierPay("IDEM_1", "1000", ""), "PAYMENT_IN_PROCESS", "U")
	again := h.expect("v1/payments/pay", cashierPay("IDEM_1", "1000", ""), "PAYMENT_IN_PROCESS", "U")
	if str(first, "paymentId") != str(again, "paymentId") || str(first, "normalUrl") != str(again, "normalUrl") {
		t.Fatalf("same id, same amount, different answers:\n%v\n%v", first, again)
	}
	h.expect("v1/payments/pay", cashierPay("IDEM_1", "1001", ""), "REPEAT_REQ_INCONSISTENT", "F")
	// The same id on the other API is inconsistent too.
	h.expect("v1/payments/createPaymentSession", cashierPay("IDEM_1", "1000", ""), "REPEAT_REQ_INCONSISTENT", "F")
	if got := len(h.srv.Payments()); got != 1 {
		t.Fatalf("%d payments, want 1", got)
	}

	s1 := h.expect("v1/payments/createPaymentSession", cashierPay("IDEM_2", "500", ""), "SUCCESS", "S")
	s2 := h.expect("v1/payments/createPaymentSession", cashierPay("IDEM_2", "500", ""), "SUCCESS", "S")
	if str(s1, "paymentSessionId") != str(s2, "paymentSessionId") || str(s1, "paymentSessionData") == "" {
		t.Fatalf("session replay differs:\n%v\n%v", s1, s2)
	}

	// Idempotency keys belong to a merchant: another client id may use the same one.
	other := *h.client
	other.Signer.ClientID = "TEST_OTHER"
	resp, err := other.Call(t.Context(), "v1/payments/pay", jsonBytes(t, cashierPay("IDEM_1", "7", "")))
	if err != nil || resp.Result.ResultCode != "PAYMENT_IN_PROCESS" {
		t.Fatalf("other merchant, same id: %+v %v", resp, err)
	}
	if _, err := h.srv.Act("IDEM_1", BuyerPay); err == nil {
		t.Fatal("Act with an ambiguous paymentRequestId must fail")
	}
}

func TestCreatePaymentSessionCashier(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, Config{Now: clock.Now, BaseURL: "https://sim.example:8443/"})
	m := h.expect("v1/payments/createPaymentSession", cashierPay("SESS_1", "1999", ""), "SUCCESS", "S")
	p, _ := h.srv.Payment("SESS_1")
	if str(m, "normalUrl") != "https://sim.example:8443/cashier/"+p.PaymentID {
		t.Fatalf("normalUrl %q ignores BaseURL", str(m, "normalUrl"))
	}
	if want := iso(clock.Now().Add(14 * time.Minute)); str(m, "paymentSessionExpiryTime") != want {
		t.Fatalf("default expiry %q, want %q", str(m, "paymentSessionExpiryTime"), want)
	}
	req := cashierPay("SESS_2", "1999", "")
	req["paymentSessionExpiryTime"] = iso(clock.Now().Add(3 * time.Minute))
	m = h.expect("v1/payments/createPaymentSession", req, "SUCCESS", "S")
	if str(m, "paymentSessionExpiryTime") != req["paymentSessionExpiryTime"] {
		t.Fatalf("paymentSessionExpiryTime not honoured: %v", m)
	}
	req["paymentRequestId"], req["paymentSessionExpiryTime"] = "SESS_3", iso(clock.Now().Add(-time.Minute))
	h.expect("v1/payments/createPaymentSession", req, "PARAM_ILLEGAL", "F")
}

func TestExpiry(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, Config{Now: clock.Now})
	rc := newReceiver(t, h.srv.PublicKey())
	h.expect("v1/payments/pay", cashierPay("EXP_DEFAULT", "1000", rc.url()), "PAYMENT_IN_PROCESS", "U")
	short := cashierPay("EXP_SHORT", "1000", "")
	short["paymentExpiryTime"] = iso(clock.Now().Add(2 * time.Minute))
	h.expect("v1/payments/pay", short, "PAYMENT_IN_PROCESS", "U")

	clock.Advance(3 * time.Minute)
	q := h.expect("v1/payments/inquiryPayment", map[string]string{"paymentRequestId": "EXP_SHORT"}, "SUCCESS", "S")
	if str(q, "paymentStatus") != StatusFail || str(q, "paymentResultCode") != "ORDER_IS_CLOSED" {
		t.Fatalf("expired payment inquires as %v", q)
	}
	q = h.expect("v1/payments/inquiryPayment", map[string]string{"paymentRequestId": "EXP_DEFAULT"}, "SUCCESS", "S")
	if str(q, "paymentStatus") != StatusProcessing {
		t.Fatalf("payment expired before its 14 minutes: %v", q)
	}
	if _, err := h.srv.Act("EXP_SHORT", BuyerPay); err == nil {
		t.Fatal("an expired payment was paid")
	}

	// The sweeper closes and notifies without anybody asking.
	clock.Advance(12 * time.Minute)
	waitFor(t, 5*time.Second, "PAYMENT_RESULT F of the expired payment", func() bool { return len(rc.requests()) == 1 })
	var body map[string]any
	_ = json.Unmarshal(rc.requests()[0].body, &body)
	if str(body, "result", "resultStatus") != "F" || str(body, "result", "resultCode") != "ORDER_IS_CLOSED" {
		t.Fatalf("expiry notification: %s", rc.requests()[0].body)
	}
	h.expect("v1/payments/pay", cashierPay("EXP_DEFAULT", "1000", rc.url()), "ORDER_IS_CLOSED", "F")
}

func TestCancel(t *testing.T) {
	h := newHarness(t, Config{})
	rc := newReceiver(t, h.srv.PublicKey())
	h.expect("v1/payments/pay", cashierPay("CXL_1", "1000", rc.url()), "PAYMENT_IN_PROCESS", "U")
	c1 := h.expect("v1/payments/cancel", map[string]string{"paymentRequestId": "CXL_1"}, "SUCCESS", "S")
	c2 := h.expect("v1/payments/cancel", map[string]string{"paymentRequestId": "CXL_1"}, "SUCCESS", "S")
	if str(c1, "cancelTime") == "" || str(c1, "cancelTime") != str(c2, "cancelTime") {
		t.Fatalf("cancel answers: %v / %v", c1, c2)
	}
	q := h.expect("v1/payments/inquiryPayment", map[string]string{"paymentRequestId": "CXL_1"}, "SUCCESS", "S")
	if str(q, "paymentStatus") != StatusCancelled {
		t.Fatalf("after cancel: %v", q)
	}
	if _, err := h.srv.Act("CXL_1", BuyerPay); err == nil {
		t.Fatal("a cancelled payment was paid")
	}

	h.paid("CXL_2", "1000", "")
	h.expect("v1/payments/cancel", map[string]string{"paymentRequestId": "CXL_2"}, "ORDER_STATUS_INVALID", "F")
	h.expect("v1/payments/cancel", map[string]string{"paymentRequestId": "NOPE"}, "ORDER_NOT_EXIST", "F")
	h.expect("v1/payments/cancel", map[string]string{}, "PARAM_ILLEGAL", "F")
	h.expect("v1/payments/inquiryPayment", map[string]string{"paymentId": "202401011940108000000000000000000"}, "ORDER_NOT_EXIST", "F")

	// The merchant asked for the cancel: no notification for it.
	time.Sleep(50 * time.Millisecond)
	if n := len(rc.requests()); n != 0 {
		t.Fatalf("%d notifications for a merchant cancel", n)
	}
}

func TestCapture(t *testing.T) {
	h := newHarness(t, Config{})
	rc := newReceiver(t, h.srv.PublicKey())
	id := h.paid("CAP_1", "1000", rc.url())
	capture := func(reqID, value string) map[string]any {
		return map[string]any{"captureRequestId": reqID, "paymentId": id, "captureAmount": amount(value)}
	}
	m := h.expect("v1/payments/capture", capture("CAPREQ_1", "600"), "SUCCESS", "S")
	if str(m, "captureId") == "" || str(m, "captureTime") == "" || str(m, "captureAmount", "value") != "600" {
		t.Fatalf("capture answer: %v", m)
	}
	again := h.expect("v1/payments/capture", capture("CAPREQ_1", "600"), "SUCCESS", "S")
	if str(again, "captureId") != str(m, "captureId") {
		t.Fatal("capture replay made a second capture")
	}
	h.expect("v1/payments/capture", capture("CAPREQ_1", "601"), "REPEAT_REQ_INCONSISTENT", "F")
	h.expect("v1/payments/capture", capture("CAPREQ_2", "401"), "CAPTURE_AMOUNT_EXCEED_AUTH_LIMIT", "F")
	h.expect("v1/payments/capture", capture("CAPREQ_3", "400"), "SUCCESS", "S")

	h.expect("v1/payments/pay", cashierPay("CAP_2", "1000", ""), "PAYMENT_IN_PROCESS", "U")
	p, _ := h.srv.Payment("CAP_2")
	h.expect("v1/payments/capture", map[string]any{"captureRequestId": "CAPREQ_4", "paymentId": p.PaymentID, "captureAmount": amount("1")}, "ORDER_STATUS_INVALID", "F")

	// CAPTURE_RESULT goes to the payment's notify URL, after the PAYMENT_RESULT.
	waitFor(t, 5*time.Second, "two CAPTURE_RESULTs", func() bool { return len(rc.ofType("CAPTURE_RESULT")) == 2 })
	for _, n := range rc.ofType("CAPTURE_RESULT") {
		var body map[string]any
		_ = json.Unmarshal(n.body, &body)
		if n.verified != nil || str(body, "captureId") == "" || str(body, "paymentId") != id || str(body, "result", "resultStatus") != "S" {
			t.Fatalf("CAPTURE_RESULT %s (verify: %v)", n.body, n.verified)
		}
	}
}

func TestEasySafePay(t *testing.T) {
	h := newHarness(t, Config{})
	rc := newReceiver(t, h.srv.PublicKey())
	first := map[string]any{
		"productCode":        "AGREEMENT_PAYMENT",
		"productScene":       "EASY_PAY",
		"paymentRequestId":   "ESP_1",
		"paymentAmount":      amount("1000"),
		"paymentMethod":      map[string]string{"paymentMethodType": "ALIPAY_CN"},
		"paymentRedirectUrl": "https://shop.example/return",
		"paymentNotifyUrl":   rc.url(),
		"agreementInfo":      map[string]string{"authState": "STATE_42", "userLoginId": "buyer@example.com"},
	}
	m := h.expect("v1/payments/createPaymentSession", first, "SUCCESS", "S")
	if str(m, "normalUrl") == "" {
		t.Fatalf("EasySafePay session without cashier link: %v", m)
	}
	if _, err := h.srv.Act("ESP_1", BuyerPay); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "AUTHCODE_CREATED and PAYMENT_RESULT", func() bool { return len(rc.requests()) == 2 })
	auths := rc.ofType("AUTHCODE_CREATED")
	if len(auths) != 1 || auths[0].verified != nil {
		t.Fatalf("AUTHCODE_CREATED: %+v", auths)
	}
	var auth map[string]any
	_ = json.Unmarshal(auths[0].body, &auth)
	code := str(auth, "authCode")
	if code == "" || str(auth, "authState") != "STATE_42" || str(auth, "authorizationNotifyType") != "AUTHCODE_CREATED" {
		t.Fatalf("AUTHCODE_CREATED body: %s", auths[0].body)
	}

	tok := h.expect("v1/authorizations/applyToken", map[string]string{"grantType": "AUTHORIZATION_CODE", "customerBelongsTo": "ALIPAY_CN", "authCode": code}, "SUCCESS", "S")
	token := str(tok, "accessToken")
	if token == "" || str(tok, "refreshToken") == "" || str(tok, "accessTokenExpiryTime") == "" || str(tok, "userLoginId") != "buyer@example.com" {
		t.Fatalf("applyToken: %v", tok)
	}
	again := h.expect("v1/authorizations/applyToken", map[string]string{"grantType": "AUTHORIZATION_CODE", "authCode": code}, "SUCCESS", "S")
	if str(again, "accessToken") != token {
		t.Fatal("a retried applyToken issued another token")
	}
	h.expect("v1/authorizations/applyToken", map[string]string{"grantType": "AUTHORIZATION_CODE", "authCode": "bogus"}, "INVALID_CODE", "F")

	// Follow-up payment: no buyer, SUCCESS at once, notified.
	follow := map[string]any{
		"productCode":      "AGREEMENT_PAYMENT",
		"paymentRequestId": "ESP_2",
		"paymentAmount":    amount("250"),
		"paymentMethod":    map[string]string{"paymentMethodType": "ALIPAY_CN", "paymentMethodId": token},
		"paymentNotifyUrl": rc.url(),
	}
	p := h.expect("v1/payments/pay", follow, "SUCCESS", "S")
	if str(p, "paymentTime") == "" {
		t.Fatalf("token payment: %v", p)
	}
	waitFor(t, 5*time.Second, "PAYMENT_RESULT of the token payment", func() bool { return len(rc.ofType("PAYMENT_RESULT")) == 2 })

	follow["paymentRequestId"] = "ESP_3"
	follow["paymentMethod"] = map[string]string{"paymentMethodId": "SIM_TOKEN_forged"}
	h.expect("v1/payments/pay", follow, "INVALID_ACCESS_TOKEN", "F")
	h.expect("v1/payments/pay", follow, "INVALID_ACCESS_TOKEN", "F") // final: same answer again

	// Refresh: a new access token replaces the old one.
	ref := h.expect("v1/authorizations/applyToken", map[string]string{"grantType": "REFRESH_TOKEN", "refreshToken": str(tok, "refreshToken")}, "SUCCESS", "S")
	if str(ref, "accessToken") == token {
		t.Fatal("refresh returned the old token")
	}
	follow["paymentRequestId"] = "ESP_4"
	follow["paymentMethod"] = map[string]string{"paymentMethodId": token}
	h.expect("v1/payments/pay", follow, "INVALID_ACCESS_TOKEN", "F")
	h.expect("v1/authorizations/applyToken", map[string]string{"grantType": "PASSWORD"}, "PARAM_ILLEGAL", "F")
}
