/*
 * The client role driven through its API: random sequences of calls
 * interleaved with server bytes.
 *
 * Input: [config][op][operands]... Each op calls one function of the client
 * API (commands with good, bad, NULL and empty arguments, message data,
 * BDAT, raw lines, TLS, acknowledgements of part of the output, the end of
 * input, calls of the server role), or feeds server bytes: canned replies or
 * bytes taken from the input. Invariants checked after every call:
 *
 *   - a refused call changes nothing: the connection struct and the bytes
 *     waiting in the transmit buffer are as they were before (functions that
 *     report refusal by returning 0 included);
 *   - no control byte reaches the wire unless the caller put it there: what
 *     a command, an AUTH response or the end of data writes is a sequence of
 *     CRLF-terminated lines with no other control byte; message data and
 *     raw message lines may carry the control bytes the caller gave them;
 *   - the DATA wire image never holds CRLF "." CRLF before smtpc_body_end
 *     wrote it (the data cannot end early);
 *   - the command hook cannot re-enter the connection (SMTPC_ERR_REENTRANT);
 *   - smtpc_want promises an event only when there is one; events carry
 *     well-formed replies; nothing is written once the session has ended.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpc.h"

static smtpc_conn conn, snap;
static unsigned char rx[16384], tx[1024], txsnap[1024], dst[600];
static size_t txsnap_len;

/* the wire: bytes written, as the harness saw them; body_tail: the DATA
 * wire image's last octets, "\r\n" at its start */
static size_t seen; /* octets of send_buf already checked */
static unsigned char tail[4];
static int in_data; /* the client has a 354 to a typed DATA and writes the body */
static int ended;
static const uint8_t *in;
static size_t in_len, in_pos;

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

static int is_ctrl(unsigned char b)
{
	return b < 0x20 || b == 0x7f;
}

/* Checks the octets written since the last check. lines: they must be
 * CRLF-terminated lines; allowed: control bytes the caller gave (NULL:
 * none). */
