package handlers

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// Card data is redacted by where it sits, not by an exact field name: every value inside
// payment-method and card objects except a few harmless fields, card-ish names anywhere, and
// anything anywhere that looks like a card number.
func TestRedactCardDataUnderAnyName(t *testing.T) {
	secrets := []string{
		"4111 1111 1111 1111", "5555-5555-5555-4444", "378282246310005", "9371", "11/39", "ctok_ZX81pq77wv",
		"Quirinus", "1 Secret Road", "6011111111111117", "4826", "ctok_top_Q9mm3", "4000 0566 5566 5556",
		"2223003122003222", "4242424242424242", "5105105105105100", "0471", "pm_stored_42", "tok_2", "pw-7",
	}
	body := `{"productCode":"ONE_TIME_PAYMENT","paymentRequestId":"keep-req-1",
		"paymentAmount":{"currency":"USD","value":"1000"},
		"order":{"orderDescription":"gift for card 4000 0566 5566 5556 ending","orderAmount":{"value":"1000"}},
		"pan":6011111111111117,"cvc2":"4826","cardToken":"ctok_top_Q9mm3","Card_Number":"4242424242424242",
		"expiry_date":"0471","password":"pw-7",
		"paymentMethod":{"paymentMethodType":"CARD","paymentMethodId":"pm_stored_42","paymentMethodMetaData":{
			"card_no":"4111 1111 1111 1111","CardNumber":"5555-5555-5555-4444","pan":"378282246310005",
			"cvc2":"9371","expiry":"11/39","cardToken":"ctok_ZX81pq77wv","isCardOnFile":true,
			"holder":{"name":"Quirinus"},"billingAddress":{"address1":"1 Secret Road"},"cardBrand":"VISA"}},
		"paymentMethodDetail":{"paymentMethodDetailType":"card","card":{"number":"2223003122003222","brand":"MASTERCARD"}},
		"savedPaymentMethods":[{"paymentMethodType":"CARD","token":"tok_2"}],
		"5105105105105100":"a card number as a key"}`
	out := string(redact([]byte(body)))

	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("redacted body is not JSON: %v\n%s", err, out)
	}
	digits := regexp.MustCompile(`\D`)
	for _, s := range secrets {
		bare := digits.ReplaceAllString(s, "")
		if strings.Contains(out, s) || (len(bare) >= 13 && strings.Contains(digits.ReplaceAllString(out, ""), bare)) {
			t.Errorf("%q survived redaction:\n%s", s, out)
		}
	}
	for _, keep := range []string{`"paymentRequestId":"keep-req-1"`, `"currency":"USD"`, `"value":"1000"`,
		`"productCode":"ONE_TIME_PAYMENT"`, `"paymentMethodType":"CARD"`, `"cardBrand":"VISA"`, `"brand":"MASTERCARD"`,
		`"paymentMethodDetailType":"card"`, `"gift for card REDACTED ending"`} {
		if !strings.Contains(out, keep) {
			t.Errorf("redaction lost %s:\n%s", keep, out)
		}
	}
}

// Only digit runs of card-number length that pass the Luhn check are card numbers: ids, amounts
// and timestamps stay readable.
func TestRedactKeepsNumbersThatAreNotCards(t *testing.T) {
	body := `{"paymentId":"202401011234567890123456789","paymentRequestId":"4242424242424241",
		"paymentAmount":{"currency":"JPY","value":"123456789012"},"phone":"+1 415 555 0100",
		"paymentCreateTime":"2024-01-01T12:00:00+08:00","orderId":1234567890123}`
	var want, got any
	if err := json.Unmarshal([]byte(body), &want); err != nil {
		t.Fatal(err)
	}
	out := redact([]byte(body))
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("redacted body is not JSON: %v\n%s", err, out)
	}
	if w, _ := json.Marshal(want); string(w) != string(mustMarshal(t, got)) {
		t.Errorf("redaction changed a body without card data:\n%s\nwant\n%s", out, w)
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
