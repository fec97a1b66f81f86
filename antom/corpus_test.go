package antom

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpusDir holds realistic notification bodies of every family the official SDKs model, with pairs
// that differ only in the field that makes them distinct events (testdata/notifications/README.md).
var corpusDir = filepath.Join("..", "testdata", "notifications")

type corpusBody struct {
	name string
	body []byte
}

func readCorpus(t testing.TB) []corpusBody {
	t.Helper()
	entries, err := os.ReadDir(corpusDir)
	if err != nil {
		t.Fatalf("notification corpus missing: %v", err)
	}
	var out []corpusBody
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(corpusDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, corpusBody{strings.TrimSuffix(e.Name(), ".json"), b})
	}
	if len(out) < 30 {
		t.Fatalf("the corpus has %d bodies, want at least 30", len(out))
	}
	return out
}

// Distinct bodies never share a key, the same body always gets the same key, and a PAYMENT_RESULT
// shares its key with the inquiry result that stands in for it.
func TestCorpusDedupKeys(t *testing.T) {
	corpus := readCorpus(t)
	byKey := map[string]string{}
	for _, c := range corpus {
		n, err := ParseNotification(c.body)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if other, dup := byKey[n.DedupKey]; dup {
			t.Errorf("%s and %s are distinct events but share the key %q", other, c.name, n.DedupKey)
		}
		byKey[n.DedupKey] = c.name
		again, _ := ParseNotification(bytes.Clone(c.body))
		if again != n {
			t.Errorf("%s: parsing the same body twice gave %+v and %+v", c.name, n, again)
		}
		if n.Kind == KindUnknown && !strings.Contains(c.name, "unknown") {
			t.Errorf("%s: not recognised (%+v)", c.name, n)
		}
	}
	// The inquiry result's key is built from the paymentId of the payment antom_api recorded.
	for _, c := range corpus {
		var m struct {
			NotifyType string          `json:"notifyType"`
			PaymentID  string          `json:"paymentId"`
			RetryInfo  json.RawMessage `json:"retryInfo"`
		}
		if json.Unmarshal(c.body, &m) != nil || m.NotifyType != "PAYMENT_RESULT" || m.RetryInfo != nil || strings.Contains(c.name, "invalid-utf8") {
			continue
		}
		n, _ := ParseNotification(c.body)
		if n.DedupKey != PaymentResultDedupKey(m.PaymentID) {
			t.Errorf("%s: key %q, but an inquiry result for payment %s gets %q", c.name, n.DedupKey, m.PaymentID, PaymentResultDedupKey(m.PaymentID))
		}
	}
}
