package held

import (
	"testing"
	"time"
)

func TestSet(t *testing.T) {
	var s Set
	t0 := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	if s.Waiting("a", t0) || s.Attempts("a") != 0 {
		t.Fatal("an empty set holds something")
	}
	if again := s.Hold("a", 1, t0.Add(time.Second)); again {
		t.Fatal("first Hold reported again")
	}
	if !s.Waiting("a", t0) || s.Waiting("a", t0.Add(time.Second)) || s.Attempts("a") != 1 || !s.Until("a").Equal(t0.Add(time.Second)) {
		t.Fatal("held until its next attempt, with its attempts")
	}
	if again := s.Hold("a", 2, t0.Add(3*time.Second)); !again || s.Attempts("a") != 2 {
		t.Fatal("a repeated Hold")
	}
	s.Hold("b", 1, t0)
	s.Forget(t0.Add(time.Second))
	if s.Attempts("b") != 0 || s.Attempts("a") != 2 {
		t.Fatal("Forget drops only what is past")
	}
	s.Release("a")
	if s.Waiting("a", t0) || s.Attempts("a") != 0 || !s.Until("a").IsZero() {
		t.Fatal("Release")
	}
}
