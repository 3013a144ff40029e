#!/bin/bash
# test/torture.sh [-n KILLS] [-S STOPS] [-c CLIENTS] [-s SEED] [-b BINDIR] [-a] [-k]:
# crash and hang torture of a Primary A and its backup B: the proof that the
# pair never acknowledges more seats than the count (DESIGN.md §6, invariant 1).
#
# CLIENTS concurrent client loops (8) check seats out of A's pool (A first,
# then B naming pool A when A does not answer, as slcheck does), heartbeat
# them and check them in, each with lease ids of its own, and log each step
# with its time: G a grant acknowledged (201/200), R refused (409), C a
# checkin begun, D its answer, H a heartbeat's answer.
# Meanwhile, in random order, A or B is killed with SIGKILL at a random
# moment KILLS times (50) and restarted after a random delay, and A is stopped
# with SIGSTOP STOPS times (20) and continued with SIGCONT, held sometimes
# shorter and sometimes longer than poll_interval x fail_after, so that B
# takes the pool over from a dead and from a hung Primary, and hands it back.
#
# Invariants, each checked and counted:
#   O  no over-grant at any sample: a sampler reads /v1/licenses and
#      /v1/leases of A and B every 100 ms, all the run long, and counts the
#      samples in which the distinct lease ids of pool A listed on A or B
#      (the last list read of a server that does not answer) that a client
#      was acknowledged, and has not begun to check in, exceed the count;
#   L  no acknowledged seat lost: at each pause, every lease id acknowledged
#      and not given up is live on A or B;
#   C  no acknowledged checkin lost: a lease whose checkin was answered 200
#      is never live again on A or B, once the pair has settled (sampler,
#      twice in a row; pauses; the end);
#   G  no ghost: at each pause every lease live on A or B is one a client
#      holds, is checking in, or asked for without a sure answer; at the end
#      the clients check in what they hold, and every live lease must be one
#      whose checkin found no final answer (timeouts are 600 s: no seat ends
#      on its own during a run). A ghost is counted once, then revoked
#      (without a ban), as a lost checkin is, so that its seat serves the
#      rest of the run;
#   S  the pool keeps granting: at each pause a checkout of pool A is
#      granted within 5 s unless the count is full of seats clients know
#      (then 409 is right);
#   and the journal replays clean: a kill only ever leaves a torn tail,
#   which the restart cuts exactly.
# After every iteration, once A serves and B mirrors it again, the clients
# pause for L, C, G, S and the per-server counts. Prints one line per iteration
# and a summary; exits 1 on any violation.
# A runs with synchronous_backup = true (a grant is answered once B holds
# it); -a runs it without, to measure what the Primary's last poll interval
# before a crash can over-grant. -k keeps the directory (logs).
set -u
here=$(cd "$(dirname "$0")" && pwd)
KILLS=50 STOPS=20 CLIENTS=8 SEED=$$ BINDIR=${SL_BINDIR:-$here/../build/rel/bin} KEEP=0 SYNC=true
while getopts n:S:c:s:b:ka opt; do
	case $opt in
	n) KILLS=$OPTARG ;;
	S) STOPS=$OPTARG ;;
	c) CLIENTS=$OPTARG ;;
	s) SEED=$OPTARG ;;
	b) BINDIR=$OPTARG ;;
	k) KEEP=1 ;;
	a) SYNC=false ;;
	*) echo "usage: torture.sh [-n KILLS] [-S STOPS] [-c CLIENTS] [-s SEED] [-b BINDIR] [-a] [-k]" >&2; exit 64 ;;
	esac
done
SLSERVE=$BINDIR/slserve
[ -x "$SLSERVE" ] || { echo "torture.sh: no $SLSERVE" >&2; exit 1; }
RANDOM=$SEED
COUNT=6		# seats of A's license
T=$(mktemp -d "${TMPDIR:-/tmp}/sl-torture.XXXXXX")
declare -A PID PORT URL
violations=0 cuts=0 acked=0 stuck=0 probes=0 takeovers=0
SAMPLER_PID=""

# sl_until SECONDS CMD...: a bounded poll; sl_free_port; sl_token;
# sl_scratch_done (test/poll.sh).
. "$here/poll.sh"

