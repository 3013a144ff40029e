/*
 * loadgen's load engine: N keep-alive clients driven from one epoll loop
 * over plain non-blocking sockets, closed loop or open loop (requests due
 * on a schedule), with its own raw HTTP/1.1 response parser. On a 2-core
 * machine the generator shares the CPU with the server it measures, so it
 * must cost far less than the server does per request: no library sits
 * between a request's due time and its answer. Every wait is bounded.
 */
#include <sys/epoll.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "loadgen.h"

/* ---- latency samples ---- */

void
sample_add(struct samples *s, uint64_t ns)
{
	if (s->n == s->cap) {
		if (s->cap >= MAX_SAMPLES)
			return;
		size_t ncap = s->cap ? s->cap * 2 : 4096;
		uint64_t *nv = realloc(s->v, ncap * sizeof(*nv));
		if (nv == NULL)
			fatal("out of memory");
		s->v = nv;
		s->cap = ncap;
	}
	s->v[s->n++] = ns;
	s->sorted = 0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The p-quantile (0..1) in milliseconds; -1 without samples. */
double
sample_pct(struct samples *s, double p)
{
	if (s->n == 0)
		return -1;
	if (!s->sorted) {
		qsort(s->v, s->n, sizeof(*s->v), cmp_u64);
		s->sorted = 1;
	}
	size_t i = (size_t)(p * (double)s->n);
	if (i >= s->n)
		i = s->n - 1;
	return ns_ms(s->v[i]);
}

void
sample_free(struct samples *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* ---- lease ids ---- */

void
idlist_add(struct idlist *l, const char *id)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 4096;
		char (*nv)[ID_MAX] = realloc(l->v, ncap * sizeof(*nv));
		if (nv == NULL)
			fatal("out of memory");
		l->v = nv;
		l->cap = ncap;
	}
	snprintf(l->v[l->n++], ID_MAX, "%s", id);
}

