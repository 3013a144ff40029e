#!/usr/bin/env bats
# public_status = false: /metrics and the status page need the admin token;
# /v1/health and /v1/licenses stay public. public_leases = true: the holders
# of GET /v1/leases (no lease ids) without the admin token.

load helpers-ops

setup() { sl_setup_cd; }
teardown() { sl_teardown; }

# get PATH [CURL-ARGS...]: GET $u/PATH into body (headers into headers);
# prints the HTTP status.
get() {
	local path=$1
	shift
	curl -sS -m 5 -D headers -o body -w '%{http_code}' "$@" "$u$path"
}

# refused: the last answer was 401 unauthorized in JSON, naming server lic1.
refused() {
	jq -e '.error == "unauthorized" and (.message | contains("server \"lic1\""))' body ||
	    { cat body >&2; return 1; }
	grep -Fxiq 'Content-Type: application/json' <(tr -d '\r' <headers)
}

# is_metrics: the last answer was the Prometheus text.
is_metrics() {
	grep -Fxiq 'Content-Type: text/plain; version=0.0.4; charset=utf-8' <(tr -d '\r' <headers)
	grep -Fxq '# TYPE sl_license_seats_in_use gauge' body
	grep -Fxq 'sl_license_seats_max{license="cad-1",product="cad",pool="lic1",role="primary"} 2' body
}

# is_page: the last answer was the HTML status page.
is_page() {
	grep -Fxiq 'Content-Type: text/html; charset=utf-8' <(tr -d '\r' <headers)
	head -n1 body | grep -Fxq '<!DOCTYPE html>'
	grep -Fq 'cad-1' body
}

@test "public_status = false: /metrics and / need the admin token" {
	sl_serve lic1 'public_status = false'
	u=$(sl_url lic1)
	tok=$(sl_admin_token lic1)
	peer=$(cat "$SL_TMP/lic1/state/peer.token")

	for path in /metrics /; do
		[ "$(get "$path")" = 401 ]
		refused
		[ "$(get "$path" -H 'Authorization: Bearer not-the-admin-token-0123456789')" = 401 ]
		refused
		[ "$(get "$path" -H "Authorization: Bearer $peer")" = 401 ]
		refused
		# The token without the Bearer scheme is not enough either.
		[ "$(get "$path" -H "Authorization: $tok")" = 401 ]
		refused
	done

	[ "$(get /metrics -H "Authorization: Bearer $tok")" = 200 ]
	is_metrics
	[ "$(get / -H "Authorization: Bearer $tok")" = 200 ]
	is_page
}

@test "public_status = false: /v1/health, /v1/licenses, slctl status and slcheck check stay open" {
	sl_serve lic1 'public_status = false'
	u=$(sl_url lic1)

	[ "$(get /v1/health)" = 200 ]
	jq -e '.status == "ok" and .name == "lic1"' body
	[ "$(get /v1/licenses)" = 200 ]
	jq -e '[.licenses[].id] | sort == ["cad-1", "sim-hard", "view-free"]' body
	# Checkouts, too: the switch is about reading the status only.
	sl_co_lease "$u" cad client=c1 >/dev/null
	[ "$(get /v1/licenses)" = 200 ]
	jq -e '.licenses[] | select(.id == "cad-1") | .in_use == 1' body

	# slctl status and slcheck check read /v1/health and /v1/licenses only.
	run "$SLCTL" -s "$u" status
	assert_success
	assert_output --regexp 'cad-1 +cad +1 +2 '
	run "$SLCHECK" -s "$u" check
	assert_success
	assert_output --partial 'SL OK'
}

@test "public_status absent or true: /metrics and / stay public" {
	sl_serve lic1
	u=$(sl_url lic1)
	[ "$(get /metrics)" = 200 ]
	is_metrics
	[ "$(get /)" = 200 ]
	is_page
	# A wrong token does not make a public page private.
	[ "$(get /metrics -H 'Authorization: Bearer not-the-admin-token-0123456789')" = 200 ]
	is_metrics

	sl_stop lic1
	sl_serve lic2 'public_status = true'
	u=$(sl_url lic2)
	[ "$(get /metrics)" = 200 ]
	grep -Fxq '# TYPE sl_license_seats_in_use gauge' body
	[ "$(get /)" = 200 ]
	head -n1 body | grep -Fxq '<!DOCTYPE html>'
}

# check_conf LINE: `run` slserve -n on a config of lic1 with LINE (its
# stderr apart).
check_conf() {
	sl_server_config lic1 "$(sl_free_port)" "$1"
	run --separate-stderr "$SLSERVE" -n -f "$SL_TMP/lic1/slserve.conf"
}

