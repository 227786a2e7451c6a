/*
 * smtpc_txn.h - mail transactions over the smtpc core: a Sans-I/O layer.
 *
 * CONVENTIONS
 *
 * What it does. Given a greeted client connection (smtpc_conn, after EHLO
 * and any STARTTLS and AUTH), the layer sends one or several messages over
 * it: MAIL with SIZE, BODY, SMTPUTF8, REQUIRETLS and DSN parameters, one RCPT
 * per recipient, then DATA or BDAT (CHUNKING, RFC 3030) with the message
 * octets, and RSET before the next message when one was refused before the
 * end of its data. It records, per message, the final status and the reply
 * that decided it, and per recipient its RCPT reply and the reply to the
 * message data.
 *
 * Like the core, it does no I/O, reads no clock, never allocates and never
 * calls back into the caller. It is built only on the public API of smtpc.h.
 * It issues its commands on the core; the caller moves bytes as for the core
 * alone (smtpc_send_buf/smtpc_send_ack, smtpc_recv_buf/smtpc_recv_ack) and
 * pulls the core's events, handing every SMTPC_EV_REPLY to smtpc_txn_on_reply.
 * The layer's own step is smtpc_txn_next, which returns what the layer needs
 * next (see smtpc_txn_event). A loop over a socket:
 *
 *     for (;;) {
 *             switch (smtpc_txn_next(&t, &m)) {
 *             case SMTPC_TXN_BODY:  n = smtpc_txn_write(&t, p, len); ...
 *                                   or smtpc_txn_end(&t) after the last octet
 *             case SMTPC_TXN_START: (m's MAIL was issued) continue
 *             case SMTPC_TXN_DONE:  (m's results are final) continue
 *             case SMTPC_TXN_SEND:  send what smtpc_send_buf holds
 *             case SMTPC_TXN_READ:  send, read, pull the core's events:
 *                                   REPLY -> smtpc_txn_on_reply(&t, &ev.reply)
 *             case SMTPC_TXN_IDLE:  add more messages, or QUIT
 *             case SMTPC_TXN_CLOSED: the session is over
 *             }
 *     }
 *
 * Memory. The caller owns everything: the smtpc_txn object, the connection
 * (which must outlive it), an optional chunk buffer for BDAT, and each
 * message (smtpc_txn_msg) with its recipients and its reply text area. A
 * message is the layer's from smtpc_txn_add until the SMTPC_TXN_DONE event
 * that names it: during that time the caller must not change or free it, its
 * recipients, the strings they point to, or its text area. After DONE the
 * struct is the caller's again, its results final, and it may be added again
 * (smtpc_txn_add clears its results).
 *
 * Message octets are pushed by the caller (smtpc_txn_write), in pieces of
 * any size, while the layer says SMTPC_TXN_BODY for that message. With DATA
 * they are encoded (CRLF line ends, dot-stuffing, RFC 5321 4.5.2) straight
 * from the caller's memory into the core's transmit buffer: no intermediate
 * copy. With BDAT they are normalised (CRLF line ends, no stuffing; as they
 * are for BODY=BINARYMIME) into the chunk buffer, and each full chunk is
 * copied into the transmit buffer after its BDAT line: a chunk is announced
 * only when all of its octets are in hand, so a BDAT size is always exact.
 *
 * Pipelining (RFC 2920). When the server offers PIPELINING (and the
 * configuration does not turn it off) MAIL, every RCPT and DATA go out
 * together, and after the end of a message's data the next message's MAIL,
 * RCPTs and DATA follow in the same write. With BDAT the layer waits for the
 * replies to MAIL and RCPT before the first chunk (RFC 3030 section 2 sends
 * the chunks once the envelope is answered), then sends chunks without
 * waiting for each reply. Without PIPELINING every command waits for the reply to
 * the one before.
 *
 * Success. A message is accepted only if the server accepted its MAIL, at
 * least one RCPT, and its data: after DATA, the reply to the final dot; after
 * BDAT, the reply to every chunk (the first refused chunk decides, whatever
 * the replies to later chunks say). A session that ends before the deciding
 * reply leaves the message SMTPC_TXN_FAILED, never accepted. A 2xx to a
 * chunk that comes while the chunk's octets are still being moved into the
 * transmit buffer answers nothing (the server cannot have them): the session
 * ends as for an unsolicited reply (SMTPC_ERR_BAD_REPLY).
 *
 * Measured size. When m->size is known, the octets written must be the ones
 * measured: SIZE=, BODY=8BITMIME and the line check were decided from it.
 * smtpc_txn_write takes no octet past the measured count; more octets than
 * measured, fewer at smtpc_txn_end, or 8-bit octets in a message measured
 * 7-bit end the session with SMTPC_ERR_BAD_PARAM before the end of data is
 * written (the message fails; the connection, in the middle of the data, must
 * be closed without QUIT).
 *
 * LMTP (RFC 2033). With cfg.lmtp the layer expects, after the end of data,
 * one reply per recipient whose RCPT was accepted, each with cmd
 * SMTPC_CMD_DATA_END and index the recipient's RCPT number (as the RCPT reply
 * had), and records each in that recipient's `data` reply. LMTP messages are
 * sent with DATA (a BODY=BINARYMIME message, which needs BDAT, is refused
 * locally with SMTPC_ERR_NOT_OFFERED). The core must then expect those
 * replies too: a layer that waits for replies the core does not expect
 * ends the session (SMTPC_ERR_SEQUENCE).
 *
 * Errors. Calls return an smtpc_err from the core's table. A message refused
 * before anything was sent for it (over the server's SIZE, a line over 998
 * octets, an extension not offered, a bad address) is finished with status
 * SMTPC_TXN_REFUSED, its err set and no reply; the next message goes on. A
 * session error (the core's sticky error, its end of input, or
 * smtpc_txn_abort) finishes every message not yet finished as
 * SMTPC_TXN_FAILED. 4xx and 5xx replies are results, never errors.
 *
 * Role. The layer drives a client connection only: smtpc_txn_init refuses a
 * server one (SMTPC_ERR_ROLE). While the layer has messages, it alone issues
 * commands on the connection (the caller may still QUIT when it says IDLE).
 *
 * NULL. Functions returning smtpc_err return SMTPC_ERR_NULL_ARG for a NULL
 * t; smtpc_txn_next returns SMTPC_TXN_CLOSED, smtpc_txn_write,
 * smtpc_txn_on_reply and smtpc_txn_in_body 0; the others do nothing.
 *
 * Threads. One smtpc_txn and its connection are used by one thread at a time.
 */
