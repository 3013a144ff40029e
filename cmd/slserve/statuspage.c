/* GET /: a read-only HTML status page for people: a one-line summary (all
 * well, or what is wrong and since when, and which server serves which
 * pool), this server's Licenses pane with a legend, the Primaries it backs
 * up and its backups, all from one typed view of the licenses and one of
 * failover, so that the parts agree; every time in UTC. Self-contained (no
 * external assets); every value is HTML-escaped. A small inline script
 * fetches the page again every few seconds and swaps the content in, so a
 * server that stops answering leaves the last figures on screen with a
 * warning instead of a browser error page. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "failover.h"
#include "journal.h"
#include "json.h"
#include "legend.h"
#include "queue.h"
#include "server.h"
#include "store.h"
#include "util.h"

#define REFRESH_SECONDS 5

static void
put_escaped(FILE *f, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default: fputc(*s, f);
		}
	}
}

/* <td class="cls">escaped text</td> */
static void
put_cell(FILE *f, const char *cls, const char *text)
{
	fputs(cls ? "<td class=\"" : "<td>", f);
	if (cls != NULL) {
		put_escaped(f, cls);
		fputs("\">", f);
	}
	put_escaped(f, text);
	fputs("</td>", f);
}

/* A status as a coloured badge: <span class="st hot">hot</span>. */
static void
put_status(FILE *f, const char *status)
{
	fputs("<span class=\"st ", f);
	put_escaped(f, status);
	fputs("\">", f);
	put_escaped(f, status);
	fputs("</span>", f);
}

/* "0.4s ago", or "never" when not polled. */
static void
fmt_poll_age(char *buf, size_t size, int polled, double age)
{
	char d[32];

	if (!polled) {
		snprintf(buf, size, "never");
		return;
	}
	util_fmt_duration(d, sizeof(d), age, 1);
	snprintf(buf, size, "%s ago", d);
}

/* A wall-clock time as people read it on the page: always UTC. */
static void
fmt_utc(char *buf, size_t size, time_t t)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/* A banner while the journal cannot write: this server grants nothing. */
static void
put_storage(FILE *f, struct server *srv)
{
	struct journal_storage st;
	char since[64];

	if (journal_storage(srv->journal, &st))
		return;
	fmt_utc(since, sizeof(since), st.since);
	fputs("<p class=\"storage-fault\" id=\"storage\"><strong>Storage unavailable</strong> "
	    "since ", f);
	put_escaped(f, since);
	fputs(": ", f);
	put_escaped(f, st.error);
	fputs(". Checkouts, checkins and revokes are answered 503 until it can write "
	    "again.</p>\n", f);
}

static const char style[] =
	"body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}"
	"h1{font-size:1.5em;margin:0}h2{font-size:1.15em;margin:1.6em 0 .5em}"
	".meta{color:#555;margin:.2em 0 0}"
	"table{border-collapse:collapse;background:#fff;min-width:40em}"
	"th,td{border:1px solid #ddd;padding:.3em .7em;text-align:left;white-space:nowrap}"
	"th{background:#eee}td.num{text-align:right;font-variant-numeric:tabular-nums}"
	".st{display:inline-block;padding:0 .5em;border-radius:.6em;color:#fff;background:#777}"
	".st.hot{background:#2e7d32}.st.hot-warm{background:#00796b}"
	".st.warm{background:#6d6d6d}.st.hot-retry{background:#e65100}"
	".use{display:flex;align-items:center;gap:.5em}"
	".bar{width:8em;height:.8em;background:#e3e3e3;border-radius:.4em;overflow:hidden}"
	".bar>span{display:block;height:100%;background:#43a047}"
	".bar>span.high{background:#f9a825}.bar>span.full{background:#c62828}"
	".none{color:#666;font-style:italic}"
	"#summary{font-size:1.1em;padding:.5em .8em;margin:1em 0;border:1px solid}"
	"#summary.ok{background:#e8f5e9;border-color:#2e7d32}"
	"#summary.trouble{background:#fff3e0;border-color:#e65100}"
	"#legend{color:#444;margin:.8em 0 0}#legend dt{float:left;clear:left;width:7.5em;"
	"font-weight:bold}#legend dd{margin:0 0 .2em 8em}"
	".mark,.lost{color:#c62828;font-weight:bold}"
	"#stale,.storage-fault{background:#ffebee;border:1px solid #c62828;padding:.4em .8em;"
	"margin:0 0 1em}"
	"footer{margin-top:2em;color:#666}";

