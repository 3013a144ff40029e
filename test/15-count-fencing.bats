#!/usr/bin/env bats
# Count safety, fencing: a Primary that stood still (SIGSTOP, a paused VM)
# while its backup took over grants nothing on waking: the checkouts that
# queued meanwhile are answered 503 not_serving, never 201, and after the
# handback the pool holds exactly its count. A backup that is down does not
# stop the Primary from granting.

load helpers-failover

setup() { fo_setup; }
teardown() { sl_teardown; }

# hung_primary [CONFIG-LINES...]: A (cad-a, 4 seats) and its backup B, A's
# config lines given; one seat from A, then A stopped until B has taken
# over and granted the rest; 6 checkouts sent to A while it is stopped; A
# continued. Sets ACKED (seats acknowledged with 201), QUEUED_201 (how many
# of the queued checkouts A granted).
hung_primary() {
	fo_pair "cad-a cad 4 30"
	fo_config A "$@"
	fo_config B "$(fo_backs_up A)"
	sl_start A
	sl_start B
	fo_warm B A

	sl_co "$UA" cad
	sl_expect 201
	local l1
	l1=$(jq -r .lease <<<"$HTTP_BODY")
	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$l1"
	ACKED=1

	kill -STOP "$(sl_pid A)"
	sl_until "$(fo_takeover_limit)" fo_granted_pool_a
	ACKED=$((ACKED + 1))
	while sl_co "$UB" cad pool=A && [ "$HTTP_CODE" = 201 ]; do
		ACKED=$((ACKED + 1))
	done
	sl_expect 409 '.error == "no_seats"'
	[ "$ACKED" -eq 4 ]

	# Checkouts that reach the stopped Primary wait in its socket.
	local i pids=()
	for i in 1 2 3 4 5 6; do
		curl -sS -m 30 -o "$SL_TMP/queued.$i" -w '%{http_code}' \
		    -H 'Content-Type: application/json' \
		    -d "{\"product\":\"cad\",\"client\":\"q$i\",\"user\":\"u\",\"host\":\"h\"}" \
		    "$UA/v1/checkout" >"$SL_TMP/queued.$i.code" 2>/dev/null &
		pids+=($!)
	done
	# Let them reach A's socket before it runs again.
	sl_until 5 queued_at_a 6
	kill -CONT "$(sl_pid A)"
	wait "${pids[@]}" || true
	QUEUED_201=0
	for i in 1 2 3 4 5 6; do
		code=$(cat "$SL_TMP/queued.$i.code")
		echo "# queued checkout $i: HTTP $code $(cat "$SL_TMP/queued.$i")" >&3
		case $code in
		201) QUEUED_201=$((QUEUED_201 + 1)) ;;
		503) jq -e '.error == "not_serving"' "$SL_TMP/queued.$i" >/dev/null ;;
		409) jq -e '.error == "no_seats"' "$SL_TMP/queued.$i" >/dev/null ;;
		*) echo "unexpected answer $code" >&2; return 1 ;;
		esac
	done
}

# queued_at_a N: N connections to A's port are established (A is stopped,
# so they wait in its listen queue or socket).
queued_at_a() {
	local port=${UA##*:}
	[ "$(ss -Htn state established "( dport = :$port )" | wc -l)" -ge "$1" ]
}

# handed_back: B is warm for A again and A's licenses show hot-warm.
handed_back() {
	fo_pool_status_is "$UB" A warm && fo_own_status_is "$UA" hot-warm
}

check_count_after_handback() {
	sl_until $((5 + FO_MARGIN)) handed_back
	# Every acknowledged seat is held once, by A; no more than the count.
	fo_lic_is "$UA" cad-a '.in_use == 4 and .max == 4'
	[ "$(fo_leases A | jq '[.leases[] | select(.license == "cad-a")] | length')" -eq 4 ]
	# ... and A, back in charge, refuses a fifth.
	sl_co "$UA" cad
	sl_expect 409 '.error == "no_seats"'
}

@test "SIGSTOP of the Primary past takeover, asynchronous mirroring: no queued checkout granted" {
	hung_primary "synchronous_backup = false"
	[ "$QUEUED_201" -eq 0 ]
	check_count_after_handback
}

@test "SIGSTOP of the Primary past takeover (synchronous_backup, the default): no queued checkout granted" {
	hung_primary
	[ "$QUEUED_201" -eq 0 ]
	check_count_after_handback
}

@test "a Primary whose backup is down still grants; health shows the backup absent" {
	fo_start_pair "cad-a cad 4 30"
	sl_until $((2 + FO_MARGIN)) sl_health_is "$UA" \
	    'any(.backups[]; .name == "B" and .fence == "held" and .fence_left > 0)'
	sl_kill9 B
	sl_co "$UA" cad
	sl_expect 201 '.pool == "A"'
	sl_until $((3 + FO_MARGIN)) sl_health_is "$UA" \
	    'any(.backups[]; .name == "B" and .fence == "absent")'
	grep -q 'fence: backup "B" at .*: absent' "$SL_TMP/A/log"
}

@test "POST /v1/peer/fence: a warm backup promises at most its takeover time; a serving one says so" {
	fo_start_pair "cad-a cad 4 30"
	fo_peer "$UB" POST /v1/peer/fence '{"pool":"A","ttl_ms":60000}'
	# poll_interval 0.2 x fail_after 3
	sl_expect 200 '.serving == false and .ttl_ms == 600 and .server == "B"'
	fo_peer "$UB" POST /v1/peer/fence '{"pool":"nosuch","ttl_ms":1000}'
	sl_expect 404 '.error == "unknown_pool"'
	fo_peer "$UB" POST /v1/peer/fence '{"pool":"A"}'
	sl_expect 400
	sl_req POST "$UB/v1/peer/fence" '{"pool":"A","ttl_ms":1000}'
	sl_expect 401
	fo_kill9_taken_over A B
	fo_peer "$UB" POST /v1/peer/fence '{"pool":"A","ttl_ms":60000}'
	sl_expect 200 '.serving == true'
}
