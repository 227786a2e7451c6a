/*
 * command.c - typed commands, the reply queue and the pipelining rules.
 *
 * A command is checked completely before anything is written: session
 * state, order, extension, every argument, line length (RFC 5321 4.5.3.1.4:
 * 512 octets with CRLF, plus SMTPC_PARAM_ALLOWANCE for MAIL and RCPT lines
 * that carry parameters), room in the transmit buffer. Only then is the line
 * formatted into the transmit buffer and its reply queued. A refused command
 * leaves the connection as it was.
 *
 * Lines are built twice by the same function: once to measure (buf NULL),
 * once to write, so measure and output cannot disagree.
 *
 * Pipelining (RFC 2920 3.1): a command may be issued while replies are
 * outstanding only when the server offered PIPELINING and the last command
 * queued does not end a group. MAIL, RCPT, RSET, a BDAT that is not LAST and
 * the end of message data are followed by more commands; EHLO, HELO, DATA,
 * VRFY, NOOP, QUIT, STARTTLS, AUTH, BDAT LAST and raw lines end a group.
 *
 * The client's view of the mail transaction (F_TXN) opens when MAIL is
 * issued and closes when RSET, EHLO, HELO, LHLO, the end of data or BDAT
 * LAST is issued, or when the MAIL of the current transaction is refused.
 *
 * Every function here is the client role's: it refuses a server connection
 * (SMTPC_ERR_ROLE) before it looks at anything else but its NULL arguments.
 * Once the session is ending (QUIT issued, 421 or 221 received, end of
 * input) commands are SMTPC_ERR_ENDED.
 *
 * Raw lines keep the typed rules where they matter: a raw AUTH needs TLS
 * like a typed one and is reported as secret when it carries a response; a
 * raw MAIL's SMTPUTF8 and BODY=BINARYMIME are read from its parameters.
 */
#include "internal.h"

void smtpc__put(struct w *w, const char *s, size_t n)
{
	if (w->buf != NULL && n != 0)
		memcpy(w->buf + w->len, s, n);
	w->len += n;
}

static void put_str(struct w *w, const char *s)
{
	smtpc__put(w, s, strlen(s));
}

static void put_u64(struct w *w, uint64_t v)
{
	char t[20];

	smtpc__put(w, t, smtpc__u64_dec(t, v));
}

static void put_xtext(struct w *w, const char *s)
{
	size_t n = strlen(s), m = smtpc_xtext_encode(NULL, 0, s, n);

	if (w->buf != NULL)
		smtpc_xtext_encode(w->buf + w->len, m, s, n);
	w->len += m;
}

/* ---- transmit buffer ---------------------------------------------------- */

void smtpc__tx_compact(smtpc_conn *c)
{
	size_t n = c->tx_end - c->tx_start;

	if (c->tx_start == 0)
		return;
	if (n != 0)
		memmove(c->tx, c->tx + c->tx_start, n);
	c->tx_start = 0;
	c->tx_end = n;
}

smtpc_err smtpc__tx_room(smtpc_conn *c, size_t n)
{
	if (n > c->tx_cap)
		return SMTPC_ERR_TX_SMALL;
	if (c->tx_cap - (c->tx_end - c->tx_start) < n)
		return SMTPC_ERR_NO_SPACE; /* and nothing moved */
	if (c->tx_cap - c->tx_end < n)
		smtpc__tx_compact(c);
	return SMTPC_ERR_OK;
}

const unsigned char *smtpc_send_buf(const smtpc_conn *c, size_t *len)
{
	if (len == NULL)
		return NULL;
	*len = 0;
	if (c == NULL || c->err != SMTPC_ERR_OK || c->tx_end == c->tx_start)
		return NULL;
	*len = c->tx_end - c->tx_start;
	return c->tx + c->tx_start;
}

void smtpc_send_ack(smtpc_conn *c, size_t n)
{
	if (c == NULL || c->role == NULL || (c->flags & F_HOOK))
		return;
	if (n > c->tx_end - c->tx_start)
		n = c->tx_end - c->tx_start;
	c->tx_start += n;
	if (c->tx_start == c->tx_end)
		c->tx_start = c->tx_end = 0;
}

/* ---- queue ---------------------------------------------------------------- */

uint64_t smtpc__mark(const smtpc_qent *e)
{
	return (uint64_t)e->mark_hi << 32 | e->mark_lo;
}

