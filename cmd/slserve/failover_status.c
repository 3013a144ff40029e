/*
 * failover_status.c: what failover reports. The failover part of
 * /v1/health (the backups that poll us, the Primaries we back up), the
 * same typed for /metrics and the status page, the one-line redundancy
 * summary, and GET /v1/admin/failover.
 */
#include <stdlib.h>
#include <string.h>

#include "failover.h"
#include "failover_int.h"
#include "fence.h"
#include "json.h"
#include "server.h"
#include "util.h"

/* A backup that polls us as the views see it; with fo->mu held. */
static void
backup_view_fill(const struct backup_seen *b, int64_t now, struct backup_view *v)
{
	util_strlcpy(v->name, b->name, sizeof(v->name));
	util_strlcpy(v->url, b->url, sizeof(v->url));
	v->polled = b->last_ms != 0;
	v->last_poll_age = (now - b->last_ms) / 1000.0;
	v->lost = b->lost;
	v->lost_since = b->lost_since;
}

void
failover_view(struct server *srv, struct failover_view *v)
{
	struct failover *fo = fo_of(srv);
	int64_t now = util_mono_ms();

	memset(v, 0, sizeof(*v));
	pthread_mutex_lock(&fo->mu);
	v->backups = calloc(fo->nbackups + 1, sizeof(*v->backups));
	v->primaries = calloc(fo->npollers + 1, sizeof(*v->primaries));
	if (v->backups != NULL && v->primaries != NULL) {
		for (size_t i = 0; i < fo->nbackups; i++)
			backup_view_fill(&fo->backups[i], now, &v->backups[v->nbackups++]);
		for (size_t i = 0; i < fo->npollers; i++)
			poller_view(srv, fo->pollers[i], now, &v->primaries[v->nprimaries++]);
	}
	pthread_mutex_unlock(&fo->mu);
}

void
failover_view_free(struct failover_view *v)
{
	free(v->backups);
	free(v->primaries);
}

const char *
failover_view_redundancy(const struct failover_view *v)
{
	for (size_t i = 0; i < v->nbackups; i++)
		if (v->backups[i].lost)
			return "lost";
	return v->nbackups > 0 ? "ok" : "none";
}

void
failover_health(struct server *srv, json_t *health)
{
	struct failover *fo = fo_of(srv);
	json_t *backups = json_array(), *backs = json_array();
	int64_t now = util_mono_ms();
	struct backup_view b;

	pthread_mutex_lock(&fo->mu);
	for (size_t i = 0; i < fo->nbackups; i++) {
		backup_view_fill(&fo->backups[i], now, &b);
		json_array_append_new(backups, json_pack("{s:s, s:s, s:o, s:s, s:o}", "name",
		    b.name, "url", b.url, "last_poll_age",
		    b.polled ? json_real(b.last_poll_age) : json_null(),
		    "state", b.lost ? "lost" : "polling",
		    "since", b.lost ? json_integer((json_int_t)b.lost_since) : json_null()));
	}
	for (size_t i = 0; i < fo->npollers; i++) {
		json_t *o = poller_json(srv, fo->pollers[i], now);
		/* health names the Primary "pool"; the failover settings "name" */
		json_object_set(o, "pool", json_object_get(o, "name"));
		json_object_del(o, "name");
		json_array_append_new(backs, o);
	}
	pthread_mutex_unlock(&fo->mu);
	/* Each backup's promise not to take over (fence.c). */
	json_t *fences = fence_json(srv->fence), *v, *fv;
	size_t i, k;
	json_array_foreach(backups, i, v) {
		json_array_foreach(fences, k, fv) {
			if (strcmp(js_str(fv, "name", ""), js_str(v, "name", "")) != 0)
				continue;
			json_object_set(v, "fence", json_object_get(fv, "fence"));
			if (json_object_get(fv, "fence_left") != NULL)
				json_object_set(v, "fence_left", json_object_get(fv, "fence_left"));
		}
	}
	json_decref(fences);
	json_object_set_new(health, "backups", backups);
	json_object_set_new(health, "backs_up", backs);
}

const char *
failover_redundancy(struct server *srv)
{
	struct failover *fo = fo_of(srv);
	const char *r = "none";

	pthread_mutex_lock(&fo->mu);
	for (size_t i = 0; i < fo->nbackups; i++)
		if (fo->backups[i].lost)
			r = "lost";
		else if (strcmp(r, "none") == 0)
			r = "ok";
	pthread_mutex_unlock(&fo->mu);
	return r;
}

void
api_failover_get(struct req *r, const char *arg)
{
	struct server *srv = r->srv;
	struct failover *fo = fo_of(srv);
	json_t *arr = json_array();
	int64_t now = util_mono_ms();

	(void)arg;
	pthread_mutex_lock(&fo->mu);
	for (size_t i = 0; i < fo->npollers; i++)
		json_array_append_new(arr, poller_json(srv, fo->pollers[i], now));
	pthread_mutex_unlock(&fo->mu);
	r->reply.status = 200;
	r->reply.body = json_pack("{s:s, s:o}", "server", srv->cfg.name, "failover", arr);
}
