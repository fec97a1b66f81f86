package handlers

import (
	"bytes"
	"encoding/json"
	"io"
	"regexp"
	"strings"

	"github.com/caddy-antom/caddy-antom/antom"
)

// redacted replaces what a debug log must not show.
const redacted = "REDACTED"

// Card data is found by where it sits rather than by an exact field name, because apps and
// Antom's models spell it many ways (cardNo, card_no, CardNumber, pan, cvc2, expiry, ...):
//
//   - a field whose name mentions a card or a payment method (paymentMethod, card, cardInfo,
//     paymentMethodMetaData, payToMethod, card_no, cardToken, ...) or a credential (pan, cvv,
//     expiry, password, ...) is card data, and so is everything inside it, except the harmless
//     fields below when they hold a plain value;
//   - anything anywhere that looks like a card number is card data.
var (
	cardDataWords = []string{"card", "method"}

	credentialFields = map[string]bool{
		"pan": true, "cvv": true, "cvv2": true, "cvc": true, "cvc2": true, "cvn": true, "securitycode": true,
		"expiry": true, "expirydate": true, "expiredate": true, "expirationdate": true, "expiryyear": true,
		"expirymonth": true, "password": true, "accesstoken": true, "refreshtoken": true, "authcode": true,
	}

	// harmlessFields stay readable inside card data: they say what kind of payment it is.
	harmlessFields = map[string]bool{
		"paymentmethodtype": true, "paymentmethoddetailtype": true, "paymentmethodregion": true,
		"cardbrand": true, "brand": true, "funding": true, "issuingcountry": true,
	}
)

// fieldKey is a field name as the lists above spell it: lower case, no separators.
func fieldKey(name string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r == '-' || r == ' ' || r == '.' {
			return -1
		}
		return r
	}, strings.ToLower(name))
}

// isCardDataField reports whether a field holds card data (with everything inside it).
func isCardDataField(key string) bool {
	if credentialFields[key] {
		return true
	}
	for _, w := range cardDataWords {
		if strings.Contains(key, w) {
			return true
		}
	}
	return false
}

// redact returns a copy of a JSON body with card data and credentials replaced, for debug logs.
// A body that is not JSON is not logged at all.
func redact(body []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // numbers keep their digits, so a card number sent as a number is seen
	var v any
	if err := dec.Decode(&v); err != nil {
		return []byte(`"<not JSON, not logged>"`)
	}
	if _, err := dec.Token(); err != io.EOF {
		return []byte(`"<not JSON, not logged>"`)
	}
	out, err := json.Marshal(redactValue(v, false))
	if err != nil {
		return []byte(`"<not logged>"`)
	}
	return out
}

// redactValue redacts v, all of whose plain values are card data when inCard is set.
func redactValue(v any, inCard bool) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for name, child := range t {
			key := fieldKey(name)
			if harmlessFields[key] && isPlain(child) {
				out[maskCardNumbers(name)] = redactValue(child, false)
			} else {
				out[maskCardNumbers(name)] = redactValue(child, inCard || isCardDataField(key))
			}
		}
		return out
	case []any:
		for i, child := range t {
			t[i] = redactValue(child, inCard)
		}
		return t
	case nil:
		return nil
	case string:
		if inCard {
			return redacted
		}
		return maskCardNumbers(t)
	case json.Number:
		if inCard || maskCardNumbers(string(t)) != string(t) {
			return redacted
		}
		return t
	default: // bool
		if inCard {
			return redacted
		}
		return t
	}
}

func isPlain(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return false
	}
	return true
}

// digitRun is a run of digits, possibly grouped by single spaces or dashes as card numbers are
// written ("4242 4242 4242 4242", "4242-4242-4242-4242").
var digitRun = regexp.MustCompile(`[0-9](?:[ -]?[0-9])*`)

// maskCardNumbers replaces every digit run of a card number's length (13 to 19 digits) that
// passes the Luhn check. Longer runs (Antom's payment ids) and shorter ones are kept.
func maskCardNumbers(s string) string {
	return digitRun.ReplaceAllStringFunc(s, func(run string) string {
		digits := strings.Map(func(r rune) rune {
			if r == ' ' || r == '-' {
				return -1
			}
			return r
		}, run)
		if len(digits) < 13 || len(digits) > 19 || !antom.LuhnValid(digits) {
			return run
		}
		return redacted
	})
}
