package antom

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Values of Result.ResultStatus.
const (
	StatusSuccess = "S" // the call succeeded (for inquiries, read paymentStatus)
	StatusFail    = "F" // final failure: do not retry with the same request id
	StatusUnknown = "U" // unknown: retry with the same request id, or inquire
)

// Result is the "result" object every Antom response and notification carries.
type Result struct {
	ResultCode    string `json:"resultCode"`
	ResultStatus  string `json:"resultStatus"`
	ResultMessage string `json:"resultMessage"`
}

// ParseResult extracts the "result" object from a response or notification
// body. It fails if body is not a JSON object or has no result object.
func ParseResult(body []byte) (Result, error) {
	var env struct {
		Result *Result `json:"result"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return Result{}, errors.New("antom: body is not a JSON object with a result: " + err.Error())
	}
	if env.Result == nil {
		return Result{}, errors.New("antom: body has no result object")
	}
	return *env.Result, nil
}

// ResultBody returns {"result":{"resultCode":...,"resultStatus":...,"resultMessage":...}}
// with the fields in that order, e.g. for a synthesised error answer.
func ResultBody(code, status, message string) []byte {
	return MustMarshal(struct {
		Result Result `json:"result"`
	}{Result{code, status, message}})
}

// MustMarshal encodes v as Antom writes JSON: compact, fields in declaration order, and without
// Go's HTML escaping of '<', '>' and '&' (URLs keep their '&'). It is for values of the caller's
// own types, which always encode; it panics otherwise.
func MustMarshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("antom: encoding %T: %v", v, err))
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}
