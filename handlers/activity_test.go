package handlers

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddy-antom/caddy-antom/outbox"
)

// Every call through antom_api goes into the timeline of what it names: the ids of the
// request and the answer, the amount, status, result and latency, never a body or card data.
func TestAPICallsAreRecordedAsActivity(t *testing.T) {
	h, app := apiWithSimulator(t, nil)
	postAPI(t, h, "pay", `{"productCode":"CASHIER_PAYMENT","paymentRequestId":"req-act","paymentAmount":{"currency":"USD","value":"1000"},`+
		`"paymentMethod":{"paymentMethodType":"CARD","paymentMethodMetaData":{"cardNo":"4111111111111111","cvv":"123","expiryYear":"30","expiryMonth":"12"}},`+
		`"paymentFactor":{"isAuthorization":true},"paymentRedirectUrl":"https://shop.example/return","order":{"orderDescription":"socks"}}`)
	if len(app.activities) != 1 {
		t.Fatalf("recorded %d activities, want 1", len(app.activities))
	}
	act := app.activities[0]
	if act.What != outbox.ActivityAPICall || act.API != "v1/payments/pay" || act.Profile != "default" || act.Status != 200 ||
		act.IDs["paymentRequestId"] != "req-act" || act.IDs["paymentId"] == "" || act.Result == "" || act.Latency <= 0 ||
		act.Detail != "amount 1000 USD" {
		t.Fatalf("activity %+v", act)
	}
	b, _ := json.Marshal(act)
	for _, secret := range []string{"4111111111111111", "123\"", "socks", "CARD"} {
		if strings.Contains(string(b), secret) {
			t.Fatalf("the activity holds %q from the body: %s", secret, b)
		}
	}
}