#ifndef SMTPC_TXN_H
#define SMTPC_TXN_H

#include <stddef.h>
#include <stdint.h>

#include "smtpc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Measuring a message                                                      */
/* ------------------------------------------------------------------------ */

/* What a message amounts to on the wire, from smtpc_txn_measure_end. */
typedef struct smtpc_txn_size {
	uint64_t octets;  /* octets measured, as given */
	uint64_t text;	  /* RFC 1870 5 message size: CRLF line ends, without
			     dot-stuffing or the terminator; what BDAT carries
			     and what MAIL's SIZE= declares */
	uint64_t data;	  /* octets sent after DATA's 354: dot-stuffed, with
			     the terminator */
	uint64_t longest; /* longest line, octets without its CRLF (a dot
			     doubled after DATA does not count: RFC 5321
			     4.5.3.1.6) */
	int has_8bit;	  /* an octet >= 0x80 (BODY=8BITMIME when offered) */
	int known;	  /* nonzero: filled by smtpc_txn_measure_end. All zero
			     means unknown: no SIZE=, no size or line checks */
} smtpc_txn_size;

/* A measuring pass: the core's encoder in measuring mode, both ways. */
typedef struct smtpc_txn_measure {
	smtpc_dotenc dot, text; /* private */
	uint64_t line, longest;
} smtpc_txn_measure;

/* Starts measuring a message (no connection needed; the caller owns *ms).
 * NULL is ignored. */
void smtpc_txn_measure_init(smtpc_txn_measure *ms);
/* Adds len octets of the message, read during the call (any split gives the
 * same result). Ignored for NULL ms, or NULL data with len 0. */
void smtpc_txn_measure_add(smtpc_txn_measure *ms, const void *data, size_t len);
/* Fills *size (known set). The measure may not be added to afterwards;
 * smtpc_txn_measure_init starts it again. Ignored for NULL arguments. */
void smtpc_txn_measure_end(smtpc_txn_measure *ms, smtpc_txn_size *size);

/* ------------------------------------------------------------------------ */
/* Messages and recipients                                                  */
/* ------------------------------------------------------------------------ */

