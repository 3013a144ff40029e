#!/usr/bin/env bats
# Hardening: slserve runs as root only when told (user = NAME drops to NAME
# once the port is bound; allow_root = true); the state directory is 0700,
# its files 0600, and nothing in it is followed through a symbolic link.

load helpers-hardening

setup() { hd_setup p; }

teardown() { sl_teardown; }

# conf EXTRA...: slserve.conf of server "p" without the suite's allow_root.
conf() {
	sl_server_config p "$PORT" "$@"
	sed -i '/^allow_root = true$/d' "$SL_TMP/p/slserve.conf"
}

# run_p: `run` slserve -d on server p's configuration (under timeout 10),
# its stderr apart.
run_p() { run --separate-stderr timeout 10 "$SLSERVE" -d -f "$SL_TMP/p/slserve.conf"; }

need_root() {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
	getent passwd nobody >/dev/null || skip "no user nobody"
}

# The user "nobody" must reach the files: directories searchable, the
# licenses file readable (as in /etc/sl and /var/lib).
let_nobody_in() {
	chmod 0711 "$SL_TMP" "$SL_TMP/p"
	chmod 0644 "$SL_TMP/p/licenses.conf"
}

# ids PID: "uid euid suid fsuid gid egid sgid fsgid groups..." of PID.
ids() {
	awk '/^Uid:|^Gid:/ { for (i = 2; i <= NF; i++) printf "%s ", $i } /^Groups:/ { $1 = ""; printf "|%s", $0 }' \
	    "/proc/$1/status"
}

@test "privileges: as root without user or allow_root, slserve refuses to start" {
	need_root
	conf
	run_p
	[ "$status" -eq 1 ]
	[ "$stderr" = "slserve: refusing to run as root: set user = \"NAME\" in $SL_TMP/p/slserve.conf (or -u NAME) to run as NAME once the port is bound, or allow_root = true" ]
	[ ! -e "$SL_TMP/p/state" ]
	# slserve -n checks the file; it does not start anything
	run "$SLSERVE" -n -f "$SL_TMP/p/slserve.conf"
	assert_success
	assert_output "configuration OK"
}

@test "privileges: user = nobody: the port is bound as root, then every id is nobody's" {
	need_root
	conf 'user = "nobody"'
	let_nobody_in
	sl_start p
	local uid gid
	uid=$(id -u nobody) gid=$(id -g nobody)
	run ids "$(sl_pid p)"
	assert_output "$uid $uid $uid $uid $gid $gid $gid $gid |$(id -G nobody | sed 's/^/ /')"
	sl_log_has p "running as user \"nobody\" \\(uid $uid, gid $gid\\)"
	# it still writes its state: a grant, a reload, a snapshot at stop
	run curl -fsS -m 3 -H 'Content-Type: application/json' -d '{"product":"cad"}' "$U/v1/checkout"
	assert_success
	kill -HUP "$(sl_pid p)"
	sl_until 5 sl_log_has p "reloaded"
	[ "$(stat -c '%U %a' "$SL_TMP/p/state")" = "nobody 700" ]
	run find "$SL_TMP/p/state" -mindepth 1 ! -user nobody
	assert_output ""
	sl_stop p
	sl_log_has p "stopped"
}

@test "privileges: -u nobody on the command line does the same; allow_root stays root" {
	need_root
	conf
	let_nobody_in
	SL_SERVE_OPTS="-u nobody" sl_start p
	[ "$(stat -c %u /proc/"$(sl_pid p)")" = "$(id -u nobody)" ]
	sl_stop p

	echo 'allow_root = true' >>"$SL_TMP/p/slserve.conf"
	sl_start p
	[ "$(stat -c %u /proc/"$(sl_pid p)")" = 0 ]
	sl_log_has p "running as root"

	run "$SLSERVE" -d -u no-such-user-here -f "$SL_TMP/p/slserve.conf"
	[ "$status" -eq 1 ]
	assert_output "slserve: -u no-such-user-here: no such user"
	sed -i 's/^allow_root = true$/user = "no-such-user-here"/' "$SL_TMP/p/slserve.conf"
	run "$SLSERVE" -n -f "$SL_TMP/p/slserve.conf"
	[ "$status" -eq 1 ]
	assert_output --regexp "slserve.conf:[0-9]+: user \"no-such-user-here\": no such user$"
}

