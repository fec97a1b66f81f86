package simulator

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// testCard is the card of a server-to-server payment.
func testCard(number string) map[string]any {
	return map[string]any{
		"cardNo": number, "cvv": "737", "expiryMonth": "07", "expiryYear": "2031",
		"cardholderName": map[string]string{"firstName": "Tom", "lastName": "Jay"},
		"billingAddress": map[string]string{"region": "US", "zipCode": "94107"},
	}
}

// cardPay is a card pay request; meta is paymentMethodMetaData (nil for a hosted payment).
func cardPay(reqID, value, notifyURL string, meta map[string]any, captureMode string) map[string]any {
	pm := map[string]any{"paymentMethodType": "CARD"}
	if meta != nil {
		pm["paymentMethodMetaData"] = meta
	}
	return map[string]any{
		"productCode":        "CASHIER_PAYMENT",
		"paymentRequestId":   reqID,
		"paymentAmount":      amount(value),
		"paymentMethod":      pm,
		"paymentFactor":      map[string]any{"isAuthorization": true, "captureMode": captureMode},
		"paymentRedirectUrl": "https://shop.example/return?o=" + reqID,
		"paymentNotifyUrl":   notifyURL,
		"order":              map[string]any{"referenceOrderId": "ORDER_" + reqID},
		"env":                map[string]any{"terminalType": "WEB"},
	}
}

func with(m map[string]any, k string, v any) map[string]any {
	m[k] = v
	return m
}

