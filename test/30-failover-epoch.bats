#!/usr/bin/env bats
# Failover, epochs: every boot of a server has a new epoch; a backup that
# finds its Primary's epoch changed resyncs in full, so its mirror is exactly
# the Primary's leases, whatever its sequence numbers did.

load helpers-failover

setup() {
	fo_setup
	fo_ports A B
	sl_licenses A "cad-a cad 10 30"
	sl_licenses B "cad-b cad 2 30"
	fo_config A
	# A large fail_after: the backup must stay warm while A restarts.
	fo_config B "$(fo_backs_up A "$FO_POLL" 50)"
	sl_start A
	sl_start B
	fo_warm B A
	UA=$URL_A UB=$URL_B
}

teardown() { sl_teardown; }

epoch_of() { curl -fsS -m 3 "$1/v1/health" | jq -r .epoch; }

mirror_epoch_is() { [ "$(jq -r .epoch "$SL_TMP/B/state/mirror-A.json" 2>/dev/null)" = "$1" ]; }

@test "sync answers in full for another epoch, incrementally for the current one" {
	l1=$(sl_co_lease "$UA" cad)
	e=$(epoch_of "$UA")
	[[ $e =~ ^[0-9a-f]{16}$ ]]
	fo_peer "$UA" GET "/v1/peer/sync?since=0&epoch=0123456789abcdef&name=probe&url="
	sl_expect 200 '.full == true and .epoch == $e and (.leases | map(.id) == [$l]) and
	    (has("records") | not)' --arg e "$e" --arg l "$l1"
	seq=$(jq .seq <<<"$HTTP_BODY")
	l2=$(sl_co_lease "$UA" cad)
	fo_peer "$UA" GET "/v1/peer/sync?since=$seq&epoch=$e&name=probe&url="
	sl_expect 200 '.full == false and .epoch == $e and .seq == ($s + 1) and
	    (.records | length == 1) and .records[0].op == "grant" and
	    .records[0].lease.id == $l and (has("leases") | not)' \
	    --arg e "$e" --arg l "$l2" --argjson s "$seq"
	# A sequence number from the future (a Primary that lost its state) is full too.
	fo_peer "$UA" GET "/v1/peer/sync?since=$((seq + 1000))&epoch=$e&name=probe&url="
	sl_expect 200 '.full == true'
}

@test "restarting the Primary changes its epoch; the backup resyncs and mirrors new leases" {
	l1=$(sl_co_lease "$UA" cad)
	l2=$(sl_co_lease "$UA" cad)
	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$l1 $l2"
	e1=$(epoch_of "$UA")
	sl_until 3 mirror_epoch_is "$e1"

	sl_stop A
	sl_start A
	e2=$(epoch_of "$UA")
	[ "$e2" != "$e1" ]
	fo_pool_status_is "$UB" A warm
	l3=$(sl_co_lease "$UA" cad)
	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$l1 $l2 $l3"
	sl_until 3 mirror_epoch_is "$e2"
	fo_pool_status_is "$UB" A warm
}

@test "a Primary that lost its state: the new epoch forces a full resync, stale leases leave the mirror" {
	old=""
	for _ in 1 2 3; do old+="$(sl_co_lease "$UA" cad) "; done
	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$old"

	# The backup is frozen while A restarts from an empty state directory and
	# grants more records than it had: an incremental sync from the backup's
	# sequence number would miss most of them.
	kill -STOP "$(sl_pid B)"
	sl_stop A
	find "$SL_TMP/A/state" -mindepth 1 -delete
	sl_start A
	new=""
	for _ in 1 2 3 4 5; do new+="$(sl_co_lease "$UA" cad) "; done
	kill -CONT "$(sl_pid B)"

	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$new"
	sl_until 3 mirror_epoch_is "$(epoch_of "$UA")"
	fo_pool_status_is "$UB" A warm
}
