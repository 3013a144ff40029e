#!/usr/bin/env bats
# Storage faults (issue 16): damage in the middle of the journal, a missing
# snapshot or journal, stop the start with the way out named; only a torn
# tail is cut; slserve --recover keeps what holds and says what is lost; a
# record the journal could not take (out of memory) is a 503, never a 201.

load helpers-server

setup() {
	sl_setup
	PORT=$(sl_free_port)
	ST="$SL_TMP/s1/state"
	CONF="$SL_TMP/s1/slserve.conf"
}

teardown() {
	sl_server_teardown
}

# Client-chosen lease ids carry 128 bits: NAME-$H; leases shows NAME.
H=0123456789abcdef0123456789abcdef

# grant ID...: check out a viewer seat (unlimited) as each lease ID (201).
grant() { sl_grant viewer "${@/%/-$H}"; }

# start_refused: slserve -d on s1's configuration exits non-zero by itself
# (before serving); its output is in $output.
start_refused() {
	run -1 timeout 20 "$SLSERVE" -d -f "$CONF"
	! sl_http_ok "$U/v1/health"
}

# leases: the ids of the live leases, sorted, on one line.
leases() {
	sl_admin s1 GET /v1/leases
	jq -r --arg h "-$H" '[.leases[].lease | rtrimstr($h)] | sort | join(" ")' <<<"$HTTP_BODY"
}

# flip_in_record N FILE: flip one byte inside the JSON of record N (1 = the
# first after the version line); prints the record's byte offset.
flip_in_record() {
	python3 - "$1" "$2" <<'PY'
import sys
n, p = int(sys.argv[1]), sys.argv[2]
data = bytearray(open(p, "rb").read())
off = data.index(b"\n") + 1
for _ in range(n - 1):
    off = data.index(b"\n", off) + 1
i = data.index(b'"viewer"', off) + 2
data[i] ^= 0x01
open(p, "wb").write(data)
print(off)
PY
}

# snapshot_seq: the sequence number of s1's snapshot.
snapshot_seq() { jq -r .seq "$ST/snapshot.json"; }

# compacted_past N: s1 wrote a snapshot past seq N and removed journal.new.
compacted_past() {
	[ -s "$ST/snapshot.json" ] && [ "$(snapshot_seq)" -ge "$1" ] && [ ! -e "$ST/journal.new" ]
}

@test "a flipped byte in record 2 of 8: the start is refused, naming file, byte and seq; nothing is cut" {
	sl_start_s1
	grant r1 r2 r3 r4 r5 r6 r7 r8
	sl_kill9 s1
	local off before
	off=$(flip_in_record 2 "$ST/journal")
	before=$(sha256sum <"$ST/journal")

	start_refused
	assert_output --partial "$ST/journal: byte $off: damaged record after seq 1 (seq 2 expected), and records that hold follow it"
	assert_output --partial 'nothing was cut; run "slserve --recover"'
	[ "$(sha256sum <"$ST/journal")" = "$before" ]
	# Refused again, the same way: nothing changed in between.
	start_refused
	assert_output --partial "byte $off: damaged record after seq 1"
	[ "$(sha256sum <"$ST/journal")" = "$before" ]
}

