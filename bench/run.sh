#!/usr/bin/env bash
# bench/run.sh [antombench flags] [all|micro|notify|proxy|drain|search]
#
# Builds what the benchmarks compare, then runs them all in one go (see BENCHMARKS.md):
#
#   bin/caddy-bench          caddy with this checkout, through xcaddy (scripts/build-caddy.sh)
#   bin/caddy-bench-boring   the same with GOEXPERIMENT=boringcrypto CGO_ENABLED=1
#   bin/antombench           the load generator, upstream app and simulator (bench/cmd/antombench)
#   bin/antombench-boring    the same with boringcrypto, for the RSA micro numbers only
#
# Results go to bench/results/latest/ (results.md, results.json, profiles/). Everything listens on
# 127.0.0.1; every loop is bounded. A full run takes about 20 minutes on 2 cores.
#
# Environment:
#   BORING=0       skip the boringcrypto builds and comparison
#   FORCE=1        rebuild the caddy binaries even if they look fresh
#
# Examples:
#   bench/run.sh                                  # everything, 3 runs of each phase
#   bench/run.sh -repeat 1 -phase 5s notify       # a quick look at the notify path
#   bench/run.sh -work /mnt/journaled-ext4 notify # caddy's data dir on another filesystem
#   bench/run.sh -postgres 1,3 notify             # also antom_store postgres, 1 and 3 instances
#   bench/run.sh -backlog pause -app-delay 10ms \
#     -webhook 'max_in_flight 4, rate 200/s' -webhook 'max_in_flight 16, rate 1000/s' drain
#                                                 # drain a paused forward's backlog, per setting
#   bench/run.sh -payments 20 -webhook '' -webhook 'ordering off' drain
#                                                 # 20 payments with many events each: what order costs
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
say() { printf 'bench/run.sh: %s\n' "$*" >&2; }

bash scripts/build-caddy.sh "$ROOT/bin/caddy-bench"
go build -o "$ROOT/bin/antombench" ./bench/cmd/antombench

args=(-caddy "$ROOT/bin/caddy-bench")
if [ "${BORING:-1}" != 0 ]; then
	# xcaddy passes the environment through to `go build`, but it sets CGO_ENABLED from the
	# environment and defaults it to 0, and without cgo GOEXPERIMENT=boringcrypto silently falls
	# back to Go's own crypto. build-caddy.sh's freshness check does not look at these variables,
	# so check the result's build info and rebuild when it is not what was asked for.
	boring="$ROOT/bin/caddy-bench-boring"
	GOEXPERIMENT=boringcrypto CGO_ENABLED=1 bash scripts/build-caddy.sh "$boring"
	if ! go version -m "$boring" | grep -q 'GOEXPERIMENT=boringcrypto' || ! go version -m "$boring" | grep -q 'CGO_ENABLED=1'; then
		say "$boring was not built with boringcrypto and cgo; rebuilding"
		FORCE=1 GOEXPERIMENT=boringcrypto CGO_ENABLED=1 bash scripts/build-caddy.sh "$boring"
	fi
	GOEXPERIMENT=boringcrypto CGO_ENABLED=1 go build -o "$ROOT/bin/antombench-boring" ./bench/cmd/antombench
	args+=(-boring-caddy "$boring" -boring-self "$ROOT/bin/antombench-boring")
fi

say "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
exec "$ROOT/bin/antombench" "${args[@]}" "$@"
