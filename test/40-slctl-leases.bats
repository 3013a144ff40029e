#!/usr/bin/env bats
# slctl leases, revoke, remove and the admin token.

load helpers

setup() {
	sl_setup_cd
	sl_serve lic1
	U=$(sl_url lic1)
	TOKEN=$(sl_admin_token lic1)
}
teardown() { sl_teardown; }

@test "leases lists every seat with short ids; --json and -l give whole ids" {
	a=$(sl_co_lease "$U" cad client=c1 user=alice host=h1 pid=100)
	b=$(sl_co_lease "$U" sim client=c2 user=bob host=h2 pid=100)
	run "$SLCTL" -s "$U" -D "$SL_TMP/lic1/state" leases
	assert_success
	assert_line --index 0 --regexp '^LEASE +LICENSE +POOL +CLIENT +USER +HOST +PID +SINCE +EXPIRES IN$'
	assert_line --regexp "^${a:0:8} +cad-1 +lic1 +c1 +alice +h1 +100 +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} +[0-9]+s$"
	assert_line --regexp "^${b:0:8} +sim-hard +lic1 +c2 +bob +h2 +100 +.* never$"
	[ "${#lines[@]}" -eq 3 ]
	run "$SLCTL" -s "$U" -D "$SL_TMP/lic1/state" leases -l
	assert_line --regexp "^$a +cad-1 "
	run "$SLCTL" -s "$U" -D "$SL_TMP/lic1/state" leases cad --json
	assert_success
	echo "$output" | jq -e --arg a "$a" --arg u "$U" 'length == 1 and .[0].url == $u and
	    (.[0].leases | length == 1 and .[0].lease == $a and .[0].user == "alice" and .[0].pid == 100)'
	run "$SLCTL" -s "$U" -D "$SL_TMP/lic1/state" leases viewer
	assert_success
	[ "${#lines[@]}" -eq 1 ]
}

@test "the admin token comes from --token-file, SL_TOKEN, -D or -c" {
	sl_co_lease "$U" cad client=c1 user=alice host=h1 pid=100 >/dev/null
	echo "$TOKEN" >tok
	run "$SLCTL" -s "$U" --token-file tok leases
	assert_success
	assert_line --regexp ' alice '
	SL_TOKEN=$TOKEN run "$SLCTL" -s "$U" leases
	assert_success
	assert_line --regexp ' alice '
	run "$SLCTL" -s "$U" -D "$SL_TMP/lic1/state" leases
	assert_success
	run "$SLCTL" -s "$U" -c "$SL_TMP/lic1/slserve.conf" leases
	assert_success
	assert_line --regexp ' alice '
	# -c alone finds the server too, from its listen address
	run "$SLCTL" -c "$SL_TMP/lic1/slserve.conf" leases
	assert_success
	assert_line --regexp ' alice '
}

@test "missing token: 401, exit 77, a message saying how to pass one" {
	run "$SLCTL" -s "$U" leases
	assert_equal "$status" 77
	assert_output --partial "$U: leases: 401 unauthorized: no admin token given"
	assert_output --partial "--token-file"
	[ "${#lines[@]}" -eq 1 ]
}

@test "wrong token: exit 77 naming its source, and nothing changes" {
	a=$(sl_co_lease "$U" cad client=c1 user=alice host=h1 pid=100)
	echo wrongwrongwrong >bad
	run "$SLCTL" -s "$U" --token-file bad revoke "$a"
	assert_equal "$status" 77
	assert_output --partial "the token of --token-file bad was refused"
	[ "$(sl_in_use "$U" cad-1)" = 1 ]
	sl_heartbeat "$U" "$a"
	sl_expect 200
	SL_TOKEN=nope run "$SLCTL" -s "$U" remove "$a"
	assert_equal "$status" 77
	assert_output --partial "SL_TOKEN"
	[ "$(sl_in_use "$U" cad-1)" = 1 ]
	SL_TOKEN=nope run "$SLCTL" -s "$U" reload
	assert_equal "$status" 77
}

