#!/usr/bin/env bats
# A backup whose Primary is up but refuses its polls must not take over.

load helpers-failover

setup() { sl_setup; }
teardown() { sl_teardown; }

@test "a Primary that refuses the backup's peer token is not taken over" {
	echo "primary-token-0123456789abcdef" >"$SL_TMP/a.token"
	echo "another-token-0123456789abcdef" >"$SL_TMP/b.token"
	fo_ports A B
	sl_server_config A "$(fo_port A)" "peer_token_file = \"$SL_TMP/a.token\""
	sl_server_config B "$(fo_port B)" "peer_token_file = \"$SL_TMP/b.token\"" "$(fo_backs_up A 0.1 2)"
	sl_start A
	sl_start B
	sl_until 10 grep -q 'refuses our polls (HTTP 401' "$SL_TMP/B/log" || { cat "$SL_TMP/B/log"; false; }
	# Ten more poll intervals: five times what a takeover would need.
	sleep 1
	run curl -s -o "$SL_TMP/out" -w '%{http_code}' -X POST "$(sl_url B)/v1/checkout" \
	    -d '{"product":"cad","pool":"A"}'
	assert_output 503
	jq -e '.error == "not_serving"' "$SL_TMP/out"
	curl -s "$(sl_url B)/v1/health" | jq -e '.backs_up[0] | .status == "warm" and .failed_polls > 0 and .refused_polls == .failed_polls and (.last_error | startswith("refused: HTTP 401"))'
	refute grep -q 'took over' "$SL_TMP/B/log"
}
