/*
 * txn.c - the transaction layer over the POSIX adapter.
 *
 * Built on the public APIs of smtpc_posix.h and smtpc_txn.h only. The
 * connection's callbacks are wrapped: each runs the caller's, then the
 * reply callback hands the reply to the layer, and every callback that can
 * change the layer's view (reply, error, close) runs `drive`, which pulls the
 * layer's events: message octets from the body callback into the layer,
 * start, done, idle. Commands and octets queued there go out when the
 * adapter writes next (at the end of its readable step, or on the next
 * writable one), so a reply that frees the next message's data and its
 * next MAIL gets them out in the same write.
 *
 * The blocking loop is a poll() over the embedding calls: every reply is
 * pumped as soon as it is read, so replies never wait behind a blocking
 * flush.
 *
 * A message whose octets cannot be read is never ended on the wire: the
 * layer is aborted and the connection closed (outside the callbacks) so
 * the server drops the part it has.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "smtpc_posix_txn.h"

struct smtpc_posix_txn {
	smtpc_posix *p;
	smtpc_txn t;
	smtpc_posix_txn_opts o;
	smtpc_posix_callbacks cb;     /* the caller's */
	long long (*now)(void *user); /* the caller's clock, called with cb.user */
	unsigned char *chunk;
	smtpc_txn_msg *span_msg; /* the message the piece below belongs to */
	const unsigned char *span;
	size_t span_len;
	int depth;	/* drive is running */
	int in_cb;	/* inside the adapter's callbacks: no adapter calls */
	int must_close; /* a message cannot be completed */
	int idle_told;	/* the idle callback ran since the last message was added */
};

void smtpc_posix_txn_opts_default(smtpc_posix_txn_opts *o)
{
	if (o != NULL)
		memset(o, 0, sizeof *o);
}

/* Pulls the layer's events until it waits for the wire. */
static smtpc_txn_event drive(smtpc_posix_txn *pt)
{
	smtpc_txn_event ev;

	pt->depth++;
	for (;;) {
		smtpc_txn_msg *m;
		ev = smtpc_txn_next(&pt->t, &m);
		if (ev == SMTPC_TXN_BODY) {
			size_t n;
			if (pt->span_msg != m) {
				pt->span_msg = m;
				pt->span_len = 0;
			}
			if (pt->span_len == 0) {
				int rc = pt->o.body(pt->o.user, m, &pt->span, &pt->span_len);
				if (rc == 0) {
					smtpc_txn_end(&pt->t);
					pt->span_msg = NULL;
					continue;
				}
				if (rc < 0 || pt->span == NULL || pt->span_len == 0) {
					pt->span_msg = NULL;
					pt->span_len = 0;
					smtpc_txn_abort(&pt->t, SMTPC_ERR_IO);
					pt->must_close = 1;
					continue;
				}
			}
			n = smtpc_txn_write(&pt->t, pt->span, pt->span_len);
			pt->span += n;
			pt->span_len -= n;
			continue;
		}
		if (ev == SMTPC_TXN_START) {
			if (pt->o.start)
				pt->o.start(pt->o.user, m);
			continue;
		}
		if (ev == SMTPC_TXN_DONE) {
			if (pt->span_msg == m)
				pt->span_msg = NULL;
			if (pt->o.done)
				pt->o.done(pt->o.user, m);
			continue;
		}
		break;
	}
	if (ev == SMTPC_TXN_CLOSED && !smtpc_posix_done(pt->p) &&
	    smtpc_waiting_for(smtpc_posix_core(pt->p)) == SMTPC_WAIT_DATA_BLOCK)
		pt->must_close = 1; /* the layer stopped in the middle of the data: anything
				       written now would become message text */
	if ((ev == SMTPC_TXN_IDLE || ev == SMTPC_TXN_CLOSED) && !pt->idle_told) {
		pt->idle_told = 1;
		if (pt->o.idle)
			pt->o.idle(pt->o.user, smtpc_txn_error(&pt->t));
	}
	pt->depth--;
	return ev;
}

/* ---- the connection's callbacks, wrapped ---------------------------------------- */

/* Each runs the caller's callback with in_cb counted: the caller may add
 * messages there, which then only reach the transmit buffer (the adapter
 * writes when its callbacks return). */
#define WRAP(name, params, field, args)                                                            \
	static void name params                                                                    \
	{                                                                                          \
		smtpc_posix_txn *pt = user;                                                        \
		if (pt->cb.field) {                                                                \
			pt->in_cb++;                                                               \
			pt->cb.field args;                                                         \
			pt->in_cb--;                                                               \
		}                                                                                  \
	}

WRAP(w_connect, (void *user), connect, (pt->cb.user))
WRAP(w_receive, (void *user, const unsigned char *data, size_t len), receive,
     (pt->cb.user, data, len))
