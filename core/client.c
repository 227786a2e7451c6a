/*
 * client.c - the client role: init, the event pump, replies matched to the
 * commands that asked for them, and how the session ends.
 *
 * Event pump. smtpc_next_event takes one step:
 *   sticky error            -> SMTPC_EV_ERROR, forever
 *   a reply just completed  -> SMTPC_EV_REPLY (its effects applied now)
 *   STARTTLS 220 delivered  -> SMTPC_EV_STARTTLS, or SMTPC_ERR_STARTTLS_INJECTION
 *                              if any byte follows the 220 (RFC 3207 4.2,
 *                              CVE-2011-0411)
 *   a complete input line   -> SMTPC_EV_LINE (text copied to the reply area)
 *   end of input, drained   -> SMTPC_EV_CLOSED, or an error if the input
 *                              stopped inside a reply or with replies owed
 *   otherwise               -> SMTPC_EV_NEED_DATA
 *
 * Replies are matched to commands in order through the queue (RFC 2920 3.1:
 * replies come back in the order of the commands). A 334 to AUTH is an
 * intermediate reply: it is answered and AUTH stays at the head. A reply
 * with nothing outstanding is delivered with cmd SMTPC_CMD_NONE (a 421
 * before shutting down, say), never dropped. So is a reply that had fully
 * arrived before the command at the head was issued (unless early_replies):
 * each entry records the stream offset (64 bits: it never wraps) at its
 * issue, and a reply answers it only if its first octet came later (a reply
 * begun before the command was written cannot be its answer, even if its
 * last line comes after). An AUTH response line moves the mark of AUTH to
 * the moment it was sent: a 235 that arrived with the 334, or whose first
 * octets did, cannot answer a password that was not yet sent.
 *
 * LMTP (RFC 2033 4.2): after the end of data of a session started with LHLO,
 * the entry stays at the head for one reply per recipient accepted with 2xx
 * (at least one), counted when its first reply comes: by then every RCPT of
 * the transaction has been answered, since replies come in order, whatever
 * was pipelined. The accepted recipients are the engine's bits, cleared by
 * each MAIL reply and set by each 2xx to RCPT; reply.index walks them.
 *
 * End of session. 421 (RFC 5321 3.8), or a 221 nobody asked for, ends the
 * service: the commands still queued will never be answered; they leave the
 * queue and are counted as unanswered. 221 to QUIT is the clean end. At the
 * end of input, what is still queued (QUIT aside) is unanswered too, and if
 * the server had not said it was closing, that is SMTPC_ERR_CLOSED.
 *
 * States: ST_OPEN <-> ST_BODY (354 to DATA / end of data), ST_OPEN <->
 * ST_RAWBODY (354 to a raw DATA / raw "."), F_PAUSE from the 220 to
 * STARTTLS to smtpc_tls_started, F_DONE once SMTPC_EV_CLOSED is delivered.
 */
#include "internal.h"

static smtpc_event_type client_event(smtpc_conn *c, smtpc_event *ev);
static unsigned client_want(const smtpc_conn *c);
static smtpc_wait client_waiting_for(const smtpc_conn *c);
static void client_tls_started(smtpc_conn *c);

static const struct smtpc_role client_role = {client_event, client_want, client_waiting_for,
					      client_tls_started, 0};

int smtpc__is_client(const smtpc_conn *c)
{
	return c->role == &client_role;
}

smtpc_err smtpc_init_(smtpc_conn *c, const smtpc_config *cfg, void *rx, size_t rx_len, void *tx,
		      size_t tx_len, size_t conn_size, unsigned long caps_key)
{
	smtpc_err e = smtpc__engine_init(c, cfg, rx, rx_len, tx, tx_len, conn_size, caps_key);

	if (e != SMTPC_ERR_OK)
		return e;
	c->role = &client_role;
	smtpc__push(c, SMTPC_CMD_GREETING, 0, 0);
	return SMTPC_ERR_OK;
}

/* ---- replies ---------------------------------------------------------------- */

/* The queue entry a just-completed reply answers, or NULL. A reply whose
 * first octet arrived before the head command was issued answers nothing:
 * the server began it before it could have read the command. */
