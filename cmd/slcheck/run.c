/*
 * run: take a seat, run a command under it, heartbeat while it runs, check
 * the seat in when it ends, and exit with its status. Signals sent to
 * slcheck are forwarded to the command; if the seat is lost, slcheck tries
 * to take one again, then warns or stops the command (--on-loss).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "slcheck.h"

static const int run_forwarded[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2 };

static volatile sig_atomic_t run_child;		/* the command's pid once started */
static volatile sig_atomic_t run_early_signal;	/* a signal that came before it */
static volatile sig_atomic_t run_stop;		/* makes waits for a seat give up */

/* Forward a signal to the command. Signals from the terminal (si_code
 * SI_KERNEL) reach the command's process group directly and are not sent
 * twice. Before the command runs, remember the signal and stop waiting. */
static void
run_signal(int sig, siginfo_t *info, void *uctx)
{
	pid_t child = (pid_t)run_child;
	int saved_errno = errno;	/* kill may set it under the interrupted code */

	(void)uctx;
	if (child > 0) {
		if (info == NULL || info->si_code != SI_KERNEL)
			kill(child, sig);
	} else {
		run_early_signal = sig;
		run_stop = 1;
	}
	errno = saved_errno;
}

struct run_state {
	struct slc *s;
	const char *product;
	const char *client;
	struct seat seat;
	int held;
	int64_t next;		/* next heartbeat or try to take a seat; 0: none */
	int64_t expires_at;	/* the server forgets the lease then; 0: never */
	int64_t interval_ms;
	int64_t retry_ms;
	int on_loss_term;
	int lost;		/* seat lost and the command told to stop */
	int64_t kill_at;	/* SIGKILL the command then, if still running */
	double grace;
	pid_t child;
	char reuse_lease[SL_ID_MAX + 1];	/* ask for this lease id again */
};

#define HARD_HEARTBEAT_MS (60 * 1000)

static void
run_seat_taken(struct run_state *st, int64_t now)
{
	st->held = 1;
	st->retry_ms = 0;
	/* A hard seat (no heartbeat interval) is called on now and then too:
	 * a server that restarted before it knew we had the seat holds it only
	 * a while unless its holder calls (slserve(8), Leases). */
	st->interval_ms = st->seat.heartbeat_interval > 0 ?
	    st->seat.heartbeat_interval * 1000 : HARD_HEARTBEAT_MS;
	st->expires_at = st->seat.expires_in > 0 ? now + st->seat.expires_in * 1000 : 0;
	st->next = st->interval_ms > 0 ? now + st->interval_ms : 0;
}

static int64_t
run_backoff(struct run_state *st, int64_t max)
{
	st->retry_ms = st->retry_ms == 0 ? 1000 : st->retry_ms * 2;
	if (st->retry_ms > max)
		st->retry_ms = max;
	if (st->retry_ms < 1000)
		st->retry_ms = 1000;
	return slc_jitter_ms(st->retry_ms / 2, st->retry_ms);
}

/* The seat is gone: take another, or act as --on-loss says. */
static void
run_reacquire(struct run_state *st, int64_t now)
{
	struct checkout_request req;
	char why[1536], token[512];
	int rc;

	seat_free(&st->seat);
	checkout_request_init(&req, st->product, st->client);
	/* A seat granted just before its server failed may be unknown to the
	 * backup: asking for it again under the same lease id means that, when
	 * the backup hands its seats back, the server counts it once. */
	if (st->reuse_lease[0] != '\0') {
		util_strlcpy(req.lease, st->reuse_lease, sizeof(req.lease));
		st->reuse_lease[0] = '\0';
	}
	rc = select_checkout(st->s, &req, &st->seat, why, sizeof(why), NULL);
	now = util_mono_ms();
	if (rc == SLC_EXIT_OK) {
		token_format(&st->seat.token, token, sizeof(token));
		slc_warnx("%s: seat taken again: %s", st->product, token);
		run_seat_taken(st, now);
		return;
	}
	if (st->on_loss_term) {
		slc_warnx("%s: no seat to be had (%s); stopping the command", st->product, why);
		kill(st->child, SIGTERM);
		st->lost = 1;
		st->next = 0;
		st->kill_at = now + (int64_t)(st->grace * 1000);
		return;
	}
	st->next = now + run_backoff(st, 30000);
	slc_warnx("%s: no seat to be had (%s); the command goes on, next try in %.0fs",
	    st->product, why, (double)(st->next - now) / 1000);
}

