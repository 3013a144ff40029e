#!/usr/bin/env bats
# Admin endpoints need the admin token; the token file is made safely.

load helpers-server

setup() {
	sl_setup
	sl_start_s1
	sl_grant cad held-1-0123456789abcdef0123456789abcdef
	TOKEN=$(sl_admin_token s1)
}

teardown() { sl_server_teardown; }

# every_admin_call_refused CURL-AUTH-ARGS...: each admin call with these
# (missing or wrong) credentials answers exactly 401 unauthorized and changes
# nothing. One curl makes all the calls (on one connection).
every_admin_call_refused() {
	local before d="$SL_TMP/refused" calls=() n=0 call method path body
	rm -rf "$d"
	mkdir -p "$d"
	before=$(sl_fingerprint "$U")
	for call in "GET /v1/leases -" "GET /v1/leases?product=cad -" \
	    'POST /v1/leases/held-1-0123456789abcdef0123456789abcdef/revoke {"reason":"test"}' "POST /v1/leases/held-1-0123456789abcdef0123456789abcdef/revoke -" \
	    "POST /v1/admin/reload -" "GET /v1/admin/usage -"; do
		read -r method path body <<<"$call"
		n=$((n + 1))
		[ "$n" -eq 1 ] || calls+=(--next)
		calls+=(-s -m 5 -o "$d/$n" -w '%{http_code} ' -X "$method" "$@")
		[ "$body" = - ] || calls+=(--data-binary "$body")
		calls+=("$U$path")
	done
	run curl "${calls[@]}"
	assert_output "401 401 401 401 401 401 "
	(cd "$d" && jq -n -e '[inputs | (keys == ["error", "message"]) and .error == "unauthorized" and
	    (.message | length > 0)] | length == 6 and all' 1 2 3 4 5 6 >/dev/null)
	[ "$(sl_fingerprint "$U")" = "$before" ]
	# The seat is still held.
	sl_req POST "$U/v1/leases/held-1-0123456789abcdef0123456789abcdef/heartbeat"
	sl_expect 200
}

@test "admin calls without a token: 401 unauthorized, nothing changes" {
	# Make a reload observable: it would change cad-1's count.
	sed -i '/license "cad-1"/,/}/s/count   = 2/count   = 7/' "$SL_TMP/s1/licenses.conf"
	every_admin_call_refused
	[ "$(sl_license_field "$U" cad-1 max)" = 2 ]
}

@test "admin calls with a wrong token: 401 unauthorized, nothing changes" {
	sed -i '/license "cad-1"/,/}/s/count   = 2/count   = 7/' "$SL_TMP/s1/licenses.conf"
	every_admin_call_refused -H "Authorization: Bearer wrong-token-0123456789abcdef"
	every_admin_call_refused -H "Authorization: Bearer ${TOKEN}x"
	every_admin_call_refused -H "Authorization: Bearer ${TOKEN%?}"
	every_admin_call_refused -H "Authorization: Bearer "
	every_admin_call_refused -H "Authorization: Basic $(printf 'admin:%s' "$TOKEN" | base64 -w0)"
	every_admin_call_refused -H "Authorization: $TOKEN"
	every_admin_call_refused -H "Authorization: bearer$TOKEN"
	every_admin_call_refused -H "X-Token: $TOKEN"
	sl_req GET "$U/v1/leases?token=$TOKEN&access_token=$TOKEN"
	sl_expect_error 401 unauthorized
	# The peer token is not the admin token.
	every_admin_call_refused -H "Authorization: Bearer $(cat "$SL_TMP/s1/state/peer.token")"
	[ "$(sl_license_field "$U" cad-1 max)" = 2 ]
}

@test "admin calls with the right token work" {
	sl_admin s1 GET /v1/leases
	sl_expect 200
	sl_json '[.leases[].lease] == ["held-1-0123456789abcdef0123456789abcdef"]'
	sl_admin s1 GET /v1/admin/usage
	sl_expect 200
	sed -i '/license "cad-1"/,/}/s/count   = 2/count   = 7/' "$SL_TMP/s1/licenses.conf"
	sl_admin s1 POST /v1/admin/reload
	sl_expect 200
	sl_json '.changed == [{"id": "cad-1", "old_count": 2, "new_count": 7}]'
	[ "$(sl_license_field "$U" cad-1 max)" = 7 ]
	sl_admin s1 POST /v1/leases/held-1-0123456789abcdef0123456789abcdef/revoke '{"reason":"test"}'
	sl_expect 200
	sl_json '.lease == "held-1-0123456789abcdef0123456789abcdef" and .revoked == true'
	[ "$(sl_in_use "$U" cad-1)" = 0 ]
}

@test "the public calls need no token" {
	sl_req GET "$U/v1/health"
	sl_expect 200
	sl_req GET "$U/v1/licenses"
	sl_expect 200
	sl_checkout "$U" '{"product":"cad"}'
	sl_expect 201
	sl_req POST "$U/v1/leases/held-1-0123456789abcdef0123456789abcdef/heartbeat"
	sl_expect 200
	sl_req DELETE "$U/v1/leases/held-1-0123456789abcdef0123456789abcdef"
	sl_expect 200
}

@test "admin.token is created at first start: mode 0600, a long random token, kept across restarts" {
	local f="$SL_TMP/s1/state/admin.token"
	[ "$(stat -c %a "$f")" = 600 ]
	[ "$(stat -c %u "$f")" = "$(id -u)" ]
	grep -Eqx '[0-9a-f]{64}' "$f"
	[ "$(wc -l <"$f")" -eq 1 ]
	grep -q "admin token created in $f (mode 0600)" "$SL_TMP/s1/log"
	local first
	first=$(cat "$f")
	sl_stop s1
	sl_start s1
	[ "$(cat "$f")" = "$first" ]
	[ "$(grep -c 'admin token created' "$SL_TMP/s1/log")" -eq 1 ]
	sl_admin s1 GET /v1/leases
	sl_expect 200
	# Another server has another token.
	sl_server_config s2 "$(sl_free_port)"
	sl_start s2
	[ "$(sl_admin_token s2)" != "$first" ]
	sl_req GET "$(sl_url s2)/v1/leases" - -H "Authorization: Bearer $first"
	sl_expect_error 401 unauthorized
}

@test "a configured admin_token_file is used as is, and a missing one is an error" {
	sl_stop s1
	printf 'my-own-admin-token-0123456789\n' >"$SL_TMP/s1/admin.tok"
	chmod 600 "$SL_TMP/s1/admin.tok"
	echo 'admin_token_file = "admin.tok"' >>"$SL_TMP/s1/slserve.conf"
	sl_start s1
	sl_req GET "$U/v1/leases" - -H "Authorization: Bearer my-own-admin-token-0123456789"
	sl_expect 200
	sl_req GET "$U/v1/leases" - -H "Authorization: Bearer $TOKEN"
	sl_expect_error 401 unauthorized
	sl_stop s1
	rm "$SL_TMP/s1/admin.tok"
	run --separate-stderr timeout 10 "$SLSERVE" -d -f "$SL_TMP/s1/slserve.conf"
	sl_run_failed
	[[ $stderr == *"$SL_TMP/s1/admin.tok"* ]]
	[ ! -e "$SL_TMP/s1/admin.tok" ]
}

@test "a too short admin token is refused at start" {
	sl_stop s1
	printf 'short\n' >"$SL_TMP/s1/state/admin.token"
	run --separate-stderr timeout 10 "$SLSERVE" -d -f "$SL_TMP/s1/slserve.conf"
	sl_run_failed
	[[ $stderr == *"admin.token"*"shorter than 16"* ]]
}
