#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <sodium.h>

#include "http.h"
#include "util.h"

#define HTTP_MAX_BODY (64u << 20)

struct http_client {
	CURL *curl;
	struct http_options opts;
	char *token;
	char *cacert;
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
http_client_set_token(struct http_client *c, const char *token)
{
	free(c->token);
	c->token = token ? strdup(token) : NULL;
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
	static const char name[] = "X-SL-Epoch:";

	if (n > sizeof(name) && strncasecmp(buf, name, sizeof(name) - 1) == 0) {
		const char *v = buf + sizeof(name) - 1;
		size_t vl = n - (sizeof(name) - 1);
		while (vl > 0 && (*v == ' ' || *v == '\t')) {
			v++;
			vl--;
		}
		while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
			vl--;
		if (vl >= sizeof(r->epoch))
			vl = sizeof(r->epoch) - 1;
		memcpy(r->epoch, v, vl);
		r->epoch[vl] = '\0';
	}
	return n;
}

int
http_request(struct http_client *c, const char *method, const char *url,
    const char *body, struct http_response *resp)
{
	struct curl_slist *hdrs = NULL;
	char auth[600];
	CURLcode rc;
	CURL *h = c->curl;

	memset(resp, 0, sizeof(*resp));
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->opts.connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->opts.timeout_ms);
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
		snprintf(resp->error, sizeof(resp->error), "%s", curl_easy_strerror(rc));
		free(resp->body);
		resp->body = NULL;
		resp->len = 0;
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
	free(resp->body);
	resp->body = NULL;
	resp->len = 0;
}
