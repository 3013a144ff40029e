#!/usr/bin/env bats
# Failover under concurrent changes: runtime settings applied from several
# HTTP threads at once (and the main loop, which sees failover.ini change)
# leave exactly one poller per Primary. Run under `make test TSAN=1` too.

load helpers-failover

setup() {
	fo_setup
	fo_ports A B C
	sl_licenses A "cad-a cad 3 30"
	sl_licenses B "cad-b cad 2 30"
	UA=$URL_A UB=$URL_B
	# C is named but never started: its poller polls an empty port.
	UC=$URL_C
}

teardown() {
	# the silent Primary first: a poll it holds would hold B's stop
	[ -f "$SL_TMP/hang.pid" ] && kill "$(cat "$SL_TMP/hang.pid")" 2>/dev/null
	sl_teardown
}

# ctl ARGS...: slctl online against B with B's admin token.
ctl() { "$SLCTL" -s "$UB" --token-file "$SL_TMP/B/state/admin.token" "$@"; }

# ini_poll NAME: poll_interval of section NAME in B's failover.ini.
ini_poll() {
	python3 - "$SL_TMP/B/state/failover.ini" "$1" <<'PY'
import configparser, sys
c = configparser.ConfigParser(interpolation=None)
with open(sys.argv[1]) as f:
    c.read_file(f)
print(float(c.get(sys.argv[2], "poll_interval")))
PY
}

# live_pollers NAME: pollers of NAME that B's log shows started and not
# stopped since.
live_pollers() {
	local log="$SL_TMP/B/log" started stopped forgot
	started=$(grep -c "backing up \"$1\" at " "$log" || true)
	stopped=$(grep -c "stopped polling \"$1\" (its settings changed)" "$log" || true)
	forgot=$(grep -c "no longer backing up \"$1\"" "$log" || true)
	echo $((started - stopped - forgot))
}

@test "8 concurrent failover set, several rounds: one entry and one live poller per Primary" {
	fo_config A
	fo_config B
	sl_start A
	sl_start B
	pid=$(sl_pid B)

	for round in 1 2 3 4 5 6 7 8 9 10; do
		pids=()
		for i in 1 2 3 4 5 6; do
			# Each a different interval: every one replaces A's poller.
			ctl failover set A --url "$UA" --poll-interval "0.$((round * 10 + i))" \
			    --fail-after 3 >/dev/null &
			pids+=($!)
		done
		for i in 1 2; do
			ctl failover set C --url "$UC" --poll-interval "$((i + round))" \
			    --fail-after 100 >/dev/null &
			pids+=($!)
		done
		for p in "${pids[@]}"; do
			wait "$p" || { echo "round $round: slctl failover set failed" >&2; return 1; }
		done

		# The main loop may apply once more (it saw the file change): wait
		# until B runs what failover.ini says, then check it stays so.
		wantA=$(ini_poll A)
		wantC=$(ini_poll C)
		sl_until $((5 + FO_MARGIN)) sl_health_is "$UB" \
		    "([.backs_up[] | select(.pool == \"A\") | .poll_interval] == [$wantA]) and
		     ([.backs_up[] | select(.pool == \"C\") | .poll_interval] == [$wantC])"

		run ctl failover show --json
		assert_success
		jq -e '[.failover[].name] | sort == ["A", "C"]' <<<"$output"
		jq -e --argjson a "$wantA" --argjson c "$wantC" \
		    '.failover | map({(.name): .poll_interval}) | add == {"A": $a, "C": $c}' <<<"$output"
		run curl -fsS -m 5 "$UB/v1/health"
		assert_success
		jq -e '[.backs_up[].pool] | sort == ["A", "C"]' <<<"$output"
		[ "$(live_pollers A)" -eq 1 ]
		[ "$(live_pollers C)" -eq 1 ]
	done

	# Still the same server, and the one poller of A works: B mirrors A.
	[ "$(sl_pid B)" = "$pid" ]
	fo_warm B A
	sl_health_is "$UA" '[.backups[] | select(.name == "B")] | length == 1'
}

# hang_listen PORT LOG: a "Primary" at PORT that accepts polls and never
# answers, each one waiting out its timeout; LOG gets "listening", then
# "accept N" and "close N", N the connections open after each. Stopped in
# teardown.
hang_listen() {
	python3 - "$1" "$2" >/dev/null 2>&1 3>&- <<'PY' &
import selectors, socket, sys
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1])))
srv.listen(16)
log = open(sys.argv[2], "a", buffering=1)
log.write("listening\n")
sel = selectors.DefaultSelector()
sel.register(srv, selectors.EVENT_READ)
n = 0
while True:
    for key, _ in sel.select():
        if key.fileobj is srv:
            c, _ = srv.accept()
            n += 1
            log.write("accept %d\n" % n)
            sel.register(c, selectors.EVENT_READ)
        elif not key.fileobj.recv(65536):
            sel.unregister(key.fileobj)
            key.fileobj.close()
            n -= 1
            log.write("close %d\n" % n)
PY
	echo $! >"$SL_TMP/hang.pid"
	sl_until 5 grep -qs '^listening$' "$2"
}

# polls_seen N: the silent Primary has seen N polls or more.
polls_seen() { [ "$(grep -c '^accept' "$SL_TMP/hang.log")" -ge "$1" ]; }

@test "a set replaces a poller stuck in a poll without waiting for it; the new one polls once the old one has stopped" {
	hang_listen "$FO_PORT_C" "$SL_TMP/hang.log"
	fo_config B
	sl_start B
	run ctl failover set C --url "$UC" --poll-interval 5 --fail-after 100
	assert_success
	# C's poller is in a poll that C never answers (5 s timeout).
	sl_until 5 polls_seen 1

	t0=$(sl_now_ms)
	run ctl failover set C --url "$UC" --poll-interval 4 --fail-after 100
	t1=$(sl_now_ms)
	assert_success
	# Answered at once: the stopped poller is joined by its successor,
	# not by the HTTP thread.
	[ $((t1 - t0)) -lt 2000 ]
	run ctl failover show --json
	assert_success
	jq -e '.failover | map({name, poll_interval}) == [{"name": "C", "poll_interval": 4}]' <<<"$output"
	[ "$(live_pollers C)" -eq 1 ]

	# The new poller polls only after the old one's poll has timed out:
	# never two polls of C at once.
	sl_until $((10 + FO_MARGIN)) polls_seen 2
	run grep -c '^accept 2$' "$SL_TMP/hang.log"
	[ "$output" -eq 0 ]

	# A clear is answered once the pool is forgotten (the poller stopped).
	run ctl failover clear C
	assert_success
	grep -q 'no longer backing up "C"' "$SL_TMP/B/log"
	sl_health_is "$UB" '.backs_up == []'
	[ "$(live_pollers C)" -eq 0 ]
}