void smtpc__set_mark(smtpc_qent *e, uint64_t mark)
{
	e->mark_lo = (uint32_t)mark;
	e->mark_hi = (uint32_t)(mark >> 32);
}

void smtpc__push(smtpc_conn *c, smtpc_cmd cmd, unsigned flags, unsigned index)
{
	smtpc_qent *e = &c->u.cl.q[(c->u.cl.q_head + c->u.cl.q_len) % SMTPC_QUEUE_CAP];

	e->cmd = (unsigned char)cmd;
	e->flags = (unsigned char)flags;
	e->index = (unsigned short)index;
	smtpc__set_mark(e, c->rx_total);
	c->u.cl.q_len++;
}

int smtpc__ends_group(const smtpc_qent *e)
{
	if (e->flags & QF_RAW)
		return 1; /* raw lines: one at a time */
	switch ((smtpc_cmd)e->cmd) {
	case SMTPC_CMD_MAIL:
	case SMTPC_CMD_RCPT:
	case SMTPC_CMD_RSET:
	case SMTPC_CMD_DATA_END:
		return 0;
	case SMTPC_CMD_BDAT:
		return (e->flags & QF_LAST) != 0;
	default:
		return 1;
	}
}

smtpc_err smtpc__may_issue(const smtpc_conn *c, smtpc_cmd cmd)
{
	unsigned st;

	if (!smtpc__is_client(c))
		return SMTPC_ERR_ROLE;
	if (c->flags & F_HOOK)
		return SMTPC_ERR_REENTRANT;
	if (c->err != SMTPC_ERR_OK)
		return c->err;
	if ((c->flags & (F_EOF | F_DONE)) || (c->u.cl.flags & (C_QUIT | C_CLOSING)))
		return SMTPC_ERR_ENDED;
	if (c->flags & F_PAUSE)
		return SMTPC_ERR_STATE;
	st = c->u.cl.state;
	if (st == ST_BODY || c->u.cl.bdat_left > 0 || (st == ST_RAWBODY && cmd != SMTPC_CMD_RAW))
		return SMTPC_ERR_IN_BODY;
	if (c->u.cl.q_len >= c->cfg.max_queue)
		return SMTPC_ERR_QUEUE_FULL;
	if (c->u.cl.q_len > 0 && st != ST_RAWBODY) {
		const smtpc_qent *last =
		    &c->u.cl.q[(c->u.cl.q_head + c->u.cl.q_len - 1) % SMTPC_QUEUE_CAP];
		if (!(c->u.cl.caps.ext & SMTPC_EXT_PIPELINING) || smtpc__ends_group(last))
			return SMTPC_ERR_PIPELINE;
	}
	return SMTPC_ERR_OK;
}

void smtpc__end_transaction(smtpc_conn *c)
{
	c->flags &= ~F_TXN;
	c->u.cl.flags &= ~(C_UTF8 | C_BINARY);
	c->u.cl.rcpts = 0;
	c->u.cl.bdats = 0;
}

/* ---- line emission ------------------------------------------------------- */

smtpc_err smtpc__emit(smtpc_conn *c, smtpc__build_fn fn, const void *ctx, size_t limit,
		      smtpc_cmd cmd, int secret)
{
	struct w w = {NULL, 0};
	smtpc_err e;

	fn(&w, ctx);
	if (w.len > limit)
		return SMTPC_ERR_TOO_LONG;
	e = smtpc__tx_room(c, w.len);
	if (e != SMTPC_ERR_OK)
		return e;
	w.buf = (char *)c->tx + c->tx_end;
	w.len = 0;
	fn(&w, ctx);
	c->tx_end += w.len;
	if (c->u.cl.hook != NULL && cmd != SMTPC_CMD_NONE) {
		c->flags |= F_HOOK;
		c->u.cl.hook(c->u.cl.hook_ctx, cmd, w.buf, w.len - 2, secret);
		c->flags &= ~F_HOOK;
	}
	return SMTPC_ERR_OK;
}

void smtpc_set_command_hook(smtpc_conn *c, smtpc_command_fn fn, void *ctx)
{
	if (c == NULL || !smtpc__is_client(c))
		return;
	c->u.cl.hook = fn;
	c->u.cl.hook_ctx = ctx;
}

