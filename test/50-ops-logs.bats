#!/usr/bin/env bats
# slserve's log: one line per event with a level; client strings escaped;
# tokens and signatures never written.

load helpers-ops

setup() { sl_setup_cd; }
teardown() { sl_teardown; }

# A log line on stderr (slserve -d): local time, level, message.
LINE_RE='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3} (debug|info|warning|error): [^ ]'

# every_line_ok FILE REGEX: each line of FILE matches REGEX.
every_line_ok() {
	local bad
	bad=$(grep -Evc -- "$2" "$1") || true
	[ "$bad" -eq 0 ] && return 0
	echo "lines of $1 not matching $2:" >&2
	grep -Ev -- "$2" "$1" >&2
	return 1
}

@test "logs: one line per event with a level; client strings escaped; SIGHUP reloads" {
	SL_SERVE_OPTS=-v sl_serve lic1
	u=$(sl_url lic1)
	tok=$(sl_admin_token lic1)
	lease=$(sl_co_lease "$u" cad client=c1)
	# An administrator's User-Agent and reason with a terminal escape, quotes
	# and a backslash: they reach the log as \xNN, never raw.
	printf '%s' '{"reason":"because \"quoted\" \\ slash"}' >body
	sl_req POST "$u/v1/leases/$lease/revoke" @body -H "Authorization: Bearer $tok" \
	    -H $'User-Agent: ops\x1b[2Jx"y'
	sl_expect 200
	sl_until 3 sl_log_has -F lic1 "revoked lease $lease of license cad-1 (for 0s) by ops\\x1b[2Jx\\x22y: because \\x22quoted\\x22 \\x5c slash"
	! grep -q $'\x1b' "$SL_TMP/lic1/log"

	# SIGHUP (systemctl reload) re-reads the licenses file.
	printf 'license "new-1" {\n product = "cad"\n count = 1\n expires = "never"\n host = "any"\n timeout = 0\n}\n' \
	    >>"$SL_TMP/lic1/licenses.conf"
	kill -HUP "$(sl_pid lic1)"
	sl_until 5 sl_log_has -F lic1 'info: reloaded '"$SL_TMP/lic1/licenses.conf"': {"added":["new-1"],"removed":[],"changed":[]}'
	sl_stop lic1
	sl_log_has -F lic1 'info: stopped'
	every_line_ok "$SL_TMP/lic1/log" "$LINE_RE"
}

