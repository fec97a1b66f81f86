package caddyantom

import (
	"encoding/json"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-antom/caddy-antom/handlers"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("antom", parseGlobalOption)

	registerDirective("antom_webhook", func() handlerUnmarshaler { return new(handlers.Webhook) })
	registerDirective("antom_api", func() handlerUnmarshaler { return new(handlers.API) })
	registerDirective("antom_simulator", func() handlerUnmarshaler { return new(handlers.Simulator) })
	registerDirective("antom_console", func() handlerUnmarshaler { return new(handlers.Console) })
}

type handlerUnmarshaler interface {
	caddyhttp.MiddlewareHandler
	caddyfile.Unmarshaler
}

// registerDirective registers a terminal handler directive and orders it before `respond`, so a
// plain site block needs no `order` line.
func registerDirective(name string, newHandler func() handlerUnmarshaler) {
	httpcaddyfile.RegisterHandlerDirective(name, func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		handler := newHandler()
		err := handler.UnmarshalCaddyfile(h.Dispenser)
		return handler, err
	})
	httpcaddyfile.RegisterDirectiveOrder(name, httpcaddyfile.Before, "respond")
}

// parseGlobalOption sets up one merchant profile of the `antom` app:
//
//	{
//		antom [<profile>] {
//			client_id        {env.ANTOM_CLIENT_ID}
//			private_key      {file./etc/caddy/antom/merchant_private_key.pem}
//			key_version      <n>
//			antom_public_key {file./etc/caddy/antom/antom_public_key.pem} [<key_version>]
//			gateway          sg | na | eu | us | <url>
//			agent_token      {env.ANTOM_AGENT_TOKEN}
//		}
//	}
//
// The profile name defaults to `default`. Several blocks define several profiles;
// antom_public_key may repeat with different key versions during a key rotation.
func parseGlobalOption(d *caddyfile.Dispenser, existing any) (any, error) {
	app := new(App)
	if existing != nil {
		if err := json.Unmarshal(existing.(httpcaddyfile.App).Value, app); err != nil {
			return nil, err
		}
	}
	if app.Profiles == nil {
		app.Profiles = make(map[string]*Profile)
	}

	d.Next() // the option name
	name := defaultProfile
	if d.NextArg() {
		name = d.Val()
	}
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	if _, dup := app.Profiles[name]; dup {
		return nil, d.Errf("antom profile %q is defined twice", name)
	}
	profile, err := parseProfile(d)
	if err != nil {
		return nil, err
	}
	app.Profiles[name] = profile
	return httpcaddyfile.App{Name: "antom", Value: caddyconfig.JSON(app, nil)}, nil
}

func parseProfile(d *caddyfile.Dispenser) (*Profile, error) {
	p := new(Profile)
	seen := make(map[string]bool)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		option := d.Val()
		if option != "antom_public_key" && seen[option] {
			return nil, d.Errf("antom option '%s' is given twice", option)
		}
		seen[option] = true
		args := d.RemainingArgs()

		single := func(dst *string) error {
			if len(args) != 1 {
				return d.Errf("antom option '%s' takes exactly one value", option)
			}
			*dst = args[0]
			return nil
		}
		var err error
		switch option {
		case "client_id":
			err = single(&p.ClientID)
		case "private_key":
			err = single(&p.PrivateKey)
		case "key_version":
			err = single(&p.KeyVersion)
		case "gateway":
			err = single(&p.Gateway)
		case "agent_token":
			err = single(&p.AgentToken)
		case "antom_public_key":
			if len(args) < 1 || len(args) > 2 {
				return nil, d.Errf("antom option 'antom_public_key' takes a key and an optional key version")
			}
			key := AntomPublicKey{Key: args[0]}
			if len(args) == 2 {
				key.KeyVersion = args[1]
			}
			for _, other := range p.AntomPublicKeys {
				if versionOrDefault(other.KeyVersion) == versionOrDefault(key.KeyVersion) {
					return nil, d.Errf("antom_public_key for key version %q is given twice", versionOrDefault(key.KeyVersion))
				}
			}
			p.AntomPublicKeys = append(p.AntomPublicKeys, key)
		default:
			return nil, d.Errf("unrecognized antom option '%s'", option)
		}
		if err != nil {
			return nil, err
		}
	}
	return p, nil
}

func versionOrDefault(v string) string {
	if v == "" {
		return "1"
	}
	return v
}
