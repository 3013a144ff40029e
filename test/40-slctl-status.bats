#!/usr/bin/env bats
# slctl servers and slctl status against real servers.

bats_require_minimum_version 1.5.0
load helpers

setup() { sl_setup_cd; }
teardown() { sl_teardown; }

@test "status prints the Licenses table; unlimited spelled out" {
	sl_serve lic1
	u=$(sl_url lic1)
	sl_co_lease "$u" cad client=c1 user=alice host=h1 pid=100 >/dev/null
	run "$SLCTL" -s "$u" status
	assert_success
	assert_line --index 0 --regexp '^LICENSE +PRODUCT +IN USE +MAX +DENIALS +ROLE +STATUS +SERVED BY +EXPIRES$'
	assert_line --regexp '^cad-1 +cad +1 +2 +0 +primary +hot +lic1 +never$'
	assert_line --regexp '^sim-hard +sim +0 +1 +0 +primary +hot +lic1 +never$'
	assert_line --regexp '^view-free +viewer +0 +unlimited +0 +primary +hot +lic1 +never$'
	refute_output --partial "PRIMARY"
	[ "${#lines[@]}" -eq 4 ]
}

@test "status --json prints an array of the servers' JSON, for one server too" {
	sl_serve lic1
	u=$(sl_url lic1)
	run "$SLCTL" -s "$u" status --json
	assert_success
	echo "$output" | jq -e --arg u "$u" 'length == 1 and .[0].server == "lic1" and
	    .[0].url == $u and (.[0].licenses | length) == 3'
	echo "$output" | jq -e '.[0].licenses[] | select(.id == "view-free") | .max == -1'
	# the global --json does the same
	run "$SLCTL" --json -s "$u" status
	assert_success
	echo "$output" | jq -e 'length == 1 and .[0].server == "lic1"'
}

@test "columns align for long names" {
	cat >"$SL_TMP/lic1.licenses" <<'LIC'
license "a" {
  product = "p"
  count = 1
  timeout = 0
}
license "a-very-long-license-identifier-for-alignment" {
  product = "another-rather-long-product"
  count = 12345
  timeout = 0
}
LIC
	mkdir -p "$SL_TMP/lic1"
	cp "$SL_TMP/lic1.licenses" "$SL_TMP/lic1/licenses.conf"
	sl_serve lic1
	run "$SLCTL" -s "$(sl_url lic1)" status
	assert_success
	# every column starts at the same offset on every line
	hdr=${lines[0]}
	for col in "PRODUCT" "ROLE" "EXPIRES"; do
		off=${hdr%%"$col"*}
		for l in "${lines[@]:1}"; do
			[ "${l:${#off}-2:2}" = "  " ] || { echo "column $col misaligned: $l"; return 1; }
			[ "${l:${#off}:1}" != " " ] || { echo "column $col: $l"; return 1; }
		done
	done
	assert_line --regexp '^a-very-long-license-identifier-for-alignment +another-rather-long-product +0 +12345 '
}

@test "several servers: one table with a SERVER column; a down one gives exit 3" {
	sl_serve lic1
	sl_serve lic2
	run "$SLCTL" -s "$(sl_url lic1)" -s "$(sl_url lic2)" status
	assert_success
	assert_line --index 0 --regexp '^SERVER +LICENSE +PRODUCT'
	assert_line --regexp '^lic1 +cad-1 +cad '
	assert_line --regexp '^lic2 +cad-1 +cad '
	run "$SLCTL" -s "$(sl_url lic1)" -s "$(sl_url lic2)" status --json
	assert_success
	echo "$output" | jq -e 'length == 2 and .[0].server == "lic1" and .[1].server == "lic2"'
	sl_stop lic2
	run "$SLCTL" -s "$(sl_url lic1)" -s "$(sl_url lic2)" status
	assert_equal "$status" 3
	assert_line --regexp '^lic1 +cad-1 '
	assert_output --partial "$(sl_url lic2): licenses: server unreachable"
}

