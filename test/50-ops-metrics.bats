#!/usr/bin/env bats
# GET /metrics: the Prometheus text format, checked with promtool.

load helpers-ops
load helpers-failover

setup() {
	command -v promtool >/dev/null ||
	    skip "promtool is not installed (Debian package prometheus; scripts/deps.sh installs it)"
	sl_setup_cd
}
teardown() { sl_teardown; }

@test "metrics: valid for promtool; seats, denials, status and counters" {
	sl_serve lic1
	u=$(sl_url lic1)
	tok=$(sl_admin_token lic1)
	l1=$(sl_co_lease "$u" cad client=c1)
	sl_co_lease "$u" cad client=c2 >/dev/null
	sl_req POST "$u/v1/checkout" '{"product":"cad","client":"c3"}'
	sl_expect 409
	sl_req POST "$u/v1/checkout" '{"product":"nosuch"}'
	sl_expect 404
	sl_req DELETE "$u/v1/leases/$l1" -
	sl_expect 200
	l3=$(sl_co_lease "$u" sim client=c1)
	# A hard seat is confirmed once (its answer sent, or this heartbeat):
	# one confirm record, whichever comes first (slserve(8), Leases).
	sl_req POST "$u/v1/leases/$l3/heartbeat" -
	sl_expect 200
	sl_req POST "$u/v1/leases/$l3/revoke" '{}' -H "Authorization: Bearer $tok"
	sl_expect 200

	curl -fsS -m 5 -D headers "$u/metrics" >metrics.txt
	run promtool check metrics <metrics.txt
	assert_success
	assert_output ""
	grep -Fxi 'Content-Type: text/plain; version=0.0.4; charset=utf-8' <(tr -d '\r' <headers)

	cat >want <<'EOF'
sl_license_seats_in_use{license="cad-1",product="cad",pool="lic1",role="primary"} 1
sl_license_seats_in_use{license="sim-hard",product="sim",pool="lic1",role="primary"} 0
sl_license_seats_in_use{license="view-free",product="viewer",pool="lic1",role="primary"} 0
sl_license_seats_max{license="cad-1",product="cad",pool="lic1",role="primary"} 2
sl_license_seats_max{license="sim-hard",product="sim",pool="lic1",role="primary"} 1
sl_license_denials_total{license="cad-1",product="cad",pool="lic1"} 1
sl_license_denials_total{license="sim-hard",product="sim",pool="lic1"} 0
sl_license_denials_total{license="view-free",product="viewer",pool="lic1"} 0
sl_product_denials_total{pool="lic1",product="cad",reason="no_seats"} 1
sl_license_status{license="cad-1",product="cad",pool="lic1",status="hot"} 1
sl_license_status{license="cad-1",product="cad",pool="lic1",status="hot-warm"} 0
sl_license_status{license="cad-1",product="cad",pool="lic1",status="warm"} 0
sl_license_status{license="cad-1",product="cad",pool="lic1",status="hot-retry"} 0
sl_license_info{license="cad-1",product="cad",pool="lic1",role="primary",served_by="lic1",expires="never"} 1
sl_grants_total 3
sl_checkins_total 1
sl_expiries_total 0
sl_revokes_total 1
sl_denials_total 2
EOF
	while IFS= read -r line; do
		grep -Fxq -- "$line" metrics.txt || { echo "missing: $line" >&2; cat metrics.txt >&2; false; }
	done <want
	# Five seat changes, five journal records; group commit puts them on
	# disk in at most as many writes, each with its own sync (fsync on).
	grep -Fxq 'sl_journal_records_total 6' metrics.txt
	w=$(awk '$1 == "sl_journal_writes_total" { print $2 }' metrics.txt)
	s=$(awk '$1 == "sl_journal_syncs_total" { print $2 }' metrics.txt)
	[ "$w" -ge 1 ] && [ "$w" -le 5 ] && [ "$s" = "$w" ]
	# and each write (with its sync) is timed once.
	grep -Fxq '# TYPE sl_journal_write_duration_seconds histogram' metrics.txt
	grep -Fxq "sl_journal_write_duration_seconds_count $w" metrics.txt
	grep -Fxq "sl_journal_write_duration_seconds_bucket{le=\"+Inf\"} $w" metrics.txt
	grep -Fxq '# TYPE sl_grants_total counter' metrics.txt
	grep -Fxq '# TYPE sl_license_seats_in_use gauge' metrics.txt
	grep -Fxq '# TYPE sl_http_request_duration_seconds histogram' metrics.txt
	# The unknown product is no label value: it counts in sl_denials_total.
	[ "$(grep -c '^sl_product_denials_total{' metrics.txt)" -eq 1 ]
	! grep -q nosuch metrics.txt
	# Unlimited is no sample, not a number that sums wrong.
	! grep -q '^sl_license_seats_max{license="view-free"' metrics.txt
	# The epoch is not on build_info (one series across restarts), but on
	# the start time, which changes with it.
	grep -Eq '^sl_build_info\{version="[^"]+",server="lic1"\} 1$' metrics.txt
	epoch=$(curl -fsS -m 5 "$u/v1/health" | jq -r .epoch)
	grep -Eq "^sl_start_time_seconds\\{epoch=\"$epoch\"\\} [0-9]+\$" metrics.txt
}

