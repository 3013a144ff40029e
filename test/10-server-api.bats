#!/usr/bin/env bats
# slserve's HTTP API: health, licenses, checkout, heartbeat, checkin, expiry.

load helpers-server

setup() {
	sl_setup
	PORT=$(sl_free_port)
}

teardown() { sl_server_teardown; }

@test "GET /v1/health: 200 with status, name, epoch; headers carry epoch and server" {
	sl_start_s1
	sl_req GET "$U/v1/health" - -D "$SL_TMP/headers"
	sl_expect 200
	sl_json '.status == "ok" and .name == "s1" and (.epoch | test("^[0-9a-f]{16}$")) and
	    (.version | type == "string") and (.uptime | type == "number") and
	    (.seq | type == "number") and (.backups | type == "array") and
	    (.backs_up | type == "array")'
	local epoch
	epoch=$(jq -r .epoch <<<"$HTTP_BODY")
	grep -qi "^X-SL-Epoch: $epoch"$'\r'"\$" "$SL_TMP/headers"
	grep -qi '^X-SL-Server: s1'$'\r''$' "$SL_TMP/headers"
	grep -qi '^Content-Type: application/json' "$SL_TMP/headers"
	# A new start is a new epoch.
	sl_stop s1
	sl_start s1
	sl_req GET "$U/v1/health"
	sl_json '.epoch != $e' --arg e "$epoch"
}

@test "GET /v1/licenses: every field of DESIGN §4 with the right values" {
	sl_start_s1
	sl_req GET "$U/v1/licenses"
	sl_expect 200
	sl_json '.server == "s1" and (.epoch | test("^[0-9a-f]{16}$")) and (.licenses | length == 3)'
	sl_json 'all(.licenses[]; has("id", "product", "in_use", "max", "fails", "role",
	    "status", "served_by", "expires", "timeout"))'
	sl_json 'all(.licenses[]; .role == "primary" and .status == "hot" and
	    .served_by == "s1" and .in_use == 0 and .fails == 0 and .expires == "never")'
	sl_json '.licenses | map({key: .id, value: [.product, .max, .timeout]}) | from_entries ==
	    {"cad-1": ["cad", 2, 30], "sim-hard": ["sim", 1, 0], "view-free": ["viewer", -1, 60]}'
}

@test "GET /v1/licenses shows a dated expiry as YYYY-MM-DD" {
	sl_write_licenses s1 < <(sl_lic dated cad 3 30 2099-12-31)
	sl_start_s1
	sl_req GET "$U/v1/licenses"
	sl_json '.licenses[0] | .id == "dated" and .expires == "2099-12-31" and .max == 3'
}

@test "POST /v1/checkout: 201 with the lease fields; the seat is counted" {
	sl_start_s1
	sl_checkout "$U" '{"product":"cad","client":"bats","user":"alice","host":"ws1","pid":42}'
	sl_expect 201
	sl_json 'keys == ["expires_in","heartbeat_interval","lease","license","pool","product","server"]'
	sl_json '(.lease | test("^[0-9a-f]{32}$")) and .license == "cad-1" and .product == "cad" and
	    .pool == "s1" and .server == "s1" and .expires_in == 30 and .heartbeat_interval == 10'
	[ "$(sl_in_use "$U" cad-1)" = 1 ]
	local id
	id=$(jq -r .lease <<<"$HTTP_BODY")
	# The admin list shows who holds it.
	sl_admin s1 GET /v1/leases
	sl_expect 200
	sl_json '.leases | length == 1 and (.[0] | .lease == $id and .license == "cad-1" and
	    .client == "bats" and .user == "alice" and .host == "ws1" and .pid == 42 and
	    (.expires_in | . > 25 and . <= 30))' --arg id "$id"
	# Two checkouts get two different leases.
	sl_checkout "$U" '{"product":"cad"}'
	sl_expect 201
	sl_json '.lease != $id' --arg id "$id"
	[ "$(sl_in_use "$U" cad-1)" = 2 ]
}

@test "POST /v1/checkout of a hard license: expires_in and heartbeat_interval are 0" {
	sl_start_s1
	sl_checkout "$U" '{"product":"sim"}'
	sl_expect 201
	sl_json '.license == "sim-hard" and .expires_in == 0 and .heartbeat_interval == 0'
}

