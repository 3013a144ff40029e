# Helpers for the server tests (test/10-server-*.bats), on top of helpers.bash.

bats_require_minimum_version 1.5.0
load helpers

# sl_start_s1 [EXTRA-CONF...]: server s1 with the default licenses (cad-1: 2
# soft seats, timeout 30; sim-hard: 1 hard seat; view-free: unlimited) on
# $PORT (a free port, set here, unless the test set it); sets U to its URL.
sl_start_s1() {
	: "${PORT:=$(sl_free_port)}"
	sl_server_config s1 "$PORT" "$@"
	sl_start s1
	U=$(sl_url s1)
}

# sl_checkout URL JSON: POST URL/v1/checkout.
sl_checkout() { sl_req POST "$1/v1/checkout" "$2"; }

# sl_admin NAME METHOD PATH [BODY]: a request with server NAME's admin token.
sl_admin() {
	local name=$1 method=$2 path=$3
	shift 3
	local token
	token=$(sl_admin_token "$name")
	sl_req "$method" "$(sl_url "$name")$path" "${1--}" -H "Authorization: Bearer $token"
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

# sl_expect_code CODE: the last answer had HTTP status CODE.
sl_expect_code() {
	[ "$HTTP_CODE" = "$1" ] && return 0
	echo "expected HTTP $1, got $HTTP_CODE: $HTTP_BODY" >&2
	return 1
}

# sl_run_failed: the last `run` (of a command under timeout(1)) exited
# non-zero by itself: not 0, and not 124, timeout's status.
sl_run_failed() {
	[ "$status" -ne 0 ] || { echo "exit status 0; expected a failure" >&2; return 1; }
	[ "$status" -ne 124 ] || { echo "timed out; expected a prompt failure" >&2; return 1; }
}

# sl_json FILTER [JQ-ARGS...]: jq -e FILTER holds on the last answer's body.
sl_json() {
	local filter=$1
	shift
	jq -e "$@" "$filter" <<<"$HTTP_BODY" >/dev/null 2>&1 && return 0
	echo "jq -e '$filter' is false on: $HTTP_BODY" >&2
	return 1
}

# sl_expect_error STATUS CODE: the answer is STATUS with exactly
# {"error": CODE, "message": non-empty text}.
sl_expect_error() {
	sl_expect_code "$1" || return 1
	sl_json '(keys == ["error", "message"]) and .error == $code and
	    (.message | type == "string" and length > 0)' --arg code "$2"
}

# sl_fingerprint URL: what a request that must change nothing must leave
# alone: journal sequence and every license's in_use and fails.
sl_fingerprint() {
	curl -fsS -m 3 "$1/v1/health" "$1/v1/licenses" |
	    jq -sc '"seq=\(.[0].seq) " + ([.[1].licenses[] | {id, in_use, max, fails}] |
	    sort_by(.id) | tostring)'
}

# sl_license_field URL ID FIELD: one field of one license in /v1/licenses.
sl_license_field() {
	curl -fsS -m 3 "$1/v1/licenses" |
	    jq -r --arg id "$2" --arg f "$3" '.licenses[] | select(.id == $id) | .[$f]'
}

# sl_write_licenses NAME: licenses.conf for server NAME from stdin.
sl_write_licenses() {
	mkdir -p "$SL_TMP/$1"
	cat >"$SL_TMP/$1/licenses.conf"
}

# sl_lic ID PRODUCT COUNT EXPIRES HOST TIMEOUT: one license section.
sl_lic() {
	local count=$3
	case $count in unlimited) count='"unlimited"' ;; esac
	printf 'license "%s" {\n  product = "%s"\n  count   = %s\n  expires = "%s"\n  host    = "%s"\n  timeout = %s\n}\n' \
	    "$1" "$2" "$count" "$4" "$5" "$6"
}

# sl_server_teardown: stop the test's servers (SIGTERM), then fail the test
# if a sanitizer (make SANITIZE=1, TSAN=1) reported anything in their logs; the
# temporary directory is removed either way.
sl_server_teardown() {
	local pidfile pid found
	for pidfile in "$SL_TMP"/*.pid; do
		[ -f "$pidfile" ] || continue
		pid=$(cat "$pidfile")
		kill -TERM "$pid" 2>/dev/null || true
		sl_wait_gone "$pid" 5 || kill -KILL "$pid" 2>/dev/null || true
		rm -f "$pidfile"
	done
	found=$(grep -lE 'ERROR: [A-Za-z]+Sanitizer|WARNING: ThreadSanitizer|runtime error:' "$SL_TMP"/*/log 2>/dev/null || true)
	if [ -n "$found" ]; then
		grep -hE -A30 'ERROR: [A-Za-z]+Sanitizer|WARNING: ThreadSanitizer|runtime error:' $found >&2
		sl_teardown
		return 1
	fi
	sl_teardown
}
