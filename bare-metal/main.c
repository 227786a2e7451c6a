/*
 * main.c - the firmware: the smtpc client role talks to the server role,
 * both in this board's RAM, through two byte pipes with a 7-octet MTU
 * (link.c), timed by the SysTick millisecond tick. Five scenarios, each
 * checked on both sides:
 *
 *   pipelining  MAIL, two RCPTs and DATA in one group; a 1 KiB message
 *               compared octet for octet as the server delivers it
 *   dots        a body whose lines start with dots, one of them "." alone:
 *               delivered unchanged, and the octets the pipe carried show
 *               the doubling
 *   auth        AUTH PLAIN with a wrong password (535), then the right one
 *               (235), then a message
 *   silent      the server never answers MAIL: the client's MAIL timeout,
 *               from smtpc_waiting_for and the tick, ends the session, no
 *               sooner than it should although the tick wraps meanwhile
 *   starttls    STARTTLS offered and accepted: with no TLS layer here, the
 *               link fails both sides (SMTPC_ERR_TLS) instead of waiting
 *
 * Each side logs what it saw (replies on the client, commands and message
 * ends on the server) and the logs must equal the scenario's. It runs them
 * all, prints what differed in each that failed and "bare-metal: scenarios
 * N passed, M failed"; when none failed, "bare-metal: ok", the image's sizes and the
 * stack's high-water mark, and exits 0; otherwise it exits with the number
 * of the first scenario that failed.
 *
 * Memory: both connections use the smallest configuration, max_line 510
 * (RFC 5321 4.5.3.1.5's 512 with CRLF), max_reply at its floor (511) and
 * max_ext 0 (extensions are still recognised, their lines not kept), with
 * the core built with SMTPC_QUEUE_CAP=8: receive buffers of smtpc_rx_min
 * (1024 octets each), the client's transmit buffer SMTPC_TX_MIN (512), the
 * server's the server role's minimum (1536). AUTH is allowed without TLS
 * here: there is no TLS layer in this firmware.
 */
#include <string.h>

#include "board.h"
#include "link.h"

#define RX_LEN	      1024u
#define CLIENT_TX_LEN SMTPC_TX_MIN
#define SERVER_TX_LEN 1536u
#define RUN_LIMIT     20000u /* ticks: a scenario that runs longer has hung */
#define LOG_LEN	      200u

/* ---- scenarios ------------------------------------------------------------------ */

#define AS_BODY(s) s "\n"
#define AS_WANT(s) s "\r\n"

#define REPORT(X)                                                                                  \
	X("From: Sensor 7 <sensor7@example.org>")                                                  \
	X("To: Bob <bob@example.net>, Carol <carol@example.net>")                                  \
	X("Subject: hourly report")                                                                \
	X("Message-ID: <r0042@fw.example>")                                                        \
	X("")                                                                                      \
	X("Readings of the last hour, one line per five minutes:")                                 \
	X("")                                                                                      \
	X("  minute  temperature  humidity  supply")                                               \
	X("  00      21.5 C       40 %      3.30 V")                                               \
	X("  05      21.6 C       40 %      3.30 V")                                               \
	X("  10      21.6 C       41 %      3.29 V")                                               \
	X("  15      21.8 C       41 %      3.29 V")                                               \
	X("  20      22.0 C       42 %      3.29 V")                                               \
	X("  25      22.1 C       42 %      3.28 V")                                               \
	X("  30      22.1 C       43 %      3.28 V")                                               \
	X("  35      22.3 C       43 %      3.28 V")                                               \
	X("  40      22.2 C       44 %      3.27 V")                                               \
	X("  45      22.0 C       44 %      3.27 V")                                               \
	X("  50      21.9 C       43 %      3.27 V")                                               \
	X("  55      21.7 C       43 %      3.26 V")                                               \
	X("")                                                                                      \
	X("No alarms. The supply fell by 40 mV over the hour, within the expected")                \
	X("range for a battery at this charge. The next report follows in an hour.")               \
	X("")                                                                                      \
	X("-- ")                                                                                   \
	X("sensor 7, firmware 1.4, uptime 312 h")

/* plain line, then as it crosses the wire (RFC 5321 4.5.2: a leading dot
 * doubled) */
