/*
 * conn.c - the engine: configuration, init, dispatch to the role, and the
 * state queries both roles answer.
 *
 * Receive buffer layout (all inside the caller's rx):
 *   [ input: max_line + 2 ][ reply text: max_reply + 1 ][ EHLO list: max_ext ]
 * The client assembles replies in the reply area and keeps the extension list
 * after it; the server decodes AUTH responses into the reply area.
 *
 * The role is fixed by the init function, which installs the role's table
 * (client.c, server.c): next_event, want, waiting_for and tls_started go
 * through it, so this file names no function of either role. A connection
 * whose init failed has no table and refuses everything (SMTPC_ERR_ROLE).
 *
 * ABI (zlib's deflateInit_ check): init receives sizeof(smtpc_conn) and the
 * caps key as the caller's unit saw them, and refuses a mismatch before it
 * writes anything, so a program built with other caps cannot make the
 * library write past its struct.
 *
 * End of session: the first end recorded wins (smtpc__end); an error with no
 * end recorded reads as SMTPC_END_ERROR.
 */
#include "internal.h"

#define REPLY_CAP (SMTPC_LINES_CAP * 256u)

#define EXT_CAP 65536u

/* The caps a build may set (smtpc_limits.h), checked when the library is
 * compiled: a wrong value fails the build instead of indexing past an
 * array. */
typedef char smtpc__queue_cap_ok[SMTPC_QUEUE_CAP >= 1u && SMTPC_QUEUE_CAP <= 65535u ? 1 : -1];
typedef char smtpc__rcpt_cap_ok[SMTPC_LMTP_RCPT_CAP >= 32u && SMTPC_LMTP_RCPT_CAP <= 65535u &&
					SMTPC_LMTP_RCPT_CAP % 32u == 0
				    ? 1
				    : -1];

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
	size_t text_hi;

	if (in != NULL)
		*cfg = *in;
	else
		smtpc_config_default(cfg);
	cfg->max_line = clamp(cfg->max_line, SMTPC_LINE_MIN, SMTPC_LINE_CAP);
	cfg->max_lines = clamp(cfg->max_lines, 1, SMTPC_LINES_CAP);
	cfg->max_reply = clamp(cfg->max_reply, cfg->max_line + 1, REPLY_CAP);
	cfg->max_ext = clamp(cfg->max_ext, 0, EXT_CAP);
	cfg->max_queue = clamp(cfg->max_queue, 1, SMTPC_QUEUE_CAP);
	/* RFC 5321 4.5.3.1.6: 1000 with the CRLF; the input area holds the line,
	 * a doubled dot and the CRLF */
	text_hi = cfg->max_line + 1;
	cfg->max_text_line = clamp(cfg->max_text_line, text_hi < 1000 ? text_hi : 1000, text_hi);
}

size_t smtpc_rx_min(const smtpc_config *in)
{
	smtpc_config cfg;

	config_clamp(&cfg, in);
	return (cfg.max_line + 2) + (cfg.max_reply + 1) + cfg.max_ext;
}

smtpc_err smtpc__engine_init(smtpc_conn *c, const smtpc_config *cfg, void *rx, size_t rx_len,
			     void *tx, size_t tx_len, size_t conn_size, unsigned long caps_key)
{
	if (c == NULL)
		return SMTPC_ERR_NULL_ARG;
	if (conn_size != sizeof *c || caps_key != SMTPC_CAPS_KEY) {
		if (conn_size >= sizeof c->role)
			c->role = NULL; /* the first field in every layout */
		return SMTPC_ERR_ABI;
	}
	memset(c, 0, sizeof *c);
	if (rx == NULL || tx == NULL)
		return SMTPC_ERR_NULL_ARG;
	config_clamp(&c->cfg, cfg);
	if (rx_len < smtpc_rx_min(&c->cfg) || tx_len < SMTPC_TX_MIN)
		return SMTPC_ERR_BUFFER_SMALL;
	c->in = rx;
	c->in_cap = c->cfg.max_line + 2;
	REP(c)[0] = '\0';
	c->tx = tx;
	c->tx_cap = tx_len;
	return SMTPC_ERR_OK;
}

void smtpc__end(smtpc_conn *c, smtpc_end_how how, unsigned code, unsigned unanswered)
{
	if (c->end_how != SMTPC_END_NONE)
		return;
	c->end_how = (unsigned char)how;
	c->end_code = (unsigned short)code;
	c->end_unanswered = (unsigned short)(unanswered > 0xffffu ? 0xffffu : unanswered);
	c->end_txn = (c->flags & F_TXN) != 0;
}

void smtpc__bit_set(smtpc_conn *c, unsigned i)
{
	if (i < SMTPC_LMTP_RCPT_CAP)
		c->lmtp_ok[i / 32] |= (uint32_t)1 << (i % 32);
}

int smtpc__bit(const smtpc_conn *c, unsigned i)
{
	return i < SMTPC_LMTP_RCPT_CAP && (c->lmtp_ok[i / 32] >> (i % 32) & 1u);
}

/* ---- dispatch ------------------------------------------------------------------ */

