#!/usr/bin/env bats
# The usage policy (issue 19): the options file, checked by slserve -n, read
# at start and on reload; include, exclude, max, reserve and linger at
# checkout.

load helpers-server

setup() {
	sl_setup
	PORT=$(sl_free_port)
	OPT="$SL_TMP/s1/options.conf"
	mkdir -p "$SL_TMP/s1"
}

teardown() { sl_server_teardown; }

# opt_start [EXTRA-CONF...]: s1 with options = "options.conf" (line 5 of its
# slserve.conf) and the default licenses: cad-1 (2 soft seats), sim-hard
# (1 hard seat), view-free (unlimited).
opt_start() { sl_start_s1 'options = "options.conf"' "$@"; }

# co JSON-FIELDS: a checkout of the fields given, e.g. '"product":"cad","user":"alice"'.
co() { sl_checkout "$U" "{$1}"; }

# co_as PRODUCT USER HOST [CLIENT]: a checkout as user on host.
co_as() {
	co "\"product\":\"$1\",\"user\":\"$2\",\"host\":\"$3\",\"client\":\"${4:-bats}\""
}

# reload_api: POST /v1/admin/reload with s1's admin token.
reload_api() { sl_admin s1 POST /v1/admin/reload; }

# refused STATUS CODE: the answer is STATUS with error CODE, a message, and
# the rule at fault.
refused() {
	sl_expect "$1" || return 1
	sl_json '.error == $code and (.message | type == "string" and length > 0) and
	    (.rule | type == "string" and length > 0)' --arg code "$2"
}

@test "slserve -n reports every bad line of the options file as FILE:LINE" {
	sl_server_config s1 "$PORT" 'options = "options.conf"'
	cat >"$OPT" <<'O'
group "eda-team" { members = { "alice", "bob" } }
hostgroup "lab"  { members = { "ws1", "ws2" } }
# a comment
product "cad" {
  reserve = { "3 group:eda-team" }
  max     = { "1 user:*", "2 group:nobody", "2 host:lab" }
  exclude = { "mallory" }
  colour  = "red"
  borrow  = "7x"
}
product "nope" { max = { "1.5 user:*" } }
license "sim-hard" { reserve = { "1 user:*" } }
O
	run "$SLSERVE" -n -f "$SL_TMP/s1/slserve.conf"
	assert_equal "$status" 1
	refute_output --partial "configuration OK"
	diff -u - <(printf '%s\n' "$output" | sort -t: -k2,2n -s) <<E
$OPT:5: product "cad": reserve asks for 3 seats; it has 2
$OPT:6: product "cad": max "2 group:nobody": no group "nobody" in this file
$OPT:6: product "cad": max "2 host:lab": "lab" is a hostgroup: write hostgroup:lab
$OPT:7: product "cad": exclude "mallory": want user:NAME, host:NAME, group:NAME, hostgroup:NAME, KIND:* or *
$OPT:8: no such option 'colour'
$OPT:9: product "cad": borrow "7x": want a duration of 1 second to 366 days (90s, 30m, 12h, 7d)
$OPT:11: product "nope": max "1.5 user:*": want "N TARGET" with N a whole number of seats
$OPT:11: product "nope": no such product in the licenses file
$OPT:12: license "sim-hard": reserve "1 user:*": seats are reserved for a user, host, group or hostgroup by name
E
}

@test "slserve -n: a good options file is OK; a missing one names slserve.conf's line" {
	sl_server_config s1 "$PORT" 'options = "options.conf"'
	cat >"$OPT" <<'O'
group "eda-team" { members = { "alice", "bob" } }
hostgroup "lab" { members = { "ws1" } }
product "cad" {
  reserve = { "1 group:eda-team" }
  max     = { "1 user:*", "2 hostgroup:lab", "2 *" }
  include = { "group:eda-team", "hostgroup:lab", "user:carol" }
  exclude = { "user:mallory", "host:kiosk" }
  linger  = 30
}
license "view-free" { reserve = { "5 user:carol" } }
O
	run "$SLSERVE" -n -f "$SL_TMP/s1/slserve.conf"
	assert_success
	assert_output "configuration OK"
	rm "$OPT"
	run "$SLSERVE" -n -f "$SL_TMP/s1/slserve.conf"
	assert_equal "$status" 1
	assert_output "$SL_TMP/s1/slserve.conf:5: options $OPT: No such file or directory"
	# slserve.conf's own check knows the key
	sl_server_config s1 "$PORT" 'option = "options.conf"'
	run "$SLSERVE" -n -f "$SL_TMP/s1/slserve.conf"
	assert_equal "$status" 1
	assert_output --partial "slserve.conf:5: no such option 'option'"
}

