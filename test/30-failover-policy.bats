#!/usr/bin/env bats
# The usage policy in a takeover (issue 19): a backup receives its Primary's
# options file with its licenses, keeps it with its mirror, and applies it
# to the Primary's pool while it serves it.

load helpers-failover

setup() {
	fo_setup
	fo_pair "cad-a cad 3 30"
	cat >"$SL_TMP/A/options.conf" <<'O'
group "eda" { members = { "alice" } }
product "cad" {
  reserve = { "1 group:eda" }
  max     = { "1 user:*" }
  exclude = { "user:mallory" }
  borrow  = "1h"
}
O
	fo_config A 'options = "options.conf"'
	fo_config B "$(fo_backs_up A)"
	sl_start A
	sl_start B
	fo_warm B A
}

teardown() { sl_teardown; }

# mirror_policy_is JQ: B's saved mirror of A carries a policy for which JQ holds.
mirror_policy_is() {
	jq -e "[.licenses[].policy] | length > 0 and all(. != null and ($1))" \
	    "$SL_TMP/B/state/mirror-A.json" >/dev/null 2>&1
}

# b_grants_bob: B grants a seat of A's pool to bob.
b_grants_bob() { sl_co "$UB" cad user=bob pool=A; [ "$HTTP_CODE" = 201 ]; }

@test "takeover: the backup applies its Primary's exclude, max and reserve to the Primary's pool" {
	sl_until $((3 + FO_MARGIN)) grep -q "pool A: its Primary's usage policy applies when this server serves it" "$SL_TMP/B/log"
	sl_until $((3 + FO_MARGIN)) mirror_policy_is '.entries[0].name == "cad"'
	sl_co "$UA" cad user=carol
	sl_expect 201
	l1=$(jq -r .lease <<<"$HTTP_BODY")
	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$l1"
	sl_kill9 A
	sl_until "$(fo_takeover_limit)" b_grants_bob
	sl_expect 201 '.pool == "A" and .license == "cad-a" and .server == "B"'
	# carol (mirrored) and bob hold 2 of 3; the last is eda's.
	sl_co "$UB" cad user=mallory pool=A
	sl_expect 403 '.error == "excluded" and .rule == "exclude \"user:mallory\"" and
	    (.message | endswith("options.conf:5)"))'
	sl_co "$UB" cad user=bob pool=A
	sl_expect 409 '.error == "max_reached" and .rule == "max \"1 user:*\""'
	sl_co "$UB" cad user=carol pool=A
	sl_expect 409 '.error == "max_reached"'
	sl_co "$UB" cad user=dave pool=A
	sl_expect 409 '.error == "reserved" and .rule == "reserve \"1 group:eda\""'
	sl_co "$UB" cad user=alice pool=A
	sl_expect 201 '.pool == "A"'
	fo_lic_is "$UB" cad-a '.in_use == 3 and .status == "hot-retry"'
	# B's own pool has no policy: mallory may use B's own license.
	sl_co "$UB" cad user=mallory
	sl_expect 201 '.pool == "B" and .license == "cad-b"'
	curl -fsS -m 3 "$UB/metrics" >"$SL_TMP/metrics"
	grep -Fxq 'sl_policy_denials_total{reason="excluded"} 1' "$SL_TMP/metrics"
	grep -Fxq 'sl_policy_denials_total{reason="max_reached"} 2' "$SL_TMP/metrics"
	grep -Fxq 'sl_policy_denials_total{reason="reserved"} 1' "$SL_TMP/metrics"
}

@test "a reload of the Primary's options file reaches the backup; without one the backup applies none" {
	sl_until $((3 + FO_MARGIN)) mirror_policy_is '.entries[0].exclude == [["user:mallory", 5]]'
	sed -i 's/user:mallory/user:eve/' "$SL_TMP/A/options.conf"
	run "$SLCTL" -s "$UA" -D "$SL_TMP/A/state" reload
	assert_success
	sl_until $((3 + FO_MARGIN)) mirror_policy_is '.entries[0].exclude == [["user:eve", 5]]'
	# An empty options file has no rules, on the backup too.
	: >"$SL_TMP/A/options.conf"
	run "$SLCTL" -s "$UA" -D "$SL_TMP/A/state" reload
	assert_success
	sl_until $((3 + FO_MARGIN)) mirror_policy_is '.entries == [] and .groups == {}'
	sl_kill9 A
	sl_until "$(fo_takeover_limit)" b_grants_bob
	sl_co "$UB" cad user=bob pool=A
	sl_expect 201
	sl_co "$UB" cad user=mallory pool=A
	sl_expect 201
}

@test "a Primary without an options file: the backup applies no policy to its pool" {
	sed -i '/^options = /d' "$SL_TMP/A/slserve.conf"
	sl_stop A
	sl_start A
	sl_until $((5 + FO_MARGIN)) grep -q "pool A: no usage policy" "$SL_TMP/B/log"
	sl_until $((3 + FO_MARGIN)) jq -e '[.licenses[] | has("policy")] == [false]' "$SL_TMP/B/state/mirror-A.json"
	sl_kill9 A
	sl_until "$(fo_takeover_limit)" b_grants_bob
	sl_co "$UB" cad user=bob pool=A
	sl_expect 201
}

