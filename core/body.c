/*
 * body.c - message data: the DATA encoder and BDAT chunks.
 *
 * DATA (RFC 5321 4.5.2 and 2.3.8). The encoder is a byte transform with
 * three bits of state:
 *   bol  the next byte starts a line (true at the start of the body);
 *   cr   the last byte consumed was a CR (already written as CRLF), so an
 *        LF that follows belongs to it and is dropped.
 *   pend output produced but not yet written for want of room (at most the
 *        five octets of the terminator), flushed first on the next call.
 * Rules: CR LF, bare CR and bare LF each become CRLF; a '.' at the start of a
 * line becomes ".."; every other byte is copied. No input can therefore put
 * "CRLF.CRLF" on the wire before smtpc_dot_finish, which writes it exactly
 * once: "CRLF.CRLF" if the body did not end with a line break, ".CRLF" if it
 * did (that CRLF then serves as the terminator's first).
 *
 * Text and whole CRLF line ends go out in blocks (clean_prefix: memchr to
 * find line ends, one memcpy per block); only a line that starts with a dot
 * and a bare CR or LF take the octet-by-octet path.
 *
 * With no_dots set (text sent by BDAT) only the line ends are normalised
 * and finish adds a final CRLF when the text does not end with one.
 *
 * BDAT (RFC 3030 2): "BDAT size [LAST]" then exactly size octets, sent as
 * they are.
 *
 * smtpc_body_write_to is the same transform with the caller's destination
 * (a TLS layer's record buffer: one copy in all). It runs only while the
 * transmit buffer is empty, so octets already framed there always go out
 * first; octets the encoder holds back for want of room go out at the start
 * of the next write, whichever destination it has.
 */
#include "internal.h"

void smtpc_dot_init(smtpc_dotenc *e)
{
	if (e == NULL)
		return;
	memset(e, 0, sizeof *e);
	e->bol = 1;
}

/* Writes what fits of s; keeps the rest in pend (only called with pend
 * empty, n <= sizeof pend). */
static void out(smtpc_dotenc *e, const char *s, size_t n)
{
	size_t k = n, i;

	e->total_out += n;
	if (e->next_out == NULL)
		return;
	if (e->avail_out >= n) { /* the usual case: no call, no hold-back */
		for (i = 0; i < n; i++)
			e->next_out[i] = (unsigned char)s[i];
		e->next_out += n;
		e->avail_out -= n;
		return;
	}
	if (k > e->avail_out)
		k = e->avail_out;
	memcpy(e->next_out, s, k);
	e->next_out += k;
	e->avail_out -= k;
	memcpy(e->pend, s + k, n - k);
	e->npend = (unsigned char)(n - k);
}

static int flush(smtpc_dotenc *e)
{
	size_t k = e->npend;

	if (k == 0)
		return 1;
	if (k > e->avail_out)
		k = e->avail_out;
	memcpy(e->next_out, e->pend, k);
	e->next_out += k;
	e->avail_out -= k;
	e->npend = (unsigned char)(e->npend - k);
	memmove(e->pend, e->pend + k, e->npend);
	return e->npend == 0;
}

/*
 * The longest prefix of in[0, n) that goes out unchanged: text, and whole
 * CRLF line ends, as long as the next line does not start with a dot. It
 * stops at a CR or LF that is not part of a CRLF, and right after a CRLF
 * whose next octet is a dot or not yet known; *bol tells whether it ended
 * right after a CRLF, and *high is set when an octet >= 0x80 went by.
 *
 * It reads a word (eight octets, four on a 32-bit target) at a time: the
 * has-less-than test ((v - 0x0e0e..) & ~v & 0x8080..) is nonzero exactly when
 * the word holds an octet below 0x0e (CR and LF among them, and a few other
 * control octets, which are then passed over), and its lowest flag marks the
 * first such octet exactly.
 * The caller then moves the whole prefix with one memcpy, so typical text
 * takes no per-octet step and no call per line.
 */
/* The little-endian word path (count trailing zeros) unless the portable,
 * byte-order-independent one is asked for with -DSMTPC_PORTABLE_WORDS (make
 * check builds and tests both; -DSMTPC_SWAP_WORDS also byte-swaps each word
 * loaded, so a little-endian host runs the portable path as a big-endian
 * one would). */
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ &&   \
    !defined(SMTPC_PORTABLE_WORDS) && !defined(SMTPC_SWAP_WORDS)
#define FAST_WORDS 1
#else
#define FAST_WORDS 0
#endif

/* A machine word: 64 bits on 64-bit hosts, 32 on 32-bit ones (a Cortex-M0
 * has no 64-bit operations: they would be library calls). */
