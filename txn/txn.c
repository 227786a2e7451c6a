/*
 * txn.c - mail transactions over the core, one or several per connection.
 *
 * Built on the public API of smtpc.h only. No I/O, no clock, no allocation.
 *
 * Messages. Every message added is on one list (head..tail) until its DONE
 * event; `todo` is the first one not started, `out` the one whose commands
 * or octets go out now. A message's phases:
 *
 *   QUEUED -> ENVELOPE (MAIL issued, RCPTs being issued)
 *          -> WAIT     (DATA: DATA issued, its reply awaited;
 *                       BDAT: the MAIL and RCPT replies awaited, RFC 3030 2)
 *          -> BODY     (octets taken: SMTPC_TXN_BODY)
 *          -> END      (end of data written, final replies awaited)
 *          -> OVER     (refused, or abandoned; replies may still be owed)
 *
 * Replies. Each command the layer issues is queued here too (q: message,
 * recipient or chunk number); replies come back in order (RFC 2920 3.1), so
 * the head of q says which message and recipient a reply is for. With LMTP
 * (RFC 2033 4.2) the entry for the end of data stays at the head until one
 * reply per accepted recipient has come. A message is finished when its
 * status is decided and no reply is owed to it; DONE events follow the order
 * of addition.
 *
 * Deciding. MAIL refused, every RCPT refused, DATA refused, a BDAT chunk
 * refused (the first refusal decides; RFC 3030 2: no more chunks are sent),
 * or the reply to the end of data. A message whose transaction may still be
 * open on the server (MAIL sent, end of data not) gets an RSET before the
 * next message's MAIL (RFC 5321 4.1.1.5). After the end of data the
 * transaction is over whatever the reply, so with PIPELINING the next MAIL
 * follows the end of data at once.
 *
 * Trust. A reply answers a command only once the server can have seen the
 * command: the core matches replies after their command's issue, and for a
 * BDAT chunk the layer refuses a 2xx that comes while the chunk's octets are
 * still being copied (BAD_REPLY). The octets written must be those measured
 * (the SIZE=, BODY= and line decisions were made on them): any difference is
 * found before the end of data is written, and the session ends.
 *
 * Room. A command that does not fit the transmit buffer, or message octets
 * that do not, leave `blocked` at the octets then pending; the layer waits
 * (SMTPC_TXN_SEND) until some were sent. Commands that must wait for
 * replies (no PIPELINING, a full reply queue) leave the layer in
 * SMTPC_TXN_READ until a reply comes.
 */
#include <string.h>

#include "smtpc_txn.h"

enum { PH_QUEUED = 0, PH_ENVELOPE, PH_WAIT, PH_BODY, PH_END, PH_OVER };

#define MF_QUEUED    0x001u /* between add and DONE */
#define MF_MAIL_SENT 0x002u /* MAIL issued */
#define MF_MAIL_OK   0x004u /* MAIL answered 2xx */
#define MF_MAIL_NO   0x008u /* MAIL refused */
#define MF_BDAT	     0x010u /* sent by BDAT */
#define MF_RAW	     0x020u /* BODY=BINARYMIME: octets as they are */
#define MF_INPUT_END 0x040u /* no more octets from the caller */
#define MF_NOBODY    0x080u /* 354 with no recipient: the terminator only */
#define MF_RCPT_DONE 0x100u /* every RCPT issued or refused locally */

enum { R_ISSUED, R_WAIT, R_LOCAL, R_FATAL };

static const char empty[] = "";

