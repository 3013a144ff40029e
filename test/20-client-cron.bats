#!/usr/bin/env bats
# The README's cron example as written: the installed sample slclient.conf
# against the sample server of `make run`, run as nobody (no home), says
# nothing and exits 0.

load helpers-client

setup() {
	[ "$(id -u)" -eq 0 ] || skip "needs root (to run slcheck as nobody)"
	getent passwd nobody >/dev/null || skip "no user nobody"
	command -v runuser >/dev/null || skip "runuser is not installed (util-linux)"
	sl_setup
	# nobody's private cache, outside the test: removed after if new.
	NOBODY_CACHE=/var/tmp/sl-cache-$(id -u nobody)
	[ -e "$NOBODY_CACHE" ] && NOBODY_CACHE_OLD=1 || NOBODY_CACHE_OLD=
	sample_server
}

teardown() {
	[ -n "${NOBODY_CACHE_OLD:-}" ] || [ -z "${NOBODY_CACHE:-}" ] || rm -rf "$NOBODY_CACHE"
	sl_teardown
}

# sample_server: etc/slserve.conf and etc/licenses.conf as shipped, on a
# free port instead of 7070 (state in $SL_TMP/state, as `make run` keeps it
# in ./state); etc/slclient.conf as shipped with the same port, in
# $SL_TMP/etc, readable by nobody.
sample_server() {
	local etc="$BATS_TEST_DIRNAME/../etc" port
	port=$(sl_free_port)
	mkdir -p "$SL_TMP/etc"
	cp "$etc/licenses.conf" "$SL_TMP/etc/"
	sed "s/:7070\"/:$port\"/" "$etc/slserve.conf" >"$SL_TMP/etc/slserve.conf"
	[ "$(id -u)" -ne 0 ] || echo 'allow_root = true' >>"$SL_TMP/etc/slserve.conf"
	sed "s/:7070\"/:$port\"/" "$etc/slclient.conf" >"$SL_TMP/etc/slclient.conf"
	grep -q ":$port\"" "$SL_TMP/etc/slclient.conf"
	mkdir -p "$SL_TMP/sample"
	"$SLSERVE" -d -f "$SL_TMP/etc/slserve.conf" >>"$SL_TMP/sample/log" 2>&1 &
	echo $! >"$SL_TMP/sample.pid"
	SAMPLE_URL="http://127.0.0.1:$port"
	sl_wait_http "$SAMPLE_URL/v1/health"
	chmod 0711 "$SL_TMP" "$SL_TMP/etc"
	chmod 0644 "$SL_TMP/etc/slclient.conf"
}

# as_nobody CMD...: CMD as cron runs it for user nobody: HOME from the
# password database (/nonexistent), no XDG_CACHE_HOME.
as_nobody() {
	env -i PATH="$(dirname "$SLCHECK"):/usr/sbin:/usr/bin:/sbin:/bin" \
	    HOME="$(getent passwd nobody | cut -d: -f6)" SHELL=/bin/sh LOGNAME=nobody \
	    SL_CONFIG="$SL_TMP/etc/slclient.conf" runuser -u nobody -- "$@"
}

@test "cron: slcheck check as nobody, without a home: OK, nothing on stderr, twice" {
	[ ! -d "$(getent passwd nobody | cut -d: -f6)" ] || skip "nobody has a home here"
	for run in 1 2; do
		run --separate-stderr as_nobody slcheck check
		[ "$status" -eq 0 ] || { echo "run $run: exit $status: $output $stderr" >&2; false; }
		[ -z "$stderr" ] || { echo "run $run: stderr: $stderr" >&2; false; }
		[[ $output == "SL OK - cad 0/5, sim 0/2, viewer 0/unlimited | "* ]]
	done
	# The cache went to a directory of nobody's own, closed to others.
	if [ -z "$NOBODY_CACHE_OLD" ]; then
		[ "$(stat -c '%U %a' "$NOBODY_CACHE")" = "nobody 700" ]
	fi
	run as_nobody slcheck config
	assert_success
	assert_line --regexp "^cache +/(var/)?tmp/sl-cache-$(id -u nobody) +tmp$"
}

@test "cron: a shared cache directory owned by another user is not used" {
	[ -z "$NOBODY_CACHE_OLD" ] || skip "$NOBODY_CACHE exists already"
	# Planted by someone else: /var/tmp's is passed over for /tmp's.
	mkdir -m 0777 "$NOBODY_CACHE"
	run --separate-stderr as_nobody slcheck check
	assert_success
	[ -z "$stderr" ]
	[ -z "$(ls -A "$NOBODY_CACHE")" ]
	run as_nobody slcheck config
	assert_line --regexp "^cache +/tmp/sl-cache-$(id -u nobody) +tmp$"
	rm -rf "/tmp/sl-cache-$(id -u nobody)"
}

@test "cron: the README's cron line, verbatim, as nobody mails nothing" {
	local line cmd
	line=$(grep -E '^\*/5 \* \* \* \* nobody ' "$BATS_TEST_DIRNAME/../README.md")
	[ -n "$line" ]
	# The command as cron hands it to sh: after five time fields and the
	# user, with \% turned into %.
	cmd=$(awk '{ $1 = $2 = $3 = $4 = $5 = $6 = ""; sub(/^ +/, ""); print }' <<<"$line" |
	    sed 's/\\%/%/g')
	[[ $cmd == *"slcheck check"* ]]
	run as_nobody /bin/sh -c "$cmd"
	assert_success
	assert_output ""
}
