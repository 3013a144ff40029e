#!/usr/bin/env bats
# GET /: the HTML status page, rendered in headless Chromium. Screenshots
# are kept in test/artifacts/ for a person to look at.

load helpers-ops

setup() { sl_setup_cd; }
teardown() { sl_teardown; }

# The Licenses pane as slctl status --json has it, in the page's columns.
slctl_rows() {
	"$SLCTL" -s "$1" status --json | jq -r '.[0].licenses[] | [.id, .product, .role, .status,
	    .in_use, (if .max == -1 then "unlimited" else .max end), .fails, .served_by,
	    .expires] | map(tostring) | join("\t")'
}

@test "status page: served as HTML without external assets; values escaped" {
	sl_serve lic1
	u=$(sl_url lic1)
	ops_ghost lic1 'http://127.0.0.1:9/"><script>document.title=1</script>&'
	curl -fsS -m 5 -D headers -o page.html "$u/"
	grep -Fxi 'Content-Type: text/html; charset=utf-8' <(tr -d '\r' <headers)
	grep -Fq '<title>lic1 - sl license server</title>' page.html
	# No external assets: nothing loaded by src= or a stylesheet link, and
	# the only links are relative ones to the server's own JSON.
	run grep -Eio '(src|href)="[^"]*"' page.html
	assert_output $'href="v1/licenses"\nhref="v1/health"\nhref="metrics"'
	grep -Fq "default-src 'none'" page.html
	# The hostile URL is text, not markup.
	[ "$(grep -c '<script' page.html)" -eq 1 ]
	grep -Fq '<td>http://127.0.0.1:9/&quot;&gt;&lt;script&gt;document.title=1&lt;/script&gt;&amp;</td>' page.html
	sl_req POST "$u/" -
	sl_expect 405
}

@test "status page in Chromium: what a person sees equals slctl status" {
	ops_need_chromium
	ops_start_pair
	u1=$(sl_url lic1) u2=$(sl_url lic2)
	sl_co_lease "$u1" cad client=c1 >/dev/null
	sl_co_lease "$u1" sim client=c1 >/dev/null
	sl_co_lease "$u1" viewer client=c1 >/dev/null
	sl_co_lease "$u1" viewer client=c2 >/dev/null
	sl_req POST "$u1/v1/checkout" '{"product":"sim"}'
	sl_expect 409
	# Wait until the backup has mirrored the Primary and the Primary knows it.
	mirrored() {
		"$SLCTL" -s "$u2" status --json |
		    jq -e '[.[0].licenses[] | select(.pool == "lic1")] | length == 3' >/dev/null &&
		"$SLCTL" -s "$u1" status --json |
		    jq -e 'all(.[0].licenses[]; .status == "hot-warm")' >/dev/null
	}
	sl_until 10 mirrored

	mkdir -p "$OPS_ARTIFACTS"
	for name in lic1 lic2; do
		u=$(sl_url $name)
		ops_chromium --window-size=1100,700 --screenshot="$OPS_ARTIFACTS/statuspage-$name.png" "$u/"
		[ "$(head -c 4 "$OPS_ARTIFACTS/statuspage-$name.png" | tail -c 3)" = PNG ]
		[ "$(stat -c %s "$OPS_ARTIFACTS/statuspage-$name.png")" -gt 10000 ]
		ops_chromium --dump-dom "$u/" >"$name.dom"
		ops_table_rows "$name.dom" licenses >"$name.seen"
		slctl_rows "$u" >"$name.want"
		diff -u "$name.want" "$name.seen"
		grep -Fq "<h1>$name</h1>" "$name.dom"
	done
	# The Primary's figures, as a person reads them.
	run cat lic1.seen
	assert_line --index 0 $'cad-1\tcad\tprimary\thot-warm\t1\t2\t0\tlic1\tnever'
	assert_line --index 1 $'sim-hard\tsim\tprimary\thot-warm\t1\t1\t1\tlic1\tnever'
	assert_line --index 2 $'view-free\tviewer\tprimary\thot-warm\t2\tunlimited\t0\tlic1\tnever'
	# The Primary lists its backup and its state; the backup lists the
	# Primary it backs up and the last poll error (issue 18 added both).
	run ops_table_rows lic1.dom backups
	assert_output --regexp "^lic2	$u2	[0-9.]+s ago	polling\$"
	run ops_table_rows lic2.dom backs-up
	assert_output --regexp "^lic1	$u1	warm	[0-9.]+s ago	0	-\$"
	grep -Fq 'None: no backup polls this server.' lic2.dom
}

