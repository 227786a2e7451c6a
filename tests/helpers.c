#include "helpers.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct holder {
	smtpc_conn c; /* first: the holder is found from the connection */
	unsigned char *rx, *tx;
};

smtpc_conn *tc_new(const smtpc_config *cfg, size_t tx_len)
{
	struct holder *h = calloc(1, sizeof *h);
	size_t rx_len = smtpc_rx_min(cfg);

	cr_assert_not_null(h);
	if (tx_len == 0)
		tx_len = 4096;
	h->rx = malloc(rx_len);
	h->tx = malloc(tx_len);
	cr_assert_eq(smtpc_init(&h->c, cfg, h->rx, rx_len, h->tx, tx_len), SMTPC_ERR_OK);
	return &h->c;
}

smtpc_conn *ts_new(const smtpc_config *cfg)
{
	struct holder *h = calloc(1, sizeof *h);
	size_t rx_len = smtpc_rx_min(cfg);

	cr_assert_not_null(h);
	h->rx = malloc(rx_len);
	h->tx = malloc(8192);
	cr_assert_eq(smtpc_server_init(&h->c, cfg, h->rx, rx_len, h->tx, 8192), SMTPC_ERR_OK);
	return &h->c;
}

void tc_free(smtpc_conn *c)
{
	struct holder *h = (struct holder *)c;

	if (h == NULL)
		return;
	free(h->rx);
	free(h->tx);
	free(h);
}

void sb_add(sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t room = b->cap - b->n;
		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->n : NULL, room, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < room) {
			b->n += (size_t)n;
			return;
		}
		b->cap = b->cap * 2 + (size_t)n + 64;
		b->s = realloc(b->s, b->cap);
		cr_assert_not_null(b->s);
	}
}

void sb_free(sbuf *b)
{
	free(b->s);
	b->s = NULL;
	b->n = b->cap = 0;
}

void log_event(sbuf *b, const smtpc_event *ev)
{
	size_t i;

	switch (ev->type) {
	case SMTPC_EV_LINE:
		cr_assert_eq(ev->line.text[ev->line.len], '\0');
		sb_add(b, "L %u%c%.*s\n", ev->line.code, ev->line.last ? ' ' : '-',
		       (int)ev->line.len, ev->line.text);
		break;
	case SMTPC_EV_REPLY:
		cr_assert_eq(ev->reply.text[ev->reply.len], '\0');
		sb_add(b, "R %u %s", ev->reply.code, smtpc_cmd_name(ev->reply.cmd));
		if (ev->reply.cmd == SMTPC_CMD_RCPT || ev->reply.cmd == SMTPC_CMD_BDAT)
			sb_add(b, "#%u", ev->reply.index);
		if (ev->reply.esc.cls)
			sb_add(b, " [%u.%u.%u]", ev->reply.esc.cls, ev->reply.esc.subject,
			       ev->reply.esc.detail);
		sb_add(b, " ");
		for (i = 0; i < ev->reply.len; i++)
			sb_add(b, "%c", ev->reply.text[i] == '\n' ? '|' : ev->reply.text[i]);
		sb_add(b, "\n");
		break;
	case SMTPC_EV_STARTTLS:
		sb_add(b, "TLS\n");
		break;
	case SMTPC_EV_CLOSED:
		sb_add(b, "CLOSED\n");
		break;
	case SMTPC_EV_ERROR:
		sb_add(b, "E %s\n", smtpc_err_name(ev->err) + 10);
		break;
	default:
		sb_add(b, "?\n");
	}
}

/* Returns 1 when the connection is finished (error or closed). */
static int drain_r(smtpc_conn *c, sbuf *log)
{
	smtpc_event ev;

	for (;;) {
		smtpc_event_type t = smtpc_next_event(c, &ev);
		cr_assert_eq(t, ev.type);
		if (t == SMTPC_EV_NEED_DATA)
			return 0;
		if (log)
			log_event(log, &ev);
		if (t == SMTPC_EV_ERROR || t == SMTPC_EV_CLOSED) {
			/* the event says how the session ended, as the query does */
			smtpc_end end;
			cr_assert_eq(smtpc_session_end(c, &end), ev.end.how);
			cr_assert_neq(end.how, SMTPC_END_NONE);
			cr_assert_eq(memcmp(&end, &ev.end, sizeof end), 0);
			cr_assert_eq(smtpc_pending(c), 0);
			return 1;
		}
	}
}

