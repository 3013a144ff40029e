#!/usr/bin/env bats
# Bash completion for slctl and slcheck (etc/bash_completion.d).

load helpers-ops

setup() {
	sl_setup_cd
	PATH="$SL_BINDIR:$PATH"
	# shellcheck source=/dev/null
	source "$OPS_REPO/etc/bash_completion.d/slctl"
	# shellcheck source=/dev/null
	source "$OPS_REPO/etc/bash_completion.d/slcheck"
}
teardown() {
	[ ! -S "$SL_TMP/tmux.sock" ] || tmux -S "$SL_TMP/tmux.sock" kill-server 2>/dev/null || :
	sl_teardown
}

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
	assert_output "--verbose --watch --json"
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
	assert_output "--wait --borrow --json"
	# No server named: no server is asked, no product offered.
	run comp slcheck checkout ""
	assert_output ""
}

@test "completion: product names from the server named with -s or SL_SERVERS" {
	sl_serve lic1
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

# The tests above set COMP_WORDS by hand, as bash never does: it splits
# "http://127.0.0.1:7070" at each ':' (COMP_WORDBREAKS). These type into a
# real interactive bash in tmux, with bash-completion loaded as a login
# shell would have it, and without it (the files sourced by hand).

# tmux_bash NAME [bash-completion]: an interactive bash in tmux session
# NAME, PATH to the binaries, both completion files sourced.
tmux_bash() {
	local rc="$SL_TMP/$1.bashrc"
	{
		echo "PS1='$ '"
		echo "PATH='$SL_BINDIR':\$PATH"
		echo "unset SL_SERVERS SL_CONFIG"
		# bash-completion as /etc/bash.bashrc loads it on Debian
		[ "${2:-}" != bash-completion ] ||
		    echo ". /usr/share/bash-completion/bash_completion"
		echo ". '$OPS_REPO/etc/bash_completion.d/slctl'"
		echo ". '$OPS_REPO/etc/bash_completion.d/slcheck'"
		echo "echo ready-$1"
	} >"$rc"
	tmux -S "$SL_TMP/tmux.sock" new-session -d -s "$1" -x 200 -y 50 \
	    "env -i HOME='$SL_TMP' TERM=screen PATH=/usr/bin:/bin bash --noprofile --rcfile '$rc' -i"
	sl_until 10 pane_has "$1" "ready-$1"
}

# pane_has NAME TEXT: the pane of session NAME shows TEXT (fixed string).
pane_has() {
	tmux -S "$SL_TMP/tmux.sock" capture-pane -p -t "$1" | grep -Fq -- "$2"
}

# typed NAME TEXT KEYS...: clear the line, type TEXT, press KEYS.
typed() {
	local name=$1 text=$2
	shift 2
	tmux -S "$SL_TMP/tmux.sock" send-keys -t "$name" C-u C-l
	tmux -S "$SL_TMP/tmux.sock" send-keys -t "$name" -l "$text"
	tmux -S "$SL_TMP/tmux.sock" send-keys -t "$name" "$@"
}

# line_is NAME WANT: the prompt's line is WANT, the cursor at its end
# (capture-pane drops trailing blanks; the cursor shows them).
line_is() {
	tmux -S "$SL_TMP/tmux.sock" capture-pane -p -t "$1" | grep -Fxq -- "\$ ${2% }" &&
	    [ "$(tmux -S "$SL_TMP/tmux.sock" display -p -t "$1" '#{cursor_x}')" -eq $((${#2} + 2)) ]
}

# completes NAME TEXT WANT: typing TEXT and Tab makes the line WANT.
completes() {
	typed "$1" "$2" Tab
	sl_until 5 line_is "$1" "$3" ||
	    { tmux -S "$SL_TMP/tmux.sock" capture-pane -p -t "$1" >&2; return 1; }
}

@test "completion through a real bash: -s http://host:port, -f and SL_SERVERS" {
	command -v tmux >/dev/null ||
	    skip "tmux is not installed (Debian package tmux; scripts/deps.sh installs it)"
	sl_serve lic1
	u=$(sl_url lic1)
	printf 'primary = { "%s" }\n' "$u" >"$SL_TMP/client.conf"
	modes=plain
	if [ -f /usr/share/bash-completion/bash_completion ]; then
		modes="bash-completion plain"
	else
		echo "# bash-completion is not installed: only sourced by hand" >&3
	fi
	for mode in $modes; do
		tmux_bash "$mode" "$mode"
		# One product: completed in place, after a URL split at its colons.
		completes "$mode" "slctl -s $u leases vi" "slctl -s $u leases viewer "
		completes "$mode" "slcheck -s $u checkout si" "slcheck -s $u checkout sim "
		completes "$mode" "slcheck -s $u check -p ca" "slcheck -s $u check -p cad "
		completes "$mode" "slctl -s $u --js" "slctl -s $u --json "
		completes "$mode" "slcheck --server=$u run vi" "slcheck --server=$u run viewer "
		# Several: listed on a second Tab.
		typed "$mode" "slctl -s $u leases " Tab Tab
		sl_until 5 tmux_lists "$mode" 'cad +sim +viewer'
		# The file of -f names the server.
		completes "$mode" "slcheck -f $SL_TMP/client.conf checkout vi" \
		    "slcheck -f $SL_TMP/client.conf checkout viewer "
		completes "$mode" "slctl -f $SL_TMP/client.conf leases ca" \
		    "slctl -f $SL_TMP/client.conf leases cad "
		# SL_SERVERS in the environment.
		typed "$mode" "export SL_SERVERS=p:$u" Enter
		completes "$mode" "slcheck checkout vi" "slcheck checkout viewer "
		typed "$mode" "unset SL_SERVERS" Enter
		# A URL being typed is left alone: nothing inserted, no error.
		typed "$mode" "slctl -s http://127.0.0.1:" Tab
		sl_until 5 pane_has "$mode" '$ slctl -s http://127.0.0.1:'
		! pane_has "$mode" 'command not found'
		! pane_has "$mode" 'bash: '
		tmux -S "$SL_TMP/tmux.sock" kill-session -t "$mode"
	done
}

# tmux_lists NAME REGEX: a line of the pane matches REGEX (extended).
tmux_lists() {
	tmux -S "$SL_TMP/tmux.sock" capture-pane -p -t "$1" | grep -Eq -- "$2"
}
