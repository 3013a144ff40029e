#!/bin/sh
# bench/failover-times.sh: measure failover with two real slserve processes.
#
#   takeover: kill -9 of the Primary -> first seat granted by the backup
#             (a checkout naming the Primary's pool answered 201)
#   handback: start of the restarted Primary -> the Primary lists every seat
#             (those it granted and the one the backup granted) and the
#             backup reports the pool warm again
#
# Each setting is run RUNS times (default 5); the table gives the median and
# the range, and the design bound poll_interval x fail_after + one poll.
#
# usage: bench/failover-times.sh [-b BINDIR] [-n RUNS] [SETTING...]
#        SETTING is POLL_INTERVAL:FAIL_AFTER (default: 1:3 0.2:3)
# Needs curl, jq and python3 (to find free ports).
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
# sl_until SECONDS CMD...: run CMD until it succeeds, for at most SECONDS,
# every SL_POLL_EVERY seconds (the test suite's bounded poll); sl_free_port;
# sl_token; sl_bench_args (test/poll.sh).
. "$here/test/poll.sh"
sl_bench_args failover-times 5 17 "$@"
runs=$count
shift $((OPTIND - 1))
[ $# -gt 0 ] || set -- 1:3 0.2:3
for tool in curl jq python3; do
	command -v "$tool" >/dev/null || { echo "failover-times: needs $tool" >&2; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/slfailover.XXXXXX")
pids=""
cleanup() {
	for p in $pids; do kill -CONT "$p" 2>/dev/null || true; kill -KILL "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

now_ms() { echo $(($(date +%s%N) / 1000000)); }

healthy() { curl -fsS -m 1 -o /dev/null "$1/v1/health" 2>/dev/null; }

start() { # NAME: run server NAME (foreground mode) in the background; sets started
	"$slserve" -d -f "$dir/$1/slserve.conf" >>"$dir/$1/log" 2>&1 &
	started=$!
	pids="$pids $started"
}

config() { # NAME PORT [EXTRA]
	mkdir -p "$dir/$1"
	cat >"$dir/$1/licenses.conf" <<-EOF
	license "cad-$1" {
	  product = "cad"
	  count   = 10
	  expires = "never"
	  host    = "any"
	  timeout = 300
	}
	EOF
	{
		echo "name = \"$1\""
		echo "listen = \"127.0.0.1:$2\""
		echo "state_dir = \"state\""
		echo "licenses = \"licenses.conf\""
		echo "peer_token_file = \"$dir/peer.token\""
		[ $# -lt 3 ] || echo "$3"
		[ "$(id -u)" -ne 0 ] || echo "allow_root = true"	# slserve refuses root unless told
	} >"$dir/$1/slserve.conf"
}

checkout() { # URL [POOL] -> prints HTTP status, body in $dir/body
	body='{"product":"cad","client":"bench","user":"u","host":"h","pid":1'
	[ $# -lt 2 ] || body="$body,\"pool\":\"$2\""
	curl -s -m 1 -o "$dir/body" -w '%{http_code}' -X POST \
	    -H 'Content-Type: application/json' -d "$body}" "$1/v1/checkout" 2>/dev/null || true
}

mirror_has() { # N: the backup mirrors N leases of A (its Licenses table)
	curl -fsS -m 1 "$ub/v1/licenses" 2>/dev/null |
	    jq -e --argjson n "$1" '[.licenses[] | select(.pool == "A") | .in_use] | add == $n' \
	    >/dev/null
}

pool_status_is() { # STATUS
	curl -fsS -m 1 "$ub/v1/health" 2>/dev/null |
	    jq -e --arg s "$1" 'any(.backs_up[]; .pool == "A" and .status == $s)' >/dev/null
}

a_holds() { # N: the Primary lists N leases
	curl -fsS -m 1 -H "Authorization: Bearer $(cat "$dir/A/state/admin.token")" \
	    "$ua/v1/leases" 2>/dev/null | jq -e --argjson n "$1" '.leases | length == $n' >/dev/null
}

granted() { # URL [POOL]: a checkout is answered 201
	[ "$(checkout "$@")" = 201 ]
}

handed_back() { # the Primary lists all 4 seats and the backup is warm again
	a_holds 4 && pool_status_is warm
}

# one_run POLL FAIL: prints "TAKEOVER_MS HANDBACK_MS".
one_run() {
	dir=$tmp/run.$$.$(now_ms)
	mkdir -p "$dir"
	sl_token "$dir/peer.token"
	pa=$(sl_free_port)
	pb=$(sl_free_port)
	while [ "$pb" = "$pa" ]; do pb=$(sl_free_port); done
	ua=http://127.0.0.1:$pa ub=http://127.0.0.1:$pb
	config A "$pa"
	config B "$pb" "failover \"A\" { url = \"$ua\" poll_interval = $1 fail_after = $2 }"
	start A
	pid_a=$started
	start B
	pid_b=$started
	sl_until 10 healthy "$ua"
	sl_until 10 healthy "$ub"
	sl_until 20 pool_status_is warm
	for _ in 1 2 3; do
		[ "$(checkout "$ua")" = 201 ] || { echo "failover-times: checkout on A failed" >&2; return 1; }
	done
	sl_until 20 mirror_has 3

	# Takeover: kill -9 A, then ask B for a pool-A seat until it grants one.
	t0=$(now_ms)
	kill -KILL "$pid_a"
	wait "$pid_a" 2>/dev/null || true
	SL_POLL_EVERY=0.01 sl_until 60 granted "$ub" A ||
	    { echo "failover-times: no takeover in 60 s" >&2; return 1; }
	takeover=$(($(now_ms) - t0))

	# Handback: restart A; done when A lists all 4 seats and B is warm.
	t0=$(now_ms)
	start A
	pid_a=$started
	SL_POLL_EVERY=0.01 sl_until 60 handed_back ||
	    { echo "failover-times: no handback in 60 s" >&2; return 1; }
	handback=$(($(now_ms) - t0))

	kill -TERM "$pid_a" "$pid_b" 2>/dev/null || true
	wait "$pid_a" "$pid_b" 2>/dev/null || true
	rm -rf "$dir"
	echo "$takeover $handback"
}

# stats: numbers (ms) on stdin -> "median min max" in seconds.
stats() {
	sort -n | awk '{ v[NR] = $1 } END {
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.2f %.2f %.2f\n", m / 1000, v[1] / 1000, v[NR] / 1000 }'
}

printf '%-14s %-10s %-8s %-22s %-22s\n' poll_interval fail_after bound_s \
    "takeover_s (min-max)" "handback_s (min-max)"
for setting in "$@"; do
	poll=${setting%%:*} fail=${setting#*:}
	: >"$tmp/times"
	i=0
	while [ "$i" -lt "$runs" ]; do
		one_run "$poll" "$fail" >>"$tmp/times"
		i=$((i + 1))
	done
	bound=$(awk -v p="$poll" -v f="$fail" 'BEGIN { printf "%.1f", p * f + p }')
	# shellcheck disable=SC2046 # split into median, min, max
	set -- $(cut -d' ' -f1 "$tmp/times" | stats)
	take="$1 ($2-$3)"
	# shellcheck disable=SC2046
	set -- $(cut -d' ' -f2 "$tmp/times" | stats)
	hand="$1 ($2-$3)"
	printf '%-14s %-10s %-8s %-22s %-22s\n' "$poll" "$fail" "$bound" "$take" "$hand"
done
