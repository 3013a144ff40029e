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
	sl_expect_code "$1" || return 1
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
	sl_expect_code 200
	sl_until 3 grep -q "reloaded: usage policy from $OPT: 1 products and licenses, 1 groups" "$SL_TMP/s1/log"
	# A bad options file, with a good license change: neither is taken.
	sed -i 's/count   = 2/count   = 5/' "$SL_TMP/s1/licenses.conf"
	printf 'product "cad" {\n  max = { "1 group:gone" }\n}\n' >"$OPT"
	reload_api
	sl_expect_code 422
	sl_json '.error == "bad_config" and .message == ($f + ":2: product \"cad\": max \"1 group:gone\": no group \"gone\" in this file")' --arg f "$OPT"
	[ "$(sl_license_field "$U" cad-1 max)" = 2 ]
	run "$SLCTL" -s "$U" -D "$SL_TMP/s1/state" reload
	assert_equal "$status" 1
	assert_output "slctl: $U: reload refused, nothing changed: $OPT:2: product \"cad\": max \"1 group:gone\": no group \"gone\" in this file"
	# SIGHUP logs why
	kill -HUP "$(sl_pid s1)"
	sl_until 3 grep -q "SIGHUP: $OPT:2: product \"cad\": max \"1 group:gone\"" "$SL_TMP/s1/log"
	[ "$(sl_license_field "$U" cad-1 max)" = 2 ]
	# Mended, both are taken; an options file emptied is no policy.
	: >"$OPT"
	run "$SLCTL" -s "$U" -D "$SL_TMP/s1/state" reload
	assert_success
	assert_output "changed cad-1 count 2 -> 5"
	[ "$(sl_license_field "$U" cad-1 max)" = 5 ]
}
