package handlers

import (
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/caddy-antom/caddy-antom/antom"
)

func TestParseAPIPath(t *testing.T) {
	good := map[string]struct {
		api     string
		sandbox string // "", "production", "sandbox"
	}{
		"/antom/v1/payments/pay":                          {"v1/payments/pay", ""},
		"/v1/payments/createPaymentSession":               {"v1/payments/createPaymentSession", ""},
		"/ams/api/v1/payments/inquiryPayment":             {"v1/payments/inquiryPayment", "production"},
		"/ams/sandbox/api/v1/authorizations/applyToken":   {"v1/authorizations/applyToken", "sandbox"},
		"/shop-1.2/antom_x~/v1/vaults/vaultPaymentMethod": {"v1/vaults/vaultPaymentMethod", ""},
		"/x/ams/api/v1/payments/pay":                      {"v1/payments/pay", ""},
	}
	for target, want := range good {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			t.Fatal(err)
		}
		call, err := parseAPIPath(u)
		if err != nil {
			t.Errorf("%s: %v", target, err)
			continue
		}
		env := ""
		if call.sandbox != nil {
			env = envName(*call.sandbox)
		}
		if call.api != want.api || env != want.sandbox || call.api != "v1/"+call.group+"/"+call.name {
			t.Errorf("%s: got %+v (%s), want %s %s", target, call, env, want.api, want.sandbox)
		}
	}

	for _, target := range []string{
		"/", "/v1", "/v1/payments", "/payments/pay", "v1/payments/pay", "/antom/v1/payments/pay/",
		"/antom/v1/refund%3F/inquiryPayment", "/antom/v1/../inquiryPayment", "/antom/v1/./inquiryPayment",
		"/antom/v1/%2e%2E/inquiryPayment", "/antom/v1/..%5C..%5Cpayments%5Crefund%3F/inquiryPayment",
		`/antom/v1/..\..\payments\refund/inquiryPayment`, "/antom/v1/payments%2Frefund%3F/inquiryPayment",
		"/antom/v1/payments%252Frefund/inquiryPayment", "/antom/v1/payments/refund%2F..%2FinquiryPayment",
		"/antom/v1/payments;refund/inquiryPayment", "/antom/v1/payments/inquiryPayment?paymentId=1",
		"/antom/v1/payments/inquiryPayment?", "/antom/v1/payments//inquiryPayment", "/antom/v1//inquiryPayment",
		"/antom/v1/payments/inquiry%50ayment", "/antom/v1/payments/inquiryPayment%00", "/antom/v1/pay%20ments/pay",
		"/antom/v1/1payments/pay", "/antom/v1/payments/_pay", "/antom/v1/payments/pay-x", "/antom/v2/payments/pay",
		"/antom/V1/payments/pay", "/antom/v01/payments/pay", "//v1/payments/pay", "/a//v1/payments/pay",
		"/ams/sandbox/api/../../ams/api/v1/payments/pay", "/ams/api/%2e%2e/sandbox/api/v1/payments/pay",
		"/antom%2Fv1/v1/payments/pay", "/antom/./v1/payments/pay", "/antom/v1/payments/pa%C3%BF",
	} {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			continue // not even a request target: the server refuses it before antom_api
		}
		if call, err := parseAPIPath(u); err == nil {
			t.Errorf("%s: accepted as %+v", target, call)
		} else if !strings.Contains(err.Error(), "/v1/<group>/<api>") {
			t.Errorf("%s: error %q does not say what a path must be", target, err)
		}
	}
}

func TestValidAllowEntry(t *testing.T) {
	for entry, want := range map[string]bool{
		"refund": true, "payments/refund": true, "authorizations/applyToken": true, "v1": true,
		"": false, "payments/": false, "/refund": false, "payments/refund/x": false, "payments/../refund": false,
		"refund?": false, "pay ment": false, "payments/re-fund": false, "*": false,
	} {
		if got := validAllowEntry(entry); got != want {
			t.Errorf("validAllowEntry(%q) = %v, want %v", entry, got, want)
		}
	}
}

// apiNamePattern is what the issue asks group and API names to be.
var apiNamePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*$`)

// FuzzParseAPIPath: whatever request target the parser accepts names an API whose group and name
// match the strict pattern, rebuilds to exactly /ams/api/v1/<group>/<api> (the sandbox variant
// for sandbox client ids), is the tail of the path as the app sent it, and is allowed exactly
// when an allow entry names those parts.
//
//	go test ./handlers -run='^$' -fuzz=FuzzParseAPIPath -fuzztime=30s
func FuzzParseAPIPath(f *testing.F) {
	for _, s := range []struct{ target, allow string }{
		{"/antom/v1/payments/pay", "pay"},
		{"/ams/api/v1/payments/refund", "payments/refund"},
		{"/ams/sandbox/api/v1/payments/inquiryPayment", "inquiryPayment"},
		{"/antom/v1/refund%3F/inquiryPayment", "inquiryPayment"},
		{"/antom/v1/../inquiryPayment", "inquiryPayment"},
		{"/antom/v1/..%5C..%5Cpayments%5Crefund?/inquiryPayment", "inquiryPayment"},
		{"/antom/v1/payments%2Frefund%3F/inquiryPayment", "payments/refund"},
		{"/antom/v1/payments/inquiryPayment?x=/v1/payments/refund", "refund"},
		{"/v1/payments/inquiry%50ayment", "inquiryPayment"},
	} {
		f.Add(s.target, s.allow)
	}
	f.Fuzz(func(t *testing.T, target, allow string) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		call, err := parseAPIPath(u)
		if err != nil {
			return
		}
		if !apiNamePattern.MatchString(call.group) || !apiNamePattern.MatchString(call.name) {
			t.Fatalf("%q: accepted group %q and name %q", target, call.group, call.name)
		}
		want := "/ams/api/v1/" + call.group + "/" + call.name
		if got := antom.GatewayPath("5X00000000000000", call.api); got != want {
			t.Fatalf("%q: rebuilds to %q, want %q", target, got, want)
		}
		if got := antom.GatewayPath("SANDBOX_5X00000000000000", call.api); got != "/ams/sandbox/api/v1/"+call.group+"/"+call.name {
			t.Fatalf("%q: sandbox path %q", target, got)
		}
		if u.RawQuery != "" || !strings.HasSuffix(u.EscapedPath(), "/v1/"+call.group+"/"+call.name) {
			t.Fatalf("%q: the API %s is not what the app's path names", target, call.api)
		}
		if got := call.allowedBy([]string{allow}); got != (allow == call.name || allow == call.group+"/"+call.name) {
			t.Fatalf("%q: allow %q gives %v for %s", target, allow, got, call.api)
		}
	})
}
