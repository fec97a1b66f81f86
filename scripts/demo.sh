#!/usr/bin/env bash
# demo.sh — the whole caddy-antom stack on your machine, offline, no Antom account needed.
#
#   bash scripts/demo.sh              start the stack, walk one payment through it, then leave it
#                                     running for you to click through (Ctrl-C stops everything)
#   bash scripts/demo.sh --walk-only  start, walk one payment (and its refund), then a 3-D Secure card
#                                     payment authorised and captured, stop; exit 0 on success
#   bash scripts/demo.sh --reset      delete the demo state (keys, orders, Caddy's data) first
#
# What runs (see examples/Caddyfile):
#   https://localhost:8443   Caddy: the public shop and Antom's notify URL (antom_webhook)
#   https://localhost:8444   Caddy: the notify URL of the shop's Antom-format handler (forward_format antom)
#   http://127.0.0.1:8600    Caddy: the offline Antom simulator (gateway + cashier page)
#   http://127.0.0.1:8700    Caddy: antom_api, the signing proxy the shop calls (loopback only)
#   http://127.0.0.1:8081    the PHP shop (examples/php-shop), which holds no Antom key
#   localhost:2019           Caddy's admin API (GET /antom/events)
#   (:8080 is Caddy's HTTP->HTTPS redirect)
#
# Needs: bash, php-cli (7+; the shop, and the walk's HTTP client and JSON: scripts/setup.sh installs
# it on Debian/Ubuntu when missing), and Go (to build bin/caddy with xcaddy the first time); openssl
# only if the binary has no `caddy antom keygen`.
#
# Environment:
#   DEMO_DIR    state directory (default <repo>/.demo, git-ignored): keys and the forward secret
#               (demo.env), the shop's orders, Caddy's data and config (its local CA, certificates,
#               antom events), logs. Caddy's real storage in your home directory is never touched.
#   CADDY_BIN   use this caddy binary instead of building <repo>/bin/caddy
#
# Exit status: 0 success, 1 the walk or the stack failed, 2 usage, 3 a port is taken,
# 4 a prerequisite is missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; }

WALK_ONLY=0
RESET=0
for arg in "$@"; do
	case "$arg" in
	--walk-only) WALK_ONLY=1 ;;
	--reset) RESET=1 ;;
	-h | --help) usage; exit 0 ;;
	*) printf 'demo.sh: unknown argument %q\n\n' "$arg" >&2; usage >&2; exit 2 ;;
	esac
done

