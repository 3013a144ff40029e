/*
 * slctl license keygen|sign|verify|add|remove: issuer keys, signed licenses,
 * and atomic edits of a server's licenses file.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "config.h"
#include "license.h"
#include "slctl.h"
#include "state.h"
#include "util.h"

/* Print every line of a multi-line error, each as its own diagnostic. */
static void
warn_lines(const char *prefix, const char *err)
{
	const char *p = err, *nl;

	while (*p != '\0') {
		nl = strchr(p, '\n');
		ctl_warnx("%s%.*s", prefix, nl ? (int)(nl - p) : (int)strlen(p), p);
		if (nl == NULL)
			break;
		p = nl + 1;
	}
}

/* slserve.conf, if one was named or the default exists. 1: loaded, 0: none, -1: error. */
static int
load_server_conf(struct ctl *ctl, struct server_config *sc)
{
	const char *path = ctl->server_conf;
	char err[4096];

	memset(sc, 0, sizeof(*sc));
	if (path == NULL) {
		if (access(SLSERVE_CONF_DEFAULT, R_OK) != 0)
			return 0;
		path = SLSERVE_CONF_DEFAULT;
	}
	if (config_load(path, sc, err, sizeof(err)) == -1) {
		warn_lines("", err);
		config_free(sc);
		memset(sc, 0, sizeof(*sc));
		return -1;
	}
	return 1;
}

/*
 * Find the section 'license "ID" { ... }' at the top level of a licenses
 * file's text, skipping comments and strings the way libconfuse reads them.
 * *start is the beginning of its first line, *end just after its last line.
 */
static int
find_section(const char *text, const char *id, size_t *start, size_t *end)
{
	size_t i = 0, len = strlen(text), word = 0, sec_start = 0;
	int depth = 0, state = 0;	/* 0 idle, 1 saw license, 2 saw its title, 3 inside */
	char title[SL_ID_MAX + 2];

	while (i < len) {
		char c = text[i];

		if (c == '#' || (c == '/' && text[i + 1] == '/')) {
			while (i < len && text[i] != '\n')
				i++;
			continue;
		}
		if (c == '/' && text[i + 1] == '*') {
			const char *e = strstr(text + i + 2, "*/");
			i = e ? (size_t)(e - text) + 2 : len;
			continue;
		}
		if (c == '"' || c == '\'') {
			size_t j = i + 1, n = 0;
			while (j < len && text[j] != c) {
				if (text[j] == '\\' && j + 1 < len)
					j++;
				if (n < sizeof(title) - 1)
					title[n++] = text[j];
				j++;
			}
			title[n] = '\0';
			if (state == 1 && depth == 0)
				state = strcmp(title, id) == 0 ? 2 : 0;
			i = j + 1;
			continue;
		}
		if (c == '{') {
			if (depth == 0)
				state = state == 2 ? 3 : 0;
			depth++;
			i++;
			continue;
		}
		if (c == '}') {
			if (depth > 0)
				depth--;
			i++;
			if (depth == 0 && state == 3) {
				while (i < len && (text[i] == ' ' || text[i] == '\t'))
					i++;
				if (i < len && text[i] == '\n')
					i++;
				*start = sec_start;
				*end = i;
				return 0;
			}
			continue;
		}
		if (depth == 0 && (c == '_' || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z'))) {
			word = i;
			while (i < len && (text[i] == '_' || (text[i] >= 'a' &&
			    text[i] <= 'z') || (text[i] >= 'A' && text[i] <= 'Z') ||
			    (text[i] >= '0' && text[i] <= '9')))
				i++;
			if (i - word == 7 && strncmp(text + word, "license", 7) == 0) {
				state = 1;
				sec_start = word;
				while (sec_start > 0 && text[sec_start - 1] != '\n')
					sec_start--;
			} else
				state = 0;
			continue;
		}
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && depth == 0)
			state = 0;
		i++;
	}
	return -1;
}