@test "metrics: HEAD is answered like GET, without a body" {
	sl_serve lic1
	u=$(sl_url lic1)
	run curl -sS -m 5 -I -o /dev/null -w '%{http_code} %{size_download}' "$u/metrics"
	assert_success
	assert_output "200 0"
	curl -sS -m 5 -I "$u/metrics" | tr -d '\r' >headers
	grep -Fxi 'Content-Type: text/plain; version=0.0.4; charset=utf-8' headers
}

@test "metrics: every license of /v1/licenses, with the same figures" {
	sl_serve lic1
	u=$(sl_url lic1)
	sl_co_lease "$u" viewer client=c1 >/dev/null
	sl_co_lease "$u" viewer client=c1 >/dev/null
	sl_co_lease "$u" sim client=c1 >/dev/null
	sl_req POST "$u/v1/checkout" '{"product":"sim"}'
	sl_expect 409
	curl -fsS -m 5 "$u/v1/licenses" >licenses.json
	ops_metrics "$u" metrics.txt
	jq -r '.licenses[] | "{license=\"\(.id)\",product=\"\(.product)\",pool=\"\(.pool)\"}" as $l |
	    "sl_license_seats_in_use\($l | .[:-1]),role=\"\(.role)\"} \(.in_use)",
	    (select(.max >= 0) | "sl_license_seats_max\($l | .[:-1]),role=\"\(.role)\"} \(.max)"),
	    "sl_license_denials_total\($l) \(.fails)",
	    "sl_license_status\($l | .[:-1]),status=\"\(.status)\"} 1"' licenses.json >want
	# viewer is unlimited: no seats_max sample.
	[ "$(wc -l <want)" -eq 11 ]
	while IFS= read -r line; do
		grep -Fxq -- "$line" metrics.txt || { echo "missing: $line" >&2; false; }
	done <want
	# One sample per license and status, no more.
	[ "$(grep -c '^sl_license_seats_in_use{' metrics.txt)" -eq 3 ]
	[ "$(grep -c '^sl_license_status{' metrics.txt)" -eq 12 ]
	[ "$(grep -c '^sl_license_status{.*} 1$' metrics.txt)" -eq 3 ]
}

# sum_count FILE: the requests counted in all series of the latency histogram.
sum_count() {
	awk '/^sl_http_request_duration_seconds_count\{/ { n += $NF } END { print n + 0 }' "$1"
}

