/*
 * smtpc_posix_txn.h - the transaction layer (smtpc_txn.h) over the POSIX
 * adapter: several messages over one connection, blocking or in an event
 * loop.
 *
 * CONVENTIONS
 *
 * A smtpc_posix_txn owns a smtpc_posix connection (smtpc_posix_txn_posix)
 * and a smtpc_txn layer over its core. It is built only on the public APIs
 * of smtpc_posix.h and smtpc_txn.h. It allocates the connection and the BDAT
 * chunk buffer once, in smtpc_posix_txn_new, and nothing after that.
 *
 * Use. Connect and set up the session through the connection as usual
 * (smtpc_posix_connect, EHLO, STARTTLS, AUTH, or the same from the reply
 * callback in an event loop); add messages (smtpc_posix_txn_add); then
 * either call smtpc_posix_txn_run, which blocks until every message added
 * is finished, or, in an event loop, call smtpc_posix_txn_readable,
 * smtpc_posix_txn_writable and smtpc_posix_txn_timer where you would call
 * smtpc_posix_readable, smtpc_posix_writable and smtpc_posix_timer (watch
 * smtpc_posix_fd for smtpc_posix_events and wake up after
 * smtpc_posix_timeout, as for the connection alone). End with QUIT and
 * smtpc_posix_close through the connection.
 *
 * Message octets are pulled: the body callback hands over pieces of the
 * message, borrowed, and they go from the caller's memory into the
 * transmit buffer (see smtpc_txn.h for DATA and BDAT). Each message's
 * results are final in the done callback.
 *
 * Callbacks. The connection's callbacks given in smtpc_posix_txn_new work as
 * for smtpc_posix_new; the layer takes each reply first, then the reply
 * callback sees it. The callbacks here (body, start, done, idle) run inside the
 * adapter's calls and the layer's: they may read the results and the
 * core's state, and add messages (smtpc_posix_txn_add); they must not call
 * the connection's adapter functions (smtpc_posix_*), except that idle may
 * issue QUIT on the core. From there smtpc_posix_txn_run returns
 * SMTPC_ERR_STATE and the event-loop calls do nothing: the adapter is not
 * re-entered.
 *
 * When the layer ends the session in the middle of a message's DATA (a body
 * callback error, octets that are not the measured ones), the connection is
 * closed without QUIT, so the server discards the part it has.
 */
#ifndef SMTPC_POSIX_TXN_H
#define SMTPC_POSIX_TXN_H

#include <stddef.h>

#include "smtpc_posix.h"
#include "smtpc_txn.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The next piece of m's octets: sets *data and *len (len > 0), borrowed
 * until the next call for this message or the end of the session, and
 * returns 1; returns 0 at the end of the message; -1 when the message cannot
 * be read. After -1 the message is never ended on the wire: every message
 * not finished fails (SMTPC_ERR_IO) and the connection is closed without
 * QUIT, so the server discards the part it has. A return of 1 with len 0 is
 * taken as -1.
 */
typedef int (*smtpc_posix_body_fn)(void *user, smtpc_txn_msg *m, const unsigned char **data,
				   size_t *len);

typedef struct smtpc_posix_txn_opts {
	smtpc_txn_config txn;			     /* no_pipelining, no_chunking, lmtp */
	size_t chunk_size;			     /* BDAT chunk octets; 0: 256 KiB */
	void *user;				     /* for the callbacks below */
	smtpc_posix_body_fn body;		     /* required */
	void (*start)(void *user, smtpc_txn_msg *m); /* m's MAIL went out; may be NULL */
	void (*done)(void *user, smtpc_txn_msg *m);  /* m is finished; may be NULL */
	/* every message added is finished (once per batch: after the last
	 * DONE); e is SMTPC_ERR_OK while the session can take more, else the
	 * error that ended it. May be NULL. */
	void (*idle)(void *user, smtpc_err e);
} smtpc_posix_txn_opts;

/* Fills *o with the defaults above. */
void smtpc_posix_txn_opts_default(smtpc_posix_txn_opts *o);

typedef struct smtpc_posix_txn smtpc_posix_txn;

/* Allocates the connection (po as for smtpc_posix_new; NULL: defaults) and
 * the layer. NULL on no memory or when to or to->body is NULL. */
smtpc_posix_txn *smtpc_posix_txn_new(const smtpc_posix_opts *po, const smtpc_posix_txn_opts *to);
/* Frees everything, the connection included (closed without callbacks). */
void smtpc_posix_txn_free(smtpc_posix_txn *pt);

/* The connection (connect, EHLO, STARTTLS, AUTH, QUIT, close) and the
 * layer (results, smtpc_txn_error). Valid as long as pt. */
smtpc_posix *smtpc_posix_txn_posix(smtpc_posix_txn *pt);
smtpc_txn *smtpc_posix_txn_layer(smtpc_posix_txn *pt);

/* Queues m (see smtpc_txn_add) and, outside the callbacks, issues what can
 * be issued now. */
smtpc_err smtpc_posix_txn_add(smtpc_posix_txn *pt, smtpc_txn_msg *m);

/*
 * Blocking: sends every message added until each is finished, through a
 * poll() loop over the connection (its timeouts apply). Returns
 * SMTPC_ERR_OK when the session can take more messages, else the error that
 * ended it (the messages' own results say what became of each).
 */
smtpc_err smtpc_posix_txn_run(smtpc_posix_txn *pt);

/* Event loop: in place of smtpc_posix_readable, _writable and _timer. */
void smtpc_posix_txn_readable(smtpc_posix_txn *pt);
void smtpc_posix_txn_writable(smtpc_posix_txn *pt);
void smtpc_posix_txn_timer(smtpc_posix_txn *pt);

#ifdef __cplusplus
}
#endif

#endif /* SMTPC_POSIX_TXN_H */
