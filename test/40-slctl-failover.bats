#!/usr/bin/env bats
# slctl failover show|set|clear, offline (-D) and online (admin API), and
# the runtime settings file common/failcfg edits.

load helpers

setup() { sl_setup_cd; mkdir -p st; }
teardown() { sl_teardown; }

@test "offline set, show, clear on a stopped server's state directory" {
	run "$SLCTL" -D st failover set lic0 --url http://127.0.0.1:7071 --poll-interval 0.5 --fail-after 4
	assert_success
	assert_output "st: backing up lic0 at http://127.0.0.1:7071 (poll_interval 0.5, fail_after 4)"
	run "$SLCTL" -D st failover set lic9 --url https://lic9.example:7070
	assert_success
	[ "$(cat st/failover.ini)" = "$(printf '%s\n' \
	    '# Runtime failover settings of slserve; edit with "slctl failover".' '' \
	    '[lic0]' 'url = http://127.0.0.1:7071' 'poll_interval = 0.5' 'fail_after = 4' '' \
	    '[lic9]' 'url = https://lic9.example:7070' 'poll_interval = 1' 'fail_after = 3')" ]
	run "$SLCTL" -D st failover show
	assert_success
	assert_line --index 0 --regexp '^NAME +URL +POLL INTERVAL +FAIL AFTER +SOURCE$'
	assert_line --index 1 --regexp '^lic0 +http://127\.0\.0\.1:7071 +0\.5 +4 +runtime$'
	assert_line --index 2 --regexp '^lic9 +https://lic9\.example:7070 +1 +3 +runtime$'
	run "$SLCTL" -D st failover show --json
	assert_success
	jq -e '.failover | length == 2 and .[0] == {"name":"lic0","url":"http://127.0.0.1:7071","poll_interval":0.5,"fail_after":4,"source":"runtime"}' <<<"$output"
	# set again replaces
	run "$SLCTL" -D st failover set lic0 --url http://127.0.0.1:7072
	assert_success
	run "$SLCTL" --json -D st failover show
	jq -e '.failover[0] | .url == "http://127.0.0.1:7072" and .poll_interval == 1 and .fail_after == 3' <<<"$output"
	run "$SLCTL" -D st failover clear lic0
	assert_success
	assert_output "st: no longer backing up lic0"
	run "$SLCTL" -D st failover clear lic0
	assert_equal "$status" 1
	assert_output --partial 'no runtime failover setting "lic0"'
	run "$SLCTL" -D st failover show --json
	jq -e '.failover | map(.name) == ["lic9"]' <<<"$output"
}

@test "offline set validates name, url, poll interval and fail_after" {
	for args in "bad/name --url http://x:1" "lic0 --url ftp://x" "lic0 --url http://" \
	    "lic0 --url http://x:1 --poll-interval 0" "lic0 --url http://x:1 --poll-interval 3601" \
	    "lic0 --url http://x:1 --poll-interval abc" "lic0 --url http://x:1 --fail-after 0" \
	    "lic0 --url http://x:1 --fail-after 101" "lic0 --url http://x:1 --fail-after 2.5"; do
		# shellcheck disable=SC2086
		run "$SLCTL" -D st failover set $args
		assert_equal "$status" 64
		[ "${#lines[@]}" -eq 1 ]
	done
	[ ! -e st/failover.ini ]
	run "$SLCTL" -D st failover set lic0 --url http://x:1 --poll-interval 0.25 --fail-after 100
	assert_success
}

@test "a broken failover.ini: show names FILE:LINE and exits 78; set refuses to clobber it" {
	printf '[lic0]\nurl = http://127.0.0.1:7071\npoll_interval = fast\n' >st/failover.ini
	run "$SLCTL" -D st failover show
	assert_equal "$status" 78
	assert_output --partial "st/failover.ini:3: poll_interval"
	cp st/failover.ini before
	run "$SLCTL" -D st failover set lic1 --url http://127.0.0.1:7072
	assert_equal "$status" 1
	assert_output --partial "failover.ini:3"
	cmp before st/failover.ini
	for garbage in 'url = http://x:1' '[lic0' '[lic0]\nurl = http://x:1\n[lic0]\nurl = http://x:2' \
	    '[lic0]\ncolour = red' '[lic0]\npoll_interval = 1' '[a b]' 'just words' \
	    '[lic0]\nurl = http://x:1\nurl = http://x:2'; do
		printf "$garbage\n" >st/failover.ini
		run "$SLCTL" -D st failover show
		assert_equal "$status" 78
		assert_output --regexp 'failover\.ini:[0-9]+: '
	done
	head -c 4096 /dev/urandom >st/failover.ini
	run "$SLCTL" -D st failover show
	assert_equal "$status" 78
	printf '# only a comment\n\n; and another\n' >st/failover.ini
	run "$SLCTL" -D st failover show --json
	assert_success
	jq -e '.failover == []' <<<"$output"
}