#if SIZE_MAX > 0xffffffffu
typedef uint64_t word;
#define WORD_ONES ((word)0x0101010101010101u)
#define CTZ(m)	  __builtin_ctzll(m)
#else
typedef uint32_t word;
#define WORD_ONES ((word)0x01010101u)
#define CTZ(m)	  __builtin_ctz(m)
#endif

#ifdef SMTPC_SWAP_WORDS
static word swap_word(word v)
{
	word r = 0;
	size_t i;

	for (i = 0; i < sizeof v; i++, v >>= 8)
		r = r << 8 | (v & 0xffu);
	return r;
}
#endif

static size_t clean_prefix(const unsigned char *in, size_t n, unsigned char *bol, int *high)
{
	const word highs = WORD_ONES * 0x80u;
	const word below = WORD_ONES * 0x0eu; /* CR and LF are the octets below 0x0e that matter */
	word acc = 0;
	size_t i = 0, k;

	*bol = 0;
	for (;;) {
		while (n - i >= sizeof(word)) {
			word v, m;
			memcpy(&v, in + i, sizeof v);
#ifdef SMTPC_SWAP_WORDS
			v = swap_word(v); /* tests: the other byte order on this host */
#endif
			m = (v - below) & ~v & highs;
			if (m != 0) { /* the first octet below 0x0e is in this word */
#if FAST_WORDS
				k = (size_t)CTZ(m) >> 3; /* the lowest flag is exact */
				if (k != 0)
					acc |= v & (~(word)0 >> (8 * (sizeof v - k)));
#else
				/* any byte order: find it and take the octets before it one
				 * by one (the word's bit order is the host's) */
				for (k = 0; in[i + k] >= 0x0e; k++)
					acc |= in[i + k];
#endif
				i += k;
				break;
			}
			acc |= v;
			i += sizeof v;
		}
		while (i < n && in[i] >= 0x0e)
			acc |= in[i++];
		if (i == n)
			break;
		if (in[i] != '\r' && in[i] != '\n') {
			i++; /* another control octet: text like any other */
			continue;
		}
		if (in[i] == '\n' || i + 1 == n || in[i + 1] != '\n')
			break; /* a bare LF, or a CR not (yet) followed by LF */
		i += 2;	       /* a CRLF */
		if (i == n || in[i] == '.') {
			*bol = 1;
			break;
		}
	}
	if (acc & highs)
		*high = 1;
	return i;
}

static void consume(smtpc_dotenc *e, size_t n)
{
	e->next_in += n;
	e->avail_in -= n;
	e->total_in += n;
}

int smtpc_dot_encode(smtpc_dotenc *e)
{
	if (e == NULL)
		return 0;
	if (!flush(e))
		return 0;
	if (e->finished)
		return 1;
	while (e->avail_in != 0) {
		unsigned char b = *e->next_in;
		size_t n;

		if (e->npend != 0 || (e->next_out != NULL && e->avail_out == 0))
			return 0;
		if (e->cr) {
			e->cr = 0;
			if (b == '\n') {
				consume(e, 1);
				continue;
			}
		}
		if (b == '\r' && e->avail_in >= 2 && e->next_in[1] == '\n') { /* CRLF: the usual */
			out(e, "\r\n", 2);
			e->bol = 1;
			consume(e, 2);
			continue;
		}
		if (b == '\r' || b == '\n') {
			out(e, "\r\n", 2);
			e->cr = b == '\r';
			e->bol = 1;
			consume(e, 1);
			continue;
		}
		if (e->bol && b == '.' && !e->no_dots) {
			out(e, "..", 2);
			e->bol = 0;
			consume(e, 1);
			continue;
		}
		n = e->avail_in;
		if (e->next_out != NULL && n > e->avail_out)
			n = e->avail_out;
		n = clean_prefix(e->next_in, n, &e->bol, &e->has_8bit);
		if (e->next_out != NULL) {
			memcpy(e->next_out, e->next_in, n);
			e->next_out += n;
			e->avail_out -= n;
		}
		e->total_out += n;
		consume(e, n);
	}
	return e->npend == 0;
}

int smtpc_dot_finish(smtpc_dotenc *e)
{
	if (e == NULL)
		return 0;
	if (!e->finished) {
		if (!smtpc_dot_encode(e))
			return 0;
		if (e->no_dots) {
			if (!e->bol)
				out(e, "\r\n", 2);
		} else if (e->bol) {
			out(e, ".\r\n", 3);
		} else {
			out(e, "\r\n.\r\n", 5);
		}
		e->finished = 1;
		e->bol = 1;
		e->cr = 0;
	}
	return flush(e);
}