cleanup() {
	touch "$T/stop" "$T/sampler.stop"
	local p
	for p in "${CLIENT_PIDS[@]:-}" $SAMPLER_PID; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
	for p in "${PID[@]}"; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	local keep=$KEEP
	[ "${total:-1}" -eq 0 ] || keep=1
	sl_scratch_done "$T" "$keep" "torture: files"
}
trap cleanup EXIT

violation() {
	violations=$((violations + 1))
	echo "VIOLATION: $*"
}


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
# takeover after 0.2 x 3 = 0.6 s (the SIGSTOP holds are chosen around it)
printf 'failover "A" {\n  url = "%s"\n  poll_interval = 0.2\n  fail_after = 3\n}\n' "${URL[A]}" >>"$T/B/slserve.conf"
if [ "$(id -u)" -eq 0 ]; then	# slserve refuses root unless told
	echo 'allow_root = true' >>"$T/A/slserve.conf"
	echo 'allow_root = true' >>"$T/B/slserve.conf"
fi
sl_token "$T/peer.token"
: >"$T/lost-seats"
: >"$T/lost-checkins"
: >"$T/ghosts"

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

# ---- the sampler (invariants O and C, all the run long) ----

# sampler: every 100 ms until $T/sampler.stop. The client logs are read
# before the servers' lists and again after, so a seat counts only if its
# grant was acknowledged before the lists were read and its checkin had not
# begun when they had been read: a grant answered between two reads, or a
# seat freed by a checkin in flight, is never counted (no false positive from
# the sampler's own races). Writes VIOLATION lines to stdout, the ids of
# lost checkins to $T/lost-checkins, a line per sample to $T/sampler.log
# and its totals to $T/sampler.out.
sampler() {
	python3 - "$T" "${URL[A]}" "${URL[B]}" "$COUNT" <<'PY'
import glob, json, os, sys, time, urllib.request
from concurrent.futures import ThreadPoolExecutor

T, url, count = sys.argv[1], {"A": sys.argv[2], "B": sys.argv[3]}, int(sys.argv[4])
pool = ThreadPoolExecutor(4)
tokens, offsets = {}, {}
acked, begun, checked_in = set(), set(), set()

def get(n, path, admin=False):
    headers = {}
    if admin:
        if n not in tokens:
            try:
                tokens[n] = open("%s/%s/state/admin.token" % (T, n)).read().strip()
            except OSError:
                return None
        headers["Authorization"] = "Bearer " + tokens[n]
    try:
        req = urllib.request.Request(url[n] + path, headers=headers)
        with urllib.request.urlopen(req, timeout=0.5) as r:
            return json.load(r)
    except Exception:
        return None

def both(path, admin=False):
    fa, fb = pool.submit(get, "A", path, admin), pool.submit(get, "B", path, admin)
    return fa.result(), fb.result()

def read_logs():
    # G ID CODE: acknowledged; C ID: checkin begun; D ID CODE: its answer
    for f in glob.glob(T + "/client*.log"):
        with open(f, "rb") as fh:
            fh.seek(offsets.get(f, 0))
            data = fh.read()
        end = data.rfind(b"\n") + 1
        offsets[f] = offsets.get(f, 0) + end
        for line in data[:end].decode().splitlines():
            w = line.split()
            if len(w) >= 2 and w[0] == "G":
                acked.add(w[1])
            elif len(w) >= 2 and w[0] == "C":
                begun.add(w[1])
            elif len(w) >= 3 and w[0] == "D" and w[2] in ("200", "200-B"):
                checked_in.add(w[1])

def settled(lic):
    a, b = lic
    return (a is not None and b is not None and
            all(l["status"] == "hot-warm" for l in a["licenses"] if l["role"] == "primary") and
            any(l["pool"] == "A" and l["status"] == "warm" for l in b["licenses"] if l["role"] == "backup"))

last = {"A": set(), "B": set()}
samples = over = worst = 0
suspect, lost = set(), set()
log = open(T + "/sampler.log", "w")
t0 = time.monotonic()
while not os.path.exists(T + "/sampler.stop"):
    ts = time.monotonic()
    read_logs()
    held = acked - begun
    done = set(checked_in)
    lic1 = both("/v1/licenses")
    lists = both("/v1/leases", admin=True)
    lic2 = both("/v1/licenses")
    read_logs()
    fresh = {}
    for n, l in zip("AB", lists):
        fresh[n] = l is not None
        if l is not None:
            last[n] = {x["lease"] for x in l["leases"] if x["pool"] == "A"}
    listed = last["A"] | last["B"]
    seats = (listed & held) - begun
    samples += 1
    worst = max(worst, len(seats))
    status = "".join(n if fresh[n] else n.lower() for n in "AB")
    log.write("%.2f %s A=%d B=%d acked-live=%d%s\n" % (ts - t0, status, len(last["A"]),
              len(last["B"]), len(seats), " settled" if settled(lic1) and settled(lic2) else ""))
    if len(seats) > count:
        over += 1
        print("VIOLATION: over-grant at %.2f s: %d acknowledged live seats of %d (A%s: %s; B%s: %s)" % (
              ts - t0, len(seats), count, "" if fresh["A"] else " as last read",
              " ".join(sorted(seats & last["A"])), "" if fresh["B"] else " as last read",
              " ".join(sorted(seats & last["B"] - last["A"]))), flush=True)
    # a lease checked in (200) live again, in two settled samples in a row
    # (not while a handback moves the pool: B lists what it hands back until
    # A holds it, and A what it held until B's handback ends it)
    if fresh["A"] and fresh["B"] and settled(lic1) and settled(lic2):
        again = listed & done
        for i in sorted(again & suspect - lost):
            lost.add(i)
            with open(T + "/lost-checkins", "a") as f:
                f.write(i + "\n")
            print("VIOLATION: lost checkin at %.2f s: %s was checked in (200) and is live again on %s" % (
                  ts - t0, i, " and ".join(n for n in "AB" if i in last[n])), flush=True)
        suspect = again
    time.sleep(max(0.0, 0.1 - (time.monotonic() - ts)))
with open(T + "/sampler.out", "w") as f:
    f.write("%d %d %d\n" % (samples, over, worst))
PY
}