DEMO_DIR="${DEMO_DIR:-$ROOT/.demo}"
case "$DEMO_DIR" in /*) ;; *) DEMO_DIR="$PWD/$DEMO_DIR" ;; esac
MARKER="$DEMO_DIR/.caddy-antom-demo"

# Fixed by examples/Caddyfile and the shop's defaults.
SHOP_URL="https://localhost:8443"
LEGACY_NOTIFY_URL="https://localhost:8444/antom/notify.php"
SIM_URL="http://127.0.0.1:8600"
API_URL="http://127.0.0.1:8700"
PHP_ADDR="127.0.0.1:8081"
ADMIN_URL="http://localhost:2019"
PORTS=(8443 8444 8600 8700 8081 8080 2019)
port_role() {
	case "$1" in
	8443) echo "the public shop and notify URL (https://localhost:8443)" ;;
	8444) echo "the notify URL of the shop's Antom-format handler (https://localhost:8444)" ;;
	8600) echo "the Antom simulator" ;;
	8700) echo "antom_api, the signing proxy" ;;
	8081) echo "the PHP shop" ;;
	8080) echo "Caddy's HTTP->HTTPS redirect (http_port)" ;;
	2019) echo "Caddy's admin API" ;;
	esac
}

if [ -t 1 ]; then B=$'\e[1m' G=$'\e[32m' R=$'\e[31m' D=$'\e[2m' N=$'\e[0m'; else B="" G="" R="" D="" N=""; fi
say() { printf '%s\n' "$*"; }
info() { printf '%sdemo:%s %s\n' "$D" "$N" "$*"; }
die() {
	local code="$1"
	shift
	printf '%sdemo: FAILED:%s %s\n' "$R" "$N" "$*" >&2
	exit "$code"
}

# ---------------------------------------------------------------- prerequisites

# php-cli, installed when missing (Debian/Ubuntu as root or with sudo; elsewhere it says what to do).
"$ROOT/scripts/setup.sh" demo || exit 4
need=()
if ! php -r 'exit(PHP_VERSION_ID >= 70000 ? 0 : 1);' 2>/dev/null; then
	need+=("php 7 or newer (found $(php -r 'echo PHP_VERSION;' 2>/dev/null)): sudo apt-get install php-cli")
fi
CADDY="${CADDY_BIN:-$ROOT/bin/caddy}"
if [ -z "${CADDY_BIN:-}" ] && ! command -v go >/dev/null; then
	need+=("Go (bin/caddy is built with xcaddy through 'go tool'): https://go.dev/dl/ ($(sed -n 's/^go //p' go.mod) or newer)")
fi
if [ -n "${CADDY_BIN:-}" ] && [ ! -x "$CADDY_BIN" ]; then
	need+=("CADDY_BIN=$CADDY_BIN is not an executable")
fi
if [ ${#need[@]} -gt 0 ]; then
	printf '%sdemo: missing prerequisites:%s\n' "$R" "$N" >&2
	printf '  - %s\n' "${need[@]}" >&2
	exit 4
fi

# ---------------------------------------------------------------- ports

port_busy() {
	if command -v ss >/dev/null; then
		[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ] && return 0
	fi
	# Something answers on loopback?
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
check_ports() {
	local busy=()
	for p in "${PORTS[@]}"; do
		if port_busy "$p"; then busy+=("$p"); fi
	done
	if [ ${#busy[@]} -gt 0 ]; then
		printf '%sdemo: FAILED: ports in use:%s\n' "$R" "$N" >&2
		for p in "${busy[@]}"; do printf '  - %s: needed for %s\n' "$p" "$(port_role "$p")" >&2; done
		printf 'Is another demo or caddy running? See who listens: ss -ltnp | grep -E ":(%s) "\n' "$(IFS='|'; echo "${busy[*]}")" >&2
		exit 3
	fi
}
check_ports

# ---------------------------------------------------------------- state dir

if [ "$RESET" = 1 ] && [ -e "$DEMO_DIR" ]; then
	if [ ! -f "$MARKER" ]; then
		die 2 "--reset: $DEMO_DIR was not made by demo.sh (no $(basename "$MARKER")); not deleting it"
	fi
	rm -rf "$DEMO_DIR"
	info "--reset: deleted $DEMO_DIR"
fi
if [ -e "$DEMO_DIR" ] && [ ! -f "$MARKER" ] && [ -n "$(ls -A "$DEMO_DIR" 2>/dev/null)" ]; then
	die 2 "DEMO_DIR=$DEMO_DIR exists and was not made by demo.sh; choose an empty or new directory"
fi
mkdir -p "$DEMO_DIR"
chmod 700 "$DEMO_DIR"
: >"$MARKER"
LOGS="$DEMO_DIR/logs"
mkdir -p "$LOGS" "$DEMO_DIR/shop" "$DEMO_DIR/data" "$DEMO_DIR/config"

# ---------------------------------------------------------------- caddy binary

if [ -z "${CADDY_BIN:-}" ]; then
	info "building bin/caddy with xcaddy if needed (scripts/build-caddy.sh; the first build downloads modules and takes minutes)"
	bash "$ROOT/scripts/build-caddy.sh" "$CADDY" || die 4 "building caddy failed (see above and $CADDY.build.log)"
fi
# One-shot caddy commands also keep to the demo's dirs.
caddyx() { XDG_DATA_HOME="$DEMO_DIR/data" XDG_CONFIG_HOME="$DEMO_DIR/config" "$CADDY" "$@"; }
# (No `caddy list-modules | grep -q`: under pipefail it fails when grep quits before caddy is done.)
modules="$(caddyx list-modules 2>&1 || true)"
if [[ $'\n'"$modules"$'\n' != *$'\n'http.handlers.antom_simulator$'\n'* ]]; then
	die 4 "$CADDY has no antom modules (http.handlers.antom_simulator); rebuild it: FORCE=1 scripts/build-caddy.sh"
fi

# ---------------------------------------------------------------- keys and secret

ENV_FILE="$DEMO_DIR/demo.env"
VARS=(ANTOM_CLIENT_ID ANTOM_MERCHANT_PRIVATE_KEY ANTOM_MERCHANT_PUBLIC_KEY ANTOM_SIMULATOR_PRIVATE_KEY ANTOM_PUBLIC_KEY ANTOM_FORWARD_SECRET)

# keypair <name>: writes $DEMO_DIR/keys/<name>/{private,public}.b64, one line of base64 DER each
# (PKCS#8 and SPKI: the format Antom's dashboard uses). Uses `caddy antom keygen` when the binary
# has it, else openssl.
keypair() {
	local dir="$DEMO_DIR/keys/$1"
	rm -rf "$dir"
	mkdir -p "$dir"
	# `caddy antom keygen --out DIR` writes merchant_private_key.{pem,b64} and merchant_public_key.b64
	# (it names every pair "merchant"; the directory tells them apart).
	if [ "$HAVE_KEYGEN" = 1 ] && caddyx antom keygen --out "$dir" >"$LOGS/keygen-$1.log" 2>&1; then
		if [ -s "$dir/merchant_private_key.b64" ] && [ -s "$dir/merchant_public_key.b64" ]; then
			tr -d ' \r\n' <"$dir/merchant_private_key.b64" >"$dir/private.b64"
			tr -d ' \r\n' <"$dir/merchant_public_key.b64" >"$dir/public.b64"
			return
		fi
		info "caddy antom keygen wrote no merchant_{private,public}_key.b64 in $dir; using openssl instead"
	fi
	# Fallback while the binary has no `caddy antom keygen`: an RSA-2048 key made by openssl.
	# The dashboard's one-line format: base64 of PKCS#8 DER (private) and SPKI DER (public).
	KEYS_BY="openssl"
	command -v openssl >/dev/null || die 4 "openssl is missing (it makes the demo keys): sudo apt-get install openssl"
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/private_key.pem" 2>"$LOGS/openssl.log" ||
		die 4 "openssl genpkey failed: $(cat "$LOGS/openssl.log")"
	openssl pkey -in "$dir/private_key.pem" -pubout -out "$dir/public_key.pem"
	openssl pkcs8 -topk8 -nocrypt -in "$dir/private_key.pem" -outform DER | base64 | tr -d '\n' >"$dir/private.b64"
	openssl pkey -in "$dir/private_key.pem" -pubout -outform DER | base64 | tr -d '\n' >"$dir/public.b64"
}

forward_secret() {
	local s
	if [ "$HAVE_KEYGEN" = 1 ] && s="$(caddyx antom secret 2>/dev/null)" &&
		s="$(printf '%s\n' "$s" | grep -o 'whsec_[A-Za-z0-9+/=]*' | head -n 1)" && [ -n "$s" ]; then
		printf '%s\n' "$s"
		return
	fi
	# A Standard Webhooks secret: whsec_ + base64 of 32 random bytes.
	printf 'whsec_%s\n' "$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
}

if [ ! -s "$ENV_FILE" ]; then
	info "first run: making a merchant key pair, a simulator (\"Antom\") key pair and a forward secret"
	HAVE_KEYGEN=0
	if caddyx antom keygen --help >/dev/null 2>&1; then HAVE_KEYGEN=1; KEYS_BY="caddy antom keygen"; else
		KEYS_BY="openssl"
		command -v openssl >/dev/null || die 4 "openssl is missing (it makes the demo keys while $CADDY has no 'antom keygen'): sudo apt-get install openssl"
	fi
	old_umask="$(umask)"
	umask 077
	keypair merchant
	keypair simulator
	secret="$(forward_secret)"
	{
		printf '# caddy-antom demo keys, made %s by scripts/demo.sh (%s). Demo only: not for production.\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$KEYS_BY"
		printf '# Merchant key pair: Caddy signs with the private key, the simulator verifies with the public one.\n'
		printf '# Simulator key pair: the simulator signs as Antom; Caddy verifies with ANTOM_PUBLIC_KEY.\n'
		printf 'ANTOM_CLIENT_ID=SANDBOX_CADDY_ANTOM_DEMO\n'
		printf 'ANTOM_MERCHANT_PRIVATE_KEY=%s\n' "$(cat "$DEMO_DIR/keys/merchant/private.b64")"
		printf 'ANTOM_MERCHANT_PUBLIC_KEY=%s\n' "$(cat "$DEMO_DIR/keys/merchant/public.b64")"
		printf 'ANTOM_SIMULATOR_PRIVATE_KEY=%s\n' "$(cat "$DEMO_DIR/keys/simulator/private.b64")"
		printf 'ANTOM_PUBLIC_KEY=%s\n' "$(cat "$DEMO_DIR/keys/simulator/public.b64")"
		printf 'ANTOM_FORWARD_SECRET=%s\n' "$secret"
	} >"$ENV_FILE.tmp"
	mv "$ENV_FILE.tmp" "$ENV_FILE"
	umask "$old_umask"
	info "keys ($KEYS_BY) and forward secret written to $ENV_FILE (mode 600)"
else
	info "using the keys and forward secret in $ENV_FILE"
fi

# Read the values without exporting them: Caddy gets them explicitly below, the shop gets only
# the forward secret (it holds no Antom key).
declare -A K=()
# (Not `IFS== read k v`: read drops a single trailing "=", which base64 values end with.)
while IFS= read -r kv; do
	case "$kv" in ANTOM_*=*) K[${kv%%=*}]="${kv#*=}" ;; esac
done <"$ENV_FILE"
for v in "${VARS[@]}"; do
	[ -n "${K[$v]:-}" ] || die 1 "$ENV_FILE has no $v; delete it (or run with --reset) to make new keys"
done

# ---------------------------------------------------------------- start

CADDY_PID=""
PHP_PID=""
STOPPING=0

# stop_proc <pid> <name>: SIGTERM to the process group we made with setsid, then SIGKILL after 10s.
stop_proc() {
	local pid="$1" name="$2" i
	[ -n "$pid" ] || return 0
	kill -0 "$pid" 2>/dev/null || return 0
	if [ "$HAVE_SETSID" = 1 ]; then kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; else kill -TERM "$pid" 2>/dev/null || true; fi
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		info "$name did not stop within 10s; killing it"
		if [ "$HAVE_SETSID" = 1 ]; then kill -KILL -- "-$pid" 2>/dev/null || true; else kill -KILL "$pid" 2>/dev/null || true; fi
	fi
	wait "$pid" 2>/dev/null || true
}
cleanup() {
	local rc=$?
	[ "$STOPPING" = 1 ] && return
	STOPPING=1
	trap '' INT TERM
	if [ -n "$CADDY_PID$PHP_PID" ]; then
		info "stopping caddy and the shop"
		stop_proc "$CADDY_PID" caddy
		stop_proc "$PHP_PID" "the PHP shop"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

HAVE_SETSID=0
command -v setsid >/dev/null && HAVE_SETSID=1
# Children get their own session (setsid), so Ctrl-C reaches only this script, which then stops
# them in order; and php -S's workers are stopped with their parent's process group.
# Only ever call it in the background (spawn ... &): it execs in the forked subshell, so $! is the
# child itself (setsid does not fork there: a background job is no process group leader).
spawn() { if [ "$HAVE_SETSID" = 1 ]; then exec setsid "$@"; else exec "$@"; fi; }

SHOP_LOG="$LOGS/shop.log"
CADDY_LOG="$LOGS/caddy.log"
: >"$SHOP_LOG"
: >"$CADDY_LOG"

info "starting the PHP shop on http://$PHP_ADDR (log: $SHOP_LOG)"
# ANTOM_PUBLIC_KEY: the key the shop's Antom-format notify handler verifies with, Antom's own.
spawn env SHOP_PUBLIC_URL="$SHOP_URL" ANTOM_API="$API_URL" SHOP_DATA_DIR="$DEMO_DIR/shop" \
	ANTOM_FORWARD_SECRET="${K[ANTOM_FORWARD_SECRET]}" PHP_CLI_SERVER_WORKERS=4 \
	ANTOM_PUBLIC_KEY="${K[ANTOM_PUBLIC_KEY]}" SHOP_ANTOM_NOTIFY_URL="$LEGACY_NOTIFY_URL" \
	php -S "$PHP_ADDR" examples/php-shop/router.php </dev/null >>"$SHOP_LOG" 2>&1 &
PHP_PID=$!

# Caddy's storage (local CA, certificates, antom events) and autosave live under DEMO_DIR.
info "starting caddy: $CADDY run --config examples/Caddyfile (log: $CADDY_LOG)"
spawn env XDG_DATA_HOME="$DEMO_DIR/data" XDG_CONFIG_HOME="$DEMO_DIR/config" \
	ANTOM_CLIENT_ID="${K[ANTOM_CLIENT_ID]}" \
	ANTOM_MERCHANT_PRIVATE_KEY="${K[ANTOM_MERCHANT_PRIVATE_KEY]}" \
	ANTOM_PUBLIC_KEY="${K[ANTOM_PUBLIC_KEY]}" \
	ANTOM_SIMULATOR_PRIVATE_KEY="${K[ANTOM_SIMULATOR_PRIVATE_KEY]}" \
	ANTOM_MERCHANT_PUBLIC_KEY="${K[ANTOM_MERCHANT_PUBLIC_KEY]}" \
	ANTOM_FORWARD_SECRET="${K[ANTOM_FORWARD_SECRET]}" \
	"$CADDY" run --config examples/Caddyfile --adapter caddyfile </dev/null >>"$CADDY_LOG" 2>&1 &
CADDY_PID=$!

ROOT_CRT="$DEMO_DIR/data/caddy/pki/authorities/local/root.crt"
# http <out> <url> [<form data>]: GET (or POST the form) with PHP's HTTP client, so the demo needs
# no curl; https URLs must present a certificate from Caddy's local CA. Writes the body to <out>
# and the response headers to <out>.h (unless <out> is /dev/null), prints the status code; exit 1
# (with the reason on stderr) when no answer came. Redirects are not followed; no proxy is used.
HTTP_PHP='list(, $out, $url, $data, $ca) = $argv;
$o = array("http" => array("method" => $data === "" ? "GET" : "POST", "ignore_errors" => true,
	"follow_location" => 0, "timeout" => 15, "header" => "Connection: close\r\n"));
if ($data !== "") {
	$o["http"]["header"] .= "Content-Type: application/x-www-form-urlencoded\r\n";
	$o["http"]["content"] = $data;
}
if (strncmp($url, "https:", 6) === 0) {
	$o["ssl"] = array("cafile" => $ca, "verify_peer" => true, "verify_peer_name" => true);
}
$body = @file_get_contents($url, false, stream_context_create($o));
if ($body === false) {
	$e = error_get_last();
	fwrite(STDERR, "$url: " . ($e ? $e["message"] : "no answer") . "\n");
	exit(1);
}
$h = function_exists("http_get_last_response_headers") ? http_get_last_response_headers() : $http_response_header;
if ($out !== "/dev/null") {
	file_put_contents($out, $body);
	file_put_contents("$out.h", implode("\r\n", $h) . "\r\n");
}
echo preg_match("#^HTTP/\\S+ (\\d{3})#", $h[0], $m) ? $m[1] : "000";'
http() { php -r "$HTTP_PHP" -- "$1" "$2" "${3:-}" "$ROOT_CRT"; }
# fetch <out> <url>: GET that must answer 200.
fetch() { [ "$(http "$1" "$2")" = 200 ]; }

alive_or_die() {
	if ! kill -0 "$CADDY_PID" 2>/dev/null; then
		say "---- last lines of $CADDY_LOG ----" >&2
		tail -n 30 "$CADDY_LOG" >&2
		if grep -q 'address already in use' "$CADDY_LOG"; then die 3 "caddy could not listen: a port was taken after the check (log: $CADDY_LOG)"; fi
		die 1 "caddy exited (log: $CADDY_LOG)"
	fi
	if ! kill -0 "$PHP_PID" 2>/dev/null; then
		say "---- last lines of $SHOP_LOG ----" >&2
		tail -n 30 "$SHOP_LOG" >&2
		if grep -qi 'address already in use' "$SHOP_LOG"; then die 3 "the PHP shop could not listen on $PHP_ADDR: taken after the check (log: $SHOP_LOG)"; fi
		die 1 "the PHP shop exited (log: $SHOP_LOG)"
	fi
}

# ready <what> <cmd...>: retries a check for up to 60s while both processes run.
ready() {
	local what="$1" i
	shift
	for i in $(seq 1 600); do
		alive_or_die
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.1
	done
	die 1 "$what was not ready after 60s (logs: $CADDY_LOG, $SHOP_LOG)"
}
http_ok() { fetch /dev/null "$1"; }

ms() { local t; t="$(date +%s%3N)"; case "$t" in *N) echo $(($(date +%s) * 1000)) ;; *) echo "$t" ;; esac; }
T0=$(ms)
ready "the shop (http://$PHP_ADDR)" http_ok "http://$PHP_ADDR/"
ready "caddy's admin API" http_ok "$ADMIN_URL/config/"
ready "the Antom simulator" http_ok "$SIM_URL/simulator/public_key"
ready "caddy's local CA root ($ROOT_CRT)" test -s "$ROOT_CRT"
# The certificate for localhost is issued by Caddy's local CA right after start.
ready "$SHOP_URL (HTTPS with Caddy's local certificate)" http_ok "$SHOP_URL/"
info "stack ready in $(($(ms) - T0)) ms"

say ""
say "${B}caddy-antom demo is running${N} (state: $DEMO_DIR)"
say "  shop (public, HTTPS)    $SHOP_URL"
say "  Antom notify URL        $SHOP_URL/antom/notify      (antom_webhook: verify, store, ack, forward)"
say "  ... in Antom's format   $LEGACY_NOTIFY_URL  (to the shop's own Antom notify handler)"
say "  antom_api (loopback)    $API_URL               (the shop's signing proxy)"
say "  Antom simulator         $SIM_URL/simulator/     (cashier pages, control endpoints)"
say "  Caddy admin API         $ADMIN_URL/antom/events?state=delivered"
say "  PHP shop (behind Caddy) http://$PHP_ADDR"

# ---------------------------------------------------------------- walk one payment

TMP="$DEMO_DIR/walk"
rm -rf "$TMP"
mkdir -p "$TMP"

# json '<php expression on $d>' < file: prints the value (arrays as compact JSON), "" if null.
json() {
	php -r '$d = json_decode(stream_get_contents(STDIN), true); $v = eval("return " . $argv[1] . ";");
		echo is_array($v) ? json_encode($v, JSON_UNESCAPED_SLASHES) : (is_bool($v) ? ($v ? "true" : "false") : (string)$v);' "$1"
}
# last_log '<msg>' '<php condition on $e>' '<php expression on $e>': from caddy's JSON log, the
# last entry with this msg matching the condition, formatted by the expression.
last_log() {
	php -r '$out = "";
		foreach (file($argv[1]) ?: array() as $line) {
			$e = json_decode($line, true);
			if (!is_array($e) || !isset($e["msg"]) || $e["msg"] !== $argv[2]) continue;
			if (eval("return " . $argv[3] . ";")) $out = eval("return " . $argv[4] . ";");
		}
		echo $out;' "$CADDY_LOG" "$1" "$2" "$3"
}
header_value() { { grep -i "^$1:" "$2" || true; } | tail -n 1 | cut -d' ' -f2- | tr -d '\r'; }
order_state() { sed -n '/id="order-state"/{s/.*id="order-state"[^>]*>\([a-z]*\)<.*/\1/p;q;}' "$1"; }

