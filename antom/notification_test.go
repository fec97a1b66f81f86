package antom

import (
	"strings"
	"testing"
)

func TestParseNotification(t *testing.T) {
	vectorBody := vectorByName(t, "notification").Body
	const res = `"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"}`
	cases := []struct {
		name, body                         string
		kind, typ, status, reqID, reqField string
		key                                string // "" means the body key
	}{
		{"vector PAYMENT_RESULT", vectorBody, KindPayment, "PAYMENT_RESULT", "S", "PAYREQ_20240101_0001", "paymentRequestId",
			"payment:202401011940108001001881234567890:PAYMENT_RESULT"},
		{"PAYMENT_PENDING", `{"notifyType":"PAYMENT_PENDING",` + res + `,"paymentRequestId":"r1","paymentId":"p1"}`, KindPayment, "PAYMENT_PENDING", "S", "r1", "paymentRequestId", ""},
		{"payment F", `{"notifyType":"PAYMENT_RESULT","result":{"resultCode":"USER_BALANCE_NOT_ENOUGH","resultStatus":"F"},"paymentRequestId":"r1","paymentId":"p1"}`, KindPayment, "PAYMENT_RESULT", "F", "r1", "paymentRequestId",
			"payment:p1:PAYMENT_RESULT"},
		{"payment U is not final", `{"notifyType":"PAYMENT_RESULT","result":{"resultStatus":"U"},"paymentRequestId":"r1","paymentId":"p1"}`, KindPayment, "PAYMENT_RESULT", "U", "r1", "paymentRequestId", ""},
		{"numeric paymentId keeps its spelling", `{"notifyType":"PAYMENT_RESULT",` + res + `,"paymentId":12345678901234567890123}`, KindPayment, "PAYMENT_RESULT", "S", "", "",
			"payment:12345678901234567890123:PAYMENT_RESULT"},
		{"escaped paymentId is kept as sent", `{"notifyType":"PAYMENT_RESULT",` + res + `,"paymentId":"p\u0031"}`, KindPayment, "PAYMENT_RESULT", "S", "", "",
			`payment:p\u0031:PAYMENT_RESULT`},
		{"OFFLINE_PAYMENT_CODE without paymentId", `{"notifyType":"OFFLINE_PAYMENT_CODE","paymentRequestId":"r2","paymentCode":"123"}`, KindPayment, "OFFLINE_PAYMENT_CODE", "", "r2", "paymentRequestId", ""},
		{"CAPTURE_RESULT", `{"notifyType":"CAPTURE_RESULT",` + res + `,"captureRequestId":"cr1","paymentId":"p1","captureId":"c1","captureAmount":{"value":"1","currency":"USD"}}`, KindCapture, "CAPTURE_RESULT", "S", "cr1", "captureRequestId",
			"capture:c1"},
		{"CAPTURE_RESULT F without captureId", `{"notifyType":"CAPTURE_RESULT","result":{"resultStatus":"F"},"captureRequestId":"cr2","paymentId":"p1"}`, KindCapture, "CAPTURE_RESULT", "F", "cr2", "captureRequestId", ""},
		{"REFUND_RESULT", `{"notifyType":"REFUND_RESULT",` + res + `,"refundRequestId":"rr1","refundId":"rf1","paymentId":"p1","refundStatus":"SUCCESS"}`, KindRefund, "REFUND_RESULT", "S", "rr1", "refundRequestId",
			"refund:rf1"},
		{"authorization with token", `{"authorizationNotifyType":"TOKEN_CREATED","authClientId":"ac","authState":"st1","accessToken":"secret-token-value",` + res + `}`, KindAuthorization, "TOKEN_CREATED", "S", "st1", "authState", ""},
		{"authorization bare", `{"authorizationNotifyType":"TOKEN_CANCELED","authClientId":"ac"}`, KindAuthorization, "TOKEN_CANCELED", "", "ac", "authClientId", ""},
		{"dispute", `{"disputeId":"d1","disputeNotificationType":"DISPUTE_CREATED","paymentRequestId":"r1","paymentId":"p1","disputeAmount":{"value":"1","currency":"USD"}}`, KindDispute, "DISPUTE_CREATED", "", "r1", "paymentRequestId", ""},
		{"subscription", `{"subscriptionRequestId":"sr1","subscriptionId":"s1","subscriptionNotificationType":"CREATE",` + res + `}`, KindSubscription, "CREATE", "S", "sr1", "subscriptionRequestId", ""},
		{"vaulting", `{"notifyType":"VAULTING_RESULT","vaultingRequestId":"v1",` + res + `,"paymentMethodDetail":{"card":{}}}`, KindVaulting, "VAULTING_RESULT", "S", "v1", "vaultingRequestId", ""},
		{"transfer result in transferResult", `{"transferRequestId":"t1","transferResult":{"resultStatus":"F","resultCode":"NO"}}`, KindTransfer, "", "F", "t1", "transferRequestId", ""},
		{"unknown notifyType with refundId", `{"notifyType":"REFUND_SOMETHING","refundId":"rf2","refundRequestId":"rr2"}`, KindUnknown, "REFUND_SOMETHING", "", "", "", ""},
		{"unknown notifyType, no ids", `{"notifyType":"BRAND_NEW"}`, KindUnknown, "BRAND_NEW", "", "", "", ""},
		{"unknown object", `{"hello":"world","result":{"resultStatus":"U"}}`, KindUnknown, "", "U", "", "", ""},
		{"weird types", `{"notifyType":{"x":1},"paymentId":["a"],"result":"nope"}`, KindUnknown, "", "", "", "", ""},
		{"array", `[1,2,3]`, KindUnknown, "", "", "", "", ""},
		{"string", `"x"`, KindUnknown, "", "", "", "", ""},
		{"null", `null`, KindUnknown, "", "", "", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, err := ParseNotification([]byte(c.body))
			if err != nil {
				t.Fatal(err)
			}
			want := c.key
			if want == "" {
				want = BodyDedupKey([]byte(c.body))
			}
			if n.Kind != c.kind || n.Type != c.typ || n.ResultStatus != c.status || n.RequestID != c.reqID || n.RequestIDField != c.reqField || n.DedupKey != want {
				t.Fatalf("got %+v\nwant kind=%s type=%s status=%s reqID=%s field=%s key=%s", n, c.kind, c.typ, c.status, c.reqID, c.reqField, want)
			}
			if strings.Contains(n.DedupKey, "secret-token-value") {
				t.Fatal("credentials must not appear in the dedup key")
			}
		})
	}
}

