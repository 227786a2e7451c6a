/* io-posix's server side attacked through its embedding API (a caller's
 * poll loop on 127.0.0.1, an injected clock): a client that adds a
 * recipient between BDAT chunks, a storage that names its message with
 * octets a reply cannot carry. Each case is a defect found by attacking
 * the server; the storage rule is checked on what the storage received. */
#define _POSIX_C_SOURCE 200809L
#include "helpers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server_loop.h"
#include "smtpc_posix_server.h"
#include "smtpc_posix_tls.h"

#ifndef SRCDIR
#define SRCDIR "."
#endif

/* ---- a storage that keeps what it was given ---------------------------------------- */

struct keep {
	char data[4096], last[4096];
	size_t len, last_len;
	int live, committed, aborted;
	const char *id; /* the name end() gives its message */
	unsigned replies_421;
	char lines[4096]; /* the reply lines seen by the reply callback */
	size_t lines_len;
};

static int k_begin(void *user, smtpc_posix_session *s, void **msg)
{
	struct keep *k = user;

	(void)s;
	k->len = 0;
	k->live++;
	*msg = k;
	return 0;
}

static int k_write(void *user, void *msg, const unsigned char *p, size_t n)
{
	struct keep *k = user;

	(void)msg;
	cr_assert(k->len + n <= sizeof k->data);
	memcpy(k->data + k->len, p, n);
	k->len += n;
	return 0;
}

static int k_end(void *user, void *msg, char *id, size_t id_len)
{
	struct keep *k = user;

	(void)msg;
	memcpy(k->last, k->data, k->len);
	k->last_len = k->len;
	k->live--;
	k->committed++;
	snprintf(id, id_len, "%s", k->id ? k->id : "m");
	return 0;
}

static void k_abort(void *user, void *msg)
{
	struct keep *k = user;

	(void)msg;
	k->live--;
	k->aborted++;
}

static long long clock_ms = 1000;

static long long fake_now(void *user)
{
	(void)user;
	return clock_ms;
}

/* ---- the caller's poll loop ---------------------------------------------------------------- */

struct rig {
	smtpc_posix_server *srv;
	struct keep k;
	int port;
	char got[16384];
	size_t got_len;
};

static void rig_init(struct rig *r, smtpc_posix_server_opts *o)
{
	memset(r, 0, sizeof *r);
	o->now = fake_now;
	o->cb.user = &r->k;
	o->storage.begin = k_begin;
	o->storage.write = k_write;
	o->storage.end = k_end;
	o->storage.abort = k_abort;
	r->srv = smtpc_posix_server_new(o);
	cr_assert(r->srv != NULL);
	cr_assert(smtpc_posix_server_listen(r->srv, "127.0.0.1", "0", &r->port, NULL, 0) == 0);
}

static int client(const struct rig *r)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	cr_assert(fd >= 0);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)r->port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

static void turn(struct rig *r, int cfd, int wait_ms)
{
	srv_turn(r->srv, cfd, wait_ms, r->got, sizeof r->got, &r->got_len);
}

static int until(struct rig *r, int cfd, const char *want)
{
	return srv_until(r->srv, cfd, want, r->got, sizeof r->got, &r->got_len);
}

static void expect(struct rig *r, int fd, const char *send, const char *want)
{
	if (send != NULL)
		cr_assert(write(fd, send, strlen(send)) == (ssize_t)strlen(send));
	cr_assert(until(r, fd, want), "no %s in:\n%s", want, r->got);
}

static void rig_end(struct rig *r, int fd)
{
	int i;

	close(fd);
	for (i = 0; i < 50 && smtpc_posix_server_sessions(r->srv) > 0; i++)
		turn(r, -1, 10);
	smtpc_posix_server_free(r->srv);
}

/* ---- findings ------------------------------------------------------------------------------ */

/* A RCPT the core accepts between two BDAT chunks keeps the transaction
 * (and its first chunk) alive; the server must not drop the octets already
 * stored and acknowledge only the tail (the first chunk was lost: 250 for a
 * message that is not what was sent). */