@test "status page refreshes itself, and says so when the server stops answering" {
	ops_need_chromium
	sl_serve lic1
	u=$(sl_url lic1)
	sl_co_lease "$u" cad client=c1 >/dev/null
	# Eleven seconds of the page's time: two refreshes from the server.
	ops_chromium --virtual-time-budget=11000 --dump-dom "$u/" >live.dom
	grep -Fq '<body data-refreshes="2">' live.dom
	[ "$(grep -c '<main id="page">' live.dom)" -eq 1 ]
	grep -Fq '<div id="stale" hidden=""></div>' live.dom
	run ops_table_rows live.dom licenses
	assert_line --index 0 $'cad-1\tcad\tprimary\thot\t1\t2\t0\tlic1\tnever'
	# A copy of the page away from its server: the refresh fails, the last
	# figures stay on screen under a warning.
	curl -fsS -m 5 -o copy.html "$u/"
	ops_chromium --virtual-time-budget=6000 --dump-dom "file://$SL_TMP/copy.html" >stale.dom
	grep -Eq '<div id="stale">The server has not answered since [^<]+: the figures below are from before then.</div>' stale.dom
	run ops_table_rows stale.dom licenses
	assert_line --index 0 $'cad-1\tcad\tprimary\thot\t1\t2\t0\tlic1\tnever'
}

# summary FILE: the summary line of a saved page, tags removed.
# page_has URL FILE TEXT: the status page at URL/, saved in FILE, holds TEXT.
page_has() { curl -fsS -m 5 "$1/" >"$2" && grep -Fq -- "$3" "$2"; }

summary() {
	grep '^<p id="summary"' "$1" | sed -e 's|<[^>]*>||g' -e 's|&#39;|'"'"'|g'
}

@test "status page: a summary line, a legend and UTC times" {
	sl_serve lic1
	u=$(sl_url lic1)
	curl -fsS -m 5 -o page.html "$u/"
	grep -Fxq '<p id="summary" class="ok"><strong>All well.</strong> lic1 (this server) serves its own pool (3 licenses).</p>' page.html
	# the summary comes first, before any table
	[ "$(grep -n '^<p id="summary"' page.html | cut -d: -f1)" -lt "$(grep -n '<table' page.html | head -n1 | cut -d: -f1)" ]
	# the legend, in the words of slctl status -v
	grep -Fxq '<dt><span class="st hot">hot</span></dt><dd>the Primary serves the license and no backup watches it.</dd>' page.html
	grep -Fxq '<dt><span class="st hot-warm">hot-warm</span></dt><dd>the Primary serves the license and a backup polls it, ready to take over.</dd>' page.html
	grep -Fxq '<dt><span class="st warm">warm</span></dt><dd>on a backup: it mirrors the license while the Primary serves it.</dd>' page.html
	grep -Fq '<dt><span class="st hot-retry">hot-retry</span></dt><dd>on a backup: the Primary is down and the backup serves its licenses' page.html
	grep -Fq '<dt>Denials</dt><dd>checkouts refused since the server started because of this license' page.html
	grep -Fq '<th>Denials</th>' page.html
	! grep -Fq '<th>Fails</th>' page.html
	# times in UTC, today's date in UTC
	grep -Eq "<span id=\"as-of\">$(date -u +%Y-%m-%d) [0-9]{2}:[0-9]{2}:[0-9]{2} UTC</span>" page.html
	grep -Fq "toISOString()" page.html
	! grep -Fq "toLocaleTimeString" page.html
}

