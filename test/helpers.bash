# Shared bats helpers: free ports, temp state, starting and stopping slserve.
# Every test gets its own directory ($SL_TMP) and its own ports.

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'
# sl_until SECONDS CMD...: every bounded wait of the suite.
source "${BASH_SOURCE[0]%/*}/poll.sh"
# sl_req METHOD URL [BODY [CURL-ARGS...]]: one request; HTTP_CODE, HTTP_BODY.
source "${BASH_SOURCE[0]%/*}/http.bash"

SL_BINDIR=${SL_BINDIR:-$(cd "$BATS_TEST_DIRNAME/.." && pwd)/bin}
SLSERVE="$SL_BINDIR/slserve"
SLCTL="$SL_BINDIR/slctl"
SLCHECK="$SL_BINDIR/slcheck"
export SL_BINDIR SLSERVE SLCTL SLCHECK

sl_setup() {
	SL_TMP=$(mktemp -d "${BATS_TMPDIR:-/tmp}/sl.XXXXXX")
	export SL_TMP
	# Keep the client's dead-server cache inside the test.
	export XDG_CACHE_HOME="$SL_TMP/cache"
	unset SL_SERVERS SL_CONFIG SL_TOKEN
}

sl_teardown() {
	local pidfile log
	# A failed test shows the end of each server's log: a flake on a busy
	# machine can then be told from a bug.
	if [ -z "${BATS_TEST_COMPLETED:-}" ] && [ -n "${SL_TMP:-}" ]; then
		for log in "$SL_TMP"/*/log; do
			[ -f "$log" ] || continue
			echo "--- ${log#"$SL_TMP"/} (last 40 lines)"
			tail -n 40 "$log"
		done >&2
	fi
	for pidfile in "$SL_TMP"/*.pid; do
		[ -f "$pidfile" ] || continue
		local pid
		pid=$(cat "$pidfile")
		kill -CONT "$pid" 2>/dev/null || true
		kill -TERM "$pid" 2>/dev/null || true
		sl_wait_gone "$pid" 5 || kill -KILL "$pid" 2>/dev/null || true
	done
	[ -n "${SL_TMP:-}" ] && rm -rf "$SL_TMP"
}

# sl_gone PID: process PID has exited.
sl_gone() { ! kill -0 "$1" 2>/dev/null; }

# sl_wait_gone PID [SECONDS]: wait until PID has exited (10 s unless given).
sl_wait_gone() { sl_until "${2:-10}" sl_gone "$1"; }

# sl_http_ok URL: URL answers 200.
sl_http_ok() { curl -fsS -m 1 -o /dev/null "$1" 2>/dev/null; }

# sl_wait_http URL [SECONDS]: poll until URL answers 200 (10 s unless given).
sl_wait_http() { sl_until "${2:-10}" sl_http_ok "$1"; }

# sl_licenses NAME: write a default licenses file for server NAME to stdout.
sl_default_licenses() {
	cat <<'LIC'
license "cad-1" {
  product = "cad"
  count   = 2
  expires = "never"
  host    = "any"
  timeout = 30
}
license "sim-hard" {
  product = "sim"
  count   = 1
  expires = "never"
  host    = "any"
  timeout = 0
}
license "view-free" {
  product = "viewer"
  count   = "unlimited"
  expires = "never"
  host    = "any"
  timeout = 60
}
LIC
}

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

# sl_start NAME [PORT]: start slserve NAME in the background (config written by
# sl_server_config, or a default one), wait until it answers, export NAME_URL.
sl_start() {
	local name=$1 port=${2:-}
	if [ ! -f "$SL_TMP/$name/slserve.conf" ]; then
		[ -n "$port" ] || port=$(sl_free_port)
		sl_server_config "$name" "$port"
	fi
	port=$(sed -n 's/^listen = "127.0.0.1:\([0-9]*\)"/\1/p' "$SL_TMP/$name/slserve.conf")
	"$SLSERVE" -d -f "$SL_TMP/$name/slserve.conf" >>"$SL_TMP/$name/log" 2>&1 &
	echo $! >"$SL_TMP/$name.pid"
	printf -v "URL_$name" '%s' "http://127.0.0.1:$port"
	export "URL_$name"
	sl_wait_http "http://127.0.0.1:$port/v1/health" || { cat "$SL_TMP/$name/log" >&2; return 1; }
}

# sl_stop NAME [SIGNAL]: stop server NAME (default TERM) and wait for it.
sl_stop() {
	local name=$1 sig=${2:-TERM} pid
	pid=$(cat "$SL_TMP/$name.pid")
	kill -"$sig" "$pid" 2>/dev/null || true
	sl_wait_gone "$pid" 10
	rm -f "$SL_TMP/$name.pid"
}

sl_pid() { cat "$SL_TMP/$1.pid"; }
sl_url() { local v="URL_$1"; echo "${!v}"; }
sl_admin_token() { cat "$SL_TMP/$1/state/admin.token"; }

# sl_usage_line NAME JQ-CONDITION: a line of server NAME's usage log satisfies it.
sl_usage_line() {
	local log="$SL_TMP/$1/state/usage.log"
	[ -s "$log" ] && jq -e -s "any(.[]; $2)" "$log" >/dev/null 2>&1
}

# sl_in_use URL LICENSE: seats in use of a license, from /v1/licenses.
sl_in_use() {
	curl -fsS -m 3 "$1/v1/licenses" | jq -r --arg id "$2" '.licenses[] | select(.id == $id) | .in_use'
}
