/* io-posix against a scripted server thread on 127.0.0.1 (callbacks,
 * connection errors), and its embedding API in one thread against a peer
 * on 127.0.0.1 driven step by step, plain or with a TLS server layer, on
 * an injected clock: timeouts, the inactivity QUIT, STARTTLS in event-loop
 * mode, commands issued outside a callback, a loop that runs due timers
 * before I/O. */
#define _POSIX_C_SOURCE 200809L
#include "helpers.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>
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
#include "smtpc_posix_tls.h"

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

struct trace {
	sbuf log;
	int timeouts;
};

static void t_connect(void *u)
{
	sb_add(&((struct trace *)u)->log, "connect\n");
}
static void t_end(void *u)
{
	sb_add(&((struct trace *)u)->log, "end\n");
}
static void t_close(void *u)
{
	sb_add(&((struct trace *)u)->log, "close\n");
}
static void t_timeout(void *u)
{
	struct trace *t = u;
	t->timeouts++;
	sb_add(&t->log, "timeout\n");
}
static void t_error(void *u, smtpc_err e)
{
	sb_add(&((struct trace *)u)->log, "error %s\n", smtpc_err_name(e) + 10);
}
static void t_line(void *u, const smtpc_line *l)
{
	sb_add(&((struct trace *)u)->log, "line %u%c%s\n", l->code, l->last ? ' ' : '-', l->text);
}
static void t_reply(void *u, const smtpc_reply *r)
{
	sb_add(&((struct trace *)u)->log, "reply %u %s\n", r->code, smtpc_cmd_name(r->cmd));
}
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
	static const char *const steps[] = {
	    "S220-hi\r\n220 there\r\n", "R", "S250 ok\r\n", "R", "S221 bye\r\n", "C", NULL};
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

	/* STARTTLS, blocking, before any 220: refused at once, not a hang */
	{
		static const char *const st2[] = {"S220 hi\r\n", "R", "S250 ok\r\n", "D", NULL};
		smtpc_posix_tls *x;
		smtpc_posix_tls_opts to;
		char why[200];
		struct fake f2;
		struct trace t2 = {{0}, 0};

		fake_start(&f2, st2);
		smtpc_posix *p2 = client(&f2, &t2, 2000, 0);
		memset(&to, 0, sizeof to);
		to.cafile = SRCDIR "/tests/certs/ca.pem";
		x = smtpc_posix_tls_new(&to, why, sizeof why);
		cr_assert_not_null(x, "%s", why);
		cr_assert_eq(smtpc_posix_starttls(p2), SMTPC_ERR_STATE); /* not open */
		cr_assert_eq(smtpc_posix_use_tls(p2, x, "mail.example.com", 1, why, sizeof why),
			     SMTPC_ERR_OK);
		cr_assert_eq(smtpc_posix_use_tls(p2, x, "mail.example.com", 1, why, sizeof why),
			     SMTPC_ERR_STATE); /* one layer */
		cr_assert_eq(smtpc_posix_connect(p2, &r), SMTPC_ERR_OK);
		cr_assert_eq(smtpc_posix_starttls(p2), SMTPC_ERR_STATE);
		cr_assert_eq(smtpc_posix_write(p2, "NOOP", &r), SMTPC_ERR_OK); /* still usable */
		cr_assert_eq(r.code, 250);
		cr_assert(!smtpc_posix_is_secure(p2));
		smtpc_posix_close(p2);
		fake_join(&f2);
		smtpc_posix_free(p2);
		smtpc_posix_tls_free(x);
		sb_free(&t2.log);
	}

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

/* ---- the embedding API on an injected clock --------------------------------------- */

#ifndef SRCDIR
#define SRCDIR "."
#endif

static long long fake_ms;

static long long fake_now(void *user)
{
	(void)user;
	return fake_ms;
}

/* The other end, in this thread: raw octets, or a server core with a TLS
 * server layer taking over at STARTTLS. */