@test "checkout with the client's lease id is idempotent: a retry takes no second seat" {
	sl_start_s1
	sl_checkout "$U" '{"product":"cad","lease":"my-lease.1-0123456789abcdef0123456789abcdef","client":"bats"}'
	sl_expect 201
	local first=$HTTP_BODY
	sl_json '.lease == "my-lease.1-0123456789abcdef0123456789abcdef"'
	local i
	for i in 1 2 3; do
		sl_checkout "$U" '{"product":"cad","lease":"my-lease.1-0123456789abcdef0123456789abcdef","client":"bats"}'
		sl_expect 200
		[ "$HTTP_BODY" = "$first" ]
	done
	[ "$(sl_in_use "$U" cad-1)" = 1 ]
	# The same id for another product is a conflict and takes nothing.
	sl_checkout "$U" '{"product":"viewer","lease":"my-lease.1-0123456789abcdef0123456789abcdef"}'
	sl_expect_error 409 lease_conflict
	[ "$(sl_in_use "$U" view-free)" = 0 ]
	[ "$(sl_in_use "$U" cad-1)" = 1 ]
	# A second client id takes the second seat; the pool is then full, and a
	# retry of a held lease still answers 200.
	sl_checkout "$U" '{"product":"cad","lease":"my-lease.2-0123456789abcdef0123456789abcdef"}'
	sl_expect 201
	sl_checkout "$U" '{"product":"cad","lease":"my-lease.1-0123456789abcdef0123456789abcdef","client":"bats"}'
	sl_expect 200
	[ "$(sl_in_use "$U" cad-1)" = 2 ]
}

@test "checkout of an unknown product: 404 unknown_product" {
	sl_start_s1
	sl_checkout "$U" '{"product":"nosuch"}'
	sl_expect_error 404 unknown_product
	sl_req GET "$U/v1/licenses"
	sl_json 'all(.licenses[]; .in_use == 0 and .fails == 0)'
}

@test "no free seat: 409 no_seats, and the license's fails counter counts each denial" {
	sl_start_s1
	sl_checkout "$U" '{"product":"cad"}'
	sl_expect 201
	sl_checkout "$U" '{"product":"cad"}'
	sl_expect 201
	[ "$(sl_license_field "$U" cad-1 fails)" = 0 ]
	sl_checkout "$U" '{"product":"cad"}'
	sl_expect_error 409 no_seats
	[ "$(sl_license_field "$U" cad-1 fails)" = 1 ]
	sl_checkout "$U" '{"product":"cad","lease":"wants-one-0123456789abcdef0123456789abcdef"}'
	sl_expect_error 409 no_seats
	[ "$(sl_license_field "$U" cad-1 fails)" = 2 ]
	[ "$(sl_in_use "$U" cad-1)" = 2 ]
	# Other licenses' counters are untouched.
	[ "$(sl_license_field "$U" sim-hard fails)" = 0 ]
	# The denial is in the usage log.
	sl_usage_has s1 '.event == "deny" and .error == "no_seats" and .license == "cad-1" and .lease == null'
}

@test "an expired license grants nothing: 403 expired" {
	sl_write_licenses s1 < <(sl_lic old cad 5 30 2020-01-01)
	sl_start_s1
	sl_checkout "$U" '{"product":"cad"}'
	sl_expect_error 403 expired
	[ "$(sl_in_use "$U" old)" = 0 ]
	[ "$(sl_license_field "$U" old fails)" = 1 ]
}

@test "a license is valid through its expiry day and expired the day after" {
	{
		sl_lic today cad 1 30 "$(date +%F)"
		sl_lic yesterday sim 1 30 "$(date -d yesterday +%F)"
	} | sl_write_licenses s1
	sl_start_s1
	sl_checkout "$U" '{"product":"cad"}'
	sl_expect 201
	sl_checkout "$U" '{"product":"sim"}'
	sl_expect_error 403 expired
}

@test "a license bound to another host grants nothing: 403 wrong_host" {
	sl_write_licenses s1 < <(sl_lic bound cad 5 30 never elsewhere.invalid)
	sl_start_s1
	sl_checkout "$U" '{"product":"cad"}'
	sl_expect_error 403 wrong_host
	[ "$(sl_in_use "$U" bound)" = 0 ]
}

@test "hostname in slserve.conf decides which host-bound licenses are valid here" {
	{
		sl_lic here cad 1 30 never lichost
		sl_lic there sim 1 30 never otherhost
	} | sl_write_licenses s1
	sl_start_s1 'hostname = "lichost"'
	sl_checkout "$U" '{"product":"cad"}'
	sl_expect 201
	sl_json '.license == "here"'
	sl_checkout "$U" '{"product":"sim"}'
	sl_expect_error 403 wrong_host
}

@test "a license for this machine's own hostname is valid" {
	sl_write_licenses s1 < <(sl_lic mine cad 1 30 never "$(hostname)")
	sl_start_s1
	sl_checkout "$U" '{"product":"cad"}'
	sl_expect 201
}

