#!/usr/bin/env bats
# Failover, handback: when the Primary is back (restarted after kill -9, or
# resumed after SIGSTOP) it holds every seat exactly once, in use stays within
# the count, the backup is warm again and its copies point clients at the
# Primary.

load helpers-failover

setup() {
	fo_setup
	fo_start_pair "cad-a cad 3 30" "sim-a sim 1 0" "short-a short 1 2"
	export SL_SERVERS="$UA+$UB"
}

teardown() { sl_teardown; }

# leases_exactly NAME "ID..." : server NAME lists exactly these leases, each once.
leases_exactly() {
	local want got
	want=$(tr ' ' '\n' <<<"$2" | sed '/^$/d' | sort | jq -Rsc 'split("\n") | map(select(. != ""))')
	got=$(fo_leases "$1" | jq -c '[.leases[].lease] | sort')
	[ "$got" = "$want" ] && return 0
	echo "$1 lists $got, expected $want" >&2
	return 1
}

# within_counts URL: no license of URL's own pool has more seats in use than its count.
within_counts() {
	curl -fsS -m 3 "$1/v1/licenses" |
	    jq -e '[.licenses[] | select(.role == "primary") | select(.max >= 0 and .in_use > .max)] | length == 0' >/dev/null
}

# handed_back URL LEASE: the backup answers for LEASE 503 not_serving naming A.
handed_back() {
	sl_heartbeat "$1" "$2"
	sl_expect 503 '.error == "not_serving" and .primary == $u and (.message | test("A"))' --arg u "$UA"
}

@test "restart after kill -9: the Primary takes every seat back before serving; none lost or doubled" {
	t1=$("$SLCHECK" checkout cad)
	t2=$("$SLCHECK" checkout cad)
	t3=$("$SLCHECK" checkout sim)
	ts=$("$SLCHECK" checkout short)
	l1=$(fo_token_lease "$t1") l2=$(fo_token_lease "$t2") l3=$(fo_token_lease "$t3")
	ls=$(fo_token_lease "$ts")
	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$l1 $l2 $l3 $ls"

	fo_kill9_taken_over A B
	# The 2-second seat nobody renews expires on the backup.
	sl_until $((3 + FO_MARGIN)) fo_lic_is "$UB" short-a '.in_use == 0'
	# While A is down: a new seat from the backup, a checkin and a heartbeat.
	t4=$("$SLCHECK" checkout cad)
	[[ $t4 == *":A@$UB" ]]
	l4=$(fo_token_lease "$t4")
	run "$SLCHECK" checkin "$t2"
	[ "$status" -eq "$EX_OK" ]
	run "$SLCHECK" heartbeat "$t1"
	[ "$status" -eq "$EX_OK" ]
	fo_lic_is "$UB" cad-a '.in_use == 2'

	# A pulls from its backup before it answers anything.
	sl_start A
	leases_exactly A "$l1 $l3 $l4"
	fo_lic_is "$UA" cad-a '.in_use == 2 and .max == 3'
	fo_lic_is "$UA" sim-a '.in_use == 1 and .max == 1'
	within_counts "$UA"
	# B lets the pool go at the handback's second step, just after A serves.
	sl_until $((2 + FO_MARGIN)) fo_pool_status_is "$UB" A warm
	fo_lic_is "$UB" cad-a '.role == "backup" and .status == "warm" and .served_by == "A"'
	fo_lic_is "$UA" short-a '.in_use == 0'
	sl_until 3 sl_usage_line A '.event == "handback" and .from == "B" and .adopted == 1 and .ended == 2'

	# The backup's copies are tombstones naming the Primary.
	for l in "$l1" "$l3" "$l4"; do
		handed_back "$UB" "$l"
	done
	sl_checkin "$UB" "$l4"
	sl_expect 503 '.error == "not_serving" and .primary == $u' --arg u "$UA"
	sl_co "$UB" cad pool=A
	sl_expect 503 '.error == "not_serving" and .primary == $u' --arg u "$UA"

	# slcheck follows the backup's answer to the Primary.
	run --separate-stderr "$SLCHECK" --json heartbeat "$t4"
	[ "$status" -eq "$EX_OK" ]
	jq -e --arg u "$UA" '.server_url == $u' <<<"$output"
	run "$SLCHECK" heartbeat "$t1"
	[ "$status" -eq "$EX_OK" ]
	run "$SLCHECK" checkin "$t2"
	[ "$status" -eq "$EX_LOST" ]

	# The Primary grants up to its count, counting the seats handed back.
	t5=$("$SLCHECK" checkout cad)
	[[ $t5 == *":A@$UA" ]]
	run -"$EX_NO_SEAT" "$SLCHECK" checkout cad
	within_counts "$UA"
	[ "$(fo_lease_count A "$l4")" = 1 ]
	fo_lic_is "$UB" cad-b '.in_use == 0'
}

