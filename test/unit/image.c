/*
 * A compaction's image, copied a lease at a time while leases change under
 * it (test/10-server-durability.bats runs this). At every step the lease
 * under the image's cursor is checked in, revoked, or left alone, and new
 * leases are checked out. Then:
 *
 *  - the image holds every lease that was there when it began and was still
 *    there when the cursor reached it, each once, and nothing else;
 *  - written as the snapshot at the sequence where it began, with the
 *    journal after it, a new start holds exactly the leases and counts the
 *    live store holds.
 *
 * usage: image DIR (an empty directory for the journal and snapshot).
 * Prints what is wrong and exits 1, or exits 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "journal.h"
#include "license.h"
#include "log.h"
#include "state.h"
#include "store.h"
#include "store_int.h"
#include "util.h"

#define UNIT "image"
#include "unit.h"

#define LEASES 300

static void
checkout(struct store *s, const char *id)
{
	struct checkout_req cr = { "viewer", NULL, id, "c", "u", "h", 1, NULL, 0, 0 };
	struct reply r;

	store_checkout(s, &cr, &r);
	CHECK(r.status == 201, "checkout %s: HTTP %u", id, r.status);
	json_decref(r.body);
}

/* The live leases as one sorted, comma-separated string, and view's in_use. */
static char *
leases_of(struct store *s, long *in_use)
{
	struct reply r;
	json_t *ids = json_array(), *v, *lics = store_licenses_json(s);
	size_t i;

	store_list_leases(s, NULL, 0, &r);
	json_array_foreach(json_object_get(r.body, "leases"), i, v)
		json_array_append(ids, json_object_get(v, "lease"));
	json_decref(r.body);
	*in_use = -1;
	json_array_foreach(json_object_get(lics, "licenses"), i, v)
		if (strcmp(json_string_value(json_object_get(v, "id")), "view") == 0)
			*in_use = (long)json_integer_value(json_object_get(v, "in_use"));
	json_decref(lics);
	char *text = json_dumps(ids, JSON_COMPACT);
	json_decref(ids);
	return text;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort a JSON array of strings in place (for comparing sets). */
static void
sort_ids(json_t *arr)
{
	size_t n = json_array_size(arr);
	char **v = calloc(n + 1, sizeof(*v));

	for (size_t i = 0; i < n; i++)
		v[i] = strdup(json_string_value(json_array_get(arr, i)));
	qsort(v, n, sizeof(*v), cmp_str);
	json_array_clear(arr);
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(arr, json_string(v[i]));
		free(v[i]);
	}
	free(v);
}

static struct store *
new_store(void)
{
	static struct license lic[1];
	struct license_set set = { .v = lic, .n = 1 };
	struct store *s = store_new("unit", "");

	memset(lic, 0, sizeof(lic));
	util_strlcpy(lic[0].id, "view", sizeof(lic[0].id));
	util_strlcpy(lic[0].product, "viewer", sizeof(lic[0].product));
	util_strlcpy(lic[0].expires, "never", sizeof(lic[0].expires));
	util_strlcpy(lic[0].host, "any", sizeof(lic[0].host));
	lic[0].count = LICENSE_UNLIMITED;
	lic[0].timeout = 0;
	lic[0].expires_day = -1;
	if (s == NULL)
		exit(2);
	store_set_licenses(s, &set, NULL);
	return s;
}