WRAP(w_send, (void *user, const unsigned char *data, size_t len), send, (pt->cb.user, data, len))
WRAP(w_command, (void *user, smtpc_cmd cmd, const char *line, size_t len, int secret), command,
     (pt->cb.user, cmd, line, len, secret))
WRAP(w_line, (void *user, const smtpc_line *line), line, (pt->cb.user, line))
WRAP(w_end, (void *user), end, (pt->cb.user))
WRAP(w_error, (void *user, smtpc_err err), error, (pt->cb.user, err))
WRAP(w_timeout, (void *user), timeout, (pt->cb.user))
WRAP(w_secure, (void *user), secure, (pt->cb.user))

static long long w_now(void *user)
{
	smtpc_posix_txn *pt = user;

	return pt->now(pt->cb.user);
}

static void w_reply(void *user, const smtpc_reply *reply)
{
	smtpc_posix_txn *pt = user;
	int ours = smtpc_txn_on_reply(&pt->t, reply); /* first: the caller then sees
							 the layer up to date */

	pt->in_cb++;
	if (pt->cb.reply)
		pt->cb.reply(pt->cb.user, reply);
	if (ours && pt->depth == 0)
		drive(pt);
	pt->in_cb--;
}

static void w_close(void *user)
{
	smtpc_posix_txn *pt = user;

	pt->in_cb++;
	if (pt->cb.close)
		pt->cb.close(pt->cb.user);
	/* the socket is gone, whatever the core knows */
	smtpc_txn_abort(&pt->t, smtpc_posix_error(pt->p) != SMTPC_ERR_OK ? smtpc_posix_error(pt->p)
									 : SMTPC_ERR_CLOSED);
	if (pt->depth == 0)
		drive(pt);
	pt->in_cb--;
}

static size_t body_write(void *ctx, const void *data, size_t len)
{
	return smtpc_posix_body_write(ctx, data, len);
}

/* ---- setup ------------------------------------------------------------------------- */

smtpc_posix_txn *smtpc_posix_txn_new(const smtpc_posix_opts *po, const smtpc_posix_txn_opts *to)
{
	smtpc_posix_txn *pt;
	smtpc_posix_opts o;

	if (to == NULL || to->body == NULL)
		return NULL;
	pt = calloc(1, sizeof *pt);
	if (pt == NULL)
		return NULL;
	pt->o = *to;
	pt->idle_told = 1; /* idle is told once the messages added are finished */
	if (pt->o.chunk_size == 0)
		pt->o.chunk_size = 256u * 1024u;
	if (po != NULL)
		o = *po;
	else
		smtpc_posix_opts_default(&o);
	pt->cb = o.cb;
	pt->now = o.now;
	o.now = pt->now != NULL ? w_now : NULL; /* the callbacks' user is pt now */
	o.cb.user = pt;
	o.cb.connect = w_connect;
	o.cb.receive = pt->cb.receive ? w_receive : NULL;
	o.cb.send = pt->cb.send ? w_send : NULL;
	o.cb.command = pt->cb.command ? w_command : NULL;
	o.cb.line = pt->cb.line ? w_line : NULL;
	o.cb.reply = w_reply;
	o.cb.end = w_end;
	o.cb.close = w_close;
	o.cb.error = w_error;
	o.cb.timeout = w_timeout;
	o.cb.secure = w_secure;
	pt->chunk = malloc(pt->o.chunk_size);
	pt->p = smtpc_posix_new(&o);
	if (pt->chunk == NULL || pt->p == NULL ||
	    smtpc_txn_init(&pt->t, smtpc_posix_core(pt->p), &pt->o.txn, pt->chunk,
			   pt->o.chunk_size) != SMTPC_ERR_OK) {
		smtpc_posix_txn_free(pt);
		return NULL;
	}
	/* message data through the connection's layer: one copy under TLS */
	smtpc_txn_set_writer(&pt->t, body_write, pt->p);
	return pt;
}

void smtpc_posix_txn_free(smtpc_posix_txn *pt)
{
	if (pt == NULL)
		return;
	smtpc_posix_free(pt->p); /* closes without callbacks */
	free(pt->chunk);
	free(pt);
}

smtpc_posix *smtpc_posix_txn_posix(smtpc_posix_txn *pt)
{
	return pt != NULL ? pt->p : NULL;
}

smtpc_txn *smtpc_posix_txn_layer(smtpc_posix_txn *pt)
{
	return pt != NULL ? &pt->t : NULL;
}

/* Nonzero inside the callbacks (the layer's or the connection's), where
 * the adapter's own steps are refused: they would re-enter it. */
static int inside(const smtpc_posix_txn *pt)
{
	return pt->depth > 0 || pt->in_cb > 0;
}

/* Outside the callbacks: what drive queued goes to the socket now (for a
 * plain socket one send(), no wait for POLLOUT first; through a transport
 * the plaintext reaches the TLS engine, whose wants the fd then shows).
 * Returns nonzero when octets went out: the layer may have more to give. */