/* ---- the connection's message data ---------------------------------------- */

/* Whether message data may be written now: the error smtpc_body_end
 * returns, or SMTPC_ERR_OK. Once the session has ended (421 or 221
 * received, QUIT issued, end of input) nothing more is read, so nothing more
 * is sent. */
static smtpc_err body_check(const smtpc_conn *c)
{
	if (c == NULL)
		return SMTPC_ERR_NULL_ARG;
	if (!smtpc__is_client(c))
		return SMTPC_ERR_ROLE;
	if (c->flags & F_HOOK)
		return SMTPC_ERR_REENTRANT;
	if (c->err != SMTPC_ERR_OK)
		return c->err;
	if ((c->flags & (F_EOF | F_DONE)) || (c->u.cl.flags & (C_CLOSING | C_QUIT)))
		return SMTPC_ERR_ENDED;
	return SMTPC_ERR_OK;
}

/* Message octets into out[0, cap): dot-stuffed after DATA, as they are (up
 * to the chunk's end) after BDAT. Returns the input consumed and the octets
 * written in *written. */
static size_t put_body(smtpc_conn *c, const void *data, size_t len, unsigned char *out, size_t cap,
		       size_t *written)
{
	size_t n;

	if (c->u.cl.state == ST_BODY) {
		smtpc_dotenc *e = &c->u.cl.dot;
		e->next_in = data;
		e->avail_in = len;
		e->next_out = out;
		e->avail_out = cap;
		smtpc_dot_encode(e);
		*written = (size_t)(e->next_out - out);
		n = len - e->avail_in;
		e->next_in = NULL;
		e->avail_in = 0;
		e->next_out = NULL;
		e->avail_out = 0;
		return n;
	}
	n = cap < len ? cap : len;
	if (n > c->u.cl.bdat_left)
		n = (size_t)c->u.cl.bdat_left;
	if (n != 0)
		memcpy(out, data, n);
	c->u.cl.bdat_left -= n;
	*written = n;
	return n;
}

size_t smtpc_body_write(smtpc_conn *c, const void *data, size_t len)
{
	size_t n, w;

	if ((data == NULL && len != 0) || body_check(c) != SMTPC_ERR_OK ||
	    (c->u.cl.state != ST_BODY && c->u.cl.bdat_left == 0))
		return 0;
	smtpc__tx_compact(c);
	n = put_body(c, data, len, c->tx + c->tx_end, c->tx_cap - c->tx_end, &w);
	c->tx_end += w;
	return n;
}

size_t smtpc_body_write_to(smtpc_conn *c, const void *data, size_t len, void *dst, size_t cap,
			   size_t *written)
{
	if (written == NULL)
		return 0;
	*written = 0;
	if ((data == NULL && len != 0) || dst == NULL || cap == 0 ||
	    body_check(c) != SMTPC_ERR_OK || c->tx_end != c->tx_start)
		return 0; /* (a NULL destination would make the encoder only measure) */
	return put_body(c, data, len, dst, cap, written);
}

smtpc_err smtpc_body_end(smtpc_conn *c)
{
	smtpc_dotenc *e;
	smtpc_err r = body_check(c);

	if (r != SMTPC_ERR_OK)
		return r;
	if (c->u.cl.state != ST_BODY)
		return SMTPC_ERR_STATE;
	e = &c->u.cl.dot;
	/* all or nothing: the octets held back, then CRLF.CRLF or .CRLF */
	r = smtpc__tx_room(c, e->npend + (e->bol ? 3u : 5u));
	if (r != SMTPC_ERR_OK)
		return r;
	e->next_in = NULL;
	e->avail_in = 0;
	e->next_out = c->tx + c->tx_end;
	e->avail_out = c->tx_cap - c->tx_end;
	smtpc_dot_finish(e); /* it finishes: the room was measured */
	c->tx_end = (size_t)(e->next_out - c->tx);
	if (c->u.cl.hook != NULL) {
		c->flags |= F_HOOK;
		c->u.cl.hook(c->u.cl.hook_ctx, SMTPC_CMD_DATA_END, ".", 1, 0);
		c->flags &= ~F_HOOK;
	}
	c->u.cl.state = ST_OPEN;
	smtpc__end_transaction(c);
	smtpc__push(c, SMTPC_CMD_DATA_END, (c->u.cl.flags & C_LMTP) ? QF_LMTP : 0, 0);
	return SMTPC_ERR_OK;
}

const smtpc_dotenc *smtpc_body_stats(const smtpc_conn *c)
{
	return c != NULL && smtpc__is_client(c) ? &c->u.cl.dot : NULL;
}
