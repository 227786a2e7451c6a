/*
 * A client core and a server core wired together in memory.
 *
 * Input: [flags][body...]. The client sends one message (DATA or BDAT,
 * pipelined or not, SMTP or LMTP, per flags) to a server that accepts everything; what
 * the server delivers must be the body with its line ends normalised (for
 * DATA) or exactly the body (BDAT), and the client must see it accepted;
 * unless, for DATA, a line is over RFC 5321's 1000 octets (with its CRLF, a
 * doubled leading dot not counted): the encoder does not fold lines, and the
 * server must then refuse the message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpc.h"

static smtpc_conn cl, sv;
static unsigned char crx[16384], ctx_[65536], srx[16384], stx[8192];
static unsigned char got[1 << 17], want[1 << 17];
static size_t got_len;
static int accepted, finished, refused;

static const smtpc_caps caps = {SMTPC_EXT_PIPELINING | SMTPC_EXT_CHUNKING | SMTPC_EXT_8BITMIME, 0,
				0, 0};

static void server_pump(void)
{
	smtpc_event ev;

	for (;;) {
		switch (smtpc_next_event(&sv, &ev)) {
		case SMTPC_EV_NEED_DATA:
			return;
		case SMTPC_EV_COMMAND:
			if (ev.command.cmd == SMTPC_CMD_EHLO || ev.command.cmd == SMTPC_CMD_LHLO)
				smtpc_server_reply_ehlo(&sv, "pair", &caps);
			else
				smtpc_server_reply(
				    &sv, ev.command.cmd == SMTPC_CMD_DATA ? 354 : 250, "ok");
			break;
		case SMTPC_EV_BODY:
			if (got_len + ev.body.len > sizeof got)
				abort();
			memcpy(got + got_len, ev.body.data, ev.body.len);
			got_len += ev.body.len;
			break;
		case SMTPC_EV_BODY_END:
			if (!ev.body_end.ok) {
				if (ev.body_end.why != SMTPC_ERR_DATA_LINE_LONG)
					abort(); /* the client's encoding is otherwise always valid
						  */
				refused = 1;
				break;
			}
			if (smtpc_pending(&sv) != 1 || ev.body_end.replies != 1)
				abort(); /* one recipient: one reply, over LMTP too */
			smtpc_server_reply(&sv, 250, "queued");
			break;
		default:
			abort();
		}
	}
}

static void client_pump(void)
{
	smtpc_event ev;

	for (;;) {
		smtpc_event_type t = smtpc_next_event(&cl, &ev);
		if (t == SMTPC_EV_NEED_DATA)
			return;
		if (t == SMTPC_EV_ERROR)
			abort();
		if (t == SMTPC_EV_REPLY &&
		    (ev.reply.cmd == SMTPC_CMD_DATA_END || ev.reply.cmd == SMTPC_CMD_BDAT) &&
		    ev.reply.code != 354) {
			accepted = ev.reply.code == 250;
			finished = 1;
		}
	}
}

static void shuttle(void)
{
	for (int i = 0; i < 100000; i++) {
		size_t n, k, moved = 0;
		const unsigned char *p = smtpc_send_buf(&cl, &n);
		if (n) {
			k = smtpc_feed(&sv, p, n);
			smtpc_send_ack(&cl, k);
			moved += k;
		}
		server_pump();
		p = smtpc_send_buf(&sv, &n);
		if (n) {
			k = smtpc_feed(&cl, p, n);
			smtpc_send_ack(&sv, k);
			moved += k;
		}
		client_pump();
		if (!moved)
			return;
	}
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *body = data + 1;
	size_t n, done = 0, w = 0, i, line = 0, longest = 0;
	int bdat, pipelined, lmtp;
	smtpc_config scfg;

	if (size < 1 || size - 1 > 30000)
		return 0;
	n = size - 1;
	bdat = data[0] & 1;
	pipelined = (data[0] & 2) != 0;
	lmtp = (data[0] & 4) != 0;
	smtpc_config_default(&scfg);
	scfg.lmtp = lmtp;
	got_len = 0;
	accepted = finished = refused = 0;
	if (smtpc_init(&cl, NULL, crx, sizeof crx, ctx_, sizeof ctx_) != SMTPC_ERR_OK ||
	    smtpc_server_init(&sv, &scfg, srx, sizeof srx, stx, sizeof stx) != SMTPC_ERR_OK)
		abort();
	smtpc_server_greet(&sv, 220, "pair");
	shuttle();
	if ((lmtp ? smtpc_lhlo(&cl, "client.example") : smtpc_ehlo(&cl, "client.example")) !=
	    SMTPC_ERR_OK)
		abort();
	shuttle();
	if (!pipelined)
		cl.u.cl.caps.ext &= ~SMTPC_EXT_PIPELINING;
	if (smtpc_mail(&cl, "a@example.com", NULL) != SMTPC_ERR_OK)
		abort();
	if (!pipelined)
		shuttle();
	if (smtpc_rcpt(&cl, "b@example.com", NULL) != SMTPC_ERR_OK)
		abort();
	if (!pipelined)
		shuttle();
	if (bdat) {
		if (smtpc_bdat(&cl, n, 1) != SMTPC_ERR_OK)
			abort();
		while (done < n) {
			done += smtpc_body_write(&cl, body + done, n - done);
			shuttle();
		}
		memcpy(want, body, n);
		w = n;
	} else {
		if (smtpc_data(&cl) != SMTPC_ERR_OK)
			abort();
		shuttle();
		while (done < n) {
			size_t k = smtpc_body_write(&cl, body + done, n - done);
			done += k;
			shuttle();
		}
		while (smtpc_body_end(&cl) == SMTPC_ERR_NO_SPACE)
			shuttle();
		for (i = 0; i < n; i++) { /* what the server should get */
			if (body[i] == '\r' || body[i] == '\n') {
				want[w++] = '\r';
				want[w++] = '\n';
				if (body[i] == '\r' && i + 1 < n && body[i + 1] == '\n')
					i++;
				line = 0;
			} else {
				want[w++] = body[i];
				line++; /* a doubled dot does not count (RFC 5321 4.5.3.1.6) */
				if (line > longest)
					longest = line;
			}
		}
		if (n && body[n - 1] != '\r' && body[n - 1] != '\n') {
			want[w++] = '\r';
			want[w++] = '\n';
		}
	}
	shuttle();
	if (!bdat && longest + 2 > 1000) { /* RFC 5321 4.5.3.1.6 */
		if (!refused || accepted)
			abort();
		return 0;
	}
	if (!finished || !accepted || refused || got_len != w || memcmp(got, want, w) != 0)
		abort();
	return 0;
}