struct span {
	const char *verb; /* written first, may be NULL */
	const char *s;
	size_t n;
};

static void build_span(struct w *w, const void *ctx)
{
	const struct span *sp = ctx;

	if (sp->verb != NULL)
		put_str(w, sp->verb);
	smtpc__put(w, sp->s, sp->n);
	smtpc__put(w, "\r\n", 2);
}

/* Writes a fixed command line and queues its reply; checks done. */
static smtpc_err issue_fixed(smtpc_conn *c, smtpc_cmd cmd, const char *line)
{
	struct span sp = {NULL, line, strlen(line)};
	smtpc_err e = smtpc__emit(c, build_span, &sp, SMTPC_COMMAND_MAX, cmd, 0);

	if (e == SMTPC_ERR_OK)
		smtpc__push(c, cmd, 0, 0);
	return e;
}

static smtpc_err simple(smtpc_conn *c, smtpc_cmd cmd, const char *line)
{
	smtpc_err e;

	if (c == NULL)
		return SMTPC_ERR_NULL_ARG;
	e = smtpc__may_issue(c, cmd);
	return e != SMTPC_ERR_OK ? e : issue_fixed(c, cmd, line);
}

/* ---- EHLO / HELO ---------------------------------------------------------- */

static smtpc_err hello(smtpc_conn *c, smtpc_cmd cmd, const char *verb, const char *domain)
{
	struct span sp;
	smtpc_err e;

	if (c == NULL || domain == NULL)
		return SMTPC_ERR_NULL_ARG;
	sp.verb = verb;
	sp.s = domain;
	sp.n = strlen(domain);
	e = smtpc__may_issue(c, cmd);
	if (e == SMTPC_ERR_OK)
		e = smtpc__check_domain(domain, sp.n, 0);
	if (e == SMTPC_ERR_OK)
		e = smtpc__emit(c, build_span, &sp, SMTPC_COMMAND_MAX, cmd, 0);
	if (e != SMTPC_ERR_OK)
		return e;
	smtpc__end_transaction(c); /* RFC 5321 4.1.4: EHLO/HELO reset the transaction */
	c->u.cl.flags &= ~C_LMTP;  /* smtpc_lhlo sets it again */
	smtpc__push(c, cmd, 0, 0);
	return SMTPC_ERR_OK;
}

smtpc_err smtpc_ehlo(smtpc_conn *c, const char *domain)
{
	return hello(c, SMTPC_CMD_EHLO, "EHLO ", domain);
}

smtpc_err smtpc_helo(smtpc_conn *c, const char *domain)
{
	return hello(c, SMTPC_CMD_HELO, "HELO ", domain);
}

smtpc_err smtpc_lhlo(smtpc_conn *c, const char *domain)
{
	smtpc_err e = hello(c, SMTPC_CMD_LHLO, "LHLO ", domain);

	if (e == SMTPC_ERR_OK)
		smtpc__lmtp_on(c);
	return e;
}

/* ---- MAIL ------------------------------------------------------------------- */

struct mail_ctx {
	const char *addr;
	const smtpc_mail_opts *o;
};

static const char *const body_names[] = {NULL, "7BIT", "8BITMIME", "BINARYMIME"};

static void build_mail(struct w *w, const void *ctx)
{
	const struct mail_ctx *m = ctx;
	const smtpc_mail_opts *o = m->o;

	put_str(w, "MAIL FROM:<");
	put_str(w, m->addr);
	smtpc__put(w, ">", 1);
	if (o->size != 0) {
		put_str(w, " SIZE=");
		put_u64(w, o->size);
	}
	if (o->body != SMTPC_BODY_NONE) {
		put_str(w, " BODY=");
		put_str(w, body_names[o->body]);
	}
	if (o->smtputf8)
		put_str(w, " SMTPUTF8");
	if (o->requiretls)
		put_str(w, " REQUIRETLS");
	if (o->ret != SMTPC_RET_NONE)
		put_str(w, o->ret == SMTPC_RET_FULL ? " RET=FULL" : " RET=HDRS");
	if (o->envid != NULL) {
		put_str(w, " ENVID=");
		put_xtext(w, o->envid);
	}
	if (o->extra != NULL) {
		smtpc__put(w, " ", 1);
		put_str(w, o->extra);
	}
	smtpc__put(w, "\r\n", 2);
}

