#!/usr/bin/env bats
# slserve's command line and configuration check (-n): good and broken files.

load helpers-server

setup() {
	sl_setup
	D="$SL_TMP/conf"
	mkdir -p "$D"
	sl_default_licenses >"$D/licenses.conf"
}

teardown() { sl_server_teardown; }

# good_conf [EXTRA...]: a valid slserve.conf in $D/slserve.conf.
good_conf() {
	{
		echo 'name = "lic1"'
		echo 'listen = "127.0.0.1:7070"'
		echo 'state_dir = "state"'
		echo 'licenses = "licenses.conf"'
		local line
		for line in "$@"; do echo "$line"; done
	} >"$D/slserve.conf"
}

# check_fails: slserve -n on $D/slserve.conf fails, prints nothing on stdout,
# and every line on stderr starts with FILE:LINE: where FILE is one of the
# configuration files and LINE is a number; $output then holds stderr.
check_fails() {
	run --separate-stderr "$SLSERVE" -n -f "$D/slserve.conf"
	[ "$status" -eq 1 ] || { echo "exit $status, stderr: $stderr" >&2; return 1; }
	[ -z "$output" ] || { echo "unexpected stdout: $output" >&2; return 1; }
	[ -n "$stderr" ] || { echo "no message on stderr" >&2; return 1; }
	local line
	while IFS= read -r line; do
		[[ $line =~ ^$D/(slserve|licenses)\.conf:[0-9]+:\  ]] ||
		    { echo "error without file:line: $line" >&2; return 1; }
	done <<<"$stderr"
	output=$stderr
	mapfile -t lines <<<"$stderr"
}

@test "slserve -n on a good configuration prints exactly 'configuration OK'" {
	good_conf
	run --separate-stderr "$SLSERVE" -n -f "$D/slserve.conf"
	assert_success
	assert_output "configuration OK"
	[ -z "$stderr" ]
	# A check touches no state.
	[ ! -e "$D/state" ]
}

@test "slserve -n accepts every optional setting of slserve.conf(5)" {
	good_conf 'hostname = "lichost"' 'max_body = 65536' 'max_connections = 64' \
	    'connection_timeout = 10' 'fsync = false' 'compact_after = 1000' \
	    'min_sync_interval = 0.001' \
	    'admin_token_file = "admin.tok"' 'peer_token_file = "peer.tok"' \
	    'failover "lic0" {' '  url = "http://127.0.0.1:7071"' '  poll_interval = 0.5' \
	    '  fail_after = 3' '}'
	# Token files named in the configuration must exist (slserve -n checks).
	echo 0123456789abcdef0123 >"$D/admin.tok"
	echo 0123456789abcdef0123 >"$D/peer.tok"
	run --separate-stderr "$SLSERVE" -n -f "$D/slserve.conf"
	assert_success
	assert_output "configuration OK"
}

@test "the sample etc/slserve.conf and etc/licenses.conf pass slserve -n" {
	local etc="$BATS_TEST_DIRNAME/../etc"
	run --separate-stderr "$SLSERVE" -n -f "$etc/slserve.conf"
	assert_success
	assert_output "configuration OK"
	# The sample licenses are the ones the README promises: a counted soft
	# one, a hard one and an unlimited one.
	grep -Eq '^[[:space:]]*count[[:space:]]*=[[:space:]]*"unlimited"' "$etc/licenses.conf"
	grep -Eq '^[[:space:]]*timeout[[:space:]]*=[[:space:]]*0\b' "$etc/licenses.conf"
	grep -Eq '^[[:space:]]*timeout[[:space:]]*=[[:space:]]*[1-9]' "$etc/licenses.conf"
}

@test "slserve -n: unknown option in slserve.conf names file:line" {
	good_conf 'bogus_option = 3'
	check_fails
	assert_output --partial "$D/slserve.conf:5: "
	assert_output --partial "bogus_option"
}

