package antom

import (
	"encoding/json"
	"testing"
)

func TestResultBody(t *testing.T) {
	if got := ResultBody("SUCCESS", "S", "success"); string(got) != string(AckBody) {
		t.Fatalf("ResultBody(SUCCESS) = %s, want AckBody", got)
	}
	got := ResultBody("UNKNOWN_EXCEPTION", "U", `gateway <timeout> & "retry"`)
	want := `{"result":{"resultCode":"UNKNOWN_EXCEPTION","resultStatus":"U","resultMessage":"gateway <timeout> & \"retry\""}}`
	if string(got) != want {
		t.Fatalf("ResultBody = %s\nwant %s", got, want)
	}
	r, err := ParseResult(got)
	if err != nil || r != (Result{"UNKNOWN_EXCEPTION", "U", `gateway <timeout> & "retry"`}) {
		t.Fatalf("round trip: %+v %v", r, err)
	}
}

func TestParseResult(t *testing.T) {
	r, err := ParseResult([]byte(vectorByName(t, "notification").Body))
	if err != nil || r.ResultCode != "SUCCESS" || r.ResultStatus != StatusSuccess || r.ResultMessage != "success." {
		t.Fatalf("vector: %+v %v", r, err)
	}
	for _, bad := range []string{"", "nope", "[]", `{"paymentId":"x"}`, `{"result":null}`, `{"result":"S"}`} {
		if r, err := ParseResult([]byte(bad)); err == nil {
			t.Errorf("ParseResult(%q) = %+v, want error", bad, r)
		}
	}
	// Field names follow Antom's JSON exactly.
	b, _ := json.Marshal(Result{"A", "B", "C"})
	if string(b) != `{"resultCode":"A","resultStatus":"B","resultMessage":"C"}` {
		t.Fatalf("json tags: %s", b)
	}
}
