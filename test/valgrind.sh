#!/bin/bash
# test/valgrind.sh [BINDIR]: run a Primary A and its backup B under valgrind
# memcheck and drive them through checkouts, heartbeats, checkins, a revoke,
# reloads (SIGHUP and the admin call), bad requests, a takeover (kill -9 A),
# a handback (A restarted under valgrind), and SIGTERM. Fails (exit 1) when a
# valgrind run reports an error or a definite leak, or a step goes wrong.
#
# BINDIR defaults to $SL_BINDIR, then build/rel/bin (not a sanitizer build:
# valgrind and ASan do not mix). VG_KEEP=1 keeps the directory with the logs.
set -u
here=$(cd "$(dirname "$0")" && pwd)
BINDIR=${1:-${SL_BINDIR:-$here/../build/rel/bin}}
SLSERVE=$BINDIR/slserve
command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind is not installed" >&2; exit 77; }
[ -x "$SLSERVE" ] || { echo "valgrind.sh: no $SLSERVE (make first)" >&2; exit 1; }
if nm -D "$SLSERVE" 2>/dev/null | grep -qE "__(asan|tsan)_init"; then
	echo "valgrind.sh: $SLSERVE is a sanitizer build; use build/rel/bin" >&2
	exit 1
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/sl-vg.XXXXXX")
declare -A PID
failed=0

# sl_until SECONDS CMD...: a bounded poll; sl_free_port; sl_token;
# sl_scratch_done (test/poll.sh).
. "$here/poll.sh"

cleanup() {
	local n
	for n in "${!PID[@]}"; do kill -KILL "${PID[$n]}" 2>/dev/null; done
	wait 2>/dev/null
	local keep=${VG_KEEP:-0}
	[ "$failed" -eq 0 ] || keep=1
	sl_scratch_done "$T" "$keep" "valgrind.sh: logs"
}
trap cleanup EXIT

fail() {
	echo "valgrind.sh: FAIL: $*" >&2
	failed=1
	exit 1
}
step() { echo "# $*"; }

# sl_req METHOD URL [BODY [CURL-ARGS...]]: sets HTTP_CODE and HTTP_BODY
# (test/http.bash), keeping the answer in $SL_TMP; valgrind is slow.
. "$here/http.bash"
SL_TMP=$T SL_REQ_MAX_TIME=20

expect() {
	[ "$HTTP_CODE" = "$1" ] || fail "$2: expected HTTP $1, got $HTTP_CODE: $HTTP_BODY"
}
admin() {
	local name=$1 method=$2 path=$3
	shift 3
	sl_req "$method" "${URL[$name]}$path" "${1--}" -H "Authorization: Bearer $(cat "$T/$name/state/admin.token")"
}
healthy() { curl -fsS -m 5 -o /dev/null "$1/v1/health"; }
health_is() { curl -fsS -m 5 "$1/v1/health" | jq -e "$2" >/dev/null; }
lic_is() {
	curl -fsS -m 5 "$1/v1/licenses" | jq -e --arg id "$2" "any(.licenses[]; .id == \$id and ($3))" >/dev/null
}

declare -A URL PORT
for n in A B; do
	PORT[$n]=$(sl_free_port)
	URL[$n]=http://127.0.0.1:${PORT[$n]}
	mkdir -p "$T/$n"
	cat >"$T/$n/licenses.conf" <<EOF
license "$n-cad" {
  product = "cad"
  count = 3
  expires = "never"
  host = "any"
  timeout = 60
}
license "$n-sim" {
  product = "sim"
  count = 1
  expires = "never"
  host = "any"
  timeout = 0
}
EOF
done
[ "${PORT[A]}" != "${PORT[B]}" ] || fail "sl_free_port gave the same port twice"
sl_token "$T/peer.token"
for n in A B; do
	{
		echo "name = \"$n\""
		echo "listen = \"127.0.0.1:${PORT[$n]}\""
		echo 'state_dir = "state"'
		echo 'licenses = "licenses.conf"'
		echo "peer_token_file = \"$T/peer.token\""
		echo 'max_leases_per_client = 10'
		[ "$(id -u)" -ne 0 ] || echo 'allow_root = true'	# slserve refuses root unless told
	} >"$T/$n/slserve.conf"