int
main(int argc, char **argv)
{
	char err[512], id[64], path[1024];
	struct reply r;

	if (argc != 2) {
		fprintf(stderr, "usage: image DIR\n");
		return 2;
	}
	log_init("image", 1, 0);
	struct store *s = new_store();
	struct journal *j = journal_open(argv[1], 0, 1000000, 0, s, err, sizeof(err));
	if (j == NULL) {
		fprintf(stderr, "image: %s\n", err);
		return 2;
	}
	for (int i = 0; i < LEASES; i++) {
		snprintf(id, sizeof(id), "old-%03d", i);
		checkout(s, id);
	}

	/* Begin the image as the journal does: bans, cursor and sequence
	 * under one hold of the store lock. */
	struct store_image *img = store_image_reserve(s);
	uint64_t seq = 0;
	json_t *want = json_array(), *gone = json_array();
	pthread_mutex_lock(&s->lock);
	CHECK(store_image_take(s, img) == 0, "store_image_take failed");
	seq = journal_last_seq(j);
	pthread_mutex_unlock(&s->lock);

	int rc, step = 0;
	do {
		/* The lease under the cursor ends (checked in, or revoked: a
		 * tombstone relinked at the head), or not; the one the cursor
		 * is then on is copied next. New leases go in meanwhile. */
		pthread_mutex_lock(&s->lock);
		int more = s->img_cursor != NULL;
		if (more)
			util_strlcpy(id, s->img_cursor->id, sizeof(id));
		pthread_mutex_unlock(&s->lock);
		if (more && step % 3 == 0) {
			store_checkin(s, id, NULL, &r);
			CHECK(r.status == 200, "checkin %s: HTTP %u", id, r.status);
			json_decref(r.body);
			json_array_append_new(gone, json_string(id));
		} else if (more && step % 3 == 1) {
			store_revoke(s, id, 0, "test", "unit", &r);
			CHECK(r.status == 200, "revoke %s: HTTP %u", id, r.status);
			json_decref(r.body);
			json_array_append_new(gone, json_string(id));
		}
		pthread_mutex_lock(&s->lock);
		if (s->img_cursor != NULL)
			json_array_append_new(want, json_string(s->img_cursor->id));
		pthread_mutex_unlock(&s->lock);
		snprintf(id, sizeof(id), "new-%03d", step++);
		checkout(s, id);
		rc = store_image_more(s, img, 1);
	} while (rc == 1);
	CHECK(rc == 0, "store_image_more failed");

	/* The image: each lease reached and not ended, once. */
	size_t len;
	char *text = store_image_text(img, seq, &len, 0);
	json_t *snap = text ? json_loads(text, 0, NULL) : NULL, *got = json_array(), *v;
	size_t i;
	CHECK(snap != NULL, "image text does not parse");
	json_array_foreach(json_object_get(snap, "leases"), i, v)
		json_array_append(got, json_object_get(v, "id"));
	sort_ids(got);
	sort_ids(want);
	CHECK(json_equal(got, want), "image holds %zu leases, wanted the %zu reached and "
	    "not ended (%zu ended under the cursor)", json_array_size(got),
	    json_array_size(want), json_array_size(gone));
	CHECK(json_array_size(want) >= LEASES / 3 && json_array_size(gone) >= LEASES / 3,
	    "the walk ended early: %zu copied, %zu ended", json_array_size(want),
	    json_array_size(gone));

	/* A start from it and the journal after seq is the live state. */
	long live_in_use, again_in_use;
	char *live = leases_of(s, &live_in_use);
	journal_close(j);
	s->journal = NULL;
	snprintf(path, sizeof(path), "%s/snapshot.json", argv[1]);
	CHECK(state_write_atomic(path, text, len, 0600, err, sizeof(err)) == 0, "%s", err);
	struct store *again = new_store();
	j = journal_open(argv[1], 0, 1000000, 0, again, err, sizeof(err));
	CHECK(j != NULL, "restart: %s", err);
	if (j != NULL) {
		char *back = leases_of(again, &again_in_use);
		json_t *a = json_loads(live, 0, NULL), *b = json_loads(back, 0, NULL);
		sort_ids(a);
		sort_ids(b);
		CHECK(json_equal(a, b) && live_in_use == again_in_use,
		    "after a restart from the image: %zu leases (in_use %ld), live: %zu (in_use %ld)",
		    json_array_size(b), again_in_use, json_array_size(a), live_in_use);
		json_decref(a);
		json_decref(b);
		free(back);
		journal_close(j);
	}
	free(live);
	free(text);
	json_decref(snap);
	json_decref(got);
	json_decref(want);
	json_decref(gone);
	store_free(again);
	store_free(s);
	return failed;
}
