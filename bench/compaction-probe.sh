#!/bin/sh
# bench/compaction-probe.sh: how long a request waits for the store lock
# while compactions copy 100,000 leases.
#
# One slserve (compact_after = 20000) is filled with LEASES leases (100,000)
# by checkouts; then one client sends heartbeats one after another (a
# heartbeat takes the store lock and waits for no disk) while 45,000 more
# checkouts make two or three compactions. Prints the heartbeats' p50, p99,
# p99.9 and max and the five slowest: before the compaction's copy was
# sliced, the slowest were the 35-50 ms it held the lock.
#
# usage: bench/compaction-probe.sh [-b BINDIR] [-n LEASES]
# Needs curl and python3 (to find a free port).
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
# sl_until, sl_free_port, sl_bench_args (test/poll.sh)
. "$here/test/poll.sh"
sl_bench_args compaction-probe 100000 13 "$@"
leases=$count

tmp=$(mktemp -d "${TMPDIR:-/tmp}/slprobe.XXXXXX")
pid=""
cleanup() {
	[ -z "$pid" ] || kill -KILL "$pid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

port=$(sl_free_port)
url=http://127.0.0.1:$port
awk 'BEGIN { for (i = 0; i < 100; i++)
	printf "license \"probe-%02d\" { product = \"p%02d\" count = 2000 expires = \"never\" host = \"any\" timeout = 3600 }\n", i, i }' \
    >"$tmp/licenses.conf"
{
	echo 'name = "probe"'
	echo "listen = \"127.0.0.1:$port\""
	echo 'state_dir = "state"'
	echo 'licenses = "licenses.conf"'
	echo 'max_leases_per_client = 1000000'
	echo 'max_leases_per_ip = 0'
	echo 'compact_after = 20000'
	[ "$(id -u)" -ne 0 ] || echo 'allow_root = true'
} >"$tmp/slserve.conf"
"$slserve" -d -v -f "$tmp/slserve.conf" >"$tmp/log" 2>&1 &
pid=$!
sl_until 10 curl -fsS -m 1 -o /dev/null "$url/v1/health" 2>/dev/null

# checkouts PREFIX N: a curl config of N checkouts, PREFIX-0..PREFIX-(N-1)
# (each id ending in 32 hex digits: client-chosen ids carry 128 bits).
H=0123456789abcdef0123456789abcdef
checkouts() {
	awk -v url="$url" -v p="$1" -v n="$2" -v h="$H" 'BEGIN { for (i = 0; i < n; i++) {
		if (i) print "next"
		printf "url = \"%s/v1/checkout\"\n", url
		printf "data = \"{\\\"product\\\":\\\"p%02d\\\",\\\"lease\\\":\\\"%s-%d-%s\\\",\\\"client\\\":\\\"c%d\\\"}\"\n", i % 100, p, i, h, i % 50
		print "output = \"/dev/null\""
		print "write-out = \"%{http_code}\\n\""
	} }'
}
checkouts fill "$leases" >"$tmp/fill.cfg"
checkouts more 45000 >"$tmp/more.cfg"
awk -v url="$url" -v h="$H" 'BEGIN { for (i = 0; i < 30000; i++) {
	if (i) print "next"
	printf "url = \"%s/v1/leases/fill-7-%s/heartbeat\"\nrequest = \"POST\"\n", url, h
	print "output = \"/dev/null\""
	print "write-out = \"%{time_total}\\n\""
} }' >"$tmp/hb.cfg"

curl -s --no-progress-meter --parallel --parallel-max 32 -K "$tmp/fill.cfg" >"$tmp/fill.out"
[ "$(grep -c '^201$' "$tmp/fill.out")" -eq "$leases" ] ||
    { echo "compaction-probe: the fill was refused: $(sort "$tmp/fill.out" | uniq -c)" >&2; exit 1; }
sleep 3		# the fill's last compaction
before=$(grep -c 'journal compacted' "$tmp/log" || true)
curl -s --no-progress-meter -K "$tmp/hb.cfg" >"$tmp/hb.out" &
hb=$!
sleep 0.5
curl -s --no-progress-meter --parallel --parallel-max 8 -K "$tmp/more.cfg" >/dev/null
kill "$hb" 2>/dev/null || true
wait "$hb" 2>/dev/null || true
after=$(grep -c 'journal compacted' "$tmp/log" || true)
sort -g "$tmp/hb.out" | awk -v c=$((after - before)) -v n="$leases" '{ a[NR] = $1 * 1000 }
END {
	printf "heartbeats during %d compactions of %d+ leases: %d, p50 %.2f ms, p99 %.2f, p99.9 %.2f, max %.2f; slowest:",
	    c, n, NR, a[int(NR * .5)], a[int(NR * .99)], a[int(NR * .999)], a[NR]
	for (i = NR; i > NR - 5 && i > 0; i--) printf " %.1f", a[i]
	print " ms"
}'
