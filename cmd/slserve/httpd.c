/*
 * httpd.c: slserve's HTTP server on libmicrohttpd: reading requests
 * within their limits, the connection watch (timeouts, crowding, clients
 * gone while their answer waits), suspending a reply until its record is
 * durable (and the hooks reply_wait and reply_check), and sending answers.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "journal.h"
#include "json.h"
#include "log.h"
#include "server.h"
#include "util.h"

static char *tls_cert_pem, *tls_key_pem;

/*
 * Every open connection, with the time by which its next request must have
 * arrived whole. libmicrohttpd's own timeout is an idle timeout: a client
 * that trickles a request a byte at a time would hold its connection for
 * ever. httpd_sweep shuts such connections down; libmicrohttpd then closes
 * them as if the client had. libmicrohttpd reports a connection closed
 * before it closes the socket, so under watch_lock a socket in the list is
 * still that connection's.
 */
struct conn_watch {
	int fd;
	int64_t deadline_ms;		/* util_mono_ms(); 0: a request is being handled */
	int64_t idle_since_ms;		/* when it last began to wait for a request */
	struct req *held;		/* a new seat's answer waiting (watch_hold) */
	struct conn_watch *prev, *next;
};
static pthread_mutex_t watch_lock = PTHREAD_MUTEX_INITIALIZER;	/* a leaf: locks.h */
static struct conn_watch *watch_head, *watch_tail;	/* newest first */
static long watch_count, max_connections;
static int64_t request_timeout_ms, idle_timeout_ms;

/* Near max_connections, connections idle this long are closed early. */
#define CROWD_IDLE_MS	1000

/* The watch of conn (on_connection made it), or NULL when it has none. */
static struct conn_watch *
watch_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci != NULL ? ci->socket_context : NULL;
}

static void
watch_set(struct MHD_Connection *conn, int64_t deadline_ms)
{
	struct conn_watch *w = watch_of(conn);

	if (w == NULL)
		return;
	pthread_mutex_lock(&watch_lock);
	w->deadline_ms = deadline_ms;
	if (deadline_ms != 0)
		w->idle_since_ms = util_mono_ms();
	pthread_mutex_unlock(&watch_lock);
}

/*
 * A new seat's answer waits, its connection suspended, for the disk and
 * the backups: libmicrohttpd watches such a socket no more. httpd_sweep
 * does, so that a client that gives up frees its connection and its seat
 * at once, not when the wait ends (r NULL: it waits no more).
 */
static void
watch_hold(struct MHD_Connection *conn, struct req *r)
{
	struct conn_watch *w = watch_of(conn);

	if (w == NULL)
		return;
	pthread_mutex_lock(&watch_lock);
	w->held = r;
	pthread_mutex_unlock(&watch_lock);
}

/* Has the peer closed (or reset) its end? Seen without reading: a
 * pipelined request is data, not end of file. */
static int
peer_closed(int fd)
{
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

	return n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE));
}

static void req_durable(void *arg);
static void req_resume(void *arg);

/* Take back the wait of a held request whose client closed: 1 when this
 * call now owns its resumption. watch_lock held. */
static int
held_unwait(struct req *r)
{
	return journal_unwait(r->srv->journal, req_durable, r) ||
	    (r->srv->reply_unwait != NULL && r->srv->reply_unwait(req_resume, r));
}

static void
on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
    enum MHD_ConnectionNotificationCode code)
{
	struct conn_watch *w = *socket_context;

	(void)cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci == NULL || (w = calloc(1, sizeof(*w))) == NULL)
			return;
		w->fd = ci->connect_fd;
		w->idle_since_ms = util_mono_ms();
		w->deadline_ms = w->idle_since_ms + request_timeout_ms;
		pthread_mutex_lock(&watch_lock);
		w->next = watch_head;
		if (watch_head != NULL)
			watch_head->prev = w;
		else
			watch_tail = w;
		watch_head = w;
		watch_count++;
		pthread_mutex_unlock(&watch_lock);
		*socket_context = w;
	} else if (w != NULL) {
		pthread_mutex_lock(&watch_lock);
		if (w->prev != NULL)
			w->prev->next = w->next;
		else
			watch_head = w->next;
		if (w->next != NULL)
			w->next->prev = w->prev;
		else
			watch_tail = w->prev;
		watch_count--;
		pthread_mutex_unlock(&watch_lock);
		free(w);
		*socket_context = NULL;
	}
}