done
cat >>"$T/B/slserve.conf" <<EOF
failover "A" {
  url = "${URL[A]}"
  poll_interval = 1
  fail_after = 3
}
EOF

RUN=0
# vg_start NAME: start slserve NAME under valgrind (log $T/NAME.vgN.log).
vg_start() {
	local n=$1
	RUN=$((RUN + 1))
	valgrind --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \
	    --error-exitcode=99 --num-callers=30 --log-file="$T/$n.vg$RUN.log" \
	    "$SLSERVE" -d -f "$T/$n/slserve.conf" >>"$T/$n/log" 2>&1 &
	PID[$n]=$!
	LOG[$n]=$T/$n.vg$RUN.log
	sl_until 60 healthy "${URL[$n]}" 2>/dev/null || fail "$n did not start under valgrind (see $T/$n/log)"
}
declare -A LOG

# vg_stop NAME: SIGTERM NAME and check valgrind's verdict.
vg_stop() {
	local n=$1 rc
	kill -TERM "${PID[$n]}"
	wait "${PID[$n]}"
	rc=$?
	unset "PID[$n]"
	if [ "$rc" -ne 0 ]; then
		cat "${LOG[$n]}" >&2
		fail "$n under valgrind exited $rc (99: memcheck errors or definite leaks)"
	fi
	grep -q 'ERROR SUMMARY: 0 errors' "${LOG[$n]}" || { cat "${LOG[$n]}" >&2; fail "$n: valgrind errors"; }
	step "$n: $(grep -E 'in use at exit|definitely lost|ERROR SUMMARY' "${LOG[$n]}" | sed 's/^==[0-9]*== *//' | tr '\n' ' ')"
}

step "start A and B under valgrind"
vg_start A
vg_start B
sl_until 60 health_is "${URL[B]}" 'any(.backs_up[]; .pool == "A" and .status == "warm")' 2>/dev/null ||
	fail "B never mirrored A"

step "checkouts, heartbeats, checkins on A"
co='{"product":"cad","client":"vg","user":"u","host":"h","pid":7}'
sl_req POST "${URL[A]}/v1/checkout" "$co"; expect 201 checkout
lease1=$(jq -r .lease <<<"$HTTP_BODY")
sl_req POST "${URL[A]}/v1/checkout" '{"product":"cad","lease":"vg-fixed-1-0123456789abcdef0123456789abcdef","client":"vg"}'; expect 201 "checkout with an id"
sl_req POST "${URL[A]}/v1/checkout" '{"product":"cad","lease":"vg-fixed-1-0123456789abcdef0123456789abcdef","client":"vg"}'; expect 200 "idempotent checkout"
sl_req POST "${URL[A]}/v1/checkout" '{"product":"sim","client":"vg"}'; expect 201 "hard checkout"
hard=$(jq -r .lease <<<"$HTTP_BODY")
sl_req POST "${URL[A]}/v1/checkout" '{"product":"sim","client":"vg"}'; expect 409 "no seats"
sl_req POST "${URL[A]}/v1/checkout" '{"product":"nope"}'; expect 404 "unknown product"
sl_req POST "${URL[A]}/v1/leases/$lease1/heartbeat" -; expect 200 heartbeat
sl_req POST "${URL[A]}/v1/leases/nosuchlease/heartbeat" -; expect 404 "heartbeat of an unknown lease"
sl_req POST "${URL[A]}/v1/checkout" "$co"; expect 201 "second checkout"
gone=$(jq -r .lease <<<"$HTTP_BODY")
sl_req DELETE "${URL[A]}/v1/leases/$gone" -; expect 200 checkin

step "bad requests"
sl_req POST "${URL[A]}/v1/checkout" '{"product":'; expect 400 "malformed JSON"
sl_req POST "${URL[A]}/v1/checkout" '{"product":"cad","bogus":1}'; expect 400 "unknown field"
head -c 70000 /dev/zero | tr '\0' 'x' >"$T/big"
sl_req POST "${URL[A]}/v1/checkout" "@$T/big"; expect 413 "too large"
sl_req GET "${URL[A]}/v1/nothing" -; expect 404 "unknown path"
sl_req POST "${URL[A]}/v1/health" -; expect 405 "wrong method"

