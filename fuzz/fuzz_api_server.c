/*
 * The server role driven through its API: random sequences of calls
 * interleaved with client bytes.
 *
 * Input: [config][op][operands]... Each op calls one function of the server
 * API (greeting, replies with good and bad codes and texts, the EHLO reply,
 * the LMTP recipient query, shutdown, TLS, AUTH hooks, acknowledgements of
 * part of the output, the end of input, client calls on a server), pulls
 * one event, or feeds client bytes: canned commands and message data, or
 * bytes taken from the input. Invariants checked after every call:
 *
 *   - a refused call changes nothing (the connection struct and the bytes
 *     waiting to be sent are as they were);
 *   - everything written is a sequence of replies: "ddd" then space or
 *     hyphen, text with no control byte but HT, CRLF; a code 200-599;
 *   - the core never acknowledges message data: a pull that starts while
 *     message data is being read writes no 2xx first; after an end of
 *     message or chunk that is owed replies, nothing is written and no event
 *     comes until the application has answered as many times as
 *     smtpc_pending said, one less each time; a reply when none is owed is
 *     SMTPC_ERR_STATE and changes nothing;
 *   - the AUTH hook cannot re-enter the connection (SMTPC_ERR_REENTRANT);
 *   - smtpc_want promises an event only when there is one; nothing is
 *     written after SMTPC_EV_CLOSED.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpc.h"

static smtpc_conn conn, snap;
static unsigned char rx[16384], tx[4096], txsnap[4096];
static size_t txsnap_len, seen;
static const uint8_t *in;
static size_t in_len, in_pos;
static int closed;
static unsigned owed; /* what the last end-of-data event said is owed */

static uint8_t next(void)
{
	return in_pos < in_len ? in[in_pos++] : 0;
}

static void take_snap(void)
{
	size_t n;
	const unsigned char *p = smtpc_send_buf(&conn, &n);

	memcpy(&snap, &conn, sizeof conn);
	txsnap_len = n;
	if (n)
		memcpy(txsnap, p, n);
}

static void same_as_snap(void)
{
	size_t n;
	const unsigned char *p = smtpc_send_buf(&conn, &n);

	if (memcmp(&snap, &conn, sizeof conn) != 0 || n != txsnap_len ||
	    (n && memcmp(p, txsnap, n) != 0))
		abort(); /* a refused call changed the connection */
}

/* Checks the replies written since the last check; returns the code of the
 * first new line (0 when none). */
static unsigned check_new(void)
{
	size_t n, i;
	const unsigned char *p = smtpc_send_buf(&conn, &n);
	unsigned first = 0;

	if (smtpc_error(&conn) != SMTPC_ERR_OK) {
		seen = 0; /* nothing more goes out after a sticky error */
		return 0;
	}
	if (n < seen || (closed && n > seen))
		abort();
	for (i = seen; i < n;) {
		size_t j;
		unsigned code;
		if (n - i < 6 || p[i] < '2' || p[i] > '5' || p[i + 1] < '0' || p[i + 1] > '9' ||
		    p[i + 2] < '0' || p[i + 2] > '9' || (p[i + 3] != ' ' && p[i + 3] != '-'))
			abort(); /* not a reply line */
		code = (unsigned)(p[i] - '0') * 100u + (unsigned)(p[i + 1] - '0') * 10u +
		       (unsigned)(p[i + 2] - '0');
		if (first == 0)
			first = code;
		for (j = i + 4; j < n && p[j] != '\r'; j++) {
			if ((p[j] < 0x20 && p[j] != '\t') || p[j] == 0x7f)
				abort(); /* a control byte in a reply */
		}
		if (j + 1 >= n || p[j + 1] != '\n' || j - i + 2 > 512)
			abort(); /* a line not ended by CRLF, or too long */
		i = j + 2;
	}
	seen = n;
	return first;
}

static void ack(size_t k)
{
	size_t n;

	smtpc_send_buf(&conn, &n);
	if (k > n)
		k = n;
	smtpc_send_ack(&conn, k);
	seen -= k;
}

