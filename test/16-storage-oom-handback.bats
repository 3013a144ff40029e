#!/usr/bin/env bats
# Out of memory on the durable path of a handback (issue 16): a Primary that
# cannot journal a lease its backup hands back does not take the pool back
# half-recorded; the backup keeps serving and hands back again, and after
# that every seat is on the Primary's disk (kill -9 keeps it).

load helpers-failover

setup() { fo_setup; }
teardown() { sl_teardown; }

@test "a handback the Primary cannot journal (out of memory) is not taken; the next one is, and survives kill -9" {
	fo_start_pair "cad-a cad 3 30"
	fo_kill9_taken_over A B
	# A seat granted by the backup while it serves A's pool.
	sl_co "$UB" cad pool=A
	sl_expect 201
	l=$(jq -r .lease <<<"$HTTP_BODY")
	# A comes back; the first record it appends (the adoption of l) fails
	# as if malloc had.
	SL_TEST_FAIL_JOURNAL_ALLOC=1 sl_start A
	sl_until $((5 + FO_MARGIN)) grep -q "handback from \"B\" not taken: a lease could not be journaled" \
	    "$SL_TMP/A/log"
	grep -q "lease $l of pool \"A\" could not be journaled" "$SL_TMP/A/log"
	# The next handback takes it: l is A's, on A's disk.
	sl_until $((5 + FO_MARGIN)) fo_pool_status_is "$UB" A warm
	sl_heartbeat "$UA" "$l"
	sl_expect 200
	fo_lic_is "$UA" cad-a '.in_use == 1'
	sl_kill9 A
	sl_start A
	sl_heartbeat "$UA" "$l"
	sl_expect 200
	fo_lic_is "$UA" cad-a '.in_use == 1'
}
