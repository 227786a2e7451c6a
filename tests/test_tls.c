/* The TLS layer (io-bearssl) with no sockets and no threads: a client core
 * and its TLS layer talk to a server core and its TLS layer through
 * in-memory buffers, one octet per step or at random splits. Certificates
 * are the fixtures in tests/certs (made by tests/certs/make.sh), checked
 * against a test clock set to 2030-06-01. */
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtpc_bearssl.h"

#ifndef SRCDIR
#define SRCDIR "."
#endif

#define CLOCK_2030 1906502400u /* 2030-06-01T00:00:00Z */
#define TX	   4096

static unsigned char *load(const char *name, size_t *len)
{
	char path[512];
	FILE *f;
	unsigned char *p;
	long n;

	snprintf(path, sizeof path, "%s/tests/certs/%s", SRCDIR, name);
	f = fopen(path, "rb");
	cr_assert_not_null(f, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	p = malloc((size_t)n + 1);
	cr_assert_eq(fread(p, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return p;
}

/* Anchors from a file, storage measured first. */
static void *anchors_from(smtpc_bearssl_anchors *a, const char *file)
{
	size_t len;
	unsigned char *pem = load(file, &len);
	void *mem;

	smtpc_bearssl_anchors_init(a, NULL, 0);
	cr_assert_eq(smtpc_bearssl_anchors_add(a, pem, len), SMTPC_BEARSSL_ERR_OK);
	mem = malloc(a->need);
	smtpc_bearssl_anchors_init(a, mem, a->need);
	cr_assert_eq(smtpc_bearssl_anchors_add(a, pem, len), SMTPC_BEARSSL_ERR_OK);
	free(pem);
	return mem;
}

static void *creds_from(smtpc_bearssl_creds *c, const char *cert, const char *key)
{
	size_t clen, klen;
	unsigned char *cp = load(cert, &clen), *kp = load(key, &klen);
	void *mem;

	smtpc_bearssl_creds_init(c, NULL, 0);
	cr_assert_eq(smtpc_bearssl_creds_add(c, cp, clen), SMTPC_BEARSSL_ERR_OK);
	cr_assert_eq(smtpc_bearssl_creds_add(c, kp, klen), SMTPC_BEARSSL_ERR_OK);
	mem = malloc(c->need);
	smtpc_bearssl_creds_init(c, mem, c->need);
	cr_assert_eq(smtpc_bearssl_creds_add(c, cp, clen), SMTPC_BEARSSL_ERR_OK);
	cr_assert_eq(smtpc_bearssl_creds_add(c, kp, klen), SMTPC_BEARSSL_ERR_OK);
	free(cp);
	free(kp);
	return mem;
}

/* ---- a client and a server, wired ------------------------------------------------- */

struct end {
	smtpc_conn c;
	unsigned char *rx, *tx, *io;
	smtpc_bearssl t;
};

struct pair {
	struct end cl, sv;
	smtpc_bearssl_anchors anchors;
	smtpc_bearssl_creds creds;
	void *amem, *cmem;
	/* options */
	const char *name;	/* the client's name for the server */
	int insecure, implicit; /* implicit TLS on both sides */
	int server_plain;	/* the server never starts TLS (implicit client test) */
	size_t cl_buf, sv_buf;	/* I/O buffer sizes */
	size_t step;		/* octets per transfer; 0: random */
	unsigned seed;
	int inject; /* 1: plaintext with the 220; 2: as the first TLS octets */
	int no_entropy, no_time;
	uint64_t clock;
	const unsigned char *msg;
	size_t msg_len;
	/* progress */
	size_t body_off;
	int body_ended, secured_seen, delivered, quit_answered, injected, sv_closed;
	int ehlo_after_tls;
	size_t via_core;
	smtpc_err cl_err, sv_err;
	sbuf body, log;
};

static void end_init(struct end *e, int server, size_t buf)
{
	size_t rx = smtpc_rx_min(NULL);

	e->rx = malloc(rx);
	e->tx = malloc(TX);
	e->io = malloc(buf);
	if (server) {
		cr_assert_eq(smtpc_server_init(&e->c, NULL, e->rx, rx, e->tx, TX), SMTPC_ERR_OK);
		smtpc_server_allow_starttls(&e->c, 1);
	} else {
		cr_assert_eq(smtpc_init(&e->c, NULL, e->rx, rx, e->tx, TX), SMTPC_ERR_OK);
	}
}

static void end_free(struct end *e)
{
	free(e->rx);
	free(e->tx);
	free(e->io);
}

static void pair_defaults(struct pair *p)
{
	memset(p, 0, sizeof *p);
	p->name = "mail.example.com";
	p->cl_buf = p->sv_buf = SMTPC_BEARSSL_BUF_BIDI;
	p->step = 1;
	p->seed = 1;
	p->clock = CLOCK_2030;
	p->msg = (const unsigned char *)"Subject: over TLS\r\n\r\n.a dot line\r\nbody\r\n";
	p->msg_len = strlen((const char *)p->msg);
}

static void pair_setup(struct pair *p, const char *anchors, const char *cert, const char *key)
{
	static const unsigned char entropy[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
						  12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
						  23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
	smtpc_bearssl_client_opts o;

	end_init(&p->cl, 0, p->cl_buf);
	end_init(&p->sv, 1, p->sv_buf);
	if (anchors != NULL)
		p->amem = anchors_from(&p->anchors, anchors);
	p->cmem = creds_from(&p->creds, cert, key);
	memset(&o, 0, sizeof o);
	o.anchors = anchors != NULL ? &p->anchors : NULL;
	o.name = p->name;
	o.insecure = p->insecure;
	o.starttls = !p->implicit;
	cr_assert_eq(smtpc_bearssl_client_init(&p->cl.t, &p->cl.c, &o, p->cl.io, p->cl_buf),
		     SMTPC_BEARSSL_ERR_OK);
	cr_assert_eq(smtpc_bearssl_server_init(&p->sv.t, &p->sv.c, &p->creds,
					       !p->implicit || p->server_plain, p->sv.io,
					       p->sv_buf),
		     SMTPC_BEARSSL_ERR_OK);
	if (!p->no_entropy)
		smtpc_bearssl_entropy(&p->cl.t, entropy, sizeof entropy);
	smtpc_bearssl_entropy(&p->sv.t, entropy, sizeof entropy);
	if (!p->no_time)
		smtpc_bearssl_set_time(&p->cl.t, p->clock);
	smtpc_server_greet(&p->sv.c, 220, "mail.example.com ESMTP");
	sb_add(&p->log, "%s", "");
}

static void pair_free(struct pair *p)
{
	end_free(&p->cl);
	end_free(&p->sv);
	free(p->amem);
	free(p->cmem);
	sb_free(&p->body);
	sb_free(&p->log);
}

static void client_body(struct pair *p)
{
	while (p->body_off < p->msg_len) {
		size_t queued, n = smtpc_bearssl_body_write(&p->cl.t, p->msg + p->body_off,
							    p->msg_len - p->body_off);
		smtpc_send_buf(&p->cl.c, &queued);
		p->via_core += queued; /* message octets that took the two-copy path */
		if (n == 0)
			return;
		p->body_off += n;
	}
	if (!p->body_ended && smtpc_body_end(&p->cl.c) == SMTPC_ERR_OK)
		p->body_ended = 1;
}

static void client_step(struct pair *p)
{
	smtpc_conn *c = &p->cl.c;
	smtpc_event ev;
	int more = 1;

	while (more) {
		more = 0;
		smtpc_bearssl_pump(&p->cl.t);
		if (smtpc_bearssl_take_secured(&p->cl.t)) {
			p->secured_seen = 1;
			sb_add(&p->log, "C secured\n");
			if (!p->implicit) {
				cr_assert_eq(smtpc_ehlo(c, "client.example"), SMTPC_ERR_OK);
				p->ehlo_after_tls = 1;
			}
		}
		for (;;) {
			smtpc_event_type ty = smtpc_next_event(c, &ev);
			if (ty == SMTPC_EV_NEED_DATA)
				break;
			if (ty == SMTPC_EV_ERROR) {
				p->cl_err = ev.err;
				break;
			}
			if (ty == SMTPC_EV_CLOSED)
				break;
			more = 1;
			if (ty == SMTPC_EV_STARTTLS) {
				sb_add(&p->log, "C starttls\n");
				continue;
			}
			if (ty != SMTPC_EV_REPLY)
				continue;
			sb_add(&p->log, "C %s %u\n", smtpc_cmd_name(ev.reply.cmd), ev.reply.code);
			switch (ev.reply.cmd) {
			case SMTPC_CMD_GREETING:
				cr_assert_eq(smtpc_ehlo(c, "client.example"), SMTPC_ERR_OK);
				break;
			case SMTPC_CMD_EHLO:
				if (!smtpc_is_secure(c))
					cr_assert_eq(smtpc_starttls(c), SMTPC_ERR_OK);
				else
					cr_assert_eq(smtpc_mail(c, "a@example.com", NULL),
						     SMTPC_ERR_OK);
				break;
			case SMTPC_CMD_MAIL:
				cr_assert_eq(smtpc_rcpt(c, "b@example.com", NULL), SMTPC_ERR_OK);
				break;
			case SMTPC_CMD_RCPT:
				cr_assert_eq(smtpc_data(c), SMTPC_ERR_OK);
				break;
			case SMTPC_CMD_DATA:
				cr_assert_eq(ev.reply.code, 354);
				break;
			case SMTPC_CMD_DATA_END:
				cr_assert_eq(smtpc_quit(c), SMTPC_ERR_OK);
				break;
			case SMTPC_CMD_QUIT:
				p->quit_answered = 1;
				smtpc_bearssl_close(&p->cl.t);
				break;
			default:
				break;
			}
		}
		if (smtpc_waiting_for(c) == SMTPC_WAIT_DATA_BLOCK && !p->body_ended) {
			size_t before = p->body_off;
			client_body(p);
			more |= p->body_off != before || p->body_ended;
		}
	}
	smtpc_bearssl_pump(&p->cl.t);
}

static void server_step(struct pair *p)
{
	smtpc_conn *c = &p->sv.c;
	smtpc_event ev;
	static const smtpc_caps caps = {SMTPC_EXT_STARTTLS | SMTPC_EXT_8BITMIME, 0, 0, 0};

	smtpc_bearssl_pump(&p->sv.t);
	for (;;) {
		smtpc_event_type ty = smtpc_next_event(c, &ev);
		if (ty == SMTPC_EV_NEED_DATA)
			break;
		if (ty == SMTPC_EV_ERROR) {
			p->sv_err = ev.err;
			break;
		}
		if (ty == SMTPC_EV_CLOSED) {
			p->sv_closed = 1;
			break;
		}
		if (ty == SMTPC_EV_BODY) {
			sb_add(&p->body, "%.*s", (int)ev.body.len, (const char *)ev.body.data);
			continue;
		}
		if (ty == SMTPC_EV_BODY_END) {
			cr_assert(ev.body_end.ok);
			p->delivered++;
			cr_assert_eq(smtpc_server_reply(c, 250, "2.0.0 queued"), SMTPC_ERR_OK);
		}
		if (ty == SMTPC_EV_STARTTLS) {
			sb_add(&p->log, "S starttls\n");
			smtpc_bearssl_pump(&p->sv.t);
			continue;
		}
		if (ty != SMTPC_EV_COMMAND)
			continue;
		sb_add(&p->log, "S %s%s\n", smtpc_cmd_name(ev.command.cmd),
		       smtpc_bearssl_is_secure(&p->sv.t) ? " (TLS)" : "");
		switch (ev.command.cmd) {
		case SMTPC_CMD_EHLO:
			cr_assert_eq(smtpc_server_reply_ehlo(c, "mail.example.com", &caps),
				     SMTPC_ERR_OK);
			break;
		case SMTPC_CMD_DATA:
			cr_assert_eq(smtpc_server_reply(c, 354, "go ahead"), SMTPC_ERR_OK);
			break;
		default:
			cr_assert_eq(smtpc_server_reply(c, 250, "ok"), SMTPC_ERR_OK);
			break;
		}
		smtpc_bearssl_pump(&p->sv.t);
	}
	smtpc_bearssl_pump(&p->sv.t);
}

static size_t step_size(struct pair *p)
{
	if (p->step != 0)
		return p->step;
	p->seed = p->seed * 1103515245u + 12345u;
	return 1 + (p->seed >> 16) % 700;
}

static size_t transfer(struct pair *p, smtpc_bearssl *from, smtpc_bearssl *to)
{
	size_t n, room, k = step_size(p);
	const unsigned char *out = smtpc_bearssl_send_buf(from, &n);
	unsigned char *in;

	if (out == NULL)
		return 0;
	in = smtpc_bearssl_recv_buf(to, &room);
	if (in == NULL)
		return 0;
	if (k > n)
		k = n;
	if (k > room)
		k = room;
	memcpy(in, out, k);
	smtpc_bearssl_recv_ack(to, k);
	smtpc_bearssl_send_ack(from, k);
	return k;
}

static void inject(struct pair *p, const char *text)
{
	size_t room, n = strlen(text);

	while (n > 0) { /* as the transport would: as much as the layer takes */
		unsigned char *in = smtpc_bearssl_recv_buf(&p->cl.t, &room);
		if (in == NULL)
			break;
		if (room > n)
			room = n;
		memcpy(in, text, room);
		smtpc_bearssl_recv_ack(&p->cl.t, room);
		text += room;
		n -= room;
	}
	p->injected = 1;
}

/* Something left to do inside one end: events to pull, plaintext to move. */
static int busy(const struct end *e)
{
	unsigned cw = smtpc_want(&e->c);

	return (smtpc_bearssl_want(&e->t) & SMTPC_BEARSSL_WANT_PUMP) ||
	       ((cw & SMTPC_WANT_EVENT) && !(cw & SMTPC_WANT_CLOSED));
}

/* Runs the session until nothing moves; returns the steps taken. */
static long run(struct pair *p)
{
	long steps = 0, idle = 0;

	while (idle < 3 && steps < 2000000) {
		size_t moved = transfer(p, &p->cl.t, &p->sv.t);
		moved += transfer(p, &p->sv.t, &p->cl.t);
		if (p->inject == 1 && !p->injected && (smtpc_want(&p->sv.c) & SMTPC_WANT_TLS) &&
		    !(smtpc_want(&p->sv.c) & SMTPC_WANT_WRITE))
			inject(p, "250-injected\r\n250 AUTH PLAIN\r\n"); /* right behind the 220 */
		if (p->inject == 2 && !p->injected && (p->cl.t.flags & 0x004u) &&
		    p->cl.t.nfirst == 0)
			inject(p, "250 injected\r\n"); /* once the client's handshake began */
		client_step(p);
		server_step(p);
		idle = moved || busy(&p->cl) || busy(&p->sv) ? 0 : idle + 1;
		steps++;
	}
	cr_assert_lt(steps, 2000000, "no end");
	return steps;
}

static const char *expected_body(void)
{
	return "Subject: over TLS\r\n\r\n.a dot line\r\nbody\r\n";
}

static void check_delivered(struct pair *p)
{
	cr_assert_eq(p->cl_err, SMTPC_ERR_OK, "client %s, layer %s", smtpc_err_name(p->cl_err),
		     smtpc_bearssl_err_name(smtpc_bearssl_error(&p->cl.t)));
	cr_assert_eq(p->sv_err, SMTPC_ERR_OK, "server %s, layer %s", smtpc_err_name(p->sv_err),
		     smtpc_bearssl_err_name(smtpc_bearssl_error(&p->sv.t)));
	cr_assert_eq(p->delivered, 1, "log:\n%s", p->log.s);
	cr_assert(p->quit_answered);
	cr_assert(p->secured_seen);
	cr_assert_eq(smtpc_bearssl_error(&p->cl.t), SMTPC_BEARSSL_ERR_OK);
}

static void deliver_ok(size_t step, unsigned seed, size_t cl_buf, size_t sv_buf)
{
	struct pair p;

	pair_defaults(&p);
	p.step = step;
	p.seed = seed;
	p.cl_buf = cl_buf;
	p.sv_buf = sv_buf;
	pair_setup(&p, "ca.pem", "good.pem", "good.key");
	run(&p);
	check_delivered(&p);
	cr_assert_str_eq(p.body.s, expected_body());
	/* the EHLO and STARTTLS in clear, everything else over TLS, EHLO again */
	cr_assert_str_eq(p.log.s,
			 "C GREETING 220\nS EHLO\nC EHLO 250\nS starttls\nC STARTTLS 220\n"
			 "C starttls\nC secured\nS EHLO (TLS)\nC EHLO 250\nS MAIL (TLS)\n"
			 "C MAIL 250\nS RCPT (TLS)\nC RCPT 250\nS DATA (TLS)\nC DATA 354\n"
			 "C DATA_END 250\nC QUIT 221\n",
			 "%s", p.log.s);
	/* close_notify after QUIT: the server's core saw a clean end */
	cr_assert(p.sv_closed);
	cr_assert_str_eq(smtpc_bearssl_sni(&p.sv.t), "mail.example.com");
	pair_free(&p);
}

Test(tls, starttls_delivers_one_octet_per_step)
{
	deliver_ok(1, 1, SMTPC_BEARSSL_BUF_BIDI, SMTPC_BEARSSL_BUF_BIDI);
}

Test(tls, starttls_delivers_at_random_splits)
{
	for (unsigned seed = 1; seed <= 12; seed++)
		deliver_ok(0, seed, SMTPC_BEARSSL_BUF_BIDI, SMTPC_BEARSSL_BUF_BIDI);
}

Test(tls, smallest_buffer_half_duplex_512_octet_records)
{
	deliver_ok(0, 7, SMTPC_BEARSSL_BUF_MIN, SMTPC_BEARSSL_BUF_MONO);
	deliver_ok(1, 7, SMTPC_BEARSSL_BUF_MIN, SMTPC_BEARSSL_BUF_BIDI);
	/* what a 16 KiB-RAM target would spend on the layer (README "TLS") */
	cr_log_info("client layer: sizeof %zu + buffer %d = %zu octets", sizeof(smtpc_bearssl),
		    SMTPC_BEARSSL_BUF_MIN, sizeof(smtpc_bearssl) + SMTPC_BEARSSL_BUF_MIN);
}

Test(tls, large_message_one_copy_in_full_records)
{
	struct pair p;
	size_t n = 300000;
	unsigned char *msg = malloc(n);

	char *want = malloc(2 * n + 2);
	size_t nlen = 0;

	for (size_t i = 0; i < n; i++) {
		msg[i] = (i % 71 == 70)	 ? '\n'
			 : (i % 71 == 0) ? '.'
					 : (unsigned char)('a' + i % 26);
		if (msg[i] == '\n')
			want[nlen++] = '\r';
		want[nlen++] = (char)msg[i];
	}
	want[nlen++] = '\r';
	want[nlen++] = '\n';
	for (int k = 0; k < 2; k++) {
		pair_defaults(&p);
		p.step = 0;
		p.seed = 99 + k;
		p.cl_buf = k ? SMTPC_BEARSSL_BUF_MIN : SMTPC_BEARSSL_BUF_BIDI;
		p.msg = msg;
		p.msg_len = n;
		pair_setup(&p, "ca.pem", "good.pem", "good.key");
		run(&p);
		check_delivered(&p);
		/* the server's view: line ends CRLF, dots back as they were */
		cr_assert_eq(p.body.n, nlen, "got %zu", p.body.n);
		cr_assert_eq(memcmp(p.body.s, want, nlen), 0);
		cr_assert_eq(smtpc_body_stats(&p.cl.c)->total_in, n);
		cr_assert_eq(p.via_core, 0, "%zu octets through the core's buffer", p.via_core);
		pair_free(&p);
	}
	free(msg);
	free(want);
}

Test(tls, implicit_tls_and_an_rsa_key_with_a_chain)
{
	struct pair p;

	pair_defaults(&p);
	p.implicit = 1;
	p.step = 0;
	pair_setup(&p, "ca.pem", "good-rsa.pem", "good-rsa.key");
	cr_assert_eq(smtpc_bearssl_version(&p.cl.t), 0); /* nothing negotiated yet */
	cr_assert_eq(smtpc_bearssl_cipher(&p.cl.t), 0);
	run(&p);
	check_delivered(&p);
	cr_assert(smtpc_is_secure(&p.cl.c));
	cr_assert_str_eq(p.body.s, expected_body());
	/* what was negotiated, the same on both ends; an RSA key: ECDHE_RSA */
	cr_assert_eq(smtpc_bearssl_version(&p.cl.t), BR_TLS12);
	cr_assert_str_eq(smtpc_bearssl_version_name(smtpc_bearssl_version(&p.cl.t)), "TLSv1.2");
	cr_assert_eq(smtpc_bearssl_cipher(&p.cl.t), smtpc_bearssl_cipher(&p.sv.t));
	cr_assert_not_null(smtpc_bearssl_cipher_name(smtpc_bearssl_cipher(&p.cl.t)));
	cr_assert(strstr(smtpc_bearssl_cipher_name(smtpc_bearssl_cipher(&p.cl.t)), "ECDHE_RSA") !=
		  NULL);
	pair_free(&p);

	pair_defaults(&p); /* leaf and intermediate in one file, a PKCS#8 key */
	pair_setup(&p, "ca.pem", "chain.pem", "chain.key");
	cr_assert_eq(p.creds.n, 2);
	run(&p);
	check_delivered(&p);
	pair_free(&p);
}

/* A refused handshake: the client's layer error, its core's error, and
 * nothing after STARTTLS reached the server's application. */
static void refused(struct pair *p, smtpc_bearssl_err want, smtpc_err core_err)
{
	run(p);
	cr_assert_eq(smtpc_bearssl_error(&p->cl.t), want, "got %s",
		     smtpc_bearssl_err_name(smtpc_bearssl_error(&p->cl.t)));
	cr_assert_eq(smtpc_error(&p->cl.c), core_err, "got %s",
		     smtpc_err_name(smtpc_error(&p->cl.c)));
	cr_assert(!smtpc_bearssl_is_secure(&p->cl.t));
	cr_assert(!p->secured_seen);
	cr_assert_eq(p->delivered, 0);
	cr_assert_null(strstr(p->log.s, "S MAIL"), "%s", p->log.s);
	cr_assert(smtpc_bearssl_want(&p->cl.t) & SMTPC_BEARSSL_WANT_CLOSED);
}

static void refused_cert(const char *anchors, const char *cert, const char *name,
			 smtpc_bearssl_err want)
{
	struct pair p;

	for (int implicit = 0; implicit < 2; implicit++) {
		pair_defaults(&p);
		p.name = name;
		p.implicit = implicit;
		p.step = implicit ? 0 : 1;
		pair_setup(&p, anchors, cert,
			   strcmp(cert, "good.pem") == 0      ? "good.key"
			   : strcmp(cert, "expired.pem") == 0 ? "expired.key"
			   : strcmp(cert, "future.pem") == 0  ? "future.key"
			   : strcmp(cert, "client.pem") == 0  ? "client.key"
							      : "untrusted.key");
		refused(&p, want, SMTPC_ERR_TLS);
		pair_free(&p);
	}
}

Test(tls, wrong_name_refused)
{
	refused_cert("ca.pem", "good.pem", "other.example.com", SMTPC_BEARSSL_ERR_WRONG_NAME);
}

Test(tls, untrusted_ca_refused)
{
	refused_cert("ca.pem", "untrusted.pem", "mail.example.com", SMTPC_BEARSSL_ERR_UNTRUSTED);
	refused_cert("rogue-ca.pem", "good.pem", "mail.example.com", SMTPC_BEARSSL_ERR_UNTRUSTED);
}

Test(tls, expired_and_not_yet_valid_refused_by_the_test_clock)
{
	refused_cert("ca.pem", "expired.pem", "mail.example.com", SMTPC_BEARSSL_ERR_EXPIRED);
	refused_cert("ca.pem", "future.pem", "mail.example.com", SMTPC_BEARSSL_ERR_NOT_YET_VALID);
}

Test(tls, clock_decides_validity)
{
	struct pair p;

	pair_defaults(&p);     /* in 2020 the expired certificate was good */
	p.clock = 1593561600u; /* 2020-07-01 */
	pair_setup(&p, "ca.pem", "expired.pem", "expired.key");
	run(&p);
	check_delivered(&p);
	pair_free(&p);

	pair_defaults(&p);     /* and in 2125 the good one has expired */
	p.clock = 4891363200u; /* 2125-01-01 */
	pair_setup(&p, "ca.pem", "good.pem", "good.key");
	refused(&p, SMTPC_BEARSSL_ERR_EXPIRED, SMTPC_ERR_TLS);
	pair_free(&p);
}

Test(tls, extended_key_usage_without_server_auth_refused)
{
	refused_cert("ca.pem", "client.pem", "mail.example.com", SMTPC_BEARSSL_ERR_NOT_SERVER);
}

Test(tls, insecure_accepts_and_sends_no_ip_as_sni)
{
	struct pair p;

	pair_defaults(&p);
	p.insecure = 1;
	p.name = "127.0.0.1";
	pair_setup(&p, NULL, "expired.pem", "expired.key");
	run(&p);
	check_delivered(&p);
	cr_assert_str_eq(smtpc_bearssl_sni(&p.sv.t), ""); /* RFC 6066 3 */
	pair_free(&p);

	pair_defaults(&p);
	p.insecure = 1;
	p.name = "other.example.com";
	pair_setup(&p, NULL, "client.pem", "client.key");
	run(&p);
	check_delivered(&p);
	cr_assert_str_eq(smtpc_bearssl_sni(&p.sv.t), "other.example.com");
	pair_free(&p);
}

/* A name with a final dot (as an MX lookup gives it) is the same name: it
 * is verified and sent as SNI without the dot (RFC 6066 3); it used to be
 * refused as a wrong name, and sent with its dot. */
Test(tls, a_final_dot_in_the_name_is_dropped_for_sni_and_verification)
{
	struct pair p;
	const char *names[] = {"mail.example.com.", "MAIL.Example.COM."};

	for (int i = 0; i < 2; i++) {
		for (int implicit = 0; implicit < 2; implicit++) {
			pair_defaults(&p);
			p.name = names[i];
			p.implicit = implicit;
			p.step = 0;
			pair_setup(&p, "ca.pem", "good.pem", "good.key");
			run(&p);
			check_delivered(&p);
			cr_assert_eq(strlen(smtpc_bearssl_sni(&p.sv.t)), 16);
			cr_assert_eq(strncmp(smtpc_bearssl_sni(&p.sv.t), names[i], 16), 0, "%s",
				     smtpc_bearssl_sni(&p.sv.t));
			pair_free(&p);
		}
	}
	pair_defaults(&p); /* and the name is still checked */
	p.name = "other.example.com.";
	pair_setup(&p, "ca.pem", "good.pem", "good.key");
	refused(&p, SMTPC_BEARSSL_ERR_WRONG_NAME, SMTPC_ERR_TLS);
	pair_free(&p);
}

Test(tls, plaintext_with_the_220_refused_by_the_core)
{
	struct pair p;

	pair_defaults(&p);
	p.inject = 1;
	pair_setup(&p, "ca.pem", "good.pem", "good.key");
	run(&p);
	cr_assert(p.injected);
	cr_assert_eq(smtpc_error(&p.cl.c), SMTPC_ERR_STARTTLS_INJECTION);
	cr_assert_eq(p.cl_err, SMTPC_ERR_STARTTLS_INJECTION);
	cr_assert(!p.secured_seen);
	cr_assert_null(strstr(p.log.s, "C starttls"), "%s", p.log.s);
	cr_assert_null(strstr(p.log.s, "S MAIL"));
	pair_free(&p);
}

Test(tls, plaintext_after_the_220_refused_by_the_layer)
{
	struct pair p;

	pair_defaults(&p);
	p.inject = 2;
	pair_setup(&p, "ca.pem", "good.pem", "good.key");
	refused(&p, SMTPC_BEARSSL_ERR_INJECTION, SMTPC_ERR_STARTTLS_INJECTION);
	cr_assert(p.injected);
	pair_free(&p);
}

Test(tls, implicit_tls_against_a_plaintext_server)
{
	struct pair p;

	pair_defaults(&p);
	p.implicit = 1;
	p.server_plain = 1; /* its greeting goes out in clear */
	pair_setup(&p, "ca.pem", "good.pem", "good.key");
	refused(&p, SMTPC_BEARSSL_ERR_NOT_TLS, SMTPC_ERR_TLS);
	cr_assert_str_eq(smtpc_bearssl_strerror(SMTPC_BEARSSL_ERR_NOT_TLS),
			 "the peer is not speaking TLS (its first octets are not a TLS record)");
	pair_free(&p);
}

Test(tls, no_entropy_no_time_no_start)
{
	struct pair p;

	pair_defaults(&p);
	p.no_entropy = 1;
	pair_setup(&p, "ca.pem", "good.pem", "good.key");
	refused(&p, SMTPC_BEARSSL_ERR_NO_ENTROPY, SMTPC_ERR_TLS);
	cr_assert_null(strstr(p.log.s, "S starttls\nS EHLO (TLS)"));
	pair_free(&p);

	pair_defaults(&p);
	p.no_time = 1;
	pair_setup(&p, "ca.pem", "good.pem", "good.key");
	refused(&p, SMTPC_BEARSSL_ERR_NO_TIME, SMTPC_ERR_TLS);
	pair_free(&p);
}

Test(tls, peer_closes_during_the_handshake)
{
	struct pair p;
	smtpc_event ev;

	pair_defaults(&p);
	p.implicit = 1;
	pair_setup(&p, "ca.pem", "good.pem", "good.key");
	smtpc_bearssl_pump(&p.cl.t);
	cr_assert(smtpc_bearssl_want(&p.cl.t) & SMTPC_BEARSSL_WANT_WRITE); /* the ClientHello */
	cr_assert(smtpc_bearssl_want(&p.cl.t) & SMTPC_BEARSSL_WANT_HANDSHAKE);
	smtpc_bearssl_eof(&p.cl.t);
	cr_assert_eq(smtpc_bearssl_error(&p.cl.t), SMTPC_BEARSSL_ERR_CLOSED_IN_HANDSHAKE);
	cr_assert_eq(smtpc_next_event(&p.cl.c, &ev), SMTPC_EV_ERROR);
	cr_assert_eq(ev.err, SMTPC_ERR_TLS);
	cr_assert_eq(smtpc_bearssl_want(&p.cl.t),
		     SMTPC_BEARSSL_WANT_EVENT | SMTPC_BEARSSL_WANT_CLOSED);
	pair_free(&p);
}

/* Closed before the handshake began: no handshake starts (an implicit TLS
 * layer used to send its ClientHello at the next pump anyway). */
Test(tls, closed_before_the_handshake_starts_none)
{
	struct pair p;
	size_t n;

	for (int implicit = 0; implicit < 2; implicit++) {
		pair_defaults(&p);
		p.implicit = implicit;
		pair_setup(&p, "ca.pem", "good.pem", "good.key");
		smtpc_bearssl_close(&p.cl.t);
		cr_assert(smtpc_bearssl_pump(&p.cl.t) & SMTPC_BEARSSL_WANT_CLOSED);
		cr_assert_null(smtpc_bearssl_send_buf(&p.cl.t, &n));
		cr_assert_eq(n, 0);
		cr_assert(!(smtpc_bearssl_want(&p.cl.t) & SMTPC_BEARSSL_WANT_HANDSHAKE));
		pair_free(&p);
	}
}

Test(tls, server_refuses_a_plaintext_client)
{
	struct pair p;
	size_t room;
	unsigned char *in;

	pair_defaults(&p);
	p.implicit = 1;
	pair_setup(&p, "ca.pem", "good.pem", "good.key");
	smtpc_bearssl_pump(&p.sv.t);
	in = smtpc_bearssl_recv_buf(&p.sv.t, &room);
	cr_assert_not_null(in);
	memcpy(in, "EHLO x\r\n", 8);
	smtpc_bearssl_recv_ack(&p.sv.t, 8);
	cr_assert_eq(smtpc_bearssl_error(&p.sv.t), SMTPC_BEARSSL_ERR_NOT_TLS);
	cr_assert_eq(smtpc_error(&p.sv.c), SMTPC_ERR_TLS);
	pair_free(&p);
}

Test(tls, version_and_cipher_names)
{
	cr_assert_str_eq(smtpc_bearssl_version_name(BR_TLS10), "TLSv1.0");
	cr_assert_str_eq(smtpc_bearssl_version_name(BR_TLS11), "TLSv1.1");
	cr_assert_null(smtpc_bearssl_version_name(0x0304));
	cr_assert_str_eq(smtpc_bearssl_cipher_name(0xc02f),
			 "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
	cr_assert_str_eq(smtpc_bearssl_cipher_name(0xcca9),
			 "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256");
	cr_assert_null(smtpc_bearssl_cipher_name(0));
	cr_assert_eq(smtpc_bearssl_version(NULL), 0);
	cr_assert_eq(smtpc_bearssl_cipher(NULL), 0);
}

Test(tls, client_certificate_refusals_at_init)
{
	smtpc_bearssl t;
	smtpc_bearssl_client_opts o;
	smtpc_bearssl_anchors a;
	smtpc_bearssl_creds c;
	struct end e;
	void *amem, *cmem;

	end_init(&e, 0, SMTPC_BEARSSL_BUF_BIDI);
	amem = anchors_from(&a, "ca.pem");
	memset(&o, 0, sizeof o);
	o.anchors = &a;
	o.name = "localhost";
	o.creds = &c;
	cmem = creds_from(&c, "client.pem", "client.pem"); /* no key */
	cr_assert_eq(smtpc_bearssl_client_init(&t, &e.c, &o, e.io, SMTPC_BEARSSL_BUF_BIDI),
		     SMTPC_BEARSSL_ERR_NO_KEY);
	free(cmem);
	cmem = creds_from(&c, "client.pem", "good-rsa.key"); /* an EC certificate, an RSA key */
	cr_assert_eq(smtpc_bearssl_client_init(&t, &e.c, &o, e.io, SMTPC_BEARSSL_BUF_BIDI),
		     SMTPC_BEARSSL_ERR_KEY_MISMATCH);
	free(cmem);
	memset(&c, 0, sizeof c);
	cr_assert_eq(smtpc_bearssl_client_init(&t, &e.c, &o, e.io, SMTPC_BEARSSL_BUF_BIDI),
		     SMTPC_BEARSSL_ERR_NO_CERT);
	cmem = creds_from(&c, "client.pem", "client.key");
	cr_assert_eq(smtpc_bearssl_client_init(&t, &e.c, &o, e.io, SMTPC_BEARSSL_BUF_BIDI),
		     SMTPC_BEARSSL_ERR_OK);
	free(cmem);
	free(amem);
	end_free(&e);
}

Test(tls, init_refusals)
{
	smtpc_bearssl t;
	smtpc_bearssl_client_opts o;
	smtpc_bearssl_anchors a;
	smtpc_bearssl_creds c;
	struct end e, es;
	void *amem;

	end_init(&e, 0, SMTPC_BEARSSL_BUF_BIDI);
	amem = anchors_from(&a, "ca.pem");
	memset(&o, 0, sizeof o);
	o.anchors = &a;
	cr_assert_eq(smtpc_bearssl_client_init(&t, &e.c, &o, e.io, SMTPC_BEARSSL_BUF_BIDI),
		     SMTPC_BEARSSL_ERR_NO_NAME);
	cr_assert_eq(smtpc_bearssl_want(&t), SMTPC_BEARSSL_WANT_CLOSED);
	o.name = "192.0.2.1";
	cr_assert_eq(smtpc_bearssl_client_init(&t, &e.c, &o, e.io, SMTPC_BEARSSL_BUF_BIDI),
		     SMTPC_BEARSSL_ERR_IP_NAME);
	o.name = "2001:db8::1";
	cr_assert_eq(smtpc_bearssl_client_init(&t, &e.c, &o, e.io, SMTPC_BEARSSL_BUF_BIDI),
		     SMTPC_BEARSSL_ERR_IP_NAME);
	o.name = "bad name.example";
	cr_assert_eq(smtpc_bearssl_client_init(&t, &e.c, &o, e.io, SMTPC_BEARSSL_BUF_BIDI),
		     SMTPC_BEARSSL_ERR_BAD_NAME);
	o.name = "a..example";
	cr_assert_eq(smtpc_bearssl_client_init(&t, &e.c, &o, e.io, SMTPC_BEARSSL_BUF_BIDI),
		     SMTPC_BEARSSL_ERR_BAD_NAME);
	o.name = "mail.example.com";
	cr_assert_eq(smtpc_bearssl_client_init(&t, &e.c, &o, e.io, SMTPC_BEARSSL_BUF_MIN - 1),
		     SMTPC_BEARSSL_ERR_BUFFER_SMALL);
	cr_assert_eq(smtpc_bearssl_client_init(&t, NULL, &o, e.io, SMTPC_BEARSSL_BUF_BIDI),
		     SMTPC_BEARSSL_ERR_NULL_ARG);
	cr_assert_eq(smtpc_bearssl_client_init(NULL, &e.c, &o, e.io, SMTPC_BEARSSL_BUF_BIDI),
		     SMTPC_BEARSSL_ERR_NULL_ARG);
	o.anchors = NULL;
	cr_assert_eq(smtpc_bearssl_client_init(&t, &e.c, &o, e.io, SMTPC_BEARSSL_BUF_BIDI),
		     SMTPC_BEARSSL_ERR_NO_ANCHORS);
	o.insecure = 1; /* insecure needs neither */
	cr_assert_eq(smtpc_bearssl_client_init(&t, &e.c, &o, e.io, SMTPC_BEARSSL_BUF_BIDI),
		     SMTPC_BEARSSL_ERR_OK);
	/* a server needs a certificate and a key of its type */
	end_init(&es, 1, SMTPC_BEARSSL_BUF_BIDI);
	smtpc_bearssl_creds_init(&c, NULL, 0);
	cr_assert_eq(smtpc_bearssl_server_init(&t, &es.c, &c, 1, es.io, SMTPC_BEARSSL_BUF_BIDI),
		     SMTPC_BEARSSL_ERR_NO_CERT);
	void *cmem = creds_from(&c, "good.pem", "good.key");
	cr_assert_eq(c.key_type, BR_KEYTYPE_EC);
	c.key_type = 0;
	cr_assert_eq(smtpc_bearssl_server_init(&t, &es.c, &c, 1, es.io, SMTPC_BEARSSL_BUF_BIDI),
		     SMTPC_BEARSSL_ERR_NO_KEY);
	c.key_type = BR_KEYTYPE_RSA;
	cr_assert_eq(smtpc_bearssl_server_init(&t, &es.c, &c, 1, es.io, SMTPC_BEARSSL_BUF_BIDI),
		     SMTPC_BEARSSL_ERR_KEY_MISMATCH);
	cr_assert_str_eq(smtpc_bearssl_err_name(SMTPC_BEARSSL_ERR_KEY_MISMATCH),
			 "SMTPC_BEARSSL_ERR_KEY_MISMATCH");
	cr_assert_str_eq(smtpc_bearssl_err_name((smtpc_bearssl_err)999), "SMTPC_BEARSSL_ERR_?");
	free(amem);
	free(cmem);
	end_free(&e);
	end_free(&es);
}

/* ---- storage ------------------------------------------------------------------------------ */

struct der_buf {
	unsigned char *p;
	size_t n;
};

static void der_add(void *ctx, const void *d, size_t n)
{
	struct der_buf *b = ctx;

	memcpy(b->p + b->n, d, n);
	b->n += n;
}

/* The first PEM object's DER. */
static unsigned char *pem_to_der(const unsigned char *pem, size_t len, size_t *dlen)
{
	br_pem_decoder_context pc;
	struct der_buf b = {malloc(len), 0};
	size_t off = 0;
	int done = 0;

	br_pem_decoder_init(&pc);
	while (off < len && !done) {
		off += br_pem_decoder_push(&pc, pem + off, len - off);
		switch (br_pem_decoder_event(&pc)) {
		case BR_PEM_BEGIN_OBJ:
			br_pem_decoder_setdest(&pc, der_add, &b);
			break;
		case BR_PEM_END_OBJ:
			done = 1;
			break;
		default:
			break;
		}
	}
	cr_assert(done);
	*dlen = b.n;
	return b.p;
}

Test(tls, anchors_measure_fill_and_overflow)
{
	size_t len, dlen;
	unsigned char *pem = load("ca.pem", &len), *two, *der;
	smtpc_bearssl_anchors a;
	unsigned char small[100];
	void *mem;

	/* two PEM certificates, junk between them, and a broken one */
	two = malloc(3 * len + 200);
	memcpy(two, pem, len);
	memcpy(two + len, "some text\n", 10);
	memcpy(two + len + 10, pem, len);
	smtpc_bearssl_anchors_init(&a, NULL, 0);
	cr_assert_eq(smtpc_bearssl_anchors_add(&a, two, 2 * len + 10), SMTPC_BEARSSL_ERR_OK);
	cr_assert_eq(a.n, 0);
	mem = malloc(a.need);
	smtpc_bearssl_anchors_init(&a, mem, a.need);
	cr_assert_eq(smtpc_bearssl_anchors_add(&a, two, 2 * len + 10), SMTPC_BEARSSL_ERR_OK);
	cr_assert_eq(a.n, 2);
	cr_assert_eq(a.ta[0].flags, BR_X509_TA_CA);
	cr_assert_eq(a.ta[1].pkey.key_type, BR_KEYTYPE_EC);
	cr_assert_eq(a.ta[0].dn.len, a.ta[1].dn.len);
	cr_assert_eq(memcmp(a.ta[0].dn.data, a.ta[1].dn.data, a.ta[0].dn.len), 0);
	free(mem);

	/* too small: none fits, the need is still counted */
	smtpc_bearssl_anchors_init(&a, small, sizeof small);
	cr_assert_eq(smtpc_bearssl_anchors_add(&a, two, 2 * len + 10), SMTPC_BEARSSL_ERR_NO_SPACE);
	cr_assert_eq(a.n, 0);
	cr_assert_gt(a.need, sizeof small);

	/* the same certificate in DER, and a certificate that does not decode */
	der = pem_to_der(pem, len, &dlen);
	smtpc_bearssl_anchors_init(&a, NULL, 0);
	cr_assert_eq(smtpc_bearssl_anchors_add(&a, der, dlen), SMTPC_BEARSSL_ERR_OK);
	mem = malloc(a.need);
	smtpc_bearssl_anchors_init(&a, mem, a.need);
	cr_assert_eq(smtpc_bearssl_anchors_add(&a, der, dlen), SMTPC_BEARSSL_ERR_OK);
	cr_assert_eq(a.n, 1);
	free(mem);
	smtpc_bearssl_anchors_init(&a, NULL, 0);
	memcpy(der, "\x30\x03\x02\x01\x01", 5); /* a SEQUENCE that is no certificate */
	cr_assert_eq(smtpc_bearssl_anchors_add(&a, der, 5), SMTPC_BEARSSL_ERR_OK);
	cr_assert_eq(a.skipped, 1);
	cr_assert_eq(smtpc_bearssl_anchors_add(&a, "-----BEGIN CERTIFICATE-----\n@@@@\n", 33),
		     SMTPC_BEARSSL_ERR_BAD_PEM);
	cr_assert_eq(smtpc_bearssl_anchors_add(&a, pem, len / 2), SMTPC_BEARSSL_ERR_BAD_PEM);
	cr_assert_eq(smtpc_bearssl_anchors_add(NULL, pem, len), SMTPC_BEARSSL_ERR_NULL_ARG);
	cr_assert_eq(smtpc_bearssl_anchors_add(&a, NULL, 1), SMTPC_BEARSSL_ERR_NULL_ARG);
	free(der);
	free(two);
	free(pem);
}

Test(tls, creds_keys_and_overflow)
{
	size_t clen, klen, k2len;
	unsigned char *cert = load("good.pem", &clen), *key = load("good.key", &klen);
	unsigned char *rsa = load("good-rsa.key", &k2len);
	smtpc_bearssl_creds c;
	unsigned char small[300];
	void *mem;

	smtpc_bearssl_creds_init(&c, NULL, 0);
	cr_assert_eq(smtpc_bearssl_creds_add(&c, cert, clen), SMTPC_BEARSSL_ERR_OK);
	cr_assert_eq(smtpc_bearssl_creds_add(&c, key, klen), SMTPC_BEARSSL_ERR_OK);
	mem = malloc(c.need);
	smtpc_bearssl_creds_init(&c, mem, c.need);
	cr_assert_eq(smtpc_bearssl_creds_add(&c, cert, clen), SMTPC_BEARSSL_ERR_OK);
	cr_assert_eq(smtpc_bearssl_creds_add(&c, key, klen), SMTPC_BEARSSL_ERR_OK);
	cr_assert_eq(c.n, 1);
	cr_assert_eq(c.key_type, BR_KEYTYPE_EC);
	cr_assert_eq(smtpc_bearssl_creds_add(&c, rsa, k2len), SMTPC_BEARSSL_ERR_KEY_TWICE);
	cr_assert_eq(smtpc_bearssl_creds_add(&c,
					     "-----BEGIN PRIVATE KEY-----\nAAAA\n"
					     "-----END PRIVATE KEY-----\n",
					     60),
		     SMTPC_BEARSSL_ERR_BAD_KEY);
	cr_assert_eq(smtpc_bearssl_creds_add(&c,
					     "-----BEGIN CERTIFICATE-----\nAAAA\n"
					     "-----END CERTIFICATE-----\n",
					     60),
		     SMTPC_BEARSSL_ERR_BAD_CERT);
	cr_assert_eq(c.n, 1); /* a refused certificate leaves the chain alone */
	free(mem);
	{ /* DER: a certificate, then a key */
		size_t dc, dk;
		unsigned char *cd = pem_to_der(cert, clen, &dc), *kd = pem_to_der(rsa, k2len, &dk);
		unsigned char big[8192];
		smtpc_bearssl_creds_init(&c, big, sizeof big);
		cr_assert_eq(smtpc_bearssl_creds_add(&c, cd, dc), SMTPC_BEARSSL_ERR_OK);
		cr_assert_eq(smtpc_bearssl_creds_add(&c, kd, dk), SMTPC_BEARSSL_ERR_OK);
		cr_assert_eq(c.n, 1);
		cr_assert_eq(c.chain[0].data_len, dc);
		cr_assert_eq(memcmp(c.chain[0].data, cd, dc), 0);
		cr_assert_eq(c.key_type, BR_KEYTYPE_RSA);
		cr_assert_eq(c.rsa.n_bitlen, 2048);
		free(cd);
		free(kd);
	}
	smtpc_bearssl_creds_init(&c, small, sizeof small);
	cr_assert_eq(smtpc_bearssl_creds_add(&c, cert, clen), SMTPC_BEARSSL_ERR_NO_SPACE);
	cr_assert_eq(c.n, 0);
	cr_assert_eq(smtpc_bearssl_creds_add(NULL, cert, clen), SMTPC_BEARSSL_ERR_NULL_ARG);
	free(cert);
	free(key);
	free(rsa);
}

/* A receive buffer taken before the handshake began (the core's own, in
 * STARTTLS mode) and acknowledged after pump started TLS: the octets are in
 * the core's buffer, not the engine's. Refused by name; the engine used to
 * be acknowledged octets it never received. */
Test(tls, a_receive_buffer_from_before_the_handshake_is_refused)
{
	struct pair p;
	size_t n, room = 0;
	unsigned char *stale = NULL;

	pair_defaults(&p);
	p.step = 4096;
	pair_setup(&p, "ca.pem", "good.pem", "good.key");
	for (int k = 0; k < 200 && stale == NULL; k++) {
		if ((smtpc_want(&p.sv.c) & SMTPC_WANT_TLS) &&
		    smtpc_bearssl_send_buf(&p.sv.t, &n) != NULL) {
			transfer(&p, &p.sv.t, &p.cl.t); /* the 220 to STARTTLS, not yet read */
			stale = smtpc_bearssl_recv_buf(&p.cl.t, &room);
			break;
		}
		transfer(&p, &p.cl.t, &p.sv.t);
		transfer(&p, &p.sv.t, &p.cl.t);
		client_step(&p);
		server_step(&p);
	}
	cr_assert_not_null(stale);
	cr_assert_gt(room, 5);
	client_step(&p); /* the 220, the pause: pump starts the handshake */
	cr_assert(smtpc_bearssl_want(&p.cl.t) & SMTPC_BEARSSL_WANT_HANDSHAKE);
	cr_assert(smtpc_bearssl_want(&p.cl.t) & SMTPC_BEARSSL_WANT_WRITE); /* the ClientHello */
	memcpy(stale, "\x16\x03\x03\x00\x40", 5);
	smtpc_bearssl_recv_ack(&p.cl.t, 5);
	cr_assert_eq(smtpc_bearssl_error(&p.cl.t), SMTPC_BEARSSL_ERR_STATE, "got %s",
		     smtpc_bearssl_err_name(smtpc_bearssl_error(&p.cl.t)));
	cr_assert_eq(smtpc_error(&p.cl.c), SMTPC_ERR_TLS);
	pair_free(&p);
}

/* A client that asks to renegotiate is refused: each renegotiation would
 * cost the server a key exchange and a signature, as often as the client
 * likes. (The server layer used to run every one.) */
Test(tls, server_refuses_renegotiation)
{
	struct pair p;
	smtpc_event ev;
	int greeted = 0;

	pair_defaults(&p);
	p.implicit = 1;
	p.step = 4096;
	pair_setup(&p, "ca.pem", "good.pem", "good.key");
	for (int k = 0; k < 200 && !greeted; k++) {
		transfer(&p, &p.cl.t, &p.sv.t);
		transfer(&p, &p.sv.t, &p.cl.t);
		smtpc_bearssl_pump(&p.cl.t);
		smtpc_bearssl_pump(&p.sv.t);
		while (smtpc_next_event(&p.cl.c, &ev) != SMTPC_EV_NEED_DATA)
			greeted |= ev.type == SMTPC_EV_REPLY && ev.reply.cmd == SMTPC_CMD_GREETING;
	}
	cr_assert(greeted);
	/* a hostile client: BearSSL's own call, which this layer never makes */
	cr_assert(br_ssl_engine_renegotiate(p.cl.t.eng));
	for (int k = 0; k < 200; k++) {
		transfer(&p, &p.cl.t, &p.sv.t);
		transfer(&p, &p.sv.t, &p.cl.t);
		smtpc_bearssl_pump(&p.cl.t);
		server_step(&p);
	}
	/* refused with no_renegotiation (BearSSL's client takes it as fatal);
	 * the server's layer is unharmed */
	cr_assert_eq(br_ssl_engine_last_error(p.cl.t.eng),
		     BR_ERR_RECV_FATAL_ALERT + BR_ALERT_NO_RENEGOTIATION, "client: %d",
		     br_ssl_engine_last_error(p.cl.t.eng));
	cr_assert_eq(smtpc_bearssl_error(&p.sv.t), SMTPC_BEARSSL_ERR_OK);
	cr_assert_eq(p.sv_err, SMTPC_ERR_OK);
	pair_free(&p);
}

/* A 220 to a STARTTLS sent over implicit TLS would leave the core paused
 * for good: the layer refuses it at once. */
Test(tls, starttls_answered_over_tls_refused_not_hung)
{
	struct pair p;
	size_t n;
	unsigned char *buf;
	smtpc_event ev;

	pair_defaults(&p);
	p.implicit = 1;
	p.step = 4096;
	pair_setup(&p, "ca.pem", "good.pem", "good.key");
	int greeted = 0;
	for (int k = 0; k < 200 && !greeted; k++) {
		transfer(&p, &p.cl.t, &p.sv.t);
		transfer(&p, &p.sv.t, &p.cl.t);
		smtpc_bearssl_pump(&p.cl.t);
		smtpc_bearssl_pump(&p.sv.t);
		while (smtpc_next_event(&p.cl.c, &ev) != SMTPC_EV_NEED_DATA)
			greeted |= ev.type == SMTPC_EV_REPLY && ev.reply.cmd == SMTPC_CMD_GREETING;
	}
	cr_assert(greeted);
	cr_assert(smtpc_bearssl_is_secure(&p.cl.t));
	cr_assert_eq(smtpc_raw(&p.cl.c, "STARTTLS", 8), SMTPC_ERR_OK);
	/* the server's application answers 220 over TLS */
	buf = br_ssl_engine_sendapp_buf(p.sv.t.eng, &n);
	cr_assert_not_null(buf);
	memcpy(buf, "220 go\r\n", 8);
	br_ssl_engine_sendapp_ack(p.sv.t.eng, 8);
	br_ssl_engine_flush(p.sv.t.eng, 0);
	for (int k = 0; k < 200; k++) {
		transfer(&p, &p.cl.t, &p.sv.t);
		transfer(&p, &p.sv.t, &p.cl.t);
		smtpc_bearssl_pump(&p.cl.t);
		while (smtpc_next_event(&p.cl.c, &ev) != SMTPC_EV_NEED_DATA &&
		       ev.type != SMTPC_EV_ERROR)
			;
		smtpc_bearssl_pump(&p.cl.t);
	}
	cr_assert_eq(smtpc_bearssl_error(&p.cl.t), SMTPC_BEARSSL_ERR_STATE);
	cr_assert_eq(smtpc_error(&p.cl.c), SMTPC_ERR_TLS);
	cr_assert(smtpc_bearssl_want(&p.cl.t) & SMTPC_BEARSSL_WANT_CLOSED);
	pair_free(&p);
}

/* A layer refuses a core of the other role (a client layer over a server
 * core would run a client handshake on the server's socket), and a core
 * whose init failed; the role queries say which is which. */
Test(tls, a_layer_refuses_a_core_of_the_other_role)
{
	struct pair p;
	smtpc_bearssl t;
	smtpc_bearssl_client_opts o;
	smtpc_conn dead;

	pair_defaults(&p);
	pair_setup(&p, "ca.pem", "good.pem", "good.key");
	cr_assert(smtpc_is_client(&p.cl.c) && !smtpc_is_server(&p.cl.c));
	cr_assert(smtpc_is_server(&p.sv.c) && !smtpc_is_client(&p.sv.c));
	cr_assert(!smtpc_is_client(NULL) && !smtpc_is_server(NULL));
	memset(&o, 0, sizeof o);
	o.anchors = &p.anchors;
	o.name = p.name;
	o.starttls = 1;
	cr_assert_eq(smtpc_bearssl_client_init(&t, &p.sv.c, &o, p.cl.io, p.cl_buf),
		     SMTPC_BEARSSL_ERR_ROLE);
	cr_assert_eq(smtpc_bearssl_error(&t), SMTPC_BEARSSL_ERR_ROLE);
	cr_assert_eq(smtpc_bearssl_server_init(&t, &p.cl.c, &p.creds, 1, p.sv.io, p.sv_buf),
		     SMTPC_BEARSSL_ERR_ROLE);
	/* a connection whose init failed (buffers too small) has no role */
	cr_assert_neq(smtpc_init(&dead, NULL, p.cl.rx, 1, p.cl.tx, 1), SMTPC_ERR_OK);
	cr_assert(!smtpc_is_client(&dead) && !smtpc_is_server(&dead));
	cr_assert_eq(smtpc_bearssl_client_init(&t, &dead, &o, p.cl.io, p.cl_buf),
		     SMTPC_BEARSSL_ERR_ROLE);
	cr_assert_str_eq(smtpc_bearssl_err_name(SMTPC_BEARSSL_ERR_ROLE), "SMTPC_BEARSSL_ERR_ROLE");
	/* the pair still works: nothing above touched it */
	run(&p);
	check_delivered(&p);
	cr_assert_str_eq(p.body.s, expected_body());
	pair_free(&p);
}
