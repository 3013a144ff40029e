#!/usr/bin/env bats
# Bad input: every malformed request gets the right 4xx with {"error","message"},
# changes nothing, and leaves the server answering.

load helpers-server

setup() {
	sl_setup
	sl_start_s1
	# Some state that must survive every bad request untouched.
	sl_grant cad held-1-0123456789abcdef0123456789abcdef
	sl_grant sim held-2-0123456789abcdef0123456789abcdef
	BEFORE=$(sl_fingerprint "$U")
}

teardown() { sl_server_teardown; }

# unchanged: no seat, counter or journal record moved, and the server answers.
unchanged() {
	local after
	after=$(sl_fingerprint "$U") || { echo "server does not answer" >&2; return 1; }
	[ "$after" = "$BEFORE" ] && return 0
	echo "state changed: before $BEFORE" >&2
	echo "               after  $after" >&2
	return 1
}

# run_table: each line of stdin is STATUS|CODE|METHOD|PATH|BODY (BODY "-" =
# none, "@FILE" = a file's bytes). Every row must answer exactly STATUS with a
# body that is exactly {"error": CODE, "message": text}, and the rows together
# must change nothing (the journal sequence only grows, so one check at the
# end sees any row's change; SL_CHECK_EACH_ROW=1 checks after every row).
run_table() {
	local status code method path body n=0 dir="$SL_TMP/rows"
	rm -rf "$dir"
	mkdir -p "$dir"
	while IFS='|' read -r status code method path body; do
		[ -n "$status" ] || continue
		n=$((n + 1))
		sl_req "$method" "$U$path" "$body"
		printf '%s' "$HTTP_BODY" >"$dir/$n.json"
		if [ "$HTTP_CODE" != "$status" ] || [[ $HTTP_BODY != *"\"error\":\"$code\""* ]] ||
		    { [ -n "${SL_CHECK_EACH_ROW:-}" ] && ! unchanged; }; then
			echo "row $n: $method $path body: $body" >&2
			echo "  want HTTP $status $code, got HTTP $HTTP_CODE: $HTTP_BODY" >&2
			return 1
		fi
	done
	[ "$n" -gt 0 ]
	# One jq for all rows: each body is exactly {"error","message"}.
	local bad
	bad=$(cd "$dir" && jq -r 'select((keys != ["error", "message"]) or
	    (.error | type != "string") or (.message | type != "string" or length == 0)) |
	    input_filename' $(seq -f '%g.json' 1 "$n")) || { echo "a body is not JSON" >&2; return 1; }
	[ -z "$bad" ] || { echo "not {error,message}: rows $bad" >&2; return 1; }
	unchanged
}