STEP_T=0
STEPS=8
step() {
	STEP_T=$(ms)
	say ""
	say "${B}[$1/$STEPS] $2${N}"
}
line() { say "      $*"; }
done_step() { line "${G}ok${N} ${D}($(($(ms) - STEP_T)) ms)${N}"; }
walk_fail() {
	say ""
	say "${R}The walk failed at step $1:${N} $2" >&2
	say "Logs: $CADDY_LOG and $SHOP_LOG; scratch files: $TMP" >&2
	exit 1
}
# poll <seconds> <cmd...>: runs cmd every 100ms until it succeeds.
poll() {
	local secs="$1" i
	shift
	for i in $(seq 1 $((secs * 10))); do
		if "$@"; then return 0; fi
		alive_or_die
		sleep 0.1
	done
	return 1
}

WALK_T0=$(ms)
say ""
say "${B}Walking one payment through the stack${N} (a buyer orders Oolong tea)"

# 1. checkout -> createPaymentSession through antom_api
step 1 "The shop creates an order and asks Antom for a payment session"
code="$(http "$TMP/checkout.html" "$SHOP_URL/checkout" sku=tea)" || walk_fail 1 "POST $SHOP_URL/checkout: no answer"
CASHIER_URL="$(header_value location "$TMP/checkout.html.h")"
if [ "$code" != 303 ] || [ -z "$CASHIER_URL" ]; then
	err="$(sed -n 's/.*id="payment-error"[^>]*>\([^<]*\)<.*/\1/p' "$TMP/checkout.html")"
	walk_fail 1 "POST /checkout answered HTTP $code without a cashier URL${err:+: $err}"
