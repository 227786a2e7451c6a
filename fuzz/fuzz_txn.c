/*
 * Server bytes into the transaction layer over a client core.
 *
 * Input: [config][extensions][split seed][message count][4 octets per
 * message][server bytes...]. The session starts greeted with the
 * extensions the second octet picks (PIPELINING, SIZE, CHUNKING, DSN, ...);
 * then up to three messages (sender, recipients, body, options and whether
 * the size is measured, from tables) go through the layer while the server
 * bytes come in. The same input runs three times with replies matched to
 * the head of the queue whatever their arrival (early_replies): fed whole,
 * one octet at a time, and in fuzzer-chosen pieces; the bytes sent and every
 * result must be identical. A fourth run with the default early-reply rule
 * only checks the invariants; in it, every other SEND is left pending while
 * the next server bytes come in (replies then arrive while a command or a
 * chunk is only partly out). A message may be measured from another body
 * than the one it sends (the layer must then never end its data).
 * Invariants: a message is never accepted
 * without a 2xx reply to its data and an accepted recipient; the counts
 * agree with the recipients; every message added is reported finished once;
 * the layer never waits with nothing to wait for.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpc_txn.h"

#define LOG_CAP 65536

struct run {
	smtpc_conn c;
	smtpc_txn t;
	unsigned char rx[16384], tx[4096], chunk[64];
	smtpc_txn_msg m[3];
	smtpc_txn_rcpt r[3][3];
	char text[3][300];
	size_t off[3], nmsgs, done;
	int mism[3]; /* measured from a body of another size or 8-bit content */
	size_t bpiece;
	int hold;      /* run 4: leave every other SEND pending */
	int finishing; /* the input is over: send everything */
	unsigned char log[LOG_CAP];
	size_t log_len;
	int over;
};

static const char *const senders[] = {"a@example.com", "", "j\xc3\xb6rg@example.com", "bad"};
static const char *const rcpts[] = {"b@example.com", "x@example.com", "postmaster",
				    "c@[192.0.2.1]", "no at",	      "\xc3\xa9@example.com",
				    "d@example.com", "e@example.com"};
#define B(s)                                                                                       \
	{                                                                                          \
		s, sizeof s - 1                                                                    \
	}
static const struct {
	const char *s;
	size_t n;
} bodies[] = {B("Subject: x\r\n\r\n.dot\r\nend\r\n"),
	      B(""),
	      B("."),
	      B("a\rb\nc\r\n.\r\n.."),
	      B("\xff\x00\n.x\r"),
	      B("0123456789abcdefghijklmnopqrstuvwxyz0123456789\n"
		"0123456789abcdefghijklmnopqrstuvwxyz0123456789\n")};

/* Nonzero when body b has an octet >= 0x80. */
static int high(size_t b)
{
	size_t i;

	for (i = 0; i < bodies[b].n; i++) {
		if ((unsigned char)bodies[b].s[i] >= 0x80)
			return 1;
	}
	return 0;
}

static void log_add(struct run *r, const void *p, size_t n)
{
	if (n > LOG_CAP - r->log_len)
		n = LOG_CAP - r->log_len;
	memcpy(r->log + r->log_len, p, n);
	r->log_len += n;
}

static void take(struct run *r)
{
	size_t n;
	const unsigned char *p = smtpc_send_buf(&r->c, &n);

	if (n != 0) {
		log_add(r, p, n);
		smtpc_send_ack(&r->c, n);
	}
}

static void check_done(struct run *r, const smtpc_txn_msg *m)
{
	size_t i, acc = 0, ref = 0;
	unsigned char rec[8];

	if (m->status == SMTPC_TXN_PENDING || m < r->m || m >= r->m + r->nmsgs)
		abort();
	for (i = 0; i < m->nrcpts; i++) {
		const smtpc_txn_rcpt *rc = &m->rcpts[i];
		if (rc->status == SMTPC_TXN_PENDING || rc->rcpt.text == NULL ||
		    rc->data.text == NULL || strlen(rc->rcpt.text) != rc->rcpt.len)
			abort();
		if (rc->status == SMTPC_TXN_ACCEPTED) {
			if (rc->rcpt.code / 100 != 2 || rc->data.code / 100 != 2)
				abort(); /* delivered without a 2xx to RCPT and to the data */
			acc++;
		}
		ref += rc->status == SMTPC_TXN_REFUSED;
	}
	if (acc != m->accepted || (m->status != SMTPC_TXN_FAILED && ref != m->refused))
		abort();
	if ((m->status == SMTPC_TXN_ACCEPTED || m->status == SMTPC_TXN_PARTIAL) &&
	    (acc == 0 || m->reply.code / 100 != 2))
		abort(); /* success needs an accepted recipient and a 2xx */
	if (m->status == SMTPC_TXN_ACCEPTED && ref != 0)
		abort();
	if (r->mism[m - r->m] &&
	    (m->status == SMTPC_TXN_ACCEPTED || m->status == SMTPC_TXN_PARTIAL))
		abort(); /* data ended although its octets were not the measured ones */
	rec[0] = 'D';
	rec[1] = (unsigned char)(m - r->m);
	rec[2] = (unsigned char)m->status;
	rec[3] = (unsigned char)m->stage;
	rec[4] = (unsigned char)m->err;
	rec[5] = (unsigned char)(m->reply.code & 0xff);
	rec[6] = (unsigned char)m->accepted;
	rec[7] = (unsigned char)m->refused;
	log_add(r, rec, sizeof rec);
	r->done++;
}

