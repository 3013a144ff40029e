#!/usr/bin/env bats
# Storage faults while serving (issue 16): a full disk, a file system that
# fails with EIO under a Primary, a state directory removed. Every grant is
# answered, 503 storage_unavailable while the journal cannot write; nothing
# counts that is not on disk; health, slcheck, slctl and /metrics say so;
# a Primary's backup takes over; a full disk heals by itself.
# Needs root (mount, losetup): skipped with a message where not permitted.

load helpers-failover

# Client-chosen lease ids carry 128 bits (slserve(8)): NAME-$H.
H=0123456789abcdef0123456789abcdef

MOUNTS=()

setup() { fo_setup; }

teardown() {
	local m
	# the servers gone before their file systems are unmounted
	sl_stop_all 10
	for m in "${MOUNTS[@]}"; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done
	sl_teardown
}

# mount_tmpfs DIR SIZE: a tmpfs of SIZE at DIR, or skip the test.
mount_tmpfs() {
	mkdir -p "$1"
	mount -t tmpfs -o "size=$2,mode=0700" tmpfs "$1" 2>/dev/null ||
	    skip "cannot mount a tmpfs here (needs root): $1"
	MOUNTS+=("$1")
}

# mount_ext4 DIR: a 32 MiB ext4 image on a loop device at DIR, or skip.
mount_ext4() {
	command -v mkfs.ext4 >/dev/null || skip "mkfs.ext4 not installed"
	truncate -s 32M "$SL_TMP/ext4.img"
	mkfs.ext4 -q -F "$SL_TMP/ext4.img" >/dev/null 2>&1 || skip "mkfs.ext4 failed"
	mkdir -p "$1"
	mount -o loop "$SL_TMP/ext4.img" "$1" 2>/dev/null ||
	    skip "cannot mount a loop device here (needs root and /dev/loop*)"
	MOUNTS+=("$1")
	chmod 700 "$1"
}

# shutdown_fs DIR: make the ext4 file system at DIR fail every write with
# EIO (EXT4_IOC_SHUTDOWN, _IOR('X', 125, __u32), EXT4_GOING_FLAGS_NOLOGFLUSH).
shutdown_fs() {
	python3 -c 'import fcntl, os, struct, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
fcntl.ioctl(fd, 0x8004587d, struct.pack("I", 2))' "$1"
}

# journal_trim FILE: cut the zeros written ahead of the records, so that the
# next record needs space the file system no longer has.
journal_trim() {
	python3 -c 'import sys
p = sys.argv[1]
d = open(p, "rb").read().rstrip(b"\0")
open(p, "r+b").truncate(len(d))' "$1"
}

# full_disk_server LICENSE: server s1 (URL U, request_timeout 4) with that
# license, its state on a 2 MiB tmpfs that is full, and its journal with no
# room written ahead.
full_disk_server() {
	sl_licenses s1 "$1"
	sl_server_config s1 "$(sl_free_port)" "request_timeout = 4"
	mount_tmpfs "$SL_TMP/s1/state" 2m
	sl_start s1
	U=$(sl_url s1)
	sl_stop s1
	journal_trim "$SL_TMP/s1/state/journal"
	dd if=/dev/zero of="$SL_TMP/s1/state/fill" bs=4k 2>/dev/null || true
	sl_start s1
}

# health_code URL: the HTTP status of URL/v1/health.
health_code() { curl -s -m 3 -o /dev/null -w '%{http_code}' "$1/v1/health"; }
health_is() { [ "$(health_code "$1")" = "$2" ]; }

# metric URL NAME: the value of one sample of /metrics.
metric() { curl -fsS -m 3 "$1/metrics" | awk -v n="$2" '$1 == n { print $2 }'; }

# checkout_timed URL JSON: POST a checkout (5 s at most); HTTP_CODE,
# HTTP_BODY and MS, how long it took.
checkout_timed() {
	local t0
	t0=$(sl_now_ms)
	sl_req POST "$1/v1/checkout" "$2" -m 5
	MS=$(($(sl_now_ms) - t0))
}