@test "metrics: the latency histogram counts each answered request once, by route and code" {
	sl_serve lic1
	u=$(sl_url lic1)
	ops_metrics "$u" m1.txt
	n1=$(sum_count m1.txt)
	# the health calls that waited for the start
	h1=$(awk '$1 == "sl_http_request_duration_seconds_count{route=\"health\",code=\"200\"}" { print $2 }' m1.txt)
	[ "$h1" -ge 1 ]
	for i in 1 2 3 4 5; do curl -fsS -m 5 -o /dev/null "$u/v1/health"; done
	curl -sS -m 5 -o /dev/null "$u/no/such/path"
	# The first scrape, five health calls and the 404: seven more, counted
	# once each answer is sent; and each scrape here counts in the next one.
	scrapes=0
	scrape_counts_all() {
		ops_metrics "$u" m2.txt
		want=$((n1 + 7 + scrapes))
		scrapes=$((scrapes + 1))
		[ "$(sum_count m2.txt)" = "$want" ]
	}
	sl_until 3 scrape_counts_all
	run promtool check metrics <m2.txt
	assert_success
	assert_output ""
	grep -Fxq "sl_http_request_duration_seconds_count{route=\"health\",code=\"200\"} $((h1 + 5))" m2.txt
	grep -Fxq 'sl_http_request_duration_seconds_count{route="other",code="404"} 1' m2.txt
	grep -Eq '^sl_http_request_duration_seconds_count\{route="metrics",code="200"\} [0-9]+$' m2.txt
	# Buckets of each series are cumulative, end with +Inf, and +Inf
	# equals that series' count.
	awk -v want=$((h1 + 5)) '
	    /^sl_http_request_duration_seconds_bucket\{route="health",code="200",/ {
		if ($2 < last) bad = 1; last = $2; n++; inf = $0 }
	    END { exit !(n == 15 && !bad && inf ~ /le="\+Inf"\} / && last == want) }' m2.txt
	grep -Eq '^sl_http_request_duration_seconds_sum\{route="health",code="200"\} [0-9]+\.[0-9]{6}$' m2.txt
}

@test "metrics: request routes are a fixed set; no id, path or product becomes a label" {
	sl_serve lic1
	u=$(sl_url lic1)
	l=$(sl_co_lease "$u" cad client=c1)
	sl_req POST "$u/v1/leases/$l/heartbeat" -
	sl_expect 200
	sl_req POST "$u/v1/leases/nosuchlease/heartbeat" -
	sl_expect 404
	sl_req DELETE "$u/v1/leases/$l" -
	sl_expect 200
	sl_req PUT "$u/v1/health" -
	sl_expect 405
	sl_req GET "$u/v1/leases" -
	sl_expect 401
	sl_req GET "$u/zzz/$RANDOM" -
	sl_expect 404
	sl_req POST "$u/v1/checkout" '{"product":"nosuch-product"}'
	sl_expect 404
	sl_until 3 ops_metric_is "$u" 'sl_http_request_duration_seconds_count{route="checkout",code="404"}' 1
	ops_metrics "$u" m.txt
	run promtool check metrics <m.txt
	assert_success
	assert_output ""
	grep '^sl_http_request_duration_seconds_count{' m.txt |
	    sed 's/^sl_http_request_duration_seconds_count//; s/ [0-9]*$//' | sort >got
	printf '%s\n' '{route="checkin",code="200"}' '{route="checkout",code="201"}' \
	    '{route="checkout",code="404"}' '{route="health",code="200"}' \
	    '{route="heartbeat",code="200"}' \
	    '{route="heartbeat",code="404"}' '{route="leases",code="401"}' \
	    '{route="metrics",code="200"}' \
	    '{route="other",code="404"}' '{route="other",code="405"}' | sort >want
	diff -u want got
	! grep -Eq "$l|nosuch|zzz" m.txt
}