@test "two failovers in a row: the seats handed back are mirrored again and survive a second kill -9" {
	t1=$("$SLCHECK" checkout cad)
	l1=$(fo_token_lease "$t1")
	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$l1"
	fo_kill9_taken_over A B
	l2=$(fo_token_lease "$("$SLCHECK" checkout cad)")
	sl_start A
	leases_exactly A "$l1 $l2"
	# The backup resyncs with the restarted Primary, the seat it granted included.
	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$l1 $l2"

	fo_kill9_taken_over A B
	fo_lic_is "$UB" cad-a '.in_use == 2'
	l3=$(fo_token_lease "$("$SLCHECK" checkout cad)")
	run -"$EX_NO_SEAT" "$SLCHECK" checkout cad
	sl_start A
	leases_exactly A "$l1 $l2 $l3"
	within_counts "$UA"
	# B lets the pool go at the handback's second step, just after A serves.
	sl_until $((2 + FO_MARGIN)) fo_pool_status_is "$UB" A warm
	for l in "$l1" "$l2" "$l3"; do
		sl_heartbeat "$UA" "$l"
		sl_expect 200
	done
}

@test "SIGSTOP on the Primary leads to takeover, SIGCONT to a handback pushed by the backup" {
	t1=$("$SLCHECK" checkout cad)
	t2=$("$SLCHECK" checkout cad)
	l1=$(fo_token_lease "$t1") l2=$(fo_token_lease "$t2")
	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$l1 $l2"

	kill -STOP "$(sl_pid A)"
	# A hung Primary costs a poll timeout per poll (at least 0.5 s) instead
	# of a refused connection.
	limit=$(awk -v p="$FO_POLL" -v f="$FO_FAIL" -v m="$FO_MARGIN" \
	    'BEGIN { t = p < 0.5 ? 0.5 : p; print t * f + p + m }')
	sl_until "$limit" fo_pool_status_is "$UB" A hot-retry
	sl_co "$UB" cad pool=A
	sl_expect 201 '.pool == "A" and .server == "B"'
	l3=$(jq -r .lease <<<"$HTTP_BODY")
	sl_co "$UB" cad pool=A
	sl_expect 409 '.error == "no_seats"'
	sl_checkin "$UB" "$l2"
	sl_expect 200
	sl_heartbeat "$UB" "$l1"
	sl_expect 200

	kill -CONT "$(sl_pid A)"
	# The backup's next good poll pushes the pool back (POST /v1/peer/handback).
	sl_until $((2 + FO_MARGIN)) fo_pool_status_is "$UB" A warm
	leases_exactly A "$l1 $l3"
	fo_lic_is "$UA" cad-a '.in_use == 2 and .max == 3'
	within_counts "$UA"
	sl_until 3 sl_usage_line A '.event == "handback" and .from == "B" and .adopted == 1 and .ended == 1'
	sl_until 3 sl_usage_line B '.event == "handback" and .pool == "A" and .leases == 2'
	# Both sides count the same 2 leases; A says what became of them.
	grep -q 'handback from "B": 2 leases handed back (1 new here, the others held here already or ended), 1 ended while it served' "$SL_TMP/A/log"
	grep -q 'handed pool "A" back to .*: 2 leases$' "$SL_TMP/B/log"
	for l in "$l1" "$l3"; do
		handed_back "$UB" "$l"
		sl_heartbeat "$UA" "$l"
		sl_expect 200
	done
	sl_heartbeat "$UA" "$l2"
	sl_expect 404 '.error == "unknown_lease"'
	sl_co "$UA" cad
	sl_expect 201 '.pool == "A" and .server == "A"'
	sl_co "$UA" cad
	sl_expect 409 '.error == "no_seats"'
}

@test "a Primary whose backup hangs starts after handback_wait; the backup pushes the seats when it resumes" {
	t1=$("$SLCHECK" checkout cad)
	l1=$(fo_token_lease "$t1")
	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$l1"
	fo_kill9_taken_over A B
	sl_co "$UB" cad pool=A
	sl_expect 201
	l2=$(jq -r .lease <<<"$HTTP_BODY")

	kill -STOP "$(sl_pid B)"
	fo_config A "handback_wait = 1"
	t0=$(sl_now_ms)
	sl_start A
	took=$(($(sl_now_ms) - t0))
	echo "# the Primary served ${took} ms after its start (handback_wait 1 s, backup hung)" >&3
	[ "$took" -lt $((1000 + FO_MARGIN * 1000)) ]
	grep -q 'handback: backup "B"' "$SL_TMP/A/log"
	leases_exactly A "$l1"

	kill -CONT "$(sl_pid B)"
	sl_until $((2 + FO_MARGIN)) fo_pool_status_is "$UB" A warm
	leases_exactly A "$l1 $l2"
	within_counts "$UA"
	handed_back "$UB" "$l2"
	sl_heartbeat "$UA" "$l2"
	sl_expect 200
}
