/*
 * server.c - the server role: commands in, replies out, message data
 * decoded strictly, LMTP.
 *
 * It shares the engine (input area, transmit buffer, sticky error), the
 * argument checks (address.c), base64 and the error table with the client
 * role, and is reached only through server_role, which smtpc_server_init
 * installs: a program that never calls it links none of this file. Its
 * states:
 *
 *   GREET -> CMD <-> REPLY (an event is out, smtpc_server_reply owed)
 *            CMD -> DATA (354) -> REPLY (end of data) -> CMD
 *            CMD -> BDAT (chunk octets) -> REPLY (chunk end or LAST) -> CMD
 *            CMD -> AUTH_PLAIN / AUTH_USER -> AUTH_PASS -> CMD
 *            CMD -> TLS pause (220 to STARTTLS) -> CMD (smtpc_tls_started)
 *            any -> CLOSED (221 to QUIT, 421, end of input); SMTPC_EV_CLOSED
 *                   once the last reply has left the transmit buffer
 *
 * Lines. A command line must end in CRLF; a bare LF, any control byte, or
 * a line over its limit (RFC 5321 4.5.3.1.4: 512 octets, 1024 for MAIL and
 * RCPT with parameters) is answered 500 and not acted on (and ends an AUTH
 * exchange, whose response it was). A line too long for the input area is
 * dropped as it arrives and answered when its LF comes, so no part of it is
 * ever read as a command.
 *
 * Message data (RFC 5321 4.1.1.4, 4.5.2). Only a line "." that follows a
 * CRLF and ends in CRLF ends the data. A bare CR or bare LF anywhere, a line
 * over max_text_line (counted without a leading dot, which the client
 * doubled: 4.5.3.1.6), or more than max_message octets marks the message
 * bad: reading goes on to the real end, nothing more is delivered, and the
 * core answers 5xx itself, so a message that could be read two ways (SMTP
 * smuggling, CVE-2023-51764/5/6) is never accepted.
 *
 * Acknowledgement. The core never answers message data with 2xx: the end
 * of each BDAT chunk (SMTPC_EV_CHUNK_END) and of each message
 * (SMTPC_EV_BODY_END) is the application's to answer, once it has stored
 * what it got. A reply other than 2xx to a chunk fails the transaction
 * (RFC 3030 2): it is reset, and the chunks the client had already pipelined
 * are read, refused with 503 and not delivered. The replies to the end of a
 * message end the transaction whatever they say (RFC 5321 3.3).
 *
 * LMTP (RFC 2033). With cfg.lmtp, LHLO replaces EHLO and HELO (refused with
 * 500), DATA with no accepted recipient gets 503 (4.2), and after the end of
 * the data the application owes one reply per accepted recipient, in RCPT
 * order (smtpc_pending counts them, smtpc_server_reply_rcpt names the next
 * recipient); a refusal by the core is repeated as many times. Recipients
 * past SMTPC_LMTP_RCPT_CAP in one transaction get 452 4.5.3 (RFC 5321
 * 4.5.3.1.10).
 *
 * Room. Before it reads a line the core keeps REPLY_ROOM octets free in the
 * transmit buffer for its own replies; when there is less it stops (the
 * adapter sends, then pulls again). Repeated refusals go out as room
 * allows.
 */
#include "internal.h"

enum {
	SS_GREET = 0,
	SS_CMD,
	SS_REPLY,
	SS_DATA,
	SS_BDAT,
	SS_AUTH_PLAIN,
	SS_AUTH_USER,
	SS_AUTH_PASS,
	SS_TLS,
	SS_CLOSED
};

#define SF_UTF8		(1u << 0) /* the transaction's MAIL had SMTPUTF8 */
#define SF_PREV_CRLF	(1u << 1) /* data: the last line ended in CRLF */
#define SF_BAD		(1u << 2) /* data: the message will be refused */
#define SF_STARTTLS	(1u << 3) /* STARTTLS allowed */
#define SF_MIDLINE	(1u << 4) /* dropping an over-long line */
#define SF_MIDLINE_CR	(1u << 5)
#define SF_LAST		(1u << 6)  /* the BDAT chunk being read is LAST */
#define SF_REFUSE	(1u << 7)  /* greeted with 554: only QUIT */
#define SF_SEQ		(1u << 8)  /* BDAT out of sequence: refuse after it */
#define SF_CHUNKED	(1u << 9)  /* BDAT used in this transaction */
#define SF_AUTH_INITIAL (1u << 10) /* the AUTH line carried a response */

#define REPLY_ROOM 1024u /* room kept for the core's own replies */

static smtpc_event_type server_event(smtpc_conn *c, smtpc_event *ev);
static unsigned server_want(const smtpc_conn *c);
static smtpc_wait server_waiting_for(const smtpc_conn *c);
static void server_tls_started(smtpc_conn *c);

static const struct smtpc_role server_role = {server_event, server_want, server_waiting_for,
					      server_tls_started, 1};

static int is_server(const smtpc_conn *c)
{
	return c != NULL && c->role == &server_role;
}

/* ---- replies ------------------------------------------------------------------ */

/* Writes one reply the core makes itself (always fits: see REPLY_ROOM). */
static void say(smtpc_conn *c, const char *line)
{
	size_t n = strlen(line);

	if (smtpc__tx_room(c, n + 2) != SMTPC_ERR_OK)
		return;
	memcpy(c->tx + c->tx_end, line, n);
	memcpy(c->tx + c->tx_end + n, "\r\n", 2);
	c->tx_end += n + 2;
}