typedef enum smtpc_txn_status {
	SMTPC_TXN_PENDING = 0, /* not finished */
	SMTPC_TXN_ACCEPTED,    /* message: accepted for every recipient;
				  recipient: the message was accepted for it */
	SMTPC_TXN_PARTIAL,     /* message: accepted for some recipients and
				  refused for others */
	SMTPC_TXN_REFUSED,     /* refused by a reply (reply.code) or locally
				  before it was sent (err, reply.code 0) */
	SMTPC_TXN_FAILED       /* the session ended before the outcome was
				  known (err): not delivered as far as the
				  client knows */
} smtpc_txn_status;

/* "pending", "accepted", "partial", "refused", "failed"; "?" for other
 * values. Static storage. */
const char *smtpc_txn_status_name(smtpc_txn_status s);

/* A reply kept by the layer. */
typedef struct smtpc_txn_reply {
	unsigned code;	  /* 0: none */
	smtpc_esc esc;	  /* RFC 3463 code, cls 0 when absent */
	const char *text; /* NUL-terminated, lines joined by '\n', in the
			     message's text area; "" when none or no room.
			     Never NULL once the message was added. */
	size_t len;
} smtpc_txn_reply;

typedef struct smtpc_txn_rcpt {
	/* in */
	const char *addr;     /* the forward-path, without < >; kept by pointer */
	smtpc_rcpt_opts opts; /* NOTIFY, ORCPT, more parameters (RFC 3461) */
	/* out */
	smtpc_txn_status status; /* PENDING, ACCEPTED, REFUSED or FAILED */
	smtpc_err err;		 /* refused before RCPT was sent (bad address,
				    DSN not offered), or the session error */
	smtpc_txn_reply rcpt;	 /* the reply to RCPT */
	smtpc_txn_reply data;	 /* the reply to the message data that decided
				    for it: the message's final reply (SMTP), its
				    own reply after the end of data (LMTP), or the
				    refusal of DATA or of a BDAT chunk */
	/* private */
	unsigned wire_; /* the core's number for this RCPT */
} smtpc_txn_rcpt;

typedef struct smtpc_txn_msg {
	/* in */
	const char *from;      /* reverse-path; "" is the null sender */
	smtpc_txn_rcpt *rcpts; /* at least one */
	size_t nrcpts;
	smtpc_mail_opts opts; /* BODY, SMTPUTF8, REQUIRETLS, RET, ENVID, more
				 parameters. opts.size is not used: SIZE=
				 comes from size. BODY=8BITMIME is added when
				 opts.body is NONE, size.has_8bit is set and
				 the server offers 8BITMIME. BINARYMIME sends
				 the octets as they are, by BDAT. */
	smtpc_txn_size size;  /* from smtpc_txn_measure_end, or all zero */
	char *text;	      /* room for the replies' text; may be NULL */
	size_t text_size;
	void *user; /* the caller's */
	/* out */
	smtpc_txn_status status;
	smtpc_err err;	       /* local refusal or session error; else OK */
	smtpc_cmd stage;       /* what decided: MAIL, RCPT, DATA, BDAT,
				  DATA_END; SMTPC_CMD_NONE when nothing was
				  sent for it */
	smtpc_txn_reply reply; /* the deciding reply: the final reply when
				  accepted; the refusal (for all recipients
				  refused at RCPT, the one with the highest
				  code) when refused */
	smtpc_cmd method;      /* SMTPC_CMD_DATA or SMTPC_CMD_BDAT once chosen */
	size_t accepted;       /* recipients the message was accepted for */
	size_t refused;	       /* recipients refused (at RCPT or after) */
	uint64_t sent;	       /* message octets put into the transmit
				  buffer (after DATA: as encoded; BDAT: chunk
				  octets) */
	int text_full;	       /* nonzero: some reply text did not fit */
	/* private */
	struct {
		struct smtpc_txn_msg *next;
		unsigned flags, phase;
		size_t rcpt_next;   /* next recipient to issue */
		size_t issued;	    /* RCPTs issued */
		size_t rcpt_ok;	    /* RCPTs answered 2xx */
		size_t answered;    /* RCPTs answered */
		size_t worst;	    /* 1 + the recipient with the worst refusal */
		size_t outstanding; /* replies owed to this message */
		size_t finals;	    /* LMTP: replies still due after the data */
		unsigned chunks;    /* BDAT chunks issued */
		size_t text_used;
		uint64_t given; /* octets taken by smtpc_txn_write */
	} p_;
} smtpc_txn_msg;

