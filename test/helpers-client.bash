# Helpers for the client tests (test/20-client-*.bats), on top of helpers.bash.

bats_require_minimum_version 1.5.0
load helpers

# Exit codes of slcheck, as slcheck(1) documents them.
EX_OK=0 EX_NO_SEAT=2 EX_UNREACHABLE=3 EX_REFUSED=4 EX_LOST=6 EX_USAGE=64 EX_CONFIG=78

# cl_licenses NAME: licenses.conf for server NAME from stdin (before sl_start).
cl_licenses() {
	mkdir -p "$SL_TMP/$1"
	cat >"$SL_TMP/$1/licenses.conf"
}

# cl_lic ID PRODUCT COUNT TIMEOUT [EXPIRES]: one license section.
cl_lic() {
	local count=$3
	case $count in unlimited) count='"unlimited"' ;; esac
	printf 'license "%s" {\n  product = "%s"\n  count = %s\n  expires = "%s"\n  host = "any"\n  timeout = %s\n}\n' \
	    "$1" "$2" "$count" "${5:-never}" "$4"
}

# cl_server NAME [LICENSE-LINES...]: start server NAME on a free port with
# licenses from cl_lic lines given as "ID PRODUCT COUNT TIMEOUT [EXPIRES]".
cl_server() {
	local name=$1 spec
	shift
	if [ $# -gt 0 ]; then
		for spec in "$@"; do
			# shellcheck disable=SC2086
			cl_lic $spec
		done | cl_licenses "$name"
	fi
	sl_start "$name"
}

# cl_blackhole NAME: a listener on a free port that accepts connections
# (the kernel completes them) and never answers. Exports URL_NAME.
cl_blackhole() {
	local name=$1 port
	port=$(sl_free_port)
	python3 -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(64)
open(sys.argv[2], "w").close()
time.sleep(3600)
' "$port" "$SL_TMP/$name.ready" &
	echo $! >"$SL_TMP/$name.pid"
	printf -v "URL_$name" '%s' "http://127.0.0.1:$port"
	export "URL_$name"
	sl_until 5 test -e "$SL_TMP/$name.ready"
}

# cl_dead_url: a URL where nothing listens (connections are refused).
cl_dead_url() { echo "http://127.0.0.1:$(sl_free_port)"; }

# cl_timed CMD...: `run` CMD and set ELAPSED_MS to the milliseconds it took.
cl_timed() {
	local t0 t1
	t0=$(date +%s%N)
	run "$@"
	t1=$(date +%s%N)
	ELAPSED_MS=$(((t1 - t0) / 1000000))
}

# cl_in_use_total URL: seats in use on a server, over its own licenses.
cl_in_use_total() {
	curl -fsS -m 3 "$1/v1/licenses" | jq '[.licenses[] | select(.role != "backup") | .in_use] | add // 0'
}