/* Replace text[start, end) with repl; returns a new malloc'd text. */
static char *
text_splice(const char *text, size_t start, size_t end, const char *repl)
{
	char *out;

	if (asprintf(&out, "%.*s%s%s", (int)start, text, repl, text + end) == -1)
		return NULL;
	return out;
}

/* The state_write_atomic check of a new licenses file: it must parse, so a
 * file slserve would refuse is never installed. */
static int
licenses_parse_check(int fd, const char *tmp, void *arg, char *err, size_t errlen)
{
	struct license_set check;

	(void)fd;
	(void)arg;
	if (license_load(tmp, &check, err, errlen) == -1)
		return -1;
	license_set_free(&check);
	return 0;
}

/* Replace path with text, keeping path's mode, if text parses as a licenses file. */
static int
write_licenses(const char *path, const char *text, char *err, size_t errlen)
{
	struct stat st;
	mode_t mode = 0644;

	if (stat(path, &st) == 0)
		mode = st.st_mode & 07777;
	return state_write_atomic_check(path, text, strlen(text), mode,
	    licenses_parse_check, NULL, err, errlen);
}

/* Take the lock that serializes edits of the licenses file path. */
static int
lock_licenses(const char *path, char *err, size_t errlen)
{
	char *lockpath;
	int fd;

	if (asprintf(&lockpath, "%s.lock", path) == -1) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	fd = state_lock_wait(lockpath, err, errlen);
	free(lockpath);
	return fd;
}

/* The public keys a command checks signatures with: those given with -k,
 * else the trusted_keys of slserve.conf. */
struct keyring {
	char **paths;
	size_t n;
	struct license_key *keys;
	struct server_config sc;
	int have_sc;		/* load_server_conf's answer, once tried */
	int tried_sc;
};

static int
keyring_init(struct keyring *kr, int argc)
{
	memset(kr, 0, sizeof(*kr));
	kr->paths = calloc((size_t)argc, sizeof(*kr->paths));
	return kr->paths == NULL ? -1 : 0;
}

/* slserve.conf, loaded once: 1 loaded, 0 none, -1 error. */
static int
keyring_server_conf(struct ctl *ctl, struct keyring *kr)
{
	if (!kr->tried_sc) {
		kr->have_sc = load_server_conf(ctl, &kr->sc);
		kr->tried_sc = 1;
	}
	return kr->have_sc;
}

/* Read the keys; 0 or the exit code. */
static int
keyring_load(struct ctl *ctl, struct keyring *kr)
{
	char err[1024];
	size_t i;

	if (kr->n == 0) {
		if (keyring_server_conf(ctl, kr) == -1)
			return EXIT_CONFIG;
		for (i = 0; kr->have_sc && i < kr->sc.ntrusted_keys; i++)
			kr->paths[kr->n++] = kr->sc.trusted_keys[i];
	}
	kr->keys = calloc(kr->n ? kr->n : 1, sizeof(*kr->keys));
	if (kr->keys == NULL)
		return EXIT_OP;
	for (i = 0; i < kr->n; i++)
		if (license_key_load(kr->paths[i], &kr->keys[i], err, sizeof(err)) == -1) {
			ctl_warnx("%s", err);
			return EXIT_CONFIG;
		}
	return 0;
}

static void
keyring_free(struct keyring *kr)
{
	if (kr->keys != NULL)
		sodium_memzero(kr->keys, (kr->n ? kr->n : 1) * sizeof(*kr->keys));
	free(kr->keys);
	free(kr->paths);
	if (kr->have_sc == 1)
		config_free(&kr->sc);
}

