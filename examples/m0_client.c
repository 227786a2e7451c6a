/*
 * A bare-metal client on the core alone, as `make cross` links it for a
 * Cortex-M0: one message (EHLO, STARTTLS when offered, AUTH PLAIN, MAIL,
 * RCPT, DATA, QUIT) over a byte transport the board provides. Only client
 * calls: the linked image must hold no server code (make cross checks it and
 * prints the core's share of the image).
 *
 * The transport and the TLS layer are the board's: here they are a UART at a
 * made-up address and stubs, enough to link and measure; a port replaces
 * them. Not built for the host.
 */
#include <stddef.h>
#include <stdint.h>

#include "smtpc.h"

/* ---- the board: a UART and a millisecond tick (made-up addresses) ---------- */

#define UART_DATA (*(volatile uint32_t *)0x40002000u)
#define UART_STAT (*(volatile uint32_t *)0x40002004u) /* bit 0: rx ready, 1: tx free */
#define TICK_MS	  (*(volatile uint32_t *)0x40003000u)

static size_t uart_read(unsigned char *p, size_t n)
{
	size_t i = 0;

	while (i < n && (UART_STAT & 1u))
		p[i++] = (unsigned char)UART_DATA;
	return i;
}

static size_t uart_write(const unsigned char *p, size_t n)
{
	size_t i = 0;

	while (i < n && (UART_STAT & 2u))
		UART_DATA = p[i++];
	return i;
}

static void tls_handshake(void) /* the board's TLS layer would run here */
{
}

static void log_line(const char *s)
{
	while (*s != '\0')
		UART_DATA = (unsigned char)*s++;
}

/* ---- the client -------------------------------------------------------------- */

static unsigned char rx[3 * 1024], tx[1024];
static smtpc_conn conn;

static const char message[] = "Subject: alarm\r\n\r\nDoor 3 opened.\r\n";

/* The next command after a reply; 0 to keep going, 1 when done. */
static int next_step(smtpc_conn *c, const smtpc_reply *r)
{
	const smtpc_caps *caps = smtpc_get_caps(c);
	smtpc_err e = SMTPC_ERR_OK;

	if (r->code >= 400 && r->cmd != SMTPC_CMD_NONE && r->cmd != SMTPC_CMD_QUIT)
		return smtpc_quit(c) != SMTPC_ERR_OK;
	switch (r->cmd) {
	case SMTPC_CMD_GREETING:
		e = smtpc_ehlo(c, "panel.example");
		break;
	case SMTPC_CMD_EHLO:
		if ((caps->ext & SMTPC_EXT_STARTTLS) && !smtpc_is_secure(c))
			e = smtpc_starttls(c);
		else if (caps->ext & SMTPC_EXT_AUTH)
			e = smtpc_auth(c, SMTPC_MECH_PLAIN, "panel", "secret");
		else
			e = smtpc_mail(c, "panel@example.org", NULL);
		break;
	case SMTPC_CMD_AUTH:
		e = smtpc_mail(c, "panel@example.org", NULL);
		break;
	case SMTPC_CMD_MAIL:
		e = smtpc_rcpt(c, "alarm@example.org", NULL);
		break;
	case SMTPC_CMD_RCPT:
		e = smtpc_data(c);
		break;
	case SMTPC_CMD_DATA:
		if (smtpc_body_write(c, message, sizeof message - 1) != sizeof message - 1)
			return 1; /* tx holds it whole here */
		e = smtpc_body_end(c);
		break;
	case SMTPC_CMD_DATA_END:
		e = smtpc_quit(c);
		break;
	default:
		break;
	}
	if (e != SMTPC_ERR_OK) {
		log_line(smtpc_err_name(e));
		return 1;
	}
	return 0;
}

int main(void);

int main(void)
{
	smtpc_config cfg;
	smtpc_event ev;
	smtpc_end end;
	uint32_t start = TICK_MS;

	smtpc_config_default(&cfg);
	cfg.max_line = 1000;
	cfg.max_reply = 1024;
	cfg.max_ext = 512;
	cfg.max_queue = 8;
	if (sizeof rx < smtpc_rx_min(&cfg) ||
	    smtpc_init(&conn, &cfg, rx, sizeof rx, tx, sizeof tx) != SMTPC_ERR_OK)
		return 1;
	for (;;) {
		size_t n;
		const unsigned char *out = smtpc_send_buf(&conn, &n);
		if (out != NULL)
			smtpc_send_ack(&conn, uart_write(out, n));
		switch (smtpc_next_event(&conn, &ev)) {
		case SMTPC_EV_NEED_DATA: {
			unsigned char *in = smtpc_recv_buf(&conn, &n);
			if (in != NULL)
				smtpc_recv_ack(&conn, uart_read(in, n));
			/* RFC 5321 4.5.3.2, roughly: 5 minutes for anything */
			if (smtpc_waiting_for(&conn) != SMTPC_WAIT_NONE &&
			    TICK_MS - start > 300000u)
				smtpc_fail(&conn, SMTPC_ERR_TIMEOUT);
			break;
		}
		case SMTPC_EV_REPLY:
			start = TICK_MS;
			if (next_step(&conn, &ev.reply))
				smtpc_eof(&conn);
			break;
		case SMTPC_EV_STARTTLS:
			tls_handshake();
			if (smtpc_tls_started(&conn) != SMTPC_ERR_OK ||
			    smtpc_ehlo(&conn, "panel.example") != SMTPC_ERR_OK)
				return 1;
			break;
		case SMTPC_EV_CLOSED:
		case SMTPC_EV_ERROR:
			smtpc_session_end(&conn, &end);
			log_line(end.how == SMTPC_END_QUIT ? "sent"
							   : smtpc_err_name(smtpc_error(&conn)));
			return end.how != SMTPC_END_QUIT;
		default:
			break;
		}
	}
}

/* ---- startup: no C library start files ------------------------------------------ */

void _start(void);

void _start(void)
{
	main();
	for (;;)
		;
}
