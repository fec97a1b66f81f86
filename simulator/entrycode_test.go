package simulator

import (
	"net/http"
	"net/url"
	"testing"
)

// entryCodePay is the seed's entry-code pay request.
func entryCodePay(reqID, value, notifyURL string) map[string]any {
	return map[string]any{
		"productCode":      "IN_STORE_PAYMENT",
		"paymentRequestId": reqID,
		"paymentNotifyUrl": notifyURL,
		"paymentFactor":    map[string]string{"inStorePaymentScenario": "EntryCode"},
		"paymentAmount":    amount(value),
		"paymentMethod":    map[string]string{"paymentMethodType": "CONNECT_WALLET"},
		"order": map[string]any{
			"orderDescription": "Tea at the counter",
			"orderAmount":      amount(value),
			"merchant": map[string]any{
				"referenceMerchantId": "M0001", "merchantName": "Teahouse", "merchantMCC": "5814",
				"store": map[string]string{"referenceStoreId": "S0001", "storeName": "Harbour Street", "storeMcc": "5814"},
			},
		},
	}
}

func TestEntryCode(t *testing.T) {
	h := newHarness(t, Config{})
	rc := newReceiver(t, h.srv.PublicKey())
	m := h.expect("v1/payments/pay", entryCodePay("EC_1", "1000", rc.url()), "PAYMENT_IN_PROCESS", "U")
	wallet := str(m, "normalUrl")
	if wallet != h.srv.URL+"/cashier/"+str(m, "paymentId") {
		t.Fatalf("entry-code answer %v; want normalUrl to the wallet page", m)
	}
	if status, page := get(t, wallet); status != 200 || !containsAll(page, "Teahouse · Harbour Street", "Confirm payment", `id="pay"`, "10.00 USD") {
		t.Fatalf("wallet page: %d %s", status, page)
	}
	// No paymentRedirectUrl: the wallet shows the outcome.
	if status, loc, _ := form(t, wallet, url.Values{"pay": {"pay"}}); status != http.StatusSeeOther || loc != "/cashier/"+str(m, "paymentId") {
		t.Fatalf("Confirm: %d to %q", status, loc)
	}
	got := rc.notices(t, 1)
	if str(got[0], "notifyType") != "PAYMENT_RESULT" || str(got[0], "result", "resultStatus") != "S" || str(got[0], "paymentRequestId") != "EC_1" {
		t.Fatalf("PAYMENT_RESULT %v", got[0])
	}

	// The seed's failure notification: the buyer's balance is not enough (magic amount 4006).
	h.expect("v1/payments/pay", entryCodePay("EC_2", "4006", rc.url()), "PAYMENT_IN_PROCESS", "U")
	if p, err := h.srv.Act("EC_2", BuyerPay); err != nil || p.Status != StatusFail || p.ResultCode != "USER_BALANCE_NOT_ENOUGH" {
		t.Fatalf("Act: %+v %v", p, err)
	}
	got = rc.notices(t, 2)
	if str(got[1], "result", "resultCode") != "USER_BALANCE_NOT_ENOUGH" || str(got[1], "result", "resultStatus") != "F" {
		t.Fatalf("failure notification %v", got[1])
	}
	q := h.expect("v1/payments/inquiryPayment", map[string]string{"paymentRequestId": "EC_2"}, "SUCCESS", "S")
	if str(q, "paymentStatus") != StatusFail || str(q, "paymentResultCode") != "USER_BALANCE_NOT_ENOUGH" {
		t.Fatalf("inquiry %v", q)
	}

	bad := entryCodePay("EC_3", "1000", "")
	bad["paymentFactor"] = map[string]string{"inStorePaymentScenario": "PaymentCode"}
	h.expect("v1/payments/pay", bad, "PARAM_ILLEGAL", "F")
	bad = entryCodePay("EC_4", "1000", "")
	bad["paymentMethod"] = map[string]string{"paymentMethodType": "ALIPAY_CN"}
	h.expect("v1/payments/pay", bad, "PARAM_ILLEGAL", "F")
	h.expect("v1/payments/createPaymentSession", entryCodePay("EC_5", "1000", ""), "PARAM_ILLEGAL", "F")
}
