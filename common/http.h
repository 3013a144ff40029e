/* HTTP client calls (libcurl): one handle per peer, reused so keep-alive works. */
#ifndef SL_HTTP_H
#define SL_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct http_client;

struct http_options {
	long connect_timeout_ms;	/* 0: 1000 */
	long timeout_ms;		/* whole request; 0: 3000 */
	const char *token;		/* sent as "Authorization: Bearer ..." */
	const char *cacert;		/* CA file for https, or NULL */
	const char *user_agent;		/* NULL: "sl/VERSION" */
};

struct http_response {
	long status;			/* HTTP status; 0 when no answer came */
	char *body;			/* NUL-terminated, malloc'd; may be NULL */
	size_t len;
	char epoch[40];			/* X-SL-Epoch header, "" if absent */
	char server[72];		/* X-SL-Server header (the server's name), "" if absent */
	double seconds;			/* total time of the call */
	char error[256];		/* transport error when status == 0 */
	int timed_out;			/* the call hit a timeout */
	int partial;			/* part of the answer came before the error */
	int tls_rejected;		/* a server answered, but its certificate
					 * did not verify */
};

struct http_client *http_client_new(const struct http_options *opts);
void http_client_free(struct http_client *c);

/* The whole-request timeout of later requests (0: 3000). */
void http_client_set_timeout(struct http_client *c, long timeout_ms);

/* Bound every later request by an absolute deadline on the util_mono_ms()
 * clock (0 removes it): connect and total timeouts are cut to the time left,
 * and a request made after the deadline fails at once with timed_out set. */
void http_client_set_deadline(struct http_client *c, int64_t deadline_ms);
/* Let each request take ms more than its timeout (a long poll: a checkout
 * that waits on the server); 0 ends it. The deadline still bounds it. */
void http_client_set_long_poll(struct http_client *c, long ms);

/* Perform one request. body may be NULL (no body). Returns 0 when an HTTP
 * answer came (any status), -1 on a transport error (resp->error says why).
 * The caller frees resp->body with http_response_clear(). */
int http_request(struct http_client *c, const char *method, const char *url,
    const char *body, struct http_response *resp);
void http_response_clear(struct http_response *resp);

/* Call once per process before threads start, and at exit. */
int http_global_init(void);
void http_global_cleanup(void);

#endif
