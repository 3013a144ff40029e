#!/usr/bin/env bats
# Operators see trouble at a glance (issue 18): a backup that went silent or
# whose polls are refused, and licenses that cannot serve (expired, bound to
# another host), in /v1/health, /v1/licenses, slctl, slcheck check and the log.

load helpers-failover

setup() { fo_setup; }
teardown() { sl_teardown; }

# lost_limit: the longest a Primary may take to call a stopped backup lost
# (three of its poll intervals and a tick), plus the margin of a busy machine.
lost_limit() { awk -v p="$FO_POLL" -v m="$FO_MARGIN" 'BEGIN { print 3 * p + 1 + m }'; }

# log_count NAME TEXT: how many lines of NAME's log hold TEXT.
log_count() { grep -cF -- "$2" "$SL_TMP/$1/log" || true; }

@test "backup killed: lost on the Primary everywhere, then back" {
	fo_start_pair "cad-a cad 3 30"
	fo_lic_is "$UA" cad-a '.redundancy == "ok"'
	sl_health_is "$UA" '.backups[0] | .name == "B" and .state == "polling" and .since == null'
	run "$SLCHECK" -s "$UA" check
	assert_output "SL OK - cad 0/3 | 'cad'=0;;;0;3"
	[ "$status" -eq 0 ]

	sl_kill9 B
	sl_until "$(lost_limit)" sl_health_is "$UA" \
	    '.backups[0] | .name == "B" and .state == "lost" and (.since | type == "number")'
	fo_lic_is "$UA" cad-a '.redundancy == "lost" and .status == "hot"'
	run "$SLCHECK" -s "$UA" check
	[ "$status" -eq 1 ]
	assert_output --regexp "^SL WARNING - backup B of A lost \(last poll [0-9]+s ago\); cad 0/3 \| 'cad'=0;;;0;3\$"
	run "$SLCTL" -s "$UA" servers
	[ "$status" -eq 1 ]
	assert_line --regexp "^http://127\.0\.0\.1:[0-9]+ +up +A +.* +- +B\(lost\)\$"
	assert_line --regexp "^slctl: $UA: backup \"B\" lost since [0-9-]+ [0-9:]+ \(last poll [0-9.]+s ago\): this server has no backup\$"
	run "$SLCTL" -s "$UA" status
	[ "$status" -eq 0 ]
	assert_line --regexp '^cad-a +cad +0 +3 +0 +primary +hot,backup_lost +A +never$'
	# The status page marks the license and the backup the same way.
	curl -fsS -m 5 -o "$SL_TMP/page.html" "$UA/"
	grep -Fq '<span class="st hot">hot</span><span class="mark">,backup_lost</span>' "$SL_TMP/page.html"
	grep -Eq "<td>B</td><td>$UB</td><td>[0-9.]+s ago</td><td class=\"lost\">lost since [0-9-]+ [0-9:]+ [A-Z]+</td>" "$SL_TMP/page.html"
	sl_until 5 grep -q "backup \"B\" at $UB lost: no poll for" "$SL_TMP/A/log"
	[ "$(log_count A 'lost: no poll for')" -eq 1 ]

	sl_start B
	sl_until $((5 + FO_MARGIN)) fo_lic_is "$UA" cad-a '.redundancy == "ok" and .status == "hot-warm"'
	sl_health_is "$UA" '.backups[0] | .state == "polling" and .since == null'
	sl_until 5 grep -q "backup \"B\" at $UB is back: it polls again" "$SL_TMP/A/log"
	[ "$(log_count A "lost: no poll for")" -eq 1 ]
	[ "$(log_count A "is back: it polls again")" -eq 1 ]
	run "$SLCHECK" -s "$UA" check
	assert_output "SL OK - cad 0/3 | 'cad'=0;;;0;3"
	[ "$status" -eq 0 ]
	run "$SLCTL" -s "$UA" servers
	[ "$status" -eq 0 ]
	refute_output --partial lost
}

@test "a Primary restarted remembers its backup: lost if it never polls again" {
	fo_start_pair "cad-a cad 3 30"
	sl_stop B
	sl_stop A
	sl_start A
	sl_until "$(lost_limit)" fo_lic_is "$UA" cad-a '.redundancy == "lost"'
	sl_health_is "$UA" '.backups[0] | .name == "B" and .state == "lost" and .last_poll_age == null'
	run "$SLCHECK" -s "$UA" check
	[ "$status" -eq 1 ]
	assert_output "SL WARNING - backup B of A lost (no poll since A started); cad 0/3 | 'cad'=0;;;0;3"
}

