#!/usr/bin/env bash
# setup.sh demo|test — install what the demo or the test suite needs, when it is missing.
#
#   demo   php-cli (the example shop and the walk's HTTP client)
#   test   the demo's needs, plus chromium (the browser tests), postgresql (the PostgreSQL event
#          store's tests), node and npm, and the npm packages of e2e/node; and the toolchains the
#          examples/verify snippets are tested with: a JDK (default-jdk-headless), Mono's C#
#          compiler and runtime (mono-mcs, mono-runtime), perl and python3; and openssl, the
#          independent verifier of antom-format deliveries
#
# On Debian or Ubuntu, as root or with password-less sudo, it installs the missing Debian packages
# with apt-get and says what it installs. Elsewhere it prints exactly what to install and exits 4.
# Go is not installed here: the README names the version (go.mod's `go` line). Running it again
# costs nothing once everything is there.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { printf 'setup: %s\n' "$*" >&2; }

case "${1:-}" in
demo) want=(php-cli) ;;
test) want=(php-cli chromium postgresql nodejs npm default-jdk-headless mono-mcs mono-runtime perl python3 openssl) ;;
*)
	echo "usage: scripts/setup.sh demo|test" >&2
	exit 2
	;;
esac

# installed PACKAGE: the Debian package, or the command that stands for it elsewhere.
installed() {
	if command -v dpkg-query >/dev/null; then
		dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' && return 0
	fi
	case "$1" in
	php-cli) command -v php >/dev/null ;;
	postgresql) compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null ;;
	nodejs) command -v node >/dev/null ;;
	default-jdk-headless) command -v javac >/dev/null && command -v java >/dev/null ;;
	mono-mcs) command -v mcs >/dev/null ;;
	mono-runtime) command -v mono >/dev/null ;;
	*) command -v "$1" >/dev/null ;;
	esac
}

missing=()
for p in "${want[@]}"; do
	installed "$p" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
	sudo=""
	if [ "$(id -u)" != 0 ]; then
		if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; else sudo="none"; fi
	fi
	if ! command -v apt-get >/dev/null || [ "$sudo" = none ]; then
		say "missing: ${missing[*]}"
		say "install them, then run this again:"
		say "  Debian/Ubuntu: sudo apt-get install --no-install-recommends ${missing[*]}"
		say "  elsewhere: php 7+ (php-cli), Chromium, PostgreSQL 13+ server binaries (initdb, pg_ctl), Node.js 18+ with npm,"
		say "             a JDK 8+ (javac, java), Mono (mcs, mono), perl 5.10+, python 3.6+, openssl"
		exit 4
	fi
	say "installing with apt-get: ${missing[*]} (a one-time step; log in ${TMPDIR:-/tmp}/caddy-antom-apt.log)"
	log="${TMPDIR:-/tmp}/caddy-antom-apt.log"
	for try in 1 2 3; do
		# shellcheck disable=SC2086 # $sudo is empty or "sudo -n"
		if $sudo apt-get update -qq >"$log" 2>&1 &&
			DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >>"$log" 2>&1; then
			break
		fi
		if [ "$try" = 3 ]; then
			tail -n 30 "$log" >&2
			say "apt-get install ${missing[*]} failed (see above)"
			exit 1
		fi
		say "apt-get failed (try $try/3); retrying in $((try * 10))s"
		sleep $((try * 10))
	done
	say "installed: ${missing[*]}"
fi

if [ "$1" = test ]; then
	node_dir="$ROOT/e2e/node"
	# npm ci only when the lock file is newer than the last install.
	if ! [ "$node_dir/node_modules/.installed" -nt "$node_dir/package-lock.json" ]; then
		say "npm ci in e2e/node (standardwebhooks, playwright-core; no browser download)"
		for try in 1 2 3; do
			if (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error </dev/null); then
				touch "$node_dir/node_modules/.installed"
				break
			fi
			[ "$try" = 3 ] && { say "npm ci failed"; exit 1; }
			sleep $((try * 10))
		done
	fi
fi