@test "malformed and wrongly typed checkout bodies: 400 bad_request" {
	run_table <<-'EOF'
	400|bad_request|POST|/v1/checkout|{
	400|bad_request|POST|/v1/checkout|{"product":"cad"
	400|bad_request|POST|/v1/checkout|{"product":"cad"}}
	400|bad_request|POST|/v1/checkout|{"product":"cad",}
	400|bad_request|POST|/v1/checkout|{'product':'cad'}
	400|bad_request|POST|/v1/checkout|product=cad
	400|bad_request|POST|/v1/checkout|null
	400|bad_request|POST|/v1/checkout|[]
	400|bad_request|POST|/v1/checkout|["cad"]
	400|bad_request|POST|/v1/checkout|"cad"
	400|bad_request|POST|/v1/checkout|42
	400|bad_request|POST|/v1/checkout|{"product":5}
	400|bad_request|POST|/v1/checkout|{"product":null}
	400|bad_request|POST|/v1/checkout|{"product":true}
	400|bad_request|POST|/v1/checkout|{"product":["cad"]}
	400|bad_request|POST|/v1/checkout|{"product":{"name":"cad"}}
	400|bad_request|POST|/v1/checkout|{"product":""}
	400|bad_request|POST|/v1/checkout|{"product":"ca d"}
	400|bad_request|POST|/v1/checkout|{"product":"cad/../x"}
	400|bad_request|POST|/v1/checkout|{"product":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}
	400|bad_request|POST|/v1/checkout|{"product":"cad","pool":7}
	400|bad_request|POST|/v1/checkout|{"product":"cad","pool":"no pool"}
	400|bad_request|POST|/v1/checkout|{"product":"cad","lease":"bad id"}
	400|bad_request|POST|/v1/checkout|{"product":"cad","lease":""}
	400|bad_request|POST|/v1/checkout|{"product":"cad","lease":12345}
	400|bad_request|POST|/v1/checkout|{"product":"cad","pid":"42"}
	400|bad_request|POST|/v1/checkout|{"product":"cad","pid":-1}
	400|bad_request|POST|/v1/checkout|{"product":"cad","pid":1.5}
	400|bad_request|POST|/v1/checkout|{"product":"cad","pid":1e400}
	400|bad_request|POST|/v1/checkout|{"product":"cad","pid":99999999999999999999999}
	400|bad_request|POST|/v1/checkout|{"product":"cad","client":17}
	400|bad_request|POST|/v1/checkout|{"product":"cad","user":"a\u0001b"}
	400|bad_request|POST|/v1/checkout|{"product":"cad","host":"a\nb"}
	400|bad_request|POST|/v1/checkout|{"product":"c\u0000ad"}
	400|bad_request|POST|/v1/checkout|{"product":"cad","product":"sim"}
	EOF
}

@test "missing, unknown and empty: 400 bad_request" {
	run_table <<-'EOF'
	400|bad_request|POST|/v1/checkout|{}
	400|bad_request|POST|/v1/checkout|{"client":"bats","user":"u"}
	400|bad_request|POST|/v1/checkout|{"product":"cad","bogus":1}
	400|bad_request|POST|/v1/checkout|{"product":"cad","Product":"cad"}
	400|bad_request|POST|/v1/checkout|
	400|bad_request|POST|/v1/checkout|-
	400|bad_request|POST|/v1/checkout|   
	EOF
}

@test "client text longer than 255 bytes and invalid UTF-8: 400 bad_request" {
	local long
	long=$(head -c 256 /dev/zero | tr '\0' x)
	printf '{"product":"cad","user":"%s"}' "$long" >"$SL_TMP/long.json"
	printf '{"product":"cad","user":"\xff\xfe"}' >"$SL_TMP/utf8.json"
	run_table <<-EOF
	400|bad_request|POST|/v1/checkout|@$SL_TMP/long.json
	400|bad_request|POST|/v1/checkout|@$SL_TMP/utf8.json
	EOF
}

@test "deeply nested JSON: 400, no crash" {
	{ head -c 100000 /dev/zero | tr '\0' '['; } >"$SL_TMP/deep.json"
	{ printf '{"product":"cad","client":'; head -c 30000 /dev/zero | tr '\0' '['; } >"$SL_TMP/deep2.json"
	run_table <<-EOF
	413|too_large|POST|/v1/checkout|@$SL_TMP/deep.json
	400|bad_request|POST|/v1/checkout|@$SL_TMP/deep2.json
	EOF
}

@test "a body over 64 KiB: 413 too_large, also on heartbeat and checkin paths" {
	{ printf '{"product":"cad","client":"'; head -c 70000 /dev/zero | tr '\0' x; printf '"}'; } >"$SL_TMP/big.json"
	head -c $((1 << 20)) /dev/zero | tr '\0' ' ' >"$SL_TMP/huge.json"
	run_table <<-EOF
	413|too_large|POST|/v1/checkout|@$SL_TMP/big.json
	413|too_large|POST|/v1/checkout|@$SL_TMP/huge.json
	413|too_large|POST|/v1/leases/held-1-0123456789abcdef0123456789abcdef/heartbeat|@$SL_TMP/big.json
	413|too_large|DELETE|/v1/leases/held-1-0123456789abcdef0123456789abcdef|@$SL_TMP/big.json
	EOF
}

@test "unknown paths: 404 not_found" {
	run_table <<-'EOF'
	404|not_found|GET|/v1|-
	404|not_found|GET|/v1/|-
	404|not_found|GET|/v2/health|-
	404|not_found|GET|/v1/health/|-
	404|not_found|GET|/v1/healthz|-
	404|not_found|GET|//v1/health|-
	404|not_found|POST|/v1/checkout/cad|{"product":"cad"}
	404|not_found|POST|/v1/leases/held-1-0123456789abcdef0123456789abcdef/heartbeat/more|-
	404|not_found|POST|/v1/leases//heartbeat|-
	404|not_found|GET|/etc/passwd|-
	404|not_found|GET|/v1/leases/held-1-0123456789abcdef0123456789abcdef/../../health|-
	EOF
}

@test "error answers carry the JSON content type and the epoch and server headers" {
	local epoch
	epoch=$(curl -fsS "$U/v1/health" | jq -r .epoch)
	local args
	for args in "$U/nowhere" "-d { $U/v1/checkout" "-X PUT $U/v1/health" \
	    "-X POST $U/v1/leases/nope/heartbeat" "$U/v1/leases"; do
		# shellcheck disable=SC2086
		curl -s -o /dev/null -D "$SL_TMP/h" $args
		grep -q '^HTTP/1.1 4[0-9][0-9] ' "$SL_TMP/h"
		grep -qi '^Content-Type: application/json' "$SL_TMP/h"
		grep -qi "^X-SL-Epoch: $epoch"$'\r'"\$" "$SL_TMP/h"
		grep -qi '^X-SL-Server: s1'$'\r''$' "$SL_TMP/h"
	done
}

@test "wrong methods: 405 method_not_allowed with an Allow header" {
	run_table <<-'EOF'
	405|method_not_allowed|POST|/v1/health|{}
	405|method_not_allowed|DELETE|/v1/health|-
	405|method_not_allowed|PUT|/v1/licenses|{}
	405|method_not_allowed|GET|/v1/checkout|-
	405|method_not_allowed|PUT|/v1/checkout|{"product":"cad"}
	405|method_not_allowed|DELETE|/v1/checkout|-
	405|method_not_allowed|GET|/v1/leases/held-1-0123456789abcdef0123456789abcdef/heartbeat|-
	405|method_not_allowed|PUT|/v1/leases/held-1-0123456789abcdef0123456789abcdef|-
	405|method_not_allowed|PATCH|/v1/leases/held-1-0123456789abcdef0123456789abcdef|{}
	EOF
	curl -s -o /dev/null -D "$SL_TMP/h" -X PUT "$U/v1/checkout"
	grep -qi '^Allow: POST'$'\r''$' "$SL_TMP/h"
}

@test "405: the Allow header lists every method of the path, in route order; no Allow otherwise" {
	curl -s -o /dev/null -D "$SL_TMP/h" -X DELETE "$U/v1/admin/failover"
	grep -qi '^Allow: GET, PUT'$'\r''$' "$SL_TMP/h"
	curl -s -o "$SL_TMP/b" -D "$SL_TMP/h" -X POST "$U/metrics"
	grep -qi '^Allow: GET, HEAD'$'\r''$' "$SL_TMP/h"
	jq -e '.message == "POST is not allowed on /metrics (allowed: GET, HEAD)"' "$SL_TMP/b"
	curl -s -o /dev/null -D "$SL_TMP/h" "$U/v1/health"
	[ -z "$(grep -i '^Allow:' "$SL_TMP/h")" ]
	curl -s -o /dev/null -D "$SL_TMP/h" -X PUT "$U/v1/no/such/path"
	grep -q '^HTTP/1.1 404' "$SL_TMP/h"
	[ -z "$(grep -i '^Allow:' "$SL_TMP/h")" ]
}

@test "invalid lease ids in the path: 400 bad_request; unknown ones 404" {
	local long65
	long65=$(head -c 65 /dev/zero | tr '\0' a)
	run_table <<-EOF
	400|bad_request|POST|/v1/leases/bad!id/heartbeat|-
	400|bad_request|POST|/v1/leases/a%20b/heartbeat|-
	400|bad_request|POST|/v1/leases/%ff%fe/heartbeat|-
	400|bad_request|POST|/v1/leases/$long65/heartbeat|-
	400|bad_request|DELETE|/v1/leases/bad!id|-
	400|bad_request|DELETE|/v1/leases/$long65|-
	404|unknown_lease|POST|/v1/leases/not-held/heartbeat|-
	404|unknown_lease|DELETE|/v1/leases/not-held|-
	404|unknown_lease|DELETE|/v1/leases/held-|-
	EOF
	# Much longer ids are refused too (as 400 or 404, never a crash).
	local long
	long=$(head -c 5000 /dev/zero | tr '\0' a)
	sl_req POST "$U/v1/leases/$long/heartbeat"
	[[ $HTTP_CODE == 400 || $HTTP_CODE == 404 || $HTTP_CODE == 414 ]]
	unchanged
}

@test "huge header or URL: refused with 431/414, nothing changes, the server still answers" {
	# libmicrohttpd refuses these itself, before any handler of ours runs, so
	# the body is the library's short HTML page, not {"error","message"}.
	local big
	big=$(head -c 100000 /dev/zero | tr '\0' a)
	sl_req POST "$U/v1/checkout" '{"product":"cad"}' -H "X-Padding: $big"
	sl_expect 431
	unchanged
	sl_req GET "$U/v1/health?x=$big"
	sl_expect 414
	unchanged
	# Many small headers add up to the same.
	local args=() i
	for i in $(seq 1 2000); do args+=(-H "X-H$i: $i"); done
	sl_req POST "$U/v1/checkout" '{"product":"cad"}' "${args[@]}"
	sl_expect 431
	unchanged
	# A long header that fits is served normally.
	big=$(head -c 8000 /dev/zero | tr '\0' a)
	sl_req GET "$U/v1/health" - -H "X-Padding: $big"
	sl_expect 200
}

@test "idle and half-sent connections do not stall other clients" {
	local port=${U##*:} i
	# Five connections that send half a request and then nothing.
	for i in 1 2 3 4 5; do
		exec {fd}<>"/dev/tcp/127.0.0.1/$port"
		printf 'POST /v1/checkout HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"prod' >&$fd
		eval "fd$i=$fd"
	done
	exec {idle}<>"/dev/tcp/127.0.0.1/$port"
	# Others are served at once.
	local t0=$SECONDS
	for i in 1 2 3; do
		sl_req GET "$U/v1/health"
		sl_expect 200
	done
	sl_checkout "$U" '{"product":"viewer","lease":"while-stalled-0123456789abcdef0123456789abcdef"}'
	sl_expect 201
	# (connection_timeout is 30 s: a stall would show.)
	[ $((SECONDS - t0)) -le 5 ]
	for i in 1 2 3 4 5; do eval "exec {fd$i}>&-"; done
	exec {idle}>&-
}

@test "garbage on the socket: the server answers 400 or closes, and keeps serving" {
	local port=${U##*:}
	printf 'this is not http\r\n\r\n' | timeout 5 curl -s -m 2 "telnet://127.0.0.1:$port" >/dev/null 2>&1 || true
	printf 'GET /v1/health HTTP/9.9\r\n\r\n' | timeout 5 curl -s -m 2 "telnet://127.0.0.1:$port" >/dev/null 2>&1 || true
	head -c 100000 /dev/urandom | timeout 5 curl -s -m 2 "telnet://127.0.0.1:$port" >/dev/null 2>&1 || true
	unchanged
	sl_req GET "$U/v1/health"
	sl_expect 200
}

@test "after a storm of bad requests the held leases are intact" {
	local i pids=()
	for i in $(seq 1 30); do
		curl -s -o /dev/null -m 2 -d '{"product":' "$U/v1/checkout" &
		pids+=($!)
		curl -s -o /dev/null -m 2 -X DELETE "$U/v1/leases/bad!id" &
		pids+=($!)
		curl -s -o /dev/null -m 2 "$U/nowhere" &
		pids+=($!)
	done
	wait "${pids[@]}"
	unchanged
	sl_req POST "$U/v1/leases/held-1-0123456789abcdef0123456789abcdef/heartbeat"
	sl_expect 200
	sl_req POST "$U/v1/leases/held-2-0123456789abcdef0123456789abcdef/heartbeat"
	sl_expect 200
}
