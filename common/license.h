/* Licenses: the licenses file, its canonical form, and Ed25519 signatures. */
#ifndef SL_LICENSE_H
#define SL_LICENSE_H

#include <stddef.h>

#include "util.h"

#define LICENSE_UNLIMITED (-1L)
#define LICENSE_COUNT_MAX 100000000L	/* seats of a counted license */
#define LICENSE_TIMEOUT_MAX (30L * 86400)	/* seconds a soft seat may live unrenewed */
#define LICENSE_SIG_LEN 64		/* Ed25519 signature bytes */
#define LICENSE_PK_LEN 32
#define LICENSE_SK_LEN 64

struct license {
	char id[SL_ID_MAX + 1];
	char product[SL_ID_MAX + 1];
	long count;			/* LICENSE_UNLIMITED or >= 0 */
	char expires[16];		/* "YYYY-MM-DD" or "never" */
	long expires_day;		/* days since 1970-01-01; -1 for never */
	char host[256];			/* "any" or a host name / address / machine id */
	long timeout;			/* seconds; 0 = hard */
	char issuer[SL_ID_MAX + 1];	/* "" when unsigned */
	char signature[128];		/* base64, "" when unsigned */
	char file[512];			/* where it was defined */
	int line;
};

struct license_set {
	struct license *v;
	size_t n;
};

/* Parse a licenses file. On error returns -1 and err holds every problem,
 * one "FILE:LINE: message" per line; out is left empty. */
int license_load(const char *path, struct license_set *out, char *err, size_t errlen);
void license_set_free(struct license_set *set);
const struct license *license_find(const struct license_set *set, const char *id);

/* The signed canonical form of a license (documented in slserve.conf(5)):
 *   sl-license-v1\n id=..\n product=..\n count=N|unlimited\n expires=..\n
 *   host=..\n timeout=N\n issuer=..\n   (no spaces; one key per line)
 * Returns a malloc'd string. */
char *license_canonical(const struct license *l);

/* Is the license expired today (local date)? */
int license_expired(const struct license *l);

/* Print a license as a licenses-file section (used by slctl license sign/add). */
char *license_format(const struct license *l);

/* Key files. A public key file is one line "sl-ed25519-public ISSUER BASE64";
 * a secret key file is "sl-ed25519-secret ISSUER BASE64" (mode 0600). */
struct license_key {
	char issuer[SL_ID_MAX + 1];
	unsigned char pk[LICENSE_PK_LEN];
	unsigned char sk[LICENSE_SK_LEN];
	int has_secret;
	char file[512];
};

int license_keygen(const char *issuer, const char *pubpath, const char *secpath,
    char *err, size_t errlen);
int license_key_load(const char *path, struct license_key *key, char *err, size_t errlen);

/* Sign l in place with key (sets issuer and signature). */
int license_sign(struct license *l, const struct license_key *key);

enum license_verdict {
	LICENSE_VALID,
	LICENSE_UNSIGNED,
	LICENSE_UNKNOWN_ISSUER,
	LICENSE_BAD_SIGNATURE,
};
/* Verify against trusted keys (matched by issuer). */
enum license_verdict license_verify(const struct license *l,
    const struct license_key *keys, size_t nkeys);
const char *license_verdict_str(enum license_verdict v);

/* Is a license bound to this host? host_id overrides the detected identity
 * (hostname, short hostname, any local IP address, /etc/machine-id). */
int license_host_matches(const struct license *l, const char *host_id);

/* Licenses as JSON, for peers (a backup mirrors its Primary's licenses).
 * license_from_json validates like the file parser, with the same ranges
 * (what a peer sends is bounded as a file is); -1 with err on bad input. */
struct json_t;
struct json_t *license_to_json(const struct license *l);
int license_from_json(const struct json_t *o, struct license *l, char *err, size_t errlen);

#endif