@test "a start with a bad options file fails and says where" {
	printf 'product "cad" { max = { "two user:*" } }\n' >"$OPT"
	sl_server_config s1 "$PORT" 'options = "options.conf"'
	run timeout 10 "$SLSERVE" -d -f "$SL_TMP/s1/slserve.conf"
	assert_equal "$status" 1
	assert_output --partial "$OPT:1: product \"cad\": max \"two user:*\": want \"N TARGET\" with N a whole number of seats"
	run curl -sS -m 1 "http://127.0.0.1:$PORT/v1/health"
	[ "$status" -ne 0 ]
}

@test "reload reads the options file again; a bad one changes nothing and says why" {
	printf 'product "cad" { max = { "1 user:*" } }\n' >"$OPT"
	opt_start
	grep -q "start: usage policy from $OPT: 1 products and licenses, 0 groups, 0 hostgroups" "$SL_TMP/s1/log"
	printf 'group "g" { members = { "a" } }\nproduct "cad" { max = { "1 group:g" } }\n' >"$OPT"
	reload_api
	sl_expect 200
	sl_until 3 grep -q "reloaded: usage policy from $OPT: 1 products and licenses, 1 groups" "$SL_TMP/s1/log"
	# A bad options file, with a good license change: neither is taken.
	sed -i 's/count   = 2/count   = 5/' "$SL_TMP/s1/licenses.conf"
	printf 'product "cad" {\n  max = { "1 group:gone" }\n}\n' >"$OPT"
	reload_api
	sl_expect 422
	sl_json '.error == "bad_config" and .message == ($f + ":2: product \"cad\": max \"1 group:gone\": no group \"gone\" in this file")' --arg f "$OPT"
	[ "$(sl_license_field "$U" cad-1 max)" = 2 ]
	run "$SLCTL" -s "$U" -D "$SL_TMP/s1/state" reload
	assert_equal "$status" 1
	assert_output "slctl: $U: reload refused, nothing changed: $OPT:2: product \"cad\": max \"1 group:gone\": no group \"gone\" in this file"
	# SIGHUP logs why
	kill -HUP "$(sl_pid s1)"
	sl_until 3 grep -q "reload refused, licenses unchanged, usage policy unchanged: $OPT:2: product \"cad\": max \"1 group:gone\"" "$SL_TMP/s1/log"
	[ "$(sl_license_field "$U" cad-1 max)" = 2 ]
	# Mended, both are taken; an options file emptied is no policy.
	: >"$OPT"
	run "$SLCTL" -s "$U" -D "$SL_TMP/s1/state" reload
	assert_success
	assert_output "changed cad-1 count 2 -> 5"
	[ "$(sl_license_field "$U" cad-1 max)" = 5 ]
}

@test "include and exclude: 403 excluded naming the rule; exclude wins; others untouched" {
	cat >"$OPT" <<'O'
group "eda" { members = { "alice", "bob" } }
hostgroup "lab" { members = { "ws1" } }
product "cad" {
  include = { "group:eda", "hostgroup:lab" }
  exclude = { "user:mallory" }
}
license "sim-hard" { exclude = { "host:kiosk" } }
O
	opt_start
	co_as cad alice anywhere
	sl_expect 201
	co_as cad carol ws1
	sl_expect 201
	co_as cad carol ws9
	refused 403 excluded
	sl_json '.rule == "include" and .message == ("user \"carol\" on host \"ws9\" may not use product \"cad\": not in its include list (" + $f + ":4)")' --arg f "$OPT"
	# mallory is on a host of the lab, but exclude wins
	co_as cad mallory ws1
	refused 403 excluded
	sl_json '.rule == "exclude \"user:mallory\"" and .message == ("user \"mallory\" on host \"ws1\" may not use product \"cad\": exclude \"user:mallory\" (" + $f + ":5)")' --arg f "$OPT"
	# A license section: its own rules.
	co_as sim carol kiosk
	refused 403 excluded
	sl_json '.rule == "exclude \"host:kiosk\"" and (.message | contains("license \"sim-hard\""))'
	# Products without rules serve everyone.
	co_as viewer mallory kiosk
	sl_expect 201
	co_as sim mallory ws1
	sl_expect 201
	# Refusals are counted (DENIALS, metrics) and logged by reason.
	[ "$(sl_license_field "$U" cad-1 fails)" = 2 ]
	[ "$(sl_license_field "$U" cad-1 in_use)" = 2 ]
	sl_usage_has s1 '.event == "deny" and .error == "excluded" and .user == "mallory"'
	curl -fsS -m 3 "$U/metrics" >"$SL_TMP/metrics"
	grep -Fxq 'sl_policy_denials_total{reason="excluded"} 3' "$SL_TMP/metrics"
	grep -Fxq 'sl_policy_denials_total{reason="max_reached"} 0' "$SL_TMP/metrics"
	grep -Fxq 'sl_denials_total 3' "$SL_TMP/metrics"
}