static int
license_keygen_cmd(void *ctx, int argc, char **argv)
{
	struct ctl *ctl = ctx;
	const char *dir = ".";
	char *pub = NULL, *sec = NULL, err[1024];
	int ch, rc = 0;

	while ((ch = ctl_getopt(ctl, argc, argv, NULL)) != -1) {
		if (ch == 'd')
			dir = optarg;
		else
			return ctl_command_usage("license");
	}
	if ((rc = ctl_sub_operands("license", ctl->cmd, argc - optind, argv + optind)) != 0)
		return rc;
	if (!util_valid_id(argv[optind]))
		return ctl_usage_error("license", "keygen: invalid issuer \"%s\": use "
		    "1 to %d of A-Z a-z 0-9 . _ -", argv[optind], SL_ID_MAX);
	if (asprintf(&pub, "%s/%s.pub", dir, argv[optind]) == -1 ||
	    asprintf(&sec, "%s/%s.key", dir, argv[optind]) == -1)
		return EXIT_OP;
	if (license_keygen(argv[optind], pub, sec, err, sizeof(err)) == -1) {
		ctl_warnx("license keygen: %s", err);
		rc = EXIT_OP;
	} else
		printf("public key %s\nsecret key %s (mode 0600; keep it off the "
		    "servers)\n", pub, sec);
	free(pub);
	free(sec);
	return rc;
}

static int
license_sign_cmd(void *ctx, int argc, char **argv)
{
	struct ctl *ctl = ctx;
	struct license_set set = { NULL, 0 };
	struct license_key key;
	char err[8192], *text = NULL, *sectext;
	const char *keyfile = NULL, *file;
	int ch, in_place = 0, rc, lockfd = -1;
	size_t i, s, e;

	while ((ch = ctl_getopt(ctl, argc, argv, NULL)) != -1) {
		switch (ch) {
		case 'k':
			keyfile = optarg;
			break;
		case 'i':
			in_place = 1;
			break;
		default:
			return ctl_command_usage("license");
		}
	}
	if ((rc = ctl_sub_operands("license", ctl->cmd, argc - optind, argv + optind)) != 0)
		return rc;
	if (keyfile == NULL)
		return ctl_usage_error("license", "sign: missing -k SECRET-KEY");
	file = argv[optind];
	if (license_key_load(keyfile, &key, err, sizeof(err)) == -1) {
		ctl_warnx("%s", err);
		return EXIT_CONFIG;
	}
	if (!key.has_secret) {
		ctl_warnx("%s: a public key; signing needs the secret key (.key)",
		    keyfile);
		rc = EXIT_CONFIG;
		goto out;
	}
	rc = EXIT_OP;
	if (in_place && (lockfd = lock_licenses(file, err, sizeof(err))) == -1) {
		ctl_warnx("%s", err);
		goto out;
	}
	if (license_load(file, &set, err, sizeof(err)) == -1) {
		warn_lines("", err);
		rc = EXIT_CONFIG;
		goto out;
	}
	if ((text = util_read_file_max(file, UTIL_CONF_MAX, NULL)) == NULL) {
		ctl_warnx("%s: %s", file, util_read_strerror(errno));
		rc = EXIT_CONFIG;
		goto out;
	}
	for (i = 0; i < set.n; i++) {
		char *nt;

		if (license_sign(&set.v[i], &key) == -1 ||
		    (sectext = license_format(&set.v[i])) == NULL) {
			ctl_warnx("%s: cannot sign license \"%s\"", file, set.v[i].id);
			goto out;
		}
		if (find_section(text, set.v[i].id, &s, &e) == -1) {
			ctl_warnx("%s: cannot find the section of license \"%s\"",
			    file, set.v[i].id);
			free(sectext);
			goto out;
		}
		nt = text_splice(text, s, e, sectext);
		free(sectext);
		if (nt == NULL)
			goto out;
		free(text);
		text = nt;
	}
	if (in_place) {
		if (write_licenses(file, text, err, sizeof(err)) == -1) {
			warn_lines("", err);
			goto out;
		}
		fprintf(stderr, "%s: %s: signed %zu license%s as %s\n", ctl_progname,
		    file, set.n, set.n == 1 ? "" : "s", key.issuer);
	} else
		fputs(text, stdout);
	rc = 0;
out:
	sodium_memzero(&key, sizeof(key));
	license_set_free(&set);
	free(text);
	if (lockfd != -1)
		close(lockfd);
	return rc;
}