fi
PAYMENT_ID="${CASHIER_URL##*/}"
fetch "$TMP/payment.json" "$SIM_URL/simulator/payments/$PAYMENT_ID" || walk_fail 1 "GET $SIM_URL/simulator/payments/$PAYMENT_ID: $(cat "$TMP/payment.json" 2>/dev/null)"
PAYMENT_REQUEST_ID="$(json '$d["paymentRequestId"]' <"$TMP/payment.json")"
ORDER_ID="$(json '$d["referenceOrderId"]' <"$TMP/payment.json")"
NOTIFY_URL="$(json '$d["paymentNotifyUrl"]' <"$TMP/payment.json")"
# Antom amounts are in minor units: 1250 USD is 12.50 USD (JPY has no decimals, KWD three).
AMOUNT="$(json '(function ($v, $c) { $e = in_array($c, array("JPY", "KRW", "VND", "CLP", "ISK", "UGX", "PYG", "XAF", "XOF")) ? 0 : (in_array($c, array("BHD", "KWD", "OMR", "JOD", "TND")) ? 3 : 2);
	return number_format($v / pow(10, $e), $e, ".", "") . " " . $c; })($d["paymentAmount"]["value"], $d["paymentAmount"]["currency"])' <"$TMP/payment.json")"
[ -n "$ORDER_ID" ] && [ -n "$PAYMENT_REQUEST_ID" ] || walk_fail 1 "the simulator has no order id for payment $PAYMENT_ID: $(cat "$TMP/payment.json")"
call="$(poll 5 last_log "Antom call" '($e["api"] ?? "") === "v1/payments/createPaymentSession" || strpos($e["api"] ?? "", "createPaymentSession") !== false' \
	'"resultStatus " . ($e["result_status"] ?? "?") . " " . ($e["result_code"] ?? "") . ", response signature verified: " . (!empty($e["signed"]) ? "yes" : "NO") . ", gateway time " . (is_numeric($e["antom_time"] ?? null) ? round($e["antom_time"] * 1000, 1) . " ms" : ($e["antom_time"] ?? "?"))')" || true