@test "a backup restarted during a takeover still applies the Primary's policy (kept with the mirror)" {
	sl_until $((3 + FO_MARGIN)) mirror_policy_is '.entries[0].name == "cad"'
	sl_kill9 A
	sl_until "$(fo_takeover_limit)" b_grants_bob
	sl_kill9 B
	sl_start B
	fo_pool_status_is "$UB" A hot-retry
	fo_lic_is "$UB" cad-a '.in_use == 1'
	sl_co "$UB" cad user=mallory pool=A
	sl_expect 403 '.error == "excluded" and .rule == "exclude \"user:mallory\""'
	sl_co "$UB" cad user=bob pool=A
	sl_expect 409 '.error == "max_reached"'
}

# borrowed_until NAME ID: borrowed_until of lease ID in server NAME's leases.
borrowed_until() {
	fo_leases "$1" | jq -r --arg id "$2" '.leases[] | select(.lease == $id) | .borrowed_until'
}

# b_grants_alice: B grants a seat of A's pool to alice.
b_grants_alice() { sl_co "$UB" cad user=alice pool=A; [ "$HTTP_CODE" = 201 ]; }

# a_holds ID UNTIL: A lists lease ID with that end.
a_holds() { [ "$(borrowed_until A "$1")" = "$2" ]; }

@test "a borrowed seat keeps its end through a takeover and a handback" {
	sl_co "$UA" cad user=carol
	sl_expect 201
	c=$(jq -r .lease <<<"$HTTP_BODY")
	sl_req POST "$UA/v1/checkout" '{"product":"cad","client":"c","user":"carol2","host":"h","borrow":3600}'
	sl_expect 201 '.heartbeat_interval == 0'
	l=$(jq -r .lease <<<"$HTTP_BODY")
	until=$(jq -r .borrowed_until <<<"$HTTP_BODY")
	sl_until $((2 + FO_MARGIN)) eval '[[ " $(fo_mirror_ids B A) " == *" $l "* ]]'
	sl_kill9 A
	# carol and carol2 hold 2 of 3; the last is eda's: alice's.
	sl_until "$(fo_takeover_limit)" b_grants_alice
	[ "$(borrowed_until B "$l")" = "$until" ]
	sl_heartbeat "$UB" "$l"
	sl_expect 200 '.heartbeat_interval == 0 and .borrowed_until == ($u | tonumber)' --arg u "$until"
	# The Primary's policy on the backup: a borrow over an hour is refused.
	sl_checkin "$UB" "$c"
	sl_expect 200
	sl_req POST "$UB/v1/checkout" '{"product":"cad","pool":"A","client":"c","user":"dave2","host":"h","borrow":3601}'
	sl_expect 403 '.error == "borrow_too_long"'
	sl_start A
	sl_until $((5 + FO_MARGIN)) a_holds "$l" "$until"
	sl_until $((5 + FO_MARGIN)) fo_pool_status_is "$UB" A warm
	sl_heartbeat "$UA" "$l"
	sl_expect 200 '.borrowed_until == ($u | tonumber)' --arg u "$until"
}

# queued_on URL N: the server at URL shows N checkouts waiting for cad-a.
queued_on() {
	[ "$(curl -fsS -m 3 "$1/v1/licenses" | jq -r '.licenses[] | select(.id == "cad-a") | .queued')" = "$2" ]
}

@test "a waiter in the Primary's queue moves to the backup when the Primary fails, and gets a seat there" {
	printf 'product "cad" { queue = true }\n' >"$SL_TMP/A/options.conf"
	run "$SLCTL" -s "$UA" -D "$SL_TMP/A/state" reload
	assert_success
	sl_until $((3 + FO_MARGIN)) mirror_policy_is '.entries[0].queue == true'
	for u in u1 u2 u3; do
		sl_co "$UA" cad user="$u"
		sl_expect 201
	done
	l1=$(fo_leases A | jq -r '.leases[] | select(.user == "u1") | .lease')
	( USER=dave LOGNAME=dave SL_SERVERS="$UA+$UB" "$SLCHECK" checkout --wait 40 cad \
	    >"$SL_TMP/dave.tok" 2>"$SL_TMP/dave.err"; echo $? >"$SL_TMP/dave.rc" ) &
	sl_until 10 queued_on "$UA" 1
	sl_until $((2 + FO_MARGIN)) eval '[[ " $(fo_mirror_ids B A) " == *" $l1 "* ]]'
	sl_kill9 A
	# The backup takes over and holds the waiter in its queue of pool A.
	sl_until $((10 + FO_MARGIN)) queued_on "$UB" 1
	[ ! -e "$SL_TMP/dave.rc" ]
	sl_checkin "$UB" "$l1"
	sl_expect 200
	sl_until 10 eval '[ "$(cat "$SL_TMP/dave.rc" 2>/dev/null)" = 0 ]'
	grep -q ":A@$UB\$" "$SL_TMP/dave.tok"
	fo_lic_is "$UB" cad-a '.in_use == 3 and .queued == 0'
}