Test(server_attack, rcpt_between_bdat_chunks_keeps_the_whole_message)
{
	struct rig r;
	smtpc_posix_server_opts o;
	int fd;

	smtpc_posix_server_opts_default(&o);
	rig_init(&r, &o);
	fd = client(&r);
	expect(&r, fd, "EHLO c.example\r\n", "250 ENHANCEDSTATUSCODES\r\n");
	expect(&r, fd,
	       "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nBDAT 3\r\nabc"
	       "RCPT TO:<c@example.com>\r\nBDAT 2 LAST\r\nde",
	       "250 2.0.0 Ok: queued as m\r\n");
	cr_assert(strstr(r.got, "250 2.0.0 3 octets received\r\n") != NULL, "%s", r.got);
	cr_assert(r.k.committed == 1 && r.k.live == 0, "committed %d live %d", r.k.committed,
		  r.k.live);
	cr_assert(r.k.last_len == 5 && memcmp(r.k.last, "abcde", 5) == 0, "stored %zu octets: %.*s",
		  r.k.last_len, (int)r.k.last_len, r.k.last);
	rig_end(&r, fd);
}

/* storage.end made the message durable; a name the reply cannot carry (a
 * control octet) must not turn that into "451 Local error": the client
 * would send the stored message again. */
Test(server_attack, a_stored_message_is_acknowledged_whatever_its_id)
{
	struct rig r;
	smtpc_posix_server_opts o;
	int fd;

	smtpc_posix_server_opts_default(&o);
	rig_init(&r, &o);
	r.k.id = "q1\r\x01\x7f"
		 "2";
	fd = client(&r);
	expect(&r, fd, "EHLO c.example\r\n", "250 ENHANCEDSTATUSCODES\r\n");
	expect(&r, fd,
	       "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\nhi\r\n.\r\n",
	       "250 2.0.0 Ok");
	cr_assert(strstr(r.got, "451") == NULL, "%s", r.got);
	cr_assert(r.k.committed == 1 && r.k.live == 0);
	/* a multi-line id: one reply still, never a line break from storage */
	r.k.id = "q\n250 forged";
	r.got_len = 0;
	expect(&r, fd,
	       "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\nhi\r\n.\r\n",
	       "250 2.0.0 Ok");
	cr_assert(until(&r, fd, "\r\n"));
	cr_assert(strstr(r.got, "250-") == NULL && strstr(r.got, "451") == NULL, "%s", r.got);
	cr_assert(r.k.committed == 2);
	rig_end(&r, fd);
}

static void count_421(void *user, smtpc_posix_session *s, const char *line, size_t len)
{
	struct keep *k = user;

	(void)s;
	if (len >= 4 && memcmp(line, "421 ", 4) == 0)
		k->replies_421++;
}

/* Every 4xx/5xx sent goes through the reply callback (the log): the 421
 * to a connection beyond max_sessions too. */
Test(server_attack, the_421_beyond_max_sessions_is_seen_by_the_reply_callback)
{
	struct rig r;
	smtpc_posix_server_opts o;
	int fd, extra;

	smtpc_posix_server_opts_default(&o);
	o.max_sessions = 1;
	o.cb.reply = count_421;
	rig_init(&r, &o);
	fd = client(&r);
	expect(&r, fd, NULL, "220 ");
	extra = client(&r);
	r.got_len = 0;
	expect(&r, extra, NULL, "421 4.3.2 ");
	cr_assert(r.k.replies_421 == 1, "%u 421 seen", r.k.replies_421);
	close(extra);
	rig_end(&r, fd);
}

/* A domain or banner the core cannot frame (a line break, a control octet,
 * too long for a reply line, RFC 5321 4.5.3.1.5) must be refused by
 * smtpc_posix_server_new: the server it made greeted nobody, and every
 * client waited for its 220 until the command deadline. */
Test(server_attack, a_greeting_the_core_cannot_frame_is_refused_at_new)
{
	static char long_banner[600], long_domain[300];
	const char *domains[] = {"mx.example", "mx\r\n.example", long_domain, "mx.example"};
	const char *banners[] = {"ESMTP\r\n250 forged", NULL, NULL, long_banner};
	size_t i;

	memset(long_banner, 'b', sizeof long_banner - 1);
	memset(long_domain, 'd', sizeof long_domain - 1);
	for (i = 0; i < sizeof domains / sizeof domains[0]; i++) {
		smtpc_posix_server_opts o;
		smtpc_posix_server *srv;
		struct rig r;
		int fd;

		smtpc_posix_server_opts_default(&o);
		o.domain = domains[i];
		o.banner = banners[i];
		srv = smtpc_posix_server_new(&o);
		if (srv == NULL)
			continue; /* refused: the caller knows */
		smtpc_posix_server_free(srv);
		/* taken: then every client must be greeted and answered */
		rig_init(&r, &o);
		fd = client(&r);
		expect(&r, fd, NULL, "220 ");
		expect(&r, fd, "EHLO c.example\r\n", "250 ");
		rig_end(&r, fd);
	}
}