# ---- the clients ----

# client K: loops until $T/stop, pausing while $T/pause exists; then checks
# in every seat it holds or may hold, and writes the ids it could not to
# $T/unreleased.K.
client() {
	local k=$1 n=0 id code pending="" i tries
	local -a held=() releasing=() rest=()
	local log=$T/client$k.log
	req() {	# req SERVER METHOD PATH [BODY]: prints the HTTP status (000: none)
		local args=(-s -o /dev/null -w '%{http_code}' -m 2 --connect-timeout 0.5 -X "$2")
		[ $# -ge 4 ] && args+=(-H 'Content-Type: application/json' --data-binary "$4")
		curl "${args[@]}" "${URL[$1]}$3" 2>/dev/null
	}
	checkin() {	# checkin ID: true once the answer is final
		code=$(req A DELETE "/v1/leases/$1")
		[ "$code" = 000 ] && code=$(req B DELETE "/v1/leases/$1")-B
		echo "D $1 $code @$EPOCHREALTIME" >>"$log"
		case $code in 200|404|410|200-B|410-B) return 0 ;; esac
		return 1
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
		if [ ${#releasing[@]} -gt 0 ] && checkin "${releasing[0]}"; then
			releasing=("${releasing[@]:1}")
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
			200|201|200-B|201-B) echo "G $id $code @$EPOCHREALTIME" >>"$log"; held+=("$id"); pending="" ;;
			409|409-B) echo "R $id $code @$EPOCHREALTIME" >>"$log"; pending="" ;;	# no seat: nothing granted
			*) pending=$id ;;		# unknown (A may have it): ask again, same id
			esac
		elif [ ${#held[@]} -gt 0 ]; then
			i=$((RANDOM % ${#held[@]}))
			id=${held[$i]}
			if [ $((RANDOM % 2)) -eq 0 ]; then
				code=$(req A POST "/v1/leases/$id/heartbeat")
				[ "$code" = 000 ] && code=$(req B POST "/v1/leases/$id/heartbeat")
				echo "H $id $code @$EPOCHREALTIME" >>"$log"
			else
				# from here on the seat is the client's to give up: not checked
				echo "C $id @$EPOCHREALTIME" >>"$log"
				releasing+=("$id")
				unset "held[$i]"
				held=("${held[@]}")
			fi
		fi
		sleep 0.0$((RANDOM % 5))
	done
	# stopping: give back every seat held, being given up, or maybe granted
	for id in "${held[@]}"; do echo "C $id @$EPOCHREALTIME" >>"$log"; done
	rest=("${held[@]}" "${releasing[@]}")
	[ -n "$pending" ] && rest+=("$pending")
	tries=0
	while [ ${#rest[@]} -gt 0 ] && [ $tries -lt 300 ]; do
		if checkin "${rest[0]}"; then
			rest=("${rest[@]:1}")
		else
			tries=$((tries + 1))
			sleep 0.1
		fi
	done
	printf '%s\n' "${rest[@]}" | sed '/^$/d' >"$T/unreleased.$k"
}

pause_clients() {
	touch "$T/pause"
	local k
	for k in $(seq "$CLIENTS"); do
		sl_until 10 test -e "$T/paused.$k" 2>/dev/null || { violation "client $k did not pause"; return 1; }
	done
}

# pool_a SERVER: the live lease ids of pool A on SERVER, sorted.
pool_a() {
	local list
	list=$(admin "$1" /v1/leases) || return 1
	jq -r '.leases[] | select(.pool == "A") | .lease' <<<"$list" | sort
}

# checked_in: the ids whose checkin was answered 200, sorted.
checked_in() {
	cat "$T"/client*.log | awk '$1 == "D" && ($3 == "200" || $3 == "200-B") { print $2 }' | sort -u
}

# lost_checkins WHERE IDS: the ids of IDS whose checkin was answered 200
# are violations (counted once per id).
lost_checkins() {
	local where=$1 i
	for i in $(comm -12 <(echo "$2" | sed '/^$/d') <(checked_in)); do
		grep -qx "$i" "$T/lost-checkins" && continue
		echo "$i" >>"$T/lost-checkins"
		echo "VIOLATION: lost checkin ($where): $i was checked in (200) and is live again"
	done
}

# ghosts_in WHERE A-IDS B-IDS HELD-FILES: every lease live on A or B that is
# not in HELD-FILES (the ids clients hold or may hold) is revoked (no ban)
# so that its seat serves the rest of the run; unless it is a lost checkin
# (counted already), it is a ghost: counted once, shown with its client's
# log. Sets revoked.
ghosts_in() {
	local i n where
	revoked=""
	for i in $(comm -23 <(printf '%s\n%s\n' "$2" "$3" | sed '/^$/d' | sort -u) \
	    <(cat $4 2>/dev/null | sort -u)); do
		where=""
		for n in A B; do
			grep -qx "$i" <<<"$([ $n = A ] && echo "$2" || echo "$3")" || continue
			where="$where $n"
			curl -fsS -m 3 -o /dev/null -H "Authorization: Bearer $(cat "$T/$n/state/admin.token")" \
			    -H 'Content-Type: application/json' --data-binary '{"reason":"torture: ghost","for":0}' \
			    "${URL[$n]}/v1/leases/$i/revoke" || echo "  (revoking $i on $n failed)"
		done
		revoked="$revoked $i"
		grep -qx "$i" "$T/ghosts" "$T/lost-checkins" && continue
		echo "$i" >>"$T/ghosts"
		echo "VIOLATION: ghost ($1): $i live on$where, held by no client; its log: $(grep -hE " $i( |\$)" "$T"/client*.log | tr '\n' ';')"
	done
}

check_invariants() {
	local a b granted lost n_a n_b n_both in_a i
	known_live=0
	a=$(pool_a A) || { violation "A's lease list unreadable"; return 1; }
	b=$(pool_a B) || { violation "B's lease list unreadable"; return 1; }
	# acknowledged and never given up: G lines without a later C line
	granted=$(cat "$T"/client*.log 2>/dev/null | awk '$1 == "G" { g[$2] = 1 } $1 == "C" { delete g[$2] } END { for (i in g) print i }' | sort)
	lost=$(comm -23 <(echo "$granted" | sed '/^$/d') <(printf '%s\n%s\n' "$a" "$b" | sed '/^$/d' | sort -u))
	if [ -n "$lost" ]; then
		echo "VIOLATION: acknowledged seats lost: $(echo $lost)"
		for i in $lost; do grep -qx "$i" "$T/lost-seats" || echo "$i" >>"$T/lost-seats"; done
	fi
	lost_checkins "pause $it" "$(printf '%s\n%s\n' "$a" "$b")"
	n_a=$(echo "$a" | sed '/^$/d' | wc -l)
	n_b=$(echo "$b" | sed '/^$/d' | wc -l)
	n_both=$(printf '%s\n%s\n' "$a" "$b" | sed '/^$/d' | sort -u | wc -l)
	[ "$n_a" -le "$COUNT" ] || violation "A holds $n_a leases of pool A > $COUNT"
	[ "$n_b" -le "$COUNT" ] || violation "B holds $n_b leases of pool A > $COUNT"
	[ "$n_both" -le "$COUNT" ] || violation "A and B together hold $n_both leases of pool A > $COUNT"
	in_a=$(curl -fsS -m 2 "${URL[A]}/v1/licenses" | jq '.licenses[] | select(.id == "A-cad") | .in_use')
	[ "$in_a" = "$n_a" ] || violation "A says in_use $in_a but lists $n_a leases"
	# live seats a client knows of (held, being checked in, or asked for
	# without a sure answer), and those none does: ghosts
	known_live=$(comm -12 <(printf '%s\n%s\n' "$a" "$b" | sed '/^$/d' | sort -u) <(cat "$T"/known.* | sort -u) | wc -l)
	ghosts_in "pause $it" "$a" "$b" "$T/known.*"
	echo "  held $(echo "$granted" | sed '/^$/d' | wc -l) acknowledged seats; A lists $n_a, B $n_b (of $COUNT); ghosts revoked:${revoked:- none}"
}

# probe_pool: with the clients paused, a checkout of pool A on A is granted
# (and checked in) within 5 s, unless seats the clients know fill the count.
probe_pool() {
	local id=p$it-0123456789abcdef0123456789abcdef code="" tries=0 log=$T/client0.log
	while [ $tries -lt 50 ]; do
		code=$(curl -s -o "$T/probe.out" -w '%{http_code}' -m 2 -H 'Content-Type: application/json' \
		    --data-binary "{\"product\":\"cad\",\"lease\":\"$id\",\"client\":\"probe\"}" "${URL[A]}/v1/checkout")
		case $code in
		200|201) echo "G $id $code @$EPOCHREALTIME" >>"$log"; break ;;
		409) [ "$known_live" -ge "$COUNT" ] && { echo "  probe: pool full ($known_live known seats)"; return; } ;;
		esac
		tries=$((tries + 1))
		sleep 0.1
	done
	if [ $tries -ge 50 ]; then
		stuck=$((stuck + 1))
		echo "VIOLATION: pool A stuck: no checkout granted in 5 s with $known_live of $COUNT seats known to clients; last answer $code $(head -c 200 "$T/probe.out")"
		return
	fi
	probes=$((probes + 1))
	echo "C $id @$EPOCHREALTIME" >>"$log"
	tries=0
	while [ $tries -lt 50 ]; do
		code=$(curl -s -o "$T/probe.out" -w '%{http_code}' -m 2 -X DELETE "${URL[A]}/v1/leases/$id")
		echo "D $id $code @$EPOCHREALTIME" >>"$log"
		[ "$code" = 200 ] && { echo "  probe: $id granted and checked in"; return; }
		tries=$((tries + 1))
		sleep 0.1
	done
	stuck=$((stuck + 1))
	echo "VIOLATION: pool A stuck: the checkin of $id not answered 200 in 5 s; last answer $code $(head -c 200 "$T/probe.out")"
}

# took_over: sets took to " (B took over)" when B's log shows a takeover
# since the last call, and takeovers to their number.
took_over() {
	local n
	n=$(grep -c 'took over pool "A"' "$T/B/log")
	took=""
	[ "$n" -gt "$takeovers" ] && took=" (B took over)"
	takeovers=$n
}

# ---- the run ----

start A || exit 1
start B || exit 1
sl_until 20 settled 2>/dev/null || { echo "torture.sh: B never mirrored A" >&2; exit 1; }
sampler &
SAMPLER_PID=$!
CLIENT_PIDS=()
for k in $(seq "$CLIENTS"); do
	client "$k" &
	CLIENT_PIDS+=($!)
done

# the iterations: KILLS kill -9 and STOPS SIGSTOP, shuffled
events=()
for i in $(seq "$KILLS"); do events+=(kill); done
for i in $(seq "$STOPS"); do events+=(stop); done
for ((i = ${#events[@]} - 1; i > 0; i--)); do
	j=$((RANDOM % (i + 1)))
	e=${events[$i]} events[$i]=${events[$j]} events[$j]=$e
done

echo "torture: $KILLS kill -9 and $STOPS SIGSTOP, $CLIENTS clients, seed $SEED, synchronous_backup $SYNC, $T"
t0=$SECONDS
it=0 kills=0 stops=0
for event in "${events[@]}"; do
	it=$((it + 1))
	# let the clients work, then strike at a random moment
	sleep "0.$((RANDOM % 9 + 1))"
	if [ "$event" = stop ]; then
		# shorter than poll_interval x fail_after (0.6 s), or longer: polls
		# of a hung Primary fail by their timeout, not at once, so B takes
		# over only after about 2 s
		case $((RANDOM % 5)) in
		0) hold=0.2 ;; 1) hold=0.5 ;; 2) hold=1.5 ;; 3) hold=3.0 ;; *) hold=5.0 ;;
		esac
		kill -STOP "${PID[A]}"
		sleep "$hold"
		kill -CONT "${PID[A]}"
		stops=$((stops + 1))
		sl_until 20 settled 2>/dev/null || violation "A and B did not settle (B warm, A hot-warm) within 20 s"
		took_over
		echo "iteration $it: SIGSTOP A for ${hold}s$took"
	else
		if [ $((RANDOM % 3)) -ne 0 ]; then victim=A; else victim=B; fi
		kill -KILL "${PID[$victim]}"
		wait "${PID[$victim]}" 2>/dev/null
		kills=$((kills + 1))
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
		took_over
		echo "iteration $it: kill -9 $victim$compacting, down ${down}s$took, torn tail ${tail} bytes, replay cut ${cut}"
	fi
	pause_clients && check_invariants && probe_pool
	rm -f "$T/pause"
done

# the end: the clients check in what they hold; then every live lease must
# be one a client still holds (its checkin found no final answer)
touch "$T/stop"
wait "${CLIENT_PIDS[@]}" 2>/dev/null
CLIENT_PIDS=()
for n in A B; do
	kill -0 "${PID[$n]}" 2>/dev/null || start "$n"
done
sl_until 20 settled 2>/dev/null || violation "A and B did not settle at the end within 20 s"
sleep 1	# the sampler sees the settled end twice
touch "$T/sampler.stop"
wait "$SAMPLER_PID"
SAMPLER_PID=""
read -r samples over worst <"$T/sampler.out" || { samples=0 over=0 worst=0; violation "the sampler did not finish"; }
a=$(pool_a A) || violation "A's lease list unreadable at the end"
b=$(pool_a B) || violation "B's lease list unreadable at the end"
live=$(printf '%s\n%s\n' "$a" "$b" | sed '/^$/d' | sort -u)
lost_checkins "end" "$live"
ghosts_in "end" "$a" "$b" "$T/unreleased.*"
ghosts=$(sort -u "$T/ghosts" | sed '/^$/d' | wc -l)
acked=$(cat "$T"/client*.log | awk '$1 == "G"' | wc -l)
lostseats=$(sort -u "$T/lost-seats" | sed '/^$/d' | wc -l)
lostcheckins=$(sort -u "$T/lost-checkins" | sed '/^$/d' | wc -l)
echo "sampler: $samples samples, at most $worst acknowledged live seats of $COUNT; $probes probe checkouts granted, pool stuck at $stuck pauses"
total=$((over + lostseats + lostcheckins + ghosts + stuck + violations))
echo "torture: $it iterations ($kills kill -9, $stops SIGSTOP) in $((SECONDS - t0)) s, $acked seats acknowledged, $takeovers takeovers, $cuts torn tails cut, $ghosts ghosts, $over over-grants, $lostseats lost seats, $lostcheckins lost checkins, $total invariant violations"
[ "$total" -eq 0 ]
