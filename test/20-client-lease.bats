#!/usr/bin/env bats
# slcheck checkout, heartbeat and checkin against one real server: tokens,
# --json, --wait, and the exit code of every outcome.

load helpers-client

setup() {
	sl_setup
	sl_start_with lic1 "cad-1 cad 2 30" "sim-1 sim 1 0" "old-1 old 5 30 2020-01-01"
	U=$(sl_url lic1)
}

teardown() { sl_teardown; }

# heartbeat_exits CODE TOKEN: slcheck heartbeat TOKEN exits CODE (its stderr
# in $stderr).
heartbeat_exits() {
	run --separate-stderr "$SLCHECK" heartbeat "$2"
	[ "$status" -eq "$1" ]
}

@test "checkout prints one token LEASE:POOL@URL and the seat is taken" {
	run --separate-stderr "$SLCHECK" -s "$U" checkout cad
	[ "$status" -eq "$EX_OK" ]
	[[ $output =~ ^[0-9a-f]{32}:lic1@$U$ ]]
	[ -z "$stderr" ]
	[ "$(sl_in_use "$U" cad-1)" = 1 ]
}

@test "checkout --json prints the lease with server_url, token and via" {
	run --separate-stderr "$SLCHECK" -s "$U" --json checkout cad
	[ "$status" -eq "$EX_OK" ]
	jq -e --arg u "$U" '
	    (.lease | test("^[0-9a-f]{32}$")) and .license == "cad-1" and .product == "cad" and
	    .pool == "lic1" and .server == "lic1" and .expires_in == 30 and
	    .heartbeat_interval == 10 and .server_url == $u and .via == "primary" and
	    .token == "\(.lease):lic1@\($u)"' <<<"$output"
}

@test "heartbeat and checkin take the token alone; a second checkin is 'lost'" {
	token=$("$SLCHECK" -s "$U" checkout cad)
	run "$SLCHECK" heartbeat "$token"
	assert_success
	assert_output ""
	run "$SLCHECK" --json heartbeat "$token"
	assert_success
	jq -e '.expires_in == 30 and .heartbeat_interval == 10' <<<"$output"
	run "$SLCHECK" checkin "$token"
	assert_success
	[ "$(sl_in_use "$U" cad-1)" = 0 ]
	run --separate-stderr "$SLCHECK" checkin "$token"
	[ "$status" -eq "$EX_LOST" ]
	[[ $stderr == "slcheck: checkin ${token%%:*}: $U: unknown_lease"* ]]
	heartbeat_exits "$EX_LOST" "$token"
}

@test "a revoked lease: heartbeat exits 'lost'" {
	token=$("$SLCHECK" -s "$U" checkout cad)
	curl -fsS -m 3 -X POST -H "Authorization: Bearer $(sl_admin_token lic1)" \
	    "$U/v1/leases/${token%%:*}/revoke" >/dev/null
	heartbeat_exits "$EX_LOST" "$token"
	[[ $stderr == *revoked* ]]
}

@test "exit codes: no free seat 2, unknown product 4, expired 4, unreachable 3" {
	"$SLCHECK" -s "$U" checkout sim >/dev/null
	run --separate-stderr "$SLCHECK" -s "$U" checkout sim
	[ "$status" -eq "$EX_NO_SEAT" ]
	[[ $stderr == "slcheck: sim: no free seat ($U: no_seats"* ]]
	run --separate-stderr "$SLCHECK" -s "$U" checkout nosuch
	[ "$status" -eq "$EX_REFUSED" ]
	[[ $stderr == *unknown_product* ]]
	run --separate-stderr "$SLCHECK" -s "$U" checkout old
	[ "$status" -eq "$EX_REFUSED" ]
	[[ $stderr == *expired* ]]
	dead=$(cl_dead_url)
	run --separate-stderr "$SLCHECK" -s "$dead" checkout cad
	[ "$status" -eq "$EX_UNREACHABLE" ]
	[[ $stderr == "slcheck: cad: no server answered ($dead: no answer: "* ]]
	heartbeat_exits "$EX_UNREACHABLE" "0123456789abcdef:elsewhere@$dead"
}

@test "checkout --wait takes the seat as soon as one is checked in" {
	token=$("$SLCHECK" -s "$U" checkout sim)
	"$SLCHECK" -s "$U" -v checkout --wait 20 sim >"$SL_TMP/out" 2>"$SL_TMP/err" &
	waiter=$!
	# The waiter has been refused at least once before the seat frees.
	sl_until 10 grep -q "next try in" "$SL_TMP/err"
	"$SLCHECK" checkin "$token"
	t0=$(date +%s)
	wait "$waiter"
	[ $(($(date +%s) - t0)) -le 5 ]
	[[ $(cat "$SL_TMP/out") =~ ^[0-9a-f]{32}:lic1@$U$ ]]
	[ "$(sl_in_use "$U" sim-1)" = 1 ]
}

@test "checkout --wait gives up at its deadline with 'no free seat', backing off" {
	"$SLCHECK" -s "$U" checkout sim >/dev/null
	cl_timed "$SLCHECK" -s "$U" -v checkout --wait 2 sim
	[ "$status" -eq "$EX_NO_SEAT" ]
	[ "$ELAPSED_MS" -ge 1900 ] && [ "$ELAPSED_MS" -lt 3500 ]
	# Jittered exponential backoff: few tries, not a tight loop.
	tries=$(grep -c "no_seats" <<<"$output")
	[ "$tries" -ge 2 ] && [ "$tries" -le 6 ]
	assert_line --partial "after waiting 2."
}

@test "a checkout retried with the same lease id takes one seat (idempotent)" {
	# slcheck sends its own lease id; the server answers a repeat with the same lease.
	body='{"product":"cad","lease":"00112233445566778899aabbccddeeff","client":"t"}'
	curl -fsS -m 3 -d "$body" "$U/v1/checkout" >/dev/null
	curl -fsS -m 3 -d "$body" "$U/v1/checkout" >/dev/null
	[ "$(sl_in_use "$U" cad-1)" = 1 ]
	run "$SLCHECK" checkin "00112233445566778899aabbccddeeff:lic1@$U"
	assert_success
	[ "$(sl_in_use "$U" cad-1)" = 0 ]
}

# holder_of LEASE: "user host" of LEASE in lic1's GET /v1/leases (admin).
holder_of() {
	curl -fsS -m 5 -H "Authorization: Bearer $(sl_admin_token lic1)" "$U/v1/leases" |
	    jq -r --arg id "$1" '.leases[] | select(.lease == $id) | "\(.user) \(.host)"'
}

@test "checkout sends \$USER, else \$LOGNAME, else the login name from the password database" {
	token=$(USER=alice LOGNAME=bob "$SLCHECK" -s "$U" checkout cad)
	[ "$(holder_of "${token%%:*}")" = "alice $(hostname)" ]
	"$SLCHECK" checkin "$token"
	token=$(env -u USER LOGNAME=bob "$SLCHECK" -s "$U" checkout cad)
	[ "$(holder_of "${token%%:*}")" = "bob $(hostname)" ]
	"$SLCHECK" checkin "$token"
	# cron and systemd units set neither: not "-", but who runs it.
	token=$(env -u USER -u LOGNAME "$SLCHECK" -s "$U" checkout cad)
	[ "$(holder_of "${token%%:*}")" = "$(id -un) $(hostname)" ]
	token=$(USER= LOGNAME= "$SLCHECK" -s "$U" checkout cad)
	[ "$(holder_of "${token%%:*}")" = "$(id -un) $(hostname)" ]
}
