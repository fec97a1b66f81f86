package outbox_test

import (
	"testing"

	"github.com/caddyserver/certmagic"

	"github.com/caddy-antom/caddy-antom/outbox"
	"github.com/caddy-antom/caddy-antom/outbox/storetest"
)

func TestContractCaddyStorage(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (outbox.EventStore, func() outbox.EventStore) {
		fs := &certmagic.FileStorage{Path: t.TempDir()}
		return outbox.New(fs), func() outbox.EventStore { return outbox.New(fs) }
	})
}
