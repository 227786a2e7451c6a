/*
 * Server bytes into the client role.
 *
 * Input: [config][split seed][k][k command opcodes][server bytes...].
 * A fixed client policy issues the fuzzer's commands in order, at the start
 * and after each reply, until one has to wait (pipelining, queue, room); it
 * answers STARTTLS by declaring TLS up. The same input is run three times:
 * fed whole, one byte at a time, and in fuzzer-chosen pieces. The event log
 * and the bytes sent must be identical up to a STARTTLS 220 (after which
 * the timing of plaintext injection legitimately depends on the split).
 * Invariants are checked on every event.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpc.h"

#define LOG_CAP 65536

struct run {
	smtpc_conn c;
	unsigned char rx[16384], tx[2048];
	const unsigned char *ops;
	size_t nops, pos;
	unsigned char log[LOG_CAP];
	size_t log_len, cut; /* cut: log length at a STARTTLS 220, or 0 */
	int body_left;
};

static void log_add(struct run *r, const void *p, size_t n)
{
	if (n > LOG_CAP - r->log_len)
		n = LOG_CAP - r->log_len;
	memcpy(r->log + r->log_len, p, n);
	r->log_len += n;
}

static int fake_hmac(void *ctx, const unsigned char *key, size_t key_len, const unsigned char *msg,
		     size_t msg_len, unsigned char out[16])
{
	size_t i;

	(void)ctx;
	memset(out, 0x5a, 16);
	for (i = 0; i < msg_len; i++)
		out[i % 16] ^= msg[i];
	for (i = 0; i < key_len; i++)
		out[i % 16] ^= key[i];
	return msg_len == 3 ? -1 : 0;
}

static const char *const domains[] = {"client.example", "[127.0.0.1]", "a..b", "[IPv6:::1]"};
static const char *const addrs[] = {"a@example.com",
				    "",
				    "\"q u\"@[10.0.0.1]",
				    "a@b\r\nRSET",
				    "\xc3\xa9@example.com",
				    "postmaster",
				    "x@y",
				    "bad"};
static const char *const bodies[] = {"line1\r\n.dot1\r\n.dot2\n.\nend", "", ".", "a\r\r\n.\r",
				     "\xff\x00\n."};
static const char *const raws[] = {
    "EHLO x.example", "DATA", ".", "AUTH LOGIN", "XFOO bar", "STARTTLS", "MAIL FROM:<a@b>", "QUIT"};

/* Issues one command; returns the result. */
static smtpc_err issue(struct run *r, unsigned char op)
{
	smtpc_conn *c = &r->c;
	unsigned v = op >> 5;
	smtpc_mail_opts mo;
	smtpc_rcpt_opts ro;

	memset(&mo, 0, sizeof mo);
	memset(&ro, 0, sizeof ro);
	switch ((op & 31u) % 20u) {
	case 0:
		return smtpc_ehlo(c, domains[v % 4]);
	case 1:
		return smtpc_helo(c, domains[v % 4]);
	case 2:
		mo.size = (v & 1) ? 1000 : 0;
		mo.body = (smtpc_body_type)(v % 4);
		mo.smtputf8 = (v & 2) != 0;
		mo.envid = (v & 4) ? "ENV+ID=1" : NULL;
		return smtpc_mail(c, addrs[v], &mo);
	case 3:
		ro.notify = v & 1 ? SMTPC_NOTIFY_FAILURE : 0;
		ro.orcpt = v & 2 ? "o@example.com" : NULL;
		return smtpc_rcpt(c, addrs[(v + 4) % 8], &ro);
	case 4:
		return smtpc_data(c);
	case 5: {
		const char *b = bodies[v % 5];
		size_t n = v % 5 == 4 ? 5 : strlen(b);
		if (smtpc_waiting_for(c) != SMTPC_WAIT_DATA_BLOCK)
			return smtpc_pending(c) ? SMTPC_ERR_PIPELINE : SMTPC_ERR_STATE;
		return smtpc_body_write(c, b, n) == n ? SMTPC_ERR_OK : SMTPC_ERR_NO_SPACE;
	}
	case 6:
		if (smtpc_waiting_for(c) != SMTPC_WAIT_DATA_BLOCK && smtpc_pending(c))
			return SMTPC_ERR_PIPELINE; /* wait for the 354 */
		return smtpc_body_end(c);
	case 7: {
		smtpc_err e = smtpc_bdat(c, v % 4, v >= 4);
		if (e == SMTPC_ERR_OK)
			smtpc_body_write(c, "abcd", v % 4);
		return e;
	}
	case 8:
		return smtpc_rset(c);
	case 9:
		return smtpc_noop(c);
	case 10:
		return smtpc_vrfy(c, v & 1 ? "postmaster" : "a\tb");
	case 11:
		return smtpc_quit(c);
	case 12:
		return smtpc_starttls(c);
	case 13:
		return smtpc_auth(c, SMTPC_MECH_PLAIN, "user", "pass");
	case 14:
		return smtpc_auth(c, SMTPC_MECH_LOGIN, "user", "pass");
	case 15:
		return smtpc_auth(c, SMTPC_MECH_CRAM_MD5, "user", "pass");
	case 16:
		return smtpc_auth(c, SMTPC_MECH_XOAUTH2, "user", "tok");
	case 17:
		return smtpc_raw(c, raws[v], strlen(raws[v]));
	case 18:
		smtpc_set_secure(c);
		return SMTPC_ERR_OK;
	default:
		return smtpc_lhlo(c, domains[v % 4]);
	}
}

static void send_all(struct run *r);