void
httpd_sweep(struct server *srv)
{
	int64_t now = util_mono_ms();
	int n = 0, crowded = 0;
	struct req *gone[64];
	size_t ngone = 0;

	(void)srv;
	pthread_mutex_lock(&watch_lock);
	for (struct conn_watch *w = watch_head; w != NULL; w = w->next) {
		/* Its wait may be ending right now: then whoever ends it
		 * resumes the request, and it is seen gone there. */
		if (w->held != NULL && ngone < sizeof(gone) / sizeof(gone[0]) &&
		    peer_closed(w->fd) && held_unwait(w->held)) {
			w->held->gone = 1;
			gone[ngone++] = w->held;
			w->held = NULL;
		}
		if (w->deadline_ms == 0 || w->deadline_ms > now)
			continue;
		shutdown(w->fd, SHUT_RDWR);
		w->deadline_ms = 0;
		n++;
	}
	/* Near max_connections, a new client would wait for a slot: make
	 * room by closing the connections idle longest (oldest first), down
	 * to half of the limit. A keep-alive client reconnects at no cost. */
	if (watch_count - n >= max_connections * 3 / 4) {
		long keep = max_connections / 2;
		for (struct conn_watch *w = watch_tail; w != NULL &&
		    watch_count - n - crowded > keep; w = w->prev) {
			if (w->deadline_ms == 0 || now - w->idle_since_ms < CROWD_IDLE_MS)
				continue;
			shutdown(w->fd, SHUT_RDWR);
			w->deadline_ms = 0;
			crowded++;
		}
	}
	pthread_mutex_unlock(&watch_lock);
	/* Suspended requests are not freed by libmicrohttpd, so they are
	 * still there; resumed without watch_lock, which its threads take
	 * under locks of libmicrohttpd's own. */
	for (size_t i = 0; i < ngone; i++)
		MHD_resume_connection(gone[i]->conn);
	if (n > 0)
		log_debug("http: closed %d connection%s that sent no whole request in time "
		    "(request_timeout)", n, n == 1 ? "" : "s");
	if (crowded > 0)
		log_info("http: %ld connections open, near max_connections (%ld): closed %d "
		    "idle for %d s or more", watch_count - n, max_connections, crowded,
		    CROWD_IDLE_MS / 1000);
}

const char *
req_query(struct req *r, const char *key)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

void
req_hold(struct req *r)
{
	MHD_suspend_connection(r->conn);
	r->suspended = 1;
}

void
req_wake(struct req *r)
{
	MHD_resume_connection(r->conn);
}

const char *
req_addr(struct req *r)
{
	const union MHD_ConnectionInfo *ci;

	if (r->addr[0] != '\0')
		return r->addr;
	ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || ci->client_addr == NULL)
		return r->addr;
	const struct sockaddr *sa = ci->client_addr;
	const void *a = sa->sa_family == AF_INET6 ?
	    (const void *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr :
	    (const void *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	if (inet_ntop(sa->sa_family, a, r->addr, sizeof(r->addr)) == NULL)
		r->addr[0] = '\0';
	return r->addr;
}

const char *
req_header(struct req *r, const char *key)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, key);
}

FILE *
req_text_open(struct req *r)
{
	FILE *f = open_memstream(&r->raw, &r->rawlen);

	if (f == NULL)
		req_error(r, 503, "out_of_memory", "server out of memory");
	return f;
}

int
req_text_close(struct req *r, FILE *f, const char *content_type)
{
	if (fclose(f) != 0 || r->raw == NULL) {
		free(r->raw);
		r->raw = NULL;
		r->rawlen = 0;
		req_error(r, 503, "out_of_memory", "server out of memory");
		return -1;
	}
	r->content_type = content_type;
	return 0;
}

/* Decode the request body against fields; on failure answer 400. */
json_t *
req_json(struct req *r, const struct js_field *fields, int allow_empty)
{
	char err[256];
	json_t *o = js_decode_object(r->body, r->len, fields, allow_empty, err, sizeof(err));

	if (o == NULL)
		req_error(r, 400, "bad_request", "%s", err);
	return o;
}