static int check_auth(void *ctx, const char *u, size_t ul, const char *p, size_t pl)
{
	smtpc_event ev;

	(void)ctx;
	(void)p;
	(void)u;
	if (smtpc_server_reply(&conn, 250, "x") != SMTPC_ERR_REENTRANT ||
	    smtpc_server_shutdown(&conn, "x") != SMTPC_ERR_REENTRANT ||
	    smtpc_next_event(&conn, &ev) != SMTPC_EV_ERROR || ev.err != SMTPC_ERR_REENTRANT ||
	    smtpc_feed(&conn, "NOOP\r\n", 6) != 0 ||
	    smtpc_tls_started(&conn) != SMTPC_ERR_REENTRANT)
		abort();
	smtpc_send_ack(&conn, 1000);		  /* refused */
	smtpc_eof(&conn);			  /* refused */
	smtpc_server_set_auth(&conn, NULL, NULL); /* allowed: the hook is already running */
	return ul == 1 && pl == 1;
}

static const char *const lines[] = {
    "EHLO c.example\r\n",
    "LHLO c.example\r\n",
    "MAIL FROM:<a@b.example>\r\n",
    "RCPT TO:<c@d.example>\r\n",
    "DATA\r\n",
    "line\r\n.\r\n",
    "BDAT 3\r\nabc",
    "BDAT 2 LAST\r\nxy",
    "RSET\r\nNOOP\r\n",
    "QUIT\r\n",
    "STARTTLS\r\n",
    "AUTH PLAIN AHUAcA==\r\n",
    "AUTH LOGIN\r\ndQ==\r\ncA==\r\n",
    "MAIL FROM:<a@b> SIZE=100000\r\nRCPT TO:<x@y>\r\nRCPT TO:<z@y>\r\nDATA\r\n",
    ".\r\n",
    "bare\nlf\r\n",
};

static const char *const texts[] = {"ok", "", "a\nb", "a\rb", "a\tb", "x\x7f", "2.0.0 fine", NULL};

/* Calls one function; returns 1 when it reported refusal, 0 when it acted,
 * -1 when it is not checked. */
static int call(uint8_t op)
{
	static char big[600];
	static const unsigned codes[] = {250, 354, 421, 550, 199, 600, 235, 451};
	unsigned v = op >> 5;
	smtpc_err e;
	size_t before = smtpc_pending(&conn);
	int reply = 0;

	switch (op & 15u) {
	case 0:
		e = smtpc_server_greet(&conn, codes[v] == 250 ? 220 : codes[v], texts[next() & 7]);
		break;
	case 1:
		e = smtpc_server_reply(&conn, codes[v], texts[next() & 7]);
		reply = 1;
		break;
	case 2: {
		smtpc_caps k;
		memset(&k, 0, sizeof k);
		k.ext = (unsigned)next() << 3 | v;
		k.size_limit = v * 1000u;
		e = smtpc_server_reply_ehlo(&conn, v == 7 ? "bad\r\n" : "s.example",
					    v == 6 ? NULL : &k);
		reply = 1;
		break;
	}
	case 3: {
		unsigned r = 7777;
		if (smtpc_server_reply_rcpt(&conn, &r) && r >= SMTPC_LMTP_RCPT_CAP)
			abort();
		return -1;
	}
	case 4:
		e = smtpc_server_shutdown(&conn, texts[v]);
		break;
	case 5:
		e = smtpc_tls_started(&conn);
		break;
	case 6:
		smtpc_server_allow_starttls(&conn, v & 1);
		return -1;
	case 7:
		smtpc_server_set_auth(&conn, v & 1 ? check_auth : NULL, NULL);
		return -1;
	case 8:
		ack(next());
		return -1;
	case 9:
		smtpc_eof(&conn);
		return -1;
	case 10: /* client calls on a server: refused, nothing changes */
		if (smtpc_noop(&conn) != SMTPC_ERR_ROLE || smtpc_quit(&conn) != SMTPC_ERR_ROLE ||
		    smtpc_mail(&conn, "a@b", NULL) != SMTPC_ERR_ROLE ||
		    smtpc_body_write(&conn, "x", 1) != 0 ||
		    smtpc_body_end(&conn) != SMTPC_ERR_ROLE ||
		    smtpc_raw(&conn, "NOOP", 4) != SMTPC_ERR_ROLE ||
		    smtpc_body_stats(&conn) != NULL)
			abort();
		smtpc_set_command_hook(&conn, NULL, NULL);
		smtpc_set_hmac_md5(&conn, NULL, NULL);
		return 1;
	case 11:
		memset(big, 'x', sizeof big - 1);
		big[v * 80u + 10u] = '\0';
		e = smtpc_server_reply(&conn, 250, big);
		reply = 1;
		break;
	default:
		return -1;
	}
	if (e == SMTPC_ERR_REENTRANT)
		abort();
	if (reply && e == SMTPC_ERR_OK && before == 0)
		abort(); /* a reply when none was owed */
	if (reply && e == SMTPC_ERR_OK && !closed && smtpc_error(&conn) == SMTPC_ERR_OK) {
		size_t after = smtpc_pending(&conn);
		if (after + 1 != before && !(after == 0 && smtpc_session_end(&conn, NULL)))
			abort(); /* one reply, one less owed */
		if (owed > 0)
			owed--;
	}
	return e != SMTPC_ERR_OK;
}