static const smtpc_qent *answered(const smtpc_conn *c)
{
	const smtpc_qent *e;

	if (c->u.cl.q_len == 0)
		return NULL;
	e = &c->u.cl.q[c->u.cl.q_head];
	if (!c->cfg.early_replies && c->u.cl.rep_start < smtpc__mark(e))
		return NULL;
	return e;
}

/* Commands queued that are no QUIT: they will never be answered. */
static unsigned drop_queue(smtpc_conn *c)
{
	unsigned n = 0;
	size_t i;

	for (i = 0; i < c->u.cl.q_len; i++) {
		if (c->u.cl.q[(c->u.cl.q_head + i) % SMTPC_QUEUE_CAP].cmd != SMTPC_CMD_QUIT)
			n++;
	}
	c->u.cl.q_len = 0;
	c->u.cl.lmtp_left = 0;
	return n;
}

/* The server ends the service: 421, or 221 (RFC 5321 3.8). */
static void closing(smtpc_conn *c, smtpc_end_how how, unsigned code)
{
	unsigned n;

	c->u.cl.flags |= C_CLOSING;
	n = drop_queue(c);
	smtpc__end(c, how, code, n);
}

/* LMTP: the recipient the next reply after the end of data is for; the
 * entry stays at the head while replies are owed. Returns 1 to keep it.
 * Reached through u.cl.lmtp, which only LHLO sets (smtpc__lmtp_on). */
static int lmtp_reply(smtpc_conn *c, smtpc_reply *r)
{
	unsigned i;

	if (c->u.cl.lmtp_left == 0) { /* the first reply: count the recipients */
		for (i = 0; i < SMTPC_LMTP_RCPT_CAP; i++)
			c->u.cl.lmtp_left = (unsigned short)(c->u.cl.lmtp_left + smtpc__bit(c, i));
		if (c->u.cl.lmtp_left == 0)
			c->u.cl.lmtp_left = 1; /* none accepted: the one refusal */
		c->u.cl.lmtp_next = 0;
	}
	for (i = c->u.cl.lmtp_next; i < SMTPC_LMTP_RCPT_CAP && !smtpc__bit(c, i); i++)
		;
	r->index = i < SMTPC_LMTP_RCPT_CAP ? i : 0;
	c->u.cl.lmtp_next = (unsigned short)(i + 1);
	return --c->u.cl.lmtp_left != 0;
}

void smtpc__lmtp_on(smtpc_conn *c)
{
	c->u.cl.flags |= C_LMTP;
	c->u.cl.lmtp = lmtp_reply;
}

static void apply_reply(smtpc_conn *c, smtpc_reply *r)
{
	const smtpc_qent *head = answered(c);
	smtpc_qent e;
	int ok = r->code / 100u == 2;

	if (head == NULL) {
		if (r->code == 421 || r->code == 221)
			closing(c, SMTPC_END_SHUTDOWN, r->code);
		return;
	}
	e = *head;
	if (e.cmd == SMTPC_CMD_AUTH && !(e.flags & QF_RAW) && r->code == 334) {
		smtpc__auth_challenge(c, r->text, r->len);
		return;
	}
	if (!(e.flags & QF_LMTP) || !c->u.cl.lmtp(c, r)) {
		c->u.cl.q_head = (unsigned short)((c->u.cl.q_head + 1) % SMTPC_QUEUE_CAP);
		c->u.cl.q_len--;
	}
	switch ((smtpc_cmd)e.cmd) {
	case SMTPC_CMD_EHLO:
	case SMTPC_CMD_LHLO:
		if (ok) {
			smtpc__caps_from_ehlo(c, r->text, r->len);
			c->flags |= F_GREETED;
		}
		break;
	case SMTPC_CMD_HELO:
		if (ok) {
			smtpc__caps_clear(c);
			c->flags |= F_GREETED;
		}
		break;
	case SMTPC_CMD_MAIL: /* a new transaction on the reply side */
		memset(c->lmtp_ok, 0, sizeof c->lmtp_ok);
		if (!ok && e.index == c->u.cl.txn && (c->flags & F_TXN))
			smtpc__end_transaction(c);
		break;
	case SMTPC_CMD_RCPT:
		if (ok)
			smtpc__bit_set(c, e.index);
		break;
	case SMTPC_CMD_DATA:
		if (r->code == 354) {
			c->u.cl.state = (e.flags & QF_RAW) ? ST_RAWBODY : ST_BODY;
			smtpc_dot_init(&c->u.cl.dot);
		}
		break;
	case SMTPC_CMD_STARTTLS:
		if (r->code == 220) {
			c->flags |= F_PAUSE | F_TLS_EV;
		}
		break;
	case SMTPC_CMD_AUTH: /* typed: the final reply; raw: any reply */
		c->u.cl.flags &= ~C_RAWAUTH;
		if (r->code == 235)
			c->flags |= F_AUTHED;
		else if (r->code == 334)
			c->u.cl.flags |= C_RAWAUTH;
		if (!(e.flags & QF_RAW))
			smtpc__auth_done(c);
		break;
	default:
		break;
	}
	if (r->code == 421 || (r->code == 221 && e.cmd != SMTPC_CMD_QUIT))
		closing(c, SMTPC_END_SHUTDOWN, r->code);
	else if (r->code == 221)
		closing(c, SMTPC_END_QUIT, 221);
}