static int mail_has_params(const smtpc_mail_opts *o)
{
	return o->size != 0 || o->body != SMTPC_BODY_NONE || o->smtputf8 || o->requiretls ||
	       o->ret != SMTPC_RET_NONE || o->envid != NULL || o->extra != NULL;
}

/*
 * Checks an `extra` parameter list: syntax (RFC 5321 4.1.2), each keyword
 * once, and none of the keywords a typed option controls, so no value can
 * pass the offered-extension and limit checks by the back door.
 */
/* The length of the keyword at s (up to '=', ' ' or the end). */
static size_t kw_len(const char *s)
{
	size_t k = 0;

	while (s[k] != '\0' && s[k] != '=' && s[k] != ' ')
		k++;
	return k;
}

/* The next parameter after the one at s, or NULL. */
static const char *next_param(const char *s)
{
	while (*s != '\0' && *s != ' ')
		s++;
	return *s == ' ' ? s + 1 : NULL;
}

static smtpc_err check_extra(const char *x, const char *reserved)
{
	const char *p, *q, *r;
	smtpc_err e = smtpc__check_params(x, strlen(x));

	for (p = x; e == SMTPC_ERR_OK && p != NULL; p = next_param(p)) {
		size_t k = kw_len(p), i;
		for (r = reserved; *r != '\0'; r += strlen(r) + 1) {
			if (smtpc__ieq(p, k, r))
				return SMTPC_ERR_BAD_PARAM;
		}
		for (q = next_param(p); q != NULL; q = next_param(q)) { /* seen again */
			for (i = 0; i < k && smtpc__lower((unsigned char)p[i]) ==
						 smtpc__lower((unsigned char)q[i]);
			     i++)
				;
			if (i == k && kw_len(q) == k)
				return SMTPC_ERR_BAD_PARAM;
		}
	}
	return e;
}

/* The extensions the options need, and their values. */
static smtpc_err check_mail_opts(const smtpc_conn *c, const smtpc_mail_opts *o)
{
	static const char reserved[] = "SIZE\0BODY\0SMTPUTF8\0REQUIRETLS\0RET\0ENVID\0";
	unsigned ext = c->u.cl.caps.ext;

	if ((unsigned)o->body > (unsigned)SMTPC_BODY_BINARYMIME ||
	    (unsigned)o->ret > (unsigned)SMTPC_RET_HDRS)
		return SMTPC_ERR_BAD_PARAM;
	if (o->envid != NULL) {
		size_t n = strlen(o->envid), i;
		if (n == 0 || n > SMTPC_ENVID_MAX)
			return n == 0 ? SMTPC_ERR_BAD_PARAM : SMTPC_ERR_TOO_LONG;
		for (i = 0; i < n; i++) { /* RFC 3461 4.4: printable US-ASCII */
			unsigned char b = (unsigned char)o->envid[i];
			if (smtpc__is_ctrl(b))
				return SMTPC_ERR_CTRL_CHAR;
			if (b > 126)
				return SMTPC_ERR_BAD_PARAM;
		}
	}
	if (o->extra != NULL) {
		smtpc_err e = check_extra(o->extra, reserved);
		if (e != SMTPC_ERR_OK)
			return e;
	}
	if ((o->size != 0 && !(ext & SMTPC_EXT_SIZE)) ||
	    (o->body == SMTPC_BODY_8BITMIME && !(ext & SMTPC_EXT_8BITMIME)) ||
	    (o->body == SMTPC_BODY_BINARYMIME &&
	     (ext & (SMTPC_EXT_BINARYMIME | SMTPC_EXT_CHUNKING)) !=
		 (SMTPC_EXT_BINARYMIME | SMTPC_EXT_CHUNKING)) ||
	    (o->smtputf8 && !(ext & SMTPC_EXT_SMTPUTF8)) ||
	    (o->requiretls && !(ext & SMTPC_EXT_REQUIRETLS)) ||
	    ((o->ret != SMTPC_RET_NONE || o->envid != NULL) && !(ext & SMTPC_EXT_DSN)))
		return SMTPC_ERR_NOT_OFFERED;
	if (o->requiretls && !(c->flags & F_SECURE))
		return SMTPC_ERR_NEEDS_TLS; /* RFC 8689 4.1 */
	if (o->size != 0 && c->u.cl.caps.size_limit != 0 && o->size > c->u.cl.caps.size_limit)
		return SMTPC_ERR_TOO_BIG;
	return SMTPC_ERR_OK;
}

