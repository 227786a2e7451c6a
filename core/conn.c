/*
 * conn.c - initialisation, the event pump, reply handling and state queries.
 *
 * Receive buffer layout (all inside the caller's rx):
 *   [ input: max_line + 2 ][ reply text: max_reply + 1 ][ EHLO list: max_ext ]
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
 * each entry records the stream offset at its issue, and a reply answers
 * it only if its last octet came later.
 *
 * Session states: ST_OPEN <-> ST_BODY (354 to DATA / end of data),
 * ST_OPEN <-> ST_RAWBODY (354 to a raw DATA / raw "."), ST_OPEN ->
 * ST_TLS_PAUSE (220 to STARTTLS) -> ST_OPEN (smtpc_tls_started), any ->
 * ST_CLOSED (end of input).
 */
#include "internal.h"

#define REPLY_CAP (SMTPC_LINES_CAP * 256u)
#define EXT_CAP 65536u

void smtpc_config_default(smtpc_config *cfg)
{
	if (cfg == NULL)
		return;
	memset(cfg, 0, sizeof *cfg);
	cfg->max_line = 2048;
	cfg->max_lines = 64;
	cfg->max_reply = 4096;
	cfg->max_ext = 1024;
	cfg->max_queue = SMTPC_QUEUE_CAP;
	cfg->max_text_line = 1000;
}

