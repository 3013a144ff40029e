#!/usr/bin/env bats
# slctl: command table, help, usage errors, exit codes without a server.

load helpers

setup() { sl_setup_cd; }
teardown() { sl_teardown; }

@test "slctl help lists every command and exits 0" {
	run "$SLCTL" help
	assert_success
	for c in servers status leases revoke remove reload license report failover help version; do
		assert_output --partial "slctl $c"
	done
}

@test "slctl COMMAND --help equals slctl help COMMAND" {
	for c in servers status leases revoke remove reload license report failover; do
		a=$("$SLCTL" help "$c")
		b=$("$SLCTL" "$c" --help)
		[ "$a" = "$b" ]
		[[ "$a" == "usage: slctl $c"* ]]
	done
}

@test "every usage line of slctl help appears in slctl(8)" {
	command -v mandoc >/dev/null || skip "mandoc not installed"
	man=$(mandoc -Tascii "$BATS_TEST_DIRNAME/../man/slctl.8" | col -bx | tr -s ' \n\t' '   ')
	while IFS= read -r line; do
		line=$(sed 's/^ *//' <<<"$line" | tr -s ' ')
		[[ "$man" == *"$line"* ]] || { echo "not in slctl(8): $line"; return 1; }
	done < <("$SLCTL" help | grep '^  slctl ')
}

@test "the command table slctl and slcheck share passes its unit test" {
	mkdir -p "$SL_TMP/unit"
	run "$SL_BINDIR/../test/unit-cmd" "$SL_TMP/unit"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "unknown command lists the valid ones, exit 64" {
	run "$SLCTL" frobnicate
	assert_equal "$status" 64
	assert_output --partial 'unknown command "frobnicate"'
	assert_output --partial "valid commands: servers status leases"
}

@test "ambiguous prefix names the candidates, exit 64; unique prefix works" {
	run "$SLCTL" re
	assert_equal "$status" 64
	assert_output --partial 'ambiguous command "re"'
	assert_output --partial "revoke"
	assert_output --partial "reload"
	assert_output --partial "report"
	run "$SLCTL" vers
	assert_success
	assert_output --regexp '^slctl [0-9]+\.[0-9]+\.[0-9]+$'
}

@test "usage errors exit 64 with one line naming the cause" {
	run "$SLCTL" -s http://127.0.0.1:1 status --watch abc
	assert_equal "$status" 64
	assert_output --partial "--watch abc"
	run "$SLCTL" -s ftp://x status
	assert_equal "$status" 64
	assert_output --partial "ftp://x"
	run "$SLCTL" -s http://127.0.0.1:1 revoke
	assert_equal "$status" 64
	assert_output --partial "missing LEASE"
	run "$SLCTL" -s http://127.0.0.1:1 revoke abc
	assert_equal "$status" 64
	assert_output --partial "too short"
	run "$SLCTL" -s http://127.0.0.1:1 revoke 'bad/id!'
	assert_equal "$status" 64
	run "$SLCTL" -s http://127.0.0.1:1 revoke abcdef --for 3x
	assert_equal "$status" 64
	assert_output --partial "--for 3x"
	run "$SLCTL" -s http://127.0.0.1:1 report --by colour
	assert_equal "$status" 64
	run "$SLCTL" -s http://127.0.0.1:1 report --json --csv
	assert_equal "$status" 64
	run "$SLCTL" -s http://127.0.0.1:1 failover set lic0
	assert_equal "$status" 64
	assert_output --partial "missing --url"
	run "$SLCTL" -s http://127.0.0.1:1 failover bogus
	assert_equal "$status" 64
	run "$SLCTL" license frob
	assert_equal "$status" 64
	run "$SLCTL"
	assert_equal "$status" 64
}

@test "unreachable server: exit 3 (as slcheck), message names the server" {
	port=$(sl_free_port)
	run "$SLCTL" -s "http://127.0.0.1:$port" status
	assert_equal "$status" 3
	assert_output --partial "http://127.0.0.1:$port"
	assert_output --partial "unreachable"
	[ "${#lines[@]}" -eq 1 ]
}

@test "a broken slclient.conf is a config error (78) naming file and line" {
	printf 'primary = { "http://127.0.0.1:1"\nsecondary = \n' >client.conf
	run "$SLCTL" -f client.conf status
	assert_equal "$status" 78
	assert_output --partial "client.conf"
	run "$SLCTL" -f missing.conf status
	assert_equal "$status" 78
	assert_output --partial "missing.conf"
	SL_CONFIG=missing.conf run "$SLCTL" status
	assert_equal "$status" 78
}

@test "an unreadable --token-file is a config error (78)" {
	run "$SLCTL" -s http://127.0.0.1:1 --token-file nope leases
	assert_equal "$status" 78
	assert_output --partial "nope"
}

@test "a write error on stdout is a failure" {
	[ -w /dev/full ] || skip "no /dev/full"
	run bash -c '"$SLCTL" help >/dev/full'
	assert_equal "$status" 1
	assert_output --partial "write error"
}
