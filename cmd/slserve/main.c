/* slserve: the sl license server. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <getopt.h>
#include <grp.h>
#include <malloc.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "failcfg.h"
#include "failover.h"
#include "fence.h"
#include "http.h"
#include "journal.h"
#include "license.h"
#include "log.h"
#include "policy.h"
#include "queue.h"
#include "server.h"
#include "state.h"
#include "usage.h"
#include "util.h"

/* Any thread may run the handler (HTTP, journal, pollers), and the main loop
 * reads the flags: lock-free atomics are safe in a handler and between
 * threads, where a volatile sig_atomic_t is a data race. */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "signal flags need lock-free atomic_int");
static atomic_int got_hup, got_term;

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		atomic_store(&got_hup, 1);
	else
		atomic_store(&got_term, 1);
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: slserve [-dnv] [-f file] [-u user]\n"
	    "       slserve --recover [-f file]\n"
	    "  -d       stay in the foreground and log to stderr\n"
	    "  -f file  configuration file (default %s)\n"
	    "  -n       check the configuration and licenses, print what is wrong\n"
	    "           or \"configuration OK\", and exit\n"
	    "  -u user  started as root: run as user once the port is bound\n"
	    "  -v       verbose (debug) logging\n"
	    "  -V       print the version and exit\n"
	    "  --recover  repair a damaged journal: keep the records that hold, copy\n"
	    "           the damaged file aside, print the sequence numbers lost\n",
	    SLSERVE_CONF_DEFAULT);
}

/* slserve --recover: with the state directory locked (no slserve runs on
 * it), repair its journal and print what was lost. */
