/*
 * server.c - the server role: commands in, replies out, message data
 * decoded strictly.
 *
 * It shares the connection object, the input area, the transmit buffer,
 * the argument checks (address.c), base64 and the error table with the
 * client role. Its states:
 *
 *   GREET -> CMD <-> REPLY (an event is out, smtpc_server_reply owed)
 *            CMD -> DATA (354) -> REPLY (end of data) -> CMD
 *            CMD -> BDAT (chunk octets) -> CMD, or REPLY after LAST
 *            CMD -> AUTH_PLAIN / AUTH_USER -> AUTH_PASS -> CMD
 *            CMD -> TLS pause (220 to STARTTLS) -> CMD (smtpc_tls_started)
 *            CMD -> CLOSED (221 to QUIT)
 *
 * Lines. A command line must end in CRLF; a bare LF, any control byte, or
 * a line over its limit (RFC 5321 4.5.3.1.4: 512 octets, 1024 for MAIL and
 * RCPT with parameters) is answered 500 and not acted on. A line too long
 * for the input area is dropped as it arrives and answered when its LF
 * comes, so no part of it is ever read as a command.
 *
 * Message data (RFC 5321 4.1.1.4, 4.5.2). Only a line "." that follows a
 * CRLF and ends in CRLF ends the data. A bare CR or bare LF anywhere, a line
 * over max_text_line, or more than max_message octets marks the message
 * bad: reading goes on to the real end, nothing more is delivered, and the
 * core answers 5xx itself, so a message that could be read two ways (SMTP
 * smuggling, CVE-2023-51764/5/6) is never accepted.
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

#define SF_GREETED (1u << 0)
#define SF_MAIL (1u << 1)
#define SF_UTF8 (1u << 2)     /* the transaction's MAIL had SMTPUTF8 */
#define SF_PREV_CRLF (1u << 3) /* data: the last line ended in CRLF */
#define SF_BAD (1u << 4)      /* data: the message will be refused */
#define SF_STARTTLS (1u << 5) /* STARTTLS allowed */
#define SF_MIDLINE (1u << 6)  /* dropping an over-long line */
#define SF_MIDLINE_CR (1u << 7)
#define SF_LAST (1u << 8)     /* the BDAT chunk being read is LAST */
#define SF_REFUSE (1u << 9)   /* greeted with 554: only QUIT */
#define SF_SEQ (1u << 10)     /* BDAT out of sequence: refuse after it */

#define REPLY_ROOM 1024u /* room kept for the core's own replies */

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
	c->srv.flags &= ~(SF_MAIL | SF_UTF8 | SF_BAD | SF_SEQ | SF_LAST);
	c->srv.rcpts = 0;
	c->srv.size = 0;
}

smtpc_err smtpc_server_init(smtpc_conn *c, const smtpc_config *cfg, void *rx, size_t rx_len,
                            void *tx, size_t tx_len)
{
	smtpc_err e = smtpc_init(c, cfg, rx, rx_len, tx, tx_len);

	if (e != SMTPC_ERR_OK)
		return e;
	if (tx_len < REPLY_ROOM + SMTPC_COMMAND_MAX)
		return SMTPC_ERR_BUFFER_SMALL;
	c->q_len = 0; /* no greeting to wait for: we give it */
	c->srv.on = 1;
	c->srv.state = SS_GREET;
	return SMTPC_ERR_OK;
}

void smtpc_server_allow_starttls(smtpc_conn *c, int allow)
{
	if (c == NULL)
		return;
	if (allow)
		c->srv.flags |= SF_STARTTLS;
	else
		c->srv.flags &= ~SF_STARTTLS;
}

void smtpc_server_set_auth(smtpc_conn *c, smtpc_server_auth_fn fn, void *ctx)
{
	if (c == NULL)
		return;
	c->srv.auth = fn;
	c->srv.auth_ctx = ctx;
}

