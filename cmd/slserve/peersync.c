/*
 * peersync.c: a Primary's answer to its backups' syncs (GET /v1/peer/sync):
 * the journal records since the backup's sequence, or a full copy of the
 * leases, and the long poll that holds a sync until the journal takes a
 * record to write. failover.c keeps the registry of backups and calls it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include "journal.h"
#include "json.h"
#include "peersync.h"
#include "server.h"
#include "store.h"
#include "util.h"

static void long_poll_stop(struct server *srv);

/*
 * The leases of the last full sync, kept a few seconds while our journal
 * has not moved. At 100,000 leases one takes most of a second to make, and
 * a backup whose poll timed out asks again at its next poll: each retry made
 * another 20 MB while the abandoned one was still being made and sent, and a
 * Primary too slow for the backup's timeout never caught up (under
 * AddressSanitizer its HTTP threads were busy for 20 s). One is made at a
 * time; a request that finds nothing changed since the last one gets a copy.
 */
#define FULL_KEEP_MS 5000
static pthread_mutex_t full_mu = PTHREAD_MUTEX_INITIALIZER;
static char *full_text;
static size_t full_len;
static uint64_t full_seq;
static int64_t full_made_ms;

/* A copy of our own leases as JSON text, durable up to *seqp (set here). */
static char *
full_leases(struct server *srv, uint64_t *seqp, size_t *lenp)
{
	char *copy = NULL;

	pthread_mutex_lock(&full_mu);
	uint64_t seq = journal_last_seq(srv->journal);
	if (full_text == NULL || full_seq != seq ||
	    util_mono_ms() - full_made_ms > FULL_KEEP_MS) {
		free(full_text);
		/* A backup must only mirror seats that survive our crash: a
		 * full copy holds what is on disk up to seq. */
		full_seq = seq;
		journal_sync_to(srv->journal, full_seq);
		full_text = store_own_leases_text(srv->store, full_seq, &full_len);
		full_made_ms = util_mono_ms();
	}
	if (full_text != NULL && (copy = malloc(full_len + 1)) != NULL) {
		memcpy(copy, full_text, full_len + 1);
		*seqp = full_seq;
		*lenp = full_len;
	}
	pthread_mutex_unlock(&full_mu);
	return copy;
}

/* Let the last full sync's leases go once no retry can use them. */
static void
full_leases_expire(void)
{
	pthread_mutex_lock(&full_mu);
	if (full_text != NULL && util_mono_ms() - full_made_ms > FULL_KEEP_MS) {
		free(full_text);
		full_text = NULL;
	}
	pthread_mutex_unlock(&full_mu);
}

/* Send r->reply.body with one more member whose value is JSON text made
 * already: a peer's leases or records, tens of megabytes at 100,000 leases,
 * need not become a tree to be sent. Frees value. */
static void
reply_splice(struct req *r, const char *key, char *value, size_t vlen)
{
	char *head = json_dumps(r->reply.body, JSON_COMPACT);
	size_t hl = head != NULL ? strlen(head) : 0, n;
	char *out = hl >= 2 ? malloc(hl + strlen(key) + vlen + 8) : NULL;

	if (out == NULL) {
		free(head);
		free(value);
		req_error(r, 503, "out_of_memory", "server out of memory");
		return;
	}
	n = hl - 1;		/* head without its closing brace */
	memcpy(out, head, n);
	n += (size_t)sprintf(out + n, ",\"%s\":", key);
	memcpy(out + n, value, vlen);
	n += vlen;
	memcpy(out + n, "}\n", 3);
	free(head);
	free(value);
	json_decref(r->reply.body);
	r->reply.body = NULL;
	r->raw = out;
	r->rawlen = n + 2;
	r->content_type = "application/json";
}

/*
 * The answer to a sync: the durable records since `since` (or, when full is
 * set or they are no longer kept, every lease), in our epoch. wait_ms > 0:
 * the backup long-polls; the answer tells it so ("long_poll"), and it asks
 * again at once.
 */
void
peersync_reply(struct req *r, uint64_t since, int full, long wait_ms)
{
	struct server *srv = r->srv;
	char *records = NULL;
	size_t nrecords = 0, len = 0;
	uint64_t seq = journal_last_seq(srv->journal);
	int failing = !journal_storage(srv->journal, NULL);

	/* A backup that long-polls gets records as they are appended: it
	 * writes and syncs them while we do, and a checkout waits for both.
	 * Should we crash before ours is on disk, it holds a grant no client
	 * was told of, the holder's retry takes it there (lease_claim in
	 * checkout.c), or it ends with its timeout, like any unanswered grant.
	 *
	 * While our journal cannot write, the answer is 503: a failed poll,
	 * after fail_after of which the backup takes over. It still carries
	 * what we appended: the grants it may hold whose write failed are
	 * released there (their requests were answered 503), before it
	 * takes over with them. */
	if (!full && (records = journal_since_text(srv->journal, since, wait_ms > 0 || failing,
	    &nrecords, &len)) == NULL)
		full = 1;
	if (failing && (full || wait_ms <= 0)) {
		free(records);
		req_storage_unavailable(r);
		return;
	}
	/* Later records follow incrementally (a full copy holds only durable
	 * ones). */
	if (full && (records = full_leases(srv, &seq, &len)) == NULL) {
		req_error(r, 503, "out_of_memory", "server out of memory");
		return;
	}
	/* Our licenses go along only when the backup lacks them: they were
	 * half of what an empty poll cost both sides (100 licenses, 12 KB). */
	char gen[64];
	const char *have = req_query(r, "lic");
	snprintf(gen, sizeof(gen), "%s-%llu", srv->epoch,
	    (unsigned long long)store_licenses_gen(srv->store));
	if (failing) {
		req_storage_unavailable(r);
	} else {
		r->reply.status = 200;
		r->reply.body = json_object();
	}
	json_object_update_new(r->reply.body, json_pack("{s:s, s:s, s:I, s:b, s:s}", "name",
	    srv->cfg.name, "epoch", srv->epoch, "seq", (json_int_t)(full ? seq : since + nrecords),
	    "full", full, "licenses_gen", gen));
	if (full || have == NULL || strcmp(have, gen) != 0)
		json_object_set_new(r->reply.body, "licenses", store_own_licenses(srv->store));
	if (srv->cfg.synchronous_backup)
		json_object_set_new(r->reply.body, "synchronous", json_true());
	if (wait_ms > 0 && !failing)
		json_object_set_new(r->reply.body, "long_poll", json_integer(wait_ms));
	reply_splice(r, full ? "leases" : "records", records, len);
}

