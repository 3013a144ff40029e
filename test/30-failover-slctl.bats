#!/usr/bin/env bats
# Failover configured at run time with slctl failover show|set|clear: online
# through the admin API (applied at once, no restart) and offline on the state
# directory of a stopped server (applied when it starts); concurrent edits
# never corrupt failover.ini.

load helpers-failover

setup() {
	fo_setup
	fo_pair "cad-a cad 3 30"
}

teardown() { sl_teardown; }

# ctl ARGS...: slctl online against B with B's admin token.
ctl() { "$SLCTL" -s "$UB" --token-file "$SL_TMP/B/state/admin.token" "$@"; }

# no_pool_a_licenses: B's Licenses table has nothing of pool A.
no_pool_a_licenses() {
	curl -fsS -m 3 "$UB/v1/licenses" | jq -e '[.licenses[] | select(.pool == "A")] == []' >/dev/null
}

# ini_sections FILE: the section names of an INI file, sorted, one line
# (an independent parser: Python's configparser).
ini_sections() {
	python3 - "$1" <<'PY'
import configparser, sys
c = configparser.ConfigParser(interpolation=None)
with open(sys.argv[1]) as f:
    c.read_file(f)
for s in c.sections():
    assert c.get(s, "url").startswith("http://"), s
print(" ".join(sorted(c.sections())))
PY
}

@test "online set: a running server backs up a new Primary at once; clear: it stops" {
	fo_config A
	fo_config B
	sl_start A
	sl_start B
	pid=$(sl_pid B)
	no_pool_a_licenses

	run ctl failover set A --url "$UA" --poll-interval "$FO_POLL" --fail-after "$FO_FAIL"
	assert_success
	# Applied without a restart: A's licenses appear on B, warm, and A is hot-warm.
	sl_until $((2 + FO_MARGIN)) fo_lic_is "$UB" cad-a \
	    '.role == "backup" and .status == "warm" and .served_by == "A" and .primary == "A" and .max == 3'
	fo_warm B A
	[ "$(sl_pid B)" = "$pid" ]
	run ctl failover show --json
	assert_success
	jq -e --arg u "$UA" --argjson p "$FO_POLL" --argjson f "$FO_FAIL" \
	    '.failover | length == 1 and (.[0] | .name == "A" and .url == $u and
	     .poll_interval == $p and .fail_after == $f and .source == "runtime" and .status == "warm")' <<<"$output"
	[ "$(ini_sections "$SL_TMP/B/state/failover.ini")" = A ]

	run ctl failover clear A
	assert_success
	# B no longer backs A up: A's licenses leave B's table, and A goes hot.
	sl_health_is "$UB" '.backs_up == []'
	no_pool_a_licenses
	[ ! -e "$SL_TMP/B/state/mirror-A.json" ]
	sl_until $((2 + FO_MARGIN)) fo_own_status_is "$UA" hot
	run ctl failover show --json
	jq -e '.failover == []' <<<"$output"

	# Set again: B mirrors A afresh and takes over with the settings given.
	sl_co "$UA" cad
	sl_expect 201
	l1=$(jq -r .lease <<<"$HTTP_BODY")
	run ctl failover set A --url "$UA" --poll-interval "$FO_POLL" --fail-after "$FO_FAIL"
	assert_success
	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$l1"
	fo_kill9_taken_over A B
	sl_heartbeat "$UB" "$l1"
	sl_expect 200
}

@test "a runtime entry overrides the configuration's; clearing it restores the configured one" {
	fo_config A
	fo_config B "$(fo_backs_up A 30 100)"
	sl_start A
	sl_start B
	run ctl failover show --json
	jq -e '.failover | length == 1 and (.[0] | .source == "config" and .poll_interval == 30 and .fail_after == 100)' <<<"$output"

	run ctl failover set A --url "$UA" --poll-interval "$FO_POLL" --fail-after "$FO_FAIL"
	assert_success
	run ctl failover show --json
	jq -e --argjson p "$FO_POLL" '.failover | length == 1 and (.[0] | .source == "runtime" and .poll_interval == $p)' <<<"$output"
	fo_warm B A

	# A configured entry cannot be cleared at run time.
	run ctl failover clear A
	assert_success
	run ctl failover show --json
	jq -e '.failover | length == 1 and (.[0] | .source == "config" and .poll_interval == 30)' <<<"$output"
	sl_health_is "$UB" '.backs_up | map(.pool) == ["A"]'
	sl_admin B DELETE /v1/admin/failover/A
	sl_expect 409 '.error == "in_config"'
	run ctl failover clear A
	assert_failure
}