@test "status page summary: a pair, then its backup lost, with since when" {
	ops_start_pair
	u1=$(sl_url lic1)
	u2=$(sl_url lic2)
	sl_until 10 page_has "$u1" p1.html 'backed up by lic2.'
	run summary p1.html
	assert_output 'All well. lic1 (this server) serves its own pool (3 licenses), backed up by lic2.'
	curl -fsS -m 5 -o p2.html "$u2/"
	run summary p2.html
	assert_output --regexp '^All well\. lic2 \(this server\) serves its own pool \(3 licenses\); lic1 serves its own pool, backed up by lic2 \(last poll [0-9.]+s ago\)\.$'

	sl_stop lic2 KILL
	sl_until 15 page_has "$u1" p1.html 'class="trouble"'
	run summary p1.html
	assert_output --regexp '^Trouble: backup lic2 lost since [0-9-]{10} [0-9:]{8} UTC: nothing would take over if this server failed\. lic1 \(this server\) serves its own pool \(3 licenses\)\.$'
	grep -Eq '<td class="lost">lost since [0-9-]{10} [0-9:]{8} UTC</td>' p1.html
}

@test "status page summary: a takeover says the Primary is down since when and who serves its pool" {
	ops_start_pair
	u1=$(sl_url lic1)
	u2=$(sl_url lic2)
	sl_until 10 page_has "$u2" p2.html 'backed up by lic2 (last poll'
	t0=$(date -u +%s)
	sl_stop lic1 KILL
	sl_until 15 page_has "$u2" p2.html 'class="trouble"'
	run summary p2.html
	assert_output --regexp '^Trouble: lic1 has not answered since [0-9-]{10} [0-9:]{8} UTC, and this server serves its licenses\. lic2 \(this server\) serves its own pool \(3 licenses\); lic2 serves pool lic1 while lic1 is down\.$'
	since=$(grep -Eo 'since [0-9-]{10} [0-9:]{8} UTC' <<<"$output" | cut -c7-25)
	# the time given is lic1's last answer: at most a few seconds before the kill
	s=$(date -u -d "$since" +%s)
	[ "$s" -le "$((t0 + 1))" ] && [ "$s" -ge "$((t0 - 5))" ] ||
	    { echo "since $since, killed at $(date -u -d "@$t0")"; false; }
	grep -Fq '<span class="st hot-retry">hot-retry</span>' p2.html
}

# seen_summary URL PNG: the summary line as Chromium renders the page (its
# DOM after scripts ran), with a screenshot kept in PNG.
seen_summary() {
	ops_chromium --window-size=1100,700 --screenshot="$2" "$1/"
	[ "$(head -c 4 "$2" | tail -c 3)" = PNG ]
	ops_chromium --dump-dom "$1/" >seen.dom
	summary seen.dom
}

@test "status page in Chromium: a lost backup, then a takeover, in the summary a person sees" {
	ops_need_chromium
	ops_start_pair
	u1=$(sl_url lic1)
	u2=$(sl_url lic2)
	mkdir -p "$OPS_ARTIFACTS"
	sl_until 10 page_has "$u2" p2.html 'backed up by lic2 (last poll'
	run seen_summary "$u2" "$OPS_ARTIFACTS/statuspage-warm.png"
	assert_output --regexp '^All well\. lic2 \(this server\) serves its own pool \(3 licenses\); lic1 serves its own pool, backed up by lic2 \(last poll [0-9.]+s ago\)\.$'

	# The Primary dies: its backup's page says so, in words, and who serves.
	sl_stop lic1 KILL
	sl_until 15 page_has "$u2" p2.html 'class="trouble"'
	run seen_summary "$u2" "$OPS_ARTIFACTS/statuspage-takeover.png"
	assert_output --regexp '^Trouble: lic1 has not answered since [0-9-]{10} [0-9:]{8} UTC, and this server serves its licenses\. lic2 \(this server\) serves its own pool \(3 licenses\); lic2 serves pool lic1 while lic1 is down\.$'

	# The Primary is back and takes its pool back; then its backup dies.
	sl_start lic1
	sl_until 15 page_has "$u1" p1.html 'backed up by lic2.'
	sl_stop lic2 KILL
	sl_until 15 page_has "$u1" p1.html 'class="trouble"'
	run seen_summary "$u1" "$OPS_ARTIFACTS/statuspage-lost-backup.png"
	assert_output --regexp '^Trouble: backup lic2 lost since [0-9-]{10} [0-9:]{8} UTC: nothing would take over if this server failed\. lic1 \(this server\) serves its own pool \(3 licenses\)\.$'
}