smtpc_event_type smtpc_next_event(smtpc_conn *c, smtpc_event *ev)
{
	smtpc_event_type t;

	if (ev == NULL)
		return SMTPC_EV_ERROR;
	memset(ev, 0, sizeof *ev);
	if (c == NULL || c->role == NULL || (c->flags & F_HOOK)) {
		ev->err = c == NULL	    ? SMTPC_ERR_NULL_ARG
			  : c->role == NULL ? SMTPC_ERR_ROLE
					    : SMTPC_ERR_REENTRANT;
		return ev->type = SMTPC_EV_ERROR;
	}
	t = c->err != SMTPC_ERR_OK ? SMTPC_EV_ERROR : c->role->next_event(c, ev);
	if (t == SMTPC_EV_ERROR) {
		ev->line.text = NULL; /* a line that failed is not delivered */
		ev->line.len = 0;
		ev->err = c->err;
	}
	if (t == SMTPC_EV_ERROR || t == SMTPC_EV_CLOSED)
		smtpc_session_end(c, &ev->end);
	return ev->type = t;
}

unsigned smtpc_want(const smtpc_conn *c)
{
	if (c == NULL || c->role == NULL || c->err != SMTPC_ERR_OK)
		return SMTPC_WANT_CLOSED | SMTPC_WANT_EVENT;
	return c->role->want(c);
}

smtpc_wait smtpc_waiting_for(const smtpc_conn *c)
{
	if (c == NULL || c->role == NULL)
		return SMTPC_WAIT_NONE;
	return c->role->waiting_for(c); /* after an error: what was awaited */
}

smtpc_err smtpc_tls_started(smtpc_conn *c)
{
	if (c == NULL)
		return SMTPC_ERR_NULL_ARG;
	if (c->role == NULL)
		return SMTPC_ERR_ROLE;
	if (c->flags & F_HOOK)
		return SMTPC_ERR_REENTRANT;
	if (c->err != SMTPC_ERR_OK)
		return c->err;
	if (!(c->flags & F_PAUSE) || (c->flags & (F_TLS_EV | F_DONE)))
		return SMTPC_ERR_STATE;
	/* RFC 3207 4.2: forget everything learnt before TLS; EHLO again */
	c->role->tls_started(c);
	c->flags = (c->flags & ~(F_GREETED | F_AUTHED | F_PAUSE)) | F_SECURE;
	return SMTPC_ERR_OK;
}

/* ---- state -------------------------------------------------------------------- */

smtpc_err smtpc_error(const smtpc_conn *c)
{
	return c != NULL ? c->err : SMTPC_ERR_NULL_ARG;
}

size_t smtpc_pending(const smtpc_conn *c)
{
	size_t n, left;
	unsigned i;

	if (c == NULL || c->role == NULL || c->err != SMTPC_ERR_OK)
		return 0; /* ended: see smtpc_session_end for what went unanswered */
	if (c->role->server)
		return c->u.sv.owed;
	n = c->u.cl.q_len;
	if (n == 0 || !(c->u.cl.q[c->u.cl.q_head].flags & QF_LMTP))
		return n;
	/* LMTP's end of data at the head: every RCPT is answered by now, so it
	 * waits for one reply per accepted recipient (at least one) */
	left = c->u.cl.lmtp_left;
	for (i = 0; c->u.cl.lmtp_left == 0 && i < SMTPC_LMTP_RCPT_CAP; i++)
		left += smtpc__bit(c, i);
	return n - 1 + (left != 0 ? left : 1);
}

int smtpc_is_greeted(const smtpc_conn *c)
{
	return c != NULL && (c->flags & F_GREETED) != 0;
}

int smtpc_is_secure(const smtpc_conn *c)
{
	return c != NULL && (c->flags & F_SECURE) != 0;
}

int smtpc_is_client(const smtpc_conn *c)
{
	return c != NULL && c->role != NULL && !c->role->server;
}

int smtpc_is_server(const smtpc_conn *c)
{
	return c != NULL && c->role != NULL && c->role->server;
}

int smtpc_is_authenticated(const smtpc_conn *c)
{
	return c != NULL && (c->flags & F_AUTHED) != 0;
}

void smtpc_set_secure(smtpc_conn *c)
{
	if (c != NULL && c->role != NULL)
		c->flags |= F_SECURE;
}

smtpc_end_how smtpc_session_end(const smtpc_conn *c, smtpc_end *end)
{
	smtpc_end e;

	memset(&e, 0, sizeof e);
	if (c != NULL && c->role != NULL) {
		e.how = (smtpc_end_how)c->end_how;
		e.code = c->end_code;
		e.unanswered = c->end_unanswered;
		e.transaction = c->end_txn;
		if (e.how == SMTPC_END_NONE && c->err != SMTPC_ERR_OK) {
			e.how = SMTPC_END_ERROR;
			e.unanswered = c->role->server ? 0 : c->u.cl.q_len;
			e.transaction = (c->flags & F_TXN) != 0;
		}
	}
	if (end != NULL)
		*end = e;
	return e.how;
}

const char *smtpc_cmd_name(smtpc_cmd cmd)
{
	static const char *const names[] = {"NONE", "GREETING", "EHLO", "HELO", "MAIL", "RCPT",
					    "DATA", "DATA_END", "BDAT", "RSET", "NOOP", "VRFY",
					    "QUIT", "STARTTLS", "AUTH", "RAW",	"LHLO"};

	if ((unsigned)cmd >= sizeof names / sizeof names[0])
		return "?";
	return names[cmd];
}