@test "slserve -n: public_status is a boolean, a bad value names file:line" {
	check_conf 'public_status = false'
	assert_success
	assert_output "configuration OK"

	check_conf 'public_status = maybe'
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[[ $stderr == "$SL_TMP/lic1/slserve.conf:5: "* ]] || { echo "stderr: $stderr" >&2; false; }
	[[ $stderr == *boolean*public_status* ]] || { echo "stderr: $stderr" >&2; false; }
}

@test "public_leases absent: GET /v1/leases needs the admin token" {
	sl_serve lic1
	u=$(sl_url lic1)
	sl_co_lease "$u" cad client=c1 >/dev/null
	[ "$(get /v1/leases)" = 401 ]
	refused
	run --separate-stderr env -u SL_TOKEN "$SLCTL" -s "$u" leases
	assert_equal "$status" 77
}

@test "public_leases = true: who holds seats, since when, without the admin token; no lease ids" {
	sl_serve lic1 'public_leases = true'
	u=$(sl_url lic1)
	tok=$(sl_admin_token lic1)
	lease=$(sl_co_lease "$u" cad client=c1)
	[ "$(get /v1/leases)" = 200 ]
	jq -e '.server == "lic1" and (.leases | length) == 1 and
	    (.leases[0] | keys == ["expires_in", "host", "license", "pool", "product", "since", "user"] and
	     .user == "u" and .host == "h" and .license == "cad-1" and .product == "cad" and
	     .pool == "lic1" and (.since | type == "number") and (.expires_in | type == "number"))' body
	! grep -Fq "$lease" body
	[ "$(get '/v1/leases?product=sim')" = 200 ]
	jq -e '.leases == []' body
	# With the admin token: every field, the lease id too.
	[ "$(get /v1/leases -H "Authorization: Bearer $tok")" = 200 ]
	jq -e --arg id "$lease" '.leases[0] | .lease == $id and .client == "c1" and .pid == 1' body
	# A wrong token is refused, not served as public.
	[ "$(get /v1/leases -H 'Authorization: Bearer not-the-admin-token-0123456789')" = 401 ]
	refused
	# The other admin calls stay closed.
	[ "$(curl -sS -m 5 -o /dev/null -w '%{http_code}' -X POST "$u/v1/leases/$lease/revoke")" = 401 ]
	[ "$(get /v1/admin/failover)" = 401 ]
	# slctl leases without a token lists the holders, without ids.
	run --separate-stderr env -u SL_TOKEN "$SLCTL" -s "$u" --json leases
	assert_success
	jq -e 'length == 1 and (.[0].leases | length == 1 and (.[0] | .user == "u" and has("lease") == false))' <<<"$output"
	run --separate-stderr env -u SL_TOKEN "$SLCTL" -s "$u" leases
	assert_success
	assert_line --index 1 --regexp '^- +cad-1 +lic1 +- +u +h '
}

@test "slserve -n: public_leases is a boolean, a bad value names file:line" {
	check_conf 'public_leases = true'
	assert_success
	assert_output "configuration OK"
	check_conf 'public_leases = sometimes'
	[ "$status" -eq 1 ]
	[[ $stderr == "$SL_TMP/lic1/slserve.conf:5: "*boolean*public_leases* ]] || { echo "stderr: $stderr" >&2; false; }
}

@test "public_status = false: a browser gets a short HTML notice saying how to see the page" {
	sl_serve lic1 'public_status = false'
	u=$(sl_url lic1)
	[ "$(get / -H 'Accept: text/html,application/xhtml+xml,*/*;q=0.8')" = 401 ]
	grep -Fxiq 'Content-Type: text/html; charset=utf-8' <(tr -d '\r' <headers)
	head -n1 body | grep -Fxq '<!DOCTYPE html>'
	grep -Fxq '<h1>lic1</h1>' body
	grep -Fq '<p id="notice">This status page is private (<code>public_status = false</code> in slserve.conf): it needs the admin token of server &quot;lic1&quot;, which a browser does not send.</p>' body
	grep -Fq "<code>curl -H &quot;Authorization: Bearer \$(cat STATE_DIR/admin.token)&quot; $u/</code>" body
	grep -Fq "The licenses, without a token: <code>slctl -s $u status</code>" body
	grep -Fq 'set <code>public_status = true</code> in slserve.conf and restart slserve.' body
	# Nothing of the page itself, no license, no script, no link.
	! grep -Fq 'cad-1' body
	! grep -Eiq '<script|(src|href)=' body
	# The command it gives works.
	[ "$(get / -H "Authorization: Bearer $(sl_admin_token lic1)" -H 'Accept: text/html')" = 200 ]
	is_page
	# Scripts and /metrics still get the JSON 401.
	[ "$(get / -H 'Accept: application/json')" = 401 ]
	refused
	[ "$(get /metrics -H 'Accept: text/html')" = 401 ]
	refused
}
