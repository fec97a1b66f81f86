package outbox_test

import (
	"testing"

	"github.com/caddyserver/certmagic"

	"github.com/caddy-antom/caddy-antom/outbox"
	"github.com/caddy-antom/caddy-antom/outbox/storetest"
)

// BenchmarkSearch: searches on the file store with 100,000 events (BENCHMARKS.md).
//
//	go test -run '^$' -bench BenchmarkSearch -benchtime 5x ./outbox/
func BenchmarkSearch(b *testing.B) {
	s := outbox.New(&certmagic.FileStorage{Path: b.TempDir()})
	storetest.Seed(b, s, 100_000)
	storetest.BenchSearch(b, s, 100_000)
}