static void reset_txn(smtpc_conn *c)
{
	c->u.sv.flags &= ~(SF_UTF8 | SF_BAD | SF_SEQ | SF_LAST | SF_CHUNKED);
	c->flags &= ~F_TXN;
	c->u.sv.rcpts_seen = 0;
	c->u.sv.rcpts_ok = 0;
	c->u.sv.chunk = 0;
	c->u.sv.size = 0;
	memset(c->lmtp_ok, 0, sizeof c->lmtp_ok);
}

/* Ends the session: nothing more is read; CLOSED once the replies are out. */
static void finish(smtpc_conn *c, smtpc_end_how how, unsigned code)
{
	smtpc__end(c, how, code, 0);
	c->u.sv.state = SS_CLOSED;
	c->u.sv.owed = 0;
	c->flags = (c->flags & ~(F_PAUSE | F_TLS_EV)) | F_DONE;
}

smtpc_err smtpc_server_init_(smtpc_conn *c, const smtpc_config *cfg, void *rx, size_t rx_len,
			     void *tx, size_t tx_len, size_t conn_size, unsigned long caps_key)
{
	smtpc_err e = smtpc__engine_init(c, cfg, rx, rx_len, tx, tx_len, conn_size, caps_key);

	if (e != SMTPC_ERR_OK)
		return e;
	if (tx_len < SMTPC_SERVER_TX_MIN)
		return SMTPC_ERR_BUFFER_SMALL;
	c->role = &server_role;
	c->u.sv.state = SS_GREET;
	return SMTPC_ERR_OK;
}

void smtpc_server_allow_starttls(smtpc_conn *c, int allow)
{
	if (!is_server(c))
		return;
	if (allow)
		c->u.sv.flags |= SF_STARTTLS;
	else
		c->u.sv.flags &= ~SF_STARTTLS;
}

void smtpc_server_set_auth(smtpc_conn *c, smtpc_server_auth_fn fn, void *ctx)
{
	if (!is_server(c))
		return;
	c->u.sv.auth = fn;
	c->u.sv.auth_ctx = ctx;
}

/* Frames "code-line" ... "code line" from text split at '\n'. */
static smtpc_err frame(smtpc_conn *c, unsigned code, const char *text)
{
	size_t n = strlen(text), total = 0, i, start = 0;
	char num[4];
	smtpc_err e;

	if (code < 200 || code > 599)
		return SMTPC_ERR_BAD_PARAM;
	for (i = 0; i <= n; i++) { /* check and measure */
		if (i == n || text[i] == '\n') {
			if (i - start > SMTPC_COMMAND_MAX - 6)
				return SMTPC_ERR_TOO_LONG; /* RFC 5321 4.5.3.1.5 */
			total += 4 + (i - start) + 2;
			if (total > c->tx_cap)
				return SMTPC_ERR_TX_SMALL; /* (and no overflow of total) */
			start = i + 1;
		} else if (smtpc__is_ctrl((unsigned char)text[i]) && text[i] != '\t') {
			return SMTPC_ERR_CTRL_CHAR;
		}
	}
	e = smtpc__tx_room(c, total);
	if (e != SMTPC_ERR_OK)
		return e;
	num[0] = (char)('0' + code / 100);
	num[1] = (char)('0' + code / 10 % 10);
	num[2] = (char)('0' + code % 10);
	for (start = 0, i = 0; i <= n; i++) {
		if (i == n || text[i] == '\n') {
			unsigned char *w = c->tx + c->tx_end;
			memcpy(w, num, 3);
			w[3] = (unsigned char)(i == n ? ' ' : '-');
			memcpy(w + 4, text + start, i - start);
			memcpy(w + 4 + (i - start), "\r\n", 2);
			c->tx_end += 4 + (i - start) + 2;
			start = i + 1;
		}
	}
	return SMTPC_ERR_OK;
}

/* The checks every server call makes first. */
static smtpc_err server_ok(const smtpc_conn *c, const void *arg)
{
	if (c == NULL || arg == NULL)
		return SMTPC_ERR_NULL_ARG;
	if (!is_server(c))
		return SMTPC_ERR_ROLE;
	if (c->flags & F_HOOK)
		return SMTPC_ERR_REENTRANT;
	return c->err;
}

smtpc_err smtpc_server_greet(smtpc_conn *c, unsigned code, const char *text)
{
	smtpc_err e = server_ok(c, text);

	if (e != SMTPC_ERR_OK)
		return e;
	if (c->u.sv.state != SS_GREET)
		return c->u.sv.state == SS_CLOSED ? SMTPC_ERR_ENDED : SMTPC_ERR_STATE;
	e = frame(c, code, text);
	if (e != SMTPC_ERR_OK)
		return e;
	c->u.sv.state = SS_CMD;
	if (code == 421) /* RFC 5321 3.8: service not available, closing */
		finish(c, SMTPC_END_SHUTDOWN, 421);
	else if (code != 220)
		c->u.sv.flags |= SF_REFUSE; /* 554 (RFC 5321 3.1): only QUIT */
	return SMTPC_ERR_OK;
}

/* The first accepted recipient at or after i (SMTPC_LMTP_RCPT_CAP: none). */
static unsigned next_ok(const smtpc_conn *c, unsigned i)
{
	while (i < SMTPC_LMTP_RCPT_CAP && !smtpc__bit(c, i))
		i++;
	return i;
}

