#!/usr/bin/env bats
# Every manual page in man/ renders cleanly (issue 18, item 10): mandoc
# -Tlint finds no warning or error, a real .Dd date, and the rendered text
# has none of the artifacts of a misused macro: words turned into flags
# ("(-c, -or -the -default"), a flag eating the next word ("--wait -does"),
# quotes nested inside quotes, an unexpanded $Mdocdate$.

bats_require_minimum_version 1.5.0
load helpers

setup() {
	command -v mandoc >/dev/null || skip "mandoc is not installed (scripts/deps.sh)"
	PAGES=("$BATS_TEST_DIRNAME"/../man/*.[1-8])
	[ "${#PAGES[@]}" -ge 5 ]
}

@test "man: mandoc -Tlint reports no warning or error" {
	for p in "${PAGES[@]}"; do
		# STYLE notes (a cross-reference to a page not installed here) are not faults
		run --separate-stderr mandoc -Tlint -Wwarning "$p"
		[ "$status" -eq 0 ] || { echo "$p: exit $status: $stderr$output"; return 1; }
		[ -z "$output$stderr" ] || { echo "$p: $stderr$output"; return 1; }
	done
}

@test "man: every page has a real .Dd date" {
	for p in "${PAGES[@]}"; do
		dd=$(grep -m1 '^\.Dd' "$p")
		[[ $dd =~ ^\.Dd\ (January|February|March|April|May|June|July|August|September|October|November|December)\ [1-9][0-9]?,\ 20[0-9][0-9]$ ]] ||
		    { echo "$p: $dd"; return 1; }
		run mandoc -Tutf8 "$p"
		assert_success
		refute_output --partial 'Mdocdate'
	done
}

@test "man: rendered text has no macro artifacts" {
	for p in "${PAGES[@]}"; do
		text=$(mandoc -Tutf8 "$p" | col -bx)
		[ -n "$text" ]
		# words after a flag macro rendered as flags: "-or -the -default"
		if grep -nE '(^|[ (])-[a-z]{2,} -[a-z]{2,} -[a-z]{2,}' <<<"$text"; then
			echo "$p: words rendered as flags"; return 1
		fi
		# a long option followed by a word made a flag: "--wait -does"
		if grep -nE -- '--[a-z][a-z-]* -[a-z]{3,}' <<<"$text"; then
			echo "$p: a word after a long option rendered as a flag"; return 1
		fi
		# a quote opened inside another (“a, “b”) or closed twice (””)
		if grep -nE '“[^”]*“|””' <<<"$text"; then
			echo "$p: nested quotes"; return 1
		fi
	done
}

@test "man: the artifacts issue 18 found are gone" {
	ctl=$(mandoc -Tutf8 "$BATS_TEST_DIRNAME/../man/slctl.8" | col -bx | tr -s ' \n' '  ')
	[[ $ctl == *"(-c, or the default file when it exists)"* ]]
	chk=$(mandoc -Tutf8 "$BATS_TEST_DIRNAME/../man/slcheck.1" | col -bx | tr -s ' \n' '  ')
	[[ $chk == *"(waiting as checkout --wait does)"* ]]
	[[ $chk == *"(“primary”, “secondary” or “backup”)"* ]]
	[[ $chk == *"(“no Primary answers”, “backup URL serving”)"* ]]
}

@test "man: the check catches the artifacts it is meant to catch" {
	printf '.Dd $Mdocdate$\n.Dt X 1\n.Os\n.Sh NAME\n.Nm x\n.Nd y\n.Sh DESCRIPTION\n.Pq Fl c , or the default\n.Pq Dq a , Dq b\n' >"$BATS_TEST_TMPDIR/x.1"
	text=$(mandoc -Tutf8 "$BATS_TEST_TMPDIR/x.1" | col -bx)
	grep -qE '(^|[ (])-[a-z]{2,} -[a-z]{2,} -[a-z]{2,}' <<<"$text"
	grep -qE '“[^”]*“|””' <<<"$text"
	! grep -q '^\.Dd [A-Z]' "$BATS_TEST_TMPDIR/x.1"
}