@test "20 concurrent offline edits never corrupt the file" {
	pids=()
	for i in $(seq 1 20); do
		"$SLCTL" -D st failover set "p$i" --url "http://127.0.0.1:$((7000 + i))" --fail-after $(( (i % 10) + 1 )) >/dev/null 2>"err.$i" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p"; done
	cat err.* >&2
	run "$SLCTL" -D st failover show --json
	assert_success
	jq -e '.failover | length == 20' <<<"$output"
	for i in $(seq 1 20); do
		jq -e --arg n "p$i" --arg u "http://127.0.0.1:$((7000 + i))" \
		    '.failover[] | select(.name == $n) | .url == $u' <<<"$output" >/dev/null
	done
	# concurrent clears and sets of distinct names
	pids=()
	for i in $(seq 1 10); do
		"$SLCTL" -D st failover clear "p$i" >/dev/null &
		pids+=($!)
		"$SLCTL" -D st failover set "q$i" --url http://127.0.0.1:9 >/dev/null &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p"; done
	run "$SLCTL" -D st failover show --json
	assert_success
	jq -e '[.failover[].name] | sort == ([range(11;21) | "p\(.)"] + [range(1;11) | "q\(.)"] | sort)' <<<"$output"
	[ -z "$(ls st | grep 'failover\.ini\.[A-Za-z0-9]\{6\}$')" ]
}

@test "offline edits refuse a state directory held by a running slserve" {
	sl_serve lic1
	run "$SLCTL" -D "$SL_TMP/lic1/state" failover set lic0 --url http://127.0.0.1:7071
	assert_equal "$status" 1
	assert_output --regexp "in use by a running slserve \(pid $(sl_pid lic1)\)"
	[ ! -e "$SL_TMP/lic1/state/failover.ini" ]
	run "$SLCTL" -D "$SL_TMP/lic1/state" failover show
	assert_equal "$status" 1
	sl_stop lic1
	run "$SLCTL" -D "$SL_TMP/lic1/state" failover set lic0 --url http://127.0.0.1:7071
	assert_success
}

@test "a setting made offline is applied when slserve starts" {
	sl_serve lic0
	mkdir -p "$SL_TMP/lic2/state"
	"$SLCTL" -D "$SL_TMP/lic2/state" failover set lic0 --url "$(sl_url lic0)" --poll-interval 0.2
	sl_serve lic2
	sl_until 10 sl_health_is "$(sl_url lic2)" '.backs_up | map(.pool) == ["lic0"]' ||
	    { curl -sS "$(sl_url lic2)/v1/health" >&2; return 1; }
}

@test "online show, set, clear through the admin API" {
	sl_serve lic0
	sl_serve lic2 "failover \"lic9\" { url = \"http://127.0.0.1:9\" }"
	CTL=("$SLCTL" -s "$(sl_url lic2)" -D "$SL_TMP/lic2/state")
	run "${CTL[@]}" failover show --json
	assert_success
	jq -e '.failover | map({name, url, poll_interval, fail_after, source}) == [{"name":"lic9","url":"http://127.0.0.1:9","poll_interval":1,"fail_after":3,"source":"config"}]' <<<"$output"
	run "${CTL[@]}" failover set lic0 --url "$(sl_url lic0)" --poll-interval 0.2 --fail-after 2
	assert_success
	assert_output "$(sl_url lic2): backing up lic0 at $(sl_url lic0) (poll_interval 0.2, fail_after 2)"
	run "${CTL[@]}" failover show
	assert_success
	assert_line --regexp "^lic0 +$(sl_url lic0) +0\.2 +2 +runtime( |$)"
	assert_line --regexp '^lic9 +http://127\.0\.0\.1:9 +1 +3 +config( |$)'
	# applied without a restart, and written to the runtime file
	sl_until 10 sl_health_is "$(sl_url lic2)" '.backs_up | map(.pool) | index("lic0")'
	grep -q '^\[lic0\]$' "$SL_TMP/lic2/state/failover.ini"
	run "${CTL[@]}" failover clear lic0
	assert_success
	assert_output "$(sl_url lic2): no longer backing up lic0"
	run "${CTL[@]}" failover show --json
	jq -e '.failover | map(.name) == ["lic9"]' <<<"$output"
	run "${CTL[@]}" failover clear nosuch
	assert_equal "$status" 1
	assert_output --partial "404"
}

@test "online failover with a wrong or missing token: exit 77, nothing changes" {
	sl_serve lic2
	run "$SLCTL" -s "$(sl_url lic2)" failover set lic0 --url http://127.0.0.1:9
	assert_equal "$status" 77
	SL_TOKEN=wrong run "$SLCTL" -s "$(sl_url lic2)" failover set lic0 --url http://127.0.0.1:9
	assert_equal "$status" 77
	[ ! -e "$SL_TMP/lic2/state/failover.ini" ] || ! grep -q lic0 "$SL_TMP/lic2/state/failover.ini"
	run "$SLCTL" -s "$(sl_url lic2)" -D "$SL_TMP/lic2/state" failover show --json
	assert_success
	jq -e '.failover == []' <<<"$output"
}

@test "online failover needs one server" {
	run "$SLCTL" -s http://127.0.0.1:1 -s http://127.0.0.1:2 failover show
	assert_equal "$status" 64
	assert_output --partial "name one with -s URL"
}
