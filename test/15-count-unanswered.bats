#!/usr/bin/env bats
# Count safety: a grant the Primary wrote but never answered (it failed
# first) is not held by nobody. Its client asks again under the same lease
# id; the backup serving the pool, which never saw the grant and has no seat
# left, refuses it and remembers the refusal; the handback then tells the
# Primary, which ends its grant. The same holder asking the Primary again
# gets its seat.

load helpers-failover

setup() { fo_setup; }
teardown() { sl_teardown; }

G=0123456789abcdef0123456789abcdef

co() {	# co URL POOL LEASE CLIENT: a checkout of cad naming the lease id
	sl_req POST "$1/v1/checkout" "$(jq -cn --arg pool "$2" --arg l "$3" --arg c "$4" \
	    '{product: "cad", lease: $l, client: $c, user: "u", host: "h"} +
	     (if $pool == "" then {} else {pool: $pool} end)')"
}

@test "a backup serving a full pool remembers refused retries and hands them back" {
	fo_start_pair "cad-a cad 1 30"
	sl_co "$UA" cad
	sl_expect 201
	fo_kill9_taken_over A B
	co "$UB" A "$G" c1
	sl_expect 409 '.error == "no_seats"'
	# what B would hand back now (a Primary's pull, not committed)
	fo_peer "$UB" POST /v1/peer/release '{"pool":"A"}'
	sl_expect 200 '.refused == [{"id": $g, "client": "c1", "user": "u", "host": "h"}]' --arg g "$G"
	# kept with the mirror (saved within a tick): a restart of B keeps it
	sl_until 5 grep -q "$G" "$SL_TMP/B/state/mirror-A.json"
	sl_kill9 B
	sl_start B
	fo_peer "$UB" POST /v1/peer/release '{"pool":"A"}'
	sl_expect 200 '.refused | length == 1'
}

@test "the handback ends a grant whose holder the backup refused; not another holder's" {
	fo_start_pair "cad-a cad 3 30"
	co "$UA" "" "$G" c1
	sl_expect 201
	other=fedcba9876543210fedcba9876543210
	co "$UA" "" "$other" c2
	sl_expect 201
	fo_lic_is "$UA" cad-a '.in_use == 2'
	# B's handback names both ids as refused, the second for another holder.
	fo_peer "$UA" POST /v1/peer/handback "$(jq -cn --arg g "$G" --arg o "$other" \
	    '{pool: "A", from: "B", leases: [], released: [],
	      refused: [{id: $g, client: "c1", user: "u", host: "h"},
	                {id: $o, client: "someone-else", user: "u", host: "h"}]}')"
	sl_expect 200
	fo_lic_is "$UA" cad-a '.in_use == 1'
	[ "$(fo_lease_count A "$G")" = 0 ]
	[ "$(fo_lease_count A "$other")" = 1 ]
	grep -q "lease $G ends: it was granted here but never answered" "$SL_TMP/A/log"
}