static void check_new(int lines, const unsigned char *allowed, size_t alen, int data)
{
	size_t n, i;
	const unsigned char *p = smtpc_send_buf(&conn, &n);

	if (smtpc_error(&conn) != SMTPC_ERR_OK) {
		seen = 0; /* nothing more goes out after a sticky error */
		return;
	}
	if (n < seen)
		abort();
	for (i = seen; i < n; i++) {
		unsigned char b = p[i];
		if (lines) {
			if (b == '\r' && (i + 1 >= n || p[i + 1] != '\n'))
				abort(); /* a bare CR, or a line left unfinished */
			if (b == '\n' && (i == 0 || p[i - 1] != '\r'))
				abort(); /* a bare LF */
			if (is_ctrl(b) && b != '\r' && b != '\n' &&
			    (allowed == NULL || memchr(allowed, b, alen) == NULL))
				abort(); /* a control byte nobody asked for */
		} else if (is_ctrl(b) && (allowed == NULL || memchr(allowed, b, alen) == NULL) &&
			   b != '\r' && b != '\n') {
			abort();
		}
		if (data) {
			if (tail[1] == '\r' && tail[2] == '\n' && tail[3] == '.' && b == '\r' &&
			    i + 1 < n && p[i + 1] == '\n' && data != 2)
				abort(); /* CRLF.CRLF inside the message */
			memmove(tail, tail + 1, 3);
			tail[3] = b;
		}
	}
	if (ended && n > seen)
		abort(); /* written after the end */
	seen = n;
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

static void reentry_hook(void *ctx, smtpc_cmd cmd, const char *line, size_t len, int secret)
{
	smtpc_event ev;
	size_t n;

	(void)ctx;
	(void)cmd;
	(void)secret;
	if (cmd != SMTPC_CMD_DATA_END && line[len] != '\r')
		abort(); /* the line is followed by its CRLF */
	if (smtpc_noop(&conn) != SMTPC_ERR_REENTRANT || smtpc_rset(&conn) != SMTPC_ERR_REENTRANT ||
	    smtpc_body_end(&conn) != SMTPC_ERR_REENTRANT ||
	    smtpc_feed(&conn, "250 x\r\n", 7) != 0 ||
	    smtpc_next_event(&conn, &ev) != SMTPC_EV_ERROR || ev.err != SMTPC_ERR_REENTRANT ||
	    smtpc_recv_buf(&conn, &n) != NULL || smtpc_body_write(&conn, "x", 1) != 0 ||
	    smtpc_tls_started(&conn) != SMTPC_ERR_REENTRANT)
		abort();
	smtpc_send_ack(&conn, 1); /* refused: the outer call's line stays whole */
	smtpc_recv_ack(&conn, 1);
	smtpc_eof(&conn);
}

static int fake_hmac(void *ctx, const unsigned char *key, size_t key_len, const unsigned char *msg,
		     size_t msg_len, unsigned char out[16])
{
	(void)ctx;
	(void)key;
	(void)key_len;
	if (smtpc_noop(&conn) != SMTPC_ERR_REENTRANT)
		abort();
	memset(out, 0x33, 16);
	(void)msg;
	return msg_len == 1 ? -1 : 0;
}

static const char *const replies[] = {
    "220 mx ready\r\n",
    "250-mx\r\n250-PIPELINING\r\n250-CHUNKING\r\n250-STARTTLS\r\n250-SIZE 100\r\n"
    "250-AUTH PLAIN LOGIN CRAM-MD5 XOAUTH2\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-DSN\r\n"
    "250-REQUIRETLS\r\n250 BINARYMIME\r\n",
    "250 ok\r\n",
    "354 go\r\n",
    "334 VXNlcm5hbWU6\r\n",
    "235 ok\r\n",
    "421 bye\r\n",
    "221 bye\r\n",
    "550 no\r\n",
    "334 PDEyQHg+\r\n",
    "220 tls\r\n",
    "250-a\r\n",
    "451 later\r\n",
    "250 ok\r\n250 ok\r\n250 ok\r\n",
    "334 \r\n",
    "250 mx\r\n",
};

static const char *const domains[] = {"c.example", "[127.0.0.1]",      "",	     "a\r\nb",
				      "x..y",	   "\xc3\xa9.example", "[IPv6:::1]", NULL};
static const char *const addrs[] = {"a@b.example", "",	      "postmaster",
				    "a@b\r\nRSET", "\"q\"@c", "\xc3\xa9@b.example",
				    "a@b\tc",	   NULL};
static const char *const words[] = {"x", "", "a\tb", "a\x7f", "\xc3\xa9", NULL, "ENVID", "a b"};

static void put_long(char *buf, size_t n, char fill)
{
	memset(buf, fill, n);
	buf[n] = '\0';
}

/* Calls one function; returns 1 when it reported refusal, 0 when it acted,
 * -1 when refusal is not checked (calls that change state by design). */
static int call(uint8_t op, unsigned char *allowed, size_t *alen, int *lines, int *data)
{
	static char big[9400];
	unsigned v = op >> 5;
	smtpc_mail_opts mo;
	smtpc_rcpt_opts ro;
	smtpc_err e = SMTPC_ERR_OK;
	size_t n, k;

	memset(&mo, 0, sizeof mo);
	memset(&ro, 0, sizeof ro);
	*lines = 1;
	*data = 0;
	*alen = 0;
	switch (op & 31u) {
	case 0:
		e = smtpc_ehlo(&conn, domains[v]);
		break;
	case 1:
		e = smtpc_helo(&conn, domains[v]);
		break;
	case 2:
		e = smtpc_lhlo(&conn, domains[v]);
		break;
	case 3: {
		uint8_t o = next();
		mo.size = (o & 1) ? 1000 : (o & 2) ? 50 : 0;
		mo.body = (smtpc_body_type)((o >> 2) & 3);
		mo.smtputf8 = (o & 16) != 0;
		mo.requiretls = (o & 32) != 0;
		mo.ret = (smtpc_ret)((o >> 6) % 3);
		mo.envid = words[next() & 7];
		mo.extra = (v & 1) ? "X=1 Y" : (v & 2) ? "SIZE=5" : (v & 4) ? "A=\x01" : NULL;
		e = smtpc_mail(&conn, addrs[next() & 7], (o & 0x80) && v == 7 ? NULL : &mo);
		break;
	}
	case 4:
		ro.notify = next() & 15;
		ro.orcpt = words[v];
		ro.extra = (v & 1) ? "NOTIFY=NEVER" : NULL;
		e = smtpc_rcpt(&conn, addrs[next() & 7], &ro);
		break;
	case 5:
		e = smtpc_data(&conn);
		break;
	case 6:
		e = smtpc_bdat(&conn, v == 7 ? UINT64_MAX : v * 3u, next() & 1);
		break;
	case 7:
		e = smtpc_rset(&conn);
		break;
	case 8:
		e = smtpc_noop(&conn);
		break;
	case 9:
		e = smtpc_vrfy(&conn, words[v]);
		break;
	case 10:
		e = smtpc_quit(&conn);
		break;
	case 11:
		e = smtpc_starttls(&conn);
		break;
	case 12: {
		static const char *const pw[] = {"pw", "", "p\x01", NULL};
		e = smtpc_auth(&conn, (smtpc_mech)(v % 6), v == 5 ? NULL : "user", pw[next() & 3]);
		break;
	}
	case 13: /* a raw line from the input */
		n = next() % 40u;
		if (n > in_len - in_pos)
			n = in_len - in_pos;
		memcpy(allowed, in + in_pos, n);
		*alen = n; /* only HT survives, in message lines */
		for (k = 0; k < n; k++)
			if (allowed[k] != '\t')
				allowed[k] = ' ';
		e = smtpc_raw(&conn, (const char *)in + in_pos, n);
		in_pos += n;
		break;
	case 14: { /* message data from the input */
		int mode = in_data;
		n = next() % 64u;
		if (n > in_len - in_pos)
			n = in_len - in_pos;
		memcpy(allowed, in + in_pos, n);
		*alen = n;
		*lines = 0;
		*data = mode;
		k = smtpc_body_write(&conn, in + in_pos, n);
		in_pos += n;
		if (k > n)
			abort();
		return n == 0 ? -1 : k == 0;
	}
	case 15: {
		size_t w = 77;
		n = next() % 64u;
		if (n > in_len - in_pos)
			n = in_len - in_pos;
		k = smtpc_body_write_to(&conn, in + in_pos, n, dst, v * 80u, &w);
		if (k > n || w > v * 80u || (k == 0 && w != 0))
			abort();
		in_pos += n;
		return n == 0 || v == 0 ? -1 : k == 0;
	}
	case 16:
		*data = in_data ? 2 : 0;
		e = smtpc_body_end(&conn);
		break;
	case 17:
		e = smtpc_tls_started(&conn);
		break;
	case 18:
		smtpc_set_secure(&conn);
		return -1;
	case 19:
		ack(next());
		return -1;
	case 20:
		smtpc_eof(&conn);
		return -1;
	case 21:
		smtpc_set_command_hook(&conn, v & 1 ? reentry_hook : NULL, NULL);
		return -1;
	case 22:
		smtpc_set_hmac_md5(&conn, v & 1 ? fake_hmac : NULL, NULL);
		return -1;
	case 23: /* server calls on a client: refused, nothing changes */
		if (smtpc_server_reply(&conn, 250, "x") != SMTPC_ERR_ROLE ||
		    smtpc_server_greet(&conn, 220, "x") != SMTPC_ERR_ROLE ||
		    smtpc_server_shutdown(&conn, "x") != SMTPC_ERR_ROLE)
			abort();
		smtpc_server_allow_starttls(&conn, 1);
		smtpc_server_set_auth(&conn, NULL, NULL);
		return 1;
	case 24: { /* over-long arguments */
		put_long(big, v == 0 ? 65 : v == 1 ? 300 : 9300, "ab.c@"[v % 5]);
		switch (next() % 4u) {
		case 0:
			e = smtpc_ehlo(&conn, big);
			break;
		case 1:
			e = smtpc_mail(&conn, big, NULL);
			break;
		case 2:
			e = smtpc_vrfy(&conn, big);
			break;
		default:
			e = smtpc_auth(&conn, SMTPC_MECH_PLAIN, big, big);
			break;
		}
		break;
	}
	case 25:
		e = smtpc_raw(&conn, NULL, v);
		break;
	case 26:
		e = smtpc_mail(&conn, NULL, NULL);
		break;
	default:
		return -1;
	}
	if (e == SMTPC_ERR_REENTRANT)
		abort(); /* only from inside a hook */
	return e != SMTPC_ERR_OK;
}

static void feed(const void *p, size_t n);

/* Pulls events until none. */
static void pump(void)
{
	smtpc_event ev;
	int guard = 0;

	for (;;) {
		unsigned want = smtpc_want(&conn);
		smtpc_event_type t = smtpc_next_event(&conn, &ev);
		check_new(1, NULL, 0, 0); /* AUTH responses */
		if (++guard > 100000)
			abort(); /* a loop */
		switch (t) {
		case SMTPC_EV_NEED_DATA:
			if (want & SMTPC_WANT_EVENT)
				abort(); /* the mask promised an event */
			return;
		case SMTPC_EV_LINE:
			if (ev.line.text[ev.line.len] != '\0' || ev.line.code < 200 ||
			    ev.line.code > 599)
				abort();
			break;
		case SMTPC_EV_REPLY:
			if (ev.reply.text[ev.reply.len] != '\0' || ev.reply.nlines == 0)
				abort();
			if (ev.reply.cmd == SMTPC_CMD_DATA && ev.reply.code == 354) {
				in_data = 1;
				memcpy(tail, "xx\r\n", 4);
			}
			break;
		case SMTPC_EV_STARTTLS:
			break;
		default:
			if (smtpc_pending(&conn) != 0)
				abort(); /* an ended session owes nothing */
			ended = 1;
			return;
		}
	}
}

static void feed(const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n > 0) {
		size_t k = smtpc_feed(&conn, b, n);
		b += k;
		n -= k;
		pump();
		if (k == 0 && !(smtpc_want(&conn) & SMTPC_WANT_EVENT))
			return; /* paused, full: the rest is dropped */
	}
	pump();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	smtpc_config cfg;
	unsigned char allowed[64];

	if (size < 1)
		return 0;
	in = data + 1;
	in_len = size - 1;
	in_pos = 0;
	seen = 0;
	in_data = 0;
	ended = 0;
	smtpc_config_default(&cfg);
	cfg.allow_plain_auth = data[0] & 1;
	cfg.early_replies = (data[0] & 2) != 0;
	cfg.strict_crlf = (data[0] & 4) != 0;
	cfg.max_queue = (data[0] & 8) ? 2 : SMTPC_QUEUE_CAP;
	memset(&conn, 0, sizeof conn);
	if (smtpc_init(&conn, &cfg, rx, sizeof rx, tx, (data[0] & 16) ? 600 : sizeof tx) !=
	    SMTPC_ERR_OK)
		abort();
	while (in_pos < in_len) {
		uint8_t op = next();
		if (op >= 0xf0) { /* server bytes */
			if (op == 0xff) {
				size_t n = next() % 64u;
				if (n > in_len - in_pos)
					n = in_len - in_pos;
				feed(in + in_pos, n);
				in_pos += n;
			} else {
				const char *r = replies[op & 15];
				feed(r, strlen(r));
			}
			check_new(1, NULL, 0, 0);
		} else {
			size_t alen;
			int lines, dmode, refused, was_ended = ended;
			take_snap();
			refused = call(op, allowed, &alen, &lines, &dmode);
			if (refused == 1)
				same_as_snap();
			if (dmode == 2 && refused == 0)
				in_data = 0;
			check_new(lines, allowed, alen, refused == 0 ? dmode : 0);
			if (was_ended && refused == 0 && (op & 31u) <= 17)
				abort(); /* accepted after the end */
			pump();
		}
	}
	return 0;
}
