#!/usr/bin/env bats
# slctl license keygen|sign|verify|add|remove.

load helpers

setup() {
	sl_setup_cd
	cat >lic.conf <<'L'
# site licenses
license "cad-9" {
  product = "cad"
  count   = 25
  expires = "never"
  host    = "any"
  timeout = 300
}
license "old-1" {
  product = "cad"
  count   = 1
  expires = "2001-01-01"
  host    = "any"
  timeout = 300
}
license "bound-1" {
  product = "sim"
  count   = 4
  expires = "never"
  host    = "otherhost.example"
  timeout = 0
}
L
}
teardown() { sl_teardown; }

keys() {
	"$SLCTL" license keygen -d "$SL_TMP" acme >/dev/null
}

@test "keygen writes a public key and a 0600 secret key, never overwriting" {
	run "$SLCTL" license keygen -d "$SL_TMP" acme
	assert_success
	assert_line "public key $SL_TMP/acme.pub"
	[ "$(stat -c %a acme.key)" = 600 ]
	grep -Eq '^sl-ed25519-public acme [A-Za-z0-9+/=]+$' acme.pub
	grep -Eq '^sl-ed25519-secret acme [A-Za-z0-9+/=]+$' acme.key
	sum=$(cat acme.key acme.pub | md5sum)
	run "$SLCTL" license keygen -d "$SL_TMP" acme
	assert_equal "$status" 1
	assert_output --partial "acme.key"
	[ "$(cat acme.key acme.pub | md5sum)" = "$sum" ]
	run "$SLCTL" license keygen 'bad issuer'
	assert_equal "$status" 64
}

