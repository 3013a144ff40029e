#!/bin/sh
# test/fuzz/run.sh SECONDS NAME...: run each libFuzzer harness
# build/fuzz/fuzz-NAME for SECONDS from its corpus test/fuzz/corpus-NAME/
# (new inputs go to build/fuzz/corpus-NAME/), then print the executions per
# harness. A crash stops that harness; its input is build/fuzz/NAME-crash-*:
# fix the bug and keep the input in test/fuzz/corpus-NAME/ as a regression.
set -u
cd "$(dirname "$0")/../.."
secs=$1
shift
status=0
summary=""
# The harnesses write files (the journal's fsyncs): keep them in memory.
[ -d /dev/shm ] && [ -w /dev/shm ] && export TMPDIR=/dev/shm
for f in "$@"; do
	mkdir -p "build/fuzz/corpus-$f"
	log=build/fuzz/$f.log
	echo "fuzz: $f for ${secs}s (log $log)"
	ASAN_OPTIONS=detect_leaks=1 "build/fuzz/fuzz-$f" -max_total_time="$secs" \
	    -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
	    -artifact_prefix="build/fuzz/$f-" "build/fuzz/corpus-$f" "test/fuzz/corpus-$f" \
	    >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	if [ "$rc" -ne 0 ]; then
		status=1
		summary="$summary$f: FAILED (exit $rc) after ${runs:-?} executions; see $log and build/fuzz/$f-*
"
		grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -5
	else
		summary="$summary$f: ${runs:-?} executions in ${secs}s (${speed:-?}/s), corpus $(ls "build/fuzz/corpus-$f" "test/fuzz/corpus-$f" | grep -vc ':$')
"
	fi
done
printf '%s' "$summary"
exit $status
