#!/usr/bin/env bats
# slcheck check: the monitoring plugin — exit codes 0-3, one line with
# perfdata, thresholds as counts or percentages, bounded time.

load helpers-client

setup() {
	sl_setup
	sl_start_with lic1 "cad-1 cad 4 30" "view-1 viewer unlimited 30"
}

teardown() { sl_teardown; }

# well_formed: $output is one line "SL STATE - text | perfdata" where every
# perfdata item is 'label'=value;warn;crit;min;max.
well_formed() {
	local state=$1 perf item
	[ "${#lines[@]}" -eq 1 ] || { echo "not one line: $output" >&2; return 1; }
	[[ $output == "SL $state - "* ]] || { echo "not $state: $output" >&2; return 1; }
	[[ $output == *" | "* ]] || { echo "no perfdata: $output" >&2; return 1; }
	perf=${output#* | }
	for item in $perf; do
		[[ $item =~ ^\'[A-Za-z0-9._-]+\'=[0-9]+\;[@~0-9.:]*\;[@~0-9.:]*\;0\;[0-9]*$ ]] ||
		    { echo "bad perfdata item: $item" >&2; return 1; }
	done
}

@test "OK: usage under the thresholds, perfdata per product" {
	"$SLCHECK" -s "$URL_lic1" checkout cad >/dev/null
	run "$SLCHECK" -s "$URL_lic1" check -w 3 -c 4
	[ "$status" -eq 0 ]
	well_formed OK
	[ "$output" = "SL OK - cad 1/4, viewer 0/unlimited | 'cad'=1;3;4;0;4 'viewer'=0;3;4;0;" ]
}

@test "WARNING and CRITICAL by percentage; thresholds resolved into seats in perfdata" {
	for i in 1 2 3; do "$SLCHECK" -s "$URL_lic1" checkout cad >/dev/null; done
	run "$SLCHECK" -s "$URL_lic1" check -p cad -w 50% -c 80%
	[ "$status" -eq 1 ]
	well_formed WARNING
	[ "$output" = "SL WARNING - cad 3 in use; cad 3/4 | 'cad'=3;2;3.2;0;4" ]
	"$SLCHECK" -s "$URL_lic1" checkout cad >/dev/null
	run "$SLCHECK" -s "$URL_lic1" check -p cad -w 50% -c 80%
	[ "$status" -eq 2 ]
	well_formed CRITICAL
	[[ $output == *"'cad'=4;2;3.2;0;4" ]]
}

@test "range syntax: @ alerts inside, START: alerts below, percent on unlimited is ignored" {
	run "$SLCHECK" -s "$URL_lic1" check -p cad -w @0:0
	[ "$status" -eq 1 ]
	well_formed WARNING
	[[ $output == *"'cad'=0;@0:0;;0;4" ]]
	run "$SLCHECK" -s "$URL_lic1" check -p cad -c 1:
	[ "$status" -eq 2 ]
	[[ $output == *"'cad'=0;;1:;0;4" ]]
	run "$SLCHECK" -s "$URL_lic1" check -p viewer -w 1% -c 2%
	[ "$status" -eq 0 ]
	[ "$output" = "SL OK - viewer 0/unlimited | 'viewer'=0;;;0;" ]
}

@test "-p names one product; a product no server has is CRITICAL" {
	run "$SLCHECK" -s "$URL_lic1" check -p viewer
	[ "$status" -eq 0 ]
	[ "$output" = "SL OK - viewer 0/unlimited | 'viewer'=0;;;0;" ]
	run "$SLCHECK" -s "$URL_lic1" check -p nosuch
	[ "$status" -eq 2 ]
	[[ $output == "SL CRITICAL - product nosuch is not served by any server that answers"* ]]
}

@test "CRITICAL when no configured server answers, even a blackholed one, within -t" {
	cl_blackhole hole
	dead=$(cl_dead_url)
	cl_timed "$SLCHECK" -s "$URL_hole,s:$dead" check -t 2
	[ "$status" -eq 2 ]
	[[ $output == "SL CRITICAL - no license server answers: primary $URL_hole not answering ("* ]]
	[[ $output == *"secondary $dead not answering"* ]]
	[ "$ELAPSED_MS" -lt 2500 ]
	# -t is a hard bound whatever the configured timeouts say.
	printf 'primary = { "%s" }\ntimeout = 600\nconnect_timeout = 60\n' "$URL_hole" >"$SL_TMP/c.conf"
	cl_timed "$SLCHECK" -f "$SL_TMP/c.conf" check -t 1
	[ "$status" -eq 2 ]
	[ "$ELAPSED_MS" -lt 1500 ]
}

@test "WARNING when only a Secondary is serving; a blackholed Primary cannot starve it" {
	sl_start_with lic3 "cad-3 cad 5 30"
	cl_blackhole hole
	cl_timed "$SLCHECK" -s "$URL_hole,s:$URL_lic3" check -t 2 -p cad
	[ "$status" -eq 1 ]
	well_formed WARNING
	[[ $output == "SL WARNING - primary $URL_hole not answering ("*"), no Primary answers; cad 0/5 | 'cad'=0;;;0;5" ]]
	[ "$ELAPSED_MS" -lt 2500 ]
}

@test "a Secondary down is a WARNING; both up and OK sums their seats" {
	sl_start_with lic3 "cad-3 cad 5 30"
	run "$SLCHECK" -s "$URL_lic1,s:$URL_lic3" check -p cad
	[ "$status" -eq 0 ]
	[ "$output" = "SL OK - cad 0/9 | 'cad'=0;;;0;9" ]
	sl_stop lic3
	run "$SLCHECK" -s "$URL_lic1,s:$URL_lic3" check -p cad
	[ "$status" -eq 1 ]
	[[ $output == "SL WARNING - secondary $URL_lic3 not answering"*"; cad 0/4 | 'cad'=0;;;0;4" ]]
}

@test "WARNING when a backup serves a Primary's pool" {
	sl_stop lic1
	cl_pair pa "cad-1 cad 3 30" pb "own-2 other 5 30"
	export SL_SERVERS="$URL_pa+$URL_pb"
	run "$SLCHECK" check -p cad
	[ "$status" -eq 0 ]
	[ "$output" = "SL OK - cad 0/3 | 'cad'=0;;;0;3" ]
	sl_stop pa
	sl_until 10 sh -c "curl -fsS -m 1 '$URL_pb/v1/licenses' |
	    jq -e '.licenses[] | select(.pool == \"pa\") | .status == \"hot-retry\"' >/dev/null"
	run "$SLCHECK" check -p cad
	[ "$status" -eq 1 ]
	well_formed WARNING
	[[ $output == "SL WARNING - primary $URL_pa not answering ("*"), backup $URL_pb serving, no Primary answers; cad 0/3 | 'cad'=0;;;0;3" ]]
}

@test "--expiry-warn DAYS: a license expiring sooner is a WARNING" {
	sl_stop lic1
	soon=$(date -d '+10 days' +%F)
	sl_start_with lic9 "cad-9 cad 2 30 $soon"
	run "$SLCHECK" -s "$URL_lic9" check --expiry-warn 30
	[ "$status" -eq 1 ]
	well_formed WARNING
	[[ $output == "SL WARNING - license cad-9 on $URL_lic9 expires $soon (10 days); cad 0/2"* ]]
	run "$SLCHECK" -s "$URL_lic9" check --expiry-warn 5
	[ "$status" -eq 0 ]
	run "$SLCHECK" -s "$URL_lic9" check
	[ "$status" -eq 0 ]
}

@test "UNKNOWN on usage and configuration errors, as one line on stdout" {
	run --separate-stderr "$SLCHECK" -s "$URL_lic1" check -w 10:5
	[ "$status" -eq 3 ]
	[[ $output == 'SL UNKNOWN - -w: "10:5" is not a range'* ]]
	run --separate-stderr "$SLCHECK" -s "$URL_lic1" check -c abc
	[ "$status" -eq 3 ]
	run --separate-stderr "$SLCHECK" -s "$URL_lic1" check -t 0
	[ "$status" -eq 3 ]
	run --separate-stderr "$SLCHECK" -s "$URL_lic1" check -x
	[ "$status" -eq 3 ]
	[[ $output == "SL UNKNOWN - "* ]]
	run --separate-stderr "$SLCHECK" -s "$URL_lic1" check extra
	[ "$status" -eq 3 ]
	printf 'primary = nonsense {\n' >"$SL_TMP/bad.conf"
	run --separate-stderr "$SLCHECK" -f "$SL_TMP/bad.conf" check
	[ "$status" -eq 3 ]
	[[ $output == "SL UNKNOWN - $SL_TMP/bad.conf:1: "* ]]
}