@test "max per user, per group and for everyone: 409 max_reached; a retry of a held lease is not counted twice" {
	sl_write_licenses s1 < <(sl_lic cad-1 cad 5 30; sl_lic view-free viewer unlimited 60)
	cat >"$OPT" <<'O'
group "eda" { members = { "alice", "bob", "dave" } }
product "cad" {
  max = { "1 user:*", "2 group:eda" }
}
product "viewer" { max = { "2 *" } }
O
	opt_start
	co '"product":"cad","user":"alice","host":"h1","client":"c","lease":"0123456789abcdef0123456789abcdef"'
	sl_expect 201
	co '"product":"cad","user":"alice","host":"h1","client":"c","lease":"0123456789abcdef0123456789abcdef"'
	sl_expect 200
	co_as cad alice h2
	refused 409 max_reached
	sl_json '.rule == "max \"1 user:*\"" and .message == ("user \"alice\" holds 1 seat of product \"cad\", the most max \"1 user:*\" allows (" + $f + ":3)")' --arg f "$OPT"
	co_as cad bob h1
	sl_expect 201
	co_as cad dave h3
	refused 409 max_reached
	sl_json '.rule == "max \"2 group:eda\"" and (.message | startswith("group:eda holds 2 seats of product \"cad\""))'
	# carol is in no group: only user:* holds her
	co_as cad carol h1
	sl_expect 201
	co_as cad carol h1 other-client
	refused 409 max_reached
	[ "$(sl_license_field "$U" cad-1 in_use)" = 3 ]
	# A seat let go lets the group take one again.
	sl_req DELETE "$U/v1/leases/0123456789abcdef0123456789abcdef"
	sl_expect 200
	co_as cad dave h3
	sl_expect 201
	# "N *": everyone together, on an unlimited license.
	co_as viewer a h1
	sl_expect 201
	co_as viewer b h2
	sl_expect 201
	co_as viewer c h3
	refused 409 max_reached
	sl_json '.rule == "max \"2 *\"" and (.message | startswith("everyone together holds 2 seats of product \"viewer\""))'
	sl_usage_has s1 '.event == "deny" and .error == "max_reached" and .user == "c"'
	curl -fsS -m 3 "$U/metrics" | grep -Fxq 'sl_policy_denials_total{reason="max_reached"} 4'
}

@test "reserve: outsiders see the count minus unused reservations; members take reserved seats" {
	sl_write_licenses s1 < <(sl_lic cad-1 cad 3 30)
	cat >"$OPT" <<'O'
group "eda" { members = { "alice", "bob" } }
product "cad" {
  reserve = { "2 group:eda" }
}
O
	opt_start
	co_as cad carol h1
	sl_expect 201
	co_as cad mallory h2
	refused 409 reserved
	sl_json '.rule == "reserve \"2 group:eda\"" and .message == ("the 2 free seats of product \"cad\" are reserved for others: reserve \"2 group:eda\" (" + $f + ":3)")' --arg f "$OPT"
	co_as cad alice h1
	sl_expect 201
	a=$(jq -r .lease <<<"$HTTP_BODY")
	co_as cad bob h2
	sl_expect 201
	# full: no_seats, for members and others alike
	co_as cad alice h9
	sl_expect_error 409 no_seats
	co_as cad mallory h2
	sl_expect_error 409 no_seats
	# alice's seat freed: still eda's (bob uses one of two)
	sl_req DELETE "$U/v1/leases/$a"
	sl_expect 200
	co_as cad mallory h2
	refused 409 reserved
	sl_json '.message | startswith("the 1 free seat of product \"cad\" is reserved for others")'
	co_as cad alice h1
	sl_expect 201
	[ "$(sl_license_field "$U" cad-1 in_use)" = 3 ]
	curl -fsS -m 3 "$U/metrics" | grep -Fxq 'sl_policy_denials_total{reason="reserved"} 2'
}