// form posts a buyer's form and returns the status, Location and body.
func form(t *testing.T, u string, v url.Values) (int, string, string) {
	t.Helper()
	resp, err := noRedirect.PostForm(u, v)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

// notices returns the decoded bodies the receiver got, in arrival order, after waiting for n.
func (rc *receiver) notices(t *testing.T, n int) []map[string]any {
	t.Helper()
	waitFor(t, 10*time.Second, "notifications", func() bool { return len(rc.requests()) >= n })
	var out []map[string]any
	for _, r := range rc.requests() {
		if r.verified != nil {
			t.Fatalf("notification does not verify: %v", r.verified)
		}
		var m map[string]any
		_ = json.Unmarshal(r.body, &m)
		out = append(out, m)
	}
	return out
}

func TestCardServerToServer(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	h := newHarness(t, Config{Logger: zap.New(core)})
	for _, c := range []struct {
		name, number, code, status, avs, cvv string
	}{
		{"approved", "4111111111111111", "SUCCESS", "S", "Y", "M"},
		{"declined", "4000000000000002", "DO_NOT_HONOR", "F", "Y", "M"},
		{"insufficient funds", "4000000000009995", "USER_BALANCE_NOT_ENOUGH", "F", "Y", "M"},
		{"AVS and CVV mismatch", "4000000000000101", "SUCCESS", "S", "N", "N"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rc := newReceiver(t, h.srv.PublicKey())
			ref := "CARD_" + strings.ReplaceAll(c.name, " ", "_")
			m := h.expect("v1/payments/pay", cardPay(ref, "3000", rc.url(), testCard(c.number), ""), c.code, c.status)
			ri, _ := m["paymentResultInfo"].(map[string]any)
			masked := c.number[:6] + "******" + c.number[12:]
			if str(ri, "cardNo") != masked || str(ri, "avsResultRaw") != c.avs || str(ri, "cvvResultRaw") != c.cvv ||
				str(ri, "cardBrand") != "VISA" || str(ri, "cardToken") == "" || ri["threeDSResult"] != nil {
				t.Fatalf("paymentResultInfo %v; want card %s, AVS %s, CVV %s, a token, no 3DS", ri, masked, c.avs, c.cvv)
			}
			want := 1
			if c.status == "S" {
				want = 2 // automatic capture
			}
			got := rc.notices(t, want)
			if str(got[0], "notifyType") != "PAYMENT_RESULT" || str(got[0], "result", "resultCode") != c.code ||
				str(got[0], "paymentResultInfo", "cardToken") != str(ri, "cardToken") {
				t.Fatalf("first notification %v; want PAYMENT_RESULT %s with the card", got[0], c.code)
			}
			q := h.expect("v1/payments/inquiryPayment", map[string]string{"paymentRequestId": ref}, "SUCCESS", "S")
			ci, _ := q["cardInfo"].(map[string]any)
			if str(ci, "cardToken") != str(ri, "cardToken") || str(got[0], "cardInfo", "cardToken") != str(ri, "cardToken") {
				t.Fatalf("inquiry %v, notification %v; want cardInfo with the token in both", q, got[0])
			}
			if c.status == "S" {
				if str(got[1], "notifyType") != "CAPTURE_RESULT" || str(got[1], "captureAmount", "value") != "3000" {
					t.Fatalf("second notification %v; want the automatic CAPTURE_RESULT", got[1])
				}
				if tx, _ := q["transactions"].([]any); len(tx) != 1 || str(tx[0].(map[string]any), "transactionType") != "CAPTURE" {
					t.Fatalf("inquiry transactions %v; want the automatic capture", q["transactions"])
				}
				h.expect("v1/payments/capture", map[string]any{"captureRequestId": ref + "_C", "paymentId": str(m, "paymentId"), "captureAmount": amount("1")}, "CAPTURE_AMOUNT_EXCEED_AUTH_LIMIT", "F")
			}
		})
	}

	t.Run("refused before the issuer", func(t *testing.T) {
		bad := testCard("4111111111111112")
		h.expect("v1/payments/pay", cardPay("CARD_LUHN", "3000", "", bad, ""), "INVALID_CARD_NUMBER", "F")
		old := testCard("4111111111111111")
		old["expiryYear"] = "20"
		h.expect("v1/payments/pay", cardPay("CARD_OLD", "3000", "", old, ""), "CARD_EXPIRED", "F")
		for name, req := range map[string]map[string]any{
			"no isAuthorization": with(cardPay("CARD_P1", "3000", "", testCard(TestCardNumber), ""), "paymentFactor", map[string]any{}),
			"bad captureMode":    cardPay("CARD_P2", "3000", "", testCard(TestCardNumber), "LATER"),
			"no cvv":             cardPay("CARD_P3", "3000", "", with(testCard(TestCardNumber), "cvv", ""), ""),
			"bad month":          cardPay("CARD_P4", "3000", "", with(testCard(TestCardNumber), "expiryMonth", "13"), ""),
			"card and token":     with(cardPay("CARD_P5", "3000", "", nil, ""), "paymentMethod", map[string]any{"paymentMethodType": "CARD", "paymentMethodId": "x", "paymentMethodMetaData": testCard(TestCardNumber)}),
		} {
			if m := h.expect("v1/payments/pay", req, "PARAM_ILLEGAL", "F"); strings.Contains(str(m, "result", "resultMessage"), TestCardNumber) {
				t.Errorf("%s: the refusal quotes the card number: %v", name, m)
			}
		}
	})

	t.Run("card token", func(t *testing.T) {
		m := h.expect("v1/payments/pay", cardPay("CARD_FIRST", "500", "", testCard(TestCardNumber), ""), "SUCCESS", "S")
		token := str(m["paymentResultInfo"].(map[string]any), "cardToken")
		again := with(cardPay("CARD_AGAIN", "700", "", nil, ""), "paymentMethod", map[string]any{"paymentMethodType": "CARD", "paymentMethodId": token})
		m = h.expect("v1/payments/pay", again, "SUCCESS", "S")
		if ri := m["paymentResultInfo"].(map[string]any); str(ri, "cardToken") != token || str(ri, "cvvResultRaw") != "M" {
			t.Fatalf("token payment paymentResultInfo %v", ri)
		}
		forged := with(cardPay("CARD_FORGED", "700", "", nil, ""), "paymentMethod", map[string]any{"paymentMethodType": "CARD", "paymentMethodId": "SIM_CARD_forged"})
		h.expect("v1/payments/pay", forged, "INVALID_CARD", "F")
	})

	// The simulator keeps and logs no card number, CVV or expiry: not in its logs, its
	// payments, its notifications.
	payments, _ := json.Marshal(h.srv.Payments())
	notes, _ := json.Marshal(h.srv.Notifications())
	var logText bytes.Buffer
	for _, e := range logs.All() {
		logText.WriteString(e.Message)
		for k, v := range e.ContextMap() {
			logText.WriteString(" " + k + "=" + toString(v))
		}
		logText.WriteString("\n")
	}
	// A 3-digit CVV and a year occur by chance in ids and signatures: look for them as values.
	secret := regexp.MustCompile(`4111111111111111|4000000000000002|(?i)cvv\W{0,4}737|expiry(Year|Month)\W{0,4}(2031|07)`)
	for where, text := range map[string]string{"logs": logText.String(), "payments": string(payments), "notifications": string(notes)} {
		if found := secret.FindString(text); found != "" {
			t.Errorf("the simulator's %s contain card data %q", where, found)
		}
	}
	if logs.Len() == 0 {
		t.Fatal("the observer saw no log line: the check above proves nothing")
	}
}