/* Pulls one event. */
static void pull(void)
{
	smtpc_event ev;
	unsigned want = smtpc_want(&conn);
	smtpc_wait w = smtpc_waiting_for(&conn);
	size_t owes = smtpc_pending(&conn);
	smtpc_event_type t;
	unsigned first;

	if (owes > 0)
		take_snap();
	t = smtpc_next_event(&conn, &ev);
	first = check_new();
	if (owes > 0) { /* nothing happens until the application answers */
		if (t != SMTPC_EV_NEED_DATA)
			abort();
		same_as_snap();
	}
	if (w == SMTPC_WAIT_DATA_BLOCK && first / 100u == 2)
		abort(); /* the core acknowledged message data itself */
	switch (t) {
	case SMTPC_EV_NEED_DATA:
		if ((want & SMTPC_WANT_EVENT) && owes == 0 && smtpc_pending(&conn) == 0) {
			/* promised: the step may have been only a core reply, so the
			 * promise holds if the next pull makes progress or needs room */
		}
		break;
	case SMTPC_EV_COMMAND:
		if (smtpc_pending(&conn) != 1)
			abort();
		break;
	case SMTPC_EV_BODY:
		if (ev.body.len == 0)
			abort();
		break;
	case SMTPC_EV_BODY_END:
	case SMTPC_EV_CHUNK_END:
		if ((ev.body_end.ok != 0) != (ev.body_end.replies != 0) ||
		    smtpc_pending(&conn) != ev.body_end.replies ||
		    (ev.body_end.ok ? first != 0 : first != 0 && first < 400))
			abort(); /* owed what it says; nothing written, or the core's refusal */
		owed = ev.body_end.replies;
		break;
	case SMTPC_EV_STARTTLS:
		break;
	default:
		closed = 1;
		if (smtpc_pending(&conn) != 0)
			abort();
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	smtpc_config cfg;

	if (size < 1)
		return 0;
	in = data + 1;
	in_len = size - 1;
	in_pos = 0;
	seen = 0;
	closed = 0;
	owed = 0;
	smtpc_config_default(&cfg);
	cfg.allow_plain_auth = data[0] & 1;
	cfg.lmtp = (data[0] & 2) != 0;
	cfg.max_message = (data[0] & 4) ? 50 : 0;
	if (data[0] & 8) {
		cfg.max_line = SMTPC_LINE_MIN;
		cfg.max_text_line = 100;
	}
	memset(&conn, 0, sizeof conn);
	if (smtpc_server_init(&conn, &cfg, rx, sizeof rx, tx,
			      (data[0] & 16) ? SMTPC_SERVER_TX_MIN : sizeof tx) != SMTPC_ERR_OK)
		abort();
	while (in_pos < in_len) {
		uint8_t op = next();
		if (op >= 0xe0) { /* client bytes */
			const unsigned char *p;
			size_t n, k;
			if (op == 0xff) {
				n = next() % 128u;
				if (n > in_len - in_pos)
					n = in_len - in_pos;
				p = in + in_pos;
				in_pos += n;
			} else {
				p = (const unsigned char *)lines[op & 15];
				n = strlen((const char *)p);
			}
			k = smtpc_feed(&conn, p, n);
			if (k > n)
				abort();
			check_new();
		} else if (op >= 0xc0) {
			unsigned i, m = (op & 31u) + 1u;
			for (i = 0; i < m; i++)
				pull();
		} else {
			int refused;
			take_snap();
			refused = call(op);
			if (refused == 1)
				same_as_snap();
			check_new();
		}
	}
	return 0;
}