static void
run_heartbeat(struct run_state *st, int64_t now)
{
	struct reply r;

	if (!st->held) {
		run_reacquire(st, now);
		return;
	}
	if (lease_call(st->s, "POST", &st->seat.token, "heartbeat", &r) == 0) {
		long expires_in = (long)js_int(r.json, "expires_in", st->seat.expires_in);
		long interval = (long)js_int(r.json, "heartbeat_interval",
		    st->seat.heartbeat_interval);
		now = util_mono_ms();
		if (interval > 0)
			st->interval_ms = interval * 1000;
		st->expires_at = expires_in > 0 ? now + expires_in * 1000 : 0;
		st->next = st->interval_ms > 0 ? now + st->interval_ms : 0;
		st->retry_ms = 0;
		reply_free(&r);
		return;
	}
	now = util_mono_ms();
	if (r.kind == REPLY_ERROR && (r.status == 404 || r.status == 410)) {
		slc_warnx("%s: seat lost: lease %s at %s: %s", st->product,
		    st->seat.token.lease, st->seat.token.url, r.detail);
		st->held = 0;
		if (r.status == 404)	/* not revoked: unknown where we asked */
			util_strlcpy(st->reuse_lease, st->seat.token.lease,
			    sizeof(st->reuse_lease));
		reply_free(&r);
		run_reacquire(st, now);
		return;
	}
	if (st->expires_at > 0 && now >= st->expires_at) {
		slc_warnx("%s: seat lost: no server renewed lease %s before it expired (%s)",
		    st->product, st->seat.token.lease, r.detail);
		st->held = 0;
		reply_free(&r);
		run_reacquire(st, now);
		return;
	}
	st->next = now + run_backoff(st, st->interval_ms > 0 ? st->interval_ms : 1000);
	if (st->expires_at > 0 && st->next > st->expires_at)
		st->next = st->expires_at;
	slc_debug(st->s, "%s: heartbeat failed (%s); next try in %.1fs", st->product,
	    r.detail, (double)(st->next - now) / 1000);
	reply_free(&r);
}

static void
run_checkin(struct run_state *st)
{
	struct reply r;

	if (!st->held)
		return;
	if (lease_call(st->s, "DELETE", &st->seat.token, NULL, &r) == -1)
		slc_warnx("%s: could not check in lease %s at %s: %s", st->product,
		    st->seat.token.lease, st->seat.token.url, r.detail);
	else
		slc_debug(st->s, "%s: lease %s checked in", st->product, st->seat.token.lease);
	st->held = 0;
	reply_free(&r);
}

/* Wait for the command, heartbeating on time. Returns its wait status. */
static int
run_supervise(struct run_state *st, const sigset_t *chld)
{
	int status;

	for (;;) {
		int64_t now = util_mono_ms(), next = INT64_MAX;
		pid_t w;

		if (st->next > 0)
			next = st->next;
		if (st->kill_at > 0 && st->kill_at < next)
			next = st->kill_at;
		if (next == INT64_MAX) {
			siginfo_t si;
			if (sigwaitinfo(chld, &si) == -1 && errno != EINTR)
				return -1;
		} else if (next > now) {
			struct timespec ts = { (time_t)((next - now) / 1000),
			    (long)((next - now) % 1000) * 1000000L };
			siginfo_t si;
			(void)sigtimedwait(chld, &si, &ts);
		}
		while ((w = waitpid(st->child, &status, WNOHANG)) == -1 && errno == EINTR)
			;
		if (w == st->child)
			return status;
		if (w == -1)
			return -1;
		now = util_mono_ms();
		if (st->kill_at > 0 && now >= st->kill_at) {
			slc_warnx("%s: the command did not stop within %gs; killing it",
			    st->product, st->grace);
			kill(st->child, SIGKILL);
			st->kill_at = 0;
		}
		if (st->next > 0 && now >= st->next)
			run_heartbeat(st, now);
	}
}

