#!/usr/bin/env bats
# A Primary hands each batch of journal records to its long-polling backups
# while it writes them to its own disk, so the backup's write and sync
# overlap its own; a checkout still waits for both. A Primary that dies in
# between leaves its backup a grant no client was told of: the holder's
# retry claims it there, and the handback keeps a claimed seat and drops an
# unclaimed one. And a backup's mirror journal that outgrows its bound is
# started over while a thread writes the new base (journal.new): a crash at
# any point of that leaves every mirrored seat readable.

load helpers-failover

setup() { fo_setup; }
teardown() { sl_teardown; }

NEW() { echo "$SL_TMP/B/state/mirror-A.journal.new"; }

# hexid: a random 128-bit lease id.
hexid() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n'; }

# record JSON: the journal line of JSON (CRC-32, a space, the JSON).
record() {
	python3 -c 'import sys, zlib; j = sys.argv[1].encode(); print("%08x %s" % (zlib.crc32(j), sys.argv[1]))' "$1"
}

@test "a grant sent to the backup but never written by the Primary: its holder's retry claims it, the handback keeps it" {
	fo_pair "cad-a cad 3 30"
	fo_config A
	fo_config B "$(fo_backs_up A)"
	# Every batch of A's takes 2 s to write: time to kill it in between.
	SL_TEST_JOURNAL_WRITE_DELAY_MS=2000 sl_start A
	sl_start B
	fo_warm B A
	# l0: written (A's journal is not empty: A does not start as one that
	# lost its state).
	l0=$(sl_co_lease "$UA" cad)
	l1=$(hexid) l2=$(hexid)
	sl_co "$UA" cad lease="$l1" >/dev/null 2>&1 &
	p1=$!
	sl_co "$UA" cad lease="$l2" >/dev/null 2>&1 &
	p2=$!
	# B has both grants before A has written them ...
	sl_until $((3 + FO_MARGIN)) fo_mirror_is B A "$l0 $l1 $l2"
	# ... and A dies before: neither client was answered.
	sl_kill9 A
	wait "$p1" "$p2" || true
	sl_until "$(fo_takeover_limit)" fo_pool_status_is "$UB" A hot-retry

	# B serves the three; l1's holder asks again and gets its seat.
	sl_co "$UB" cad lease="$l1" pool=A
	sl_expect 200 '.lease == $l and .pool == "A" and .server == "B"' --arg l "$l1"
	# l2 nobody claimed still counts: 3 of 3 (an over-count, never a
	# second grant of a seat).
	sl_co "$UB" cad pool=A
	sl_expect 409 '.error == "no_seats"'

	# A starts without l1 and l2 on its disk and takes its pool back.
	sl_start A
	fo_warm B A
	sl_heartbeat "$UA" "$l0"
	sl_expect 200
	sl_heartbeat "$UA" "$l1"
	sl_expect 200
	sl_heartbeat "$UA" "$l2"
	sl_expect 404 '.error == "unknown_lease"'
	# 3 seats: l0, l1 and one more.
	sl_co "$UA" cad
	sl_expect 201
	sl_co "$UA" cad
	sl_expect 409 '.error == "no_seats"'
	grep -q "claim" "$SL_TMP/B/state/journal"
}