/* The layer's events until it waits for the server. */
static void drive(struct run *r)
{
	int rounds;

	for (rounds = 0; rounds < 100000; rounds++) {
		smtpc_txn_msg *m;
		smtpc_txn_event ev = smtpc_txn_next(&r->t, &m);
		size_t i, len, n;

		switch (ev) {
		case SMTPC_TXN_BODY:
			i = (size_t)(m - r->m);
			len = bodies[(uintptr_t)m->user % 6].n - r->off[i];
			if (len == 0) {
				smtpc_err e = smtpc_txn_end(&r->t);
				if (e != SMTPC_ERR_OK && (e != SMTPC_ERR_BAD_PARAM || !r->mism[i]))
					abort(); /* refused, yet the octets were the measured ones
						  */
				break;
			}
			if (len > r->bpiece)
				len = r->bpiece;
			n = smtpc_txn_write(&r->t, bodies[(uintptr_t)m->user % 6].s + r->off[i],
					    len);
			r->off[i] += n;
			break;
		case SMTPC_TXN_START:
			log_add(r, "S", 1);
			break;
		case SMTPC_TXN_DONE:
			check_done(r, m);
			break;
		case SMTPC_TXN_SEND:
			if (smtpc_send_buf(&r->c, &n) == NULL)
				abort(); /* nothing to send: would spin */
			if (r->hold == 1 && !r->finishing) {
				r->hold = 2; /* the server's next bytes first */
				return;
			}
			if (r->hold == 2)
				r->hold = 1;
			take(r);
			break;
		case SMTPC_TXN_READ:
			if (smtpc_pending(&r->c) == 0)
				abort(); /* waits for a reply that cannot come */
			take(r);
			return;
		default: /* IDLE, CLOSED */
			take(r);
			if (r->done != r->nmsgs)
				abort(); /* every message reported once */
			r->over = 1;
			return;
		}
	}
	abort(); /* no progress */
}

/* Pulls the core's events one at a time; the layer acts after each reply. */
static void pump(struct run *r)
{
	smtpc_event ev;

	for (;;) {
		smtpc_event_type k = smtpc_next_event(&r->c, &ev);
		if (k == SMTPC_EV_NEED_DATA)
			return;
		if (k == SMTPC_EV_REPLY) {
			smtpc_txn_on_reply(&r->t, &ev.reply);
			drive(r);
		} else if (k == SMTPC_EV_ERROR || k == SMTPC_EV_CLOSED) {
			drive(r);
			return;
		}
	}
}

static const char *const ehlo_lines[] = {"PIPELINING", "SIZE 200", "CHUNKING",	 "DSN",
					 "8BITMIME",   "SMTPUTF8", "BINARYMIME", "REQUIRETLS"};

