package handlers

import "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	antom_api [<matcher>] {
//		profile    <name>        # default: the profile named default
//		allow      <api>...      # default: consult pay createPaymentSession inquiryPayment cancel capture refund inquiryRefund
//		notify_url <url>         # filled into paymentNotifyUrl (and refundNotifyUrl for refund) when the app leaves it out
//		timeout    <duration>    # default 15s
//		max_body   <size>        # default 1MiB
//	}
func (h *API) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	return parseBlock(d, map[string]option{
		"profile":    stringOption(&h.Profile),
		"allow":      listOption(&h.Allow),
		"notify_url": stringOption(&h.NotifyURL),
		"timeout":    durationOption(&h.Timeout),
		"max_body":   sizeOption(&h.MaxBody),
	})
}
