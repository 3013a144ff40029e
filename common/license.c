/*
 * license.c: the licenses file (libconfuse), a license's canonical form,
 * Ed25519 keys and signatures (libsodium), expiry and host checks.
 */
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <confuse.h>
#include <jansson.h>
#include <sodium.h>

#include "config.h"
#include "license.h"

static cfg_opt_t license_opts[] = {
	CFG_STR("product", NULL, CFGF_NODEFAULT),
	CFG_STR("count", NULL, CFGF_NODEFAULT),
	CFG_STR("expires", "never", CFGF_NONE),
	CFG_STR("host", "any", CFGF_NONE),
	CFG_INT("timeout", 300, CFGF_NONE),
	CFG_STR("issuer", "", CFGF_NONE),
	CFG_STR("signature", "", CFGF_NONE),
	CFG_END()
};

static cfg_opt_t licenses_file_opts[] = {
	CFG_SEC("license", license_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	CFG_END()
};

/* Record one problem with a license section as "FILE:LINE: license "ID": msg". */
static void
license_error(struct conf_errors *eb, const char *path, int line, const char *id,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
license_error(struct conf_errors *eb, const char *path, int line, const char *id,
    const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	conf_error(eb, "%s:%d: license \"%.64s\": %s", path, line, id, msg);
}

/* A host a license may name: not empty, short enough, and nothing that
 * would break the licenses file or the canonical form. */
static int
license_valid_host(const char *s)
{
	return s != NULL && *s != '\0' && strlen(s) < sizeof(((struct license *)0)->host) &&
	    strpbrk(s, " \t\n\"\\") == NULL;
}

static int
license_from_section(cfg_t *sec, const char *path, struct license *l, struct conf_errors *eb)
{
	const char *id = cfg_title(sec);
	const char *s;
	int line = sec->line;
	int bad = 0;

#define LBAD(opt, ...) do { license_error(eb, path, conf_line(id, opt, line), id, \
	__VA_ARGS__); bad = 1; } while (0)

	memset(l, 0, sizeof(*l));
	util_strlcpy(l->file, path, sizeof(l->file));
	l->line = line;
	if (!util_valid_id(id)) {
		LBAD(NULL, "invalid id (use 1-64 of A-Z a-z 0-9 . _ -)");
		return -1;
	}
	util_strlcpy(l->id, id, sizeof(l->id));

	s = cfg_getstr(sec, "product");
	if (s == NULL)
		LBAD(NULL, "missing product");
	else if (!util_valid_id(s))
		LBAD("product", "invalid product \"%.64s\"", s);
	else
		util_strlcpy(l->product, s, sizeof(l->product));

	s = cfg_getstr(sec, "count");
	if (s == NULL) {
		LBAD(NULL, "missing count");
	} else if (strcmp(s, "unlimited") == 0) {
		l->count = LICENSE_UNLIMITED;
	} else {
		char *end;
		errno = 0;
		long v = strtol(s, &end, 10);
		if (errno != 0 || *end != '\0' || end == s || v < 0 || v > LICENSE_COUNT_MAX)
			LBAD("count", "count must be a number from 0 or \"unlimited\", not \"%.64s\"", s);
		else
			l->count = v;
	}

	s = cfg_getstr(sec, "expires");
	if (strcmp(s, "never") == 0) {
		l->expires_day = -1;
		util_strlcpy(l->expires, "never", sizeof(l->expires));
	} else if ((l->expires_day = util_parse_date(s)) < 0) {
		LBAD("expires", "expires must be YYYY-MM-DD or \"never\", not \"%.64s\"", s);
	} else {
		util_strlcpy(l->expires, s, sizeof(l->expires));
	}

	s = cfg_getstr(sec, "host");
	if (!license_valid_host(s))
		LBAD("host", "invalid host \"%.64s\"", s);
	else
		util_strlcpy(l->host, s, sizeof(l->host));

	long t = cfg_getint(sec, "timeout");
	if (t < 0 || t > LICENSE_TIMEOUT_MAX)
		LBAD("timeout", "timeout must be 0 (hard) to %ld seconds, not %ld",
		    LICENSE_TIMEOUT_MAX, t);
	l->timeout = t;

	s = cfg_getstr(sec, "issuer");
	if (*s != '\0' && !util_valid_id(s))
		LBAD("issuer", "invalid issuer \"%.64s\"", s);
	util_strlcpy(l->issuer, s, sizeof(l->issuer));
	s = cfg_getstr(sec, "signature");
	if (strlen(s) >= sizeof(l->signature))
		LBAD("signature", "signature too long");
	else
		util_strlcpy(l->signature, s, sizeof(l->signature));
	if ((l->issuer[0] == '\0') != (l->signature[0] == '\0'))
		LBAD("issuer", "issuer and signature go together");
#undef LBAD
	return bad ? -1 : 0;
}

