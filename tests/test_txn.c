/* The transaction layer: scripted servers (client bytes checked exactly,
 * server bytes fed in pieces of every size, message octets pushed in pieces
 * of several sizes: every run must give the same wire and results), and the
 * core's server role wired to it in memory. */
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtpc_txn.h"

#define OK(call) cr_assert_eq((call), SMTPC_ERR_OK, "%s failed", #call)

/* ---- scripted servers ------------------------------------------------------------ */

/* 'C': what the client must have sent when it next waits for a reply (the
 * concatenation of consecutive C steps); 'S': server bytes; 'E': the server
 * closes. */
struct step {
	char dir;
	const char *bytes;
	size_t len; /* 0: strlen(bytes) */
};

static size_t step_len(const struct step *st)
{
	return st->len ? st->len : strlen(st->bytes);
}

/* Appends n octets (any value) to b. */
static void bb_add(sbuf *b, const void *p, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->s = realloc(b->s, b->cap);
		cr_assert_not_null(b->s);
	}
	memcpy(b->s + b->n, p, n);
	b->n += n;
	b->s[b->n] = '\0';
}

/* Octets as C-escaped text, for failure messages (static storage). */
static const char *esc(const sbuf *b)
{
	static char out[4][8192];
	static int k;
	char *o = out[k++ % 4];
	size_t i, j = 0;

	for (i = 0; b->s != NULL && i < b->n && j + 8 < sizeof out[0]; i++) {
		unsigned char c = (unsigned char)b->s[i];
		if (c == '\r')
			j += (size_t)sprintf(o + j, "\\r");
		else if (c == '\n')
			j += (size_t)sprintf(o + j, "\\n\n");
		else if (c < 0x20 || c >= 0x7f)
			j += (size_t)sprintf(o + j, "\\x%02x", c);
		else
			o[j++] = (char)c;
	}
	o[j] = '\0';
	return o;
}

/* Checks that the client sent exactly the consecutive C steps at *st. */
static void expect_wire(sbuf *wire, const struct step **st, size_t piece, size_t bpiece,
			const char *when)
{
	sbuf want = {0};

	while ((*st)->dir == 'C') {
		bb_add(&want, (*st)->bytes, step_len(*st));
		(*st)++;
	}
	cr_assert(wire->n == want.n && (want.n == 0 || memcmp(wire->s, want.s, want.n) == 0),
		  "piece %zu/%zu, %s: the client sent\n%s\nwanted\n%s", piece, bpiece, when,
		  esc(wire), esc(&want));
	sb_free(&want);
	sb_free(wire);
}

struct mdef {
	const char *from;
	const char *to[6];
	const char *body; /* NULL: "" */
	size_t body_len;  /* 0: strlen(body) */
	smtpc_mail_opts opts;
	unsigned notify;
	const char *orcpt;
	int unmeasured;	  /* no size given */
	size_t text_size; /* 0: 4096 */
};

struct tcase {
	const char *ext; /* EHLO extension lines, '\n' separated */
	smtpc_txn_config cfg;
	size_t chunk; /* chunk buffer; 0: none */
	size_t tx;    /* client transmit buffer; 0: 4096 */
	int secure;
	struct mdef msgs[4];
	size_t nmsgs;
	const struct step *steps;
	const char *expect; /* the result log */
};

