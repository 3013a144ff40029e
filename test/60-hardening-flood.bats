#!/usr/bin/env bats
# Hardening, issue 20: one client cannot starve the rest. Connection
# floods and idle bursts from another address (127.0.0.2), request
# smuggling, lease floods; all with the shipped defaults.

load helpers-hardening

setup() { hd_setup fl; }

# (a background helper's pid file lets sl_teardown stop it)
teardown() { sl_teardown; }

# flood COUNT SECONDS [reopen]: test/flood.py from 127.0.0.2 in the
# background; waits until its burst is sent.
flood() {
	[ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -ge 5200 ] ||
	    skip "needs 5200 open files (ulimit -Hn)"
	ulimit -Sn "$(ulimit -Hn)"
	python3 "$BATS_TEST_DIRNAME/flood.py" 127.0.0.2 127.0.0.1 "$PORT" "$@" \
	    >"$SL_TMP/flood.out" &
	FLOOD=$!
	echo "$FLOOD" >"$SL_TMP/flood.pid"
	sl_until 20 grep -q '^ready' "$SL_TMP/flood.out"
}

# raw: send stdin to the server as is; prints the answer, then <closed>
# or <open> (test/rawhttp.py).
raw() { python3 "$BATS_TEST_DIRNAME/rawhttp.py" "$PORT"; }