@test "logs: no token, wrong token, signature or secret key is ever written" {
	# Signed licenses, one of them tampered with (its rejection is logged).
	mkdir -p "$SL_TMP/keys" "$SL_TMP/lic1"
	"$SLCTL" license keygen -d "$SL_TMP/keys" acme >/dev/null
	sl_default_licenses >"$SL_TMP/lic1/licenses.conf"
	"$SLCTL" license sign -k "$SL_TMP/keys/acme.key" -i "$SL_TMP/lic1/licenses.conf"
	sed -i '0,/count *= *2/s//count = 20/' "$SL_TMP/lic1/licenses.conf"
	SL_SERVE_OPTS=-v sl_serve lic1 "trusted_keys = { \"$SL_TMP/keys/acme.pub\" }"
	u1=$(sl_url lic1)
	sl_log_has -F lic1 'license "cad-1" not loaded'
	SL_SERVE_OPTS=-v sl_serve lic2 "peer_token_file = \"$SL_TMP/lic1/state/peer.token\"" \
	    "failover \"lic1\" {" "  url = \"$u1\"" "  poll_interval = 0.2" "  fail_after = 3" "}"
	u2=$(sl_url lic2)
	tok=$(sl_admin_token lic1)
	sl_until 5 sl_log_has -F lic1 'backup "lic2"'

	lease=$(sl_co_lease "$u1" sim client=c1)
	sl_req POST "$u1/v1/leases/$lease/heartbeat" -
	sl_expect 200
	sl_req GET "$u1/v1/leases" - -H "Authorization: Bearer $tok"
	sl_expect 200
	sl_req POST "$u1/v1/admin/reload" - -H "Authorization: Bearer $tok"
	sl_expect 200
	sl_req GET "$u1/v1/leases" - -H 'Authorization: Bearer wrong-admin-token-0123456789'
	sl_expect 401
	sl_req GET "$u1/v1/peer/sync?name=x" - -H 'Authorization: Bearer wrong-peer-token-0123456789'
	sl_expect 401
	sl_req POST "$u1/v1/leases/$lease/revoke" '{}' -H "Authorization: Bearer $tok"
	sl_expect 200
	"$SLCTL" -s "$u1" --token-file "$SL_TMP/lic1/state/admin.token" leases >/dev/null
	sl_stop lic2
	sl_stop lic1

	secrets=("$tok" "$(cat "$SL_TMP/lic1/state/peer.token")" "$(cat "$SL_TMP/lic2/state/admin.token")"
	    wrong-admin-token-0123456789 wrong-peer-token-0123456789
	    "$(head -c 40 "$SL_TMP/keys/acme.key")")
	while read -r sig; do secrets+=("$sig"); done < <(sed -n 's/.*signature *= *"\([^"]*\)".*/\1/p' "$SL_TMP/lic1/licenses.conf")
	[ "${#secrets[@]}" -eq 9 ]
	for f in "$SL_TMP"/lic1/log "$SL_TMP"/lic2/log "$SL_TMP"/lic1/state/usage.log; do
		[ -s "$f" ]
		for s in "${secrets[@]}"; do
			[ "${#s}" -ge 16 ]
			if grep -Fq -- "$s" "$f"; then
				echo "$f has a secret: $s" >&2
				false
			fi
		done
	done
	every_line_ok "$SL_TMP/lic1/log" "$LINE_RE"
	every_line_ok "$SL_TMP/lic2/log" "$LINE_RE"
}

@test "logs: under systemd (JOURNAL_STREAM) each line starts with its syslog priority" {
	port=$(sl_free_port)
	sl_server_config lic1 "$port"
	: >"$SL_TMP/lic1/log"
	JOURNAL_STREAM=$(stat -c '%d:%i' "$SL_TMP/lic1/log") \
	    "$SLSERVE" -d -f "$SL_TMP/lic1/slserve.conf" 2>>"$SL_TMP/lic1/log" &
	echo $! >"$SL_TMP/lic1.pid"
	sl_wait_http "http://127.0.0.1:$port/v1/health"
	sl_log_has -F lic1 "<4>warning: no trusted_keys configured"
	sl_until 3 grep -Eq "^<6>info: slserve [^ ]+ \"lic1\" serving on 127.0.0.1:$port " "$SL_TMP/lic1/log"
	sl_stop lic1
	every_line_ok "$SL_TMP/lic1/log" '^<[3467]>(debug|info|warning|error): [^ ]'
}

@test "logs: without -d slserve detaches and writes nothing to the terminal" {
	port=$(sl_free_port)
	sl_server_config lic1 "$port"
	run "$SLSERVE" -f "$SL_TMP/lic1/slserve.conf"
	assert_success
	assert_output ""
	# The daemon's pid is in its state directory's lock file.
	cp "$SL_TMP/lic1/state/lock" "$SL_TMP/lic1.pid"
	sl_wait_http "http://127.0.0.1:$port/v1/health"
	[ "$(ps -o ppid= -p "$(sl_pid lic1)" | tr -d ' ')" = 1 ] || [ "$(ps -o sid= -p "$(sl_pid lic1)" | tr -d ' ')" = "$(sl_pid lic1)" ]
	# A start that fails says why on the terminal, then exits 1.
	run "$SLSERVE" -f "$SL_TMP/lic1/slserve.conf"
	assert_failure 1
	assert_output "slserve: $SL_TMP/lic1/state: state directory is locked by pid $(sl_pid lic1) (is another slserve running?)"
}