smtpc_err smtpc_server_reply(smtpc_conn *c, unsigned code, const char *text)
{
	smtpc_err e = server_ok(c, text);
	int ok = code / 100 == 2;

	if (e != SMTPC_ERR_OK)
		return e;
	if (c->u.sv.state != SS_REPLY)
		return c->u.sv.state == SS_CLOSED ? SMTPC_ERR_ENDED : SMTPC_ERR_STATE;
	e = frame(c, code, text);
	if (e != SMTPC_ERR_OK)
		return e;
	if (code == 421) { /* RFC 5321 3.8: whatever was asked, the end */
		finish(c, SMTPC_END_SHUTDOWN, 421);
		return SMTPC_ERR_OK;
	}
	c->u.sv.state = SS_CMD;
	c->u.sv.owed--;
	switch ((smtpc_cmd)c->u.sv.cmd) {
	case SMTPC_CMD_EHLO:
	case SMTPC_CMD_HELO:
	case SMTPC_CMD_LHLO:
		if (ok)
			c->flags |= F_GREETED;
		break;
	case SMTPC_CMD_MAIL:
		if (ok)
			c->flags |= F_TXN;
		else
			c->u.sv.flags &= ~SF_UTF8;
		break;
	case SMTPC_CMD_RCPT:
		if (ok) {
			if (c->u.sv.rcpts_ok < 0xffffu) /* 65536 recipients: still some */
				c->u.sv.rcpts_ok++;
			smtpc__bit_set(c, c->u.sv.rcpts_seen - 1u);
		}
		break;
	case SMTPC_CMD_DATA:
		if (code == 354) {
			c->u.sv.state = SS_DATA;
			c->u.sv.flags |= SF_PREV_CRLF;
			c->u.sv.flags &= ~SF_BAD;
			c->u.sv.size = 0;
		}
		break;
	case SMTPC_CMD_BDAT: /* a chunk that is not LAST */
		if (!ok)
			reset_txn(c); /* RFC 3030 2: the transaction failed */
		break;
	default: /* the end of a message: one reply, or one per recipient */
		if (c->u.sv.owed > 0) {
			c->u.sv.next_rcpt = (unsigned short)next_ok(c, c->u.sv.next_rcpt + 1u);
			c->u.sv.state = SS_REPLY;
		} else {
			reset_txn(c);
		}
		break;
	}
	return SMTPC_ERR_OK;
}

smtpc_err smtpc_server_reply_ehlo(smtpc_conn *c, const char *domain, const smtpc_caps *k)
{
	static const struct {
		unsigned bit;
		const char *word;
	} words[] = {{SMTPC_EXT_PIPELINING, "PIPELINING"},
		     {SMTPC_EXT_8BITMIME, "8BITMIME"},
		     {SMTPC_EXT_BINARYMIME, "BINARYMIME"},
		     {SMTPC_EXT_SMTPUTF8, "SMTPUTF8"},
		     {SMTPC_EXT_CHUNKING, "CHUNKING"},
		     {SMTPC_EXT_DSN, "DSN"},
		     {SMTPC_EXT_ENHANCEDSTATUSCODES, "ENHANCEDSTATUSCODES"},
		     {SMTPC_EXT_REQUIRETLS, "REQUIRETLS"}};
	char text[512];
	size_t n, i;
	smtpc_err e = server_ok(c, domain);

	if (e == SMTPC_ERR_OK && k == NULL)
		e = SMTPC_ERR_NULL_ARG;
	if (e != SMTPC_ERR_OK)
		return e;
	if (c->u.sv.state == SS_CLOSED)
		return SMTPC_ERR_ENDED;
	if (c->u.sv.state != SS_REPLY ||
	    (c->u.sv.cmd != SMTPC_CMD_EHLO && c->u.sv.cmd != SMTPC_CMD_LHLO))
		return SMTPC_ERR_STATE;
	n = strlen(domain);
	if (n == 0 || n > 255 || smtpc__check_text(domain, n, 1) != SMTPC_ERR_OK)
		return SMTPC_ERR_BAD_DOMAIN; /* RFC 5321 4.1.1.1: "250" SP Domain */
	memcpy(text, domain, n);
	for (i = 0; i < sizeof words / sizeof words[0]; i++) {
		if (k->ext & words[i].bit) {
			text[n++] = '\n';
			memcpy(text + n, words[i].word, strlen(words[i].word));
			n += strlen(words[i].word);
		}
	}
	if (k->ext & SMTPC_EXT_SIZE) {
		memcpy(text + n, "\nSIZE ", 6);
		n += 6 + smtpc__u64_dec(text + n + 6, k->size_limit);
	}
	if ((k->ext & SMTPC_EXT_STARTTLS) && (c->u.sv.flags & SF_STARTTLS) &&
	    !(c->flags & F_SECURE)) {
		memcpy(text + n, "\nSTARTTLS", 9);
		n += 9;
	}
	if ((k->ext & SMTPC_EXT_AUTH) && c->u.sv.auth != NULL &&
	    ((c->flags & F_SECURE) || c->cfg.allow_plain_auth)) {
		memcpy(text + n, "\nAUTH PLAIN LOGIN", 17);
		n += 17;
	}
	text[n] = '\0';
	return smtpc_server_reply(c, 250, text);
}

int smtpc_server_reply_rcpt(const smtpc_conn *c, unsigned *rcpt)
{
	if (!is_server(c) || rcpt == NULL || !c->cfg.lmtp || c->u.sv.state != SS_REPLY ||
	    c->u.sv.cmd != SMTPC_CMD_DATA_END)
		return 0;
	*rcpt = c->u.sv.next_rcpt;
	return 1;
}

smtpc_err smtpc_server_shutdown(smtpc_conn *c, const char *text)
{
	smtpc_err e = server_ok(c, text);

	if (e != SMTPC_ERR_OK)
		return e;
	if (c->u.sv.state == SS_CLOSED)
		return SMTPC_ERR_ENDED;
	if (c->flags & F_PAUSE)
		return SMTPC_ERR_STATE; /* after the 220: the TLS layer's to close */
	e = frame(c, 421, text);
	if (e == SMTPC_ERR_OK)
		finish(c, SMTPC_END_SHUTDOWN, 421);
	return e;
}

/* ---- reading lines ------------------------------------------------------------------ */