/* Opens the client's view of a transaction (typed or raw MAIL). */
static void open_transaction(smtpc_conn *c, int utf8, int binary)
{
	smtpc__end_transaction(c);
	c->flags |= F_TXN;
	if (utf8)
		c->u.cl.flags |= C_UTF8;
	if (binary)
		c->u.cl.flags |= C_BINARY;
	c->u.cl.txn++;
}

smtpc_err smtpc_mail(smtpc_conn *c, const char *from, const smtpc_mail_opts *opts)
{
	static const smtpc_mail_opts none; /* flash, not stack */
	struct mail_ctx m;
	smtpc_err e;

	if (c == NULL || from == NULL)
		return SMTPC_ERR_NULL_ARG;
	m.addr = from;
	m.o = opts != NULL ? opts : &none;
	e = smtpc__may_issue(c, SMTPC_CMD_MAIL);
	if (e != SMTPC_ERR_OK)
		return e;
	if (!(c->flags & F_GREETED) || (c->flags & F_TXN))
		return SMTPC_ERR_SEQUENCE;
	if (from[0] != '\0') { /* "" is the null reverse-path */
		e = smtpc__check_mailbox(from, strlen(from), m.o->smtputf8, 0);
		if (e != SMTPC_ERR_OK)
			return e;
	}
	e = check_mail_opts(c, m.o);
	if (e == SMTPC_ERR_OK)
		e = smtpc__emit(c, build_mail, &m,
				SMTPC_COMMAND_MAX +
				    (mail_has_params(m.o) ? SMTPC_PARAM_ALLOWANCE : 0),
				SMTPC_CMD_MAIL, 0);
	if (e != SMTPC_ERR_OK)
		return e;
	open_transaction(c, m.o->smtputf8, m.o->body == SMTPC_BODY_BINARYMIME);
	smtpc__push(c, SMTPC_CMD_MAIL, 0, c->u.cl.txn);
	return SMTPC_ERR_OK;
}

/* ---- RCPT -------------------------------------------------------------------- */

struct rcpt_ctx {
	const char *addr;
	const smtpc_rcpt_opts *o;
};

static void build_rcpt(struct w *w, const void *ctx)
{
	static const char *const names[] = {"NEVER", "SUCCESS", "FAILURE", "DELAY"};
	const struct rcpt_ctx *r = ctx;
	const smtpc_rcpt_opts *o = r->o;

	put_str(w, "RCPT TO:<");
	put_str(w, r->addr);
	smtpc__put(w, ">", 1);
	if (o->notify != 0) {
		const char *sep = " NOTIFY=";
		unsigned k;
		for (k = 0; k < 4; k++) {
			if (o->notify & (1u << k)) {
				put_str(w, sep);
				put_str(w, names[k]);
				sep = ",";
			}
		}
	}
	if (o->orcpt != NULL) {
		put_str(w, " ORCPT=rfc822;");
		put_xtext(w, o->orcpt);
	}
	if (o->extra != NULL) {
		smtpc__put(w, " ", 1);
		put_str(w, o->extra);
	}
	smtpc__put(w, "\r\n", 2);
}

static smtpc_err check_rcpt_opts(const smtpc_conn *c, const smtpc_rcpt_opts *o)
{
	static const char reserved[] = "NOTIFY\0ORCPT\0";
	smtpc_err e;

	if (o->notify > 15u ||
	    ((o->notify & SMTPC_NOTIFY_NEVER) && o->notify != SMTPC_NOTIFY_NEVER))
		return SMTPC_ERR_BAD_PARAM; /* RFC 3461 4.1: NEVER stands alone */
	if (o->orcpt != NULL) {
		e = smtpc__check_mailbox(o->orcpt, strlen(o->orcpt), 0, 1);
		if (e != SMTPC_ERR_OK)
			return e;
	}
	if (o->extra != NULL) {
		e = check_extra(o->extra, reserved);
		if (e != SMTPC_ERR_OK)
			return e;
	}
	if ((o->notify != 0 || o->orcpt != NULL) && !(c->u.cl.caps.ext & SMTPC_EXT_DSN))
		return SMTPC_ERR_NOT_OFFERED;
	return SMTPC_ERR_OK;
}