static int
license_verify_cmd(void *ctx, int argc, char **argv)
{
	struct ctl *ctl = ctx;
	static const char *const hdr[] = { "LICENSE", "PRODUCT", "ISSUER", "RESULT" };
	struct license_set set = { NULL, 0 };
	struct keyring kr;
	char err[8192];
	const char *host = NULL;
	size_t i, bad = 0;
	int ch, json = ctl->json, rc = 0;
	struct table *t = NULL;
	json_t *list = NULL;

	if (keyring_init(&kr, argc) == -1)
		return EXIT_OP;
	while ((ch = ctl_getopt(ctl, argc, argv, &json)) != -1) {
		switch (ch) {
		case 'k':
			kr.paths[kr.n++] = optarg;
			break;
		case 'H':
			host = optarg;
			break;
		default:
			rc = ctl_command_usage("license");
			goto out;
		}
	}
	if ((rc = ctl_sub_operands("license", ctl->cmd, argc - optind, argv + optind)) != 0)
		goto out;
	if (host == NULL) {
		if (keyring_server_conf(ctl, &kr) == -1) {
			rc = EXIT_CONFIG;
			goto out;
		}
		if (kr.have_sc && kr.sc.hostname[0] != '\0')
			host = kr.sc.hostname;
	}
	if ((rc = keyring_load(ctl, &kr)) != 0)
		goto out;
	if (kr.n == 0)
		ctl_warnx("license verify: no public keys (give -k KEY, or "
		    "trusted_keys in slserve.conf); signed licenses cannot be checked");
	if (license_load(argv[optind], &set, err, sizeof(err)) == -1) {
		warn_lines("", err);
		rc = EXIT_CONFIG;
		goto out;
	}
	if (json)
		list = json_array();
	else if ((t = table_new(nitems(hdr), hdr)) == NULL) {
		rc = EXIT_OP;
		goto out;
	}
	for (i = 0; i < set.n; i++) {
		const struct license *l = &set.v[i];
		enum license_verdict v = license_verify(l, kr.keys, kr.n);
		int expired = license_expired(l);
		int host_ok = license_host_matches(l, host);
		const char *result = license_verdict_str(v);

		if (v == LICENSE_VALID && expired)
			result = "expired";
		else if (v == LICENSE_VALID && !host_ok)
			result = "wrong host";
		if (strcmp(result, "valid") != 0)
			bad++;
		if (json)
			json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, "
			    "s:s, s:b, s:b, s:s, s:i}", "id", l->id, "product",
			    l->product, "issuer", l->issuer, "result", result,
			    "signature", license_verdict_str(v), "expired", expired,
			    "host_ok", host_ok, "file", l->file, "line", l->line));
		else {
			const char *row[] = { l->id, l->product, l->issuer[0] ?
			    l->issuer : "-", result };
			table_add(t, row);
		}
	}
	if (json) {
		json_t *o = json_pack("{s:s, s:o}", "file", argv[optind],
		    "licenses", list);
		ctl_print_json(o);
		json_decref(o);
	} else
		table_print(t, stdout);
	if (bad > 0) {
		ctl_warnx("license verify: %s: %zu of %zu licenses not valid",
		    argv[optind], bad, set.n);
		rc = EXIT_OP;
	}
out:
	table_free(t);
	license_set_free(&set);
	keyring_free(&kr);
	return rc;
}

/* Before editing, make sure the server answers and takes the token, so a
 * refused reload does not leave the file changed behind its back. */
static int
admin_preflight(struct ctl *ctl)
{
	struct ctl_reply r;
	int rc = 0;

	if (ctl_call(ctl, &ctl->servers[0], "GET", "/v1/leases?product=-", NULL,
	    &r) == -1 || r.status != 200) {
		rc = ctl_fail(ctl, &ctl->servers[0], &r,
		    "reload check (file not changed)");
	}
	ctl_reply_clear(&r);
	return rc;
}