@test "a product whose licenses are full or invalid says no_seats, not expired" {
	{
		sl_lic a-old cad 5 30 2020-01-01
		sl_lic b-full cad 1 30
	} | sl_write_licenses s1
	sl_start_s1
	sl_checkout "$U" '{"product":"cad"}'
	sl_expect 201
	sl_json '.license == "b-full"'
	sl_checkout "$U" '{"product":"cad"}'
	sl_expect_error 409 no_seats
}

@test "an unlimited license grants every checkout and still counts the seats" {
	sl_start_s1
	local i
	for i in $(seq 1 25); do
		sl_checkout "$U" '{"product":"viewer"}'
		sl_expect 201
		sl_json '.license == "view-free"'
	done
	[ "$(sl_in_use "$U" view-free)" = 25 ]
	[ "$(sl_license_field "$U" view-free max)" = -1 ]
	[ "$(sl_license_field "$U" view-free fails)" = 0 ]
}

@test "pool: the server's own name is fine; any other pool is 404 unknown_pool" {
	sl_start_s1
	sl_checkout "$U" '{"product":"cad","pool":"s1"}'
	sl_expect 201
	sl_json '.pool == "s1"'
	sl_checkout "$U" '{"product":"cad","pool":"lic9"}'
	sl_expect_error 404 unknown_pool
	[ "$(sl_in_use "$U" cad-1)" = 1 ]
}

@test "heartbeat: 200 for a held lease, 404 unknown_lease otherwise" {
	sl_start_s1
	sl_checkout "$U" '{"product":"cad"}'
	local id
	id=$(jq -r .lease <<<"$HTTP_BODY")
	sl_req POST "$U/v1/leases/$id/heartbeat"
	sl_expect 200
	sl_json 'keys == ["expires_in","heartbeat_interval","lease"] and .lease == $id and
	    .expires_in == 30 and .heartbeat_interval == 10' --arg id "$id"
	sl_req POST "$U/v1/leases/0123456789abcdef0123456789abcdef/heartbeat"
	sl_expect_error 404 unknown_lease
	# A holder names its lease exactly: a prefix is no lease.
	sl_req POST "$U/v1/leases/${id:0:12}/heartbeat"
	sl_expect_error 404 unknown_lease
	sl_req DELETE "$U/v1/leases/${id:0:12}"
	sl_expect_error 404 unknown_lease
	[ "$(sl_in_use "$U" cad-1)" = 1 ]
	# A heartbeat of a hard lease is fine too.
	sl_checkout "$U" '{"product":"sim"}'
	id=$(jq -r .lease <<<"$HTTP_BODY")
	sl_req POST "$U/v1/leases/$id/heartbeat"
	sl_expect 200
	sl_json '.expires_in == 0 and .heartbeat_interval == 0'
}

@test "checkin: 200 released, the seat is free again; a second checkin is 404" {
	sl_start_s1
	sl_checkout "$U" '{"product":"cad"}'
	local id
	id=$(jq -r .lease <<<"$HTTP_BODY")
	[ "$(sl_in_use "$U" cad-1)" = 1 ]
	sl_req DELETE "$U/v1/leases/$id"
	sl_expect 200
	sl_json 'keys == ["lease","released"] and .lease == $id and .released == true' --arg id "$id"
	[ "$(sl_in_use "$U" cad-1)" = 0 ]
	sl_req DELETE "$U/v1/leases/$id"
	sl_expect_error 404 unknown_lease
	sl_req POST "$U/v1/leases/$id/heartbeat"
	sl_expect_error 404 unknown_lease
	# Both seats can be taken again.
	sl_checkout "$U" '{"product":"cad"}'
	sl_expect 201
	sl_checkout "$U" '{"product":"cad"}'
	sl_expect 201
	# A checked-in client lease id may be used again.
	sl_req DELETE "$U/v1/leases/$(jq -r .lease <<<"$HTTP_BODY")"
	sl_checkout "$U" '{"product":"cad","lease":"again-1-0123456789abcdef0123456789abcdef"}'
	sl_expect 201
	sl_req DELETE "$U/v1/leases/again-1-0123456789abcdef0123456789abcdef"
	sl_expect 200
	sl_checkout "$U" '{"product":"cad","lease":"again-1-0123456789abcdef0123456789abcdef"}'
	sl_expect 201
}