#define STATUS_SCRIPT \
	"(function(){var down=null;" \
	"function tick(){fetch(location.pathname,{cache:'no-store'}).then(function(r){" \
	"if(!r.ok)throw new Error('HTTP '+r.status);return r.text();}).then(function(t){" \
	"var n=new DOMParser().parseFromString(t,'text/html').getElementById('page');" \
	"if(n)document.getElementById('page').replaceWith(n);" \
	"var b=document.body;b.dataset.refreshes=+b.dataset.refreshes+1;" \
	"down=null;document.getElementById('stale').hidden=true;}).catch(function(e){" \
	"if(down===null)down=new Date().toISOString().slice(0,19).replace('T',' ')+' UTC';" \
	"var s=document.getElementById('stale');s.textContent='The server has not answered " \
	"since '+down+' ('+e.message+'): the figures below are from before then.';" \
	"s.hidden=false;}).finally(function(){setTimeout(tick,%d);});}" \
	"setTimeout(tick,%d);})();"

/* What keeps a license from serving, or its pool from being backed up, as
 * slctl status marks it after the status: ",expired", ",wrong_host",
 * ",backup_lost". */
static void
put_marks(FILE *f, const struct lic_view *l, const char *redundancy)
{
	if (l->why != LIC_SERVABLE) {
		fputs("<span class=\"mark\">,", f);
		put_escaped(f, lic_unservable_str(l->why));
		fputs("</span>", f);
	}
	if (l->own && strcmp(redundancy, "lost") == 0)
		fputs("<span class=\"mark\">,backup_lost</span>", f);
}

static void
put_licenses(FILE *f, const struct lic_view *lics, size_t nlics, const char *redundancy)
{
	fputs("<h2>Licenses</h2>\n", f);
	if (nlics == 0) {
		fputs("<p class=\"none\">This server has no licenses.</p>\n", f);
		return;
	}
	fputs("<table id=\"licenses\"><thead><tr><th>License</th><th>Product</th>"
	    "<th>Role</th><th>Status</th><th>In use</th><th>Max</th><th>Denials</th>"
	    "<th>Served by</th><th>Expires</th></tr></thead><tbody>\n", f);
	for (const struct lic_view *l = lics; l < lics + nlics; l++) {
		long long in_use = l->in_use, max = l->count;
		char n[32];

		fputs("<tr>", f);
		put_cell(f, "id", l->id);
		put_cell(f, NULL, l->product);
		put_cell(f, NULL, l->own ? "primary" : "backup");
		fputs("<td>", f);
		put_status(f, pool_status_str(l->status));
		put_marks(f, l, redundancy);
		fputs("</td>", f);

		/* The bar: share of seats in use; unlimited licenses get none. */
		int pct = max > 0 ? (int)(in_use * 100 / max) : (max == 0 ? 100 : 0);
		if (pct > 100)
			pct = 100;
		fprintf(f, "<td class=\"num\"><div class=\"use\"><div class=\"bar\" "
		    "title=\"%s\"><span class=\"%s\" style=\"width:%d%%\"></span></div>"
		    "<span class=\"in-use\">%lld</span></div>",
		    max < 0 ? "unlimited" : "seats in use",
		    max >= 0 && in_use >= max ? "full" : pct >= 80 ? "high" : "", pct, in_use);
		/* checkouts waiting for a seat of its product (queue.c) */
		if (l->queued > 0)
			fprintf(f, " <span class=\"queued\" title=\"checkouts waiting in the "
			    "queue\">%ld queued</span>", l->queued);
		fputs("</td>", f);
		if (max < 0)
			snprintf(n, sizeof(n), "unlimited");
		else
			snprintf(n, sizeof(n), "%lld", max);
		put_cell(f, "num", n);
		snprintf(n, sizeof(n), "%ld", l->fails);
		put_cell(f, "num", n);
		put_cell(f, NULL, l->served_by);
		put_cell(f, NULL, l->expires);
		fputs("</tr>\n", f);
	}
	fputs("</tbody></table>\n", f);
}

