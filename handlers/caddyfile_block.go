package handlers

import (
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/dustin/go-humanize"
)

// option parses the arguments of the subdirective name. parseBlock has already read them, so the
// dispenser is on the last argument: error messages take the name from here, not from d.Val().
type option func(d *caddyfile.Dispenser, name string, args []string) error

// parseBlock reads the block of a directive whose name the dispenser is on, refusing arguments
// after the directive name, unknown subdirectives and subdirectives given twice (except those in
// repeatable) with messages that name them.
func parseBlock(d *caddyfile.Dispenser, options map[string]option, repeatable ...string) error {
	directive := d.Val()
	if d.NextArg() {
		return d.Errf("%s takes no arguments before its block; got '%s'", directive, d.Val())
	}
	seen := make(map[string]bool)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		parse, ok := options[name]
		if !ok {
			return d.Errf("unrecognized %s option '%s'", directive, name)
		}
		if seen[name] && !contains(repeatable, name) {
			return d.Errf("%s option '%s' is given twice", directive, name)
		}
		seen[name] = true
		if err := parse(d, name, d.RemainingArgs()); err != nil {
			return err
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// exactlyOne checks that a subdirective got one argument.
func exactlyOne(d *caddyfile.Dispenser, name string, args []string) error {
	if len(args) != 1 {
		return d.Errf("%s takes exactly one value, got %d", name, len(args))
	}
	return nil
}

func stringOption(dst *string) option {
	return func(d *caddyfile.Dispenser, name string, args []string) error {
		if err := exactlyOne(d, name, args); err != nil {
			return err
		}
		*dst = args[0]
		return nil
	}
}

func durationOption(dst *caddy.Duration) option {
	return func(d *caddyfile.Dispenser, name string, args []string) error {
		if err := exactlyOne(d, name, args); err != nil {
			return err
		}
		dur, err := caddy.ParseDuration(args[0])
		if err != nil || dur <= 0 {
			return d.Errf("%s: '%s' is not a positive duration such as 3s, 15m or 72h", name, args[0])
		}
		*dst = caddy.Duration(dur)
		return nil
	}
}

func sizeOption(dst *int64) option {
	return func(d *caddyfile.Dispenser, name string, args []string) error {
		if err := exactlyOne(d, name, args); err != nil {
			return err
		}
		size, err := humanize.ParseBytes(args[0])
		if err != nil || size == 0 {
			return d.Errf("%s: '%s' is not a size such as 64KiB or 1MiB", name, args[0])
		}
		*dst = int64(size)
		return nil
	}
}

func floatOption(dst *float64) option {
	return func(d *caddyfile.Dispenser, name string, args []string) error {
		if err := exactlyOne(d, name, args); err != nil {
			return err
		}
		f, err := strconv.ParseFloat(args[0], 64)
		if err != nil || f <= 0 {
			return d.Errf("%s: '%s' is not a positive number", name, args[0])
		}
		*dst = f
		return nil
	}
}

func intOption(dst *int) option {
	return func(d *caddyfile.Dispenser, name string, args []string) error {
		if err := exactlyOne(d, name, args); err != nil {
			return err
		}
		n, err := strconv.Atoi(args[0])
		if err != nil || n <= 0 {
			return d.Errf("%s: '%s' is not a positive whole number", name, args[0])
		}
		*dst = n
		return nil
	}
}

// choiceOption reads one of a few fixed words.
func choiceOption(dst *string, choices ...string) option {
	return func(d *caddyfile.Dispenser, name string, args []string) error {
		if err := exactlyOne(d, name, args); err != nil {
			return err
		}
		if !contains(choices, args[0]) {
			return d.Errf("%s must be one of %s, not '%s'", name, strings.Join(choices, ", "), args[0])
		}
		*dst = args[0]
		return nil
	}
}

func flagOption(dst *bool) option {
	return func(d *caddyfile.Dispenser, name string, args []string) error {
		if len(args) != 0 {
			return d.Errf("%s takes no value", name)
		}
		*dst = true
		return nil
	}
}

func listOption(dst *[]string) option {
	return func(d *caddyfile.Dispenser, name string, args []string) error {
		if len(args) == 0 {
			return d.Errf("%s takes at least one value", name)
		}
		*dst = args
		return nil
	}
}