static int
recover(const struct server_config *cfg)
{
	char err[2048], report[2048];
	pid_t holder;
	int lockfd;

	if ((lockfd = state_lock_dir(cfg->state_dir, &holder, err, sizeof(err))) < 0) {
		fprintf(stderr, "slserve: --recover: %s%s\n", err, holder > 0 ?
		    " (stop that slserve first)" : "");
		return 1;
	}
	if (journal_recover(cfg->state_dir, report, sizeof(report), err, sizeof(err)) != 0) {
		fprintf(stderr, "slserve: --recover: %s\n", err);
		close(lockfd);
		return 1;
	}
	close(lockfd);
	printf("%s\n", report);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* Load the trusted issuer keys named in the configuration. */
static int
load_keys(struct server *srv, char *err, size_t errlen)
{
	srv->nkeys = 0;
	srv->keys = calloc(srv->cfg.ntrusted_keys + 1, sizeof(*srv->keys));
	if (srv->keys == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < srv->cfg.ntrusted_keys; i++) {
		if (license_key_load(srv->cfg.trusted_keys[i], &srv->keys[i], err, errlen) != 0)
			return -1;
		srv->nkeys++;
	}
	return 0;
}

/* Say which licenses are loaded but cannot be checked out here. */
static void
licenses_warn_unservable(struct server *srv, const struct license_set *set)
{
	for (size_t i = 0; i < set->n; i++) {
		const struct license *l = &set->v[i];
		if (license_expired(l))
			log_warnx("%s:%d: license \"%s\" (%s) expired %s: it cannot be served",
			    l->file, l->line, l->id, l->product, l->expires);
		else if (!license_host_matches(l, srv->cfg.hostname))
			log_warnx("%s:%d: license \"%s\" (%s) is bound to host \"%s\", not "
			    "\"%s\": it cannot be served here", l->file, l->line, l->id,
			    l->product, l->host, srv->cfg.hostname);
	}
}

/* Read the licenses file and keep the licenses that verify (when trusted
 * keys are configured). Each rejected license is logged with its reason. */
static int
load_licenses(struct server *srv, struct license_set *set, char *err, size_t errlen)
{
	size_t o = 0;

	if (license_load(srv->cfg.licenses, set, err, errlen) != 0)
		return -1;
	for (size_t i = 0; srv->nkeys > 0 && i < set->n; i++) {
		enum license_verdict v = license_verify(&set->v[i], srv->keys, srv->nkeys);
		if (v != LICENSE_VALID) {
			log_warnx("%s:%d: license \"%s\" not loaded: %s", set->v[i].file,
			    set->v[i].line, set->v[i].id, license_verdict_str(v));
			continue;
		}
		set->v[o++] = set->v[i];
	}
	if (srv->nkeys > 0)
		set->n = o;
	licenses_warn_unservable(srv, set);
	return 0;
}

/* Read the options file, if slserve.conf names one, against the licenses
 * it will govern: *out is NULL when there is none. */
static int
load_policy(struct server *srv, const struct license_set *set, struct policy **out, char *err,
    size_t errlen)
{
	*out = NULL;
	if (srv->cfg.options == NULL)
		return 0;
	if (access(srv->cfg.options, R_OK) != 0) {
		snprintf(err, errlen, "%s:%d: options %s: %s", srv->cfg.file, srv->cfg.line.options,
		    srv->cfg.options, strerror(errno));
		return -1;
	}
	return policy_load(srv->cfg.options, set, out, err, errlen);
}

/* Say what policy is in force from now on. */
static void
log_policy(const struct server *srv, const struct policy *policy, const char *how)
{
	if (policy == NULL)
		log_info("%s: no usage policy (no options file)", how);
	else
		log_info("%s: usage policy from %s: %zu products and licenses, %zu groups, "
		    "%zu hostgroups", how, srv->cfg.options, policy->nentries, policy->ngroups,
		    policy->nhostgroups);
}

int
server_reload(struct server *srv, json_t **changes, char *err, size_t errlen)
{
	struct license_set set;
	struct policy *policy;

	pthread_mutex_lock(&srv->reload_lock);
	if (load_licenses(srv, &set, err, errlen) != 0) {
		pthread_mutex_unlock(&srv->reload_lock);
		log_warnx("reload refused, licenses unchanged, usage policy unchanged: %s", err);
		return -1;
	}
	/* The licenses and the policy that governs them change together, or
	 * not at all: a bad options file keeps the old policy, and the
	 * licenses it was checked against. */
	if (load_policy(srv, &set, &policy, err, errlen) != 0) {
		license_set_free(&set);
		pthread_mutex_unlock(&srv->reload_lock);
		log_warnx("reload refused, licenses unchanged, usage policy unchanged: %s", err);
		return -1;
	}
	store_set_licenses(srv->store, &set, changes);
	log_policy(srv, policy, "reloaded");
	store_set_policy(srv->store, policy);
	license_set_free(&set);
	pthread_mutex_unlock(&srv->reload_lock);
	char *text = changes && *changes ? json_dumps(*changes, JSON_COMPACT) : NULL;
	log_info("reloaded %s: %s", srv->cfg.licenses, text ? text : "");
	free(text);
	return 0;
}

/* Read a token file, or create it with a random token when it is the default
 * one in the state directory. Stores the token's hash. */
static int
load_token(const char *path, int may_create, const char *what, unsigned char *hash,
    char **keep, char *err, size_t errlen)
{
	char *text = util_read_file_max(path, UTIL_SECRET_MAX, NULL);

	if (text == NULL && errno == ENOENT && may_create) {
		char tok[66];
		util_random_hex(tok, 32);
		strcat(tok, "\n");
		if (state_write_atomic(path, tok, strlen(tok), 0600, err, errlen) != 0)
			return -1;
		log_info("%s token created in %s (mode 0600)", what, path);
		text = util_read_file_max(path, UTIL_SECRET_MAX, NULL);
	}
	if (text == NULL) {
		snprintf(err, errlen, "%s token file %s: %s", what, path,
		    util_read_strerror(errno));
		return -1;
	}
	text[strcspn(text, "\r\n")] = '\0';
	if (strlen(text) < CONFIG_TOKEN_MIN) {
		snprintf(err, errlen, "%s token file %s: token shorter than %d characters",
		    what, path, CONFIG_TOKEN_MIN);
		free(text);
		return -1;
	}
	crypto_generichash(hash, crypto_generichash_BYTES, (unsigned char *)text,
	    strlen(text), NULL, 0);
	if (keep != NULL) {
		*keep = text;
		return 0;
	}
	sodium_memzero(text, strlen(text));
	free(text);
	return 0;
}

static int
is_default_token_path(const struct server *srv, const char *path, const char *base)
{
	char *d = util_path_join(srv->cfg.state_dir, base);
	int same = d != NULL && strcmp(d, path) == 0;

	free(d);
	return same;
}

/* The files of the state directory that slserve replaces through a
 * temporary file (state_write_atomic): its journal and snapshot, tokens,
 * backups.json and the mirrors of the Primaries it backs up. */
static int
daemon_state_file(const char *name)
{
	static const char *const fixed[] = { "journal", "journal.new", "snapshot.json",
	    "admin.token", "peer.token", "backups.json" };
	static const char *const mirror_ext[] = { ".journal.new", ".journal", ".json" };
	char id[SL_ID_MAX + 1];

	for (size_t i = 0; i < nitems(fixed); i++)
		if (strcmp(name, fixed[i]) == 0)
			return 1;
	if (strncmp(name, "mirror-", 7) != 0)
		return 0;
	name += 7;
	for (size_t i = 0; i < nitems(mirror_ext); i++) {
		size_t len = strlen(name), ext = strlen(mirror_ext[i]);
		if (len > ext && len - ext < sizeof(id) &&
		    strcmp(name + len - ext, mirror_ext[i]) == 0) {
			memcpy(id, name, len - ext);
			id[len - ext] = '\0';
			return util_valid_id(id);
		}
	}
	return 0;
}

static int
failcfg_state_file(const char *name)
{
	return strcmp(name, FAILCFG_FILE) == 0;
}

static void
stale_tmp_removed(const char *name, void *arg)
{
	log_info("%s/%s: removed, a temporary file an interrupted write left behind",
	    (const char *)arg, name);
}

/* At start, the temporary files (NAME.XXXXXX) that a crash in the middle of
 * replacing one of our state files left: nothing reads them, and they would
 * pile up. failover.ini is also written by slctl, under its own lock. */
static int
remove_stale_temps(const char *state_dir, char *err, size_t errlen)
{
	char *lockpath = util_path_join(state_dir, FAILCFG_LOCK);
	int lockfd, rc = -1;

	if (state_remove_stale_tmp(state_dir, daemon_state_file, stale_tmp_removed,
	    (void *)state_dir, err, errlen) < 0)
		goto out;
	if (lockpath == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if ((lockfd = state_lock_wait(lockpath, err, errlen)) < 0)
		goto out;
	rc = state_remove_stale_tmp(state_dir, failcfg_state_file, stale_tmp_removed,
	    (void *)state_dir, err, errlen) < 0 ? -1 : 0;
	close(lockfd);
out:
	free(lockpath);
	return rc;
}

/* Become uid:gid with user's groups, for good: checked, not assumed. */
static int
drop_privileges(const char *user, uid_t uid, gid_t gid, char *err, size_t errlen)
{
	if (initgroups(user, gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
		snprintf(err, errlen, "cannot become user \"%s\": %s", user, strerror(errno));
		return -1;
	}
	if (getuid() != uid || geteuid() != uid || getgid() != gid || getegid() != gid ||
	    setuid(0) == 0) {
		snprintf(err, errlen, "still privileged after becoming user \"%s\"", user);
		return -1;
	}
#ifdef __SANITIZE_ADDRESS__
	/* Changing user made us undumpable, and LeakSanitizer, which
	 * inspects the process at exit through ptrace, would fail: only in
	 * sanitizer builds (make SANITIZE=1), let it. */
	prctl(PR_SET_DUMPABLE, 1);
#endif
	return 0;
}

/* Room for max_connections sockets besides our own files: raise the soft
 * limit of open files up to the hard one, or serve fewer connections. */
#define FD_RESERVE 64

static void
raise_fd_limit(struct server *srv)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)srv->cfg.max_connections + FD_RESERVE;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want ? rl.rlim_max : want;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0 && getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur >= want)
		return;
	long fit = (long)rl.rlim_cur - FD_RESERVE;
	if (fit < 4)
		fit = 4;
	log_warnx("max_connections %ld needs %llu open files, but the limit is %llu: "
	    "serving at most %ld connections", srv->cfg.max_connections,
	    (unsigned long long)want, (unsigned long long)rl.rlim_cur, fit);
	srv->cfg.max_connections = fit;
	if (srv->cfg.max_connections_per_ip > fit)
		srv->cfg.max_connections_per_ip = fit;
}