/* Finds the next line. Returns 1 with the line (without its line end),
 * whether it ended in CRLF, and whether it was dropped for being too long
 * for the input area; 0 when more input is needed. */
static int next_line(smtpc_conn *c, const unsigned char **line, size_t *len, int *crlf,
		     int *dropped)
{
	const unsigned char *start = c->in + c->in_start, *lf = NULL;
	size_t pending = c->in_end - c->in_start;

	if (c->in_end > c->in_scan)
		lf = memchr(c->in + c->in_scan, '\n', c->in_end - c->in_scan);
	if (c->u.sv.flags & SF_MIDLINE) {
		if (lf == NULL) {
			if (pending > 0 && start[pending - 1] == '\r')
				c->u.sv.flags |= SF_MIDLINE_CR;
			else if (pending > 0)
				c->u.sv.flags &= ~SF_MIDLINE_CR;
			c->in_start = c->in_scan = c->in_end = 0;
			return 0;
		}
		*crlf = lf > start ? lf[-1] == '\r' : (c->u.sv.flags & SF_MIDLINE_CR) != 0;
		c->u.sv.flags &= ~(SF_MIDLINE | SF_MIDLINE_CR);
		c->in_scan = (size_t)(lf - c->in) + 1;
		*line = start;
		*len = 0;
		*dropped = 1;
		return 1;
	}
	if (lf == NULL) {
		c->in_scan = c->in_end;
		if (pending >= c->in_cap) { /* cannot fit: drop it as it comes */
			c->u.sv.flags |= SF_MIDLINE;
			if (start[pending - 1] == '\r')
				c->u.sv.flags |= SF_MIDLINE_CR;
			c->in_start = c->in_scan = c->in_end = 0;
		}
		return 0;
	}
	*len = (size_t)(lf - start);
	*crlf = *len > 0 && start[*len - 1] == '\r';
	if (*crlf)
		(*len)--;
	*dropped = 0;
	*line = start;
	c->in_scan = (size_t)(lf - c->in) + 1;
	return 1;
}

/* ---- commands ------------------------------------------------------------------------- */

static smtpc_event_type deliver(smtpc_conn *c, smtpc_event *ev, smtpc_cmd cmd)
{
	ev->command.cmd = cmd;
	c->u.sv.cmd = (unsigned char)cmd;
	c->u.sv.state = SS_REPLY;
	c->u.sv.owed = 1;
	return SMTPC_EV_COMMAND;
}

static smtpc_event_type do_mail(smtpc_conn *c, smtpc_event *ev, const char *arg, size_t n)
{
	smtpc_command *cmd = &ev->command;
	const char *v;
	size_t vlen;

	if (!(c->flags & F_GREETED)) {
		say(c, c->cfg.lmtp ? "503 5.5.1 Error: send LHLO first"
				   : "503 5.5.1 Error: send EHLO or HELO first");
		return SMTPC_EV_NEED_DATA;
	}
	if (c->flags & F_TXN) {
		say(c, "503 5.5.1 Error: nested MAIL command");
		return SMTPC_EV_NEED_DATA;
	}
	if (!smtpc__split_path(arg, n, "FROM:", cmd) ||
	    (cmd->params_len &&
	     smtpc__check_params(cmd->params, cmd->params_len) != SMTPC_ERR_OK)) {
		say(c, "501 5.5.4 Syntax: MAIL FROM:<address> [parameters]");
		return SMTPC_EV_NEED_DATA;
	}
	cmd->smtputf8 = smtpc__param(cmd->params, cmd->params_len, "SMTPUTF8", 8, NULL, NULL);
	if (cmd->arg_len &&
	    smtpc__check_mailbox(cmd->arg, cmd->arg_len, cmd->smtputf8, 0) != SMTPC_ERR_OK) {
		say(c, "553 5.1.7 Bad sender address syntax");
		return SMTPC_EV_NEED_DATA;
	}
	if (c->cfg.max_message &&
	    smtpc__param(cmd->params, cmd->params_len, "SIZE", 4, &v, &vlen)) {
		uint64_t size;
		size_t d = smtpc__dec_u64(v, vlen, &size);
		if (d != vlen || d == 0 || size > c->cfg.max_message) { /* RFC 1870 6.2 */
			say(c, d == vlen && d != 0 ? "552 5.3.4 Message size exceeds fixed limit"
						   : "501 5.5.4 Syntax: SIZE=number");
			return SMTPC_EV_NEED_DATA;
		}
	}
	reset_txn(c);
	if (cmd->smtputf8)
		c->u.sv.flags |= SF_UTF8;
	return deliver(c, ev, SMTPC_CMD_MAIL);
}

static smtpc_event_type do_rcpt(smtpc_conn *c, smtpc_event *ev, const char *arg, size_t n)
{
	smtpc_command *cmd = &ev->command;

	if (!(c->flags & F_TXN)) {
		say(c, "503 5.5.1 Error: need MAIL command");
		return SMTPC_EV_NEED_DATA;
	}
	cmd->index = c->u.sv.rcpts_seen;
	if (c->u.sv.rcpts_seen < 0xffffu)
		c->u.sv.rcpts_seen++; /* numbered as the client numbers them */
	if (!smtpc__split_path(arg, n, "TO:", cmd) || cmd->arg_len == 0 ||
	    (cmd->params_len &&
	     smtpc__check_params(cmd->params, cmd->params_len) != SMTPC_ERR_OK)) {
		say(c, "501 5.5.4 Syntax: RCPT TO:<address> [parameters]");
		return SMTPC_EV_NEED_DATA;
	}
	if (smtpc__check_mailbox(cmd->arg, cmd->arg_len, (c->u.sv.flags & SF_UTF8) != 0, 1) !=
	    SMTPC_ERR_OK) {
		say(c, "553 5.1.3 Bad recipient address syntax");
		return SMTPC_EV_NEED_DATA;
	}
	if (c->cfg.lmtp && cmd->index >= SMTPC_LMTP_RCPT_CAP) {
		say(c, "452 4.5.3 Error: too many recipients");
		return SMTPC_EV_NEED_DATA;
	}
	return deliver(c, ev, SMTPC_CMD_RCPT);
}