struct peer {
	int lfd, fd, port;
	sbuf got;      /* raw: what the client sent; core: its commands */
	int core;      /* 1: answer with a server core */
	int stall_tls; /* answer STARTTLS 220, then never handshake */
	smtpc_conn c;
	unsigned char *rx, *tx;
	smtpc_posix_tls *x;
	smtpc_bearssl *t;
};

static void peer_listen(struct peer *s)
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	int one = 1;

	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
	cr_assert_eq(listen(s->lfd, 1), 0);
	getsockname(s->lfd, (struct sockaddr *)&a, &len);
	s->port = ntohs(a.sin_port);
	s->fd = -1;
}

static void peer_accept(struct peer *s)
{
	int one = 1;

	s->fd = accept(s->lfd, NULL, NULL);
	cr_assert_geq(s->fd, 0);
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* as servers do */
	fcntl(s->fd, F_SETFL, fcntl(s->fd, F_GETFL) | O_NONBLOCK);
	if (s->core) {
		smtpc_posix_tls_opts o;
		char why[200];
		size_t rx = smtpc_rx_min(NULL);
		s->rx = malloc(rx);
		s->tx = malloc(4096);
		cr_assert_eq(smtpc_server_init(&s->c, NULL, s->rx, rx, s->tx, 4096), SMTPC_ERR_OK);
		smtpc_server_allow_starttls(&s->c, 1);
		memset(&o, 0, sizeof o);
		o.cert_file = SRCDIR "/tests/certs/good.pem";
		o.key_file = SRCDIR "/tests/certs/good.key";
		s->x = smtpc_posix_tls_new(&o, why, sizeof why);
		cr_assert_not_null(s->x, "%s", why);
		smtpc_server_greet(&s->c, 220, "mail.example.com ESMTP");
	}
}

static void peer_close(struct peer *s)
{
	if (s->fd >= 0)
		close(s->fd);
	close(s->lfd);
	smtpc_posix_tls_release(s->t);
	smtpc_posix_tls_free(s->x);
	free(s->rx);
	free(s->tx);
	sb_free(&s->got);
}

static void peer_write(struct peer *s, const char *text)
{
	cr_assert_eq(write(s->fd, text, strlen(text)), (ssize_t)strlen(text));
}

/* Raw: collects what the client sent. */
static void peer_read(struct peer *s)
{
	char buf[4096];
	ssize_t n;

	while ((n = recv(s->fd, buf, sizeof buf, 0)) > 0)
		sb_add(&s->got, "%.*s", (int)n, buf);
}

/* Core: one round of the server (reads, answers, writes). */
static void peer_step(struct peer *s)
{
	static const smtpc_caps caps = {SMTPC_EXT_STARTTLS | SMTPC_EXT_PIPELINING, 0, 0, 0};
	unsigned char *buf;
	const unsigned char *out;
	size_t n;
	smtpc_event ev;
	ssize_t r;

	if (s->stall_tls && s->t == NULL && (smtpc_want(&s->c) & SMTPC_WANT_TLS)) {
		out = smtpc_send_buf(&s->c, &n); /* the 220 goes out; then silence */
		if (out != NULL && (r = send(s->fd, out, n, MSG_NOSIGNAL)) > 0)
			smtpc_send_ack(&s->c, (size_t)r);
		peer_read(s);
		return;
	}
	buf = s->t ? smtpc_bearssl_recv_buf(s->t, &n) : smtpc_recv_buf(&s->c, &n);
	if (buf != NULL && (r = recv(s->fd, buf, n, 0)) > 0) {
		if (s->t)
			smtpc_bearssl_recv_ack(s->t, (size_t)r);
		else
			smtpc_recv_ack(&s->c, (size_t)r);
	}
	if (s->t)
		smtpc_bearssl_pump(s->t);
	while (smtpc_next_event(&s->c, &ev) == SMTPC_EV_COMMAND || ev.type == SMTPC_EV_STARTTLS) {
		if (ev.type == SMTPC_EV_STARTTLS) {
			char why[200];
			if (!s->stall_tls)
				s->t = smtpc_posix_tls_server(s->x, &s->c, 1, why, sizeof why);
			continue;
		}
		sb_add(&s->got, "%s%s\n", smtpc_cmd_name(ev.command.cmd),
		       s->t && smtpc_bearssl_is_secure(s->t) ? " (TLS)" : "");
		if (ev.command.cmd == SMTPC_CMD_EHLO)
			smtpc_server_reply_ehlo(&s->c, "mail.example.com", &caps);
		else
			smtpc_server_reply(&s->c, 250, "ok");
	}
	if (s->t) {
		smtpc_bearssl_pump(s->t);
		while ((out = smtpc_bearssl_send_buf(s->t, &n)) != NULL &&
		       (r = send(s->fd, out, n, MSG_NOSIGNAL)) > 0)
			smtpc_bearssl_send_ack(s->t, (size_t)r);
	} else {
		while ((out = smtpc_send_buf(&s->c, &n)) != NULL &&
		       (r = send(s->fd, out, n, MSG_NOSIGNAL)) > 0)
			smtpc_send_ack(&s->c, (size_t)r);
	}
}