static void
put_failover(FILE *f, const struct failover_view *fv)
{
	char age[48], n[32];

	fputs("<h2>Primaries this server backs up</h2>\n", f);
	if (fv->nprimaries == 0) {
		fputs("<p class=\"none\">None.</p>\n", f);
	} else {
		fputs("<table id=\"backs-up\"><thead><tr><th>Primary</th><th>URL</th>"
		    "<th>Status</th><th>Last poll</th><th>Failed polls</th><th>Last error</th>"
		    "</tr></thead><tbody>\n", f);
		for (size_t i = 0; i < fv->nprimaries; i++) {
			const struct primary_view *p = &fv->primaries[i];
			fputs("<tr>", f);
			put_cell(f, NULL, p->pool);
			put_cell(f, NULL, p->url);
			fputs("<td>", f);
			put_status(f, pool_status_str(p->status));
			fputs("</td>", f);
			fmt_poll_age(age, sizeof(age), p->polled, p->last_poll_age);
			put_cell(f, NULL, age);
			snprintf(n, sizeof(n), "%d", p->failed_polls);
			put_cell(f, "num", n);
			put_cell(f, p->refused_polls > 0 ? "lost" : NULL,
			    p->last_error[0] != '\0' ? p->last_error : "-");
			fputs("</tr>\n", f);
		}
		fputs("</tbody></table>\n", f);
	}

	fputs("<h2>Backups of this server</h2>\n", f);
	if (fv->nbackups == 0) {
		fputs("<p class=\"none\">None: no backup polls this server.</p>\n", f);
	} else {
		fputs("<table id=\"backups\"><thead><tr><th>Backup</th><th>URL</th>"
		    "<th>Last poll</th><th>State</th></tr></thead><tbody>\n", f);
		for (size_t i = 0; i < fv->nbackups; i++) {
			const struct backup_view *b = &fv->backups[i];
			char state[80] = "polling";
			fputs("<tr>", f);
			put_cell(f, NULL, b->name);
			put_cell(f, NULL, b->url);
			fmt_poll_age(age, sizeof(age), b->polled, b->last_poll_age);
			put_cell(f, NULL, age);
			if (b->lost) {
				char since[64];
				fmt_utc(since, sizeof(since), b->lost_since);
				snprintf(state, sizeof(state), "lost since %s", since);
			}
			put_cell(f, b->lost ? "lost" : NULL, state);
			fputs("</tr>\n", f);
		}
		fputs("</tbody></table>\n", f);
	}
}

/* Append ", " or "; " and then text to the summary being built. */
static void
summary_add(FILE *f, int *n, const char *sep)
{
	if ((*n)++ > 0)
		fputs(sep, f);
}

/*
 * The line a person reads first: "All well." or "Trouble:" with what is
 * wrong and since when (storage, a Primary down and this backup serving
 * its pool, refused polls, a lost backup, licenses that cannot serve),
 * then which server serves which pool.
 */