/* Split the path into segments and match a route pattern; *arg gets the
 * segment that matched "*". */
static int
route_match(const char *pattern, const char *path, char *arg, size_t arglen)
{
	arg[0] = '\0';
	while (*pattern != '\0' && *path != '\0') {
		if (*pattern == '*') {
			size_t n = strcspn(path, "/");
			if (n == 0 || n >= arglen)
				return 0;
			memcpy(arg, path, n);
			arg[n] = '\0';
			path += n;
			pattern++;
			continue;
		}
		if (*pattern != *path)
			return 0;
		pattern++;
		path++;
	}
	return *pattern == '\0' && *path == '\0';
}

/* The scheme is matched without regard to case and may be followed by
 * more than one space (RFC 9110 section 11). */
static int
token_ok(struct req *r, const unsigned char *want)
{
	const char *h = req_header(r, "Authorization");
	unsigned char got[crypto_generichash_BYTES];

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return 0;
	h += strspn(h + 6, " ") + 6;
	/* Hash first so the comparison takes the same time whatever the input. */
	crypto_generichash(got, sizeof(got), (const unsigned char *)h, strlen(h), NULL, 0);
	return sodium_memcmp(got, want, sizeof(got)) == 0;
}

static void
dispatch(struct req *r)
{
	struct server *srv = r->srv;
	char path[512], arg[SL_ID_MAX * 2 + 2];
	int path_known = 0;
	char allow[sizeof(r->allow)] = "";

	util_strlcpy(path, r->url, sizeof(path));
	for (const struct route *rt = api_routes; rt->pattern != NULL; rt++) {
		if (!route_match(rt->pattern, path, arg, sizeof(arg)))
			continue;
		path_known = 1;
		if (strcmp(rt->method, r->method) != 0) {
			if (strlen(allow) + strlen(rt->method) + 3 < sizeof(allow)) {
				if (allow[0] != '\0')
					strcat(allow, ", ");
				strcat(allow, rt->method);
			}
			continue;
		}
		r->route = rt->id;
		int needs_admin = rt->auth == AUTH_ADMIN ||
		    (rt->auth == AUTH_STATUS && !srv->cfg.public_status) ||
		    (rt->auth == AUTH_LEASES && (!srv->cfg.public_leases ||
		    req_header(r, "Authorization") != NULL));
		if (needs_admin && !token_ok(r, srv->admin_hash)) {
			const char *accept = req_header(r, "Accept");
			if (rt->fn == api_status_page && accept != NULL &&
			    strstr(accept, "text/html") != NULL) {
				api_status_page_private(r);
				return;
			}
			req_error(r, 401, "unauthorized", "this call needs the admin token of "
			    "server \"%s\" (Authorization: Bearer ...)", srv->cfg.name);
			return;
		}
		r->admin = needs_admin;
		if (rt->auth == AUTH_PEER && !token_ok(r, srv->peer_hash)) {
			req_error(r, 401, "unauthorized", "this call needs the peer token of "
			    "server \"%s\"", srv->cfg.name);
			return;
		}
		rt->fn(r, arg);
		return;
	}
	if (path_known) {
		req_error(r, 405, "method_not_allowed", "%s is not allowed on %s (allowed: %s)",
		    r->method, r->url, allow);
		memcpy(r->allow, allow, sizeof(r->allow));
		return;
	}
	req_error(r, 404, "not_found", "no such path: %s", r->url);
}

void
req_storage_unavailable(struct req *r)
{
	struct journal_storage st;

	journal_storage(r->srv->journal, &st);
	req_error(r, 503, "storage_unavailable", "server \"%s\" cannot write its state, so "
	    "it grants, checks in and revokes nothing: %s", r->srv->cfg.name,
	    st.ok ? "a write failed" : st.error);
}

/*
 * The record of a reply was not written: storage failed while it waited
 * (journal.c). Nothing counts that is not on disk, so a new seat is
 * released again (its record and the release's are written in order if
 * storage comes back; a crash before that loses both). A checkin keeps
 * its effect in memory and its record queued: the seat is free here and
 * will be on disk once storage recovers, and until then a crash keeps it
 * held, which its holder, told 503, may retry.
 */