@test "a revoked lease answers 410 revoked to its holder's heartbeat and checkin" {
	sl_start_s1
	sl_checkout "$U" '{"product":"cad","lease":"to-revoke-0123456789abcdef0123456789abcdef"}'
	sl_admin s1 POST /v1/leases/to-revoke-0123456789abcdef0123456789abcdef/revoke '{"reason":"bats"}'
	sl_expect 200
	[ "$(sl_in_use "$U" cad-1)" = 0 ]
	sl_req POST "$U/v1/leases/to-revoke-0123456789abcdef0123456789abcdef/heartbeat"
	sl_expect_error 410 revoked
	sl_req DELETE "$U/v1/leases/to-revoke-0123456789abcdef0123456789abcdef"
	sl_expect_error 410 revoked
	# Its id cannot be checked out again while it is a tombstone.
	sl_checkout "$U" '{"product":"cad","lease":"to-revoke-0123456789abcdef0123456789abcdef"}'
	[[ $HTTP_CODE == 403 || $HTTP_CODE == 409 || $HTTP_CODE == 410 ]]
	[ "$(sl_in_use "$U" cad-1)" = 0 ]
}

@test "soft lease: the server reclaims it by itself after its timeout" {
	sl_write_licenses s1 < <(sl_lic quick cad 1 2)
	sl_start_s1
	sl_checkout "$U" '{"product":"cad"}'
	sl_expect 201
	sl_json '.expires_in == 2 and .heartbeat_interval == 1'
	local id
	id=$(jq -r .lease <<<"$HTTP_BODY")
	sl_req POST "$U/v1/leases/$id/heartbeat"
	sl_expect 200
	[ "$(sl_in_use "$U" quick)" = 1 ]
	# Nobody heartbeats: within a few seconds the seat is free.
	in_use_is() { [ "$(sl_in_use "$U" quick)" = "$1" ]; }
	sl_until 8 in_use_is 0
	sl_req POST "$U/v1/leases/$id/heartbeat"
	sl_expect_error 404 unknown_lease
	sl_usage_has s1 ".event == \"expire\" and .lease == \"$id\""
	# The seat can be taken again.
	sl_checkout "$U" '{"product":"cad"}'
	sl_expect 201
}

@test "soft lease: heartbeats keep it alive past its timeout" {
	sl_write_licenses s1 < <(sl_lic quick cad 1 2)
	sl_start_s1
	sl_checkout "$U" '{"product":"cad"}'
	local id i
	id=$(jq -r .lease <<<"$HTTP_BODY")
	# 4 s of heartbeats every 0.5 s: twice the timeout.
	for i in $(seq 1 8); do
		sleep 0.5	# the heartbeat interval being tested, not a readiness wait
		sl_req POST "$U/v1/leases/$id/heartbeat"
		sl_expect 200
	done
	[ "$(sl_in_use "$U" quick)" = 1 ]
}

@test "hard lease stays after a soft lease's timeout; only checkin ends it" {
	{
		sl_lic quick cad 1 1
		sl_lic hard sim 1 0
	} | sl_write_licenses s1
	sl_start_s1
	sl_checkout "$U" '{"product":"sim"}'
	local hard
	hard=$(jq -r .lease <<<"$HTTP_BODY")
	sl_checkout "$U" '{"product":"cad"}'
	local soft
	soft=$(jq -r .lease <<<"$HTTP_BODY")
	# Wait until the soft lease (timeout 1 s) is reclaimed, then 1 s more.
	soft_gone() { [ "$(sl_in_use "$U" quick)" = 0 ]; }
	sl_until 5 soft_gone
	sl_req POST "$U/v1/leases/$soft/heartbeat"
	sl_expect_error 404 unknown_lease
	sleep 1		# past any timeout the hard lease might wrongly have
	[ "$(sl_in_use "$U" hard)" = 1 ]
	sl_admin s1 GET /v1/leases
	sl_json '.leases | length == 1 and .[0].lease == $id and .[0].expires_in == null' --arg id "$hard"
	sl_req POST "$U/v1/leases/$hard/heartbeat"
	sl_expect 200
	sl_req DELETE "$U/v1/leases/$hard"
	sl_expect 200
	[ "$(sl_in_use "$U" hard)" = 0 ]
}

@test "a 64 KiB body is accepted; one byte more is 413 too_large" {
	sl_start_s1
	local json='{"product":"viewer"}'
	# Pad with JSON whitespace to exactly 65536 bytes.
	{ printf '%s' "$json"; head -c $((65536 - ${#json})) /dev/zero | tr '\0' ' '; } >"$SL_TMP/b64k"
	[ "$(stat -c %s "$SL_TMP/b64k")" = 65536 ]
	sl_req POST "$U/v1/checkout" "@$SL_TMP/b64k"
	sl_expect 201
	printf ' ' >>"$SL_TMP/b64k"
	sl_req POST "$U/v1/checkout" "@$SL_TMP/b64k"
	sl_expect_error 413 too_large
	[ "$(sl_in_use "$U" view-free)" = 1 ]
}
