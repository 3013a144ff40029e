#!/usr/bin/env bats
# Server selection (DESIGN §5): Primaries in order, then Secondaries; a full
# or unreachable server passes the request on; an unreachable server's
# backup is asked naming its pool; dead servers are remembered.

load helpers-client

setup() { sl_setup; }
teardown() { sl_teardown; }

@test "Primary full: the Secondary grants, and says so in --json" {
	sl_start_with lic1 "cad-1 cad 1 30"
	sl_start_with lic3 "cad-3 cad 5 30"
	"$SLCHECK" -s "$URL_lic1" checkout cad >/dev/null
	export SL_SERVERS="p:$URL_lic1,s:$URL_lic3"
	run --separate-stderr "$SLCHECK" --json checkout cad
	[ "$status" -eq "$EX_OK" ]
	jq -e --arg u "$URL_lic3" '.server_url == $u and .via == "secondary" and
	    .pool == "lic3" and .license == "cad-3"' <<<"$output"
	[ "$(sl_in_use "$URL_lic1" cad-1)" = 1 ]
	[ "$(sl_in_use "$URL_lic3" cad-3)" = 1 ]
	# With -v the path is told on stderr.
	run --separate-stderr "$SLCHECK" -v checkout cad
	[ "$status" -eq "$EX_OK" ]
	[[ $stderr == *"$URL_lic1: no_seats"* ]]
	[[ $stderr == *"cad: seat from $URL_lic3 (secondary, pool lic3)"* ]]
}

@test "Primary down: the Secondary grants" {
	sl_start_with lic3 "cad-3 cad 5 30"
	dead=$(cl_dead_url)
	SL_SERVERS="$dead,s:$URL_lic3" run --separate-stderr "$SLCHECK" checkout cad
	[ "$status" -eq "$EX_OK" ]
	[[ $output == *":lic3@$URL_lic3" ]]
}

@test "Primaries are asked in order; the first with the product and a seat grants" {
	sl_start_with lic1 "sim-1 sim 1 0"
	sl_start_with lic2 "cad-2 cad 1 30"
	sl_start_with lic3 "cad-3 cad 1 30"
	export SL_SERVERS="$URL_lic1,$URL_lic2,s:$URL_lic3"
	run "$SLCHECK" checkout cad
	assert_success
	[[ $output == *"@$URL_lic2" ]]
	run "$SLCHECK" checkout cad
	assert_success
	[[ $output == *"@$URL_lic3" ]]
	run --separate-stderr "$SLCHECK" checkout cad
	[ "$status" -eq "$EX_NO_SEAT" ]
	[[ $stderr == *"$URL_lic1: unknown_product"*"$URL_lic2: no_seats"*"$URL_lic3: no_seats"* ]]
}

@test "Primary down with a configured backup: the backup is asked for the Primary's pool" {
	# lic2 is a plain server, not lic1's failover: it answers what it was
	# asked, which shows that slcheck named pool lic1.
	sl_start_with lic2 "cad-2 cad 5 30"
	dead=$(cl_dead_url)
	cat >"$SL_TMP/slclient.conf" <<EOF
primary = { "$dead" }
server "$dead" {
  backup = "$URL_lic2"
  pool = "lic1"
}
EOF
	run --separate-stderr "$SLCHECK" -v -f "$SL_TMP/slclient.conf" checkout cad
	[ "$status" -eq "$EX_UNREACHABLE" ]
	[[ $stderr == *"$URL_lic2 [pool lic1]: unknown_pool: pool \"lic1\" is not served here"* ]]
	# The backup's own seats were not lent.
	[ "$(sl_in_use "$URL_lic2" cad-2)" = 0 ]
}

@test "the Primary's pool is learned from its answers when not configured" {
	sl_start_with lic1 "cad-1 cad 5 30"
	sl_start_with lic2 "cad-2 cad 5 30"
	export SL_SERVERS="$URL_lic1+$URL_lic2"
	token=$("$SLCHECK" checkout cad)
	"$SLCHECK" checkin "$token"
	sl_stop lic1
	run --separate-stderr "$SLCHECK" -v checkout cad
	[ "$status" -eq "$EX_UNREACHABLE" ]
	[[ $stderr == *"$URL_lic2 [pool lic1]: unknown_pool"* ]]
	run "$SLCHECK" config
	assert_line --regexp "^  pool +lic1 +learned$"
}