static int flush_out(smtpc_posix_txn *pt)
{
	smtpc_conn *c = smtpc_posix_core(pt->p);
	size_t n, left;

	smtpc_send_buf(c, &n);
	if (n == 0 || !smtpc_is_greeted(c) || smtpc_posix_done(pt->p))
		return 0;
	smtpc_posix_writable(pt->p);
	smtpc_send_buf(c, &left);
	return left < n && !smtpc_posix_done(pt->p);
}

/* Events the core holds that no callback has seen: through a transport a
 * write step also reads records into the core, and only the readable step
 * pumps them. Returns nonzero when it pumped. */
static int pump_held(smtpc_posix_txn *pt)
{
	smtpc_conn *c = smtpc_posix_core(pt->p);

	if (smtpc_posix_done(pt->p) || !smtpc_is_greeted(c) || !(smtpc_want(c) & SMTPC_WANT_EVENT))
		return 0;
	smtpc_posix_readable(pt->p);
	return 1;
}

/* After a step of the adapter: the layer's events, what they queued, and
 * the close a message that cannot be completed needs. */
static void after(smtpc_posix_txn *pt)
{
	if (pt->depth > 0)
		return;
	for (;;) {
		drive(pt);
		if (pt->must_close) {
			pt->must_close = 0;
			smtpc_posix_close(pt->p); /* the close callback finishes the layer */
			return;
		}
		if (!flush_out(pt) && !pump_held(pt)) /* room again, or replies: go on */
			return;
	}
}

smtpc_err smtpc_posix_txn_add(smtpc_posix_txn *pt, smtpc_txn_msg *m)
{
	smtpc_err e;

	if (pt == NULL)
		return SMTPC_ERR_NULL_ARG;
	e = smtpc_txn_add(&pt->t, m);
	if (e == SMTPC_ERR_OK) {
		pt->idle_told = 0;
		if (pt->depth > 0 || smtpc_posix_done(pt->p))
			return e; /* drive picks it up */
		if (pt->in_cb > 0)
			drive(pt); /* the adapter writes when its callbacks return */
		else
			after(pt); /* MAIL out now */
	}
	return e;
}

/* ---- event loop ------------------------------------------------------------------------ */

void smtpc_posix_txn_readable(smtpc_posix_txn *pt)
{
	if (pt == NULL || inside(pt))
		return;
	smtpc_posix_readable(pt->p);
	after(pt);
}

void smtpc_posix_txn_writable(smtpc_posix_txn *pt)
{
	if (pt == NULL || inside(pt))
		return;
	smtpc_posix_writable(pt->p);
	after(pt);
}

void smtpc_posix_txn_timer(smtpc_posix_txn *pt)
{
	if (pt == NULL || inside(pt))
		return;
	smtpc_posix_timer(pt->p);
	after(pt);
}

/* ---- blocking ------------------------------------------------------------------------- */

smtpc_err smtpc_posix_txn_run(smtpc_posix_txn *pt)
{
	if (pt == NULL)
		return SMTPC_ERR_NULL_ARG;
	if (inside(pt))
		return SMTPC_ERR_STATE;
	for (;;) {
		struct pollfd pfd;
		smtpc_txn_event ev;
		long t;
		int rc;

		ev = drive(pt);
		if (pt->must_close) {
			pt->must_close = 0;
			smtpc_posix_close(pt->p);
			continue;
		}
		if (ev == SMTPC_TXN_IDLE)
			return SMTPC_ERR_OK;
		if (ev == SMTPC_TXN_CLOSED)
			return smtpc_txn_error(&pt->t);
		if (flush_out(pt) || smtpc_posix_done(pt->p) || pump_held(pt))
			continue; /* room again, or replies: the layer goes on */
		pfd.fd = smtpc_posix_fd(pt->p);
		pfd.events = smtpc_posix_events(pt->p);
		pfd.revents = 0;
		t = smtpc_posix_timeout(pt->p);
		if (pfd.fd < 0 || (pfd.events == 0 && t < 0)) {
			/* nothing would ever wake us: never hang */
			smtpc_txn_abort(&pt->t, smtpc_posix_done(pt->p) ? SMTPC_ERR_CLOSED
									: SMTPC_ERR_STATE);
			pt->must_close = !smtpc_posix_done(pt->p);
			continue;
		}
		rc = poll(&pfd, 1, t < 0 ? -1 : (int)(t > 0x7fffffffL ? 0x7fffffffL : t));
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			smtpc_txn_abort(&pt->t, SMTPC_ERR_IO);
			pt->must_close = 1;
			continue;
		}
		if (pfd.revents & (POLLIN | POLLERR | POLLHUP))
			smtpc_posix_readable(pt->p);
		if (pfd.revents & POLLOUT)
			smtpc_posix_writable(pt->p);
		smtpc_posix_timer(pt->p);
	}
}
