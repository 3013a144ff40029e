# test/poll.sh: the one bounded poll of the test code, and a free port;
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