static void take_reply(smtpc_conn *c, smtpc_reply *r)
{
	const smtpc_qent *e;

	r->code = c->u.cl.rep_code;
	r->esc = c->u.cl.rep_esc;
	r->text = REP(c);
	r->len = c->u.cl.rep_len;
	r->nlines = c->u.cl.rep_lines;
	e = answered(c);
	if (e != NULL) {
		r->cmd = (e->flags & QF_RAW) ? SMTPC_CMD_RAW : (smtpc_cmd)e->cmd;
		r->index = r->cmd == SMTPC_CMD_RCPT || r->cmd == SMTPC_CMD_BDAT ? e->index : 0;
	}
	apply_reply(c, r);
	c->u.cl.flags &= ~C_REPLY;
	c->u.cl.rep_len = 0; /* the text stays readable until the next line */
	c->u.cl.rep_lines = 0;
}

/* Adds one parsed line to the reply being assembled. */
static smtpc_err add_line(smtpc_conn *c, smtpc_line *l)
{
	char *rep = REP(c), *dst;
	size_t *len = &c->u.cl.rep_len;

	if (c->u.cl.rep_lines > 0 && l->code != c->u.cl.rep_code)
		return SMTPC_ERR_CODE_MISMATCH;
	if (c->u.cl.rep_lines >= c->cfg.max_lines)
		return SMTPC_ERR_TOO_MANY_LINES;
	if ((c->u.cl.rep_lines > 0) + l->len > c->cfg.max_reply - *len)
		return SMTPC_ERR_REPLY_TOO_LONG;
	if (c->u.cl.rep_lines > 0)
		rep[(*len)++] = '\n';
	dst = rep + *len;
	memcpy(dst, l->text, l->len);
	*len += l->len;
	rep[*len] = '\0';
	if (c->u.cl.rep_lines == 0) {
		c->u.cl.rep_start = c->rx_total - (c->in_end - c->in_start);
		c->u.cl.rep_code = l->code;
		smtpc__parse_esc(dst, l->len, l->code, &c->u.cl.rep_esc);
	}
	c->u.cl.rep_lines++;
	l->text = dst;
	if (l->last)
		c->u.cl.flags |= C_REPLY;
	return SMTPC_ERR_OK;
}

/* Only a QUIT reply may go missing when the server closes. */
static int owes_replies(const smtpc_conn *c)
{
	size_t i;

	for (i = 0; i < c->u.cl.q_len; i++) {
		if (c->u.cl.q[(c->u.cl.q_head + i) % SMTPC_QUEUE_CAP].cmd != SMTPC_CMD_QUIT)
			return 1;
	}
	return 0;
}

/* End of input with nothing left to parse. */
static smtpc_event_type at_end(smtpc_conn *c)
{
	smtpc_err e = SMTPC_ERR_OK;
	int quit = (c->u.cl.flags & C_QUIT) && !owes_replies(c);

	if (c->in_end > c->in_start || c->u.cl.rep_lines > 0)
		e = SMTPC_ERR_TRUNCATED;
	else if (owes_replies(c))
		e = SMTPC_ERR_CLOSED;
	smtpc__end(c, quit ? SMTPC_END_QUIT : SMTPC_END_DROPPED, 0, drop_queue(c));
	c->flags = (c->flags & ~(F_PAUSE | F_TLS_EV)) | F_DONE;
	if (e != SMTPC_ERR_OK) {
		smtpc__set_error(c, e);
		return SMTPC_EV_ERROR;
	}
	return SMTPC_EV_CLOSED;
}

