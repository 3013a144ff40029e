#!/usr/bin/env bats
# Count safety, "a seat belongs to its holder": a client-chosen lease id is
# honoured only for its holder and carries 128 bits; a takeover never takes
# the id of another pool's seat; expiry deadlines persist through kill -9
# (a restart gives what is left of a timeout, never a fresh one).

load helpers-failover

setup() { fo_setup; }
teardown() { sl_teardown; }

# A 32-hex-digit lease id, as slcheck makes them.
id_new() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n'; }

# checkout_as URL PRODUCT ID CLIENT USER HOST [POOL]: POST /v1/checkout.
checkout_as() {
	sl_req POST "$1/v1/checkout" "$(jq -cn --arg p "$2" --arg l "$3" --arg c "$4" \
	    --arg u "$5" --arg h "$6" --arg pool "${7:-}" \
	    '{product: $p, lease: $l, client: $c, user: $u, host: $h, pid: 7} +
	     (if $pool == "" then {} else {pool: $pool} end)')"
}

# one_server LICENSE...: server S on a free port with these licenses (URL S).
one_server() {
	sl_licenses S "$@"
	fo_config S
	sl_start S
	S=$(sl_url S)
}

# lease_of NAME ID JQ-FILTER: server NAME lists lease ID once, and FILTER
# holds on its entry.
lease_of() {
	fo_leases "$1" | jq -e --arg id "$2" \
	    "[.leases[] | select(.lease == \$id)] | length == 1 and (.[0] | $3)" >/dev/null
}

# renews_of NAME ID: renew records of lease ID in server NAME's journal.
renews_of() {
	grep -ac "\"op\":\"renew\",\"lease\":{\"id\":\"$2\"" "$SL_TMP/$1/state/journal" || true
}

