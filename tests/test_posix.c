/* io-posix against a scripted server thread on 127.0.0.1: callbacks,
 * timeouts, the inactivity QUIT, connection errors. */
#define _POSIX_C_SOURCE 200809L
#include "helpers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "smtpc_posix.h"

/* Script steps: "S..." send, "R" read a line, "W<ms>" wait, "C" close,
 * "D" drain until the client closes (at most 3 s). */
struct fake {
	int lfd, port;
	const char *const *script;
	char got[8192];
	size_t got_len;
	pthread_t th;
};

static void *fake_run(void *arg)
{
	struct fake *f = arg;
	int fd = accept(f->lfd, NULL, NULL);
	const char *const *st;

	if (fd < 0)
		return NULL;
	for (st = f->script; *st; st++) {
		const char *s = *st;
		if (s[0] == 'S') {
			if (write(fd, s + 1, strlen(s + 1)) < 0)
				break;
		} else if (s[0] == 'R' || s[0] == 'D') {
			struct pollfd p = {fd, POLLIN, 0};
			for (;;) {
				ssize_t n;
				if (poll(&p, 1, 3000) <= 0)
					break;
				n = read(fd, f->got + f->got_len, 1);
				if (n <= 0)
					break;
				f->got_len++;
				if (s[0] == 'R' && f->got[f->got_len - 1] == '\n')
					break;
				if (f->got_len + 1 >= sizeof f->got)
					break;
			}
		} else if (s[0] == 'W') {
			struct timespec ts = {0, atol(s + 1) * 1000000L};
			nanosleep(&ts, NULL);
		} else if (s[0] == 'C') {
			break;
		}
	}
	close(fd);
	return NULL;
}

static void fake_start(struct fake *f, const char *const *steps)
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;

	memset(f, 0, sizeof *f);
	f->script = steps;
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(f->lfd, (struct sockaddr *)&a, sizeof a), 0);
	cr_assert_eq(listen(f->lfd, 1), 0);
	getsockname(f->lfd, (struct sockaddr *)&a, &len);
	f->port = ntohs(a.sin_port);
	pthread_create(&f->th, NULL, fake_run, f);
}

static void fake_join(struct fake *f)
{
	pthread_join(f->th, NULL);
	close(f->lfd);
	f->got[f->got_len] = '\0';
}

static long long ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct trace {
	sbuf log;
	int timeouts;
};

static void t_connect(void *u) { sb_add(&((struct trace *)u)->log, "connect\n"); }
static void t_end(void *u) { sb_add(&((struct trace *)u)->log, "end\n"); }
static void t_close(void *u) { sb_add(&((struct trace *)u)->log, "close\n"); }
static void t_timeout(void *u)
{
	struct trace *t = u;
	t->timeouts++;
	sb_add(&t->log, "timeout\n");
}
static void t_error(void *u, smtpc_err e) { sb_add(&((struct trace *)u)->log, "error %s\n", smtpc_err_name(e) + 10); }
static void t_line(void *u, const smtpc_line *l) { sb_add(&((struct trace *)u)->log, "line %u%c%s\n", l->code, l->last ? ' ' : '-', l->text); }
static void t_reply(void *u, const smtpc_reply *r) { sb_add(&((struct trace *)u)->log, "reply %u %s\n", r->code, smtpc_cmd_name(r->cmd)); }
static void t_command(void *u, smtpc_cmd c, const char *l, size_t n, int secret)
{
	(void)c, (void)secret;
	sb_add(&((struct trace *)u)->log, "command %.*s\n", (int)n, l);
}

static smtpc_posix *client(struct fake *f, struct trace *t, long timeout, long inactivity)
{
	smtpc_posix_opts o;
	char port[16];

	snprintf(port, sizeof port, "%d", f->port);
	smtpc_posix_opts_default(&o);
	o.port = port;
	smtpc_posix_set_timeouts(&o.timeouts, timeout);
	o.inactivity = inactivity;
	o.quit_grace = 300;
	o.cb.user = t;
	o.cb.connect = t_connect;
	o.cb.end = t_end;
	o.cb.close = t_close;
	o.cb.timeout = t_timeout;
	o.cb.error = t_error;
	o.cb.line = t_line;
	o.cb.reply = t_reply;
	o.cb.command = t_command;
	return smtpc_posix_new(&o);
}

Test(posix, seed_session_and_its_events)
{
	static const char *const steps[] = {"S220-hi\r\n220 there\r\n", "R", "S250 ok\r\n", "R",
	                                     "S221 bye\r\n", "C", NULL};
	struct fake f;
	struct trace t = {{0}, 0};
	smtpc_reply r;

	fake_start(&f, steps);
	smtpc_posix *p = client(&f, &t, 2000, 0);
	cr_assert_eq(smtpc_posix_connect(p, &r), SMTPC_ERR_OK);
	cr_assert_eq(r.code, 220);
	cr_assert_str_eq(r.text, "hi\nthere");
	cr_assert_eq(smtpc_posix_write(p, "NOOP", &r), SMTPC_ERR_OK);
	cr_assert_eq(r.code, 250);
	cr_assert_eq(smtpc_quit(smtpc_posix_core(p)), SMTPC_ERR_OK);
	cr_assert_eq(smtpc_posix_wait(p, &r), SMTPC_ERR_OK);
	cr_assert_eq(r.code, 221);
	cr_assert_eq(smtpc_posix_wait(p, &r), SMTPC_ERR_STATE); /* nothing outstanding */
	smtpc_posix_close(p);
	smtpc_posix_close(p); /* once only */
	fake_join(&f);
	cr_assert_str_eq(f.got, "NOOP\r\nQUIT\r\n");
	cr_assert_str_eq(t.log.s, "connect\nline 220-hi\nline 220 there\nreply 220 GREETING\n"
	                          "command NOOP\nline 250 ok\nreply 250 RAW\ncommand QUIT\n"
	                          "line 221 bye\nreply 221 QUIT\nclose\n");
	cr_assert_eq(smtpc_posix_error(p), SMTPC_ERR_OK);
	smtpc_posix_free(p);
	sb_free(&t.log);
}

