#!/usr/bin/env bats
# slctl report: figures from the usage log, online and offline (-D).

bats_require_minimum_version 1.5.0
load helpers

setup() { sl_setup_cd; }
teardown() { sl_teardown; }

T0=1700000000

# A usage log with known times: seat-hours can be checked exactly.
write_log() {
	mkdir -p st
	t() { echo $((T0 + $1)); }
	cat >st/usage.log <<L
{"ts":$(t 0),"event":"grant","license":"cad-1","product":"cad","pool":"lic1","lease":"a1","client":"c1","user":"alice","host":"h1","pid":1,"in_use":1,"max":2}
{"ts":$(t 100).5,"event":"grant","license":"view-free","product":"viewer","pool":"lic1","lease":"v1","client":"c1","user":"alice","host":"h1","pid":2,"in_use":1,"max":-1}
{"ts":$(t 600),"event":"grant","license":"cad-1","product":"cad","pool":"lic1","lease":"a2","client":"c2","user":"bob","host":"h2","pid":3,"in_use":2,"max":2}
{"ts":$(t 900),"event":"deny","license":"cad-1","product":"cad","pool":"lic1","lease":null,"client":"c3","user":"carol","host":"h3","pid":4,"in_use":2,"max":2,"error":"no_seats"}
this line is not JSON
{"ts":$(t 1800),"event":"checkin","license":"cad-1","product":"cad","pool":"lic1","lease":"a1","client":"c1","user":"alice","host":"h1","pid":1,"in_use":1,"max":2}
{"ts":$(t 2000),"event":"grant","license":"cad-1","product":"cad","pool":"lic1","lease":"a3","client":"c3","user":"carol","host":"h3","pid":4,"in_use":2,"max":2}
{"ts":$(t 3600),"event":"expire","license":"cad-1","product":"cad","pool":"lic1","lease":"a2","client":"c2","user":"bob","host":"h2","pid":3,"in_use":1,"max":2}
{"ts":$(t 5400),"event":"revoke","license":"cad-1","product":"cad","pool":"lic1","lease":"a3","client":"c3","user":"carol","host":"h3","pid":4,"in_use":0,"max":2,"reason":"x","by":"admin"}
{"ts":$(t 7200).5,"event":"checkin","license":"view-free","product":"viewer","pool":"lic1","lease":"v1","client":"c1","user":"alice","host":"h1","pid":2,"in_use":0,"max":-1}
L
}

@test "offline report over the whole log: exact figures" {
	write_log
	run "$SLCTL" -D st report --until @$((T0 + 10000))
	assert_success
	assert_line --index 0 --regexp '^LICENSE +PRODUCT +PEAK +MAX +CHECKOUTS +DENIALS +SEAT-HOURS +TOP USERS$'
	assert_line --regexp '^cad-1 +cad +2 +2 +3 +1 +2\.28 +carol\(0\.94\) bob\(0\.83\) alice\(0\.50\)$'
	assert_line --regexp '^view-free +viewer +1 +unlimited +1 +0 +1\.97 +alice\(1\.97\)$'
	assert_output --partial "1 malformed usage log lines skipped"
	run "$SLCTL" -D st report --until @$((T0 + 10000)) --json
	assert_success
	json=$(grep -v '^slctl:' <<<"$output")
	jq -e '.by == "license" and (.rows | length) == 2' <<<"$json"
	jq -e '.rows[0] | .license == "cad-1" and .peak == 2 and .max == 2 and .checkouts == 3 and .denials == 1 and .seat_seconds == 8200' <<<"$json"
	jq -e '.rows[0].top_users | map(.user) == ["carol","bob","alice"] and map(.seat_seconds) == [3400,3000,1800]' <<<"$json"
	jq -e '.rows[1] | .license == "view-free" and .max == -1 and .peak == 1 and .checkouts == 1 and .seat_seconds == 7100' <<<"$json"
}

@test "offline report for a window: seats held at its start count" {
	write_log
	run "$SLCTL" -D st report --since @$((T0 + 1000)) --until @$((T0 + 4000)) --json
	assert_success
	json=$(grep -v '^slctl:' <<<"$output")
	jq -e '.rows[0] | .license == "cad-1" and .peak == 2 and .checkouts == 1 and .denials == 0 and .seat_seconds == 5400' <<<"$json"
	jq -e '.rows[0].top_users | map({(.user): .seat_seconds}) | add == {"bob":2600,"carol":2000,"alice":800}' <<<"$json"
	jq -e '.rows[1] | .license == "view-free" and .peak == 1 and .checkouts == 0 and .seat_seconds == 3000' <<<"$json"
	# --top limits the users
	run "$SLCTL" -D st report --since @$((T0 + 1000)) --until @$((T0 + 4000)) --top 1
	assert_line --regexp '^cad-1 +cad +2 +2 +1 +0 +1\.50 +bob\(0\.72\)$'
}

