/* slcheck: the license client. Shared declarations of its files. */
#ifndef SLCHECK_H
#define SLCHECK_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "cache.h"
#include "clientconf.h"
#include "cmd.h"
#include "exitcode.h"
#include "http.h"
#include "util.h"

/* Exit codes, documented in slcheck(1): the table slctl shares
 * (exitcode.h). `check` uses the monitoring-plugin codes 0-3 instead, and
 * `run` passes the command's own status through. */
enum {
	SLC_EXIT_OK = SL_EXIT_OK,
	SLC_EXIT_FAILURE = SL_EXIT_FAILURE,
	SLC_EXIT_NO_SEAT = SL_EXIT_NO_SEAT,
	SLC_EXIT_UNREACHABLE = SL_EXIT_UNREACHABLE,
	SLC_EXIT_REFUSED = SL_EXIT_REFUSED,
	SLC_EXIT_SERVER_ERROR = SL_EXIT_BAD_ANSWER,
	SLC_EXIT_LOST = SL_EXIT_LOST,
	SLC_EXIT_USAGE = SL_EXIT_USAGE,
	SLC_EXIT_CONFIG = SL_EXIT_CONFIG,
};
/* Options of a command, parsed by the dispatcher: short option character
 * (or a long-only code) and argument. */
struct slc_opts {
	int n;
	struct {
		int ch;
		const char *arg;
	} v[64];
};

/* Long-only option codes. */
enum {
	OPT_JSON = 256,
	OPT_WAIT,
	OPT_ON_LOSS,
	OPT_GRACE,
	OPT_EXPIRY_WARN,
	OPT_CACERT,
	OPT_BORROW,
};

/* What the dispatcher sets up for a command. */
struct slc {
	struct clientconf conf;
	struct cache cache;
	int have_cache;
	struct http_client *http;
	int verbose;
	int json;
	const char *file_opt;		/* -f */
	const char *servers_opt;	/* -s */
	const char *cacert_opt;		/* --cacert */
	volatile sig_atomic_t *stop;	/* set by a signal: give up waiting */
	struct slc_opts opts;		/* the command's own options */
};

enum reply_kind {
	REPLY_OK,		/* 2xx with a JSON object */
	REPLY_ERROR,		/* an HTTP error status */
	REPLY_UNREACHABLE,	/* no answer (or marked dead and not asked) */
	REPLY_BAD,		/* 2xx that is not a JSON object */
};

struct reply {
	enum reply_kind kind;
	long status;
	json_t *json;			/* the decoded body, or NULL */
	char code[64];			/* "error" of an error body */
	char detail[320];		/* what happened, for messages */
	char server[72];		/* X-SL-Server */
	char epoch[40];
	double seconds;
	int timed_out;
	int cut;			/* failed because the deadline was reached */
};

/* A lease token as printed by checkout: LEASE:POOL@URL. */
struct token {
	char lease[SL_ID_MAX + 1];
	char pool[SL_ID_MAX + 1];
	char url[CLIENTCONF_URL_MAX];
};

/* A granted seat. */
struct seat {
	struct token token;
	char license[SL_ID_MAX + 1];
	char product[SL_ID_MAX + 1];
	char server[SL_ID_MAX + 1];
	const char *via;		/* "primary", "secondary" or "backup" */
	long expires_in;
	long heartbeat_interval;
	json_t *json;			/* the lease as the server gave it */
};

struct checkout_request {
	const char *product;
	char lease[SL_ID_MAX + 1];	/* the client's lease id: retries are idempotent */
	const char *client;
	pid_t pid;
	long borrow;			/* seconds of a borrow; 0: none */
	long wait;			/* seconds to wait in a server's queue */
};

/* client.c */
extern char slc_first_error[1024];	/* the first error said, for --json */
extern int slc_json_printed;		/* a command printed its JSON */
/* o as --json output on stdout (indented, in its members' order); sets
 * slc_json_printed. 0, or -1 when it could not be written. */
int slc_print_json(json_t *o);
void slc_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void slc_debug(struct slc *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int slc_request(struct slc *s, const char *method, const char *base, const char *path,
    json_t *body, struct reply *r);
void reply_free(struct reply *r);
long slc_dead_left(struct slc *s, const char *url);
void slc_learn(struct slc *s, const char *url);
/* What is known of a server. Results are copied out: the cache they may
 * come from is re-read by every update. */
typedef char slc_url_t[CLIENTCONF_URL_MAX];
int slc_pool_of(struct slc *s, const char *url, char pool[SL_ID_MAX + 1],
    const char **origin);
size_t slc_backups_of(struct slc *s, const char *url, slc_url_t *out, size_t max);
int slc_url_of_pool(struct slc *s, const char *pool, slc_url_t url);
int token_parse(const char *text, struct token *t);
void token_format(const struct token *t, char *out, size_t outlen);
int slc_flush_stdout(void);
double slc_parse_seconds(const char *s);
int64_t slc_jitter_ms(int64_t lo, int64_t hi);
int slc_sleep_ms(struct slc *s, int64_t ms);

/* select.c */
int select_checkout(struct slc *s, const struct checkout_request *req, struct seat *seat,
    char *why, size_t whylen, int *cut);
int select_checkout_wait(struct slc *s, struct checkout_request *req, double wait,
    struct seat *seat);
void seat_free(struct seat *seat);
void checkout_request_init(struct checkout_request *req, const char *product,
    const char *client);

/* lease.c */
int lease_call(struct slc *s, const char *method, struct token *t, const char *what,
    struct reply *r);
int lease_exit_code(const struct reply *r);
int cmd_checkout(void *ctx, int argc, char **argv);
int cmd_heartbeat(void *ctx, int argc, char **argv);
int cmd_checkin(void *ctx, int argc, char **argv);

/* run.c */
int cmd_run(void *ctx, int argc, char **argv);

/* check.c */
int cmd_check(void *ctx, int argc, char **argv);

/* status.c */
int cmd_status(void *ctx, int argc, char **argv);
int cmd_config(void *ctx, int argc, char **argv);

/* main.c */
/* Report a usage error of command; returns the exit code to use (64, or
 * UNKNOWN for the monitoring plugin). */
int slc_usage_error(const char *command, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int slc_operands(const char *command, int n, char **v);

#endif