func toString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// 3-D Secure asked for, then authorisation and a manual capture; the failed challenge; the
// issuer's 3DS requirement on a payment that did not ask, upgraded or refused.
func TestCardThreeDS(t *testing.T) {
	h := newHarness(t, Config{})
	rc := newReceiver(t, h.srv.PublicKey())
	meta := with(testCard(TestCardNumber), "is3DSAuthentication", true)
	m := h.expect("v1/payments/pay", cardPay("3DS_1", "3000", rc.url(), meta, "MANUAL"), "PAYMENT_IN_PROCESS", "U")
	id := str(m, "paymentId")
	challenge := str(m, "normalUrl")
	if challenge != h.srv.URL+"/cashier/"+id+"/3ds" || str(m, "redirectActionForm", "redirectUrl") != challenge {
		t.Fatalf("3DS answer %v; want normalUrl and redirectActionForm to the challenge", m)
	}
	if status, page := get(t, challenge); status != 200 || !containsAll(page, `id="pass"`, `id="fail"`, "411111******1111", "30.00 USD") {
		t.Fatalf("challenge page: %d %s", status, page)
	}
	if status, loc, _ := form(t, challenge, url.Values{"pass": {"pass"}}); status != http.StatusSeeOther || loc != "https://shop.example/return?o=3DS_1" {
		t.Fatalf("Pass: %d to %q; want 303 to paymentRedirectUrl", status, loc)
	}
	got := rc.notices(t, 1)
	ri, _ := got[0]["paymentResultInfo"].(map[string]any)
	tds, _ := ri["threeDSResult"].(map[string]any)
	if str(got[0], "result", "resultStatus") != "S" || str(tds, "eci") != "05" || str(tds, "cavv") == "" || str(tds, "threeDSVersion") == "" {
		t.Fatalf("PAYMENT_RESULT %v; want S with a threeDSResult", got[0])
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(rc.requests()); n != 1 {
		t.Fatalf("%d notifications after a MANUAL authorisation; want only PAYMENT_RESULT", n)
	}
	h.expect("v1/payments/capture", map[string]any{"captureRequestId": "3DS_1_C", "paymentId": id, "captureAmount": amount("3000")}, "SUCCESS", "S")
	if got = rc.notices(t, 2); str(got[1], "notifyType") != "CAPTURE_RESULT" {
		t.Fatalf("after capture: %v", got[1])
	}
	q := h.expect("v1/payments/inquiryPayment", map[string]string{"paymentId": id}, "SUCCESS", "S")
	if str(q, "paymentResultInfo", "threeDSResult", "eci") != "05" || str(q, "cardInfo", "threeDSResult", "eci") != "05" {
		t.Fatalf("inquiry %v; want threeDSResult", q)
	}

	// A failed challenge.
	m = h.expect("v1/payments/pay", cardPay("3DS_2", "3000", "", meta, ""), "PAYMENT_IN_PROCESS", "U")
	form(t, str(m, "normalUrl"), url.Values{"fail": {"fail"}})
	h.expect("v1/payments/pay", cardPay("3DS_2", "3000", "", meta, ""), "USER_PAYMENT_VERIFICATION_FAILED", "F")

	// The issuer requires 3DS though the payment did not ask: Antom upgrades it...
	needs := testCard("4000000000003220")
	h.expect("v1/payments/pay", cardPay("3DS_3", "3000", "", needs, ""), "PAYMENT_IN_PROCESS", "U")
	if _, err := h.srv.Act("3DS_3", BuyerPay); err != nil {
		t.Fatal(err)
	}
	if p, _ := h.srv.Payment("3DS_3"); p.Status != StatusSuccess || p.ThreeDS != "passed" || p.CapturedValue != 3000 {
		t.Fatalf("upgraded payment %+v; want SUCCESS after 3DS, captured", p)
	}
	// ...unless the merchant forbade it.
	h.expect("v1/payments/pay", cardPay("3DS_4", "3000", "", with(needs, "enableAuthenticationUpgrade", "false"), ""), "ISSUER_REJECTS_TRANSACTION", "F")
}

// Hosted: the card form is the simulator's; the shop never sees the card.
func TestCardHosted(t *testing.T) {
	h := newHarness(t, Config{})
	rc := newReceiver(t, h.srv.PublicKey())
	m := h.expect("v1/payments/pay", cardPay("HOSTED_1", "1800", rc.url(), nil, ""), "PAYMENT_IN_PROCESS", "U")
	page := str(m, "normalUrl")
	if status, body := get(t, page); status != 200 || !containsAll(body, `id="card-number"`, `id="expiry"`, `id="cvv"`, `id="pay"`) {
		t.Fatalf("card form: %d %s", status, body)
	}
	status, _, body := form(t, page, url.Values{"pay": {"pay"}, "cardNo": {"4111111111111112"}, "expiry": {"12/29"}, "cvv": {"123"}})
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, "The card number is not valid.") || strings.Contains(body, "4111111111111112") {
		t.Fatalf("a bad card: %d %s", status, body)
	}
	status, loc, _ := form(t, page, url.Values{"pay": {"pay"}, "cardNo": {"4000 0000 0000 3220"}, "expiry": {"12/29"}, "cvv": {"123"}})
	if status != http.StatusSeeOther || loc != "/cashier/"+str(m, "paymentId")+"/3ds" {
		t.Fatalf("a 3DS card: %d to %q; want the challenge", status, loc)
	}
	if status, loc, _ = form(t, h.srv.URL+loc, url.Values{"pass": {"pass"}}); status != http.StatusSeeOther || !strings.HasPrefix(loc, "https://shop.example/return") {
		t.Fatalf("Pass: %d to %q", status, loc)
	}
	got := rc.notices(t, 2)
	if str(got[0], "result", "resultStatus") != "S" || str(got[0], "paymentResultInfo", "cardNo") != "400000******3220" || str(got[1], "notifyType") != "CAPTURE_RESULT" {
		t.Fatalf("notifications %v", got)
	}

	// The control endpoint pays a hosted card payment with the test card.
	h.expect("v1/payments/pay", cardPay("HOSTED_2", "1800", "", nil, "MANUAL"), "PAYMENT_IN_PROCESS", "U")
	if p, err := h.srv.Act("HOSTED_2", BuyerPay); err != nil || p.Status != StatusSuccess || p.CardNo != "411111******1111" || p.CapturedValue != 0 {
		t.Fatalf("Act: %+v %v", p, err)
	}
	// Cancelling an authorisation that was not captured voids it.
	c := h.expect("v1/payments/cancel", map[string]string{"paymentRequestId": "HOSTED_2"}, "SUCCESS", "S")
	if p, _ := h.srv.Payment("HOSTED_2"); p.Status != StatusCancelled || str(c, "cancelTime") == "" {
		t.Fatalf("cancelled authorisation: %+v", p)
	}
}