@test "a license section's reserve keeps seats of that license; the product's other license serves" {
	sl_write_licenses s1 < <(sl_lic cad-a cad 1 30; sl_lic cad-b cad 1 30)
	printf 'license "cad-a" { reserve = { "1 user:carol" } }\n' >"$OPT"
	opt_start
	co_as cad mallory h1
	sl_expect 201
	sl_json '.license == "cad-b"'
	co_as cad mallory h1
	refused 409 reserved
	sl_json '.rule == "reserve \"1 user:carol\"" and (.message | contains("license \"cad-a\""))'
	co_as cad carol h1
	sl_expect 201
	sl_json '.license == "cad-a"'
}

@test "a bad options file on reload keeps the policy in force" {
	printf 'product "cad" { exclude = { "user:mallory" } }\n' >"$OPT"
	opt_start
	co_as cad mallory h1
	refused 403 excluded
	printf 'product "cad" { exclude = { "user:mallory" }\n' >"$OPT"
	reload_api
	sl_expect 422
	sl_json '.error == "bad_config" and .message == ($f + ":1: \"{\" not closed before the end of the file")' --arg f "$OPT"
	co_as cad mallory h1
	refused 403 excluded
	printf 'product "cad" { exclude = { "user:eve" } }\n' >"$OPT"
	reload_api
	sl_expect 200
	co_as cad mallory h1
	sl_expect 201
	co_as cad eve h1
	refused 403 excluded
}

@test "slcheck: excluded exits 4 (refused), max_reached and reserved exit 2 (no seat)" {
	sl_write_licenses s1 < <(sl_lic cad-1 cad 2 30; sl_lic sim-1 sim 2 30)
	cat >"$OPT" <<'O'
group "eda" { members = { "alice" } }
product "cad" { exclude = { "user:mallory" } max = { "1 user:*" } }
product "sim" { reserve = { "1 group:eda" } }
O
	opt_start
	USER=mallory LOGNAME=mallory run --separate-stderr "$SLCHECK" -s "$U" checkout cad
	assert_equal "$status" 4
	[[ $stderr == *"excluded"*"exclude \"user:mallory\""* ]] || { echo "$stderr" >&2; false; }
	USER=carol LOGNAME=carol run --separate-stderr "$SLCHECK" -s "$U" checkout cad
	assert_equal "$status" 0
	USER=carol LOGNAME=carol run --separate-stderr "$SLCHECK" -s "$U" checkout cad
	assert_equal "$status" 2
	[[ $stderr == *"max_reached"* ]] || { echo "$stderr" >&2; false; }
	USER=carol LOGNAME=carol run --separate-stderr "$SLCHECK" -s "$U" checkout sim
	assert_equal "$status" 0
	USER=dave LOGNAME=dave run --separate-stderr "$SLCHECK" -s "$U" checkout sim
	assert_equal "$status" 2
	[[ $stderr == *"reserved"* ]] || { echo "$stderr" >&2; false; }
	USER=alice LOGNAME=alice run --separate-stderr "$SLCHECK" -s "$U" checkout sim
	assert_equal "$status" 0
}

@test "the sample etc/options.conf passes slserve -n with the sample licenses" {
	local etc="$BATS_TEST_DIRNAME/../etc"
	mkdir -p "$SL_TMP/etc"
	cp "$etc/licenses.conf" "$etc/options.conf" "$SL_TMP/etc/"
	sed 's|^# options  = |options = |; s|^state_dir = .*|state_dir = "state"|' "$etc/slserve.conf" >"$SL_TMP/etc/slserve.conf"
	grep -q '^options = "options.conf"' "$SL_TMP/etc/slserve.conf"
	run --separate-stderr "$SLSERVE" -n -f "$SL_TMP/etc/slserve.conf"
	assert_success
	assert_output "configuration OK"
}

# bob_gets_seat: a checkout of cad as bob on h2 is granted.
bob_gets_seat() { co_as cad bob h2; [ "$HTTP_CODE" = 201 ]; }

