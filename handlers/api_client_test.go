package handlers

import "testing"

// antom_api signs whatever it receives, so only clients on loopback or private networks may
// reach it; everything else is refused before the request is read.
func TestPrivateClient(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:5000":        true,
		"[::1]:5000":            true,
		"10.1.2.3:80":           true,
		"172.16.0.9:80":         true,
		"192.168.1.20:443":      true,
		"[fd00::1]:80":          true,
		"[::ffff:127.0.0.1]:80": true,
		"203.0.113.7:5000":      false,
		"8.8.8.8:53":            false,
		"[2001:db8::1]:80":      false,
		"[::ffff:8.8.8.8]:80":   false,
		"not an address":        false,
	} {
		if got := privateClient(addr); got != want {
			t.Errorf("privateClient(%q) = %v, want %v", addr, got, want)
		}
	}
}
