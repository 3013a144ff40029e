# test/helpers-ops.bash: what the operations tests (test/50-ops-*.bats) add
# to helpers.bash: a Primary and backup pair by the names the pages show,
# metrics scrapes, and a headless Chromium for the status page.

load helpers

OPS_REPO=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
# Screenshots of the status page are kept here (git-ignored).
# shellcheck disable=SC2034
OPS_ARTIFACTS="$OPS_REPO/test/artifacts"

# ops_start_pair: Primary lic1 and backup lic2 (polling every 0.2 s, taking
# over after 3 missed polls), sharing lic1's peer token.
ops_start_pair() {
	sl_serve lic1 || return 1
	sl_serve lic2 "peer_token_file = \"$SL_TMP/lic1/state/peer.token\"" \
	    "failover \"lic1\" {" "  url = \"$(sl_url lic1)\"" "  poll_interval = 0.2" \
	    "  fail_after = 3" "}"
}

# ops_ghost NAME URL: server NAME is told at run time (PUT /v1/admin/failover,
# with its admin token) to back up a Primary "ghost" at URL, polled every
# 60 s; answered 200.
ops_ghost() {
	sl_admin "$1" PUT /v1/admin/failover \
	    "$(jq -cn --arg url "$2" '{name: "ghost", url: $url, poll_interval: 60}')"
	sl_expect 200
}

# ops_metrics URL FILE: GET URL/metrics into FILE.
ops_metrics() { curl -fsS -m 5 "$1/metrics" >"$2"; }

# ops_metric_is URL SAMPLE VALUE: the sample (name and labels, as printed)
# has VALUE in a fresh scrape.
ops_metric_is() {
	curl -fsS -m 5 "$1/metrics" | grep -Fxq -- "$2 $3"
}

# ops_metric URL SAMPLE: the value of the sample in a fresh scrape.
ops_metric() {
	curl -fsS -m 5 "$1/metrics" | awk -v s="$2" 'index($0, s " ") == 1 { print $NF }'
}

# ops_chromium ARGS... URL: headless Chromium with a throw-away profile and
# nothing that talks to the network on its own.
ops_chromium() {
	local profile
	profile=$(mktemp -d "$SL_TMP/chromium.XXXXXX")
	timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-quic \
	    --no-first-run --disable-background-networking --disable-component-update \
	    --disable-sync --disable-dev-shm-usage --user-data-dir="$profile" "$@" 2>>"$SL_TMP/chromium.log"
}

# ops_need_chromium: skip the test when Chromium is not installed.
ops_need_chromium() {
	command -v chromium >/dev/null ||
	    skip "chromium is not installed (Debian package chromium; scripts/deps.sh installs it)"
}

# ops_table_rows FILE TABLE-ID: the rows of a table of the status page as a
# person reads them: one line per row, cells separated by tabs, tags removed.
ops_table_rows() {
	sed -n "/<table id=\"$2\">/,/<\/table>/p" "$1" | grep '^<tr><td' |
	    sed -e 's|</td><td[^>]*>|\t|g' -e 's|<[^>]*>||g' \
	        -e 's|&lt;|<|g' -e 's|&gt;|>|g' -e 's|&quot;|"|g' -e 's|&#39;|'"'"'|g' -e 's|&amp;|\&|g'
}