@test "linger: a checked-in seat stays with its holder, who takes it back at once; others wait it out" {
	sl_write_licenses s1 < <(sl_lic cad-1 cad 1 30; sl_lic sim-1 sim 1 30)
	printf 'product "cad" { linger = 3 }\n' >"$OPT"
	opt_start
	co_as cad alice h1 c1
	sl_expect 201
	a=$(jq -r .lease <<<"$HTTP_BODY")
	sl_req DELETE "$U/v1/leases/$a"
	sl_expect 200
	sl_json '. == {"lease": $a, "released": true, "linger": 3}' --arg a "$a"
	sl_req GET "$U/v1/licenses"
	sl_json '.licenses[] | select(.id == "cad-1") | .in_use == 0 and .lingering == 1'
	# Anyone else: no seat, and the message says why.
	co_as cad bob h2
	sl_expect 409
	sl_json '.error == "no_seats" and (.message | contains("1 of them kept for the holder that checked it in (linger)"))'
	# The same user on the same host but another client is someone else.
	co_as cad alice h1 c2
	sl_expect_error 409 no_seats
	# Its holder takes it back at once.
	co_as cad alice h1 c1
	sl_expect 201
	a=$(jq -r .lease <<<"$HTTP_BODY")
	sl_req GET "$U/v1/licenses"
	sl_json '.licenses[] | select(.id == "cad-1") | .in_use == 1 and (has("lingering") | not)'
	# Checked in again, the seat frees by itself once the linger is over.
	sl_req DELETE "$U/v1/leases/$a"
	sl_expect 200
	t0=$(date +%s%N)
	co_as cad bob h2
	sl_expect_error 409 no_seats
	sl_until 10 bob_gets_seat
	waited_ms=$((($(date +%s%N) - t0) / 1000000))
	[ "$waited_ms" -ge 2500 ] || { echo "seat freed after $waited_ms ms, before its linger" >&2; false; }
	sl_usage_has s1 '.event == "checkin" and .linger == 3 and .user == "alice"'
	# A product without linger frees its seat at once.
	co_as sim alice h1 c1
	sl_expect 201
	a=$(jq -r .lease <<<"$HTTP_BODY")
	sl_req DELETE "$U/v1/leases/$a"
	sl_json '. == {"lease": $a, "released": true}' --arg a "$a"
	co_as sim bob h2
	sl_expect 201
}

@test "linger of a license section wins over its product's; a restart lets lingering seats go" {
	sl_write_licenses s1 < <(sl_lic cad-1 cad 1 30)
	printf 'product "cad" { linger = 1 }\nlicense "cad-1" { linger = 600 }\n' >"$OPT"
	opt_start
	co_as cad alice h1 c1
	a=$(jq -r .lease <<<"$HTTP_BODY")
	sl_req DELETE "$U/v1/leases/$a"
	sl_json '.linger == 600'
	co_as cad bob h2
	sl_expect_error 409 no_seats
	# Not journaled: after a restart the seat is free.
	sl_stop s1
	sl_start s1
	co_as cad bob h2
	sl_expect 201
}

# leases_field ID FIELD: one field of lease ID in s1's GET /v1/leases.
leases_field() {
	sl_admin s1 GET /v1/leases
	jq -r --arg id "$1" --arg f "$2" '.leases[] | select(.lease == $id) | .[$f]' <<<"$HTTP_BODY"
}

# in_use_is ID N: license ID has N seats in use.
in_use_is() { [ "$(sl_in_use "$U" "$1")" = "$2" ]; }

@test "borrow: no heartbeats, a fixed end that survives kill -9; longer than allowed or not allowed: 403" {
	sl_write_licenses s1 < <(sl_lic cad-1 cad 2 30; sl_lic sim-hard sim 1 0;
	    sl_lic view-free viewer unlimited 60)
	printf 'product "cad" { borrow = "1h" }\nlicense "sim-hard" { borrow = "8s" }\n' >"$OPT"
	opt_start
	co '"product":"cad","user":"alice","host":"h1","borrow":3601'
	sl_expect 403
	sl_json '.error == "borrow_too_long" and .borrow_max == 3600 and .message == "a borrow of product \"cad\" is at most 3600 seconds; 3601 asked"'
	co '"product":"viewer","user":"alice","host":"h1","borrow":60'
	sl_expect 403
	sl_json '.error == "borrow_not_allowed" and .borrow_max == 0'
	co '"product":"cad","user":"alice","host":"h1","borrow":0'
	sl_expect_error 400 bad_request
	[ "$(sl_license_field "$U" cad-1 in_use)" = 0 ]
	# A borrow of a soft license: no heartbeat interval, its end in the answer.
	now=$(date +%s)
	co '"product":"cad","user":"alice","host":"h1","borrow":8'
	sl_expect 201
	sl_json '.heartbeat_interval == 0 and .expires_in <= 8 and .expires_in >= 7 and
	    (.borrowed_until - $now | . >= 7 and . <= 9)' --argjson now "$now"
	cad=$(jq -r .lease <<<"$HTTP_BODY")
	until=$(jq -r .borrowed_until <<<"$HTTP_BODY")
	[ "$(leases_field "$cad" borrowed_until)" = "$until" ]
	# A heartbeat renews nothing.
	sl_req POST "$U/v1/leases/$cad/heartbeat" -
	sl_expect 200
	sl_json '.heartbeat_interval == 0 and .expires_in <= 8 and .borrowed_until == ($u | tonumber)' --arg u "$until"
	# A hard license's seat borrowed ends at its time too.
	co '"product":"sim","user":"alice","host":"h1","borrow":8'
	sl_expect 201
	sim=$(jq -r .lease <<<"$HTTP_BODY")
	# kill -9 and a restart keep both, with the same end.
	sl_stop s1 KILL
	sl_start s1
	[ "$(leases_field "$cad" borrowed_until)" = "$until" ]
	[ -n "$(leases_field "$sim" borrowed_until)" ]
	[ "$(sl_in_use "$U" cad-1)" = 1 ] && [ "$(sl_in_use "$U" sim-hard)" = 1 ]
	# Both end by themselves, within a few seconds of their time (not the
	# soft license's timeout of 30 s, and never for the hard one).
	sl_until 15 in_use_is cad-1 0
	[ "$(date +%s)" -ge "$until" ]
	sl_until 5 in_use_is sim-hard 0
	sl_usage_has s1 '.event == "expire" and .lease == "'"$cad"'"'
}

