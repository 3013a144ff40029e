#!/bin/sh
# test/sanitize.sh COMMAND...: run COMMAND (the bats suite, from `make test
# SANITIZE=1` or `make test TSAN=1`) with AddressSanitizer,
# UndefinedBehaviorSanitizer and LeakSanitizer, or ThreadSanitizer, reporting
# into files, then fail if any of our programs wrote a report. Servers run in
# the background, so their reports cannot reach a test's exit status: the
# files are how they are seen. Each runtime reads only its own options.
#
# SL_SANLOGS is the report directory (default build/san/logs; emptied first).
set -u
cd "$(dirname "$0")/.."
logs=${SL_SANLOGS:-$PWD/build/san/logs}
rm -rf "$logs"
mkdir -p "$logs"

# detect_leaks: LeakSanitizer at every normal exit (slserve's SIGTERM path
# included). No suppressions: every report so far was in our code.
ASAN_OPTIONS="log_path=$logs/asan:detect_leaks=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=1"
UBSAN_OPTIONS="log_path=$logs/ubsan:print_stacktrace=1:halt_on_error=1"
# ThreadSanitizer: every race, not only the first (halt_on_error=0), with
# both stacks of a lock-order inversion. No suppressions: every report so
# far was in our code, none inside libmicrohttpd, libcurl or jansson.
TSAN_OPTIONS="log_path=$logs/tsan:halt_on_error=0:second_deadlock_stack=1"
export ASAN_OPTIONS UBSAN_OPTIONS TSAN_OPTIONS

"$@"
rc=$?

reports=$(find "$logs" -type f | sort)
if [ -n "$reports" ]; then
	echo "sanitize: $(echo "$reports" | wc -l) sanitizer report(s) in $logs:" >&2
	for f in $reports; do
		echo "---- $f" >&2
		cat "$f" >&2
	done
	[ "$rc" -ne 0 ] || rc=1
fi
exit "$rc"