/* BDAT size [LAST] (RFC 3030 2). The chunk is read even when refused. */
static void do_bdat(smtpc_conn *c, const char *arg, size_t n)
{
	uint64_t size;
	size_t i = smtpc__dec_u64(arg, n, &size);

	if (i == 0 || (i < n && !(n - i == 5 && smtpc__ieq(arg + i, 5, " LAST")))) {
		say(c, "501 5.5.4 Syntax: BDAT size [LAST]");
		return;
	}
	c->u.sv.chunk_left = size;
	if (i < n)
		c->u.sv.flags |= SF_LAST;
	else
		c->u.sv.flags &= ~SF_LAST;
	if (!(c->flags & F_TXN) || c->u.sv.rcpts_ok == 0)
		c->u.sv.flags |= SF_SEQ;
	else
		c->u.sv.flags |= SF_CHUNKED;
	c->u.sv.state = SS_BDAT;
}

/* AUTH: PLAIN (RFC 4616) and LOGIN, decoded here, checked by the hook. */
static int call_auth(smtpc_conn *c, const char *user, size_t ulen, const char *pass, size_t plen)
{
	int ok;

	c->flags |= F_HOOK; /* the hook may not call back in */
	ok = c->u.sv.auth(c->u.sv.auth_ctx, user, ulen, pass, plen);
	c->flags &= ~F_HOOK;
	return ok;
}

static void auth_check(smtpc_conn *c, const char *user, size_t ulen, const char *pass, size_t plen)
{
	c->u.sv.state = SS_CMD;
	if (c->u.sv.auth == NULL) /* cleared during the exchange */
		say(c, "454 4.7.0 Temporary authentication failure");
	else if (call_auth(c, user, ulen, pass, plen)) {
		c->flags |= F_AUTHED;
		say(c, "235 2.7.0 Authentication successful");
	} else {
		say(c, "535 5.7.8 Authentication credentials invalid");
	}
}

/* Decodes base64 text into the reply area (unused in this role) at `at`. An
 * initial response "=" is the empty one (RFC 4954 4). */
static size_t decode64(smtpc_conn *c, const char *s, size_t n, size_t at, int initial)
{
	if (n == 1 && s[0] == '=' && initial)
		return 0;
	return smtpc_b64_decode((unsigned char *)REP(c) + at, c->cfg.max_reply - at, s, n);
}

static void auth_step(smtpc_conn *c, const char *s, size_t n)
{
	char *rep = REP(c);
	size_t len;
	int initial = (c->u.sv.flags & SF_AUTH_INITIAL) != 0;

	c->u.sv.flags &= ~SF_AUTH_INITIAL;
	if (n == 1 && s[0] == '*') {
		say(c, "501 5.7.0 Authentication cancelled");
		c->u.sv.state = SS_CMD;
		return;
	}
	if (c->u.sv.state == SS_AUTH_PASS) {
		size_t ulen = c->u.sv.auth_ulen; /* the user name, decoded before */
		len = decode64(c, s, n, ulen, 0);
		if (len == (size_t)-1)
			goto bad;
		auth_check(c, rep, ulen, rep + ulen, len);
		return;
	}
	len = decode64(c, s, n, 0, initial);
	if (len == (size_t)-1)
		goto bad;
	if (c->u.sv.state == SS_AUTH_USER) {
		if (len > 0xffffu) /* a user name this long is no user name */
			goto bad;
		c->u.sv.auth_ulen = (unsigned short)len;
		say(c, "334 UGFzc3dvcmQ6"); /* "Password:" */
		c->u.sv.state = SS_AUTH_PASS;
		return;
	} else { /* PLAIN: authzid NUL authcid NUL passwd */
		const char *z1 = memchr(rep, 0, len), *z2;
		size_t zlen, ulen;
		if (z1 == NULL || (z2 = memchr(z1 + 1, 0, len - (size_t)(z1 + 1 - rep))) == NULL)
			goto bad;
		zlen = (size_t)(z1 - rep);
		ulen = (size_t)(z2 - z1 - 1);
		if (zlen != 0 && (zlen != ulen || memcmp(rep, z1 + 1, ulen) != 0)) {
			/* RFC 4616 2: acting for another identity is not supported */
			say(c, "535 5.7.8 Authorization identity refused");
			c->u.sv.state = SS_CMD;
			return;
		}
		auth_check(c, z1 + 1, ulen, z2 + 1, len - (size_t)(z2 + 1 - rep));
		return;
	}
bad:
	say(c, "501 5.5.2 Cannot decode the response");
	c->u.sv.state = SS_CMD;
}

static void do_auth(smtpc_conn *c, const char *arg, size_t n)
{
	size_t k = 0;

	if (c->u.sv.auth == NULL) {
		say(c, "502 5.5.1 AUTH not available");
		return;
	}
	if (!(c->flags & F_SECURE) && !c->cfg.allow_plain_auth) {
		say(c, "538 5.7.11 Encryption required for requested authentication mechanism");
		return;
	}
	if ((c->flags & F_AUTHED) || (c->flags & F_TXN)) {
		say(c, "503 5.5.1 Error: AUTH not allowed now");
		return;
	}
	while (k < n && arg[k] != ' ')
		k++;
	if (smtpc__ieq(arg, k, "PLAIN"))
		c->u.sv.state = SS_AUTH_PLAIN;
	else if (smtpc__ieq(arg, k, "LOGIN"))
		c->u.sv.state = SS_AUTH_USER;
	else {
		say(c, "504 5.5.4 Unrecognized authentication type");
		return;
	}
	if (k < n) { /* an initial response (RFC 4954 4) */
		c->u.sv.flags |= SF_AUTH_INITIAL;
		auth_step(c, arg + k + 1, n - k - 1);
	} else {
		say(c,
		    c->u.sv.state == SS_AUTH_PLAIN ? "334 " : "334 VXNlcm5hbWU6"); /* "Username:" */
	}
}