static void issue_some(struct run *r)
{
	while (r->pos < r->nops) {
		smtpc_err e = issue(r, r->ops[r->pos]);
		if (e == SMTPC_ERR_NO_SPACE) { /* send, then try once more */
			send_all(r);
			e = issue(r, r->ops[r->pos]);
		}
		smtpc_errclass k = smtpc_err_class(e);
		if (e == SMTPC_ERR_PIPELINE || k == SMTPC_CLASS_AGAIN)
			return; /* wait for a reply */
		r->pos++;
		if (k == SMTPC_CLASS_PROTOCOL || k == SMTPC_CLASS_TRANSPORT)
			return;
	}
}

static void send_all(struct run *r)
{
	size_t n;
	const unsigned char *p = smtpc_send_buf(&r->c, &n);

	if (n != 0) {
		log_add(r, "S", 1);
		log_add(r, p, n);
		smtpc_send_ack(&r->c, n);
	}
}

/* Pulls events until none; returns 1 when the session is over. */
static int pump(struct run *r)
{
	smtpc_event ev;

	for (;;) {
		unsigned want = smtpc_want(&r->c);
		smtpc_event_type t = smtpc_next_event(&r->c, &ev);
		unsigned char rec[8];

		if (t == SMTPC_EV_NEED_DATA) {
			if (want & SMTPC_WANT_EVENT)
				abort(); /* the mask promised an event */
			return 0;
		}
		rec[0] = (unsigned char)t;
		switch (t) {
		case SMTPC_EV_LINE:
			if (ev.line.text[ev.line.len] != '\0' || ev.line.len > r->c.cfg.max_line ||
			    ev.line.code < 200 || ev.line.code > 599 ||
			    memchr(ev.line.text, '\n', ev.line.len))
				abort();
			log_add(r, rec, 1);
			log_add(r, ev.line.text, ev.line.len);
			break;
		case SMTPC_EV_REPLY:
			if (ev.reply.text[ev.reply.len] != '\0' || ev.reply.nlines == 0 ||
			    (ev.reply.esc.cls && ev.reply.esc.cls != ev.reply.code / 100))
				abort();
			rec[1] = (unsigned char)ev.reply.cmd;
			rec[2] = (unsigned char)ev.reply.index;
			rec[3] = (unsigned char)(ev.reply.code & 0xff);
			log_add(r, rec, 4);
			/* a 220 to STARTTLS, typed or raw: from here arrival timing decides */
			if ((ev.reply.cmd == SMTPC_CMD_STARTTLS || ev.reply.cmd == SMTPC_CMD_RAW) &&
			    ev.reply.code == 220 && r->cut == 0)
				r->cut = r->log_len;
			send_all(r);
			issue_some(r);
			send_all(r);
			break;
		case SMTPC_EV_STARTTLS:
			log_add(r, rec, 1);
			if (smtpc_tls_started(&r->c) != SMTPC_ERR_OK)
				abort();
			issue_some(r);
			send_all(r);
			break;
		case SMTPC_EV_ERROR:
			rec[1] = (unsigned char)ev.err;
			if (smtpc_err_class(ev.err) != SMTPC_CLASS_PROTOCOL &&
			    smtpc_err_class(ev.err) != SMTPC_CLASS_TRANSPORT &&
			    smtpc_err_class(ev.err) != SMTPC_CLASS_MISUSE)
				abort();
			log_add(r, rec, 2);
			return 1;
		default:
			log_add(r, rec, 1);
			return 1;
		}
	}
}

static void run(struct run *r, const uint8_t *cfgb, const uint8_t *ops, size_t nops,
		const uint8_t *in, size_t len, int mode, uint8_t seed)
{
	smtpc_config cfg;
	size_t off = 0;
	int done = 0;

	smtpc_config_default(&cfg);
	cfg.early_replies = mode != 3;
	cfg.strict_crlf = cfgb[0] & 1;
	cfg.allow_plain_auth = (cfgb[0] & 2) != 0;
	if (cfgb[0] & 4) {
		cfg.max_line = 512;
		cfg.max_lines = 4;
		cfg.max_reply = 600;
		cfg.max_ext = 40;
		cfg.max_queue = 3;
	}
	memset(&r->c, 0, sizeof r->c);
	r->ops = ops;
	r->nops = nops;
	r->pos = 0;
	r->log_len = 0;
	r->cut = 0;
	if (smtpc_init(&r->c, &cfg, r->rx, sizeof r->rx, r->tx, sizeof r->tx) != SMTPC_ERR_OK)
		abort();
	smtpc_set_hmac_md5(&r->c, fake_hmac, NULL);
	while (off < len && !done) {
		size_t piece = len - off;
		if (mode == 1)
			piece = 1;
		else if (mode >= 2) {
			seed = (uint8_t)(seed * 33u + 7u);
			piece = 1 + seed % 23u;
			if (piece > len - off)
				piece = len - off;
		}
		while (piece > 0 && !done) {
			size_t n = smtpc_feed(&r->c, in + off, piece);
			off += n;
			piece -= n;
			done = pump(r);
		}
	}
	if (!done) {
		smtpc_eof(&r->c);
		pump(r);
	}
}

static struct run runs[4];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t k, cut, i;

	if (size < 3)
		return 0;
	k = data[2] % 32u;
	if (size < 3 + k)
		return 0;
	for (i = 0; i < 4; i++)
		run(&runs[i], data, data + 3, k, data + 3 + k, size - 3 - k, (int)i, data[1]);
	for (i = 1; i < 3; i++) {
		cut = runs[0].log_len;
		if (runs[0].cut || runs[i].cut) {
			if (runs[0].cut != runs[i].cut)
				abort();
			cut = runs[0].cut;
		} else if (runs[i].log_len != runs[0].log_len) {
			abort();
		}
		if (runs[i].log_len < cut || memcmp(runs[0].log, runs[i].log, cut) != 0)
			abort(); /* the split changed the outcome */
	}
	return 0;
}