@test "disk full: 503 storage_unavailable at once, unhealthy everywhere, healed when space returns" {
	full_disk_server "sim-hard sim 100 0"

	# Seats are granted while the journal's last page has room; the first
	# record that needs a new block is answered 503, fast.
	acked=()
	for i in $(seq 1 60); do
		checkout_timed "$U" "{\"product\":\"sim\",\"lease\":\"full-$i-$H\"}"
		[ "$HTTP_CODE" = 201 ] || break
		acked+=("full-$i-$H")
	done
	echo "# ${#acked[@]} seats granted before the disk was full; 503 after ${MS} ms" >&3
	sl_expect 503 '.error == "storage_unavailable" and (.message | test("No space left"))'
	[ "$MS" -lt 3000 ]
	# No seat counts that was not acknowledged: the failed grant was rolled back.
	[ "$(sl_in_use "$U" sim-hard)" = "${#acked[@]}" ]

	# While unhealthy: refused before anything changes, at once.
	checkout_timed "$U" "{\"product\":\"sim\",\"lease\":\"full-late-$H\"}"
	sl_expect 503 '.error == "storage_unavailable"'
	[ "$MS" -lt 1000 ]
	sl_req DELETE "$U/v1/leases/${acked[0]}" - -m 5
	sl_expect 503 '.error == "storage_unavailable"'
	[ "$(sl_in_use "$U" sim-hard)" = "${#acked[@]}" ]
	# Heartbeats of seats on disk go on.
	sl_req POST "$U/v1/leases/${acked[0]}/heartbeat" - -m 5
	sl_expect 200

	# Health, slcheck, slctl, metrics, the status page tell the truth.
	sl_req GET "$U/v1/health"
	sl_expect 503 '.status == "storage_unavailable" and .storage.ok == false and
	    (.storage.error | test("No space left")) and (.storage.since | type == "number")'
	run "$SLCHECK" -s "$U" check
	assert_equal "$status" 2
	assert_output --partial "SL CRITICAL - $U storage unavailable"
	run "$SLCTL" -s "$U" status
	assert_equal "$status" 1
	assert_output --partial "storage unavailable since"
	run "$SLCTL" -s "$U" servers
	assert_equal "$status" 1
	assert_output --partial "no-storage"
	[ "$(metric "$U" sl_storage_healthy)" = 0 ]
	[ "$(metric "$U" sl_journal_write_errors_total)" -gt 0 ]
	curl -fsS -m 3 "$U/" | grep -q 'class="storage-fault"'
	# Said once, not once per write.
	[ "$(grep -c 'storage unavailable; grants' "$SL_TMP/s1/log")" = 1 ]

	# Space comes back: healthy again without a restart.
	rm -f "$SL_TMP/s1/state/fill"
	sl_until 10 health_is "$U" 200
	[ "$(metric "$U" sl_storage_healthy)" = 1 ]
	grep -q 'storage healthy' "$SL_TMP/s1/log"
	sl_req POST "$U/v1/checkout" "{\"product\":\"sim\",\"lease\":\"after-$H\"}" -m 5
	sl_expect 201
	acked+=("after-$H")
	run "$SLCHECK" -s "$U" check
	assert_equal "$status" 0

	# kill -9 and start again: exactly the acknowledged seats are held.
	sl_kill9 s1
	sl_start s1
	[ "$(sl_in_use "$U" sim-hard)" = "${#acked[@]}" ]
	for id in "${acked[@]}"; do
		sl_req POST "$U/v1/leases/$id/heartbeat" - -m 5
		sl_expect 200
	done
	sl_req POST "$U/v1/leases/full-late-$H/heartbeat" - -m 5
	sl_expect 404
}

@test "EIO under a Primary: 503 at once, health 503, its backup takes over and grants its pool" {
	fo_pair "sim-a sim 3 0"
	fo_config A
	fo_config B "$(fo_backs_up A)"
	mount_ext4 "$SL_TMP/A/state"
	sl_start A
	sl_start B
	fo_warm B A
	sl_co "$UA" sim
	sl_expect 201
	held=$(jq -r .lease <<<"$HTTP_BODY")

	shutdown_fs "$SL_TMP/A/state"
	t0=$(sl_now_ms)
	checkout_timed "$UA" '{"product":"sim"}'
	sl_expect 503 '.error == "storage_unavailable"'
	[ "$MS" -lt 3000 ]
	sl_req GET "$UA/v1/health"
	sl_expect 503 '.storage.ok == false and (.storage.error | length > 0)'
	[ "$(metric "$UA" sl_storage_healthy)" = 0 ]
	# The Primary's seats: the one it acknowledged, not the refused one.
	fo_lic_is "$UA" sim-a '.in_use == 1'

	# The backup's polls fail (503) and the Primary renews no fence: the
	# backup takes over within its takeover time, and serves pool A.
	sl_until "$(fo_takeover_limit)" fo_pool_status_is "$UB" A hot-retry
	echo "# EIO -> backup serves pool A after $(($(sl_now_ms) - t0)) ms (limit $(fo_takeover_limit) s)" >&3
	sl_co "$UB" sim pool=A
	sl_expect 201 '.pool == "A" and .server == "B"'
	sl_heartbeat "$UB" "$held"
	sl_expect 200
	fo_lic_is "$UB" sim-a '.in_use == 2'
}

