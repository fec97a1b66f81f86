package handlers

import "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

// UnmarshalCaddyfile sets up the console from Caddyfile tokens:
//
//	antom_console [<matcher>] {
//		show_bodies    # show notification bodies, card data redacted (default: hidden)
//	}
func (c *Console) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	return parseBlock(d, map[string]option{"show_bodies": flagOption(&c.ShowBodies)})
}
