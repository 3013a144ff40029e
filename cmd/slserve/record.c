/*
 * record.c: the store's JSON: a lease as the journal, snapshots and peers
 * record it, the answer to a grant and to an error, the usage log's lines,
 * the journal records of a grant, renewal and end, and the lists of leases
 * and licenses the API shows. store_list_leases and store_licenses_json take
 * the store lock themselves; reply_error and the record_set_ setters need
 * none; everything else here expects it held.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"
#include "json.h"
#include "store.h"
#include "store_int.h"
#include "util.h"

void
reply_error(struct reply *r, unsigned status, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_decref(r->body);
	r->status = status;
	r->body = json_pack("{s:s, s:s}", "error", code, "message", msg);
	r->wait_seq = 0;
}

long
heartbeat_interval(long timeout)
{
	if (timeout <= 0)
		return 0;
	return timeout / 3 > 0 ? timeout / 3 : 1;
}

/*
 * The objects a checkout or checkin builds (its answer, its journal record,
 * its usage line) are made member by member, without json_pack's format
 * parsing and UTF-8 checks, which would be most of their cost: every string
 * is an id checked when it came in (request, licenses file) or text
 * jansson itself decoded, valid UTF-8 either way.
 */
void
record_set_str(json_t *o, const char *key, const char *v)
{
	json_object_set_new_nocheck(o, key, json_string_nocheck(v));
}

void
record_set_int(json_t *o, const char *key, json_int_t v)
{
	json_object_set_new_nocheck(o, key, json_integer(v));
}

/* Whole seconds left of a borrow (0 when over). */
long
borrow_left(const struct lease *l)
{
	int64_t left = l->borrowed_until_ms - now_ms();

	return left > 0 ? (long)((left + 999) / 1000) : 0;
}

json_t *
lease_grant_json(const struct store *s, const struct lease *l)
{
	json_t *o = json_object();

	record_set_str(o, "lease", l->id);
	record_set_str(o, "license", l->lic->def.id);
	record_set_str(o, "product", l->product);
	record_set_str(o, "pool", l->lic->pool->name);
	record_set_str(o, "server", s->name);
	if (l->borrowed_until_ms > 0) {
		/* A borrow needs no heartbeats: it ends at a fixed time. */
		record_set_int(o, "expires_in", borrow_left(l));
		record_set_int(o, "heartbeat_interval", 0);
		record_set_int(o, "borrowed_until", l->borrowed_until_ms / 1000);
		return o;
	}
	record_set_int(o, "expires_in", l->lic->def.timeout);
	record_set_int(o, "heartbeat_interval", heartbeat_interval(l->lic->def.timeout));
	return o;
}

/* The lease as the journal, snapshots and peers see it. Its expiry is the
 * journaled one, not what heartbeats made it since: a snapshot that wrote
 * the longer one would let every restart add half a timeout again. */
json_t *
record_json(const struct lease_text *t, long pid, time_t since, int64_t expires_ms,
    int64_t tomb_until_ms, int handed_back)
{
	json_t *o = json_object();

	record_set_str(o, "id", t->id);
	record_set_str(o, "license", t->license);
	record_set_str(o, "product", t->product);
	record_set_str(o, "pool", t->pool);
	record_set_str(o, "client", t->client);
	record_set_str(o, "user", t->user);
	record_set_str(o, "host", t->host);
	if (t->addr[0] != '\0')
		record_set_str(o, "addr", t->addr);
	record_set_int(o, "pid", pid);
	record_set_int(o, "since", since);
	record_set_int(o, "expires_ms", expires_ms);
	if (tomb_until_ms > 0)
		json_object_set_new(o, "tomb_until_ms", json_integer(tomb_until_ms));
	if (handed_back)
		json_object_set_new(o, "handed_back", json_true());
	return o;
}

json_t *
lease_record_json(const struct lease *l)
{
	struct lease_text t = { l->id, l->lic->def.id, l->product, l->lic->pool->name,
	    l->client, l->user, l->host, l->addr };

	json_t *o = record_json(&t, l->pid, l->since, l->journaled_ms, l->tomb_until_ms,
	    l->handed_back);

	if (l->adopted)
		json_object_set_new(o, "adopted", json_true());
	if (l->borrowed_until_ms > 0)
		record_set_int(o, "borrowed_until_ms", l->borrowed_until_ms);
	return o;
}

json_t *
usage_json(const struct lease *l)
{
	json_t *o = json_object();

	record_set_str(o, "license", l->lic->def.id);
	record_set_str(o, "product", l->product);
	record_set_str(o, "pool", l->lic->pool->name);
	record_set_str(o, "lease", l->id);
	record_set_str(o, "client", l->client);
	record_set_str(o, "user", l->user);
	record_set_str(o, "host", l->host);
	record_set_int(o, "pid", l->pid);
	record_set_int(o, "in_use", l->lic->in_use);
	record_set_int(o, "max", l->lic->def.count);
	return o;
}

