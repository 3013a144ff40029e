#!/usr/bin/env bats
# C unit tests of slserve's parts (test/unit/NAME.c, built by make units):
# the lease tables, the checkout answers and usage policy, the journal and
# a backup's mirror log, each without a server or a network. A unit prints
# what is wrong and exits 1; its output is shown when it fails.

load helpers

setup() { sl_setup; }

teardown() { sl_teardown; }

# unit NAME: run test/unit-NAME in an empty directory of its own; when it
# fails, show what it printed but its info lines (its log, to stderr).
unit() {
	local bin="$SL_BINDIR/../test/unit-$1"
	[ -x "$bin" ] || { echo "$bin: missing (make units)" >&2; return 1; }
	mkdir -p "$SL_TMP/unit-$1"
	run timeout 60 "$bin" "$SL_TMP/unit-$1"
	if [ "$status" -ne 0 ]; then
		echo "unit-$1 exited $status:" >&2
		printf '%s\n' "$output" | grep -v '^[0-9T:.-]* info: ' >&2
		return 1
	fi
}

@test "lease tables: counts, checkins, tallies, expiry in deadline order, ids across pools" {
	unit leases
}

@test "checkout answers: statuses and error codes, retries by the holder, revokes and bans, the usage policy" {
	unit checkout
}

@test "journal: group commit, a start reads it back, a torn tail cut, damage and gaps named, compaction keeps every lease" {
	unit journal
}

@test "mirror log: a backup's mirror back after restarts, a stale journal refused, another epoch a new base, a torn one a full sync" {
	unit mirror
}