# checkout CLIENT USER PRODUCT [CURL-ARGS...]: POST /v1/checkout within
# 1 s; sets CODE and BODY.
checkout() {
	local c=$1 u=$2 p=$3
	shift 3
	BODY=$(curl -sS -m 1 -w '\n%{http_code}' "$@" -H 'Content-Type: application/json' \
	    --data-binary "{\"product\":\"$p\",\"client\":\"$c\",\"user\":\"$u\",\"host\":\"h\"}" \
	    "$U/v1/checkout")
	CODE=${BODY##*$'\n'}
	BODY=${BODY%$'\n'*}
}

@test "flood: 5000 connections held and reopened by one address do not keep another client from a seat" {
	hd_start
	flood 5000 20 reopen
	local i
	for i in $(seq 10); do
		checkout "c$i" u viewer
		[ "$CODE" = 201 ]
	done
	checkout c u cad
	[ "$CODE" = 201 ]
	run "$SLCHECK" -s "$U" check
	assert_success
	# the flood was going on all along
	kill -0 "$FLOOD"
}

@test "flood: a burst of 5000 idle connections from one address does not delay a health check" {
	hd_start
	flood 5000 10
	local i ms worst=0
	for i in $(seq 10); do
		ms=$(curl -fsS -m 0.5 -o /dev/null -w '%{time_total}' "$U/v1/health" |
		    awk '{ printf "%d\n", $1 * 1000 }')
		[ "$ms" -gt "$worst" ] && worst=$ms
	done
	echo "# worst of 10 health calls beside a burst of 5000 idle connections: $worst ms" >&3
	[ "$worst" -lt 500 ]
}

@test "framing: Content-Length with Transfer-Encoding is refused with 400 and a close, in either order; nothing is granted" {
	hd_start
	local body='{"product":"cad","client":"c","user":"u","host":"h"}'
	local smuggled=$'GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n'
	[ "$(sl_in_use "$U" cad-1)" = 0 ]
	run raw < <(printf 'POST /v1/checkout HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n%s' \
	    "${#body}" "${#body}" "$body" "$smuggled")
	assert_line --index 0 'HTTP/1.1 400 Bad Request'
	assert_line 'Connection: close'
	assert_line --index -1 '<closed>'
	jq -e '.error == "bad_request" and (.message | test("Content-Length and Transfer-Encoding"))' \
	    <<<"${lines[-2]}"
	[ "$(grep -c '^HTTP/1.1' <<<"$output")" = 1 ]	# the smuggled request was not read
	run raw < <(printf 'POST /v1/checkout HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\nPOST /v1/checkout HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
	    "${#body}" "$body")
	assert_line --index 0 'HTTP/1.1 400 Bad Request'
	assert_line --index -1 '<closed>'
	[ "$(grep -c '^HTTP/1.1' <<<"$output")" = 1 ]
	[ "$(sl_in_use "$U" cad-1)" = 0 ]
	run curl -fsS -m 3 "$U/v1/health"
	assert_success
}

@test "framing: an unknown transfer coding gets 501 and a close at once" {
	hd_start
	local t0=$SECONDS
	run raw < <(printf 'POST /v1/checkout HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: xchunked\r\n\r\n{"product":"cad"}')
	assert_line --index 0 'HTTP/1.1 501 Not Implemented'
	assert_line --index -1 '<closed>'
	jq -e '.error == "not_implemented"' <<<"${lines[-2]}"
	[ $((SECONDS - t0)) -le 2 ]
	[ "$(sl_in_use "$U" cad-1)" = 0 ]
	# chunked alone is read as before
	run curl -sS -m 3 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
	    -H 'Transfer-Encoding: chunked' --data-binary '{"product":"cad"}' "$U/v1/checkout"
	assert_output 201
}

@test "auth: the Authorization scheme is matched without regard to case, with one or more spaces" {
	hd_start
	local token
	token=$(sl_admin_token fl)
	local auth
	for auth in "bearer $token" "BEARER $token" "Bearer   $token" "bEaReR $token"; do
		run curl -sS -m 3 -o /dev/null -w '%{http_code}' -H "Authorization: $auth" "$U/v1/leases"
		assert_output 200
	done
	for auth in "bearer wrong" "Bearer" "Basic $token" "Bearer$token"; do
		run curl -sS -m 3 -o /dev/null -w '%{http_code}' -H "Authorization: $auth" "$U/v1/leases"
		assert_output 401
	done
}

# leaseflood SOURCE COUNT PRODUCT: COUNT checkouts from SOURCE, each under
# another client, user and host name (test/leaseflood.py); sets FLOODED.
leaseflood() {
	FLOODED=$(python3 "$BATS_TEST_DIRNAME/leaseflood.py" "$1" "$PORT" "$2" 16 "$3")
	echo "# $FLOODED" >&3
}

@test "leases: a flood of an unlimited license from one address stops at max_leases_per_ip (1000); renaming does not help; another address still gets seats" {
	hd_start
	leaseflood 127.0.0.2 1100 viewer
	jq -e '.codes == {"201": 1000, "429": 100}' <<<"$FLOODED"
	jq -e '.refused.error == "too_many_leases_per_ip" and .refused.limit == 1000 and
	    .refused.address == "127.0.0.2" and
	    (.refused.message | test("127.0.0.2") and test("max_leases_per_ip = 1000"))' <<<"$FLOODED"
	[ "$(sl_in_use "$U" view-free)" = 1000 ]
	# another address: seats of every license
	checkout other u viewer; [ "$CODE" = 201 ]
	checkout other u cad; [ "$CODE" = 201 ]
	# the flooding address, under yet another name, of a counted license
	checkout fresh-name u cad --interface 127.0.0.2
	[ "$CODE" = 429 ]
	jq -e '.error == "too_many_leases_per_ip"' <<<"$BODY"
	[ "$(sl_in_use "$U" cad-1)" = 1 ]
}

@test "leases: max_leases_per_ip counts by address, not by the names a client asserts, and across a restart" {
	hd_start "max_leases_per_ip = 2" "compact_after = 10"
	checkout a1 u1 cad --interface 127.0.0.2; [ "$CODE" = 201 ]
	local first
	first=$(jq -r .lease <<<"$BODY")
	checkout a2 u2 cad --interface 127.0.0.2; [ "$CODE" = 201 ]
	checkout a3 u3 viewer --interface 127.0.0.2; [ "$CODE" = 429 ]
	jq -e '.error == "too_many_leases_per_ip" and .limit == 2' <<<"$BODY"
	checkout b1 u1 viewer --interface 127.0.0.3; [ "$CODE" = 201 ]
	checkout b2 u2 viewer --interface 127.0.0.3; [ "$CODE" = 201 ]
	checkout b3 u3 viewer --interface 127.0.0.3; [ "$CODE" = 429 ]
	checkout c1 u1 viewer; [ "$CODE" = 201 ]
	# the address is in the journal and the snapshot, so a restart keeps
	# counting it: enough records for a snapshot first
	local i id
	for i in $(seq 6); do
		checkout "c$i" u1 sim; [ "$CODE" = 201 ]
		id=$(jq -r .lease <<<"$BODY")
		curl -fsS -m 3 -o /dev/null -X DELETE "$U/v1/leases/$id"
	done
	sl_until 5 grep -q '"addr":"127.0.0.3"' "$SL_TMP/fl/state/snapshot.json"
	sl_stop fl
	sl_start fl
	checkout a4 u4 viewer --interface 127.0.0.2; [ "$CODE" = 429 ]
	checkout b4 u4 viewer --interface 127.0.0.3; [ "$CODE" = 429 ]
	# a checkin frees a place
	run curl -fsS -m 3 -X DELETE "$U/v1/leases/$first"
	assert_success
	checkout a5 u5 viewer --interface 127.0.0.2; [ "$CODE" = 201 ]
	checkout a6 u6 viewer --interface 127.0.0.2; [ "$CODE" = 429 ]
}

@test "leases: max_leases bounds the live leases of the server: 503 too_many_leases_total" {
	hd_start "max_leases = 3"
	checkout a u viewer; [ "$CODE" = 201 ]
	checkout b u viewer --interface 127.0.0.2; [ "$CODE" = 201 ]
	checkout c u cad --interface 127.0.0.3; [ "$CODE" = 201 ]
	checkout d u viewer; [ "$CODE" = 503 ]
	jq -e '.error == "too_many_leases_total" and .limit == 3 and
	    (.message | test("max_leases = 3"))' <<<"$BODY"
	# unknown products and full licenses answer as before
	checkout d u nosuch; [ "$CODE" = 404 ]
}
