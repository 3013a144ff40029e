#!/usr/bin/env bats
# slcheck's configuration: slclient.conf, -f, SL_CONFIG, SL_SERVERS, -s,
# errors naming FILE:LINE, the `config` command, usage errors.

load helpers-client

setup() {
	sl_setup
	C="$SL_TMP/slclient.conf"
}

teardown() { sl_teardown; }

# conf_fails: slcheck -f $C config exits 78 with one line "slcheck: $C:LINE: ..."
# where LINE is the expected line; $output holds stderr.
conf_fails() {
	local line=$1
	run --separate-stderr "$SLCHECK" -f "$C" config
	[ "$status" -eq "$EX_CONFIG" ] || { echo "exit $status: $stderr" >&2; return 1; }
	[ -z "$output" ] || { echo "unexpected stdout: $output" >&2; return 1; }
	[[ $stderr == "slcheck: $C:$line: "* ]] || { echo "not at line $line: $stderr" >&2; return 1; }
	[ "$(wc -l <<<"$stderr")" -eq 1 ] || { echo "more than one line: $stderr" >&2; return 1; }
	output=$stderr
}

@test "the sample etc/slclient.conf parses and says where each value came from" {
	local sample="$BATS_TEST_DIRNAME/../etc/slclient.conf"
	run "$SLCHECK" -f "$sample" --json config
	assert_success
	jq -e --arg f "$sample" '
	    (.[] | select(.key == "file") | .value == $f and .origin == "-f") and
	    ([.[] | select(.key == "primary") | .value] == ["http://127.0.0.1:7070"]) and
	    ([.[] | select(.key == "secondary")] == []) and
	    (.[] | select(.key == "backup") | .value == "http://127.0.0.1:7071" and
	        .server == "http://127.0.0.1:7070") and
	    (.[] | select(.key == "pool") | .value == "lic1") and
	    (.[] | select(.key == "primary") | .origin | test(":[0-9]+$")) and
	    (.[] | select(.key == "connect_timeout") | .value == "1") and
	    (.[] | select(.key == "timeout") | .value == "3")' <<<"$output"
}

@test "defaults: connect timeout 1 s, request timeout 3 s, origins named" {
	run "$SLCHECK" -s http://127.0.0.1:1 config
	assert_success
	assert_line --regexp '^connect_timeout +1 +default$'
	assert_line --regexp '^timeout +3 +default$'
	assert_line --regexp '^dead_ttl +30 +default$'
	assert_line --regexp '^primary +http://127.0.0.1:1 +-s$'
	assert_line --regexp "^cache +$SL_TMP/cache/sl +XDG_CACHE_HOME$"
}

@test "line numbers are right after comments of every kind" {
	cat >"$C" <<'EOF'
# a comment
// another
/* and a
   block */
primary = { "http://127.0.0.1:1" }  # trailing "quoted" comment
timeout = "soon"
EOF
	conf_fails 6
	assert_output --partial "timeout"
}

@test "an unknown option is named with its line" {
	printf 'primary = { "http://127.0.0.1:1" }\n\nbogus = 1\n' >"$C"
	conf_fails 3
	assert_output --partial "bogus"
}

@test "a server URL that is not http(s) is an error at its line" {
	printf 'primary = { "http://127.0.0.1:1" }\nsecondary = { "ftp://x" }\n' >"$C"
	conf_fails 2
	assert_output --partial '"ftp://x" is not an http:// or https:// URL'
}

@test "timeouts out of range are errors" {
	printf 'primary = { "http://127.0.0.1:1" }\nconnect_timeout = 0\n' >"$C"
	conf_fails 2
	assert_output --partial "connect_timeout"
	printf 'primary = { "http://127.0.0.1:1" }\ndead_ttl = -1\n' >"$C"
	conf_fails 2
}

@test "a server section for an unlisted server is an error" {
	printf 'primary = { "http://127.0.0.1:1" }\nserver "http://127.0.0.1:2" {\n  backup = "http://127.0.0.1:3"\n}\n' >"$C"
	run --separate-stderr "$SLCHECK" -f "$C" config
	[ "$status" -eq "$EX_CONFIG" ]
	[[ $stderr == "slcheck: $C:"[0-9]*': server "http://127.0.0.1:2" is not listed in primary or secondary' ]]
}

@test "a bad backup URL and a bad pool name are named with their lines" {
	printf 'primary = { "http://127.0.0.1:1" }\nserver "http://127.0.0.1:1" {\n  backup = "nope"\n}\n' >"$C"
	conf_fails 3
	assert_output --partial backup
	printf 'primary = { "http://127.0.0.1:1" }\nserver "http://127.0.0.1:1" {\n\n  pool = "a b"\n}\n' >"$C"
	conf_fails 4
	assert_output --partial pool
}

@test "a syntax error names the file and line" {
	printf 'primary = { "http://127.0.0.1:1"\ntimeout = 2\n' >"$C"
	run --separate-stderr "$SLCHECK" -f "$C" config
	[ "$status" -eq "$EX_CONFIG" ]
	[[ $stderr == "slcheck: $C:"[0-9]*": "* ]]
}

@test "a missing -f file is a configuration error" {
	run --separate-stderr "$SLCHECK" -f "$SL_TMP/none.conf" checkout cad
	[ "$status" -eq "$EX_CONFIG" ]
	[ "$stderr" = "slcheck: $SL_TMP/none.conf: No such file or directory" ]
}