@test "slcheck checkout --borrow: a token that checks in early; slctl leases shows when it ends" {
	printf 'product "cad" { borrow = "7d" }\n' >"$OPT"
	opt_start
	run --separate-stderr "$SLCHECK" -s "$U" checkout --borrow 8d cad
	assert_equal "$status" 4
	[[ $stderr == *"borrow_too_long"*"at most 604800 seconds; 691200 asked"* ]] || { echo "$stderr" >&2; false; }
	run --separate-stderr "$SLCHECK" -s "$U" checkout --borrow soon cad
	assert_equal "$status" 64
	run --separate-stderr "$SLCHECK" -s "$U" checkout --borrow 7d cad
	assert_success
	token=$output
	lease=${token%%:*}
	until=$(leases_field "$lease" borrowed_until)
	[ "$((until - $(date +%s)))" -ge $((7 * 86400 - 5)) ]
	run "$SLCTL" -s "$U" -D "$SL_TMP/s1/state" leases
	assert_success
	assert_line --regexp "^${lease:0:8} +cad-1 .* borrowed until $(date -d "@$until" '+%Y-%m-%d %H:%M:%S')\$"
	run "$SLCHECK" -s "$U" checkin "$token"
	assert_success
	[ "$(sl_license_field "$U" cad-1 in_use)" = 0 ]
}

@test "slctl report --json counts denials by reason" {
	printf 'product "cad" {\n  max = { "1 user:*" }\n  exclude = { "user:mallory" }\n}\n' >"$OPT"
	opt_start
	co_as cad alice h1
	sl_expect 201
	co_as cad alice h2
	refused 409 max_reached
	co_as cad mallory h1
	refused 403 excluded
	co_as cad mallory h2
	refused 403 excluded
	co_as cad bob h1
	sl_expect 201
	co_as cad carol h1
	sl_expect_error 409 no_seats
	sl_usage_has s1 '.event == "deny" and .error == "no_seats"'
	run "$SLCTL" -D "$SL_TMP/s1/state" report --json
	assert_success
	jq -e '.rows[] | select(.license == "cad-1") | .denials == 4 and
	    .denials_by_reason == {"max_reached": 1, "excluded": 2, "no_seats": 1}' <<<"$output"
}

@test "max per host and per hostgroup: host:* and hostgroup:* count each on its own" {
	sl_write_licenses s1 < <(sl_lic cad-1 cad 10 30)
	cat >"$OPT" <<'O'
hostgroup "lab" { members = { "ws1", "ws2", "ws1" } }
hostgroup "office" { members = { "pc1", "pc2" } }
product "cad" { max = { "1 host:*", "2 hostgroup:*" } }
O
	opt_start
	co_as cad alice ws1
	sl_expect 201
	co_as cad bob ws1
	refused 409 max_reached
	sl_json '.rule == "max \"1 host:*\"" and (.message | startswith("host \"ws1\" holds 1 seat of product \"cad\""))'
	co_as cad bob ws2
	sl_expect 201
	co_as cad carol ws3
	sl_expect 201
	# the lab holds two: its third host is refused, the office is not
	printf 'hostgroup "lab" { members = { "ws1", "ws2", "ws4" } }\nhostgroup "office" { members = { "pc1", "pc2" } }\nproduct "cad" { max = { "1 host:*", "2 hostgroup:*" } }\n' >"$OPT"
	reload_api
	sl_expect 200
	co_as cad dave ws4
	refused 409 max_reached
	sl_json '.rule == "max \"2 hostgroup:*\"" and (.message | startswith("hostgroup \"lab\" holds 2 seats"))'
	co_as cad dave pc1
	sl_expect 201
}