/* The verbs the server knows, in the order of enum verb. */
static const char verbs[] = "EHLO\0HELO\0LHLO\0MAIL\0RCPT\0DATA\0BDAT\0RSET\0NOOP\0VRFY\0"
			    "HELP\0QUIT\0STARTTLS\0AUTH\0";
enum verb {
	V_EHLO,
	V_HELO,
	V_LHLO,
	V_MAIL,
	V_RCPT,
	V_DATA,
	V_BDAT,
	V_RSET,
	V_NOOP,
	V_VRFY,
	V_HELP,
	V_QUIT,
	V_STARTTLS,
	V_AUTH,
	V_UNKNOWN
};

static enum verb verb_of(const char *s, size_t k)
{
	const char *v = verbs;
	unsigned i = 0;

	for (; *v != '\0' && !smtpc__ieq(s, k, v); v += strlen(v) + 1)
		i++;
	return (enum verb)i;
}

/* Handles one command line; returns the event to deliver, or NEED_DATA. */
static smtpc_event_type command(smtpc_conn *c, smtpc_event *ev, const unsigned char *line, size_t n)
{
	static const unsigned char hellos[] = {SMTPC_CMD_EHLO, SMTPC_CMD_HELO, SMTPC_CMD_LHLO};
	const char *s = (const char *)line, *arg, *reply = NULL;
	size_t k = 0, an;
	enum verb v;

	while (k < n && s[k] != ' ')
		k++;
	v = verb_of(s, k);
	arg = k < n ? s + k + 1 : s + n;
	an = k < n ? n - k - 1 : 0;
	ev->command.arg = arg;
	ev->command.arg_len = an;
	if ((c->u.sv.flags & SF_REFUSE) && v != V_QUIT)
		reply = "503 5.5.1 Error: no service here";
	else if (n + 2 > SMTPC_COMMAND_MAX && v != V_AUTH &&
		 ((v != V_MAIL && v != V_RCPT) ||
		  n + 2 > SMTPC_COMMAND_MAX + SMTPC_PARAM_ALLOWANCE))
		reply = "500 5.5.2 Error: line too long";
	if (reply != NULL)
		v = V_UNKNOWN;
	switch (v) {
	case V_EHLO:
	case V_HELO:
	case V_LHLO:
		if ((v == V_LHLO) != (c->cfg.lmtp != 0))
			reply = c->cfg.lmtp ? "500 5.5.1 Error: this is LMTP: send LHLO"
					    : "500 5.5.1 Error: command not recognized";
		else if (smtpc__check_domain(arg, an, 0) != SMTPC_ERR_OK)
			reply = "501 5.5.4 Syntax: EHLO domain or address literal";
		else {
			reset_txn(c); /* RFC 5321 4.1.4 */
			return deliver(c, ev, (smtpc_cmd)hellos[v]);
		}
		break;
	case V_MAIL:
		return do_mail(c, ev, arg, an);
	case V_RCPT:
		return do_rcpt(c, ev, arg, an);
	case V_DATA:
		if (an != 0)
			reply = "501 5.5.4 Syntax: DATA";
		else if (!(c->flags & F_TXN))
			reply = "503 5.5.1 Error: need MAIL command";
		else if (c->u.sv.flags & SF_CHUNKED)
			reply = "503 5.5.1 Error: DATA after BDAT"; /* RFC 3030 3 */
		else if (c->u.sv.rcpts_ok == 0) /* RFC 2920 3.1; LMTP: RFC 2033 4.2 */
			reply = c->cfg.lmtp ? "503 5.5.1 Error: no valid recipients"
					    : "554 5.5.1 Error: no valid recipients";
		else
			return deliver(c, ev, SMTPC_CMD_DATA);
		break;
	case V_BDAT:
		do_bdat(c, arg, an);
		break;
	case V_RSET:
		reset_txn(c);
		/* fall through */
	case V_NOOP:
		reply = "250 2.0.0 Ok";
		break;
	case V_VRFY:
		reply = "252 2.0.0 Cannot VRFY, but will accept the message";
		break;
	case V_HELP:
		reply = "214 2.0.0 See RFC 5321";
		break;
	case V_QUIT:
		say(c, "221 2.0.0 Bye");
		finish(c, SMTPC_END_QUIT, 221);
		break;
	case V_STARTTLS:
		if (!(c->u.sv.flags & SF_STARTTLS) || (c->flags & F_SECURE))
			reply = "502 5.5.1 Error: STARTTLS not available";
		else if (an != 0)
			reply = "501 5.5.4 Syntax: STARTTLS";
		else {
			reply = "220 2.0.0 Ready to start TLS";
			c->u.sv.state = SS_TLS;
			c->flags |= F_PAUSE | F_TLS_EV; /* input now is injection */
		}
		break;
	case V_AUTH:
		do_auth(c, arg, an);
		break;
	default:
		if (reply == NULL)
			reply = "500 5.5.1 Error: command not recognized";
	}
	if (reply != NULL)
		say(c, reply);
	return SMTPC_EV_NEED_DATA;
}

/* ---- message data ---------------------------------------------------------------------------- */

