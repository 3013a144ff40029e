# Helpers for the slctl tests (test/40-slctl-*.bats), on top of helpers.bash.

load helpers

slctl_setup() {
	sl_setup
	cd "$SL_TMP" || return 1
}

slctl_teardown() {
	cd /
	sl_teardown
}

# slctl_start NAME [EXTRA CONFIG LINES...]: start server NAME on a free port.
slctl_start() {
	local name=$1
	shift
	sl_server_config "$name" "$(sl_free_port)" "$@"
	sl_start "$name"
}

# co URL PRODUCT CLIENT USER HOST [PID]: check out a seat with curl; prints
# the response body followed by a line with the HTTP status.
co() {
	curl -sS -m 5 -X POST -H 'Content-Type: application/json' \
	    -d "{\"product\":\"$2\",\"client\":\"$3\",\"user\":\"$4\",\"host\":\"$5\",\"pid\":${6:-100}}" \
	    -w '\n%{http_code}\n' "$1/v1/checkout"
}

# co_lease URL PRODUCT CLIENT USER HOST: check out, print only the lease id.
co_lease() {
	local out
	out=$(co "$@") || return 1
	[ "$(tail -n1 <<<"$out")" = 201 ] || { echo "checkout failed: $out" >&2; return 1; }
	head -n1 <<<"$out" | jq -r .lease
}

# ci URL LEASE: check a lease in; prints the HTTP status.
ci() {
	curl -sS -m 5 -o /dev/null -w '%{http_code}\n' -X DELETE "$1/v1/leases/$2"
}

# hb URL LEASE: heartbeat; prints the HTTP status.
hb() {
	curl -sS -m 5 -o /dev/null -w '%{http_code}\n' -X POST "$1/v1/leases/$2/heartbeat"
}

# licenses_json URL: the server's /v1/licenses, sorted ids with counts.
licenses_summary() {
	curl -fsS -m 5 "$1/v1/licenses" |
	    jq -c '[.licenses[] | {id, product, max}] | sort_by(.id)'
}

# slctl_health_is URL JQ-FILTER: jq -e FILTER holds on URL's /v1/health.
slctl_health_is() {
	curl -fsS -m 5 "$1/v1/health" | jq -e "$2" >/dev/null
}
