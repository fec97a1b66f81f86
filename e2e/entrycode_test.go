package e2e

import (
	"reflect"
	"testing"
)

// rcEntryCode is the seed's in-store entry-code pay request, without paymentNotifyUrl.
func rcEntryCode(ref, value string) map[string]any {
	return map[string]any{
		"productCode":      "IN_STORE_PAYMENT",
		"paymentRequestId": ref,
		"paymentFactor":    map[string]string{"inStorePaymentScenario": "EntryCode"},
		"paymentAmount":    map[string]string{"currency": "USD", "value": value},
		"paymentMethod":    map[string]string{"paymentMethodType": "CONNECT_WALLET"},
		"order": map[string]any{
			"orderDescription": "e2e entry code",
			"orderAmount":      map[string]string{"currency": "USD", "value": value},
			"merchant": map[string]any{
				"referenceMerchantId": "M0001", "merchantName": "Teahouse",
				"store": map[string]string{"referenceStoreId": "S0001", "storeName": "Harbour Street"},
			},
		},
	}
}

// The seed's anomaly for entry-code payments: the buyer confirmed in the wallet (paid, or
// refused for an empty balance), Antom's notification never came. Reconciliation finds the
// outcome by inquiry and the app gets the notification Antom would have sent.
func TestEntryCodeReconciled(t *testing.T) {
	t.Parallel()
	s := rcStart(t, rcOpts{Reconcile: "after 1s\ngive_up 2m"})
	for i, c := range []struct {
		value, status, resultStatus, code string
	}{
		{"1000", "SUCCESS", "S", "SUCCESS"},
		{"4006", "FAIL", "F", "USER_BALANCE_NOT_ENOUGH"}, // magic amount: the wallet's balance is not enough
	} {
		ref := apiUnique("ec")
		s.start(t, "pay", rcEntryCode(ref, c.value))
		if _, ok := s.payment(t, "pending", ref); !ok {
			t.Fatalf("the entry-code payment was not recorded for reconciliation: %+v", s.payments(t, "pending"))
		}
		paymentID := rcBuyer(t, s.sim, ref, "pay", c.status)
		r := s.app.WaitRequests(i+1, rcWait)[i]
		body := rcCheckInquiryDelivery(t, r, ref, paymentID, c.resultStatus)
		if res := body["result"].(map[string]any); res["resultCode"] != c.code {
			t.Errorf("delivered result %v, want %s", res, c.code)
		}
		n := rcDropped(t, s.sim, paymentID)
		if want := rcJSON(t, "the notification", n.Body); !reflect.DeepEqual(body, want) {
			t.Errorf("the body found by inquiry differs from Antom's notification\n got: %s\nwant: %s", r.Body, n.Body)
		}
		if p := s.waitDone(t, ref); p.FinalStatus != c.status {
			t.Errorf("caddy's record %+v; want finalStatus %s", p, c.status)
		}
	}
}