/* The text of the core's refusal of a message or chunk (u.sv.why). */
static const char *refusal(smtpc_err why)
{
	switch (why) {
	case SMTPC_ERR_TOO_BIG:
		return "552 5.3.4 Error: message too big; not accepted";
	case SMTPC_ERR_DATA_LINE_LONG:
		return "500 5.5.2 Error: message line too long; not accepted";
	default:
		return "554 5.6.0 Error: bare CR or LF in message data; not accepted";
	}
}

/* Sends the core's pending refusals as room allows; 0 when it must wait. */
static int core_replies(smtpc_conn *c)
{
	while (c->u.sv.refusals > 0) {
		if (c->tx_cap - (c->tx_end - c->tx_start) < REPLY_ROOM)
			return 0;
		say(c, c->u.sv.refusal);
		c->u.sv.refusals--;
	}
	return 1;
}

/* The core refuses a message or chunk itself, `times` times (LMTP: once per
 * accepted recipient), and the transaction ends. */
static void refuse(smtpc_conn *c, const char *text, unsigned times)
{
	c->u.sv.refusal = text;
	c->u.sv.refusals = (unsigned short)times;
	reset_txn(c);
	core_replies(c);
}

static void mark_bad(smtpc_conn *c, smtpc_err why)
{
	if (!(c->u.sv.flags & SF_BAD))
		c->u.sv.why = (unsigned char)why;
	c->u.sv.flags |= SF_BAD;
}

/* The end of a message (BODY_END) or of a chunk that is not LAST
 * (CHUNK_END). A bad one is refused here; a good one is the application's. */
static smtpc_event_type end_of(smtpc_conn *c, smtpc_event *ev, int message)
{
	smtpc_message_end *m = &ev->body_end;

	m->size = c->u.sv.size;
	m->ok = !(c->u.sv.flags & SF_BAD);
	m->chunk = c->u.sv.state == SS_BDAT ? c->u.sv.chunk++ : 0;
	c->u.sv.state = SS_CMD;
	if (!m->ok) {
		m->why = (smtpc_err)c->u.sv.why;
		refuse(c, refusal(m->why), message && c->cfg.lmtp ? c->u.sv.rcpts_ok : 1u);
	} else if (message) {
		c->u.sv.cmd = SMTPC_CMD_DATA_END;
		c->u.sv.owed = (unsigned short)(c->cfg.lmtp ? c->u.sv.rcpts_ok : 1);
		c->u.sv.next_rcpt = (unsigned short)next_ok(c, 0);
		c->u.sv.state = SS_REPLY;
		m->replies = c->u.sv.owed;
	} else {
		c->u.sv.cmd = SMTPC_CMD_BDAT;
		c->u.sv.owed = 1;
		c->u.sv.state = SS_REPLY;
		m->replies = 1;
	}
	return message ? SMTPC_EV_BODY_END : SMTPC_EV_CHUNK_END;
}

/* Counts n more octets of the message, or, if they would pass max_message,
 * marks it too big and returns how many still fit (they are delivered, so
 * what is delivered does not depend on how the input was split). */
static size_t count(smtpc_conn *c, size_t n)
{
	if (c->cfg.max_message && n > c->cfg.max_message - c->u.sv.size) {
		n = (size_t)(c->cfg.max_message - c->u.sv.size);
		mark_bad(c, SMTPC_ERR_TOO_BIG);
	}
	c->u.sv.size += n;
	return n;
}

/* One step of DATA: an event, or NEED_DATA. */
static smtpc_event_type data_step(smtpc_conn *c, smtpc_event *ev)
{
	const unsigned char *p;
	size_t n;
	int crlf, dropped;

	while (next_line(c, &p, &n, &crlf, &dropped)) {
		int prev = (c->u.sv.flags & SF_PREV_CRLF) != 0;
		size_t stuffed = n > 0 && p[0] == '.';
		smtpc__input_consume(c);
		if (crlf)
			c->u.sv.flags |= SF_PREV_CRLF;
		else
			c->u.sv.flags &= ~SF_PREV_CRLF;
		if (prev && crlf && !dropped && n == 1 && p[0] == '.')
			return end_of(c, ev, 1);
		if (dropped || n - stuffed + 2 > c->cfg.max_text_line) /* RFC 5321 4.5.3.1.6 */
			mark_bad(c, SMTPC_ERR_DATA_LINE_LONG);
		else if (!crlf || memchr(p, '\r', n) != NULL)
			mark_bad(c, SMTPC_ERR_DATA_BARE_EOL);
		if (c->u.sv.flags & SF_BAD)
			continue;
		p += stuffed; /* RFC 5321 4.5.2 */
		n -= stuffed;
		if (c->cfg.max_message && n + 2 > c->cfg.max_message - c->u.sv.size) {
			mark_bad(c, SMTPC_ERR_TOO_BIG); /* lines go whole or not at all */
			continue;
		}
		c->u.sv.size += n + 2;
		ev->body.data = p;
		ev->body.len = n + 2; /* the CRLF follows the text in the buffer */
		return SMTPC_EV_BODY;
	}
	return SMTPC_EV_NEED_DATA;
}

