/*
 * Which servers slctl talks to, the admin token it sends, and the HTTP calls
 * with their error reporting.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "clientconf.h"
#include "config.h"
#include "slctl.h"
#include "util.h"

/* Add url to the server list unless it is there already. */
int
ctl_add_server(struct ctl *ctl, const char *url)
{
	struct ctl_server *nv;
	char *u, full[CLIENTCONF_URL_MAX];
	size_t i;

	if (!util_valid_http_url(url) ||
	    util_url_with_port(url, full, sizeof(full)) == -1)
		return -1;
	if ((u = strdup(full)) == NULL)
		return -1;
	for (i = 0; i < ctl->nservers; i++)
		if (strcmp(ctl->servers[i].url, u) == 0) {
			free(u);
			return 0;
		}
	nv = realloc(ctl->servers, (ctl->nservers + 1) * sizeof(*nv));
	if (nv == NULL) {
		free(u);
		return -1;
	}
	ctl->servers = nv;
	ctl->servers[ctl->nservers++].url = u;
	return 0;
}

/*
 * Every server of SL_SERVERS or slclient.conf (common/clientconf): the
 * Primaries in order, each followed by its backup, then the Secondaries the
 * same way.
 */
static int
servers_from_client_conf(struct ctl *ctl)
{
	struct clientconf cc;
	char err[1024];
	size_t i;
	int rc = 0;

	memset(&cc, 0, sizeof(cc));
	if (clientconf_load(&cc, ctl->client_conf, NULL, 1, err, sizeof(err)) == -1) {
		ctl_warnx("%s", err);
		clientconf_free(&cc);
		return EXIT_CONFIG;
	}
	for (i = 0; i < cc.nservers && rc == 0; i++) {
		if (ctl_add_server(ctl, cc.servers[i].url) == -1 ||
		    (cc.servers[i].backup[0] != '\0' &&
		    ctl_add_server(ctl, cc.servers[i].backup) == -1)) {
			ctl_warnx("%s: out of memory", cc.servers[i].origin);
			rc = EXIT_OP;
		}
	}
	if (rc == 0 && ctl->nservers == 0) {
		ctl_warnx("%s: no servers", cc.file[0] ? cc.file : "SL_SERVERS");
		rc = EXIT_CONFIG;
	}
	if (rc == 0 && ctl->cacert == NULL && cc.cacert[0] != '\0' &&
	    (ctl->cacert = strdup(cc.cacert)) == NULL)
		rc = EXIT_OP;
	clientconf_free(&cc);
	return rc;
}

/* The URL a client uses for a server listening on listen_host:port. */
static int
server_from_listen(struct ctl *ctl, const struct server_config *sc)
{
	char url[300];
	const char *host = sc->listen_host;

	if (host[0] == '\0' || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "*") == 0)
		host = "127.0.0.1";
	else if (strcmp(host, "::") == 0)
		host = "::1";
	if (strchr(host, ':') != NULL)
		snprintf(url, sizeof(url), "%s://[%s]:%d",
		    sc->tls_cert ? "https" : "http", host, sc->listen_port);
	else
		snprintf(url, sizeof(url), "%s://%s:%d",
		    sc->tls_cert ? "https" : "http", host, sc->listen_port);
	return ctl_add_server(ctl, url);
}

/*
 * The servers, in order of preference: -s URL; SL_SERVERS; slclient.conf
 * named by -f or SL_CONFIG, else the default one if it exists; else the
 * listen address of slserve.conf (-c, or the default if it exists); else
 * http://127.0.0.1:7070.
 */
/* slserve.conf: the one -c names, else the default one if it is there; *sconf
 * is NULL when there is none. 0, or EXIT_CONFIG when it does not load. */
static int
load_slserve_conf(struct ctl *ctl, const char **sconf, struct server_config *sc)
{
	char err[4096];

	*sconf = ctl->server_conf;
	if (*sconf == NULL && access(SLSERVE_CONF_DEFAULT, R_OK) == 0)
		*sconf = SLSERVE_CONF_DEFAULT;
	if (*sconf == NULL)
		return 0;
	memset(sc, 0, sizeof(*sc));
	if (config_load(*sconf, sc, err, sizeof(err)) == -1) {
		char *nl = strchr(err, '\n');
		if (nl != NULL && nl[1] == '\0')
			*nl = '\0';
		ctl_warnx("%s", err);
		config_free(sc);
		return EXIT_CONFIG;
	}
	return 0;
}