/* Fork into the background; the parent exits once the child reports that
 * it serves (0) or failed (its message goes to the parent's stderr). */
static int ready_fd = -1;

static void
daemonize(void)
{
	int p[2];
	pid_t pid;

	if (pipe(p) != 0)
		fatalx("pipe: %s", strerror(errno));
	if ((pid = fork()) < 0)
		fatalx("fork: %s", strerror(errno));
	if (pid > 0) {
		char buf[1024];
		ssize_t n;
		close(p[1]);
		n = read(p[0], buf, sizeof(buf) - 1);
		if (n > 0 && buf[0] == '\0')
			exit(0);
		if (n > 0) {
			buf[n] = '\0';
			fprintf(stderr, "slserve: %s\n", buf);
		} else {
			fprintf(stderr, "slserve: failed to start (see the system log)\n");
		}
		exit(1);
	}
	close(p[0]);
	setsid();
	ready_fd = p[1];
	if (chdir("/") != 0)
		_exit(1);
}

static void
startup_failed(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
startup_failed(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ready_fd >= 0 && write(ready_fd, msg, strlen(msg)) < 0)
		ready_fd = -1;	/* the parent is gone; the log still has it */
	fatalx("%s", msg);
}

int
main(int argc, char **argv)
{
	static struct server srv;
	const char *conf = SLSERVE_CONF_DEFAULT, *user_opt = NULL;
	struct passwd *pw;
	uid_t run_uid = 0;
	gid_t run_gid = 0;
	int drop = 0, fixed;
	int foreground = 0, check_only = 0, do_recover = 0, verbose = 0, ch;
	char err[8192];
	struct license_set set;
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "recover", no_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 }
	};

	while ((ch = getopt_long(argc, argv, "df:hnu:vV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd': foreground = 1; break;
		case 'f': conf = optarg; break;
		case 'u': user_opt = optarg; break;
		case 'n': check_only = 1; break;
		case 'v': verbose = 1; break;
		case 'V': printf("slserve %s\n", SL_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		case 'R': do_recover = 1; break;
		default: usage(stderr); return 64;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 64;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "slserve: libsodium failed to initialise\n");
		return 1;
	}
	log_init("slserve", 1, verbose);
	/* Snapshots and full peer syncs use buffers of tens of megabytes for
	 * a moment. glibc raises its mmap threshold to the size of each one
	 * freed, so the next ones come from the heap and stay resident
	 * (+25 MiB at 100,000 leases): keep them mapped, and unmapped when
	 * freed. */
	mallopt(M_MMAP_THRESHOLD, 1 << 20);

	if ((check_only ? config_check : config_load)(conf, &srv.cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (load_keys(&srv, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (do_recover)
		return recover(&srv.cfg);
	if (check_only) {
		int bad = 0;
		if (license_load(srv.cfg.licenses, &set, err, sizeof(err)) != 0) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		for (size_t i = 0; i < set.n && srv.nkeys > 0; i++) {
			enum license_verdict v = license_verify(&set.v[i], srv.keys, srv.nkeys);
			if (v != LICENSE_VALID) {
				fprintf(stderr, "%s:%d: license \"%s\": %s\n", set.v[i].file,
				    set.v[i].line, set.v[i].id, license_verdict_str(v));
				bad = 1;
			}
		}
		struct policy *policy;
		if (load_policy(&srv, &set, &policy, err, sizeof(err)) != 0) {
			fprintf(stderr, "%s\n", err);
			bad = 1;
		}
		policy_free(policy);
		license_set_free(&set);
		if (bad)
			return 1;
		printf("configuration OK\n");
		return fflush(stdout) == 0 ? 0 : 1;
	}

	/* Root only when told: as user (after binding), or allow_root. */
	if (user_opt != NULL) {
		if (getpwnam(user_opt) == NULL || strlen(user_opt) >= sizeof(srv.cfg.user)) {
			fprintf(stderr, "slserve: -u %s: no such user\n", user_opt);
			return 1;
		}
		util_strlcpy(srv.cfg.user, user_opt, sizeof(srv.cfg.user));
	}
	if (geteuid() == 0 && srv.cfg.user[0] != '\0') {
		if ((pw = getpwnam(srv.cfg.user)) == NULL) {
			fprintf(stderr, "slserve: user \"%s\": no such user\n", srv.cfg.user);
			return 1;
		}
		run_uid = pw->pw_uid;
		run_gid = pw->pw_gid;
		drop = run_uid != 0;
	} else if (geteuid() == 0 && !srv.cfg.allow_root) {
		fprintf(stderr, "slserve: refusing to run as root: set user = \"NAME\" in %s "
		    "(or -u NAME) to run as NAME once the port is bound, or allow_root = true\n",
		    conf);
		return 1;
	}

	if (!foreground)
		daemonize();
	log_init("slserve", foreground, verbose);
	pthread_mutex_init(&srv.reload_lock, NULL);
	/* libcurl's global state is not thread-safe to set up: here, after the
	 * fork and before any thread (pollers, fence, journal, httpd). */
	if (http_global_init() != 0)
		startup_failed("cannot initialise libcurl");

	if (state_ensure_dir(srv.cfg.state_dir, err, sizeof(err)) != 0)
		startup_failed("state_dir: %s", err);
	pid_t holder;
	int lockfd = state_lock_dir(srv.cfg.state_dir, &holder, err, sizeof(err));
	if (lockfd < 0)
		startup_failed("%s%s", err, holder > 0 ? " (is another slserve running?)" : "");
	if (state_check_dir(srv.cfg.state_dir, &fixed, err, sizeof(err)) != 0)
		startup_failed("state_dir: %s", err);
	if (fixed > 0)
		log_warnx("%s: took group and other permissions away from %d entr%s (the "
		    "directory is 0700, its files 0600)", srv.cfg.state_dir, fixed,
		    fixed == 1 ? "y" : "ies");
	if (remove_stale_temps(srv.cfg.state_dir, err, sizeof(err)) != 0)
		startup_failed("state_dir: %s", err);
	if (geteuid() != 0 && srv.cfg.user[0] != '\0' && (pw = getpwnam(srv.cfg.user)) != NULL &&
	    pw->pw_uid != geteuid())
		log_warnx("user \"%s\" ignored: not started as root", srv.cfg.user);
	if (load_token(srv.cfg.admin_token_file, is_default_token_path(&srv,
	    srv.cfg.admin_token_file, "admin.token"), "admin", srv.admin_hash,
	    NULL, err, sizeof(err)) != 0)
		startup_failed("%s", err);
	if (load_token(srv.cfg.peer_token_file, is_default_token_path(&srv,
	    srv.cfg.peer_token_file, "peer.token"), "peer", srv.peer_hash,
	    &srv.peer_token, err, sizeof(err)) != 0)
		startup_failed("%s", err);

	if ((srv.store = store_new(srv.cfg.name, srv.cfg.hostname)) == NULL)
		startup_failed("out of memory");
	store_set_limits(srv.store, srv.cfg.max_leases_per_client, srv.cfg.max_leases_per_ip,
	    srv.cfg.max_leases, srv.cfg.confirm_timeout_ms);
	if (load_licenses(&srv, &set, err, sizeof(err)) != 0)
		startup_failed("%s", err);
	if (srv.nkeys == 0)
		log_warnx("no trusted_keys configured: licenses are loaded without "
		    "checking signatures");
	struct policy *policy;
	if (load_policy(&srv, &set, &policy, err, sizeof(err)) != 0)
		startup_failed("%s", err);
	store_set_licenses(srv.store, &set, NULL);
	log_info("%zu license%s loaded from %s", set.n, set.n == 1 ? "" : "s",
	    srv.cfg.licenses);
	if (policy != NULL)
		log_policy(&srv, policy, "start");
	store_set_policy(srv.store, policy);
	license_set_free(&set);

	char *usage_path = util_path_join(srv.cfg.state_dir, "usage.log");
	if (usage_open(usage_path, err, sizeof(err)) != 0)
		startup_failed("usage log: %s", err);
	free(usage_path);
	if ((srv.fence = fence_new(&srv)) == NULL)
		startup_failed("out of memory");
	if (failover_init(&srv, err, sizeof(err)) != 0)
		startup_failed("failover: %s", err);
	srv.journal = journal_open(srv.cfg.state_dir, srv.cfg.fsync, srv.cfg.compact_after,
	    srv.cfg.min_sync_us, srv.store, err, sizeof(err));
	if (srv.journal == NULL)
		startup_failed("state: %s", err);
	store_set_started(srv.store, journal_last_seq(srv.journal) > 0, time(NULL));
	store_grace(srv.store);

	util_random_hex(srv.epoch, 8);
	/* Before granting anything, take back what our backups served for us. */
	failover_reclaim(&srv);
	/* and learn that no backup serves our pool (fence.c) */
	if (fence_start(srv.fence) != 0)
		startup_failed("cannot start the fence thread");
	srv.started = time(NULL);
	srv.started_mono_ms = util_mono_ms();

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	raise_fd_limit(&srv);
	if (httpd_start(&srv, err, sizeof(err)) != 0)
		startup_failed("%s", err);
	if (drop) {
		if (state_chown_dir(srv.cfg.state_dir, run_uid, run_gid, err, sizeof(err)) != 0 ||
		    drop_privileges(srv.cfg.user, run_uid, run_gid, err, sizeof(err)) != 0)
			startup_failed("%s", err);
		log_info("running as user \"%s\" (uid %ld, gid %ld)", srv.cfg.user,
		    (long)run_uid, (long)run_gid);
	} else if (geteuid() == 0) {
		log_warnx("running as root (%s)", srv.cfg.user[0] ? "user = root" : "allow_root");
	}
	failover_start(&srv);
	log_info("slserve %s \"%s\" serving on %s (epoch %s, state %s)", SL_VERSION,
	    srv.cfg.name, srv.cfg.listen, srv.epoch, srv.cfg.state_dir);
	if (ready_fd >= 0) {
		if (write(ready_fd, "", 1) < 0)
			log_warn("cannot tell the parent process we are ready");
		close(ready_fd);
		ready_fd = -1;
		int devnull = open("/dev/null", O_RDWR);
		if (devnull >= 0) {
			dup2(devnull, 0);
			dup2(devnull, 1);
			dup2(devnull, 2);
			close(devnull);
		}
	}

	int64_t last_tick = 0;
	while (!atomic_load(&got_term)) {
		struct timespec ts = { 0, 100 * 1000000L };
		nanosleep(&ts, NULL);
		if (atomic_exchange(&got_hup, 0)) {
			json_t *changes = NULL;
			if (usage_reopen(err, sizeof(err)) != 0)
				log_warnx("SIGHUP: usage log: %s", err);
			/* server_reload logs a refused file itself, once */
			(void)server_reload(&srv, &changes, err, sizeof(err));
			json_decref(changes);
		}
		failover_tick_fast(&srv);
		queue_serve(&srv);
		int64_t now = util_mono_ms();
		if (now - last_tick >= 250) {
			last_tick = now;
			store_expire(srv.store);
			journal_watch(srv.journal, srv.cfg.request_timeout * 1000 / 2);
			httpd_sweep(&srv);
			failover_tick(&srv);
			usage_flush();
		}
	}

	/* New requests get 503 "stopping" until the daemon stops. Not
	 * MHD_quiesce_daemon: with a pool of epoll threads, libmicrohttpd
	 * 0.9.75 races its own workers to take the listening socket out of
	 * their epoll sets, and the loser aborts the process ("Failed to
	 * remove listen FD from epoll set"). */
	log_info("stopping: new requests get 503; finishing requests in flight");
	atomic_store(&srv.draining, 1);
	queue_stop(&srv);
	failover_stop(&srv);
	journal_sync_to(srv.journal, journal_last_seq(srv.journal));
	struct timespec grace = { 0, 200 * 1000000L };
	nanosleep(&grace, NULL);
	/* Every request has finished once the daemon has stopped: only then
	 * may what a request reads (the failover state) be freed. */
	httpd_stop(&srv);
	failover_free(&srv);
	fence_free(srv.fence);
	journal_close(srv.journal);
	usage_close();
	store_free(srv.store);
	for (size_t i = 0; i < srv.nkeys; i++)
		sodium_memzero(srv.keys[i].sk, sizeof(srv.keys[i].sk));
	free(srv.keys);
	if (srv.peer_token != NULL) {
		sodium_memzero(srv.peer_token, strlen(srv.peer_token));
		free(srv.peer_token);
	}
	config_free(&srv.cfg);
	http_global_cleanup();
	close(lockfd);
	log_info("stopped");
	return 0;
}
