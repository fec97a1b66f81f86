# Convenience targets; the scripts are the source of truth.
.PHONY: build test e2e ci clean

build: ## bin/caddy with this module, through xcaddy (skipped when fresh; FORCE=1 rebuilds)
	./scripts/build-caddy.sh

test: ## gofmt, go vet, build, go test -race ./..., smoke checks
	./scripts/test.sh

e2e: build ## only the e2e tests against bin/caddy, uncached
	CADDY_BIN=$(CURDIR)/bin/caddy go test -count=1 -timeout 20m ./e2e/

ci: ## what CI runs (installs php-cli, chromium, npm packages; needs root)
	bash .ci/run

clean:
	rm -rf bin