# wait_co NAME USER WAIT: a checkout of cad as USER waiting up to WAIT
# seconds, in the background; its answer in $SL_TMP/NAME.out (status code on
# the last line).
wait_co() {
	curl -sS -m 30 -o "$SL_TMP/$1.body" -w '%{http_code}\n' -X POST "$U/v1/checkout" \
	    -H 'Content-Type: application/json' \
	    -d "{\"product\":\"cad\",\"client\":\"c\",\"user\":\"$2\",\"host\":\"h\",\"wait\":$3}" \
	    >"$SL_TMP/$1.code" 2>&1 &
	echo $! >"$SL_TMP/$1.curl"
}

# queued_is N: /v1/licenses shows N waiters for cad-1.
queued_is() { [ "$(sl_license_field "$U" cad-1 queued)" = "$1" ]; }

# answered NAME CODE: the background checkout NAME was answered CODE.
answered() { [ "$(cat "$SL_TMP/$1.code" 2>/dev/null)" = "$2" ]; }

@test "queue: two waiters are served in arrival order as seats free; queued shows them; a wait runs out with 409" {
	sl_write_licenses s1 < <(sl_lic cad-1 cad 1 30)
	printf 'product "cad" { queue = true }\n' >"$OPT"
	opt_start
	co_as cad alice h1
	sl_expect 201
	a=$(jq -r .lease <<<"$HTTP_BODY")
	wait_co bob bob 20
	sl_until 5 queued_is 1
	wait_co carol carol 20
	sl_until 5 queued_is 2
	# a checkout without wait is refused at once, and does not queue
	co_as cad dave h1
	sl_expect_error 409 no_seats
	queued_is 2
	sl_req DELETE "$U/v1/leases/$a"
	sl_expect 200
	sl_until 5 answered bob 201
	jq -e '.license == "cad-1" and .product == "cad"' "$SL_TMP/bob.body"
	b=$(jq -r .lease "$SL_TMP/bob.body")
	queued_is 1
	answered carol "" || [ ! -s "$SL_TMP/carol.code" ]
	sl_req DELETE "$U/v1/leases/$b"
	sl_expect 200
	sl_until 5 answered carol 201
	sl_until 5 queued_is 0
	sl_admin s1 GET /v1/leases
	sl_json '[.leases[].user] == ["carol"]'
	# A wait that runs out: its refusal, with how long it waited.
	wait_co erin erin 1
	sl_until 5 answered erin 409
	jq -e '.error == "no_seats" and (.waited | . >= 0.9 and . < 3)' "$SL_TMP/erin.body"
	curl -fsS -m 3 "$U/metrics" | grep -Fxq 'sl_queued_checkouts 0'
}

@test "queue: a waiter whose client goes away leaves the queue; without queue = true, wait is ignored" {
	sl_write_licenses s1 < <(sl_lic cad-1 cad 1 30; sl_lic sim-1 sim 1 30)
	printf 'product "cad" { queue = true }\n' >"$OPT"
	opt_start
	co_as cad alice h1
	a=$(jq -r .lease <<<"$HTTP_BODY")
	wait_co gone gone 25
	sl_until 5 queued_is 1
	curl -fsS -m 3 "$U/metrics" | grep -Fxq 'sl_queued_checkouts 1'
	kill "$(cat "$SL_TMP/gone.curl")"
	sl_until 5 queued_is 0
	sl_req DELETE "$U/v1/leases/$a"
	sl_expect 200
	[ "$(sl_license_field "$U" cad-1 in_use)" = 0 ]
	# sim has no queue: a checkout with wait is answered at once
	co_as sim alice h1
	sl_expect 201
	t0=$(date +%s%N)
	co '"product":"sim","user":"bob","host":"h","wait":20'
	sl_expect_error 409 no_seats
	[ $((($(date +%s%N) - t0) / 1000000)) -lt 3000 ]
}