line "buyer -> POST $SHOP_URL/checkout sku=tea      (Caddy reverse-proxies to the PHP shop)"
line "shop  -> order $ORDER_ID (pending), paymentRequestId $PAYMENT_REQUEST_ID"
line "shop  -> POST $API_URL/antom/v1/payments/createPaymentSession   plain JSON, no key, no signature"
line "caddy -> signed it with the merchant key (RSA256, client id ${K[ANTOM_CLIENT_ID]}), added"
line "         paymentNotifyUrl $NOTIFY_URL, sent it to the gateway $SIM_URL"
if [ -n "$call" ]; then
	line "antom -> accepted the signature; Caddy's log: $call"
else
	line "antom -> accepted the signature (Caddy's \"Antom call\" log line not found in $CADDY_LOG)"
fi
line "shop  -> 303 to the cashier page (normalUrl): $CASHIER_URL"
done_step

# 2. the buyer pays on the cashier page
step 2 "The buyer pays $AMOUNT on Antom's cashier page"
code="$(http "$TMP/cashier.html" "$CASHIER_URL")" || walk_fail 2 "GET $CASHIER_URL: no answer"
[ "$code" = 200 ] && grep -q 'id="pay"' "$TMP/cashier.html" || walk_fail 2 "the cashier page $CASHIER_URL answered HTTP $code without a Pay button"
code="$(http "$TMP/cashier-post.html" "$CASHIER_URL" pay=pay)" || walk_fail 2 "POST $CASHIER_URL: no answer"
RESULT_URL="$(header_value location "$TMP/cashier-post.html.h")"
[ "$code" = 303 ] && [ -n "$RESULT_URL" ] || walk_fail 2 "the Pay button answered HTTP $code (expected 303 back to the shop): $(head -c 300 "$TMP/cashier-post.html")"
line "buyer -> GET  $CASHIER_URL   (Pay / Fail / Cancel)"
line "buyer -> POST the Pay button -> 303 back to the shop: $RESULT_URL"
fetch "$TMP/result-first.html" "$RESULT_URL" || walk_fail 2 "GET $RESULT_URL did not answer 200"
first_state="$(order_state "$TMP/result-first.html")"
if [ "$first_state" = pending ]; then
	line "shop  -> the return page says \"$first_state\": the redirect proves nothing, it waits for Antom's signed notification"