static smtpc_event_type client_event(smtpc_conn *c, smtpc_event *ev)
{
	const unsigned char *p;
	size_t n;
	int bare_lf;
	smtpc_err e;

	if (c->u.cl.flags & C_REPLY) {
		take_reply(c, &ev->reply);
		return SMTPC_EV_REPLY;
	}
	if (c->flags & F_TLS_EV) {
		if (c->in_end > c->in_start) {
			smtpc__set_error(c, SMTPC_ERR_STARTTLS_INJECTION);
			return SMTPC_EV_ERROR;
		}
		c->flags &= ~F_TLS_EV;
		return SMTPC_EV_STARTTLS;
	}
	if (c->flags & F_DONE)
		return SMTPC_EV_CLOSED;
	if ((c->flags & F_PAUSE) && !(c->flags & F_EOF))
		return SMTPC_EV_NEED_DATA; /* until smtpc_tls_started */
	if (!smtpc__input_line(c, &p, &n, &bare_lf)) {
		if (c->err != SMTPC_ERR_OK)
			return SMTPC_EV_ERROR;
		if (c->flags & F_EOF)
			return at_end(c);
		return SMTPC_EV_NEED_DATA;
	}
	e = (bare_lf && c->cfg.strict_crlf) ? SMTPC_ERR_BARE_LF
					    : smtpc__parse_line(p, n, &ev->line);
	if (e == SMTPC_ERR_OK)
		e = add_line(c, &ev->line);
	if (e != SMTPC_ERR_OK) {
		smtpc__set_error(c, e);
		return SMTPC_EV_ERROR;
	}
	smtpc__input_consume(c);
	return SMTPC_EV_LINE;
}

/* ---- state -------------------------------------------------------------------- */

static unsigned client_want(const smtpc_conn *c)
{
	unsigned w = 0;

	if (c->flags & F_DONE)
		return SMTPC_WANT_CLOSED | SMTPC_WANT_EVENT;
	if (c->tx_end > c->tx_start)
		w |= SMTPC_WANT_WRITE;
	if ((c->u.cl.flags & C_REPLY) || (c->flags & (F_TLS_EV | F_EOF)))
		w |= SMTPC_WANT_EVENT;
	else if (c->flags & F_PAUSE)
		w |= SMTPC_WANT_TLS;
	else if (c->in_end - c->in_start == c->in_cap || smtpc__input_has_line(c))
		w |= SMTPC_WANT_EVENT;
	if (!(c->flags & (F_EOF | F_PAUSE)) && c->in_end - c->in_start < c->in_cap)
		w |= SMTPC_WANT_READ;
	return w;
}

static smtpc_wait client_waiting_for(const smtpc_conn *c)
{
	if (c->flags & F_DONE)
		return SMTPC_WAIT_NONE;
	if (c->flags & F_PAUSE)
		return SMTPC_WAIT_TLS;
	if (c->u.cl.state != ST_OPEN || c->u.cl.bdat_left > 0)
		return SMTPC_WAIT_DATA_BLOCK;
	if (c->u.cl.q_len == 0)
		return SMTPC_WAIT_NONE;
	switch ((smtpc_cmd)c->u.cl.q[c->u.cl.q_head].cmd) {
	case SMTPC_CMD_GREETING:
		return SMTPC_WAIT_GREETING;
	case SMTPC_CMD_MAIL:
		return SMTPC_WAIT_MAIL;
	case SMTPC_CMD_RCPT:
		return SMTPC_WAIT_RCPT;
	case SMTPC_CMD_DATA:
		return SMTPC_WAIT_DATA_START;
	case SMTPC_CMD_DATA_END:
	case SMTPC_CMD_BDAT:
		return SMTPC_WAIT_DATA_END;
	default:
		return SMTPC_WAIT_OTHER;
	}
}

static void client_tls_started(smtpc_conn *c)
{
	c->u.cl.state = ST_OPEN;
	smtpc__caps_clear(c);
}
