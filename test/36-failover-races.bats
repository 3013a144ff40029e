#!/usr/bin/env bats
# Failover under concurrent changes: runtime settings applied from several
# HTTP threads at once (and the main loop, which sees failover.ini change)
# leave exactly one poller per Primary. Run under `make test TSAN=1` too.

load helpers-failover

setup() {
	fo_setup
	fo_ports A B C
	fo_licenses A "cad-a cad 3 30"
	fo_licenses B "cad-b cad 2 30"
	UA=$URL_A UB=$URL_B
	# C is named but never started: its poller polls an empty port.
	UC=$URL_C
}

teardown() { fo_teardown; }

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
	pid=$(fo_pid B)

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
		sl_until $((5 + FO_MARGIN)) fo_health_is "$UB" \
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
	[ "$(fo_pid B)" = "$pid" ]
	fo_warm B A
	fo_health_is "$UA" '[.backups[] | select(.name == "B")] | length == 1'
}
