#!/usr/bin/env bats
# Failover, takeover: kill -9 the Primary while clients hold seats; the backup
# serves the Primary's pool within poll_interval x fail_after + one poll,
# keeps the held seats alive, stops at the Primary's counts and never mixes
# its own licenses with the Primary's.

load helpers-failover

setup() {
	fo_setup
	fo_start_pair "cad-a cad 3 30" "sim-a sim 1 0" "run-a runner 1 3"
}

teardown() { sl_teardown; }

@test "kill -9 of the Primary: the backup grants pool-A seats in time, up to A's count only" {
	export SL_SERVERS="$UA+$UB"
	t1=$("$SLCHECK" checkout cad)
	t2=$("$SLCHECK" checkout cad)
	[[ $t1 == *":A@$UA" && $t2 == *":A@$UA" ]]
	l1=$(fo_token_lease "$t1") l2=$(fo_token_lease "$t2")
	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$l1 $l2"
	[ "$(sl_in_use "$UB" cad-b)" = 0 ]

	# Before the takeover the backup sends pool-A requests to the Primary,
	# the mirrored seats included (503, not 404: the seat is not lost).
	sl_co "$UB" cad pool=A
	sl_expect 503 '.error == "not_serving" and .primary == $u' --arg u "$UA"
	sl_heartbeat "$UB" "$l1"
	sl_expect 503 '.error == "not_serving" and .primary == $u' --arg u "$UA"
	sl_checkin "$UB" "$l2"
	sl_expect 503 '.error == "not_serving" and .primary == $u' --arg u "$UA"
	fo_lic_is "$UA" cad-a '.in_use == 2'

	t0=$(sl_now_ms)
	sl_kill9 A
	sl_until "$(fo_takeover_limit)" fo_granted_pool_a
	took=$(($(sl_now_ms) - t0))
	echo "# takeover: kill -9 -> first seat on the backup in ${took} ms (limit $(fo_takeover_limit) s)" >&3
	sl_expect 201 '.pool == "A" and .license == "cad-a" and .product == "cad" and .server == "B"'
	l3=$(jq -r .lease <<<"$HTTP_BODY")

	# Mirrored seats count: 2 held + 1 new = A's count of 3; no more.
	sl_co "$UB" cad pool=A
	sl_expect 409 '.error == "no_seats"'
	fo_lic_is "$UB" cad-a '.in_use == 3 and .max == 3 and .role == "backup" and
	    .status == "hot-retry" and .served_by == "B" and .primary == "A" and .pool == "A"'

	# The backup's own license for the same product is untouched ...
	fo_lic_is "$UB" cad-b '.in_use == 0 and .role == "primary" and .pool == "B"'
	# ... slcheck asks the backup for pool A only: no seat, not B's own license.
	run -"$EX_NO_SEAT" "$SLCHECK" checkout cad
	fo_lic_is "$UB" cad-b '.in_use == 0'
	# ... and a checkout naming no pool uses B's own license, never A's.
	sl_co "$UB" cad
	sl_expect 201 '.pool == "B" and .license == "cad-b" and .server == "B"'
	fo_lic_is "$UB" cad-b '.in_use == 1'
	fo_lic_is "$UB" cad-a '.in_use == 3'

	# The takeover is logged, with the adopted seats.
	sl_until 3 sl_usage_line B '.event == "takeover" and .pool == "A" and .by == "B" and .leases == 2'
	# ... and in words, in UTC, once.
	[ "$(grep -cE 'warning: "A" is down: "B" serves its licenses since [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} UTC$' "$SL_TMP/B/log")" = 1 ]
	grep -q 'took over pool "A" from .*: 2 leases adopted$' "$SL_TMP/B/log"
	for l in "$l1" "$l2" "$l3"; do
		[ "$(fo_lease_count B "$l")" = 1 ]
	done
	# A pool the backup does not back up is unknown.
	sl_co "$UB" cad pool=Z
	sl_expect 404 '.error == "unknown_pool"'
}