/* The client's loop. uv: libuv's order, due timers before I/O (the timer
 * is armed from smtpc_posix_timeout after each round, as uv_send does);
 * otherwise poll's: I/O, then the timer call. Time is the injected clock;
 * poll waits at most 2 ms of real time, for octets in flight. */
struct loop {
	smtpc_posix *p;
	int uv;
	long long armed; /* the armed timer's deadline, -1 none */
};

static void loop_round(struct loop *l, struct peer *s)
{
	struct pollfd pfd;
	long t;

	if (l->uv && l->armed >= 0 && fake_ms >= l->armed) {
		l->armed = -1;
		smtpc_posix_timer(l->p);
	}
	if (!smtpc_posix_done(l->p)) {
		pfd.fd = smtpc_posix_fd(l->p);
		pfd.events = smtpc_posix_events(l->p);
		pfd.revents = 0;
		if (poll(&pfd, 1, 2) > 0) { /* real time only waits for octets in flight */
			if (pfd.revents & (POLLIN | POLLERR | POLLHUP))
				smtpc_posix_readable(l->p);
			if (pfd.revents & POLLOUT)
				smtpc_posix_writable(l->p);
		}
	}
	if (!l->uv)
		smtpc_posix_timer(l->p);
	t = smtpc_posix_timeout(l->p);
	l->armed = t < 0 ? -1 : fake_ms + t;
	if (s != NULL) {
		if (s->core)
			peer_step(s);
		else
			peer_read(s);
	}
}

/* Rounds until cond (at most 2000); the injected clock stands still. */
#define RUN_UNTIL(L_, S_, cond)                                                                    \
	do {                                                                                       \
		int n_ = 0;                                                                        \
		while (!(cond) && n_++ < 2000)                                                     \
			loop_round(L_, S_);                                                        \
		cr_assert((cond), "not reached: " #cond " (client: %s; error %s)",                 \
			  e.tr.log.s ? e.tr.log.s : "",                                            \
			  smtpc_err_name(smtpc_posix_error((L_)->p)));                             \
	} while (0)

struct el {
	struct trace tr;
	smtpc_posix *p;
	int secured, replies, starttls_sent;
	unsigned last_code;
	smtpc_cmd last_cmd;
	int answer; /* reply callback drives EHLO, STARTTLS */
};

static void el_reply(void *u, const smtpc_reply *r)
{
	struct el *e = u;
	smtpc_conn *c = smtpc_posix_core(e->p);

	t_reply(&e->tr, r);
	e->replies++;
	e->last_code = r->code;
	e->last_cmd = r->cmd;
	if (!e->answer)
		return;
	if (r->cmd == SMTPC_CMD_GREETING)
		smtpc_ehlo(c, "client.example");
	else if (r->cmd == SMTPC_CMD_EHLO && !smtpc_is_secure(c) && e->answer == 2)
		e->starttls_sent = smtpc_starttls(c) == SMTPC_ERR_OK;
}