/*
 * Long polls: a backup's sync that finds nothing new is held, without a
 * thread, until the journal's committer takes a record after its `since`
 * to write it (it tells us: long_poll_batch) or its wait runs out (the
 * main loop: failover_tick_fast). So a grant reaches the backups while it
 * is written to our disk, and with synchronous_backup the checkout is
 * answered once it is on our disk and the backup's next poll, sent as soon
 * as it has saved the records, says it holds them: a round trip and the
 * backup's own sync, overlapping ours, not a poll interval. Kept apart from struct failover, like the ack waiters: held
 * requests are let go at stop (long_poll_stop) before it is freed.
 */
struct long_poll {
	struct req *r;
	uint64_t since;
	int64_t deadline_ms;
	long wait_ms;
	char backup[SL_ID_MAX + 1];
};
static pthread_mutex_t lp_mu = PTHREAD_MUTEX_INITIALIZER;
static struct long_poll **lps;
static size_t nlps, caplps;
static int lp_stopped;

/* The answer to a held sync, once let go. */
static void
long_poll_resume(struct req *r)
{
	struct long_poll *lp = r->ctx;
	struct server *srv = r->srv;

	r->ctx = NULL;
	if (srv->draining)
		req_error(r, 503, "stopping", "server \"%s\" is shutting down", srv->cfg.name);
	else
		peersync_reply(r, lp->since, 0, lp->wait_ms);
	free(lp);
}

/* Let go of the held syncs that have news, whose wait ran out, while our
 * journal cannot write (they are answered 503 at once), or (all) every one. */
static void
long_poll_wake(struct server *srv, int all)
{
	int64_t now = util_mono_ms();
	uint64_t last = journal_last_seq(srv->journal);
	int failing = !journal_storage(srv->journal, NULL);
	size_t o = 0;

	pthread_mutex_lock(&lp_mu);
	for (size_t i = 0; i < nlps; i++) {
		struct long_poll *lp = lps[i];
		if (all || failing || now >= lp->deadline_ms || last > lp->since)
			req_wake(lp->r);	/* lp is the request's now */
		else
			lps[o++] = lp;
	}
	nlps = o;
	pthread_mutex_unlock(&lp_mu);
}

/* The journal's listener: the committer took records to write. */
static void
long_poll_batch(void *arg)
{
	long_poll_wake(arg, 0);
}

/* Hold the sync r. 0: held; -1: answer now. */
int
peersync_hold(struct req *r, uint64_t since, long wait_ms, const char *backup)
{
	struct long_poll *lp = calloc(1, sizeof(*lp));

	if (lp == NULL)
		return -1;
	lp->r = r;
	lp->since = since;
	lp->wait_ms = wait_ms;
	lp->deadline_ms = util_mono_ms() + wait_ms;
	util_strlcpy(lp->backup, backup, sizeof(lp->backup));
	pthread_mutex_lock(&lp_mu);
	if (!lp_stopped && nlps == caplps) {
		size_t n = caplps ? caplps * 2 : 8;
		struct long_poll **nv = realloc(lps, n * sizeof(*nv));
		if (nv != NULL) {
			lps = nv;
			caplps = n;
		}
	}
	if (lp_stopped || nlps == caplps) {
		pthread_mutex_unlock(&lp_mu);
		free(lp);
		return -1;
	}
	r->ctx = lp;
	r->on_resume = long_poll_resume;
	req_hold(r);
	lps[nlps++] = lp;
	pthread_mutex_unlock(&lp_mu);
	/* A commit between our look and the hold told nobody: look again. */
	long_poll_wake(r->srv, 0);
	return 0;
}

void
peersync_tick(struct server *srv)
{
	long_poll_wake(srv, 0);
	full_leases_expire();
}

void
peersync_start(struct server *srv)
{
	journal_set_listener(srv->journal, long_poll_batch, srv);
}

void
peersync_stop(struct server *srv)
{
	journal_set_listener(srv->journal, NULL, NULL);
	long_poll_stop(srv);
}

/* At stop: answer every held sync, and hold no more. */
static void
long_poll_stop(struct server *srv)
{
	pthread_mutex_lock(&lp_mu);
	lp_stopped = 1;
	pthread_mutex_unlock(&lp_mu);
	long_poll_wake(srv, 1);
	pthread_mutex_lock(&lp_mu);
	free(lps);
	lps = NULL;
	nlps = caplps = 0;
	pthread_mutex_unlock(&lp_mu);
}