/* A client connection past EHLO, transmit buffer tx_len. */
static smtpc_conn *client(const char *ext, size_t tx_len)
{
	smtpc_conn *c = tc_new(NULL, tx_len ? tx_len : 4096);
	sbuf r = {0};
	const char *p = ext ? ext : "";

	feed_ok(c, "220 mx.example.net ESMTP\r\n");
	OK(smtpc_ehlo(c, "client.example"));
	tx_take(c);
	sb_add(&r, "250%cmx.example.net\r\n", *p ? '-' : ' ');
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

static void log_reply(sbuf *b, const char *name, const smtpc_txn_reply *r)
{
	cr_assert_not_null(r->text);
	cr_assert_eq(strlen(r->text), r->len);
	if (r->code == 0) {
		cr_assert_eq(r->len, 0);
		return;
	}
	sb_add(b, " %s=%u", name, r->code);
	if (r->esc.cls)
		sb_add(b, "[%u.%u.%u]", r->esc.cls, r->esc.subject, r->esc.detail);
	sb_add(b, "'%s'", r->text);
}

static void log_done(sbuf *b, const smtpc_txn_msg *m)
{
	size_t i;

	sb_add(b, "DONE %s %s", (const char *)m->user, smtpc_txn_status_name(m->status));
	if (m->stage != SMTPC_CMD_NONE)
		sb_add(b, " at %s", smtpc_cmd_name(m->stage));
	if (m->err != SMTPC_ERR_OK)
		sb_add(b, " err=%s", smtpc_err_name(m->err) + 10);
	if (m->method != SMTPC_CMD_NONE)
		sb_add(b, " by %s", smtpc_cmd_name(m->method));
	sb_add(b, " acc=%zu ref=%zu sent=%llu", m->accepted, m->refused,
	       (unsigned long long)m->sent);
	log_reply(b, "reply", &m->reply);
	sb_add(b, "\n");
	cr_assert_eq(m->accepted + m->refused <= m->nrcpts, 1);
	for (i = 0; i < m->nrcpts; i++) {
		const smtpc_txn_rcpt *r = &m->rcpts[i];
		cr_assert_neq(r->status, SMTPC_TXN_PENDING, "recipient %zu pending", i);
		sb_add(b, "  %s %s", r->addr, smtpc_txn_status_name(r->status));
		if (r->err != SMTPC_ERR_OK)
			sb_add(b, " err=%s", smtpc_err_name(r->err) + 10);
		log_reply(b, "rcpt", &r->rcpt);
		log_reply(b, "data", &r->data);
		sb_add(b, "\n");
	}
	/* the counts agree with the recipients */
	size_t acc = 0, ref = 0;
	for (i = 0; i < m->nrcpts; i++) {
		acc += m->rcpts[i].status == SMTPC_TXN_ACCEPTED;
		ref += m->rcpts[i].status == SMTPC_TXN_REFUSED;
	}
	cr_assert_eq(acc, m->accepted, "%s: accepted count", (const char *)m->user);
	if (m->status != SMTPC_TXN_FAILED)
		cr_assert_eq(ref, m->refused, "%s: refused count", (const char *)m->user);
	/* never a success without an accepted recipient */
	if (m->status == SMTPC_TXN_ACCEPTED || m->status == SMTPC_TXN_PARTIAL)
		cr_assert(acc > 0 && m->reply.code / 100 == 2);
}

struct rt {
	smtpc_conn *c;
	smtpc_txn t;
	smtpc_txn_msg m[4];
	smtpc_txn_rcpt r[4][6];
	char text[4][4096];
	unsigned char chunk[65536];
	size_t off[4];
	sbuf wire, log;
	const char *in; /* the server bytes being fed */
	size_t in_len, piece;
};

static const char *body_of(const struct mdef *d, size_t *len)
{
	const char *b = d->body ? d->body : "";

	*len = d->body_len ? d->body_len : strlen(b);
	return b;
}

static void rt_setup(struct rt *rt, const struct tcase *tc)
{
	static const char *const names[] = {"m0", "m1", "m2", "m3"};
	size_t i, k;

	memset(rt, 0, sizeof *rt);
	rt->c = client(tc->ext, tc->tx);
	if (tc->secure)
		smtpc_set_secure(rt->c);
	OK(smtpc_txn_init(&rt->t, rt->c, &tc->cfg, tc->chunk ? rt->chunk : NULL, tc->chunk));
	for (i = 0; i < tc->nmsgs; i++) {
		const struct mdef *d = &tc->msgs[i];
		smtpc_txn_msg *m = &rt->m[i];
		size_t blen;
		const char *b = body_of(d, &blen);
		m->from = d->from ? d->from : "a@example.org";
		m->rcpts = rt->r[i];
		for (k = 0; k < 6 && d->to[k]; k++) {
			rt->r[i][k].addr = d->to[k];
			rt->r[i][k].opts.notify = d->notify;
			rt->r[i][k].opts.orcpt = d->orcpt;
		}
		if (k == 0) {
			rt->r[i][0].addr = "b@example.org";
			rt->r[i][0].opts.notify = d->notify;
			rt->r[i][0].opts.orcpt = d->orcpt;
			k = 1;
		}
		m->nrcpts = k;
		m->opts = d->opts;
		m->text = rt->text[i];
		m->text_size = d->text_size ? d->text_size : sizeof rt->text[i];
		m->user = (void *)(uintptr_t)names[i];
		if (!d->unmeasured) {
			smtpc_txn_measure ms;
			smtpc_txn_measure_init(&ms);
			smtpc_txn_measure_add(&ms, b, blen);
			smtpc_txn_measure_end(&ms, &m->size);
		}
		OK(smtpc_txn_add(&rt->t, m));
	}
}

static void take(struct rt *rt)
{
	size_t n;
	const unsigned char *p = smtpc_send_buf(rt->c, &n);

	if (n) {
		bb_add(&rt->wire, p, n);
		smtpc_send_ack(rt->c, n);
	}
}

/* Pulls the core's events, handing replies to the layer. */
static void pull(struct rt *rt)
{
	smtpc_event ev;

	for (;;) {
		smtpc_event_type k = smtpc_next_event(rt->c, &ev);
		if (k == SMTPC_EV_NEED_DATA || k == SMTPC_EV_ERROR || k == SMTPC_EV_CLOSED)
			return;
		if (k == SMTPC_EV_REPLY)
			smtpc_txn_on_reply(&rt->t, &ev.reply);
	}
}

/* Feeds the next piece of the server bytes. */
static void feed_piece(struct rt *rt)
{
	size_t n = rt->piece && rt->piece < rt->in_len ? rt->piece : rt->in_len;

	while (n > 0) {
		size_t k = smtpc_feed(rt->c, rt->in, n);
		rt->in += k;
		rt->in_len -= k;
		n -= k;
		pull(rt);
		if (k == 0 && (smtpc_want(rt->c) & SMTPC_WANT_CLOSED))
			break;
	}
}

/* Runs the case: server bytes in pieces of `piece` (0: whole steps),
 * message octets in pieces of `bpiece` (0: whole). Returns the log. */
static char *run_case(const struct tcase *tc, size_t piece, size_t bpiece)
{
	struct rt *rt = calloc(1, sizeof *rt);
	const struct step *st = tc->steps;
	char *out;
	int iter;

	rt_setup(rt, tc);
	rt->piece = piece;
	for (iter = 0; iter < 1000000; iter++) {
		smtpc_txn_msg *m;
		smtpc_txn_event ev = smtpc_txn_next(&rt->t, &m);
		size_t idx, blen, n;
		const char *b;
		if (ev == SMTPC_TXN_BODY) {
			idx = (size_t)(m - rt->m);
			b = body_of(&tc->msgs[idx], &blen);
			if (rt->off[idx] == blen) {
				OK(smtpc_txn_end(&rt->t));
				cr_assert_eq(smtpc_txn_end(&rt->t), SMTPC_ERR_STATE);
				continue;
			}
			n = bpiece && bpiece < blen - rt->off[idx] ? bpiece : blen - rt->off[idx];
			rt->off[idx] += smtpc_txn_write(&rt->t, b + rt->off[idx], n);
			continue;
		}
		if (ev == SMTPC_TXN_START) {
			sb_add(&rt->log, "START %s\n", (const char *)m->user);
			continue;
		}
		if (ev == SMTPC_TXN_DONE) {
			log_done(&rt->log, m);
			continue;
		}
		take(rt);
		if (ev == SMTPC_TXN_SEND)
			continue;
		if (ev != SMTPC_TXN_READ) {
			sb_add(&rt->log, "%s %s\n", ev == SMTPC_TXN_IDLE ? "IDLE" : "CLOSED",
			       smtpc_err_name(smtpc_txn_error(&rt->t)) + 10);
			break;
		}
		if (rt->in_len > 0) {
			feed_piece(rt);
			continue;
		}
		/* the client waits for a reply: what it sent must be the script's */
		expect_wire(&rt->wire, &st, piece, bpiece, "waiting");
		if (st->dir == 'E') {
			smtpc_eof(rt->c);
			pull(rt);
			st++;
			continue;
		}
		cr_assert_eq(st->dir, 'S',
			     "piece %zu: the client waits for a reply the script lacks", piece);
		rt->in = st->bytes;
		rt->in_len = step_len(st);
		st++;
		feed_piece(rt);
	}
	cr_assert_lt(iter, 1000000, "no end");
	/* what is left of the script: what the client sent last */
	expect_wire(&rt->wire, &st, piece, bpiece, "at the end");
	cr_assert_eq(st->dir, 0, "piece %zu: script not finished at step '%s'", piece,
		     st->bytes ? st->bytes : "");
	cr_assert_eq(rt->in_len, 0);
	sb_add(&rt->log, "%s", "");
	out = rt->log.s;
	sb_free(&rt->wire);
	tc_free(rt->c);
	free(rt);
	return out;
}

/* The case whole, then with server bytes in pieces of every size and the
 * message octets in pieces of several sizes: the same wire and results. */
static void check_case(const struct tcase *tc)
{
	static const size_t bpieces[] = {0, 1, 2, 3, 7, 64};
	size_t longest = 0, piece, i;
	const struct step *st;
	char *log = run_case(tc, 0, 0);

	cr_assert_str_eq(log, tc->expect, "got:\n%s\nwant:\n%s", log, tc->expect);
	free(log);
	for (st = tc->steps; st->dir; st++) {
		if (st->dir == 'S' && step_len(st) > longest)
			longest = step_len(st);
	}
	for (piece = 1; piece <= longest; piece++) {
		for (i = 0; i < sizeof bpieces / sizeof bpieces[0]; i++) {
			if (piece > 1 && piece < longest && i > 1 && piece % 5 != 0)
				continue; /* every server split with two body splits; more now and
					     then */
			log = run_case(tc, piece, bpieces[i]);
			cr_assert_str_eq(log, tc->expect, "piece %zu, body piece %zu:\n%s", piece,
					 bpieces[i], log);
			free(log);
		}
	}
}

#define EXT_PIPE	"PIPELINING\nSIZE 100000\n8BITMIME\nENHANCEDSTATUSCODES"
#define EXT_PLAIN	"SIZE 100000\n8BITMIME"
#define EXT_CHUNK	"PIPELINING\nSIZE 100000\n8BITMIME\nCHUNKING"
#define EXT_CHUNK_PLAIN "CHUNKING"

/* ---- delivery: pipelined and not, DATA and BDAT ------------------------------------- */

Test(txn, pipelined_data_one_write_each_way)
{
	static const struct step steps[] = {
	    {.dir = 'C',
	     .bytes = "MAIL FROM:<a@example.org> SIZE=20\r\nRCPT TO:<b@example.org>\r\n"
		      "RCPT TO:<c@example.org>\r\nDATA\r\n"},
	    {.dir = 'S', .bytes = "250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.1.5 ok c\r\n354 go\r\n"},
	    {.dir = 'C', .bytes = "Subject: x\r\n\r\n..dot\r\n.\r\n"},
	    {.dir = 'S', .bytes = "250 2.0.0 queued as 1\r\n"},
	    {.dir = 0}};
	struct tcase tc = {
	    .ext = EXT_PIPE,
	    .msgs = {{.to = {"b@example.org", "c@example.org"}, .body = "Subject: x\n\n.dot\n"}},
	    .nmsgs = 1,
	    .steps = steps,
	    .expect =
		"START m0\n"
		"DONE m0 accepted at DATA_END by DATA acc=2 ref=0 sent=24 reply=250[2.0.0]'2.0.0 "
		"queued as 1'\n"
		"  b@example.org accepted rcpt=250[2.1.5]'2.1.5 ok' data=250[2.0.0]'2.0.0 queued "
		"as 1'\n"
		"  c@example.org accepted rcpt=250[2.1.5]'2.1.5 ok c' data=250[2.0.0]'2.0.0 "
		"queued as 1'\n"
		"IDLE OK\n"};
	check_case(&tc);
}

Test(txn, without_pipelining_one_command_at_a_time)
{
	static const struct step steps[] = {
	    {.dir = 'C', .bytes = "MAIL FROM:<a@example.org> SIZE=7\r\n"},
	    {.dir = 'S', .bytes = "250 ok\r\n"},
	    {.dir = 'C', .bytes = "RCPT TO:<b@example.org>\r\n"},
	    {.dir = 'S', .bytes = "250 ok\r\n"},
	    {.dir = 'C', .bytes = "RCPT TO:<c@example.org>\r\n"},
	    {.dir = 'S', .bytes = "250 ok\r\n"},
	    {.dir = 'C', .bytes = "DATA\r\n"},
	    {.dir = 'S', .bytes = "354 go\r\n"},
	    {.dir = 'C', .bytes = "hello\r\n.\r\n"},
	    {.dir = 'S', .bytes = "250 queued\r\n"},
	    {.dir = 0}};
	struct tcase tc = {
	    .ext = EXT_PLAIN,
	    .msgs = {{.to = {"b@example.org", "c@example.org"}, .body = "hello\r\n"}},
	    .nmsgs = 1,
	    .steps = steps,
	    .expect = "START m0\n"
		      "DONE m0 accepted at DATA_END by DATA acc=2 ref=0 sent=10 reply=250'queued'\n"
		      "  b@example.org accepted rcpt=250'ok' data=250'queued'\n"
		      "  c@example.org accepted rcpt=250'ok' data=250'queued'\n"
		      "IDLE OK\n"};
	check_case(&tc);
}

Test(txn, pipelining_offered_but_turned_off)
{
	static const struct step steps[] = {
	    {.dir = 'C', .bytes = "MAIL FROM:<a@example.org> SIZE=7\r\n"},
	    {.dir = 'S', .bytes = "250 ok\r\n"},
	    {.dir = 'C', .bytes = "RCPT TO:<b@example.org>\r\n"},
	    {.dir = 'S', .bytes = "250 ok\r\n"},
	    {.dir = 'C', .bytes = "DATA\r\n"},
	    {.dir = 'S', .bytes = "354 go\r\n"},
	    {.dir = 'C', .bytes = "hello\r\n.\r\n"},
	    {.dir = 'S', .bytes = "250 queued\r\n"},
	    {.dir = 0}};
	struct tcase tc = {
	    .ext = EXT_PIPE,
	    .cfg = {.no_pipelining = 1},
	    .msgs = {{.body = "hello\r\n"}},
	    .nmsgs = 1,
	    .steps = steps,
	    .expect = "START m0\n"
		      "DONE m0 accepted at DATA_END by DATA acc=1 ref=0 sent=10 reply=250'queued'\n"
		      "  b@example.org accepted rcpt=250'ok' data=250'queued'\n"
		      "IDLE OK\n"};
	check_case(&tc);
}

Test(txn, bdat_after_the_envelope_replies_chunks_pipelined)
{
	/* 10-octet chunks: the envelope first, then every chunk in one flight;
	 * the text is "Subject: x\r\n\r\n.dot\r\nend\r\n", 25 octets */
	static const struct step steps[] = {
	    {.dir = 'C',
	     .bytes = "MAIL FROM:<a@example.org> SIZE=25\r\nRCPT TO:<b@example.org>\r\n"},
	    {.dir = 'S', .bytes = "250 ok\r\n250 ok\r\n"},
	    {.dir = 'C',
	     .bytes = "BDAT 10\r\nSubject: xBDAT 10\r\n\r\n\r\n.dot\r\nBDAT 5 LAST\r\nend\r\n"},
	    {.dir = 'S', .bytes = "250 10\r\n250 20\r\n250 2.0.0 done\r\n"},
	    {.dir = 0}};
	struct tcase tc = {
	    .ext = EXT_CHUNK,
	    .chunk = 10,
	    .msgs = {{.body = "Subject: x\n\n.dot\nend"}},
	    .nmsgs = 1,
	    .steps = steps,
	    .expect = "START m0\n"
		      "DONE m0 accepted at BDAT by BDAT acc=1 ref=0 sent=25 reply=250[2.0.0]'2.0.0 "
		      "done'\n"
		      "  b@example.org accepted rcpt=250'ok' data=250[2.0.0]'2.0.0 done'\n"
		      "IDLE OK\n"};
	check_case(&tc);
}

Test(txn, bdat_without_pipelining_waits_for_each_chunk)
{
	static const struct step steps[] = {{.dir = 'C', .bytes = "MAIL FROM:<a@example.org>\r\n"},
					    {.dir = 'S', .bytes = "250 ok\r\n"},
					    {.dir = 'C', .bytes = "RCPT TO:<b@example.org>\r\n"},
					    {.dir = 'S', .bytes = "250 ok\r\n"},
					    {.dir = 'C', .bytes = "BDAT 8\r\n0123456\r"},
					    {.dir = 'S', .bytes = "250 8\r\n"},
					    {.dir = 'C', .bytes = "BDAT 8\r\n\n789\r\nab"},
					    {.dir = 'S', .bytes = "250 16\r\n"},
					    {.dir = 'C', .bytes = "BDAT 3 LAST\r\nc\r\n"},
					    {.dir = 'S', .bytes = "250 done\r\n"},
					    {.dir = 0}};
	struct tcase tc = {
	    .ext = EXT_CHUNK_PLAIN,
	    .chunk = 8,
	    .msgs = {{.body = "0123456\n789\nabc"}},
	    .nmsgs = 1,
	    .steps = steps,
	    .expect = "START m0\n"
		      "DONE m0 accepted at BDAT by BDAT acc=1 ref=0 sent=19 reply=250'done'\n"
		      "  b@example.org accepted rcpt=250'ok' data=250'done'\n"
		      "IDLE OK\n"};
	check_case(&tc);
}

Test(txn, chunking_offered_but_turned_off_or_no_chunk_buffer)
{
	static const struct step steps[] = {
	    {.dir = 'C',
	     .bytes = "MAIL FROM:<a@example.org> SIZE=5\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"},
	    {.dir = 'S', .bytes = "250 ok\r\n250 ok\r\n354 go\r\n"},
	    {.dir = 'C', .bytes = "x\r\n\r\n.\r\n"},
	    {.dir = 'S', .bytes = "250 queued\r\n"},
	    {.dir = 0}};
	struct tcase tc = {
	    .ext = EXT_CHUNK,
	    .cfg = {.no_chunking = 1},
	    .chunk = 100,
	    .msgs = {{.body = "x\r\n\r\n"}},
	    .nmsgs = 1,
	    .steps = steps,
	    .expect = "START m0\n"
		      "DONE m0 accepted at DATA_END by DATA acc=1 ref=0 sent=8 reply=250'queued'\n"
		      "  b@example.org accepted rcpt=250'ok' data=250'queued'\n"
		      "IDLE OK\n"};
	check_case(&tc);
	tc.cfg.no_chunking = 0;
	tc.chunk = 0;
	check_case(&tc);
}

Test(txn, bdat_exact_multiple_of_the_chunk_needs_no_empty_last)
{
	static const struct step steps[] = {
	    {.dir = 'C',
	     .bytes = "MAIL FROM:<a@example.org> SIZE=8\r\nRCPT TO:<b@example.org>\r\n"},
	    {.dir = 'S', .bytes = "250 ok\r\n250 ok\r\n"},
	    {.dir = 'C', .bytes = "BDAT 4\r\nab\r\nBDAT 4 LAST\r\ncd\r\n"},
	    {.dir = 'S', .bytes = "250 a\r\n250 done\r\n"},
	    {.dir = 0}};
	struct tcase tc = {
	    .ext = EXT_CHUNK,
	    .chunk = 4,
	    .msgs = {{.body = "ab\ncd\n"}},
	    .nmsgs = 1,
	    .steps = steps,
	    .expect = "START m0\n"
		      "DONE m0 accepted at BDAT by BDAT acc=1 ref=0 sent=8 reply=250'done'\n"
		      "  b@example.org accepted rcpt=250'ok' data=250'done'\n"
		      "IDLE OK\n"};
	check_case(&tc);
}

Test(txn, binarymime_octets_as_they_are)
{
	static const struct step steps[] = {
	    {.dir = 'C',
	     .bytes =
		 "MAIL FROM:<a@example.org> SIZE=6 BODY=BINARYMIME\r\nRCPT TO:<b@example.org>\r\n"},
	    {.dir = 'S', .bytes = "250 ok\r\n250 ok\r\n"},
	    {.dir = 'C', .bytes = "BDAT 6 LAST\r\na\nb\r\0.", .len = 19},
	    {.dir = 'S', .bytes = "250 done\r\n"},
	    {.dir = 0}};
	struct tcase tc = {
	    .ext = EXT_CHUNK "\nBINARYMIME",
	    .chunk = 100,
	    .msgs = {{.body = "a\nb\r\0.", .body_len = 6, .opts = {.body = SMTPC_BODY_BINARYMIME}}},
	    .nmsgs = 1,
	    .steps = steps,
	    .expect = "START m0\n"
		      "DONE m0 accepted at BDAT by BDAT acc=1 ref=0 sent=6 reply=250'done'\n"
		      "  b@example.org accepted rcpt=250'ok' data=250'done'\n"
		      "IDLE OK\n"};
	check_case(&tc);
}

/* ---- refusals ------------------------------------------------------------------------ */

Test(txn, refused_mail_pipelined_and_not)
{
	static const struct step piped[] = {
	    {.dir = 'C',
	     .bytes = "MAIL FROM:<a@example.org> SIZE=3\r\nRCPT TO:<b@example.org>\r\n"
		      "DATA\r\n"},
	    {.dir = 'S',
	     .bytes = "550 5.7.1 go away\r\n503 5.5.1 no MAIL\r\n503 5.5.1 no RCPT\r\n"},
	    {.dir = 0}};
	struct tcase tc = {.ext = EXT_PIPE,
			   .msgs = {{.body = "x\r\n"}},
			   .nmsgs = 1,
			   .steps = piped,
			   .expect = "START m0\n"
				     "DONE m0 refused at MAIL by DATA acc=0 ref=1 sent=0 "
				     "reply=550[5.7.1]'5.7.1 go away'\n"
				     "  b@example.org refused rcpt=503[5.5.1]'5.5.1 no MAIL'\n"
				     "IDLE OK\n"};
	check_case(&tc);
	/* without pipelining: nothing after the refused MAIL but the RSET before
	 * the next message */
	static const struct step plain[] = {
	    {.dir = 'C', .bytes = "MAIL FROM:<a@example.org> SIZE=3\r\n"},
	    {.dir = 'S', .bytes = "451 4.3.0 later\r\n"},
	    {.dir = 'C', .bytes = "RSET\r\n"},
	    {.dir = 'S', .bytes = "250 reset\r\n"},
	    {.dir = 'C', .bytes = "MAIL FROM:<c@example.org> SIZE=3\r\n"},
	    {.dir = 'S', .bytes = "250 ok\r\n"},
	    {.dir = 'C', .bytes = "RCPT TO:<b@example.org>\r\n"},
	    {.dir = 'S', .bytes = "250 ok\r\n"},
	    {.dir = 'C', .bytes = "DATA\r\n"},
	    {.dir = 'S', .bytes = "354 go\r\n"},
	    {.dir = 'C', .bytes = "y\r\n.\r\n"},
	    {.dir = 'S', .bytes = "250 queued\r\n"},
	    {.dir = 0}};
	struct tcase tc2 = {.ext = EXT_PLAIN,
			    .msgs = {{.body = "x\r\n"}, {.from = "c@example.org", .body = "y\r\n"}},
			    .nmsgs = 2,
			    .steps = plain,
			    .expect = "START m0\n"
				      "DONE m0 refused at MAIL by DATA acc=0 ref=1 sent=0 "
				      "reply=451[4.3.0]'4.3.0 later'\n"
				      "  b@example.org refused data=451[4.3.0]'4.3.0 later'\n"
				      "START m1\n"
				      "DONE m1 accepted at DATA_END by DATA acc=1 ref=0 sent=6 "
				      "reply=250'queued'\n"
				      "  b@example.org accepted rcpt=250'ok' data=250'queued'\n"
				      "IDLE OK\n"};
	check_case(&tc2);
}

Test(txn, some_recipients_refused_partial)
{
	static const struct step steps[] = {
	    {.dir = 'C',
	     .bytes = "MAIL FROM:<a@example.org> SIZE=3\r\nRCPT TO:<b@example.org>\r\n"
		      "RCPT TO:<x@example.org>\r\nRCPT TO:<t@example.org>\r\nDATA\r\n"},
	    {.dir = 'S',
	     .bytes = "250 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no such user\r\n"
		      "450 4.2.1 try later\r\n354 go\r\n"},
	    {.dir = 'C', .bytes = "x\r\n.\r\n"},
	    {.dir = 'S', .bytes = "250 2.0.0 queued\r\n"},
	    {.dir = 0}};
	struct tcase tc = {
	    .ext = EXT_PIPE,
	    .msgs = {{.to = {"b@example.org", "x@example.org", "t@example.org"}, .body = "x\r\n"}},
	    .nmsgs = 1,
	    .steps = steps,
	    .expect =
		"START m0\n"
		"DONE m0 partial at DATA_END by DATA acc=1 ref=2 sent=6 reply=250[2.0.0]'2.0.0 "
		"queued'\n"
		"  b@example.org accepted rcpt=250[2.1.5]'2.1.5 ok' data=250[2.0.0]'2.0.0 "
		"queued'\n"
		"  x@example.org refused rcpt=550[5.1.1]'5.1.1 no such user'\n"
		"  t@example.org refused rcpt=450[4.2.1]'4.2.1 try later'\n"
		"IDLE OK\n"};
	check_case(&tc);
}

Test(txn, all_recipients_refused_pipelined_354_gets_the_terminator_only)
{
	static const struct step steps[] = {
	    {.dir = 'C',
	     .bytes = "MAIL FROM:<a@example.org> SIZE=3\r\nRCPT TO:<x@example.org>\r\n"
		      "RCPT TO:<y@example.org>\r\nDATA\r\n"},
	    {.dir = 'S', .bytes = "250 ok\r\n450 4.2.1 full\r\n550 5.1.1 unknown\r\n354 go\r\n"},
	    {.dir = 'C', .bytes = ".\r\n"},
	    {.dir = 'S', .bytes = "554 5.5.1 no valid recipients\r\n"},
	    {.dir = 0}};
	struct tcase tc = {.ext = EXT_PIPE,
			   .msgs = {{.to = {"x@example.org", "y@example.org"}, .body = "x\r\n"}},
			   .nmsgs = 1,
			   .steps = steps,
			   .expect = "START m0\n"
				     "DONE m0 refused at RCPT by DATA acc=0 ref=2 sent=3 "
				     "reply=550[5.1.1]'5.1.1 unknown'\n"
				     "  x@example.org refused rcpt=450[4.2.1]'4.2.1 full'\n"
				     "  y@example.org refused rcpt=550[5.1.1]'5.1.1 unknown'\n"
				     "IDLE OK\n"};
	check_case(&tc);
}

Test(txn, all_recipients_refused_then_the_next_message_after_rset)
{
	/* pipelined: DATA refused too; RSET, then the next message in one write */
	static const struct step piped[] = {
	    {.dir = 'C',
	     .bytes = "MAIL FROM:<a@example.org> SIZE=3\r\nRCPT TO:<x@example.org>\r\n"
		      "DATA\r\n"},
	    {.dir = 'S', .bytes = "250 ok\r\n550 no\r\n554 no valid recipients\r\n"},
	    {.dir = 'C',
	     .bytes = "RSET\r\nMAIL FROM:<a@example.org> SIZE=3\r\n"
		      "RCPT TO:<b@example.org>\r\nDATA\r\n"},
	    {.dir = 'S', .bytes = "250 reset\r\n250 ok\r\n250 ok\r\n354 go\r\n"},
	    {.dir = 'C', .bytes = "y\r\n.\r\n"},
	    {.dir = 'S', .bytes = "250 queued\r\n"},
	    {.dir = 0}};
	struct tcase tc = {.ext = EXT_PIPE,
			   .msgs = {{.to = {"x@example.org"}, .body = "x\r\n"},
				    {.to = {"b@example.org"}, .body = "y\r\n"}},
			   .nmsgs = 2,
			   .steps = piped,
			   .expect =
			       "START m0\n"
			       "DONE m0 refused at RCPT by DATA acc=0 ref=1 sent=0 reply=550'no'\n"
			       "  x@example.org refused rcpt=550'no'\n"
			       "START m1\n"
			       "DONE m1 accepted at DATA_END by DATA acc=1 ref=0 sent=6 "
			       "reply=250'queued'\n"
			       "  b@example.org accepted rcpt=250'ok' data=250'queued'\n"
			       "IDLE OK\n"};
	check_case(&tc);
	/* not pipelined: no DATA at all */
	static const struct step plain[] = {
	    {.dir = 'C', .bytes = "MAIL FROM:<a@example.org> SIZE=3\r\n"},
	    {.dir = 'S', .bytes = "250 ok\r\n"},
	    {.dir = 'C', .bytes = "RCPT TO:<x@example.org>\r\n"},
	    {.dir = 'S', .bytes = "550 no\r\n"},
	    {.dir = 'C', .bytes = "RSET\r\n"},
	    {.dir = 'S', .bytes = "250 reset\r\n"},
	    {.dir = 'C', .bytes = "MAIL FROM:<a@example.org> SIZE=3\r\n"},
	    {.dir = 'S', .bytes = "250 ok\r\n"},
	    {.dir = 'C', .bytes = "RCPT TO:<b@example.org>\r\n"},
	    {.dir = 'S', .bytes = "250 ok\r\n"},
	    {.dir = 'C', .bytes = "DATA\r\n"},
	    {.dir = 'S', .bytes = "354 go\r\n"},
	    {.dir = 'C', .bytes = "y\r\n.\r\n"},
	    {.dir = 'S', .bytes = "250 queued\r\n"},
	    {.dir = 0}};
	tc.ext = EXT_PLAIN;
	tc.steps = plain;
	check_case(&tc);
}

Test(txn, data_refused_and_refused_after_the_data)
{
	static const struct step steps[] = {
	    {.dir = 'C',
	     .bytes = "MAIL FROM:<a@example.org> SIZE=3\r\nRCPT TO:<b@example.org>\r\n"
		      "DATA\r\n"},
	    {.dir = 'S', .bytes = "250 ok\r\n250 ok\r\n451 4.3.0 not now\r\n"},
	    {.dir = 'C',
	     .bytes = "RSET\r\nMAIL FROM:<a@example.org> SIZE=3\r\n"
		      "RCPT TO:<b@example.org>\r\nDATA\r\n"},
	    {.dir = 'S', .bytes = "250 reset\r\n250 ok\r\n250 ok\r\n354 go\r\n"},
	    /* after the end of data the transaction is over whatever the
	     * reply: the next MAIL follows the dot at once */
	    {.dir = 'C',
	     .bytes = "y\r\n.\r\nMAIL FROM:<a@example.org> SIZE=3\r\n"
		      "RCPT TO:<b@example.org>\r\nDATA\r\n"},
	    {.dir = 'S', .bytes = "554 5.6.0 spam\r\n250 ok\r\n250 ok\r\n354 go\r\n"},
	    {.dir = 'C', .bytes = "z\r\n.\r\n"},
	    {.dir = 'S', .bytes = "250 queued\r\n"},
	    {.dir = 0}};
	struct tcase tc = {.ext = EXT_PIPE,
			   .msgs = {{.body = "x\r\n"}, {.body = "y\r\n"}, {.body = "z\r\n"}},
			   .nmsgs = 3,
			   .steps = steps,
			   .expect =
			       "START m0\n"
			       "DONE m0 refused at DATA by DATA acc=0 ref=1 sent=0 "
			       "reply=451[4.3.0]'4.3.0 not now'\n"
			       "  b@example.org refused rcpt=250'ok' data=451[4.3.0]'4.3.0 not "
			       "now'\n"
			       "START m1\n"
			       "START m2\n" /* its MAIL went out with m1's end of data */
			       "DONE m1 refused at DATA_END by DATA acc=0 ref=1 sent=6 "
			       "reply=554[5.6.0]'5.6.0 spam'\n"
			       "  b@example.org refused rcpt=250'ok' data=554[5.6.0]'5.6.0 spam'\n"
			       "DONE m2 accepted at DATA_END by DATA acc=1 ref=0 sent=6 "
			       "reply=250'queued'\n"
			       "  b@example.org accepted rcpt=250'ok' data=250'queued'\n"
			       "IDLE OK\n"};
	check_case(&tc);
}

Test(txn, a_refused_middle_chunk_decides_whatever_comes_after)
{
	/* 452 to the second chunk, 503 to the last: refused with the 452, never
	 * accepted with the first chunk's 250; RSET before the next message */
	static const struct step steps[] = {
	    {.dir = 'C',
	     .bytes = "MAIL FROM:<a@example.org> SIZE=14\r\nRCPT TO:<b@example.org>\r\n"},
	    {.dir = 'S', .bytes = "250 ok\r\n250 ok\r\n"},
	    {.dir = 'C',
	     .bytes = "BDAT 4\r\naaa\rBDAT 4\r\n\nbbbBDAT 4\r\n\r\nccBDAT 2 LAST\r\n\r\n"},
	    {.dir = 'S',
	     .bytes = "250 2.0.0 4 octets\r\n452 4.3.1 out of room\r\n"
		      "503 5.5.1 bad sequence\r\n503 5.5.1 bad sequence\r\n"},
	    {.dir = 'C',
	     .bytes = "RSET\r\nMAIL FROM:<a@example.org> SIZE=4\r\n"
		      "RCPT TO:<b@example.org>\r\n"},
	    {.dir = 'S', .bytes = "250 reset\r\n250 ok\r\n250 ok\r\n"},
	    {.dir = 'C', .bytes = "BDAT 4 LAST\r\nok\r\n"},
	    {.dir = 'S', .bytes = "250 2.0.0 done\r\n"},
	    {.dir = 0}};
	struct tcase tc = {.ext = EXT_CHUNK,
			   .chunk = 4,
			   .msgs = {{.body = "aaa\nbbb\ncc\n"}, {.body = "ok\n"}},
			   .nmsgs = 2,
			   .steps = steps,
			   .expect =
			       "START m0\n"
			       "DONE m0 refused at BDAT by BDAT acc=0 ref=1 sent=14 "
			       "reply=452[4.3.1]'4.3.1 out of room'\n"
			       "  b@example.org refused rcpt=250'ok' data=452[4.3.1]'4.3.1 out "
			       "of room'\n"
			       "START m1\n"
			       "DONE m1 accepted at BDAT by BDAT acc=1 ref=0 sent=4 "
			       "reply=250[2.0.0]'2.0.0 done'\n"
			       "  b@example.org accepted rcpt=250'ok' data=250[2.0.0]'2.0.0 done'\n"
			       "IDLE OK\n"};
	check_case(&tc);
}

/* ---- local refusals: nothing sent for the message --------------------------------------- */

Test(txn, over_size_and_long_line_refused_before_mail_the_next_goes_on)
{
	static char big[64], longline[1100];
	memset(big, 'x', sizeof big - 1);
	memset(longline, 'y', 999); /* 999 octets: one over RFC 5321 4.5.3.1.6 */
	static const struct step steps[] = {
	    {.dir = 'C',
	     .bytes = "MAIL FROM:<a@example.org> SIZE=4\r\nRCPT TO:<b@example.org>\r\n"
		      "DATA\r\n"},
	    {.dir = 'S', .bytes = "250 ok\r\n250 ok\r\n354 go\r\n"},
	    {.dir = 'C', .bytes = "ok\r\n.\r\n"},
	    {.dir = 'S', .bytes = "250 queued\r\n"},
	    {.dir = 0}};
	struct tcase tc = {.ext = "PIPELINING\nSIZE 40",
			   .msgs = {{.body = big}, {.body = longline}, {.body = "ok\n"}},
			   .nmsgs = 3,
			   .steps = steps,
			   .expect = "DONE m0 refused err=TOO_BIG acc=0 ref=1 sent=0\n"
				     "  b@example.org refused\n"
				     "DONE m1 refused err=TOO_LONG acc=0 ref=1 sent=0\n"
				     "  b@example.org refused\n"
				     "START m2\n"
				     "DONE m2 accepted at DATA_END by DATA acc=1 ref=0 sent=7 "
				     "reply=250'queued'\n"
				     "  b@example.org accepted rcpt=250'ok' data=250'queued'\n"
				     "IDLE OK\n"};
	check_case(&tc);
}

Test(txn, dsn_and_requiretls_on_the_wire)
{
	static const struct step steps[] = {
	    {.dir = 'C',
	     .bytes = "MAIL FROM:<a@example.org> SIZE=3 REQUIRETLS RET=HDRS "
		      "ENVID=id+2B1+20x\r\n"
		      "RCPT TO:<b@example.org> NOTIFY=SUCCESS,FAILURE "
		      "ORCPT=rfc822;b@example.org\r\nDATA\r\n"},
	    {.dir = 'S', .bytes = "250 ok\r\n250 ok\r\n354 go\r\n"},
	    {.dir = 'C', .bytes = "x\r\n.\r\n"},
	    {.dir = 'S', .bytes = "250 queued\r\n"},
	    {.dir = 0}};
	struct tcase tc = {
	    .ext = EXT_PIPE "\nDSN\nREQUIRETLS",
	    .secure = 1,
	    .msgs = {{.body = "x\r\n",
		      .opts = {.requiretls = 1, .ret = SMTPC_RET_HDRS, .envid = "id+1 x"},
		      .notify = SMTPC_NOTIFY_SUCCESS | SMTPC_NOTIFY_FAILURE,
		      .orcpt = "b@example.org"}},
	    .nmsgs = 1,
	    .steps = steps,
	    .expect = "START m0\n"
		      "DONE m0 accepted at DATA_END by DATA acc=1 ref=0 sent=6 reply=250'queued'\n"
		      "  b@example.org accepted rcpt=250'ok' data=250'queued'\n"
		      "IDLE OK\n"};
	check_case(&tc);
	/* NOTIFY=NEVER stands alone */
	static const struct step never[] = {
	    {.dir = 'C',
	     .bytes = "MAIL FROM:<a@example.org> SIZE=3 RET=FULL\r\n"
		      "RCPT TO:<b@example.org> NOTIFY=NEVER\r\nDATA\r\n"},
	    {.dir = 'S', .bytes = "250 ok\r\n250 ok\r\n354 go\r\n"},
	    {.dir = 'C', .bytes = "x\r\n.\r\n"},
	    {.dir = 'S', .bytes = "250 queued\r\n"},
	    {.dir = 0}};
	struct tcase tc2 = {.ext = EXT_PIPE "\nDSN",
			    .msgs = {{.body = "x\r\n",
				      .opts = {.ret = SMTPC_RET_FULL},
				      .notify = SMTPC_NOTIFY_NEVER}},
			    .nmsgs = 1,
			    .steps = never,
			    .expect = tc.expect};
	check_case(&tc2);
}

Test(txn, requiretls_or_dsn_not_possible_refused_before_mail)
{
	static const struct step none[] = {{.dir = 0}};
	/* REQUIRETLS offered but the connection is not secure (RFC 8689 4.1) */
	struct tcase tc = {.ext = EXT_PIPE "\nREQUIRETLS",
			   .msgs = {{.body = "x\r\n", .opts = {.requiretls = 1}}},
			   .nmsgs = 1,
			   .steps = none,
			   .expect = "DONE m0 refused err=STATE acc=0 ref=1 sent=0\n"
				     "  b@example.org refused\n"
				     "IDLE OK\n"};
	check_case(&tc);
	/* secure but not offered */
	tc.ext = EXT_PIPE;
	tc.secure = 1;
	tc.expect = "DONE m0 refused err=NOT_OFFERED acc=0 ref=1 sent=0\n"
		    "  b@example.org refused\n"
		    "IDLE OK\n";
	check_case(&tc);
	/* DSN RET without DSN */
	struct tcase tc2 = {.ext = EXT_PIPE,
			    .msgs = {{.body = "x\r\n", .opts = {.ret = SMTPC_RET_FULL}}},
			    .nmsgs = 1,
			    .steps = none,
			    .expect = tc.expect};
	check_case(&tc2);
	/* BINARYMIME without a chunk buffer */
	struct tcase tc3 = {.ext = EXT_CHUNK "\nBINARYMIME",
			    .msgs = {{.body = "x", .opts = {.body = SMTPC_BODY_BINARYMIME}}},
			    .nmsgs = 1,
			    .steps = none,
			    .expect = "DONE m0 refused err=BUFFER_SMALL acc=0 ref=1 sent=0\n"
				      "  b@example.org refused\n"
				      "IDLE OK\n"};
	check_case(&tc3);
	/* BINARYMIME with LMTP (which goes by DATA) */
	tc3.chunk = 100;
	tc3.cfg.lmtp = 1;
	tc3.expect = "DONE m0 refused err=NOT_OFFERED acc=0 ref=1 sent=0\n"
		     "  b@example.org refused\n"
		     "IDLE OK\n";
	check_case(&tc3);
}

Test(txn, a_recipient_refused_before_rcpt_the_others_go)
{
	static const struct step steps[] = {
	    {.dir = 'C',
	     .bytes = "MAIL FROM:<a@example.org> SIZE=3\r\nRCPT TO:<b@example.org>\r\n"
		      "DATA\r\n"},
	    {.dir = 'S', .bytes = "250 ok\r\n250 ok\r\n354 go\r\n"},
	    {.dir = 'C', .bytes = "x\r\n.\r\n"},
	    {.dir = 'S', .bytes = "250 queued\r\n"},
	    {.dir = 0}};
	/* the DSN ORCPT of the second makes it refused only when DSN is not
	 * offered; the first has no parameter */
	struct tcase tc = {.ext = EXT_PIPE,
			   .msgs = {{.to = {"b@example.org", "bad address"}, .body = "x\r\n"}},
			   .nmsgs = 1,
			   .steps = steps,
			   .expect = "START m0\n"
				     "DONE m0 partial at DATA_END by DATA acc=1 ref=1 sent=6 "
				     "reply=250'queued'\n"
				     "  b@example.org accepted rcpt=250'ok' data=250'queued'\n"
				     "  bad address refused err=BAD_ADDRESS\n"
				     "IDLE OK\n"};
	check_case(&tc);
	/* every recipient refused locally: MAIL was sent, so RSET before the next */
	static const struct step all[] = {
	    /* RSET may follow MAIL in one group (RFC 2920 3.1) */
	    {.dir = 'C',
	     .bytes = "MAIL FROM:<a@example.org> SIZE=3\r\nRSET\r\n"
		      "MAIL FROM:<a@example.org> SIZE=3\r\nRCPT TO:<b@example.org>\r\n"
		      "DATA\r\n"},
	    {.dir = 'S', .bytes = "250 ok\r\n250 reset\r\n250 ok\r\n250 ok\r\n354 go\r\n"},
	    {.dir = 'C', .bytes = "x\r\n.\r\n"},
	    {.dir = 'S', .bytes = "250 queued\r\n"},
	    {.dir = 0}};
	struct tcase tc2 = {
	    .ext = EXT_PIPE,
	    .msgs = {{.to = {"no-at-sign", "x@exa mple.org"}, .body = "x\r\n"}, {.body = "x\r\n"}},
	    .nmsgs = 2,
	    .steps = all,
	    .expect = "START m0\n"
		      "START m1\n"
		      "DONE m0 refused at RCPT err=BAD_ADDRESS by DATA acc=0 ref=2 "
		      "sent=0\n"
		      "  no-at-sign refused err=BAD_ADDRESS\n"
		      "  x@exa mple.org refused err=BAD_DOMAIN\n"
		      "DONE m1 accepted at DATA_END by DATA acc=1 ref=0 sent=6 "
		      "reply=250'queued'\n"
		      "  b@example.org accepted rcpt=250'ok' data=250'queued'\n"
		      "IDLE OK\n"};
	check_case(&tc2);
}

Test(txn, eight_bit_and_smtputf8)
{
	static const struct step steps[] = {
	    {.dir = 'C',
	     .bytes = "MAIL FROM:<a@example.org> SIZE=7 BODY=8BITMIME SMTPUTF8\r\n"
		      "RCPT TO:<j\xc3\xb6rg@example.org>\r\nDATA\r\n"},
	    {.dir = 'S', .bytes = "250 ok\r\n250 ok\r\n354 go\r\n"},
	    {.dir = 'C', .bytes = "caf\xc3\xa9\r\n.\r\n"},
	    {.dir = 'S', .bytes = "250 queued\r\n"},
	    {.dir = 0}};
	struct tcase tc = {.ext = EXT_PIPE "\nSMTPUTF8",
			   .msgs = {{.to = {"j\xc3\xb6rg@example.org"},
				     .body = "caf\xc3\xa9\n",
				     .opts = {.smtputf8 = 1}}},
			   .nmsgs = 1,
			   .steps = steps,
			   .expect = "START m0\n"
				     "DONE m0 accepted at DATA_END by DATA acc=1 ref=0 sent=10 "
				     "reply=250'queued'\n"
				     "  j\xc3\xb6rg@example.org accepted rcpt=250'ok' "
				     "data=250'queued'\n"
				     "IDLE OK\n"};
	check_case(&tc);
	/* 8-bit text to a server without 8BITMIME: no BODY= (as sent today) */
	static const struct step plain[] = {
	    {.dir = 'C',
	     .bytes = "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"},
	    {.dir = 'S', .bytes = "250 ok\r\n250 ok\r\n354 go\r\n"},
	    {.dir = 'C', .bytes = "caf\xc3\xa9\r\n.\r\n"},
	    {.dir = 'S', .bytes = "250 queued\r\n"},
	    {.dir = 0}};
	struct tcase tc2 = {.ext = "PIPELINING",
			    .msgs = {{.body = "caf\xc3\xa9\n"}},
			    .nmsgs = 1,
			    .steps = plain,
			    .expect = "START m0\n"
				      "DONE m0 accepted at DATA_END by DATA acc=1 ref=0 sent=10 "
				      "reply=250'queued'\n"
				      "  b@example.org accepted rcpt=250'ok' data=250'queued'\n"
				      "IDLE OK\n"};
	check_case(&tc2);
}

/* ---- the session ending ------------------------------------------------------------------ */

Test(txn, server_closes_early)
{
	/* before any reply: the message failed, never accepted */
	static const struct step s1[] = {
	    {.dir = 'C',
	     .bytes = "MAIL FROM:<a@example.org> SIZE=3\r\nRCPT TO:<b@example.org>\r\n"
		      "DATA\r\n"},
	    {.dir = 'E'},
	    {.dir = 0}};
	struct tcase tc = {.ext = EXT_PIPE,
			   .msgs = {{.body = "x\r\n"}, {.body = "y\r\n"}},
			   .nmsgs = 2,
			   .steps = s1,
			   .expect = "START m0\n"
				     "DONE m0 failed err=CLOSED by DATA acc=0 ref=0 sent=0\n"
				     "  b@example.org failed err=CLOSED\n"
				     "DONE m1 failed err=CLOSED acc=0 ref=0 sent=0\n"
				     "  b@example.org failed err=CLOSED\n"
				     "CLOSED CLOSED\n"};
	check_case(&tc);
	/* after the data, before the final reply: failed, not accepted */
	static const struct step s2[] = {
	    {.dir = 'C',
	     .bytes = "MAIL FROM:<a@example.org> SIZE=3\r\nRCPT TO:<b@example.org>\r\n"
		      "DATA\r\n"},
	    {.dir = 'S', .bytes = "250 ok\r\n250 ok\r\n354 go\r\n"},
	    {.dir = 'C',
	     .bytes = "x\r\n.\r\nMAIL FROM:<a@example.org> SIZE=3\r\n"
		      "RCPT TO:<b@example.org>\r\nDATA\r\n"},
	    {.dir = 'S', .bytes = "250 2.0.0 qu"},
	    {.dir = 'E'},
	    {.dir = 0}};
	tc.steps = s2;
	tc.expect = "START m0\n"
		    "START m1\n"
		    "DONE m0 failed err=TRUNCATED by DATA acc=0 ref=0 sent=6\n"
		    "  b@example.org failed err=TRUNCATED rcpt=250'ok'\n"
		    "DONE m1 failed err=TRUNCATED by DATA acc=0 ref=0 sent=0\n"
		    "  b@example.org failed err=TRUNCATED\n"
		    "CLOSED TRUNCATED\n";
	check_case(&tc);
}

Test(txn, reply_421_mid_transaction)
{
	/* 421 to a RCPT: that message refused with the 421, the next one never
	 * started; nothing more can come (RFC 5321 3.8), so the layer ends at
	 * once rather than wait for the server to close */
	static const struct step s1[] = {
	    {.dir = 'C',
	     .bytes = "MAIL FROM:<a@example.org> SIZE=3\r\nRCPT TO:<b@example.org>\r\n"
		      "DATA\r\n"},
	    {.dir = 'S', .bytes = "250 ok\r\n421 4.3.2 shutting down\r\n"},
	    {.dir = 0}};
	struct tcase tc = {.ext = EXT_PIPE,
			   .msgs = {{.body = "x\r\n"}, {.body = "y\r\n"}},
			   .nmsgs = 2,
			   .steps = s1,
			   .expect =
			       "START m0\n"
			       "DONE m0 refused at RCPT by DATA acc=0 ref=1 sent=0 "
			       "reply=421[4.3.2]'4.3.2 shutting down'\n"
			       "  b@example.org refused rcpt=421[4.3.2]'4.3.2 shutting down'\n"
			       "DONE m1 failed err=CLOSED acc=0 ref=0 sent=0\n"
			       "  b@example.org failed err=CLOSED\n"
			       "CLOSED CLOSED\n"};
	check_case(&tc);
	/* 421 to the end of data, with the next message's commands out: the
	 * first refused with it, the second failed when the server closes */
	static const struct step s2[] = {
	    {.dir = 'C',
	     .bytes = "MAIL FROM:<a@example.org> SIZE=3\r\nRCPT TO:<b@example.org>\r\n"
		      "DATA\r\n"},
	    {.dir = 'S', .bytes = "250 ok\r\n250 ok\r\n354 go\r\n"},
	    {.dir = 'C',
	     .bytes = "x\r\n.\r\nMAIL FROM:<a@example.org> SIZE=3\r\n"
		      "RCPT TO:<b@example.org>\r\nDATA\r\n"},
	    {.dir = 'S', .bytes = "421 4.4.2 idle too long\r\n"},
	    {.dir = 0}};
	tc.steps = s2;
	tc.expect = "START m0\n"
		    "START m1\n"
		    "DONE m0 refused at DATA_END by DATA acc=0 ref=1 sent=6 reply=421[4.4.2]'4.4.2 "
		    "idle too long'\n"
		    "  b@example.org refused rcpt=250'ok' data=421[4.4.2]'4.4.2 idle too long'\n"
		    "DONE m1 failed err=CLOSED by DATA acc=0 ref=0 sent=0\n"
		    "  b@example.org failed err=CLOSED\n"
		    "CLOSED CLOSED\n";
	check_case(&tc);
}

Test(txn, a_reply_nothing_asked_for_ends_the_session)
{
	static const struct step steps[] = {
	    {.dir = 'C',
	     .bytes = "MAIL FROM:<a@example.org> SIZE=3\r\nRCPT TO:<b@example.org>\r\n"
		      "DATA\r\n"},
	    {.dir = 'S', .bytes = "250 ok\r\n250 ok\r\n354 go\r\n250 extra\r\n"},
	    {.dir = 0}};
	struct tcase tc = {.ext = EXT_PIPE,
			   .msgs = {{.body = "x\r\n"}},
			   .nmsgs = 1,
			   .steps = steps,
			   .expect = "START m0\n"
				     "DONE m0 failed err=BAD_REPLY by DATA acc=0 ref=0 sent=0\n"
				     "  b@example.org failed err=BAD_REPLY rcpt=250'ok'\n"
				     "CLOSED BAD_REPLY\n"};
	/* fed whole: the fourth reply is there before the end of data is sent (fed
	 * in pieces it would answer the end of data: no split test here) */
	char *log = run_case(&tc, 0, 0);
	cr_assert_str_eq(log, tc.expect, "%s", log);
	free(log);
}

/* ---- room, queue, text area ------------------------------------------------------------ */

Test(txn, small_transmit_buffer_send_events_same_wire)
{
	static char body[3001], wire[4000];
	static struct step steps[5];
	size_t i, n = 0;

	for (i = 0; i < 3000; i++)
		body[i] = (i % 50 == 49) ? '\n' : (i % 50 == 0) ? '.' : 'a';
	for (i = 0; i < 3000; i++) { /* the DATA encoding of it */
		if (body[i] == '\n') {
			wire[n++] = '\r';
			wire[n++] = '\n';
		} else {
			if (body[i] == '.')
				wire[n++] = '.';
			wire[n++] = body[i];
		}
	}
	memcpy(wire + n, ".\r\n", 4);
	steps[0] = (struct step){.dir = 'C',
				 .bytes = "MAIL FROM:<a@example.org> SIZE=3060\r\n"
					  "RCPT TO:<b@example.org>\r\nDATA\r\n"};
	steps[1] = (struct step){.dir = 'S', .bytes = "250 ok\r\n250 ok\r\n354 go\r\n"};
	steps[2] = (struct step){.dir = 'C', .bytes = wire};
	steps[3] = (struct step){.dir = 'S', .bytes = "250 queued\r\n"};
	struct tcase tc = {.ext = EXT_PIPE,
			   .tx = SMTPC_TX_MIN,
			   .msgs = {{.body = body}},
			   .nmsgs = 1,
			   .steps = steps,
			   .expect = "START m0\n"
				     "DONE m0 accepted at DATA_END by DATA acc=1 ref=0 sent=3123 "
				     "reply=250'queued'\n"
				     "  b@example.org accepted rcpt=250'ok' data=250'queued'\n"
				     "IDLE OK\n"};
	check_case(&tc);
}

/* Feeds server bytes, handing every reply to the layer. */
static void feed_txn(smtpc_conn *c, smtpc_txn *t, const char *s)
{
	size_t len = strlen(s);

	do { /* at least once: events already received are pulled too */
		size_t k = smtpc_feed(c, s, len);
		smtpc_event ev;
		smtpc_event_type e;
		s += k;
		len -= k;
		while ((e = smtpc_next_event(c, &ev)) != SMTPC_EV_NEED_DATA) {
			if (e == SMTPC_EV_REPLY)
				smtpc_txn_on_reply(t, &ev.reply);
			if (e == SMTPC_EV_ERROR || e == SMTPC_EV_CLOSED)
				return;
		}
	} while (len > 0);
}

Test(txn, more_recipients_than_the_reply_queue_holds)
{
	smtpc_config cfg;
	smtpc_conn *c;
	smtpc_txn t;
	smtpc_txn_msg m, *mm;
	smtpc_txn_rcpt r[10];
	char text[2048];
	int rounds = 0, done = 0;

	smtpc_config_default(&cfg);
	cfg.max_queue = 4;
	c = tc_new(&cfg, 0);
	feed_ok(c, "220 x\r\n");
	OK(smtpc_ehlo(c, "client.example"));
	tx_take(c);
	feed_ok(c, "250-x\r\n250 PIPELINING\r\n");
	OK(smtpc_txn_init(&t, c, NULL, NULL, 0));
	memset(&m, 0, sizeof m);
	memset(r, 0, sizeof r);
	for (int i = 0; i < 10; i++)
		r[i].addr = i == 7 ? "x@example.org" : "b@example.org";
	m.from = "a@example.org";
	m.rcpts = r;
	m.nrcpts = 10;
	m.text = text;
	m.text_size = sizeof text;
	OK(smtpc_txn_add(&t, &m));
	while (!done) {
		smtpc_txn_event ev = smtpc_txn_next(&t, &mm);
		cr_assert_lt(++rounds, 1000);
		switch (ev) {
		case SMTPC_TXN_BODY:
			OK(smtpc_txn_end(&t));
			break;
		case SMTPC_TXN_START:
			break;
		case SMTPC_TXN_DONE:
			done = 1;
			break;
		default: {
			cr_assert_eq(ev, SMTPC_TXN_READ);
			cr_assert_leq(smtpc_pending(c),
				      4); /* never more out than the queue holds */
			const char *out = tx_take(c);
			sbuf rep = {0};
			for (const char *p = out; *p; p = strchr(p, '\n') + 1) {
				if (strncmp(p, "DATA", 4) == 0)
					sb_add(&rep, "354 go\r\n");
				else if (p[0] == '.')
					sb_add(&rep, "250 queued\r\n");
				else if (strncmp(p, "RCPT TO:<x", 10) == 0)
					sb_add(&rep, "550 no\r\n");
				else
					sb_add(&rep, "250 ok\r\n");
			}
			cr_assert_not_null(rep.s, "waits for replies with nothing sent");
			feed_txn(c, &t, rep.s);
			sb_free(&rep);
		}
		}
	}
	cr_assert_eq(mm, &m);
	cr_assert_eq(m.status, SMTPC_TXN_PARTIAL);
	cr_assert_eq(m.accepted, 9);
	cr_assert_eq(m.refused, 1);
	cr_assert_eq(r[7].status, SMTPC_TXN_REFUSED);
	cr_assert_eq(r[7].rcpt.code, 550);
	cr_assert_eq(r[9].status, SMTPC_TXN_ACCEPTED);
	cr_assert_eq(r[9].data.code, 250);
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_IDLE);
	tc_free(c);
}