/* Journal {"op":op,"lease":lease,"why":why}; lease is consumed. */
uint64_t
journal_record(struct store *s, const char *op, json_t *lease, const char *why)
{
	json_t *rec = json_object();

	record_set_str(rec, "op", op);
	json_object_set_new_nocheck(rec, "lease", lease);
	if (why != NULL)
		record_set_str(rec, "why", why);
	uint64_t seq = journal_append(s->journal, rec);
	json_decref(rec);
	return seq;
}

uint64_t
journal_lease(struct store *s, const char *op, const struct lease *l, const char *why)
{
	return journal_record(s, op, lease_record_json(l), why);
}

/* The record of a lease's end: its id and pool are all that replay and a
 * peer's mirror need (a handback's release, a tombstone, carries the whole
 * lease). Half the JSON of a checkin was the whole lease dumped again. */
uint64_t
journal_release(struct store *s, const struct lease *l, const char *why)
{
	json_t *lj = json_object();

	record_set_str(lj, "id", l->id);
	record_set_str(lj, "pool", l->lic->pool->name);
	return journal_record(s, "release", lj, why);
}

/* Journal a lease's expiry as it is now: {"op":"renew","lease":{"id","pool",
 * "expires_ms"}}. */
void
lease_journal_expiry(struct store *s, struct lease *l)
{
	json_t *lj = json_object();

	record_set_str(lj, "id", l->id);
	record_set_str(lj, "pool", l->lic->pool->name);
	record_set_int(lj, "expires_ms", l->expires_ms);
	l->journaled_ms = l->expires_ms;
	l->journaled_seq = journal_record(s, "renew", lj, NULL);
}

void
store_list_leases(struct store *s, const char *product, int holders_only, struct reply *r)
{
	json_t *arr = json_array();
	int64_t now = now_ms();

	memset(r, 0, sizeof(*r));
	pthread_mutex_lock(&s->lock);
	for (struct lease *l = s->head; l != NULL; l = l->next) {
		if (l->tomb_until_ms > 0)
			continue;
		if (product != NULL && strcmp(product, l->product) != 0)
			continue;
		json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}",
		    "license", l->lic->def.id, "product", l->product, "pool", l->lic->pool->name,
		    "user", l->user, "host", l->host, "since", (json_int_t)l->since);
		if (!holders_only) {
			json_object_set_new(o, "lease", json_string(l->id));
			json_object_set_new(o, "client", json_string(l->client));
			json_object_set_new(o, "pid", json_integer(l->pid));
		}
		if (l->expires_ms > 0)
			json_object_set_new(o, "expires_in", json_integer(
			    (l->expires_ms - now) > 0 ? (l->expires_ms - now + 999) / 1000 : 0));
		else
			json_object_set_new(o, "expires_in", json_null());
		if (l->borrowed_until_ms > 0)
			json_object_set_new(o, "borrowed_until",
			    json_integer(l->borrowed_until_ms / 1000));
		json_array_append_new(arr, o);
	}
	pthread_mutex_unlock(&s->lock);
	r->status = 200;
	r->body = json_pack("{s:s, s:o}", "server", s->name, "leases", arr);
}

json_t *
store_licenses_json(struct store *s)
{
	json_t *arr = json_array();

	pthread_mutex_lock(&s->lock);
	/* A warm backup shows the seats its Primary holds, as last mirrored. */
	store_count_mirrored(s);
	for (size_t i = 0; i < s->nlics; i++) {
		struct lic *l = s->lics[i];
		if (l->retired)
			continue;
		long in_use = l->in_use + l->mirrored;
		json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:s, s:I, s:s, s:s}",
		    "id", l->def.id, "product", l->def.product,
		    "in_use", (json_int_t)in_use, "max", (json_int_t)l->def.count,
		    "fails", (json_int_t)l->fails,
		    "role", l->pool->own ? "primary" : "backup",
		    "status", pool_status_str(l->pool->status),
		    "served_by", l->pool->status == POOL_WARM ? l->pool->name : s->name,
		    "expires", l->def.expires, "timeout", (json_int_t)l->def.timeout,
		    "pool", l->pool->name, "host", l->def.host);
		if (!l->pool->own) {
			json_object_set_new(o, "primary", json_string(l->pool->name));
			json_object_set_new(o, "last_poll_age", l->pool->last_poll_ms > 0 ?
			    json_real((util_mono_ms() - l->pool->last_poll_ms) / 1000.0) :
			    json_null());
		}
		/* As a checkout would find it (store_checkout): a backup serves
		 * its Primary's licenses whatever host they name. */
		const char *why = license_expired(&l->def) ? "expired" : l->pool->own &&
		    !license_host_matches(&l->def, s->host_id) ? "wrong_host" : NULL;
		if (l->lingering > 0)
			json_object_set_new(o, "lingering", json_integer(l->lingering));
		json_object_set_new(o, "servable", json_boolean(why == NULL));
		if (why != NULL)
			json_object_set_new(o, "why", json_string(why));
		json_array_append_new(arr, o);
	}
	pthread_mutex_unlock(&s->lock);
	return arr;
}