int
ctl_servers_setup(struct ctl *ctl)
{
	const char *env = getenv("SL_SERVERS");
	const char *sconf;
	struct server_config sc;

	if (ctl->nservers > 0)
		return 0;
	if (env != NULL && *env != '\0') {
		int rc = servers_from_client_conf(ctl);
		ctl->servers_given = rc == 0;
		return rc;
	}
	if (ctl->client_conf != NULL || access(CLIENTCONF_DEFAULT_FILE, F_OK) == 0)
		return servers_from_client_conf(ctl);
	if (load_slserve_conf(ctl, &sconf, &sc) != 0)
		return EXIT_CONFIG;
	if (sconf != NULL) {
		if (server_from_listen(ctl, &sc) == -1) {
			ctl_warnx("%s: listen \"%s\" gives no usable URL", sconf,
			    sc.listen);
			config_free(&sc);
			return EXIT_CONFIG;
		}
		config_free(&sc);
		return 0;
	}
	return ctl_add_server(ctl, "http://127.0.0.1:7070") == -1 ? EXIT_OP : 0;
}

/* Read a token file: its first line, without surrounding white space. */
static char *
read_token(const char *path, char *err, size_t errlen)
{
	char *text, *s, *end, *tok;
	size_t len;

	if ((text = util_read_file_max(path, UTIL_SECRET_MAX, &len)) == NULL) {
		snprintf(err, errlen, "%s: %s", path, util_read_strerror(errno));
		return NULL;
	}
	s = text;
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	end = s;
	while (*end != '\0' && *end != '\n' && *end != '\r')
		end++;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*end = '\0';
	if (*s == '\0') {
		snprintf(err, errlen, "%s: empty token file", path);
		tok = NULL;
	} else if ((tok = strdup(s)) == NULL)
		snprintf(err, errlen, "out of memory");
	sodium_memzero(text, len);
	free(text);
	return tok;
}

/*
 * The admin token: --token-file FILE; SL_TOKEN; STATE_DIR/admin.token with
 * -D; the admin_token_file of slserve.conf (-c, or the default when it
 * exists). An explicitly named source that cannot be read is a config error;
 * otherwise slctl goes on without a token and explains a 401.
 */
int
ctl_token_setup(struct ctl *ctl)
{
	const char *env = getenv("SL_TOKEN");
	const char *sconf;
	struct server_config sc;
	char err[4096], *path;

	if (ctl->token_file != NULL) {
		if ((ctl->token = read_token(ctl->token_file, err, sizeof(err))) == NULL) {
			ctl_warnx("--token-file %s", err);
			return EXIT_CONFIG;
		}
		snprintf(ctl->token_hint, sizeof(ctl->token_hint),
		    "the token of --token-file %s was refused", ctl->token_file);
		return 0;
	}
	if (env != NULL && *env != '\0') {
		if ((ctl->token = strdup(env)) == NULL)
			return EXIT_OP;
		snprintf(ctl->token_hint, sizeof(ctl->token_hint),
		    "the token in SL_TOKEN was refused");
		return 0;
	}
	if (ctl->state_dir != NULL) {
		if ((path = util_path_join(ctl->state_dir, "admin.token")) == NULL)
			return EXIT_OP;
		ctl->token = read_token(path, err, sizeof(err));
		free(path);
		if (ctl->token == NULL) {
			ctl_warnx("-D: %s", err);
			return EXIT_CONFIG;
		}
		snprintf(ctl->token_hint, sizeof(ctl->token_hint),
		    "the token in %s/admin.token was refused", ctl->state_dir);
		return 0;
	}
	if (load_slserve_conf(ctl, &sconf, &sc) != 0)
		return EXIT_CONFIG;
	if (sconf == NULL) {
		snprintf(ctl->token_hint, sizeof(ctl->token_hint),
		    "no admin token given: use --token-file FILE or SL_TOKEN, or "
		    "run slctl on the server (-c SLSERVE_CONF or -D STATE_DIR)");
		return 0;
	}
	ctl->token = read_token(sc.admin_token_file, err, sizeof(err));
	if (ctl->token == NULL) {
		if (ctl->server_conf != NULL) {
			ctl_warnx("admin token of %s: %s", sconf, err);
			config_free(&sc);
			return EXIT_CONFIG;
		}
		snprintf(ctl->token_hint, sizeof(ctl->token_hint),
		    "no admin token (%.300s); use --token-file FILE or SL_TOKEN", err);
	} else
		snprintf(ctl->token_hint, sizeof(ctl->token_hint),
		    "the token in %s was refused", sc.admin_token_file);
	config_free(&sc);
	return 0;
}

int
ctl_http_setup(struct ctl *ctl)
{
	struct http_options o;

	if (ctl->http != NULL)
		return 0;
	memset(&o, 0, sizeof(o));
	o.connect_timeout_ms = ctl->timeout_ms < 1000 ? ctl->timeout_ms : 1000;
	o.timeout_ms = ctl->timeout_ms;
	o.token = ctl->token;
	o.cacert = ctl->cacert;
	o.user_agent = "slctl/" SL_VERSION;
	if ((ctl->http = http_client_new(&o)) == NULL) {
		ctl_warnx("cannot create an HTTP client");
		return EXIT_OP;
	}
	return 0;
}