Test(txn, reply_text_area_too_small_truncates_never_overflows)
{
	static const struct step steps[] = {
	    {.dir = 'C',
	     .bytes = "MAIL FROM:<a@example.org> SIZE=3\r\nRCPT TO:<b@example.org>\r\n"
		      "RCPT TO:<x@example.org>\r\nDATA\r\n"},
	    {.dir = 'S',
	     .bytes = "250 ok\r\n250 recipient ok\r\n550 no such user here\r\n354 go\r\n"},
	    {.dir = 'C', .bytes = "x\r\n.\r\n"},
	    {.dir = 'S', .bytes = "250 queued as 12345\r\n"},
	    {.dir = 0}};
	struct tcase tc = {
	    .ext = EXT_PIPE,
	    .msgs = {{.to = {"b@example.org", "x@example.org"}, .body = "x\r\n", .text_size = 20}},
	    .nmsgs = 1,
	    .steps = steps,
	    .expect = "START m0\n"
		      "DONE m0 partial at DATA_END by DATA acc=1 ref=1 sent=6 "
		      "reply=250''\n"
		      "  b@example.org accepted rcpt=250'recipient ok' data=250''\n"
		      "  x@example.org refused rcpt=550'no suc'\n"
		      "IDLE OK\n"};
	check_case(&tc);
}

