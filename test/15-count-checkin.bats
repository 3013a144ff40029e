#!/usr/bin/env bats
# Count safety: a checkin the Primary acknowledged is never undone by a
# crash and a takeover. The checkin is answered only once it is on the
# Primary's disk and in its backup's mirror, so the backup does not adopt
# the seat, and the Primary does not get it back at the handback.

load helpers-failover

setup() {
	fo_setup
	fo_start_pair "cad-a cad 2 30" "hard-a sim 1 0"
}
teardown() { sl_teardown; }

@test "checkins acknowledged just before kill -9 of the Primary stay checked in through takeover and handback" {
	local soft hard
	sl_co "$UA" cad
	sl_expect 201
	soft=$(jq -r .lease <<<"$HTTP_BODY")
	sl_co "$UA" sim
	sl_expect 201
	hard=$(jq -r .lease <<<"$HTTP_BODY")
	sl_checkin "$UA" "$soft"
	sl_expect 200
	sl_checkin "$UA" "$hard"
	sl_expect 200
	sl_kill9 A	# at once: no poll interval for the backup to catch up

	sl_until "$(fo_takeover_limit)" fo_pool_status_is "$UB" A hot-retry
	fo_lic_is "$UB" cad-a '.in_use == 0'
	fo_lic_is "$UB" hard-a '.in_use == 0'
	[ "$(fo_lease_count B "$soft")" = 0 ]
	[ "$(fo_lease_count B "$hard")" = 0 ]

	sl_start A
	sl_until $((5 + FO_MARGIN)) fo_pool_status_is "$UB" A warm
	fo_lic_is "$UA" cad-a '.in_use == 0'
	fo_lic_is "$UA" hard-a '.in_use == 0'
	[ "$(fo_lease_count A "$soft")" = 0 ]
	[ "$(fo_lease_count A "$hard")" = 0 ]
}

# handback_adopted URL ID SINCE: B hands back lease ID as one it adopted
# from its mirror of A (POST /v1/peer/handback, B's side of the protocol).
handback_adopted() {
	fo_peer "$1" POST /v1/peer/handback "$(jq -cn --arg id "$2" --argjson since "$3" \
	    '{pool: "A", from: "B", released: [], leases: [{id: $id, license: "cad-a",
	      product: "cad", pool: "A", client: "c", user: "u", host: "h", pid: 1,
	      since: $since, expires_ms: 0, adopted: true}]}')"
}

@test "a handback does not bring back a seat the Primary checked in, on its first start too" {
	# A started with an empty state directory and was never restarted.
	sl_co "$UA" cad
	sl_expect 201
	l=$(jq -r .lease <<<"$HTTP_BODY")
	since=$(fo_leases A | jq --arg id "$l" '.leases[] | select(.lease == $id) | .since')
	sl_checkin "$UA" "$l"
	sl_expect 200
	# B's mirror had not seen the checkin when it took over.
	handback_adopted "$UA" "$l" "$since"
	sl_expect 200
	fo_lic_is "$UA" cad-a '.in_use == 0'
	[ "$(fo_lease_count A "$l")" = 0 ]
}

@test "a Primary that lost its state takes back the seats its backup adopted before it started" {
	sl_kill9 A
	rm -rf "$SL_TMP/A/state"
	sl_start A
	l=abcdefabcdefabcdefabcdefabcdef01
	handback_adopted "$UA" "$l" $(($(date +%s) - 60))
	sl_expect 200
	fo_lic_is "$UA" cad-a '.in_use == 1'
	[ "$(fo_lease_count A "$l")" = 1 ]
}
