package handlers

import (
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestSimulatorUnmarshalCaddyfile(t *testing.T) {
	good := []struct {
		name, input string
		want        Simulator
	}{
		{"no block", `antom_simulator`, Simulator{}},
		{"empty block", "antom_simulator {\n}", Simulator{}},
		{"everything", `antom_simulator {
			private_key         {file./etc/antom/sim.pem}
			key_version         2
			merchant_public_key MIIBIjANBgkq TEST_5X00000000000000
			merchant_public_key {env.SANDBOX_MERCHANT_PUB} SANDBOX_5X00000000000000
			merchant_public_key MIIBIjANBgkqANY
			base_url            https://localhost:8443
			retry_scale         0.001
			drop_notifications
			easysafepay_notification TOKEN_CREATED
		}`, Simulator{
			PrivateKey: "{file./etc/antom/sim.pem}",
			KeyVersion: "2",
			Merchants: []SimulatorMerchant{
				{ClientID: "TEST_5X00000000000000", PublicKey: "MIIBIjANBgkq"},
				{ClientID: "SANDBOX_5X00000000000000", PublicKey: "{env.SANDBOX_MERCHANT_PUB}"},
				{PublicKey: "MIIBIjANBgkqANY"},
			},
			BaseURL:           "https://localhost:8443",
			RetryScale:        0.001,
			DropNotifications: true,

			EasySafePayNotification: "TOKEN_CREATED",
		}},
	}
	for _, c := range good {
		t.Run(c.name, func(t *testing.T) {
			var got Simulator
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
		{"unknown option", "antom_simulator {\n\tprivate_keys abc\n}", "unrecognized antom_simulator option 'private_keys'"},
		{"argument before block", "antom_simulator foo {\n}", "takes no arguments"},
		{"private_key without value", "antom_simulator {\n\tprivate_key\n}", "private_key takes exactly one value"},
		{"private_key twice", "antom_simulator {\n\tprivate_key a\n\tprivate_key b\n}", "'private_key' is given twice"},
		{"key_version not a number", "antom_simulator {\n\tkey_version one\n}", "key_version: 'one'"},
		{"key_version zero", "antom_simulator {\n\tkey_version 0\n}", "key_version: '0'"},
		{"merchant key without value", "antom_simulator {\n\tmerchant_public_key\n}", "merchant_public_key takes a public key and optionally a client id, got 0"},
		{"merchant key with three values", "antom_simulator {\n\tmerchant_public_key k id extra\n}", "got 3"},
		{"same merchant key twice", "antom_simulator {\n\tmerchant_public_key k id\n\tmerchant_public_key k id\n}", "given twice for client id 'id'"},
		{"retry_scale zero", "antom_simulator {\n\tretry_scale 0\n}", "retry_scale: '0' is not a positive number"},
		{"retry_scale text", "antom_simulator {\n\tretry_scale fast\n}", "retry_scale: 'fast'"},
		{"drop_notifications with value", "antom_simulator {\n\tdrop_notifications yes\n}", "drop_notifications takes no value"},
		{"easysafepay_notification unknown", "antom_simulator {\n\teasysafepay_notification TOKEN\n}", "easysafepay_notification: 'TOKEN' is not AUTHCODE_CREATED or TOKEN_CREATED"},
		{"base_url twice", "antom_simulator {\n\tbase_url a\n\tbase_url b\n}", "'base_url' is given twice"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			var got Simulator
			err := got.UnmarshalCaddyfile(caddyfile.NewTestDispenser(c.input))
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, c.wantErr)
			}
		})
	}
}
