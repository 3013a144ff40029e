#!/usr/bin/env bats
# Failover, mutual backup: A backs up B and B backs up A. Either one dies, the
# other serves its pool beside its own; on restart the pool goes home.

load helpers-failover

setup() {
	fo_setup
	fo_ports A B
	sl_licenses A "cad-a cad 2 30"
	sl_licenses B "cad-b cad 2 30"
	fo_config A "$(fo_backs_up B)"
	fo_config B "$(fo_backs_up A)"
	sl_start A
	sl_start B
	fo_warm B A
	fo_warm A B
	UA=$URL_A UB=$URL_B
}

teardown() { sl_teardown; }

lease_of() { jq -r .lease <<<"$HTTP_BODY"; }

# takes_over_with SURVIVOR DEAD LEASE: once SURVIVOR mirrors DEAD's seat LEASE,
# kill -9 DEAD; SURVIVOR takes its pool over and keeps LEASE (heartbeat 200).
takes_over_with() {
	sl_until $((2 + FO_MARGIN)) fo_mirror_is "$1" "$2" "$3" || return 1
	fo_kill9_taken_over "$2" "$1" || return 1
	sl_heartbeat "$(sl_url "$1")" "$3"
	sl_expect 200
}

# only_leases NAME POOL "ID...": NAME lists exactly these leases of POOL, each once.
only_leases() {
	local want got
	want=$(tr ' ' '\n' <<<"$3" | sed '/^$/d' | sort | jq -Rsc 'split("\n") | map(select(. != ""))')
	got=$(fo_leases "$1" | jq -c --arg p "$2" '[.leases[] | select(.pool == $p) | .lease] | sort')
	[ "$got" = "$want" ] && return 0
	echo "$1 lists $got in pool $2, expected $want" >&2
	return 1
}

@test "kill -9 A: B serves pool A beside its own; restart A: handback, and A backs up B again" {
	# Both directions: each shows the other's licenses warm and its own hot-warm.
	fo_lic_is "$UA" cad-a '.role == "primary" and .status == "hot-warm" and .served_by == "A"'
	fo_lic_is "$UA" cad-b '.role == "backup" and .status == "warm" and .served_by == "B" and .primary == "B"'
	fo_lic_is "$UB" cad-b '.role == "primary" and .status == "hot-warm" and .served_by == "B"'
	fo_lic_is "$UB" cad-a '.role == "backup" and .status == "warm" and .served_by == "A" and .primary == "A"'
	sl_health_is "$UA" '(.backups | map(.name) == ["B"]) and (.backs_up | map(.pool) == ["B"])'
	sl_health_is "$UB" '(.backups | map(.name) == ["A"]) and (.backs_up | map(.pool) == ["A"])'
	sl_co "$UA" cad
	sl_expect 201 '.pool == "A"'
	la1=$(lease_of)
	sl_co "$UB" cad
	sl_expect 201 '.pool == "B"'
	lb1=$(lease_of)
	sl_until $((2 + FO_MARGIN)) fo_mirror_is A B "$lb1"

	takes_over_with B A "$la1"
	sl_co "$UB" cad pool=A
	sl_expect 201 '.pool == "A" and .license == "cad-a" and .server == "B"'
	la2=$(lease_of)
	sl_co "$UB" cad pool=A
	sl_expect 409 '.error == "no_seats"'
	# B's own pool is served as before, from B's own license only.
	fo_lic_is "$UB" cad-b '.in_use == 1 and .role == "primary"'
	# Nobody polls B now: its own licenses go from hot-warm to hot.
	sl_until $((1 + FO_MARGIN)) fo_own_status_is "$UB" hot
	sl_co "$UB" cad
	sl_expect 201 '.pool == "B" and .license == "cad-b"'
	lb2=$(lease_of)
	sl_co "$UB" cad
	sl_expect 409 '.error == "no_seats"'
	fo_lic_is "$UB" cad-a '.in_use == 2 and .status == "hot-retry"'

	sl_start A
	only_leases A A "$la1 $la2"
	fo_lic_is "$UA" cad-a '.in_use == 2 and .max == 2'
	# A serves once it holds every seat; B lets the pool go at the
	# handback's second step, a moment later on a busy machine.
	sl_until $((2 + FO_MARGIN)) fo_pool_status_is "$UB" A warm
	handed_back_code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$UB/v1/leases/$la2/heartbeat")
	[ "$handed_back_code" = 503 ]
	# B's pool never left B; A mirrors it again, warm, including what B granted meanwhile.
	only_leases B B "$lb1 $lb2"
	sl_until $((2 + FO_MARGIN)) fo_pool_status_is "$UA" B warm
	sl_until $((2 + FO_MARGIN)) fo_mirror_is A B "$lb1 $lb2"
	sl_until $((2 + FO_MARGIN)) fo_own_status_is "$UA" hot-warm
	sl_co "$UA" cad pool=B
	sl_expect 503 '.error == "not_serving" and .primary == $u' --arg u "$UB"
}

@test "kill -9 B: A serves pool B; restart B: handback to B" {
	sl_co "$UB" cad
	sl_expect 201
	lb1=$(lease_of)

	takes_over_with A B "$lb1"
	sl_co "$UA" cad pool=B
	sl_expect 201 '.pool == "B" and .server == "A"'
	lb2=$(lease_of)
	fo_lic_is "$UA" cad-a '.in_use == 0'

	sl_start B
	only_leases B B "$lb1 $lb2"
	sl_until $((2 + FO_MARGIN)) fo_pool_status_is "$UA" B warm
	sl_until $((2 + FO_MARGIN)) fo_pool_status_is "$UB" A warm
	sl_heartbeat "$UB" "$lb2"
	sl_expect 200
}