@test "backup refused by its Primary (wrong peer token): failed polls with the reason, no takeover, WARNING" {
	fo_pair "cad-a cad 3 30"
	fo_config A
	sl_token "$SL_TMP/other.token"
	fo_ports B
	sl_server_config B "$(fo_port B)" "peer_token_file = \"$SL_TMP/other.token\"" "$(fo_backs_up A)"
	sl_start A
	sl_start B
	# Five times the polls a takeover would need.
	sl_until $((10 + FO_MARGIN)) sl_health_is "$UB" ".backs_up[0].failed_polls >= $((5 * FO_FAIL))"
	sl_health_is "$UB" '.backs_up[0] | .pool == "A" and .status == "warm" and
	    .refused_polls >= 1 and .failed_polls >= .refused_polls and
	    (.last_error | startswith("refused: HTTP 401"))'
	sl_co "$UB" cad pool=A
	sl_expect 503 '.error == "not_serving"'
	refute grep -q 'took over' "$SL_TMP/B/log"
	# A never heard of B: its own pool has no backup.
	fo_lic_is "$UA" cad-a '.redundancy == "none" and .status == "hot"'

	run "$SLCHECK" -s "$UA,$UB" check -p cad
	[ "$status" -eq 1 ]
	assert_output --regexp "^SL WARNING - backup B: A refuses its polls \(refused: HTTP 401: [^)]*\); cad 0/5 \| 'cad'=0;;;0;5\$"
	curl -fsS -m 5 -o "$SL_TMP/page.html" "$UB/"
	grep -Eq '<td class="num">[0-9]+</td><td class="lost">refused: HTTP 401: [^<]+</td>' "$SL_TMP/page.html"
	run "$SLCTL" -s "$UB" servers
	[ "$status" -eq 1 ]
	assert_line --regexp "^slctl: $UB: \"A\" refuses the polls of this backup \(refused: HTTP 401: .*\): it does not back \"A\" up\$"
}

# unservable_licenses: lic1's licenses: cad-1 good, cad-old expired,
# cad-far bound to another host, and (with "sim") sim-old, sim's only one.
unservable_licenses() {
	mkdir -p "$SL_TMP/lic1"
	{
		printf 'license "%s" {\n  product = "cad"\n  count = %s\n  expires = "%s"\n  host = "%s"\n  timeout = 30\n}\n' \
		    cad-1 4 never any cad-old 5 2020-01-01 any cad-far 6 never elsewhere.example.org
		[ "${1:-}" != sim ] ||
		    printf 'license "sim-old" {\n  product = "sim"\n  count = 2\n  expires = "2021-06-30"\n  host = "any"\n  timeout = 30\n}\n'
	} >"$SL_TMP/lic1/licenses.conf"
	fo_ports lic1
	sl_server_config lic1 "$(fo_port lic1)"
	sl_start lic1
}

@test "expired and host-bound licenses: flagged, logged at start and reload, no capacity in check" {
	unservable_licenses
	local u=$URL_lic1
	fo_lic_is "$u" cad-1 '.servable == true and (has("why") | not) and .redundancy == "none"'
	fo_lic_is "$u" cad-old '.servable == false and .why == "expired"'
	fo_lic_is "$u" cad-far '.servable == false and .why == "wrong_host"'
	[ "$(log_count lic1 'license "cad-old" (cad) expired 2020-01-01: it cannot be served')" -eq 1 ]
	[ "$(log_count lic1 'license "cad-far" (cad) is bound to host "elsewhere.example.org"')" -eq 1 ]

	run "$SLCHECK" -s "$u" check
	[ "$status" -eq 1 ]
	assert_output "SL WARNING - license cad-old on $u expired 2020-01-01, not served, license cad-far on $u bound to host elsewhere.example.org, not served; cad 0/4 | 'cad'=0;;;0;4"
	run "$SLCHECK" -s "$u" check -w 50% -c 75%
	[ "$status" -eq 1 ]
	assert_output --partial "| 'cad'=0;2;3;0;4"

	run "$SLCTL" -s "$u" status
	[ "$status" -eq 0 ]
	assert_line --regexp '^cad-1 +cad +0 +4 +0 +primary +hot +lic1 +never$'
	assert_line --regexp '^cad-old +cad +0 +5 +0 +primary +hot,expired +lic1 +2020-01-01$'
	assert_line --regexp '^cad-far +cad +0 +6 +0 +primary +hot,wrong_host +lic1 +never$'
	curl -fsS -m 5 -o "$SL_TMP/page.html" "$u/"
	grep -Fq '<td class="id">cad-old</td><td>cad</td><td>primary</td><td><span class="st hot">hot</span><span class="mark">,expired</span></td>' "$SL_TMP/page.html"
	grep -Fq '<td class="id">cad-far</td><td>cad</td><td>primary</td><td><span class="st hot">hot</span><span class="mark">,wrong_host</span></td>' "$SL_TMP/page.html"

	kill -HUP "$(sl_pid lic1)"
	sl_until 10 grep -q 'reloaded ' "$SL_TMP/lic1/log"
	[ "$(log_count lic1 'license "cad-old" (cad) expired 2020-01-01: it cannot be served')" -eq 2 ]
	[ "$(log_count lic1 'license "cad-far" (cad) is bound to host "elsewhere.example.org"')" -eq 2 ]
}

@test "CRITICAL when the only license of a product is expired" {
	unservable_licenses sim
	local u=$URL_lic1
	fo_lic_is "$u" sim-old '.servable == false and .why == "expired"'
	run "$SLCHECK" -s "$u" check
	[ "$status" -eq 2 ]
	assert_output "SL CRITICAL - license cad-old on $u expired 2020-01-01, not served, license cad-far on $u bound to host elsewhere.example.org, not served, license sim-old on $u expired 2021-06-30, not served, sim has no servable license; cad 0/4, sim 0/0 | 'cad'=0;;;0;4 'sim'=0;;;0;0"
}
