/*
 * http.c: every HTTP client call of sl, over libcurl: one handle per peer
 * reused for keep-alive, deadlines and long polls, TLS errors in words.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <sodium.h>

#include "http.h"
#include "util.h"

#define HTTP_MAX_BODY (64u << 20)
/* A CA bundle is public and may list many certificates: the configuration
 * files' limit, not the 1 MiB of a key. */
#define HTTP_MAX_CACERT UTIL_CONF_MAX

struct http_client {
	CURL *curl;
	struct http_options opts;
	char *token;
	char *cacert;
	int64_t deadline_ms;
	long long_poll_ms;	/* more time a request may take: a server-side wait */
};

int
http_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void
http_global_cleanup(void)
{
	curl_global_cleanup();
}

struct http_client *
http_client_new(const struct http_options *opts)
{
	struct http_client *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	if (opts != NULL)
		c->opts = *opts;
	if (c->opts.connect_timeout_ms <= 0)
		c->opts.connect_timeout_ms = 1000;
	if (c->opts.timeout_ms <= 0)
		c->opts.timeout_ms = 3000;
	if (c->opts.token != NULL)
		c->token = strdup(c->opts.token);
	if (c->opts.cacert != NULL)
		c->cacert = strdup(c->opts.cacert);
	c->opts.token = NULL;
	c->opts.cacert = NULL;
	if ((c->curl = curl_easy_init()) == NULL) {
		http_client_free(c);
		return NULL;
	}
	return c;
}

void
http_client_free(struct http_client *c)
{
	if (c == NULL)
		return;
	if (c->curl != NULL)
		curl_easy_cleanup(c->curl);
	if (c->token != NULL)
		sodium_memzero(c->token, strlen(c->token));
	free(c->token);
	free(c->cacert);
	free(c);
}

void
http_client_set_long_poll(struct http_client *c, long ms)
{
	c->long_poll_ms = ms > 0 ? ms : 0;
}

void
http_client_set_deadline(struct http_client *c, int64_t deadline_ms)
{
	c->deadline_ms = deadline_ms;
}

/* Sockets must not leak into programs the caller runs (slcheck run). */
static int
http_sockopt_cb(void *clientp, curl_socket_t fd, curlsocktype purpose)
{
	int flags;

	(void)clientp;
	(void)purpose;
	if ((flags = fcntl(fd, F_GETFD)) != -1)
		(void)fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
	return CURL_SOCKOPT_OK;
}

/* Copy a header's value (after name) into dst, trimmed. */
static void
http_header_value(const char *buf, size_t n, size_t namelen, char *dst, size_t dstlen)
{
	const char *v = buf + namelen;
	size_t vl = n - namelen;

	while (vl > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vl--;
	}
	while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
		vl--;
	if (vl >= dstlen)
		vl = dstlen - 1;
	memcpy(dst, v, vl);
	dst[vl] = '\0';
}

static size_t
http_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct http_response *r = userdata;
	size_t n = size * nmemb;

	if (r->len + n > HTTP_MAX_BODY)
		return 0;
	char *nb = realloc(r->body, r->len + n + 1);
	if (nb == NULL)
		return 0;
	r->body = nb;
	memcpy(r->body + r->len, ptr, n);
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

static size_t
http_header_cb(char *buf, size_t size, size_t nitems_, void *userdata)
{
	struct http_response *r = userdata;
	size_t n = size * nitems_;
	static const char epoch[] = "X-SL-Epoch:";
	static const char server[] = "X-SL-Server:";

	if (n > sizeof(epoch) && strncasecmp(buf, epoch, sizeof(epoch) - 1) == 0)
		http_header_value(buf, n, sizeof(epoch) - 1, r->epoch, sizeof(r->epoch));
	else if (n > sizeof(server) && strncasecmp(buf, server, sizeof(server) - 1) == 0)
		http_header_value(buf, n, sizeof(server) - 1, r->server, sizeof(r->server));
	return n;
}

/* Errors where libcurl's own message ("SSL certificate problem: unable to
 * get local issuer certificate") says more than the generic one. */
static int
http_tls_error(CURLcode rc)
{
	switch (rc) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ISSUER_ERROR:
		return 1;
	default:
		return 0;
	}
}