static void el_secure(void *u)
{
	struct el *e = u;

	e->secured = 1;
	sb_add(&e->tr.log, "secure\n");
}

static void el_error(void *u, smtpc_err err)
{
	t_error(&((struct el *)u)->tr, err);
}
static void el_timeout(void *u)
{
	t_timeout(&((struct el *)u)->tr);
}
static void el_close(void *u)
{
	t_close(&((struct el *)u)->tr);
}

static smtpc_posix *el_client(struct el *e, int port, long timeout, long inactivity)
{
	smtpc_posix_opts o;
	char portstr[16];

	memset(e, 0, sizeof *e);
	snprintf(portstr, sizeof portstr, "%d", port);
	smtpc_posix_opts_default(&o);
	o.port = portstr;
	smtpc_posix_set_timeouts(&o.timeouts, timeout);
	o.inactivity = inactivity;
	o.quit_grace = 300;
	o.now = fake_now;
	o.cb.user = e;
	o.cb.reply = el_reply;
	o.cb.secure = el_secure;
	o.cb.error = el_error;
	o.cb.timeout = el_timeout;
	o.cb.close = el_close;
	e->p = smtpc_posix_new(&o);
	cr_assert_not_null(e->p);
	return e->p;
}

static void el_start(struct el *e, struct peer *s)
{
	cr_assert_eq(smtpc_posix_start(e->p), SMTPC_ERR_OK);
	peer_accept(s);
}

static void el_tls(struct el *e, smtpc_posix_tls **x)
{
	smtpc_posix_tls_opts o;
	char why[200];

	memset(&o, 0, sizeof o);
	o.cafile = SRCDIR "/tests/certs/ca.pem";
	*x = smtpc_posix_tls_new(&o, why, sizeof why);
	cr_assert_not_null(*x, "%s", why);
	cr_assert_eq(smtpc_posix_use_tls(e->p, *x, "mail.example.com", 1, why, sizeof why),
		     SMTPC_ERR_OK, "%s", why);
}

Test(posix, reply_timeout_on_the_injected_clock_late_reply_cannot_complete)
{
	for (int uv = 0; uv < 2; uv++) {
		struct peer s = {0};
		struct el e;
		struct loop l = {NULL, uv, -1};

		fake_ms = 1000000;
		peer_listen(&s);
		l.p = el_client(&e, s.port, 150, 0);
		el_start(&e, &s);
		peer_write(&s, "220 hi\r\n");
		RUN_UNTIL(&l, &s, e.replies == 1);
		cr_assert_eq(smtpc_noop(smtpc_posix_core(l.p)), SMTPC_ERR_OK);
		RUN_UNTIL(&l, &s, strstr(s.got.s ? s.got.s : "", "NOOP\r\n") != NULL);
		fake_ms += 149;
		loop_round(&l, &s);
		cr_assert(!smtpc_posix_done(l.p));
		cr_assert_eq(smtpc_posix_timeout(l.p), 1);
		fake_ms += 1;
		loop_round(&l, &s);
		loop_round(&l, &s);
		cr_assert(smtpc_posix_done(l.p));
		cr_assert_eq(smtpc_posix_error(l.p), SMTPC_ERR_TIMEOUT);
		peer_write(&s, "250 late\r\n"); /* the session is over: it never completes NOOP */
		loop_round(&l, &s);
		cr_assert_eq(e.replies, 1);
		cr_assert_eq(e.tr.timeouts, 1);
		cr_assert_str_eq(e.tr.log.s, "reply 220 GREETING\ntimeout\nerror TIMEOUT\nclose\n");
		cr_assert_eq(smtpc_noop(smtpc_posix_core(l.p)), SMTPC_ERR_TIMEOUT);
		smtpc_posix_free(l.p);
		peer_close(&s);
		sb_free(&e.tr.log);
	}
}