static void
put_summary(FILE *f, struct server *srv, const struct lic_view *lics, size_t nlics,
    const struct failover_view *fv, time_t now)
{
	struct journal_storage st;
	char *trouble = NULL, *serving = NULL, when[64], age[32];
	size_t tlen = 0, slen = 0, i;
	int nt = 0, ns = 0, own = 0;
	FILE *t, *sv;

	if ((t = open_memstream(&trouble, &tlen)) == NULL)
		return;
	if ((sv = open_memstream(&serving, &slen)) == NULL) {
		fclose(t);
		free(trouble);
		return;
	}
	if (!journal_storage(srv->journal, &st)) {
		fmt_utc(when, sizeof(when), st.since);
		summary_add(t, &nt, "; ");
		fputs("storage unavailable since ", t);
		put_escaped(t, when);
		fputs(": this server grants no seat", t);
	}

	/* This server's own pool, and the backups that watch it. */
	for (i = 0; i < nlics; i++)
		own += lics[i].own != 0;
	summary_add(sv, &ns, "; ");
	put_escaped(sv, srv->cfg.name);
	fprintf(sv, " (this server) serves its own pool (%d license%s)", own,
	    own == 1 ? "" : "s");
	int polling = 0;
	for (i = 0; i < fv->nbackups; i++) {
		const struct backup_view *b = &fv->backups[i];
		if (b->lost) {
			fmt_utc(when, sizeof(when), b->lost_since);
			summary_add(t, &nt, "; ");
			fputs("backup ", t);
			put_escaped(t, b->name);
			fputs(" lost since ", t);
			put_escaped(t, when);
			fputs(": nothing would take over if this server failed", t);
			continue;
		}
		fputs(polling++ == 0 ? ", backed up by " : " and ", sv);
		put_escaped(sv, b->name);
	}

	/* The Primaries this server backs up. */
	for (i = 0; i < fv->nprimaries; i++) {
		const struct primary_view *p = &fv->primaries[i];
		const char *pool = p->pool;

		summary_add(sv, &ns, "; ");
		if (p->status == POOL_HOT_RETRY) {
			summary_add(t, &nt, "; ");
			put_escaped(t, pool);
			if (p->polled) {
				fmt_utc(when, sizeof(when), now - (time_t)p->last_poll_age);
				fputs(" has not answered since ", t);
				put_escaped(t, when);
			} else
				fputs(" has not answered since this server started", t);
			fputs(", and this server serves its licenses", t);
			put_escaped(sv, srv->cfg.name);
			fputs(" serves pool ", sv);
			put_escaped(sv, pool);
			fputs(" while ", sv);
			put_escaped(sv, pool);
			fputs(" is down", sv);
			continue;
		}
		if (p->refused_polls > 0) {
			summary_add(t, &nt, "; ");
			put_escaped(t, pool);
			fputs(" refuses this server's polls (", t);
			put_escaped(t, p->last_error[0] != '\0' ? p->last_error : "refused");
			fputs("): this server does not back it up", t);
		}
		put_escaped(sv, pool);
		fputs(" serves its own pool, backed up by ", sv);
		put_escaped(sv, srv->cfg.name);
		if (p->polled) {
			util_fmt_duration(age, sizeof(age), p->last_poll_age, 1);
			fprintf(sv, " (last poll %s ago)", age);
		} else
			fputs(" (no good poll yet)", sv);
	}

	/* Licenses that cannot grant a seat. */
	for (i = 0; i < nlics; i++) {
		if (lics[i].why == LIC_SERVABLE)
			continue;
		summary_add(t, &nt, "; ");
		fputs("license ", t);
		put_escaped(t, lics[i].id);
		if (lics[i].why == LIC_EXPIRED) {
			fputs(" expired ", t);
			put_escaped(t, lics[i].expires);
		} else
			fputs(" is bound to another host", t);
		fputs(" and grants no seat", t);
	}
	fclose(t);
	fclose(sv);

	fprintf(f, "<p id=\"summary\" class=\"%s\">", nt > 0 ? "trouble" : "ok");
	if (nt > 0)
		fprintf(f, "<strong>Trouble:</strong> %s. ", trouble);
	else
		fputs("<strong>All well.</strong> ", f);
	fprintf(f, "%s.</p>\n", serving);
	free(trouble);
	free(serving);
}

/* What the statuses and markers mean, in the words of slctl status -v. */
static void
put_legend(FILE *f)
{
	size_t i;

	fputs("<dl id=\"legend\">\n", f);
	for (i = 0; i < legend_nstatuses; i++) {
		fputs("<dt>", f);
		put_status(f, legend_statuses[i].name);
		fputs("</dt><dd>", f);
		put_escaped(f, legend_statuses[i].meaning);
		fputs(".</dd>\n", f);
	}
	for (i = 0; i < legend_nmarks; i++) {
		fputs("<dt>", f);
		/* the column is "Denials" on the page */
		put_escaped(f, strcmp(legend_marks[i].name, "DENIALS") == 0 ? "Denials" :
		    legend_marks[i].name);
		fputs("</dt><dd>", f);
		put_escaped(f, legend_marks[i].meaning);
		fputs(".</dd>\n", f);
	}
	fputs("</dl>\n", f);
}

