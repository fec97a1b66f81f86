package handlers

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestAPIUnmarshalCaddyfile(t *testing.T) {
	good := []struct {
		name, input string
		want        API
	}{
		{"no block", `antom_api`, API{}},
		{"options", `antom_api {
			profile    shop
			allow      pay inquiryPayment payments/refund
			notify_url https://shop.example/antom/notify
			timeout    20s
			max_body   64KiB
			read_timeout 4s
		}`, API{Profile: "shop", Allow: []string{"pay", "inquiryPayment", "payments/refund"},
			NotifyURL: "https://shop.example/antom/notify", Timeout: caddy.Duration(20 * time.Second), MaxBody: 64 << 10,
			ReadTimeout: caddy.Duration(4 * time.Second)}},
		{"trusted clients", "antom_api {\n\ttrusted_clients 10.0.0.0/8 172.16.0.0/12 192.168.1.20 ::1\n}",
			API{TrustedClients: []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.1.20", "::1"}}},
		{"bare reconcile", "antom_api {\n\treconcile\n}", API{Reconcile: &ReconcileConfig{}}},
		{"empty reconcile block", "antom_api {\n\treconcile {\n\t}\n}", API{Reconcile: &ReconcileConfig{}}},
		{"reconcile block", `antom_api {
			profile shop
			reconcile {
				after   45s
				give_up 12h
				cancel_unpaid
			}
			timeout 10s
		}`, API{Profile: "shop", Timeout: caddy.Duration(10 * time.Second), Reconcile: &ReconcileConfig{
			After: caddy.Duration(45 * time.Second), GiveUp: caddy.Duration(12 * time.Hour), CancelUnpaid: true}}},
		{"reconcile partial", "antom_api {\n\treconcile {\n\t\tgive_up 2h\n\t}\n}",
			API{Reconcile: &ReconcileConfig{GiveUp: caddy.Duration(2 * time.Hour)}}},
		{"reconcile days", "antom_api {\n\treconcile {\n\t\tgive_up 2d\n\t}\n}",
			API{Reconcile: &ReconcileConfig{GiveUp: caddy.Duration(48 * time.Hour)}}},
	}
	for _, c := range good {
		t.Run(c.name, func(t *testing.T) {
			var got API
			if err := got.UnmarshalCaddyfile(caddyfile.NewTestDispenser(c.input)); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}

	bad := []struct {
		name, input, wantErr string
	}{
		{"unknown option", "antom_api {\n\tprofiles a\n}", "unrecognized antom_api option 'profiles'"},
		{"reconcile value", "antom_api {\n\treconcile on\n}", "reconcile takes no value"},
		{"reconcile twice", "antom_api {\n\treconcile\n\treconcile\n}", "'reconcile' is given twice"},
		{"unknown reconcile option", "antom_api {\n\treconcile {\n\t\tevery 2s\n\t}\n}", "unrecognized reconcile option 'every'"},
		{"after not a duration", "antom_api {\n\treconcile {\n\t\tafter soon\n\t}\n}", "after: 'soon' is not a positive duration"},
		{"after without value", "antom_api {\n\treconcile {\n\t\tafter\n\t}\n}", "after takes exactly one value"},
		{"give_up negative", "antom_api {\n\treconcile {\n\t\tgive_up -1h\n\t}\n}", "give_up: '-1h'"},
		{"cancel_unpaid value", "antom_api {\n\treconcile {\n\t\tcancel_unpaid yes\n\t}\n}", "cancel_unpaid takes no value"},
		{"give_up before after", "antom_api {\n\treconcile {\n\t\tafter 2h\n\t\tgive_up 1h\n\t}\n}", "give_up (1h0m0s) must be longer than after (2h0m0s)"},
		{"trusted_clients without a value", "antom_api {\n\ttrusted_clients\n}", "trusted_clients takes at least one value"},
		{"trusted_clients not an address", "antom_api {\n\ttrusted_clients 10.0.0.0/8 app-server\n}",
			`trusted_clients: "app-server" is not an IP address or CIDR range such as 10.1.2.3 or 10.0.0.0/8`},
		{"trusted_clients bad mask", "antom_api {\n\ttrusted_clients 10.0.0.0/33\n}", `"10.0.0.0/33" is not an IP address or CIDR range`},
		{"trusted_clients everyone", "antom_api {\n\ttrusted_clients 0.0.0.0/0\n}", `"0.0.0.0/0" admits every address`},
		{"trusted_clients everyone (IPv6)", "antom_api {\n\ttrusted_clients ::/0\n}", `"::/0" admits every address`},
		{"trusted_clients twice", "antom_api {\n\ttrusted_clients ::1\n\ttrusted_clients 127.0.0.1\n}", "'trusted_clients' is given twice"},
		{"read_timeout not a duration", "antom_api {\n\tread_timeout slow\n}", "read_timeout: 'slow' is not a positive duration"},
		{"read_timeout without value", "antom_api {\n\tread_timeout\n}", "read_timeout takes exactly one value"},
		{"read_timeout twice", "antom_api {\n\tread_timeout 1s\n\tread_timeout 2s\n}", "'read_timeout' is given twice"},
		{"after twice", "antom_api {\n\treconcile {\n\t\tafter 1s\n\t\tafter 2s\n\t}\n}", "'after' is given twice"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			var got API
			err := got.UnmarshalCaddyfile(caddyfile.NewTestDispenser(c.input))
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, c.wantErr)
			}
		})
	}
}

// The options after a reconcile block still belong to antom_api, and the next directive is
// not swallowed.
func TestAPIUnmarshalCaddyfileNesting(t *testing.T) {
	d := caddyfile.NewTestDispenser(`antom_api {
		reconcile {
			cancel_unpaid
		}
		profile shop
	}
	respond 404`)
	var got API
	if err := got.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if got.Profile != "shop" || got.Reconcile == nil || !got.Reconcile.CancelUnpaid {
		t.Fatalf("got %+v", got)
	}
	if !d.Next() || d.Val() != "respond" {
		t.Fatalf("next token %q, want respond", d.Val())
	}
}
