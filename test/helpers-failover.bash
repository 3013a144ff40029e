# test/helpers-failover.bash: what the tests of two or more servers
# (test/15-count-*, 30- to 37-failover-*, and others that need a pair; the
# client tests through helpers-client.bash) add to helpers.bash: a shared
# peer token, distinct ports, failover sections, pairs started and warm,
# takeovers, and what a backup mirrors.
#
# Every test runs real slserve processes on free ports in its own $SL_TMP.
# Servers share one peer token ($SL_TMP/peer.token). Waits are bounded polls
# (sl_until), never fixed sleeps.

load helpers

# Short timings keep the tests fast: takeover after FO_POLL x FO_FAIL + a poll.
FO_POLL=${FO_POLL:-0.2}
FO_FAIL=${FO_FAIL:-3}
# The shared test machine is noisy: every deadline gets this many seconds more.
FO_MARGIN=${FO_MARGIN:-4}

# fo_setup: sl_setup and the shared peer token.
fo_setup() {
	sl_setup
	sl_token "$SL_TMP/peer.token"
}

# fo_holds SECONDS CMD...: CMD succeeds every 50 ms for SECONDS: a property
# that must not change (an observation window, not a wait for an event).
fo_holds() {
	local limit_ms t0
	limit_ms=$(awk -v s="$1" 'BEGIN { printf "%d", s * 1000 }')
	shift
	t0=$(sl_now_ms)
	while [ $(($(sl_now_ms) - t0)) -lt "$limit_ms" ]; do
		"$@" || { echo "stopped holding after $(($(sl_now_ms) - t0)) ms: $*" >&2; return 1; }
		sleep 0.05
	done
}

# fo_ports NAME...: give each server a free port (FO_PORT_NAME), distinct.
fo_ports() {
	local name p used=" "
	for name in "$@"; do
		local v="FO_PORT_$name"
		[ -n "${!v:-}" ] && { used+="${!v} "; continue; }
		p=$(sl_free_port)
		while [[ $used == *" $p "* ]]; do p=$(sl_free_port); done
		used+="$p "
		printf -v "$v" '%s' "$p"
		printf -v "URL_$name" '%s' "http://127.0.0.1:$p"
		# shellcheck disable=SC2163 # export the variables named
		export "$v" "URL_$name"
	done
}

# fo_port NAME: the port fo_ports gave server NAME.
fo_port() { local v="FO_PORT_$1"; echo "${!v}"; }

# fo_backs_up PRIMARY [POLL [FAIL]]: a failover section (one argument).
fo_backs_up() {
	printf 'failover "%s" {\n  url = "http://127.0.0.1:%s"\n  poll_interval = %s\n  fail_after = %s\n}' \
	    "$1" "$(fo_port "$1")" "${2:-$FO_POLL}" "${3:-$FO_FAIL}"
}

# fo_config NAME [CONFIG-LINES...]: slserve.conf of NAME on its port, with
# the shared peer token (fo_ports first).
fo_config() {
	local name=$1
	shift
	fo_ports "$name"
	sl_server_config "$name" "$(fo_port "$name")" \
	    "peer_token_file = \"$SL_TMP/peer.token\"" "$@"
}

# fo_peer URL METHOD PATH [BODY]: with the shared peer token.
fo_peer() {
	local url=$1 method=$2 path=$3
	shift 3
	sl_req "$method" "$url$path" "${1--}" \
	    -H "Authorization: Bearer $(head -n1 "$SL_TMP/peer.token")"
}

# fo_lic_is URL ID JQ-FILTER: jq -e FILTER holds on license ID of URL.
fo_lic_is() {
	curl -fsS -m 3 "$1/v1/licenses" 2>/dev/null |
	    jq -e --arg id "$2" "[.licenses[] | select(.id == \$id)] | length == 1 and (.[0] | $3)" \
	    >/dev/null 2>&1
}

# fo_pool_status_is BACKUP-URL PRIMARY STATUS: the backup reports the pool so.
fo_pool_status_is() {
	sl_health_is "$1" "any(.backs_up[]; .pool == \"$2\" and .status == \"$3\")"
}