@test "queue: the first waiter the policy allows gets a freed seat; SIGTERM answers waiters 503" {
	sl_write_licenses s1 < <(sl_lic cad-1 cad 2 30)
	printf 'product "cad" {\n  max = { "1 user:*" }\n  queue = true\n}\n' >"$OPT"
	opt_start
	co_as cad alice h1
	a=$(jq -r .lease <<<"$HTTP_BODY")
	co_as cad carol h1
	c=$(jq -r .lease <<<"$HTTP_BODY")
	wait_co alice2 alice 20
	sl_until 5 queued_is 1
	wait_co bob bob 20
	sl_until 5 queued_is 2
	# carol's seat frees: alice, first in line, may not hold two; bob may.
	sl_req DELETE "$U/v1/leases/$c"
	sl_until 5 answered bob 201
	queued_is 1
	# alice lets her seat go: her waiting checkout takes one.
	sl_req DELETE "$U/v1/leases/$a"
	sl_until 5 answered alice2 201
	queued_is 0
	# A waiter when the server stops is answered, and the stop is prompt.
	wait_co dave dave 25
	sl_until 5 queued_is 1
	pid=$(sl_pid s1)
	kill -TERM "$pid"
	sl_until 5 answered dave 503
	jq -e '.error == "stopping"' "$SL_TMP/dave.body"
	sl_wait_gone "$pid" 5
}

# slc_wait NAME USER: slcheck checkout --wait 20 cad as USER, in the
# background: its token in $SL_TMP/NAME.tok, its status in NAME.rc.
slc_wait() {
	( USER=$2 LOGNAME=$2 "$SLCHECK" -s "$U" checkout --wait 20 cad >"$SL_TMP/$1.tok" \
	    2>"$SL_TMP/$1.err"; echo $? >"$SL_TMP/$1.rc" ) &
}

# slc_done NAME: the background slcheck NAME has exited 0.
slc_done() { [ "$(cat "$SL_TMP/$1.rc" 2>/dev/null)" = 0 ]; }

@test "slcheck checkout --wait waits in the server's queue: two waiters served in arrival order, queued: 2" {
	sl_write_licenses s1 < <(sl_lic cad-1 cad 1 30)
	printf 'product "cad" { queue = true }\n' >"$OPT"
	opt_start
	USER=alice LOGNAME=alice run "$SLCHECK" -s "$U" checkout cad
	assert_success
	ta=$output
	slc_wait bob bob
	sl_until 5 queued_is 1
	slc_wait carol carol
	sl_until 5 queued_is 2
	run "$SLCHECK" -s "$U" checkin "$ta"
	assert_success
	sl_until 5 slc_done bob
	[ ! -e "$SL_TMP/carol.rc" ]
	queued_is 1
	run "$SLCHECK" -s "$U" checkin "$(cat "$SL_TMP/bob.tok")"
	assert_success
	sl_until 5 slc_done carol
	sl_admin s1 GET /v1/leases
	sl_json '[.leases[].user] == ["carol"]'
}

@test "waiters show in slctl status (QUEUED, only while some wait), the status page and the metrics" {
	sl_write_licenses s1 < <(sl_lic cad-1 cad 1 30; sl_lic sim-1 sim 1 30)
	printf 'product "cad" { queue = true }\n' >"$OPT"
	opt_start
	run "$SLCTL" -s "$U" status
	assert_success
	assert_line --index 0 --regexp '^LICENSE +PRODUCT +IN USE +MAX +DENIALS +ROLE +STATUS +SERVED BY +EXPIRES$'
	co_as cad alice h1
	sl_expect 201
	wait_co bob bob 20
	wait_co carol carol 20
	sl_until 5 queued_is 2
	run "$SLCTL" -s "$U" status
	assert_success
	assert_line --index 0 --regexp '^LICENSE +PRODUCT +IN USE +MAX +DENIALS +ROLE +STATUS +SERVED BY +EXPIRES +QUEUED$'
	assert_line --regexp '^cad-1 +cad +1 +1 +[0-9]+ +primary +hot +s1 +never +2$'
	assert_line --regexp '^sim-1 +sim +0 +1 +0 +primary +hot +s1 +never +0$'
	curl -fsS -m 3 "$U/" | grep -Fq '<span class="queued" title="checkouts waiting in the queue">2 queued</span>'
	curl -fsS -m 3 "$U/metrics" >"$SL_TMP/metrics"
	grep -Fxq 'sl_license_queued{license="cad-1",product="cad",pool="s1"} 2' "$SL_TMP/metrics"
	grep -Fxq 'sl_license_queued{license="sim-1",product="sim",pool="s1"} 0' "$SL_TMP/metrics"
	grep -Fxq 'sl_queued_checkouts 2' "$SL_TMP/metrics"
}
