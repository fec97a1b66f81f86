package outbox

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// newest picks the same hits, in the same order, as sorting them all.
func TestNewestIsTheSortedHead(t *testing.T) {
	base := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	var hits []hit
	for i := range 500 {
		// Many share a time, so the id decides among them.
		hits = append(hits, hit{id: EventID("p", fmt.Sprint(i)), st: StatePending, at: base.Add(time.Duration(i*7919%97) * time.Second)})
	}
	sorted := slices.Clone(hits)
	slices.SortFunc(sorted, hit.newerFirst)
	for _, n := range []int{1, 2, 51, 499, 500, 600} {
		if got, want := newest(hits, n), sorted[:min(n, len(sorted))]; !slices.Equal(got, want) {
			t.Fatalf("newest(hits, %d) differs from the sorted head", n)
		}
	}
}