void
idlist_free(struct idlist *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* ---- HTTP/1.1 responses ---- */

void
rbuf_reserve(struct rbuf *b, size_t more)
{
	if (b->len + more + 1 <= b->cap)
		return;
	size_t ncap = b->cap ? b->cap : 8192;
	while (ncap < b->len + more + 1)
		ncap *= 2;
	char *np = realloc(b->p, ncap);
	if (np == NULL)
		fatal("out of memory");
	b->p = np;
	b->cap = ncap;
}

/* 1: a whole response starts buf; 0: more bytes needed; -1: not HTTP we
 * understand (slserve always sends Content-Length). */
int
http_parse(const char *buf, size_t len, struct hresp *r)
{
	const char *end = memmem(buf, len, "\r\n\r\n", 4);
	long long clen = -1;

	if (end == NULL)
		return len > 65536 ? -1 : 0;
	if (len < 12 || strncmp(buf, "HTTP/1.", 7) != 0)
		return -1;
	memset(r, 0, sizeof(*r));
	r->status = atoi(buf + 9);
	const char *line = memchr(buf, '\n', (size_t)(end - buf));
	while (line != NULL && line < end) {
		line++;
		size_t ll = (size_t)(end - line);
		const char *nl = memchr(line, '\n', ll);
		if (nl != NULL)
			ll = (size_t)(nl - line);
		if (ll > 15 && strncasecmp(line, "content-length:", 15) == 0)
			clen = strtoll(line + 15, NULL, 10);
		else if (ll > 11 && strncasecmp(line, "connection:", 11) == 0 &&
		    memmem(line, ll, "close", 5) != NULL)
			r->close = 1;
		else if (ll > 18 && strncasecmp(line, "transfer-encoding:", 18) == 0)
			return -1;
		line = nl;
	}
	if (clen < 0)
		return -1;
	size_t hlen = (size_t)(end - buf) + 4;
	if (len < hlen + (size_t)clen)
		return 0;
	r->body = buf + hlen;
	r->blen = (size_t)clen;
	r->total = hlen + (size_t)clen;
	return 1;
}

int
tcp_connect(int port, int nonblock)
{
	struct sockaddr_in sa;
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (nonblock)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

/* ---- the load engine ---- */

struct conn {
	int fd, idx;
	int busy, drain, holding, hb_left, want_out;
	enum op op;
	uint64_t t0;		/* when the request was due */
	char req[512];
	size_t reqlen, reqoff;
	struct rbuf in;
	char lease[ID_MAX];
};

struct engine {
	struct phase *ph;
	int ep;
	struct conn *conns;
	struct conn **idle;
	int nidle, busy;
	uint64_t start, warm, end, last_done;
	int stopping;
	unsigned product;
};

static void
conn_events(struct engine *e, struct conn *c, int want_out)
{
	struct epoll_event ev = { EPOLLIN | (want_out ? EPOLLOUT : 0), { .ptr = c } };

	if (c->want_out != want_out) {
		epoll_ctl(e->ep, EPOLL_CTL_MOD, c->fd, &ev);
		c->want_out = want_out;
	}
}

static int
conn_open(struct engine *e, struct conn *c)
{
	struct epoll_event ev = { EPOLLIN, { .ptr = c } };

	if ((c->fd = tcp_connect(e->ph->port, 1)) < 0)
		return -1;
	c->want_out = 0;
	c->in.len = 0;
	epoll_ctl(e->ep, EPOLL_CTL_ADD, c->fd, &ev);
	return 0;
}

static void
conn_flush(struct engine *e, struct conn *c)
{
	while (c->reqoff < c->reqlen) {
		ssize_t n = send(c->fd, c->req + c->reqoff, c->reqlen - c->reqoff, MSG_NOSIGNAL);
		if (n > 0) {
			c->reqoff += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			conn_events(e, c, 1);
			return;
		}
		return;		/* the read side sees the error */
	}
	conn_events(e, c, 0);
}

/* The operation this connection does next, or OP_NONE. */
static enum op
conn_next_op(struct engine *e, struct conn *c)
{
	struct phase *ph = e->ph;

	if (ph->limit > 0 && (long)ph->issued >= ph->limit)
		return OP_NONE;
	switch (ph->mode) {
	case M_HEALTH:
		return OP_HEALTH;
	case M_CHECKOUT:
		return OP_CHECKOUT;
	case M_HEARTBEAT:
		if (ph->ids == NULL || ph->ids->n == 0)
			return OP_NONE;
		snprintf(c->lease, sizeof(c->lease), "%s",
		    ph->ids->v[ph->ids->cursor++ % ph->ids->n]);
		return OP_HEARTBEAT;
	case M_CHECKIN:
		if (ph->ids == NULL || ph->ids->cursor >= ph->ids->n)
			return OP_NONE;
		snprintf(c->lease, sizeof(c->lease), "%s", ph->ids->v[ph->ids->cursor++]);
		return OP_CHECKIN;
	case M_LIFECYCLE:
		if (!c->holding)
			return OP_CHECKOUT;
		return c->hb_left > 0 ? OP_HEARTBEAT : OP_CHECKIN;
	}
	return OP_NONE;
}

static void
conn_issue(struct engine *e, struct conn *c, enum op op, uint64_t due)
{
	char body[256];
	int n = 0;

	switch (op) {
	case OP_HEALTH:
		n = snprintf(c->req, sizeof(c->req),
		    "GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
		break;
	case OP_CHECKOUT: {
		int b = snprintf(body, sizeof(body), "{\"product\":\"p%02u\",\"client\":"
		    "\"bench-%d\",\"user\":\"user%d\",\"host\":\"loadgen\",\"pid\":%d}",
		    e->product++ % NLICENSES, c->idx, c->idx, 10000 + c->idx);
		n = snprintf(c->req, sizeof(c->req), "POST /v1/checkout HTTP/1.1\r\n"
		    "Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
		    "Content-Length: %d\r\n\r\n%s", b, body);
		break;
	}
	case OP_HEARTBEAT:
		n = snprintf(c->req, sizeof(c->req), "POST /v1/leases/%s/heartbeat HTTP/1.1\r\n"
		    "Host: 127.0.0.1\r\nContent-Length: 0\r\n\r\n", c->lease);
		break;
	case OP_CHECKIN:
		n = snprintf(c->req, sizeof(c->req), "DELETE /v1/leases/%s HTTP/1.1\r\n"
		    "Host: 127.0.0.1\r\n\r\n", c->lease);
		break;
	default:
		return;
	}
	c->reqlen = (size_t)n;
	c->reqoff = 0;
	c->op = op;
	c->t0 = due;
	c->busy = 1;
	e->busy++;
	if (!c->drain)
		e->ph->issued++;
	conn_flush(e, c);
}

static void
conn_idle(struct engine *e, struct conn *c)
{
	e->idle[e->nidle++] = c;
}

/* Decide what a connection that just became free does. */
static void
conn_continue(struct engine *e, struct conn *c, uint64_t now)
{
	struct phase *ph = e->ph;

	c->drain = 0;
	if (e->stopping) {
		/* Hand back what the lifecycle holds, unmeasured. */
		if (ph->mode == M_LIFECYCLE && c->holding && now < e->end + 3000000000ull) {
			c->drain = 1;
			ph->drained++;
			conn_issue(e, c, OP_CHECKIN, now);
		} else {
			conn_idle(e, c);
		}
		return;
	}
	if (ph->rate > 0) {
		conn_idle(e, c);	/* the scheduler hands out the next slot */
		return;
	}
	enum op op = conn_next_op(e, c);
	if (op == OP_NONE)
		conn_idle(e, c);
	else
		conn_issue(e, c, op, now);
}

static void
conn_done(struct engine *e, struct conn *c, const struct hresp *r, uint64_t now)
{
	struct phase *ph = e->ph;
	struct opstat *st = &ph->st[c->op];
	int ok;

	c->busy = 0;
	e->busy--;
	switch (c->op) {
	case OP_CHECKOUT:
		ok = r->status == 201 || r->status == 200;
		if (ok) {
			const char *p = memmem(r->body, r->blen, "\"lease\":\"", 9);
			size_t i = 0;
			if (p != NULL) {
				p += 9;
				while (i < ID_MAX - 1 && p + i < r->body + r->blen && p[i] != '"')
					i++;
			}
			if (i == 0)
				ok = 0;
			else {
				memcpy(c->lease, p, i);
				c->lease[i] = '\0';
				if (ph->mode == M_LIFECYCLE) {
					c->holding = 1;
					c->hb_left = ph->heartbeats;
				} else if (ph->ids != NULL) {
					idlist_add(ph->ids, c->lease);
				}
			}
		}
		break;
	case OP_HEARTBEAT:
		ok = r->status == 200;
		if (ph->mode == M_LIFECYCLE) {
			c->hb_left--;
			if (!ok)
				c->holding = 0;
		}
		break;
	case OP_CHECKIN:
		ok = r->status == 200;
		c->holding = 0;
		break;
	default:
		ok = r->status == 200;
		break;
	}
	if (!c->drain && now >= e->warm && now <= e->end) {
		if (ok) {
			st->ok++;
			sample_add(&st->lat, now - c->t0);
			if (e->ph->rate > 0) {
				sample_add(&st->due, c->t0);
				sample_add(&st->due_lat, now - c->t0);
			}
		} else {
			st->errors++;
		}
		e->last_done = now;
	}
	conn_continue(e, c, now);
}

/* The connection broke: count the request in flight as an error, reconnect. */
static void
conn_broken(struct engine *e, struct conn *c, uint64_t now)
{
	epoll_ctl(e->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	if (c->busy) {
		c->busy = 0;
		e->busy--;
		e->ph->st[c->op].errors++;
	}
	c->holding = 0;
	if (++e->ph->reconnects > 1000 || conn_open(e, c) != 0) {
		e->stopping = 1;
		return;
	}
	conn_continue(e, c, now);
}

static void
conn_readable(struct engine *e, struct conn *c)
{
	for (;;) {
		rbuf_reserve(&c->in, 16384);
		ssize_t n = recv(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			conn_broken(e, c, now_ns());
			return;
		}
		c->in.len += (size_t)n;
		c->in.p[c->in.len] = '\0';
		struct hresp r;
		int rc = http_parse(c->in.p, c->in.len, &r);
		if (rc == 0)
			continue;
		if (rc < 0 || !c->busy) {
			conn_broken(e, c, now_ns());
			return;
		}
		uint64_t now = now_ns();
		int closing = r.close;
		/* One request in flight per connection: nothing follows it. */
		conn_done(e, c, &r, now);
		c->in.len = 0;
		if (closing) {
			conn_broken(e, c, now);
		}
		return;
	}
}

/* Stop issuing; idle lifecycle connections still holding a lease check it
 * in (the open loop leaves connections idle between their requests). */
static void
engine_stop(struct engine *e, uint64_t now)
{
	int n = e->nidle;

	if (e->stopping)
		return;
	e->stopping = 1;
	e->nidle = 0;
	for (int i = 0; i < n; i++)
		conn_continue(e, e->idle[i], now);
}

void
run_phase(struct phase *ph)
{
	struct engine e;
	struct epoll_event evs[256];
	uint64_t interval = ph->rate > 0 ? (uint64_t)(1e9 / ph->rate) : 0;
	uint64_t q_head = 0, q_tail = 0;	/* open loop: due slots generated/served */

	memset(&e, 0, sizeof(e));
	e.ph = ph;
	if ((e.ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		fatal("epoll: %s", strerror(errno));
	e.conns = calloc((size_t)ph->nconns, sizeof(*e.conns));
	e.idle = calloc((size_t)ph->nconns, sizeof(*e.idle));
	if (e.conns == NULL || e.idle == NULL)
		fatal("out of memory");
	/* Connections are opened 2 ms apart, as independent clients would:
	 * opened all at once, libmicrohttpd's thread pool lets whichever of
	 * its threads wakes first accept the whole burst, and one thread then
	 * serves every client while the other idles (BENCHMARKS.md). */
	for (int i = 0; i < ph->nconns; i++) {
		e.conns[i].idx = i;
		if (conn_open(&e, &e.conns[i]) != 0)
			fatal("connect 127.0.0.1:%d: %s", ph->port, strerror(errno));
		if (ph->nconns > 1 && i + 1 < ph->nconns)
			sleep_ms(2);
	}
	e.start = now_ns();
	e.warm = e.start + (uint64_t)(ph->warmup * 1e9);
	e.end = e.start + (uint64_t)(ph->secs * 1e9);
	e.last_done = e.warm;
	for (int i = 0; i < ph->nconns; i++)
		conn_continue(&e, &e.conns[i], e.start);

	for (;;) {
		uint64_t now = now_ns();
		if (!e.stopping && now >= e.end)
			engine_stop(&e, now);
		if (!e.stopping && ph->rate > 0) {
			while (e.start + q_tail * interval <= now && e.start + q_tail * interval < e.end)
				q_tail++;
			while (q_head < q_tail && e.nidle > 0) {
				struct conn *c = e.idle[--e.nidle];
				enum op op = conn_next_op(&e, c);
				if (op == OP_NONE) {
					e.idle[e.nidle++] = c;
					break;
				}
				conn_issue(&e, c, op, e.start + q_head * interval);
				q_head++;
			}
		}
		/* Closed loop with nothing left to do (ids used up, limit hit). */
		if (!e.stopping && ph->rate == 0 && e.busy == 0 && e.nidle == ph->nconns)
			engine_stop(&e, now);
		if (e.stopping && e.busy == 0)
			break;
		if (now > e.end + 5000000000ull) {
			ph->timeouts += (uint64_t)e.busy;
			break;
		}
		uint64_t wake = now + 50000000ull;
		if (!e.stopping && ph->rate > 0 && e.start + q_tail * interval < wake)
			wake = e.start + q_tail * interval;
		if (!e.stopping && e.end < wake)
			wake = e.end;
		struct timespec ts = { 0, 0 };
		if (wake > now) {
			ts.tv_sec = (time_t)((wake - now) / 1000000000ull);
			ts.tv_nsec = (long)((wake - now) % 1000000000ull);
		}
		int n = epoll_pwait2(e.ep, evs, 256, &ts, NULL);
		if (n < 0 && errno != EINTR)
			fatal("epoll_pwait2: %s", strerror(errno));
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c->fd < 0)
				continue;
			if (evs[i].events & EPOLLOUT)
				conn_flush(&e, c);
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				conn_readable(&e, c);
		}
	}
	uint64_t stop = e.last_done < e.end ? e.last_done : e.end;
	ph->window = stop > e.warm ? (double)(stop - e.warm) / 1e9 : 0;
	ph->from = e.warm;
	ph->to = stop > e.warm ? stop : e.warm;
	for (int i = 0; i < ph->nconns; i++) {
		if (e.conns[i].fd >= 0)
			close(e.conns[i].fd);
		free(e.conns[i].in.p);
	}
	free(e.conns);
	free(e.idle);
	close(e.ep);
}

/* Run a phase and note the CPU the server (pid, when known) spent in it. */
void
run_phase_cpu(struct phase *ph, pid_t pid)
{
	double c0 = pid > 0 ? proc_cpu_ms(pid) : -1;

	run_phase(ph);
	ph->server_cpu_ms = pid > 0 ? proc_cpu_ms(pid) - c0 : -1;
}

void
phase_init(struct phase *ph, const char *name, enum mode mode, int port)
{
	memset(ph, 0, sizeof(*ph));
	ph->name = name;
	ph->mode = mode;
	ph->port = port;
	ph->nconns = nclients;
	ph->secs = phase_secs + warmup_secs;
	ph->warmup = warmup_secs;
	ph->heartbeats = heartbeats;
}

void
phase_free(struct phase *ph)
{
	for (int i = 0; i < NOPS; i++) {
		sample_free(&ph->st[i].lat);
		sample_free(&ph->st[i].due);
		sample_free(&ph->st[i].due_lat);
	}
}

void
phase_merge(struct phase *dst, const struct phase *src)
{
	if (dst->name == NULL) {
		dst->name = src->name;
		dst->mode = src->mode;
		dst->port = src->port;
		dst->nconns = src->nconns;
		dst->server_cpu_ms = 0;
	}
	for (int i = 0; i < NOPS; i++) {
		const struct opstat *o = &src->st[i];
		for (size_t j = 0; j < o->lat.n; j++)
			sample_add(&dst->st[i].lat, o->lat.v[j]);
		dst->st[i].ok += o->ok;
		dst->st[i].errors += o->errors;
	}
	dst->secs += src->secs;
	dst->warmup += src->warmup;
	dst->window += src->window;
	dst->issued += src->issued;
	dst->drained += src->drained;
	dst->reconnects += src->reconnects;
	dst->timeouts += src->timeouts;
	if (dst->server_cpu_ms >= 0)
		dst->server_cpu_ms = src->server_cpu_ms >= 0 ?
		    dst->server_cpu_ms + src->server_cpu_ms : -1;
	/* One slice cut short by its limit marks the whole run so. */
	if (src->limit > 0 && (long)src->issued >= src->limit)
		dst->limit = (long)dst->issued;
}

double
phase_rate(const struct phase *ph, enum op op)
{
	return ph->window > 0 ? (double)ph->st[op].ok / ph->window : 0;
}

/* Check in every lease of ids not yet used, unmeasured. */
void
checkin_all(int port, struct idlist *ids)
{
	struct phase ph;

	if (ids->cursor >= ids->n)
		return;
	phase_init(&ph, "cleanup", M_CHECKIN, port);
	ph.secs = 120;
	ph.warmup = 0;
	ph.ids = ids;
	run_phase(&ph);
	phase_free(&ph);
}
