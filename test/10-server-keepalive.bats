#!/usr/bin/env bats
# HTTP/1.1 keep-alive: one client connection serves many requests, including
# POSTs with bodies whose answers wait for the journal's sync.

load helpers-server

setup() {
	sl_setup
	sl_start_s1
}

teardown() { sl_server_teardown; }

# curl_trace CURL-ARGS...: run one curl invocation with -v; $output holds the
# verbose trace, $CODES the status of each transfer, one per line.
curl_trace() {
	run curl -sv -o /dev/null -w '%{http_code}\n' "$@"
	assert_success
	CODES=$(grep -E '^[0-9]{3}$' <<<"$output" | tr '\n' ' ')
}

# one_connection N: the trace shows one connect and N-1 re-uses of it.
one_connection() {
	local connected reused
	connected=$(grep -c '^\* Connected to ' <<<"$output" || true)
	reused=$(grep -c '^\* Re-using existing connection' <<<"$output" || true)
	[ "$connected" -eq 1 ] && [ "$reused" -eq $(($1 - 1)) ] && return 0
	echo "connections made: $connected, re-used: $reused (want 1 and $(($1 - 1)))" >&2
	grep -E '^\* (Connected|Re-using|Closing|Connection)' <<<"$output" >&2
	return 1
}

@test "three GETs in one curl share one connection" {
	curl_trace "$U/v1/health" "$U/v1/licenses" "$U/v1/health"
	one_connection 3
	assert_equal "$CODES" "200 200 200 "
	# The server does not ask to close it.
	refute_output --partial '< Connection: close'
}

@test "fifty requests on one connection" {
	local urls=() i
	for i in $(seq 1 25); do urls+=("$U/v1/health" "$U/v1/licenses"); done
	curl_trace "${urls[@]}"
	one_connection 50
	[ "$(tr -d ' ' <<<"$CODES" | tr -d '\n')" = "$(printf '200%.0s' $(seq 1 50))" ]
}

@test "POST checkouts with bodies share one connection and each gets 201" {
	local body='{"product":"viewer","client":"keepalive"}'
	curl_trace -H 'Content-Type: application/json' -d "$body" "$U/v1/checkout" \
	    --next -w '%{http_code}\n' -o /dev/null -H 'Content-Type: application/json' -d "$body" "$U/v1/checkout" \
	    --next -w '%{http_code}\n' -o /dev/null -H 'Content-Type: application/json' -d "$body" "$U/v1/checkout" \
	    --next -w '%{http_code}\n' -o /dev/null -H 'Content-Type: application/json' -d "$body" "$U/v1/checkout"
	one_connection 4
	assert_equal "$CODES" "201 201 201 201 "
	[ "$(sl_in_use "$U" view-free)" = 4 ]
}

@test "checkout, heartbeat, checkin and a re-checkout of one lease on one connection" {
	local next=(--next -o /dev/null -w '%{http_code}\n')
	curl_trace -d '{"product":"cad","lease":"ka-1-0123456789abcdef0123456789abcdef"}' "$U/v1/checkout" \
	    "${next[@]}" -X POST "$U/v1/leases/ka-1-0123456789abcdef0123456789abcdef/heartbeat" \
	    "${next[@]}" -X DELETE "$U/v1/leases/ka-1-0123456789abcdef0123456789abcdef" \
	    "${next[@]}" -X DELETE "$U/v1/leases/ka-1-0123456789abcdef0123456789abcdef" \
	    "${next[@]}" -d '{"product":"cad","lease":"ka-1-0123456789abcdef0123456789abcdef"}' "$U/v1/checkout" \
	    "${next[@]}" -d '{"product":"cad","lease":"ka-1-0123456789abcdef0123456789abcdef"}' "$U/v1/checkout" \
	    "${next[@]}" "$U/v1/health"
	one_connection 7
	assert_equal "$CODES" "201 200 200 404 201 200 200 "
	[ "$(sl_in_use "$U" cad-1)" = 1 ]
}

@test "error answers keep the connection open too" {
	local next=(--next -o /dev/null -w '%{http_code}\n')
	curl_trace "$U/nowhere" \
	    "${next[@]}" -d '{"product":' "$U/v1/checkout" \
	    "${next[@]}" -d '{"product":"nosuch"}' "$U/v1/checkout" \
	    "${next[@]}" -X PUT "$U/v1/health" \
	    "${next[@]}" -d '{"product":"sim"}' "$U/v1/checkout" \
	    "${next[@]}" -d '{"product":"sim"}' "$U/v1/checkout" \
	    "${next[@]}" "$U/v1/health"
	one_connection 7
	assert_equal "$CODES" "404 400 404 405 201 409 200 "
}

@test "an oversized body is answered 413 and the connection still serves" {
	# On a raw connection: curl itself drops a connection whose error answer
	# came while it still counted its upload as unfinished.
	local port=${U##*:} fd
	exec {fd}<>"/dev/tcp/127.0.0.1/$port"
	{
		printf 'POST /v1/checkout HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n'
		printf 'Content-Length: 70000\r\n\r\n'
		head -c 70000 /dev/zero | tr '\0' ' '
		printf 'POST /v1/checkout HTTP/1.1\r\nHost: t\r\nContent-Length: 20\r\n\r\n'
		printf '{"product":"viewer"}'
		printf 'GET /v1/health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n'
	} >&$fd
	timeout 10 cat <&$fd >"$SL_TMP/answers"
	exec {fd}>&-
	run grep -ao '^HTTP/1.1 [0-9]*' "$SL_TMP/answers"
	assert_output "$(printf 'HTTP/1.1 413\nHTTP/1.1 201\nHTTP/1.1 200')"
	grep -aq '"error":"too_large"' "$SL_TMP/answers"
	[ "$(sl_in_use "$U" view-free)" = 1 ]
}

@test "concurrent keep-alive clients each use one connection" {
	local i pids=()
	for i in 1 2 3 4 5 6; do
		(
			args=()
			for j in $(seq 1 10); do
				args+=(--next -o /dev/null -w '%{http_code}\n'
				    -d "{\"product\":\"viewer\",\"lease\":\"c$i-$j-0123456789abcdef0123456789abcdef\"}" "$U/v1/checkout")
			done
			curl -sv "${args[@]:1}" >"$SL_TMP/client$i.out" 2>&1
		) &
		pids+=($!)
	done
	wait "${pids[@]}"
	for i in 1 2 3 4 5 6; do
		output=$(cat "$SL_TMP/client$i.out")
		one_connection 10
		[ "$(grep -cx 201 "$SL_TMP/client$i.out")" -eq 10 ]
	done
	[ "$(sl_in_use "$U" view-free)" = 60 ]
}