/* ------------------------------------------------------------------------ */
/* The layer                                                                */
/* ------------------------------------------------------------------------ */

typedef struct smtpc_txn_config {
	int no_pipelining; /* one command at a time even with PIPELINING */
	int no_chunking;   /* DATA even with CHUNKING (BINARYMIME still needs
			      BDAT) */
	int lmtp;	   /* the connection speaks LMTP (RFC 2033 4.2) */
} smtpc_txn_config;

typedef enum smtpc_txn_event {
	SMTPC_TXN_READ = 0, /* replies are outstanding: send what is pending,
			       read, pull the core's events and hand each
			       REPLY to smtpc_txn_on_reply */
	SMTPC_TXN_SEND,	    /* the transmit buffer is full: send, then call
			       smtpc_txn_next again */
	SMTPC_TXN_BODY,	    /* *msg wants message octets: smtpc_txn_write,
			       and smtpc_txn_end after the last one */
	SMTPC_TXN_START,    /* *msg's MAIL was issued (for timings) */
	SMTPC_TXN_DONE,	    /* *msg is finished; the struct is the caller's */
	SMTPC_TXN_IDLE,	    /* nothing queued or outstanding: add a message,
			       or end the session */
	SMTPC_TXN_CLOSED    /* the session can carry no more messages; every
			       message was reported DONE (smtpc_txn_error) */
} smtpc_txn_event;

#define SMTPC_TXN_QUEUE SMTPC_QUEUE_CAP

/* All fields are private. */
typedef struct smtpc_txn {
	smtpc_conn *c;
	smtpc_txn_config cfg;
	unsigned char *chunk;
	size_t chunk_cap, chunk_len, chunk_off;
	int chunk_issued, chunk_last, chunk_more;
	smtpc_dotenc enc;	    /* BDAT: line ends for the chunk buffer */
	smtpc_txn_msg *head, *tail; /* every message not yet reported DONE */
	smtpc_txn_msg *todo;	    /* the first message not started */
	smtpc_txn_msg *out;	    /* the message whose commands or octets go out */
	smtpc_txn_msg *start_due;   /* START to report */
	struct smtpc_txn_q {
		smtpc_txn_msg *m; /* NULL for RSET */
		size_t slot;	  /* RCPT: recipient; BDAT: chunk number */
		unsigned char cmd, last;
	} q[SMTPC_TXN_QUEUE];
	size_t q_head, q_len;
	size_t blocked; /* octets pending when the layer ran out of room */
	int stalled;	/* the writer took nothing with the core's buffer empty */
	size_t (*write)(void *ctx, const void *data, size_t len);
	void *write_ctx;
	int need_rset; /* RSET before the next MAIL */
	int closing;   /* the server said 421 */
	smtpc_err err; /* ends the session for the layer */
} smtpc_txn;

/*
 * Sets up the layer over c, a client connection (in the core's client role)
 * that stays valid as long as t is used. cfg NULL: all zero. chunk (may be
 * NULL) is the BDAT chunk buffer, kept by pointer: chunk_len octets is the
 * largest chunk. Without it messages go by DATA, and a BODY=BINARYMIME
 * message is refused locally (SMTPC_ERR_BUFFER_SMALL). SMTPC_ERR_NULL_ARG
 * when t or c is NULL; SMTPC_ERR_ROLE when c is a server connection or one
 * whose init failed (t is then left untouched and must not be used).
 */
smtpc_err smtpc_txn_init(smtpc_txn *t, smtpc_conn *c, const smtpc_txn_config *cfg, void *chunk,
			 size_t chunk_len);

/*
 * Where message octets go: by default smtpc_body_write on the connection.
 * A layer under the core that takes message data in one copy, with
 * smtpc_body_write's contract (io-bearssl's smtpc_bearssl_body_write, for
 * one), can take its place; fn NULL restores the default. When fn takes
 * nothing while the core's transmit buffer is empty, smtpc_txn_next says
 * SEND once (the caller's layer then has octets to send) and tries again on
 * the call after.
 */
void smtpc_txn_set_writer(smtpc_txn *t, size_t (*fn)(void *ctx, const void *data, size_t len),
			  void *ctx);