/* The licenses file to edit and the server to reload afterwards. */
static int
edit_target(struct ctl *ctl, const char *given, char **path, int reload)
{
	struct server_config sc;
	char url[300];
	int have, rc = 0;

	*path = NULL;
	if ((have = load_server_conf(ctl, &sc)) == -1)
		return EXIT_CONFIG;
	if (given != NULL)
		*path = strdup(given);
	else if (have)
		*path = strdup(sc.licenses);
	else {
		rc = ctl_usage_error("license", "no licenses file: give -L LICENSES "
		    "or -c SLSERVE_CONF");
		goto out;
	}
	if (*path == NULL) {
		rc = EXIT_OP;
		goto out;
	}
	if (!reload)
		goto out;
	/* Reload the server whose file this is, unless -s says otherwise. */
	if (!ctl->servers_given && have && getenv("SL_SERVERS") == NULL) {
		const char *h = sc.listen_host;
		if (h[0] == '\0' || strcmp(h, "0.0.0.0") == 0)
			h = "127.0.0.1";
		snprintf(url, sizeof(url), strchr(h, ':') ? "%s://[%s]:%d" :
		    "%s://%s:%d", sc.tls_cert ? "https" : "http", h, sc.listen_port);
		if (ctl_add_server(ctl, url) == -1) {
			ctl_warnx("%s: listen \"%s\" gives no usable URL", sc.file,
			    sc.listen);
			rc = EXIT_CONFIG;
			goto out;
		}
	}
	if ((rc = ctl_servers_setup(ctl)) != 0 ||
	    (rc = ctl_need_one_server(ctl, "license")) != 0 ||
	    (rc = ctl_token_setup(ctl)) != 0 ||
	    (rc = ctl_http_setup(ctl)) != 0)
		goto out;
	rc = admin_preflight(ctl);
out:
	if (have)
		config_free(&sc);
	if (rc != 0) {
		free(*path);
		*path = NULL;
	}
	return rc;
}

static int
reload_after_edit(struct ctl *ctl, const char *file)
{
	struct ctl_reply r;
	int rc;

	if (ctl_call(ctl, &ctl->servers[0], "POST", "/v1/admin/reload", NULL,
	    &r) == -1 || r.status != 200) {
		if (r.status == 422) {
			ctl_warnx("%s: updated, but %s refused to reload it: %s", file,
			    ctl->servers[0].url, ctl_json_str(r.json, "message", "?"));
			rc = EXIT_OP;
		} else {
			rc = ctl_fail(ctl, &ctl->servers[0], &r, "reload");
			ctl_warnx("%s: updated, but the server has not reloaded it",
			    file);
		}
		ctl_reply_clear(&r);
		return rc;
	}
	printf("%s: reloaded\n", ctl->servers[0].url);
	ctl_reply_clear(&r);
	return 0;
}

/* A licenses file being edited: under its lock, parsed and as text. */
struct licenses_edit {
	const char *path;
	int lockfd;
	struct license_set cur;
	char *text;
};

#define LICENSES_EDIT_INIT { NULL, -1, { NULL, 0 }, NULL }

/* Lock path and read it; a file that does not parse must be fixed before
 * "adding" or "removing" licenses. Returns 0 or the exit code. */
static int
edit_open(struct licenses_edit *ed, const char *path, const char *doing)
{
	char err[8192];

	ed->path = path;
	if ((ed->lockfd = lock_licenses(path, err, sizeof(err))) == -1) {
		ctl_warnx("%s", err);
		return EXIT_OP;
	}
	if (license_load(path, &ed->cur, err, sizeof(err)) == -1) {
		warn_lines("", err);
		ctl_warnx("%s: fix this file before %s licenses", path, doing);
		return EXIT_CONFIG;
	}
	if ((ed->text = util_read_file_max(path, UTIL_CONF_MAX, NULL)) == NULL) {
		ctl_warnx("%s: %s", path, util_read_strerror(errno));
		return EXIT_CONFIG;
	}
	return 0;
}

