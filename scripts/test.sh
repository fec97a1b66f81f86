#!/usr/bin/env bash
# ./scripts/test.sh — the project's test command (CI runs it through .ci/run).
#
#   0. setup         scripts/setup.sh test: installs what the tests need when it is missing
#                    (php-cli, chromium, postgresql, the npm packages of e2e/node), saying what
#   1. gofmt         every .go file formatted (lists the ones that are not)
#   2. go vet -race ./...   (-race only so vet reuses the race build of the dependencies that
#                            go test -race needs anyway: a cold CI run saves ~6 minutes)
#   3. staticcheck   go tool staticcheck ./... (honnef.co/go/tools, a tool of go.mod)
#   4. build         bin/caddy through xcaddy (scripts/build-caddy.sh; skipped when fresh)
#   5. go test -race ./...   (the e2e package drives bin/caddy over loopback)
#   6. fuzz          each fuzzer of outside input runs briefly (FUZZTIME, default 10s each)
#   7. smoke         bin/caddy list-modules shows our module IDs;
#                    bin/caddy adapt --config examples/Caddyfile works without any secret in the env
#
# Every step runs even after a failure; the summary lists them and the last line is
#   test.sh: N passed, N failed, N skipped
# (go test's tests and subtests, plus one per other check). Exit status 0 only if all passed.
#
# Environment: GOTEST_FLAGS (extra `go test` flags, e.g. "-run TestWebhook -count=1"),
# GOTEST_PKGS (default ./...), GOTEST_TIMEOUT (default 20m), CADDY_BIN (test this binary instead
# of building bin/caddy), FORCE=1 (rebuild bin/caddy), FUZZTIME (per fuzzer; 0 skips the step),
# E2E_SCREENSHOTS (where the browser tests keep their screenshots, CI artefacts; default
# artifacts/screenshots).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

MODULE_IDS=(antom antom_store antom.stores.sqlite antom.stores.postgres http.handlers.antom_webhook http.handlers.antom_api http.handlers.antom_simulator http.handlers.antom_console admin.api.antom admin.api.antom_forwards)
EXAMPLE=examples/Caddyfile

passed=0 failed=0 skipped=0
summary=()
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

step() { printf '\n==> %s\n' "$*"; }
record() { # record STATUS NAME [DETAIL]
	local status=$1 name=$2 detail=${3:-}
	case $status in
	PASS) passed=$((passed + 1)) ;;
	FAIL) failed=$((failed + 1)) ;;
	SKIP) skipped=$((skipped + 1)) ;;
	esac
	summary+=("$(printf '%-5s %-40s %s' "$status" "$name" "$detail")")
}
elapsed() { echo "$(($(date +%s) - $1))s"; }

go_files() {
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git ls-files -z --cached --others --exclude-standard -- '*.go' | tr '\0' '\n'
	else
		find . -name '*.go' -not -path '*/node_modules/*' -not -path './.git/*'
	fi | grep -v '/node_modules/' | while IFS= read -r f; do if [ -f "$f" ]; then printf '%s\n' "$f"; fi; done
}

total_start=$(date +%s)

# 0. set-up: without it every later step would fail for a missing tool
step "setup: scripts/setup.sh test"
t=$(date +%s)
if ./scripts/setup.sh test; then
	record PASS setup "$(elapsed "$t")"
else
	record FAIL setup "$(elapsed "$t"); see above for what to install"
fi

# 1. gofmt
step "gofmt"
t=$(date +%s)
unformatted="$(go_files | xargs -r -d '\n' gofmt -l 2>&1 || true)"
if [ -z "$unformatted" ]; then
	echo "all $(go_files | wc -l) .go files are gofmt-formatted"
	record PASS gofmt "$(elapsed "$t")"
else
	echo "not gofmt-formatted (run: gofmt -w <file>):"
	printf '  %s\n' $unformatted
	record FAIL gofmt "$(printf '%s\n' "$unformatted" | wc -l) file(s)"
fi

# 2. go vet
step "go vet -race ./..."
t=$(date +%s)
if go vet -race ./...; then
	record PASS "go vet" "$(elapsed "$t")"
else
	record FAIL "go vet" "$(elapsed "$t")"
fi

# 3. staticcheck
step "staticcheck ./..."
t=$(date +%s)
if go tool staticcheck ./...; then
	record PASS staticcheck "$(elapsed "$t")"
else
	record FAIL staticcheck "$(elapsed "$t")"
fi

# 4. build the caddy binary through xcaddy
built=0
if [ -n "${CADDY_BIN:-}" ]; then
	step "build: using CADDY_BIN=$CADDY_BIN"
	if [ -x "$CADDY_BIN" ]; then built=1; record SKIP "build (xcaddy)" "CADDY_BIN given"; else record FAIL "build (xcaddy)" "CADDY_BIN=$CADDY_BIN is not executable"; fi
else
	CADDY_BIN="$ROOT/bin/caddy"
	step "build: scripts/build-caddy.sh $CADDY_BIN"
	t=$(date +%s)
	if ./scripts/build-caddy.sh "$CADDY_BIN"; then
		built=1
		record PASS "build (xcaddy)" "$(elapsed "$t")"
	else
		record FAIL "build (xcaddy)" "$(elapsed "$t"); see ${CADDY_BIN}.build.log"
	fi