@test "slserve --recover keeps the 7 records that hold, says seq 2 is lost, keeps the damaged copy" {
	sl_start_s1
	grant r1 r2 r3 r4 r5 r6 r7 r8
	sl_kill9 s1
	flip_in_record 2 "$ST/journal" >/dev/null
	local damaged
	damaged=$(sha256sum <"$ST/journal")

	run -0 "$SLSERVE" --recover -f "$CONF"
	assert_output --regexp "^recovered $ST/journal: 7 records kept, lost seq 2; [0-9]+ damaged bytes dropped; the damaged file is kept as $ST/journal\.damaged-[0-9]{8}T[0-9]{6}$"
	[ "${#lines[@]}" -eq 1 ]
	local copy=${output##* }
	[ "$(sha256sum <"$copy")" = "$damaged" ]
	[ "$(stat -c %a "$copy")" = 600 ]

	sl_start s1
	[ "$(leases)" = "r1 r3 r4 r5 r6 r7 r8" ]
	[ "$(sl_in_use "$U" view-free)" = 7 ]
	# The loss is accepted for good: new grants, a crash and a restart.
	grant r9
	sl_kill9 s1
	sl_start s1
	[ "$(leases)" = "r1 r3 r4 r5 r6 r7 r8 r9" ]
	# A second recovery finds nothing to do, and never overwrites the copy.
	sl_stop s1
	run -0 "$SLSERVE" --recover -f "$CONF"
	assert_output "$ST/journal: no damage and no gap found: nothing lost, nothing changed"
	[ "$(sha256sum <"$copy")" = "$damaged" ]
}

@test "slserve --recover is refused while slserve runs on the state directory" {
	sl_start_s1
	grant r1
	run -1 "$SLSERVE" --recover -f "$CONF"
	assert_output "slserve: --recover: $ST: state directory is locked by pid $(sl_pid s1) (stop that slserve first)"
	alive=$(leases)
	[ "$alive" = r1 ]
}

@test "slserve --recover with nothing readable fails and leaves the file alone" {
	sl_start_s1
	sl_kill9 s1
	rm "$ST/snapshot.json"
	printf 'sl-journal 1\nnot a record\n00000000 {"seq":1}\n' >"$ST/journal"
	local before
	before=$(sha256sum <"$ST/journal")
	run -1 "$SLSERVE" --recover -f "$CONF"
	assert_output "slserve: --recover: $ST/journal: no record in it holds its checksum, and there is no snapshot: nothing can be recovered (the files are left as they are)"
	[ "$(sha256sum <"$ST/journal")" = "$before" ]
	! compgen -G "$ST/journal.damaged-*"
}

@test "a torn tail (half a record) is still cut, and the start succeeds" {
	sl_start_s1
	grant t1 t2 t3
	sl_kill9 s1
	local size
	size=$(stat -c %s "$ST/journal")
	printf '%s' "$(grep -a "\"t3-$H\"" "$ST/journal" | head -c 40)" >>"$ST/journal"
	sl_start s1
	grep -q "journal: cut [0-9]* bytes of a torn or corrupt record at the end" "$SL_TMP/s1/log"
	[ "$(leases)" = "t1 t2 t3" ]
	! compgen -G "$ST/journal.damaged-*"
}

@test "a write the machine's crash kept only in part (a sector of zeros, records after it) is a torn tail: cut" {
	sl_start_s1
	grant t1 t2 t3
	sl_kill9 s1
	# The next batch, never synced: its records went into the room
	# written ahead, but one whole sector of it never reached the disk.
	# Prints how many of its records end before that sector.
	local before
	before=$(python3 - "$ST/journal" <<'PY'

import json, sys, zlib
p = sys.argv[1]
data = bytearray(open(p, "rb").read())
end = len(data.rstrip(b"\0"))
batch = b""
for seq in range(4, 40):
    rec = json.dumps({"op": "grant", "seq": seq, "lease": {"id": "u%d" % seq,
        "license": "view-free", "product": "viewer", "pool": "s1"}},
        separators=(",", ":")).encode()
    batch += b"%08x " % zlib.crc32(rec) + rec + b"\n"
data[end:end + len(batch)] = batch
hole = (end + 1023) // 512 * 512
assert hole + 512 < end + len(batch) - 200
data[hole:hole + 512] = bytes(512)
open(p, "wb").write(data)
print(data.count(b"\n", end, hole))
PY
)
	[ "$before" -ge 1 ]
	sl_start s1
	grep -q "journal: cut [0-9]* bytes of a torn or corrupt record at the end" "$SL_TMP/s1/log"
	# The records before the hole hold and are replayed; none after it.
	[ "$(sl_in_use "$U" view-free)" = $((3 + before)) ]
	sl_admin s1 GET /v1/leases
	sl_json '[.leases[].lease | sub("-[0-9a-f]{32}$"; "")] | (index("t1") != null) and (index("u4") != null) and
	    (index("u39") == null)'
}

@test "snapshot.json deleted after a compaction: refused; --recover starts from what is there" {
	sl_server_config s1 "$PORT" "compact_after = 10"
	sl_start s1
	U=$(sl_url s1)
	local i ids=()
	for i in $(seq 1 15); do ids+=("c$i"); done
	grant "${ids[@]}"
	sl_until 10 compacted_past 10
	local snap
	snap=$(snapshot_seq)
	sl_kill9 s1
	rm "$ST/snapshot.json"

	start_refused
	assert_output --regexp "$ST/journal: byte 13: .*$ST/snapshot.json is missing.*seq 1-$snap"
	assert_output --partial 'run "slserve --recover"'

	run -0 "$SLSERVE" --recover -f "$CONF"
	assert_output --regexp "^recovered $ST/journal: $((15 - snap)) records kept, lost seq 1-$snap; the damaged file is kept as $ST/journal\.damaged-"
	sl_start s1
	[ "$(sl_in_use "$U" view-free)" = $((15 - snap)) ]
	sl_admin s1 GET /v1/leases
	sl_json '[.leases[].lease | sub("-[0-9a-f]{32}$"; "")] | index("c15") != null'
}

