#!/usr/bin/env bats
# One CLI contract for slctl and slcheck (issue 18, item 9): the same exit
# code for the same fault, "PROGRAM: " before every message, --json errors
# as {"error", "message"} on stdout, one JSON shape for one or many servers,
# the default port 7070, TLS errors in words.

bats_require_minimum_version 1.5.0
load helpers

setup() { sl_setup_cd; }
teardown() { sl_teardown; }

@test "a bad -s URL is a usage error (64) from both tools, said the same way" {
	run --separate-stderr "$SLCTL" -s http:/nohost status
	assert_equal "$status" 64
	[ "$stderr" = 'slctl: -s http:/nohost: not an http:// or https:// URL' ]
	run --separate-stderr "$SLCHECK" -s http:/nohost checkout cad
	assert_equal "$status" 64
	[ "${stderr%%$'\n'*}" = 'slcheck: -s: "http:/nohost" is not an http:// or https:// URL (entries are [p:|s:]URL[+BACKUP_URL])' ]
	# from the environment it is the configuration: 78 from both
	SL_SERVERS=http:/nohost run "$SLCTL" status
	assert_equal "$status" 78
	SL_SERVERS=http:/nohost run "$SLCHECK" checkout cad
	assert_equal "$status" 78
}

@test "no server answering is exit 3 from both tools" {
	dead="http://127.0.0.1:$(sl_free_port)"
	run --separate-stderr "$SLCTL" -s "$dead" status
	assert_equal "$status" 3
	[ "$stderr" = "slctl: $dead: licenses: server unreachable: Couldn't connect to server" ]
	run --separate-stderr "$SLCHECK" -s "$dead" checkout cad
	assert_equal "$status" 3
	[ "$stderr" = "slcheck: cad: no server answered ($dead: no answer: Couldn't connect to server)" ]
}

@test "option errors say slctl: COMMAND:, never the path the binary was run by" {
	run --separate-stderr "$SLCTL" status --frob
	assert_equal "$status" 64
	[ "${stderr%%$'\n'*}" = "slctl: status: unrecognized option '--frob'" ]
	run --separate-stderr "$SLCTL" --frob status
	assert_equal "$status" 64
	[ "${stderr%%$'\n'*}" = "slctl: unrecognized option '--frob'" ]
	run --separate-stderr "$SLCTL" license sign -q x
	assert_equal "$status" 64
	[ "${stderr%%$'\n'*}" = "slctl: license sign: invalid option -- 'q'" ]
	run --separate-stderr "$SLCTL" failover set --frob
	assert_equal "$status" 64
	[ "${stderr%%$'\n'*}" = "slctl: failover set: unrecognized option '--frob'" ]
	run --separate-stderr "$SLCHECK" checkout --frob
	assert_equal "$status" 64
	[ "${stderr%%$'\n'*}" = "slcheck: checkout: --frob: unknown option or missing argument" ]
}

@test "--json: errors are {error, message} on stdout with the same exit code" {
	dead="http://127.0.0.1:$(sl_free_port)"
	run --separate-stderr "$SLCTL" -s "$dead" reload --json
	assert_equal "$status" 3
	jq -e --arg d "$dead" '. == {"error": "unreachable",
	    "message": "\($d): reload: server unreachable: Couldn'"'"'t connect to server"}' <<<"$output"
	[ "$stderr" = "slctl: $dead: reload: server unreachable: Couldn't connect to server" ]
	run --separate-stderr "$SLCTL" --json -s http:/nohost status
	assert_equal "$status" 64
	jq -e '. == {"error": "usage", "message": "-s http:/nohost: not an http:// or https:// URL"}' <<<"$output"
	run --separate-stderr "$SLCTL" --json frob
	assert_equal "$status" 64
	jq -e '.error == "usage" and .message == "unknown command \"frob\""' <<<"$output"
	run --separate-stderr "$SLCHECK" -s "$dead" --json checkout cad
	assert_equal "$status" 3
	jq -e --arg d "$dead" '.error == "unreachable" and
	    .message == "cad: no server answered (\($d): no answer: Couldn'"'"'t connect to server)"' <<<"$output"
	run --separate-stderr "$SLCHECK" -s http:/nohost checkout --json cad
	assert_equal "$status" 64
	jq -e '.error == "usage"' <<<"$output"
	SL_SERVERS=http:/nohost run --separate-stderr "$SLCHECK" --json status
	assert_equal "$status" 78
	jq -e '.error == "config" and (.message | startswith("SL_SERVERS: "))' <<<"$output"
}