#define DOTS(X)                                                                                    \
	X("Subject: dots", "Subject: dots")                                                        \
	X("", "")                                                                                  \
	X("A line with a dot alone comes next.", "A line with a dot alone comes next.")            \
	X(".", "..")                                                                               \
	X("..", "...")                                                                             \
	X(".hidden", "..hidden")                                                                   \
	X(" . not at the start", " . not at the start")                                            \
	X(".", "..")                                                                               \
	X("", "")
#define DOT_LAST       "last line, no line break"
#define DOT_BODY(p, w) p "\n"
#define DOT_WANT(p, w) p "\r\n"
#define DOT_WIRE(p, w) w "\r\n"

static const char report_body[] = REPORT(AS_BODY);
static const char report_want[] = REPORT(AS_WANT);
static const char dots_body[] = DOTS(DOT_BODY) DOT_LAST;
static const char dots_want[] = DOTS(DOT_WANT) DOT_LAST "\r\n";
static const char dots_wire[] = DOTS(DOT_WIRE) DOT_LAST "\r\n.\r\n";
static const char short_body[] = "Subject: hello\n\nAuthenticated.\n";
static const char short_want[] = "Subject: hello\r\n\r\nAuthenticated.\r\n";

struct scenario {
	const char *name;
	const char *user, *pass, *bad_pass; /* AUTH PLAIN when user; bad_pass first */
	const char *from;
	const char *to[2];	 /* to[1] may be NULL */
	const char *body, *want; /* given to the client; delivered */
	size_t body_len, want_len;
	size_t wire_len; /* DATA's wire size; 0: unchecked */
	int silent;	 /* the server never answers MAIL */
	int starttls;	 /* the client asks for STARTTLS (there is no TLS layer) */
	const char *client_log, *server_log;
};

/* the message given to the client, and what the server must deliver */
#define TEXT(b, w) .body = b, .want = w, .body_len = sizeof b - 1, .want_len = sizeof w - 1

static const struct scenario scenarios[] = {
    {.name = "pipelining",
     .from = "sensor7@example.org",
     .to = {"bob@example.net", "carol@example.net"},
     TEXT(report_body, report_want),
     .client_log = "GREETING 220, EHLO 250, MAIL 250, RCPT#0 250, RCPT#1 250, DATA 354, "
		   "DATA_END 250, QUIT 221, CLOSED",
     .server_log = "EHLO fw.example, MAIL sensor7@example.org, RCPT bob@example.net, "
		   "RCPT carol@example.net, DATA, BODY_END ok, CLOSED"},
    {.name = "dots",
     .from = "sensor7@example.org",
     .to = {"bob@example.net", NULL},
     TEXT(dots_body, dots_want),
     .wire_len = sizeof dots_wire - 1,
     .client_log = "GREETING 220, EHLO 250, MAIL 250, RCPT#0 250, DATA 354, DATA_END 250, "
		   "QUIT 221, CLOSED",
     .server_log = "EHLO fw.example, MAIL sensor7@example.org, RCPT bob@example.net, DATA, "
		   "BODY_END ok, CLOSED"},
    {.name = "auth",
     .user = "sensor7",
     .pass = "s3cret-7",
     .bad_pass = "guess",
     .from = "sensor7@example.org",
     .to = {"bob@example.net", NULL},
     TEXT(short_body, short_want),
     .client_log = "GREETING 220, EHLO 250, AUTH 535, AUTH 235 authenticated, MAIL 250, "
		   "RCPT#0 250, DATA 354, DATA_END 250, QUIT 221, CLOSED",
     .server_log = "EHLO fw.example, AUTH sensor7 refused, AUTH sensor7 accepted, "
		   "MAIL sensor7@example.org, RCPT bob@example.net, DATA, BODY_END ok, CLOSED"},
    {.name = "silent",
     .from = "sensor7@example.org",
     .to = {"bob@example.net", NULL},
     TEXT(short_body, short_want),
     .silent = 1,
     .client_log = "GREETING 220, EHLO 250, ERROR SMTPC_ERR_TIMEOUT",
     .server_log = "EHLO fw.example, MAIL sensor7@example.org, EOF"},
    {.name = "starttls",
     .from = "sensor7@example.org",
     .to = {"bob@example.net", NULL},
     TEXT(short_body, short_want),
     .starttls = 1,
     .client_log = "GREETING 220, EHLO 250, STARTTLS 220, STARTTLS, ERROR SMTPC_ERR_TLS",
     .server_log = "EHLO fw.example, STARTTLS, SMTPC_ERR_TLS"},
};

