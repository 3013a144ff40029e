#!/usr/bin/env bats
# slctl report across a Primary and its backup: several -s merge the servers'
# usage logs, so a seat one server granted and the other ended counts once.

load helpers-failover

setup() {
	fo_setup
	cd "$SL_TMP" || return 1
	# One admin token for the pair: slctl sends the same one to both.
	sl_token "$SL_TMP/admin.token"
	export SL_TOKEN
	SL_TOKEN=$(cat "$SL_TMP/admin.token")
}
teardown() { sl_teardown; }

# lease_count URL ID: how many times URL's GET /v1/leases lists lease ID.
lease_count() {
	curl -fsS -m 3 -H "Authorization: Bearer $SL_TOKEN" "$1/v1/leases" |
	    jq --arg id "$2" '[.leases[] | select(.lease == $id)] | length'
}
lease_listed() { [ "$(lease_count "$1" "$2")" = 1 ]; }

# usage_ts NAME EVENT LEASE: the time server NAME logged EVENT of LEASE.
usage_ts() {
	jq -r --arg e "$2" --arg l "$3" 'select(.event == $e and .lease == $l) | .ts' \
	    "$SL_TMP/$1/state/usage.log"
}

@test "report -s A -s B: grants made by the backup during a takeover are counted once" {
	fo_pair "cad-1 cad 2 30"
	fo_config A "admin_token_file = \"$SL_TMP/admin.token\""
	fo_config B "admin_token_file = \"$SL_TMP/admin.token\"" "$(fo_backs_up A)"
	sl_start A
	sl_start B
	fo_warm B A
	# l1 from A, in A's usage log (flushed four times a second) and
	# mirrored by B; A dies; l2 of A's pool from B.
	sl_co "$UA" cad
	sl_expect 201
	l1=$(jq -r .lease <<<"$HTTP_BODY")
	sl_until 3 sl_usage_line A ".event == \"grant\" and .lease == \"$l1\""
	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$l1"
	sl_kill9 A
	sl_until "$(fo_takeover_limit)" fo_granted_pool_a
	l2=$(jq -r .lease <<<"$HTTP_BODY")
	# B ends l1, a seat A granted.
	sl_checkin "$UB" "$l1"
	sl_expect 200
	# A comes back and takes l2 back; A ends it.
	sl_start A
	sl_until $((5 + FO_MARGIN)) lease_listed "$UA" "$l2"
	sl_until $((5 + FO_MARGIN)) fo_pool_status_is "$UB" A warm
	sl_checkin "$UA" "$l2"
	sl_expect 200
	sl_until 3 sl_usage_line A ".event == \"checkin\" and .lease == \"$l2\""
	sl_until 3 sl_usage_line B ".event == \"checkin\" and .lease == \"$l1\""
	[ "$(usage_ts B grant "$l1")" = "" ]	# B logged no grant of l1: A did
	[ "$(usage_ts A grant "$l2")" = "" ]	# nor A of l2

	# Each seat from its grant on one server to its checkin on the other.
	want=$(jq -n --argjson g1 "$(usage_ts A grant "$l1")" --argjson c1 "$(usage_ts B checkin "$l1")" \
	    --argjson g2 "$(usage_ts B grant "$l2")" --argjson c2 "$(usage_ts A checkin "$l2")" \
	    '($c1 - $g1) + ($c2 - $g2)')
	run --separate-stderr "$SLCTL" -s "$UA" -s "$UB" report --json
	assert_success
	[ "$stderr" = "" ]
	jq -e --argjson want "$want" '.by == "license" and (.rows | length) == 1 and
	    (.rows[0] | .license == "cad-1" and .pool == "A" and .product == "cad" and
	     .max == 2 and .peak == 2 and .checkouts == 2 and .denials == 0 and
	     (.seat_seconds - $want | fabs) < 0.001 and
	     (.top_users | length == 1 and .[0].user == "u" and .[0].checkouts == 2))' <<<"$output"
	# The same servers in the other order: the same figures.
	run --separate-stderr "$SLCTL" -s "$UB" -s "$UA" report --json
	assert_success
	jq -e --argjson want "$want" '.rows | length == 1 and (.[0] | .checkouts == 2 and
	    (.seat_seconds - $want | fabs) < 0.001)' <<<"$output"
	run --separate-stderr "$SLCTL" -s "$UA" -s "$UB" report --by user --json
	assert_success
	jq -e '[.rows[] | {(.user): [.checkouts, .denials, .peak]}] | add == {"u": [2, 0, 2]}' <<<"$output"
	# The table and CSV name the pool when several servers are merged.
	run --separate-stderr "$SLCTL" -s "$UA" -s "$UB" report
	assert_success
	assert_line --index 0 --regexp '^LICENSE +POOL +PRODUCT +PEAK +MAX +CHECKOUTS +DENIALS +SEAT-HOURS +TOP USERS$'
	assert_line --index 1 --regexp '^cad-1 +A +cad +2 +2 +2 +0 +[0-9]+\.[0-9]{2} +u\([0-9]+\.[0-9]{2}\)$'
	[ "${#lines[@]}" -eq 2 ]
	run --separate-stderr "$SLCTL" -s "$UA" -s "$UB" report --csv
	assert_success
	assert_line --index 0 "license,pool,product,peak,max,checkouts,denials,seat_hours,top_users"
	assert_line --index 1 --regexp '^cad-1,A,cad,2,2,2,0,[0-9]+\.[0-9]{4},u\([0-9]+\.[0-9]{2}\)$'

	# One server alone sees one grant each, and a seat it never saw end.
	run --separate-stderr "$SLCTL" -s "$UA" report --json
	assert_success
	jq -e '.rows | length == 1 and .[0].checkouts == 1' <<<"$output"
	run --separate-stderr "$SLCTL" -s "$UB" report --json
	assert_success
	jq -e '.rows | length == 1 and .[0].checkouts == 1' <<<"$output"
}

@test "report with several -s: a server that cannot be read fails the report, named" {
	fo_pair "cad-1 cad 2 30"
	fo_config A "admin_token_file = \"$SL_TMP/admin.token\""
	sl_start A
	sl_co "$UA" cad
	sl_expect 201
	dead=http://127.0.0.1:$(sl_free_port)
	run --separate-stderr "$SLCTL" -s "$UA" -s "$dead" report --json
	# 3: no answer (one table of exit codes for slctl and slcheck)
	assert_equal "$status" 3
	[[ $stderr == *"$dead"* ]]
	# a wrong token on one of them: 77
	fo_config B "$(fo_backs_up A)"
	sl_start B
	run --separate-stderr "$SLCTL" -s "$UA" -s "$UB" report
	assert_equal "$status" 77
	[[ $stderr == *"$UB"* ]]
}
