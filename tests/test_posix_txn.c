/* The transaction layer over io-posix, blocking and in an event loop,
 * against the core's server role in a thread on 127.0.0.1. */
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
#include <unistd.h>

#include "smtpc_posix_txn.h"

#define OK(call) cr_assert_eq((call), SMTPC_ERR_OK, "%s failed", #call)

static void append(sbuf *b, const void *p, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->s = realloc(b->s, b->cap);
		cr_assert_not_null(b->s);
	}
	memcpy(b->s + b->n, p, n);
	b->n += n;
	b->s[b->n] = '\0';
}

/* ---- a server thread: the core's server role over a socket --------------------------- */

struct srv {
	int lfd, port;
	unsigned ext;
	pthread_t th;
	sbuf stored; /* "[body]" per message accepted */
	sbuf body;
	int messages;
	int closed_early; /* the client closed in the middle of a message */
};

static void *srv_run(void *arg)
{
	struct srv *s = arg;
	int fd = accept(s->lfd, NULL, NULL);
	smtpc_conn c;
	size_t rxl = smtpc_rx_min(NULL);
	unsigned char *rx = malloc(rxl), tx[8192];
	smtpc_caps caps = {s->ext, 0, 0, 0};
	int in_msg = 0, done = 0;

	if (fd < 0)
		return NULL;
	smtpc_server_init(&c, NULL, rx, rxl, tx, sizeof tx);
	smtpc_server_greet(&c, 220, "thread.example");
	while (!done) {
		smtpc_event ev;
		smtpc_event_type k;
		size_t n;
		const unsigned char *out;
		while ((k = smtpc_next_event(&c, &ev)) != SMTPC_EV_NEED_DATA) {
			if (k == SMTPC_EV_COMMAND) {
				const smtpc_command *cmd = &ev.command;
				if (cmd->cmd == SMTPC_CMD_EHLO)
					smtpc_server_reply_ehlo(&c, "thread.example", &caps);
				else if (cmd->cmd == SMTPC_CMD_DATA)
					smtpc_server_reply(&c, 354, "go");
				else if (cmd->cmd == SMTPC_CMD_RCPT && cmd->arg[0] == 'x')
					smtpc_server_reply(&c, 550, "5.1.1 unknown");
				else
					smtpc_server_reply(&c, 250, "2.0.0 ok");
				if (cmd->cmd == SMTPC_CMD_MAIL) {
					s->body.n = 0;
					in_msg = 1;
				}
			} else if (k == SMTPC_EV_BODY) {
				append(&s->body, ev.body.data, ev.body.len);
			} else if (k == SMTPC_EV_CHUNK_END) { /* kept: acknowledged */
				if (ev.body_end.ok)
					smtpc_server_reply(&c, 250, "2.0.0 chunk ok");
			} else if (k == SMTPC_EV_BODY_END) {
				if (ev.body_end.ok) {
					append(&s->stored, "[", 1);
					append(&s->stored, s->body.s ? s->body.s : "", s->body.n);
					append(&s->stored, "]", 1);
					s->messages++;
					smtpc_server_reply(&c, 250, "2.0.0 stored");
				}
				in_msg = 0;
			} else {
				done = 1;
				break;
			}
		}
		while ((out = smtpc_send_buf(&c, &n)) != NULL) {
			ssize_t w = send(fd, out, n, MSG_NOSIGNAL); /* the client may be gone */
			if (w <= 0) {
				done = 1;
				break;
			}
			smtpc_send_ack(&c, (size_t)w);
		}
		if (done)
			break;
		unsigned char *in = smtpc_recv_buf(&c, &n);
		if (in == NULL)
			continue;
		ssize_t r = read(fd, in, n);
		if (r > 0) {
			smtpc_recv_ack(&c, (size_t)r);
		} else {
			if (in_msg)
				s->closed_early = 1;
			smtpc_eof(&c);
		}
	}
	close(fd);
	free(rx);
	return NULL;
}

static void srv_start(struct srv *s, unsigned ext)
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;

	memset(s, 0, sizeof *s);
	s->ext = ext;
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
	cr_assert_eq(listen(s->lfd, 1), 0);
	getsockname(s->lfd, (struct sockaddr *)&a, &len);
	s->port = ntohs(a.sin_port);
	pthread_create(&s->th, NULL, srv_run, s);
}

static void srv_join(struct srv *s)
{
	pthread_join(s->th, NULL);
	close(s->lfd);
	sb_add(&s->stored, "%s", "");
}