/* The recipient limits: 65535 numbers a transaction; over LMTP, the
 * recipients whose acceptance the core can remember. */
static smtpc_err rcpt_room(const smtpc_conn *c)
{
	if (c->u.cl.rcpts == 0xffffu)
		return SMTPC_ERR_QUEUE_FULL;
	if ((c->u.cl.flags & C_LMTP) && c->u.cl.rcpts >= SMTPC_LMTP_RCPT_CAP)
		return SMTPC_ERR_RCPT_LIMIT;
	return SMTPC_ERR_OK;
}

smtpc_err smtpc_rcpt(smtpc_conn *c, const char *to, const smtpc_rcpt_opts *opts)
{
	static const smtpc_rcpt_opts none;
	struct rcpt_ctx r;
	smtpc_err e;
	int params;

	if (c == NULL || to == NULL)
		return SMTPC_ERR_NULL_ARG;
	r.addr = to;
	r.o = opts != NULL ? opts : &none;
	e = smtpc__may_issue(c, SMTPC_CMD_RCPT);
	if (e != SMTPC_ERR_OK)
		return e;
	if (!(c->flags & F_TXN))
		return SMTPC_ERR_SEQUENCE;
	e = rcpt_room(c);
	if (e == SMTPC_ERR_OK)
		e = smtpc__check_mailbox(to, strlen(to), (c->u.cl.flags & C_UTF8) != 0, 1);
	if (e == SMTPC_ERR_OK)
		e = check_rcpt_opts(c, r.o);
	params = r.o->notify != 0 || r.o->orcpt != NULL || r.o->extra != NULL;
	if (e == SMTPC_ERR_OK)
		e = smtpc__emit(c, build_rcpt, &r,
				SMTPC_COMMAND_MAX + (params ? SMTPC_PARAM_ALLOWANCE : 0),
				SMTPC_CMD_RCPT, 0);
	if (e != SMTPC_ERR_OK)
		return e;
	smtpc__push(c, SMTPC_CMD_RCPT, 0, c->u.cl.rcpts);
	c->u.cl.rcpts++;
	return SMTPC_ERR_OK;
}

/* ---- DATA, BDAT, RSET, NOOP, VRFY, QUIT, STARTTLS ------------------------------ */

smtpc_err smtpc_data(smtpc_conn *c)
{
	smtpc_err e;

	if (c == NULL)
		return SMTPC_ERR_NULL_ARG;
	e = smtpc__may_issue(c, SMTPC_CMD_DATA);
	if (e != SMTPC_ERR_OK)
		return e;
	/* BINARYMIME content must go by BDAT (RFC 3030 3) */
	if (!(c->flags & F_TXN) || c->u.cl.rcpts == 0 || (c->u.cl.flags & C_BINARY))
		return SMTPC_ERR_SEQUENCE;
	return issue_fixed(c, SMTPC_CMD_DATA, "DATA");
}

static void build_bdat(struct w *w, const void *ctx)
{
	const uint64_t *v = ctx; /* v[0] size, v[1] last */

	put_str(w, "BDAT ");
	put_u64(w, v[0]);
	if (v[1])
		put_str(w, " LAST");
	smtpc__put(w, "\r\n", 2);
}

smtpc_err smtpc_bdat(smtpc_conn *c, uint64_t size, int last)
{
	uint64_t v[2];
	smtpc_err e;
	unsigned flags;

	if (c == NULL)
		return SMTPC_ERR_NULL_ARG;
	v[0] = size;
	v[1] = last != 0;
	e = smtpc__may_issue(c, SMTPC_CMD_BDAT);
	if (e != SMTPC_ERR_OK)
		return e;
	if (!(c->flags & F_TXN) || c->u.cl.rcpts == 0)
		return SMTPC_ERR_SEQUENCE;
	if (!(c->u.cl.caps.ext & SMTPC_EXT_CHUNKING))
		return SMTPC_ERR_NOT_OFFERED;
	e = smtpc__emit(c, build_bdat, v, SMTPC_COMMAND_MAX, SMTPC_CMD_BDAT, 0);
	if (e != SMTPC_ERR_OK)
		return e;
	flags = last ? QF_LAST : 0;
	if (last && (c->u.cl.flags & C_LMTP))
		flags |= QF_LMTP;
	smtpc__push(c, SMTPC_CMD_BDAT, flags, c->u.cl.bdats);
	c->u.cl.bdats++;
	c->u.cl.bdat_left = size;
	if (last)
		smtpc__end_transaction(c);
	return SMTPC_ERR_OK;
}