@test "offline set on a stopped server's state directory is applied when it starts; offline clear too" {
	fo_config A
	fo_config B
	sl_start A
	mkdir -p "$SL_TMP/B/state"
	run "$SLCTL" -D "$SL_TMP/B/state" failover set A --url "$UA" --poll-interval "$FO_POLL" --fail-after "$FO_FAIL"
	assert_success
	run "$SLCTL" -D "$SL_TMP/B/state" failover show --json
	assert_success
	jq -e --arg u "$UA" '.failover | length == 1 and .[0].name == "A" and .[0].url == $u' <<<"$output"

	sl_start B
	fo_warm B A
	fo_lic_is "$UB" cad-a '.role == "backup" and .status == "warm" and .primary == "A"'
	run ctl failover show --json
	jq -e '.failover[0] | .name == "A" and .source == "runtime"' <<<"$output"
	# While B runs, offline edits are refused.
	run "$SLCTL" -D "$SL_TMP/B/state" failover clear A
	assert_failure
	assert_output --partial "in use by a running slserve"

	sl_stop B
	run "$SLCTL" -D "$SL_TMP/B/state" failover clear A
	assert_success
	sl_start B
	sl_health_is "$UB" '.backs_up == []'
	no_pool_a_licenses
	sl_until $((2 + FO_MARGIN)) fo_own_status_is "$UA" hot
}

@test "20 concurrent edits, online and offline, never corrupt failover.ini" {
	fo_config B
	sl_start B
	dead=$(sl_free_port)
	# Online: 20 parallel PUTs through the admin API (slow polls of dead URLs).
	pids=()
	for i in $(seq 1 20); do
		ctl failover set "N$i" --url "http://127.0.0.1:$dead" --poll-interval 30 --fail-after 100 \
		    >/dev/null 2>"$SL_TMP/err.$i" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || { cat "$SL_TMP"/err.* >&2; false; }; done
	want=$(for i in $(seq 1 20); do echo "N$i"; done | sort | tr '\n' ' ' | sed 's/ $//')
	[ "$(ini_sections "$SL_TMP/B/state/failover.ini")" = "$want" ]
	run ctl failover show --json
	assert_success
	[ "$(jq -r '[.failover[].name] | sort | join(" ")' <<<"$output")" = "$want" ]
	sl_until 3 sl_health_is "$UB" '.backs_up | length == 20'

	# Offline: 10 clears and 10 sets at once while B is stopped.
	sl_stop B
	pids=()
	for i in $(seq 1 10); do
		"$SLCTL" -D "$SL_TMP/B/state" failover clear "N$i" >/dev/null 2>"$SL_TMP/err.c$i" &
		pids+=($!)
		"$SLCTL" -D "$SL_TMP/B/state" failover set "M$i" --url "http://127.0.0.1:$dead" \
		    --poll-interval 30 --fail-after 100 >/dev/null 2>"$SL_TMP/err.s$i" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || { cat "$SL_TMP"/err.* >&2; false; }; done
	want=$( (for i in $(seq 11 20); do echo "N$i"; done; for i in $(seq 1 10); do echo "M$i"; done) |
	    sort | tr '\n' ' ' | sed 's/ $//')
	[ "$(ini_sections "$SL_TMP/B/state/failover.ini")" = "$want" ]
	[ -z "$(find "$SL_TMP/B/state" -name 'failover.ini?*' ! -name failover.ini.lock)" ]
	# slserve reads the result and backs up exactly those.
	sl_start B
	[ "$(curl -fsS -m 3 "$UB/v1/health" | jq -r '[.backs_up[].pool] | sort | join(" ")')" = "$want" ]
}
