package simulator

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/caddy-antom/caddy-antom/antom"
)

// espFirstPayment is an EasySafePay first payment session.
func espFirstPayment(reqID, notifyURL string) map[string]any {
	return map[string]any{
		"productCode":        "AGREEMENT_PAYMENT",
		"productScene":       "EASY_PAY",
		"paymentRequestId":   reqID,
		"paymentAmount":      amount("1000"),
		"paymentMethod":      map[string]string{"paymentMethodType": "ALIPAY_CN"},
		"paymentRedirectUrl": "https://shop.example/return",
		"paymentNotifyUrl":   notifyURL,
		"agreementInfo":      map[string]string{"authState": "STATE_7", "userLoginId": "buyer@example.com"},
	}
}

// The authorisation notification is acknowledged before the PAYMENT_RESULT is sent, however
// slowly the merchant acknowledges it, in both notification variants.
func TestEasySafePayAuthorizationBeforePaymentResult(t *testing.T) {
	for _, variant := range []string{AuthCodeCreated, TokenCreated} {
		t.Run(variant, func(t *testing.T) {
			h := newHarness(t, Config{EasySafePayNotification: variant})
			type arrival struct {
				typ        string
				start, end time.Time
			}
			var mu sync.Mutex
			var got []arrival
			var authBody []byte
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				var m map[string]any
				_ = json.Unmarshal(body, &m)
				a := arrival{typ: str(m, "notifyType") + str(m, "authorizationNotifyType"), start: time.Now()}
				if str(m, "authorizationNotifyType") != "" {
					time.Sleep(300 * time.Millisecond) // a slow merchant: the payment result must wait
					mu.Lock()
					authBody = body
					mu.Unlock()
				}
				a.end = time.Now()
				mu.Lock()
				got = append(got, a)
				mu.Unlock()
				_, _ = w.Write(antom.AckBody)
			}))
			t.Cleanup(srv.Close)

			h.expect("v1/payments/createPaymentSession", espFirstPayment("ESP_ORDER", srv.URL+"/notify"), "SUCCESS", "S")
			if _, err := h.srv.Act("ESP_ORDER", BuyerPay); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 10*time.Second, "two notifications", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(got) == 2
			})
			mu.Lock()
			defer mu.Unlock()
			if got[0].typ != variant || got[1].typ != "PAYMENT_RESULT" || got[1].start.Before(got[0].end) {
				t.Fatalf("arrivals %+v; want %s acknowledged before PAYMENT_RESULT was sent", got, variant)
			}
			var auth map[string]any
			_ = json.Unmarshal(authBody, &auth)
			switch variant {
			case AuthCodeCreated:
				code := str(auth, "authCode")
				if code == "" || str(auth, "accessToken") != "" {
					t.Fatalf("AUTHCODE_CREATED body %s; want an authCode and no accessToken", authBody)
				}
				tok := h.expect("v1/authorizations/applyToken", map[string]string{"grantType": "AUTHORIZATION_CODE", "authCode": code}, "SUCCESS", "S")
				auth["accessToken"] = tok["accessToken"]
			case TokenCreated:
				if str(auth, "authCode") != "" || str(auth, "accessToken") == "" || str(auth, "authState") != "STATE_7" {
					t.Fatalf("TOKEN_CREATED body %s; want the accessToken and authState, no authCode", authBody)
				}
			}
			follow := map[string]any{
				"productCode":      "AGREEMENT_PAYMENT",
				"paymentRequestId": "ESP_FOLLOW",
				"paymentAmount":    amount("250"),
				"paymentMethod":    map[string]string{"paymentMethodType": "ALIPAY_CN", "paymentMethodId": str(auth, "accessToken")},
			}
			h.expect("v1/payments/pay", follow, "SUCCESS", "S")
		})
	}
}

func TestEasySafePayNotificationSetting(t *testing.T) {
	if _, err := New(Config{EasySafePayNotification: "TOKEN"}); err == nil {
		t.Fatal("New accepted EasySafePayNotification TOKEN")
	}
}