static size_t clamp(size_t v, size_t lo, size_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static void config_clamp(smtpc_config *cfg, const smtpc_config *in)
{
	if (in != NULL)
		*cfg = *in;
	else
		smtpc_config_default(cfg);
	cfg->max_line = clamp(cfg->max_line, SMTPC_LINE_MIN, SMTPC_LINE_CAP);
	cfg->max_lines = clamp(cfg->max_lines, 1, SMTPC_LINES_CAP);
	cfg->max_reply = clamp(cfg->max_reply, cfg->max_line + 1, REPLY_CAP);
	cfg->max_ext = clamp(cfg->max_ext, 0, EXT_CAP);
	cfg->max_queue = clamp(cfg->max_queue, 1, SMTPC_QUEUE_CAP);
	cfg->max_text_line = clamp(cfg->max_text_line, cfg->max_line < 1000 ? cfg->max_line : 1000,
	                           cfg->max_line);
}

size_t smtpc_rx_min(const smtpc_config *in)
{
	smtpc_config cfg;

	config_clamp(&cfg, in);
	return (cfg.max_line + 2) + (cfg.max_reply + 1) + cfg.max_ext;
}

smtpc_err smtpc_init(smtpc_conn *c, const smtpc_config *cfg, void *rx, size_t rx_len, void *tx,
                     size_t tx_len)
{
	if (c == NULL || rx == NULL || tx == NULL)
		return SMTPC_ERR_NULL_ARG;
	memset(c, 0, sizeof *c);
	config_clamp(&c->cfg, cfg);
	if (rx_len < smtpc_rx_min(&c->cfg) || tx_len < SMTPC_TX_MIN)
		return SMTPC_ERR_BUFFER_SMALL;
	c->in = rx;
	c->in_cap = c->cfg.max_line + 2;
	c->rep = (char *)c->in + c->in_cap;
	c->ext = c->rep + c->cfg.max_reply + 1;
	c->rep[0] = '\0';
	c->tx = tx;
	c->tx_cap = tx_len;
	c->state = ST_OPEN;
	smtpc__push(c, SMTPC_CMD_GREETING, 0, 0);
	return SMTPC_ERR_OK;
}

/* ---- replies ---------------------------------------------------------------- */

/* The queue entry a just-completed reply answers, or NULL. A reply whose
 * last octet arrived before the head command was issued answers nothing. */
static const smtpc_qent *answered(const smtpc_conn *c)
{
	const smtpc_qent *e;

	if (c->q_len == 0)
		return NULL;
	e = &c->q[c->q_head];
	if (!c->cfg.early_replies && (int32_t)(uint32_t)(c->rep_end - e->mark) <= 0)
		return NULL;
	return e;
}

static void apply_reply(smtpc_conn *c, const smtpc_reply *r)
{
	smtpc_qent e;
	smtpc_cmd kind;
	int ok = r->code / 100u == 2;

	if (r->code == 421) /* RFC 5321 3.8: the server is closing */
		c->flags |= F_CLOSING;
	if (answered(c) == NULL)
		return;
	e = c->q[c->q_head];
	if (e.cmd == SMTPC_CMD_AUTH && r->code == 334) {
		smtpc__auth_challenge(c, r->text, r->len);
		return;
	}
	c->q_head = (c->q_head + 1) % SMTPC_QUEUE_CAP;
	c->q_len--;
	kind = (e.flags & QF_RAW) ? QF_GET_VERB(e.flags) : (smtpc_cmd)e.cmd;
	switch (kind) {
	case SMTPC_CMD_EHLO:
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
	case SMTPC_CMD_MAIL:
		if (!ok && e.index == c->txn && (c->flags & F_MAIL))
			smtpc__end_transaction(c);
		break;
	case SMTPC_CMD_DATA:
		if (r->code == 354) {
			c->state = (e.flags & QF_RAW) ? ST_RAWBODY : ST_BODY;
			smtpc_dot_init(&c->dot);
		}
		break;
	case SMTPC_CMD_QUIT:
		if (r->code == 221)
			c->flags |= F_CLOSING;
		break;
	case SMTPC_CMD_STARTTLS:
		if (r->code == 220) {
			c->state = ST_TLS_PAUSE;
			c->flags |= F_TLS_EV;
		}
		break;
	case SMTPC_CMD_AUTH: /* typed: the final reply; raw: any reply */
		c->flags &= ~F_RAWAUTH;
		if (r->code == 235)
			c->flags |= F_AUTHED;
		else if (r->code == 334)
			c->flags |= F_RAWAUTH;
		if (!(e.flags & QF_RAW))
			smtpc__auth_done(c);
		break;
	default:
		break;
	}
}

static void take_reply(smtpc_conn *c, smtpc_reply *r)
{
	const smtpc_qent *e;

	r->code = c->rep_code;
	r->esc = c->rep_esc;
	r->text = c->rep;
	r->len = c->rep_len;
	r->nlines = c->rep_lines;
	e = answered(c);
	if (e != NULL) {
		r->cmd = (smtpc_cmd)e->cmd;
		r->index = (e->cmd == SMTPC_CMD_RCPT || e->cmd == SMTPC_CMD_BDAT) ? e->index : 0;
	}
	apply_reply(c, r);
	c->flags &= ~F_REPLY;
	c->rep_len = 0; /* the text stays readable until the next line */
	c->rep_lines = 0;
}

/* Adds one parsed line to the reply being assembled. */
static smtpc_err add_line(smtpc_conn *c, smtpc_line *l)
{
	char *dst;

	if (c->rep_lines > 0 && l->code != c->rep_code)
		return SMTPC_ERR_CODE_MISMATCH;
	if (c->rep_lines >= c->cfg.max_lines)
		return SMTPC_ERR_TOO_MANY_LINES;
	if ((c->rep_lines > 0) + l->len > c->cfg.max_reply - c->rep_len)
		return SMTPC_ERR_REPLY_TOO_LONG;
	if (c->rep_lines > 0)
		c->rep[c->rep_len++] = '\n';
	dst = c->rep + c->rep_len;
	memcpy(dst, l->text, l->len);
	c->rep_len += l->len;
	c->rep[c->rep_len] = '\0';
	if (c->rep_lines == 0) {
		c->rep_code = l->code;
		smtpc__parse_esc(dst, l->len, l->code, &c->rep_esc);
	}
	c->rep_lines++;
	l->text = dst;
	if (l->last) {
		c->flags |= F_REPLY;
		c->rep_end = c->rx_total - (uint32_t)(c->in_end - c->in_scan);
	}
	return SMTPC_ERR_OK;
}

/* Only a QUIT reply may go missing when the server closes. */
static int owes_replies(const smtpc_conn *c)
{
	size_t i;

	if (c->flags & F_CLOSING)
		return 0;
	for (i = 0; i < c->q_len; i++) {
		if (c->q[(c->q_head + i) % SMTPC_QUEUE_CAP].cmd != SMTPC_CMD_QUIT)
			return 1;
	}
	return 0;
}

static smtpc_event_type at_end(smtpc_conn *c)
{
	if (c->in_end > c->in_start || c->rep_lines > 0)
		smtpc__set_error(c, SMTPC_ERR_TRUNCATED);
	else if (owes_replies(c))
		smtpc__set_error(c, SMTPC_ERR_CLOSED);
	if (c->err != SMTPC_ERR_OK)
		return SMTPC_EV_ERROR;
	c->state = ST_CLOSED;
	return SMTPC_EV_CLOSED;
}

smtpc_event_type smtpc_next_event(smtpc_conn *c, smtpc_event *ev)
{
	const unsigned char *p;
	size_t n;
	int bare_lf;
	smtpc_err e;

	if (c == NULL || ev == NULL)
		return SMTPC_EV_ERROR;
	memset(ev, 0, sizeof *ev);
	if (c->srv.on)
		return smtpc__server_event(c, ev);
	if (c->err != SMTPC_ERR_OK)
		goto error;
	if (c->flags & F_REPLY) {
		take_reply(c, &ev->reply);
		return ev->type = SMTPC_EV_REPLY;
	}
	if (c->flags & F_TLS_EV) {
		if (c->in_end > c->in_start) {
			smtpc__set_error(c, SMTPC_ERR_STARTTLS_INJECTION);
			goto error;
		}
		c->flags &= ~F_TLS_EV;
		return ev->type = SMTPC_EV_STARTTLS;
	}
	if (c->state == ST_TLS_PAUSE && !(c->flags & F_EOF))
		return ev->type = SMTPC_EV_NEED_DATA; /* until smtpc_tls_started */
	if (c->state == ST_CLOSED)
		return ev->type = SMTPC_EV_CLOSED;
	if (!smtpc__input_line(c, &p, &n, &bare_lf)) {
		if (c->err != SMTPC_ERR_OK)
			goto error;
		if (c->flags & F_EOF) {
			ev->type = at_end(c);
			if (ev->type == SMTPC_EV_ERROR)
				goto error;
			return ev->type;
		}
		return ev->type = SMTPC_EV_NEED_DATA;
	}
	e = (bare_lf && c->cfg.strict_crlf) ? SMTPC_ERR_BARE_LF : smtpc__parse_line(p, n, &ev->line);
	if (e == SMTPC_ERR_OK)
		e = add_line(c, &ev->line);
	if (e != SMTPC_ERR_OK) {
		smtpc__set_error(c, e);
		goto error;
	}
	smtpc__input_consume(c);
	return ev->type = SMTPC_EV_LINE;
error:
	memset(ev, 0, sizeof *ev);
	ev->err = c->err;
	return ev->type = SMTPC_EV_ERROR;
}

/* ---- state ------------------------------------------------------------------- */

unsigned smtpc_want(const smtpc_conn *c)
{
	unsigned w = 0;

	if (c == NULL || c->err != SMTPC_ERR_OK || c->state == ST_CLOSED)
		return SMTPC_WANT_CLOSED | SMTPC_WANT_EVENT;
	if (c->srv.on)
		return smtpc__server_want(c);
	if (c->tx_end > c->tx_start)
		w |= SMTPC_WANT_WRITE;
	if (c->flags & (F_REPLY | F_TLS_EV | F_EOF))
		w |= SMTPC_WANT_EVENT;
	else if (c->state == ST_TLS_PAUSE)
		w |= SMTPC_WANT_TLS;
	else if (c->in_end - c->in_start == c->in_cap ||
	         (c->in_end > c->in_scan && memchr(c->in + c->in_scan, '\n', c->in_end - c->in_scan)))
		w |= SMTPC_WANT_EVENT;
	if (!(c->flags & F_EOF) && c->state != ST_TLS_PAUSE && c->in_end - c->in_start < c->in_cap)
		w |= SMTPC_WANT_READ;
	return w;
}

smtpc_wait smtpc_waiting_for(const smtpc_conn *c)
{
	if (c == NULL)
		return SMTPC_WAIT_NONE;
	if (c->state == ST_BODY || c->state == ST_RAWBODY || c->bdat_left > 0)
		return SMTPC_WAIT_DATA_BLOCK;
	if (c->q_len == 0)
		return SMTPC_WAIT_NONE;
	switch ((smtpc_cmd)c->q[c->q_head].cmd) {
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

smtpc_err smtpc_error(const smtpc_conn *c)
{
	return c != NULL ? c->err : SMTPC_ERR_NULL_ARG;
}

size_t smtpc_pending(const smtpc_conn *c)
{
	return c != NULL ? c->q_len : 0;
}

int smtpc_is_greeted(const smtpc_conn *c)
{
	return c != NULL && (c->flags & F_GREETED) != 0;
}

int smtpc_is_secure(const smtpc_conn *c)
{
	return c != NULL && (c->flags & F_SECURE) != 0;
}

int smtpc_is_authenticated(const smtpc_conn *c)
{
	return c != NULL && (c->flags & F_AUTHED) != 0;
}

void smtpc_set_secure(smtpc_conn *c)
{
	if (c != NULL)
		c->flags |= F_SECURE;
}

smtpc_err smtpc_tls_started(smtpc_conn *c)
{
	if (c == NULL)
		return SMTPC_ERR_NULL_ARG;
	if (c->err != SMTPC_ERR_OK)
		return c->err;
	if (c->state != ST_TLS_PAUSE || (c->flags & F_TLS_EV))
		return SMTPC_ERR_STATE;
	/* RFC 3207 4.2: forget everything learnt before TLS; EHLO again */
	if (c->srv.on)
		smtpc__server_tls_started(c);
	c->state = ST_OPEN;
	c->flags = (c->flags & ~(F_GREETED | F_AUTHED)) | F_SECURE;
	smtpc__caps_clear(c);
	return SMTPC_ERR_OK;
}

const char *smtpc_cmd_name(smtpc_cmd cmd)
{
	static const char *const names[] = {"NONE", "GREETING", "EHLO", "HELO", "MAIL", "RCPT",
	                                    "DATA", "DATA_END", "BDAT", "RSET", "NOOP", "VRFY",
	                                    "QUIT", "STARTTLS", "AUTH", "RAW"};

	if ((unsigned)cmd >= sizeof names / sizeof names[0])
		return "?";
	return names[cmd];
}
