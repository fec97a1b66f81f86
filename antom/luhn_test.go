package antom

import "testing"

func TestLuhnValid(t *testing.T) {
	for digits, want := range map[string]bool{
		"4242424242424242": true, "4111111111111111": true, "378282246310005": true, "6011111111111117": true,
		"4242424242424241": false, "1234567890123": false, "0000000000000": true,
	} {
		if got := LuhnValid(digits); got != want {
			t.Errorf("LuhnValid(%s) = %v, want %v", digits, got, want)
		}
	}
}