else
	line "shop  -> the return page says \"$first_state\" (the notification was even faster than the buyer's browser)"
fi
done_step

# 3. the simulator notifies
step 3 "Antom (the simulator) sends a signed PAYMENT_RESULT notification to $SHOP_URL/antom/notify"
notified() {
	fetch "$TMP/notifications.json" "$SIM_URL/simulator/notifications" || return 1
	NOTE="$(php -r '$d = json_decode(file_get_contents($argv[1]), true);
		foreach ($d["notifications"] ?? array() as $n) {
			if (($n["paymentId"] ?? "") !== $argv[2] || ($n["type"] ?? "") !== "PAYMENT_RESULT") continue;
			foreach ($n["attempts"] ?? array() as $i => $a) {
				if (!empty($a["acked"])) { printf("%s|%s|%d|%s|%s", $n["id"], $n["url"], $i + 1, $a["statusCode"] ?? 0, $a["at"]); exit(0); }
			}
		}
		exit(1);' "$TMP/notifications.json" "$PAYMENT_ID")"
}
poll 30 notified || walk_fail 3 "no acknowledged PAYMENT_RESULT notification for $PAYMENT_ID after 30s: $(head -c 1500 "$TMP/notifications.json")"
IFS='|' read -r note_id note_url note_attempt note_status note_at <<<"$NOTE"
line "antom -> POST $note_url   (body signed with the simulator's key, header Signature: algorithm=RSA256,...)"
line "caddy -> HTTP $note_status {\"result\":{\"resultCode\":\"SUCCESS\",\"resultStatus\":\"S\",...}}  acked on attempt $note_attempt at $note_at"
line "         (simulator notification $note_id)"
done_step

# 4. caddy verified, stored, acked and forwarded it
step 4 "Caddy verified the signature, stored the event, acked Antom and forwarded it to the shop"
delivered() {
	# The admin API lists the oldest first: a large limit keeps this run's events in the list
	# when DEMO_DIR holds many runs' events (delivered ones are kept for 7 days).
	fetch "$TMP/events.json" "$ADMIN_URL/antom/events?state=delivered&limit=100000" || return 1
	EVENT="$(php -r '$d = json_decode(file_get_contents($argv[1]), true);
		foreach (is_array($d) ? $d : array() as $e) {
			if (($e["requestId"] ?? "") === $argv[2] && ($e["type"] ?? "") === $argv[3]) {
				printf("%s|%s|%s|%s|%s|%s|%s|%s", $e["id"], $e["type"], $e["resultStatus"] ?? "", $e["source"] ?? "", $e["attempts"] ?? 0,
					$e["lastStatus"] ?? "", $e["receivedAt"] ?? "", $e["deliveredAt"] ?? "");
				exit(0);
			}
		}
		exit(1);' "$TMP/events.json" "$1" "$2")"
}
poll 30 delivered "$PAYMENT_REQUEST_ID" PAYMENT_RESULT ||
	walk_fail 4 "no delivered PAYMENT_RESULT event for $PAYMENT_REQUEST_ID in $ADMIN_URL/antom/events?state=delivered after 30s (pending: $(http "$TMP/pending.json" "$ADMIN_URL/antom/events?state=pending" >/dev/null; head -c 800 "$TMP/pending.json"))"