int
ctl_call(struct ctl *ctl, const struct ctl_server *srv, const char *method,
    const char *path, json_t *body, struct ctl_reply *reply)
{
	struct http_response resp;
	char *url = NULL, *text = NULL;
	int rc;

	memset(reply, 0, sizeof(*reply));
	if (ctl_http_setup(ctl) != 0) {
		snprintf(reply->error, sizeof(reply->error), "no HTTP client");
		return -1;
	}
	if (asprintf(&url, "%s%s", srv->url, path) == -1) {
		snprintf(reply->error, sizeof(reply->error), "out of memory");
		return -1;
	}
	if (body != NULL && (text = json_dumps(body, JSON_COMPACT)) == NULL) {
		free(url);
		snprintf(reply->error, sizeof(reply->error), "out of memory");
		return -1;
	}
	rc = http_request(ctl->http, method, url, text, &resp);
	free(url);
	free(text);
	if (rc == -1) {
		snprintf(reply->error, sizeof(reply->error), "%s", resp.error);
		http_response_clear(&resp);
		return -1;
	}
	reply->status = resp.status;
	reply->body = resp.body;
	resp.body = NULL;
	if (reply->body != NULL && reply->body[0] != '\0')
		reply->json = json_loads(reply->body, JSON_DECODE_ANY, NULL);
	return 0;
}

void
ctl_reply_clear(struct ctl_reply *reply)
{
	json_decref(reply->json);
	free(reply->body);
	memset(reply, 0, sizeof(*reply));
}

const char *
ctl_json_str(json_t *obj, const char *key, const char *dflt)
{
	json_t *v = json_object_get(obj, key);

	return json_is_string(v) ? json_string_value(v) : dflt;
}

/* Print why a call failed (one line naming the server) and return the exit code. */
int
ctl_fail(struct ctl *ctl, const struct ctl_server *srv,
    const struct ctl_reply *reply, const char *what)
{
	const char *code, *msg;

	if (reply->status == 0) {
		ctl_set_error_code("unreachable");
		ctl_warnx("%s: %s: server unreachable: %s", srv->url, what,
		    reply->error);
		return EXIT_UNREACH;
	}
	if (reply->status == 401) {
		ctl_set_error_code("unauthorized");
		ctl_warnx("%s: %s: 401 unauthorized: %s", srv->url, what,
		    ctl->token_hint[0] ? ctl->token_hint : "admin token refused");
		return EXIT_AUTH;
	}
	code = ctl_json_str(reply->json, "error", NULL);
	msg = ctl_json_str(reply->json, "message", NULL);
	ctl_set_error_code(code != NULL ? code : "bad_answer");
	if (code != NULL && msg != NULL)
		ctl_warnx("%s: %s: %ld %s: %s", srv->url, what, reply->status, code, msg);
	else if (code != NULL)
		ctl_warnx("%s: %s: %ld %s", srv->url, what, reply->status, code);
	else if (reply->status >= 200 && reply->status < 300)
		ctl_warnx("%s: %s: malformed answer (not the JSON expected)",
		    srv->url, what);
	else
		ctl_warnx("%s: %s: HTTP status %ld", srv->url, what, reply->status);
	return EXIT_OP;
}

int
ctl_need_one_server(struct ctl *ctl, const char *cmd)
{
	if (ctl->nservers == 1)
		return 0;
	return ctl_usage_error(cmd, "%zu servers configured; name one with -s URL",
	    ctl->nservers);
}

/*
 * Work on STATE_DIR while slserve is stopped: take a shared flock on
 * STATE_DIR/lock (slserve holds it exclusively while it runs, and cannot
 * start while we hold it). Returns 0 with *lockfd to close when done, or -1.
 */
int
ctl_state_offline(const char *state_dir, int *lockfd, char *err, size_t errlen)
{
	char *path, buf[32];
	int fd;

	*lockfd = -1;
	if ((path = util_path_join(state_dir, "lock")) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	while (flock(fd, LOCK_SH | LOCK_NB) == -1) {
		if (errno == EINTR)
			continue;
		if (errno == EWOULDBLOCK) {
			ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
			long pid = 0;
			if (n > 0) {
				buf[n] = '\0';
				pid = atol(buf);
			}
			snprintf(err, errlen, "%s is in use by a running slserve "
			    "(pid %ld): stop it, or change it online with -s URL",
			    state_dir, pid);
		} else
			snprintf(err, errlen, "%s: flock: %s", path, strerror(errno));
		close(fd);
		free(path);
		return -1;
	}
	free(path);
	*lockfd = fd;
	return 0;
}

/* Percent-encode s for a URL path or query. Returns malloc'd text. */
char *
ctl_url_escape(const char *s)
{
	char *e = curl_easy_escape(NULL, s, 0), *out;

	if (e == NULL)
		return NULL;
	out = strdup(e);
	curl_free(e);
	return out;
}