static void
reply_not_written(struct req *r)
{
	if (r->reply.wait_seq == 0 || journal_is_durable(r->srv->journal, r->reply.wait_seq))
		return;
	if (r->reply.status == 201) {
		const char *id = js_str(r->reply.body, "lease", "");
		if (store_release_unanswered(r->srv->store, id) > 0)
			log_debug("checkout of lease %s not answered: storage unavailable", id);
	}
	req_storage_unavailable(r);
}

/*
 * A new seat that waited (for the disk, the backups) is not answered to a
 * client that has closed its connection meanwhile (it gave up: nobody
 * would hold the seat). The peer's end of file is seen without reading:
 * a pipelined request is data, not end of file. The seat is released and
 * the answer is 503, which reaches a client that only half-closed.
 */
static int
reply_client_gone(struct req *r)
{
	const union MHD_ConnectionInfo *ci;

	if (r->reply.status != 201)
		return 0;
	if (!r->gone && ((ci = MHD_get_connection_info(r->conn,
	    MHD_CONNECTION_INFO_CONNECTION_FD)) == NULL || !peer_closed(ci->connect_fd)))
		return 0;
	const char *id = js_str(r->reply.body, "lease", "");
	if (store_release_unanswered(r->srv->store, id) > 0)
		log_info("checkout of lease %s released: its client closed the connection "
		    "before the answer", id);
	req_error(r, 503, "client_gone", "the connection was closed before the answer");
	return 1;
}