/* ---- the client side ------------------------------------------------------------------- */

struct client {
	const char *bodies[4];
	size_t lens[4];
	size_t piece; /* the body callback's piece size */
	size_t off[4];
	int fail_at; /* message index whose source fails after one piece; -1: none */
	sbuf log;
	smtpc_posix_txn *pt;
	smtpc_txn_msg m[4];
	smtpc_txn_rcpt r[4][2];
	char text[4][512];
	int quit_on_idle;
	int nested; /* done calls the adapter back */
	int idle_calls;
	int starts;
};

static int c_body(void *user, smtpc_txn_msg *m, const unsigned char **data, size_t *len)
{
	struct client *cl = user;
	size_t i = (size_t)(m - cl->m), n = cl->lens[i] - cl->off[i];

	if (cl->fail_at == (int)i && cl->off[i] > 0)
		return -1;
	if (n == 0)
		return 0;
	if (n > cl->piece)
		n = cl->piece;
	*data = (const unsigned char *)cl->bodies[i] + cl->off[i];
	*len = n;
	cl->off[i] += n;
	return 1;
}

static void c_start(void *user, smtpc_txn_msg *m)
{
	struct client *cl = user;

	(void)m;
	cl->starts++;
}

static void c_done(void *user, smtpc_txn_msg *m)
{
	struct client *cl = user;

	sb_add(&cl->log, "done m%zu %s", (size_t)(m - cl->m), smtpc_txn_status_name(m->status));
	if (m->err != SMTPC_ERR_OK)
		sb_add(&cl->log, " %s", smtpc_err_name(m->err) + 10);
	if (m->reply.code)
		sb_add(&cl->log, " %u", m->reply.code);
	if (cl->nested) {
		smtpc_err e = smtpc_posix_txn_run(cl->pt);
		smtpc_posix_txn_readable(cl->pt);
		smtpc_posix_txn_writable(cl->pt);
		smtpc_posix_txn_timer(cl->pt);
		sb_add(&cl->log, " nested %s", smtpc_err_name(e) + 10);
	}
	sb_add(&cl->log, "\n");
}

static void c_idle(void *user, smtpc_err e)
{
	struct client *cl = user;

	cl->idle_calls++;
	sb_add(&cl->log, "idle %s\n", smtpc_err_name(e) + 10);
	if (cl->quit_on_idle && e == SMTPC_ERR_OK)
		smtpc_quit(smtpc_posix_core(smtpc_posix_txn_posix(cl->pt)));
}

static void c_reply(void *user, const smtpc_reply *r)
{
	struct client *cl = user;

	/* event loop: the EHLO reply starts the messages */
	if (r->cmd == SMTPC_CMD_GREETING)
		smtpc_ehlo(smtpc_posix_core(smtpc_posix_txn_posix(cl->pt)), "client.example");
	if (r->cmd == SMTPC_CMD_EHLO)
		for (int i = 0; i < 4 && cl->bodies[i]; i++)
			OK(smtpc_posix_txn_add(cl->pt, &cl->m[i]));
}

static void c_setup(struct client *cl, int port, int loop, size_t chunk)
{
	smtpc_posix_opts po;
	smtpc_posix_txn_opts to;
	char portstr[16];

	snprintf(portstr, sizeof portstr, "%d", port);
	smtpc_posix_opts_default(&po);
	po.port = portstr;
	smtpc_posix_set_timeouts(&po.timeouts, 5000);
	po.tx_size = 4096; /* small: the data goes out in many writes */
	if (loop) {
		po.cb.user = cl;
		po.cb.reply = c_reply;
	}
	smtpc_posix_txn_opts_default(&to);
	to.user = cl;
	to.body = c_body;
	to.start = c_start;
	to.done = c_done;
	to.idle = c_idle;
	to.chunk_size = chunk;
	cl->pt = smtpc_posix_txn_new(&po, &to);
	cr_assert_not_null(cl->pt);
	for (int i = 0; i < 4; i++) {
		if (cl->bodies[i]) {
			smtpc_txn_measure ms;
			smtpc_txn_measure_init(&ms);
			smtpc_txn_measure_add(&ms, cl->bodies[i], cl->lens[i]);
			smtpc_txn_measure_end(&ms, &cl->m[i].size);
		}
		cl->m[i].from = "a@example.org";
		cl->m[i].rcpts = cl->r[i];
		cl->m[i].nrcpts = 1;
		cl->r[i][0].addr = "b@example.org";
		cl->m[i].text = cl->text[i];
		cl->m[i].text_size = sizeof cl->text[i];
	}
	cl->r[1][1].addr = "x@example.org"; /* m1: one recipient refused */
	cl->m[1].nrcpts = 2;
}

