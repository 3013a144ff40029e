# test/helpers-client.bash: what the client tests (test/20-client-*.bats) add
# to helpers.bash (and helpers-failover.bash): a Primary and backup pair as a
# client sees it, servers that do not answer, and timing a command.

load helpers-failover

# cl_pair PRIMARY "LICENSE" BACKUP "LICENSE": PRIMARY and its backup BACKUP
# (polling every 0.2 s, taking over after 2 missed polls), each with its one
# license (an sl_licenses spec), its url set and a shared peer token; both
# started.
cl_pair() {
	local a=$1 b=$3
	sl_token "$SL_TMP/peer.token"
	fo_ports "$a" "$b"
	sl_licenses "$a" "$2"
	sl_licenses "$b" "$4"
	fo_config "$a" "url = \"$(sl_url "$a")\""
	fo_config "$b" "url = \"$(sl_url "$b")\"" "$(fo_backs_up "$a" 0.2 2)"
	sl_start "$a"
	sl_start "$b"
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
	local t0
	t0=$(sl_now_ms)
	run "$@"
	ELAPSED_MS=$(($(sl_now_ms) - t0))
}
