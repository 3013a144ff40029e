#!/usr/bin/env bats
# Failover, statuses: what /v1/licenses, /v1/health and slctl status show on a
# Primary and on its backup (role, status, served_by, primary, last_poll_age).

load helpers-failover

setup() {
	fo_setup
	fo_start_pair "cad-a cad 3 30" "view-a viewer unlimited 60"
}

teardown() { sl_teardown; }

@test "while the backup polls: Primary hot-warm, backup warm with served_by, primary and last_poll_age" {
	sl_co "$UA" cad
	sl_expect 201
	# hot-warm holds steadily while polls arrive (five poll intervals).
	fo_holds "$(awk -v p="$FO_POLL" 'BEGIN { print 5 * p }')" fo_own_status_is "$UA" hot-warm
	fo_lic_is "$UA" cad-a '.role == "primary" and .status == "hot-warm" and .served_by == "A" and
	    .pool == "A" and .in_use == 1 and .max == 3 and (has("primary") | not)'
	fo_lic_is "$UA" view-a '.role == "primary" and .status == "hot-warm" and .max == -1'

	# On the backup: the Primary's licenses, mirrored, warm, served by A.
	fo_lic_is "$UB" cad-a '.role == "backup" and .status == "warm" and .served_by == "A" and
	    .primary == "A" and .pool == "A" and .max == 3 and .product == "cad" and
	    .timeout == 30 and .expires == "never" and
	    (.last_poll_age | type == "number" and . >= 0 and . < 2)'
	fo_lic_is "$UB" view-a '.role == "backup" and .status == "warm" and .max == -1 and .primary == "A"'
	# ... and its own license: primary, hot (nobody backs B up), served by B.
	fo_lic_is "$UB" cad-b '.role == "primary" and .status == "hot" and .served_by == "B" and
	    .pool == "B" and (has("primary") | not)'

	# Health on both sides.
	sl_health_is "$UA" '.name == "A" and .backs_up == [] and (.backups | length == 1) and
	    (.backups[0] | .name == "B" and .url == "'"$UB"'" and
	    (.last_poll_age | type == "number" and . < 2))'
	sl_health_is "$UB" '.name == "B" and .backups == [] and (.backs_up | length == 1) and
	    (.backs_up[0] | .pool == "A" and .url == "'"$UA"'" and .status == "warm" and
	    .failed_polls == 0 and (.last_poll_age | type == "number" and . < 2))'

	# slctl status shows the same columns (SERVER LICENSE PRODUCT IN USE MAX
	# DENIALS ROLE STATUS SERVED BY EXPIRES PRIMARY LAST POLL).
	run "$SLCTL" -s "$UB" -s "$UA" status
	assert_success
	assert_line --regexp '^B +cad-a +cad +[0-9]+ +3 +0 +backup +warm +A +never +A +[0-9.]+s$'
	assert_line --regexp '^B +cad-b +cad +0 +2 +0 +primary +hot +B +never +- +-$'
	assert_line --regexp '^A +cad-a +cad +1 +3 +0 +primary +hot-warm +A +never +- +-$'
}

@test "hot within about three poll intervals after the backup stops" {
	sl_stop B
	t0=$(sl_now_ms)
	limit=$(awk -v p="$FO_POLL" -v m="$FO_MARGIN" 'BEGIN { print 3 * p + m }')
	sl_until "$limit" fo_own_status_is "$UA" hot
	echo "# hot-warm -> hot $(($(sl_now_ms) - t0)) ms after the backup stopped" >&3
	sl_health_is "$UA" '.backups[0].name == "B" and .backups[0].last_poll_age > 0.5'
	# And back to hot-warm once it polls again.
	sl_start B
	sl_until $((2 + FO_MARGIN)) fo_own_status_is "$UA" hot-warm
}

@test "after a takeover the backup shows hot-retry, served by itself, with a growing last_poll_age" {
	sl_kill9 A
	limit=$(awk -v p="$FO_POLL" -v f="$FO_FAIL" -v m="$FO_MARGIN" 'BEGIN { print p * f + p + m }')
	sl_until "$limit" fo_lic_is "$UB" cad-a '.status == "hot-retry"'
	fo_lic_is "$UB" cad-a '.role == "backup" and .served_by == "B" and .primary == "A" and .pool == "A"'
	fo_lic_is "$UB" view-a '.status == "hot-retry" and .served_by == "B"'
	fo_lic_is "$UB" cad-b '.status == "hot" and .served_by == "B"'
	age1=$(sl_license_field "$UB" cad-a last_poll_age)
	sl_until 3 fo_lic_is "$UB" cad-a ".last_poll_age > $age1"
	sl_health_is "$UB" '.backs_up[0] | .status == "hot-retry" and .failed_polls >= '"$FO_FAIL"
}