/* ---- LMTP: one reply per accepted recipient after the end of data ---------------------- */

Test(txn, lmtp_replies_per_recipient_after_the_data)
{
	/* The replies after the end of data handed to the layer directly, as
	 * the core delivers them (DATA_END, index the recipient's RCPT number),
	 * in an order the core would not give: the index decides. */
	smtpc_conn *c = client("PIPELINING\nENHANCEDSTATUSCODES", 0);
	smtpc_txn_config cfg = {.lmtp = 1};
	smtpc_txn t;
	smtpc_txn_msg m, *mm = NULL;
	smtpc_txn_rcpt r[4];
	char text[1024];
	smtpc_reply rep;
	smtpc_txn_event ev;

	OK(smtpc_txn_init(&t, c, &cfg, NULL, 0));
	memset(&m, 0, sizeof m);
	memset(r, 0, sizeof r);
	r[0].addr = "a@example.org";
	r[1].addr = "bad address"; /* refused locally: RCPT numbers skip it */
	r[2].addr = "x@example.org";
	r[3].addr = "c@example.org";
	m.from = "s@example.org";
	m.rcpts = r;
	m.nrcpts = 4;
	m.text = text;
	m.text_size = sizeof text;
	OK(smtpc_txn_add(&t, &m));
	cr_assert_eq(smtpc_txn_next(&t, &mm), SMTPC_TXN_START);
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_READ);
	cr_assert_str_eq(tx_take(c),
			 "MAIL FROM:<s@example.org>\r\nRCPT TO:<a@example.org>\r\n"
			 "RCPT TO:<x@example.org>\r\nRCPT TO:<c@example.org>\r\nDATA\r\n");
	feed_txn(c, &t, "250 ok\r\n250 ok a\r\n550 5.1.1 no x\r\n250 ok c\r\n354 go\r\n");
	cr_assert_eq(smtpc_txn_next(&t, &mm), SMTPC_TXN_BODY);
	cr_assert_eq(smtpc_txn_write(&t, "hi\n", 3), 3);
	OK(smtpc_txn_end(&t));
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_READ);
	cr_assert_str_eq(tx_take(c), "hi\r\n.\r\n");
	/* c (RCPT number 2) first, as the index says, then a (0) */
	memset(&rep, 0, sizeof rep);
	rep.cmd = SMTPC_CMD_DATA_END;
	rep.code = 452;
	rep.esc = (smtpc_esc){4, 2, 2};
	rep.text = "4.2.2 c is over quota";
	rep.len = strlen(rep.text);
	rep.index = 2;
	cr_assert_eq(smtpc_txn_on_reply(&t, &rep), 1);
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_READ); /* one more is due */
	rep.code = 250;
	rep.esc = (smtpc_esc){2, 0, 0};
	rep.text = "2.0.0 a delivered";
	rep.len = strlen(rep.text);
	rep.index = 0;
	cr_assert_eq(smtpc_txn_on_reply(&t, &rep), 1);
	ev = smtpc_txn_next(&t, &mm);
	cr_assert_eq(ev, SMTPC_TXN_DONE);
	cr_assert_eq(mm, &m);
	cr_assert_eq(m.status, SMTPC_TXN_PARTIAL);
	cr_assert_eq(m.accepted, 1);
	cr_assert_eq(m.refused, 3);
	cr_assert_eq(r[0].status, SMTPC_TXN_ACCEPTED);
	cr_assert_str_eq(r[0].data.text, "2.0.0 a delivered");
	cr_assert_eq(r[1].status, SMTPC_TXN_REFUSED);
	cr_assert_eq(r[1].err, SMTPC_ERR_BAD_ADDRESS);
	cr_assert_eq(r[2].status, SMTPC_TXN_REFUSED);
	cr_assert_eq(r[2].rcpt.code, 550);
	cr_assert_eq(r[2].data.code, 0);
	cr_assert_eq(r[3].status, SMTPC_TXN_REFUSED);
	cr_assert_eq(r[3].data.code, 452);
	cr_assert_str_eq(r[3].data.text, "4.2.2 c is over quota");
	cr_assert_eq(m.reply.code, 452); /* the refusal after the data */
	cr_assert_eq(m.stage, SMTPC_CMD_DATA_END);
	cr_assert_eq(m.method, SMTPC_CMD_DATA); /* LMTP: DATA */
	tc_free(c);
}

