#!/usr/bin/env bats
# Failover, what a Primary sends: its licenses are held to the licenses
# file's ranges (slserve.conf(5)) before a backup mirrors or serves them. A
# timeout near LONG_MAX once overflowed the seat's expiry (timeout * 1000);
# a sanitizer build (make SANITIZE=1) aborts on that.

load helpers-failover

setup() { fo_setup; }

teardown() { sl_teardown; }

# fake_primary NAME LICENSES-JSON: on NAME's port, a Primary that answers
# every GET /v1/peer/sync with a full sync of no leases and these licenses
# (anything else: 404), until `touch $SL_TMP/NAME.down`, after which it
# answers 503; its pid in $SL_TMP/NAME.pid.
fake_primary() {
	local name=$1 licenses=$2
	python3 - "$(fo_port "$name")" "$name" "$licenses" "$SL_TMP/$name.down" <<'PY' &
import http.server, json, os, sys
port, name, licenses, down = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
answer = json.dumps({"name": name, "epoch": "00000000000000aa", "seq": 0, "full": True,
                     "leases": [], "licenses": licenses, "licenses_gen": "1"}).encode()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if os.path.exists(down):
            code, body = 503, b'{"error":"down","message":"down"}'
        elif self.path.startswith("/v1/peer/sync"):
            code, body = 200, answer
        else:
            code, body = 404, b'{"error":"not_found","message":"no"}'
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-SL-Epoch", "00000000000000aa")
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
	echo $! >"$SL_TMP/$name.pid"
	sl_until 5 sl_http_ok "http://127.0.0.1:$(fo_port "$name")/v1/peer/sync"
}

# peer_lic ID COUNT TIMEOUT: one license as a Primary sends it.
# (printf, not jq: jq 1.6 turns integers past 2^53 into floats.)
peer_lic() {
	printf '{"id":"%s","product":"%s","count":%s,"expires":"never","host":"any","timeout":%s,"issuer":"","signature":""}' \
	    "$1" "$1" "$2" "$3"
}

@test "peer licenses: the unit test of license_from_json's ranges passes" {
	mkdir -p "$SL_TMP/unit"
	run "$SL_BINDIR/../test/unit-license" "$SL_TMP/unit"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "peer licenses: a timeout near LONG_MAX or a count past the file's range is refused, logged, never served" {
	fo_ports A B
	sl_licenses B "cad-b cad 2 30"
	fo_config B "$(fo_backs_up A)"
	fake_primary A "[$(peer_lic ok 2 30), $(peer_lic huge 1 9223372036854775807),
	    $(peer_lic edge 1 9223372036854776), $(peer_lic month 1 2592001),
	    $(peer_lic many 100000001 30)]"
	sl_start B

	# B mirrors A's one good license, warm; the others are not there.
	sl_until $((5 + FO_MARGIN)) fo_lic_is "$URL_B" ok '.role == "backup" and .status == "warm"'
	run -0 curl -fsS -m 3 "$URL_B/v1/licenses"
	jq -e '[.licenses[].id] | sort == ["cad-b", "ok"]' <<<"$output"
	grep -F 'pool A: license "huge": timeout must be 0 (hard) to 2592000 seconds, not 9223372036854775807' "$SL_TMP/B/log"
	grep -F 'pool A: license "edge": timeout must be 0 (hard) to 2592000 seconds, not 9223372036854776' "$SL_TMP/B/log"
	grep -F 'pool A: license "month": timeout must be 0 (hard) to 2592000 seconds, not 2592001' "$SL_TMP/B/log"
	grep -F 'pool A: license "many": count must be 0 to 100000000 or unlimited, not 100000001' "$SL_TMP/B/log"

	# A goes down: B takes over its pool and serves the good license with
	# its own timeout; the others stay unknown there.
	touch "$SL_TMP/A.down"
	sl_until "$(fo_takeover_limit)" fo_pool_status_is "$URL_B" A hot-retry
	sl_co "$URL_B" ok pool=A
	sl_expect 201 '.license == "ok" and .pool == "A" and .expires_in == 30'
	for product in huge edge month many; do
		sl_co "$URL_B" "$product" pool=A
		sl_expect 404 '.error | type == "string"'
	done
	# Still serving (a sanitizer build would have aborted on an overflow).
	sl_http_ok "$URL_B/v1/health"
}
