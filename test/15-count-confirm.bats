#!/usr/bin/env bats
# Count safety: a hard seat (timeout 0) that no client ever learnt of is
# not held for good. The Primary is killed after the grant reached its disk
# and before the 201 went out (it waits for a stopped backup's
# acknowledgement, synchronous_backup): after the restart the seat ends
# confirm_timeout after its grant. A seat whose answer went out, or whose
# holder asked again, is held.

load helpers-failover

setup() {
	fo_setup
	fo_pair "hard-a sim 2 0"
	fo_config A "confirm_timeout = 6" "handback_wait = 0.5"
	fo_config B "$(fo_backs_up A 0.2 100)"
	sl_start A
	sl_start B
	fo_warm B A
}
teardown() { sl_teardown; }

ID=feedfacefeedfacefeedfacefeedface

checkout_hard() {
	sl_req POST "$UA/v1/checkout" \
	    "{\"product\":\"sim\",\"lease\":\"$ID\",\"client\":\"c\",\"user\":\"u\",\"host\":\"h\"}"
}

on_disk() { grep -q "$ID" "$SL_TMP/A/state/journal"; }
held() { [ "$(fo_lease_count A "$ID")" = "$1" ]; }

# A grant on A's disk whose answer never left A; A restarted.
unanswered_grant() {
	kill -STOP "$(sl_pid B)"
	curl -sS -m 10 -o "$SL_TMP/ans" -w '%{http_code}' -H 'Content-Type: application/json' \
	    -d "{\"product\":\"sim\",\"lease\":\"$ID\",\"client\":\"c\",\"user\":\"u\",\"host\":\"h\"}" \
	    "$UA/v1/checkout" >"$SL_TMP/code" 2>/dev/null &
	local cpid=$!
	sl_until 5 on_disk
	sl_kill9 A
	wait "$cpid" || true
	[ "$(cat "$SL_TMP/code")" = 000 ]	# no answer came
	sl_start A
}

@test "a hard seat granted but never answered ends confirm_timeout after its grant" {
	unanswered_grant
	held 1
	fo_lic_is "$UA" hard-a '.in_use == 1'
	sl_until $((7 + FO_MARGIN)) fo_lic_is "$UA" hard-a '.in_use == 0'
	held 0
	kill -CONT "$(sl_pid B)"
}

@test "the holder that asks again for its unanswered hard seat gets it, and keeps it" {
	unanswered_grant
	checkout_hard
	sl_expect 200 '.lease == $id and .license == "hard-a"' --arg id "$ID"
	# held past confirm_timeout: the retry confirmed it
	fo_holds 7 held 1
	fo_lic_is "$UA" hard-a '.in_use == 1'
	kill -CONT "$(sl_pid B)"
}

@test "a hard seat whose 201 went out is held past confirm_timeout, across a restart" {
	kill -STOP "$(sl_pid B)"	# nothing waits on B's acknowledgement longer than a poll
	checkout_hard
	sl_expect 201 '.lease == $id' --arg id "$ID"
	kill -CONT "$(sl_pid B)"
	fo_holds 7 held 1
	sl_kill9 A
	sl_start A
	fo_holds 7 held 1
	fo_lic_is "$UA" hard-a '.in_use == 1'
}
