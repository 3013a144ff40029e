# test/helpers-server.bash: what the one-server tests (test/10-server-*.bats,
# 16-storage-corruption) add to helpers.bash: their server s1 on a port of
# the test's own, seats under chosen lease ids, waits on the usage log, and a
# teardown that fails the test on a sanitizer report.

load helpers

# sl_start_s1 [EXTRA-CONF...]: server s1 with the default licenses (cad-1: 2
# soft seats, timeout 30; sim-hard: 1 hard seat; view-free: unlimited) on
# $PORT (a free port, set here, unless the test set it): a restart keeps the
# port; sets U to its URL.
sl_start_s1() {
	: "${PORT:=$(sl_free_port)}"
	sl_server_config s1 "$PORT" "$@"
	sl_start s1
	U=$(sl_url s1)
}

# sl_grant PRODUCT LEASE...: on $U, a seat of PRODUCT checked out as each
# lease id LEASE (201 each).
sl_grant() {
	local product=$1 id
	shift
	for id; do
		sl_checkout "$U" "{\"product\":\"$product\",\"lease\":\"$id\"}"
		sl_expect 201 || return 1
	done
}

# sl_usage_has NAME JQ-CONDITION: poll until a line of server NAME's usage
# log satisfies the condition (the log is flushed every 250 ms).
sl_usage_has() {
	local log="$SL_TMP/$1/state/usage.log"
	sl_until 3 sl_usage_line "$1" "$2" && return 0
	echo "no usage log line with $2 in $log:" >&2
	cat "$log" >&2 2>/dev/null
	return 1
}

# sl_run_failed: the last `run` (of a command under timeout(1)) exited
# non-zero by itself: not 0, and not 124, timeout's status.
sl_run_failed() {
	[ "$status" -ne 0 ] || { echo "exit status 0; expected a failure" >&2; return 1; }
	[ "$status" -ne 124 ] || { echo "timed out; expected a prompt failure" >&2; return 1; }
}

# sl_fingerprint URL: what a request that must change nothing must leave
# alone: journal sequence and every license's in_use and fails.
sl_fingerprint() {
	curl -fsS -m 3 "$1/v1/health" "$1/v1/licenses" |
	    jq -sc '"seq=\(.[0].seq) " + ([.[1].licenses[] | {id, in_use, max, fails}] |
	    sort_by(.id) | tostring)'
}

# sl_server_teardown: stop the test's servers (SIGTERM), then fail the test
# if a sanitizer (make SANITIZE=1, TSAN=1) reported anything in their logs; the
# temporary directory is removed either way.
sl_server_teardown() {
	local found
	sl_stop_all
	found=$(grep -lE 'ERROR: [A-Za-z]+Sanitizer|WARNING: ThreadSanitizer|runtime error:' "$SL_TMP"/*/log 2>/dev/null || true)
	if [ -n "$found" ]; then
		grep -hE -A30 'ERROR: [A-Za-z]+Sanitizer|WARNING: ThreadSanitizer|runtime error:' $found >&2
		sl_teardown
		return 1
	fi
	sl_teardown
}
