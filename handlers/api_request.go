package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// apiCall is the Antom API an app request names, made of validated parts only.
type apiCall struct {
	api     string // "v1/payments/pay": the path below /ams/api/, rebuilt from group and name
	group   string // "payments"
	name    string // "pay"
	sandbox *bool  // set when the app used a full /ams/api or /ams/sandbox/api path
}

// parseAPIPath takes a request URL whose path ends in /v1/<group>/<api>: `/antom/v1/payments/pay`,
// or the full `/ams/api/v1/payments/pay` and `/ams/sandbox/api/v1/...` paths the official SDKs
// send. Group and API are letters and digits, and the path is judged as it was sent (escaped), with
// no query string: what Caddy signs and sends is rebuilt from those two names alone, so no dot
// segment, encoded slash, backslash or question mark can make Antom's front end read another API.
func parseAPIPath(u *url.URL) (apiCall, error) {
	path := u.EscapedPath()
	segs := strings.Split(path, "/")
	n := len(segs)
	if n < 4 || segs[0] != "" || segs[n-3] != "v1" || !isAPIName(segs[n-2]) || !isAPIName(segs[n-1]) ||
		u.RawQuery != "" || u.ForceQuery || !plainSegments(segs[1:n-3]) {
		return apiCall{}, fmt.Errorf("the path must end in /v1/<group>/<api>, both letters and digits, "+
			"e.g. /antom/v1/payments/createPaymentSession, with no query string, dot segments or encoded characters; got %q", u.RequestURI())
	}
	call := apiCall{group: segs[n-2], name: segs[n-1]}
	call.api = "v1/" + call.group + "/" + call.name
	switch strings.Join(segs[:n-3], "/") {
	case "/ams/api":
		call.sandbox = new(bool)
	case "/ams/sandbox/api":
		call.sandbox = new(bool)
		*call.sandbox = true
	}
	return call, nil
}

// isAPIName reports whether s looks like an Antom group or API name (payments,
// createPaymentSession): a letter, then letters and digits.
func isAPIName(s string) bool {
	if s == "" || !isASCIILetter(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isASCIILetter(s[i]) && (s[i] < '0' || s[i] > '9') {
			return false
		}
	}
	return true
}

func isASCIILetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// plainSegments reports whether the escaped segments before /v1/ are free of empty and dot
// segments and of escapes and backslashes, which could otherwise hide a sandbox prefix or a
// second /v1/ behind a normalisation.
func plainSegments(segs []string) bool {
	for _, s := range segs {
		if s == "" || s == "." || s == ".." || strings.ContainsAny(s, `%\`) {
			return false
		}
	}
	return true
}

// validAllowEntry reports whether an allow entry can name an API: `refund` or `payments/refund`.
func validAllowEntry(a string) bool {
	group, name, grouped := strings.Cut(a, "/")
	if !grouped {
		return isAPIName(a)
	}
	return isAPIName(group) && isAPIName(name)
}

// allowedBy reports whether an allow list names this API by name or as group/name.
func (c apiCall) allowedBy(allow []string) bool {
	for _, a := range allow {
		if a == c.name || a == c.group+"/"+c.name {
			return true
		}
	}
	return false
}

// notifyURLField is the request field that carries the notify URL of an API, if it has one.
var notifyURLField = map[string]string{
	"pay":                  "paymentNotifyUrl",
	"createPaymentSession": "paymentNotifyUrl",
	"refund":               "refundNotifyUrl",
}

// fillNotifyURL inserts the notify URL field when the API takes one and the app left it out. It
// inserts the field right after the opening brace and leaves every other byte as the app sent
// it; the result is what gets signed and sent. It also checks that the body is a JSON object.
func fillNotifyURL(apiName string, body []byte, notifyURL string) ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, err
	}
	if fields == nil {
		return nil, errors.New("got null")
	}
	field := notifyURLField[apiName]
	if field == "" || notifyURL == "" {
		return body, nil
	}
	if _, present := fields[field]; present {
		return body, nil
	}
	value, err := json.Marshal(notifyURL)
	if err != nil {
		return nil, err
	}
	open := bytes.IndexByte(body, '{') + 1
	insert := append([]byte(`"`+field+`":`), value...)
	if len(fields) > 0 {
		insert = append(insert, ',')
	}
	out := make([]byte, 0, len(body)+len(insert))
	out = append(out, body[:open]...)
	out = append(out, insert...)
	return append(out, body[open:]...), nil
}
