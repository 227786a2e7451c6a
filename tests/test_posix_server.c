/* io-posix's server side hosted in the test's own poll loop (the embedding
 * API), against plain sockets on 127.0.0.1 and a Unix socket, on an
 * injected clock: the storage rule (a storage that fails at every point:
 * 452 or 451, nothing left, the session usable), LMTP's per-recipient
 * replies, deadlines that trickled bytes do not extend, the session limit,
 * EMFILE pausing accept, a peer that does not read its replies, input read
 * while replies are blocked kept and answered in order, a conversation
 * split into two reads at every octet. */
#define _POSIX_C_SOURCE 200809L
#include "helpers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "server_loop.h"
#include "smtpc_posix_server.h"

/* ---- a storage that fails where it is told ------------------------------------- */

struct store {
	int fail_begin, fail_write_at, fail_end; /* errno values; write: the nth call, from 1 */
	int fail_write_err;
	int writes, live, aborted, committed;
	char data[65536];
	size_t len;
	char last[65536];
	size_t last_len;
};

struct msgh {
	struct store *st;
	size_t len;
};

static long long clock_ms;

static long long fake_now(void *user)
{
	(void)user;
	return clock_ms;
}

static int st_begin(void *user, smtpc_posix_session *s, void **msg)
{
	struct store *st = user;
	struct msgh *m;

	(void)s;
	if (st->fail_begin)
		return st->fail_begin;
	m = calloc(1, sizeof *m);
	cr_assert(m != NULL);
	m->st = st;
	st->live++;
	st->len = 0;
	*msg = m;
	return 0;
}

static int st_write(void *user, void *msg, const unsigned char *p, size_t n)
{
	struct store *st = user;

	(void)msg;
	st->writes++;
	if (st->fail_write_at && st->writes == st->fail_write_at)
		return st->fail_write_err;
	cr_assert(st->len + n <= sizeof st->data);
	memcpy(st->data + st->len, p, n);
	st->len += n;
	return 0;
}

static int st_end(void *user, void *msg, char *id, size_t id_len)
{
	struct store *st = user;

	if (st->fail_end)
		return st->fail_end;
	memcpy(st->last, st->data, st->len);
	st->last_len = st->len;
	st->committed++;
	st->live--;
	snprintf(id, id_len, "m%d", st->committed);
	free(msg);
	return 0;
}

static void st_abort(void *user, void *msg)
{
	struct store *st = user;

	st->aborted++;
	st->live--;
	st->len = 0;
	free(msg);
}

static void refuse_x(void *user, smtpc_posix_session *s, const smtpc_command *m,
		     smtpc_posix_answer *a)
{
	(void)user;
	(void)s;
	if (m->cmd == SMTPC_CMD_RCPT && m->arg_len > 0 && m->arg[0] == 'x') {
		a->code = 550;
		snprintf(a->text, sizeof a->text, "5.1.1 No such user");
	}
}

/* ---- the test's poll loop -------------------------------------------------------------- */

struct rig {
	smtpc_posix_server *srv;
	struct store st;
	int port;
	char got[1 << 16];
	size_t got_len;
};

static void rig_init(struct rig *r, smtpc_posix_server_opts *o)
{
	int e;

	memset(&r->st, 0, sizeof r->st);
	clock_ms = 1000;
	o->now = fake_now;
	o->cb.user = &r->st;
	if (o->storage.begin == NULL) {
		o->storage.begin = st_begin;
		o->storage.write = st_write;
		o->storage.end = st_end;
		o->storage.abort = st_abort;
	}
	r->srv = smtpc_posix_server_new(o);
	cr_assert(r->srv != NULL);
	e = smtpc_posix_server_listen(r->srv, "127.0.0.1", "0", &r->port, NULL, 0);
	cr_assert(e == 0, "listen: %s", strerror(e));
}

/* rcvbuf nonzero: the client's receive buffer, set before the connect so
 * that the window is that small */
