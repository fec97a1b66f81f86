package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/caddy-antom/caddy-antom/antom"
	"github.com/caddy-antom/caddy-antom/delivery"
	"github.com/caddy-antom/caddy-antom/internal/teststore"
	"github.com/caddy-antom/caddy-antom/outbox"
	"github.com/caddy-antom/caddy-antom/outbox/sqlstore"
)

// scripted answers API calls from a function, without HTTP.
type scripted struct {
	mu     sync.Mutex
	answer func(api string, n int) (*antom.Response, error)
	calls  []string
}

func (s *scripted) Call(_ context.Context, api string, _ []byte) (*antom.Response, error) {
	s.mu.Lock()
	s.calls = append(s.calls, api)
	n := len(s.calls)
	s.mu.Unlock()
	return s.answer(api, n)
}

func (s *scripted) count(api string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := 0
	for _, a := range s.calls {
		if a == "v1/payments/"+api {
			c++
		}
	}
	return c
}

func response(body string) *antom.Response {
	r, err := antom.ParseResult([]byte(body))
	if err != nil {
		panic(err)
	}
	return &antom.Response{StatusCode: 200, Body: []byte(body), Result: r, Signed: r.ResultStatus == "S" || strings.Contains(body, "signed")}
}

// unitEnv is a store and a worker whose calls go to a scripted Caller.
type unitEnv struct {
	t      *testing.T
	clock  *clock
	store  *sqlstore.Store
	caller *scripted
	worker *Worker
	by     map[string]string
	acts   []*outbox.Activity // what Options.Record got
}

func newUnitEnv(t *testing.T, cfg Config, answer func(api string, n int) (*antom.Response, error)) *unitEnv {
	u := &unitEnv{t: t, clock: newClock(), caller: &scripted{answer: answer}, by: map[string]string{},
		store: teststore.SQLite(t)}
	var mu sync.Mutex
	u.worker = New(u.store, Options{
		Profile: func(string) (Profile, bool) { return Profile{Client: u.caller, Config: cfg}, true },
		Route:   func(string) (delivery.Route, error) { return delivery.Route{ID: "rt_0123456789abcdef"}, nil },
		Now:     u.clock.Now,
		Log:     zaptest.NewLogger(t),
		OnFinished: func(p *outbox.Payment, by string) {
			mu.Lock()
			u.by[p.ID] = by
			mu.Unlock()
		},
		Record: func(a *outbox.Activity) {
			mu.Lock()
			u.acts = append(u.acts, a)
			mu.Unlock()
		},
	})
	return u
}

func (u *unitEnv) add(expiresIn time.Duration) *outbox.Payment {
	now := u.clock.Now()
	p := &outbox.Payment{Profile: testProfile, PaymentRequestID: "req-unit", Amount: outbox.Amount{Currency: "USD", Value: "990"},
		CreatedAt: now, NextInquiry: now.Add(DefaultAfter)}
	if expiresIn > 0 {
		p.ExpiresAt = now.Add(expiresIn)
	}
	if _, err := u.store.AddPayment(context.Background(), p); err != nil {
		u.t.Fatal(err)
	}
	return p
}

func (u *unitEnv) runUntilDone(id string, max int) *outbox.Payment {
	u.t.Helper()
	for i := 0; i < max; i++ {
		p, err := u.store.GetPayment(context.Background(), id)
		if err != nil {
			u.t.Fatal(err)
		}
		if p.State == outbox.StateDone {
			return p
		}
		u.clock.Set(p.NextInquiry)
		if _, err := u.worker.RunOnce(context.Background()); err != nil {
			u.t.Fatal(err)
		}
	}
	u.t.Fatalf("payment not done after %d steps", max)
	return nil
}

