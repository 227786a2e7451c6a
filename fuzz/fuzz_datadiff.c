/*
 * The server's DATA decoder against a reference decoder written here.
 *
 * Input: [config][split seed][message data...]. A server is led through
 * EHLO, MAIL, RCPT and DATA (answered 250 and 354), then the fuzzer's bytes
 * are fed in pieces chosen by the seed and the events recorded. The
 * reference reads the same bytes the simplest way there is:
 *
 *   - the data ends exactly at the first CRLF "." CRLF, the start of the data
 *     counting as a CRLF (RFC 5321 4.1.1.4); nothing after it is message;
 *   - the message is cut into lines at each LF; line by line, in order, the
 *     first fault decides: a line over max_text_line (its leading dot and
 *     CRLF not counted twice: RFC 5321 4.5.3.1.6), then a bare CR or bare LF,
 *     then the octets over max_message; from the first fault on nothing is
 *     delivered;
 *   - every line before the fault is delivered without its leading dot
 *     (RFC 5321 4.5.2) and with its CRLF.
 *
 * The server must give the same verdict (ok, why, size) and the same octets;
 * without a terminator it must never report the end of a message, and it
 * must still have delivered exactly the reference's octets of the complete
 * lines.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpc.h"

#define CAP 65536

struct verdict {
	int ended, ok;
	smtpc_err why;
	uint64_t size;
	unsigned char out[CAP];
	size_t out_len;
};

static struct verdict got, want;
static smtpc_conn conn;
static unsigned char rx[16384], tx[4096];

static void out_add(struct verdict *v, const unsigned char *p, size_t n)
{
	if (n > CAP - v->out_len)
		abort(); /* more octets out than in */
	memcpy(v->out + v->out_len, p, n);
	v->out_len += n;
}

/* The reference. */
static void reference(const unsigned char *d, size_t n, size_t text_max, uint64_t msg_max)
{
	size_t end = n, i, start;
	int bad = 0;

	memset(&want, 0, sizeof want);
	want.ok = 1;
	if (n >= 3 && d[0] == '.' && d[1] == '\r' && d[2] == '\n') {
		end = 0;
	} else {
		for (i = 0; i + 5 <= n; i++) {
			if (memcmp(d + i, "\r\n.\r\n", 5) == 0) {
				end = i + 2; /* the last line keeps its CRLF */
				break;
			}
		}
	}
	want.ended = end < n;
	for (start = 0; start < end; start = i + 1) {
		const unsigned char *l = d + start;
		size_t len, dot;
		int crlf;
		for (i = start; i < end && d[i] != '\n'; i++)
			;
		if (i == end)
			break; /* an incomplete line at the end of the input */
		len = i - start;
		crlf = len > 0 && l[len - 1] == '\r';
		if (crlf)
			len--;
		if (bad)
			continue;
		dot = len > 0 && l[0] == '.';
		if (len - dot + 2 > text_max) {
			want.why = SMTPC_ERR_DATA_LINE_LONG;
			bad = 1;
		} else if (!crlf || memchr(l, '\r', len) != NULL) {
			want.why = SMTPC_ERR_DATA_BARE_EOL;
			bad = 1;
		} else if (msg_max && len - dot + 2 > msg_max - want.size) {
			want.why = SMTPC_ERR_TOO_BIG;
			bad = 1;
		} else {
			out_add(&want, l + dot, len - dot);
			out_add(&want, (const unsigned char *)"\r\n", 2);
			want.size += len - dot + 2;
		}
	}
	want.ok = !bad;
}

static void drain(void)
{
	size_t n;

	if (smtpc_send_buf(&conn, &n) != NULL)
		smtpc_send_ack(&conn, n);
}

/* Pulls events; returns 1 once the message has ended or the session is
 * over. */
static int pump(void)
{
	smtpc_event ev;

	for (;;) {
		smtpc_event_type t = smtpc_next_event(&conn, &ev);
		switch (t) {
		case SMTPC_EV_NEED_DATA:
			drain();
			if (smtpc_want(&conn) & SMTPC_WANT_EVENT)
				continue;
			return 0;
		case SMTPC_EV_COMMAND:
			if (smtpc_server_reply(&conn, ev.command.cmd == SMTPC_CMD_DATA ? 354 : 250,
					       "ok") != SMTPC_ERR_OK)
				abort();
			break;
		case SMTPC_EV_BODY:
			if (!got.ended)
				out_add(&got, ev.body.data, ev.body.len);
			break;
		case SMTPC_EV_BODY_END:
			got.ended = 1;
			got.ok = ev.body_end.ok;
			got.why = ev.body_end.ok ? SMTPC_ERR_OK : ev.body_end.why;
			got.size = ev.body_end.size;
			if (ev.body_end.ok &&
			    smtpc_server_reply(&conn, 250, "stored") != SMTPC_ERR_OK)
				abort();
			return 1;
		default:
			return 1; /* CLOSED, ERROR: no end of message */
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char pre[] = "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\n"
				  "RCPT TO:<c@d.example>\r\nDATA\r\n";
	static const size_t lines[] = {SMTPC_LINE_MIN, 998, 2048, 4000};
	static const size_t texts[] = {1000, 100, 3000, 1};
	smtpc_config cfg;
	size_t off = 0, n;
	uint8_t seed;
	int done = 0;

	if (size < 2 || size - 2 > CAP / 2)
		return 0;
	seed = data[1];
	smtpc_config_default(&cfg);
	cfg.max_line = lines[data[0] & 3];
	cfg.max_text_line = texts[(data[0] >> 2) & 3];
	cfg.max_message = (data[0] & 16) ? 300 : (data[0] & 32) ? 1 : 0;
	data += 2;
	size -= 2;
	memset(&conn, 0, sizeof conn);
	memset(&got, 0, sizeof got);
	if (smtpc_server_init(&conn, &cfg, rx, sizeof rx, tx, sizeof tx) != SMTPC_ERR_OK ||
	    smtpc_server_greet(&conn, 220, "diff") != SMTPC_ERR_OK)
		abort();
	if (smtpc_feed(&conn, pre, sizeof pre - 1) != sizeof pre - 1 || pump() ||
	    smtpc_waiting_for(&conn) != SMTPC_WAIT_DATA_BLOCK)
		abort();
	/* the clamped limit, as the library applies it */
	cfg.max_text_line = cfg.max_text_line < 1000 ? 1000 : cfg.max_text_line;
	if (cfg.max_text_line > cfg.max_line + 1)
		cfg.max_text_line = cfg.max_line + 1;
	reference(data, size, cfg.max_text_line, cfg.max_message);
	while (off < size && !done) {
		seed = (uint8_t)(seed * 33u + 7u);
		n = seed < 8 ? size - off : 1u + seed % 37u;
		if (n > size - off)
			n = size - off;
		while (n > 0 && !done) {
			size_t k = smtpc_feed(&conn, data + off, n);
			off += k;
			n -= k;
			done = pump();
			if (k == 0 && !done && !(smtpc_want(&conn) & SMTPC_WANT_EVENT))
				abort(); /* stuck */
		}
	}
	if (!done) {
		smtpc_eof(&conn);
		pump();
	}
	if (got.ended != want.ended || got.out_len != want.out_len ||
	    memcmp(got.out, want.out, want.out_len) != 0)
		abort(); /* a different end, or different octets */
	if (want.ended && (got.ok != want.ok || got.why != want.why || got.size != want.size))
		abort(); /* a different verdict */
	return 0;
}
