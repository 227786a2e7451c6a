/*
 * link.c - an smtpc connection over a byte pipe (see link.h).
 *
 * Timeouts (RFC 5321 4.5.3.2). The core has no clock: smtpc_waiting_for
 * names what it waits for (greeting, MAIL, RCPT, DATA start, data block,
 * end of data, other). A wait starts when that answer or the count of
 * replies outstanding changes, so each reply of a pipelined group gets
 * its own full timeout. While message data goes out (data block) and while
 * nothing is outstanding (idle), any octet moved starts the wait again.
 * A wait that lasts its timeout ends the session: smtpc_fail records
 * SMTPC_ERR_TIMEOUT, the application sees SMTPC_EV_ERROR, and the link
 * closes its side, so a reply arriving late can never answer a later
 * command.
 */
#include <string.h>

#include "link.h"

void link_init(link *l, smtpc_conn *c, link_pipe *out, link_pipe *in, const link_timeouts timeout,
	       uint32_t now)
{
	memset(l, 0, sizeof *l);
	l->c = c;
	l->out = out;
	l->in = in;
	l->timeout = timeout;
	l->since = now;
	l->wait = smtpc_waiting_for(c);
	l->pending = smtpc_pending(c);
}

void link_close(link *l)
{
	l->out->closed = 1;
}

int link_io(link *l, uint32_t now)
{
	const unsigned char *src;
	unsigned char *dst;
	size_t n, k;
	int moved = 0;
	smtpc_wait w;

	/* out: one segment of what the core has to send */
	src = smtpc_send_buf(l->c, &n);
	if (src != NULL && l->out->len == 0 && !l->out->closed) {
		k = n < PIPE_MTU ? n : PIPE_MTU;
		memcpy(l->out->seg, src, k);
		l->out->len = (unsigned char)k;
		l->out->off = 0;
		l->out->octets += (uint32_t)k;
		smtpc_send_ack(l->c, k);
		moved = 1;
	}
	/* paused for STARTTLS, the 220 sent: a port with TLS starts its
	 * handshake here, before any more input */
	if ((smtpc_want(l->c) & SMTPC_WANT_TLS) && smtpc_send_buf(l->c, &n) == NULL) {
		smtpc_fail(l->c, SMTPC_ERR_TLS);
		moved = 1;
	}
	/* in: straight into the core's receive buffer */
	if (l->in->off < l->in->len) {
		dst = smtpc_recv_buf(l->c, &n);
		if (dst != NULL && n > 0) {
			k = (size_t)(l->in->len - l->in->off);
			k = k < n ? k : n;
			memcpy(dst, l->in->seg + l->in->off, k);
			smtpc_recv_ack(l->c, k);
			l->in->off = (unsigned char)(l->in->off + k);
			if (l->in->off == l->in->len)
				l->in->off = l->in->len = 0;
			moved = 1;
		}
	} else if (l->in->closed && !l->eof) {
		smtpc_eof(l->c);
		l->eof = 1;
		moved = 1;
	}
	/* finished (closed, failed) and nothing left to send: close our side */
	if (!l->out->closed && (smtpc_want(l->c) & SMTPC_WANT_CLOSED) &&
	    smtpc_send_buf(l->c, &n) == NULL) {
		l->out->closed = 1;
		moved = 1;
	}
	/* timeouts */
	w = smtpc_waiting_for(l->c);
	if (w != l->wait || smtpc_pending(l->c) != l->pending ||
	    (moved &&
	     (w == SMTPC_WAIT_NONE || w == SMTPC_WAIT_COMMAND || w == SMTPC_WAIT_DATA_BLOCK))) {
		l->wait = w;
		l->pending = smtpc_pending(l->c);
		l->since = now;
	} else if (l->timeout[w] != 0 && now - l->since >= l->timeout[w] &&
		   smtpc_error(l->c) == SMTPC_ERR_OK && !l->out->closed) {
		l->fired = w;
		l->fired_after = now - l->since;
		smtpc_fail(l->c, SMTPC_ERR_TIMEOUT);
		moved = 1;
	}
	return moved;
}