smtpc_err smtpc_rset(smtpc_conn *c)
{
	smtpc_err e = simple(c, SMTPC_CMD_RSET, "RSET");

	if (e == SMTPC_ERR_OK)
		smtpc__end_transaction(c);
	return e;
}

smtpc_err smtpc_noop(smtpc_conn *c)
{
	return simple(c, SMTPC_CMD_NOOP, "NOOP");
}

smtpc_err smtpc_quit(smtpc_conn *c)
{
	smtpc_err e = simple(c, SMTPC_CMD_QUIT, "QUIT");

	if (e == SMTPC_ERR_OK)
		c->u.cl.flags |= C_QUIT;
	return e;
}

smtpc_err smtpc_starttls(smtpc_conn *c)
{
	smtpc_err e;

	if (c == NULL)
		return SMTPC_ERR_NULL_ARG;
	e = smtpc__may_issue(c, SMTPC_CMD_STARTTLS);
	if (e != SMTPC_ERR_OK)
		return e;
	if (!(c->flags & F_GREETED) || (c->flags & F_TXN))
		return SMTPC_ERR_SEQUENCE;
	if (c->flags & F_SECURE)
		return SMTPC_ERR_STATE;
	if (!(c->u.cl.caps.ext & SMTPC_EXT_STARTTLS))
		return SMTPC_ERR_NOT_OFFERED;
	return issue_fixed(c, SMTPC_CMD_STARTTLS, "STARTTLS");
}

smtpc_err smtpc_vrfy(smtpc_conn *c, const char *what)
{
	struct span sp;
	smtpc_err e;

	if (c == NULL || what == NULL)
		return SMTPC_ERR_NULL_ARG;
	sp.verb = "VRFY ";
	sp.s = what;
	sp.n = strlen(what);
	e = smtpc__may_issue(c, SMTPC_CMD_VRFY);
	if (e == SMTPC_ERR_OK)
		e = sp.n == 0 ? SMTPC_ERR_BAD_PARAM : smtpc__check_text(what, sp.n, 1);
	if (e == SMTPC_ERR_OK)
		e = smtpc__emit(c, build_span, &sp, SMTPC_COMMAND_MAX, SMTPC_CMD_VRFY, 0);
	if (e == SMTPC_ERR_OK)
		smtpc__push(c, SMTPC_CMD_VRFY, 0, 0);
	return e;
}

/* ---- raw lines ------------------------------------------------------------------ */

static smtpc_cmd raw_verb(const char *s, size_t n, size_t *k)
{
	static const struct {
		const char *verb;
		unsigned char cmd;
	} verbs[] = {
	    {"EHLO", SMTPC_CMD_EHLO}, {"HELO", SMTPC_CMD_HELO},		{"LHLO", SMTPC_CMD_LHLO},
	    {"MAIL", SMTPC_CMD_MAIL}, {"RCPT", SMTPC_CMD_RCPT},		{"DATA", SMTPC_CMD_DATA},
	    {"RSET", SMTPC_CMD_RSET}, {"NOOP", SMTPC_CMD_NOOP},		{"VRFY", SMTPC_CMD_VRFY},
	    {"QUIT", SMTPC_CMD_QUIT}, {"STARTTLS", SMTPC_CMD_STARTTLS}, {"AUTH", SMTPC_CMD_AUTH},
	};
	size_t i;

	for (*k = 0; *k < n && s[*k] != ' ';)
		(*k)++;
	for (i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
		if (smtpc__ieq(s, *k, verbs[i].verb))
			return (smtpc_cmd)verbs[i].cmd;
	}
	return SMTPC_CMD_RAW;
}

/* RFC 5321 4.5.3.1.6: a text line is at most 1000 octets with its CRLF. */
#define TEXT_LINE_MAX 1000u