@test "status and leases --json have one shape for one server or many; a down one is an element with its error" {
	sl_serve lic1
	dead="http://127.0.0.1:$(sl_free_port)"
	run --separate-stderr "$SLCTL" -s "$(sl_url lic1)" status --json
	assert_success
	jq -e 'type == "array" and length == 1 and .[0].server == "lic1"' <<<"$output"
	run --separate-stderr "$SLCTL" -s "$(sl_url lic1)" -s "$dead" status --json
	assert_equal "$status" 3
	jq -e --arg d "$dead" 'length == 2 and .[0].server == "lic1" and
	    .[1] == {"url": $d, "error": "unreachable", "message": "Couldn'"'"'t connect to server"}' <<<"$output"
	run --separate-stderr "$SLCTL" -s "$dead" status --json
	assert_equal "$status" 3
	jq -e 'length == 1 and .[0].error == "unreachable"' <<<"$output"
	D="$SL_TMP/lic1/state"
	run --separate-stderr "$SLCTL" -s "$(sl_url lic1)" -D "$D" leases --json
	assert_success
	jq -e --arg u "$(sl_url lic1)" '. == [{"url": $u, "leases": []}] or
	    (length == 1 and .[0].url == $u and .[0].leases == [])' <<<"$output"
	run --separate-stderr "$SLCTL" -s "$(sl_url lic1)" -s "$dead" -D "$D" leases --json
	assert_equal "$status" 3
	jq -e --arg d "$dead" 'length == 2 and .[0].leases == [] and .[1].url == $d and
	    .[1].error == "unreachable"' <<<"$output"
}

@test "leases of an unknown product is an error (4), as slcheck checkout of it" {
	sl_serve lic1
	u=$(sl_url lic1)
	run --separate-stderr "$SLCTL" -s "$u" -D "$SL_TMP/lic1/state" leases nosuch
	assert_equal "$status" 4
	[ -z "$output" ]
	[ "$stderr" = "slctl: nosuch: unknown product: no server has a license for it" ]
	run --separate-stderr "$SLCTL" -s "$u" -D "$SL_TMP/lic1/state" leases nosuch --json
	assert_equal "$status" 4
	jq -e '.error == "unknown_product"' <<<"$output"
	run "$SLCHECK" -s "$u" checkout nosuch
	assert_equal "$status" 4
	# a known product without seats taken is an empty list, exit 0
	run "$SLCTL" -s "$u" -D "$SL_TMP/lic1/state" leases cad
	assert_success
	assert_output --regexp '^LEASE +LICENSE '
	[ "${#lines[@]}" -eq 1 ]
}

@test "a URL without a port means port 7070 in both tools" {
	run "$SLCHECK" -s http://127.0.0.1+http://[::1]/ --json config
	assert_success
	jq -e '[.[] | select(.key == "primary" or .key == "backup") | .value] ==
	    ["http://127.0.0.1:7070", "http://[::1]:7070"]' <<<"$output"
	run "$SLCHECK" -s http://127.0.0.1:8080 --json config
	jq -e '[.[] | select(.key == "primary") | .value] == ["http://127.0.0.1:8080"]' <<<"$output"
	# slctl says which URL it asked
	run --separate-stderr "$SLCTL" -t 1 -s https://localhost.invalid status
	[[ $stderr == "slctl: https://localhost.invalid:7070: licenses: "* ]] || { echo "$stderr"; false; }
}

@test "https:// to a plain-HTTP server is said in words" {
	sl_serve lic1
	u=$(sl_url lic1)
	s=${u/http:/https:}
	run --separate-stderr "$SLCTL" -s "$s" status
	assert_equal "$status" 3
	[[ $stderr == "slctl: $s: licenses: server unreachable: TLS: "* ]] || { echo "$stderr"; false; }
	# The plain server answers the TLS hello as a bad request, or (slowly, as
	# under the sanitizers) closes the connection: either is said in words.
	said_in_words() {
		[[ $stderr == *"(its URL is http://, not https://)"* ||
		   $stderr == *"(does it speak TLS? its URL may be http://)"* ]] ||
		    { echo "$stderr"; false; }
	}
	said_in_words
	[[ $stderr != *"error:0A"* ]] || { echo "$stderr"; false; }
	run --separate-stderr "$SLCHECK" -s "$s" checkout cad
	assert_equal "$status" 3
	said_in_words
}

@test "slcheck config --json: plain keys, backups name their server, null for nothing" {
	SL_SERVERS='http://127.0.0.1:1+http://127.0.0.1:2' run "$SLCHECK" --json config
	assert_success
	jq -e 'all(.[]; .key | test("^[a-z_]+$")) and
	    (.[] | select(.key == "backup") == {"key": "backup", "value": "http://127.0.0.1:2",
	        "origin": "SL_SERVERS", "server": "http://127.0.0.1:1"}) and
	    (.[] | select(.key == "token") | .value == null) and
	    (.[] | select(.key == "cacert") | .value == null) and
	    (.[] | select(.key == "file") | .missing | type == "boolean") and
	    ([.[] | .value | strings | select(test("^\\("))] == [])' <<<"$output"
	# the table still says (none)
	SL_SERVERS='http://127.0.0.1:1' run "$SLCHECK" config
	assert_line --regexp '^token +\(none\) +'
}

@test "status -w is --watch, documented in help and slctl(8)" {
	run "$SLCTL" help status
	assert_output --partial "-w, --watch SECONDS"
	grep -q 'Fl w , Fl -watch' "$BATS_TEST_DIRNAME/../man/slctl.8"
	run "$SLCTL" -s http://127.0.0.1:1 status -w abc
	assert_equal "$status" 64
}