Test(posix, inactivity_on_the_injected_clock_sends_quit_once_then_closes)
{
	struct peer s = {0};
	struct el e;
	struct loop l = {NULL, 1, -1};

	fake_ms = 5000;
	peer_listen(&s);
	l.p = el_client(&e, s.port, 5000, 200);
	el_start(&e, &s);
	peer_write(&s, "220 hi\r\n");
	RUN_UNTIL(&l, &s, e.replies == 1);
	cr_assert_eq(smtpc_posix_timeout(l.p), 200);
	fake_ms += 199;
	loop_round(&l, &s);
	cr_assert_null(s.got.s);
	fake_ms += 1;
	RUN_UNTIL(&l, &s, s.got.s != NULL);
	cr_assert_str_eq(s.got.s, "QUIT\r\n");
	cr_assert_eq(e.tr.timeouts, 1);
	cr_assert_eq(smtpc_posix_timeout(l.p), 300); /* the grace */
	fake_ms += 300;
	RUN_UNTIL(&l, &s, smtpc_posix_done(l.p));
	cr_assert_str_eq(s.got.s, "QUIT\r\n"); /* once */
	cr_assert_eq(smtpc_posix_error(l.p), SMTPC_ERR_OK);
	cr_assert_str_eq(e.tr.log.s, "reply 220 GREETING\ntimeout\nclose\n");
	smtpc_posix_free(l.p);
	peer_close(&s);
	sb_free(&e.tr.log);
}

/* A command issued outside any callback after an idle gap longer than the
 * timeout gets the whole timeout, whichever order the loop runs in. */
Test(posix, command_after_an_idle_gap_gets_its_full_timeout)
{
	for (int uv = 0; uv < 2; uv++) {
		struct peer s = {0};
		struct el e;
		struct loop l = {NULL, uv, -1};

		fake_ms = 0;
		peer_listen(&s);
		l.p = el_client(&e, s.port, 1000, 0);
		el_start(&e, &s);
		peer_write(&s, "220 hi\r\n");
		RUN_UNTIL(&l, &s, e.replies == 1);
		cr_assert_eq(smtpc_posix_timeout(l.p), -1); /* nothing outstanding */
		fake_ms += 60000;			    /* idle for a minute */
		loop_round(&l, &s);
		cr_assert_eq(smtpc_noop(smtpc_posix_core(l.p)),
			     SMTPC_ERR_OK); /* outside a callback */
		cr_assert(smtpc_posix_events(l.p) & POLLOUT);
		cr_assert_eq(smtpc_posix_timeout(l.p), 1000);
		smtpc_posix_timer(l.p); /* a due timer from before the gap: harmless */
		cr_assert(!smtpc_posix_done(l.p));
		RUN_UNTIL(&l, &s, s.got.s != NULL && strcmp(s.got.s, "NOOP\r\n") == 0);
		fake_ms += 999;
		loop_round(&l, &s);
		cr_assert(!smtpc_posix_done(l.p));
		peer_write(&s, "250 ok\r\n");
		RUN_UNTIL(&l, &s, e.replies == 2);
		cr_assert_eq(e.last_code, 250);
		cr_assert_eq(smtpc_posix_error(l.p), SMTPC_ERR_OK);
		/* and the wait is still bounded */
		cr_assert_eq(smtpc_noop(smtpc_posix_core(l.p)), SMTPC_ERR_OK);
		loop_round(&l, &s);
		fake_ms += 1000;
		loop_round(&l, &s);
		loop_round(&l, &s);
		cr_assert(smtpc_posix_done(l.p));
		cr_assert_eq(smtpc_posix_error(l.p), SMTPC_ERR_TIMEOUT);
		smtpc_posix_free(l.p);
		peer_close(&s);
		sb_free(&e.tr.log);
	}
}

/* STARTTLS in event-loop mode completes on its own; the application is
 * told by the secure callback, and its EHLO, issued outside any callback,
 * goes out under TLS. */