/* A message line after a 354 to a raw DATA; "." ends the data. */
static smtpc_err raw_body_line(smtpc_conn *c, const char *line, size_t len)
{
	struct span sp = {NULL, line, len};
	int end = len == 1 && line[0] == '.';
	size_t i;
	smtpc_err e;

	for (i = 0; i < len; i++) { /* HT is fine there */
		if (smtpc__is_ctrl((unsigned char)line[i]) && line[i] != '\t')
			return SMTPC_ERR_CTRL_CHAR;
	}
	/* the end is reported to the hook, the content is not */
	e = smtpc__emit(c, build_span, &sp, TEXT_LINE_MAX,
			end ? SMTPC_CMD_DATA_END : SMTPC_CMD_NONE, 0);
	if (e == SMTPC_ERR_OK && end) {
		c->u.cl.state = ST_OPEN;
		smtpc__end_transaction(c);
		smtpc__push(c, SMTPC_CMD_DATA_END, (c->u.cl.flags & C_LMTP) ? QF_LMTP : 0, 0);
	}
	return e;
}

smtpc_err smtpc_raw(smtpc_conn *c, const char *line, size_t len)
{
	struct span sp = {NULL, line, len};
	smtpc_command path;
	smtpc_cmd verb;
	smtpc_err e;
	size_t k = 0, limit = SMTPC_COMMAND_MAX;
	int secret, utf8 = 0, binary = 0;
	unsigned index;

	if (c == NULL || (line == NULL && len != 0))
		return SMTPC_ERR_NULL_ARG;
	e = smtpc__may_issue(c, SMTPC_CMD_RAW);
	if (e != SMTPC_ERR_OK)
		return e;
	if (c->u.cl.state == ST_RAWBODY)
		return raw_body_line(c, line, len);
	e = len == 0 ? SMTPC_ERR_BAD_PARAM : smtpc__check_text(line, len, 0);
	if (e != SMTPC_ERR_OK)
		return e;
	/* after a 334 to a raw AUTH, the next raw line is its response */
	secret = (c->u.cl.flags & C_RAWAUTH) != 0;
	verb = secret ? SMTPC_CMD_AUTH : raw_verb(line, len, &k);
	if (verb == SMTPC_CMD_AUTH) {
		if (!(c->flags & F_SECURE) && !c->cfg.allow_plain_auth)
			return SMTPC_ERR_AUTH_NEEDS_TLS;
		limit = SMTPC_AUTH_LINE_MAX;
		/* "AUTH mech response": the response is a credential */
		if (!secret && k < len && memchr(line + k + 1, ' ', len - k - 1) != NULL)
			secret = 1;
	} else if (verb == SMTPC_CMD_MAIL || verb == SMTPC_CMD_RCPT) {
		limit = SMTPC_COMMAND_MAX + SMTPC_PARAM_ALLOWANCE;
	}
	if (verb == SMTPC_CMD_RCPT && (e = rcpt_room(c)) != SMTPC_ERR_OK)
		return e;
	if (verb == SMTPC_CMD_MAIL && smtpc__split_path(line + k, len - k, " FROM:", &path)) {
		const char *v;
		size_t vl;
		utf8 = smtpc__param(path.params, path.params_len, "SMTPUTF8", 8, NULL, NULL);
		binary = smtpc__param(path.params, path.params_len, "BODY", 4, &v, &vl) &&
			 smtpc__ieq(v, vl, "BINARYMIME");
	}
	e = smtpc__emit(c, build_span, &sp, limit, SMTPC_CMD_RAW, secret);
	if (e != SMTPC_ERR_OK)
		return e;
	index = c->u.cl.txn;
	switch (verb) {
	case SMTPC_CMD_EHLO:
	case SMTPC_CMD_HELO:
	case SMTPC_CMD_LHLO:
		if (verb == SMTPC_CMD_LHLO)
			smtpc__lmtp_on(c);
		else
			c->u.cl.flags &= ~C_LMTP;
		smtpc__end_transaction(c);
		break;
	case SMTPC_CMD_RSET:
		smtpc__end_transaction(c);
		break;
	case SMTPC_CMD_MAIL:
		open_transaction(c, utf8, binary);
		index = c->u.cl.txn;
		break;
	case SMTPC_CMD_RCPT:
		index = c->u.cl.rcpts++;
		break;
	case SMTPC_CMD_QUIT:
		c->u.cl.flags |= C_QUIT;
		break;
	default:
		break;
	}
	smtpc__push(c, verb, QF_RAW, index);
	return SMTPC_ERR_OK;
}