static int client_rcvbuf(const struct rig *r, int rcvbuf)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	cr_assert(fd >= 0);
	if (rcvbuf)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)r->port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
	/* small writes go out at once (Nagle would hold them for an ACK) */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

static int client(const struct rig *r)
{
	return client_rcvbuf(r, 0);
}

static void turn(struct rig *r, int cfd, int wait_ms)
{
	srv_turn(r->srv, cfd, wait_ms, r->got, sizeof r->got, &r->got_len);
}

static int until(struct rig *r, int cfd, const char *want)
{
	return srv_until(r->srv, cfd, want, r->got, sizeof r->got, &r->got_len);
}

static void say_(int fd, const char *s)
{
	cr_assert(write(fd, s, strlen(s)) == (ssize_t)strlen(s), "write: %s", strerror(errno));
}

static void expect(struct rig *r, int fd, const char *send, const char *want)
{
	if (send != NULL)
		say_(fd, send);
	cr_assert(until(r, fd, want), "no %s in:\n%s", want, r->got);
}

/* ---- tests --------------------------------------------------------------------------------- */

Test(posix_server, hosted_in_a_caller_poll_loop_stores_then_acknowledges)
{
	struct rig r;
	smtpc_posix_server_opts o;
	int fd;

	smtpc_posix_server_opts_default(&o);
	r.got_len = 0;
	rig_init(&r, &o);
	fd = client(&r);
	expect(&r, fd, NULL, "220 localhost ESMTP\r\n");
	expect(&r, fd, "EHLO c.example\r\n", "250 ENHANCEDSTATUSCODES\r\n");
	cr_assert(strstr(r.got, "CHUNKING") && strstr(r.got, "PIPELINING"));
	expect(&r, fd,
	       "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n"
	       "Subject: x\r\n\r\n..dot\r\n.\r\n",
	       "250 2.0.0 Ok: queued as m1\r\n");
	cr_assert(r.st.committed == 1 && r.st.live == 0);
	cr_assert(r.st.last_len == strlen("Subject: x\r\n\r\n.dot\r\n") &&
		  memcmp(r.st.last, "Subject: x\r\n\r\n.dot\r\n", r.st.last_len) == 0);
	/* BDAT in two chunks */
	expect(&r, fd,
	       "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nBDAT 3\r\nabcBDAT 2 "
	       "LAST\r\nde",
	       "250 2.0.0 Ok: queued as m2\r\n");
	cr_assert(strstr(r.got, "250 2.0.0 3 octets received\r\n") != NULL);
	cr_assert(r.st.last_len == 5 && memcmp(r.st.last, "abcde", 5) == 0);
	cr_assert(smtpc_posix_server_sessions(r.srv) == 1);
	expect(&r, fd, "QUIT\r\n", "221 ");
	for (int i = 0; i < 50 && smtpc_posix_server_sessions(r.srv) > 0; i++)
		turn(&r, fd, 10);
	cr_assert(smtpc_posix_server_sessions(r.srv) == 0);
	close(fd);
	smtpc_posix_server_free(r.srv);
}

