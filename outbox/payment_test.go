package outbox

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestPayments(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

	p := &Payment{
		Profile:          "shop",
		PaymentRequestID: "order-1",
		Amount:           Amount{Currency: "SGD", Value: "1050"},
		CreatedAt:        t0,
		ExpiresAt:        t0.Add(15 * time.Minute),
		NextInquiry:      t0.Add(time.Minute),
		Route:            "rt_0123456789abcdef",
	}
	added, err := s.AddPayment(ctx, p)
	if err != nil || !added {
		t.Fatal(added, err)
	}
	if p.ID != PaymentRecordID("shop", "order-1") || !ValidPaymentRecordID(p.ID) || ValidEventID(p.ID) {
		t.Fatalf("id %q", p.ID)
	}
	if added, _ := s.AddPayment(ctx, &Payment{Profile: "shop", PaymentRequestID: "order-1"}); added {
		t.Fatal("duplicate payment added")
	}
	later := &Payment{Profile: "shop", PaymentRequestID: "order-2", CreatedAt: t0, NextInquiry: t0.Add(time.Hour)}
	s.AddPayment(ctx, later)

	if due, _ := s.DuePayments(ctx, t0, 10); len(due) != 0 {
		t.Fatal("due too early")
	}
	due, err := s.DuePayments(ctx, t0.Add(2*time.Minute), 10)
	if err != nil || len(due) != 1 || due[0].ID != p.ID || due[0].Amount.Value != "1050" {
		t.Fatalf("DuePayments = %+v, %v", due, err)
	}

	due[0].Attempts = 1
	due[0].LastResult = "PROCESSING"
	due[0].NextInquiry = t0.Add(3 * time.Minute)
	if err := s.UpdatePayment(ctx, due[0]); err != nil {
		t.Fatal(err)
	}
	got, _ := s.GetPayment(ctx, p.ID)
	if got.Attempts != 1 || got.LastResult != "PROCESSING" || got.State != StatePending {
		t.Fatalf("after update: %+v", got)
	}

	if n, err := s.CountPayments(ctx, StatePending); err != nil || n != 2 {
		t.Fatalf("CountPayments(pending) = %d, %v; want 2", n, err)
	}
	if err := s.FinishPayment(ctx, got, "SUCCESS"); err != nil {
		t.Fatal(err)
	}
	for state, want := range map[State]int{StatePending: 1, StateDone: 1} {
		if n, err := s.CountPayments(ctx, state); err != nil || n != want {
			t.Fatalf("CountPayments(%s) = %d, %v; want %d", state, n, err, want)
		}
	}
	got, _ = s.GetPayment(ctx, p.ID)
	if got.State != StateDone || got.FinalStatus != "SUCCESS" {
		t.Fatalf("after finish: %+v", got)
	}
	// A late update does not resurrect a finished payment.
	got.State = StatePending
	s.UpdatePayment(ctx, got)
	if ps, _ := s.ListPayments(ctx, StatePending, 0); len(ps) != 1 || ps[0].ID != later.ID {
		t.Fatalf("pending list: %v", ps)
	}
	if ps, _ := s.ListPayments(ctx, StateDone, 0); len(ps) != 1 {
		t.Fatalf("done list: %v", ps)
	}
	if added, _ := s.AddPayment(ctx, &Payment{Profile: "shop", PaymentRequestID: "order-1"}); added {
		t.Fatal("finished payment re-added")
	}
	if _, err := s.GetPayment(ctx, PaymentRecordID("shop", "nope")); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := s.GetPayment(ctx, "pay_/../x"); !errors.Is(err, ErrInvalidID) {
		t.Fatal(err)
	}
}
