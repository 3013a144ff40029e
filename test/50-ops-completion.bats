#!/usr/bin/env bats
# Bash completion for slctl and slcheck (etc/bash_completion.d).

load helpers-ops

setup() {
	ops_setup
	PATH="$SL_BINDIR:$PATH"
	# shellcheck source=/dev/null
	source "$OPS_REPO/etc/bash_completion.d/slctl"
	# shellcheck source=/dev/null
	source "$OPS_REPO/etc/bash_completion.d/slcheck"
}
teardown() { ops_teardown; }

# comp WORD...: complete the last word of the command line; prints COMPREPLY
# on one line.
comp() {
	COMP_WORDS=("$@")
	COMP_CWORD=$(($# - 1))
	COMP_LINE="$*"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	case $1 in
	slctl) _slctl ;;
	slcheck) _slcheck ;;
	esac
	echo "${COMPREPLY[*]}"
}

@test "completion: slctl commands, subcommands and options" {
	run comp slctl ""
	assert_output "servers status leases revoke remove reload license report failover help version"
	run comp slctl st
	assert_output "status"
	run comp slctl -s http://x:1 --json re
	assert_output "revoke remove reload report"
	run comp slctl license ""
	assert_output "keygen sign verify add remove"
	run comp slctl failover s
	assert_output "show set"
	run comp slctl report --by ""
	assert_output "license user host"
	run comp slctl status --
	assert_output "--watch --json"
	run comp slctl help fail
	assert_output "failover"
	run comp slctl --t
	assert_output "--token-file --timeout"
	# File names, spaces and all, for options that take a file.
	touch "my server.conf"
	comp slctl -c my >/dev/null
	[ "${#COMPREPLY[@]}" -eq 1 ] && [ "${COMPREPLY[0]}" = "my server.conf" ]
}

@test "completion: slcheck commands and options" {
	run comp slcheck ""
	assert_output "checkout heartbeat checkin run check status config help"
	run comp slcheck -v ch
	assert_output "checkout checkin check"
	run comp slcheck check --c
	assert_output "--critical"
	run comp slcheck run --on-loss ""
	assert_output "term warn"
	run comp slcheck checkout --
	assert_output "--wait --json"
	# No server named: no server is asked, no product offered.
	run comp slcheck checkout ""
	assert_output ""
}

@test "completion: product names from the server named with -s or SL_SERVERS" {
	ops_start lic1
	u=$(sl_url lic1)
	run comp slctl -s "$u" leases ""
	assert_output "cad sim viewer"
	run comp slcheck -s "$u" checkout ""
	assert_output "cad sim viewer"
	run comp slcheck -s "$u" run --wait 5 v
	assert_output "viewer"
	run comp slcheck -s "$u" check -p s
	assert_output "sim"
	SL_SERVERS="p:$u" run comp slcheck checkout c
	assert_output "cad"
	# After the product of slcheck run comes a command.
	run comp slcheck -s "$u" run cad -- ech
	assert_line --regexp '(^| )echo( |$)'
	# A server that does not answer: nothing, and no wait.
	port=$(sl_free_port)
	SECONDS=0
	run comp slctl -s "http://127.0.0.1:$port" leases ""
	assert_output ""
	[ "$SECONDS" -le 2 ]
}
