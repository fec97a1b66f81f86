package antom

// LuhnValid reports whether a string of ASCII digits passes the Luhn check that card numbers
// carry. Callers check that it is all digits and of a card number's length.
func LuhnValid(digits string) bool {
	sum := 0
	for i := range len(digits) {
		d := int(digits[len(digits)-1-i] - '0')
		if i%2 == 1 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}
