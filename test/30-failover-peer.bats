#!/usr/bin/env bats
# Failover, peer calls: /v1/peer/* need the shared peer token (401 without it
# or with another one, and nothing changes); a backup with the wrong token
# never mirrors the Primary.

load helpers-failover

setup() {
	fo_setup
	fo_start_pair "cad-a cad 3 30"
	echo "not-the-peer-token-0123456789" >"$SL_TMP/wrong.token"
}

teardown() { sl_teardown; }

# unauthorized METHOD URL [BODY]: 401 unauthorized without a token, with a
# wrong one, and with the server's admin token; the answer carries the epoch.
unauthorized() {
	local method=$1 url=$2 body=${3--} admin
	admin=$(sl_admin_token A)
	sl_req "$method" "$url" "$body"
	sl_expect 401 '.error == "unauthorized" and (.message | length > 0)'
	sl_req "$method" "$url" "$body" -H "Authorization: Bearer $(cat "$SL_TMP/wrong.token")"
	sl_expect 401 '.error == "unauthorized"'
	sl_req "$method" "$url" "$body" -H "Authorization: Bearer $admin"
	sl_expect 401 '.error == "unauthorized"'
	sl_req "$method" "$url" "$body" -H "Authorization: Basic $(head -n1 "$SL_TMP/peer.token")"
	sl_expect 401 '.error == "unauthorized"'
	curl -s -m 5 -D - -o /dev/null -X "$method" "$url" | grep -qi '^X-SL-Epoch: [0-9a-f]\{16\}'
}

@test "every /v1/peer call is 401 without the peer token or with another one; nothing changes" {
	# sync: 401, then 200 with the peer token.
	unauthorized GET "$UA/v1/peer/sync?since=0&epoch=none&name=X&url="
	fo_peer "$UA" GET "/v1/peer/sync?since=0&epoch=none&name=X&url="
	epoch=$(curl -fsS -m 3 "$UA/v1/health" | jq -r .epoch)
	sl_expect 200 '.name == "A" and .epoch == $e and .full == true and
	    (.licenses | map(.id) == ["cad-a"]) and (.leases | type == "array")' --arg e "$epoch"

	# handback: 401, and the lease it carries does not slip in.
	body='{"pool":"A","from":"B","leases":[{"id":"intruder01","license":"cad-a","product":"cad","pool":"A","client":"x","user":"x","host":"x","pid":1,"since":1,"expires_ms":0}],"released":[]}'
	unauthorized POST "$UA/v1/peer/handback" "$body"
	[ "$(fo_leases A | jq '.leases | length')" = 0 ]
	fo_lic_is "$UA" cad-a '.in_use == 0'
	sl_heartbeat "$UA" intruder01
	sl_expect 404 '.error == "unknown_lease"'

	# release and probe, on the backup: 401, and the backup stays as it was.
	unauthorized POST "$UB/v1/peer/release" '{"pool":"A"}'
	unauthorized GET "$UB/v1/peer/probe?url=$UA"
	fo_pool_status_is "$UB" A warm
}

@test "a backup with another peer token is refused: it mirrors nothing, never takes over, the Primary stays hot" {
	fo_ports C
	sl_licenses C "cad-c cad 1 30"
	sl_server_config C "$(fo_port C)" "peer_token_file = \"$SL_TMP/wrong.token\"" "$(fo_backs_up A)"
	sl_start C
	# C's polls are refused (401): A is up, so C says so and stays warm.
	sl_until $((2 + FO_MARGIN)) grep -q 'refuses our polls (HTTP 401' "$SL_TMP/C/log"
	# The Primary's own words, its quotes as they are (no \x22 noise).
	grep -q 'refuses our polls (HTTP 401: this call needs the peer token of server "A"' "$SL_TMP/C/log"
	sl_health_is "$UA" '.backups | map(.name) == ["B"]'
	run curl -fsS -m 3 "$URL_C/v1/licenses"
	assert_success
	jq -e '[.licenses[] | select(.pool == "A")] | length == 0' <<<"$output"
	# For five times the fail_after polls: no takeover.
	window=$(awk -v p="$FO_POLL" -v f="$FO_FAIL" 'BEGIN { print 5 * p * f }')
	# Refused polls count as failed (issue 18), all of them refused ones:
	# none counts towards a takeover.
	fo_holds "$window" sl_health_is "$URL_C" \
	    '.backs_up[0] | .status == "warm" and .refused_polls > 0 and
	    .failed_polls == .refused_polls and .last_poll_age == null'
	sl_co "$URL_C" cad pool=A
	sl_expect 503 '.error == "not_serving"'
	! grep -q 'took over' "$SL_TMP/C/log"
	# Said once, not on every poll (the log would fill at one line a poll).
	[ "$(grep -c 'refuses our polls' "$SL_TMP/C/log")" -eq 1 ]
	# B (right token) is unaffected; once B stops, A goes hot.
	sl_stop B
	sl_until $((2 + FO_MARGIN)) fo_own_status_is "$UA" hot
}

@test "a witness's probes of a server that hangs do not hold its HTTP threads: health answers first" {
	# A server that accepts and never answers: each probe of it takes the
	# probe's whole timeout (1 s).
	port=$(sl_free_port)
	python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64)
held = []
while True:
    c, _ = s.accept(); held.append(c)
' "$port" &
hang=$!
	sl_until 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port"
	tok=$(head -n1 "$SL_TMP/peer.token")
	# As many probes at once as B has HTTP threads and more, then a health check.
	pids=()
	for i in 1 2 3 4; do
		{ curl -sS -m 10 -H "Authorization: Bearer $tok" \
		    "$UB/v1/peer/probe?url=http://127.0.0.1:$port" >"$SL_TMP/probe.$i"; date +%s%N >"$SL_TMP/probe.$i.done"; } &
		pids+=($!)
	done
	sleep 0.2
	curl -fsS -m 10 "$UB/v1/health" >/dev/null
	date +%s%N >"$SL_TMP/health.done"
	wait "${pids[@]}"
	kill "$hang"
	# Each probe says the server is not reachable, and came after health.
	for i in 1 2 3 4; do
		jq -e --arg u "http://127.0.0.1:$port" '.url == $u and .reachable == false' "$SL_TMP/probe.$i" >/dev/null
		[ "$(cat "$SL_TMP/health.done")" -lt "$(cat "$SL_TMP/probe.$i.done")" ]
	done
}