/* A client connection past LHLO: the core speaks LMTP. */
static smtpc_conn *lmtp_client(void)
{
	smtpc_conn *c = tc_new(NULL, 4096);

	feed_ok(c, "220 lmtp.example.net LMTP\r\n");
	OK(smtpc_lhlo(c, "client.example"));
	cr_assert_str_eq(tx_take(c), "LHLO client.example\r\n");
	feed_ok(c, "250-lmtp.example.net\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n");
	cr_assert(smtpc_is_greeted(c));
	return c;
}

Test(txn, lmtp_through_the_core_each_accepted_recipient_its_reply)
{
	/* The core numbers each reply after the end of data by its recipient;
	 * the layer records it there, and the message is done after the last */
	smtpc_conn *c = lmtp_client();
	smtpc_txn_config cfg = {.lmtp = 1};
	smtpc_txn t;
	smtpc_txn_msg m, *mm = NULL;
	smtpc_txn_rcpt r[3];
	char text[1024];

	OK(smtpc_txn_init(&t, c, &cfg, NULL, 0));
	memset(&m, 0, sizeof m);
	memset(r, 0, sizeof r);
	r[0].addr = "a@example.org";
	r[1].addr = "b@example.org";
	r[2].addr = "c@example.org";
	m.from = "s@example.org";
	m.rcpts = r;
	m.nrcpts = 3;
	m.text = text;
	m.text_size = sizeof text;
	OK(smtpc_txn_add(&t, &m));
	cr_assert_eq(smtpc_txn_next(&t, &mm), SMTPC_TXN_START);
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_READ);
	cr_assert_str_eq(tx_take(c),
			 "MAIL FROM:<s@example.org>\r\nRCPT TO:<a@example.org>\r\n"
			 "RCPT TO:<b@example.org>\r\nRCPT TO:<c@example.org>\r\nDATA\r\n");
	feed_txn(c, &t, "250 ok\r\n250 ok a\r\n550 5.1.1 no b\r\n250 ok c\r\n354 go\r\n");
	cr_assert_eq(smtpc_txn_next(&t, &mm), SMTPC_TXN_BODY);
	cr_assert_eq(smtpc_txn_write(&t, "hi\n", 3), 3);
	OK(smtpc_txn_end(&t));
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_READ);
	cr_assert_str_eq(tx_take(c), "hi\r\n.\r\n");
	feed_txn(c, &t, "250 2.0.0 a delivered\r\n");
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_READ); /* c's is still due */
	cr_assert_eq(m.status, SMTPC_TXN_PENDING);
	feed_txn(c, &t, "452 4.2.2 c over quota\r\n");
	cr_assert_eq(smtpc_txn_next(&t, &mm), SMTPC_TXN_DONE);
	cr_assert_eq(mm, &m);
	cr_assert_eq(m.status, SMTPC_TXN_PARTIAL);
	cr_assert_eq(m.accepted, 1);
	cr_assert_eq(r[0].status, SMTPC_TXN_ACCEPTED);
	cr_assert_eq(r[0].data.code, 250);
	cr_assert_str_eq(r[0].data.text, "2.0.0 a delivered");
	cr_assert_eq(r[1].status, SMTPC_TXN_REFUSED);
	cr_assert_eq(r[1].rcpt.code, 550);
	cr_assert_eq(r[1].data.code, 0);
	cr_assert_eq(r[2].status, SMTPC_TXN_REFUSED);
	cr_assert_eq(r[2].data.code, 452);
	cr_assert_eq(r[2].data.esc.cls, 4);
	cr_assert_eq(m.method, SMTPC_CMD_DATA);
	tc_free(c);
}

Test(txn, lmtp_through_the_core_no_recipient_accepted_no_data)
{
	smtpc_conn *c = lmtp_client();
	smtpc_txn_config cfg = {.lmtp = 1};
	smtpc_txn t;
	smtpc_txn_msg m, *mm = NULL;
	smtpc_txn_rcpt r[2];
	char text[512];

	OK(smtpc_txn_init(&t, c, &cfg, NULL, 0));
	memset(&m, 0, sizeof m);
	memset(r, 0, sizeof r);
	r[0].addr = "a@example.org";
	r[1].addr = "b@example.org";
	m.from = "s@example.org";
	m.rcpts = r;
	m.nrcpts = 2;
	m.text = text;
	m.text_size = sizeof text;
	OK(smtpc_txn_add(&t, &m));
	cr_assert_eq(smtpc_txn_next(&t, &mm), SMTPC_TXN_START);
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_READ);
	tx_take(c);
	/* the pipelined DATA gets 503 (no valid recipient): no data goes out */
	feed_txn(c, &t, "250 ok\r\n550 no a\r\n550 no b\r\n503 5.5.1 no recipients\r\n");
	while (smtpc_txn_next(&t, &mm) != SMTPC_TXN_DONE)
		;
	cr_assert_eq(m.status, SMTPC_TXN_REFUSED);
	cr_assert_eq(m.accepted, 0);
	cr_assert_eq(r[0].rcpt.code, 550);
	cr_assert_eq(r[1].rcpt.code, 550);
	cr_assert_eq(m.sent, 0);
	cr_assert(strstr(tx_take(c), "\r\n.\r\n") == NULL);
	tc_free(c);
}

Test(txn, lmtp_every_recipient_refused_after_the_data)
{
	smtpc_conn *c = client("PIPELINING\nCHUNKING", 0);
	smtpc_txn_config cfg = {.lmtp = 1};
	unsigned char chunk[64];
	smtpc_txn t;
	smtpc_txn_msg m, *mm = NULL;
	smtpc_txn_rcpt r[2];
	smtpc_reply rep;

	OK(smtpc_txn_init(&t, c, &cfg, chunk, sizeof chunk));
	memset(&m, 0, sizeof m);
	memset(r, 0, sizeof r);
	r[0].addr = "a@example.org";
	r[1].addr = "b@example.org";
	m.from = "s@example.org";
	m.rcpts = r;
	m.nrcpts = 2;
	OK(smtpc_txn_add(&t, &m)); /* no text area: texts are "" */
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_START);
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_READ);
	tx_take(c);
	feed_txn(c, &t, "250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n");
	cr_assert_eq(smtpc_txn_next(&t, &mm), SMTPC_TXN_BODY);
	OK(smtpc_txn_end(&t));
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_READ);
	cr_assert_str_eq(tx_take(c), ".\r\n");
	memset(&rep, 0, sizeof rep);
	rep.cmd = SMTPC_CMD_DATA_END;
	rep.text = "no";
	rep.len = 2;
	for (unsigned i = 0; i < 2; i++) {
		rep.code = 550 + i;
		rep.index = i;
		cr_assert_eq(smtpc_txn_on_reply(&t, &rep), 1);
	}
	cr_assert_eq(smtpc_txn_next(&t, &mm), SMTPC_TXN_DONE);
	cr_assert_eq(m.status, SMTPC_TXN_REFUSED);
	cr_assert_eq(m.reply.code, 551); /* the worst */
	cr_assert_str_eq(m.reply.text, "");
	cr_assert_eq(m.text_full, 1);
	cr_assert_eq(r[0].data.code, 550);
	cr_assert_eq(r[1].data.code, 551);
	tc_free(c);
}

/* ---- the session ending in the middle of the data ------------------------------------- */

static void one_msg(smtpc_txn_msg *m, smtpc_txn_rcpt *r, char *text, size_t text_size)
{
	memset(m, 0, sizeof *m);
	memset(r, 0, sizeof *r);
	r->addr = "b@example.org";
	m->from = "a@example.org";
	m->rcpts = r;
	m->nrcpts = 1;
	m->text = text;
	m->text_size = text_size;
}

Test(txn, unsolicited_421_during_the_data)
{
	smtpc_conn *c = client("PIPELINING", 512);
	smtpc_txn t;
	smtpc_txn_msg m[2], *mm;
	smtpc_txn_rcpt r[2];
	char text[2][256], big[2000];
	size_t n;

	memset(big, 'z', sizeof big);
	OK(smtpc_txn_init(&t, c, NULL, NULL, 0));
	one_msg(&m[0], &r[0], text[0], sizeof text[0]);
	one_msg(&m[1], &r[1], text[1], sizeof text[1]);
	OK(smtpc_txn_add(&t, &m[0]));
	OK(smtpc_txn_add(&t, &m[1]));
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_START);
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_READ);
	tx_take(c);
	feed_txn(c, &t, "250 ok\r\n250 ok\r\n354 go\r\n");
	cr_assert_eq(smtpc_txn_next(&t, &mm), SMTPC_TXN_BODY);
	cr_assert(smtpc_txn_in_body(&t));
	n = smtpc_txn_write(&t, big, sizeof big);
	cr_assert(n > 0 && n < sizeof big);
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_SEND);
	tx_take(c);
	/* the server gives up while the data comes */
	feed_txn(c, &t, "421 4.4.2 timeout exceeded\r\n");
	cr_assert_eq(smtpc_txn_write(&t, big + n, sizeof big - n), 0);
	cr_assert_eq(smtpc_txn_end(&t), SMTPC_ERR_STATE);
	cr_assert_not(smtpc_txn_in_body(&t));
	cr_assert_eq(smtpc_txn_next(&t, &mm), SMTPC_TXN_DONE);
	cr_assert_eq(mm, &m[0]);
	cr_assert_eq(m[0].status, SMTPC_TXN_REFUSED);
	cr_assert_eq(m[0].stage, SMTPC_CMD_DATA);
	cr_assert_eq(m[0].reply.code, 421);
	cr_assert_str_eq(m[0].reply.text, "4.4.2 timeout exceeded");
	cr_assert_eq(r[0].status, SMTPC_TXN_REFUSED);
	cr_assert_eq(r[0].data.code, 421);
	cr_assert_eq(smtpc_txn_next(&t, &mm), SMTPC_TXN_DONE);
	cr_assert_eq(mm, &m[1]);
	cr_assert_eq(m[1].status, SMTPC_TXN_FAILED);
	cr_assert_eq(m[1].err, SMTPC_ERR_CLOSED);
	cr_assert_eq(m[1].stage, SMTPC_CMD_NONE);
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_CLOSED);
	cr_assert_eq(smtpc_txn_error(&t), SMTPC_ERR_CLOSED);
	cr_assert_eq(smtpc_txn_add(&t, &m[0]), SMTPC_ERR_CLOSED);
	tx_take(c);
	cr_assert_str_eq(tx_take(c), "", "nothing more written");
	tc_free(c);
}

Test(txn, abort_in_the_data_writes_nothing_more)
{
	smtpc_conn *c = client("PIPELINING\nCHUNKING", 0);
	unsigned char chunk[16];
	smtpc_txn t;
	smtpc_txn_msg m, *mm;
	smtpc_txn_rcpt r;
	char text[256];

	OK(smtpc_txn_init(&t, c, NULL, chunk, sizeof chunk));
	one_msg(&m, &r, text, sizeof text);
	OK(smtpc_txn_add(&t, &m));
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_START);
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_READ);
	tx_take(c);
	feed_txn(c, &t, "250 ok\r\n250 ok\r\n");
	cr_assert_eq(smtpc_txn_next(&t, &mm), SMTPC_TXN_BODY);
	cr_assert_eq(smtpc_txn_write(&t, "0123456789abcdefXYZ", 19), 16);
	cr_assert_eq(smtpc_txn_next(&t, &mm), SMTPC_TXN_BODY); /* full: more, or the end */
	cr_assert_eq(smtpc_txn_write(&t, "XYZ", 3), 0);
	cr_assert_eq(smtpc_txn_next(&t, &mm), SMTPC_TXN_BODY); /* the chunk went out */
	cr_assert_str_eq(tx_take(c), "BDAT 16\r\n0123456789abcdef");
	cr_assert_eq(smtpc_txn_write(&t, "XYZ", 3), 3);
	smtpc_txn_abort(&t, SMTPC_ERR_IO); /* the message source failed */
	cr_assert_eq(smtpc_txn_write(&t, "more", 4), 0);
	cr_assert_eq(smtpc_txn_next(&t, &mm), SMTPC_TXN_DONE);
	cr_assert_eq(m.status, SMTPC_TXN_FAILED);
	cr_assert_eq(m.err, SMTPC_ERR_IO);
	cr_assert_eq(r.status, SMTPC_TXN_FAILED);
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_CLOSED);
	cr_assert_str_eq(tx_take(c), "", "no LAST chunk after an abort");
	cr_assert_eq(smtpc_txn_on_reply(&t, &(smtpc_reply){.code = 250, .cmd = SMTPC_CMD_BDAT}), 0);
	tc_free(c);
}

