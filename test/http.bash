# test/http.bash: one HTTP request through curl, sourced by test/helpers.bash
# (so every bats file has it) and test/valgrind.sh.

# sl_req METHOD URL [BODY [CURL-ARGS...]]: one HTTP request. Sets HTTP_CODE
# (the status, 000 if there was no answer) and HTTP_BODY. A BODY is sent as
# is, even when empty (Content-Length: 0); "@FILE" sends a file's bytes and
# "-" sends no body at all. The answer goes through a file of this shell's
# own ($SL_TMP/http.body.PID), so requests made at once from background
# subshells do not read each other's answers; the request may take
# SL_REQ_MAX_TIME seconds (5 unless set).
sl_req() {
	local method=$1 url=$2 out="$SL_TMP/http.body.$BASHPID"
	shift 2
	local args=(-s --path-as-is -m "${SL_REQ_MAX_TIME:-5}" -o "$out" -w '%{http_code}' -X "$method")
	if [ $# -gt 0 ]; then
		[ "$1" = - ] || args+=(-H 'Content-Type: application/json' --data-binary "$1")
		shift
	fi
	rm -f "$out"
	HTTP_CODE=$(curl "${args[@]}" "$@" "$url") || true
	HTTP_BODY=$(cat "$out" 2>/dev/null || true)
	rm -f "$out"
}
