/*
 * input.c - the input area of the receive buffer.
 *
 * Layout: in[0, in_cap) with in_cap = max_line + 2 (a longest line and its
 * CRLF). Offsets: in_start <= in_scan <= in_end <= in_cap. [in_start,
 * in_end) holds received bytes not yet consumed; [in_start, in_scan) has
 * been searched for LF already, so every byte is scanned once whatever the
 * chunking (linear time). Compaction moves the unconsumed tail to offset 0
 * only when the caller asks for room; each byte moves at most once per line
 * consumed before it, so the cost stays linear.
 *
 * An input area full of bytes with no LF means a line over max_line: the
 * error is raised at once, never by splitting the line (a split would let a
 * peer inject a line: RFC 5321 4.5.3.1.5).
 *
 * Input is taken the same way by both roles. While the connection is paused
 * for TLS, any byte received, by smtpc_feed or smtpc_recv_ack, is plaintext
 * injection (RFC 3207 4.2, CVE-2011-0411). Once the session is over (sticky
 * error, end of input, session ended) input is dropped.
 */
#include "internal.h"

static void compact(smtpc_conn *c)
{
	size_t n;

	if (c->in_start == 0)
		return;
	n = c->in_end - c->in_start;
	if (n != 0)
		memmove(c->in, c->in + c->in_start, n);
	c->in_scan -= c->in_start;
	c->in_end = n;
	c->in_start = 0;
}

static int input_discarded(const smtpc_conn *c)
{
	return c->role == NULL || c->err != SMTPC_ERR_OK || (c->flags & (F_EOF | F_DONE));
}

/* Inside a hook: input calls are refused outright (the bytes are not taken). */
static int in_hook(const smtpc_conn *c)
{
	return (c->flags & F_HOOK) != 0;
}

unsigned char *smtpc_recv_buf(smtpc_conn *c, size_t *len)
{
	if (len == NULL)
		return NULL;
	*len = 0;
	if (c == NULL || input_discarded(c) || (c->flags & F_PAUSE) || in_hook(c))
		return NULL;
	compact(c);
	if (c->in_end == c->in_cap)
		return NULL;
	*len = c->in_cap - c->in_end;
	return c->in + c->in_end;
}

void smtpc_recv_ack(smtpc_conn *c, size_t n)
{
	if (c == NULL || in_hook(c) || input_discarded(c))
		return;
	if (c->flags & F_PAUSE) {
		if (n != 0)
			smtpc__set_error(c, SMTPC_ERR_STARTTLS_INJECTION);
		return;
	}
	if (n > c->in_cap - c->in_end)
		n = c->in_cap - c->in_end;
	c->in_end += n;
	c->rx_total += n;
}

size_t smtpc_feed(smtpc_conn *c, const void *data, size_t len)
{
	size_t room;

	if (c == NULL || (data == NULL && len != 0) || c->role == NULL || in_hook(c))
		return 0;
	if (input_discarded(c))
		return len;
	if (c->flags & F_PAUSE) {
		if (len != 0)
			smtpc__set_error(c, SMTPC_ERR_STARTTLS_INJECTION);
		return len;
	}
	compact(c);
	room = c->in_cap - c->in_end;
	if (len < room)
		room = len;
	if (room != 0)
		memcpy(c->in + c->in_end, data, room);
	c->in_end += room;
	c->rx_total += room;
	return room;
}

void smtpc_eof(smtpc_conn *c)
{
	if (c != NULL && c->role != NULL && !in_hook(c))
		c->flags |= F_EOF;
}

int smtpc__input_line(smtpc_conn *c, const unsigned char **line, size_t *len, int *bare_lf)
{
	const unsigned char *start = c->in + c->in_start;
	const unsigned char *lf = NULL;
	size_t n;

	if (c->in_end > c->in_scan)
		lf = memchr(c->in + c->in_scan, '\n', c->in_end - c->in_scan);
	if (lf == NULL) {
		size_t pending = c->in_end - c->in_start;
		c->in_scan = c->in_end;
		/* a line at the limit can still be followed by CR, then LF */
		if (pending > c->cfg.max_line + 1 ||
		    (pending == c->cfg.max_line + 1 && c->in[c->in_end - 1] != '\r'))
			smtpc__set_error(c, SMTPC_ERR_LINE_TOO_LONG);
		return 0;
	}
	n = (size_t)(lf - start);
	c->in_scan = (size_t)(lf - c->in) + 1;
	*bare_lf = 1;
	if (n > 0 && start[n - 1] == '\r') {
		n--;
		*bare_lf = 0;
	}
	if (n > c->cfg.max_line) {
		smtpc__set_error(c, SMTPC_ERR_LINE_TOO_LONG);
		return 0;
	}
	*line = start;
	*len = n;
	return 1;
}

int smtpc__input_has_line(const smtpc_conn *c)
{
	return c->in_end > c->in_scan && memchr(c->in + c->in_scan, '\n', c->in_end - c->in_scan);
}

void smtpc__input_consume(smtpc_conn *c)
{
	c->in_start = c->in_scan;
	if (c->in_start == c->in_end)
		c->in_start = c->in_end = c->in_scan = 0;
}