/* One failure point, then the same session stores the next message. */
static void failing(int begin, int write_at, int write_err, int end, int bdat, const char *want)
{
	struct rig r;
	smtpc_posix_server_opts o;
	int fd;

	smtpc_posix_server_opts_default(&o);
	r.got_len = 0;
	rig_init(&r, &o);
	r.st.fail_begin = begin;
	r.st.fail_write_at = write_at;
	r.st.fail_write_err = write_err;
	r.st.fail_end = end;
	fd = client(&r);
	expect(&r, fd, "EHLO c.example\r\n", "250 ENHANCEDSTATUSCODES\r\n");
	if (bdat)
		say_(fd, "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n"
			 "BDAT 6\r\nline1\nBDAT 12 LAST\r\nline2\nline3\n");
	else
		say_(fd, "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n"
			 "line1\r\nline2\r\nline3\r\n.\r\n");
	cr_assert(until(&r, fd, want), "want %s:\n%s", want, r.got);
	/* the whole message was read: the session answers the next command */
	expect(&r, fd, "NOOP\r\n", "250 2.0.0 Ok\r\n");
	cr_assert(strstr(r.got, "250 2.0.0 Ok: queued") == NULL, "acknowledged:\n%s", r.got);
	cr_assert(r.st.committed == 0 && r.st.live == 0, "committed %d live %d", r.st.committed,
		  r.st.live);
	/* space is back: the same session stores the next message */
	r.st.fail_begin = r.st.fail_write_at = r.st.fail_end = 0;
	expect(&r, fd,
	       "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\nagain\r\n.\r\n",
	       "250 2.0.0 Ok: queued as m1\r\n");
	cr_assert(r.st.committed == 1 && r.st.live == 0 && r.st.last_len == 7);
	close(fd);
	for (int i = 0; i < 50 && smtpc_posix_server_sessions(r.srv) > 0; i++)
		turn(&r, -1, 10);
	cr_assert(smtpc_posix_server_sessions(r.srv) == 0);
	smtpc_posix_server_free(r.srv);
}

Test(posix_server, storage_failing_at_every_point_never_acknowledges)
{
	/* DATA */
	failing(ENOSPC, 0, 0, 0, 0, "452 4.3.1 Insufficient system storage\r\n");
	failing(EACCES, 0, 0, 0, 0, "451 4.3.0 Cannot store the message now\r\n");
	failing(0, 1, ENOSPC, 0, 0, "452 4.3.1 Insufficient system storage\r\n");
	failing(0, 2, EIO, 0, 0, "451 4.3.0 Cannot store the message now\r\n");
	failing(0, 3, EDQUOT, 0, 0, "452 4.3.1 Insufficient system storage\r\n");
	failing(0, 0, 0, ENOSPC, 0, "452 4.3.1 Insufficient system storage\r\n");
	failing(0, 0, 0, EXDEV, 0, "451 4.3.0 Cannot store the message now\r\n");
	failing(0, 2, -1, 0, 0, "451 4.3.0 ");
	/* BDAT: a failed first chunk ends the transaction (RFC 3030 2): the
	 * LAST chunk is refused by the core */
	failing(ENOSPC, 0, 0, 0, 1, "452 4.3.1 Insufficient system storage\r\n");
	failing(0, 1, ENOSPC, 0, 1, "452 4.3.1 Insufficient system storage\r\n");
	failing(0, 2, EIO, 0, 1, "451 4.3.0 Cannot store the message now\r\n");
	failing(0, 0, 0, EDQUOT, 1, "452 4.3.1 Insufficient system storage\r\n");
}

