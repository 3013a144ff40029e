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

teardown() { sl_teardown; }

# base_ids: the lease ids in the base file alone, sorted, one line.
base_ids() { jq -r '.mirror | keys | sort | join(" ")' "$(fo_mirror_base B A)"; }

# journal_has ID N: the journal names lease ID at least N times.
journal_has() { [ "$(fo_journal_text "$(fo_mirror_journal B A)" | grep -o "\"$1\"" | wc -l)" -ge "$2" ]; }

# journal_lines: the records in the journal (its version line not counted).
journal_lines() { fo_journal_text "$(fo_mirror_journal B A)" | tail -n +2 | wc -l; }

@test "a backup restarted while its Primary is down serves the seats it learned by incremental polls" {
	# The first poll was a full sync, of no leases: that is the base.
	[ "$(base_ids)" = "" ]
	l1=$(sl_co_lease "$UA" cad)
	l2=$(sl_co_lease "$UA" cad)
	l3=$(sl_co_lease "$UA" cad)
	sl_checkin "$UA" "$l3"
	sl_expect 200
	# l3's grant and release both reached B
	sl_until $((2 + FO_MARGIN)) journal_has "$l3" 2
	fo_mirror_is B A "$l1 $l2"
	# ... learned by incremental polls: in the journal, not in the base.
	[ "$(base_ids)" = "" ]
	journal_has "$l1" 1

	# Both crash: B saves nothing on the way down.
	sl_kill9 A
	sl_kill9 B
	sl_start B
	sl_until "$(fo_takeover_limit)" fo_granted_pool_a
	sl_expect 201 '.pool == "A" and .server == "B"'
	# The two seats held at A are held at B: count 3, 2 + 1 new, no more.
	sl_co "$UB" cad pool=A
	sl_expect 409 '.error == "no_seats"'
	for l in "$l1" "$l2"; do
		sl_heartbeat "$UB" "$l"
		sl_expect 200
	done
	# The seat checked in at A is not one B holds.
	sl_heartbeat "$UB" "$l3"
	[ "$HTTP_CODE" != 200 ]
	! grep -q "torn or corrupt\|mirror journal ignored\|missing;" "$SL_TMP/B/log"
}

@test "a torn last line of the mirror journal is cut with a warning, and a full sync follows" {
	l1=$(sl_co_lease "$UA" cad)
	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$l1"
	l2=$(sl_co_lease "$UA" cad)
	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$l1 $l2"
	[ "$(base_ids)" = "" ]
	sl_kill9 B
	lines=$(journal_lines)
	[ "$lines" -ge 3 ]	# the base's line, then l1's, then l2's
	# B died while it wrote l2's line: only part of it reached the disk.
	fo_journal_tear "$(fo_mirror_journal B A)" 20

	sl_start B
	grep -q "mirror-A.journal: torn or corrupt tail of [0-9]* bytes cut after $((lines - 1)) records (a full sync follows)" \
	    "$SL_TMP/B/log"
	# A full sync brings l2 back, into a new base.
	sl_until $((2 + FO_MARGIN)) eval '[ "$(base_ids)" = "$(tr " " "\n" <<<"$l1 $l2" | sort | tr "\n" " " | sed "s/ $//")" ]'
	fo_mirror_is B A "$l1 $l2"
	fo_lic_is "$UB" cad-a '.in_use == 2 and .status == "warm"'
	# The journal starts over after the new base, whole.
	[ "$(fo_journal_text "$(fo_mirror_journal B A)" | tail -c 1 | od -An -c | tr -d ' ')" = '\n' ]
}

@test "the journal is written into room ahead of its records; a restarted backup goes on after its records, not after the room" {
	l1=$(sl_co_lease "$UA" cad)
	sl_until $((2 + FO_MARGIN)) journal_has "$l1" 1
	j=$(fo_mirror_journal B A)
	# Zeros follow the records: a record's sync changes no file size.
	[ "$(stat -c %s "$j")" -gt "$(fo_journal_text "$j" | wc -c)" ]
	sl_kill9 B
	sl_start B
	fo_warm B A
	l2=$(sl_co_lease "$UA" cad)
	sl_until $((2 + FO_MARGIN)) journal_has "$l2" 1
	# l2's record follows l1's: no zeros between them.
	[ "$(head -c "$(fo_journal_text "$j" | wc -c)" "$j" | tr -d '\000' | wc -c)" = \
	    "$(fo_journal_text "$j" | wc -c)" ]

	sl_kill9 A
	sl_kill9 B
	sl_start B
	sl_until "$(fo_takeover_limit)" fo_pool_status_is "$UB" A hot-retry
	for l in "$l1" "$l2"; do
		sl_heartbeat "$UB" "$l"
		sl_expect 200
	done
	! grep -q "torn or corrupt\|mirror journal ignored" "$SL_TMP/B/log"
}

@test "a torn journal with the Primary down: the backup serves what is intact, and does not crash" {
	l1=$(sl_co_lease "$UA" cad)
	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$l1"
	l2=$(sl_co_lease "$UA" cad)
	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$l1 $l2"
	sl_kill9 A
	sl_kill9 B
	fo_journal_tear "$(fo_mirror_journal B A)" 20

	sl_start B
	grep -q "mirror-A.journal: torn or corrupt tail" "$SL_TMP/B/log"
	sl_until "$(fo_takeover_limit)" fo_pool_status_is "$UB" A hot-retry
	sl_heartbeat "$UB" "$l1"
	sl_expect 200
	fo_lic_is "$UB" cad-a '.in_use == 1'
}

@test "a mirror journal that is not one is ignored with a warning; the base still loads" {
	l1=$(sl_co_lease "$UA" cad)
	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$l1"
	sl_stop B
	echo "garbage" >"$(fo_mirror_journal B A)"
	sl_start B
	grep -q "mirror-A.journal: not an sl journal.*(mirror journal ignored after 0 records; a full sync follows)" \
	    "$SL_TMP/B/log"
	sl_until $((2 + FO_MARGIN)) eval '[ "$(base_ids)" = "$l1" ]'
	fo_lic_is "$UB" cad-a '.in_use == 1 and .status == "warm"'
}

@test "a seat that ended on the backup while it served is still told to the Primary after the backup restarts" {
	l1=$(sl_co_lease "$UA" cad)
	l2=$(sl_co_lease "$UA" cad)
	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$l1 $l2"
	fo_kill9_taken_over A B
	sl_checkin "$UB" "$l1"
	sl_expect 200
	# The checkin goes into the journal, after the takeover's base.
	sl_until $((2 + FO_MARGIN)) grep -q "\"released\":\[\"$l1\"\]" "$(fo_mirror_journal B A)"
	sl_kill9 B
	sl_start B
	fo_pool_status_is "$UB" A hot-retry
	sl_heartbeat "$UB" "$l2"
	sl_expect 200
	# A comes back: it takes l2 back and hears that l1 ended.
	sl_start A
	sl_until $((5 + FO_MARGIN)) fo_pool_status_is "$UB" A warm
	fo_lic_is "$UA" cad-a '.in_use == 1'
	sl_heartbeat "$UA" "$l2"
	sl_expect 200
}

@test "incremental polls append to the journal and leave the base alone" {
	l1=$(sl_co_lease "$UA" cad)
	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$l1"
	base_inode=$(stat -c %i "$(fo_mirror_base B A)")
	for _ in 1 2 3 4 5; do
		l=$(sl_co_lease "$UA" cad)
		sl_until $((2 + FO_MARGIN)) eval 'grep -q "\"$l\"" "$(fo_mirror_journal B A)"'
		sl_checkin "$UA" "$l"
	done
	sl_until $((2 + FO_MARGIN)) fo_mirror_is B A "$l1"
	[ "$(stat -c %i "$(fo_mirror_base B A)")" = "$base_inode" ]
	[ "$(base_ids)" = "" ]
}
