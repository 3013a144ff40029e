#!/usr/bin/env bats
# Hardening: slserve under valgrind memcheck (test/valgrind.sh) through the
# suite's scenarios: no memory errors and no definite leaks.

load helpers

@test "valgrind: Primary and backup through checkouts, revoke, reloads, takeover, handback, SIGTERM" {
	command -v valgrind >/dev/null || skip "valgrind is not installed"
	if nm -D "$SLSERVE" 2>/dev/null | grep -qE "__(asan|tsan)_init"; then
		skip "SL_BINDIR is a sanitizer build (valgrind runs on the normal build)"
	fi
	run bash "$BATS_TEST_DIRNAME/valgrind.sh" "$SL_BINDIR"
	echo "$output"
	[ "$status" -eq 0 ]
	assert_line "valgrind.sh: OK: no memcheck errors, no definite leaks"
	assert_line --regexp '^# A: .*ERROR SUMMARY: 0 errors'
	assert_line --regexp '^# B: .*ERROR SUMMARY: 0 errors'
}
