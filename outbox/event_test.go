package outbox

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

// An event's id is stable, depends on its profile and key, and only ids of its form are valid
// (they name rows and, in the retired file store, files).
func TestEventID(t *testing.T) {
	id := EventID("shop", "PAYMENT_RESULT|2024...")
	if !strings.HasPrefix(id, "msg_") || len(id) != 36 || !ValidEventID(id) {
		t.Fatalf("EventID = %q", id)
	}
	if id != EventID("shop", "PAYMENT_RESULT|2024...") {
		t.Fatal("EventID not stable")
	}
	if id == EventID("shop2", "PAYMENT_RESULT|2024...") {
		t.Fatal("profile not part of EventID")
	}
	sum := sha256.Sum256([]byte("p\nk"))
	if got, want := EventID("p", "k"), "msg_"+hex.EncodeToString(sum[:16]); got != want {
		t.Fatalf("EventID = %s, want %s", got, want)
	}
	for _, bad := range []string{"", "msg_", "msg_../../etc/passwd", "msg_" + strings.Repeat("A", 32), "pay_" + strings.Repeat("a", 32), "msg_" + strings.Repeat("a", 33)} {
		if ValidEventID(bad) {
			t.Errorf("ValidEventID(%q) = true", bad)
		}
	}
}