@test "metrics: a refusal counts on the license at fault, or once on its product" {
	mkdir -p lic1
	for spec in "cad-a cad 1 never" "cad-b cad 1 never" "sim-old sim 5 2020-01-01" \
	    "sim-new sim 1 never"; do
		read -r id product count expires <<<"$spec"
		printf 'license "%s" {\n product = "%s"\n count = %s\n expires = "%s"\n host = "any"\n timeout = 0\n}\n' \
		    "$id" "$product" "$count" "$expires"
	done >lic1/licenses.conf
	sl_serve lic1
	u=$(sl_url lic1)
	sl_co_lease "$u" cad client=c1 >/dev/null
	sl_co_lease "$u" cad client=c2 >/dev/null
	# Both cad licenses full: the product's refusal, on no license.
	sl_req POST "$u/v1/checkout" '{"product":"cad","client":"c3"}'
	sl_expect 409
	sl_req POST "$u/v1/checkout" '{"product":"cad","client":"c4"}'
	sl_expect 409
	# sim: one expired license and one that serves, then is full: the
	# full one is the only license that could have served.
	sl_co_lease "$u" sim client=c1 >/dev/null
	sl_req POST "$u/v1/checkout" '{"product":"sim","client":"c2"}'
	sl_expect 409
	ops_metrics "$u" m.txt
	run promtool check metrics <m.txt
	assert_success
	assert_output ""
	grep -E '^(sl_license_denials_total\{|sl_product_denials_total\{|sl_denials_total )' m.txt >got
	cat >want <<'WANT'
sl_license_denials_total{license="cad-a",product="cad",pool="lic1"} 0
sl_license_denials_total{license="cad-b",product="cad",pool="lic1"} 0
sl_license_denials_total{license="sim-old",product="sim",pool="lic1"} 0
sl_license_denials_total{license="sim-new",product="sim",pool="lic1"} 1
sl_denials_total 3
sl_product_denials_total{pool="lic1",product="cad",reason="no_seats"} 2
sl_product_denials_total{pool="lic1",product="sim",reason="no_seats"} 1
WANT
	diff -u want got
	# FAILS in /v1/licenses is the same figure.
	curl -fsS -m 5 "$u/v1/licenses" |
	    jq -e '[.licenses[] | {(.id): .fails}] | add == {"cad-a":0,"cad-b":0,"sim-old":0,"sim-new":1}'
}

@test "metrics: failover status and poll age per Primary, on both sides" {
	ops_start_pair
	u1=$(sl_url lic1) u2=$(sl_url lic2)
	sl_until 5 ops_metric_is "$u2" \
	    "sl_failover_status{primary=\"lic1\",url=\"$u1\",status=\"warm\"}" 1
	age=$(ops_metric "$u2" 'sl_failover_last_poll_age_seconds{primary="lic1"}')
	awk -v a="$age" 'BEGIN { exit !(a >= 0 && a < 2) }'
	ops_metric_is "$u2" 'sl_failover_failed_polls{primary="lic1"}' 0
	sl_until 5 ops_metric_is "$u1" \
	    'sl_license_status{license="cad-1",product="cad",pool="lic1",status="hot-warm"}' 1
	age=$(ops_metric "$u1" "sl_backup_last_poll_age_seconds{backup=\"lic2\",url=\"$u2\"}")
	awk -v a="$age" 'BEGIN { exit !(a >= 0 && a < 2) }'
	ops_metric_is "$u1" "sl_backup_up{backup=\"lic2\",url=\"$u2\"}" 1
	for u in "$u1" "$u2"; do
		ops_metrics "$u" m.txt
		run promtool check metrics <m.txt
		assert_success
	done

	# The Primary stops: the backup serves its pool.
	sl_stop lic1
	sl_until 10 ops_metric_is "$u2" \
	    "sl_failover_status{primary=\"lic1\",url=\"$u1\",status=\"hot-retry\"}" 1
	ops_metric_is "$u2" "sl_failover_status{primary=\"lic1\",url=\"$u1\",status=\"warm\"}" 0
	ops_metric_is "$u2" \
	    'sl_license_status{license="cad-1",product="cad",pool="lic1",status="hot-retry"}' 1
	n=$(ops_metric "$u2" 'sl_failover_failed_polls{primary="lic1"}')
	[ "$n" -ge 3 ]
}

@test "metrics: label values are escaped; a Primary never polled is +Inf old" {
	sl_serve lic1
	u=$(sl_url lic1)
	# A URL with a double quote and a backslash, set at run time.
	ops_ghost lic1 'http://127.0.0.1:9/a"b\c'
	ops_metrics "$u" m.txt
	run promtool check metrics <m.txt
	assert_success
	grep -Fx 'sl_failover_status{primary="ghost",url="http://127.0.0.1:9/a\"b\\c",status="warm"} 1' m.txt
	grep -Fx 'sl_failover_last_poll_age_seconds{primary="ghost"} +Inf' m.txt
}

