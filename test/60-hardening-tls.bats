#!/usr/bin/env bats
# Hardening: slserve over HTTPS (tls { cert, key }) with a throwaway CA;
# slcheck (cacert, --cacert), slctl (--cacert, cacert) and the failover
# poller (ca) verify it, and a certificate from another CA is refused with a
# message that says so.

load helpers-hardening

setup_file() {
	command -v openssl >/dev/null || skip "openssl is not installed"
	export HD_PKI="$BATS_FILE_TMPDIR/pki"
	hd_ca "$HD_PKI" ca
	hd_ca "$HD_PKI" wrong
	hd_cert "$HD_PKI" ca server 127.0.0.1
}

setup() {
	command -v openssl >/dev/null || skip "openssl is not installed"
	sl_setup
	CA=$HD_PKI/ca.pem
	WRONG=$HD_PKI/wrong.pem
	PORT=$(sl_free_port)
	U=https://127.0.0.1:$PORT
	sl_server_config tls "$PORT" \
	    "tls { cert = \"$HD_PKI/server.pem\" key = \"$HD_PKI/server.key\" }"
	sl_start tls --cacert "$CA"
}

teardown() { sl_teardown; }

TLS_REFUSED='TLS: SSL certificate problem: unable to get local issuer certificate'

@test "tls: slserve answers HTTPS with its certificate, and no plain HTTP" {
	run curl -fsS -m 3 --cacert "$CA" "$U/v1/health"
	assert_success
	jq -e --arg u "$U" '.status == "ok" and .url == $u' <<<"$output"
	run curl -sS -m 3 "$U/v1/health"
	assert_failure 60	# curl: peer certificate cannot be authenticated
	run curl -sS -m 3 "http://127.0.0.1:$PORT/v1/health"
	assert_failure
}

@test "tls: slcheck verifies the server with cacert in slclient.conf or --cacert" {
	printf 'primary = { "%s" }\ncacert = "%s"\n' "$U" "$CA" >"$SL_TMP/slclient.conf"
	run "$SLCHECK" -f "$SL_TMP/slclient.conf" checkout cad
	assert_success
	[[ $output == *":tls@$U" ]]
	run "$SLCHECK" -f "$SL_TMP/slclient.conf" check
	assert_success
	assert_output --partial "SL OK"

	run "$SLCHECK" -s "$U" --cacert "$CA" checkout cad
	assert_success
	run "$SLCHECK" -s "$U" --cacert "$CA" config
	assert_line --regexp "^cacert +$CA +--cacert$"
}

@test "tls: slcheck refuses a server whose certificate another CA signed" {
	run --separate-stderr "$SLCHECK" -s "$U" --cacert "$WRONG" checkout cad
	[ "$status" -eq 3 ]	# no server reachable
	[[ $stderr == *"$U: no answer: $TLS_REFUSED"* ]] || { echo "$stderr"; false; }

	# --cacert wins over slclient.conf
	printf 'primary = { "%s" }\ncacert = "%s"\n' "$U" "$CA" >"$SL_TMP/slclient.conf"
	rm -rf "$XDG_CACHE_HOME"
	run "$SLCHECK" -f "$SL_TMP/slclient.conf" --cacert "$WRONG" check
	[ "$status" -eq 2 ]
	assert_output --partial "SL CRITICAL - no license server answers: primary $U not answering ($TLS_REFUSED)"

	# without any CA file, the system's CAs do not know ours either
	rm -rf "$XDG_CACHE_HOME"
	run "$SLCHECK" -s "$U" check
	[ "$status" -eq 2 ]
	assert_output --partial "$TLS_REFUSED"
}