static smtpc_event_type bdat_step(smtpc_conn *c, smtpc_event *ev)
{
	while (c->u.sv.chunk_left > 0) {
		size_t n = c->in_end - c->in_start;
		const unsigned char *p = c->in + c->in_start;
		if (n == 0)
			return SMTPC_EV_NEED_DATA;
		if (n > c->u.sv.chunk_left)
			n = (size_t)c->u.sv.chunk_left;
		c->in_start += n;
		if (c->in_scan < c->in_start)
			c->in_scan = c->in_start;
		c->u.sv.chunk_left -= n;
		if (c->in_start == c->in_end)
			c->in_start = c->in_end = c->in_scan = 0;
		if (c->u.sv.flags & (SF_SEQ | SF_BAD))
			continue;
		n = count(c, n); /* up to the limit, the same octets for every split */
		if (n == 0)
			continue;
		ev->body.data = p;
		ev->body.len = n;
		return SMTPC_EV_BODY;
	}
	if (c->u.sv.flags & SF_SEQ) { /* read, refused, nothing delivered */
		c->u.sv.state = SS_CMD;
		refuse(c,
		       (c->flags & F_TXN) ? "554 5.5.1 Error: no valid recipients"
					  : "503 5.5.1 Error: need MAIL command",
		       1);
		return SMTPC_EV_NEED_DATA;
	}
	return end_of(c, ev, (c->u.sv.flags & SF_LAST) != 0);
}

/* ---- the pump
 * ------------------------------------------------------------------------------------ */

static smtpc_event_type server_event(smtpc_conn *c, smtpc_event *ev)
{
	const unsigned char *p;
	size_t n;
	int crlf, dropped;
	smtpc_event_type t;

	for (;;) {
		if (c->err != SMTPC_ERR_OK)
			return SMTPC_EV_ERROR;
		switch (c->u.sv.state) {
		case SS_GREET:
		case SS_REPLY:
			return SMTPC_EV_NEED_DATA;
		case SS_CLOSED: /* the last replies go out first */
			return c->tx_end > c->tx_start ? SMTPC_EV_NEED_DATA : SMTPC_EV_CLOSED;
		case SS_TLS:
			if (c->flags & F_TLS_EV) {
				if (c->in_end > c->in_start) { /* pipelined after STARTTLS */
					smtpc__set_error(c, SMTPC_ERR_STARTTLS_INJECTION);
					continue;
				}
				c->flags &= ~F_TLS_EV;
				return SMTPC_EV_STARTTLS;
			}
			if (c->flags & F_EOF) {
				finish(c, SMTPC_END_DROPPED, 0);
				continue;
			}
			return SMTPC_EV_NEED_DATA;
		default:
			break;
		}
		if (!core_replies(c) || c->tx_cap - (c->tx_end - c->tx_start) < REPLY_ROOM)
			return SMTPC_EV_NEED_DATA; /* send replies first */
		if (c->u.sv.state == SS_DATA) {
			t = data_step(c, ev);
			if (t != SMTPC_EV_NEED_DATA)
				return t;
		} else if (c->u.sv.state == SS_BDAT) {
			t = bdat_step(c, ev);
			if (t != SMTPC_EV_NEED_DATA)
				return t;
			if (c->u.sv.state != SS_BDAT)
				continue;
		} else if (next_line(c, &p, &n, &crlf, &dropped)) {
			size_t i;
			const char *why = NULL;
			smtpc__input_consume(c);
			for (i = 0; i < n && !smtpc__is_ctrl(p[i]); i++)
				;
			if (dropped)
				why = "500 5.5.2 Error: line too long";
			else if (!crlf)
				why = "500 5.5.2 Error: bare LF in command";
			else if (i < n)
				why = "500 5.5.2 Error: control character in command";
			if (why != NULL) {
				say(c, why);
				if (c->u.sv.state != SS_CMD) /* the AUTH exchange ends here */
					c->u.sv.state = SS_CMD;
			} else if (c->u.sv.state != SS_CMD) {
				auth_step(c, (const char *)p, n);
			} else {
				t = command(c, ev, p, n);
				if (t != SMTPC_EV_NEED_DATA)
					return t;
			}
			continue;
		}
		if (c->flags & F_EOF) {
			if (c->u.sv.state == SS_DATA || c->u.sv.state == SS_BDAT)
				c->flags |= F_TXN; /* cut off in the middle of a message */
			finish(c, SMTPC_END_DROPPED, 0);
			continue;
		}
		return SMTPC_EV_NEED_DATA;
	}
}

static void server_tls_started(smtpc_conn *c)
{
	c->u.sv.state = SS_CMD;
	reset_txn(c);
}

static unsigned server_want(const smtpc_conn *c)
{
	unsigned w = 0, st = c->u.sv.state;
	size_t room = c->tx_cap - (c->tx_end - c->tx_start);

	if (c->tx_end > c->tx_start)
		w |= SMTPC_WANT_WRITE;
	if (st == SS_CLOSED)
		return w ? w : SMTPC_WANT_CLOSED | SMTPC_WANT_EVENT;
	if (st == SS_TLS)
		return w | ((c->flags & (F_TLS_EV | F_EOF)) ? SMTPC_WANT_EVENT : SMTPC_WANT_TLS);
	if (st != SS_GREET && st != SS_REPLY && room >= REPLY_ROOM &&
	    ((c->flags & F_EOF) || c->u.sv.owed > 0 ||
	     (st == SS_BDAT && (c->in_end > c->in_start || c->u.sv.chunk_left == 0)) ||
	     smtpc__input_has_line(c)))
		w |= SMTPC_WANT_EVENT; /* next_event has something to give */
	if (!(c->flags & F_EOF) && c->in_end - c->in_start < c->in_cap)
		w |= SMTPC_WANT_READ;
	return w;
}

static smtpc_wait server_waiting_for(const smtpc_conn *c)
{
	switch (c->u.sv.state) {
	case SS_GREET:
	case SS_REPLY:
		return SMTPC_WAIT_APPLICATION;
	case SS_DATA:
	case SS_BDAT:
		return SMTPC_WAIT_DATA_BLOCK;
	case SS_TLS:
		return SMTPC_WAIT_TLS;
	case SS_CLOSED:
		return SMTPC_WAIT_NONE;
	default:
		return SMTPC_WAIT_COMMAND;
	}
}