void
api_status_page(struct req *r, const char *arg)
{
	struct server *srv = r->srv;
	char up[32], now[64];
	time_t t = time(NULL);
	FILE *f;

	(void)arg;
	if ((f = req_text_open(r)) == NULL)
		return;
	util_fmt_duration(up, sizeof(up), (util_mono_ms() - srv->started_mono_ms) / 1000.0,
	    1);
	fmt_utc(now, sizeof(now), t);

	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	    "style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'\">\n", f);
	fprintf(f, "<noscript><meta http-equiv=\"refresh\" content=\"%d\"></noscript>\n",
	    REFRESH_SECONDS);
	fputs("<title>", f);
	put_escaped(f, srv->cfg.name);
	fprintf(f, " - sl license server</title>\n<style>%s</style>\n</head><body data-refreshes=\"0\">\n"
	    "<div id=\"stale\" hidden></div>\n<main id=\"page\">\n<h1>", style);
	put_escaped(f, srv->cfg.name);
	fputs("</h1>\n<p class=\"meta\">slserve ", f);
	put_escaped(f, SL_VERSION);
	fputs(" &middot; ", f);
	put_escaped(f, srv->cfg.url);
	fputs(" &middot; epoch ", f);
	put_escaped(f, srv->epoch);
	fputs(" &middot; up ", f);
	put_escaped(f, up);
	fputs(" &middot; as of <span id=\"as-of\">", f);
	put_escaped(f, now);
	fputs("</span></p>\n", f);
	size_t nlics;
	struct lic_view *lics = store_lic_views(srv->store, &nlics);
	struct failover_view fv;
	failover_view(srv, &fv);
	put_summary(f, srv, lics, nlics, &fv, t);
	put_storage(f, srv);

	queue_count_views(lics, nlics);
	put_licenses(f, lics, nlics, failover_view_redundancy(&fv));
	put_legend(f);
	free(lics);
	put_failover(f, &fv);
	failover_view_free(&fv);

	fprintf(f, "</main>\n<footer>Read-only; refreshed every %d seconds. The same "
	    "figures as JSON: <a href=\"v1/licenses\">/v1/licenses</a>, "
	    "<a href=\"v1/health\">/v1/health</a>; for Prometheus: "
	    "<a href=\"metrics\">/metrics</a>.</footer>\n<script>", REFRESH_SECONDS);
	fprintf(f, STATUS_SCRIPT, REFRESH_SECONDS * 1000, REFRESH_SECONDS * 1000);
	fputs("</script>\n</body></html>\n", f);
	req_text_close(r, f, "text/html; charset=utf-8");
}

void
api_status_page_private(struct req *r)
{
	struct server *srv = r->srv;
	FILE *f;

	if ((f = req_text_open(r)) == NULL)
		return;
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	    "style-src 'unsafe-inline'\">\n<title>", f);
	put_escaped(f, srv->cfg.name);
	fprintf(f, " - sl license server</title>\n<style>%s</style>\n</head><body>\n"
	    "<main id=\"private\">\n<h1>", style);
	put_escaped(f, srv->cfg.name);
	fputs("</h1>\n<p id=\"notice\">This status page is private "
	    "(<code>public_status = false</code> in slserve.conf): it needs the admin "
	    "token of server &quot;", f);
	put_escaped(f, srv->cfg.name);
	fputs("&quot;, which a browser does not send.</p>\n<ul id=\"how\">\n"
	    "<li>With the token (the <code>admin_token_file</code> of slserve.conf, by "
	    "default <code>admin.token</code> in its <code>state_dir</code>):<br>"
	    "<code>curl -H &quot;Authorization: Bearer $(cat STATE_DIR/admin.token)&quot; ", f);
	put_escaped(f, srv->cfg.url);
	fputs("/</code></li>\n<li>The licenses, without a token: <code>slctl -s ", f);
	put_escaped(f, srv->cfg.url);
	fputs(" status</code>, or <code>GET /v1/licenses</code> and "
	    "<code>GET /v1/health</code>.</li>\n"
	    "<li>To show this page to everyone: set <code>public_status = true</code> "
	    "in slserve.conf and restart slserve.</li>\n</ul>\n</main>\n</body></html>\n", f);
	if (req_text_close(r, f, "text/html; charset=utf-8") != 0)
		return;
	json_decref(r->reply.body);
	r->reply.body = NULL;
	r->reply.status = 401;
}
