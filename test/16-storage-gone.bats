#!/usr/bin/env bats
# A new seat's answer waits, its connection suspended, until its record is
# on disk. A client that gives up meanwhile frees its connection and its
# seat at once (within a sweep of the server's main loop, every 0.25 s),
# not when the write ends: a slow disk cannot fill max_connections with
# clients long gone, nor hold seats for them (issue 16).

load helpers

setup() { sl_setup; }
teardown() { sl_teardown; }

# conns PORT: how many TCP connections slserve still has on PORT (any
# state but listening: a socket its client closed is CLOSE-WAIT until
# slserve closes it).
conns() { ss -Htn "( sport = :$1 )" | wc -l; }
no_conns() { [ "$(conns "$1")" -eq 0 ]; }

@test "checkouts waiting for a slow disk whose clients gave up free their connections and seats at once" {
	local port
	port=$(sl_free_port)
	sl_server_config A "$port" "request_timeout = 60"
	# Every batch of the journal takes 5 s to write.
	SL_TEST_JOURNAL_WRITE_DELAY_MS=5000 sl_start A
	local body='{"product":"viewer","client":"t","user":"u","host":"h"}'
	local pids=()
	for i in 1 2 3 4 5 6; do
		curl -s -m 0.5 -o /dev/null -d "$body" "$URL_A/v1/checkout" &
		pids+=($!)
	done
	wait "${pids[@]}" || true
	# Gone well before the write (5 s) could have ended.
	sl_until 3 no_conns "$port" || { ss -tn "( sport = :$port )" >&2; false; }
	[ "$(sl_in_use "$URL_A" view-free)" -eq 0 ]
	# Released when seen gone, or when libmicrohttpd saw it first.
	run grep -cE "released: its (client closed the connection before|answer was not delivered)" \
	    "$SL_TMP/A/log"
	assert_output 6
	# A client that waits gets its seat once the records before it are on
	# disk; after kill -9 only that seat is held.
	run curl -s -m 40 -o /dev/null -w '%{http_code}' -d "$body" "$URL_A/v1/checkout"
	assert_output 201
	sl_stop A KILL
	sl_start A
	[ "$(sl_in_use "$URL_A" view-free)" -eq 1 ]
}