/*
 * Queues m (messages go in the order added). Clears m's results and takes
 * it over until its DONE event; its recipients and text area too (results
 * are written there, so two messages in the layer at once may not share any
 * part of them). SMTPC_ERR_NULL_ARG (m, from, rcpts or a recipient's addr
 * NULL), SMTPC_ERR_SEQUENCE (no recipient), SMTPC_ERR_BAD_PARAM (more than
 * 65535), SMTPC_ERR_STATE (m is queued already, or its recipient array or
 * text area overlaps those of a message in the layer; a copy of a queued
 * struct with its own recipients and text is a new message), or the session
 * error once the layer said SMTPC_TXN_CLOSED (m is not taken). Nothing is
 * sent until smtpc_txn_next. Cost: one pass over the messages in the layer.
 */
smtpc_err smtpc_txn_add(smtpc_txn *t, smtpc_txn_msg *m);

/*
 * Does what can be done now (issues commands, moves staged chunk octets into
 * the transmit buffer, finishes messages) and returns what the layer needs
 * next; *msg (may be NULL) names the message for BODY, START and DONE, and
 * is NULL otherwise. Call it again after acting on the event. Events come in
 * this order of precedence: DONE (in the order the messages were added),
 * START, BODY, SEND, READ, IDLE or CLOSED.
 */
smtpc_txn_event smtpc_txn_next(smtpc_txn *t, smtpc_txn_msg **msg);

/*
 * Hands the layer one reply pulled from the core (every SMTPC_EV_REPLY while
 * the layer has messages; others are ignored). Returns nonzero when the
 * reply answered a command of the layer. A reply that answers nothing
 * (cmd SMTPC_CMD_NONE) while the layer waits for replies ends the session:
 * 421 (RFC 5321 3.8) refuses the messages in progress with that reply; any
 * other is a protocol violation (SMTPC_ERR_BAD_REPLY, set on the core with
 * smtpc_fail). A 421 that answers a command refuses that command's message
 * and ends the session as well: what the core still waited for fails with
 * SMTPC_ERR_CLOSED and smtpc_txn_next says CLOSED without waiting for the
 * server to close. Call smtpc_txn_next afterwards.
 */
int smtpc_txn_on_reply(smtpc_txn *t, const smtpc_reply *r);

/*
 * Message octets for the message of the last SMTPC_TXN_BODY event: consumes
 * up to len octets and returns how many. It returns less (0 included) when
 * the transmit buffer or the chunk buffer is full: call smtpc_txn_next,
 * which says SEND or READ until there is room, then BODY again. Returns 0
 * when no message wants octets. data is read during the call only. With a
 * measured size it takes no octet past the measured count; octets offered
 * once all measured ones were taken end the session (SMTPC_ERR_BAD_PARAM,
 * see "Measured size" above) and 0 is returned.
 */
size_t smtpc_txn_write(smtpc_txn *t, const void *data, size_t len);

/*
 * The current message has no more octets: the layer writes the end of data
 * (or the last chunk) as room allows, from smtpc_txn_next. SMTPC_ERR_STATE
 * when no message wants octets. SMTPC_ERR_BAD_PARAM when the octets written
 * are not the measured ones (fewer, or 8-bit ones in a 7-bit measure): the
 * end of data is not written and the session is over (see "Measured size").
 */
smtpc_err smtpc_txn_end(smtpc_txn *t);

/*
 * Ends the session for the layer (a read error on the message source, the
 * connection lost): every message not finished becomes SMTPC_TXN_FAILED
 * with err e (the first error given is kept; SMTPC_ERR_OK counts as
 * SMTPC_ERR_STATE), reported by smtpc_txn_next,
 * then SMTPC_TXN_CLOSED. Nothing more is written. If a message was in its
 * data the connection cannot be used for anything else: close it without
 * QUIT, so the server discards the partial message.
 */
void smtpc_txn_abort(smtpc_txn *t, smtpc_err e);

/* The error that ended the session for the layer, SMTPC_ERR_OK if none. */
smtpc_err smtpc_txn_error(const smtpc_txn *t);

/* Nonzero while a message is in its data (SMTPC_TXN_BODY given, end of data
 * not yet written). */
int smtpc_txn_in_body(const smtpc_txn *t);

#ifdef __cplusplus
}
#endif

#endif /* SMTPC_TXN_H */