@test "SL_CONFIG names the file; -f wins over it" {
	printf 'primary = { "http://127.0.0.1:11" }\n' >"$C"
	printf 'primary = { "http://127.0.0.1:22" }\n' >"$SL_TMP/other.conf"
	SL_CONFIG=$C run "$SLCHECK" config
	assert_success
	assert_line --regexp "^file +$C +SL_CONFIG$"
	assert_line --regexp '^primary +http://127.0.0.1:11 '
	SL_CONFIG=$C run "$SLCHECK" -f "$SL_TMP/other.conf" config
	assert_line --regexp '^primary +http://127.0.0.1:22 '
}

@test "SL_SERVERS: roles by prefix, carried to later entries, backups after +" {
	SL_SERVERS='http://127.0.0.1:1,http://127.0.0.1:2+http://127.0.0.1:3 s:http://127.0.0.1:4/,http://127.0.0.1:5' \
	    run "$SLCHECK" --json config
	assert_success
	jq -e '[.[] | select(.key == "primary" or .key == "secondary" or .key == "backup") |
	    [.key, .value, .origin]] == [
	    ["primary", "http://127.0.0.1:1", "SL_SERVERS"],
	    ["primary", "http://127.0.0.1:2", "SL_SERVERS"],
	    ["backup", "http://127.0.0.1:3", "SL_SERVERS"],
	    ["secondary", "http://127.0.0.1:4", "SL_SERVERS"],
	    ["secondary", "http://127.0.0.1:5", "SL_SERVERS"]]' <<<"$output"
}

@test "SL_SERVERS replaces the file's lists but keeps its timeouts; -s replaces SL_SERVERS" {
	printf 'primary = { "http://127.0.0.1:11" }\ntimeout = 2.5\n' >"$C"
	SL_SERVERS='s:http://127.0.0.1:7' run "$SLCHECK" -f "$C" config
	assert_success
	assert_line --regexp '^secondary +http://127.0.0.1:7 +SL_SERVERS$'
	refute_line --partial 'http://127.0.0.1:11'
	assert_line --regexp "^timeout +2.5 +$C:2$"
	SL_SERVERS='s:http://127.0.0.1:7' run "$SLCHECK" -f "$C" -s http://127.0.0.1:8 config
	assert_line --regexp '^primary +http://127.0.0.1:8 +-s$'
	refute_line --partial 'http://127.0.0.1:7'
}

@test "a bad SL_SERVERS entry is a configuration error naming SL_SERVERS" {
	SL_SERVERS='p:http://127.0.0.1:1,s:bogus' run --separate-stderr "$SLCHECK" checkout cad
	[ "$status" -eq "$EX_CONFIG" ]
	[[ $stderr == 'slcheck: SL_SERVERS: "bogus" is not an http:// or https:// URL'* ]]
}

@test "no configuration file and no servers given is a clear error" {
	[ ! -e /etc/sl/slclient.conf ] || skip "/etc/sl/slclient.conf exists here"
	run --separate-stderr "$SLCHECK" checkout cad
	[ "$status" -eq "$EX_CONFIG" ]
	[[ $stderr == "slcheck: /etc/sl/slclient.conf: No such file or directory (name servers with -s URL, SL_SERVERS or -f FILE)" ]]
}

@test "usage errors exit 64; unknown and ambiguous commands list the commands" {
	run --separate-stderr "$SLCHECK"
	[ "$status" -eq "$EX_USAGE" ]
	run --separate-stderr "$SLCHECK" frobnicate
	[ "$status" -eq "$EX_USAGE" ]
	[[ $stderr == "slcheck: unknown command 'frobnicate'; commands are: checkout heartbeat checkin run check status config help" ]]
	run --separate-stderr "$SLCHECK" che
	[ "$status" -eq "$EX_USAGE" ]
	[[ $stderr == "slcheck: ambiguous command 'che'; commands are: checkout checkin check" ]]
	run --separate-stderr "$SLCHECK" -s http://127.0.0.1:1 checkout
	[ "$status" -eq "$EX_USAGE" ]
	run --separate-stderr "$SLCHECK" -s http://127.0.0.1:1 checkout 'bad product'
	[ "$status" -eq "$EX_USAGE" ]
	run --separate-stderr "$SLCHECK" -s http://127.0.0.1:1 checkout --wait soon cad
	[ "$status" -eq "$EX_USAGE" ]
	run --separate-stderr "$SLCHECK" heartbeat not-a-token
	[ "$status" -eq "$EX_USAGE" ]
	run --separate-stderr "$SLCHECK" -s http://127.0.0.1:1 run cad
	[ "$status" -eq "$EX_USAGE" ]
	run --separate-stderr "$SLCHECK" -s http://127.0.0.1:1 run --on-loss maybe cad -- true
	[ "$status" -eq "$EX_USAGE" ]
}

@test "a unique prefix runs the command; --help prints the usage of each" {
	run "$SLCHECK" -s http://127.0.0.1:1 conf
	assert_success
	assert_line --regexp '^primary +http://127.0.0.1:1 '
	run "$SLCHECK" --help
	assert_success
	assert_line --partial "slcheck run [--wait SECONDS] [--on-loss term|warn]"
	run "$SLCHECK" check --help
	assert_success
	assert_output --partial "usage: slcheck check [-w RANGE] [-c RANGE]"
}
