#!/bin/bash
# test/torture.sh [-n ITERATIONS] [-c CLIENTS] [-s SEED] [-b BINDIR] [-k]:
# crash torture of a Primary A and its backup B.
#
# CLIENTS concurrent client loops check seats out of A's pool (A first, then
# B naming pool A when A does not answer, as slcheck does), heartbeat them
# and check them in, each with lease ids of its own, and record every grant
# a server acknowledged. Meanwhile A or B is killed with SIGKILL at a random
# moment, ITERATIONS times, and restarted after a random delay (sometimes
# long enough for B to take over, so takeovers and handbacks happen too).
# After every restart, once A serves and B mirrors it again, the clients
# pause and these invariants are checked:
#   1. no acknowledged seat lost: every lease id a server acknowledged and
#      the client has not begun to check in is live on A or on B;
#   2. in use <= count: on A, on B (pool A), and over both together;
#   3. journal replay clean: every complete record of the killed server's
#      journal was intact, and the restarted server cut exactly the torn
#      tail a kill in the middle of a write left (if any), nothing more.
# Prints one line per iteration and a summary; exits 1 on any violation.
# A runs with synchronous_backup = true (a grant is answered once B holds
# it); -a runs it without, to measure what the Primary's last poll interval
# before a crash can over-grant. -k keeps the directory (logs).
set -u
here=$(cd "$(dirname "$0")" && pwd)
ITER=50 CLIENTS=4 SEED=$$ BINDIR=${SL_BINDIR:-$here/../build/rel/bin} KEEP=0 SYNC=true
while getopts n:c:s:b:ka opt; do
	case $opt in
	n) ITER=$OPTARG ;;
	c) CLIENTS=$OPTARG ;;
	s) SEED=$OPTARG ;;
	b) BINDIR=$OPTARG ;;
	k) KEEP=1 ;;
	a) SYNC=false ;;
	*) echo "usage: torture.sh [-n ITERATIONS] [-c CLIENTS] [-s SEED] [-b BINDIR] [-a] [-k]" >&2; exit 64 ;;
	esac
done
SLSERVE=$BINDIR/slserve
[ -x "$SLSERVE" ] || { echo "torture.sh: no $SLSERVE" >&2; exit 1; }
RANDOM=$SEED
COUNT=6		# seats of A's license
T=$(mktemp -d "${TMPDIR:-/tmp}/sl-torture.XXXXXX")
declare -A PID PORT URL
violations=0 cuts=0 takeovers=0 acked=0