@test "offline report by user and by host; CSV" {
	write_log
	run "$SLCTL" -D st report --until @$((T0 + 10000)) --by user --json
	assert_success
	json=$(grep -v '^slctl:' <<<"$output")
	jq -e '[.rows[] | {(.user): [.checkouts, .denials, .seat_seconds, .peak]}] | add == {"alice":[2,0,8900,2],"bob":[1,0,3000,1],"carol":[1,1,3400,1]}' <<<"$json"
	jq -e '.rows[0].top_licenses | map(.license) == ["view-free","cad-1"]' <<<"$json"
	run "$SLCTL" -D st report --until @$((T0 + 10000)) --by host
	assert_success
	assert_line --index 0 --regexp '^HOST +PEAK +CHECKOUTS +DENIALS +SEAT-HOURS +TOP USERS$'
	assert_line --regexp '^h1 +2 +2 +0 +2\.47 +alice\(2\.47\)$'
	assert_line --regexp '^h3 +1 +1 +1 +0\.94 +carol\(0\.94\)$'
	run "$SLCTL" -D st report --until @$((T0 + 10000)) --csv
	assert_success
	assert_line --index 0 "license,product,peak,max,checkouts,denials,seat_hours,top_users"
	assert_line --index 1 "cad-1,cad,2,2,3,1,2.2778,carol(0.94) bob(0.83) alice(0.50)"
	assert_line --index 2 "view-free,viewer,1,-1,1,0,1.9722,alice(1.97)"
}

@test "report: a refused unknown product has no license: null in JSON, empty in CSV" {
	write_log
	printf '{"ts":%s,"event":"deny","license":null,"product":"nosuch","pool":"lic1","lease":null,"client":"c9","user":"dave","host":"h9","pid":9,"error":"unknown_product"}\n' \
	    "$((T0 + 950))" >>st/usage.log
	run --separate-stderr "$SLCTL" -D st report --until @$((T0 + 10000)) --json
	assert_success
	jq -e '[.rows[] | select(.license == null)] | length == 1 and .[0].denials == 1 and .[0].max == null' <<<"$output"
	jq -e 'all(.rows[]; .license != "-")' <<<"$output"
	run --separate-stderr "$SLCTL" -D st report --until @$((T0 + 10000)) --csv
	assert_success
	assert_line --regexp '^,nosuch,0,,0,1,0\.0000,$'
	run --separate-stderr "$SLCTL" -D st report --until @$((T0 + 10000)) --by user --json
	jq -e '[.rows[] | select(.user == "dave")] | length == 1' <<<"$output"
}

@test "report date forms; a bad date is a usage error" {
	write_log
	run "$SLCTL" -D st report --since 2023-11-14 --until 2023-11-16T00:00 --json
	assert_success
	run "$SLCTL" -D st report --since 7d
	assert_success
	run "$SLCTL" -D st report --since yesterday
	assert_equal "$status" 64
	run "$SLCTL" -D st report --since @$((T0 + 10)) --until @$((T0 + 5))
	assert_equal "$status" 64
	# no usage log yet: an empty report
	mkdir empty
	run "$SLCTL" -D empty report
	assert_success
	[ "${#lines[@]}" -eq 1 ]
}

@test "online report matches a scripted sequence of checkouts" {
	sl_serve lic1
	U=$(sl_url lic1)
	a=$(sl_co_lease "$U" cad client=ca user=alice host=ha pid=100)
	sl_co_lease "$U" cad client=cb user=bob host=hb pid=100 >/dev/null
	sl_co "$U" cad client=cc user=carol host=hc pid=100
	sl_expect 409
	sl_checkin "$U" "$a"
	sl_expect 200
	sl_co_lease "$U" cad client=cc user=carol host=hc pid=100 >/dev/null
	sl_co "$U" cad client=cd user=dave host=hd pid=100
	sl_expect 409
	sl_co_lease "$U" viewer client=ca user=alice host=ha pid=100 >/dev/null
	run "$SLCTL" -s "$U" -D "$SL_TMP/lic1/state" report --json
	assert_success
	jq -e '.rows[] | select(.license == "cad-1") | .peak == 2 and .max == 2 and .checkouts == 3 and .denials == 2' <<<"$output"
	jq -e '.rows[] | select(.license == "cad-1") | .top_users | map(.user) | sort == ["alice","bob","carol"]' <<<"$output"
	jq -e '.rows[] | select(.license == "view-free") | .peak == 1 and .max == -1 and .checkouts == 1 and .denials == 0' <<<"$output"
	run "$SLCTL" -s "$U" -D "$SL_TMP/lic1/state" report --by user --json
	assert_success
	jq -e '[.rows[] | {(.user): [.checkouts, .denials]}] | add == {"alice":[2,0],"bob":[1,0],"carol":[1,1],"dave":[0,1]}' <<<"$output"
	# offline on the same log gives the same counts
	run "$SLCTL" -D "$SL_TMP/lic1/state" report --by user --json
	assert_success
	jq -e '[.rows[] | {(.user): [.checkouts, .denials]}] | add == {"alice":[2,0],"bob":[1,0],"carol":[1,1],"dave":[0,1]}' <<<"$output"
	# a wrong token: 401, exit 77
	SL_TOKEN=wrong run "$SLCTL" -s "$U" report
	assert_equal "$status" 77
}