int
cmd_run(void *ctx, int argc, char **argv)
{
	struct slc *s = ctx;
	const struct slc_opts *o = &s->opts;
	struct run_state st;
	struct sigaction sa;
	sigset_t chld, oldmask;
	char token[512], *client;
	double wait = 0;
	int error_exit = -1, errpipe[2], status, rc, child_errno = 0;
	const char *on_loss = "term";
	ssize_t n;

	memset(&st, 0, sizeof(st));
	st.grace = 10;
	for (int i = 0; i < o->n; i++) {
		const char *arg = o->v[i].arg;
		char *end;
		switch (o->v[i].ch) {
		case OPT_WAIT:
			if ((wait = slc_parse_seconds(arg)) < 0)
				return slc_usage_error(argv[0], "--wait: \"%s\" is not a number "
				    "of seconds", arg);
			break;
		case OPT_GRACE:
			if ((st.grace = slc_parse_seconds(arg)) < 0)
				return slc_usage_error(argv[0], "--grace: \"%s\" is not a number "
				    "of seconds", arg);
			break;
		case OPT_ON_LOSS:
			if (strcmp(arg, "term") != 0 && strcmp(arg, "warn") != 0)
				return slc_usage_error(argv[0], "--on-loss: \"%s\": use term or "
				    "warn", arg);
			on_loss = arg;
			break;
		case 'E':
			error_exit = (int)strtol(arg, &end, 10);
			if (*arg == '\0' || *end != '\0' || error_exit < 0 || error_exit > 255)
				return slc_usage_error(argv[0], "-E: \"%s\" is not an exit code "
				    "(0-255)", arg);
			break;
		}
	}
	if (argc >= 3 && strcmp(argv[2], "--") == 0) {
		argv[2] = argv[1];	/* PRODUCT -- COMMAND: drop the "--" */
		argv++;
		argc--;
	}
	/* After "--" argv[0] is the PRODUCT: no usage line follows. */
	if (argc < 3)
		return slc_usage_error(argv[0], "run: name the PRODUCT and the COMMAND");
	if (!util_valid_id(argv[1]))
		return slc_usage_error(argv[0], "run: \"%s\" is not a product name", argv[1]);
	st.s = s;
	st.product = argv[1];
	st.on_loss_term = strcmp(on_loss, "term") == 0;
	client = basename(argv[2]);
	st.client = *client != '\0' ? client : "slcheck";

	/* Signals: forwarded ones get a handler now, so that one arriving
	 * while we wait for a seat stops the wait and the seat is not left
	 * behind; SIGCHLD is blocked and taken with sigtimedwait. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = run_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < nitems(run_forwarded); i++)
		sigaction(run_forwarded[i], &sa, NULL);
	signal(SIGCHLD, SIG_DFL);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &oldmask);
	s->stop = &run_stop;

	struct checkout_request req;
	checkout_request_init(&req, st.product, st.client);
	if ((rc = select_checkout_wait(s, &req, wait, &st.seat)) != SLC_EXIT_OK) {
		if (run_early_signal)
			return 128 + run_early_signal;
		return error_exit >= 0 ? error_exit : rc;
	}
	run_seat_taken(&st, util_mono_ms());
	token_format(&st.seat.token, token, sizeof(token));
	slc_debug(s, "%s: running %s under lease %s", st.product, argv[2], token);
	if (run_early_signal) {
		run_checkin(&st);
		seat_free(&st.seat);
		return 128 + run_early_signal;
	}

	if (pipe2(errpipe, O_CLOEXEC) == -1) {
		slc_warnx("pipe: %s", strerror(errno));
		run_checkin(&st);
		return SLC_EXIT_FAILURE;
	}
	fflush(stdout);
	fflush(stderr);
	if ((st.child = fork()) == -1) {
		slc_warnx("fork: %s", strerror(errno));
		close(errpipe[0]);
		close(errpipe[1]);
		run_checkin(&st);
		seat_free(&st.seat);
		return SLC_EXIT_FAILURE;
	}
	if (st.child == 0) {
		int e;
		for (size_t i = 0; i < nitems(run_forwarded); i++)
			signal(run_forwarded[i], SIG_DFL);
		sigprocmask(SIG_SETMASK, &oldmask, NULL);
		close(errpipe[0]);
		setenv("SL_LEASE", token, 1);
		execvp(argv[2], argv + 2);
		e = errno;
		(void)!write(errpipe[1], &e, sizeof(e));
		_exit(e == ENOENT ? 127 : 126);
	}
	run_child = st.child;
	if (run_early_signal)
		kill(st.child, run_early_signal);
	close(errpipe[1]);
	while ((n = read(errpipe[0], &child_errno, sizeof(child_errno))) == -1 && errno == EINTR)
		;
	close(errpipe[0]);
	if (n == (ssize_t)sizeof(child_errno)) {
		slc_warnx("%s: %s", argv[2], strerror(child_errno));
		while (waitpid(st.child, &status, 0) == -1 && errno == EINTR)
			;
		run_checkin(&st);
		seat_free(&st.seat);
		return child_errno == ENOENT ? 127 : 126;
	}

	status = run_supervise(&st, &chld);
	run_child = 0;
	run_checkin(&st);
	seat_free(&st.seat);
	if (status == -1) {
		slc_warnx("waitpid: %s", strerror(errno));
		return SLC_EXIT_FAILURE;
	}
	if (st.lost)
		return error_exit >= 0 ? error_exit : SLC_EXIT_LOST;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return SLC_EXIT_FAILURE;
}