@test "the journal deleted beside a snapshot: refused; --recover starts from the snapshot" {
	sl_server_config s1 "$PORT" "compact_after = 10"
	sl_start s1
	U=$(sl_url s1)
	grant a1 a2 a3 a4 a5 a6 a7 a8 a9 a10 a11
	sl_until 10 compacted_past 10
	local snap
	snap=$(snapshot_seq)
	sl_kill9 s1
	rm "$ST/journal"

	start_refused
	assert_output --partial "$ST/journal is missing beside $ST/snapshot.json (at seq $snap): the records after seq $snap are gone"
	[ ! -e "$ST/journal" ]

	run -0 "$SLSERVE" --recover -f "$CONF"
	assert_output "recovered $ST/journal: it was missing; lost every record after seq $snap (how many is unknown); starting from $ST/snapshot.json at seq $snap"
	sl_start s1
	[ "$(sl_in_use "$U" view-free)" = "$snap" ]
}

@test "a fresh state directory starts; a compacted one with its journal empty and its snapshot gone is refused" {
	sl_server_config s1 "$PORT" "compact_after = 10"
	sl_start s1
	U=$(sl_url s1)
	[ -s "$ST/journal" ] && [ -s "$ST/snapshot.json" ]
	grant e1 e2 e3 e4 e5 e6 e7 e8 e9 e10
	sl_until 10 compacted_past 10
	# The compaction's journal says where its snapshot was.
	sl_stop s1
	rm "$ST/snapshot.json"
	start_refused
	assert_output --regexp "were compacted into a snapshot, but $ST/snapshot.json is missing: seq 1-[0-9]+ are missing"
}

@test "out of memory in the journal at a checkin: 503, the seat stays held, a retry checks it in" {
	sl_server_config s1 "$PORT"
	# The second record appended from now on (the checkin's) fails.
	export SL_TEST_FAIL_JOURNAL_ALLOC=2
	sl_start s1
	unset SL_TEST_FAIL_JOURNAL_ALLOC
	U=$(sl_url s1)
	sl_checkout "$U" "{\"product\":\"cad\",\"lease\":\"k1-$H\"}"
	sl_expect 201
	sl_req DELETE "$U/v1/leases/k1-$H"
	sl_expect_error 503 out_of_memory
	[ "$(sl_in_use "$U" cad-1)" = 1 ]
	sl_req POST "$U/v1/leases/k1-$H/heartbeat"
	sl_expect 200
	sl_req DELETE "$U/v1/leases/k1-$H"
	sl_expect 200
	[ "$(sl_in_use "$U" cad-1)" = 0 ]
	sl_kill9 s1
	sl_start s1
	[ "$(sl_in_use "$U" cad-1)" = 0 ]
}

@test "out of memory in the journal at a revoke: 503, the seat stays held; the retry revokes it" {
	sl_server_config s1 "$PORT"
	export SL_TEST_FAIL_JOURNAL_ALLOC=2
	sl_start s1
	unset SL_TEST_FAIL_JOURNAL_ALLOC
	U=$(sl_url s1)
	sl_checkout "$U" "{\"product\":\"cad\",\"lease\":\"v1-$H\"}"
	sl_expect 201
	sl_admin s1 POST "/v1/leases/v1-$H/revoke" '{}'
	sl_expect_error 503 out_of_memory
	[ "$(sl_in_use "$U" cad-1)" = 1 ]
	sl_req POST "$U/v1/leases/v1-$H/heartbeat"
	sl_expect 200
	sl_admin s1 POST "/v1/leases/v1-$H/revoke" '{}'
	sl_expect 200
	[ "$(sl_in_use "$U" cad-1)" = 0 ]
}

@test "out of memory in the journal: the checkout gets 503, is not counted, and is not on disk" {
	sl_server_config s1 "$PORT"
	# The second record appended from now on fails as if malloc had.
	export SL_TEST_FAIL_JOURNAL_ALLOC=2
	sl_start s1
	unset SL_TEST_FAIL_JOURNAL_ALLOC
	U=$(sl_url s1)
	grant m1
	sl_checkout "$U" "{\"product\":\"cad\",\"lease\":\"m2-$H\"}"
	sl_expect_error 503 out_of_memory
	[ "$(sl_in_use "$U" cad-1)" = 0 ]
	grep -q "journal: out of memory; record not appended" "$SL_TMP/s1/log"
	# The journal has no gap: the next grant takes the next sequence number.
	sl_checkout "$U" "{\"product\":\"cad\",\"lease\":\"m3-$H\"}"
	sl_expect 201
	[ "$(sl_in_use "$U" cad-1)" = 1 ]
	sl_kill9 s1
	! grep -aq "\"m2-$H\"" "$ST/journal"
	sl_start s1
	[ "$(leases)" = "m1 m3" ]
	[ "$(sl_in_use "$U" cad-1)" = 1 ]
	sl_req POST "$U/v1/leases/m2-$H/heartbeat"
	sl_expect_error 404 unknown_lease
}