/* RFC 5321 4.5.3.2 client timeouts, in milliseconds (ticks); the silent
 * scenario shortens the wait for MAIL's reply */
#define CLIENT_TIMEOUTS(mail)                                                                      \
	{                                                                                          \
		[SMTPC_WAIT_GREETING] = 300000, [SMTPC_WAIT_MAIL] = mail,                          \
		[SMTPC_WAIT_RCPT] = 300000, [SMTPC_WAIT_DATA_START] = 120000,                      \
		[SMTPC_WAIT_DATA_BLOCK] = 180000, [SMTPC_WAIT_DATA_END] = 600000,                  \
		[SMTPC_WAIT_OTHER] = 300000                                                        \
	}
#define SILENT_MAIL_TIMEOUT 50u
static const link_timeouts client_timeouts = CLIENT_TIMEOUTS(300000);
static const link_timeouts silent_timeouts = CLIENT_TIMEOUTS(SILENT_MAIL_TIMEOUT);
/* the server: 5 minutes for the next command (RFC 5321 4.5.3.2.7) */
static const link_timeouts server_timeouts = {
    [SMTPC_WAIT_COMMAND] = 300000, [SMTPC_WAIT_DATA_BLOCK] = 180000};

/* ---- the two connections and their pipes, all in RAM ---------------------------------- */

static smtpc_conn client, server;
static unsigned char client_rx[RX_LEN], client_tx[CLIENT_TX_LEN];
static unsigned char server_rx[RX_LEN], server_tx[SERVER_TX_LEN];
static link_pipe to_server, to_client;
static link client_link, server_link;

struct log {
	char s[LOG_LEN];
	size_t n;
};

enum { C_OPEN, C_BODY, C_END, C_DONE };

static struct run {
	const struct scenario *sc;
	struct log clog, slog;
	int cstate, server_done, auth_tries, silent_now;
	size_t body_off, max_pending;
	/* octets the pipe to the server had carried at the 354, at the reply
	 * to the dot */
	uint32_t wire_354, wire_end;
	size_t got;   /* message octets the server delivered */
	int mismatch; /* they differed from the scenario's */
} r;

static void log_add(struct log *l, const char *s, size_t n)
{
	if (l->n != 0 && l->n + 2 < sizeof l->s) {
		memcpy(l->s + l->n, ", ", 2);
		l->n += 2;
	}
	if (n > sizeof l->s - 1 - l->n)
		n = sizeof l->s - 1 - l->n;
	memcpy(l->s + l->n, s, n);
	l->n += n;
	l->s[l->n] = '\0';
}

/* Appends to the last entry. */
static void log_more(struct log *l, const char *s, size_t n)
{
	if (n > sizeof l->s - 1 - l->n)
		n = sizeof l->s - 1 - l->n;
	memcpy(l->s + l->n, s, n);
	l->n += n;
	l->s[l->n] = '\0';
}

static void log_str(struct log *l, const char *s)
{
	log_add(l, s, strlen(s));
}

/* ---- the client application ------------------------------------------------------ */

/* Ends the client's session; why (NULL: nothing) is logged. */
static void client_stop(const char *why)
{
	if (why != NULL)
		log_str(&r.clog, why);
	r.cstate = C_DONE;
	link_close(&client_link);
}

static void client_check(smtpc_err e, const char *what)
{
	if (e != SMTPC_ERR_OK) {
		log_str(&r.clog, what);
		client_stop(smtpc_err_name(e));
	}
}

static void client_envelope(void)
{
	const struct scenario *sc = r.sc;

	if (!(smtpc_get_caps(&client)->ext & SMTPC_EXT_PIPELINING)) {
		client_stop("no PIPELINING");
		return;
	}
	/* one group: nothing waits for a reply before DATA (RFC 2920 3.1) */
	client_check(smtpc_mail(&client, sc->from, NULL), "mail");
	client_check(smtpc_rcpt(&client, sc->to[0], NULL), "rcpt");
	if (sc->to[1] != NULL)
		client_check(smtpc_rcpt(&client, sc->to[1], NULL), "rcpt");
	client_check(smtpc_data(&client), "data");
	r.max_pending = smtpc_pending(&client);
}