// An unclear status is never cancelled, even with cancel_unpaid after expiry: network errors,
// U answers (even one that says PROCESSING), refusals. After give_up the payment is given up
// with nothing delivered to the app.
func TestUnclearStatusNeverCancelled(t *testing.T) {
	answers := []func() (*antom.Response, error){
		func() (*antom.Response, error) {
			return nil, &antom.CallError{Kind: antom.Unknown, Err: errors.New("context deadline exceeded")}
		},
		func() (*antom.Response, error) {
			return response(`{"result":{"resultCode":"UNKNOWN_EXCEPTION","resultStatus":"U","resultMessage":"x"},"paymentStatus":"PROCESSING"}`), nil
		},
		func() (*antom.Response, error) {
			return response(`{"result":{"resultCode":"REQUEST_TRAFFIC_EXCEED_LIMIT","resultStatus":"U","resultMessage":"x"}}`), nil
		},
		func() (*antom.Response, error) {
			return response(`{"result":{"resultCode":"ACCESS_DENIED","resultStatus":"F","resultMessage":"x"}}`), nil
		},
		func() (*antom.Response, error) {
			return nil, &antom.CallError{Kind: antom.BadResponse, Err: errors.New("bad signature")}
		},
	}
	u := newUnitEnv(t, Config{CancelUnpaid: true, GiveUp: time.Hour}, func(api string, n int) (*antom.Response, error) {
		return answers[n%len(answers)]()
	})
	p := u.add(10 * time.Minute)
	done := u.runUntilDone(p.ID, 500)
	if done.FinalStatus != FinalUnknown || u.by[p.ID] != ByGiveUp {
		t.Fatalf("payment %+v by %q", done, u.by[p.ID])
	}
	if c := u.caller.count("cancel"); c != 0 {
		t.Errorf("cancel called %d times on an unclear status", c)
	}
	if got := u.clock.Now().Sub(p.CreatedAt); got != time.Hour {
		t.Errorf("gave up after %s, want exactly give_up (one last inquiry then)", got)
	}
	evs, _ := u.store.List(context.Background(), outbox.StatePending, 0)
	if len(evs) != 0 {
		t.Errorf("events %+v: nothing may be delivered for an unknown result", evs)
	}
}

// A cancel that gets no clear answer is retried at the next inquiry, and cancel is called only
// for PROCESSING in a signed SUCCESS answer.
func TestCancelRetriedAfterUnclearCancel(t *testing.T) {
	cancels := 0
	processing := `{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"},"paymentStatus":"PROCESSING","paymentRequestId":"req-unit","paymentId":"P1"}`
	cancelled := `{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"},"paymentStatus":"CANCELLED","paymentResultCode":"ORDER_IS_CLOSED","paymentResultMessage":"closed","paymentRequestId":"req-unit","paymentId":"P1","paymentAmount":{"currency":"USD","value":"990"},"paymentCreateTime":"2026-07-01T12:00:00+00:00"}`
	u := newUnitEnv(t, Config{CancelUnpaid: true}, func(api string, n int) (*antom.Response, error) {
		if strings.HasSuffix(api, "/cancel") {
			cancels++
			if cancels == 1 {
				return nil, &antom.CallError{Kind: antom.Unknown, Err: errors.New("timeout")}
			}
			return response(`{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"}}`), nil
		}
		if cancels >= 2 {
			return response(cancelled), nil
		}
		return response(processing), nil
	})
	p := u.add(2 * time.Minute)
	done := u.runUntilDone(p.ID, 100)
	if done.FinalStatus != StatusCancelled || cancels != 2 {
		t.Fatalf("final %q after %d cancels", done.FinalStatus, cancels)
	}
	evs, _ := u.store.List(context.Background(), outbox.StatePending, 0)
	if len(evs) != 1 || evs[0].ID != outbox.EventID(testProfile, antom.PaymentResultDedupKey("P1")) {
		t.Fatalf("events %+v", evs)
	}
	want := `{"notifyType":"PAYMENT_RESULT","result":{"resultCode":"ORDER_IS_CLOSED","resultStatus":"F","resultMessage":"closed"},"paymentRequestId":"req-unit","paymentId":"P1","paymentAmount":{"currency":"USD","value":"990"},"paymentCreateTime":"2026-07-01T12:00:00+00:00"}`
	if string(evs[0].Body) != want {
		t.Errorf("body\n got %s\nwant %s", evs[0].Body, want)
	}

	// Every call went into the payment's timeline, in order, with its result and latency.
	var calls, gateway []string
	for _, a := range u.acts {
		calls = append(calls, a.What+" "+a.Result)
		if a.API == "" || a.Profile != testProfile || a.IDs["paymentRequestId"] != "req-unit" || a.IDs["paymentId"] != "P1" || a.Latency <= 0 {
			t.Errorf("activity %+v", a)
		}
		gateway = append(gateway, a.API)
	}
	if len(u.acts) != len(u.caller.calls) || fmt.Sprint(gateway) != fmt.Sprint(u.caller.calls) {
		t.Fatalf("recorded calls %v, made %v", gateway, u.caller.calls)
	}
	if last := calls[len(calls)-3:]; fmt.Sprint(last) != "[inquiry_call inquiry: PROCESSING api_call cancelled inquiry_call inquiry: CANCELLED (ORDER_IS_CLOSED)]" {
		t.Errorf("the last calls recorded are %q", last)
	}
}

