#!/usr/bin/env bats
# Storage faults: files the programs read that are devices, FIFOs or too
# large are refused by name, at once, without reading them (issue 16).

load helpers

setup() {
	sl_setup_cd
	D="$SL_TMP/lic1"
	LIC="$D/licenses.conf"
	sl_server_config lic1 "$(sl_free_port)"
	sl_default_licenses >"$LIC"
}
teardown() { sl_teardown; }

# rss_kb PID: resident set size of PID in kB.
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

@test "slserve -n: a licenses file linked to /dev/zero is not a regular file" {
	rm "$LIC"
	ln -s /dev/zero "$LIC"
	run timeout 10 "$SLSERVE" -n -f "$D/slserve.conf"
	assert_equal "$status" 1
	assert_output "$LIC: not a regular file"
}

@test "slserve -n: a FIFO or a directory as licenses file is refused, no hang" {
	rm "$LIC"
	mkfifo "$LIC"
	run timeout 10 "$SLSERVE" -n -f "$D/slserve.conf"
	assert_equal "$status" 1
	assert_output "$LIC: not a regular file"
	rm "$LIC"
	mkdir "$LIC"
	run timeout 10 "$SLSERVE" -n -f "$D/slserve.conf"
	assert_equal "$status" 1
	assert_output "$LIC: not a regular file"
}

@test "slserve -n: a licenses file over 16 MiB is refused with the limit" {
	truncate -s 17M "$LIC"
	run timeout 10 "$SLSERVE" -n -f "$D/slserve.conf"
	assert_equal "$status" 1
	assert_output "$LIC: larger than 16777216 bytes"
}

@test "slserve -n: slserve.conf itself as a FIFO is refused" {
	mkfifo "$SL_TMP/fifo.conf"
	run timeout 10 "$SLSERVE" -n -f "$SL_TMP/fifo.conf"
	assert_equal "$status" 1
	assert_output "$SL_TMP/fifo.conf: not a regular file"
}

@test "slserve start: licenses linked to /dev/zero, start refused naming the file" {
	rm "$LIC"
	ln -s /dev/zero "$LIC"
	run timeout 10 "$SLSERVE" -d -f "$D/slserve.conf"
	assert_equal "$status" 1
	assert_line --regexp "error: $LIC: not a regular file\$"
}

@test "reload with licenses linked to /dev/zero: refused, old licenses kept, RSS small" {
	sl_start lic1
	U=$(sl_url lic1)
	a=$(sl_co_lease "$U" cad client=c1 user=alice host=h1 pid=100)
	before=$(sl_licenses_summary "$U")
	rss0=$(rss_kb "$(sl_pid lic1)")
	mv "$LIC" "$LIC.good"
	ln -s /dev/zero "$LIC"
	run timeout 10 "$SLCTL" -s "$U" -D "$D/state" reload
	assert_equal "$status" 1
	assert_output "slctl: $U: reload refused, nothing changed: $LIC: not a regular file"
	kill -HUP "$(sl_pid lic1)"
	# said once per reload: once for slctl reload, once for SIGHUP (the
	# first line is there already: wait for the second)
	refused_twice() {
		[ "$(grep -cF "reload refused, licenses unchanged, usage policy unchanged: $LIC: not a regular file" "$SL_TMP/lic1/log")" -eq 2 ]
	}
	sl_until 10 refused_twice
	sl_http_ok "$U/v1/health"
	kill -0 "$(sl_pid lic1)"
	sl_http_ok "$U/v1/health"
	[ "$(sl_licenses_summary "$U")" = "$before" ]
	sl_heartbeat "$U" "$a"
	sl_expect 200
	rss1=$(rss_kb "$(sl_pid lic1)")
	echo "RSS $rss0 kB -> $rss1 kB"
	[ "$rss1" -lt $((rss0 + 32768)) ]
}

@test "reload with a sparse 17M licenses file: refused with the size" {
	sl_start lic1
	U=$(sl_url lic1)
	before=$(sl_licenses_summary "$U")
	truncate -s 17M "$LIC"
	run timeout 10 "$SLCTL" -s "$U" -D "$D/state" reload
	assert_equal "$status" 1
	assert_output "slctl: $U: reload refused, nothing changed: $LIC: larger than 16777216 bytes"
	[ "$(sl_licenses_summary "$U")" = "$before" ]
}

@test "token files: a FIFO is refused at once by slserve, slctl and slcheck" {
	mkfifo "$SL_TMP/token"
	sl_server_config lic1 "$(sl_free_port)" "admin_token_file = \"$SL_TMP/token\""
	run timeout 10 "$SLSERVE" -d -f "$D/slserve.conf"
	assert_equal "$status" 1
	assert_line --regexp "error: admin token file $SL_TMP/token: not a regular file\$"
	run timeout 10 "$SLCTL" -s http://127.0.0.1:1 --token-file "$SL_TMP/token" leases
	assert_equal "$status" 78
	assert_output "slctl: --token-file $SL_TMP/token: not a regular file"
	printf 'primary = "http://127.0.0.1:1"\ntoken_file = "%s"\n' "$SL_TMP/token" \
	    >"$SL_TMP/slclient.conf"
	run timeout 10 "$SLCHECK" -f "$SL_TMP/slclient.conf" config
	assert_equal "$status" 78
	assert_output "slcheck: $SL_TMP/slclient.conf:2: token_file $SL_TMP/token: not a regular file"
}

@test "token and key files over 1 MiB are refused with the limit" {
	truncate -s 2M "$SL_TMP/token" "$SL_TMP/acme.pub"
	run timeout 10 "$SLCTL" -s http://127.0.0.1:1 --token-file "$SL_TMP/token" leases
	assert_equal "$status" 78
	assert_output "slctl: --token-file $SL_TMP/token: larger than 1048576 bytes"
	sl_server_config lic1 "$(sl_free_port)" "trusted_keys = { \"$SL_TMP/acme.pub\" }"
	run timeout 10 "$SLSERVE" -n -f "$D/slserve.conf"
	assert_equal "$status" 1
	assert_output "$SL_TMP/acme.pub: larger than 1048576 bytes"
}

@test "a FIFO as CA file fails the https call at once, naming it" {
	mkfifo "$SL_TMP/ca.pem"
	run timeout 10 "$SLCTL" -s https://127.0.0.1:1 --cacert "$SL_TMP/ca.pem" status
	assert_equal "$status" 3
	assert_output --partial "cacert $SL_TMP/ca.pem: not a regular file"
}

@test "state files: a FIFO as backups.json or failover.ini does not hang the start" {
	mkdir -p "$D/state"
	chmod 700 "$D/state"
	mkfifo "$D/state/backups.json"
	sl_start lic1
	sl_stop lic1
	rm "$D/state/backups.json"
	mkfifo "$D/state/failover.ini"
	run timeout 10 "$SLSERVE" -d -f "$D/slserve.conf"
	assert_equal "$status" 1
	assert_line --regexp "$D/state/failover.ini: not a regular file\$"
}