static void run(struct run *r, const uint8_t *hd, const uint8_t *in, size_t len, int mode)
{
	smtpc_config cfg;
	smtpc_txn_config tc;
	char ehlo[256];
	size_t off = 0, i, k, n;
	uint8_t seed = hd[2];
	const char *greet = "220 mx.example ESMTP\r\n";

	memset(r, 0, offsetof(struct run, log));
	r->log_len = 0;
	smtpc_config_default(&cfg);
	cfg.early_replies = mode != 3;
	if (hd[0] & 1)
		cfg.max_queue = 3;
	if (smtpc_init(&r->c, &cfg, r->rx, sizeof r->rx, r->tx, (hd[0] & 2) ? 512 : sizeof r->tx) !=
	    SMTPC_ERR_OK)
		abort();
	if (hd[0] & 4)
		smtpc_set_secure(&r->c);
	smtpc_feed(&r->c, greet, strlen(greet));
	pump(r);
	smtpc_ehlo(&r->c, "client.example");
	take(r);
	n = 0;
	memcpy(ehlo, "250-mx.example\r\n", 16);
	n = 16;
	for (i = 0; i < 8; i++) {
		if (hd[1] & (1u << i)) {
			size_t l = strlen(ehlo_lines[i]);
			memcpy(ehlo + n, "250-", 4);
			memcpy(ehlo + n + 4, ehlo_lines[i], l);
			memcpy(ehlo + n + 4 + l, "\r\n", 2);
			n += l + 6;
		}
	}
	memcpy(ehlo + n, "250 HELP\r\n", 10);
	n += 10;
	smtpc_feed(&r->c, ehlo, n);
	pump(r);
	if (!smtpc_is_greeted(&r->c))
		abort();
	memset(&tc, 0, sizeof tc);
	tc.no_pipelining = (hd[0] & 8) != 0;
	tc.no_chunking = (hd[0] & 16) != 0;
	tc.lmtp = (hd[0] & 32) != 0;
	smtpc_txn_init(&r->t, &r->c, &tc, (hd[0] & 64) ? NULL : r->chunk,
		       (hd[0] & 128) ? 7 : sizeof r->chunk);
	r->bpiece = 1 + hd[2] % 40u;
	r->hold = mode == 3;
	r->nmsgs = hd[3] % 4u;
	for (i = 0; i < r->nmsgs; i++) {
		const uint8_t *d = hd + 4 + 4 * i;
		smtpc_txn_msg *m = &r->m[i];
		m->from = senders[d[0] % 4];
		m->rcpts = r->r[i];
		m->nrcpts = 1 + (d[0] >> 2) % 3u;
		for (k = 0; k < m->nrcpts; k++) {
			r->r[i][k].addr = rcpts[(d[1] >> (k * 3)) % 8];
			r->r[i][k].opts.notify = (d[3] & 16) ? SMTPC_NOTIFY_FAILURE : 0;
		}
		m->user = (void *)(uintptr_t)(d[2] % 6);
		m->opts.smtputf8 = (d[3] & 1) != 0;
		m->opts.requiretls = (d[3] & 2) != 0;
		m->opts.ret = (d[3] & 4) ? SMTPC_RET_HDRS : SMTPC_RET_NONE;
		m->opts.body = (d[3] & 8) ? SMTPC_BODY_BINARYMIME : SMTPC_BODY_NONE;
		m->text = r->text[i];
		m->text_size = (d[3] & 32) ? 16 : sizeof r->text[i];
		if (!(d[3] & 64)) {
			smtpc_txn_measure ms;
			size_t b = (d[2] + ((d[3] & 128) ? 1u : 0u)) % 6; /* another body */
			smtpc_txn_measure_init(&ms);
			smtpc_txn_measure_add(&ms, bodies[b].s, bodies[b].n);
			smtpc_txn_measure_end(&ms, &m->size);
			r->mism[i] =
			    bodies[b].n != bodies[d[2] % 6].n ||
			    (high(d[2] % 6) && !high(b) && m->opts.body != SMTPC_BODY_BINARYMIME);
		}
		if (smtpc_txn_add(&r->t, m) != SMTPC_ERR_OK)
			abort();
	}
	log_add(r, "|", 1);
	drive(r);
	while (off < len) {
		size_t piece = len - off;
		if (mode == 1)
			piece = 1;
		else if (mode >= 2) {
			seed = (uint8_t)(seed * 33u + 7u);
			piece = 1 + seed % 23u;
			if (piece > len - off)
				piece = len - off;
		}
		while (piece > 0) {
			size_t got = smtpc_feed(&r->c, in + off, piece);
			off += got;
			piece -= got;
			pump(r);
			if (got == 0 && !(smtpc_want(&r->c) & SMTPC_WANT_EVENT))
				abort(); /* the core took nothing and has nothing to say */
		}
	}
	r->finishing = 1;
	smtpc_eof(&r->c);
	pump(r);
	drive(r);
	if (!r->over || r->done != r->nmsgs)
		abort(); /* the end of input finishes every message */
}

static struct run runs[4];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t i;

	if (size < 16)
		return 0;
	for (i = 0; i < 4; i++)
		run(&runs[i], data, data + 16, size - 16, (int)i);
	for (i = 1; i < 3; i++) {
		if (runs[i].log_len != runs[0].log_len ||
		    memcmp(runs[0].log, runs[i].log, runs[0].log_len) != 0)
			abort(); /* the split changed what was sent or decided */
	}
	return 0;
}