@test "slserve -n: a url or failover url without a host is refused at its line" {
	good_conf 'url = "http://"' 'failover "A" {' '  url = "https:///path"' '}'
	check_fails
	assert_line --index 0 "$D/slserve.conf:5: url must be http://HOST:PORT or https://HOST:PORT"
	assert_line --index 1 "$D/slserve.conf:7: failover \"A\": url must be http://HOST:PORT or https://HOST:PORT"
	[ "${#lines[@]}" -eq 2 ]
}

@test "slserve -n: unterminated string names file:line" {
	printf 'name = "lic1\nlisten = "127.0.0.1:7070"\n' >"$D/slserve.conf"
	check_fails
}

@test "slserve -n: a string left open on line 2 is reported at line 2, not where it ends" {
	printf 'name = "lic1"\nstate_dir = "state\nlicenses = "licenses.conf"\n' >"$D/slserve.conf"
	check_fails
	assert_output "$D/slserve.conf:2: unterminated string constant"
}

@test "slserve -n: two bad lines and the files a start needs: every problem, each at its line" {
	echo short >"$D/short.token"
	good_conf 'fsync = maybe' \
	    'failover "lic0" {' '  url = "http://127.0.0.1:7071"' '  poll_intervall = 1' '}' \
	    'max_body = 5' \
	    "admin_token_file = \"short.token\"" \
	    'peer_token_file = "missing.token"' \
	    'tls {' '  cert = "cert.pem"' '  key = "key.pem"' '}'
	sed -i 's|^state_dir = .*|state_dir = "no/such/dir/state"|' "$D/slserve.conf"
	check_fails
	cat >"$SL_TMP/want" <<EOF
$D/slserve.conf:5: invalid boolean value for option 'fsync'
$D/slserve.conf:8: no such option 'poll_intervall'
$D/slserve.conf:10: max_body must be 1024 to 16777216 bytes
$D/slserve.conf:3: state_dir $D/no/such/dir/state: missing, and $D/no/such/dir cannot be written to create it (No such file or directory)
$D/slserve.conf:11: admin_token_file $D/short.token: token shorter than 16 characters
$D/slserve.conf:12: peer_token_file $D/missing.token: No such file or directory
$D/slserve.conf:14: tls cert $D/cert.pem: No such file or directory
$D/slserve.conf:15: tls key $D/key.pem: No such file or directory
EOF
	diff -u "$SL_TMP/want" - <<<"$output"
	# and a start fails on what -n named (here the state directory first).
	run timeout 10 "$SLSERVE" -d -f "$D/slserve.conf"
	[ "$status" -eq 1 ]
}

@test "slserve -n: the default token files in the state directory may be missing, not short" {
	good_conf
	run --separate-stderr "$SLSERVE" -n -f "$D/slserve.conf"
	assert_success
	mkdir -m 0700 "$D/state"
	echo short >"$D/state/peer.token"
	check_fails
	# (named at state_dir's line: the file is there because of it)
	assert_output "$D/slserve.conf:3: peer_token_file $D/state/peer.token: token shorter than 16 characters"
}

@test "slserve -n: bad listen address names file:line and the value" {
	good_conf
	sed -i 's/^listen = .*/listen = "no-port-here"/' "$D/slserve.conf"
	check_fails
	assert_output --partial "$D/slserve.conf:2: "
	assert_output --partial "no-port-here"
}

@test "slserve -n: out-of-range max_body names file:line" {
	good_conf 'max_body = 5'
	check_fails
	assert_output --partial "$D/slserve.conf:5: "
	assert_output --partial "max_body"
}

@test "slserve -n: out-of-range min_sync_interval names file:line and the range" {
	good_conf 'min_sync_interval = 0.5'
	check_fails
	assert_output --partial "$D/slserve.conf:5: "
	assert_output --partial "min_sync_interval must be 0 to 0.01 seconds"
	good_conf 'min_sync_interval = -1'
	check_fails
	assert_output --partial "min_sync_interval"
}