static void client_reply(const smtpc_reply *rep)
{
	const struct scenario *sc = r.sc;
	char num[12];
	const char *name = smtpc_cmd_name(rep->cmd);

	log_add(&r.clog, name, strlen(name));
	if (rep->cmd == SMTPC_CMD_RCPT) {
		num[0] = '#';
		num[1] = (char)('0' + rep->index % 10u);
		log_more(&r.clog, num, 2);
	}
	num[0] = ' ';
	num[1] = (char)('0' + rep->code / 100u);
	num[2] = (char)('0' + rep->code / 10u % 10u);
	num[3] = (char)('0' + rep->code % 10u);
	log_more(&r.clog, num, 4);
	switch (rep->cmd) {
	case SMTPC_CMD_GREETING:
		if (rep->code == 220)
			client_check(smtpc_ehlo(&client, "fw.example"), "ehlo");
		else
			client_stop("no greeting");
		break;
	case SMTPC_CMD_EHLO:
		if (rep->code != 250)
			client_stop("EHLO refused");
		else if (sc->starttls)
			client_check(smtpc_starttls(&client), "starttls");
		else if (sc->user != NULL)
			client_check(smtpc_auth(&client, SMTPC_MECH_PLAIN, sc->user,
						sc->bad_pass != NULL ? sc->bad_pass : sc->pass),
				     "auth");
		else
			client_envelope();
		break;
	case SMTPC_CMD_AUTH:
		r.auth_tries++;
		if (rep->code == 235) {
			if (smtpc_is_authenticated(&client))
				log_more(&r.clog, " authenticated", 14);
			client_envelope();
		} else if (r.auth_tries == 1 && sc->bad_pass != NULL) {
			client_check(smtpc_auth(&client, SMTPC_MECH_PLAIN, sc->user, sc->pass),
				     "auth");
		} else {
			client_stop("AUTH refused");
		}
		break;
	case SMTPC_CMD_DATA:
		r.wire_354 = to_server.octets;
		if (rep->code == 354)
			r.cstate = C_BODY;
		else
			client_check(smtpc_quit(&client), "quit");
		break;
	case SMTPC_CMD_DATA_END:
		r.wire_end = to_server.octets;
		client_check(smtpc_quit(&client), "quit");
		break;
	case SMTPC_CMD_QUIT:
		link_close(&client_link); /* the server closes too; then CLOSED */
		break;
	default:
		break;
	}
}

/* Feeds the message while the transmit buffer has room, then ends it. */
static int client_body(void)
{
	size_t n;
	int busy = 0;

	while (r.body_off < r.sc->body_len) {
		n = smtpc_body_write(&client, r.sc->body + r.body_off, r.sc->body_len - r.body_off);
		if (n == 0)
			return busy; /* full: the link sends, then more */
		r.body_off += n;
		busy = 1;
	}
	if (smtpc_body_end(&client) == SMTPC_ERR_OK) {
		r.cstate = C_END;
		busy = 1;
	}
	return busy;
}

static int client_app(void)
{
	smtpc_event ev;
	smtpc_event_type t;
	int busy = 0;

	if (r.cstate == C_BODY)
		busy = client_body();
	while (r.cstate != C_DONE && (t = smtpc_next_event(&client, &ev)) != SMTPC_EV_NEED_DATA) {
		busy = 1;
		if (t == SMTPC_EV_REPLY)
			client_reply(&ev.reply);
		else if (t == SMTPC_EV_CLOSED)
			client_stop("CLOSED");
		else if (t == SMTPC_EV_ERROR) {
			log_str(&r.clog, "ERROR ");
			log_more(&r.clog, smtpc_err_name(ev.err), strlen(smtpc_err_name(ev.err)));
			client_stop(NULL);
		} else if (t == SMTPC_EV_STARTTLS) {
			log_str(&r.clog, "STARTTLS"); /* the link fails it: no TLS here */
		} else if (t != SMTPC_EV_LINE)
			client_stop("unexpected event");
	}
	return busy;
}

/* ---- the server application ------------------------------------------------------ */

