# test/poll.sh: the one bounded poll of the test code, a free port, a
# token, and what the test and bench scripts share (their options, their
# scratch directory);
# sourced by test/helpers.bash (so every bats file has them),
# test/torture.sh, test/valgrind.sh, bench/failover-times.sh and
# bench/compaction-probe.sh. Plain sh (with `local`, which dash, bash and
# busybox have), because the bench scripts are #!/bin/sh.

# sl_until SECONDS CMD...: run CMD until it succeeds, for at most SECONDS of
# wall-clock time (fractions allowed), every SL_POLL_EVERY seconds (0.05
# unless set). CMD runs at least once. Fails, naming CMD, when the time is up.
sl_until() {
	local limit_ms t0 waited
	# (mawk's printf %d stops at 2^31: only the limit goes through awk)
	limit_ms=$(awk -v s="$1" 'BEGIN { printf "%d", s * 1000 }')
	shift
	t0=$(($(date +%s%N) / 1000000))
	until "$@"; do
		waited=$(($(date +%s%N) / 1000000 - t0))
		if [ "$waited" -ge "$limit_ms" ]; then
			echo "gave up after $waited ms waiting for: $*" >&2
			return 1
		fi
		sleep "${SL_POLL_EVERY:-0.05}"
	done
}

# sl_free_port: a TCP port nobody listens on right now (the kernel picks; we
# release it). Without python3, a random one from 20000-39999.
sl_free_port() {
	python3 - <<'PY' 2>/dev/null || echo $((20000 + $(od -An -N2 -tu2 /dev/urandom) % 20000))
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

# sl_token FILE: a fresh token (48 hex digits and a newline) in FILE, mode
# 600: a peer token for servers to share, or an admin token.
sl_token() {
	od -An -tx1 -N24 /dev/urandom | tr -d ' \n' >"$1"
	echo >>"$1"
	chmod 600 "$1"
}

# sl_bench_args NAME COUNT HELP-LINES "$@": the options of bench script NAME:
# -b BINDIR (default $SL_BINDIR, else the checkout's bin, $here/bin) and
# -n COUNT (COUNT unless given); -h or an unknown option prints lines 2 to
# HELP-LINES of the script (its header) and exits 64; exits 1 when BINDIR
# has no slserve. Sets bindir, count and slserve; the caller shifts
# $((OPTIND - 1)) for what follows the options.
sl_bench_args() {
	local name=$1 help=$3 opt
	count=$2
	bindir=${SL_BINDIR:-$here/bin}
	shift 3
	while getopts b:n:h opt; do
		case $opt in
		b) bindir=$OPTARG ;;
		n) count=$OPTARG ;;
		*) sed -n "2,${help}s/^# \{0,1\}//p" "$0"; exit 64 ;;
		esac
	done
	slserve=$bindir/slserve
	[ -x "$slserve" ] || { echo "$name: no $slserve (run make)" >&2; exit 1; }
}

# sl_scratch_done DIR KEEP WHAT: the end of a script's scratch directory DIR:
# kept when KEEP is 1, and said so on stderr ("WHAT kept in DIR"); removed
# otherwise.
sl_scratch_done() {
	if [ "$2" = 1 ]; then
		echo "$3 kept in $1" >&2
	else
		rm -rf "$1"
	fi
}
