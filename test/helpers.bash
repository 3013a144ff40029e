# test/helpers.bash: the suite's one helper library, loaded (through `load
# helpers`, or a family file that loads it) by every bats file: the test's
# directory, servers (config, start, stop), licenses files, and requests to a
# server with checks on their answers. Each job has one function here; the
# family files (helpers-server, -client, -failover, -hardening, -ops) add
# only what their own family needs.
# Every test gets its own directory ($SL_TMP) and its own ports.

bats_require_minimum_version 1.5.0
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'
# sl_until SECONDS CMD...: every bounded wait of the suite; sl_free_port.
source "${BASH_SOURCE[0]%/*}/poll.sh"
# sl_req METHOD URL [BODY [CURL-ARGS...]]: one request; HTTP_CODE, HTTP_BODY.
source "${BASH_SOURCE[0]%/*}/http.bash"

SL_BINDIR=${SL_BINDIR:-$(cd "$BATS_TEST_DIRNAME/.." && pwd)/bin}
SLSERVE="$SL_BINDIR/slserve"
SLCTL="$SL_BINDIR/slctl"
SLCHECK="$SL_BINDIR/slcheck"
export SL_BINDIR SLSERVE SLCTL SLCHECK

# Exit codes of slcheck, as slcheck(1) documents them (used by the test files).
# shellcheck disable=SC2034
EX_OK=0 EX_NO_SEAT=2 EX_UNREACHABLE=3 EX_REFUSED=4 EX_LOST=6 EX_USAGE=64 EX_CONFIG=78

# ---- the test's directory ----

# sl_setup: a fresh $SL_TMP for the test, the client's cache inside it, and
# none of the client's settings from the environment.
sl_setup() {
	SL_TMP=$(mktemp -d "${BATS_TMPDIR:-/tmp}/sl.XXXXXX")
	export SL_TMP
	# Keep the client's dead-server cache inside the test.
	export XDG_CACHE_HOME="$SL_TMP/cache"
	unset SL_SERVERS SL_CONFIG SL_TOKEN
}

# sl_setup_cd: sl_setup, then work in $SL_TMP (for tests that write files
# where they stand and run commands on relative paths).
sl_setup_cd() {
	sl_setup
	cd "$SL_TMP" || return 1
}