# fo_warm BACKUP PRIMARY: wait until BACKUP has polled PRIMARY and mirrors it
# warm, and PRIMARY's own licenses show hot-warm.
fo_warm() {
	local b=$1 a=$2
	sl_until $((5 + FO_MARGIN)) sl_health_is "$(sl_url "$b")" \
	    "any(.backs_up[]; .pool == \"$a\" and .status == \"warm\" and
	     (.last_poll_age | type == \"number\"))" || return 1
	sl_until $((2 + FO_MARGIN)) sl_health_is "$(sl_url "$a")" \
	    "[.backups[] | select(.name == \"$b\")] | length == 1" || return 1
	sl_until $((2 + FO_MARGIN)) fo_own_status_is "$(sl_url "$a")" hot-warm
}

# fo_start_pair "ID PRODUCT COUNT TIMEOUT"...: Primary A with these licenses
# and its backup B (license cad-b of its own, cad 2 30), both started, B warm;
# sets UA and UB.
fo_start_pair() {
	fo_pair "$@"
	fo_config A
	fo_config B "$(fo_backs_up A)"
	sl_start A
	sl_start B
	fo_warm B A
}

# fo_pair LICENSE...: ports for A and B (UA, UB), A's licenses as given,
# B's own "cad-b cad 2 30".
fo_pair() {
	fo_ports A B
	sl_licenses A "$@"
	sl_licenses B "cad-b cad 2 30"
	UA=$URL_A UB=$URL_B
}

# fo_kill9_taken_over PRIMARY BACKUP: kill -9 PRIMARY, then wait (no longer
# than the design allows) until BACKUP serves PRIMARY's pool (hot-retry).
fo_kill9_taken_over() {
	sl_kill9 "$1" || return 1
	sl_until "$(fo_takeover_limit)" fo_pool_status_is "$(sl_url "$2")" "$1" hot-retry
}

# fo_takeover_limit: the longest takeover the design allows (poll_interval x
# fail_after + one poll), plus the margin for a busy machine.
fo_takeover_limit() {
	awk -v p="$FO_POLL" -v f="$FO_FAIL" -v m="$FO_MARGIN" 'BEGIN { print p * f + p + m }'
}

# fo_own_status_is URL STATUS: every license of URL's own pool has STATUS.
fo_own_status_is() {
	curl -fsS -m 3 "$1/v1/licenses" 2>/dev/null | jq -e --arg s "$2" \
	    '[.licenses[] | select(.role == "primary")] | length > 0 and all(.status == $s)' \
	    >/dev/null 2>&1
}

# fo_mirror_base BACKUP PRIMARY: the file of the base of BACKUP's mirror of
# PRIMARY's pool.
fo_mirror_base() { echo "$SL_TMP/$1/state/mirror-$2.json"; }

# fo_mirror_journal BACKUP PRIMARY: the journal of that mirror (records
# after its base).
fo_mirror_journal() { echo "$SL_TMP/$1/state/mirror-$2.journal"; }

# fo_journal_text FILE: a journal's lines, without the room of zeros
# written ahead of them.
fo_journal_text() { tr -d '\000' <"$1"; }

# fo_journal_tear FILE N: cut the last N bytes of FILE's records (and the
# room after them), as a write that only partly reached the disk.
fo_journal_tear() {
	local len
	len=$(fo_journal_text "$1" | wc -c)
	truncate -s $((len - $2)) "$1"
}

# fo_mirror_ids BACKUP PRIMARY: the lease ids BACKUP mirrors for PRIMARY
# (from its state files: mirror-PRIMARY.json, the base, the records of
# mirror-PRIMARY.journal when its first line names that base, and those of
# mirror-PRIMARY.journal.new when its first line names that base, or names
# it as "after" and the journal was read), sorted, one line.
fo_mirror_ids() {
	local base log new
	base=$(fo_mirror_base "$1" "$2")
	log=$(fo_mirror_journal "$1" "$2")
	new=$log.new
	[ -f "$base" ] || return 0
	{
		cat "$base"
		[ -f "$log" ] && fo_journal_text "$log" | tail -n +2 | cut -d' ' -f2-
		[ -f "$new" ] && { echo '{"file":"new"}'; fo_journal_text "$new" | tail -n +2 |
		    cut -d' ' -f2-; }
	} | jq -rn --arg pool "$2" 'input as $b | reduce inputs as $l ({m: $b.mirror, ok: null, prev: false};
		if $l.file == "new" then .prev = (.ok == true) | .ok = null
		elif .ok == null then .ok = ($b.gen != null and ($l.base == $b.gen or
		    (.prev and $l.after == $b.gen)))
		elif .ok then reduce (($l.records // [])[] | select(.lease.pool == $pool)) as $r (.;
		    if $r.op == "grant" and (($r.lease.tomb_until_ms // 0) == 0) then .m[$r.lease.id] = $r.lease
		    elif $r.op == "release" or $r.op == "revoke" then .m |= del(.[$r.lease.id])
		    else . end)
		else . end) | .m | keys | sort | join(" ")' 2>/dev/null
}

# fo_mirror_is BACKUP PRIMARY "ID ID...": the mirror holds exactly those ids.
fo_mirror_is() {
	local want
	want=$(tr ' ' '\n' <<<"$3" | sed '/^$/d' | sort | tr '\n' ' ' | sed 's/ $//')
	[ "$(fo_mirror_ids "$1" "$2")" = "$want" ]
}

# fo_leases NAME: server NAME's GET /v1/leases (admin).
fo_leases() {
	curl -fsS -m 3 -H "Authorization: Bearer $(sl_admin_token "$1")" "$(sl_url "$1")/v1/leases"
}

# fo_lease_count NAME ID: how many times lease ID is listed by server NAME.
fo_lease_count() {
	fo_leases "$1" | jq --arg id "$2" '[.leases[] | select(.lease == $id)] | length'
}

# fo_token_lease TOKEN: the lease id of an slcheck token LEASE:POOL@URL.
fo_token_lease() { echo "${1%%:*}"; }

# fo_granted_pool_a: B grants a seat of A's pool (its answer in HTTP_BODY).
fo_granted_pool_a() {
	sl_co "$UB" cad pool=A
	[ "$HTTP_CODE" = 201 ]
}

# fo_takeover_with_seats: a seat from A (l1) that B mirrors, kill -9 of A,
# then a seat of A's pool from B once it has taken over (l2).
fo_takeover_with_seats() {
	sl_co "$UA" cad
	sl_expect 201
	l1=$(jq -r .lease <<<"$HTTP_BODY")
	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$l1"
	sl_kill9 A
	sl_until "$(fo_takeover_limit)" fo_granted_pool_a
	l2=$(jq -r .lease <<<"$HTTP_BODY")
}
