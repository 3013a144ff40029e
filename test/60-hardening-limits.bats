#!/usr/bin/env bats
# Hardening: connection, header, body and lease limits; idle and slow
# clients do not delay the others.

load helpers-hardening

setup() { hd_setup lim; }

# (a background helper's pid file lets sl_teardown stop it)
teardown() { sl_teardown; }

# loris IDLE TRICKLE SECONDS: test/slowloris.py in the background; waits
# until its connections are open ($SL_TMP/loris.out says how many).
loris() {
	python3 "$BATS_TEST_DIRNAME/slowloris.py" 127.0.0.1 "$PORT" "$@" >"$SL_TMP/loris.out" &
	LORIS=$!
	echo "$LORIS" >"$SL_TMP/loris.pid"
	sl_until 20 grep -q '^ready' "$SL_TMP/loris.out"
}

# health_ms: milliseconds GET /v1/health took; fails if no 200 within 3 s.
health_ms() {
	curl -fsS -m 3 -o /dev/null -w '%{time_total}' "$U/v1/health" |
	    awk '{ printf "%d\n", $1 * 1000 }'
}

# checkout CLIENT USER [PRODUCT]: POST /v1/checkout; sets CODE and BODY.
checkout() {
	BODY=$(curl -sS -m 3 -w '\n%{http_code}' -H 'Content-Type: application/json' \
	    --data-binary "{\"product\":\"${3:-viewer}\",\"client\":\"$1\",\"user\":\"$2\",\"host\":\"h\"}" \
	    "$U/v1/checkout")
	CODE=${BODY##*$'\n'}
	BODY=${BODY%$'\n'*}
}

@test "limits: max_connections is enforced; near it, the longest idle connections are closed to make room" {
	hd_start "max_connections = 8"
	loris 8 0 30
	grep -qx 'ready 8' "$SL_TMP/loris.out"
	# every slot is held: a ninth client waits...
	run curl -sS -m 0.3 -o /dev/null "$U/v1/health"
	assert_failure 28	# timed out
	# ...until the connections idle for a second are closed, down to half
	local t0=$SECONDS
	run curl -fsS -m 5 -o /dev/null -w '%{http_code}' "$U/v1/health"
	assert_output 200
	[ $((SECONDS - t0)) -le 3 ]
	sl_until 5 sl_log_has lim 'near max_connections \(8\): closed 4 idle'
}

@test "limits: max_connections_per_ip turns the extra connections of one address away at once" {
	hd_start "max_connections_per_ip = 4"
	loris 4 0 30
	local t0=$SECONDS
	run curl -sS -m 5 -o /dev/null "$U/v1/health"
	assert_failure	# closed at once (not a timeout, 28)
	[ "$status" -ne 28 ]
	[ $((SECONDS - t0)) -le 2 ]
	kill "$LORIS"
	sl_until 5 curl -fsS -m 1 -o /dev/null "$U/v1/health"
}

@test "limits: connections that send no whole request within request_timeout are closed, trickling or idle" {
	hd_start "connection_timeout = 30" "request_timeout = 2"
	loris 3 2 8
	sl_until 15 grep -q '^closed' "$SL_TMP/loris.out"
	run cat "$SL_TMP/loris.out"
	assert_output $'ready 5\nclosed 5'
	# requests that arrive whole are served as before
	run curl -fsS -m 3 -o /dev/null -o /dev/null -w '%{http_code}' "$U/v1/health" "$U/v1/licenses"
	assert_output 200200
}

@test "limits: an idle connection is closed after connection_timeout" {
	hd_start "connection_timeout = 2" "request_timeout = 60"
	loris 3 0 6
	sl_until 10 grep -q '^closed' "$SL_TMP/loris.out"
	run cat "$SL_TMP/loris.out"
	assert_output $'ready 3\nclosed 3'
}

@test "limits: 2000 idle connections and 30 clients trickling headers do not delay health or checkouts" {
	[ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -ge 2200 ] || skip "needs 2200 open files (ulimit -Hn)"
	ulimit -Sn "$(ulimit -Hn)"
	# the default max_connections, and no limit per address: all of them
	# come from 127.0.0.1
	hd_start "max_connections_per_ip = 0"
	loris 2000 30 30
	grep -qx 'ready 2030' "$SL_TMP/loris.out"
	local i ms worst=0
	for i in $(seq 20); do
		ms=$(health_ms)
		[ "$ms" -gt "$worst" ] && worst=$ms
	done
	echo "# worst of 20 health calls beside 2030 slow connections: $worst ms" >&3
	[ "$worst" -lt 1000 ]
	checkout c1 u1 cad
	[ "$CODE" = 201 ]
	run "$SLCHECK" -s "$U" check
	assert_success
}

@test "limits: header fields beyond the connection memory get 431, a long URL 414" {
	hd_start
	run curl -sS -m 3 -o /dev/null -w '%{http_code}' -H "X-Big: $(head -c 40000 /dev/zero | tr '\0' a)" "$U/v1/health"
	assert_output 431
	local hdrs=() i value
	value=$(head -c 60 /dev/zero | tr '\0' b)
	for i in $(seq 600); do hdrs+=(-H "X-Many-$i: $value"); done
	run curl -sS -m 3 -o /dev/null -w '%{http_code}' "${hdrs[@]}" "$U/v1/health"
	assert_output 431
	run curl -sS -m 3 -o /dev/null -w '%{http_code}' "$U/v1/health?x=$(head -c 40000 /dev/zero | tr '\0' a)"
	assert_output 414
	# and the server still serves
	run curl -fsS -m 3 -o /dev/null -w '%{http_code}' "$U/v1/health"
	assert_output 200
}

@test "limits: max_body bounds request bodies, with or without Content-Length" {
	hd_start "max_body = 2048"
	local pad
	pad=$(head -c 1900 /dev/zero | tr '\0' ' ')
	run curl -sS -m 3 -w '\n%{http_code}' -H 'Content-Type: application/json' \
	    --data-binary "{\"product\":\"cad\"$pad}" "$U/v1/checkout"
	assert_line --index 1 201
	pad=$(head -c 3000 /dev/zero | tr '\0' ' ')
	run curl -sS -m 3 -w '\n%{http_code}' -H 'Content-Type: application/json' \
	    --data-binary "{\"product\":\"cad\"$pad}" "$U/v1/checkout"
	assert_line --index 1 413
	jq -e '.error == "too_large" and (.message | test("2048"))' <<<"${lines[0]}"
	# chunked: no Content-Length to refuse early
	run curl -sS -m 3 -w '\n%{http_code}' -H 'Content-Type: application/json' \
	    -H 'Transfer-Encoding: chunked' --data-binary "{\"product\":\"cad\"$pad}" "$U/v1/checkout"
	assert_line --index 1 413
	# a huge declared length is refused without reading it
	run curl -sS -m 3 -w '\n%{http_code}' -H 'Content-Type: application/json' \
	    -H 'Content-Length: 100000000000' --data-binary '{}' "$U/v1/checkout"
	assert_line --index 1 413
	[ "$(sl_in_use "$U" cad-1)" = 1 ]
}

@test "limits: max_leases_per_client: 429 too_many_leases beyond it; others and checkins unaffected" {
	hd_start "max_leases_per_client = 2"
	checkout alice u1; [ "$CODE" = 201 ]
	local first
	first=$(jq -r .lease <<<"$BODY")
	checkout alice u1 cad; [ "$CODE" = 201 ]
	checkout alice u1; [ "$CODE" = 429 ]
	jq -e '.error == "too_many_leases"' <<<"$BODY"
	checkout alice u1 cad; [ "$CODE" = 429 ]
	# another user of the same client program, another client: their own count
	checkout alice u2; [ "$CODE" = 201 ]
	checkout bob u1; [ "$CODE" = 201 ]
	# a checkin frees a place
	run curl -fsS -m 3 -X DELETE "$U/v1/leases/$first"
	assert_success
	checkout alice u1; [ "$CODE" = 201 ]
	checkout alice u1; [ "$CODE" = 429 ]
	# the count survives a restart (it is rebuilt from the journal)
	sl_stop lim
	sl_start lim
	checkout alice u1; [ "$CODE" = 429 ]
	checkout alice u2; [ "$CODE" = 201 ]
}
