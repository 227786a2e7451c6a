/*
 * footprint.c - the smallest programs that use the core as a client, as a
 * server, or as both, built for measuring flash and RAM (make footprint;
 * footprint.py links and runs them). Each runs one whole session, EHLO,
 * AUTH PLAIN, MAIL, RCPT, DATA with a short message, QUIT, so what it links
 * is what such a program needs, and exits 0 only if the session went as it
 * should; then it prints the stack's high-water mark.
 *
 *   FP_CLIENT  the client role, against canned server replies
 *   FP_SERVER  the server role, against canned client commands
 *   both       a client and a server joined in RAM
 *   FP_SMALL   the smallest configuration: max_line 510, max_reply at its
 *              floor, max_ext 0 (and the build adds SMTPC_QUEUE_CAP=8);
 *              otherwise the defaults
 *
 * Buffers: receive smtpc_rx_min of the configuration (checked at run time),
 * transmit SMTPC_TX_MIN for the client and the server role's minimum, 1536.
 */
#include <string.h>

#include "board.h"
#include "smtpc.h"

#ifdef FP_SMALL
#define RX_LEN ((510u + 2u) + (511u + 1u) + 0u)
#else
#define RX_LEN ((2048u + 2u) + (4096u + 1u) + 1024u)
#endif
#if !defined FP_CLIENT && !defined FP_SERVER
#define FP_CLIENT
#define FP_SERVER
#define FP_PAIR
#endif

static void config(smtpc_config *cfg)
{
	smtpc_config_default(cfg);
#ifdef FP_SMALL
	cfg->max_line = SMTPC_LINE_MIN;
	cfg->max_reply = 0;
	cfg->max_ext = 0;
#endif
	cfg->allow_plain_auth = 1; /* no TLS here */
}

#ifdef FP_CLIENT
static const char body[] = "Subject: footprint\n\n.a line with a leading dot\nthe end\n";
static smtpc_conn client;
static unsigned char client_rx[RX_LEN], client_tx[SMTPC_TX_MIN];
static int client_done;

/* Acts on one reply; returns 0 when the session went wrong. */
static int client_reply(const smtpc_reply *r)
{
	size_t off = 0, n;

	switch (r->cmd) {
	case SMTPC_CMD_GREETING:
		return r->code == 220 && smtpc_ehlo(&client, "fp.example") == SMTPC_ERR_OK;
	case SMTPC_CMD_EHLO:
		return r->code == 250 &&
		       smtpc_auth(&client, SMTPC_MECH_PLAIN, "user", "s3cret") == SMTPC_ERR_OK;
	case SMTPC_CMD_AUTH:
		return r->code == 235 &&
		       smtpc_mail(&client, "a@example.org", NULL) == SMTPC_ERR_OK &&
		       smtpc_rcpt(&client, "b@example.net", NULL) == SMTPC_ERR_OK &&
		       smtpc_data(&client) == SMTPC_ERR_OK;
	case SMTPC_CMD_MAIL:
	case SMTPC_CMD_RCPT:
		return r->code == 250;
	case SMTPC_CMD_DATA:
		while (r->code == 354 && off < sizeof body - 1 &&
		       (n = smtpc_body_write(&client, body + off, sizeof body - 1 - off)) > 0)
			off += n;
		return off == sizeof body - 1 && smtpc_body_end(&client) == SMTPC_ERR_OK;
	case SMTPC_CMD_DATA_END:
		return r->code == 250 && smtpc_quit(&client) == SMTPC_ERR_OK;
	case SMTPC_CMD_QUIT:
		return r->code == 221;
	default:
		return 0;
	}
}

/* Pulls the client's events; returns 0 on failure. */
static int client_events(void)
{
	smtpc_event ev;
	smtpc_event_type t;

	while ((t = smtpc_next_event(&client, &ev)) != SMTPC_EV_NEED_DATA) {
		if (t == SMTPC_EV_CLOSED) {
			client_done = 1;
			return 1;
		}
		if (t == SMTPC_EV_ERROR || (t == SMTPC_EV_REPLY && !client_reply(&ev.reply)))
			return 0;
	}
	return 1;
}
#endif

#ifdef FP_SERVER
static const char delivered[] =
    "Subject: footprint\r\n\r\n.a line with a leading dot\r\nthe end\r\n";
static smtpc_conn server;
static unsigned char server_rx[RX_LEN], server_tx[1536];
static size_t got;
static int server_bad, server_done;

static int check_user(void *ctx, const char *u, size_t ul, const char *p, size_t pl)
{
	(void)ctx;
	return ul == 4 && memcmp(u, "user", 4) == 0 && pl == 6 && memcmp(p, "s3cret", 6) == 0;
}

