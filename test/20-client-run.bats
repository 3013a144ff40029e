#!/usr/bin/env bats
# slcheck run: a command under a seat — exit status passed through, seat
# checked in on exit and on signals, heartbeats, loss and re-acquisition.

load helpers-client

setup() {
	sl_setup
	# timeout 3: heartbeat every second, so loss is seen quickly.
	sl_start_with lic1 "cad-1 cad 1 3" "sim-1 sim 1 0"
	export SL_SERVERS=$URL_lic1
}

teardown() { sl_teardown; }

# run_until_stopped [RUN-OPTIONS...]: in the background, slcheck run
# RUN-OPTIONS cad with a command that writes "ready" to $SL_TMP/flag, runs
# until $SL_TMP/flag.stop exists, then writes "finished" there. slcheck's
# stderr goes to $SL_TMP/err, its pid to $pid. Returns once the command runs.
run_until_stopped() {
	"$SLCHECK" run "$@" cad -- sh -c 'echo ready >"$0"; while [ ! -e "$0.stop" ]; do sleep 0.1; done; echo finished >"$0"' \
	    "$SL_TMP/flag" 2>"$SL_TMP/err" &
	pid=$!
	sl_until 10 test -s "$SL_TMP/flag"
}

# first_lease [QUERY]: the first lease lic1 lists (GET /v1/leases?QUERY).
first_lease() {
	curl -fsS -m 3 -H "Authorization: Bearer $(sl_admin_token lic1)" "$URL_lic1/v1/leases${1:+?$1}" |
	    jq -r '.leases[0].lease'
}

# revoke_cad_seat: revoke lic1's cad seat with a ban of a minute (this client
# cannot take it again); sets lease to its id.
revoke_cad_seat() {
	lease=$(first_lease product=cad)
	curl -fsS -m 3 -X POST -H "Authorization: Bearer $(sl_admin_token lic1)" \
	    -d '{"for": 60}' "$URL_lic1/v1/leases/$lease/revoke" >/dev/null
}

@test "run passes the command's exit status through and checks the seat in" {
	run "$SLCHECK" run cad -- sh -c 'exit 7'
	[ "$status" -eq 7 ]
	[ "$(sl_in_use "$URL_lic1" cad-1)" = 0 ]
	run "$SLCHECK" run cad true
	[ "$status" -eq 0 ]
	run "$SLCHECK" run cad -- sh -c 'exit 3'
	[ "$status" -eq 3 ]
}

@test "the command runs while the seat is held, with SL_LEASE set" {
	run "$SLCHECK" run sim -- sh -c \
	    'echo "$SL_LEASE"; curl -fsS -m 3 "$0/v1/licenses" | jq ".licenses[] | select(.id == \"sim-1\") | .in_use"' \
	    "$URL_lic1"
	assert_success
	[[ ${lines[0]} =~ ^[0-9a-f]{32}:lic1@$URL_lic1$ ]]
	[ "${lines[1]}" = 1 ]
	[ "$(sl_in_use "$URL_lic1" sim-1)" = 0 ]
}

@test "a command killed by a signal gives 128+signal" {
	run "$SLCHECK" run cad -- sh -c 'kill -KILL $$'
	[ "$status" -eq 137 ]
	[ "$(sl_in_use "$URL_lic1" cad-1)" = 0 ]
}

@test "a command that cannot be run gives 127 (not found) or 126, and no seat stays" {
	run -127 --separate-stderr "$SLCHECK" run cad -- "$SL_TMP/no-such-command"
	[ "$status" -eq 127 ]
	[[ $stderr == "slcheck: $SL_TMP/no-such-command: No such file or directory" ]]
	touch "$SL_TMP/not-executable"
	run "$SLCHECK" run cad -- "$SL_TMP/not-executable"
	[ "$status" -eq 126 ]
	[ "$(sl_in_use "$URL_lic1" cad-1)" = 0 ]
}

@test "no seat: run exits 2 without running the command; -E picks the code" {
	token=$("$SLCHECK" checkout sim)
	run "$SLCHECK" run sim -- touch "$SL_TMP/ran"
	[ "$status" -eq "$EX_NO_SEAT" ]
	[ ! -e "$SL_TMP/ran" ]
	run "$SLCHECK" run -E 99 sim -- true
	[ "$status" -eq 99 ]
	SL_SERVERS=$(cl_dead_url) run "$SLCHECK" run cad -- true
	[ "$status" -eq "$EX_UNREACHABLE" ]
	"$SLCHECK" checkin "$token"
}

