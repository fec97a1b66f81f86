#!/usr/bin/env bash
# build-caddy.sh [output] — build a caddy binary with this module, through xcaddy.
#
# Users build caddy-antom with xcaddy, so the tests build it the same way:
#
#   go tool xcaddy build v2.11.9 \
#       --with github.com/caddy-antom/caddy-antom@v0.0.0=<repo root> --output <output>
#
# Default output: <repo root>/bin/caddy. The build is skipped when the binary is newer than every
# source file that can end up in it (tracked and untracked files, minus *_test.go, docs, examples,
# scripts, e2e, bench, testdata) and the list of those files is unchanged since the last build; FORCE=1
# always rebuilds.
#
# Environment:
#   FORCE=1              rebuild even if the binary looks fresh
#   VERBOSE=1            stream xcaddy's log instead of keeping it in <output>.build.log
#   CADDY_VERSION        Caddy version to build (default v2.11.9, the one in go.mod)
#   XCADDY_RACE_DETECTOR=1, XCADDY_GO_BUILD_FLAGS, ...  passed through to xcaddy
#
# Quirks handled here (see also docs in the repo):
# - The @v0.0.0 pin: xcaddy runs `go get MODULE@VERSION` in its temp module; without a version it
#   asks the module proxy for the unpublished path, which the proxy here refuses (403). With
#   MODULE@v0.0.0=<dir> the version is a replace target and is never looked up.
# - xcaddy builds in a fresh temp module (os.TempDir()/buildenv_*), runs `go get`, `go mod tidy -e`
#   and `go build` there; the replacement must be an absolute path, GOWORK must be off, and GOFLAGS
#   must not carry -mod=... (a -mod=vendor would send `go build` looking for a vendor dir in the temp
#   module). This machine's go env sets GOFLAGS=-buildvcs=false; it is kept, and added elsewhere.
# - Offline: every version xcaddy asks for is exact (caddy v2.11.9, our v0.0.0 replace), and the go
#   command serves exact versions from the module cache without asking the proxy, so once the cache
#   holds the dependencies (one online build, or `go mod download`) the build needs no network
#   (checked with `unshare -n`). On a fresh machine the same command downloads them through
#   GOPROXY; the first build there takes ~6 minutes on 2 cores, a warm rebuild ~20 s.
# - The binary is written to a temp name and renamed into place, under a lock, so a running caddy
#   (ETXTBSY) or a concurrent build (test.sh and e2e's TestMain) never sees a half-written file.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODULE="github.com/caddy-antom/caddy-antom"
CADDY_VERSION="${CADDY_VERSION:-v2.11.9}"

OUT="${1:-$ROOT/bin/caddy}"
case "$OUT" in /*) ;; *) OUT="$PWD/$OUT" ;; esac
mkdir -p "$(dirname "$OUT")"

say() { printf 'build-caddy: %s\n' "$*" >&2; }

# Files whose content can change the binary. Deleted-but-tracked files are dropped.
source_files() {
	cd "$ROOT"
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git ls-files -z --cached --others --exclude-standard
	else
		find . -type f -not -path './.git/*' -printf '%P\0'
	fi | tr '\0' '\n' | grep -Ev '(_test\.go$|\.md$|^(docs|examples|scripts|e2e|bench|\.ci|bin)/|(^|/)testdata/|(^|/)node_modules/)' \
		| sort -u | while IFS= read -r f; do if [ -f "$f" ]; then printf '%s\n' "$f"; fi; done
}

STAMP="$OUT.buildinfo"
LOCK="$OUT.lock"

exec 9>"$LOCK"
if ! flock -n 9; then
	say "another build of $OUT is running; waiting for it"
	flock 9
fi

files="$(source_files)"
if ! printf '%s\n' "$files" | grep -q '\.go$'; then
	say "warning: no non-test .go files found under $ROOT"
fi
stamp="$(printf 'caddy %s\nmodule %s\nroot %s\nrace %s\nflags %s\n%s\n' "$CADDY_VERSION" "$MODULE" "$ROOT" \
	"${XCADDY_RACE_DETECTOR:-}" "${XCADDY_GO_BUILD_FLAGS:-}" "$files" | sha256sum | cut -c1-64)"

if [ "${FORCE:-0}" != 1 ] && [ -x "$OUT" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$stamp" ]; then
	newer="$(cd "$ROOT" && printf '%s\n' "$files" | while IFS= read -r f; do if [ "$f" -nt "$OUT" ]; then printf '%s\n' "$f"; fi; done)"
	if [ -z "$newer" ]; then
		say "$OUT is up to date (newer than all $(printf '%s\n' "$files" | wc -l) source files; FORCE=1 rebuilds)"
		exit 0
	fi
	say "rebuilding: changed since last build: $(printf '%s\n' "$newer" | head -n 3 | tr '\n' ' ')"
elif [ "${FORCE:-0}" = 1 ]; then
	say "rebuilding (FORCE=1)"
elif [ -x "$OUT" ]; then
	say "rebuilding: set of source files or build options changed"
fi

export GOWORK=off
# Keep the machine's GOFLAGS (-buildvcs=false here) but drop -mod=..., which breaks `go get`.
GOFLAGS="$(printf '%s' "${GOFLAGS:-$(go env GOFLAGS)}" | sed -E 's/(^| )-mod=[^ ]*//g')"
# No VCS stamping, as on this machine: a caddy binary does not use it, and where TMPDIR sits in a
# repository owned by another user git's "dubious ownership" check would fail the build.
case " $GOFLAGS " in *" -buildvcs="*) ;; *) GOFLAGS="${GOFLAGS:+$GOFLAGS }-buildvcs=false" ;; esac
export GOFLAGS

tmp="$OUT.tmp.$$"
log="$OUT.build.log"
trap 'rm -f "$tmp"' EXIT

say "go tool xcaddy build $CADDY_VERSION --with $MODULE@v0.0.0=$ROOT --output $OUT"
say "($(go version | cut -d' ' -f3-), GOPROXY=$(go env GOPROXY), GOFLAGS=$GOFLAGS, module cache $(go env GOMODCACHE))"
start=$(date +%s)
set +e
if [ "${VERBOSE:-0}" = 1 ]; then
	(cd "$ROOT" && go tool xcaddy build "$CADDY_VERSION" --with "$MODULE@v0.0.0=$ROOT" --output "$tmp") 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
else
	(cd "$ROOT" && go tool xcaddy build "$CADDY_VERSION" --with "$MODULE@v0.0.0=$ROOT" --output "$tmp") >"$log" 2>&1
	rc=$?
fi
set -e
secs=$(( $(date +%s) - start ))
if [ "$rc" -ne 0 ] || [ ! -x "$tmp" ]; then
	if [ "${VERBOSE:-0}" != 1 ]; then
		say "xcaddy failed (exit $rc) after ${secs}s; last lines of $log:"
		grep -v '^\(go: downloading\|go: found\|go: added\|go: upgraded\)' "$log" | tail -n 40 >&2 || true
	fi
	say "FAILED"
	exit 1
fi
mv -f "$tmp" "$OUT"
printf '%s\n' "$stamp" >"$STAMP"
say "built $OUT in ${secs}s ($("$OUT" version 2>/dev/null | head -n1))"