/* Install the edited text; 0 or the exit code. */
static int
edit_save(struct licenses_edit *ed)
{
	char err[8192];

	if (write_licenses(ed->path, ed->text, err, sizeof(err)) == -1) {
		warn_lines("", err);
		return EXIT_OP;
	}
	return 0;
}

/* Release the lock, then have the server reload the file. */
static int
edit_done(struct ctl *ctl, struct licenses_edit *ed, int reload)
{
	close(ed->lockfd);
	ed->lockfd = -1;
	return reload ? reload_after_edit(ctl, ed->path) : 0;
}

static void
edit_free(struct licenses_edit *ed)
{
	if (ed->lockfd != -1)
		close(ed->lockfd);
	license_set_free(&ed->cur);
	free(ed->text);
}

static int
license_add_cmd(void *ctx, int argc, char **argv)
{
	struct ctl *ctl = ctx;
	struct licenses_edit ed = LICENSES_EDIT_INIT;
	struct license_set add = { NULL, 0 };
	struct keyring kr;
	char err[8192], *path = NULL, *sectext, *nt;
	const char *given = NULL;
	size_t i, j;
	int ch, reload = 1, rc;

	if (keyring_init(&kr, argc) == -1)
		return EXIT_OP;
	while ((ch = ctl_getopt(ctl, argc, argv, NULL)) != -1) {
		switch (ch) {
		case 'L':
			given = optarg;
			break;
		case 'k':
			kr.paths[kr.n++] = optarg;
			break;
		case 'R':
			reload = 0;
			break;
		default:
			rc = ctl_command_usage("license");
			goto out;
		}
	}
	if ((rc = ctl_sub_operands("license", ctl->cmd, argc - optind, argv + optind)) != 0 ||
	    (rc = edit_target(ctl, given, &path, reload)) != 0 ||
	    (rc = keyring_load(ctl, &kr)) != 0)
		goto out;
	rc = EXIT_CONFIG;
	if (license_load(argv[optind], &add, err, sizeof(err)) == -1) {
		warn_lines("", err);
		goto out;
	}
	if (add.n == 0) {
		ctl_warnx("%s: no licenses in it", argv[optind]);
		goto out;
	}
	rc = EXIT_OP;
	for (i = 0; i < add.n; i++) {
		enum license_verdict v;
		for (j = 0; j < i; j++)
			if (strcmp(add.v[i].id, add.v[j].id) == 0) {
				ctl_warnx("%s: license \"%s\" twice", argv[optind],
				    add.v[i].id);
				goto out;
			}
		if (kr.n > 0 && (v = license_verify(&add.v[i], kr.keys, kr.n)) !=
		    LICENSE_VALID) {
			ctl_warnx("%s:%d: license \"%s\": %s; not added",
			    argv[optind], add.v[i].line, add.v[i].id,
			    license_verdict_str(v));
			goto out;
		}
	}
	if ((rc = edit_open(&ed, path, "adding")) != 0)
		goto out;
	rc = EXIT_OP;
	for (i = 0; i < add.n; i++)
		if (license_find(&ed.cur, add.v[i].id) != NULL) {
			ctl_warnx("%s: license \"%s\" is there already; remove it "
			    "first", path, add.v[i].id);
			goto out;
		}
	for (i = 0; i < add.n; i++) {
		size_t len = strlen(ed.text);
		if ((sectext = license_format(&add.v[i])) == NULL)
			goto out;
		if (asprintf(&nt, "%s%s%s%s", ed.text, len > 0 &&
		    ed.text[len - 1] != '\n' ? "\n" : "", len > 0 ? "\n" : "",
		    sectext) == -1) {
			free(sectext);
			goto out;
		}
		free(sectext);
		free(ed.text);
		ed.text = nt;
	}
	if ((rc = edit_save(&ed)) != 0)
		goto out;
	for (i = 0; i < add.n; i++)
		printf("%s: added %s\n", path, add.v[i].id);
	rc = edit_done(ctl, &ed, reload);
out:
	edit_free(&ed);
	license_set_free(&add);
	keyring_free(&kr);
	free(path);
	return rc;
}