IFS='|' read -r ev_id ev_type ev_status ev_source ev_attempts ev_last ev_received ev_delivered <<<"$EVENT"
line "GET $ADMIN_URL/antom/events?state=delivered  ->"
line "  webhook-id  $ev_id   (the same for every duplicate of this notification)"
line "  type        $ev_type, resultStatus $ev_status, source $ev_source, paymentRequestId $PAYMENT_REQUEST_ID"
line "  delivery    POST http://$PHP_ADDR/antom-events signed with the whsec_ secret (Standard Webhooks)"
line "              -> HTTP $ev_last after $ev_attempts attempt(s); received $ev_received, delivered $ev_delivered"
done_step

# 5. the shop shows paid
step 5 "The shop verified the forwarded event and shows the order \"paid\""
# is_state <state> [<order>]: the order (default the walk's first) shows this state.
is_state() {
	fetch "$TMP/result.html" "$SHOP_URL/result?order=${2:-$ORDER_ID}" || return 1
	[ "$(order_state "$TMP/result.html")" = "$1" ]
}
poll 30 is_state paid || walk_fail 5 "order $ORDER_ID is \"$(order_state "$TMP/result.html")\", not \"paid\", 30s after the event was delivered"
fetch "$TMP/order.html" "$SHOP_URL/order?id=$ORDER_ID" || true
antom_payment_id="$(sed -n '/id="payment-id"/{s/.*id="payment-id"[^>]*>\([^<]*\)<.*/\1/p;q;}' "$TMP/order.html")"
shop_line="$(grep -F "$ev_id" "$SHOP_LOG" | grep -o 'event .*' | tail -n 1 || true)"
[ -n "$shop_line" ] && line "shop log: $shop_line"
line "GET $SHOP_URL/result?order=$ORDER_ID  ->  #order-state = ${G}paid${N}   (Antom payment id ${antom_payment_id:-?})"
done_step
PAID_MS=$(($(ms) - WALK_T0))

# 6. refund
step 6 "Refund: the shop calls refund through antom_api; Antom's REFUND_RESULT turns the order \"refunded\""
code="$(http "$TMP/refund.html" "$SHOP_URL/refund" "order=$ORDER_ID")" || walk_fail 6 "POST $SHOP_URL/refund: no answer"
notice="$(header_value location "$TMP/refund.html.h" | sed -n 's/.*notice=\([a-z-]*\).*/\1/p')"
[ "$code" = 303 ] && [ "$notice" = refund-accepted ] || walk_fail 6 "POST /refund answered HTTP $code, notice \"$notice\" (expected refund-accepted)"
fetch "$TMP/orders.json" "$SHOP_URL/orders.json" || true
REFUND_REQUEST_ID="$(json '(function ($d, $id) { foreach ($d["orders"] as $o) { if ($o["id"] === $id) return $o["refundRequestId"]; } return ""; })($d, "'"$ORDER_ID"'")' <"$TMP/orders.json" 2>/dev/null || true)"
line "shop  -> POST $API_URL/antom/v1/payments/refund  refundRequestId ${REFUND_REQUEST_ID:-?}"
line "antom -> S: accepted (not final: the order stays paid until the REFUND_RESULT notification)"
EVENT=""
if [ -n "$REFUND_REQUEST_ID" ] && poll 30 delivered "$REFUND_REQUEST_ID" REFUND_RESULT; then
	IFS='|' read -r ev_id ev_type ev_status _ ev_attempts ev_last _ _ <<<"$EVENT"
	line "antom -> POST $SHOP_URL/antom/notify REFUND_RESULT; caddy verified, stored and delivered it as $ev_id (HTTP $ev_last)"
fi
poll 30 is_state refunded || walk_fail 6 "order $ORDER_ID is \"$(order_state "$TMP/result.html")\", not \"refunded\", after 30s"
line "GET $SHOP_URL/result?order=$ORDER_ID  ->  #order-state = ${G}refunded${N}"
done_step

REFUNDED_MS=$(($(ms) - WALK_T0))

# 7. a card payment: server to server, 3-D Secure, authorised only
CARD_T0=$(ms)
step 7 "A card payment: the shop's card form (server to server), 3-D Secure, authorisation only"
code="$(http "$TMP/card-checkout.html" "$SHOP_URL/checkout" "sku=book&method=direct")" || walk_fail 7 "POST $SHOP_URL/checkout: no answer"
card_form="$(header_value location "$TMP/card-checkout.html.h")"
CARD_ORDER="${card_form##*order=}"
[ "$code" = 303 ] && [ -n "$CARD_ORDER" ] || walk_fail 7 "POST /checkout method=direct answered HTTP $code without the card form"
# A test card (the simulator's approved Visa); demo only: never type a real card into the demo.
code="$(http "$TMP/card-pay.html" "$SHOP_URL/card/pay" "order=$CARD_ORDER&cardNo=4111111111111111&expiry=12/30&cvv=123&threeds=1&authorize_only=1")" ||
	walk_fail 7 "POST $SHOP_URL/card/pay: no answer"
