#!/usr/bin/env bats
# Hardening: every input in the fuzzing corpora (test/fuzz/corpus-NAME/:
# seeds, and what `make fuzz` found and was fixed) runs through its harness
# again, built with the normal compiler (make fuzz-replay), so a bug the
# fuzzers found stays fixed. Under `make test SANITIZE=1` with ASan/UBSan.

bats_require_minimum_version 1.5.0
load helpers

replay() {
	local bin="$SL_BINDIR/../fuzz/replay-$1"
	[ -x "$bin" ] || skip "no $bin (make fuzz-replay)"
	local n
	n=$(find "$BATS_TEST_DIRNAME/fuzz/corpus-$1" -type f | wc -l)
	TMPDIR=${SL_TMP:-/tmp} run "$bin" "$BATS_TEST_DIRNAME/fuzz/corpus-$1"
	echo "$output"
	[ "$status" -eq 0 ]
	assert_line "$n inputs"
}

setup() { sl_setup; }
teardown() { sl_teardown; }

@test "fuzz corpus: licenses file parser" { replay license; }
@test "fuzz corpus: request decoders" { replay request; }
@test "fuzz corpus: journal replay" { replay journal; }
@test "fuzz corpus: runtime failover file" { replay failcfg; }

# Found by the license harness: libconfuse dropped a string left open at the
# end of a file without an error, and echoed a backslash before the end to
# standard output.
@test "fuzz finding: a file that ends inside a quoted string is refused, and nothing goes to stdout" {
	sl_server_config p 1
	printf 'license "x" {\n  product = "p"\n  count = 1\n  expires = "never"\n  host = "any"\n  timeout = 0\n}\n"junk' \
	    >"$SL_TMP/p/licenses.conf"
	run --separate-stderr "$SLSERVE" -n -f "$SL_TMP/p/slserve.conf"
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[ "$stderr" = "$SL_TMP/p/licenses.conf:8: unterminated string constant" ]
	printf "'\\\\" >"$SL_TMP/p/licenses.conf"
	run --separate-stderr "$SLSERVE" -n -f "$SL_TMP/p/slserve.conf"
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[ "$stderr" = "$SL_TMP/p/licenses.conf:1: unterminated string constant" ]
	echo 'name = "p" listen = "127.0.0.1:1' >"$SL_TMP/p/slserve.conf"
	run --separate-stderr "$SLSERVE" -n -f "$SL_TMP/p/slserve.conf"
	[ "$status" -eq 1 ]
	[ "$stderr" = "$SL_TMP/p/slserve.conf:1: unterminated string constant" ]
}