static int check_user(void *ctx, const char *user, size_t user_len, const char *pass,
		      size_t pass_len)
{
	const struct scenario *sc = r.sc;
	int ok;

	(void)ctx;
	ok = sc->user != NULL && strlen(sc->user) == user_len &&
	     memcmp(sc->user, user, user_len) == 0 && strlen(sc->pass) == pass_len &&
	     memcmp(sc->pass, pass, pass_len) == 0;

	log_str(&r.slog, "AUTH ");
	log_more(&r.slog, user, user_len);
	log_more(&r.slog, ok ? " accepted" : " refused", ok ? 9 : 8);
	return ok;
}

static void server_command(const smtpc_command *cmd)
{
	static const smtpc_caps caps = {SMTPC_EXT_PIPELINING | SMTPC_EXT_8BITMIME |
					    SMTPC_EXT_ENHANCEDSTATUSCODES | SMTPC_EXT_AUTH |
					    SMTPC_EXT_STARTTLS, /* when allowed */
					SMTPC_AUTH_PLAIN, 0, 0};
	const char *name = smtpc_cmd_name(cmd->cmd);

	log_add(&r.slog, name, strlen(name));
	if (cmd->arg_len > 0) {
		log_more(&r.slog, " ", 1);
		log_more(&r.slog, cmd->arg, cmd->arg_len);
	}
	switch (cmd->cmd) {
	case SMTPC_CMD_EHLO:
		smtpc_server_reply_ehlo(&server, "mx.example", &caps);
		break;
	case SMTPC_CMD_MAIL:
		if (r.sc->silent)
			r.silent_now = 1; /* never answered */
		else
			smtpc_server_reply(&server, 250, "2.1.0 Ok");
		break;
	case SMTPC_CMD_DATA:
		r.got = 0;
		r.mismatch = 0;
		smtpc_server_reply(&server, 354, "End data with <CR><LF>.<CR><LF>");
		break;
	default:
		smtpc_server_reply(&server, 250, "2.0.0 Ok");
	}
}

/* Each delivered piece is compared with the scenario's message at once: no
 * copy of the message is kept. */
static void server_body(const smtpc_body *b)
{
	if (r.got + b->len > r.sc->want_len || memcmp(r.sc->want + r.got, b->data, b->len) != 0)
		r.mismatch = 1;
	r.got += b->len;
}

static void server_body_end(const smtpc_message_end *end)
{
	int ok = end->ok && !r.mismatch && r.got == r.sc->want_len && end->size == r.sc->want_len;

	log_str(&r.slog, ok ? "BODY_END ok" : "BODY_END differs");
	if (ok)
		smtpc_server_reply(&server, 250, "2.0.0 Ok: queued");
	else if (end->ok)
		smtpc_server_reply(&server, 554, "5.6.0 Not the message expected");
}

static int server_app(void)
{
	smtpc_event ev;
	smtpc_event_type t;
	int busy = 0;

	while (!r.server_done && (t = smtpc_next_event(&server, &ev)) != SMTPC_EV_NEED_DATA) {
		busy = 1;
		if (t == SMTPC_EV_COMMAND)
			server_command(&ev.command);
		else if (t == SMTPC_EV_BODY)
			server_body(&ev.body);
		else if (t == SMTPC_EV_BODY_END)
			server_body_end(&ev.body_end);
		else if (t == SMTPC_EV_STARTTLS)
			log_str(&r.slog, "STARTTLS");
		else {
			log_str(&r.slog, t == SMTPC_EV_CLOSED  ? "CLOSED"
					 : t == SMTPC_EV_ERROR ? smtpc_err_name(ev.err)
							       : "unexpected event");
			r.server_done = 1; /* the link closes once the last reply is sent */
		}
	}
	/* a silent server owes a reply, so the core waits for it; the
	 * client's end of input ends the session here */
	if (!r.server_done && r.silent_now && server_link.eof) {
		log_str(&r.slog, "EOF");
		r.server_done = 1;
		link_close(&server_link);
		busy = 1;
	}
	return busy;
}

/* ---- running and checking a scenario ---------------------------------------------- */

static int same(const char *a, const char *b)
{
	size_t n = strlen(a);

	return n == strlen(b) && memcmp(a, b, n) == 0;
}

static void fail(const struct scenario *sc, const char *what, const char *got, const char *want)
{
	board_puts("bare-metal: FAIL ");
	board_puts(sc->name);
	board_puts(": ");
	board_puts(what);
	if (got != NULL) {
		board_puts("\n  got:  ");
		board_puts(got);
		board_puts("\n  want: ");
		board_puts(want);
	}
	board_puts("\n");
}