@test "state files: the directory is 0700 and every file in it 0600, also after loosening" {
	sl_server_config p "$PORT"
	sl_start p
	run curl -fsS -m 3 -H 'Content-Type: application/json' -d '{"product":"cad"}' "$U/v1/checkout"
	assert_success
	sl_stop p
	[ "$(stat -c %a "$SL_TMP/p/state")" = 700 ]
	run find "$SL_TMP/p/state" -mindepth 1 -type f ! -perm 0600
	assert_output ""
	# files made by hand, or a directory opened up, are closed at the next start
	chmod 0755 "$SL_TMP/p/state"
	chmod 0644 "$SL_TMP/p/state/usage.log" "$SL_TMP/p/state/admin.token"
	sl_start p
	sl_log_has p "took group and other permissions away from 3 entries"
	[ "$(stat -c %a "$SL_TMP/p/state")" = 700 ]
	run find "$SL_TMP/p/state" -mindepth 1 -type f ! -perm 0600
	assert_output ""
}

@test "state files: a symbolic link in the state directory is refused, not followed" {
	sl_server_config p "$PORT"
	sl_start p
	sl_stop p
	# the journal replaced by a link to a file elsewhere
	mv "$SL_TMP/p/state/journal" "$SL_TMP/elsewhere"
	ln -s "$SL_TMP/elsewhere" "$SL_TMP/p/state/journal"
	run_p
	[ "$status" -eq 1 ]
	[[ $stderr == *"state_dir: $SL_TMP/p/state/journal: is a symbolic link; nothing in the state directory is followed" ]]
	# the link and its target are untouched
	[ -L "$SL_TMP/p/state/journal" ]
	[ "$(head -n1 "$SL_TMP/elsewhere")" = "sl-journal 1" ]
	# a dangling link (where a snapshot would go) is refused as well
	rm "$SL_TMP/p/state/journal"
	mv "$SL_TMP/elsewhere" "$SL_TMP/p/state/journal"
	mv "$SL_TMP/p/state/snapshot.json" "$SL_TMP/snap"
	ln -s "$SL_TMP/nowhere" "$SL_TMP/p/state/snapshot.json"
	run_p
	[ "$status" -eq 1 ]
	[[ $stderr == *"$SL_TMP/p/state/snapshot.json: is a symbolic link"* ]]
	[ ! -e "$SL_TMP/nowhere" ]
	# the state directory itself may not be a link either
	rm "$SL_TMP/p/state/snapshot.json"
	mv "$SL_TMP/snap" "$SL_TMP/p/state/snapshot.json"
	mv "$SL_TMP/p/state" "$SL_TMP/realstate"
	ln -s "$SL_TMP/realstate" "$SL_TMP/p/state"
	run_p
	[ "$status" -eq 1 ]
	[[ $stderr == *"$SL_TMP/p/state: is a symbolic link; refusing to use it"* ]]
}

@test "privileges: slctl -D run by root keeps failover.ini readable by a server that is not root" {
	need_root
	command -v setpriv >/dev/null || skip "no setpriv"
	conf 'user = "nobody"'
	let_nobody_in
	sl_start p		# leaves the state directory to nobody
	sl_stop p
	run "$SLCTL" -D "$SL_TMP/p/state" failover set lic0 --url http://127.0.0.1:9 --poll-interval 5
	assert_success
	[ "$(stat -c '%U %a' "$SL_TMP/p/state/failover.ini")" = "nobody 600" ]
	[ "$(stat -c '%U %a' "$SL_TMP/p/state/failover.ini.lock")" = "nobody 600" ]
	# started as nobody from the outset (as systemd's DynamicUser does)
	sed -i '/^user = /d' "$SL_TMP/p/slserve.conf"
	setpriv --reuid nobody --regid "$(id -g nobody)" --clear-groups \
	    "$SLSERVE" -d -f "$SL_TMP/p/slserve.conf" >>"$SL_TMP/p/log" 2>&1 &
	echo $! >"$SL_TMP/p.pid"
	sl_until 10 curl -fsS -m 1 -o /dev/null "$U/v1/health"
	sl_until 5 sl_log_has p 'backing up "lic0"'
}
