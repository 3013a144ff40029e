#!/usr/bin/env bats
# Hardening: crash and hang torture (test/torture.sh) with a small count: 8
# clients check seats out, heartbeat and check them in while the Primary and
# its backup are killed with SIGKILL, and the Primary stopped with SIGSTOP,
# at random moments. A sampler checks all along that the pair never holds
# more acknowledged seats than the count; no acknowledged seat or checkin is
# lost, the pool keeps granting, no seat is left that no client holds, the
# journals replay clean.
# `bash test/torture.sh` runs the long version (-n 50 -S 20 -c 8). Then the
# option that makes it hold, synchronous_backup, on its own.

load helpers-hardening

setup() { sl_setup; }
teardown() { sl_teardown; }

@test "torture: random kill -9 and SIGSTOP of Primary and backup under 8 clients: no invariant violated" {
	local kills=${SL_TORTURE_ITERATIONS:-6} stops=${SL_TORTURE_STOPS:-3}
	run bash "$BATS_TEST_DIRNAME/torture.sh" -n "$kills" -S "$stops" -c 8 -b "$SL_BINDIR"
	echo "$output"
	[ "$status" -eq 0 ]
	refute_line --partial VIOLATION
	assert_line --regexp "^torture: $((kills + stops)) iterations \\($kills kill -9, $stops SIGSTOP\\) in [0-9]+ s, [0-9]+ seats acknowledged, [0-9]+ takeovers, [0-9]+ torn tails cut, 0 ghosts, 0 over-grants, 0 lost seats, 0 lost checkins, 0 invariant violations$"
}

# two servers: A (synchronous_backup) and B backing it up, sharing a token
sync_pair() {
	sl_token "$SL_TMP/peer.token"
	PA=$(sl_free_port)
	PB=$(sl_free_port)
	while [ "$PB" = "$PA" ]; do PB=$(sl_free_port); done
	A=http://127.0.0.1:$PA B=http://127.0.0.1:$PB
	sl_server_config A "$PA" "peer_token_file = \"$SL_TMP/peer.token\"" "synchronous_backup = true"
	sl_server_config B "$PB" "peer_token_file = \"$SL_TMP/peer.token\"" \
	    "failover \"A\" { url = \"$A\" poll_interval = 0.5 fail_after = 2 }"
	sl_start A
	sl_start B
	sl_until 10 bash -c "curl -fsS -m 1 $A/v1/licenses | jq -e 'all(.licenses[]; .status == \"hot-warm\")'"
}

# checkout URL [LEASE]: POST /v1/checkout of cad; sets CODE, LEASE, MS.
checkout_cad() {
	local out
	out=$(curl -sS -m 10 -w '\n%{http_code} %{time_total}' -H 'Content-Type: application/json' \
	    --data-binary '{"product":"cad","client":"sync"}' "$1/v1/checkout")
	LEASE=$(head -n1 <<<"$out" | jq -r .lease)
	read -r CODE MS <<<"$(tail -n1 <<<"$out")"
	MS=$(awk -v s="$MS" 'BEGIN { printf "%d", s * 1000 }')
}

@test "synchronous_backup: a seat acknowledged just before kill -9 of the Primary is known to the backup" {
	sync_pair
	checkout_cad "$A"
	[ "$CODE" = 201 ]
	echo "# checkout with a backup polling every 0.5 s: $MS ms" >&3
	[ "$MS" -lt 2000 ]
	sl_stop A KILL
	sl_until 10 bash -c "curl -fsS -m 1 $B/v1/health | jq -e 'any(.backs_up[]; .status == \"hot-retry\")'"
	run curl -sS -m 3 -o /dev/null -w '%{http_code}' -X POST "$B/v1/leases/$LEASE/heartbeat"
	assert_output 200
	# and B counts it: one seat of A's two is left
	run curl -sS -m 3 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
	    --data-binary '{"product":"cad","pool":"A"}' "$B/v1/checkout"
	assert_output 201
	run curl -sS -m 3 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
	    --data-binary '{"product":"cad","pool":"A"}' "$B/v1/checkout"
	assert_output 409
}

@test "synchronous_backup: a stopped backup holds checkouts at most three of its poll intervals" {
	sync_pair
	kill -STOP "$(sl_pid B)"
	checkout_cad "$A"
	[ "$CODE" = 201 ]
	echo "# first checkout after the backup stopped: $MS ms" >&3
	[ "$MS" -lt 3500 ]
	checkout_cad "$A"
	[ "$CODE" = 201 ]
	[ "$MS" -lt 500 ]	# the Primary serves alone now
}
