// Package metrics holds what the packages that define Prometheus collectors share.
package metrics

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Register adds collectors to a config's registry. Caddy makes a new registry on every config
// load, so every Provision registers again; a collector already there is not an error.
func Register(reg *prometheus.Registry, log *zap.Logger, collectors ...prometheus.Collector) {
	if reg == nil {
		return
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				log.Warn("registering metrics", zap.Error(err))
			}
		}
	}
}