// ORDER_NOT_EXIST is unclear until well after the expiry (a session the buyer never used has
// no order at Antom); then the app learns the payment expired unpaid.
func TestNotExistAfterExpiry(t *testing.T) {
	u := newUnitEnv(t, Config{}, func(api string, n int) (*antom.Response, error) {
		return response(`{"result":{"resultCode":"ORDER_NOT_EXIST","resultStatus":"F","resultMessage":"The order does not exist."}}`), nil
	})
	p := u.add(DefaultCashierExpiry)
	done := u.runUntilDone(p.ID, 100)
	if done.FinalStatus != FinalExpired || u.by[p.ID] != ByInquiry {
		t.Fatalf("payment %+v", done)
	}
	if got, want := u.clock.Now(), p.ExpiresAt.Add(NotExistGrace); !got.Equal(want) {
		t.Errorf("concluded at %v, want %v", got, want)
	}
	evs, _ := u.store.List(context.Background(), outbox.StatePending, 0)
	if len(evs) != 1 {
		t.Fatalf("events %+v", evs)
	}
	n, err := antom.ParseNotification(evs[0].Body)
	if err != nil || n.DedupKey != evs[0].DedupKey || n.ResultStatus != "F" || n.RequestID != "req-unit" || n.Kind != antom.KindPayment {
		t.Errorf("event body parses as %+v (%v), event %+v", n, err, evs[0])
	}
	if !strings.Contains(string(evs[0].Body), `"paymentAmount":{"currency":"USD","value":"990"}`) {
		t.Errorf("body %s", evs[0].Body)
	}
}

// An answer about another payment is never delivered.
func TestAnswerAboutAnotherPaymentIgnored(t *testing.T) {
	u := newUnitEnv(t, Config{GiveUp: time.Minute}, func(api string, n int) (*antom.Response, error) {
		return response(`{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"},"paymentStatus":"SUCCESS","paymentRequestId":"someone-else","paymentId":"P9"}`), nil
	})
	p := u.add(0)
	done := u.runUntilDone(p.ID, 100)
	if done.FinalStatus != FinalUnknown {
		t.Fatalf("payment %+v", done)
	}
	if evs, _ := u.store.List(context.Background(), outbox.StatePending, 0); len(evs) != 0 {
		t.Errorf("events %+v", evs)
	}
}

func TestBackoff(t *testing.T) {
	want := []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second,
		64 * time.Second, 128 * time.Second, 256 * time.Second, 5 * time.Minute, 5 * time.Minute}
	for i, w := range want {
		if got := backoff(i + 1); got != w {
			t.Errorf("backoff(%d) = %s, want %s", i+1, got, w)
		}
	}
	if got := backoff(1000); got != MaxInterval {
		t.Errorf("backoff(1000) = %s", got)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Error(err)
	}
	if err := (Config{After: time.Hour, GiveUp: time.Minute}).Validate(); err == nil {
		t.Error("give_up shorter than after accepted")
	}
	if c := (Config{}).WithDefaults(); c.After != DefaultAfter || c.GiveUp != DefaultGiveUp {
		t.Errorf("defaults %+v", c)
	}
}

