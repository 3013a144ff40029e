/* GET /: a read-only HTML status page for people: this server's Licenses
 * pane, the Primaries it backs up and its backups. Self-contained (no
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

/* 45s, 4m30s, 2h05m, 3d04h (as slctl prints durations). */
static void
fmt_age(char *buf, size_t size, double seconds)
{
	long s = (long)(seconds + 0.5);

	if (seconds < 10)
		snprintf(buf, size, "%.1fs", seconds < 0 ? 0 : seconds);
	else if (s < 60)
		snprintf(buf, size, "%lds", s);
	else if (s < 3600)
		snprintf(buf, size, "%ldm%02lds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, size, "%ldh%02ldm", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, size, "%ldd%02ldh", s / 86400, s % 86400 / 3600);
}

/* "0.4s ago", or "never" for a null age. */
static void
fmt_poll_age(char *buf, size_t size, json_t *age)
{
	char d[32];

	if (!json_is_number(age)) {
		snprintf(buf, size, "never");
		return;
	}
	fmt_age(d, sizeof(d), json_number_value(age));
	snprintf(buf, size, "%s ago", d);
}

/* A banner while the journal cannot write: this server grants nothing. */
static void
put_storage(FILE *f, struct server *srv)
{
	struct journal_storage st;
	char since[64];
	struct tm tm;

	if (journal_storage(srv->journal, &st))
		return;
	localtime_r(&st.since, &tm);
	strftime(since, sizeof(since), "%Y-%m-%d %H:%M:%S %Z", &tm);
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
	"if(down===null)down=new Date().toLocaleTimeString();" \
	"var s=document.getElementById('stale');s.textContent='The server has not answered " \
	"since '+down+' ('+e.message+'): the figures below are from before then.';" \
	"s.hidden=false;}).finally(function(){setTimeout(tick,%d);});}" \
	"setTimeout(tick,%d);})();"

/* What keeps a license from serving, or its pool from being backed up, as
 * slctl status marks it after the status: ",expired", ",wrong_host",
 * ",backup_lost". */
static void
put_marks(FILE *f, json_t *l, const char *redundancy)
{
	if (json_is_false(json_object_get(l, "servable"))) {
		fputs("<span class=\"mark\">,", f);
		put_escaped(f, json_str(l, "why", "unservable"));
		fputs("</span>", f);
	}
	if (strcmp(json_str(l, "role", ""), "primary") == 0 && strcmp(redundancy, "lost") == 0)
		fputs("<span class=\"mark\">,backup_lost</span>", f);
}

static void
put_licenses(FILE *f, json_t *lics, const char *redundancy)
{
	json_t *l;
	size_t i;

	fputs("<h2>Licenses</h2>\n", f);
	if (json_array_size(lics) == 0) {
		fputs("<p class=\"none\">This server has no licenses.</p>\n", f);
		return;
	}
	fputs("<table id=\"licenses\"><thead><tr><th>License</th><th>Product</th>"
	    "<th>Role</th><th>Status</th><th>In use</th><th>Max</th><th>Fails</th>"
	    "<th>Served by</th><th>Expires</th></tr></thead><tbody>\n", f);
	json_array_foreach(lics, i, l) {
		long long in_use = json_int(l, "in_use", 0), max = json_int(l, "max", 0);
		const char *status = json_str(l, "status", "");
		char n[32];

		fputs("<tr>", f);
		put_cell(f, "id", json_str(l, "id", ""));
		put_cell(f, NULL, json_str(l, "product", ""));
		put_cell(f, NULL, json_str(l, "role", ""));
		fputs("<td><span class=\"st ", f);
		put_escaped(f, status);
		fputs("\">", f);
		put_escaped(f, status);
		fputs("</span>", f);
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
		if (json_int(l, "queued", 0) > 0)
			fprintf(f, " <span class=\"queued\" title=\"checkouts waiting in the "
			    "queue\">%lld queued</span>", json_int(l, "queued", 0));
		fputs("</td>", f);
		if (max < 0)
			snprintf(n, sizeof(n), "unlimited");
		else
			snprintf(n, sizeof(n), "%lld", max);
		put_cell(f, "num", n);
		snprintf(n, sizeof(n), "%lld", json_int(l, "fails", 0));
		put_cell(f, "num", n);
		put_cell(f, NULL, json_str(l, "served_by", ""));
		put_cell(f, NULL, json_str(l, "expires", ""));
		fputs("</tr>\n", f);
	}
	fputs("</tbody></table>\n", f);
}

static void
put_failover(FILE *f, struct server *srv)
{
	json_t *h = json_object(), *backs, *backups, *p;
	char age[48], n[32];
	size_t i;

	failover_health(srv, h);
	backs = json_object_get(h, "backs_up");
	backups = json_object_get(h, "backups");

	fputs("<h2>Primaries this server backs up</h2>\n", f);
	if (json_array_size(backs) == 0) {
		fputs("<p class=\"none\">None.</p>\n", f);
	} else {
		fputs("<table id=\"backs-up\"><thead><tr><th>Primary</th><th>URL</th>"
		    "<th>Status</th><th>Last poll</th><th>Failed polls</th><th>Last error</th>"
		    "</tr></thead><tbody>\n", f);
		json_array_foreach(backs, i, p) {
			const char *status = json_str(p, "status", "");
			fputs("<tr>", f);
			put_cell(f, NULL, json_str(p, "pool", ""));
			put_cell(f, NULL, json_str(p, "url", ""));
			fputs("<td><span class=\"st ", f);
			put_escaped(f, status);
			fputs("\">", f);
			put_escaped(f, status);
			fputs("</span></td>", f);
			fmt_poll_age(age, sizeof(age), json_object_get(p, "last_poll_age"));
			put_cell(f, NULL, age);
			snprintf(n, sizeof(n), "%lld", json_int(p, "failed_polls", 0));
			put_cell(f, "num", n);
			put_cell(f, json_int(p, "refused_polls", 0) > 0 ? "lost" : NULL,
			    json_str(p, "last_error", "-"));
			fputs("</tr>\n", f);
		}
		fputs("</tbody></table>\n", f);
	}

	fputs("<h2>Backups of this server</h2>\n", f);
	if (json_array_size(backups) == 0) {
		fputs("<p class=\"none\">None: no backup polls this server.</p>\n", f);
	} else {
		fputs("<table id=\"backups\"><thead><tr><th>Backup</th><th>URL</th>"
		    "<th>Last poll</th><th>State</th></tr></thead><tbody>\n", f);
		json_array_foreach(backups, i, p) {
			int lost = strcmp(json_str(p, "state", ""), "lost") == 0;
			char state[80] = "polling";
			fputs("<tr>", f);
			put_cell(f, NULL, json_str(p, "name", ""));
			put_cell(f, NULL, json_str(p, "url", ""));
			fmt_poll_age(age, sizeof(age), json_object_get(p, "last_poll_age"));
			put_cell(f, NULL, age);
			if (lost) {
				struct tm tm;
				time_t t = (time_t)json_int(p, "since", 0);
				localtime_r(&t, &tm);
				strftime(state, sizeof(state), "lost since %Y-%m-%d %H:%M:%S %Z", &tm);
			}
			put_cell(f, lost ? "lost" : NULL, state);
			fputs("</tr>\n", f);
		}
		fputs("</tbody></table>\n", f);
	}
	json_decref(h);
}

void
api_status_page(struct req *r, const char *arg)
{
	struct server *srv = r->srv;
	char *text = NULL, up[32], now[64];
	size_t len = 0;
	time_t t = time(NULL);
	struct tm tm;
	FILE *f;

	(void)arg;
	if ((f = open_memstream(&text, &len)) == NULL) {
		req_error(r, 503, "out_of_memory", "server out of memory");
		return;
	}
	fmt_age(up, sizeof(up), (util_mono_ms() - srv->started_mono_ms) / 1000.0);
	localtime_r(&t, &tm);
	strftime(now, sizeof(now), "%Y-%m-%d %H:%M:%S %Z", &tm);

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
	put_storage(f, srv);

	json_t *lics = store_licenses_json(srv->store);
	queue_annotate(lics);
	put_licenses(f, lics, failover_redundancy(srv));
	json_decref(lics);
	put_failover(f, srv);

	fprintf(f, "</main>\n<footer>Read-only; refreshed every %d seconds. The same "
	    "figures as JSON: <a href=\"v1/licenses\">/v1/licenses</a>, "
	    "<a href=\"v1/health\">/v1/health</a>; for Prometheus: "
	    "<a href=\"metrics\">/metrics</a>.</footer>\n<script>", REFRESH_SECONDS);
	fprintf(f, STATUS_SCRIPT, REFRESH_SECONDS * 1000, REFRESH_SECONDS * 1000);
	fputs("</script>\n</body></html>\n", f);
	if (fclose(f) != 0 || text == NULL) {
		free(text);
		req_error(r, 503, "out_of_memory", "server out of memory");
		return;
	}
	r->raw = text;
	r->rawlen = len;
	r->content_type = "text/html; charset=utf-8";
}