@test "a mirror journal past its bound starts over while a thread writes the base; a crash after loses no seat" {
	fo_pair "cad-a cad 8 30"
	fo_config A
	fo_config B "$(fo_backs_up A)"
	sl_start A
	# A bound of 1000 bytes, or four times the mirror: seats checked out
	# and in outgrow it in a few rounds.
	SL_TEST_MIRROR_LOG_MIN=1000 sl_start B
	fo_warm B A
	base_inode=$(stat -c %i "$(fo_mirror_base B A)")
	ids=""
	for _ in 1 2 3 4 5 6; do
		ids+="$(sl_co_lease "$UA" cad) "
	done
	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$ids"
	# Records that add seats do not outgrow it: a base would hold them
	# all again.
	[ "$(stat -c %i "$(fo_mirror_base B A)")" = "$base_inode" ]
	for _ in $(seq 1 16); do
		l=$(sl_co_lease "$UA" cad)
		sl_checkin "$UA" "$l"
		sl_expect 200
	done
	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$ids"
	# The base was written again (a new file), by the thread: it holds
	# seats now, and no journal.new is left once it is done.
	sl_until $((2 + FO_MARGIN)) base_moved "$base_inode"
	jq -e '.mirror | length > 0' "$(fo_mirror_base B A)" >/dev/null
	sl_until $((2 + FO_MARGIN)) test ! -e "$(NEW)"
	! grep -q "whole mirror is saved again\|torn or corrupt" "$SL_TMP/B/log"

	sl_kill9 A
	sl_kill9 B
	sl_start B
	sl_until "$(fo_takeover_limit)" fo_pool_status_is "$UB" A hot-retry
	for l in $ids; do
		sl_heartbeat "$UB" "$l"
		sl_expect 200
	done
	# 8 seats: the 6, and 2 more.
	sl_co "$UB" cad pool=A
	sl_expect 201
	sl_co "$UB" cad pool=A
	sl_expect 201
	sl_co "$UB" cad pool=A
	sl_expect 409 '.error == "no_seats"'
}

# base_moved INODE: B's mirror base of A is another file than INODE.
base_moved() { [ "$(stat -c %i "$(fo_mirror_base B A)")" != "$1" ]; }

# three_mirrored: a pair, and three seats of A (l1, l2, l3) in B's mirror
# journal, l1 in a record of its own.
three_mirrored() {
	fo_start_pair "cad-a cad 3 30"
	l1=$(sl_co_lease "$UA" cad)
	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$l1"
	l2=$(sl_co_lease "$UA" cad)
	l3=$(sl_co_lease "$UA" cad)
	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$l1 $l2 $l3"
}

# split_journal: stop both (kill -9), then make B's state look as if it
# stopped while a thread wrote a new base: the journal keeps its base line
# and first record, journal.new (its first line from $1) holds the rest.
split_journal() {
	sl_kill9 A
	sl_kill9 B
	local j n
	j=$(fo_mirror_journal B A)
	n=$(fo_journal_text "$j" | wc -l)
	{ fo_journal_text "$j" | head -n 1; record "$1"; fo_journal_text "$j" | tail -n +4; } >"$(NEW)"
	fo_journal_text "$j" | head -n 3 >"$j.tmp"
	mv "$j.tmp" "$j"
	[ "$n" -ge 4 ]
}

@test "stopped while the base was written in the background: the base, its journal and journal.new after it are read" {
	three_mirrored
	gen=$(jq -r .gen "$(fo_mirror_base B A)")
	split_journal "{\"base\":\"0123456789abcdef0123456789abcdef\",\"after\":\"$gen\"}"
	# l2 and l3 are in journal.new alone.
	! fo_journal_text "$(fo_mirror_journal B A)" | grep -q "$l3"
	grep -q "$l3" "$(NEW)"

	sl_start B
	sl_until "$(fo_takeover_limit)" fo_pool_status_is "$UB" A hot-retry
	for l in "$l1" "$l2" "$l3"; do
		sl_heartbeat "$UB" "$l"
		sl_expect 200
	done
	sl_co "$UB" cad pool=A
	sl_expect 409 '.error == "no_seats"'
	# What journal.new held goes into a new base; journal.new goes.
	sl_until $((2 + FO_MARGIN)) test ! -e "$(NEW)"
	! grep -q "torn or corrupt\|ignored" "$SL_TMP/B/log"
}

@test "a journal.new that follows another base is ignored: its seats are not served" {
	three_mirrored
	# A base written as a whole since (a full sync, a takeover) made this
	# journal.new stale: its first line names a base that is not there.
	split_journal '{"base":"0123456789abcdef0123456789abcdef","after":"fedcba9876543210fedcba9876543210"}'

	sl_start B
	sl_until "$(fo_takeover_limit)" fo_pool_status_is "$UB" A hot-retry
	grep -q "mirror-A.journal.new: older than the mirror, which holds it; ignored" "$SL_TMP/B/log"
	sl_heartbeat "$UB" "$l1"
	sl_expect 200
	sl_heartbeat "$UB" "$l3"
	[ "$HTTP_CODE" != 200 ]
}