@test "servers from slclient.conf (primary, backup, secondary) and SL_SERVERS" {
	sl_serve lic1
	sl_serve lic2
	dead="http://127.0.0.1:$(sl_free_port)"
	cat >client.conf <<CONF
primary = { "$(sl_url lic1)" }
secondary = { "$dead" }
server "$(sl_url lic1)" { backup = "$(sl_url lic2)" }
connect_timeout = 1
CONF
	run --separate-stderr "$SLCTL" -f client.conf servers
	assert_equal "$status" 3
	[ "$stderr" = "slctl: $dead: down: Couldn't connect to server" ]
	assert_line --index 0 --regexp '^SERVER +STATE +NAME +EPOCH +UPTIME +VERSION +BACKS UP +BACKUPS$'
	assert_line --index 1 --regexp "^$(sl_url lic1) +up +lic1 +[0-9a-f]{16} +[0-9.]+[smhd]"
	assert_line --index 2 --regexp "^$(sl_url lic2) +up +lic2 "
	assert_line --index 3 --regexp "^$dead +down +- "
	SL_CONFIG=client.conf run --separate-stderr "$SLCTL" servers --json
	assert_equal "$status" 3
	echo "$output" | jq -e --arg d "$dead" 'length == 3 and .[0].up and .[0].name == "lic1" and (.[2].up | not) and .[2].url == $d'
	SL_SERVERS="$(sl_url lic1),$(sl_url lic2)" run "$SLCTL" servers
	assert_success
	[ "${#lines[@]}" -eq 3 ]   # header, two servers, nothing on stderr
}

@test "servers shows backups and primaries backed up" {
	sl_serve lic1
	sl_serve lic2 "peer_token_file = \"$SL_TMP/lic1/state/peer.token\"" "failover \"lic1\" { url = \"$(sl_url lic1)\"
  poll_interval = 0.2
  fail_after = 3 }"
	# wait until lic1 knows its backup
	sl_until 10 sl_health_is "$(sl_url lic1)" '.backups | length == 1' || true
	run "$SLCTL" -s "$(sl_url lic1)" -s "$(sl_url lic2)" servers
	assert_success
	assert_line --regexp "^$(sl_url lic1) +up +lic1 .* - +lic2$"
	assert_line --regexp "^$(sl_url lic2) +up +lic2 .* lic1\(warm\) +-$"
	run "$SLCTL" -s "$(sl_url lic2)" status
	assert_success
	assert_line --index 0 --regexp 'EXPIRES +PRIMARY +LAST POLL$'
	assert_line --regexp '^cad-1 +cad +0 +2 +0 +backup +warm +lic1 +never +lic1 +[0-9.]+s$'
}

@test "status --watch redraws until interrupted, then exits 0" {
	sl_serve lic1
	run timeout --preserve-status -s INT 3 "$SLCTL" -s "$(sl_url lic1)" status --watch 0.5
	assert_success
	n=$(grep -c '^Every 0.5s: slctl status' <<<"$output")
	[ "$n" -ge 2 ]
	n=$(grep -c '^cad-1 ' <<<"$output")
	[ "$n" -ge 2 ]
}

@test "status -v follows the table with what each status, marker and DENIALS mean" {
	sl_serve lic1
	run --separate-stderr "$SLCTL" -s "$(sl_url lic1)" status -v
	assert_success
	assert_line --index 0 --regexp '^LICENSE +PRODUCT +IN USE +MAX +DENIALS +ROLE +STATUS +SERVED BY +EXPIRES$'
	assert_line 'hot           the Primary serves the license and no backup watches it.'
	assert_line 'hot-warm      the Primary serves the license and a backup polls it, ready to take over.'
	assert_line 'warm          on a backup: it mirrors the license while the Primary serves it.'
	assert_line --regexp '^hot-retry +on a backup: the Primary is down and the backup serves its licenses'
	assert_line --regexp '^,backup_lost +the Primary.s backup stopped polling'
	assert_line --regexp '^DENIALS +checkouts refused since the server started because of this license: expired, bound to another host, barred, or its product.s only full one \(sl_license_denials_total in /metrics, denials in slctl report\)\.$'
	# without -v, the table alone
	run "$SLCTL" -s "$(sl_url lic1)" status
	[ "${#lines[@]}" -eq 4 ]
}
