package handlers

import (
	"encoding/json"
	"strings"
)

// sensitiveFields are never logged: card data and credentials that travel in API bodies.
var sensitiveFields = map[string]bool{
	"cardno": true, "cvv": true, "cvv2": true, "cvc": true, "securitycode": true,
	"expiryyear": true, "expirymonth": true, "expirydate": true, "expiredate": true,
	"cardholdername": true, "accesstoken": true, "authcode": true, "password": true,
}

// redact returns a copy of a JSON body with sensitive fields replaced, for debug logs. A body
// that is not JSON is not logged at all.
func redact(body []byte) []byte {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return []byte(`"<not JSON, not logged>"`)
	}
	out, err := json.Marshal(redactValue(v))
	if err != nil {
		return []byte(`"<not logged>"`)
	}
	return out
}

func redactValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, child := range t {
			if sensitiveFields[strings.ToLower(k)] {
				t[k] = "REDACTED"
			} else {
				t[k] = redactValue(child)
			}
		}
	case []any:
		for i, child := range t {
			t[i] = redactValue(child)
		}
	}
	return v
}