@test "metrics: journal syncs are min_sync_interval apart, however fast requests come" {
	sl_serve lic1 'min_sync_interval = 0.01'
	u=$(sl_url lic1)
	s0=$(ops_metric "$u" sl_journal_syncs_total)
	# 40 checkouts one after another on one connection: each waits for its
	# own sync, and no two syncs may come closer than 10 ms.
	urls=()
	for _ in $(seq 40); do urls+=("$u/v1/checkout"); done
	t0=$(date +%s%N)
	curl -sS -m 30 -X POST -H 'Content-Type: application/json' \
	    -d '{"product":"viewer","client":"c1","user":"u","host":"h","pid":1}' \
	    -o /dev/null -w '%{http_code}\n' "${urls[@]}" >codes
	t1=$(date +%s%N)
	[ "$(grep -c '^201$' codes)" = 40 ]
	s1=$(ops_metric "$u" sl_journal_syncs_total)
	syncs=$((s1 - s0)) bound=$(( (t1 - t0) / 10000000 + 1 ))
	echo "syncs $syncs in $(( (t1 - t0) / 1000000 )) ms, at most $bound" >&2
	[ "$syncs" -ge 1 ] && [ "$syncs" -le "$bound" ]
}

# The README's scrape config takes both servers of a pair: summed over both
# by license, the seats in use of role="primary" are the Primary's own, not
# twice as many (the backup mirrors them under role="backup").
@test "metrics: a Primary and its warm backup summed by license count each seat once" {
	sl_token "$SL_TMP/peer.token"
	fo_start_pair "cad-1 cad 5 30" "view-free viewer unlimited 30"
	sl_co_lease "$UA" cad client=c1 >/dev/null
	sl_co_lease "$UA" cad client=c2 >/dev/null
	sl_co_lease "$UA" viewer client=c3 >/dev/null
	# The backup mirrors the Primary's seats.
	sl_until $((5 + FO_MARGIN)) ops_metric_is "$UB" \
	    'sl_license_seats_in_use{license="cad-1",product="cad",pool="A",role="backup"}' 2
	ops_metrics "$UA" a.txt
	ops_metrics "$UB" b.txt
	for m in a.txt b.txt; do
		run promtool check metrics <"$m"
		assert_success
		assert_output ""
	done
	grep -Fxq 'sl_license_seats_in_use{license="cad-1",product="cad",pool="A",role="primary"} 2' a.txt
	# Each of the Primary's licenses counts its own mirrored seats.
	grep -Fxq 'sl_license_seats_in_use{license="view-free",product="viewer",pool="A",role="backup"} 1' b.txt
	# sum by (license) (sl_license_seats_in_use{role="primary"}) over both targets.
	cat a.txt b.txt | awk '
	    /^sl_license_seats_in_use\{/ && /role="primary"/ {
		match($0, /license="[^"]*"/); sum[substr($0, RSTART + 9, RLENGTH - 10)] += $NF }
	    END { for (l in sum) print l, sum[l] }' | sort >summed
	printf '%s\n' 'cad-1 2' 'cad-b 0' 'view-free 1' >expected
	diff -u expected summed
	# and that is what the Primary itself and the backup's own pool say.
	{ curl -fsS -m 5 "$UA/v1/licenses"; curl -fsS -m 5 "$UB/v1/licenses"; } |
	    jq -r '.licenses[] | select(.role == "primary") | "\(.id) \(.in_use)"' | sort >want
	diff -u want summed
}

@test "metrics: a backup that stops polling is down on its Primary" {
	ops_start_pair
	u1=$(sl_url lic1) u2=$(sl_url lic2)
	sl_until 5 ops_metric_is "$u1" "sl_backup_up{backup=\"lic2\",url=\"$u2\"}" 1
	sl_stop lic2
	# lost after three of its poll intervals (0.2 s) without a poll
	sl_until 10 ops_metric_is "$u1" "sl_backup_up{backup=\"lic2\",url=\"$u2\"}" 0
	ops_metrics "$u1" m.txt
	run promtool check metrics <m.txt
	assert_success
	assert_output ""
	[ "$(grep -c '^sl_backup_up{' m.txt)" -eq 1 ]
	age=$(awk -v s="sl_backup_last_poll_age_seconds{backup=\"lic2\",url=\"$u2\"}" \
	    'index($0, s " ") == 1 { print $NF }' m.txt)
	awk -v a="$age" 'BEGIN { exit !(a >= 0.6) }'
}