// Started records every payment Antom did not refuse, the unclear ones included, with the
// expiry the call names or the documented default.
func TestStarted(t *testing.T) {
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	ok := `{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"}`
	inProcess := `{"result":{"resultCode":"PAYMENT_IN_PROCESS","resultStatus":"U","resultMessage":"payment in process"}`
	signed := func(body string) *antom.Response { r := response(body); r.Signed = true; return r }
	unsigned := func(body string) *antom.Response { r := response(body); r.Signed = false; return r }
	cashier := `{"productCode":"CASHIER_PAYMENT","paymentRequestId":"r1","paymentAmount":{"currency":"USD","value":"100"}}`
	tests := []struct {
		name    string
		api     string
		req     string
		resp    *antom.Response
		record  bool
		payID   string
		expires time.Time
	}{
		{"pay in process", "pay", cashier, signed(inProcess + `,"paymentId":"P1"}`), true, "P1", now.Add(14 * time.Minute)},
		{"pay success (token)", "pay", `{"productCode":"AGREEMENT_PAYMENT","paymentRequestId":"r1","paymentMethod":{"paymentMethodId":"tok"}}`,
			signed(ok + `,"paymentId":"P2"}`), true, "P2", time.Time{}},
		{"pay explicit expiry", "pay", `{"productCode":"CASHIER_PAYMENT","paymentRequestId":"r1","paymentExpiryTime":"2026-07-01T20:05:00+08:00"}`,
			signed(inProcess + `}`), true, "", now.Add(5 * time.Minute)},
		{"pay refused", "pay", cashier, signed(`{"result":{"resultCode":"PROCESS_FAIL","resultStatus":"F","resultMessage":"x"}}`), false, "", time.Time{}},
		{"pay unknown", "pay", cashier, signed(`{"result":{"resultCode":"UNKNOWN_EXCEPTION","resultStatus":"U","resultMessage":"x"}}`), true, "", now.Add(14 * time.Minute)},
		{"pay unsigned unknown", "pay", cashier, unsigned(`{"result":{"resultCode":"UNKNOWN_EXCEPTION","resultStatus":"U","resultMessage":"x"}}`), true, "", now.Add(14 * time.Minute)},
		{"pay unsigned answer's paymentId is not believed", "pay", cashier, unsigned(inProcess + `,"paymentId":"P9"}`), true, "", now.Add(14 * time.Minute)},
		{"pay timed out", "pay", cashier, nil, true, "", now.Add(14 * time.Minute)},
		{"session timed out", "createPaymentSession", cashier, nil, true, "", now.Add(14 * time.Minute)},
		{"unsigned refusal", "pay", cashier, unsigned(`{"result":{"resultCode":"INVALID_SIGNATURE","resultStatus":"F","resultMessage":"x"}}`), false, "", time.Time{}},
		{"session default", "createPaymentSession", cashier, signed(ok + `,"paymentSessionId":"s"}`), true, "", now.Add(14 * time.Minute)},
		{"session answer expiry", "createPaymentSession", cashier,
			signed(ok + `,"paymentSessionExpiryTime":"2026-07-01T12:03:00Z"}`), true, "", now.Add(3 * time.Minute)},
		{"session request expiry", "createPaymentSession",
			`{"productCode":"CASHIER_PAYMENT","paymentRequestId":"r1","paymentSessionExpiryTime":"2026-07-01T12:07:00Z"}`, signed(ok + `}`), true, "", now.Add(7 * time.Minute)},
		{"easysafepay session", "createPaymentSession", `{"productCode":"AGREEMENT_PAYMENT","productScene":"EASY_PAY","paymentRequestId":"r1"}`,
			signed(ok + `}`), true, "", now.Add(time.Hour)},
		{"session refused", "createPaymentSession", cashier, signed(`{"result":{"resultCode":"PARAM_ILLEGAL","resultStatus":"F","resultMessage":"x"}}`), false, "", time.Time{}},
		{"other api", "refund", cashier, signed(ok + `}`), false, "", time.Time{}},
		{"no request id", "pay", `{"productCode":"CASHIER_PAYMENT"}`, signed(inProcess + `}`), false, "", time.Time{}},
		{"unknown product", "pay", `{"productCode":"IN_STORE_PAYMENT","paymentRequestId":"r1"}`, signed(inProcess + `}`), true, "", time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := Started("shop", tc.api, []byte(tc.req), tc.resp, now, Config{After: 10 * time.Second})
			if (p != nil) != tc.record {
				t.Fatalf("recorded = %v, want %v", p != nil, tc.record)
			}
			if p == nil {
				return
			}
			if p.Profile != "shop" || p.PaymentRequestID != "r1" || p.PaymentID != tc.payID || !p.CreatedAt.Equal(now) ||
				!p.NextInquiry.Equal(now.Add(10*time.Second)) || !p.ExpiresAt.Equal(tc.expires) {
				t.Errorf("payment %+v", p)
			}
		})
	}
}

// resultBody keeps the answer's fields a notification has, in order, byte for byte, and drops
// the inquiry-only ones.
func TestResultBody(t *testing.T) {
	answer := `{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"Success"},"paymentStatus":"SUCCESS","paymentResultCode":"SUCCESS",` +
		`"paymentRequestId":"r<1>&","paymentId":"P1","paymentAmount":{"value":"4200","currency":"SGD"},"paymentCreateTime":"2024-01-01T00:00:00+08:00",` +
		`"paymentTime":"2024-01-01T00:01:00+08:00","paymentMethodType":"SHOPEEPAY_SG","transactions":[{"transactionType":"REFUND"}]}`
	body, res, err := resultBody([]byte(answer), inquiry{PaymentStatus: "SUCCESS", PaymentResultCode: "SUCCESS"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"notifyType":"PAYMENT_RESULT","result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"},"paymentRequestId":"r<1>&","paymentId":"P1",` +
		`"paymentAmount":{"value":"4200","currency":"SGD"},"paymentCreateTime":"2024-01-01T00:00:00+08:00","paymentTime":"2024-01-01T00:01:00+08:00","paymentMethodType":"SHOPEEPAY_SG"}`
	if string(body) != want || res.ResultStatus != "S" {
		t.Errorf("body\n got %s\nwant %s", body, want)
	}
	if _, _, err := resultBody([]byte(`[1]`), inquiry{PaymentStatus: "FAIL"}); err == nil {
		t.Error("a non-object answer was accepted")
	}
	r := notificationResult(inquiry{PaymentStatus: "FAIL"})
	if r.ResultCode != "PROCESS_FAIL" || r.ResultStatus != "F" || r.ResultMessage == "" {
		t.Errorf("FAIL without a code: %+v", r)
	}
}