@test "sign then verify: valid, expired, wrong host; -H picks the host" {
	keys
	"$SLCTL" license sign -k acme.key lic.conf >signed.conf
	grep -q '^# site licenses' signed.conf
	[ "$(grep -c 'signature = "' signed.conf)" = 3 ]
	run "$SLCTL" license verify -k acme.pub signed.conf
	assert_equal "$status" 1
	assert_line --index 0 --regexp '^LICENSE +PRODUCT +ISSUER +RESULT$'
	assert_line --regexp '^cad-9 +cad +acme +valid$'
	assert_line --regexp '^old-1 +cad +acme +expired$'
	assert_line --regexp '^bound-1 +sim +acme +wrong host$'
	assert_output --partial "2 of 3 licenses not valid"
	run "$SLCTL" license verify -k acme.pub -H otherhost.example --json signed.conf
	assert_equal "$status" 1
	echo "$output" | head -n -1 | jq -e '[.licenses[] | {(.id): .result}] | add == {"cad-9":"valid","old-1":"expired","bound-1":"valid"}'
}

@test "a tampered count (one digit) is a bad signature" {
	keys
	"$SLCTL" license sign -k acme.key lic.conf >signed.conf
	sed -i 's/count     = 25/count     = 26/' signed.conf
	grep -q 'count     = 26' signed.conf
	run "$SLCTL" license verify -k acme.pub signed.conf
	assert_equal "$status" 1
	assert_line --regexp '^cad-9 +cad +acme +bad signature$'
}

@test "unsigned licenses and unknown issuers are not valid" {
	keys
	"$SLCTL" license keygen -d "$SL_TMP" other >/dev/null
	run "$SLCTL" license verify -k acme.pub lic.conf
	assert_equal "$status" 1
	assert_line --regexp '^cad-9 +cad +- +unsigned$'
	"$SLCTL" license sign -k other.key lic.conf >signed.conf
	run "$SLCTL" license verify -k acme.pub signed.conf
	assert_equal "$status" 1
	assert_line --regexp '^cad-9 +cad +other +unknown issuer$'
	run "$SLCTL" license verify -k nosuch.pub signed.conf
	assert_equal "$status" 78
	run "$SLCTL" license sign -k acme.pub lic.conf
	assert_equal "$status" 78
	assert_output --partial "secret key"
}

@test "sign -i replaces the file in place, keeping comments" {
	keys
	run "$SLCTL" license sign -k acme.key -i lic.conf
	assert_success
	grep -q '^# site licenses' lic.conf
	run "$SLCTL" license verify -k acme.pub -H otherhost.example lic.conf
	assert_equal "$status" 1
	assert_line --regexp '^cad-9 +cad +acme +valid$'
	assert_line --regexp '^bound-1 +sim +acme +valid$'
}

@test "verify of a broken licenses file: exit 78 naming file:line" {
	printf 'license "x" {\n  product = "cad"\n  count = "many"\n}\n' >bad.conf
	run "$SLCTL" license verify -k /dev/null bad.conf
	assert_equal "$status" 78
	keys
	run "$SLCTL" license verify -k acme.pub bad.conf
	assert_equal "$status" 78
	assert_output --regexp 'bad\.conf:[0-9]+: license "x": count'
}

@test "add and remove edit the server's licenses file atomically and reload it" {
	keys
	sl_serve lic1 "trusted_keys = { \"$SL_TMP/acme.pub\" }"
	"$SLCTL" license sign -k acme.key -i "$SL_TMP/lic1/licenses.conf" 2>/dev/null
	SL_TOKEN=$(sl_admin_token lic1) "$SLCTL" -s "$(sl_url lic1)" reload >/dev/null
	cat >new.conf <<'L'
license "cad-new" {
  product = "cad"
  count   = 9
  expires = "never"
  host    = "any"
  timeout = 60
}
L
	"$SLCTL" license sign -k acme.key -i new.conf 2>/dev/null
	run "$SLCTL" -c "$SL_TMP/lic1/slserve.conf" license add new.conf
	assert_success
	assert_line "$SL_TMP/lic1/licenses.conf: added cad-new"
	assert_line "$(sl_url lic1): reloaded"
	curl -fsS "$(sl_url lic1)/v1/licenses" | jq -e '.licenses[] | select(.id == "cad-new") | .max == 9'
	# again: already there, nothing changes
	sum=$(md5sum <"$SL_TMP/lic1/licenses.conf")
	run "$SLCTL" -c "$SL_TMP/lic1/slserve.conf" license add new.conf
	assert_equal "$status" 1
	assert_output --partial 'license "cad-new" is there already'
	[ "$(md5sum <"$SL_TMP/lic1/licenses.conf")" = "$sum" ]
	# a tampered license is refused by the trusted keys
	sed -e 's/cad-new/cad-bad/' new.conf >bad.conf
	run "$SLCTL" -c "$SL_TMP/lic1/slserve.conf" license add bad.conf
	assert_equal "$status" 1
	assert_output --partial 'license "cad-bad": bad signature; not added'
	[ "$(md5sum <"$SL_TMP/lic1/licenses.conf")" = "$sum" ]
	# remove
	run "$SLCTL" -c "$SL_TMP/lic1/slserve.conf" license remove cad-new
	assert_success
	assert_line "$SL_TMP/lic1/licenses.conf: removed cad-new"
	run curl -fsS "$(sl_url lic1)/v1/licenses"
	refute_output --partial cad-new
	run "$SLCTL" -c "$SL_TMP/lic1/slserve.conf" license remove nosuch
	assert_equal "$status" 1
	assert_output --partial 'no license "nosuch"'
	# the other licenses are intact and still verify
	run "$SLCTL" license verify -k acme.pub "$SL_TMP/lic1/licenses.conf"
	assert_success
	[ -z "$(ls "$SL_TMP/lic1" | grep 'licenses.conf\.[A-Za-z0-9]\{6\}$')" ]
}

@test "add with a wrong token changes nothing (exit 77)" {
	sl_serve lic1
	cp "$SL_TMP/lic1/licenses.conf" before.conf
	printf 'license "n1" {\n  product = "cad"\n  count = 1\n}\n' >new.conf
	echo wrong >bad.token
	run "$SLCTL" -s "$(sl_url lic1)" --token-file bad.token license add -L "$SL_TMP/lic1/licenses.conf" new.conf
	assert_equal "$status" 77
	cmp before.conf "$SL_TMP/lic1/licenses.conf"
	# --no-reload edits the file only
	run "$SLCTL" license add --no-reload -L "$SL_TMP/lic1/licenses.conf" new.conf
	assert_success
	grep -q '^license "n1"' "$SL_TMP/lic1/licenses.conf"
}