func TestNotificationDedupSemantics(t *testing.T) {
	a := `{"notifyType":"PAYMENT_RESULT","paymentId":"p9","paymentRequestId":"r9","result":{"resultStatus":"S"}}`
	reformatted := "{\n  \"paymentRequestId\": \"r9\",\n  \"paymentId\": \"p9\",\n  \"result\": {\"resultStatus\": \"S\"},\n  \"notifyType\": \"PAYMENT_RESULT\"\n}"
	pending := strings.Replace(a, "PAYMENT_RESULT", "PAYMENT_PENDING", 1)
	na, _ := ParseNotification([]byte(a))
	nr, _ := ParseNotification([]byte(reformatted))
	np, _ := ParseNotification([]byte(pending))
	if na.DedupKey != nr.DedupKey {
		t.Fatal("a PAYMENT_RESULT has the same key whatever the formatting")
	}
	if na.DedupKey == np.DedupKey {
		t.Fatal("PAYMENT_PENDING and PAYMENT_RESULT of one payment must not collide")
	}
	if na.DedupKey != PaymentResultDedupKey("p9") {
		t.Fatalf("PaymentResultDedupKey = %q, notification key %q", PaymentResultDedupKey("p9"), na.DedupKey)
	}
	// Fallback keys hash the exact bytes.
	u1, _ := ParseNotification([]byte(`{"x":1}`))
	u2, _ := ParseNotification([]byte(`{"x": 1}`))
	if u1.DedupKey == u2.DedupKey || !strings.HasPrefix(u1.DedupKey, "body:") || len(u1.DedupKey) != len("body:")+64 {
		t.Fatalf("fallback keys: %q %q", u1.DedupKey, u2.DedupKey)
	}
}

func TestParseNotificationNotJSON(t *testing.T) {
	for _, b := range []string{"", "   ", "{", "{}]", "{} {}", "not json", `{"a":}`, "\xff"} {
		if n, err := ParseNotification([]byte(b)); err == nil {
			t.Errorf("%q: want error, got %+v", b, n)
		}
	}
}

func TestAckBody(t *testing.T) {
	vf := loadVectors(t)
	if string(AckBody) != vf.NotificationAckBody {
		t.Fatalf("AckBody differs from the vector: %s", AckBody)
	}
	if got := readVectorFile(t, "notification/ack_body.json"); got != string(AckBody) {
		t.Fatalf("AckBody differs from ack_body.json: %q", got)
	}
}