int
license_load(const char *path, struct license_set *out, char *err, size_t errlen)
{
	struct conf_errors eb;
	struct license_set set = { NULL, 0 };
	cfg_t *cfg;
	int rc = -1;

	conf_errors_init(&eb, err, errlen);
	out->v = NULL;
	out->n = 0;
	if ((cfg = cfg_init(licenses_file_opts, CFGF_NONE)) == NULL) {
		conf_error(&eb, "%s: out of memory", path);
		return -1;
	}
	static const char *const fields[] = { "license|product", "license|count",
	    "license|expires", "license|host", "license|timeout", "license|issuer",
	    "license|signature", NULL };
	conf_track_lines(cfg, fields);
	if (conf_parse(cfg, path, &eb) != 0)
		goto out;
	unsigned n = cfg_size(cfg, "license");
	set.v = calloc(n ? n : 1, sizeof(*set.v));
	if (set.v == NULL) {
		conf_error(&eb, "%s: out of memory", path);
		goto out;
	}
	for (unsigned i = 0; i < n; i++) {
		if (license_from_section(cfg_getnsec(cfg, "license", i), path,
		    &set.v[set.n], &eb) == 0)
			set.n++;
	}
	if (eb.count == 0) {
		*out = set;
		set.v = NULL;
		rc = 0;
	}
out:
	free(set.v);
	conf_lines_reset();
	cfg_free(cfg);
	return rc;
}

void
license_set_free(struct license_set *set)
{
	util_vec_free(set->v, set->n);
}

const struct license *
license_find(const struct license_set *set, const char *id)
{
	for (size_t i = 0; i < set->n; i++)
		if (strcmp(set->v[i].id, id) == 0)
			return &set->v[i];
	return NULL;
}

char *
license_canonical(const struct license *l)
{
	char count[32], *out;

	if (l->count == LICENSE_UNLIMITED)
		snprintf(count, sizeof(count), "unlimited");
	else
		snprintf(count, sizeof(count), "%ld", l->count);
	if (asprintf(&out, "sl-license-v1\nid=%s\nproduct=%s\ncount=%s\nexpires=%s\n"
	    "host=%s\ntimeout=%ld\nissuer=%s\n", l->id, l->product, count,
	    l->expires, l->host, l->timeout, l->issuer) < 0)
		return NULL;
	return out;
}

int
license_expired(const struct license *l)
{
	return l->expires_day >= 0 && util_today() > l->expires_day;
}

char *
license_format(const struct license *l)
{
	char count[32], sig[256] = "", *out;

	if (l->count == LICENSE_UNLIMITED)
		snprintf(count, sizeof(count), "\"unlimited\"");
	else
		snprintf(count, sizeof(count), "%ld", l->count);
	if (l->issuer[0] != '\0')
		snprintf(sig, sizeof(sig), "  issuer    = \"%s\"\n  signature = \"%s\"\n",
		    l->issuer, l->signature);
	if (asprintf(&out, "license \"%s\" {\n  product   = \"%s\"\n  count     = %s\n"
	    "  expires   = \"%s\"\n  host      = \"%s\"\n  timeout   = %ld\n%s}\n",
	    l->id, l->product, count, l->expires, l->host, l->timeout, sig) < 0)
		return NULL;
	return out;
}