static const unsigned exts[] = {
    SMTPC_EXT_PIPELINING | SMTPC_EXT_CHUNKING | SMTPC_EXT_8BITMIME,
    SMTPC_EXT_PIPELINING | SMTPC_EXT_8BITMIME,
    SMTPC_EXT_CHUNKING,
    0,
};

static char *big_body(size_t n)
{
	char *b = malloc(n + 1);

	for (size_t i = 0; i < n; i++)
		b[i] = i % 61 == 60 ? '\n' : i % 61 == 0 ? '.' : (char)('a' + i % 26);
	b[n] = '\0';
	return b;
}

Test(posix_txn, blocking_three_messages_every_way)
{
	char *big = big_body(100000);

	for (size_t e = 0; e < sizeof exts / sizeof exts[0]; e++) {
		struct srv s;
		struct client cl;
		smtpc_reply greet;
		smtpc_posix *p;

		srv_start(&s, exts[e]);
		memset(&cl, 0, sizeof cl);
		cl.fail_at = -1;
		cl.piece = 777;
		cl.bodies[0] = "Subject: one\n\n.dot\n";
		cl.bodies[1] = big;
		cl.bodies[2] = "three\r\n";
		for (int i = 0; i < 3; i++)
			cl.lens[i] = strlen(cl.bodies[i]);
		c_setup(&cl, s.port, 0, 1000);
		p = smtpc_posix_txn_posix(cl.pt);
		OK(smtpc_posix_connect(p, &greet));
		OK(smtpc_ehlo(smtpc_posix_core(p), "client.example"));
		OK(smtpc_posix_wait(p, &greet));
		cr_assert_eq(greet.code, 250);
		for (int i = 0; i < 3; i++)
			OK(smtpc_posix_txn_add(cl.pt, &cl.m[i]));
		OK(smtpc_posix_txn_run(cl.pt));
		cr_assert_str_eq(cl.log.s,
				 "done m0 accepted 250\ndone m1 partial 250\n"
				 "done m2 accepted 250\nidle OK\n",
				 "ext %zu: %s", e, cl.log.s);
		cr_assert_eq(cl.starts, 3);
		OK(smtpc_quit(smtpc_posix_core(p)));
		smtpc_posix_wait(p, NULL);
		smtpc_posix_close(p);
		srv_join(&s);
		cr_assert_eq(s.messages, 3);
		for (int i = 0; i < 3; i++)
			cr_assert_eq(cl.m[i].sent, (exts[e] & SMTPC_EXT_CHUNKING)
						       ? cl.m[i].size.text
						       : cl.m[i].size.data);
		cr_assert(strstr(s.stored.s, "[Subject: one\r\n\r\n.dot\r\n]") == s.stored.s,
			  "%.60s", s.stored.s);
		cr_assert(strstr(s.stored.s, "][three\r\n]") != NULL);
		cr_assert_eq(s.stored.n,
			     cl.m[0].size.text + cl.m[1].size.text + cl.m[2].size.text + 6);
		smtpc_posix_txn_free(cl.pt);
		sb_free(&cl.log);
		sb_free(&s.stored);
		sb_free(&s.body);
	}
	free(big);
}