@test "the options table and slserve.conf(5) agree; failover.ini keeps the table's bounds" {
	# test/unit/options.c: every option of the table (common/options.c),
	# from which slserve.conf and failover.ini are parsed, has an item in
	# the page stating its range and default; failover.ini accepts the
	# bounds and refuses a step beyond them.
	run "$SL_BINDIR/../test/unit-options" "$BATS_TEST_DIRNAME/../man/slserve.conf.5"
	[ "$status" -eq 0 ] || { echo "$output" >&2; return 1; }
}

@test "slserve -n: failover section with a bad url names file:line" {
	good_conf 'failover "lic0" {' '  url = "ftp://elsewhere"' '}'
	check_fails
	assert_output --partial "$D/slserve.conf:6: "
	assert_output --partial "url"
}

@test "slserve -n: missing name is reported, naming the file" {
	good_conf
	sed -i '/^name = /d' "$D/slserve.conf"
	run --separate-stderr "$SLSERVE" -n -f "$D/slserve.conf"
	assert_failure 1
	[[ $stderr == "$D/slserve.conf"*name* ]]
}

@test "slserve -n: missing configuration or licenses file names the file" {
	run --separate-stderr "$SLSERVE" -n -f "$D/nope.conf"
	assert_failure 1
	[[ $stderr == *"$D/nope.conf"*"No such file"* ]]

	good_conf
	sed -i 's/^licenses = .*/licenses = "gone.conf"/' "$D/slserve.conf"
	run --separate-stderr "$SLSERVE" -n -f "$D/slserve.conf"
	assert_failure 1
	[[ $stderr == *"$D/gone.conf"*"No such file"* ]]
}

@test "slserve -n: each broken license is reported with file:line, all of them" {
	good_conf
	cat >"$D/licenses.conf" <<-'EOF'
	license "ok-1" {
	  product = "cad"
	  count   = 1
	}
	license "bad-count" {
	  product = "cad"
	  count   = "lots"
	}
	license "bad-date" {
	  product = "cad"
	  count   = 1
	  expires = "2020-13-45"
	}
	license "bad id!" {
	  product = "cad"
	  count   = 1
	}
	license "no-product" {
	  count   = 1
	}
	license "bad-timeout" {
	  product = "cad"
	  count   = 1
	  timeout = -5
	}
	license "no-count" {
	  product = "cad"
	}
	EOF
	check_fails
	assert_equal "${#lines[@]}" 6
	local id
	for id in bad-count bad-date 'bad id!' no-product bad-timeout no-count; do
		assert_output --partial "license \"$id\""
	done
	assert_output --partial '"lots"'
	assert_output --partial '"2020-13-45"'
	refute_output --partial 'ok-1'
	# A bad value is reported on its own line; a bad or missing part of a
	# section somewhere inside that section.
	assert_line --regexp "^$D/licenses\\.conf:7: license \"bad-count\""
	assert_line --regexp "^$D/licenses\\.conf:12: license \"bad-date\""
	assert_line --regexp "^$D/licenses\\.conf:24: license \"bad-timeout\""
	assert_line --regexp "^$D/licenses\\.conf:1[4-7]: license \"bad id!\""
	assert_line --regexp "^$D/licenses\\.conf:(18|19|20): license \"no-product\""
	assert_line --regexp "^$D/licenses\\.conf:2[6-8]: license \"no-count\""
}

@test "slserve -n: licenses file syntax errors name file:line" {
	good_conf
	printf 'license "a" {\n  product = "cad"\n  count = 1\n  timeout = "abc"\n}\n' >"$D/licenses.conf"
	check_fails
	assert_output --partial "$D/licenses.conf:4: "

	printf 'license "a" {\n  product = "cad"\n  count = 1\n}\nlicense "a" {\n  product = "cad"\n  count = 1\n}\n' >"$D/licenses.conf"
	check_fails
	assert_output --partial "$D/licenses.conf:5: "

	printf 'license "a" {\n  product = "cad"\n  colour = "red"\n}\n' >"$D/licenses.conf"
	check_fails
	assert_output --partial "$D/licenses.conf:3: "
	assert_output --partial "colour"
}