void drain(smtpc_conn *c, sbuf *log)
{
	drain_r(c, log);
}

void feed_all(smtpc_conn *c, const void *data, size_t len, sbuf *log)
{
	const unsigned char *p = data;
	int done = 0;

	while (len > 0) {
		size_t n = smtpc_feed(c, p, len);
		p += n;
		len -= n;
		if (n == 0) {
			/* a full buffer always yields an event, else this would spin */
			cr_assert(smtpc_want(c) & SMTPC_WANT_EVENT, "feed stalled with no event");
		}
		if (!done)
			done = drain_r(c, log);
	}
	if (!done)
		drain_r(c, log);
}

void feed_ok(smtpc_conn *c, const char *s)
{
	sbuf log = {0};

	feed_all(c, s, strlen(s), &log);
	cr_assert_eq(smtpc_error(c), SMTPC_ERR_OK, "unexpected error %s after: %s",
		     smtpc_err_name(smtpc_error(c)), log.s ? log.s : "");
	sb_free(&log);
}

const char *tx_take(smtpc_conn *c)
{
	static char out[65536];
	size_t n;
	const unsigned char *p = smtpc_send_buf(c, &n);

	cr_assert_lt(n, sizeof out);
	if (n)
		memcpy(out, p, n);
	out[n] = '\0';
	smtpc_send_ack(c, n);
	return out;
}

smtpc_conn *tc_ready(const smtpc_config *cfg, const char *ext)
{
	smtpc_conn *c = tc_new(cfg, 0);
	sbuf r = {0};
	const char *p = ext;

	feed_ok(c, "220 mx.example.net ESMTP\r\n");
	if (ext == NULL) {
		cr_assert_eq(smtpc_helo(c, "client.example"), SMTPC_ERR_OK);
		tx_take(c);
		feed_ok(c, "250 mx.example.net\r\n");
		return c;
	}
	cr_assert_eq(smtpc_ehlo(c, "client.example"), SMTPC_ERR_OK);
	tx_take(c);
	sb_add(&r, "250%cmx.example.net greets client.example\r\n", *p ? '-' : ' ');
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		sb_add(&r, "250%c%.*s\r\n", nl ? '-' : ' ', (int)n, p);
		p += n + (nl ? 1 : 0);
	}
	feed_ok(c, r.s);
	sb_free(&r);
	cr_assert(smtpc_is_greeted(c));
	return c;
}

static smtpc_conn *script_conn(const script *s)
{
	smtpc_conn *c = s->fresh ? tc_new(s->cfg, 0) : tc_ready(s->cfg, s->ext);

	if (s->setup)
		s->setup(c);
	return c;
}

/* Runs the script with the input cut at the given points. */
static char *run_cuts(const script *s, const size_t *cuts, size_t ncuts)
{
	smtpc_conn *c = script_conn(s);
	size_t len = s->len ? s->len : strlen(s->in), prev = 0, i;
	sbuf log = {0};

	for (i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : len;
		if (smtpc_want(c) & SMTPC_WANT_CLOSED)
			break; /* its ERROR or CLOSED is logged already */
		feed_all(c, s->in + prev, end - prev, &log);
		prev = end;
	}
	if (s->eof && !(smtpc_want(c) & SMTPC_WANT_CLOSED)) {
		smtpc_eof(c);
		drain(c, &log);
	}
	if (s->check)
		s->check(c);
	tc_free(c);
	sb_add(&log, "%s", "");
	return log.s;
}

void run_script(const script *s)
{
	size_t len = s->len ? s->len : strlen(s->in), k, size;
	size_t *cuts = malloc((len + 1) * sizeof *cuts);
	char *log = run_cuts(s, NULL, 0);

	cr_assert_str_eq(log, s->expect, "%s: whole input\n got:\n%s\n want:\n%s", s->name, log,
			 s->expect);
	free(log);
	for (k = 1; k < len; k++) {
		log = run_cuts(s, &k, 1);
		cr_assert_str_eq(log, s->expect, "%s: split at %zu\n got:\n%s", s->name, k, log);
		free(log);
	}
	for (size = 1; size < len; size++) {
		size_t n = 0;
		for (k = size; k < len; k += size)
			cuts[n++] = k;
		log = run_cuts(s, cuts, n);
		cr_assert_str_eq(log, s->expect, "%s: chunks of %zu\n got:\n%s", s->name, size,
				 log);
		free(log);
	}
	free(cuts);
}