@test "six users send one lease id: one seat, five lease_conflict, the holder's retry is 200" {
	one_server "cad-1 cad 3 30"
	id=$(id_new)
	pids=()
	for n in 1 2 3 4 5 6; do
		( checkout_as "$S" cad "$id" bats "user$n" "host$n"
		  echo "$HTTP_CODE $HTTP_BODY" >"$SL_TMP/answer.$n" ) &
		pids+=($!)
	done
	wait "${pids[@]}"
	cat "$SL_TMP"/answer.*
	[ "$(grep -c '^201 ' "$SL_TMP"/answer.* | awk -F: '{ s += $2 } END { print s }')" = 1 ]
	[ "$(grep -c '^409 ' "$SL_TMP"/answer.* | awk -F: '{ s += $2 } END { print s }')" = 5 ]
	for f in "$SL_TMP"/answer.*; do
		read -r code body <"$f"
		[ "$code" = 201 ] && continue
		jq -e '.error == "lease_conflict" and (.message | length > 0)' <<<"$body"
	done
	fo_lic_is "$S" cad-1 '.in_use == 1'

	# The holder's retry gets its seat back; nobody else gets one.
	winner=$(grep -l '^201 ' "$SL_TMP"/answer.*)
	n=${winner##*.}
	lease_of S "$id" ".user == \"user$n\" and .host == \"host$n\""
	checkout_as "$S" cad "$id" bats "user$n" "host$n"
	sl_expect 200 '.lease == $id and .license == "cad-1"' --arg id "$id"
	# same user, another host or client: not the same holder
	checkout_as "$S" cad "$id" bats "user$n" elsewhere
	sl_expect 409 '.error == "lease_conflict"'
	checkout_as "$S" cad "$id" other "user$n" "host$n"
	sl_expect 409 '.error == "lease_conflict"'
	fo_lic_is "$S" cad-1 '.in_use == 1'
}

@test "a client-chosen lease id needs 32 hex digits: a short one is 400" {
	one_server "cad-1 cad 3 30"
	for id in j1 job-1 0123456789abcdef0123456789abcde; do
		checkout_as "$S" cad "$id" bats u h
		sl_expect 400 '.error == "bad_request" and (.message | test("lease"))'
	done
	fo_lic_is "$S" cad-1 '.in_use == 0'
	for id in "$(id_new)" 0f8fad5b-d9cb-469f-a165-70867728950e "job-$(id_new)"; do
		checkout_as "$S" cad "$id" bats u h
		sl_expect 201 '.lease == $id' --arg id "$id"
	done
	fo_lic_is "$S" cad-1 '.in_use == 3'
}

@test "takeover: the Primary's lease with the id of one of the backup's own seats is refused" {
	fo_ports A B
	sl_licenses A "cad-a cad 1 30"
	sl_licenses B "cad-b cad 1 30"
	fo_config A
	fo_config B "$(fo_backs_up A)"
	sl_start A
	sl_start B
	fo_warm B A
	UA=$(sl_url A) UB=$(sl_url B)
	x=$(id_new)
	# B's own 1-seat license holds X for one holder; A grants X for another.
	checkout_as "$UB" cad "$x" b-client b-user b-host
	sl_expect 201 '.pool == "B" and .license == "cad-b"'
	checkout_as "$UA" cad "$x" a-client a-user a-host
	sl_expect 201 '.pool == "A" and .license == "cad-a"'
	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$x"

	fo_kill9_taken_over A B

	# B's seat X still belongs to its holder, and its license is full.
	lease_of B "$x" '.pool == "B" and .license == "cad-b" and .client == "b-client" and
	    .user == "b-user" and .host == "b-host"'
	fo_lic_is "$UB" cad-b '.in_use == 1'
	checkout_as "$UB" cad "$(id_new)" c-client c-user c-host
	sl_expect 409 '.error == "no_seats"'
	fo_lic_is "$UB" cad-b '.in_use == 1'
	# The refused record holds no seat of A's pool, and the log says why.
	fo_lic_is "$UB" cad-a '.in_use == 0'
	grep -F "takeover: lease $x of pool \"A\" (license cad-a) not adopted" "$SL_TMP/B/log" |
	    grep -F 'pool "B" (license cad-b)'
}

@test "crash loop: a dead holder's seat ends within timeout + timeout/2 though slserve restarts every 2 s" {
	one_server "soft-1 soft 1 5"
	id=$(id_new)
	checkout_as "$S" soft "$id" bats u h
	sl_expect 201
	sl_heartbeat "$S" "$id"
	sl_expect 200
	t0=$(sl_now_ms)
	limit_ms=$(((5 + 3 + FO_MARGIN) * 1000))
	# The holder is gone; slserve is killed and restarted, about every 2 s,
	# until the seat has ended (it did not: each start gave a fresh timeout).
	ended=0 restarts=0
	while [ $(($(sl_now_ms) - t0)) -lt "$limit_ms" ]; do
		sl_kill9 S
		sl_start S
		restarts=$((restarts + 1))
		if sl_until 1.5 fo_lic_is "$S" soft-1 '.in_use == 0'; then
			ended=1
			break
		fi
	done
	took=$(($(sl_now_ms) - t0))
	echo "# seat ended after ${took} ms and $restarts restarts (limit $limit_ms ms)" >&3
	[ "$ended" = 1 ]
	[ "$restarts" -ge 2 ]
	# ... for good: a new holder gets the one seat.
	checkout_as "$S" soft "$(id_new)" bats u2 h2
	sl_expect 201
}

@test "a heartbeat's renewal survives kill -9; a restart gives no fresh timeout" {
	one_server "soft-6 soft 1 6"
	id=$(id_new)
	checkout_as "$S" soft "$id" bats u h
	sl_expect 201
	# A heartbeat right after the grant is not journaled (every other one is).
	sl_heartbeat "$S" "$id"
	sl_expect 200
	[ "$(renews_of S "$id")" = 0 ]
	# Half a timeout on, a heartbeat is journaled before it is answered.
	sl_until 6 lease_of S "$id" '.expires_in <= 3'
	sl_heartbeat "$S" "$id"
	sl_expect 200 '.expires_in == 6'
	[ "$(renews_of S "$id")" = 1 ]

	sl_kill9 S
	sl_start S
	lease_of S "$id" '.expires_in != null and .expires_in <= 6 and .expires_in > 0'
	fo_lic_is "$S" soft-6 '.in_use == 1'
	sl_heartbeat "$S" "$id"
	sl_expect 200
}
