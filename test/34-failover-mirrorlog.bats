#!/usr/bin/env bats
# A backup's mirror on disk is a base (mirror-A.json, rewritten on a full
# sync) and a journal (mirror-A.journal) that each incremental poll appends
# its records to: a save costs the change, not the lease count. A restart
# reads both; a journal cut short is cut with a warning and a full sync.

load helpers-failover

setup() {
	fo_setup
	fo_start_pair "cad-a cad 3 30"
}

teardown() { fo_teardown; }

BASE() { echo "$SL_TMP/B/state/mirror-A.json"; }
JOURNAL() { echo "$SL_TMP/B/state/mirror-A.journal"; }

# base_ids: the lease ids in the base file alone, sorted, one line.
base_ids() { jq -r '.mirror | keys | sort | join(" ")' "$(BASE)"; }

# journal_has ID N: the journal names lease ID at least N times.
journal_has() { [ "$(grep -o "\"$1\"" "$(JOURNAL)" | wc -l)" -ge "$2" ]; }

# journal_lines: the records in the journal (its version line not counted).
journal_lines() { tail -n +2 "$(JOURNAL)" | wc -l; }

checkout_a() {
	fo_checkout "$UA" cad
	fo_expect 201
	jq -r .lease <<<"$HTTP_BODY"
}

@test "a backup restarted while its Primary is down serves the seats it learned by incremental polls" {
	# The first poll was a full sync, of no leases: that is the base.
	[ "$(base_ids)" = "" ]
	l1=$(checkout_a)
	l2=$(checkout_a)
	l3=$(checkout_a)
	fo_checkin "$UA" "$l3"
	fo_expect 200
	# l3's grant and release both reached B
	sl_until $((2 + FO_MARGIN)) journal_has "$l3" 2
	fo_mirror_is B A "$l1 $l2"
	# ... learned by incremental polls: in the journal, not in the base.
	[ "$(base_ids)" = "" ]
	journal_has "$l1" 1

	# Both crash: B saves nothing on the way down.
	fo_kill9 A
	fo_kill9 B
	sl_start B
	sl_until "$(fo_takeover_limit)" fo_granted_pool_a
	fo_expect 201 '.pool == "A" and .server == "B"'
	# The two seats held at A are held at B: count 3, 2 + 1 new, no more.
	fo_checkout "$UB" cad A
	fo_expect 409 '.error == "no_seats"'
	for l in "$l1" "$l2"; do
		fo_heartbeat "$UB" "$l"
		fo_expect 200
	done
	# The seat checked in at A is not one B holds.
	fo_heartbeat "$UB" "$l3"
	[ "$HTTP_CODE" != 200 ]
	! grep -q "torn or corrupt\|mirror journal ignored\|missing;" "$SL_TMP/B/log"
}

@test "a torn last line of the mirror journal is cut with a warning, and a full sync follows" {
	l1=$(checkout_a)
	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$l1"
	l2=$(checkout_a)
	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$l1 $l2"
	[ "$(base_ids)" = "" ]
	fo_kill9 B
	lines=$(journal_lines)
	[ "$lines" -ge 3 ]	# the base's line, then l1's, then l2's
	# B died while it wrote l2's line: only part of it reached the disk.
	size=$(stat -c %s "$(JOURNAL)")
	truncate -s $((size - 20)) "$(JOURNAL)"

	sl_start B
	grep -q "mirror-A.journal: torn or corrupt tail of [0-9]* bytes cut after $((lines - 1)) records (a full sync follows)" \
	    "$SL_TMP/B/log"
	# A full sync brings l2 back, into a new base.
	sl_until $((2 + FO_MARGIN)) eval '[ "$(base_ids)" = "$(tr " " "\n" <<<"$l1 $l2" | sort | tr "\n" " " | sed "s/ $//")" ]'
	fo_mirror_is B A "$l1 $l2"
	fo_lic_is "$UB" cad-a '.in_use == 2 and .status == "warm"'
	# The journal starts over after the new base, whole.
	[ "$(tail -c 1 "$(JOURNAL)" | od -An -c | tr -d ' ')" = '\n' ]
}

@test "a torn journal with the Primary down: the backup serves what is intact, and does not crash" {
	l1=$(checkout_a)
	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$l1"
	l2=$(checkout_a)
	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$l1 $l2"
	fo_kill9 A
	fo_kill9 B
	size=$(stat -c %s "$(JOURNAL)")
	truncate -s $((size - 20)) "$(JOURNAL)"

	sl_start B
	grep -q "mirror-A.journal: torn or corrupt tail" "$SL_TMP/B/log"
	sl_until "$(fo_takeover_limit)" fo_pool_status_is "$UB" A hot-retry
	fo_heartbeat "$UB" "$l1"
	fo_expect 200
	fo_lic_is "$UB" cad-a '.in_use == 1'
}

@test "a mirror journal that is not one is ignored with a warning; the base still loads" {
	l1=$(checkout_a)
	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$l1"
	sl_stop B
	echo "garbage" >"$(JOURNAL)"
	sl_start B
	grep -q "mirror-A.journal: not an sl journal.*(mirror journal ignored after 0 records; a full sync follows)" \
	    "$SL_TMP/B/log"
	sl_until $((2 + FO_MARGIN)) eval '[ "$(base_ids)" = "$l1" ]'
	fo_lic_is "$UB" cad-a '.in_use == 1 and .status == "warm"'
}

@test "a seat that ended on the backup while it served is still told to the Primary after the backup restarts" {
	l1=$(checkout_a)
	l2=$(checkout_a)
	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$l1 $l2"
	fo_kill9 A
	sl_until "$(fo_takeover_limit)" fo_pool_status_is "$UB" A hot-retry
	fo_checkin "$UB" "$l1"
	fo_expect 200
	# The checkin goes into the journal, after the takeover's base.
	sl_until $((2 + FO_MARGIN)) grep -q "\"released\":\[\"$l1\"\]" "$(JOURNAL)"
	fo_kill9 B
	sl_start B
	fo_pool_status_is "$UB" A hot-retry
	fo_heartbeat "$UB" "$l2"
	fo_expect 200
	# A comes back: it takes l2 back and hears that l1 ended.
	sl_start A
	sl_until $((5 + FO_MARGIN)) fo_pool_status_is "$UB" A warm
	fo_lic_is "$UA" cad-a '.in_use == 1'
	fo_heartbeat "$UA" "$l2"
	fo_expect 200
}

@test "incremental polls append to the journal and leave the base alone" {
	l1=$(checkout_a)
	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$l1"
	base_inode=$(stat -c %i "$(BASE)")
	for _ in 1 2 3 4 5; do
		l=$(checkout_a)
		sl_until $((2 + FO_MARGIN)) eval 'grep -q "\"$l\"" "$(JOURNAL)"'
		fo_checkin "$UA" "$l"
	done
	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$l1"
	[ "$(stat -c %i "$(BASE)")" = "$base_inode" ]
	[ "$(base_ids)" = "" ]
}