/* ---- the API misused ---------------------------------------------------------------------- */

Test(txn, api_misuse)
{
	smtpc_conn *c = client("PIPELINING", 0);
	smtpc_txn t;
	smtpc_txn_msg m, *mm;
	smtpc_txn_rcpt r;
	char text[256];

	cr_assert_eq(smtpc_txn_init(NULL, c, NULL, NULL, 0), SMTPC_ERR_NULL_ARG);
	cr_assert_eq(smtpc_txn_init(&t, NULL, NULL, NULL, 0), SMTPC_ERR_NULL_ARG);
	OK(smtpc_txn_init(&t, c, NULL, NULL, 0));
	cr_assert_eq(smtpc_txn_next(&t, &mm), SMTPC_TXN_IDLE);
	cr_assert_null(mm);
	cr_assert_eq(smtpc_txn_next(NULL, &mm), SMTPC_TXN_CLOSED);
	cr_assert_eq(smtpc_txn_write(&t, "x", 1), 0);
	cr_assert_eq(smtpc_txn_write(NULL, "x", 1), 0);
	cr_assert_eq(smtpc_txn_end(&t), SMTPC_ERR_STATE);
	cr_assert_eq(smtpc_txn_end(NULL), SMTPC_ERR_NULL_ARG);
	cr_assert_eq(smtpc_txn_on_reply(NULL, NULL), 0);
	cr_assert_eq(smtpc_txn_error(NULL), SMTPC_ERR_NULL_ARG);
	cr_assert_eq(smtpc_txn_error(&t), SMTPC_ERR_OK);
	cr_assert_not(smtpc_txn_in_body(NULL));
	smtpc_txn_abort(NULL, SMTPC_ERR_IO);
	one_msg(&m, &r, text, sizeof text);
	cr_assert_eq(smtpc_txn_add(NULL, &m), SMTPC_ERR_NULL_ARG);
	cr_assert_eq(smtpc_txn_add(&t, NULL), SMTPC_ERR_NULL_ARG);
	m.nrcpts = 0;
	cr_assert_eq(smtpc_txn_add(&t, &m), SMTPC_ERR_SEQUENCE);
	m.nrcpts = 1;
	r.addr = NULL;
	cr_assert_eq(smtpc_txn_add(&t, &m), SMTPC_ERR_NULL_ARG);
	r.addr = "b@example.org";
	m.from = NULL;
	cr_assert_eq(smtpc_txn_add(&t, &m), SMTPC_ERR_NULL_ARG);
	m.from = "a@example.org";
	OK(smtpc_txn_add(&t, &m));
	cr_assert_eq(smtpc_txn_add(&t, &m), SMTPC_ERR_STATE); /* queued already */
	/* the caller's own command goes first: replies out of step */
	OK(smtpc_rset(c));
	/* a reply for a command the layer did not issue is not its business */
	cr_assert_eq(smtpc_txn_on_reply(&t, &(smtpc_reply){.code = 250, .cmd = SMTPC_CMD_NOOP}), 0);
	cr_assert_eq(smtpc_txn_on_reply(&t, &(smtpc_reply){.code = 250, .cmd = SMTPC_CMD_MAIL}), 0);
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_START);
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_READ);
	cr_assert_str_eq(tx_take(c),
			 "RSET\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n"
			 "DATA\r\n");
	feed_txn(c, &t, "250 ok\r\n");
	cr_assert_eq(smtpc_txn_next(&t, &mm), SMTPC_TXN_DONE);
	cr_assert_eq(m.status, SMTPC_TXN_FAILED);
	cr_assert_eq(smtpc_txn_error(&t), SMTPC_ERR_SEQUENCE);
	cr_assert_str_eq(smtpc_txn_status_name(SMTPC_TXN_PARTIAL), "partial");
	cr_assert_str_eq(smtpc_txn_status_name((smtpc_txn_status)99), "?");
	tc_free(c);
}

Test(txn, messages_added_after_idle_and_an_unsolicited_reply_when_idle)
{
	static const struct step steps[] = {{.dir = 0}};
	smtpc_conn *c = client("PIPELINING", 0);
	smtpc_txn t;
	smtpc_txn_msg m, *mm;
	smtpc_txn_rcpt r;
	char text[256];

	(void)steps;
	OK(smtpc_txn_init(&t, c, NULL, NULL, 0));
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_IDLE);
	/* a stray reply with nothing going on is the caller's business */
	cr_assert_eq(smtpc_txn_on_reply(&t, &(smtpc_reply){.code = 250, .cmd = SMTPC_CMD_NONE}), 0);
	for (int round = 0; round < 3; round++) {
		one_msg(&m, &r, text, sizeof text);
		OK(smtpc_txn_add(&t, &m));
		cr_assert_eq(smtpc_txn_next(&t, &mm), SMTPC_TXN_START);
		cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_READ);
		cr_assert_str_eq(tx_take(c),
				 "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n"
				 "DATA\r\n");
		feed_txn(c, &t, "250 ok\r\n250 ok\r\n354 go\r\n");
		cr_assert_eq(smtpc_txn_next(&t, &mm), SMTPC_TXN_BODY);
		cr_assert_eq(smtpc_txn_write(&t, "hi", 2), 2);
		OK(smtpc_txn_end(&t));
		cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_READ);
		cr_assert_str_eq(tx_take(c), "hi\r\n.\r\n");
		feed_txn(c, &t, "250 queued\r\n");
		cr_assert_eq(smtpc_txn_next(&t, &mm), SMTPC_TXN_DONE);
		cr_assert_eq(m.status, SMTPC_TXN_ACCEPTED);
		cr_assert_eq(m.sent, 7);
		cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_IDLE);
	}
	tc_free(c);
}

/* ---- measuring ------------------------------------------------------------------------------ */

Test(txn, measure_any_split_same_sizes)
{
	static const struct {
		const char *in;
		uint64_t text, data, longest;
		int high;
	} cases[] = {
	    {"", 0, 3, 0, 0},
	    {"a", 3, 6, 1, 0},
	    {"a\r\nb\r\n", 6, 9, 1, 0},
	    {".\n..x\r\rend", 15, 20, 3, 0}, /* doubled dots do not count */
	    {"x\r", 3, 6, 1, 0},
	    {"\r\n.\r\n", 5, 9, 1, 0},
	    {"caf\xc3\xa9", 7, 10, 5, 1},
	    {"abc\r\ndefgh\nij", 16, 19, 5, 0},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t len = strlen(cases[i].in);
		for (size_t cut = 0; cut <= len; cut++) {
			smtpc_txn_measure ms;
			smtpc_txn_size sz;
			smtpc_txn_measure_init(&ms);
			smtpc_txn_measure_add(&ms, cases[i].in, cut);
			smtpc_txn_measure_add(&ms, cases[i].in + cut, len - cut);
			smtpc_txn_measure_end(&ms, &sz);
			cr_assert_eq(sz.known, 1);
			cr_assert_eq(sz.octets, len);
			cr_assert_eq(sz.text, cases[i].text, "case %zu cut %zu: text %llu", i, cut,
				     (unsigned long long)sz.text);
			cr_assert_eq(sz.data, cases[i].data, "case %zu cut %zu: data %llu", i, cut,
				     (unsigned long long)sz.data);
			cr_assert_eq(sz.longest, cases[i].longest, "case %zu cut %zu: longest %llu",
				     i, cut, (unsigned long long)sz.longest);
			cr_assert_eq(sz.has_8bit, cases[i].high);
		}
	}
	smtpc_txn_measure_init(NULL);
	smtpc_txn_measure_add(NULL, "x", 1);
	smtpc_txn_measure_end(NULL, NULL);
}

/* ---- against the core's server role, in memory --------------------------------------------- */

struct psrv {
	smtpc_conn *c;
	sbuf body;    /* the message being received */
	sbuf stored;  /* every message accepted, "[body]" each */
	int accepted; /* messages accepted */
	int ended;
};

static void psrv_pump(struct psrv *s)
{
	smtpc_event ev;

	for (;;) {
		smtpc_event_type k = smtpc_next_event(s->c, &ev);
		switch (k) {
		case SMTPC_EV_NEED_DATA:
			return;
		case SMTPC_EV_COMMAND:
			if (ev.command.cmd == SMTPC_CMD_EHLO) {
				OK(smtpc_server_reply(s->c, 500,
						      "not here")); /* set up by the test */
			} else if (ev.command.cmd == SMTPC_CMD_DATA) {
				OK(smtpc_server_reply(s->c, 354, "go"));
			} else if (ev.command.cmd == SMTPC_CMD_RCPT && ev.command.arg[0] == 'x') {
				OK(smtpc_server_reply(s->c, 550, "5.1.1 no such user"));
			} else if (ev.command.cmd == SMTPC_CMD_MAIL && ev.command.arg[0] == 'z') {
				OK(smtpc_server_reply(s->c, 451, "4.7.1 not from you now"));
			} else {
				OK(smtpc_server_reply(s->c, 250, "2.0.0 ok"));
			}
			s->body.n = 0;
			break;
		case SMTPC_EV_BODY:
			bb_add(&s->body, ev.body.data, ev.body.len);
			break;
		case SMTPC_EV_CHUNK_END: /* kept in s->body: acknowledged */
			if (ev.body_end.ok)
				OK(smtpc_server_reply(s->c, 250, "2.0.0 chunk ok"));
			break;
		case SMTPC_EV_BODY_END:
			if (ev.body_end.ok) {
				sb_add(&s->stored, "[");
				if (s->body.n)
					bb_add(&s->stored, s->body.s, s->body.n);
				sb_add(&s->stored, "]");
				s->accepted++;
				OK(smtpc_server_reply(s->c, 250, "2.0.0 stored"));
			}
			s->body.n = 0;
			break;
		default:
			s->ended = 1;
			return;
		}
	}
}

/* Moves up to piece octets (0: all) from one core to the other. */
static size_t move(smtpc_conn *from, smtpc_conn *to, size_t piece)
{
	size_t n, k;
	const unsigned char *p = smtpc_send_buf(from, &n);

	if (n == 0)
		return 0;
	if (piece && n > piece)
		n = piece;
	k = smtpc_feed(to, p, n);
	smtpc_send_ack(from, k);
	return k;
}

struct pair_msg {
	const char *from;
	const char *to[3];
	const char *body;
	size_t len;
	int unmeasured;
};

/* Runs messages from a client with the layer to a server core; returns the
 * log of results, and the server's stored messages in *stored. */
static char *pair_run(const smtpc_caps *caps, const smtpc_config *scfg,
		      const smtpc_txn_config *tcfg, size_t chunk, size_t piece, size_t bpiece,
		      const struct pair_msg *pm, size_t n, char **stored)
{
	struct psrv s;
	smtpc_conn *c = tc_new(NULL, 1024);
	unsigned char *cbuf = chunk ? malloc(chunk) : NULL;
	smtpc_txn t;
	smtpc_txn_msg m[4], *mm;
	smtpc_txn_rcpt r[4][3];
	char text[4][1024];
	size_t off[4] = {0};
	sbuf log = {0};
	size_t rx = smtpc_rx_min(scfg), i, k;
	smtpc_event ev;
	int rounds;

	memset(&s, 0, sizeof s);
	s.c = calloc(1, sizeof *s.c);
	OK(smtpc_server_init(s.c, scfg, malloc(rx), rx, malloc(4096), 4096));
	OK(smtpc_server_greet(s.c, 220, "pair.example"));
	/* greeting and EHLO, whole */
	while (move(s.c, c, 0) > 0)
		drain(c, NULL);
	OK(smtpc_ehlo(c, "client.example"));
	move(c, s.c, 0);
	cr_assert_eq(smtpc_next_event(s.c, &ev), SMTPC_EV_COMMAND);
	OK(smtpc_server_reply_ehlo(s.c, "pair.example", caps));
	while (move(s.c, c, 0) > 0)
		drain(c, NULL);
	cr_assert(smtpc_is_greeted(c));
	OK(smtpc_txn_init(&t, c, tcfg, cbuf, chunk));
	memset(r, 0, sizeof r);
	for (i = 0; i < n; i++) {
		memset(&m[i], 0, sizeof m[i]);
		m[i].from = pm[i].from ? pm[i].from : "a@example.org";
		m[i].rcpts = r[i];
		for (k = 0; k < 3 && pm[i].to[k]; k++)
			r[i][k].addr = pm[i].to[k];
		m[i].nrcpts = k;
		m[i].text = text[i];
		m[i].text_size = sizeof text[i];
		m[i].user = (void *)(uintptr_t)i;
		if (!pm[i].unmeasured) {
			smtpc_txn_measure ms;
			smtpc_txn_measure_init(&ms);
			smtpc_txn_measure_add(&ms, pm[i].body, pm[i].len);
			smtpc_txn_measure_end(&ms, &m[i].size);
		}
		OK(smtpc_txn_add(&t, &m[i]));
	}
	for (rounds = 0; rounds < 1000000; rounds++) {
		smtpc_txn_event e = smtpc_txn_next(&t, &mm);
		size_t idx;
		if (e == SMTPC_TXN_BODY) {
			idx = (size_t)(uintptr_t)mm->user;
			if (off[idx] == pm[idx].len) {
				OK(smtpc_txn_end(&t));
			} else {
				size_t len = pm[idx].len - off[idx];
				if (bpiece && len > bpiece)
					len = bpiece;
				off[idx] += smtpc_txn_write(&t, pm[idx].body + off[idx], len);
			}
			continue;
		}
		if (e == SMTPC_TXN_START)
			continue;
		if (e == SMTPC_TXN_DONE) {
			sb_add(&log, "m%zu %s", (size_t)(uintptr_t)mm->user,
			       smtpc_txn_status_name(mm->status));
			if (mm->stage != SMTPC_CMD_NONE)
				sb_add(&log, " at %s", smtpc_cmd_name(mm->stage));
			sb_add(&log, " %u acc=%zu ref=%zu\n", mm->reply.code, mm->accepted,
			       mm->refused);
			continue;
		}
		if (e == SMTPC_TXN_IDLE || e == SMTPC_TXN_CLOSED)
			break;
		/* one round of the wire each way */
		size_t moved = move(c, s.c, piece);
		psrv_pump(&s);
		size_t back = move(s.c, c, piece);
		moved += back;
		if (back) {
			smtpc_event_type et;
			while ((et = smtpc_next_event(c, &ev)) != SMTPC_EV_NEED_DATA) {
				if (et == SMTPC_EV_REPLY)
					smtpc_txn_on_reply(&t, &ev.reply);
				if (et == SMTPC_EV_ERROR || et == SMTPC_EV_CLOSED)
					break;
			}
		}
		cr_assert(moved > 0 || e == SMTPC_TXN_SEND, "stalled: %d", e);
	}
	cr_assert_lt(rounds, 1000000);
	sb_add(&s.stored, "%s", "");
	*stored = s.stored.s;
	sb_free(&s.body);
	free(s.c->in);
	free(s.c->tx);
	free(s.c);
	free(cbuf);
	tc_free(c);
	sb_add(&log, "%s", "");
	return log.s;
}

/* What a server stores for a message body sent as text. */
static void normalised(sbuf *out, const char *b, size_t n)
{
	sb_add(out, "[");
	for (size_t i = 0; i < n; i++) {
		if (b[i] == '\r' || b[i] == '\n') {
			sb_add(out, "\r\n");
			if (b[i] == '\r' && i + 1 < n && b[i + 1] == '\n')
				i++;
		} else {
			bb_add(out, b + i, 1);
		}
	}
	if (n && b[n - 1] != '\r' && b[n - 1] != '\n')
		sb_add(out, "\r\n");
	sb_add(out, "]");
}