@test "a backup is not asked when the Primary's pool cannot be known" {
	sl_start_with lic2 "cad-2 cad 5 30"
	dead=$(cl_dead_url)
	SL_SERVERS="$dead+$URL_lic2" run --separate-stderr "$SLCHECK" checkout cad
	[ "$status" -eq "$EX_UNREACHABLE" ]
	[[ $stderr == *"$URL_lic2: backup not asked: the pool of its Primary is unknown"* ]]
}

@test "failover: a backup learned from the Primary's health serves its pool while it is down" {
	cl_pair lic1 "cad-1 cad 3 30" lic2 "own-2 cad 5 30"
	# The backup polls the Primary, which then lists it in its health.
	sl_until 10 sh -c "curl -fsS -m 1 '$URL_lic1/v1/health' | jq -e '.backups | length > 0' >/dev/null"
	export SL_SERVERS="$URL_lic1"
	"$SLCHECK" status >/dev/null	# learns name and backups
	run "$SLCHECK" config
	assert_line --regexp "^  backup +$URL_lic2 +learned$"
	sl_stop lic1
	sl_until 10 sh -c "curl -fsS -m 1 '$URL_lic2/v1/licenses' |
	    jq -e '.licenses[] | select(.pool == \"lic1\") | .status == \"hot-retry\"' >/dev/null"
	run --separate-stderr "$SLCHECK" --json checkout cad
	[ "$status" -eq "$EX_OK" ]
	jq -e --arg u "$URL_lic2" '.server_url == $u and .via == "backup" and
	    .pool == "lic1" and .license == "cad-1"' <<<"$output"
	# The backup's own license lent nothing.
	[ "$(sl_in_use "$URL_lic2" own-2)" = 0 ]
}

@test "a blackholed server is given up on within the timeout, then skipped while dead" {
	cl_blackhole hole
	sl_start_with lic3 "cad-3 cad 5 30"
	cat >"$SL_TMP/slclient.conf" <<EOF
primary = { "$URL_hole" }
secondary = { "$URL_lic3" }
connect_timeout = 0.5
timeout = 1
dead_ttl = 60
EOF
	cl_timed "$SLCHECK" -f "$SL_TMP/slclient.conf" checkout cad
	[ "$status" -eq "$EX_OK" ]
	[[ ${lines[-1]} == *"@$URL_lic3" ]]
	[ "$ELAPSED_MS" -ge 900 ] && [ "$ELAPSED_MS" -lt 2500 ]
	cl_timed "$SLCHECK" -v -f "$SL_TMP/slclient.conf" checkout cad
	[ "$status" -eq "$EX_OK" ]
	[ "$ELAPSED_MS" -lt 500 ]
	assert_line --partial "$URL_hole: not asked, did not answer lately"
	# status always asks, and finds it still down.
	cl_timed "$SLCHECK" -f "$SL_TMP/slclient.conf" status
	assert_success
	assert_line --regexp "^primary +$URL_hole +- +down "
}

@test "a dead mark ends after dead_ttl; a refusing server is never marked" {
	cl_blackhole hole
	dead=$(cl_dead_url)
	printf 'primary = { "%s", "%s" }\ntimeout = 0.5\nconnect_timeout = 0.5\ndead_ttl = 1\n' \
	    "$URL_hole" "$dead" >"$SL_TMP/slclient.conf"
	run "$SLCHECK" -f "$SL_TMP/slclient.conf" checkout cad
	[ "$status" -eq "$EX_UNREACHABLE" ]
	grep -q "^$URL_hole " "$SL_TMP/cache/sl/servers"
	! grep -q "^$dead " "$SL_TMP/cache/sl/servers"
	sleep 1.1	# let the one-second dead mark run out
	run "$SLCHECK" -v -f "$SL_TMP/slclient.conf" checkout cad
	[ "$status" -eq "$EX_UNREACHABLE" ]
	refute_output --partial "not asked"
	assert_output --partial "$URL_hole: no answer: Timeout"
}
