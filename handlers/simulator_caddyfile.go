package handlers

import (
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-antom/caddy-antom/simulator"
)

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	antom_simulator [<matcher>] {
//		private_key         <key>                 # the simulator's Antom private key; default: generated at start
//		key_version         <n>                   # keyVersion of its signatures (default 1)
//		merchant_public_key <key> [<client_id>]   # repeatable; no client id = any client id
//		base_url            <url>                 # public base URL for cashier links (default: from the request)
//		retry_scale         <factor>              # e.g. 0.001 runs Antom's 24h retry schedule in ~90s
//		drop_notifications                        # record notifications but never send them
//		easysafepay_notification AUTHCODE_CREATED|TOKEN_CREATED   # default AUTHCODE_CREATED
//	}
//
// Keys are one-line base64 (the Antom Dashboard format) or PEM; use {file./path/key.pem} or
// {env.VAR} rather than pasting a private key into the Caddyfile.
func (h *Simulator) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	return parseBlock(d, map[string]option{
		"private_key": stringOption(&h.PrivateKey),
		"key_version": func(d *caddyfile.Dispenser, name string, args []string) error {
			if err := exactlyOne(d, name, args); err != nil {
				return err
			}
			if n, err := strconv.Atoi(args[0]); err != nil || n < 1 {
				return d.Errf("key_version: '%s' is not a positive whole number", args[0])
			}
			h.KeyVersion = args[0]
			return nil
		},
		"merchant_public_key": func(d *caddyfile.Dispenser, name string, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return d.Errf("merchant_public_key takes a public key and optionally a client id, got %d values", len(args))
			}
			m := SimulatorMerchant{PublicKey: args[0]}
			if len(args) == 2 {
				m.ClientID = args[1]
			}
			for _, prev := range h.Merchants {
				if prev.ClientID == m.ClientID && prev.PublicKey == m.PublicKey {
					return d.Errf("merchant_public_key is given twice for client id '%s'", m.ClientID)
				}
			}
			h.Merchants = append(h.Merchants, m)
			return nil
		},
		"base_url":           stringOption(&h.BaseURL),
		"retry_scale":        floatOption(&h.RetryScale),
		"drop_notifications": flagOption(&h.DropNotifications),
		"easysafepay_notification": func(d *caddyfile.Dispenser, name string, args []string) error {
			if err := exactlyOne(d, name, args); err != nil {
				return err
			}
			if args[0] != simulator.AuthCodeCreated && args[0] != simulator.TokenCreated {
				return d.Errf("easysafepay_notification: '%s' is not %s or %s", args[0], simulator.AuthCodeCreated, simulator.TokenCreated)
			}
			h.EasySafePayNotification = args[0]
			return nil
		},
	}, "merchant_public_key")
}