# usage_leases FILE EVENT: the lease ids of FILE's EVENT lines, one a line.
usage_leases() { jq -r --arg e "$2" 'select(.event == $e) | .lease' "$1"; }

@test "usage log: rotated (mv, SIGHUP), the next checkout lands in the new usage.log" {
	sl_serve lic1
	u=$(sl_url lic1)
	st=$SL_TMP/lic1/state
	a=$(sl_co_lease "$u" cad client=ca)
	sl_until 3 sl_usage_line lic1 ".event == \"grant\" and .lease == \"$a\""
	mv "$st/usage.log" "$st/usage.log.1"
	kill -HUP "$(sl_pid lic1)"
	sl_until 3 test -f "$st/usage.log"
	[ "$(stat -c %a "$st/usage.log")" = 600 ]
	b=$(sl_co_lease "$u" cad client=cb)
	sl_until 3 sl_usage_line lic1 ".event == \"grant\" and .lease == \"$b\""
	[ "$(usage_leases "$st/usage.log" grant)" = "$b" ]
	[ "$(usage_leases "$st/usage.log.1" grant)" = "$a" ]
	# The server reports from the new file only.
	run "$SLCTL" -s "$u" -D "$st" report --json
	assert_success
	jq -e '.rows == [.rows[] | select(.license == "cad-1")] and .rows[0].checkouts == 1' <<<"$output"
	# A SIGHUP without rotation keeps appending to the same file.
	kill -HUP "$(sl_pid lic1)"
	c=$(sl_co_lease "$u" sim client=cc)
	sl_until 3 sl_usage_line lic1 ".event == \"grant\" and .lease == \"$c\""
	[ "$(usage_leases "$st/usage.log" grant | tr '\n' ' ')" = "$b $c " ]
	! grep -q 'usage log' "$SL_TMP/lic1/log"
}

@test "usage log: the installed logrotate snippet rotates it and reloads slserve" {
	sl_serve lic1
	u=$(sl_url lic1)
	st=$SL_TMP/lic1/state
	make -s -C "$OPS_REPO" --no-print-directory install DESTDIR="$SL_TMP/root" \
	    PREFIX=/usr STATEDIR="$st" >/dev/null
	conf=$SL_TMP/root/etc/logrotate.d/slserve
	# systemctl as the snippet calls it, for the slserve started here.
	mkdir bin
	cat >bin/systemctl <<SH
#!/bin/sh
echo "\$*" >>"$SL_TMP/systemctl.calls"
case "\$*" in
"--quiet is-active slserve.service") exit 0 ;;
"reload slserve.service") exec kill -HUP $(sl_pid lic1) ;;
esac
exit 1
SH
	chmod 755 bin/systemctl
	a=$(sl_co_lease "$u" cad client=ca)
	sl_until 3 sl_usage_line lic1 ".event == \"grant\" and .lease == \"$a\""
	PATH=$SL_TMP/bin:$PATH run logrotate -f -s "$SL_TMP/logrotate.status" "$conf"
	assert_success
	assert_output ""
	[ "$(cat "$SL_TMP/systemctl.calls")" = $'--quiet is-active slserve.service\nreload slserve.service' ]
	# delaycompress: the first rotated file stays plain
	[ "$(usage_leases "$st/usage.log.1" grant)" = "$a" ]
	sl_until 3 test -f "$st/usage.log"
	b=$(sl_co_lease "$u" cad client=cb)
	sl_until 3 sl_usage_line lic1 ".event == \"grant\" and .lease == \"$b\""
	[ "$(usage_leases "$st/usage.log" grant)" = "$b" ]
	# the second rotation compresses the first
	PATH=$SL_TMP/bin:$PATH run logrotate -f -s "$SL_TMP/logrotate.status" "$conf"
	assert_success
	[ "$(zcat "$st/usage.log.2.gz" | jq -r 'select(.event == "grant") | .lease')" = "$a" ]
	[ "$(usage_leases "$st/usage.log.1" grant)" = "$b" ]
}
