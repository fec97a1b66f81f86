package handlers

import "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	antom_api [<matcher>] {
//		profile         <name>         # default: the profile named default
//		allow           <api>...       # default: consult pay createPaymentSession inquiryPayment cancel capture refund inquiryRefund
//		trusted_clients <ip|cidr>...   # clients answered, by TCP peer address; default: loopback only (127.0.0.0/8, ::1)
//		notify_url      <url>          # filled into paymentNotifyUrl (and refundNotifyUrl for refund) when the app leaves it out
//		timeout         <duration>     # default 15s
//		max_body        <size>         # default 1MiB
//		read_timeout    <duration>     # how long the request body may take to arrive (default 10s)
//		reconcile [{                   # inquire about payments whose notification never arrives
//			after   <duration>         # grace period before the first inquiry; default 30s
//			give_up <duration>         # stop inquiring this long after the payment started; default 24h
//			cancel_unpaid              # cancel payments still unpaid at their expiry; default off
//		}]
//	}
//
// A bare `reconcile` enables reconciliation with the defaults; without it nothing is recorded.
func (h *API) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	return parseBlock(d, map[string]option{
		"profile":         stringOption(&h.Profile),
		"allow":           listOption(&h.Allow),
		"trusted_clients": h.trustedClientsOption,
		"notify_url":      stringOption(&h.NotifyURL),
		"timeout":         durationOption(&h.Timeout),
		"max_body":        sizeOption(&h.MaxBody),
		"read_timeout":    durationOption(&h.ReadTimeout),
		"reconcile":       h.reconcileOption,
	})
}

// trustedClientsOption parses `trusted_clients` and checks its addresses now, so that a typo is
// reported with its line.
func (h *API) trustedClientsOption(d *caddyfile.Dispenser, name string, args []string) error {
	if err := listOption(&h.TrustedClients)(d, name, args); err != nil {
		return err
	}
	if _, err := parseTrustedClients(args); err != nil {
		return d.Err(err.Error())
	}
	return nil
}

// reconcileOption parses `reconcile` and its optional block.
func (h *API) reconcileOption(d *caddyfile.Dispenser, _ string, args []string) error {
	if len(args) != 0 {
		return d.Errf("reconcile takes no value; put its settings in a block: reconcile { after 30s }")
	}
	rc := new(ReconcileConfig)
	err := parseBlock(d, map[string]option{
		"after":         durationOption(&rc.After),
		"give_up":       durationOption(&rc.GiveUp),
		"cancel_unpaid": flagOption(&rc.CancelUnpaid),
	})
	if err != nil {
		return err
	}
	if err := rc.config().Validate(); err != nil {
		return d.Err(err.Error())
	}
	h.Reconcile = rc
	return nil
}