static void server_events(void)
{
	static const smtpc_caps caps = {SMTPC_EXT_PIPELINING | SMTPC_EXT_AUTH, SMTPC_AUTH_PLAIN, 0,
					0};
	smtpc_event ev;
	smtpc_event_type t;

	while (!server_done && (t = smtpc_next_event(&server, &ev)) != SMTPC_EV_NEED_DATA) {
		if (t == SMTPC_EV_COMMAND && ev.command.cmd == SMTPC_CMD_EHLO)
			smtpc_server_reply_ehlo(&server, "mx.example", &caps);
		else if (t == SMTPC_EV_COMMAND && ev.command.cmd == SMTPC_CMD_DATA)
			smtpc_server_reply(&server, 354, "go ahead");
		else if (t == SMTPC_EV_COMMAND)
			smtpc_server_reply(&server, 250, "ok");
		else if (t == SMTPC_EV_BODY) {
			if (got + ev.body.len > sizeof delivered - 1 ||
			    memcmp(delivered + got, ev.body.data, ev.body.len) != 0)
				server_bad = 1;
			got += ev.body.len;
		} else if (t == SMTPC_EV_BODY_END) {
			server_bad |= !ev.body_end.ok || got != sizeof delivered - 1;
			smtpc_server_reply(&server, 250, "queued");
		} else {
			server_bad |= t != SMTPC_EV_CLOSED;
			server_done = 1;
		}
	}
}
#endif

#if defined FP_CLIENT && !defined FP_SERVER
/* clang-format off */
static const char *const replies[] = {
	"220 mx.example ESMTP\r\n",
	"250-mx.example\r\n250-PIPELINING\r\n250 AUTH PLAIN\r\n",
	"235 2.7.0 ok\r\n",
	"250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n",
	"250 2.0.0 queued\r\n",
	"221 2.0.0 bye\r\n",
};
/* clang-format on */

static int session(void)
{
	size_t step = 0, n, off;
	const char *in;

	while (!client_done) {
		smtpc_send_buf(&client, &n); /* sent: nobody listens */
		smtpc_send_ack(&client, n);
		if (!client_events())
			return 0;
		if (client_done)
			break;
		if (step == sizeof replies / sizeof replies[0]) {
			smtpc_eof(&client);
			continue;
		}
		for (in = replies[step++], off = 0; in[off] != '\0';)
			off += smtpc_feed(&client, in + off, strlen(in + off));
	}
	return step == sizeof replies / sizeof replies[0];
}
#endif

#if defined FP_SERVER && !defined FP_CLIENT
static const char *const commands[] = {
    "EHLO fp.example\r\n",
    "AUTH PLAIN AHVzZXIAczNjcmV0\r\n",
    "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n",
    "Subject: footprint\r\n\r\n..a line with a leading dot\r\nthe end\r\n.\r\n",
    "QUIT\r\n",
};

static int session(void)
{
	size_t step, n, off;
	const char *in;

	for (step = 0; step < sizeof commands / sizeof commands[0]; step++) {
		for (in = commands[step], off = 0; in[off] != '\0';) {
			off += smtpc_feed(&server, in + off, strlen(in + off));
			server_events();
			smtpc_send_buf(&server, &n); /* sent: nobody listens */
			smtpc_send_ack(&server, n);
		}
	}
	smtpc_eof(&server);
	server_events();
	return server_done && !server_bad && got == sizeof delivered - 1;
}
#endif

#ifdef FP_PAIR
/* Moves what each side has to send to the other. */
static int shuttle(smtpc_conn *from, smtpc_conn *to)
{
	size_t n;
	const unsigned char *p = smtpc_send_buf(from, &n);

	if (p == NULL)
		return 0;
	n = smtpc_feed(to, p, n);
	smtpc_send_ack(from, n);
	return n > 0;
}

static int session(void)
{
	int moved = 1;

	while (moved && !client_done) {
		if (!client_events())
			return 0;
		server_events();
		moved = shuttle(&client, &server) | shuttle(&server, &client);
		if (!moved && (smtpc_want(&server) & SMTPC_WANT_CLOSED)) {
			smtpc_eof(&client); /* the server closed after its 221 */
			moved = 1;
		}
	}
	smtpc_eof(&server);
	server_events();
	return client_done && server_done && !server_bad && got == sizeof delivered - 1;
}
#endif

int main(void)
{
	smtpc_config cfg;

	config(&cfg);
	if (smtpc_rx_min(&cfg) != RX_LEN)
		return 2; /* the core's sizes changed: update RX_LEN */
#ifdef FP_CLIENT
	if (smtpc_init(&client, &cfg, client_rx, sizeof client_rx, client_tx, sizeof client_tx) !=
	    SMTPC_ERR_OK)
		return 3;
#endif
#ifdef FP_SERVER
	if (smtpc_server_init(&server, &cfg, server_rx, sizeof server_rx, server_tx,
			      sizeof server_tx) != SMTPC_ERR_OK)
		return 3;
	smtpc_server_set_auth(&server, check_user, NULL);
	smtpc_server_greet(&server, 220, "mx.example ESMTP");
#endif
	if (!session())
		return 1;
	board_puts("footprint: ok, stack ");
	board_putu(board_stack_high_water());
	board_puts("\n");
	return 0;
}
