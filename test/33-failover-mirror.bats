#!/usr/bin/env bats
# A warm backup's Licenses pane shows the seats its Primary holds.

load helpers-failover

setup() { fo_setup; }
teardown() { sl_teardown; }

# start_pair: Primary A and its backup B (polling every 0.2 s), sharing a
# peer token, both started.
start_pair() {
	fo_config A
	fo_config B "$(fo_backs_up A 0.2 3)"
	sl_start A
	sl_start B
}

backup_in_use_is() {
	[ "$(curl -fsS -m 2 "$(sl_url B)/v1/licenses" |
	    jq -r '.licenses[] | select(.pool == "A" and .id == "cad-1") | "\(.status) \(.in_use)"')" = "$1" ]
}

@test "a warm backup counts the Primary's seats as last mirrored" {
	start_pair
	sl_until 5 backup_in_use_is "warm 0"
	curl -fsS -X POST "$(sl_url A)/v1/checkout" -d '{"product":"cad","lease":"seat-one-0123456789abcdef0123456789abcdef"}' >/dev/null
	curl -fsS -X POST "$(sl_url A)/v1/checkout" -d '{"product":"cad","lease":"seat-two-0123456789abcdef0123456789abcdef"}' >/dev/null
	sl_until 5 backup_in_use_is "warm 2"
	curl -fsS -X DELETE "$(sl_url A)/v1/leases/seat-one-0123456789abcdef0123456789abcdef" >/dev/null
	sl_until 5 backup_in_use_is "warm 1"
	# The backup's own license of the same id is not touched.
	run curl -fsS "$(sl_url B)/v1/licenses"
	echo "$output" | jq -e '.licenses[] | select(.pool == "B" and .id == "cad-1") | .in_use == 0'
}

mirror_count_is() {
	[ "$(jq -r '.licenses[] | select(.id == "cad-1") | .count' "$SL_TMP/B/state/mirror-A.json" 2>/dev/null)" = "$1" ]
}

@test "a change of the Primary's licenses reaches the backup's mirror file" {
	start_pair
	sl_until 5 mirror_count_is 2
	sed -i '0,/count   = 2/s//count   = 7/' "$SL_TMP/A/licenses.conf"
	kill -HUP "$(sl_pid A)"
	# A backup restarted while its Primary is down serves from this file.
	sl_until 5 mirror_count_is 7
}