static int
write_key_file(const char *path, const char *kind, const char *issuer,
    const unsigned char *key, size_t keylen, mode_t mode, char *err, size_t errlen)
{
	char b64[sodium_base64_ENCODED_LEN(LICENSE_SK_LEN, sodium_base64_VARIANT_ORIGINAL)];
	int fd;
	FILE *f;

	sodium_bin2base64(b64, sizeof(b64), key, keylen, sodium_base64_VARIANT_ORIGINAL);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if ((f = fdopen(fd, "w")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	fprintf(f, "%s %s %s\n", kind, issuer, b64);
	sodium_memzero(b64, sizeof(b64));
	if (fflush(f) != 0 || fsync(fd) != 0 || fclose(f) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int
license_keygen(const char *issuer, const char *pubpath, const char *secpath,
    char *err, size_t errlen)
{
	unsigned char pk[LICENSE_PK_LEN], sk[LICENSE_SK_LEN];
	int rc = -1;

	if (!util_valid_id(issuer)) {
		snprintf(err, errlen, "invalid issuer name \"%.64s\"", issuer);
		return -1;
	}
	crypto_sign_keypair(pk, sk);
	if (write_key_file(secpath, "sl-ed25519-secret", issuer, sk, sizeof(sk), 0600,
	    err, errlen) != 0)
		goto out;
	if (write_key_file(pubpath, "sl-ed25519-public", issuer, pk, sizeof(pk), 0644,
	    err, errlen) != 0) {
		unlink(secpath);
		goto out;
	}
	rc = 0;
out:
	sodium_memzero(sk, sizeof(sk));
	return rc;
}

int
license_key_load(const char *path, struct license_key *key, char *err, size_t errlen)
{
	char kind[32], issuer[SL_ID_MAX + 2], b64[256];
	size_t binlen;
	char *text;
	int rc = -1;

	memset(key, 0, sizeof(*key));
	util_strlcpy(key->file, path, sizeof(key->file));
	if ((text = util_read_file_max(path, UTIL_SECRET_MAX, NULL)) == NULL) {
		snprintf(err, errlen, "%s: %s", path, util_read_strerror(errno));
		return -1;
	}
	if (sscanf(text, "%31s %65s %255s", kind, issuer, b64) != 3 ||
	    !util_valid_id(issuer)) {
		snprintf(err, errlen, "%s:1: not an sl key file "
		    "(want \"sl-ed25519-public|secret ISSUER BASE64\")", path);
		goto out;
	}
	util_strlcpy(key->issuer, issuer, sizeof(key->issuer));
	if (strcmp(kind, "sl-ed25519-public") == 0) {
		if (sodium_base642bin(key->pk, sizeof(key->pk), b64, strlen(b64), NULL,
		    &binlen, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
		    binlen != sizeof(key->pk)) {
			snprintf(err, errlen, "%s:1: bad public key encoding", path);
			goto out;
		}
	} else if (strcmp(kind, "sl-ed25519-secret") == 0) {
		if (sodium_base642bin(key->sk, sizeof(key->sk), b64, strlen(b64), NULL,
		    &binlen, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
		    binlen != sizeof(key->sk)) {
			snprintf(err, errlen, "%s:1: bad secret key encoding", path);
			goto out;
		}
		crypto_sign_ed25519_sk_to_pk(key->pk, key->sk);
		key->has_secret = 1;
	} else {
		snprintf(err, errlen, "%s:1: unknown key kind \"%s\"", path, kind);
		goto out;
	}
	rc = 0;
out:
	sodium_memzero(b64, sizeof(b64));
	sodium_memzero(text, strlen(text));
	free(text);
	return rc;
}

int
license_sign(struct license *l, const struct license_key *key)
{
	unsigned char sig[LICENSE_SIG_LEN];
	char *canon;

	if (!key->has_secret)
		return -1;
	util_strlcpy(l->issuer, key->issuer, sizeof(l->issuer));
	if ((canon = license_canonical(l)) == NULL)
		return -1;
	crypto_sign_detached(sig, NULL, (const unsigned char *)canon, strlen(canon), key->sk);
	free(canon);
	sodium_bin2base64(l->signature, sizeof(l->signature), sig, sizeof(sig),
	    sodium_base64_VARIANT_ORIGINAL);
	return 0;
}

enum license_verdict
license_verify(const struct license *l, const struct license_key *keys, size_t nkeys)
{
	unsigned char sig[LICENSE_SIG_LEN];
	size_t siglen;
	enum license_verdict v = LICENSE_UNKNOWN_ISSUER;

	if (l->issuer[0] == '\0' || l->signature[0] == '\0')
		return LICENSE_UNSIGNED;
	if (sodium_base642bin(sig, sizeof(sig), l->signature, strlen(l->signature),
	    NULL, &siglen, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    siglen != sizeof(sig))
		return LICENSE_BAD_SIGNATURE;
	char *canon = license_canonical(l);
	if (canon == NULL)
		return LICENSE_BAD_SIGNATURE;
	for (size_t i = 0; i < nkeys; i++) {
		if (strcmp(keys[i].issuer, l->issuer) != 0)
			continue;
		if (crypto_sign_verify_detached(sig, (const unsigned char *)canon,
		    strlen(canon), keys[i].pk) == 0) {
			v = LICENSE_VALID;
			break;
		}
		v = LICENSE_BAD_SIGNATURE;
	}
	free(canon);
	return v;
}

const char *
license_verdict_str(enum license_verdict v)
{
	switch (v) {
	case LICENSE_VALID: return "valid";
	case LICENSE_UNSIGNED: return "unsigned";
	case LICENSE_UNKNOWN_ISSUER: return "unknown issuer";
	case LICENSE_BAD_SIGNATURE: return "bad signature";
	}
	return "?";
}

static int
host_is_local_address(const char *host)
{
	struct ifaddrs *ifa, *p;
	char buf[INET6_ADDRSTRLEN];
	int found = 0;

	if (getifaddrs(&ifa) != 0)
		return 0;
	for (p = ifa; p != NULL && !found; p = p->ifa_next) {
		if (p->ifa_addr == NULL)
			continue;
		if (p->ifa_addr->sa_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)p->ifa_addr)->sin_addr,
			    buf, sizeof(buf));
		else if (p->ifa_addr->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)p->ifa_addr)->sin6_addr,
			    buf, sizeof(buf));
		else
			continue;
		found = strcasecmp(buf, host) == 0;
	}
	freeifaddrs(ifa);
	return found;
}

int
license_host_matches(const struct license *l, const char *host_id)
{
	char name[256];
	char *mid;

	if (strcasecmp(l->host, "any") == 0)
		return 1;
	if (host_id != NULL && host_id[0] != '\0')
		return strcasecmp(l->host, host_id) == 0;
	if (gethostname(name, sizeof(name)) == 0) {
		name[sizeof(name) - 1] = '\0';
		if (strcasecmp(l->host, name) == 0)
			return 1;
		char *dot = strchr(name, '.');
		if (dot != NULL) {
			*dot = '\0';
			if (strcasecmp(l->host, name) == 0)
				return 1;
		}
	}
	if (host_is_local_address(l->host))
		return 1;
	if ((mid = util_read_file("/etc/machine-id", NULL)) != NULL) {
		mid[strcspn(mid, "\n")] = '\0';
		int m = mid[0] != '\0' && strcasecmp(l->host, mid) == 0;
		free(mid);
		if (m)
			return 1;
	}
	return 0;
}

json_t *
license_to_json(const struct license *l)
{
	return json_pack("{s:s, s:s, s:I, s:s, s:s, s:I, s:s, s:s}", "id", l->id,
	    "product", l->product, "count", (json_int_t)l->count, "expires", l->expires,
	    "host", l->host, "timeout", (json_int_t)l->timeout, "issuer", l->issuer,
	    "signature", l->signature);
}

int
license_from_json(const json_t *o, struct license *l, char *err, size_t errlen)
{
	const char *id = json_string_value(json_object_get(o, "id"));
	const char *product = json_string_value(json_object_get(o, "product"));
	const char *expires = json_string_value(json_object_get(o, "expires"));
	const char *host = json_string_value(json_object_get(o, "host"));
	const char *issuer = json_string_value(json_object_get(o, "issuer"));
	const char *sig = json_string_value(json_object_get(o, "signature"));
	json_t *count = json_object_get(o, "count"), *timeout = json_object_get(o, "timeout");
	json_int_t c, t;

	memset(l, 0, sizeof(*l));
	if (!util_valid_id(id) || !util_valid_id(product) || expires == NULL ||
	    host == NULL || !json_is_integer(count) || !json_is_integer(timeout)) {
		snprintf(err, errlen, "license: missing or invalid field");
		return -1;
	}
	/* The file parser's ranges: a peer's timeout near LONG_MAX would
	 * overflow the seat's expiry (timeout * 1000) at the first checkout. */
	c = json_integer_value(count);
	t = json_integer_value(timeout);
	if (c < LICENSE_UNLIMITED || c > LICENSE_COUNT_MAX) {
		snprintf(err, errlen, "license \"%s\": count must be 0 to %ld or unlimited, not %lld",
		    id, LICENSE_COUNT_MAX, (long long)c);
		return -1;
	}
	if (t < 0 || t > LICENSE_TIMEOUT_MAX) {
		snprintf(err, errlen, "license \"%s\": timeout must be 0 (hard) to %ld seconds, "
		    "not %lld", id, LICENSE_TIMEOUT_MAX, (long long)t);
		return -1;
	}
	if (!license_valid_host(host)) {
		snprintf(err, errlen, "license \"%s\": invalid host", id);
		return -1;
	}
	if (strcmp(expires, "never") == 0) {
		l->expires_day = -1;
	} else if (strlen(expires) >= sizeof(l->expires) ||
	    (l->expires_day = util_parse_date(expires)) < 0) {
		snprintf(err, errlen, "license \"%s\": invalid expires", id);
		return -1;
	}
	if (issuer == NULL)
		issuer = "";
	if (sig == NULL)
		sig = "";
	if ((*issuer != '\0' && !util_valid_id(issuer)) || strlen(sig) >= sizeof(l->signature) ||
	    (*issuer == '\0') != (*sig == '\0')) {
		snprintf(err, errlen, "license \"%s\": invalid issuer or signature", id);
		return -1;
	}
	util_strlcpy(l->id, id, sizeof(l->id));
	util_strlcpy(l->product, product, sizeof(l->product));
	l->count = (long)c;
	l->timeout = (long)t;
	util_strlcpy(l->expires, expires, sizeof(l->expires));
	util_strlcpy(l->host, host, sizeof(l->host));
	util_strlcpy(l->issuer, issuer, sizeof(l->issuer));
	util_strlcpy(l->signature, sig, sizeof(l->signature));
	util_strlcpy(l->file, "(peer)", sizeof(l->file));
	return 0;
}
