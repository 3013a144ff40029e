#!/usr/bin/env bats
# Hardening: a network partition between a Primary A and its backup B while
# a client reaches both, in network namespaces this test makes: a bridge in
# a namespace of its own, and A, B, a witness W and the client C each in a
# namespace on 10.213.0.0/24 (traffic that never leaves the machine). The
# partition is a pair of blackhole routes between A and B only.
# Without a witness B takes over and both grant the count: the over-grant is
# measured. With witness = W, B does not take over: no over-grant; and when A
# really dies, B still takes over.

load helpers-hardening

COUNT=4
IP_A=10.213.0.1 IP_B=10.213.0.2 IP_W=10.213.0.3 IP_C=10.213.0.4

setup() {
	[ "$(id -u)" -eq 0 ] || skip "network namespaces need root"
	NS=slp$$x$BATS_TEST_NUMBER
	ip netns add "${NS}r" 2>"$BATS_TEST_TMPDIR/netns.err" ||
	    skip "ip netns add failed: $(cat "$BATS_TEST_TMPDIR/netns.err")"
	if ! ip -n "${NS}r" link add br0 type bridge 2>"$BATS_TEST_TMPDIR/netns.err"; then
		ip netns del "${NS}r"
		skip "no bridge in a network namespace: $(cat "$BATS_TEST_TMPDIR/netns.err")"
	fi
	sl_setup
	ip -n "${NS}r" link set br0 up
	local x ip
	for x in a b w c; do
		case $x in a) ip=$IP_A ;; b) ip=$IP_B ;; w) ip=$IP_W ;; c) ip=$IP_C ;; esac
		ip netns add "${NS}$x"
		ip -n "${NS}r" link add "v$x" type veth peer name eth0 netns "${NS}$x"
		ip -n "${NS}r" link set "v$x" master br0 up
		ip -n "${NS}$x" addr add "$ip/24" dev eth0
		ip -n "${NS}$x" link set eth0 up
		ip -n "${NS}$x" link set lo up
	done
	sl_token "$SL_TMP/peer.token"
	A=http://$IP_A:7070 B=http://$IP_B:7070 W=http://$IP_W:7070
}

teardown() {
	[ -n "${NS:-}" ] || return 0
	sl_teardown
	local x
	for x in a b w c r; do ip netns del "${NS}$x" 2>/dev/null || true; done
}

# in_c CMD...: run CMD in the client's namespace.
in_c() { ip netns exec "${NS}c" "$@"; }

# server NAME IP [CONFIG-LINES...]: configure and start slserve NAME in its
# namespace; the client waits until it answers.
server() {
	local name=$1 ip=$2
	shift 2
	sl_server_config "$name" 7070 "peer_token_file = \"$SL_TMP/peer.token\"" "$@"
	sed -i "s/^listen = .*/listen = \"$ip:7070\"/" "$SL_TMP/$name/slserve.conf"
	sl_licenses "$name" "$name-cad cad $COUNT 300"
	ip netns exec "${NS}$(tr 'A-Z' 'a-z' <<<"$name")" \
	    "$SLSERVE" -d -f "$SL_TMP/$name/slserve.conf" >>"$SL_TMP/$name/log" 2>&1 &
	echo $! >"$SL_TMP/$name.pid"
	sl_until 10 in_c curl -fsS -m 1 -o /dev/null "http://$ip:7070/v1/health" ||
	    { cat "$SL_TMP/$name/log" >&2; return 1; }
}

backup_status_is() {
	in_c curl -fsS -m 1 "$B/v1/health" | jq -e --arg s "$1" 'any(.backs_up[]; .pool == "A" and .status == $s)' >/dev/null
}

# cut / heal: the blackhole routes between A and B (C and W reach both).
cut() {
	ip -n "${NS}a" route add blackhole "$IP_B/32"
	ip -n "${NS}b" route add blackhole "$IP_A/32"
	run in_c curl -fsS -m 1 -o /dev/null "$A/v1/health"
	assert_success
	run ip netns exec "${NS}b" curl -sS -m 1 -o /dev/null "$A/v1/health"
	assert_failure
}
heal() {
	ip -n "${NS}a" route del blackhole "$IP_B/32"
	ip -n "${NS}b" route del blackhole "$IP_A/32"
}

# grants URL [POOL]: check out seats of cad until refused (COUNT + 2 tries);
# prints how many were granted.
grants() {
	local n=0 i code body
	body='{"product":"cad","client":"c"'${2:+,\"pool\":\"$2\"}'}'
	for i in $(seq $((COUNT + 2))); do
		code=$(in_c curl -sS -m 3 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
		    --data-binary "$body" "$1/v1/checkout")
		[ "$code" = 201 ] && n=$((n + 1))
	done
	echo "$n"
}

in_use_on_a() {
	in_c curl -fsS -m 2 "$A/v1/licenses" | jq '.licenses[] | select(.id == "A-cad") | .in_use'
}

@test "partition without a witness: the backup takes over and both grant the count" {
	server A "$IP_A"
	server B "$IP_B" "failover \"A\" { url = \"$A\" poll_interval = 0.2 fail_after = 3 }"
	sl_until 10 backup_status_is warm
	cut
	sl_until 10 backup_status_is hot-retry
	local on_a on_b
	on_a=$(grants "$A")
	on_b=$(grants "$B" A)
	echo "# without a witness: A granted $on_a, B granted $on_b, count $COUNT: over-grant $((on_a + on_b - COUNT))" >&3
	[ "$on_a" -eq "$COUNT" ]
	[ "$on_b" -eq "$COUNT" ]
	# healed, B hands back: A holds twice its count until seats end
	heal
	sl_until 10 backup_status_is warm
	[ "$(in_use_on_a)" -eq $((2 * COUNT)) ]
	[ "$(grants "$A")" -eq 0 ]
}

@test "partition with a witness: the backup does not take over, no over-grant; a dead Primary is still taken over" {
	server W "$IP_W"
	server A "$IP_A"
	server B "$IP_B" "failover \"A\" { url = \"$A\" poll_interval = 0.2 fail_after = 3 witness = \"$W\" }"
	sl_until 10 backup_status_is warm
	cut
	sl_until 10 sl_log_has B "witness $W does not confirm that $A is down; not taking over"
	backup_status_is warm
	local on_a on_b
	on_a=$(grants "$A")
	on_b=$(grants "$B" A)
	echo "# with a witness: A granted $on_a, B granted $on_b, count $COUNT: over-grant $((on_a + on_b - COUNT))" >&3
	[ "$on_a" -eq "$COUNT" ]
	[ "$on_b" -eq 0 ]
	run in_c curl -sS -m 3 -H 'Content-Type: application/json' \
	    --data-binary '{"product":"cad","pool":"A"}' "$B/v1/checkout"
	jq -e --arg a "$A" '.error == "not_serving" and .primary == $a' <<<"$output"
	# A really dies: the witness cannot reach it either, and B takes over
	sl_stop A KILL
	sl_until 10 backup_status_is hot-retry
	[ "$(grants "$B" A)" -gt 0 ]
}
