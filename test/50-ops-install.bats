#!/usr/bin/env bats
# make install / uninstall, and the systemd unit.

load helpers-ops

setup() { sl_setup_cd; }
teardown() { sl_teardown; }

# make_install ARGS...: make install from the checkout, quietly.
make_install() { make -s -C "$OPS_REPO" --no-print-directory install "$@"; }

# The man pages of the checkout, as installed: usr/share/man/manN/PAGE.N.
man_pages() {
	local m
	for m in "$OPS_REPO"/man/*.[0-9]; do
		m=${m##*/}
		echo "usr/share/man/man${m##*.}/$m"
	done
}

@test "make install DESTDIR PREFIX=/usr: every file in its place" {
	run make_install DESTDIR="$SL_TMP/root" PREFIX=/usr
	assert_success
	assert_line "installing the sample $SL_TMP/root/etc/sl/slserve.conf"
	cd "$SL_TMP/root"
	{
		printf '%s\n' etc/sl/licenses.conf etc/sl/slclient.conf etc/sl/slserve.conf \
		    etc/logrotate.d/slserve \
		    usr/bin/slcheck usr/bin/slctl usr/bin/slserve \
		    usr/lib/systemd/system/slserve.service \
		    usr/share/bash-completion/completions/slcheck \
		    usr/share/bash-completion/completions/slctl
		man_pages
	} | sort >"$SL_TMP/want"
	find . -type f | sed 's|^\./||' | sort >"$SL_TMP/got"
	diff -u "$SL_TMP/want" "$SL_TMP/got"
	[ "$(stat -c %a usr/bin/slserve)" = 755 ]
	[ "$(stat -c %a etc/sl/slserve.conf)" = 644 ]
	[ "$(stat -c %a usr/lib/systemd/system/slserve.service)" = 644 ]
	grep -Fx 'ExecStart=/usr/bin/slserve -d -f /etc/sl/slserve.conf' \
	    usr/lib/systemd/system/slserve.service
	grep -Fx 'state_dir = "/var/lib/sl"' etc/sl/slserve.conf
	[ "$(stat -c %a etc/logrotate.d/slserve)" = 644 ]
	cmp "$OPS_REPO/etc/logrotate.d/slserve" etc/logrotate.d/slserve
	cmp "$OPS_REPO/etc/licenses.conf" etc/sl/licenses.conf
	usr/bin/slserve -V | grep -Fx "slserve $("$SLSERVE" -V | cut -d' ' -f2)"
}

@test "make install never replaces a configuration; uninstall keeps them" {
	make_install DESTDIR="$SL_TMP/root" PREFIX=/usr >/dev/null
	conf=$SL_TMP/root/etc/sl
	echo '# edited by the admin' >>"$conf/slserve.conf"
	echo 'primary = { "http://lic9:7070" }' >"$conf/slclient.conf"
	rm "$conf/licenses.conf"
	echo '# rotate daily' >>"$SL_TMP/root/etc/logrotate.d/slserve"
	cp "$conf/slserve.conf" "$SL_TMP/edited.conf"
	cp "$SL_TMP/root/etc/logrotate.d/slserve" "$SL_TMP/edited.logrotate"
	run make_install DESTDIR="$SL_TMP/root" PREFIX=/usr
	assert_success
	assert_line "keeping $conf/slserve.conf (the sample is etc/slserve.conf)"
	assert_line "keeping $conf/slclient.conf (the sample is etc/slclient.conf)"
	assert_line "installing the sample $conf/licenses.conf"
	assert_line "keeping $SL_TMP/root/etc/logrotate.d/slserve (the sample is etc/logrotate.d/slserve)"
	cmp "$SL_TMP/edited.conf" "$conf/slserve.conf"
	cmp "$SL_TMP/edited.logrotate" "$SL_TMP/root/etc/logrotate.d/slserve"
	[ "$(cat "$conf/slclient.conf")" = 'primary = { "http://lic9:7070" }' ]
	[ -f "$conf/licenses.conf" ]

	run make -s -C "$OPS_REPO" --no-print-directory uninstall DESTDIR="$SL_TMP/root" PREFIX=/usr
	assert_success
	cd "$SL_TMP/root"
	run sh -c 'find . -type f | sort'
	assert_output $'./etc/logrotate.d/slserve\n./etc/sl/licenses.conf\n./etc/sl/slclient.conf\n./etc/sl/slserve.conf'
}

@test "make install honours SYSCONFDIR; the installed samples are a valid configuration" {
	# A real prefix (no DESTDIR), so the installed paths are the ones used.
	run make_install PREFIX="$SL_TMP/opt" SYSCONFDIR="$SL_TMP/opt/etc" STATEDIR="$SL_TMP/state" \
	    LOGROTATEDIR="$SL_TMP/opt/logrotate.d"
	assert_success
	assert_line "installing $SL_TMP/opt/logrotate.d/slserve"
	grep -Fx "$SL_TMP/state/usage.log {" "$SL_TMP/opt/logrotate.d/slserve"
	unit=$SL_TMP/opt/lib/systemd/system/slserve.service
	grep -Fx "ExecStart=$SL_TMP/opt/bin/slserve -d -f $SL_TMP/opt/etc/slserve.conf" "$unit"
	grep -Fx "ExecStartPre=$SL_TMP/opt/bin/slserve -n -f $SL_TMP/opt/etc/slserve.conf" "$unit"
	run "$SL_TMP/opt/bin/slserve" -n -f "$SL_TMP/opt/etc/slserve.conf"
	assert_success
	assert_output "configuration OK"
}

@test "systemd unit: hardening directives; reload sends SIGHUP" {
	unit=$OPS_REPO/etc/slserve.service
	for line in 'ExecStart=/usr/local/bin/slserve -d -f /etc/sl/slserve.conf' \
	    'ExecReload=/bin/kill -HUP $MAINPID' 'DynamicUser=yes' 'StateDirectory=sl' \
	    'ConfigurationDirectory=sl' 'ProtectSystem=strict' 'ProtectHome=yes' \
	    'NoNewPrivileges=yes' 'PrivateTmp=yes' 'CapabilityBoundingSet=' \
	    'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' \
	    'SystemCallFilter=@system-service' 'WantedBy=multi-user.target'; do
		grep -Fxq -- "$line" "$unit" || { echo "missing in $unit: $line" >&2; false; }
	done
}

@test "systemd unit: systemd-analyze verify and security accept the installed unit" {
	command -v systemd-analyze >/dev/null ||
	    skip "systemd-analyze is not installed (Debian package systemd)"
	make_install PREFIX="$SL_TMP/usr" SYSCONFDIR="$SL_TMP/etc/sl" \
	    LOGROTATEDIR="$SL_TMP/etc/logrotate.d" >/dev/null
	unit=$SL_TMP/usr/lib/systemd/system/slserve.service
	run env MANPATH="$SL_TMP/usr/share/man" systemd-analyze verify "$unit"
	assert_success
	assert_output ""
	# The exposure level (0 = locked down, 10 = unprotected) stays at most
	# 2.0 (--threshold counts in tenths).
	run systemd-analyze security --offline=yes --threshold=20 "$unit"
	assert_success
}
