#!/usr/bin/env bats
# Count safety: a warm backup never tells the holder of a seat of its
# Primary's pool that the seat is gone. A seat its mirror has not seen yet
# (asynchronous mirroring, or a grant that raced the Primary's crash) is
# answered 503 not_serving when the holder names the pool, so slcheck keeps
# the seat and retries, instead of 404 unknown_lease, which drops it.

load helpers-failover

setup() { fo_setup; }
teardown() { sl_teardown; }

UNSEEN=0123456789abcdef0123456789abcdef

# hb URL QUERY / ci URL QUERY: heartbeat / check in lease UNSEEN with QUERY.
hb() { sl_req POST "$1/v1/leases/$UNSEEN/heartbeat$2" -; }
ci() { sl_req DELETE "$1/v1/leases/$UNSEEN$2" -; }

@test "warm backup: an unknown lease of the Primary's pool is 503 not_serving, not 404" {
	fo_start_pair "cad-a cad 2 30"
	hb "$UB" "?pool=A"
	sl_expect 503 '.error == "not_serving" and .primary == $u' --arg u "$UA"
	ci "$UB" "?pool=A"
	sl_expect 503 '.error == "not_serving" and .primary == $u' --arg u "$UA"
	# Without the pool, or naming the backup's own pool, unknown is unknown.
	hb "$UB" ""
	sl_expect 404 '.error == "unknown_lease"'
	hb "$UB" "?pool=B"
	sl_expect 404 '.error == "unknown_lease"'
	hb "$UB" "?pool=no%20such"
	sl_expect 400 '.error == "bad_request"'
	# Once the backup serves the pool, a lease it does not hold is unknown.
	fo_kill9_taken_over A B
	hb "$UB" "?pool=A"
	sl_expect 404 '.error == "unknown_lease"'
}

@test "slcheck heartbeat of a seat the warm backup has not mirrored: kept (exit 3), not lost (exit 6)" {
	# A token for a seat of pool A whose Primary does not answer (stopped)
	# and whose backup has not seen it, and does not take over yet.
	fo_pair "cad-a cad 2 30"
	fo_config A
	fo_config B "$(fo_backs_up A 0.2 100)"
	sl_start A
	sl_start B
	fo_warm B A
	kill -STOP "$(sl_pid A)"
	run -"$EX_UNREACHABLE" env SL_SERVERS="$UA+$UB" "$SLCHECK" heartbeat "$UNSEEN:A@$UA"
	[[ $output == *"no server answered"* ]]
	kill -CONT "$(sl_pid A)"
}