static int
license_remove_cmd(void *ctx, int argc, char **argv)
{
	struct ctl *ctl = ctx;
	struct licenses_edit ed = LICENSES_EDIT_INIT;
	char *path = NULL, *nt;
	const char *given = NULL;
	int ch, reload = 1, rc, i;
	size_t s, e;

	while ((ch = ctl_getopt(ctl, argc, argv, NULL)) != -1) {
		switch (ch) {
		case 'L':
			given = optarg;
			break;
		case 'R':
			reload = 0;
			break;
		default:
			return ctl_command_usage("license");
		}
	}
	if ((rc = ctl_sub_operands("license", ctl->cmd, argc - optind,
	    argv + optind)) != 0)
		return rc;
	for (i = optind; i < argc; i++)
		if (!util_valid_id(argv[i]))
			return ctl_usage_error("license", "remove: invalid license "
			    "id \"%s\"", argv[i]);
	if ((rc = edit_target(ctl, given, &path, reload)) != 0)
		return rc;
	if ((rc = edit_open(&ed, path, "removing")) != 0)
		goto out;
	rc = EXIT_OP;
	for (i = optind; i < argc; i++) {
		if (license_find(&ed.cur, argv[i]) == NULL ||
		    find_section(ed.text, argv[i], &s, &e) == -1) {
			ctl_warnx("%s: no license \"%s\"; nothing changed", path,
			    argv[i]);
			goto out;
		}
		if ((nt = text_splice(ed.text, s, e, "")) == NULL)
			goto out;
		free(ed.text);
		ed.text = nt;
	}
	if ((rc = edit_save(&ed)) != 0)
		goto out;
	for (i = optind; i < argc; i++)
		printf("%s: removed %s\n", path, argv[i]);
	rc = edit_done(ctl, &ed, reload);
out:
	edit_free(&ed);
	free(path);
	return rc;
}

static const struct option json_option[] = {
	{ "json", no_argument, NULL, 'j' },
	{ NULL, 0, NULL, 0 },
};
static const struct option no_reload_option[] = {
	{ "no-reload", no_argument, NULL, 'R' },
	{ NULL, 0, NULL, 0 },
};

static const struct cmd_entry license_cmds[] = {
	{ .name = "keygen", .handler = license_keygen_cmd, .shortopts = "d:",
	  .min = 1, .max = 1, .too_few = "missing ISSUER",
	  .too_many = "too many arguments" },
	{ .name = "sign", .handler = license_sign_cmd, .shortopts = "k:i",
	  .min = 1, .max = 1, .too_few = "missing FILE",
	  .too_many = "too many arguments" },
	{ .name = "verify", .handler = license_verify_cmd, .shortopts = "jk:H:",
	  .longopts = json_option, .min = 1, .max = 1, .too_few = "missing FILE",
	  .too_many = "too many arguments" },
	{ .name = "add", .handler = license_add_cmd, .shortopts = "L:k:",
	  .longopts = no_reload_option, .min = 1, .max = 1,
	  .too_few = "missing FILE", .too_many = "too many arguments" },
	{ .name = "remove", .handler = license_remove_cmd, .shortopts = "L:",
	  .longopts = no_reload_option, .min = 1, .max = -1,
	  .too_few = "missing ID" },
};

static const struct cmd_table license_table = {
	.prog = "slctl license",
	.cmds = license_cmds,
	.ncmds = nitems(license_cmds),
};

int
cmd_license(void *ctx, int argc, char **argv)
{
	struct ctl *ctl = ctx;
	const struct cmd_entry *c;

	if ((c = ctl_subcommand("license", &license_table, argc, argv)) == NULL)
		return EXIT_USAGE;
	ctl->cmd = c;
	return c->handler(ctl, argc - 1, argv + 1);
}