Test(posix_txn, event_loop_messages_from_the_ehlo_reply_quit_when_idle)
{
	char *big = big_body(50000);

	for (size_t e = 0; e < sizeof exts / sizeof exts[0]; e++) {
		struct srv s;
		struct client cl;
		smtpc_posix *p;
		int rounds = 0;

		srv_start(&s, exts[e]);
		memset(&cl, 0, sizeof cl);
		cl.fail_at = -1;
		cl.piece = 4096;
		cl.quit_on_idle = 1;
		cl.bodies[0] = big;
		cl.bodies[1] = "two\n";
		cl.bodies[2] = "";
		for (int i = 0; i < 3; i++)
			cl.lens[i] = strlen(cl.bodies[i]);
		c_setup(&cl, s.port, 1, 3000);
		p = smtpc_posix_txn_posix(cl.pt);
		OK(smtpc_posix_start(p));
		while (!smtpc_posix_done(p)) {
			struct pollfd pfd = {smtpc_posix_fd(p), smtpc_posix_events(p), 0};
			long t = smtpc_posix_timeout(p);
			int rc = poll(&pfd, 1, t < 0 ? 5000 : (int)t);
			cr_assert_lt(++rounds, 100000);
			if (rc > 0 && (pfd.revents & (POLLIN | POLLERR | POLLHUP)))
				smtpc_posix_txn_readable(cl.pt);
			if (rc > 0 && (pfd.revents & POLLOUT))
				smtpc_posix_txn_writable(cl.pt);
			smtpc_posix_txn_timer(cl.pt);
		}
		cr_assert_eq(smtpc_posix_error(p), SMTPC_ERR_OK, "%s",
			     smtpc_err_name(smtpc_posix_error(p)));
		cr_assert_str_eq(cl.log.s,
				 "done m0 accepted 250\ndone m1 partial 250\n"
				 "done m2 accepted 250\nidle OK\n",
				 "ext %zu: %s", e, cl.log.s);
		cr_assert_eq(cl.idle_calls, 1);
		srv_join(&s);
		cr_assert_eq(s.messages, 3);
		cr_assert_eq(s.stored.n, cl.m[0].size.text + 5 + 0 + 6);
		smtpc_posix_txn_free(cl.pt);
		sb_free(&cl.log);
		sb_free(&s.stored);
		sb_free(&s.body);
	}
	free(big);
}

Test(posix_txn, unreadable_message_is_never_ended_on_the_wire)
{
	char *big = big_body(20000);

	for (size_t e = 0; e < 2; e++) {
		struct srv s;
		struct client cl;
		smtpc_reply greet;
		smtpc_posix *p;

		srv_start(&s, exts[e]);
		memset(&cl, 0, sizeof cl);
		cl.fail_at = 1; /* the second message's source fails after one piece */
		cl.piece = 1000;
		cl.bodies[0] = "one\n";
		cl.bodies[1] = big;
		cl.bodies[2] = "three\n";
		for (int i = 0; i < 3; i++)
			cl.lens[i] = strlen(cl.bodies[i]);
		c_setup(&cl, s.port, 0, 4096);
		p = smtpc_posix_txn_posix(cl.pt);
		OK(smtpc_posix_connect(p, &greet));
		OK(smtpc_ehlo(smtpc_posix_core(p), "client.example"));
		OK(smtpc_posix_wait(p, &greet));
		for (int i = 0; i < 3; i++)
			OK(smtpc_posix_txn_add(cl.pt, &cl.m[i]));
		cr_assert_eq(smtpc_posix_txn_run(cl.pt), SMTPC_ERR_IO);
		cr_assert_str_eq(cl.log.s,
				 "done m0 accepted 250\ndone m1 failed IO\n"
				 "done m2 failed IO\nidle IO\n",
				 "%s", cl.log.s);
		cr_assert(smtpc_posix_done(p), "closed without QUIT");
		srv_join(&s);
		cr_assert_eq(s.messages, 1);
		cr_assert_eq(s.closed_early, 1);
		cr_assert_str_eq(s.stored.s, "[one\r\n]");
		/* the layer takes no more */
		cr_assert_eq(smtpc_posix_txn_add(cl.pt, &cl.m[0]), SMTPC_ERR_IO);
		smtpc_posix_txn_free(cl.pt);
		sb_free(&cl.log);
		sb_free(&s.stored);
		sb_free(&s.body);
	}
	free(big);
}

Test(posix_txn, misuse)
{
	smtpc_posix_txn_opts to;

	smtpc_posix_txn_opts_default(&to);
	cr_assert_null(smtpc_posix_txn_new(NULL, NULL));
	cr_assert_null(smtpc_posix_txn_new(NULL, &to)); /* no body callback */
	cr_assert_null(smtpc_posix_txn_posix(NULL));
	cr_assert_null(smtpc_posix_txn_layer(NULL));
	cr_assert_eq(smtpc_posix_txn_add(NULL, NULL), SMTPC_ERR_NULL_ARG);
	cr_assert_eq(smtpc_posix_txn_run(NULL), SMTPC_ERR_NULL_ARG);
	smtpc_posix_txn_readable(NULL);
	smtpc_posix_txn_writable(NULL);
	smtpc_posix_txn_timer(NULL);
	smtpc_posix_txn_free(NULL);
	smtpc_posix_txn_opts_default(NULL);
}

/* ---- regressions ---------------------------------------------------------------------------- */

