package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// apiCall is the Antom API an app request names.
type apiCall struct {
	api     string // "v1/payments/pay"
	group   string // "payments"
	name    string // "pay"
	sandbox *bool  // set when the app used a full /ams/api or /ams/sandbox/api path
}

// parseAPIPath takes any path ending in /v<n>/<group>/<api>: `/antom/v1/payments/pay`, or the
// full `/ams/api/v1/payments/pay` and `/ams/sandbox/api/v1/...` paths the official SDKs send.
func parseAPIPath(path string) (apiCall, error) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	n := len(segs)
	if n < 3 || len(segs[n-3]) < 2 || segs[n-3][0] != 'v' || strings.Trim(segs[n-3][1:], "0123456789") != "" || segs[n-2] == "" || segs[n-1] == "" {
		return apiCall{}, fmt.Errorf("the path must end in /v1/<group>/<api>, e.g. /antom/v1/payments/createPaymentSession; got %q", path)
	}
	call := apiCall{api: strings.Join(segs[n-3:], "/"), group: segs[n-2], name: segs[n-1]}
	prefix := "/" + strings.Join(segs[:n-3], "/")
	switch prefix {
	case "/ams/api":
		call.sandbox = new(bool)
	case "/ams/sandbox/api":
		call.sandbox = new(bool)
		*call.sandbox = true
	}
	return call, nil
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