CHALLENGE_URL="$(header_value location "$TMP/card-pay.html.h")"
[ "$code" = 303 ] && [ "${CHALLENGE_URL%/3ds}" != "$CHALLENGE_URL" ] ||
	walk_fail 7 "POST /card/pay answered HTTP $code, to \"$CHALLENGE_URL\" (expected 303 to the 3-D Secure challenge): $(head -c 300 "$TMP/card-pay.html")"
line "buyer -> POST $SHOP_URL/card/pay   test card 4111 1111 1111 1111, 3-D Secure, authorise only"
line "shop  -> pay CARD through antom_api (isAuthorization, captureMode MANUAL): the card goes to Antom, never to disk or a log"
line "antom -> PAYMENT_IN_PROCESS: 3-D Secure first; shop -> 303 to the challenge $CHALLENGE_URL"
code="$(http "$TMP/3ds.html" "$CHALLENGE_URL")" || walk_fail 7 "GET $CHALLENGE_URL: no answer"
[ "$code" = 200 ] && grep -q 'id="pass"' "$TMP/3ds.html" || walk_fail 7 "the challenge page answered HTTP $code without a Pass button"
code="$(http "$TMP/3ds-post.html" "$CHALLENGE_URL" pass=pass)" || walk_fail 7 "POST $CHALLENGE_URL: no answer"
[ "$code" = 303 ] || walk_fail 7 "the Pass button answered HTTP $code (expected 303 back to the shop)"
line "buyer -> Pass on the issuer's challenge -> back to the shop"
poll 30 delivered "pay_$CARD_ORDER" PAYMENT_RESULT || walk_fail 7 "no delivered PAYMENT_RESULT for pay_$CARD_ORDER after 30s"
IFS='|' read -r ev_id _ ev_status _ _ ev_last _ _ <<<"$EVENT"
fetch "$TMP/card-payment.json" "$SIM_URL/simulator/payments/pay_$CARD_ORDER" || walk_fail 7 "GET $SIM_URL/simulator/payments/pay_$CARD_ORDER: $(cat "$TMP/card-payment.json" 2>/dev/null)"
card_seen="$(json '$d["cardNo"] . ", 3-D Secure " . $d["threeDS"]' <"$TMP/card-payment.json")"
line "antom -> PAYMENT_RESULT $ev_status (card $card_seen); caddy verified and delivered it as $ev_id (HTTP $ev_last)"
poll 30 is_state authorized "$CARD_ORDER" || walk_fail 7 "order $CARD_ORDER is \"$(order_state "$TMP/result.html")\", not \"authorized\""
line "GET $SHOP_URL/result?order=$CARD_ORDER  ->  #order-state = ${G}authorized${N}   (no money yet: the capture is)"
done_step

# 8. capture
step 8 "Capture: the shop captures the authorisation; Antom's CAPTURE_RESULT turns the order \"paid\""
code="$(http "$TMP/capture.html" "$SHOP_URL/capture" "order=$CARD_ORDER")" || walk_fail 8 "POST $SHOP_URL/capture: no answer"
notice="$(header_value location "$TMP/capture.html.h" | sed -n 's/.*notice=\([a-z-]*\).*/\1/p')"
[ "$code" = 303 ] && [ "$notice" = capture-accepted ] || walk_fail 8 "POST /capture answered HTTP $code, notice \"$notice\" (expected capture-accepted)"
line "shop  -> POST $API_URL/antom/v1/payments/capture  captureRequestId cap_$CARD_ORDER  -> S: accepted"
poll 30 delivered "cap_$CARD_ORDER" CAPTURE_RESULT || walk_fail 8 "no delivered CAPTURE_RESULT for cap_$CARD_ORDER after 30s"
IFS='|' read -r ev_id _ _ _ _ ev_last _ _ <<<"$EVENT"
line "antom -> CAPTURE_RESULT; caddy verified, stored and delivered it as $ev_id (HTTP $ev_last)"
poll 30 is_state paid "$CARD_ORDER" || walk_fail 8 "order $CARD_ORDER is \"$(order_state "$TMP/result.html")\", not \"paid\", after the capture"
line "GET $SHOP_URL/result?order=$CARD_ORDER  ->  #order-state = ${G}paid${N}"
done_step

say ""
say "${G}${B}Payment walked through: checkout -> cashier -> signed notification -> Caddy -> shop \"paid\" in ${PAID_MS} ms; refunded in ${REFUNDED_MS} ms in all.${N}"
say "${G}${B}Card payment walked through: 3-D Secure -> authorised -> captured -> shop \"paid\" in $(($(ms) - CARD_T0)) ms.${N}"

if [ "$WALK_ONLY" = 1 ]; then
	exit 0
fi

say ""
say "${B}Now try it yourself:${N} open $SHOP_URL"
say "  Your browser will not know Caddy's local CA: accept the warning, or trust the root"
say "  $ROOT_CRT"
say "  (e.g. Firefox: Settings > Certificates > Import; or curl --cacert \"$ROOT_CRT\" $SHOP_URL/)."
say "  Buy something, then Pay, Fail or Cancel on the simulator's cashier page and watch the order."
say "  Orders: $SHOP_URL/orders.json   Events: $ADMIN_URL/antom/events?state=delivered"
say "  Simulator: $SIM_URL/simulator/   Logs: $LOGS/"
say "Ctrl-C stops everything."
# Ctrl-C (SIGINT) interrupts the sleep; the EXIT trap stops caddy and the shop.
while kill -0 "$CADDY_PID" 2>/dev/null && kill -0 "$PHP_PID" 2>/dev/null; do
	sleep 1
done
alive_or_die
