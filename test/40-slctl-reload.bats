#!/usr/bin/env bats
# slctl reload: what changed, and a broken file that changes nothing.

load helpers

setup() {
	sl_setup_cd
	sl_serve lic1
	U=$(sl_url lic1)
	LIC="$SL_TMP/lic1/licenses.conf"
	CTL=("$SLCTL" -s "$U" -D "$SL_TMP/lic1/state")
}
teardown() { sl_teardown; }

@test "reload prints added, removed and changed licenses, keeping leases" {
	a=$(sl_co_lease "$U" cad client=c1 user=alice host=h1 pid=100)
	# cad-1: count 2 -> 5; sim-hard removed; new cad-2 added
	sed -i 's/count   = 2/count   = 5/' "$LIC"
	awk '/^license "sim-hard"/{skip=1} skip&&/^}/{skip=0; next} !skip' "$LIC" >"$LIC.new"
	mv "$LIC.new" "$LIC"
	cat >>"$LIC" <<'L'
license "cad-2" {
  product = "cad"
  count   = 3
  expires = "never"
  host    = "any"
  timeout = 30
}
L
	run "${CTL[@]}" reload
	assert_success
	assert_line "added cad-2"
	assert_line "removed sim-hard"
	assert_line "changed cad-1 count 2 -> 5"
	[ "${#lines[@]}" -eq 3 ]
	[ "$(sl_in_use "$U" cad-1)" = 1 ]
	sl_heartbeat "$U" "$a"
	sl_expect 200
	run "${CTL[@]}" reload
	assert_success
	assert_output "no changes"
	run "${CTL[@]}" reload --json
	assert_success
	echo "$output" | jq -e '.added == [] and .removed == [] and .changed == []'
}

@test "reload of a broken file: exit 1, message names file:line, licenses unchanged" {
	before=$(sl_licenses_summary "$U")
	cat >>"$LIC" <<'L'
license "broken" {
  product = "cad"
  count   = "lots"
}
L
	line=$(grep -n '^license "broken"' "$LIC" | cut -d: -f1)
	run "${CTL[@]}" reload
	assert_equal "$status" 1
	assert_output --regexp "reload refused, nothing changed: .*licenses\.conf:($line|$((line + 1))|$((line + 2))|$((line + 3))):"
	[ "${#lines[@]}" -eq 1 ]
	[ "$(sl_licenses_summary "$U")" = "$before" ]
	# a syntax error too
	printf 'license "x" {\n  product = \n' >>"$LIC"
	run "${CTL[@]}" reload
	assert_equal "$status" 1
	assert_output --regexp "licenses\.conf:[0-9]+:"
	[ "$(sl_licenses_summary "$U")" = "$before" ]
}

@test "reload with a wrong token changes nothing" {
	before=$(sl_licenses_summary "$U")
	sed -i 's/count   = 2/count   = 7/' "$LIC"
	SL_TOKEN=wrong run "$SLCTL" -s "$U" reload
	assert_equal "$status" 77
	[ "$(sl_licenses_summary "$U")" = "$before" ]
}
