package simulator

import "strings"

// magic is a hard case forced by the last four digits of an amount's value (minor units), on
// the calls that carry an amount: pay and createPaymentSession (paymentAmount), refund
// (refundAmount) and capture (captureAmount). "14001", "4001" and "99994001" all mean
// magicProcessFail. Documented in README.md.
type magic int

const (
	magicNone magic = iota
	// 4001: the request is refused with PROCESS_FAIL (F), every time. A payment is recorded as
	// FAIL, a refund or capture as refused.
	magicProcessFail
	// 4002: the request is processed normally, but the first answer is a signed
	// UNKNOWN_EXCEPTION (U). A retry with the same request id, or an inquiry, shows the
	// real outcome: the classic "gateway timed out but did it" case.
	magicUnknown
	// 4003: the request is processed normally, but the first answer is held back for
	// Config.SlowResponseDelay (30 s), or until the client goes away. A retry with the same
	// request id answers at once.
	magicSlow
	// 4004: every answer to the request is an UNSIGNED UNKNOWN_EXCEPTION (U), as the real
	// gateway sends some errors; the request is processed normally (inquire to see it).
	magicUnsigned
	// 4005: every answer is the normal answer (SUCCESS or PAYMENT_IN_PROCESS...) with a
	// broken signature, for testing that proxies and SDK wrappers reject it.
	magicBadSignature
	// 4006: the buyer's wallet balance is not enough: when the buyer pays on the cashier or wallet
	// page, the payment fails with USER_BALANCE_NOT_ENOUGH (PAYMENT_RESULT F).
	magicBalance
)

var magicSuffixes = map[string]magic{
	"4001": magicProcessFail,
	"4002": magicUnknown,
	"4003": magicSlow,
	"4004": magicUnsigned,
	"4005": magicBadSignature,
	"4006": magicBalance,
}

// magicOf returns the magic of an amount value.
func magicOf(value string) magic {
	if len(value) < 4 {
		return magicNone
	}
	return magicSuffixes[value[len(value)-4:]]
}

func (m magic) String() string {
	for suffix, v := range magicSuffixes {
		if v == m {
			return "magic amount ending in " + suffix
		}
	}
	return "no magic"
}

// magicProcessFailResult is the answer forced by 4001.
func magicProcessFailResult(what string) (code, message string) {
	return "PROCESS_FAIL", "A general business failure occurred: the " + strings.ToLower(what) + " was refused (simulated by the magic amount ending in 4001)."
}
