#!/usr/bin/env bats
# slctl failover clear NAME on a backup that serves NAME's pool (hot-retry,
# holding seats it took over) is refused: the seats would stay on the backup
# with nobody to hand them back. Once the Primary has taken them back, the
# clear goes through.

load helpers-failover

setup() {
	fo_setup
	fo_pair "cad-a cad 3 30"
	fo_config A
	fo_config B
	sl_start A
	sl_start B
}

teardown() { sl_teardown; }

ctl() { "$SLCTL" -s "$UB" --token-file "$SL_TMP/B/state/admin.token" "$@"; }

@test "failover clear is refused while the backup serves the Primary's seats, and works after the handback" {
	run ctl failover set A --url "$UA" --poll-interval "$FO_POLL" --fail-after "$FO_FAIL"
	assert_success
	fo_warm B A
	fo_takeover_with_seats

	# Refused, with the reason, and slctl's "operation refused" status (1).
	run ctl failover clear A
	[ "$status" -eq 1 ]
	assert_output --partial "failover clear: 409 serving:"
	assert_output --partial 'serving pool "A" while "A" is down: it holds 2 seats of it'
	assert_output --partial 'Wait until "A" answers again and takes them back'
	sl_admin B DELETE /v1/admin/failover/A
	sl_expect 409 '.error == "serving"'
	# Nothing changed: the setting stays, and so does the service.
	run ctl failover show --json
	jq -e '.failover | length == 1 and (.[0] | .name == "A" and .status == "hot-retry")' <<<"$output"
	for l in "$l1" "$l2"; do
		sl_heartbeat "$UB" "$l"
		sl_expect 200
	done

	# A seat that ended here counts too: A must hear of it at the handback.
	sl_checkin "$UB" "$l2"
	sl_expect 200
	run ctl failover clear A
	[ "$status" -eq 1 ]
	assert_output --partial 'it holds 1 seat of it, and 1 that ended here'

	# A comes back and takes its seats back: B is warm, and may stop.
	sl_start A
	sl_until $((5 + FO_MARGIN)) fo_pool_status_is "$UB" A warm
	fo_lic_is "$UA" cad-a '.in_use == 1'
	run ctl failover clear A
	assert_success
	assert_output --partial "no longer backing up A"
	sl_health_is "$UB" '.backs_up == []'
	[ ! -e "$SL_TMP/B/state/mirror-A.json" ]
	[ ! -e "$SL_TMP/B/state/mirror-A.journal" ]
}