@test "slserve refuses to start on a broken licenses file, naming file:line" {
	local port
	port=$(sl_free_port)
	sl_server_config s1 "$port"
	printf 'license "a" {\n  product = "cad"\n  count = "many"\n}\n' >"$SL_TMP/s1/licenses.conf"
	run --separate-stderr timeout 10 "$SLSERVE" -d -f "$SL_TMP/s1/slserve.conf"
	sl_run_failed
	[[ $stderr == *"$SL_TMP/s1/licenses.conf:"[0-9]*'license "a"'*'"many"'* ]]
	# Nobody listens.
	run curl -s -m 1 "http://127.0.0.1:$port/v1/health"
	assert_failure
}

@test "slserve refuses to start when its listen address is in use" {
	local port
	port=$(sl_free_port)
	sl_server_config s1 "$port"
	sl_start s1
	sl_server_config s2 "$port"
	run --separate-stderr timeout 10 "$SLSERVE" -d -f "$SL_TMP/s2/slserve.conf"
	sl_run_failed
	[[ $stderr == *"127.0.0.1:$port"* ]]
	# The first one still answers, and only it.
	run curl -fsS -m 2 "http://127.0.0.1:$port/v1/health"
	assert_success
	[ "$(jq -r .name <<<"$output")" = s1 ]
}

@test "slserve -h prints the usage on stdout and exits 0" {
	run --separate-stderr "$SLSERVE" -h
	assert_success
	assert_line --index 0 --regexp '^usage: slserve '
	assert_output --partial "-n"
	assert_output --partial "-d"
	assert_output --partial "-f file"
	[ -z "$stderr" ]
}

@test "slserve -V prints the version" {
	run "$SLSERVE" -V
	assert_success
	assert_output --regexp '^slserve [0-9]+\.[0-9]+\.[0-9]+$'
}

@test "slserve: bad options and operands exit 64 with the usage on stderr" {
	local args
	for args in "-x" "--bogus" "-f" "-n extra" "stray"; do
		# shellcheck disable=SC2086
		run --separate-stderr "$SLSERVE" $args
		[ "$status" -eq 64 ] || { echo "slserve $args: exit $status" >&2; return 1; }
		[ -z "$output" ] || { echo "slserve $args: stdout: $output" >&2; return 1; }
		[[ $stderr == *"usage: slserve "* ]] || { echo "slserve $args: $stderr" >&2; return 1; }
	done
}

@test "slserve sets libcurl up once, on the main thread, before any thread or handle (gdb)" {
	command -v gdb >/dev/null || skip "gdb is not installed"
	# A failover section: a poller makes a libcurl handle on its own thread.
	sl_server_config s1 "$(sl_free_port)" \
	    "failover \"p0\" { url = \"http://127.0.0.1:$(sl_free_port)\" poll_interval = 0.1 }"
	# Stop at whichever comes first: libcurl's global set-up, or a handle
	# (which sets it up itself when nothing did, on the caller's thread).
	run timeout 60 gdb -q -batch -ex 'set breakpoint pending on' \
	    -ex 'break curl_global_init' -ex 'break curl_easy_init' -ex run -ex bt \
	    -ex 'info threads' -ex kill --args "$SLSERVE" -d -f "$SL_TMP/s1/slserve.conf"
	echo "$output"
	assert_line --regexp '^(Thread 1 .* hit )?Breakpoint 1, .* in curl_global_init '
	assert_line --regexp '^#[0-9]+ .* in main '
	refute_line --regexp '(^| hit )Breakpoint 2, '
	# one thread: the main one
	[ "$(grep -cE '^\*? +[0-9]+ +Thread ' <<<"$output")" -eq 1 ]
}