Test(posix_server, lmtp_over_a_unix_socket_one_reply_per_accepted_recipient)
{
	struct rig r;
	smtpc_posix_server_opts o;
	struct sockaddr_un sa;
	char dir[] = "/tmp/smtpc-lmtp-XXXXXX", path[200];
	int fd, i;

	smtpc_posix_server_opts_default(&o);
	o.lmtp = 1;
	o.cb.command = refuse_x;
	r.got_len = 0;
	rig_init(&r, &o);
	cr_assert(mkdtemp(dir) != NULL);
	snprintf(path, sizeof path, "%s/lmtp", dir);
	cr_assert(smtpc_posix_server_listen_unix(r.srv, path, NULL, 0) == 0);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	cr_assert(strlen(path) < sizeof sa.sun_path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	cr_assert(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
	expect(&r, fd, NULL, "220 localhost LMTP\r\n");
	expect(&r, fd, "EHLO c.example\r\n", "500 ");
	expect(&r, fd, "LHLO c.example\r\n", "250 ENHANCEDSTATUSCODES\r\n");
	r.got_len = 0;
	expect(&r, fd,
	       "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<x@example.com>\r\n"
	       "RCPT TO:<c@example.com>\r\nDATA\r\nhi\r\n.\r\n",
	       "250 2.0.0 Ok: queued as m1\r\n250 2.0.0 Ok: queued as m1\r\n");
	cr_assert(strstr(r.got, "550 5.1.1 No such user\r\n") != NULL);
	/* storage full: every accepted recipient gets the 452 */
	r.st.fail_end = ENOSPC;
	r.got_len = 0;
	expect(&r, fd,
	       "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<c@example.com>\r\n"
	       "DATA\r\nhi\r\n.\r\n",
	       "354 ");
	cr_assert(until(&r, fd, "452 4.3.1 Insufficient system storage\r\n452 4.3.1 "), "%s",
		  r.got);
	cr_assert(r.st.committed == 1 && r.st.live == 0);
	close(fd);
	for (i = 0; i < 50 && smtpc_posix_server_sessions(r.srv) > 0; i++)
		turn(&r, -1, 10);
	smtpc_posix_server_free(r.srv);
	cr_assert(access(path, F_OK) != 0, "the socket file is removed");
	rmdir(dir);
}

Test(posix_server, command_deadline_is_not_extended_by_trickled_bytes)
{
	struct rig r;
	smtpc_posix_server_opts o;
	int fd, i;

	smtpc_posix_server_opts_default(&o);
	o.command_timeout = 10000;
	o.data_timeout = 5000;
	r.got_len = 0;
	rig_init(&r, &o);
	fd = client(&r);
	expect(&r, fd, NULL, "220 ");
	/* one byte every 2 s: never a whole command */
	for (i = 0; i < 4; i++) {
		say_(fd, "n");
		turn(&r, fd, 10);
		clock_ms += 2000;
		turn(&r, fd, 0);
	}
	cr_assert(strstr(r.got, "421") == NULL, "too early: %s", r.got);
	clock_ms += 2001;
	expect(&r, fd, NULL, "421 4.4.2 Timeout");
	for (i = 0; i < 50 && smtpc_posix_server_sessions(r.srv) > 0; i++)
		turn(&r, fd, 10);
	cr_assert(smtpc_posix_server_sessions(r.srv) == 0);
	close(fd);
	/* message data: each block restarts the data deadline, a stalled
	 * line does not */
	r.got_len = 0;
	fd = client(&r);
	expect(&r, fd,
	       "HELO c.example\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n",
	       "354 ");
	for (i = 0; i < 3; i++) {
		say_(fd, "a line\r\n");
		turn(&r, fd, 10);
		clock_ms += 4000;
		turn(&r, fd, 0);
	}
	cr_assert(strstr(r.got, "421") == NULL, "too early: %s", r.got);
	say_(fd, "no end");
	turn(&r, fd, 10);
	clock_ms += 5001;
	expect(&r, fd, NULL, "421 4.4.2 Timeout");
	cr_assert(r.st.committed == 0);
	for (i = 0; i < 50 && smtpc_posix_server_sessions(r.srv) > 0; i++)
		turn(&r, fd, 10);
	cr_assert(smtpc_posix_server_sessions(r.srv) == 0 && r.st.live == 0);
	close(fd);
	smtpc_posix_server_free(r.srv);
}

Test(posix_server, session_deadline_and_max_sessions)
{
	struct rig r;
	smtpc_posix_server_opts o;
	int a, b, i;

	smtpc_posix_server_opts_default(&o);
	o.max_sessions = 1;
	o.session_timeout = 60000;
	r.got_len = 0;
	rig_init(&r, &o);
	a = client(&r);
	expect(&r, a, NULL, "220 ");
	b = client(&r);
	r.got_len = 0;
	expect(&r, b, NULL, "421 4.3.2 ");
	close(b);
	/* busy all the time, still bounded */
	r.got_len = 0;
	for (i = 0; i < 12; i++) {
		expect(&r, a, "NOOP\r\n", "250 2.0.0 Ok\r\n");
		r.got_len = 0;
		clock_ms += 5000;
	}
	expect(&r, a, NULL, "421 4.4.2 Timeout");
	close(a);
	smtpc_posix_server_free(r.srv);
}

Test(posix_server, out_of_descriptors_pauses_accept_without_spinning)
{
	struct rig r;
	smtpc_posix_server_opts o;
	struct pollfd fds[8];
	struct rlimit rl;
	int a, b, spare[64], n = 0, i;

	smtpc_posix_server_opts_default(&o);
	r.got_len = 0;
	rig_init(&r, &o);
	a = client(&r);
	b = client(&r);
	/* the table full: the accept fails with EMFILE */
	cr_assert(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	rl.rlim_cur = (rlim_t)(b + 1);
	cr_assert(setrlimit(RLIMIT_NOFILE, &rl) == 0);
	while (n < 64 && (spare[n] = dup(0)) >= 0)
		n++;
	cr_assert(n < 64 && errno == EMFILE);
	cr_assert(smtpc_posix_server_fds(r.srv, fds, 8) == 1);
	smtpc_posix_server_readable(r.srv, fds[0].fd);
	cr_assert(smtpc_posix_server_sessions(r.srv) == 0);
	/* paused: the listener is not watched, the timer says when to retry */
	cr_assert(smtpc_posix_server_fds(r.srv, fds, 8) == 0);
	cr_assert(smtpc_posix_server_timeout(r.srv) > 0 &&
		  smtpc_posix_server_timeout(r.srv) <= 1000);
	for (i = 0; i < n; i++)
		close(spare[i]);
	rl.rlim_cur = (rlim_t)(b + 8);
	cr_assert(setrlimit(RLIMIT_NOFILE, &rl) == 0);
	clock_ms += 1000;
	smtpc_posix_server_timer(r.srv);
	cr_assert(smtpc_posix_server_fds(r.srv, fds, 8) == 1);
	expect(&r, a, NULL, "220 ");
	r.got_len = 0;
	expect(&r, b, NULL, "220 ");
	cr_assert(smtpc_posix_server_sessions(r.srv) == 2);
	for (i = 0; i < 3; i++)
		turn(&r, -1, 0);
	close(a);
	close(b);
	smtpc_posix_server_free(r.srv);
}

Test(posix_server, a_peer_that_does_not_read_gets_its_input_paused)
{
	struct rig r;
	smtpc_posix_server_opts o;
	struct pollfd fds[8];
	char noops[6 * 1000];
	int fd, i, sz = 4096, stuck = 0;
	size_t n;

	smtpc_posix_server_opts_default(&o);
	o.command_timeout = 30000;
	r.got_len = 0;
	rig_init(&r, &o);
	fd = client_rcvbuf(&r, sz);
	for (i = 0; i < 1000; i++)
		memcpy(noops + 6 * i, "NOOP\r\n", 6);
	(void)fcntl(fd, F_SETFL, O_NONBLOCK);
	/* send NOOPs, never read: the server stops reading once its replies
	 * cannot go out */
	for (i = 0; i < 2000 && !stuck; i++) {
		if (write(fd, noops, sizeof noops) < 0)
			cr_assert(errno == EAGAIN);
		turn(&r, -1, 5);
		n = smtpc_posix_server_fds(r.srv, fds, 8);
		cr_assert(n == 2);
		stuck = fds[1].events == POLLOUT;
	}
	cr_assert(stuck, "the session still reads");
	/* the deadline ends it: 421 cannot go out, the grace closes it */
	clock_ms += 30001;
	turn(&r, -1, 0);
	clock_ms += 5001;
	turn(&r, -1, 0);
	cr_assert(smtpc_posix_server_sessions(r.srv) == 0);
	close(fd);
	smtpc_posix_server_free(r.srv);
}

Test(posix_server, an_incomplete_storage_is_refused)
{
	smtpc_posix_server_opts o;

	smtpc_posix_server_opts_default(&o);
	o.storage.begin = st_begin;
	cr_assert(smtpc_posix_server_new(&o) == NULL);
	cr_assert(smtpc_posix_server_new(NULL) == NULL);
}

Test(posix_server, listens_on_ipv6_too)
{
	struct rig r;
	smtpc_posix_server_opts o;
	struct sockaddr_in6 sa;
	int port = 0, fd, e;

	smtpc_posix_server_opts_default(&o);
	r.got_len = 0;
	rig_init(&r, &o);
	e = smtpc_posix_server_listen(r.srv, "::1", "0", &port, NULL, 0);
	if (e == EADDRNOTAVAIL || e == EAFNOSUPPORT) {
		cr_log_warn("no IPv6 loopback here: not tested");
		smtpc_posix_server_free(r.srv);
		return;
	}
	cr_assert(e == 0 && port > 0, "listen ::1: %s", strerror(e));
	fd = socket(AF_INET6, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof sa);
	sa.sin6_family = AF_INET6;
	sa.sin6_port = htons((unsigned short)port);
	sa.sin6_addr = in6addr_loopback;
	cr_assert(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
	expect(&r, fd, NULL, "220 localhost ESMTP\r\n");
	expect(&r, fd, "QUIT\r\n", "221 ");
	close(fd);
	smtpc_posix_server_free(r.srv);
}

/* ---- reading: one buffer of the server's, octets the core cannot take kept ---------- */

#define NOOPS 24

/* Message i of a pipelined stream: its envelope, a body naming i, the end,
 * NOOPS NOOPs (more replies than input: the replies back up first). */
static size_t stream_msg(char *out, size_t cap, int i)
{
	int n = snprintf(out, cap,
			 "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n"
			 "msg %06d\r\n..dotted %06d\r\n%0200d\r\n.\r\n",
			 i, i, i);
	cr_assert(n > 0 && (size_t)n + 6 * NOOPS < cap);
	for (int k = 0; k < NOOPS; k++, n += 6)
		memcpy(out + n, "NOOP\r\n", 6);
	return (size_t)n;
}

/* Checks the replies in r->got line by line (a partial last line is left
 * for the next call): per message 250 250 354, "queued as m<i>", NOOPS 250. */
static void check_replies(struct rig *r, int *line, int *queued)
{
	char *p = r->got, *nl;

	while ((nl = strstr(p, "\r\n")) != NULL) {
		int k = *line % (4 + NOOPS);
		if (strncmp(p, "221 ", 4) == 0)
			break; /* QUIT's: the end */
		*nl = '\0';
		if (k == 2) {
			cr_assert(strncmp(p, "354 ", 4) == 0, "line %d: %s", *line, p);
		} else if (k == 3) {
			char want[64];
			snprintf(want, sizeof want, "250 2.0.0 Ok: queued as m%d", ++*queued);
			cr_assert(strcmp(p, want) == 0, "want %s, got %s", want, p);
		} else {
			cr_assert(strncmp(p, "250 ", 4) == 0, "line %d: %s", *line, p);
		}
		++*line;
		p = nl + 2;
	}
	r->got_len = strlen(p);
	memmove(r->got, p, r->got_len + 1);
}

/* Every committed message must be the one the stream's order says. */
static int seq_bad;
static int st_end_seq(void *user, void *msg, char *id, size_t id_len)
{
	struct store *st = user;
	char want[300];
	int n = st->committed + 1;

	snprintf(want, sizeof want, "msg %06d\r\n.dotted %06d\r\n%0200d\r\n", n, n, n);
	if (st->len != strlen(want) || memcmp(st->data, want, st->len) != 0)
		seq_bad++;
	return st_end(user, msg, id, id_len);
}

Test(posix_server, input_read_while_replies_are_blocked_is_kept_and_answered_in_order)
{
	struct rig r;
	smtpc_posix_server_opts o;
	struct pollfd fds[8];
	static char out[1 << 18];
	size_t out_len = 0, out_off = 0, n;
	int fd, i = 0, stuck = 0, line = 0, queued = 0, total, quit = 0;

	smtpc_posix_server_opts_default(&o);
	o.storage.begin = st_begin;
	o.storage.write = st_write;
	o.storage.end = st_end_seq;
	o.storage.abort = st_abort;
	o.command_timeout = 30000;
	seq_bad = 0;
	r.got_len = 0;
	rig_init(&r, &o);
	fd = client_rcvbuf(&r, 4096);
	expect(&r, fd, "EHLO c.example\r\n", "250 ENHANCEDSTATUSCODES\r\n");
	r.got_len = 0;
	(void)fcntl(fd, F_SETFL, O_NONBLOCK);
	/* pipeline messages, never read, until the server's replies cannot go out */
	for (int round = 0; round < 4000 && !stuck; round++) {
		ssize_t w;
		if (out_off > sizeof out / 2) { /* slide the window */
			memmove(out, out + out_off, out_len - out_off);
			out_len -= out_off;
			out_off = 0;
		}
		while (out_len + 600 < sizeof out)
			out_len += stream_msg(out + out_len, sizeof out - out_len, ++i);
		w = write(fd, out + out_off, out_len - out_off);
		if (w > 0)
			out_off += (size_t)w;
		else
			cr_assert(errno == EAGAIN);
		turn(&r, -1, 2);
		n = smtpc_posix_server_fds(r.srv, fds, 8);
		cr_assert(n == 2);
		stuck = fds[1].events == POLLOUT;
	}
	cr_assert(stuck, "the session never stopped reading");
	/* the server has no more than what it read: nothing acknowledged twice */
	cr_assert(r.st.committed < i);
	/* now read every reply, send the rest, then QUIT */
	total = i;
	for (int round = 0; round < 20000 && !quit; round++) {
		if (out_off < out_len) {
			ssize_t w = write(fd, out + out_off, out_len - out_off);
			if (w > 0)
				out_off += (size_t)w;
			if (out_off == out_len)
				say_(fd, "QUIT\r\n");
		}
		turn(&r, fd, 2);
		check_replies(&r, &line, &queued);
		quit = strncmp(r.got, "221 ", 4) == 0;
	}
	cr_assert(quit, "no 221 after %d of %d messages", queued, total);
	cr_assert(queued == total && r.st.committed == total && seq_bad == 0,
		  "queued %d committed %d of %d, %d out of order", queued, r.st.committed, total,
		  seq_bad);
	close(fd);
	smtpc_posix_server_free(r.srv);
}

/* One conversation whose octets arrive in two reads, split at `at`. */
static void split_run(struct rig *r, const char *conv, size_t len, size_t at)
{
	int fd = client(r);

	r->got_len = 0;
	cr_assert(until(r, fd, "220 localhost ESMTP\r\n"));
	if (at > 0) {
		cr_assert(write(fd, conv, at) == (ssize_t)at);
		turn(r, fd, 0);
		turn(r, fd, 0);
	}
	cr_assert(write(fd, conv + at, len - at) == (ssize_t)(len - at));
	cr_assert(until(r, fd, "221 "), "split at %zu:\n%s", at, r->got);
	close(fd);
	for (int i = 0; i < 50 && smtpc_posix_server_sessions(r->srv) > 0; i++)
		turn(r, -1, 1);
	cr_assert(smtpc_posix_server_sessions(r->srv) == 0);
}

Test(posix_server, a_conversation_split_at_every_octet_gets_the_same_replies)
{
	struct rig r;
	smtpc_posix_server_opts o;
	char conv[2048], body[1100], want[4096], ref[4096];
	const char *q;
	size_t pre;
	size_t len, at, body_len;
	int k;

	smtpc_posix_server_opts_default(&o);
	r.got_len = 0;
	rig_init(&r, &o);
	/* a body line of 1000 octets with its CRLF (the longest): the core's
	 * input area fills in the middle of the read */
	k = snprintf(body, sizeof body, "..%0997d\r\nend\r\n", 7);
	body_len = (size_t)k - 1; /* the leading dot is removed */
	k = snprintf(conv, sizeof conv,
		     "EHLO c.example\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n"
		     "DATA\r\n%s.\r\nNOOP\r\nQUIT\r\n",
		     body);
	len = (size_t)k;
	split_run(&r, conv, len, 0);
	cr_assert(r.got_len < sizeof ref);
	memcpy(ref, r.got, r.got_len + 1);
	cr_assert(r.st.committed == 1 && r.st.last_len == body_len &&
		  memcmp(r.st.last, body + 1, body_len) == 0);
	/* the same replies every time but the message's name */
	q = strstr(r.got, "queued as m1\r\n");
	cr_assert(q != NULL && r.got_len < sizeof want);
	pre = (size_t)(q - r.got) + strlen("queued as m");
	for (at = 1; at < len; at++) {
		split_run(&r, conv, len, at);
		snprintf(want, sizeof want, "%.*s%d%s", (int)pre, ref, (int)at + 1, ref + pre + 1);
		cr_assert(strcmp(r.got, want) == 0, "split at %zu:\n%s\nwant:\n%s", at, r.got,
			  want);
		cr_assert(r.st.committed == (int)at + 1 && r.st.live == 0 &&
			      r.st.last_len == body_len &&
			      memcmp(r.st.last, body + 1, body_len) == 0,
			  "split at %zu: committed %d", at, r.st.committed);
	}
	smtpc_posix_server_free(r.srv);
}

/* ---- stop wakes a blocking run ------------------------------------------------------------ */

struct stopper {
	smtpc_posix_server *srv;
	int now;
};

static void *stop_later(void *arg)
{
	struct stopper *st = arg;
	struct timespec d = {0, 100 * 1000 * 1000};

	nanosleep(&d, NULL);
	smtpc_posix_server_stop(st->srv, st->now);
	return NULL;
}

static double mono_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A run with nothing due sleeps in epoll_wait or poll with no timeout: a
 * stop from another thread (or a signal landing just after run looked at
 * the flag) must wake it, not wait for the next client. Both loops, both
 * kinds of stop. */
static void stop_wakes(int use_poll, int now)
{
	smtpc_posix_server_opts o;
	smtpc_posix_server *srv;
	struct stopper st;
	pthread_t th;
	double t0, took;
	int port = 0, r;

	smtpc_posix_server_opts_default(&o);
	o.storage.begin = st_begin;
	o.storage.write = st_write;
	o.storage.end = st_end;
	o.storage.abort = st_abort;
	srv = smtpc_posix_server_new(&o);
	cr_assert(srv != NULL);
	cr_assert(smtpc_posix_server_listen(srv, "127.0.0.1", "0", &port, NULL, 0) == 0);
	cr_assert(smtpc_posix_server_timeout(srv) < 0, "nothing is due");
	if (use_poll)
		setenv("SMTPC_SERVER_POLL", "1", 1);
	else
		unsetenv("SMTPC_SERVER_POLL");
	st.srv = srv;
	st.now = now;
	t0 = mono_s();
	cr_assert(pthread_create(&th, NULL, stop_later, &st) == 0);
	r = smtpc_posix_server_run(srv);
	took = mono_s() - t0;
	pthread_join(th, NULL);
	unsetenv("SMTPC_SERVER_POLL");
	cr_assert(r == 0, "run: %s", strerror(r));
	cr_assert(took < 3.0, "%s, stop(%d): run returned after %.2f s",
		  use_poll ? "poll" : "epoll", now, took);
	smtpc_posix_server_free(srv);
}

Test(posix_server, stop_from_another_thread_wakes_a_sleeping_run, .timeout = 20)
{
	stop_wakes(0, 1);
	stop_wakes(0, 0);
	stop_wakes(1, 1);
	stop_wakes(1, 0);
}
