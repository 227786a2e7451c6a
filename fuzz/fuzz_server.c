/*
 * Client bytes into the server role.
 *
 * Input: [config][split seed][client bytes...]. An application that accepts
 * everything answers each event (config bit 16: over LMTP, one reply per
 * accepted recipient at the end of the data). The same input is run fed whole, one byte
 * at a time and in fuzzer-chosen pieces: the events (with the message
 * octets joined, since BDAT slices follow the reads) and the stream of
 * replies must be identical. With STARTTLS allowed, where the timing of
 * bytes after the 220 decides between a TLS pause and plaintext injection,
 * only the invariants are checked, which every event goes through.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpc.h"

#define LOG_CAP 65536

struct run {
	smtpc_conn c;
	unsigned char rx[16384], tx[8192];
	unsigned char log[LOG_CAP], out[LOG_CAP]; /* events; replies */
	size_t log_len, out_len;
};

static void log_add(struct run *r, const void *p, size_t n)
{
	if (n > LOG_CAP - r->log_len)
		n = LOG_CAP - r->log_len;
	memcpy(r->log + r->log_len, p, n);
	r->log_len += n;
}

static int check_pw(void *ctx, const char *u, size_t ul, const char *p, size_t pl)
{
	(void)ctx;
	return ul == 1 && u[0] == 'u' && pl == 1 && p[0] == 'p';
}

static void drain_tx(struct run *r)
{
	size_t n;
	const unsigned char *p = smtpc_send_buf(&r->c, &n);

	if (n) {
		size_t k = n > LOG_CAP - r->out_len ? LOG_CAP - r->out_len : n;
		memcpy(r->out + r->out_len, p, k);
		r->out_len += k;
		smtpc_send_ack(&r->c, n);
	}
}

static const smtpc_caps caps = {0x1ff, 3, 5000, 0};

/* Returns 1 when the session is over. */
static int pump(struct run *r)
{
	smtpc_event ev;

	for (;;) {
		smtpc_event_type t = smtpc_next_event(&r->c, &ev);
		unsigned char rec[2] = {(unsigned char)t, 0};
		switch (t) {
		case SMTPC_EV_NEED_DATA:
			if (smtpc_waiting_for(&r->c) == SMTPC_WAIT_APPLICATION)
				abort(); /* every event is answered at once here */
			drain_tx(r);	 /* it may have stopped for room to answer */
			if (smtpc_want(&r->c) & SMTPC_WANT_EVENT)
				continue;
			return 0;
		case SMTPC_EV_COMMAND:
			if (ev.command.arg_len > 2048 || ev.command.params_len > 2048)
				abort();
			rec[1] = (unsigned char)ev.command.cmd;
			log_add(r, rec, 2);
			log_add(r, ev.command.arg, ev.command.arg_len);
			if (ev.command.cmd == SMTPC_CMD_EHLO || ev.command.cmd == SMTPC_CMD_LHLO) {
				if (smtpc_server_reply_ehlo(&r->c, "fuzz.example", &caps) !=
				    SMTPC_ERR_OK)
					abort();
			} else if (smtpc_server_reply(&r->c,
						      ev.command.cmd == SMTPC_CMD_DATA ? 354 : 250,
						      "ok") != SMTPC_ERR_OK) {
				abort();
			}
			break;
		case SMTPC_EV_BODY:
			if (ev.body.len == 0 || ev.body.len > 16384)
				abort();
			log_add(r, ev.body.data, ev.body.len); /* joined: no record per slice */
			break;
		case SMTPC_EV_BODY_END:
		case SMTPC_EV_CHUNK_END:
			rec[1] = (unsigned char)(ev.body_end.ok ? 0xff : ev.body_end.why);
			log_add(r, rec, 2);
			if (ev.body_end.ok != (ev.body_end.replies != 0) ||
			    smtpc_pending(&r->c) != ev.body_end.replies)
				abort(); /* a good end is owed its replies, a refused one none */
			while (smtpc_pending(&r->c) > 0) { /* LMTP: one per recipient */
				unsigned rcpt;
				if ((smtpc_server_reply_rcpt(&r->c, &rcpt) &&
				     rcpt >= SMTPC_LMTP_RCPT_CAP) ||
				    smtpc_server_reply(&r->c, 250, "queued") != SMTPC_ERR_OK)
					abort();
			}
			if (smtpc_server_reply(&r->c, 250, "extra") != SMTPC_ERR_STATE)
				abort(); /* nothing more is owed */
			break;
		case SMTPC_EV_STARTTLS:
			drain_tx(r);
			log_add(r, rec, 1);
			if (smtpc_tls_started(&r->c) != SMTPC_ERR_OK)
				abort();
			break;
		default:
			drain_tx(r);
			rec[1] = (unsigned char)ev.err;
			log_add(r, rec, 2);
			return 1;
		}
	}
}

static void run(struct run *r, uint8_t cfgb, const uint8_t *in, size_t len, int mode, uint8_t seed)
{
	smtpc_config cfg;
	size_t off = 0;
	int done = 0;

	smtpc_config_default(&cfg);
	cfg.allow_plain_auth = cfgb & 1;
	cfg.max_message = (cfgb & 2) ? 200 : 0;
	cfg.lmtp = (cfgb & 16) != 0;
	if (cfgb & 4) {
		cfg.max_line = 1000;
		cfg.max_text_line = 100;
	}
	memset(&r->c, 0, sizeof r->c);
	r->log_len = r->out_len = 0;
	if (smtpc_server_init(&r->c, &cfg, r->rx, sizeof r->rx, r->tx, sizeof r->tx) !=
	    SMTPC_ERR_OK)
		abort();
	smtpc_server_set_auth(&r->c, check_pw, NULL);
	smtpc_server_allow_starttls(&r->c, cfgb & 8);
	if (smtpc_server_greet(&r->c, 220, "fuzz") != SMTPC_ERR_OK)
		abort();
	while (off < len && !done) {
		size_t piece = len - off;
		if (mode == 1)
			piece = 1;
		else if (mode == 2) {
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
			if (n == 0 && !done && !(smtpc_want(&r->c) & SMTPC_WANT_EVENT))
				abort(); /* stuck: feed refused and nothing to pull */
		}
	}
	if (!done) {
		smtpc_eof(&r->c);
		pump(r);
	}
}

static struct run runs[3];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t i;

	if (size < 2)
		return 0;
	for (i = 0; i < 3; i++)
		run(&runs[i], data[0], data + 2, size - 2, (int)i, data[1]);
	if (data[0] & 8)
		return 0; /* STARTTLS: see above */
	for (i = 1; i < 3; i++) {
		if (runs[i].log_len != runs[0].log_len || runs[i].out_len != runs[0].out_len ||
		    memcmp(runs[0].log, runs[i].log, runs[0].log_len) != 0 ||
		    memcmp(runs[0].out, runs[i].out, runs[0].out_len) != 0)
			abort(); /* the split changed the outcome */
	}
	return 0;
}
