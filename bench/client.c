/*
 * loadgen's control requests: a blocking keep-alive HTTP/1.1 client over
 * the engine's parser, for requests that set up, check or time one thing
 * at a time (health, /v1/licenses, a peer sync), and the scraper of the
 * server's /metrics histograms. Every call has a deadline. It is not
 * common/http.h's libcurl client because it also times requests (GET
 * /v1/licenses, peer syncs, an empty poll): raw sockets keep those figures
 * as cheap and exact as the engine's.
 */
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loadgen.h"

void
bconn_close(struct bconn *b)
{
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
}

void
bconn_free(struct bconn *b)
{
	bconn_close(b);
	free(b->in.p);
	b->in.p = NULL;
	b->in.len = b->in.cap = 0;
}

static int
bhttp_once(struct bconn *b, const char *req, size_t reqlen, struct hresp *r, int timeout_ms,
    int *got_any)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000ull;
	size_t off = 0;

	*got_any = 0;
	if (b->fd < 0 && (b->fd = tcp_connect(b->port, 1)) < 0)
		return -1;
	b->in.len = 0;
	while (off < reqlen) {
		ssize_t n = send(b->fd, req + off, reqlen - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		struct pollfd pfd = { b->fd, POLLOUT, 0 };
		int left = (int)((int64_t)(deadline - now_ns()) / 1000000);
		if (left <= 0 || poll(&pfd, 1, left) <= 0)
			return -1;
	}
	for (;;) {
		int rc = http_parse(b->in.p ? b->in.p : "", b->in.len, r);
		if (rc == 1)
			return r->close ? (bconn_close(b), 0) : 0;
		if (rc < 0)
			return -1;
		rbuf_reserve(&b->in, 1 << 16);
		ssize_t n = recv(b->fd, b->in.p + b->in.len, b->in.cap - b->in.len - 1, 0);
		if (n > 0) {
			b->in.len += (size_t)n;
			b->in.p[b->in.len] = '\0';
			*got_any = 1;
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			return -1;
		struct pollfd pfd = { b->fd, POLLIN, 0 };
		int64_t left = ((int64_t)deadline - (int64_t)now_ns()) / 1000000;
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return -1;
	}
}

/* One request; the body in r stays valid until the next call on b.
 * A kept-alive connection the server has closed is retried once. */
int
bhttp(struct bconn *b, const char *method, const char *path, const char *auth,
    const char *body, struct hresp *r, int timeout_ms)
{
	char head[1024];
	size_t blen = body ? strlen(body) : 0;
	int got_any, reused = b->fd >= 0;
	int n = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	    "%s%s%sContent-Length: %zu\r\n%s\r\n", method, path,
	    auth ? "Authorization: Bearer " : "", auth ? auth : "", auth ? "\r\n" : "",
	    blen, body ? "Content-Type: application/json\r\n" : "");
	char *req = malloc((size_t)n + blen + 1);

	if (req == NULL)
		fatal("out of memory");
	memcpy(req, head, (size_t)n);
	if (blen > 0)
		memcpy(req + n, body, blen);
	int rc = bhttp_once(b, req, (size_t)n + blen, r, timeout_ms, &got_any);
	if (rc != 0 && reused && !got_any) {
		bconn_close(b);
		rc = bhttp_once(b, req, (size_t)n + blen, r, timeout_ms, &got_any);
	}
	if (rc != 0)
		bconn_close(b);
	free(req);
	return rc;
}

/* GET path and decode the JSON answer; NULL unless 200. */
json_t *
get_json(int port, const char *path, const char *auth, int timeout_ms)
{
	struct bconn b = BCONN_INIT(port);
	struct hresp r;
	json_t *o = NULL;

	if (bhttp(&b, "GET", path, auth, NULL, &r, timeout_ms) == 0 && r.status == 200)
		o = json_loadb(r.body, r.blen, 0, NULL);
	bconn_free(&b);
	return o;
}

/* One scrape of /metrics: its request histogram (the series of every
 * route and code added up, bucket by bucket) and its journal write
 * histogram (each write with its fdatasync); -1 unless both came. */
int
server_hist(int port, struct hist h[NHISTS])
{
	static const char *const names[NHISTS] = {
		"sl_http_request_duration_seconds_bucket{",
		"sl_journal_write_duration_seconds_bucket{",
	};
	struct bconn b = BCONN_INIT(port);
	struct hresp r;
	int rc = -1;

	memset(h, 0, NHISTS * sizeof(*h));
	if (bhttp(&b, "GET", "/metrics", admin_token[0] ? admin_token : NULL, NULL, &r,
	    5000) == 0 && r.status == 200) {
		char *text = strndup(r.body, r.blen), *save = NULL;
		for (char *l = text ? strtok_r(text, "\n", &save) : NULL; l != NULL;
		    l = strtok_r(NULL, "\n", &save)) {
			for (int k = 0; k < NHISTS; k++) {
				size_t kl = strlen(names[k]);
				char *le = strstr(l, "le=\""), *q = strstr(l, "} ");
				if (strncmp(l, names[k], kl) != 0 || le == NULL)
					continue;
				double bound = strtod(le + 4, NULL);
				int j = 0;
				while (j < h[k].n && h[k].le[j] != bound)
					j++;
				if (j == h[k].n) {
					if (h[k].n >= NHIST)
						continue;
					h[k].le[h[k].n++] = bound;
				}
				h[k].count[j] += q ? strtod(q + 2, NULL) : 0;
			}
		}
		free(text);
		rc = h[HIST_REQUESTS].n > 0 && h[HIST_WRITES].n > 0 ? 0 : -1;
	}
	bconn_free(&b);
	return rc;
}

/* From two scrapes: the bound (ms) of the first bucket holding the
 * p-quantile of the requests between them, and the share above over_ms
 * (a bucket bound). -1 when unknown. */
double
hist_quantile(const struct hist *a, const struct hist *b, double p, double over_ms,
    double *share_over)
{
	double total, q = -1;

	*share_over = -1;
	if (a->n == 0 || a->n != b->n || (total = b->count[b->n - 1] - a->count[a->n - 1]) <= 0)
		return -1;
	for (int i = 0; i < b->n; i++) {
		double cum = b->count[i] - a->count[i];
		if (q < 0 && cum >= p * total)
			q = b->le[i] * 1000;
		if (b->le[i] * 1000 >= over_ms - 1e-9 && *share_over < 0)
			*share_over = 1 - cum / total;
	}
	return q;
}

double
hist_total(const struct hist *h)
{
	return h->n > 0 ? h->count[h->n - 1] : 0;
}

int
member_is(json_t *o, const char *key, const char *want)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v != NULL && strcmp(v, want) == 0;
}

long
seats_in_role(int port, const char *role, const char *pool)
{
	json_t *o = get_json(port, "/v1/licenses", NULL, 5000), *v;
	long n = 0;
	size_t i;

	if (o == NULL)
		fatal("GET /v1/licenses on port %d failed", port);
	json_array_foreach(json_object_get(o, "licenses"), i, v)
		if (member_is(v, "role", role) && (pool == NULL || member_is(v, "pool", pool)))
			n += (long)json_integer_value(json_object_get(v, "in_use"));
	json_decref(o);
	return n;
}

long
seats_in_use(int port)
{
	return seats_in_role(port, "primary", NULL);
}
