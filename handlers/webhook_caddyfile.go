package handlers

import "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	antom_webhook [<matcher>] {
//		profile         <name>                       # default: the profile named default
//		forward         <url>                        # the app endpoint that receives verified events (required)
//		forward_format  standard_webhooks|antom      # how the app receives events (default standard_webhooks)
//		forward_secret  {env.ANTOM_FORWARD_SECRET}   # Standard Webhooks secret, whsec_<base64> (required in
//		                                             # standard_webhooks; given again for rotation: one signature per secret)
//		forward_key     {file./etc/forward.pem}      # antom format: RSA private key Caddy signs deliveries with
//		                                             # (none: Antom's own signature passed through; needs notify_path)
//		forward_key_version <n>                      # keyVersion of forward_key (default 1)
//		sync_timeout    <duration>                   # how long to wait for the app before answering Antom (default 3s)
//		max_body        <size>                       # default 64KiB
//		max_age         <duration>                   # retry the app this long, then dead-letter (default 72h)
//		max_in_flight   <n>                          # deliveries to the app at once, first attempts included (default 4)
//		rate            <n>/s|<n>/m                  # deliveries to the app per second or minute (default: no limit)
//		ordering        on|off                       # the events of one payment in the order received (default on)
//		notify_path     <path>                       # the path Antom signed, when a rewrite or strip_prefix changed it
//		read_timeout    <duration>                   # how long the body may take to arrive (default 10s)
//		max_request_age <duration>                   # refuse older request-times (default 72h, at least 25h, within retention)
//	}
func (h *Webhook) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	return parseBlock(d, map[string]option{
		"profile":             stringOption(&h.Profile),
		"forward":             stringOption(&h.Forward),
		"forward_secret":      secretOption(h),
		"forward_format":      choiceOption(&h.ForwardFormat, "standard_webhooks", "antom"),
		"forward_key":         stringOption(&h.ForwardKey),
		"forward_key_version": stringOption(&h.ForwardKeyVersion),
		"sync_timeout":        durationOption(&h.SyncTimeout),
		"max_body":            sizeOption(&h.MaxBody),
		"max_age":             durationOption(&h.MaxAge),
		"max_in_flight":       intOption(&h.MaxInFlight),
		"rate":                rateOption(&h.Rate),
		"ordering":            choiceOption(&h.Ordering, "on", "off"),
		"notify_path":         stringOption(&h.NotifyPath),
		"read_timeout":        durationOption(&h.ReadTimeout),
		"max_request_age":     durationOption(&h.MaxRequestAge),
	}, "forward_secret")
}

// secretOption reads forward_secret: the first into ForwardSecret, so a single secret adapts to
// the JSON it always did, the ones given again (a rotation) into ForwardSecrets.
func secretOption(h *Webhook) option {
	return func(d *caddyfile.Dispenser, name string, args []string) error {
		if err := exactlyOne(d, name, args); err != nil {
			return err
		}
		if h.ForwardSecret == "" {
			h.ForwardSecret = args[0]
		} else {
			h.ForwardSecrets = append(h.ForwardSecrets, args[0])
		}
		return nil
	}
}

// rateOption reads rate, refusing what ParseRate would refuse at provisioning.
func rateOption(dst *string) option {
	return func(d *caddyfile.Dispenser, name string, args []string) error {
		if err := exactlyOne(d, name, args); err != nil {
			return err
		}
		if _, err := ParseRate(args[0]); err != nil {
			return d.Errf("%s: %v", name, err)
		}
		*dst = args[0]
		return nil
	}
}