Test(txn_pair, random_messages_every_way_arrive_exactly)
{
	static const unsigned exts[] = {
	    SMTPC_EXT_PIPELINING | SMTPC_EXT_SIZE | SMTPC_EXT_8BITMIME,
	    SMTPC_EXT_SIZE | SMTPC_EXT_8BITMIME,
	    SMTPC_EXT_PIPELINING | SMTPC_EXT_CHUNKING | SMTPC_EXT_8BITMIME,
	    SMTPC_EXT_CHUNKING | SMTPC_EXT_SIZE,
	};
	static const size_t chunks[] = {7, 64, 4096};
	unsigned seed = 11;
	char bodies[3][2500];
	struct pair_msg pm[3];

	for (int iter = 0; iter < 24; iter++) {
		smtpc_caps caps = {exts[iter % 4], 0, 100000, 0};
		sbuf want = {0}, wantlog = {0};
		char *stored, *log;
		for (int i = 0; i < 3; i++) {
			size_t n;
			seed = seed * 1103515245u + 12345u;
			n = (seed >> 16) % sizeof bodies[i];
			for (size_t j = 0; j < n; j++) {
				static const char alpha[] = "ab.\r\n \xc3\xa9";
				seed = seed * 1103515245u + 12345u;
				bodies[i][j] = alpha[(seed >> 16) % (sizeof alpha - 1)];
			}
			memset(&pm[i], 0, sizeof pm[i]);
			pm[i].body = bodies[i];
			pm[i].len = n;
			pm[i].to[0] = "b@example.org";
			/* the second message: one recipient refused; the third: all */
			if (i == 1)
				pm[i].to[1] = "x@example.org";
			if (i == 2)
				pm[i].to[0] = "xx@example.org";
			if (i != 2)
				normalised(&want, bodies[i], n);
		}
		sb_add(&wantlog, "m0 accepted at %s 250 acc=1 ref=0\n",
		       (caps.ext & SMTPC_EXT_CHUNKING) ? "BDAT" : "DATA_END");
		sb_add(&wantlog, "m1 partial at %s 250 acc=1 ref=1\n",
		       (caps.ext & SMTPC_EXT_CHUNKING) ? "BDAT" : "DATA_END");
		sb_add(&wantlog, "m2 refused at RCPT 550 acc=0 ref=1\n");
		for (size_t piece = 0; piece < 12; piece += (piece < 4 ? 1 : 7)) {
			log = pair_run(&caps, NULL, NULL, chunks[iter % 3], piece,
				       piece ? 3 + piece : 0, pm, 3, &stored);
			cr_assert_str_eq(log, wantlog.s, "iter %d piece %zu:\n%s", iter, piece,
					 log);
			cr_assert_str_eq(stored, want.s, "iter %d piece %zu: stored differ", iter,
					 piece);
			free(log);
			free(stored);
		}
		sb_free(&want);
		sb_free(&wantlog);
	}
}

Test(txn_pair, over_the_servers_limit_refused_then_the_next_goes)
{
	/* size unknown to the client (no SIZE= check): the server refuses a
	 * chunk in the middle, or the end of data; the next message goes on */
	smtpc_config scfg;
	static char big[3000];
	struct pair_msg pm[2];
	char *stored, *log;

	memset(big, 'q', sizeof big);
	for (size_t i = 70; i < sizeof big; i += 71)
		big[i] = '\n';
	smtpc_config_default(&scfg);
	scfg.max_message = 1000;
	memset(pm, 0, sizeof pm);
	pm[0].body = big;
	pm[0].len = sizeof big;
	pm[0].to[0] = "b@example.org";
	pm[0].unmeasured = 1;
	pm[1].body = "small\n";
	pm[1].len = 6;
	pm[1].to[0] = "b@example.org";
	smtpc_caps caps = {SMTPC_EXT_PIPELINING | SMTPC_EXT_CHUNKING | SMTPC_EXT_SIZE, 0, 1000, 0};
	for (size_t piece = 0; piece < 40; piece += 13) {
		log = pair_run(&caps, &scfg, NULL, 256, piece, 0, pm, 2, &stored);
		cr_assert_str_eq(log,
				 "m0 refused at BDAT 552 acc=0 ref=1\n"
				 "m1 accepted at BDAT 250 acc=1 ref=0\n",
				 "%s", log);
		cr_assert_str_eq(stored, "[small\r\n]");
		free(log);
		free(stored);
		caps.ext &= ~SMTPC_EXT_CHUNKING;
		log = pair_run(&caps, &scfg, NULL, 256, piece, 0, pm, 2, &stored);
		cr_assert_str_eq(log,
				 "m0 refused at DATA_END 552 acc=0 ref=1\n"
				 "m1 accepted at DATA_END 250 acc=1 ref=0\n",
				 "%s", log);
		cr_assert_str_eq(stored, "[small\r\n]");
		free(log);
		free(stored);
		caps.ext |= SMTPC_EXT_CHUNKING;
	}
	/* measured: refused before MAIL, nothing sent for it */
	pm[0].unmeasured = 0;
	log = pair_run(&caps, &scfg, NULL, 256, 0, 0, pm, 2, &stored);
	cr_assert_str_eq(log, "m0 refused 0 acc=0 ref=1\nm1 accepted at BDAT 250 acc=1 ref=0\n",
			 "%s", log);
	free(log);
	free(stored);
}

Test(txn_pair, refused_mail_then_the_next_message)
{
	struct pair_msg pm[2];
	char *stored, *log;
	smtpc_caps caps = {SMTPC_EXT_PIPELINING, 0, 0, 0};

	memset(pm, 0, sizeof pm);
	pm[0].from = "z@example.org";
	pm[0].body = "one\n";
	pm[0].len = 4;
	pm[0].to[0] = "b@example.org";
	pm[1].body = "two\n";
	pm[1].len = 4;
	pm[1].to[0] = "b@example.org";
	for (int pipe = 0; pipe < 2; pipe++) {
		caps.ext = pipe ? SMTPC_EXT_PIPELINING : 0;
		log = pair_run(&caps, NULL, NULL, 0, 5, 0, pm, 2, &stored);
		cr_assert_str_eq(log,
				 "m0 refused at MAIL 451 acc=0 ref=1\n"
				 "m1 accepted at DATA_END 250 acc=1 ref=0\n",
				 "%s", log);
		cr_assert_str_eq(stored, "[two\r\n]");
		free(log);
		free(stored);
	}
}

Test(txn, the_callers_own_commands_around_the_layer)
{
	smtpc_conn *c = client("SIZE 1000", 0); /* no PIPELINING */
	smtpc_txn t;
	smtpc_txn_msg m, *mm;
	smtpc_txn_rcpt r;
	char text[256];

	OK(smtpc_txn_init(&t, c, NULL, NULL, 0));
	one_msg(&m, &r, text, sizeof text);
	/* a NOOP of the caller's is outstanding: the layer waits for its reply */
	OK(smtpc_noop(c));
	OK(smtpc_txn_add(&t, &m));
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_READ);
	cr_assert_str_eq(tx_take(c), "NOOP\r\n");
	feed_txn(c, &t, "250 noop\r\n");
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_START);
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_READ);
	cr_assert_str_eq(tx_take(c), "MAIL FROM:<a@example.org>\r\n");
	feed_txn(c, &t, "250 ok\r\n");
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_READ);
	cr_assert_str_eq(tx_take(c), "RCPT TO:<b@example.org>\r\n");
	tc_free(c);

	/* QUIT with a message queued: the session cannot carry it */
	c = client("PIPELINING", 0);
	OK(smtpc_txn_init(&t, c, NULL, NULL, 0));
	one_msg(&m, &r, text, sizeof text);
	OK(smtpc_txn_add(&t, &m));
	OK(smtpc_quit(c));
	cr_assert_eq(smtpc_txn_next(&t, &mm), SMTPC_TXN_DONE);
	cr_assert_eq(m.status, SMTPC_TXN_FAILED);
	cr_assert_eq(m.err, SMTPC_ERR_ENDED); /* the core: no command after QUIT */
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_CLOSED);
	cr_assert_str_eq(tx_take(c), "QUIT\r\n");
	tc_free(c);
}

Test(txn, a_421_that_came_before_the_commands)
{
	/* bytes the server sent before MAIL went out never answer it (the
	 * core's early-reply rule): the message in progress is refused with the
	 * 421, the next is not started */
	smtpc_conn *c = client("PIPELINING", 0);
	smtpc_txn t;
	smtpc_txn_msg m[2], *mm;
	smtpc_txn_rcpt r[2];
	char text[2][256];
	const char *bye = "421 4.3.2 going down\r\n";

	OK(smtpc_txn_init(&t, c, NULL, NULL, 0));
	one_msg(&m[0], &r[0], text[0], sizeof text[0]);
	one_msg(&m[1], &r[1], text[1], sizeof text[1]);
	OK(smtpc_txn_add(&t, &m[0]));
	OK(smtpc_txn_add(&t, &m[1]));
	cr_assert_eq(smtpc_feed(c, bye, strlen(bye)), strlen(bye));
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_START);
	feed_txn(c, &t, ""); /* now the events */
	cr_assert_eq(smtpc_txn_next(&t, &mm), SMTPC_TXN_DONE);
	cr_assert_eq(m[0].status, SMTPC_TXN_REFUSED);
	cr_assert_eq(m[0].stage, SMTPC_CMD_MAIL);
	cr_assert_eq(m[0].reply.code, 421);
	cr_assert_eq(smtpc_txn_next(&t, &mm), SMTPC_TXN_DONE);
	cr_assert_eq(m[1].status, SMTPC_TXN_FAILED);
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_CLOSED);
	tc_free(c);
}

Test(txn, lmtp_replies_with_unknown_numbers_go_in_rcpt_order)
{
	smtpc_conn *c = client("PIPELINING", 0);
	smtpc_txn_config cfg = {.lmtp = 1};
	smtpc_txn t;
	smtpc_txn_msg m, *mm;
	smtpc_txn_rcpt r[2];
	char text[512];
	smtpc_reply rep;

	OK(smtpc_txn_init(&t, c, &cfg, NULL, 0));
	memset(&m, 0, sizeof m);
	memset(r, 0, sizeof r);
	r[0].addr = "a@example.org";
	r[1].addr = "b@example.org";
	m.from = "s@example.org";
	m.rcpts = r;
	m.nrcpts = 2;
	m.text = text;
	m.text_size = sizeof text;
	OK(smtpc_txn_add(&t, &m));
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_START);
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_READ);
	tx_take(c);
	feed_txn(c, &t, "250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n");
	cr_assert_eq(smtpc_txn_next(&t, &mm), SMTPC_TXN_BODY);
	OK(smtpc_txn_end(&t));
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_READ);
	memset(&rep, 0, sizeof rep);
	rep.cmd = SMTPC_CMD_DATA_END;
	rep.text = "x";
	rep.len = 1;
	rep.code = 451;
	rep.index = 9; /* no such number: the first still owed one */
	cr_assert_eq(smtpc_txn_on_reply(&t, &rep), 1);
	rep.code = 552;
	cr_assert_eq(smtpc_txn_on_reply(&t, &rep), 1);
	cr_assert_eq(smtpc_txn_next(&t, &mm), SMTPC_TXN_DONE);
	cr_assert_eq(r[0].data.code, 451);
	cr_assert_eq(r[1].data.code, 552);
	cr_assert_eq(m.reply.code, 552);
	cr_assert_eq(m.status, SMTPC_TXN_REFUSED);
	tc_free(c);
}

Test(txn, mail_refused_before_data_could_be_issued_with_a_full_queue)
{
	/* MAIL and two RCPTs fill a queue of three; the MAIL is refused: no
	 * DATA, RSET, and the next message goes on (no DATA out of sequence) */
	smtpc_config cfg;
	smtpc_conn *c;
	smtpc_txn t;
	smtpc_txn_msg m[2], *mm;
	smtpc_txn_rcpt r[2][2];
	char text[2][512];

	smtpc_config_default(&cfg);
	cfg.max_queue = 3;
	c = tc_new(&cfg, 0);
	feed_ok(c, "220 x\r\n");
	OK(smtpc_ehlo(c, "client.example"));
	tx_take(c);
	feed_ok(c, "250-x\r\n250 PIPELINING\r\n");
	OK(smtpc_txn_init(&t, c, NULL, NULL, 0));
	memset(m, 0, sizeof m);
	memset(r, 0, sizeof r);
	for (int i = 0; i < 2; i++) {
		r[i][0].addr = "b@example.org";
		r[i][1].addr = "c@example.org";
		m[i].from = "a@example.org";
		m[i].rcpts = r[i];
		m[i].nrcpts = 2;
		m[i].text = text[i];
		m[i].text_size = sizeof text[i];
		OK(smtpc_txn_add(&t, &m[i]));
	}
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_START);
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_READ);
	cr_assert_str_eq(tx_take(c), "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n"
				     "RCPT TO:<c@example.org>\r\n");
	feed_txn(c, &t, "550 5.7.1 not you\r\n");
	/* no DATA: the RSET goes in the freed place of the queue */
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_READ);
	cr_assert_str_eq(tx_take(c), "RSET\r\n");
	feed_txn(c, &t, "503 no\r\n503 no\r\n250 reset\r\n");
	cr_assert_eq(smtpc_txn_next(&t, &mm), SMTPC_TXN_DONE);
	cr_assert_eq(mm, &m[0]);
	cr_assert_eq(m[0].status, SMTPC_TXN_REFUSED);
	cr_assert_eq(m[0].stage, SMTPC_CMD_MAIL);
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_START);
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_READ);
	cr_assert_str_eq(tx_take(c), "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n"
				     "RCPT TO:<c@example.org>\r\n");
	cr_assert_eq(smtpc_txn_error(&t), SMTPC_ERR_OK);
	tc_free(c);
}

/* ---- hostile servers and callers: regressions ------------------------------------------------ */

Test(txn, a_2xx_to_a_chunk_whose_octets_are_not_all_out_is_a_violation)
{
	/* 3044 octets of text in one chunk, a 512-octet transmit buffer: the
	 * BDAT LAST line and the first octets go out, the rest waits. A 250
	 * then cannot answer the chunk (the server has not got it): the session
	 * ends as for a reply nothing asked for, never "accepted". A refusal
	 * then is a refusal. */
	static char body[3000];
	unsigned char chunk[4096];
	size_t i;

	memset(body, 'x', sizeof body);
	for (i = 70; i < sizeof body; i += 71)
		body[i] = '\n';
	for (int round = 0; round < 2; round++) {
		smtpc_conn *c = client("PIPELINING\nCHUNKING", 512);
		smtpc_txn t;
		smtpc_txn_msg m, *mm;
		smtpc_txn_rcpt r;
		char text[256];
		const char *out;
		int k;

		OK(smtpc_txn_init(&t, c, NULL, chunk, sizeof chunk));
		one_msg(&m, &r, text, sizeof text);
		OK(smtpc_txn_add(&t, &m));
		cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_START);
		cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_READ);
		tx_take(c);
		feed_txn(c, &t, "250 ok\r\n250 ok\r\n");
		cr_assert_eq(smtpc_txn_next(&t, &mm), SMTPC_TXN_BODY);
		cr_assert_eq(smtpc_txn_write(&t, body, sizeof body), sizeof body);
		OK(smtpc_txn_end(&t));
		cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_SEND);
		out = tx_take(c);
		cr_assert(strncmp(out, "BDAT 3044 LAST\r\nxxx", 19) == 0, "%.40s", out);
		cr_assert_lt(strlen(out), 600);
		if (round == 0) {
			feed_txn(c, &t, "250 2.0.0 queued\r\n");
			cr_assert_eq(smtpc_txn_next(&t, &mm), SMTPC_TXN_DONE);
			cr_assert_eq(m.status, SMTPC_TXN_FAILED, "%s",
				     smtpc_txn_status_name(m.status));
			cr_assert_eq(m.err, SMTPC_ERR_BAD_REPLY);
			cr_assert_eq(m.accepted, 0);
			cr_assert_eq(r.status, SMTPC_TXN_FAILED);
			cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_CLOSED);
			cr_assert_eq(smtpc_error(c), SMTPC_ERR_BAD_REPLY);
		} else {
			feed_txn(c, &t, "452 4.3.1 no room\r\n");
			for (k = 0; k < 100; k++) { /* the chunk is completed, then DONE */
				smtpc_txn_event ev = smtpc_txn_next(&t, &mm);
				if (ev == SMTPC_TXN_DONE)
					break;
				cr_assert_eq(ev, SMTPC_TXN_SEND);
				tx_take(c);
			}
			cr_assert_eq(m.status, SMTPC_TXN_REFUSED);
			cr_assert_eq(m.reply.code, 452);
			cr_assert_eq(m.stage, SMTPC_CMD_BDAT);
			cr_assert_eq(r.status, SMTPC_TXN_REFUSED);
			cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_IDLE);
		}
		tc_free(c);
	}
}

