#!/usr/bin/env bats
# A seat granted after the backup's last poll and before the Primary died is
# unknown to the backup. `slcheck run` asks for it again under the same lease
# id, so after the handback the Primary counts it once. This is the window
# of asynchronous mirroring (synchronous_backup = false); with the default,
# the Primary answers only once the backup holds the seat.

load helpers-failover

setup() { fo_setup; }
teardown() { sl_teardown; }

in_use() { curl -fsS -m 2 "$1/v1/licenses" | jq -r --arg id "$2" '.licenses[] | select(.id == $id and .pool == "A") | .in_use'; }
in_use_is() { [ "$(in_use "$1" "$2")" = "$3" ]; }

@test "a seat the backup never mirrored is taken again under its own id and counted once" {
	printf 'license "cad-1" {\n  product = "cad"\n  count = 2\n  timeout = 3\n}\n' | sl_write_licenses A
	fo_config A 'handback_wait = 5' 'synchronous_backup = false'
	fo_config B "$(fo_backs_up A 0.2 2)"
	sl_start A
	sl_start B
	sl_until 5 bash -c "curl -fsS $(sl_url B)/v1/licenses | jq -e '.licenses[] | select(.pool == \"A\")' >/dev/null"

	# Freeze the backup: nothing granted from now on reaches its mirror.
	kill -STOP "$(sl_pid B)"
	SL_SERVERS="p:$(sl_url A)+$(sl_url B)" "$SLCHECK" run cad -- sleep 30 \
	    >"$SL_TMP/run.out" 2>"$SL_TMP/run.err" &
	local runpid=$!
	sl_until 5 in_use_is "$(sl_url A)" cad-1 1
	local lease
	lease=$(curl -fsS -H "Authorization: Bearer $(sl_admin_token A)" "$(sl_url A)/v1/leases" | jq -r '.leases[0].lease')
	sl_stop A KILL
	kill -CONT "$(sl_pid B)"

	# The backup takes over without the seat; slcheck asks for it again.
	sl_until 15 grep -q "seat taken again: $lease:A@$(sl_url B)" "$SL_TMP/run.err"
	[ "$(in_use "$(sl_url B)" cad-1)" = 1 ]

	# The Primary comes back and pulls: the seat is known once.
	sl_start A
	sl_until 5 in_use_is "$(sl_url A)" cad-1 1
	run curl -fsS -H "Authorization: Bearer $(sl_admin_token A)" "$(sl_url A)/v1/leases"
	echo "$output" | jq -e --arg id "$lease" '[.leases[] | select(.lease == $id)] | length == 1'
	echo "$output" | jq -e '.leases | length == 1'
	kill "$runpid"
	wait "$runpid" || true
}