@test "seats A granted keep working through slcheck after kill -9: heartbeat and checkin" {
	export SL_SERVERS="$UA+$UB"
	t1=$("$SLCHECK" checkout cad)
	t2=$("$SLCHECK" checkout sim)
	l1=$(fo_token_lease "$t1") l2=$(fo_token_lease "$t2")
	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$l1 $l2"
	fo_kill9_taken_over A B

	# The token names the dead Primary; slcheck reaches the lease on the backup.
	run --separate-stderr "$SLCHECK" --json heartbeat "$t1"
	[ "$status" -eq "$EX_OK" ]
	jq -e --arg u "$UB" '.lease == ($t | split(":")[0]) and .expires_in == 30 and
	    .server_url == $u' --arg t "$t1" <<<"$output"
	# Without any client configuration too: slcheck learned A's backup from
	# A's /v1/health when it checked out.
	run --separate-stderr env -u SL_SERVERS "$SLCHECK" --json heartbeat "$t1"
	[ "$status" -eq "$EX_OK" ]
	jq -e --arg u "$UB" '.server_url == $u' <<<"$output"
	# The same straight at the backup.
	sl_heartbeat "$UB" "$l1"
	sl_expect 200 '.lease == $l and .expires_in == 30' --arg l "$l1"
	# A checkout retried by its holder with the lease id A granted is idempotent
	# on the backup.
	sl_req POST "$UB/v1/checkout" "$(fo_leases B | jq -c --arg l "$l1" \
	    '.leases[] | select(.lease == $l) | {product, pool, lease, client, user, host}')"
	sl_expect 200 '.lease == $l and .pool == "A" and .license == "cad-a"' --arg l "$l1"
	fo_lic_is "$UB" cad-a '.in_use == 1'

	# A hard seat of A is checked in through the backup; its seat is free again.
	fo_lic_is "$UB" sim-a '.in_use == 1'
	run "$SLCHECK" checkin "$t2"
	[ "$status" -eq "$EX_OK" ]
	fo_lic_is "$UB" sim-a '.in_use == 0'
	sl_heartbeat "$UB" "$l2"
	sl_expect 404 '.error == "unknown_lease"'
	t3=$("$SLCHECK" checkout sim)
	[[ $t3 == *":A@$UB" ]]
	fo_lic_is "$UB" sim-a '.in_use == 1 and .max == 1'
	run -"$EX_NO_SEAT" "$SLCHECK" checkout sim
}

@test "the takeover is durable: the backup restarts while the Primary is down and goes on serving" {
	fo_takeover_with_seats

	sl_kill9 B
	sl_start B
	fo_pool_status_is "$UB" A hot-retry
	fo_lic_is "$UB" cad-a '.in_use == 2 and .status == "hot-retry"'
	for l in "$l1" "$l2"; do
		sl_heartbeat "$UB" "$l"
		sl_expect 200
	done
	sl_co "$UB" cad pool=A
	sl_expect 201 '.pool == "A"'
	sl_co "$UB" cad pool=A
	sl_expect 409 '.error == "no_seats"'
}

@test "slcheck run keeps its seat through a takeover: heartbeats move to the backup, checkin there" {
	export SL_SERVERS="$UA+$UB"
	cd "$SL_TMP"
	# The command ends when the test touches "go" (or after about 20 s).
	"$SLCHECK" -v run runner -- sh -c \
	    'for i in $(seq 400); do [ -e go ] && exit 7; sleep 0.05; done; exit 9' \
	    >run.out 2>run.err &
	runpid=$!
	echo "$runpid" >"$SL_TMP/run.pid"	# sl_teardown stops it if the test fails
	sl_until $((2 + FO_MARGIN)) fo_lic_is "$UA" run-a '.in_use == 1'
	lease=$(fo_leases A | jq -r '.leases[] | select(.license == "run-a") | .lease')
	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$lease"

	fo_kill9_taken_over A B
	# The run's next heartbeats (every second) reach the backup.
	sl_until $((3 + FO_MARGIN)) grep -q "lease $lease: now with $UB" run.err
	fo_lic_is "$UB" run-a '.in_use == 1'
	touch go
	rc=0
	wait "$runpid" || rc=$?
	cat run.err
	rm -f "$SL_TMP/run.pid"
	[ "$rc" -eq 7 ]
	! grep -q "seat lost\|seat taken again" run.err
	fo_lic_is "$UB" run-a '.in_use == 0'
	sl_heartbeat "$UB" "$lease"
	sl_expect 404 '.error == "unknown_lease"'
}

@test "between the Primary's failure and the takeover, held seats are not lost: the backup answers 503" {
	# A backup slow to take over (fail_after 50) leaves a long window.
	sl_stop B
	fo_config B "$(fo_backs_up A "$FO_POLL" 50)"
	sl_start B
	fo_warm B A
	export SL_SERVERS="$UA+$UB"
	t1=$("$SLCHECK" checkout cad)
	l1=$(fo_token_lease "$t1")
	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$l1"
	sl_kill9 A
	fo_pool_status_is "$UB" A warm
	sl_heartbeat "$UB" "$l1"
	sl_expect 503 '.error == "not_serving" and .primary == $u' --arg u "$UA"
	# slcheck: no server answers for the seat right now (3), it is not lost (6).
	run -"$EX_UNREACHABLE" "$SLCHECK" heartbeat "$t1"
	run -"$EX_UNREACHABLE" "$SLCHECK" checkin "$t1"
	fo_pool_status_is "$UB" A warm
}
