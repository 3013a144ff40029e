/*
 * license_from_json, what a backup makes of the licenses its Primary sends,
 * holds them to the file parser's ranges (test/30-failover-peer-bounds.bats
 * runs this): every license the parser accepts comes back the same, and one
 * field out of range, or malformed, is refused, whatever the others hold.
 *
 * usage: license DIR (an empty directory for a licenses file).
 * Prints what is wrong and exits 1, or exits 0.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "license.h"
#include "util.h"

#define UNIT "license"
#include "unit.h"

/* A license a peer could send, as the file parser would make it. */
static json_t *
good(void)
{
	return json_pack("{s:s, s:s, s:I, s:s, s:s, s:I, s:s, s:s}", "id", "cad-1",
	    "product", "cad", "count", (json_int_t)25, "expires", "2099-12-31", "host", "any",
	    "timeout", (json_int_t)300, "issuer", "", "signature", "");
}

/* good() with one field replaced: license_from_json must refuse it. */
static void
refused(const char *what, const char *key, json_t *value)
{
	json_t *o = good();
	struct license l;
	char err[256] = "";

	json_object_set_new(o, key, value);
	if (license_from_json(o, &l, err, sizeof(err)) == 0)
		CHECK(0, "%s: accepted (timeout %ld, count %ld)", what, l.timeout, l.count);
	else
		CHECK(err[0] != '\0', "%s: refused without a message", what);
	json_decref(o);
}

/* good() with one field replaced: license_from_json must accept it. */
static void
accepted(const char *what, const char *key, json_t *value, struct license *l)
{
	json_t *o = good();
	char err[256] = "";

	json_object_set_new(o, key, value);
	CHECK(license_from_json(o, l, err, sizeof(err)) == 0, "%s: refused: %s", what, err);
	json_decref(o);
}

/* Every license of a licenses file, through license_to_json and back. */
static void
round_trip(const char *dir)
{
	char *path = util_path_join(dir, "licenses.conf");
	struct license_set set;
	char err[1024];
	FILE *f;

	if (path == NULL || (f = fopen(path, "w")) == NULL) {
		CHECK(0, "cannot write %s", path ? path : dir);
		free(path);
		return;
	}
	fprintf(f, "license \"hard\" { product = \"sim\" count = 0 expires = \"never\" "
	    "host = \"any\" timeout = 0 }\n"
	    "license \"longest\" { product = \"cad\" count = 100000000 expires = \"2031-01-31\" "
	    "host = \"lic1.example\" timeout = 2592000 }\n"
	    "license \"free\" { product = \"view\" count = \"unlimited\" expires = \"never\" "
	    "host = \"10.0.0.1\" timeout = 60 issuer = \"acme\" signature = \"c2ln\" }\n");
	fclose(f);
	CHECK(license_load(path, &set, err, sizeof(err)) == 0, "licenses file: %s", err);
	for (size_t i = 0; i < set.n; i++) {
		const struct license *want = &set.v[i];
		struct license back;
		json_t *o = license_to_json(want);
		CHECK(license_from_json(o, &back, err, sizeof(err)) == 0, "%s: refused: %s",
		    want->id, err);
		CHECK(strcmp(back.id, want->id) == 0 && strcmp(back.product, want->product) == 0 &&
		    back.count == want->count && back.timeout == want->timeout &&
		    back.expires_day == want->expires_day && strcmp(back.host, want->host) == 0 &&
		    strcmp(back.issuer, want->issuer) == 0 &&
		    strcmp(back.signature, want->signature) == 0,
		    "%s: changed on the way through JSON", want->id);
		json_decref(o);
	}
	CHECK(set.n == 3, "licenses file: %zu licenses, not 3", set.n);
	license_set_free(&set);
	free(path);
}

int
main(int argc, char **argv)
{
	struct license l;

	if (argc != 2) {
		fprintf(stderr, "usage: license DIR\n");
		return 2;
	}
	round_trip(argv[1]);

	/* The timeout: 0 (hard) to 30 days, as in the file. */
	refused("timeout LONG_MAX", "timeout", json_integer(LONG_MAX));
	refused("timeout LONG_MAX / 1000 + 1", "timeout", json_integer(LONG_MAX / 1000 + 1));
	refused("timeout 30 days + 1 s", "timeout", json_integer(LICENSE_TIMEOUT_MAX + 1));
	refused("timeout -1", "timeout", json_integer(-1));
	refused("timeout LLONG_MIN", "timeout", json_integer(LLONG_MIN));
	refused("timeout as text", "timeout", json_string("300"));
	refused("timeout 1.5", "timeout", json_real(1.5));
	accepted("timeout 30 days", "timeout", json_integer(LICENSE_TIMEOUT_MAX), &l);
	CHECK(l.timeout == LICENSE_TIMEOUT_MAX, "timeout 30 days: %ld", l.timeout);
	accepted("timeout 0 (hard)", "timeout", json_integer(0), &l);
	CHECK(l.timeout == 0, "timeout 0: %ld", l.timeout);

	/* The count: 0 to 100000000, or -1 for unlimited. */
	refused("count LONG_MAX", "count", json_integer(LONG_MAX));
	refused("count 100000001", "count", json_integer(LICENSE_COUNT_MAX + 1));
	refused("count -2", "count", json_integer(-2));
	accepted("count unlimited", "count", json_integer(LICENSE_UNLIMITED), &l);
	CHECK(l.count == LICENSE_UNLIMITED, "count unlimited: %ld", l.count);
	accepted("count 100000000", "count", json_integer(LICENSE_COUNT_MAX), &l);

	/* host, expires, issuer and signature as the file has them. */
	refused("empty host", "host", json_string(""));
	refused("host with a space", "host", json_string("a b"));
	refused("host with a quote", "host", json_string("a\"b"));
	refused("host with a newline", "host", json_string("a\nb"));
	char longhost[300];
	memset(longhost, 'h', sizeof(longhost) - 1);
	longhost[sizeof(longhost) - 1] = '\0';
	refused("host of 299 bytes", "host", json_string(longhost));
	refused("expires not a date", "expires", json_string("tomorrow"));
	refused("expires 2027-02-30", "expires", json_string("2027-02-30"));
	refused("issuer without a signature", "issuer", json_string("acme"));
	refused("signature without an issuer", "signature", json_string("c2ln"));
	refused("issuer with a space", "issuer", json_string("ac me"));
	refused("id with a slash", "id", json_string("a/b"));
	refused("no product", "product", json_null());

	return failed;
}