step "admin: leases, revoke, reload (call and SIGHUP), usage, failover"
admin A GET /v1/leases; expect 200 "list leases"
admin A POST "/v1/leases/$hard/revoke" '{"for":60,"reason":"valgrind"}'; expect 200 revoke
sl_req POST "${URL[A]}/v1/leases/$hard/heartbeat" -; expect 410 "heartbeat after revoke"
sed -i 's/count = 3/count = 4/' "$T/A/licenses.conf"
admin A POST /v1/admin/reload; expect 200 reload
jq -e '.changed[0].new_count == 4' <<<"$HTTP_BODY" >/dev/null || fail "reload did not change the count: $HTTP_BODY"
printf 'license "A-extra" {\n  product = "extra"\n  count = 1\n  expires = "never"\n  host = "any"\n  timeout = 30\n}\n' >>"$T/A/licenses.conf"
kill -HUP "${PID[A]}"
sl_until 30 lic_is "${URL[A]}" A-extra true 2>/dev/null || fail "SIGHUP reload did not add A-extra"
echo 'license "broken" {' >>"$T/A/licenses.conf"
admin A POST /v1/admin/reload; expect 422 "reload of a broken file"
sed -i '$d' "$T/A/licenses.conf"
admin A GET "/v1/admin/usage?since=0"; expect 200 usage
admin B GET /v1/admin/failover; expect 200 "failover settings"
sl_req GET "${URL[A]}/metrics" -; expect 200 metrics
sl_req GET "${URL[A]}/" -; expect 200 "status page"
sl_req GET "${URL[A]}/v1/licenses" -; expect 200 licenses

step "takeover: kill -9 A; B serves pool A"
# B holds A's two cad seats, and has seen the checkin (else it counts three)
mirrors() {
	jq -e --arg a "$lease1" --arg g "$gone" '.mirror | has($a) and has("vg-fixed-1-0123456789abcdef0123456789abcdef") and (has($g) | not)' \
	    "$T/B/state/mirror-A.json" >/dev/null
}
sl_until 30 mirrors 2>/dev/null || fail "B never mirrored A's cad seats"
# ... and the count the reload raised to 4 (B learns it at its next poll)
sl_until 30 lic_is "${URL[B]}" A-cad '.pool == "A" and .max == 4' 2>/dev/null ||
	fail "B never mirrored A-cad's new count"
kill -KILL "${PID[A]}"
wait "${PID[A]}" 2>/dev/null
unset "PID[A]"
sl_until 60 health_is "${URL[B]}" 'any(.backs_up[]; .pool == "A" and .status == "hot-retry")' 2>/dev/null ||
	fail "B did not take over"
sl_req POST "${URL[B]}/v1/leases/$lease1/heartbeat" -; expect 200 "heartbeat of A's lease on B"
sl_req POST "${URL[B]}/v1/checkout" '{"product":"cad","pool":"A","client":"vg"}'; expect 201 "checkout of pool A on B"
onb=$(jq -r .lease <<<"$HTTP_BODY")
sl_req POST "${URL[B]}/v1/checkout" '{"product":"cad","pool":"A","client":"vg"}'; expect 201 "second checkout of pool A on B"
sl_req DELETE "${URL[B]}/v1/leases/$(jq -r .lease <<<"$HTTP_BODY")" -; expect 200 "checkin on B"
sl_req POST "${URL[B]}/v1/checkout" '{"product":"cad","client":"vg"}'; expect 201 "B's own pool"

step "handback: restart A under valgrind"
vg_start A
sl_until 60 health_is "${URL[B]}" 'any(.backs_up[]; .pool == "A" and .status == "warm")' 2>/dev/null ||
	fail "B did not hand back"
sl_req POST "${URL[A]}/v1/leases/$onb/heartbeat" -; expect 200 "A knows the lease B granted"
sl_req POST "${URL[B]}/v1/leases/$onb/heartbeat" -; expect 503 "B sends the holder to A"

step "SIGTERM both"
vg_stop A
vg_stop B
echo "valgrind.sh: OK: no memcheck errors, no definite leaks"