@test "revoke frees the seat; heartbeat 410; same client refused for DURATION; others not" {
	a=$(sl_co_lease "$U" cad client=c1 user=alice host=h1 pid=100)
	[ "$(sl_in_use "$U" cad-1)" = 1 ]
	run "$SLCTL" -s "$U" -D "$SL_TMP/lic1/state" revoke "${a:0:8}" --for 1h --reason "left running"
	assert_success
	assert_output --regexp "^revoked lease $a on $U; its client, user and host are refused until [0-9-]+ [0-9:]+$"
	[ "$(sl_in_use "$U" cad-1)" = 0 ]
	sl_heartbeat "$U" "$a"
	sl_expect 410
	sl_co "$U" cad client=c1 user=alice host=h1 pid=100
	sl_expect 403 '.error == "revoked"'
	# another user on the same host still gets a seat
	sl_co "$U" cad client=c9 user=bob host=h1 pid=100
	sl_expect 201
	# the revoke is in the usage log with its reason
	sl_until 10 grep -q -- '"event":"revoke"' "$SL_TMP/lic1/state/usage.log"
	grep '"event":"revoke"' "$SL_TMP/lic1/state/usage.log" | jq -e --arg a "$a" 'select(.lease == $a) | .reason == "left running"'
}

@test "revoke without --for frees the seat but does not bar the holder" {
	a=$(sl_co_lease "$U" cad client=c1 user=alice host=h1 pid=100)
	run "$SLCTL" -s "$U" -D "$SL_TMP/lic1/state" revoke "$a" --json
	assert_success
	echo "$output" | jq -e --arg a "$a" '.lease == $a and .revoked == true'
	sl_heartbeat "$U" "$a"
	sl_expect 410
	sl_co "$U" cad client=c1 user=alice host=h1 pid=100
	sl_expect 201
}

@test "revoke of an unknown or ambiguous lease: exit 1" {
	run "$SLCTL" -s "$U" -D "$SL_TMP/lic1/state" revoke 0123456789abcdef
	assert_equal "$status" 1
	assert_output --partial "404"
	# a prefix shared by two leases (ids chosen by the clients)
	for id in abcdef01-0123456789abcdef0123456789abcdef abcdef02-0123456789abcdef0123456789abcdef; do
		curl -fsS -o /dev/null -X POST -d "{\"product\":\"cad\",\"lease\":\"$id\",\"client\":\"$id\"}" "$U/v1/checkout"
	done
	run "$SLCTL" -s "$U" -D "$SL_TMP/lic1/state" revoke abcdef
	assert_equal "$status" 1
	assert_output --partial "409 ambiguous"
	[ "$(sl_in_use "$U" cad-1)" = 2 ]
	# two servers sharing one token: asked in turn, neither knows it
	sl_serve lic2 "admin_token_file = \"$SL_TMP/lic1/state/admin.token\""
	run "$SLCTL" -s "$U" -s "$(sl_url lic2)" --token-file "$SL_TMP/lic1/state/admin.token" revoke 0123456789abcdef
	assert_equal "$status" 1
	assert_output --partial 'no lease "0123456789abcdef" on any of the 2 servers'
}

@test "remove checks a lease in without barring it" {
	a=$(sl_co_lease "$U" cad client=c1 user=alice host=h1 pid=100)
	b=$(sl_co_lease "$U" cad client=c2 user=bob host=h2 pid=100)
	run "$SLCTL" -s "$U" -D "$SL_TMP/lic1/state" remove "${a:0:7}"
	assert_success
	assert_output "removed lease $a on $U"
	[ "$(sl_in_use "$U" cad-1)" = 1 ]
	sl_heartbeat "$U" "$b"
	sl_expect 200
	sl_co "$U" cad client=c1 user=alice host=h1 pid=100
	sl_expect 201
	run "$SLCTL" -s "$U" -D "$SL_TMP/lic1/state" remove "${a:0:7}"
	assert_equal "$status" 1
	assert_output --partial "no lease"
}