static int run(const struct scenario *sc)
{
	smtpc_config cfg;
	uint32_t start, now;
	int busy;
	const link_timeouts *ct = sc->silent ? &silent_timeouts : &client_timeouts;

	memset(&r, 0, sizeof r);
	memset(&to_server, 0, sizeof to_server);
	memset(&to_client, 0, sizeof to_client);
	r.sc = sc;
	smtpc_config_default(&cfg);
	cfg.max_line = SMTPC_LINE_MIN;
	cfg.max_reply = 0; /* clamped up to its floor, max_line + 1 */
	cfg.max_ext = 0;
	cfg.allow_plain_auth = 1;
	if (smtpc_rx_min(&cfg) > RX_LEN ||
	    smtpc_init(&client, &cfg, client_rx, sizeof client_rx, client_tx, sizeof client_tx) !=
		SMTPC_ERR_OK ||
	    smtpc_server_init(&server, &cfg, server_rx, sizeof server_rx, server_tx,
			      sizeof server_tx) != SMTPC_ERR_OK) {
		fail(sc, "buffers refused", NULL, NULL);
		return 0;
	}
	smtpc_server_set_auth(&server, check_user, NULL);
	smtpc_server_allow_starttls(&server, sc->starttls);
	smtpc_server_greet(&server, 220, "mx.example ESMTP");
	if (sc->silent) /* the tick wraps in this session: no wait may end early */
		board_set_ticks(0u - SILENT_MAIL_TIMEOUT / 2u);
	start = board_ticks();
	link_init(&client_link, &client, &to_server, &to_client, *ct, start);
	link_init(&server_link, &server, &to_client, &to_server, server_timeouts, start);
	while (r.cstate != C_DONE || !r.server_done) {
		now = board_ticks();
		if (now - start > RUN_LIMIT) {
			fail(sc, "no end", r.clog.s, sc->client_log);
			return 0;
		}
		busy = link_io(&client_link, now);
		busy |= link_io(&server_link, now);
		busy |= server_app();
		busy |= client_app();
		if (!busy)
			board_idle(); /* until the next tick */
	}
	if (!same(r.clog.s, sc->client_log)) {
		fail(sc, "client log", r.clog.s, sc->client_log);
		return 0;
	}
	if (!same(r.slog.s, sc->server_log)) {
		fail(sc, "server log", r.slog.s, sc->server_log);
		return 0;
	}
	if (!sc->starttls && r.max_pending != (sc->to[1] != NULL ? 4u : 3u)) {
		fail(sc, "MAIL, RCPT and DATA were not pipelined", NULL, NULL);
		return 0;
	}
	/* the message as it crossed the pipe (nothing else goes out between the
	 * 354 and the reply to the dot), and as the client counted it */
	if (sc->wire_len != 0 && (r.wire_end - r.wire_354 != sc->wire_len ||
				  smtpc_body_stats(&client)->total_out != sc->wire_len)) {
		fail(sc, "DATA's wire size", NULL, NULL);
		return 0;
	}
	if (sc->silent ? client_link.fired != SMTPC_WAIT_MAIL ||
			     client_link.fired_after < SILENT_MAIL_TIMEOUT
		       : client_link.fired_after != 0 || server_link.fired_after != 0) {
		fail(sc, "timeout", NULL, NULL);
		return 0;
	}
	return 1;
}

int main(void)
{
	uint32_t i, failed = 0, first = 0;

	board_tick_start();
	for (i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
		if (!run(&scenarios[i])) { /* on to the next: each starts afresh */
			failed++;
			first = first != 0 ? first : i + 1;
		}
	}
	board_puts("bare-metal: scenarios ");
	board_putu(i - failed);
	board_puts(" passed, ");
	board_putu(failed);
	board_puts(" failed\n");
	if (failed != 0)
		return (int)first;
	board_puts("bare-metal: ok\n");
	board_puts("bare-metal: text ");
	board_putu(board_text_size());
	board_puts(" data ");
	board_putu(board_data_size());
	board_puts(" bss ");
	board_putu(board_bss_size());
	board_puts(" stack high-water ");
	board_putu(board_stack_high_water());
	board_puts(" (RAM in use ");
	board_putu(board_data_size() + board_bss_size() + board_stack_high_water());
	board_puts(" of 16384)\n");
	return 0;
}