static int accept_u(void *ctx, const char *u, size_t ul, const char *p, size_t pl)
{
	(void)ctx;
	return ul == 1 && u[0] == 'u' && pl == 1 && p[0] == 'p';
}

/* Password guessing: every AUTH refused at line rate on one connection,
 * without end. After max_errors refusals of the client's own faults the
 * server says 421 and closes. */
Test(server_attack, password_guessing_is_cut_off_after_max_errors)
{
	struct rig r;
	smtpc_posix_server_opts o;
	smtpc_config cfg;
	int fd, i;
	char line[64];

	smtpc_config_default(&cfg);
	cfg.allow_plain_auth = 1;
	smtpc_posix_server_opts_default(&o);
	o.config = &cfg;
	o.auth = accept_u;
	o.max_errors = 5;
	rig_init(&r, &o);
	fd = client(&r);
	expect(&r, fd, "EHLO c.example\r\n", "250 AUTH PLAIN LOGIN\r\n");
	/* a success does not count, nor a refusal that is not the client's */
	for (i = 0; i < 4; i++) {
		/* "\0u\0gw" ... "\0u\0gz" */
		snprintf(line, sizeof line, "AUTH PLAIN AHUAZ3%c=\r\n", "cgko"[i]);
		expect(&r, fd, line, "535 ");
		r.got_len = 0;
	}
	expect(&r, fd, "NOOP\r\n", "250 ");
	expect(&r, fd, "AUTH PLAIN AHUAZ3E=\r\n", "421 4.7.0 ");
	cr_assert(strstr(r.got, "535 ") != NULL, "%s", r.got);
	for (i = 0; i < 50 && smtpc_posix_server_sessions(r.srv) > 0; i++)
		turn(&r, fd, 10);
	cr_assert(smtpc_posix_server_sessions(r.srv) == 0, "still open:\n%s", r.got);
	rig_end(&r, fd);
}

static void keep_lines(void *user, smtpc_posix_session *s, const char *line, size_t len)
{
	struct keep *k = user;

	(void)s;
	if (k->lines_len + len + 2 < sizeof k->lines) {
		memcpy(k->lines + k->lines_len, line, len);
		k->lines_len += len;
		k->lines[k->lines_len++] = '\n';
		k->lines[k->lines_len] = '\0';
	}
}

/* The replies framed in the same turn as STARTTLS's 220 (a pipelined EHLO,
 * a 500 for garbage) and the 220 itself were sent but never shown to the
 * reply callback: the sink's log missed a 5xx it sent. */
Test(server_attack, replies_before_starttls_reach_the_reply_callback)
{
	struct rig r;
	smtpc_posix_server_opts o;
	smtpc_posix_tls_opts to;
	smtpc_posix_tls *tls;
	char why[200];
	int fd;

	memset(&to, 0, sizeof to);
	to.cert_file = SRCDIR "/tests/certs/good.pem";
	to.key_file = SRCDIR "/tests/certs/good.key";
	tls = smtpc_posix_tls_new(&to, why, sizeof why);
	cr_assert(tls != NULL, "%s", why);
	smtpc_posix_server_opts_default(&o);
	o.tls = smtpc_posix_tls_server_factory;
	o.tls_ctx = tls;
	o.cb.reply = keep_lines;
	rig_init(&r, &o);
	fd = client(&r);
	expect(&r, fd, NULL, "220 localhost ESMTP\r\n");
	expect(&r, fd, "EHLO c.example\r\nFOO\r\nSTARTTLS\r\n", "220 2.0.0 ");
	cr_assert(strstr(r.got, "500 5.5.1 ") != NULL, "%s", r.got);
	cr_assert(strstr(r.k.lines,
			 "250 STARTTLS\n500 5.5.1 Error: command not recognized\n220 2.0.0 ") !=
		      NULL,
		  "the reply callback saw:\n%s", r.k.lines);
	rig_end(&r, fd);
	smtpc_posix_tls_free(tls);
}