/* A TLS failure in words: OpenSSL's "error:0A00010B:SSL routines::wrong
 * version number" is a plain-HTTP server asked with https://. */
static void
http_tls_words(char *out, size_t outlen, const char *errbuf)
{
	const char *text = errbuf, *routines;

	if (strstr(errbuf, "wrong version number") != NULL) {
		snprintf(out, outlen, "TLS: the server does not speak TLS "
		    "(its URL is http://, not https://)");
		return;
	}
	if (strstr(errbuf, "SSL_ERROR_SYSCALL") != NULL) {
		snprintf(out, outlen, "TLS: the server closed the connection in the "
		    "TLS handshake (does it speak TLS? its URL may be http://)");
		return;
	}
	/* Keep OpenSSL's words, without its packed error code. */
	if (strncmp(text, "error:", 6) == 0 &&
	    (routines = strstr(text, " routines::")) != NULL)
		text = routines + strlen(" routines::");
	snprintf(out, outlen, "TLS: %s", text);
}

void
http_client_set_timeout(struct http_client *c, long timeout_ms)
{
	c->opts.timeout_ms = timeout_ms > 0 ? timeout_ms : 3000;
}

int
http_request(struct http_client *c, const char *method, const char *url,
    const char *body, struct http_response *resp)
{
	struct curl_slist *hdrs = NULL;
	char auth[600], errbuf[CURL_ERROR_SIZE];
	CURLcode rc;
	CURL *h = c->curl;
	long connect_ms = c->opts.connect_timeout_ms;
	long total_ms = c->opts.timeout_ms;

	memset(resp, 0, sizeof(*resp));
	if (c->cacert != NULL && strncasecmp(url, "https:", 6) == 0 &&
	    util_check_file(c->cacert, HTTP_MAX_CACERT) == -1) {
		snprintf(resp->error, sizeof(resp->error), "cacert %s: %s", c->cacert,
		    util_read_strerror(errno));
		return -1;
	}
	total_ms += c->long_poll_ms;
	if (c->deadline_ms > 0) {
		int64_t left = c->deadline_ms - util_mono_ms();
		if (left <= 0) {
			resp->timed_out = 1;
			snprintf(resp->error, sizeof(resp->error), "deadline reached");
			return -1;
		}
		if (left < total_ms)
			total_ms = (long)left;
		if (left < connect_ms)
			connect_ms = (long)left;
	}
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, total_ms);
	curl_easy_setopt(h, CURLOPT_SOCKOPTFUNCTION, http_sockopt_cb);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_USERAGENT,
	    c->opts.user_agent ? c->opts.user_agent : "sl/" SL_VERSION);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, http_write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, http_header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, resp);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (c->cacert != NULL)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->cacert);
	errbuf[0] = '\0';
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	if (body != NULL) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	} else if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
	}
	hdrs = curl_slist_append(hdrs, "Expect:");
	if (c->token != NULL && c->token[0] != '\0') {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->token);
		hdrs = curl_slist_append(hdrs, auth);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);

	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_TOTAL_TIME, &resp->seconds);
	curl_slist_free_all(hdrs);
	if (rc != CURLE_OK) {
		resp->status = 0;
		resp->timed_out = rc == CURLE_OPERATION_TIMEDOUT;
		resp->tls_rejected = rc == CURLE_PEER_FAILED_VERIFICATION;
		long code = 0;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
		resp->partial = code != 0 || resp->len > 0;
		if (http_tls_error(rc) && errbuf[0] != '\0')
			http_tls_words(resp->error, sizeof(resp->error), errbuf);
		else if (rc == CURLE_GOT_NOTHING && strncasecmp(url, "http:", 5) == 0)
			snprintf(resp->error, sizeof(resp->error), "%s (if the server "
			    "uses TLS, its URL is https://)", curl_easy_strerror(rc));
		else
			snprintf(resp->error, sizeof(resp->error), "%s", curl_easy_strerror(rc));
		util_vec_free(resp->body, resp->len);
		return -1;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
	if (resp->body == NULL && (resp->body = calloc(1, 1)) == NULL) {
		snprintf(resp->error, sizeof(resp->error), "out of memory");
		resp->status = 0;
		return -1;
	}
	return 0;
}

void
http_response_clear(struct http_response *resp)
{
	util_vec_free(resp->body, resp->len);
}