@test "tls: slctl verifies the server with --cacert or slclient.conf's cacert" {
	run "$SLCTL" -s "$U" --cacert "$CA" status
	assert_success
	assert_line --regexp '^cad-1 +cad +0 +2 '

	printf 'primary = { "%s" }\ncacert = "%s"\n' "$U" "$CA" >"$SL_TMP/slclient.conf"
	run "$SLCTL" -f "$SL_TMP/slclient.conf" -D "$SL_TMP/tls/state" leases
	assert_success

	run --separate-stderr "$SLCTL" -s "$U" --cacert "$WRONG" status
	[ "$status" -eq 3 ]	# unreachable
	[ "$stderr" = "slctl: $U: licenses: server unreachable: $TLS_REFUSED" ]

	run --separate-stderr "$SLCTL" -s "$U" --cacert "$SL_TMP/nope.pem" status
	[ "$status" -eq 3 ]
	[ "$stderr" = "slctl: $U: licenses: server unreachable: TLS: error setting certificate file: $SL_TMP/nope.pem" ]
}

@test "tls: a backup polls an HTTPS Primary, verified with ca; another CA is refused and logged" {
	sl_token "$SL_TMP/peer.token"
	# The Primary again, now with the shared peer token.
	sl_stop tls
	sl_server_config tls "$PORT" "peer_token_file = \"$SL_TMP/peer.token\"" \
	    "tls { cert = \"$HD_PKI/server.pem\" key = \"$HD_PKI/server.key\" }"
	sl_start tls --cacert "$CA"

	local bport wport
	bport=$(sl_free_port)
	sl_server_config good "$bport" "peer_token_file = \"$SL_TMP/peer.token\"" \
	    "ca = \"$CA\"" \
	    "failover \"tls\" { url = \"$U\" poll_interval = 0.2 fail_after = 100 }"
	sl_start good
	sl_until 10 bash -c "curl -fsS -m 1 http://127.0.0.1:$bport/v1/health |
	    jq -e 'any(.backs_up[]; .pool == \"tls\" and .status == \"warm\" and .last_poll_age != null)'"
	sl_until 5 bash -c "curl -fsS -m 1 --cacert '$CA' '$U/v1/licenses' |
	    jq -e '[.licenses[] | select(.role == \"primary\")] | all(.status == \"hot-warm\")'"

	wport=$(sl_free_port)
	sl_server_config bad "$wport" "peer_token_file = \"$SL_TMP/peer.token\"" \
	    "ca = \"$WRONG\"" \
	    "failover \"tls\" { url = \"$U\" poll_interval = 0.2 fail_after = 2 }"
	sl_start bad
	# A Primary whose certificate does not verify is up: no takeover.
	sl_until 10 sl_log_has bad "\"tls\" at $U answers with a certificate we cannot verify \\($TLS_REFUSED\\)"
	sleep 1	# five times what fail_after = 2 needs
	run curl -fsS -m 3 "http://127.0.0.1:$wport/v1/health"
	jq -e 'any(.backs_up[]; .pool == "tls" and .status == "warm" and .last_poll_age == null)' <<<"$output"
	refute grep -q 'took over' "$SL_TMP/bad/log"
}

@test "tls: slserve -n names a ca file it cannot read" {
	sl_server_config bad 1 "ca = \"missing.pem\""
	run "$SLSERVE" -n -f "$SL_TMP/bad/slserve.conf"
	[ "$status" -eq 1 ]
	assert_output "$SL_TMP/bad/slserve.conf:5: ca $SL_TMP/bad/missing.pem: No such file or directory"
}

@test "tls: the wrong scheme is said in words, by slctl and slcheck alike" {
	plain="http://127.0.0.1:$PORT"
	run --separate-stderr "$SLCTL" -s "$plain" status
	assert_equal "$status" 3
	echo "$stderr"
	[[ $stderr == "slctl: $plain: licenses: server unreachable: "*"(if the server uses TLS, its URL is https://)" ]]
	run --separate-stderr "$SLCHECK" -s "$plain" checkout cad
	assert_equal "$status" 3
	[[ $stderr == *"(if the server uses TLS, its URL is https://)"* ]]
}