# sl_teardown: on a failed test, the end of each server's log; then every
# server of the test stopped and $SL_TMP removed.
sl_teardown() {
	local log
	cd / || return 1
	# A failed test shows the end of each server's log: a flake on a busy
	# machine can then be told from a bug.
	if [ -z "${BATS_TEST_COMPLETED:-}" ] && [ -n "${SL_TMP:-}" ]; then
		for log in "$SL_TMP"/*/log; do
			[ -f "$log" ] || continue
			echo "--- ${log#"$SL_TMP"/} (last 40 lines)"
			tail -n 40 "$log"
		done >&2
	fi
	sl_stop_all
	[ -n "${SL_TMP:-}" ] && rm -rf "$SL_TMP"
}

# ---- processes ----

# sl_now_ms: wall-clock milliseconds.
sl_now_ms() { echo $(($(date +%s%N) / 1000000)); }

# sl_gone PID: process PID has exited.
sl_gone() { ! kill -0 "$1" 2>/dev/null; }

# sl_wait_gone PID [SECONDS]: wait until PID has exited (10 s unless given).
sl_wait_gone() { sl_until "${2:-10}" sl_gone "$1"; }

# sl_pid NAME: the pid of server (or helper process) NAME.
sl_pid() { cat "$SL_TMP/$1.pid"; }

# sl_stop NAME [SIGNAL]: stop server NAME (default TERM) and wait for it.
sl_stop() {
	local name=$1 sig=${2:-TERM} pid
	pid=$(sl_pid "$name")
	kill -"$sig" "$pid" 2>/dev/null || true
	sl_wait_gone "$pid" 10
	rm -f "$SL_TMP/$name.pid"
}

# sl_kill9 NAME: kill -9 server NAME, which must be running, and wait until
# it is gone.
sl_kill9() {
	kill -KILL "$(sl_pid "$1")" && sl_stop "$1" KILL
}

# sl_stop_all [SECONDS]: every process with a pid file in $SL_TMP woken (if
# stopped), sent SIGTERM and waited for (SIGKILL after SECONDS, 5 unless
# given, then up to 5 s more until it is gone); the pid files removed.
sl_stop_all() {
	local pidfile pid
	for pidfile in "$SL_TMP"/*.pid; do
		[ -f "$pidfile" ] || continue
		pid=$(cat "$pidfile")
		kill -CONT "$pid" 2>/dev/null || true
		kill -TERM "$pid" 2>/dev/null || true
		sl_wait_gone "$pid" "${1:-5}" ||
		    { kill -KILL "$pid" 2>/dev/null; sl_wait_gone "$pid" 5; } || true
		rm -f "$pidfile"
	done
}

# ---- servers ----

# sl_server_config NAME PORT [EXTRA...]: write $SL_TMP/NAME/slserve.conf.
# Licenses come from $SL_TMP/NAME/licenses.conf (default set if absent).
sl_server_config() {
	local name=$1 port=$2
	shift 2
	mkdir -p "$SL_TMP/$name"
	[ -f "$SL_TMP/$name/licenses.conf" ] || sl_default_licenses >"$SL_TMP/$name/licenses.conf"
	{
		echo "name = \"$name\""
		echo "listen = \"127.0.0.1:$port\""
		echo "state_dir = \"state\""
		echo "licenses = \"licenses.conf\""
		local line
		for line in "$@"; do echo "$line"; done
		# slserve refuses to run as root unless told (the suite runs as root
		# on CI); last, so that the lines above keep their numbers
		[ "$(id -u)" -ne 0 ] || echo "allow_root = true"
	} >"$SL_TMP/$name/slserve.conf"
}

# sl_start NAME [CURL-ARGS...]: start slserve NAME in the background (config
# written by sl_server_config, or a default one on a free port), export
# URL_NAME (https:// when the config has a tls section) and wait until its
# /v1/health answers 200 through curl with CURL-ARGS (e.g. --cacert FILE).
# SL_SERVE_OPTS, if set, are more options for slserve (e.g. -v). The pid
# file lets sl_teardown stop it.
sl_start() {
	local name=$1 port scheme=http
	shift
	[ -f "$SL_TMP/$name/slserve.conf" ] || sl_server_config "$name" "$(sl_free_port)"
	port=$(sed -n 's/^listen = "127.0.0.1:\([0-9]*\)"/\1/p' "$SL_TMP/$name/slserve.conf")
	grep -q '^tls[[:space:]]*{' "$SL_TMP/$name/slserve.conf" && scheme=https
	# shellcheck disable=SC2086 # SL_SERVE_OPTS is a list of words
	"$SLSERVE" -d ${SL_SERVE_OPTS:-} -f "$SL_TMP/$name/slserve.conf" >>"$SL_TMP/$name/log" 2>&1 &
	echo $! >"$SL_TMP/$name.pid"
	printf -v "URL_$name" '%s' "$scheme://127.0.0.1:$port"
	export "URL_$name"
	sl_until 10 sl_http_ok "$scheme://127.0.0.1:$port/v1/health" "$@" ||
	    { cat "$SL_TMP/$name/log" >&2; return 1; }
}

# sl_serve NAME [CONFIG-LINES...]: server NAME on a free port with these
# extra config lines (its config written anew), started as sl_start does.
sl_serve() {
	local name=$1
	shift
	sl_server_config "$name" "$(sl_free_port)" "$@"
	sl_start "$name"
}

# sl_start_with NAME "ID PRODUCT COUNT TIMEOUT [EXPIRES [HOST]]"...: server
# NAME with these licenses (sl_licenses), started by sl_start.
sl_start_with() {
	sl_licenses "$@"
	sl_start "$1"
}

# sl_url NAME: the URL of server NAME (once started).
sl_url() { local v="URL_$1"; echo "${!v}"; }

# sl_admin_token NAME: server NAME's admin token.
sl_admin_token() { cat "$SL_TMP/$1/state/admin.token"; }

# sl_log_has [-F] NAME PATTERN: server NAME's log has a line matching the
# extended regular expression PATTERN (with -F: containing the text PATTERN).
sl_log_has() {
	local how=-E
	[ "$1" = -F ] && { how=-F; shift; }
	grep -q "$how" -- "$2" "$SL_TMP/$1/log"
}

# sl_usage_line NAME JQ-CONDITION: a line of server NAME's usage log satisfies it.
sl_usage_line() {
	local log="$SL_TMP/$1/state/usage.log"
	[ -s "$log" ] && jq -e -s "any(.[]; $2)" "$log" >/dev/null 2>&1
}

# ---- licenses files ----

# sl_lic ID PRODUCT COUNT TIMEOUT [EXPIRES [HOST]]: one license section
# (expires "never" and host "any" unless given; COUNT may be unlimited).
sl_lic() {
	local count=$3
	case $count in unlimited) count='"unlimited"' ;; esac
	printf 'license "%s" {\n  product = "%s"\n  count   = %s\n  expires = "%s"\n  host    = "%s"\n  timeout = %s\n}\n' \
	    "$1" "$2" "$count" "${5:-never}" "${6:-any}" "$4"
}

# sl_default_licenses: the licenses a server gets unless the test writes its
# own: cad-1 (2 soft seats, timeout 30), sim-hard (1 hard seat), view-free
# (unlimited).
sl_default_licenses() {
	sl_lic cad-1 cad 2 30
	sl_lic sim-hard sim 1 0
	sl_lic view-free viewer unlimited 60
}

# sl_licenses NAME "ID PRODUCT COUNT TIMEOUT [EXPIRES [HOST]]"...: the
# licenses file of server NAME (before it starts), one sl_lic section a spec.
sl_licenses() {
	local name=$1 spec
	shift
	mkdir -p "$SL_TMP/$name"
	for spec in "$@"; do
		# shellcheck disable=SC2086 # a spec is the words of sl_lic
		sl_lic $spec
	done >"$SL_TMP/$name/licenses.conf"
}

# sl_write_licenses NAME: the licenses file of server NAME from stdin.
sl_write_licenses() {
	mkdir -p "$SL_TMP/$1"
	cat >"$SL_TMP/$1/licenses.conf"
}

# ---- requests and their answers (HTTP_CODE, HTTP_BODY, from sl_req) ----

# sl_http_ok URL [CURL-ARGS...]: URL answers 200.
sl_http_ok() {
	local url=$1
	shift
	curl -fsS -m 1 -o /dev/null "$@" "$url" 2>/dev/null
}

# sl_wait_http URL [SECONDS]: poll until URL answers 200 (10 s unless given).
sl_wait_http() { sl_until "${2:-10}" sl_http_ok "$1"; }

# sl_checkout URL JSON: POST URL/v1/checkout with this body.
sl_checkout() { sl_req POST "$1/v1/checkout" "$2"; }

# sl_co URL PRODUCT [FIELD=VALUE...]: a checkout of PRODUCT as client
# "fo-test", user "u", host "h", pid 1, each replaced by a FIELD=VALUE given
# (pid=N is a number; pool=POOL adds the pool).
sl_co() {
	local url=$1 kv args=(--arg product "$2")
	shift 2
	for kv in "$@"; do
		case $kv in
		pid=*) args+=(--argjson pid "${kv#pid=}") ;;
		*) args+=(--arg "${kv%%=*}" "${kv#*=}") ;;
		esac
	done
	sl_checkout "$url" "$(jq -cn "${args[@]}" \
	    '{product: "", client: "fo-test", user: "u", host: "h", pid: 1} + $ARGS.named')"
}

# sl_co_lease URL PRODUCT [FIELD=VALUE...]: sl_co, which must answer 201;
# prints the lease id.
sl_co_lease() {
	sl_co "$@"
	[ "$HTTP_CODE" = 201 ] || { echo "checkout of $2: HTTP $HTTP_CODE: $HTTP_BODY" >&2; return 1; }
	jq -r .lease <<<"$HTTP_BODY"
}

# sl_heartbeat URL LEASE: POST URL/v1/leases/LEASE/heartbeat.
sl_heartbeat() { sl_req POST "$1/v1/leases/$2/heartbeat" -; }

# sl_checkin URL LEASE: DELETE URL/v1/leases/LEASE.
sl_checkin() { sl_req DELETE "$1/v1/leases/$2" -; }

# sl_admin NAME METHOD PATH [BODY]: a request with server NAME's admin token.
sl_admin() {
	local name=$1 method=$2 path=$3
	shift 3
	sl_req "$method" "$(sl_url "$name")$path" "${1--}" \
	    -H "Authorization: Bearer $(sl_admin_token "$name")"
}

# sl_json FILTER [JQ-ARGS...]: jq -e FILTER holds on the last answer's body.
sl_json() {
	local filter=$1
	shift
	jq -e "$@" "$filter" <<<"$HTTP_BODY" >/dev/null 2>&1 && return 0
	echo "jq -e '$filter' is false on: $HTTP_BODY" >&2
	return 1
}

# sl_expect CODE [JQ-FILTER [JQ-ARGS...]]: the last answer had HTTP status
# CODE and (if given) jq -e FILTER holds on its body.
sl_expect() {
	local code=$1
	shift
	if [ "$HTTP_CODE" != "$code" ]; then
		echo "expected HTTP $code, got $HTTP_CODE: $HTTP_BODY" >&2
		return 1
	fi
	[ $# -eq 0 ] || sl_json "$@"
}

# sl_expect_error STATUS CODE: the answer is STATUS with exactly
# {"error": CODE, "message": non-empty text}.
sl_expect_error() {
	sl_expect "$1" '(keys == ["error", "message"]) and .error == $code and
	    (.message | type == "string" and length > 0)' --arg code "$2"
}

# sl_health_is URL JQ-FILTER: jq -e FILTER holds on URL's /v1/health.
sl_health_is() {
	curl -fsS -m 3 "$1/v1/health" 2>/dev/null | jq -e "$2" >/dev/null 2>&1
}

# sl_license_field URL ID FIELD: one field of one license in /v1/licenses.
sl_license_field() {
	curl -fsS -m 3 "$1/v1/licenses" |
	    jq -r --arg id "$2" --arg f "$3" '.licenses[] | select(.id == $id) | .[$f]'
}

# sl_in_use URL LICENSE: seats in use of a license, from /v1/licenses.
sl_in_use() { sl_license_field "$1" "$2" in_use; }

# sl_licenses_summary URL: the server's /v1/licenses, sorted ids with counts.
sl_licenses_summary() {
	curl -fsS -m 5 "$1/v1/licenses" |
	    jq -c '[.licenses[] | {id, product, max}] | sort_by(.id)'
}