fi
# The e2e package uses CADDY_BIN instead of building again. After a failed build it points at a
# missing file, and the e2e TestMain says so instead of retrying the build.
bin="$CADDY_BIN"
if [ "$built" = 1 ]; then export CADDY_BIN; else export CADDY_BIN="$work/caddy-build-failed"; fi

# 5. go test -race
export E2E_SCREENSHOTS="${E2E_SCREENSHOTS:-$ROOT/artifacts/screenshots}"
timeout="${GOTEST_TIMEOUT:-20m}"
pkgs="${GOTEST_PKGS:-./...}"
step "go test -race -timeout $timeout ${GOTEST_FLAGS:-} $pkgs"
t=$(date +%s)
if go build -o "$work/gotestsum" ./scripts/gotestsum.go; then
	set +e
	# shellcheck disable=SC2086 # word splitting of the flag lists is intended
	go test -race -timeout "$timeout" -json ${GOTEST_FLAGS:-} $pkgs 2>&1 | "$work/gotestsum" -counts "$work/counts"
	rc=("${PIPESTATUS[@]}")
	set -e
	read -r gp gf gs <"$work/counts" || { gp=0 gf=1 gs=0; }
	passed=$((passed + gp)) failed=$((failed + gf)) skipped=$((skipped + gs))
	if [ "${rc[0]}" -ne 0 ] && [ "$gf" -eq 0 ]; then
		failed=$((failed + 1)) gf=1 # go test failed without a failing test (should not happen)
	fi
	status=PASS
	[ "$gf" -eq 0 ] || status=FAIL
	summary+=("$(printf '%-5s %-40s %s' "$status" "go test -race" "$gp passed, $gf failed, $gs skipped; $(elapsed "$t")")")
else
	record FAIL "go test -race" "could not build scripts/gotestsum.go"
fi

# 6. fuzz: the parsers of outside input, briefly, from their seed corpora
fuzztime="${FUZZTIME:-10s}"
if [ "$fuzztime" != 0 ]; then
	# Every `func FuzzX` of the tree, as ./pkg:FuzzX.
	targets=$(go_files | grep '_test\.go$' | xargs -r -d '\n' grep -Ho '^func Fuzz[A-Za-z0-9_]*' |
		sed -E 's#^(\./)?(.*)/[^/]*:func (.*)$#./\2:\3#' | sort -u)
	for target in $targets; do
		pkg=${target%%:*} fuzz=${target#*:}
		step "fuzz: $fuzz ($pkg, $fuzztime)"
		t=$(date +%s)
		if go test -run='^$' -fuzz="^$fuzz\$" -fuzztime="$fuzztime" "$pkg" >"$work/fuzz.log" 2>&1; then
			tail -n 1 "$work/fuzz.log"
			record PASS "fuzz: $fuzz" "$(elapsed "$t")"
		else
			cat "$work/fuzz.log"
			record FAIL "fuzz: $fuzz" "$(elapsed "$t"); the failing input is under $pkg/testdata/fuzz/$fuzz"
		fi
	done
fi

# 7. smoke tests of the binary
step "smoke: $bin list-modules"
if [ "$built" = 1 ]; then
	if "$bin" list-modules >"$work/modules" 2>&1; then
		missing=()
		for id in "${MODULE_IDS[@]}"; do
			if grep -qxF "$id" "$work/modules"; then echo "  found   $id"; else echo "  MISSING $id"; missing+=("$id"); fi
		done
		if [ ${#missing[@]} -eq 0 ]; then record PASS "smoke: list-modules"; else record FAIL "smoke: list-modules" "missing: ${missing[*]}"; fi
	else
		cat "$work/modules"
		record FAIL "smoke: list-modules" "caddy list-modules failed"
	fi
else
	echo "no binary"
	record FAIL "smoke: list-modules" "no binary"
fi

step "smoke: caddy adapt --config $EXAMPLE (environment without secrets)"
if [ "$built" != 1 ]; then
	echo "no binary"
	record FAIL "smoke: adapt $EXAMPLE" "no binary"
elif [ ! -f "$EXAMPLE" ]; then
	echo "$EXAMPLE does not exist"
	record FAIL "smoke: adapt $EXAMPLE" "file missing"
else
	# Only PATH and a scratch HOME: {env.*} placeholders must survive adaptation untouched.
	if env -i PATH="$PATH" HOME="$work/home" XDG_DATA_HOME="$work/data" XDG_CONFIG_HOME="$work/config" \
		"$bin" adapt --config "$EXAMPLE" --adapter caddyfile >"$work/adapted.json" 2>"$work/adapt.err"; then
		sed 's/^/  /' "$work/adapt.err"
		echo "  adapted to $(wc -c <"$work/adapted.json") bytes of JSON"
		record PASS "smoke: adapt $EXAMPLE"
	else
		sed 's/^/  /' "$work/adapt.err"
		record FAIL "smoke: adapt $EXAMPLE" "caddy adapt failed"
	fi
fi

printf '\n==> summary (%s)\n' "$(elapsed "$total_start")"
echo "browser screenshots (CI artefacts): $E2E_SCREENSHOTS"
printf '%s\n' "${summary[@]}"
echo "test.sh: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
