/* Journal replay: the input is STATE_DIR/journal of a server that starts
 * (journal_open: state_journal_replay and store_apply_record for each
 * record, then a snapshot), takes a seat, expires what is due and stops;
 * then a second start must load the snapshot the first one wrote. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "journal.h"
#include "license.h"
#include "log.h"
#include "store.h"
#include "util.h"

static void
add_license(struct license_set *set, const char *id, const char *product, long count,
    long timeout)
{
	struct license *l = &set->v[set->n++];

	memset(l, 0, sizeof(*l));
	util_strlcpy(l->id, id, sizeof(l->id));
	util_strlcpy(l->product, product, sizeof(l->product));
	util_strlcpy(l->expires, "never", sizeof(l->expires));
	util_strlcpy(l->host, "any", sizeof(l->host));
	l->count = count;
	l->timeout = timeout;
	l->expires_day = -1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;
	struct license_set set;
	struct license v[3];
	char err[1024], path[256];

	if (!quiet) {
		log_init("fuzz", 1, 0);
		quiet = 1;
	}
	fuzz_file("journal", data, size);
	snprintf(path, sizeof(path), "%s/snapshot.json", fuzz_dir());
	unlink(path);

	memset(&set, 0, sizeof(set));
	set.v = v;
	add_license(&set, "cad-1", "cad", 2, 30);
	add_license(&set, "sim-hard", "sim", 1, 0);
	add_license(&set, "view-free", "viewer", LICENSE_UNLIMITED, 60);
	struct store *s = store_new("fuzz", "");
	if (s == NULL)
		return 0;
	store_set_licenses(s, &set, NULL);
	struct journal *j = journal_open(fuzz_dir(), 0, 100000, 0, s, err, sizeof(err));
	if (j != NULL) {
		struct checkout_req cr = { "cad", NULL, NULL, "c", "u", "h", 1, NULL, 0, 0 };
		struct reply r;
		store_grace(s);
		store_expire(s);
		store_checkout(s, &cr, &r);
		json_decref(r.body);
		journal_close(j);
		/* and start again from the snapshot that start wrote */
		struct store *again = store_new("fuzz", "");
		if (again != NULL) {
			store_set_licenses(again, &set, NULL);
			if ((j = journal_open(fuzz_dir(), 0, 100000, 0, again, err, sizeof(err))) == NULL)
				abort();	/* our own snapshot must load */
			journal_close(j);
			store_free(again);
		}
	}
	store_free(s);
	return 0;
}