const char *smtpc_txn_status_name(smtpc_txn_status s)
{
	static const char *const names[] = {"pending", "accepted", "partial", "refused", "failed"};

	return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

/* ---- small helpers ------------------------------------------------------------ */

static size_t pending_octets(const smtpc_txn *t)
{
	size_t n;

	smtpc_send_buf(t->c, &n);
	return n;
}

static int can_pipeline(const smtpc_txn *t)
{
	return !t->cfg.no_pipelining && (smtpc_get_caps(t->c)->ext & SMTPC_EXT_PIPELINING) != 0;
}

/* The layer's own rule: without pipelining, one command at a time; and
 * never more owed replies than it can track. */
static int may_issue(const smtpc_txn *t)
{
	return t->q_len < SMTPC_TXN_QUEUE && (can_pipeline(t) || smtpc_pending(t->c) == 0);
}

static int is_blocked(smtpc_txn *t)
{
	if (t->stalled)
		return 1; /* until smtpc_txn_next has said SEND */
	if (t->blocked == 0)
		return 0;
	if (pending_octets(t) < t->blocked) {
		t->blocked = 0; /* some went out: try again */
		return 0;
	}
	return 1;
}

static void block(smtpc_txn *t)
{
	t->blocked = pending_octets(t);
	if (t->blocked == 0)
		t->stalled = 1; /* full downstream of the core: one send round */
}

static size_t core_write(void *ctx, const void *data, size_t len)
{
	return smtpc_body_write(ctx, data, len);
}

void smtpc_txn_set_writer(smtpc_txn *t, size_t (*fn)(void *ctx, const void *data, size_t len),
			  void *ctx)
{
	if (t == NULL)
		return;
	t->write = fn != NULL ? fn : core_write;
	t->write_ctx = fn != NULL ? ctx : (void *)t->c;
}

static smtpc_err core_over(const smtpc_txn *t)
{
	smtpc_err e = smtpc_error(t->c);

	if (e != SMTPC_ERR_OK)
		return e;
	return (smtpc_want(t->c) & SMTPC_WANT_CLOSED) ? SMTPC_ERR_CLOSED : SMTPC_ERR_OK;
}

static void clear_reply(smtpc_txn_reply *r)
{
	memset(r, 0, sizeof *r);
	r->text = empty;
}

/* Copies a reply, its text into the message's text area (truncated, or ""
 * when there is no room). */
static void keep(smtpc_txn_msg *m, smtpc_txn_reply *dst, const smtpc_reply *r)
{
	size_t n = r->len, room;

	dst->code = r->code;
	dst->esc = r->esc;
	dst->text = empty;
	dst->len = 0;
	room =
	    m->text != NULL && m->p_.text_used < m->text_size ? m->text_size - m->p_.text_used : 0;
	if (n + 1 > room) {
		if (n > 0)
			m->text_full = 1;
		if (room == 0)
			return;
		n = room - 1;
	}
	dst->text = m->text + m->p_.text_used;
	if (n > 0)
		memcpy(m->text + m->p_.text_used, r->text, n);
	m->text[m->p_.text_used + n] = '\0';
	dst->len = n;
	m->p_.text_used += n + 1;
}

static int is_2xx(unsigned code)
{
	return code / 100 == 2;
}

/* ---- queue of replies owed ------------------------------------------------------- */

static void push(smtpc_txn *t, smtpc_txn_msg *m, smtpc_cmd cmd, size_t slot, int last)
{
	struct smtpc_txn_q *e = &t->q[(t->q_head + t->q_len) % SMTPC_TXN_QUEUE];

	e->m = m;
	e->slot = slot;
	e->cmd = (unsigned char)cmd;
	e->last = (unsigned char)(last != 0);
	t->q_len++;
	if (m != NULL)
		m->p_.outstanding++;
}

static void pop(smtpc_txn *t)
{
	struct smtpc_txn_q *e = &t->q[t->q_head];

	if (e->m != NULL && e->m->p_.outstanding > 0)
		e->m->p_.outstanding--;
	t->q_head = (t->q_head + 1) % SMTPC_TXN_QUEUE;
	t->q_len--;
}

/* What an issuing call's error means for the layer. */
static int classify(smtpc_txn *t, smtpc_err e)
{
	if (e == SMTPC_ERR_OK)
		return R_ISSUED;
	switch (smtpc_err_class(e)) {
	case SMTPC_CLASS_AGAIN:
		if (e == SMTPC_ERR_NO_SPACE)
			block(t);
		return R_WAIT; /* QUEUE_FULL: replies first */
	case SMTPC_CLASS_ARGUMENT:
	case SMTPC_CLASS_POLICY:
		return R_LOCAL;
	default:
		if (e == SMTPC_ERR_PIPELINE)
			return R_WAIT;
		if ((e == SMTPC_ERR_STATE || e == SMTPC_ERR_ENDED) && core_over(t) != SMTPC_ERR_OK)
			e = core_over(t); /* the core ended: say how */
		else if ((e == SMTPC_ERR_STATE || e == SMTPC_ERR_ENDED) && t->closing)
			e = SMTPC_ERR_CLOSED; /* the server said 421: it refuses commands */
		if (t->err == SMTPC_ERR_OK)
			t->err = e; /* closing, closed, failed, or misuse: over */
		return R_FATAL;
	}
}

/* ---- deciding -------------------------------------------------------------------- */

/* The recipients accepted at RCPT get the message's deciding reply. */
static void settle_rcpts(smtpc_txn_msg *m, int delivered)
{
	size_t i;

	for (i = 0; i < m->nrcpts; i++) {
		smtpc_txn_rcpt *r = &m->rcpts[i];
		if (r->status != SMTPC_TXN_PENDING || r->rcpt.code == 0 || !is_2xx(r->rcpt.code))
			continue;
		r->data = m->reply;
		r->status = delivered ? SMTPC_TXN_ACCEPTED : SMTPC_TXN_REFUSED;
		if (delivered)
			m->accepted++;
		else
			m->refused++;
	}
}

/* Refused by reply r at stage, unless already decided. */
static void refuse(smtpc_txn_msg *m, smtpc_cmd stage, const smtpc_reply *r)
{
	if (m->status != SMTPC_TXN_PENDING)
		return;
	keep(m, &m->reply, r);
	m->stage = stage;
	m->status = SMTPC_TXN_REFUSED;
	settle_rcpts(m, 0);
}

/* Refused by the RCPT reply kept in recipient i. */
static void refuse_by_rcpt(smtpc_txn_msg *m, size_t i)
{
	if (m->status != SMTPC_TXN_PENDING)
		return;
	m->reply = m->rcpts[i].rcpt;
	m->stage = SMTPC_CMD_RCPT;
	m->status = SMTPC_TXN_REFUSED;
}

/* Refused locally, before anything was sent for it (or for its RCPTs). */
static void refuse_local(smtpc_txn_msg *m, smtpc_err e)
{
	if (m->status != SMTPC_TXN_PENDING)
		return;
	m->err = e;
	m->status = SMTPC_TXN_REFUSED;
}

/* The SMTP reply to the end of data (or to BDAT LAST). */
static void final_reply(smtpc_txn_msg *m, smtpc_cmd stage, const smtpc_reply *r)
{
	int ok = is_2xx(r->code);

	if (m->status != SMTPC_TXN_PENDING)
		return;
	keep(m, &m->reply, r);
	m->stage = stage;
	settle_rcpts(m, ok);
	if (!ok)
		m->status = SMTPC_TXN_REFUSED;
	else
		m->status = m->refused == 0 ? SMTPC_TXN_ACCEPTED : SMTPC_TXN_PARTIAL;
}

/* Everything not decided once the message is finished. */
static void sweep(smtpc_txn_msg *m, smtpc_err e)
{
	size_t i;

	if (m->status == SMTPC_TXN_PENDING) {
		m->status = SMTPC_TXN_FAILED;
		m->err = e;
	}
	for (i = 0; i < m->nrcpts; i++) {
		smtpc_txn_rcpt *r = &m->rcpts[i];
		if (r->status != SMTPC_TXN_PENDING)
			continue;
		if (m->status == SMTPC_TXN_FAILED) {
			r->status = SMTPC_TXN_FAILED;
			r->err = e;
		} else {
			r->status = SMTPC_TXN_REFUSED; /* never sent: the message was refused */
			r->data = m->reply;
			m->refused++;
		}
	}
}

static void reset_chunk(smtpc_txn *t)
{
	t->chunk_len = t->chunk_off = 0;
	t->chunk_issued = t->chunk_last = t->chunk_more = 0;
	smtpc_dot_init(&t->enc);
	t->enc.no_dots = 1;
}

/* The session is over for the layer: every message not finished fails. */
static void fail_all(smtpc_txn *t, smtpc_err e)
{
	smtpc_txn_msg *m;

	if (t->err == SMTPC_ERR_OK)
		t->err = e;
	for (m = t->head; m != NULL; m = m->p_.next) {
		m->p_.outstanding = 0;
		m->p_.finals = 0;
		m->p_.phase = PH_OVER;
		sweep(m, t->err);
	}
	t->q_len = 0;
	t->out = t->todo = t->start_due = NULL;
	t->blocked = 0;
	t->stalled = 0;
	reset_chunk(t);
}

/* Stops sending for m (refused before the end of its data). */
static void abandon(smtpc_txn *t, smtpc_txn_msg *m)
{
	m->p_.phase = PH_OVER;
	if (t->out == m) {
		t->out = NULL;
		reset_chunk(t);
	}
	if (m->p_.flags & MF_MAIL_SENT)
		t->need_rset = 1; /* the transaction may be open: RFC 5321 4.1.1.5 */
}

/* ---- setup ------------------------------------------------------------------------- */

smtpc_err smtpc_txn_init(smtpc_txn *t, smtpc_conn *c, const smtpc_txn_config *cfg, void *chunk,
			 size_t chunk_len)
{
	if (t == NULL || c == NULL)
		return SMTPC_ERR_NULL_ARG;
	if (smtpc_body_stats(c) == NULL)
		return SMTPC_ERR_ROLE; /* a server, or an init that failed */
	memset(t, 0, sizeof *t);
	t->c = c;
	if (cfg != NULL)
		t->cfg = *cfg;
	if (chunk != NULL && chunk_len > 0) {
		t->chunk = chunk;
		t->chunk_cap = chunk_len;
	}
	smtpc_txn_set_writer(t, NULL, NULL);
	reset_chunk(t);
	return SMTPC_ERR_OK;
}

/* The reason the layer can take no more messages, OK while it can. */
static smtpc_err over(const smtpc_txn *t)
{
	smtpc_err e;

	if (t->err != SMTPC_ERR_OK)
		return t->err;
	e = core_over(t);
	if (e != SMTPC_ERR_OK)
		return e;
	return t->closing ? SMTPC_ERR_CLOSED : SMTPC_ERR_OK;
}

smtpc_err smtpc_txn_error(const smtpc_txn *t)
{
	return t != NULL ? over(t) : SMTPC_ERR_NULL_ARG;
}

/* Nonzero when the areas [a, a+an) and [b, b+bn) have an octet in common. */
static int overlap(const void *a, size_t an, const void *b, size_t bn)
{
	uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;

	return a != NULL && b != NULL && an > 0 && bn > 0 && x < y + bn && y < x + an;
}

/* SMTPC_ERR_STATE when m is in the layer already, or when its recipients or
 * its text area are (in part) those of a message in the layer: results are
 * written there, and two messages would report each other's. (A copy of a
 * queued message, with recipients and text of its own, is a new message.) */
static smtpc_err shared(const smtpc_txn *t, const smtpc_txn_msg *m)
{
	const smtpc_txn_msg *q;

	for (q = t->head; q != NULL; q = q->p_.next) {
		if (q == m ||
		    overlap(q->rcpts, q->nrcpts * sizeof *q->rcpts, m->rcpts,
			    m->nrcpts * sizeof *m->rcpts) ||
		    overlap(q->text, q->text_size, m->text, m->text_size))
			return SMTPC_ERR_STATE;
	}
	return SMTPC_ERR_OK;
}

smtpc_err smtpc_txn_add(smtpc_txn *t, smtpc_txn_msg *m)
{
	smtpc_err e;
	size_t i;

	if (t == NULL || m == NULL || m->from == NULL || m->rcpts == NULL)
		return SMTPC_ERR_NULL_ARG;
	if (m->nrcpts == 0)
		return SMTPC_ERR_SEQUENCE;
	if (m->nrcpts > 65535u) /* the core numbers RCPTs in 16 bits */
		return SMTPC_ERR_BAD_PARAM;
	for (i = 0; i < m->nrcpts; i++) {
		if (m->rcpts[i].addr == NULL)
			return SMTPC_ERR_NULL_ARG;
	}
	e = shared(t, m);
	if (e != SMTPC_ERR_OK)
		return e;
	e = over(t);
	if (e != SMTPC_ERR_OK)
		return e;
	m->status = SMTPC_TXN_PENDING;
	m->err = SMTPC_ERR_OK;
	m->stage = SMTPC_CMD_NONE;
	m->method = SMTPC_CMD_NONE;
	clear_reply(&m->reply);
	m->accepted = m->refused = 0;
	m->sent = 0;
	m->text_full = 0;
	memset(&m->p_, 0, sizeof m->p_);
	m->p_.flags = MF_QUEUED;
	for (i = 0; i < m->nrcpts; i++) {
		smtpc_txn_rcpt *r = &m->rcpts[i];
		r->status = SMTPC_TXN_PENDING;
		r->err = SMTPC_ERR_OK;
		clear_reply(&r->rcpt);
		clear_reply(&r->data);
		r->wire_ = 0;
	}
	if (t->tail != NULL)
		t->tail->p_.next = m;
	else
		t->head = m;
	t->tail = m;
	if (t->todo == NULL)
		t->todo = m;
	return SMTPC_ERR_OK;
}

/* ---- issuing ---------------------------------------------------------------------- */

/* Checks, chooses DATA or BDAT, issues MAIL. */
static int start(smtpc_txn *t, smtpc_txn_msg *m)
{
	const smtpc_caps *k = smtpc_get_caps(t->c);
	smtpc_mail_opts mo = m->opts;
	int raw = mo.body == SMTPC_BODY_BINARYMIME, bdat, r;
	smtpc_err e;

	bdat = raw || ((k->ext & SMTPC_EXT_CHUNKING) && !t->cfg.no_chunking && !t->cfg.lmtp &&
		       t->chunk != NULL);
	if (raw && t->chunk == NULL) {
		refuse_local(m, SMTPC_ERR_BUFFER_SMALL);
		return R_LOCAL;
	}
	if (raw && t->cfg.lmtp) { /* LMTP goes by DATA here */
		refuse_local(m, SMTPC_ERR_NOT_OFFERED);
		return R_LOCAL;
	}
	if (m->size.known && !raw && m->size.longest > 998) { /* RFC 5321 4.5.3.1.6 */
		refuse_local(m, SMTPC_ERR_TOO_LONG);
		return R_LOCAL;
	}
	mo.size = 0;
	if (m->size.known && (k->ext & SMTPC_EXT_SIZE)) /* RFC 1870 5: text octets */
		mo.size = raw ? m->size.octets : m->size.text;
	if (mo.body == SMTPC_BODY_NONE && m->size.has_8bit && (k->ext & SMTPC_EXT_8BITMIME))
		mo.body = SMTPC_BODY_8BITMIME;
	if (mo.requiretls && !smtpc_is_secure(t->c)) { /* RFC 8689 4.1: only over TLS */
		refuse_local(m, SMTPC_ERR_STATE);
		return R_LOCAL;
	}
	if (!may_issue(t))
		return R_WAIT;
	e = smtpc_mail(t->c, m->from, &mo);
	r = classify(t, e);
	if (r == R_LOCAL)
		refuse_local(m, e);
	if (r != R_ISSUED)
		return r;
	push(t, m, SMTPC_CMD_MAIL, 0, 0);
	m->p_.flags |= MF_MAIL_SENT | (bdat ? MF_BDAT : 0u) | (raw ? MF_RAW : 0u);
	m->method = bdat ? SMTPC_CMD_BDAT : SMTPC_CMD_DATA;
	m->p_.phase = PH_ENVELOPE;
	reset_chunk(t);
	return R_ISSUED;
}

static int issue_rset(smtpc_txn *t)
{
	int r;

	if (!may_issue(t))
		return R_WAIT;
	r = classify(t, smtpc_rset(t->c));
	if (r == R_ISSUED) {
		push(t, NULL, SMTPC_CMD_RSET, 0, 0);
		t->need_rset = 0;
	}
	return r;
}

/* MAIL is out: RCPTs, then DATA (or the wait for the envelope). Returns
 * nonzero when something changed. */
static int envelope(smtpc_txn *t, smtpc_txn_msg *m)
{
	smtpc_err e;
	int r;

	while (!(m->p_.flags & MF_RCPT_DONE)) {
		smtpc_txn_rcpt *rc;
		if (m->p_.flags &
		    MF_MAIL_NO) { /* refused (seen before any RCPT without pipelining) */
			abandon(t, m);
			return 1;
		}
		if (!may_issue(t))
			return 0;
		rc = &m->rcpts[m->p_.rcpt_next];
		e = smtpc_rcpt(t->c, rc->addr, &rc->opts);
		r = classify(t, e);
		if (r == R_WAIT)
			return 0;
		if (r == R_FATAL)
			return 1;
		if (r == R_ISSUED) {
			rc->wire_ = (unsigned)m->p_.issued++;
			push(t, m, SMTPC_CMD_RCPT, m->p_.rcpt_next, 0);
		} else {
			rc->status = SMTPC_TXN_REFUSED;
			rc->err = e;
			m->refused++;
		}
		if (++m->p_.rcpt_next == m->nrcpts)
			m->p_.flags |= MF_RCPT_DONE;
	}
	if (m->p_.issued == 0) { /* every recipient refused before RCPT */
		size_t i;
		for (i = 0; i < m->nrcpts && m->rcpts[i].err == SMTPC_ERR_OK; i++)
			;
		refuse_local(m, i < m->nrcpts ? m->rcpts[i].err : SMTPC_ERR_BAD_ADDRESS);
		m->stage = SMTPC_CMD_RCPT;
		abandon(t, m);
		return 1;
	}
	if (m->p_.flags & MF_BDAT) {
		m->p_.phase = PH_WAIT;
		return 1;
	}
	if (m->status != SMTPC_TXN_PENDING) {
		abandon(t, m); /* refused already (MAIL, or every RCPT): no DATA */
		return 1;
	}
	if (!may_issue(t))
		return 0;
	r = classify(t, smtpc_data(t->c));
	if (r == R_WAIT)
		return 0;
	if (r == R_ISSUED) {
		push(t, m, SMTPC_CMD_DATA, 0, 0);
		m->p_.phase = PH_WAIT;
	} else if (r == R_LOCAL) {
		refuse_local(m, SMTPC_ERR_SEQUENCE);
		abandon(t, m);
	}
	return 1;
}

/* Moves the issued chunk's octets into the transmit buffer. */
static int copy_chunk(smtpc_txn *t, smtpc_txn_msg *m)
{
	size_t n = t->write(t->write_ctx, t->chunk + t->chunk_off, t->chunk_len - t->chunk_off);

	t->chunk_off += n;
	m->sent += n;
	if (t->chunk_off < t->chunk_len) {
		if (smtpc_error(t->c) == SMTPC_ERR_OK)
			block(t);
		return 0;
	}
	t->chunk_issued = 0;
	t->chunk_len = t->chunk_off = 0;
	if (t->chunk_last) {
		t->chunk_last = 0;
		m->p_.phase = PH_END;
		t->out = NULL;
	}
	return 1;
}

/* Issues the staged octets as a chunk. */
static int issue_chunk(smtpc_txn *t, smtpc_txn_msg *m, int last)
{
	int r;

	if (!may_issue(t))
		return R_WAIT;
	r = classify(t, smtpc_bdat(t->c, t->chunk_len, last));
	if (r == R_LOCAL && t->err == SMTPC_ERR_OK)
		t->err = SMTPC_ERR_STATE; /* cannot happen after MAIL and RCPT were accepted */
	if (r != R_ISSUED)
		return r;
	push(t, m, SMTPC_CMD_BDAT, m->p_.chunks++, last);
	t->chunk_issued = 1;
	t->chunk_last = last;
	t->chunk_off = 0;
	copy_chunk(t, m);
	return R_ISSUED;
}

/* The message's data: returns nonzero when something changed. */
static int body(smtpc_txn *t, smtpc_txn_msg *m)
{
	int r;

	if (!(m->p_.flags & MF_BDAT)) {
		smtpc_err e;
		if (!(m->p_.flags & MF_INPUT_END))
			return 0; /* the caller's turn */
		e = smtpc_body_end(t->c);
		r = classify(t, e);
		if (r == R_WAIT)
			return 0;
		if (r != R_ISSUED)
			return 1;
		m->sent = smtpc_body_stats(t->c)->total_out;
		push(t, m, SMTPC_CMD_DATA_END, 0, 0);
		m->p_.finals = t->cfg.lmtp ? m->p_.rcpt_ok : 0;
		m->p_.phase = PH_END;
		t->out = NULL;
		return 1;
	}
	if (t->chunk_issued)
		return copy_chunk(t, m);
	if (m->status != SMTPC_TXN_PENDING) { /* a chunk was refused: no more (RFC 3030 2) */
		abandon(t, m);
		return 1;
	}
	if (t->chunk_more) { /* full, and more octets wait: out it goes */
		r = issue_chunk(t, m, 0);
		if (r == R_ISSUED)
			t->chunk_more = 0;
		return r != R_WAIT;
	}
	if (!(m->p_.flags & MF_INPUT_END))
		return 0;
	if (!(m->p_.flags & MF_RAW)) {
		t->enc.next_in = NULL;
		t->enc.avail_in = 0;
		t->enc.next_out = t->chunk + t->chunk_len;
		t->enc.avail_out = t->chunk_cap - t->chunk_len;
		r = smtpc_dot_finish(&t->enc);
		t->chunk_len = (size_t)(t->enc.next_out - t->chunk);
		if (!r) /* the end of the text did not fit: this chunk first */
			return issue_chunk(t, m, 0) != R_WAIT;
	}
	return issue_chunk(t, m, 1) != R_WAIT; /* "BDAT 0 LAST" only for no text at all */
}

/* BDAT: after the MAIL and RCPT replies, the body or the end. */
static int envelope_answered(smtpc_txn *t, smtpc_txn_msg *m)
{
	if (m->p_.outstanding > 0)
		return 0;
	if (t->closing) { /* a 421 answered the envelope: no chunk can follow */
		if (t->err == SMTPC_ERR_OK)
			t->err = SMTPC_ERR_CLOSED;
		return 1;
	}
	if (m->status == SMTPC_TXN_PENDING && m->p_.rcpt_ok > 0) {
		m->p_.phase = PH_BODY;
		return 1;
	}
	abandon(t, m); /* MAIL or every RCPT refused: decided by their replies */
	return 1;
}

/* Does what can be done now. (A core closed without an error is seen by
 * smtpc_txn_next before it waits.) */
static void pump(smtpc_txn *t)
{
	smtpc_err e = t->err != SMTPC_ERR_OK ? t->err : smtpc_error(t->c);

	for (;;) {
		smtpc_txn_msg *m = t->out;
		int r;

		if (e == SMTPC_ERR_OK)
			e = t->err;	 /* set by a command that failed for good */
		if (e != SMTPC_ERR_OK) { /* a 421 alone still lets replies come */
			if (t->head != NULL)
				fail_all(t, e);
			return;
		}
		if (is_blocked(t))
			return;
		if (m == NULL) {
			m = t->todo;
			if (m == NULL || t->start_due != NULL)
				return;
			if (t->closing) { /* 421: nothing more starts */
				for (; m != NULL; m = m->p_.next)
					sweep(m, SMTPC_ERR_CLOSED);
				t->todo = NULL;
				return;
			}
			if (t->need_rset) {
				if (issue_rset(t) != R_ISSUED)
					return;
				continue;
			}
			r = start(t, m);
			if (r == R_WAIT)
				return;
			if (r == R_FATAL)
				continue;
			t->todo = m->p_.next;
			if (r == R_ISSUED) {
				t->out = m;
				t->start_due = m;
			}
			continue;
		}
		switch (m->p_.phase) {
		case PH_ENVELOPE:
			r = envelope(t, m);
			break;
		case PH_WAIT:
			r = (m->p_.flags & MF_BDAT) ? envelope_answered(t, m) : 0;
			break;
		case PH_BODY:
			r = body(t, m);
			break;
		default:
			t->out = NULL;
			r = 1;
		}
		if (!r)
			return;
	}
}

/* ---- replies -------------------------------------------------------------------------- */

/* LMTP: the recipient a reply after the end of data is for. */
static smtpc_txn_rcpt *lmtp_rcpt(smtpc_txn_msg *m, unsigned index)
{
	size_t i;

	for (i = 0; i < m->nrcpts; i++) {
		smtpc_txn_rcpt *r = &m->rcpts[i];
		if (r->status == SMTPC_TXN_PENDING && is_2xx(r->rcpt.code) && r->wire_ == index)
			return r;
	}
	for (i = 0; i < m->nrcpts; i++) { /* RFC 2033 4.2: in RCPT order */
		smtpc_txn_rcpt *r = &m->rcpts[i];
		if (r->status == SMTPC_TXN_PENDING && is_2xx(r->rcpt.code))
			return r;
	}
	return NULL;
}

static void lmtp_final(smtpc_txn_msg *m, const smtpc_reply *r)
{
	smtpc_txn_rcpt *rc = lmtp_rcpt(m, r->index);
	int refusal_kept = m->stage == SMTPC_CMD_DATA_END && !is_2xx(m->reply.code);

	if (rc != NULL) {
		keep(m, &rc->data, r);
		if (is_2xx(r->code)) {
			rc->status = SMTPC_TXN_ACCEPTED;
			m->accepted++;
			if (!refusal_kept)
				m->reply = rc->data;
		} else {
			rc->status = SMTPC_TXN_REFUSED;
			m->refused++;
			if (!refusal_kept || r->code > m->reply.code)
				m->reply = rc->data; /* the worst refusal, the first among equals */
		}
		m->stage = SMTPC_CMD_DATA_END;
	}
	if (m->p_.finals > 0)
		m->p_.finals--;
	if (m->p_.finals == 0) {
		if (m->accepted == 0)
			m->status = SMTPC_TXN_REFUSED;
		else
			m->status = m->refused == 0 ? SMTPC_TXN_ACCEPTED : SMTPC_TXN_PARTIAL;
	}
}

static void on_rcpt(smtpc_txn *t, smtpc_txn_msg *m, size_t slot, const smtpc_reply *r)
{
	smtpc_txn_rcpt *rc = &m->rcpts[slot];

	(void)t;
	keep(m, &rc->rcpt, r);
	m->p_.answered++;
	if (m->status != SMTPC_TXN_PENDING) { /* refused already (MAIL) */
		rc->status = SMTPC_TXN_REFUSED;
		if (is_2xx(r->code))
			rc->data = m->reply;
		m->refused++;
		return;
	}
	if (is_2xx(r->code)) {
		m->p_.rcpt_ok++;
		return;
	}
	rc->status = SMTPC_TXN_REFUSED;
	m->refused++;
	if (m->p_.worst == 0 || r->code > m->rcpts[m->p_.worst - 1].rcpt.code)
		m->p_.worst = slot + 1;
}

/* After a reply: every RCPT answered and none accepted? */
static void check_rcpts(smtpc_txn_msg *m)
{
	if (m->status != SMTPC_TXN_PENDING || !(m->p_.flags & MF_RCPT_DONE) || m->p_.rcpt_ok > 0 ||
	    m->p_.answered < m->p_.issued || m->p_.worst == 0)
		return;
	refuse_by_rcpt(m, m->p_.worst - 1);
}

/* A reply that answers nothing while the layer works. */
static void unsolicited(smtpc_txn *t, const smtpc_reply *r)
{
	smtpc_txn_msg *m;

	if (r->code != 421) {
		smtpc_fail(t->c, SMTPC_ERR_BAD_REPLY);
		fail_all(t, SMTPC_ERR_BAD_REPLY);
		return;
	}
	t->closing = 1; /* RFC 5321 3.8: the server is going away */
	for (m = t->head; m != NULL && m != t->todo; m = m->p_.next) {
		smtpc_cmd stage = SMTPC_CMD_DATA_END;
		size_t i;
		if (m->status != SMTPC_TXN_PENDING)
			continue;
		for (i = 0; i < t->q_len; i++) { /* the first command still owed a reply */
			const struct smtpc_txn_q *e = &t->q[(t->q_head + i) % SMTPC_TXN_QUEUE];
			if (e->m == m) {
				stage = (smtpc_cmd)e->cmd;
				break;
			}
		}
		if (i == t->q_len && m->p_.phase == PH_BODY)
			stage = m->method;
		refuse(m, stage, r);
	}
	/* nothing more will be answered or sent */
	for (m = t->head; m != NULL; m = m->p_.next) {
		m->p_.outstanding = 0;
		m->p_.finals = 0;
		if (m->p_.phase != PH_QUEUED)
			m->p_.phase = PH_OVER;
	}
	t->q_len = 0;
	t->out = NULL;
	t->start_due = NULL;
	t->blocked = 0;
	t->stalled = 0;
	reset_chunk(t);
}

int smtpc_txn_on_reply(smtpc_txn *t, const smtpc_reply *r)
{
	struct smtpc_txn_q *e;
	smtpc_txn_msg *m;

	if (t == NULL || r == NULL || t->err != SMTPC_ERR_OK)
		return 0;
	if (r->cmd == SMTPC_CMD_NONE) {
		if (t->q_len == 0 && t->head == NULL)
			return 0; /* not the layer's business */
		unsolicited(t, r);
		return 1;
	}
	if (r->code == 421)
		t->closing = 1;
	switch (r->cmd) {
	case SMTPC_CMD_MAIL:
	case SMTPC_CMD_RCPT:
	case SMTPC_CMD_DATA:
	case SMTPC_CMD_DATA_END:
	case SMTPC_CMD_BDAT:
	case SMTPC_CMD_RSET:
		break;
	default:
		return 0;
	}
	if (t->q_len == 0)
		return 0;
	e = &t->q[t->q_head];
	m = e->m;
	if ((smtpc_cmd)e->cmd != r->cmd ||
	    (r->cmd == SMTPC_CMD_RCPT && r->index != m->rcpts[e->slot].wire_) ||
	    (r->cmd == SMTPC_CMD_BDAT && r->index != e->slot)) {
		/* replies out of step with the layer's commands: someone else
		 * issued commands meanwhile */
		fail_all(t, SMTPC_ERR_SEQUENCE);
		return 0;
	}
	switch (r->cmd) {
	case SMTPC_CMD_MAIL:
		if (is_2xx(r->code)) {
			m->p_.flags |= MF_MAIL_OK;
		} else {
			m->p_.flags |= MF_MAIL_NO;
			refuse(m, SMTPC_CMD_MAIL, r);
		}
		break;
	case SMTPC_CMD_RCPT:
		on_rcpt(t, m, e->slot, r);
		break;
	case SMTPC_CMD_DATA:
		if (r->code == 354) {
			m->p_.phase = PH_BODY;
			if (m->status != SMTPC_TXN_PENDING || m->p_.rcpt_ok == 0) /* RFC 2920 3.1 */
				m->p_.flags |= MF_INPUT_END | MF_NOBODY;
		} else {
			refuse(m, SMTPC_CMD_DATA, r);
			abandon(t, m);
		}
		break;
	case SMTPC_CMD_BDAT:
		if (is_2xx(r->code) && t->out == m && t->chunk_issued &&
		    e->slot + 1 == m->p_.chunks) {
			/* the chunk's octets are not all in the transmit buffer
			 * yet: the server cannot have them, so this accepts
			 * nothing (as a reply that came before its command) */
			smtpc_fail(t->c, SMTPC_ERR_BAD_REPLY);
			fail_all(t, SMTPC_ERR_BAD_REPLY);
			return 1;
		}
		if (!is_2xx(r->code)) {
			refuse(m, SMTPC_CMD_BDAT, r); /* the first refused chunk decides */
			t->need_rset = 1;	      /* state indeterminate: RFC 3030 2 */
		} else if (e->last) {
			final_reply(m, SMTPC_CMD_BDAT, r);
		}
		break;
	case SMTPC_CMD_DATA_END:
		if (m->p_.flags & MF_NOBODY) {
			refuse(m, SMTPC_CMD_DATA_END, r); /* no recipient: decided already */
		} else if (!t->cfg.lmtp) {
			final_reply(m, SMTPC_CMD_DATA_END, r);
		} else {
			lmtp_final(m, r);
			if (m->p_.finals > 0)
				return 1; /* LMTP: more replies for this end of data */
		}
		break;
	default: /* RSET */
		break;
	}
	pop(t);
	if (m != NULL)
		check_rcpts(m);
	return 1;
}

/* ---- message octets ---------------------------------------------------------------------- */

static int body_wanted(const smtpc_txn *t)
{
	const smtpc_txn_msg *m = t->out;

	if (m == NULL || m->p_.phase != PH_BODY || (m->p_.flags & MF_INPUT_END) ||
	    m->status != SMTPC_TXN_PENDING || t->blocked != 0 || t->stalled)
		return 0;
	if (m->p_.flags & MF_BDAT) /* a full chunk waits for more octets or the end */
		return !t->chunk_issued && !t->chunk_more;
	return 1;
}

/* The message's octets are not the ones measured (its SIZE=, its BODY= and
 * the line check would be wrong): the data must not be ended, and the
 * connection, in the middle of it, can carry nothing else. */
static smtpc_err mismatch(smtpc_txn *t)
{
	fail_all(t, SMTPC_ERR_BAD_PARAM);
	return SMTPC_ERR_BAD_PARAM;
}

static size_t take_octets(smtpc_txn *t, smtpc_txn_msg *m, const void *data, size_t len)
{
	size_t n;

	if (!(m->p_.flags & MF_BDAT)) {
		n = t->write(t->write_ctx, data, len);
		m->sent = smtpc_body_stats(t->c)->total_out;
		if (n < len && smtpc_error(t->c) == SMTPC_ERR_OK)
			block(t);
		return n;
	}
	if (t->chunk_len == t->chunk_cap) {
		t->chunk_more = len > 0; /* the chunk goes out, then more */
		return 0;
	}
	if (m->p_.flags & MF_RAW) {
		n = t->chunk_cap - t->chunk_len;
		if (n > len)
			n = len;
		memcpy(t->chunk + t->chunk_len, data, n);
		t->chunk_len += n;
		return n;
	}
	t->enc.next_in = data;
	t->enc.avail_in = len;
	t->enc.next_out = t->chunk + t->chunk_len;
	t->enc.avail_out = t->chunk_cap - t->chunk_len;
	smtpc_dot_encode(&t->enc);
	t->chunk_len = (size_t)(t->enc.next_out - t->chunk);
	n = len - t->enc.avail_in;
	t->enc.next_in = NULL;
	t->enc.avail_in = 0;
	return n;
}

size_t smtpc_txn_write(smtpc_txn *t, const void *data, size_t len)
{
	smtpc_txn_msg *m;
	size_t n;

	if (t == NULL || (data == NULL && len != 0) || !body_wanted(t))
		return 0;
	m = t->out;
	if (m->size.known && len > m->size.octets - m->p_.given) {
		if (m->p_.given == m->size.octets) { /* more octets than measured */
			mismatch(t);
			return 0;
		}
		len = (size_t)(m->size.octets - m->p_.given); /* up to the measured end */
	}
	n = take_octets(t, m, data, len);
	m->p_.given += n;
	return n;
}

smtpc_err smtpc_txn_end(smtpc_txn *t)
{
	smtpc_txn_msg *m;
	int high;

	if (t == NULL)
		return SMTPC_ERR_NULL_ARG;
	m = t->out;
	if (m == NULL || m->p_.phase != PH_BODY || (m->p_.flags & MF_INPUT_END) ||
	    m->status != SMTPC_TXN_PENDING)
		return SMTPC_ERR_STATE;
	if (m->size.known && !(m->p_.flags & MF_NOBODY)) {
		high = (m->p_.flags & MF_RAW)	 ? 0
		       : (m->p_.flags & MF_BDAT) ? t->enc.has_8bit
						 : smtpc_body_stats(t->c)->has_8bit;
		if (m->p_.given != m->size.octets || (high && !m->size.has_8bit))
			return mismatch(t); /* fewer octets, or 8-bit ones not measured */
	}
	m->p_.flags |= MF_INPUT_END;
	return SMTPC_ERR_OK;
}

int smtpc_txn_in_body(const smtpc_txn *t)
{
	return t != NULL && t->out != NULL && t->out->p_.phase == PH_BODY &&
	       !(t->out->p_.flags & MF_NOBODY);
}

void smtpc_txn_abort(smtpc_txn *t, smtpc_err e)
{
	if (t == NULL)
		return;
	fail_all(t, e != SMTPC_ERR_OK ? e : SMTPC_ERR_STATE);
}

/* ---- the step ------------------------------------------------------------------------------ */

static int finished(const smtpc_txn *t, const smtpc_txn_msg *m)
{
	return m->status != SMTPC_TXN_PENDING && m->p_.outstanding == 0 && m != t->out &&
	       m != t->start_due;
}

smtpc_txn_event smtpc_txn_next(smtpc_txn *t, smtpc_txn_msg **msg)
{
	smtpc_txn_msg *m;
	int round;

	if (msg != NULL)
		*msg = NULL;
	if (t == NULL)
		return SMTPC_TXN_CLOSED;
	for (round = 0;; round++) {
		pump(t);
		m = t->head;
		if (m != NULL && finished(t, m)) {
			sweep(m, SMTPC_ERR_CLOSED);
			t->head = m->p_.next;
			if (t->head == NULL)
				t->tail = NULL;
			m->p_.flags &= ~MF_QUEUED;
			m->p_.next = NULL;
			if (msg != NULL)
				*msg = m;
			return SMTPC_TXN_DONE;
		}
		if (t->start_due != NULL) {
			if (msg != NULL)
				*msg = t->start_due;
			t->start_due = NULL;
			return SMTPC_TXN_START;
		}
		if (t->head == NULL)
			return over(t) != SMTPC_ERR_OK ? SMTPC_TXN_CLOSED : SMTPC_TXN_IDLE;
		if (body_wanted(t)) {
			if (msg != NULL)
				*msg = t->out;
			return SMTPC_TXN_BODY;
		}
		if (t->stalled) {
			t->stalled = 0; /* the next call tries the writer again */
			return SMTPC_TXN_SEND;
		}
		if (t->blocked != 0)
			return SMTPC_TXN_SEND;
		if (core_over(t) != SMTPC_ERR_OK) { /* closed: no reply will come */
			fail_all(t, core_over(t));
			continue;
		}
		if (t->q_len > 0 && smtpc_pending(t->c) == 0) {
			/* the layer waits for replies the core does not: the
			 * session has ended (a 421: RFC 5321 3.8, no more replies,
			 * nothing to wait for), or out of step (cfg.lmtp on a
			 * connection that is not LMTP) */
			fail_all(t, smtpc_session_end(t->c, NULL) != SMTPC_END_NONE
					? SMTPC_ERR_CLOSED
					: SMTPC_ERR_SEQUENCE);
			continue;
		}
		if (t->q_len > 0 || smtpc_pending(t->c) > 0)
			return SMTPC_TXN_READ;
		if (round > 0) /* cannot happen: fail_all leaves every message finished */
			return SMTPC_TXN_CLOSED;
		fail_all(t, SMTPC_ERR_STATE); /* nothing to wait for, nothing to do: never hang */
	}
}