/* Frames "code-line" ... "code line" from text split at '\n'. */
static smtpc_err frame(smtpc_conn *c, unsigned code, const char *text)
{
	size_t n = strlen(text), total = 0, i, start = 0;
	char num[4];

	if (code < 200 || code > 599)
		return SMTPC_ERR_BAD_PARAM;
	for (i = 0; i <= n; i++) { /* check and measure */
		if (i == n || text[i] == '\n') {
			if (i - start > SMTPC_COMMAND_MAX - 6)
				return SMTPC_ERR_TOO_LONG; /* RFC 5321 4.5.3.1.5 */
			total += 4 + (i - start) + 2;
			start = i + 1;
		} else if (smtpc__is_ctrl((unsigned char)text[i]) && text[i] != '\t') {
			return SMTPC_ERR_CTRL_CHAR;
		}
	}
	if (smtpc__tx_room(c, total) != SMTPC_ERR_OK)
		return smtpc__tx_room(c, total);
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

smtpc_err smtpc_server_greet(smtpc_conn *c, unsigned code, const char *text)
{
	smtpc_err e;

	if (c == NULL || text == NULL)
		return SMTPC_ERR_NULL_ARG;
	if (!c->srv.on || c->srv.state != SS_GREET)
		return SMTPC_ERR_STATE;
	e = frame(c, code, text);
	if (e != SMTPC_ERR_OK)
		return e;
	if (code != 220)
		c->srv.flags |= SF_REFUSE;
	c->srv.state = SS_CMD;
	return SMTPC_ERR_OK;
}

smtpc_err smtpc_server_reply(smtpc_conn *c, unsigned code, const char *text)
{
	smtpc_err e;
	int ok = code / 100 == 2;

	if (c == NULL || text == NULL)
		return SMTPC_ERR_NULL_ARG;
	if (!c->srv.on || c->srv.state != SS_REPLY)
		return SMTPC_ERR_STATE;
	e = frame(c, code, text);
	if (e != SMTPC_ERR_OK)
		return e;
	c->srv.state = SS_CMD;
	switch ((smtpc_cmd)c->srv.cmd) {
	case SMTPC_CMD_EHLO:
	case SMTPC_CMD_HELO:
		if (ok)
			c->srv.flags |= SF_GREETED;
		break;
	case SMTPC_CMD_MAIL:
		if (ok)
			c->srv.flags |= SF_MAIL;
		else
			c->srv.flags &= ~SF_UTF8;
		break;
	case SMTPC_CMD_RCPT:
		if (ok)
			c->srv.rcpts++;
		break;
	case SMTPC_CMD_DATA:
		if (code == 354) {
			c->srv.state = SS_DATA;
			c->srv.flags |= SF_PREV_CRLF;
			c->srv.flags &= ~SF_BAD;
			c->srv.size = 0;
		}
		break;
	default: /* the end of a message, whatever the answer */
		reset_txn(c);
		break;
	}
	return SMTPC_ERR_OK;
}

smtpc_err smtpc_server_reply_ehlo(smtpc_conn *c, const char *domain, const smtpc_caps *k)
{
	static const struct {
		unsigned bit;
		const char *word;
	} words[] = {{SMTPC_EXT_PIPELINING, "PIPELINING"},   {SMTPC_EXT_8BITMIME, "8BITMIME"},
	             {SMTPC_EXT_BINARYMIME, "BINARYMIME"},   {SMTPC_EXT_SMTPUTF8, "SMTPUTF8"},
	             {SMTPC_EXT_CHUNKING, "CHUNKING"},       {SMTPC_EXT_DSN, "DSN"},
	             {SMTPC_EXT_ENHANCEDSTATUSCODES, "ENHANCEDSTATUSCODES"},
	             {SMTPC_EXT_REQUIRETLS, "REQUIRETLS"}};
	char text[512];
	size_t n, i;

	if (c == NULL || domain == NULL || k == NULL)
		return SMTPC_ERR_NULL_ARG;
	n = strlen(domain);
	if (n > 255 || smtpc__check_text(domain, n, 1) != SMTPC_ERR_OK)
		return SMTPC_ERR_BAD_DOMAIN;
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
	if ((k->ext & SMTPC_EXT_STARTTLS) && (c->srv.flags & SF_STARTTLS) && !(c->flags & F_SECURE)) {
		memcpy(text + n, "\nSTARTTLS", 9);
		n += 9;
	}
	if ((k->ext & SMTPC_EXT_AUTH) && c->srv.auth != NULL &&
	    ((c->flags & F_SECURE) || c->cfg.allow_plain_auth)) {
		memcpy(text + n, "\nAUTH PLAIN LOGIN", 17);
		n += 17;
	}
	text[n] = '\0';
	return smtpc_server_reply(c, 250, text);
}

/* ---- reading lines ------------------------------------------------------------------ */

/* Finds the next line. Returns 1 with the line (without its line end) and
 * whether it ended in CRLF and was too long; 0 when more input is needed.
 * Lines too long for the input area are dropped as they come. */
static int next_line(smtpc_conn *c, size_t limit, const unsigned char **line, size_t *len,
                     int *crlf, int *too_long)
{
	const unsigned char *start = c->in + c->in_start, *lf = NULL;
	size_t pending = c->in_end - c->in_start;

	if (c->in_end > c->in_scan)
		lf = memchr(c->in + c->in_scan, '\n', c->in_end - c->in_scan);
	if (c->srv.flags & SF_MIDLINE) {
		if (lf == NULL) {
			if (pending > 0 && start[pending - 1] == '\r')
				c->srv.flags |= SF_MIDLINE_CR;
			else if (pending > 0)
				c->srv.flags &= ~SF_MIDLINE_CR;
			c->in_start = c->in_scan = c->in_end = 0;
			return 0;
		}
		*crlf = lf > start ? lf[-1] == '\r' : (c->srv.flags & SF_MIDLINE_CR) != 0;
		c->srv.flags &= ~(SF_MIDLINE | SF_MIDLINE_CR);
		c->in_scan = (size_t)(lf - c->in) + 1;
		*line = start;
		*len = 0;
		*too_long = 1;
		return 1;
	}
	if (lf == NULL) {
		c->in_scan = c->in_end;
		if (pending >= c->in_cap) { /* cannot fit: drop it as it comes */
			c->srv.flags |= SF_MIDLINE;
			if (start[pending - 1] == '\r')
				c->srv.flags |= SF_MIDLINE_CR;
			c->in_start = c->in_scan = c->in_end = 0;
		}
		return 0;
	}
	*len = (size_t)(lf - start);
	*crlf = *len > 0 && start[*len - 1] == '\r';
	if (*crlf)
		(*len)--;
	*too_long = *len + 2 > limit;
	*line = start;
	c->in_scan = (size_t)(lf - c->in) + 1;
	return 1;
}

/* ---- commands ------------------------------------------------------------------------- */

/* Splits "KEYWORD:<path> params"; returns 0 on bad syntax. */
static int parse_path(const char *s, size_t n, const char *kw, smtpc_command *cmd)
{
	size_t k = strlen(kw), i;

	if (n < k + 2 || !smtpc__ieq(s, k, kw) || s[k] != '<')
		return 0;
	for (i = k + 1; i < n && s[i] != '>'; i++) {
		if (s[i] == '"') { /* a quoted local part may hold '>' */
			for (i++; i < n && s[i] != '"'; i++)
				if (s[i] == '\\')
					i++;
		}
	}
	if (i >= n)
		return 0;
	cmd->arg = s + k + 1;
	cmd->arg_len = i - k - 1;
	i++;
	if (i < n && s[i] != ' ')
		return 0;
	cmd->params = i < n ? s + i + 1 : s + n;
	cmd->params_len = i < n ? n - i - 1 : 0;
	return 1;
}

/* Finds a parameter keyword (case-insensitively); returns its value or
 * NULL; *vlen gets the value's length (0 for a bare keyword). */
static const char *param(const smtpc_command *cmd, const char *kw, size_t *vlen, int *found)
{
	size_t i = 0, n = cmd->params_len, k = strlen(kw);
	const char *p = cmd->params;

	*found = 0;
	while (i < n) {
		size_t j = i, e;
		while (j < n && p[j] != ' ')
			j++;
		e = i;
		while (e < j && p[e] != '=')
			e++;
		if (e - i == k && smtpc__ieq(p + i, k, kw)) {
			*found = 1;
			*vlen = e < j ? j - e - 1 : 0;
			return e < j ? p + e + 1 : p + j;
		}
		i = j + 1;
	}
	return NULL;
}

static int deliver(smtpc_conn *c, smtpc_event *ev, smtpc_cmd cmd)
{
	ev->type = SMTPC_EV_COMMAND;
	ev->command.cmd = cmd;
	c->srv.cmd = (unsigned char)cmd;
	c->srv.state = SS_REPLY;
	return 1;
}

static int do_mail(smtpc_conn *c, smtpc_event *ev, const char *arg, size_t n)
{
	smtpc_command *cmd = &ev->command;
	size_t vlen;
	int found;
	const char *v;

	if (!(c->srv.flags & SF_GREETED)) {
		say(c, "503 5.5.1 Error: send EHLO or HELO first");
		return 0;
	}
	if (c->srv.flags & SF_MAIL) {
		say(c, "503 5.5.1 Error: nested MAIL command");
		return 0;
	}
	if (!parse_path(arg, n, "FROM:", cmd) ||
	    (cmd->params_len && smtpc__check_params(cmd->params, cmd->params_len) != SMTPC_ERR_OK)) {
		say(c, "501 5.5.4 Syntax: MAIL FROM:<address> [parameters]");
		return 0;
	}
	param(cmd, "SMTPUTF8", &vlen, &found);
	cmd->smtputf8 = found;
	if (cmd->arg_len && smtpc__check_mailbox(cmd->arg, cmd->arg_len, found, 0) != SMTPC_ERR_OK) {
		say(c, "553 5.1.7 Bad sender address syntax");
		return 0;
	}
	v = param(cmd, "SIZE", &vlen, &found);
	if (found && c->cfg.max_message) {
		uint64_t size = 0;
		size_t i;
		for (i = 0; i < vlen && smtpc__is_digit((unsigned char)v[i]) && size < UINT64_MAX / 10; i++)
			size = size * 10 + (uint64_t)(v[i] - '0');
		if (size > c->cfg.max_message) {
			say(c, "552 5.3.4 Message size exceeds fixed limit");
			return 0;
		}
	}
	if (cmd->smtputf8)
		c->srv.flags |= SF_UTF8;
	c->srv.rcpts = 0;
	return deliver(c, ev, SMTPC_CMD_MAIL);
}

static int do_rcpt(smtpc_conn *c, smtpc_event *ev, const char *arg, size_t n)
{
	smtpc_command *cmd = &ev->command;

	if (!(c->srv.flags & SF_MAIL)) {
		say(c, "503 5.5.1 Error: need MAIL command");
		return 0;
	}
	if (!parse_path(arg, n, "TO:", cmd) || cmd->arg_len == 0 ||
	    (cmd->params_len && smtpc__check_params(cmd->params, cmd->params_len) != SMTPC_ERR_OK)) {
		say(c, "501 5.5.4 Syntax: RCPT TO:<address> [parameters]");
		return 0;
	}
	if (smtpc__check_mailbox(cmd->arg, cmd->arg_len, (c->srv.flags & SF_UTF8) != 0, 1) !=
	    SMTPC_ERR_OK) {
		say(c, "553 5.1.3 Bad recipient address syntax");
		return 0;
	}
	return deliver(c, ev, SMTPC_CMD_RCPT);
}

/* BDAT size [LAST] (RFC 3030 2). The chunk is read even when refused. */
static void do_bdat(smtpc_conn *c, const char *arg, size_t n)
{
	uint64_t size = 0;
	size_t i = 0;

	while (i < n && smtpc__is_digit((unsigned char)arg[i]) && size < UINT64_MAX / 10)
		size = size * 10 + (uint64_t)(arg[i++] - '0');
	if (i == 0 || i > 19 || (i < n && !(n - i == 5 && smtpc__ieq(arg + i, 5, " LAST")))) {
		say(c, "501 5.5.4 Syntax: BDAT size [LAST]");
		return;
	}
	c->srv.chunk_left = size;
	if (i < n)
		c->srv.flags |= SF_LAST;
	else
		c->srv.flags &= ~SF_LAST;
	if (!(c->srv.flags & SF_MAIL) || c->srv.rcpts == 0)
		c->srv.flags |= SF_SEQ;
	c->srv.state = SS_BDAT;
}

/* AUTH: PLAIN (RFC 4616) and LOGIN, decoded here, checked by the hook. */
static void auth_check(smtpc_conn *c, const char *user, size_t ulen, const char *pass, size_t plen)
{
	if (c->srv.auth(c->srv.auth_ctx, user, ulen, pass, plen)) {
		c->flags |= F_AUTHED;
		say(c, "235 2.7.0 Authentication successful");
	} else {
		say(c, "535 5.7.8 Authentication credentials invalid");
	}
	c->srv.state = SS_CMD;
}

/* Decodes base64 text into the (unused, in this role) reply area. */
static size_t decode64(smtpc_conn *c, const char *s, size_t n, size_t at)
{
	size_t room = c->cfg.max_reply - at;

	return smtpc_b64_decode((unsigned char *)c->rep + at, room, s, n);
}

static void auth_step(smtpc_conn *c, const char *s, size_t n)
{
	size_t len;

	if (n == 1 && s[0] == '*') {
		say(c, "501 5.7.0 Authentication cancelled");
		c->srv.state = SS_CMD;
		return;
	}
	if (c->srv.state == SS_AUTH_PASS) {
		size_t ulen = c->rep_len; /* the user name, decoded before */
		len = decode64(c, s, n, ulen);
		if (len == (size_t)-1)
			goto bad;
		auth_check(c, c->rep, ulen, c->rep + ulen, len);
		return;
	}
	len = decode64(c, s, n, 0);
	if (len == (size_t)-1)
		goto bad;
	if (c->srv.state == SS_AUTH_USER) {
		c->rep_len = len;
		say(c, "334 UGFzc3dvcmQ6"); /* "Password:" */
		c->srv.state = SS_AUTH_PASS;
		return;
	} else { /* PLAIN: authzid NUL authcid NUL passwd */
		const char *p = c->rep, *z1 = memchr(p, 0, len), *z2;
		if (z1 == NULL || (z2 = memchr(z1 + 1, 0, len - (size_t)(z1 + 1 - p))) == NULL)
			goto bad;
		auth_check(c, z1 + 1, (size_t)(z2 - z1 - 1), z2 + 1, len - (size_t)(z2 + 1 - p));
		return;
	}
bad:
	say(c, "501 5.5.2 Cannot decode the response");
	c->srv.state = SS_CMD;
}

static void do_auth(smtpc_conn *c, const char *arg, size_t n)
{
	size_t k = 0;

	if (c->srv.auth == NULL) {
		say(c, "502 5.5.1 AUTH not available");
		return;
	}
	if (!(c->flags & F_SECURE) && !c->cfg.allow_plain_auth) {
		say(c, "538 5.7.11 Encryption required for requested authentication mechanism");
		return;
	}
	if ((c->flags & F_AUTHED) || (c->srv.flags & SF_MAIL)) {
		say(c, "503 5.5.1 Error: AUTH not allowed now");
		return;
	}
	while (k < n && arg[k] != ' ')
		k++;
	if (smtpc__ieq(arg, k, "PLAIN"))
		c->srv.state = SS_AUTH_PLAIN;
	else if (smtpc__ieq(arg, k, "LOGIN"))
		c->srv.state = SS_AUTH_USER;
	else {
		say(c, "504 5.5.4 Unrecognized authentication type");
		return;
	}
	if (k < n) /* an initial response (RFC 4954 4) */
		auth_step(c, arg + k + 1, n - k - 1);
	else
		say(c, c->srv.state == SS_AUTH_PLAIN ? "334 " : "334 VXNlcm5hbWU6"); /* "Username:" */
}

/* Handles one command line; returns 1 when an event was produced. */
static int command(smtpc_conn *c, smtpc_event *ev, const unsigned char *line, size_t n)
{
	const char *s = (const char *)line, *arg;
	size_t k = 0, an;

	while (k < n && s[k] != ' ')
		k++;
	arg = k < n ? s + k + 1 : s + n;
	an = k < n ? n - k - 1 : 0;
	ev->command.arg = arg;
	ev->command.arg_len = an;
	if ((c->srv.flags & SF_REFUSE) && !smtpc__ieq(s, k, "QUIT")) {
		say(c, "503 5.5.1 Error: no service here");
		return 0;
	}
	if (n + 2 > SMTPC_COMMAND_MAX &&
	    !((smtpc__ieq(s, k, "MAIL") || smtpc__ieq(s, k, "RCPT")) &&
	      n + 2 <= SMTPC_COMMAND_MAX + SMTPC_PARAM_ALLOWANCE) &&
	    !smtpc__ieq(s, k, "AUTH")) {
		say(c, "500 5.5.2 Error: line too long");
		return 0;
	}
	if (smtpc__ieq(s, k, "EHLO") || smtpc__ieq(s, k, "HELO")) {
		if (smtpc__check_domain(arg, an, 0) != SMTPC_ERR_OK) {
			say(c, "501 5.5.4 Syntax: EHLO domain or address literal");
			return 0;
		}
		reset_txn(c); /* RFC 5321 4.1.4 */
		return deliver(c, ev, smtpc__ieq(s, k, "EHLO") ? SMTPC_CMD_EHLO : SMTPC_CMD_HELO);
	}
	if (smtpc__ieq(s, k, "MAIL"))
		return do_mail(c, ev, arg, an);
	if (smtpc__ieq(s, k, "RCPT"))
		return do_rcpt(c, ev, arg, an);
	if (smtpc__ieq(s, k, "DATA")) {
		if (an != 0)
			say(c, "501 5.5.4 Syntax: DATA");
		else if (!(c->srv.flags & SF_MAIL))
			say(c, "503 5.5.1 Error: need MAIL command");
		else if (c->srv.rcpts == 0)
			say(c, "554 5.5.1 Error: no valid recipients"); /* RFC 2920 3.1 */
		else
			return deliver(c, ev, SMTPC_CMD_DATA);
		return 0;
	}
	if (smtpc__ieq(s, k, "BDAT"))
		do_bdat(c, arg, an);
	else if (smtpc__ieq(s, k, "RSET")) {
		reset_txn(c);
		say(c, "250 2.0.0 Ok");
	} else if (smtpc__ieq(s, k, "NOOP"))
		say(c, "250 2.0.0 Ok");
	else if (smtpc__ieq(s, k, "VRFY"))
		say(c, "252 2.0.0 Cannot VRFY, but will accept the message");
	else if (smtpc__ieq(s, k, "HELP"))
		say(c, "214 2.0.0 See RFC 5321");
	else if (smtpc__ieq(s, k, "QUIT")) {
		say(c, "221 2.0.0 Bye");
		c->srv.state = SS_CLOSED;
	} else if (smtpc__ieq(s, k, "STARTTLS")) {
		if (!(c->srv.flags & SF_STARTTLS) || (c->flags & F_SECURE))
			say(c, "502 5.5.1 Error: STARTTLS not available");
		else if (an != 0)
			say(c, "501 5.5.4 Syntax: STARTTLS");
		else {
			say(c, "220 2.0.0 Ready to start TLS");
			c->srv.state = SS_TLS;
			c->state = ST_TLS_PAUSE; /* input now is injection (feed, recv_buf) */
			c->flags |= F_TLS_EV;
		}
	} else if (smtpc__ieq(s, k, "AUTH"))
		do_auth(c, arg, an);
	else
		say(c, "500 5.5.1 Error: command not recognized");
	return 0;
}

/* ---- message data ---------------------------------------------------------------------------- */

static void refuse_message(smtpc_conn *c)
{
	switch ((smtpc_err)c->srv.why) {
	case SMTPC_ERR_TOO_BIG:
		say(c, "552 5.3.4 Error: message too big; not accepted");
		break;
	case SMTPC_ERR_TOO_LONG:
		say(c, "500 5.5.2 Error: message line too long; not accepted");
		break;
	case SMTPC_ERR_SEQUENCE:
		say(c, c->srv.flags & SF_MAIL ? "554 5.5.1 Error: no valid recipients"
		                              : "503 5.5.1 Error: need MAIL command");
		break;
	default:
		say(c, "554 5.6.0 Error: bare CR or LF in message data; not accepted");
	}
	reset_txn(c);
}

static void mark_bad(smtpc_conn *c, smtpc_err why)
{
	if (!(c->srv.flags & SF_BAD))
		c->srv.why = (unsigned char)why;
	c->srv.flags |= SF_BAD;
}

static int end_message(smtpc_conn *c, smtpc_event *ev)
{
	ev->type = SMTPC_EV_BODY_END;
	ev->body_end.size = c->srv.size;
	ev->body_end.ok = !(c->srv.flags & SF_BAD);
	if (!ev->body_end.ok) {
		ev->body_end.why = (smtpc_err)c->srv.why;
		refuse_message(c);
		c->srv.state = SS_CMD;
	} else {
		c->srv.cmd = SMTPC_CMD_DATA_END;
		c->srv.state = SS_REPLY;
	}
	return 1;
}

/* Counts n more octets of the message, or, if they would pass max_message,
 * marks it too big and returns how many still fit (they are delivered, so
 * what is delivered does not depend on how the input was split). */
static size_t count(smtpc_conn *c, size_t n)
{
	if (c->cfg.max_message && n > c->cfg.max_message - c->srv.size) {
		n = (size_t)(c->cfg.max_message - c->srv.size);
		mark_bad(c, SMTPC_ERR_TOO_BIG);
	}
	c->srv.size += n;
	return n;
}

/* One step of DATA; returns 1 with an event. */
static int data_step(smtpc_conn *c, smtpc_event *ev)
{
	const unsigned char *p;
	size_t n;
	int crlf, too_long;

	while (next_line(c, c->cfg.max_text_line, &p, &n, &crlf, &too_long)) {
		int prev = (c->srv.flags & SF_PREV_CRLF) != 0;
		smtpc__input_consume(c);
		if (crlf)
			c->srv.flags |= SF_PREV_CRLF;
		else
			c->srv.flags &= ~SF_PREV_CRLF;
		if (prev && crlf && !too_long && n == 1 && p[0] == '.')
			return end_message(c, ev);
		if (too_long)
			mark_bad(c, SMTPC_ERR_TOO_LONG);
		else if (!crlf || memchr(p, '\r', n) != NULL)
			mark_bad(c, SMTPC_ERR_BARE_LF);
		if (c->srv.flags & SF_BAD)
			continue;
		if (n > 0 && p[0] == '.') { /* RFC 5321 4.5.2 */
			p++;
			n--;
		}
		if (c->cfg.max_message && n + 2 > c->cfg.max_message - c->srv.size) {
			mark_bad(c, SMTPC_ERR_TOO_BIG); /* lines go whole or not at all */
			continue;
		}
		c->srv.size += n + 2;
		ev->type = SMTPC_EV_BODY;
		ev->body.data = p;
		ev->body.len = n + 2; /* the CRLF follows the text in the buffer */
		return 1;
	}
	return 0;
}

static int bdat_step(smtpc_conn *c, smtpc_event *ev)
{
	while (c->srv.chunk_left > 0) {
		size_t n = c->in_end - c->in_start;
		const unsigned char *p = c->in + c->in_start;
		if (n == 0)
			return 0;
		if (n > c->srv.chunk_left)
			n = (size_t)c->srv.chunk_left;
		c->in_start += n;
		if (c->in_scan < c->in_start)
			c->in_scan = c->in_start;
		c->srv.chunk_left -= n;
		if (c->in_start == c->in_end)
			c->in_start = c->in_end = c->in_scan = 0;
		if (c->srv.flags & (SF_SEQ | SF_BAD))
			continue;
		n = count(c, n); /* up to the limit, the same octets for every split */
		if (n == 0)
			continue;
		ev->type = SMTPC_EV_BODY;
		ev->body.data = p;
		ev->body.len = n;
		return 1;
	}
	if (c->srv.flags & SF_SEQ) {
		c->srv.why = SMTPC_ERR_SEQUENCE;
		refuse_message(c);
		c->srv.state = SS_CMD;
		return 0;
	}
	if (c->srv.flags & SF_LAST)
		return end_message(c, ev);
	if (c->srv.flags & SF_BAD) { /* refused at once, like the rest of the message */
		refuse_message(c);
	} else {
		char line[64] = "250 2.0.0 ";
		size_t k = 10 + smtpc__u64_dec(line + 10, c->srv.size);
		memcpy(line + k, " octets received", 17);
		say(c, line);
	}
	c->srv.state = SS_CMD;
	return 0;
}

/* ---- the pump ------------------------------------------------------------------------------------ */

smtpc_event_type smtpc__server_event(smtpc_conn *c, smtpc_event *ev)
{
	const unsigned char *p;
	size_t n;
	int crlf, too_long;

	for (;;) {
		if (c->err != SMTPC_ERR_OK) {
			ev->err = c->err;
			return ev->type = SMTPC_EV_ERROR;
		}
		switch (c->srv.state) {
		case SS_GREET:
		case SS_REPLY:
			return ev->type = SMTPC_EV_NEED_DATA;
		case SS_CLOSED:
			return ev->type = SMTPC_EV_CLOSED;
		case SS_TLS:
			if (!(c->flags & F_TLS_EV))
				return ev->type = SMTPC_EV_NEED_DATA;
			if (c->in_end > c->in_start) { /* pipelined after STARTTLS */
				smtpc__set_error(c, SMTPC_ERR_STARTTLS_INJECTION);
				continue;
			}
			c->flags &= ~F_TLS_EV;
			return ev->type = SMTPC_EV_STARTTLS;
		default:
			break;
		}
		if (c->tx_cap - (c->tx_end - c->tx_start) < REPLY_ROOM)
			return ev->type = SMTPC_EV_NEED_DATA; /* send replies first */
		if (c->srv.state == SS_DATA) {
			if (data_step(c, ev))
				return ev->type;
		} else if (c->srv.state == SS_BDAT) {
			if (bdat_step(c, ev))
				return ev->type;
			if (c->srv.state != SS_BDAT)
				continue;
		} else if (next_line(c, c->in_cap, &p, &n, &crlf, &too_long)) {
			size_t i;
			smtpc__input_consume(c);
			if (too_long)
				say(c, "500 5.5.2 Error: line too long");
			else if (!crlf)
				say(c, "500 5.5.2 Error: bare LF in command");
			else {
				for (i = 0; i < n && !smtpc__is_ctrl(p[i]); i++)
					;
				if (i < n)
					say(c, "500 5.5.2 Error: control character in command");
				else if (c->srv.state != SS_CMD)
					auth_step(c, (const char *)p, n);
				else if (command(c, ev, p, n))
					return ev->type;
			}
			continue;
		}
		if (c->flags & F_EOF)
			return ev->type = SMTPC_EV_CLOSED;
		return ev->type = SMTPC_EV_NEED_DATA;
	}
}

int smtpc__server_tls_started(smtpc_conn *c)
{
	if (c->srv.state != SS_TLS || (c->flags & F_TLS_EV))
		return 0;
	c->srv.state = SS_CMD;
	c->srv.flags &= ~SF_GREETED;
	reset_txn(c);
	return 1;
}

unsigned smtpc__server_want(const smtpc_conn *c)
{
	unsigned w = 0;

	if (c->err != SMTPC_ERR_OK)
		return SMTPC_WANT_CLOSED | SMTPC_WANT_EVENT;
	if (c->tx_end > c->tx_start)
		w |= SMTPC_WANT_WRITE;
	else if (c->srv.state == SS_CLOSED)
		return SMTPC_WANT_CLOSED | SMTPC_WANT_EVENT;
	if (c->srv.state == SS_TLS)
		return w | ((c->flags & F_TLS_EV) ? SMTPC_WANT_EVENT : SMTPC_WANT_TLS);
	if (c->srv.state != SS_GREET && c->srv.state != SS_REPLY &&
	    c->tx_cap - (c->tx_end - c->tx_start) >= REPLY_ROOM &&
	    ((c->flags & F_EOF) ||
	     (c->srv.state == SS_BDAT && (c->in_end > c->in_start || c->srv.chunk_left == 0)) ||
	     (c->in_end > c->in_scan && memchr(c->in + c->in_scan, '\n', c->in_end - c->in_scan))))
		w |= SMTPC_WANT_EVENT; /* next_event has something to give */
	if (!(c->flags & F_EOF) && c->in_end - c->in_start < c->in_cap)
		w |= SMTPC_WANT_READ;
	return w;
}
