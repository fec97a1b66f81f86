package sqlstore_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/caddy-antom/caddy-antom/outbox"
	"github.com/caddy-antom/caddy-antom/outbox/sqlstore"
	"github.com/caddy-antom/caddy-antom/outbox/storetest"
)

// EachActivity reads every activity at or after since, page after page, in id order, and
// passes over one that cannot be decoded: what copy-store copies.
func TestEachActivityPages(t *testing.T) {
	onBothEngines(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		since := time.Now().Add(-time.Hour)
		n := 2*sqlstore.ExportPage + 1
		storetest.Parallel(n+2, func(i int) {
			at := since.Add(time.Minute)
			if i >= n {
				at = since.Add(-time.Minute) // before since
			}
			a := &outbox.Activity{ID: fmt.Sprintf("act_%032x", i), At: at, What: outbox.ActivityAPICall,
				IDs: map[string]string{"paymentRequestId": fmt.Sprint("r", i)}}
			if err := s.AddActivity(ctx, a); err != nil {
				t.Error(err)
			}
		})
		broken := fmt.Sprintf("act_%032x", 7)
		if err := sqlstore.CorruptActivity(s, broken); err != nil {
			t.Fatal(err)
		}
		var got []string
		if err := s.EachActivity(ctx, since, func(a *outbox.Activity) error {
			got = append(got, a.ID)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		var want []string
		for i := range n {
			if id := fmt.Sprintf("act_%032x", i); id != broken {
				want = append(want, id)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("EachActivity gave %d activities (first %v), want the %d readable ones since the cutoff in id order",
				len(got), got[:min(3, len(got))], len(want))
		}
	})
}