Test(txn, queued_messages_never_share_recipients_or_text_areas)
{
	/* two messages in the layer writing their results into the same
	 * recipient structs would report each other's outcome (a message
	 * accepted with no recipient accepted, a recipient refused although
	 * its message was accepted): refused at smtpc_txn_add */
	smtpc_conn *c = client("PIPELINING", 0);
	smtpc_txn t;
	smtpc_txn_msg a, b, copy, *mm;
	smtpc_txn_rcpt r[3], r2[1];
	char text[3][256];

	OK(smtpc_txn_init(&t, c, NULL, NULL, 0));
	memset(r, 0, sizeof r);
	memset(r2, 0, sizeof r2);
	for (int i = 0; i < 3; i++)
		r[i].addr = "b@example.org";
	r2[0].addr = "c@example.org";
	one_msg(&a, &r[0], text[0], sizeof text[0]);
	a.rcpts = r;
	a.nrcpts = 2;
	OK(smtpc_txn_add(&t, &a));
	one_msg(&b, &r[1], text[1], sizeof text[1]); /* r[1] is a's */
	cr_assert_eq(smtpc_txn_add(&t, &b), SMTPC_ERR_STATE);
	b.rcpts = r; /* the same array */
	cr_assert_eq(smtpc_txn_add(&t, &b), SMTPC_ERR_STATE);
	b.rcpts = &r[2];
	b.text = text[0] + 200; /* inside a's text area */
	b.text_size = 10;
	cr_assert_eq(smtpc_txn_add(&t, &b), SMTPC_ERR_STATE);
	b.text = text[1];
	b.text_size = sizeof text[1];
	OK(smtpc_txn_add(&t, &b)); /* next to them: fine */
	/* a copy of a queued message, with its own recipients and text, is a
	 * message of its own */
	copy = b;
	copy.rcpts = r2;
	copy.text = text[2];
	OK(smtpc_txn_add(&t, &copy));
	cr_assert_eq(smtpc_txn_add(&t, &b), SMTPC_ERR_STATE); /* b itself: queued already */
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_START);
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_READ);
	cr_assert_str_eq(tx_take(c), "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n"
				     "RCPT TO:<b@example.org>\r\nDATA\r\n");
	feed_txn(c, &t, "250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n");
	cr_assert_eq(smtpc_txn_next(&t, &mm), SMTPC_TXN_BODY);
	OK(smtpc_txn_end(&t));
	cr_assert_eq(smtpc_txn_next(&t, &mm), SMTPC_TXN_START);
	cr_assert_eq(mm, &b);
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_READ);
	tx_take(c);
	feed_txn(c, &t, "554 5.7.1 no\r\n250 ok\r\n250 ok\r\n354 go\r\n");
	cr_assert_eq(smtpc_txn_next(&t, &mm), SMTPC_TXN_DONE);
	cr_assert_eq(mm, &a);
	cr_assert_eq(a.status, SMTPC_TXN_REFUSED);
	/* once a is finished its recipients are the caller's again */
	cr_assert_eq(smtpc_txn_next(&t, &mm), SMTPC_TXN_BODY);
	OK(smtpc_txn_end(&t));
	cr_assert_eq(smtpc_txn_next(&t, &mm), SMTPC_TXN_START);
	cr_assert_eq(mm, &copy);
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_READ);
	tx_take(c);
	feed_txn(c, &t, "250 queued\r\n");
	cr_assert_eq(smtpc_txn_next(&t, &mm), SMTPC_TXN_DONE);
	cr_assert_eq(mm, &b);
	cr_assert_eq(b.status, SMTPC_TXN_ACCEPTED);
	cr_assert_eq(b.accepted, 1);
	cr_assert_eq(r[2].status, SMTPC_TXN_ACCEPTED);
	cr_assert_eq(r[0].status, SMTPC_TXN_REFUSED);
	cr_assert_eq(r[1].status, SMTPC_TXN_REFUSED);
	OK(smtpc_txn_add(&t, &a)); /* a, finished, may go again */
	tc_free(c);
}

/* Runs one message whose octets are not the measured ones: `measured` was
 * measured, `given` is written (then the end). The data is never ended:
 * the message fails (SMTPC_ERR_BAD_PARAM), and so does the session, since
 * the connection is in the middle of the data. */
static void mismatch_case(int bdat, const char *measured, const char *given)
{
	smtpc_conn *c = client(bdat ? "PIPELINING\nCHUNKING\n8BITMIME" : "PIPELINING\n8BITMIME", 0);
	unsigned char chunk[64];
	smtpc_txn t;
	smtpc_txn_msg m, m2, *mm;
	smtpc_txn_rcpt r, r2;
	char text[256], text2[256];
	smtpc_txn_measure ms;
	size_t len = strlen(given), n, off = 0;
	smtpc_err e = SMTPC_ERR_OK;
	sbuf wire = {0};
	int k;

	OK(smtpc_txn_init(&t, c, NULL, chunk, sizeof chunk));
	one_msg(&m, &r, text, sizeof text);
	one_msg(&m2, &r2, text2, sizeof text2);
	smtpc_txn_measure_init(&ms);
	smtpc_txn_measure_add(&ms, measured, strlen(measured));
	smtpc_txn_measure_end(&ms, &m.size);
	OK(smtpc_txn_add(&t, &m));
	OK(smtpc_txn_add(&t, &m2));
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_START);
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_READ);
	tx_take(c);
	feed_txn(c, &t, bdat ? "250 ok\r\n250 ok\r\n" : "250 ok\r\n250 ok\r\n354 go\r\n");
	for (k = 0; k < 1000; k++) {
		smtpc_txn_event ev = smtpc_txn_next(&t, &mm);
		const unsigned char *p = smtpc_send_buf(c, &n);
		if (n) {
			sb_add(&wire, "%.*s", (int)n, (const char *)p);
			smtpc_send_ack(c, n);
		}
		if (ev == SMTPC_TXN_BODY) {
			cr_assert_eq(mm, &m);
			if (off < len) {
				n = smtpc_txn_write(&t, given + off, len - off);
				off += n;
				if (n == 0 && smtpc_txn_error(&t) != SMTPC_ERR_OK)
					continue; /* more than measured: refused */
			} else {
				e = smtpc_txn_end(&t);
			}
			continue;
		}
		if (ev == SMTPC_TXN_DONE || ev == SMTPC_TXN_SEND)
			continue;
		break;
	}
	cr_assert_eq(m.status, SMTPC_TXN_FAILED, "%s/%s: %s", measured, given,
		     smtpc_txn_status_name(m.status));
	cr_assert_eq(m.err, SMTPC_ERR_BAD_PARAM, "%s", smtpc_err_name(m.err));
	cr_assert_eq(m2.status, SMTPC_TXN_FAILED);
	cr_assert_eq(smtpc_txn_next(&t, NULL), SMTPC_TXN_CLOSED);
	cr_assert_eq(smtpc_txn_error(&t), SMTPC_ERR_BAD_PARAM);
	if (off == len) /* shorter, or as long with 8-bit octets not measured */
		cr_assert_eq(e, SMTPC_ERR_BAD_PARAM);
	/* no end of data, no last chunk, nothing after */
	cr_assert_null(strstr(wire.s ? wire.s : "", "\r\n.\r\n"), "%s", wire.s);
	cr_assert_null(strstr(wire.s ? wire.s : "", "BDAT"), "%s", wire.s);
	cr_assert_null(strstr(wire.s ? wire.s : "", "MAIL"), "%s", wire.s);
	sb_free(&wire);
	tc_free(c);
}

Test(txn, octets_that_are_not_the_measured_ones_never_end_the_data)
{
	for (int bdat = 0; bdat < 2; bdat++) {
		mismatch_case(bdat, "hello world\n", "hello\n");	     /* truncated */
		mismatch_case(bdat, "hello world\n", "hello world\nmore\n"); /* appended */
		mismatch_case(bdat, "hello world\n", "hello w\xc3\xa9rld");  /* 8-bit now */
	}
}

Test(txn, a_421_to_a_recipient_then_nothing_more_is_issued)
{
	/* MAIL and the first RCPT accepted, 421 to the second: the server is
	 * going away. By BDAT the layer waits for the envelope before the
	 * chunk; it must then end the session as closed (every command would
	 * be refused), not as a misuse of the core (SMTPC_ERR_STATE) */
	static const struct step bdat[] = {
	    {.dir = 'C',
	     .bytes = "MAIL FROM:<a@example.org> SIZE=3\r\nRCPT TO:<b@example.org>\r\n"
		      "RCPT TO:<c@example.org>\r\n"},
	    {.dir = 'S', .bytes = "250 ok\r\n250 ok\r\n421 4.3.2 bye\r\n"},
	    {.dir = 0}};
	struct tcase tc = {.ext = EXT_CHUNK,
			   .chunk = 64,
			   .msgs = {{.to = {"b@example.org", "c@example.org"}, .body = "x\r\n"},
				    {.body = "y\r\n"}},
			   .nmsgs = 2,
			   .steps = bdat,
			   .expect = "START m0\n"
				     "DONE m0 failed err=CLOSED by BDAT acc=0 ref=1 sent=0\n"
				     "  b@example.org failed err=CLOSED rcpt=250'ok'\n"
				     "  c@example.org refused rcpt=421[4.3.2]'4.3.2 bye'\n"
				     "DONE m1 failed err=CLOSED acc=0 ref=0 sent=0\n"
				     "  b@example.org failed err=CLOSED\n"
				     "CLOSED CLOSED\n"};
	check_case(&tc);
	/* without pipelining, by DATA: no DATA after the 421 */
	static const struct step plain[] = {
	    {.dir = 'C', .bytes = "MAIL FROM:<a@example.org> SIZE=3\r\n"},
	    {.dir = 'S', .bytes = "250 ok\r\n"},
	    {.dir = 'C', .bytes = "RCPT TO:<b@example.org>\r\n"},
	    {.dir = 'S', .bytes = "250 ok\r\n"},
	    {.dir = 'C', .bytes = "RCPT TO:<c@example.org>\r\n"},
	    {.dir = 'S', .bytes = "421 4.3.2 bye\r\n"},
	    {.dir = 0}};
	tc.ext = EXT_PLAIN;
	tc.chunk = 0;
	tc.steps = plain;
	tc.expect = "START m0\n"
		    "DONE m0 failed err=CLOSED by DATA acc=0 ref=1 sent=0\n"
		    "  b@example.org failed err=CLOSED rcpt=250'ok'\n"
		    "  c@example.org refused rcpt=421[4.3.2]'4.3.2 bye'\n"
		    "DONE m1 failed err=CLOSED acc=0 ref=0 sent=0\n"
		    "  b@example.org failed err=CLOSED\n"
		    "CLOSED CLOSED\n";
	check_case(&tc);
}

Test(txn, a_one_octet_chunk_buffer_and_a_refusal_of_each_chunk)
{
	/* "ab\r" by chunks of one octet: a, b, CR, LF (the line end the text
	 * lacks), each its own BDAT. Any one of them refused (451): the
	 * message is refused with it, whatever the others say, and the next
	 * message follows an RSET */
	static const char *const okk[] = {"250 1\r\n", "250 2\r\n", "250 3\r\n", "250 4\r\n"};
	for (int bad = -1; bad < 4; bad++) {
		static char replies[128], expect[1024];
		struct step steps[9];
		int k = 0;

		replies[0] = '\0';
		for (int i = 0; i < 4; i++)
			strcat(replies, i == bad ? "451 4.3.0 chunk refused\r\n" : okk[i]);
		steps[k++] = (struct step){.dir = 'C',
					   .bytes = "MAIL FROM:<a@example.org> SIZE=4\r\n"
						    "RCPT TO:<b@example.org>\r\n"};
		steps[k++] = (struct step){.dir = 'S', .bytes = "250 ok\r\n250 ok\r\n"};
		steps[k++] = (struct step){
		    .dir = 'C', .bytes = "BDAT 1\r\naBDAT 1\r\nbBDAT 1\r\n\rBDAT 1 LAST\r\n\n"};
		steps[k++] = (struct step){.dir = 'S', .bytes = replies};
		steps[k++] =
		    (struct step){.dir = 'C',
				  .bytes = bad < 0 ? "MAIL FROM:<a@example.org> SIZE=3\r\n"
						     "RCPT TO:<b@example.org>\r\n"
						   : "RSET\r\nMAIL FROM:<a@example.org> SIZE=3\r\n"
						     "RCPT TO:<b@example.org>\r\n"};
		steps[k++] = (struct step){.dir = 'S',
					   .bytes = bad < 0 ? "250 ok\r\n250 ok\r\n"
							    : "250 reset\r\n250 ok\r\n250 ok\r\n"};
		steps[k++] =
		    (struct step){.dir = 'C', .bytes = "BDAT 1\r\nzBDAT 1\r\n\rBDAT 1 LAST\r\n\n"};
		steps[k] = (struct step){.dir = 'S', .bytes = "250 a\r\n250 b\r\n250 done\r\n"};
		steps[k + 1] = (struct step){.dir = 0};
		if (bad < 0)
			snprintf(
			    expect, sizeof expect,
			    "START m0\n"
			    "DONE m0 accepted at BDAT by BDAT acc=1 ref=0 sent=4 reply=250'4'\n"
			    "  b@example.org accepted rcpt=250'ok' data=250'4'\n"
			    "START m1\n"
			    "DONE m1 accepted at BDAT by BDAT acc=1 ref=0 sent=3 reply=250'done'\n"
			    "  b@example.org accepted rcpt=250'ok' data=250'done'\n"
			    "IDLE OK\n");
		else
			snprintf(
			    expect, sizeof expect,
			    "START m0\n"
			    "DONE m0 refused at BDAT by BDAT acc=0 ref=1 sent=4 "
			    "reply=451[4.3.0]'4.3.0 chunk refused'\n"
			    "  b@example.org refused rcpt=250'ok' data=451[4.3.0]'4.3.0 chunk "
			    "refused'\n"
			    "START m1\n"
			    "DONE m1 accepted at BDAT by BDAT acc=1 ref=0 sent=3 reply=250'done'\n"
			    "  b@example.org accepted rcpt=250'ok' data=250'done'\n"
			    "IDLE OK\n");
		struct tcase tc = {.ext = EXT_CHUNK,
				   .chunk = 1,
				   .msgs = {{.body = "ab\r"}, {.body = "z\r"}},
				   .nmsgs = 2,
				   .steps = steps,
				   .expect = expect};
		check_case(&tc);
	}
}

Test(txn, recipient_counts_up_to_the_cores_numbering)
{
	/* the core numbers RCPTs in 16 bits: 65535 recipients at most */
	smtpc_conn *c = client("PIPELINING", 0);
	smtpc_txn t;
	smtpc_txn_msg m;
	smtpc_txn_rcpt *r = calloc(65536, sizeof *r);
	char text[64];

	cr_assert_not_null(r);
	OK(smtpc_txn_init(&t, c, NULL, NULL, 0));
	for (size_t i = 0; i < 65536; i++)
		r[i].addr = "b@example.org";
	one_msg(&m, r, text, sizeof text);
	m.rcpts = r;
	m.nrcpts = 65536;
	cr_assert_eq(smtpc_txn_add(&t, &m), SMTPC_ERR_BAD_PARAM);
	m.nrcpts = 65535;
	OK(smtpc_txn_add(&t, &m));
	free(r);
	tc_free(c);
}