cleanup() {
	touch "$T/stop"
	local p
	for p in "${CLIENT_PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
	for p in "${PID[@]}"; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	if [ "$KEEP" = 1 ] || [ "$violations" -ne 0 ]; then
		echo "torture: files kept in $T" >&2
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT

violation() {
	violations=$((violations + 1))
	echo "VIOLATION: $*"
}

# sl_until SECONDS CMD...: a bounded poll; sl_free_port (test/poll.sh).
. "$here/poll.sh"

# ---- the servers ----

for n in A B; do
	PORT[$n]=$(sl_free_port)
	URL[$n]=http://127.0.0.1:${PORT[$n]}
	mkdir -p "$T/$n"
	printf 'license "%s-cad" {\n  product = "cad"\n  count = %d\n  expires = "never"\n  host = "any"\n  timeout = 600\n}\n' \
	    "$n" "$COUNT" >"$T/$n/licenses.conf"
	printf 'name = "%s"\nlisten = "127.0.0.1:%s"\nstate_dir = "state"\nlicenses = "licenses.conf"\npeer_token_file = "%s"\n' \
	    "$n" "${PORT[$n]}" "$T/peer.token" >"$T/$n/slserve.conf"
done
[ "${PORT[A]}" != "${PORT[B]}" ] || { echo "torture.sh: same port twice" >&2; exit 1; }
# small compact_after: snapshots and journal resets happen under the kills too
echo 'compact_after = 50' >>"$T/A/slserve.conf"
echo "synchronous_backup = $SYNC" >>"$T/A/slserve.conf"
echo 'compact_after = 50' >>"$T/B/slserve.conf"
printf 'failover "A" {\n  url = "%s"\n  poll_interval = 0.2\n  fail_after = 3\n}\n' "${URL[A]}" >>"$T/B/slserve.conf"
if [ "$(id -u)" -eq 0 ]; then	# slserve refuses root unless told
	echo 'allow_root = true' >>"$T/A/slserve.conf"
	echo 'allow_root = true' >>"$T/B/slserve.conf"
fi
od -An -tx1 -N24 /dev/urandom | tr -d ' \n' >"$T/peer.token"

healthy() { curl -fsS -m 1 -o /dev/null "${URL[$1]}/v1/health"; }

start() {
	local n=$1
	"$SLSERVE" -d -f "$T/$n/slserve.conf" >>"$T/$n/log" 2>&1 &
	PID[$n]=$!
	sl_until 20 healthy "$n" 2>/dev/null || { violation "$n did not start again"; tail -5 "$T/$n/log"; return 1; }
}

admin() {
	curl -fsS -m 3 -H "Authorization: Bearer $(cat "$T/$1/state/admin.token")" "${URL[$1]}$2"
}

# B mirrors A warm and A knows it: the system has settled.
settled() {
	curl -fsS -m 1 "${URL[B]}/v1/health" |
	    jq -e 'any(.backs_up[]; .pool == "A" and .status == "warm" and .last_poll_age != null and .last_poll_age < 1)' >/dev/null &&
	    curl -fsS -m 1 "${URL[A]}/v1/licenses" |
	    jq -e 'all(.licenses[] | select(.role == "primary"); .status == "hot-warm")' >/dev/null
}

# journal_check FILE: how the killed server's journal should replay:
# prints the bytes of a torn tail (0 if none), or "corrupt: ..." when a
# complete record in it is damaged.
journal_check() {
	python3 - "$1" <<'PY'
import json, sys, zlib
try:
    data = open(sys.argv[1], "rb").read()
except FileNotFoundError:
    print(0); sys.exit()
head = b"sl-journal 1\n"
if len(data) < len(head):
    print(len(data) if head.startswith(data) else "corrupt: bad header"); sys.exit()
if not data.startswith(head):
    print("corrupt: bad header"); sys.exit()
body = data[len(head):]
lines = body.split(b"\n")
# after the last newline: a torn record, or b""; zeros at the end are room
# written ahead of the records, not a tail
tail = lines.pop().rstrip(b"\0")
for n, line in enumerate(lines):
    ok = len(line) > 9 and line[8:9] == b" "
    if ok:
        try:
            ok = int(line[:8], 16) == zlib.crc32(line[9:]) and isinstance(json.loads(line[9:]), dict)
        except ValueError:
            ok = False
    if not ok:
        print("corrupt: record %d of %d" % (n + 1, len(lines))); sys.exit()
print(len(tail))
PY
}

# ---- the clients ----

# client K: loops until $T/stop, pausing while $T/pause exists.
client() {
	local k=$1 n=0 id code pending="" i
	local -a held=() releasing=()
	local log=$T/client$k.log
	req() {	# req SERVER METHOD PATH [BODY]: prints the HTTP status (000: none)
		local args=(-s -o /dev/null -w '%{http_code}' -m 2 --connect-timeout 0.5 -X "$2")
		[ $# -ge 4 ] && args+=(-H 'Content-Type: application/json' --data-binary "$4")
		curl "${args[@]}" "${URL[$1]}$3" 2>/dev/null
	}
	while [ ! -e "$T/stop" ]; do
		if [ -e "$T/pause" ]; then
			echo "${held[*]} ${releasing[*]} $pending" | tr ' ' '\n' | sed '/^$/d' >"$T/known.$k"
			touch "$T/paused.$k"
			while [ -e "$T/pause" ] && [ ! -e "$T/stop" ]; do sleep 0.02; done
			rm -f "$T/paused.$k"
			continue
		fi
		# a checkin without a sure answer is tried again (else the seat
		# stays taken until its timeout)
		if [ ${#releasing[@]} -gt 0 ]; then
			id=${releasing[0]}
			code=$(req A DELETE "/v1/leases/$id")
			[ "$code" = 000 ] && code=$(req B DELETE "/v1/leases/$id")-B
			case $code in
			200|404|410|200-B|410-B) releasing=("${releasing[@]:1}") ;;
			esac
		fi
		id=""
		if [ -n "$pending" ]; then
			id=$pending
		elif [ ${#held[@]} -lt 3 ] && [ $((RANDOM % 3)) -ne 0 ]; then
			n=$((n + 1))
			id=t${k}x$n-0123456789abcdef0123456789abcdef
		fi
		if [ -n "$id" ]; then
			# checkout: A, then B naming pool A; the same id on a retry
			code=$(req A POST /v1/checkout "{\"product\":\"cad\",\"lease\":\"$id\",\"client\":\"c$k\"}")
			case $code in
			000) code=$(req B POST /v1/checkout "{\"product\":\"cad\",\"pool\":\"A\",\"lease\":\"$id\",\"client\":\"c$k\"}")-B ;;
			esac
			case $code in
			200|201|200-B|201-B) echo "G $id $code" >>"$log"; held+=("$id"); pending="" ;;
			409) pending="" ;;		# no seat: nothing granted
			*) pending=$id ;;		# unknown (A may have it): ask again, same id
			esac
		elif [ ${#held[@]} -gt 0 ]; then
			i=$((RANDOM % ${#held[@]}))
			id=${held[$i]}
			if [ $((RANDOM % 2)) -eq 0 ]; then
				code=$(req A POST "/v1/leases/$id/heartbeat")
				[ "$code" = 000 ] && code=$(req B POST "/v1/leases/$id/heartbeat")
				echo "H $id $code" >>"$log"
			else
				# from here on the seat is the client's to give up: not checked
				echo "C $id" >>"$log"
				releasing+=("$id")
				unset "held[$i]"
				held=("${held[@]}")
			fi
		fi
		sleep 0.0$((RANDOM % 5))
	done
}

pause_clients() {
	touch "$T/pause"
	local k
	for k in $(seq "$CLIENTS"); do
		sl_until 10 test -e "$T/paused.$k" 2>/dev/null || { violation "client $k did not pause"; return 1; }
	done
}

check_invariants() {
	local a b granted lost n_a n_b n_both in_a
	a=$(admin A /v1/leases | jq -r '.leases[] | select(.pool == "A") | .lease' | sort) ||
	    { violation "A's lease list unreadable"; return; }
	b=$(admin B /v1/leases | jq -r '.leases[] | select(.pool == "A") | .lease' | sort) ||
	    { violation "B's lease list unreadable"; return; }
	# acknowledged and never given up: G lines without a later C line
	granted=$(cat "$T"/client*.log 2>/dev/null | awk '$1 == "G" { g[$2] = 1 } $1 == "C" { delete g[$2] } END { for (i in g) print i }' | sort)
	acked=$(cat "$T"/client*.log 2>/dev/null | awk '$1 == "G"' | wc -l)
	lost=$(comm -23 <(echo "$granted" | sed '/^$/d') <(printf '%s\n%s\n' "$a" "$b" | sed '/^$/d' | sort -u))
	[ -z "$lost" ] || violation "acknowledged seats lost: $(echo $lost)"
	n_a=$(echo "$a" | sed '/^$/d' | wc -l)
	n_b=$(echo "$b" | sed '/^$/d' | wc -l)
	n_both=$(printf '%s\n%s\n' "$a" "$b" | sed '/^$/d' | sort -u | wc -l)
	[ "$n_a" -le "$COUNT" ] || violation "A holds $n_a leases of pool A > $COUNT"
	[ "$n_b" -le "$COUNT" ] || violation "B holds $n_b leases of pool A > $COUNT"
	[ "$n_both" -le "$COUNT" ] || violation "A and B together hold $n_both leases of pool A > $COUNT"
	in_a=$(curl -fsS -m 2 "${URL[A]}/v1/licenses" | jq '.licenses[] | select(.id == "A-cad") | .in_use')
	[ "$in_a" = "$n_a" ] || violation "A says in_use $in_a but lists $n_a leases"
	# seats no client knows of: granted, but the answer was lost for good
	orphans=$(comm -23 <(printf '%s\n%s\n' "$a" "$b" | sed '/^$/d' | sort -u) <(cat "$T"/known.* | sort -u) | wc -l)
	echo "  held $(echo "$granted" | sed '/^$/d' | wc -l) acknowledged seats; A lists $n_a, B $n_b (of $COUNT); $orphans orphaned"
}

# ---- the run ----

start A || exit 1
start B || exit 1
sl_until 20 settled 2>/dev/null || { echo "torture.sh: B never mirrored A" >&2; exit 1; }
CLIENT_PIDS=()
for k in $(seq "$CLIENTS"); do
	client "$k" &
	CLIENT_PIDS+=($!)
done

echo "torture: $ITER iterations, $CLIENTS clients, seed $SEED, synchronous_backup $SYNC, $T"
t0=$SECONDS
for it in $(seq "$ITER"); do
	# let the clients work, then kill A (2 in 3) or B at a random moment
	sleep "0.$((RANDOM % 9 + 1))"
	if [ $((RANDOM % 3)) -ne 0 ]; then victim=A; else victim=B; fi
	kill -KILL "${PID[$victim]}"
	wait "${PID[$victim]}" 2>/dev/null
	tail=$(journal_check "$T/$victim/state/journal")
	case $tail in corrupt*) violation "$victim's journal after the kill: $tail" ;; esac
	# Killed during a compaction: the committer was writing journal.new,
	# the journal before it was complete and on disk.
	compacting=""
	if [ -e "$T/$victim/state/journal.new" ]; then
		case $tail in
		0 | corrupt*) ;;
		*) violation "$victim's journal had a torn tail of $tail bytes beside journal.new" ;;
		esac
		tail=$(journal_check "$T/$victim/state/journal.new")
		case $tail in corrupt*) violation "$victim's journal.new after the kill: $tail" ;; esac
		compacting=", while compacting"
	fi
	# down for a moment, or long enough that B takes A's pool over
	case $((RANDOM % 4)) in
	0) down=0.1 ;; 1) down=0.5 ;; 2) down=1.0 ;; *) down=2.0 ;;
	esac
	sleep "$down"
	took=""
	if [ "$victim" = A ] && curl -fsS -m 1 "${URL[B]}/v1/health" 2>/dev/null |
	    jq -e 'any(.backs_up[]; .pool == "A" and .status == "hot-retry")' >/dev/null; then
		took=" (B took over)"
		takeovers=$((takeovers + 1))
	fi
	logsize=$(stat -c %s "$T/$victim/log")
	start "$victim" || break
	cut=$(tail -c +"$((logsize + 1))" "$T/$victim/log" | sed -n 's/.*cut \([0-9]*\) bytes.*/\1/p' | head -1)
	cut=${cut:-0}
	case $tail in
	corrupt*) ;;
	*) if [ "$cut" != "$tail" ]; then
		violation "$victim's journal had a torn tail of $tail bytes, replay cut $cut"
	   elif [ "$cut" -gt 0 ]; then
		cuts=$((cuts + 1))
	   fi ;;
	esac
	sl_until 20 settled 2>/dev/null || violation "A and B did not settle (B warm, A hot-warm) within 20 s"
	echo "iteration $it: kill -9 $victim$compacting, down ${down}s$took, torn tail ${tail} bytes, replay cut ${cut}"
	pause_clients && check_invariants
	rm -f "$T/pause"
done
touch "$T/stop"
wait "${CLIENT_PIDS[@]}" 2>/dev/null
CLIENT_PIDS=()
echo "torture: $it iterations in $((SECONDS - t0)) s, $acked seats acknowledged, $takeovers takeovers, $cuts torn tails cut, $violations invariant violations"
[ "$violations" -eq 0 ]