Test(posix, starttls_in_an_event_loop_and_a_command_from_outside)
{
	for (int uv = 0; uv < 2; uv++) {
		struct peer s = {0};
		struct el e;
		struct loop l = {NULL, uv, -1};
		smtpc_posix_tls *x;
		smtpc_conn *c;

		fake_ms = 0;
		s.core = 1;
		peer_listen(&s);
		l.p = el_client(&e, s.port, 5000, 0);
		e.answer = 2;
		el_tls(&e, &x);
		c = smtpc_posix_core(l.p);
		el_start(&e, &s);
		RUN_UNTIL(&l, &s, e.secured);
		cr_assert(e.starttls_sent);
		cr_assert(smtpc_posix_is_secure(l.p));
		cr_assert(smtpc_is_secure(c));
		cr_assert(!smtpc_is_greeted(c)); /* EHLO again */
		cr_assert_str_eq(s.got.s, "EHLO\n");
		for (int k = 0; k < 20; k++) /* nothing more happens on its own */
			loop_round(&l, &s);
		cr_assert_eq(smtpc_posix_timeout(l.p), -1);
		cr_assert_eq(smtpc_ehlo(c, "client.example"),
			     SMTPC_ERR_OK); /* outside a callback */
		cr_assert(smtpc_posix_events(l.p) & POLLOUT);
		cr_assert_eq(smtpc_posix_timeout(l.p), 0); /* plaintext to encrypt: no I/O needed */
		RUN_UNTIL(&l, &s, e.replies == 4);
		cr_assert_eq(e.last_cmd, SMTPC_CMD_EHLO);
		cr_assert_eq(e.last_code, 250);
		cr_assert_str_eq(s.got.s, "EHLO\nEHLO (TLS)\n");
		cr_assert_eq(smtpc_quit(c), SMTPC_ERR_OK);
		RUN_UNTIL(&l, &s, smtpc_posix_done(l.p));
		cr_assert_eq(smtpc_posix_error(l.p), SMTPC_ERR_OK);
		cr_assert_str_eq(e.tr.log.s,
				 "reply 220 GREETING\nreply 250 EHLO\nreply 220 STARTTLS\n"
				 "secure\nreply 250 EHLO\nreply 221 QUIT\nclose\n");
		smtpc_posix_free(l.p);
		smtpc_posix_tls_free(x);
		peer_close(&s);
		sb_free(&e.tr.log);
	}
}

/* A handshake that never comes is bounded by the timeout (it used to wait
 * forever with no timeout at all). */
Test(posix, starttls_handshake_in_an_event_loop_times_out)
{
	for (int uv = 0; uv < 2; uv++) {
		struct peer s = {0};
		struct el e;
		struct loop l = {NULL, uv, -1};
		smtpc_posix_tls *x;

		fake_ms = 0;
		s.core = 1;
		s.stall_tls = 1;
		peer_listen(&s);
		l.p = el_client(&e, s.port, 700, 0);
		e.answer = 2;
		el_tls(&e, &x);
		el_start(&e, &s);
		RUN_UNTIL(&l, &s, e.replies == 3); /* the 220 to STARTTLS */
		for (int k = 0; k < 10; k++)
			loop_round(&l, &s);
		cr_assert(!smtpc_posix_done(l.p));
		cr_assert_eq(smtpc_posix_timeout(l.p), 700);
		fake_ms += 699;
		loop_round(&l, &s);
		cr_assert(!smtpc_posix_done(l.p));
		fake_ms += 1;
		loop_round(&l, &s);
		loop_round(&l, &s);
		cr_assert(smtpc_posix_done(l.p));
		cr_assert_eq(smtpc_posix_error(l.p), SMTPC_ERR_TIMEOUT);
		cr_assert(!e.secured);
		smtpc_posix_free(l.p);
		smtpc_posix_tls_free(x);
		peer_close(&s);
		sb_free(&e.tr.log);
	}
}