@test "SIGTERM to slcheck is forwarded; the seat is checked in; status 143" {
	"$SLCHECK" run sim -- sh -c 'echo $$ >"$0"; trap "echo got-term >\"$0.term\"; exit 143" TERM; while :; do sleep 0.1; done' \
	    "$SL_TMP/child" &
	pid=$!
	sl_until 10 test -s "$SL_TMP/child"
	[ "$(sl_in_use "$URL_lic1" sim-1)" = 1 ]
	kill -TERM "$pid"
	status=0
	wait "$pid" || status=$?
	[ "$status" -eq 143 ]
	[ "$(cat "$SL_TMP/child.term")" = got-term ]
	[ "$(sl_in_use "$URL_lic1" sim-1)" = 0 ]
}

@test "SIGHUP and SIGINT are forwarded too; the command decides how to end" {
	"$SLCHECK" run sim -- sh -c 'trap "echo hup >>\"$0\"" HUP; trap "echo int >>\"$0\"; exit 5" INT; echo ready >>"$0"; while :; do sleep 0.1; done' \
	    "$SL_TMP/log" &
	pid=$!
	sl_until 10 grep -q ready "$SL_TMP/log"
	kill -HUP "$pid"
	sl_until 5 grep -q hup "$SL_TMP/log"
	kill -INT "$pid"
	status=0
	wait "$pid" || status=$?
	[ "$status" -eq 5 ]
	[ "$(sl_in_use "$URL_lic1" sim-1)" = 0 ]
}

@test "run heartbeats: the seat outlives the license timeout" {
	# cad-1 has timeout 3: without heartbeats the server reclaims it in 3 s.
	run "$SLCHECK" run cad -- sh -c 'sleep 3.6; curl -fsS -m 3 "$0/v1/licenses" | jq ".licenses[] | select(.id == \"cad-1\") | .in_use"' \
	    "$URL_lic1"
	assert_success
	[ "$output" = 1 ]
}

@test "seat lost when the server restarts without it: run takes a seat again" {
	run_until_stopped
	first=$(first_lease)
	# Restart lic1 on the same port with its state gone: the lease is unknown.
	sl_stop lic1
	rm -rf "$SL_TMP/lic1/state"
	sl_start lic1
	sl_until 10 grep -q "seat taken again" "$SL_TMP/err"
	grep -q "seat lost: lease $first at $URL_lic1: unknown_lease" "$SL_TMP/err"
	second=$(first_lease)
	[ -n "$second" ] && [ "$second" != "$first" ] && [ "$second" != null ]
	touch "$SL_TMP/flag.stop"
	wait "$pid"
	[ "$(sl_in_use "$URL_lic1" cad-1)" = 0 ]
}

@test "seat revoked and none to be had: --on-loss term stops the command, exit 6" {
	"$SLCHECK" run cad -- sh -c 'echo $$ >"$0"; trap "echo term >\"$0.term\"; exit 0" TERM; while :; do sleep 0.1; done' \
	    "$SL_TMP/child" 2>"$SL_TMP/err" &
	pid=$!
	sl_until 10 test -s "$SL_TMP/child"
	revoke_cad_seat
	status=0
	wait "$pid" || status=$?
	[ "$status" -eq "$EX_LOST" ]
	[ "$(cat "$SL_TMP/child.term")" = term ]
	grep -q "seat lost: lease $lease at $URL_lic1: revoked" "$SL_TMP/err"
	grep -q "no seat to be had (.*revoked.*); stopping the command" "$SL_TMP/err"
}

@test "--on-loss warn: the command goes on while no seat is to be had" {
	run_until_stopped --on-loss warn
	revoke_cad_seat
	sl_until 10 grep -q "the command goes on" "$SL_TMP/err"
	kill -0 "$pid"
	touch "$SL_TMP/flag.stop"
	wait "$pid"
	[ "$(cat "$SL_TMP/flag")" = finished ]
}

@test "server gone past the lease's expiry: --on-loss term stops the command" {
	"$SLCHECK" run cad -- sh -c 'echo $$ >"$0"; trap "exit 0" TERM; while :; do sleep 0.1; done' \
	    "$SL_TMP/child" 2>"$SL_TMP/err" &
	pid=$!
	sl_until 10 test -s "$SL_TMP/child"
	sl_stop lic1 KILL
	status=0
	wait "$pid" || status=$?
	[ "$status" -eq "$EX_LOST" ]
	grep -q "no server renewed lease" "$SL_TMP/err"
}

@test "server unreachable past the lease's expiry is a loss; warn keeps trying and re-acquires" {
	run_until_stopped --on-loss warn
	sl_stop lic1 KILL
	sl_until 10 grep -q "no server renewed lease" "$SL_TMP/err"
	sl_until 10 grep -q "the command goes on" "$SL_TMP/err"
	sl_start lic1
	sl_until 20 grep -q "seat taken again" "$SL_TMP/err"
	touch "$SL_TMP/flag.stop"
	wait "$pid"
}