Test(posix_txn, a_message_longer_or_shorter_than_measured_is_never_ended_on_the_wire)
{
	/* the body callback hands over octets that are not the measured ones
	 * (a file that grew or shrank): the layer ends the session and, in the
	 * middle of DATA, the connection is closed without QUIT, so the
	 * server drops the part it has */
	char *big = big_body(20000);

	for (int grow = 0; grow < 2; grow++) {
		for (size_t e = 0; e < 2; e++) {
			struct srv s;
			struct client cl;
			smtpc_reply greet;
			smtpc_posix *p;
			smtpc_txn_measure ms;

			srv_start(&s, exts[e]);
			memset(&cl, 0, sizeof cl);
			cl.fail_at = -1;
			cl.piece = 1000;
			cl.bodies[0] = "one\n";
			cl.bodies[1] = big;
			cl.bodies[2] = "three\n";
			for (int i = 0; i < 3; i++)
				cl.lens[i] = strlen(cl.bodies[i]);
			c_setup(&cl, s.port, 0, 4096);
			/* measured: 19000 octets (it grew) or 20001 (it shrank) */
			smtpc_txn_measure_init(&ms);
			smtpc_txn_measure_add(&ms, big, grow ? 19000 : 20000);
			if (!grow)
				smtpc_txn_measure_add(&ms, "x", 1);
			smtpc_txn_measure_end(&ms, &cl.m[1].size);
			p = smtpc_posix_txn_posix(cl.pt);
			OK(smtpc_posix_connect(p, &greet));
			OK(smtpc_ehlo(smtpc_posix_core(p), "client.example"));
			OK(smtpc_posix_wait(p, &greet));
			for (int i = 0; i < 3; i++)
				OK(smtpc_posix_txn_add(cl.pt, &cl.m[i]));
			cr_assert_eq(smtpc_posix_txn_run(cl.pt), SMTPC_ERR_BAD_PARAM);
			cr_assert_str_eq(cl.log.s,
					 "done m0 accepted 250\ndone m1 failed BAD_PARAM\n"
					 "done m2 failed BAD_PARAM\nidle BAD_PARAM\n",
					 "grow %d ext %zu: %s", grow, e, cl.log.s);
			if (!(exts[e] & SMTPC_EXT_CHUNKING))
				cr_assert(smtpc_posix_done(p), "closed in the middle of DATA");
			else /* whole chunks, no LAST: QUIT makes the server drop them */
				smtpc_quit(smtpc_posix_core(p));
			smtpc_posix_close(p);
			srv_join(&s);
			cr_assert_eq(s.messages, 1);
			cr_assert_str_eq(s.stored.s, "[one\r\n]");
			smtpc_posix_txn_free(cl.pt);
			sb_free(&cl.log);
			sb_free(&s.stored);
			sb_free(&s.body);
		}
	}
	free(big);
}

Test(posix_txn, the_adapters_calls_from_inside_its_callbacks_are_refused)
{
	/* the done callback calls smtpc_posix_txn_run and the event-loop
	 * calls: a clean SMTPC_ERR_STATE and nothing done, no recursion into
	 * the poll loop or the adapter's step */
	struct srv s;
	struct client cl;
	smtpc_reply greet;
	smtpc_posix *p;

	srv_start(&s, exts[0]);
	memset(&cl, 0, sizeof cl);
	cl.fail_at = -1;
	cl.piece = 100;
	cl.nested = 1;
	cl.bodies[0] = "one\n";
	cl.bodies[1] = "two\n";
	for (int i = 0; i < 2; i++)
		cl.lens[i] = strlen(cl.bodies[i]);
	c_setup(&cl, s.port, 0, 4096);
	p = smtpc_posix_txn_posix(cl.pt);
	OK(smtpc_posix_connect(p, &greet));
	OK(smtpc_ehlo(smtpc_posix_core(p), "client.example"));
	OK(smtpc_posix_wait(p, &greet));
	for (int i = 0; i < 2; i++)
		OK(smtpc_posix_txn_add(cl.pt, &cl.m[i]));
	OK(smtpc_posix_txn_run(cl.pt));
	cr_assert_str_eq(cl.log.s,
			 "done m0 accepted 250 nested STATE\ndone m1 partial 250 nested STATE\n"
			 "idle OK\n",
			 "%s", cl.log.s);
	OK(smtpc_quit(smtpc_posix_core(p)));
	smtpc_posix_wait(p, NULL);
	smtpc_posix_close(p);
	srv_join(&s);
	cr_assert_eq(s.messages, 2);
	smtpc_posix_txn_free(cl.pt);
	sb_free(&cl.log);
	sb_free(&s.stored);
	sb_free(&s.body);
}