@test "state directory removed under a running server: 503, health 503, logged" {
	sl_server_config s1 "$(sl_free_port)"
	sl_start s1
	U=$(sl_url s1)
	sl_req POST "$U/v1/checkout" '{"product":"sim"}'
	sl_expect 201
	rm -rf "$SL_TMP/s1/state"
	sl_until 5 health_is "$U" 503
	sl_req GET "$U/v1/health"
	sl_expect 503 '.storage.ok == false and (.storage.error | test("was removed"))'
	sl_req POST "$U/v1/checkout" '{"product":"cad"}' -m 5
	sl_expect 503 '.error == "storage_unavailable"'
	grep -q "state/lock was removed\|state was removed" "$SL_TMP/s1/log"
	[ "$(grep -c 'until slserve is restarted' "$SL_TMP/s1/log")" = 1 ]
	# It does not heal by itself: the directory made again is not its own.
	mkdir -p "$SL_TMP/s1/state"
	sl_until 5 health_is "$U" 503
	sl_req POST "$U/v1/checkout" '{"product":"cad"}' -m 5
	sl_expect 503 '.error == "storage_unavailable"'
}

@test "state directory replaced: a second slserve may start there; the first answers 503" {
	sl_server_config s1 "$(sl_free_port)"
	sl_start s1
	U=$(sl_url s1)
	mv "$SL_TMP/s1/state" "$SL_TMP/s1/state.old"
	mkdir -m 700 "$SL_TMP/s1/state"
	cp -a "$SL_TMP/s1/state.old/." "$SL_TMP/s1/state/"
	sl_until 5 health_is "$U" 503
	sl_req GET "$U/v1/health"
	sl_expect 503 '.storage.ok == false and (.storage.error | test("replaced|removed"))'
	sl_req POST "$U/v1/checkout" '{"product":"cad"}' -m 5
	sl_expect 503 '.error == "storage_unavailable"'
}

@test "a checkout whose client went away before its 201 is released, not held" {
	fo_pair "sim-a sim 3 0"
	fo_config A
	fo_config B "$(fo_backs_up A 1 50)"
	sl_start A
	sl_start B
	fo_warm B A
	# The backup stands still: a grant waits for its mirror (synchronous
	# backup) longer than this client does.
	kill -STOP "$(sl_pid B)"
	run curl -s -m 0.3 -o /dev/null -d "{\"product\":\"sim\",\"lease\":\"gone-1-$H\"}" "$UA/v1/checkout"
	assert_equal "$status" 28
	sl_until 10 grep -qE "checkout of lease gone-1-$H released: its (client closed|answer was not)" \
	    "$SL_TMP/A/log" || { cat "$SL_TMP/A/log" "$SL_TMP/A/state/usage.log" >&2; false; }
	fo_lic_is "$UA" sim-a '.in_use == 0'
	kill -CONT "$(sl_pid B)"
}

@test "1,500 checkouts abandoned on a full disk: none granted when space returns, health answers throughout" {
	full_disk_server "view viewer unlimited 300"
	# Fill the journal's last page until the disk refuses.
	local i=0
	while [ $i -lt 200 ]; do
		checkout_timed "$U" '{"product":"viewer"}'
		[ "$HTTP_CODE" = 201 ] || break
		i=$((i + 1))
	done
	[ "$HTTP_CODE" = 503 ]
	local granted=$i
	# 1,500 clients that give up after 0.2 s, 50 at a time.
	seq 1500 | xargs -P 50 -I{} curl -s -o /dev/null -m 0.2 -H 'Content-Type: application/json' \
	    -d '{"product":"viewer","client":"gone-{}"}' "$U/v1/checkout" || true
	# The server still answers others at once, unhealthy.
	health_is "$U" 503
	# Space comes back: the abandoned checkouts were never granted.
	rm -f "$SL_TMP/s1/state/fill"
	sl_until 10 health_is "$U" 200
	[ "$(sl_in_use "$U" view)" = "$granted" ]
	checkout_timed "$U" '{"product":"viewer"}'
	[ "$HTTP_CODE" = 201 ]
	[ "$(sl_in_use "$U" view)" = $((granted + 1)) ]
	sl_kill9 s1
	sl_start s1
	[ "$(sl_in_use "$U" view)" = $((granted + 1)) ]
}