static enum MHD_Result
send_reply(struct req *r)
{
	struct MHD_Response *resp;
	char *text;
	size_t len;
	const char *ctype;
	enum MHD_Result ret;

	if (r->reply.own_grant && r->srv->reply_check != NULL)
		r->srv->reply_check(r);
	if (r->reply.body != NULL || r->raw == NULL) {
		if (r->reply.body == NULL)
			req_error(r, 500, "internal", "no answer");
		text = js_compact(r->reply.body, 1, &len);
		if (text == NULL)
			return MHD_NO;
		text[len++] = '\n';
		text[len] = '\0';
		ctype = "application/json";
	} else {
		text = r->raw;
		len = r->rawlen;
		r->raw = NULL;
		ctype = r->content_type ? r->content_type : "text/plain; charset=utf-8";
	}
	resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", ctype);
	MHD_add_response_header(resp, "X-SL-Epoch", r->srv->epoch);
	MHD_add_response_header(resp, "X-SL-Server", r->srv->cfg.name);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	if (r->close)
		MHD_add_response_header(resp, "Connection", "close");
	if (r->reply.status == 405 && r->allow[0] != '\0')
		MHD_add_response_header(resp, "Allow", r->allow);
	r->answered = 1;
	ret = MHD_queue_response(r->conn, r->reply.status ? r->reply.status : 200, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void
req_resume(void *arg)
{
	struct req *r = arg;

	MHD_resume_connection(r->conn);
}

int
req_wait_more(struct req *r, void (*resume)(void *))
{
	/* Not durable: its write failed, and the answer is a 503 at once. */
	return r->reply.own_grant && r->srv->reply_wait != NULL &&
	    journal_is_durable(r->srv->journal, r->reply.wait_seq) &&
	    r->srv->reply_wait(r->srv, r->reply.wait_seq, resume, r) == 1;
}

/* Called by the journal's committer once the reply's record is durable. */
static void
req_durable(void *arg)
{
	struct req *r = arg;

	if (req_wait_more(r, req_resume))
		return;
	MHD_resume_connection(r->conn);
}

/*
 * A body framed two ways (Content-Length and Transfer-Encoding) is read one
 * way here and maybe the other way by a proxy in front: what is left over
 * would be a second, smuggled request (RFC 9112 section 6.1). Such a
 * request, and one in a transfer coding we cannot read, is answered before
 * its body is read, and the connection closed after the answer.
 */
static int
framing_refused(struct req *r)
{
	const char *te = req_header(r, "Transfer-Encoding");

	if (te == NULL)
		return 0;
	if (req_header(r, "Content-Length") != NULL)
		req_error(r, 400, "bad_request", "a request may not have both Content-Length "
		    "and Transfer-Encoding");
	else if (strcasecmp(te, "chunked") != 0)
		req_error(r, 501, "not_implemented", "transfer coding not supported (only "
		    "\"chunked\" is)");
	else
		return 0;
	r->close = 1;
	return 1;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
    const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct server *srv = cls;
	struct req *r = *con_cls;

	(void)version;
	if (r == NULL) {
		if ((r = calloc(1, sizeof(*r))) == NULL)
			return MHD_NO;
		r->srv = srv;
		r->conn = conn;
		r->url = url;
		r->method = method;
		r->start_us = util_mono_us();
		*con_cls = r;
		if (framing_refused(r))
			return send_reply(r);
		const char *cl = req_header(r, "Content-Length");
		unsigned long long declared = cl != NULL ? strtoull(cl, NULL, 10) : 0;
		if (declared > (unsigned long long)srv->cfg.max_body * 16) {
			/* Far too large to read and throw away: answer now; the
			 * connection closes. */
			req_error(r, 413, "too_large", "request body is larger than %ld bytes",
			    srv->cfg.max_body);
			return send_reply(r);
		}
		/* Somewhat too large: read it and throw it away, so that the
		 * connection serves on. */
		if (declared > (unsigned long long)srv->cfg.max_body)
			r->too_large = 1;
		return MHD_YES;
	}
	if (r->suspended) {
		r->suspended = 0;
		if (r->watched) {
			r->watched = 0;
			watch_hold(conn, NULL);
		}
		/* A client gone is not answered, whatever its record's fate. */
		if (!reply_client_gone(r))
			reply_not_written(r);
		if (r->on_resume != NULL) {
			void (*fn)(struct req *) = r->on_resume;
			r->on_resume = NULL;
			fn(r);
		}
		return send_reply(r);
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (r->too_large || r->len + n > (size_t)srv->cfg.max_body) {
			r->too_large = 1;
			free(r->body);
			r->body = NULL;
			r->len = 0;
			return MHD_YES;
		}
		char *nb = realloc(r->body, r->len + n + 1);
		if (nb == NULL)
			return MHD_NO;
		r->body = nb;
		memcpy(r->body + r->len, upload_data, n);
		r->len += n;
		r->body[r->len] = '\0';
		return MHD_YES;
	}
	if (r->answered)
		return MHD_YES;
	watch_set(conn, 0);
	if (r->too_large)
		req_error(r, 413, "too_large", "request body is larger than %ld bytes",
		    srv->cfg.max_body);
	else if (atomic_load(&srv->draining))
		req_error(r, 503, "stopping", "server \"%s\" is shutting down", srv->cfg.name);
	else
		dispatch(r);
	if (r->suspended)
		return MHD_YES;		/* held by its handler (req_hold) */
	/* A heartbeat names a seat granted long ago: its record is on disk,
	 * and suspending and resuming the connection (two epoll_ctl calls,
	 * a wakeup) would cost more than the answer. */
	if (r->reply.wait_seq > 0 && !(r->reply.own_grant && srv->reply_wait != NULL) &&
	    journal_is_durable(srv->journal, r->reply.wait_seq))
		r->reply.wait_seq = 0;
	if (r->reply.wait_seq > 0) {
		MHD_suspend_connection(conn);
		r->suspended = 1;
		if (r->reply.status == 201) {
			r->watched = 1;
			watch_hold(conn, r);
		}
		if (journal_wait(srv->journal, r->reply.wait_seq, req_durable, r) == 1)
			return MHD_YES;
		/* Already durable, or storage is unhealthy: the resumed call
		 * answers. */
		req_durable(r);
		return MHD_YES;
	}
	return send_reply(r);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct req *r = *con_cls;

	(void)cls;
	watch_set(conn, util_mono_ms() + idle_timeout_ms + request_timeout_ms);
	if (r == NULL)
		return;
	/* A new seat whose answer did not reach its client (the send failed,
	 * or the client closed while the request waited and libmicrohttpd
	 * saw it when resuming, before any answer): nobody holds it, so it is
	 * released, and the release journaled (not waited for: this is
	 * libmicrohttpd's thread). */
	if (r->reply.status == 201 && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) {
		const char *id = js_str(r->reply.body, "lease", "");
		if (store_release_unanswered(r->srv->store, id) > 0)
			log_info("checkout of lease %s released: its answer was not delivered "
			    "(the client went away)", id);
	} else if (r->reply.status == 201 && r->reply.unconfirmed) {
		store_confirm(r->srv->store, js_str(r->reply.body, "lease", ""));
	}
	if (r->answered)
		metrics_request_done(r->start_us, r->route,
		    r->reply.status ? r->reply.status : 200);
	/* Held and let go, but libmicrohttpd found the client gone and never
	 * called us again: the handler's context was not used up. */
	if (r->on_resume != NULL)
		free(r->ctx);
	json_decref(r->reply.body);
	free(r->body);
	free(r->raw);
	free(r);
	*con_cls = NULL;
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512], esc[1024];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_debug("http: %s", log_escape(esc, sizeof(esc), msg));
}

int
httpd_start(struct server *srv, char *err, size_t errlen)
{
	struct addrinfo hints, *ai = NULL;
	char port[16];
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
	    MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	int gai;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
	snprintf(port, sizeof(port), "%d", srv->cfg.listen_port);
	if ((gai = getaddrinfo(srv->cfg.listen_host, port, &hints, &ai)) != 0) {
		snprintf(err, errlen, "listen %s: %s", srv->cfg.listen, gai_strerror(gai));
		return -1;
	}
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (srv->cfg.tls_cert != NULL) {
		tls_cert_pem = util_read_file_max(srv->cfg.tls_cert, UTIL_SECRET_MAX, NULL);
		if (tls_cert_pem != NULL)	/* else errno is the cert's */
			tls_key_pem = util_read_file_max(srv->cfg.tls_key, UTIL_SECRET_MAX, NULL);
		if (tls_cert_pem == NULL || tls_key_pem == NULL) {
			snprintf(err, errlen, "tls: %s: %s", tls_cert_pem ? srv->cfg.tls_key :
			    srv->cfg.tls_cert, util_read_strerror(errno));
			freeaddrinfo(ai);
			return -1;
		}
		flags |= MHD_USE_TLS;
	}
	request_timeout_ms = srv->cfg.request_timeout * 1000;
	idle_timeout_ms = srv->cfg.connection_timeout * 1000;
	max_connections = srv->cfg.max_connections;
	long nthreads = sysconf(_SC_NPROCESSORS_ONLN);
	if (nthreads < 1)
		nthreads = 1;
	if (nthreads > 4)
		nthreads = 4;
	struct MHD_OptionItem tls_opts[] = {
		{ MHD_OPTION_HTTPS_MEM_CERT, 0, tls_cert_pem },
		{ MHD_OPTION_HTTPS_MEM_KEY, 0, tls_key_pem },
		{ MHD_OPTION_END, 0, NULL },
	};
	srv->daemon = MHD_start_daemon(flags, (uint16_t)srv->cfg.listen_port, NULL, NULL,
	    on_request, srv,
	    MHD_OPTION_SOCK_ADDR, ai->ai_addr,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)nthreads,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)srv->cfg.max_connections,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)srv->cfg.max_connections_per_ip,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)srv->cfg.connection_timeout,
	    /* Headers and our answer's headers; bodies are read into our own
	     * buffer. libmicrohttpd zeroes this for every request: 32 KiB was
	     * a fifth of a checkout's instructions. 16 KiB still reads an
	     * 8 KB header (test/10-server-badinput.bats). */
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
	    MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
	    MHD_OPTION_ARRAY, srv->cfg.tls_cert ? tls_opts : &tls_opts[2],
	    MHD_OPTION_END);
	freeaddrinfo(ai);
	if (srv->daemon == NULL) {
		snprintf(err, errlen, "cannot listen on %s (address in use, or not an address "
		    "of this machine?)", srv->cfg.listen);
		return -1;
	}
	return 0;
}

void
httpd_stop(struct server *srv)
{
	if (srv->daemon != NULL)
		MHD_stop_daemon(srv->daemon);
	srv->daemon = NULL;
	free(tls_cert_pem);
	free(tls_key_pem);
	tls_cert_pem = tls_key_pem = NULL;
}