Test(posix, reply_timeout_ends_the_session_late_reply_cannot_complete)
{
	static const char *const steps[] = {"S220 hi\r\n", "R", "W400", "S250 late\r\n", "D", NULL};
	struct fake f;
	struct trace t = {{0}, 0};
	smtpc_reply r;

	fake_start(&f, steps);
	smtpc_posix *p = client(&f, &t, 150, 0);
	cr_assert_eq(smtpc_posix_connect(p, &r), SMTPC_ERR_OK);
	long long t0 = ms_now();
	cr_assert_eq(smtpc_posix_write(p, "NOOP", &r), SMTPC_ERR_TIMEOUT);
	long long took = ms_now() - t0;
	cr_assert(took >= 140 && took < 2500, "took %lld ms", took);
	cr_assert(smtpc_posix_done(p));
	cr_assert_eq(smtpc_posix_error(p), SMTPC_ERR_TIMEOUT);
	cr_assert_eq(smtpc_noop(smtpc_posix_core(p)), SMTPC_ERR_TIMEOUT);
	cr_assert_eq(smtpc_posix_wait(p, &r), SMTPC_ERR_TIMEOUT);
	fake_join(&f);
	cr_assert_eq(t.timeouts, 1);
	cr_assert(strstr(t.log.s, "timeout\nerror TIMEOUT\nclose\n") != NULL, "%s", t.log.s);
	cr_assert(strstr(t.log.s, "late") == NULL);
	smtpc_posix_free(p);
	sb_free(&t.log);
}

Test(posix, inactivity_sends_quit_once_then_closes)
{
	static const char *const steps[] = {"S220 hi\r\n", "D", NULL};
	struct fake f;
	struct trace t = {{0}, 0};
	long long t0;

	fake_start(&f, steps);
	smtpc_posix *p = client(&f, &t, 5000, 200);
	cr_assert_eq(smtpc_posix_start(p), SMTPC_ERR_OK);
	t0 = ms_now();
	while (!smtpc_posix_done(p) && ms_now() - t0 < 3000) { /* the embedding API */
		struct pollfd pfd = {smtpc_posix_fd(p), smtpc_posix_events(p), 0};
		long ms = smtpc_posix_timeout(p);
		int n = poll(&pfd, 1, ms < 0 ? 100 : (int)ms);
		if (n > 0 && (pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			smtpc_posix_readable(p);
		if (n > 0 && (pfd.revents & POLLOUT))
			smtpc_posix_writable(p);
		smtpc_posix_timer(p);
	}
	long long took = ms_now() - t0;
	cr_assert(smtpc_posix_done(p));
	cr_assert(took >= 450 && took < 2500, "took %lld ms", took); /* 200 idle + 300 grace */
	fake_join(&f);
	cr_assert_str_eq(f.got, "QUIT\r\n"); /* once */
	cr_assert_eq(t.timeouts, 1);
	cr_assert_eq(smtpc_posix_error(p), SMTPC_ERR_OK);
	cr_assert(strstr(t.log.s, "timeout\ncommand QUIT\nclose\n") != NULL, "%s", t.log.s);
	smtpc_posix_free(p);
	sb_free(&t.log);
}

Test(posix, refused_connection_and_early_close)
{
	static const char *const steps[] = {"C", NULL};
	struct fake f;
	struct trace t = {{0}, 0};
	smtpc_reply r;

	fake_start(&f, steps);
	smtpc_posix *p = client(&f, &t, 2000, 0);
	cr_assert_eq(smtpc_posix_connect(p, &r), SMTPC_ERR_CLOSED); /* closed before greeting */
	fake_join(&f);
	cr_assert_str_eq(t.log.s, "connect\nend\nerror CLOSED\nclose\n");
	smtpc_posix_free(p);
	sb_free(&t.log);

	/* the port is free now: refused */
	t.log.n = 0;
	p = client(&f, &t, 2000, 0);
	cr_assert_eq(smtpc_posix_connect(p, &r), SMTPC_ERR_CONNECT);
	cr_assert_eq(smtpc_posix_error(p), SMTPC_ERR_CONNECT);
	cr_assert_eq(smtpc_posix_start(p), SMTPC_ERR_STATE);
	smtpc_posix_free(p);
	sb_free(&t.log);
	cr_assert_eq(smtpc_posix_core(NULL), NULL);
	cr_assert_eq(smtpc_posix_fd(NULL), -1);
	cr_assert_eq(smtpc_posix_timeout(NULL), -1);
	cr_assert_eq(smtpc_posix_events(NULL), 0);
	smtpc_posix_free(NULL);
}
