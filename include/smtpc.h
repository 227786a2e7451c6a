/*
 * smtpc.h - the smtpc core: a Sans-I/O SMTP engine, client and server.
 *
 * CONVENTIONS
 *
 * Memory. The core never allocates. The caller owns every object: the
 * connection (smtpc_conn, a visible struct so it can be static, on the stack
 * or embedded), its receive buffer and its transmit buffer. The buffers are
 * handed over at init and must stay valid, and must not be touched by the
 * caller, until the connection is no longer used. Minimum sizes are
 * documented and checked at init. A connection needs no clean-up: when it is
 * no longer used, the caller frees or reuses the memory.
 *
 * Roles. A connection is a client (smtpc_init) or a server
 * (smtpc_server_init), fixed at init. Each function below says which role may
 * call it: "Client", "Server" or "Both". A client call on a server connection,
 * or a server call on a client connection, is refused with SMTPC_ERR_ROLE and
 * changes nothing (functions without an error return then do nothing and
 * return 0 or NULL). A connection whose init failed has no role: every call
 * on it is refused the same way.
 *
 * No I/O, no clock. Bytes come in through smtpc_recv_buf/smtpc_recv_ack (the
 * caller reads straight into the core's buffer) or smtpc_feed (the core
 * copies); end of input is smtpc_eof. Bytes go out through
 * smtpc_send_buf/smtpc_send_ack. The core never blocks and never calls back
 * into the caller, except for the hooks the caller sets (HMAC-MD5, command
 * log, server AUTH check), which it calls synchronously; a hook that calls
 * back into its connection is refused (SMTPC_ERR_REENTRANT, see below).
 *
 * Events are pulled. smtpc_next_event returns one event at a time, or
 * SMTPC_EV_NEED_DATA when it needs more input. Pointers inside an event
 * point into the connection's buffers: they stay valid until the next call
 * that takes the connection as non-const (smtpc_next_event, smtpc_feed,
 * smtpc_recv_ack, smtpc_eof, any command or reply). Const queries leave them
 * alone.
 *
 * Errors. Calls that issue a command or a reply return an smtpc_err. When
 * they fail, nothing was written and the connection is exactly as it was: the
 * caller may correct the argument and try again. Errors that end the session
 * (the peer broke the protocol, a transport failure reported by an adapter)
 * are sticky: the first one is kept, smtpc_error returns it, and every later
 * smtpc_next_event returns SMTPC_EV_ERROR. 4xx and 5xx replies are never
 * errors: they are replies, delivered as events for the caller to act on.
 *
 * Which calls are valid when. A call made in a state that does not allow it
 * returns the error in the table and changes nothing ("ok": allowed, subject
 * to the function's own checks; "0": refused by returning 0 or NULL).
 *
 *   Client states: Gr before the greeting has come; Op greeted or not, no
 *   transaction; Tx in a transaction (MAIL issued, message not ended); Bd
 *   sending message data (354 to DATA pulled, or BDAT octets still owed);
 *   Tl paused for TLS (220 to STARTTLS pulled); En ended (QUIT issued, 421
 *   or 221 pulled, end of input, or a sticky error: then that error instead
 *   of ENDED).
 *
 *   call                        Gr        Op        Tx        Bd       Tl     En
 *   ehlo, helo, lhlo            PIPELINE  ok        ok (1)    IN_BODY  STATE  ENDED
 *   starttls, auth (2)          PIPELINE  ok        SEQUENCE  IN_BODY  STATE  ENDED
 *   mail                        PIPELINE  ok (3)    SEQUENCE  IN_BODY  STATE  ENDED
 *   rcpt, data, bdat            PIPELINE  SEQUENCE  ok (4)    IN_BODY  STATE  ENDED
 *   rset, noop, vrfy, quit      PIPELINE  ok        ok        IN_BODY  STATE  ENDED
 *   raw                         PIPELINE  ok        ok        IN_BODY  STATE  ENDED
 *   body_write, body_write_to   0         0         0         ok       0      0
 *   body_end                    STATE     STATE     STATE     ok (5)   STATE  ENDED
 *   tls_started                 STATE     STATE     STATE     STATE    ok (6) STATE
 *   feed, recv_buf, recv_ack    ok        ok        ok        ok       (7)    dropped
 *   next_event, send_*, eof,    ok        ok        ok        ok       ok     ok
 *   queries, set_* hooks
 *
 *   (1) ends the transaction (RFC 5321 4.1.4). (2) STARTTLS once and before
 *   TLS, AUTH once successful; both after EHLO or LHLO, the extension offered.
 *   (3) after a 2xx to EHLO, HELO or LHLO (SEQUENCE before). (4) DATA and
 *   BDAT after at least one RCPT. (5) DATA only; BDAT chunks end by their
 *   size. (6) after SMTPC_EV_STARTTLS was pulled. (7) any byte is plaintext
 *   injection: a sticky SMTPC_ERR_STARTTLS_INJECTION; recv_buf gives no room.
 *   Raw lines after a 354 to a raw DATA are message lines, ok in that state.
 *   Besides the state, a command waits for the reply before it unless
 *   PIPELINING was offered and the command before may be followed
 *   (SMTPC_ERR_PIPELINE), and at most max_queue replies are outstanding
 *   (SMTPC_ERR_QUEUE_FULL).
 *
 *   Server states: Gr greeting owed; Cm reading commands; Ow replies owed
 *   (smtpc_pending > 0: after SMTPC_EV_COMMAND, or SMTPC_EV_BODY_END or
 *   SMTPC_EV_CHUNK_END with ok); Dt reading message data (after 354, or a
 *   BDAT chunk's octets); Tl paused for TLS (after the 220 to STARTTLS); En
 *   ended (221 to QUIT or 421 queued, end of input, or a sticky error: then
 *   that error instead of ENDED).
 *
 *   call                        Gr        Cm        Ow        Dt       Tl     En
 *   server_greet                ok        STATE     STATE     STATE    STATE  ENDED
 *   server_reply                STATE     STATE     ok (8)    STATE    STATE  ENDED
 *   server_reply_ehlo           STATE     STATE     ok (9)    STATE    STATE  ENDED
 *   server_shutdown             ok        ok        ok        ok       STATE  ENDED
 *   server_reply_rcpt           0         0         ok (10)   0        0      0
 *   tls_started                 STATE     STATE     STATE     STATE    ok (6) STATE
 *   allow_starttls, set_auth    ok        ok        ok        ok       ok     ok
 *   next_event                  NEED_DATA ok        NEED_DATA ok       ok     ok
 *   feed, recv_buf, recv_ack    ok        ok        ok        ok       (7)    dropped
 *   send_*, eof, queries        ok        ok        ok        ok       ok     ok
 *
 *   (8) as many times as smtpc_pending says: one, or after LMTP's end of
 *   data one per accepted recipient; no event comes until then. (9) only
 *   for EHLO and LHLO. (10) after LMTP's end of data only.
 *
 *   Both roles: every call of the other role is SMTPC_ERR_ROLE (or 0), and
 *   every call on a connection whose init failed too. Inside one of the
 *   connection's own hooks (command log, HMAC-MD5, server AUTH check), every
 *   call that would change the connection is SMTPC_ERR_REENTRANT (calls
 *   without an error return do nothing and return 0 or NULL); the hook
 *   setters and the queries remain allowed.
 *
 * End of a session. How the session ended is kept and reported by
 * smtpc_session_end and in the SMTPC_EV_CLOSED and SMTPC_EV_ERROR events:
 * QUIT answered, the peer shut the service down (421), the peer closed early
 * (with a transaction open or commands unanswered), or an error. Only
 * SMTPC_END_QUIT is a clean end; a client that counts success must also have
 * seen a 2xx reply for every message.
 *
 * Strings. Arguments named `const char *` are NUL-terminated and read during
 * the call only, unless the function says otherwise (AUTH credentials are
 * kept by pointer until the AUTH exchange ends).
 *
 * Threads. A connection is used by one thread at a time. Distinct
 * connections share nothing: the core has no global state.
 *
 * ABI. smtpc_init and smtpc_server_init are macros that pass
 * sizeof(smtpc_conn) and the compile-time caps to the library, which refuses
 * a mismatch (SMTPC_ERR_ABI) instead of writing past a smaller struct: every
 * unit that includes this header must see the same caps (smtpc_limits.h) as
 * the library was built with.
 */
#ifndef SMTPC_H
#define SMTPC_H

#include <stddef.h>
#include <stdint.h>

#include "smtpc_limits.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The library's version, "major.minor.patch": the one place it is written
 * (the Makefile, the pkg-config files and `smtpc --version` take it from
 * here; keep one space after the name). */
#define SMTPC_VERSION "0.2.0"
/* The same string under a second name. */
#define SMTPC_VERSION_STRING SMTPC_VERSION

/* Role: none (needs no connection). The version of the library linked, for
 * a program to compare with the SMTPC_VERSION it was compiled with (a shared
 * library may be newer). Never NULL; static storage. */
const char *smtpc_version(void);

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * Error classes:
 *  MISUSE     the API was called wrongly (state, role, order, NULL, small
 *             buffer, header and library out of step);
 *  ARGUMENT   an argument was refused (control byte, bad address, too long);
 *  POLICY     local policy: an extension not offered, message over SIZE,
 *             AUTH or REQUIRETLS without TLS;
 *  AGAIN      not now: send pending bytes or wait for replies, then retry;
 *  PROTOCOL   the peer broke the protocol (sticky, except the message data
 *             faults, which are only reported in SMTPC_EV_BODY_END);
 *  TRANSPORT  set by adapters: timeout, reset, TLS failure (sticky).
 */
typedef enum smtpc_errclass {
	SMTPC_CLASS_NONE = 0,
	SMTPC_CLASS_MISUSE,
	SMTPC_CLASS_ARGUMENT,
	SMTPC_CLASS_POLICY,
	SMTPC_CLASS_AGAIN,
	SMTPC_CLASS_PROTOCOL,
	SMTPC_CLASS_TRANSPORT
} smtpc_errclass;

/* X(name, class, description): the one table of errors. Values are stable:
 * new errors are added at the end. */
#define SMTPC_ERRORS(X)                                                                            \
	X(OK, NONE, "no error")                                                                    \
	X(NULL_ARG, MISUSE, "a required pointer argument is NULL")                                 \
	X(BUFFER_SMALL, MISUSE, "a buffer is smaller than the documented minimum")                 \
	X(STATE, MISUSE, "not allowed in the current session state")                               \
	X(SEQUENCE, MISUSE, "command out of order (RCPT before MAIL, DATA before RCPT, ...)")      \
	X(PIPELINE, MISUSE,                                                                        \
	  "a reply is outstanding and the command may not be pipelined after it")                  \
	X(IN_BODY, MISUSE, "message data is being sent; finish it first")                          \
	X(CTRL_CHAR, ARGUMENT, "control byte (CR, LF, NUL, DEL, ...) in an argument")              \
	X(BAD_ADDRESS, ARGUMENT, "not an RFC 5321 mailbox")                                        \
	X(ADDRESS_TOO_LONG, ARGUMENT, "address part over the RFC 5321 4.5.3.1 limits")             \
	X(BAD_DOMAIN, ARGUMENT, "not an RFC 5321 domain or address literal")                       \
	X(BAD_UTF8, ARGUMENT, "malformed UTF-8")                                                   \
	X(BAD_PARAM, ARGUMENT, "malformed, reserved or repeated ESMTP parameter or value")         \
	X(TOO_LONG, ARGUMENT, "command or reply line over its length limit")                       \
	X(TX_SMALL, ARGUMENT, "line longer than the whole transmit buffer")                        \
	X(NEEDS_SMTPUTF8, POLICY, "non-ASCII address without SMTPUTF8")                            \
	X(NOT_OFFERED, POLICY, "the server did not offer the extension")                           \
	X(TOO_BIG, POLICY, "message larger than the SIZE limit")                                   \
	X(AUTH_NEEDS_TLS, POLICY, "AUTH would send credentials in clear text")                     \
	X(NO_SPACE, AGAIN, "transmit buffer full: send pending bytes first")                       \
	X(QUEUE_FULL, AGAIN, "too many replies outstanding: read replies first")                   \
	X(BAD_REPLY, PROTOCOL, "malformed reply line")                                             \
	X(CODE_MISMATCH, PROTOCOL, "lines of one reply carry different codes")                     \
	X(LINE_TOO_LONG, PROTOCOL, "reply line over the configured limit")                         \
	X(TOO_MANY_LINES, PROTOCOL, "reply has more lines than the configured limit")              \
	X(REPLY_TOO_LONG, PROTOCOL, "reply text over the configured limit")                        \
	X(REPLY_NUL, PROTOCOL, "NUL byte in a reply")                                              \
	X(REPLY_CTRL, PROTOCOL, "control byte or bare CR in a reply")                              \
	X(BARE_LF, PROTOCOL, "reply line ended by a bare LF (strict mode)")                        \
	X(STARTTLS_INJECTION, PROTOCOL, "plaintext received after the 220 reply to STARTTLS")      \
	X(BAD_CHALLENGE, PROTOCOL, "malformed AUTH challenge, or more than the exchange needs")    \
	X(TRUNCATED, TRANSPORT, "connection closed in the middle of a reply")                      \
	X(CLOSED, TRANSPORT, "connection closed with replies outstanding")                         \
	X(DIGEST, MISUSE, "no HMAC-MD5 hook, or the hook failed")                                  \
	X(TIMEOUT, TRANSPORT, "timed out")                                                         \
	X(CONNECT, TRANSPORT, "connection refused or unreachable")                                 \
	X(RESOLVE, TRANSPORT, "host name did not resolve")                                         \
	X(RESET, TRANSPORT, "connection reset by peer")                                            \
	X(IO, TRANSPORT, "input/output error")                                                     \
	X(TLS, TRANSPORT, "TLS failure")                                                           \
	X(ROLE, MISUSE, "not a call for this connection's role (client or server)")                \
	X(ABI, MISUSE, "smtpc.h and the library disagree (sizeof(smtpc_conn) or a cap)")           \
	X(ENDED, MISUSE, "the session has ended (QUIT, 421 or closed): see smtpc_session_end")     \
	X(NEEDS_TLS, POLICY, "REQUIRETLS needs a secure connection")                               \
	X(RCPT_LIMIT, POLICY, "more LMTP recipients than SMTPC_LMTP_RCPT_CAP")                     \
	X(DATA_BARE_EOL, PROTOCOL, "bare CR or bare LF in message data")                           \
	X(DATA_LINE_LONG, PROTOCOL, "message line over max_text_line")                             \
	X(REENTRANT, MISUSE, "called from inside one of this connection's hooks")

/* clang-format off */
typedef enum smtpc_err {
#define SMTPC_X_ENUM(name, cls, desc) SMTPC_ERR_##name,
	SMTPC_ERRORS(SMTPC_X_ENUM)
#undef SMTPC_X_ENUM
	SMTPC_ERR__COUNT
} smtpc_err;
/* clang-format on */

/* Role: both; need no connection. "SMTPC_ERR_BAD_REPLY" for
 * SMTPC_ERR_BAD_REPLY; "SMTPC_ERR_?" if unknown. Never NULL; static storage. */
const char *smtpc_err_name(smtpc_err e);
/* One-line English description; "unknown error" if unknown. Never NULL;
 * static storage. A library built with -DSMTPC_NO_ERROR_TEXT (small targets)
 * returns the name instead. */
const char *smtpc_err_desc(smtpc_err e);
/* The class of an error; SMTPC_CLASS_NONE for SMTPC_ERR_OK and unknown ones. */
smtpc_errclass smtpc_err_class(smtpc_err e);

/* ------------------------------------------------------------------------ */
/* Configuration                                                            */
/* ------------------------------------------------------------------------ */

typedef struct smtpc_config {
	/* Longest line read, octets without CRLF (client: reply lines; server:
	 * command and message lines). Default 2048, clamped to
	 * [SMTPC_LINE_MIN, SMTPC_LINE_CAP]. A longer reply line is an error
	 * (SMTPC_ERR_LINE_TOO_LONG), never split. */
	size_t max_line;
	/* Client: most lines in one reply. Default 64, clamped to
	 * [1, SMTPC_LINES_CAP]. */
	size_t max_lines;
	/* Client: most text octets in one reply (all lines' text plus one octet
	 * per line); server: room for a decoded AUTH response. Default 4096,
	 * clamped to [max_line + 1, SMTPC_LINES_CAP * 256]. */
	size_t max_reply;
	/* Client: octets kept for the EHLO extension list (smtpc_ext_next).
	 * Default 1024, at most 65536; 0 keeps none (the known extensions are
	 * still recognised). */
	size_t max_ext;
	/* Client: replies outstanding at once. Default and cap SMTPC_QUEUE_CAP;
	 * at least 1. */
	size_t max_queue;
	/* Client: nonzero: a reply line must end in CRLF; a bare LF is an error
	 * (SMTPC_ERR_BARE_LF). Default 0: a bare LF ends a line, as it does
	 * for most SMTP clients. A CR anywhere but before LF is always an
	 * error. */
	int strict_crlf;
	/* Client: nonzero: a reply that had begun to arrive before its command
	 * was issued may still answer it. Default 0: a reply whose first octet
	 * was received before the command was issued answers nothing and is
	 * delivered with cmd SMTPC_CMD_NONE, so bytes a server (or a man in the
	 * middle) sends ahead cannot pass for the answer to a later command.
	 * The same holds for each AUTH response line: a reply begun before it
	 * was sent does not answer the exchange. */
	int early_replies;
	/* Server: longest message line, octets with its CRLF, a dot doubled by
	 * the client not counted (RFC 5321 4.5.3.1.6). Default 1000. Clamped to
	 * [1000, max_line + 1]; when max_line + 1 is below 1000, to
	 * max_line + 1 (the input area must hold the line, its doubled dot and
	 * its CRLF). */
	size_t max_text_line;
	/* Server: largest message in octets (SIZE); 0: no limit. */
	uint64_t max_message;
	/* Both. Client: nonzero lets AUTH go out before TLS is up (default 0:
	 * SMTPC_ERR_AUTH_NEEDS_TLS). Server: nonzero accepts and offers AUTH
	 * before TLS (default 0: 538). */
	int allow_plain_auth;
	/* Server: nonzero speaks LMTP (RFC 2033): LHLO instead of EHLO and HELO
	 * (refused with 500), and one reply per accepted recipient after the
	 * end of the message data. Default 0. The client chooses LMTP by
	 * issuing smtpc_lhlo. */
	int lmtp;
} smtpc_config;

/* Role: both. Fills *cfg with the defaults above; NULL is ignored. */
void smtpc_config_default(smtpc_config *cfg);

/*
 * Role: both. Smallest receive buffer init accepts for this configuration
 * (after clamping): input area (max_line + 2) + reply area (max_reply + 1) +
 * extension area (max_ext). About 7 KiB for the defaults. cfg NULL means the
 * defaults.
 */
size_t smtpc_rx_min(const smtpc_config *cfg);

/* ------------------------------------------------------------------------ */
/* Commands, replies, events                                                */
/* ------------------------------------------------------------------------ */

/* Which command a reply answers (client), or which command an event is
 * (server). Values are stable: new ones are added at the end. */
typedef enum smtpc_cmd {
	SMTPC_CMD_NONE = 0, /* unsolicited: nothing was outstanding */
	SMTPC_CMD_GREETING,
	SMTPC_CMD_EHLO,
	SMTPC_CMD_HELO,
	SMTPC_CMD_MAIL,
	SMTPC_CMD_RCPT,
	SMTPC_CMD_DATA,	    /* the 354 (or refusal) to DATA */
	SMTPC_CMD_DATA_END, /* the reply after the final dot */
	SMTPC_CMD_BDAT,
	SMTPC_CMD_RSET,
	SMTPC_CMD_NOOP,
	SMTPC_CMD_VRFY,
	SMTPC_CMD_QUIT,
	SMTPC_CMD_STARTTLS,
	SMTPC_CMD_AUTH,
	SMTPC_CMD_RAW,
	SMTPC_CMD_LHLO /* LMTP's hello (RFC 2033 4.1) */
} smtpc_cmd;

/* Role: both. "MAIL", "DATA_END", ...; "?" if unknown. Static storage. */
const char *smtpc_cmd_name(smtpc_cmd cmd);

/* RFC 3463 enhanced status code; cls == 0 when the reply has none. */
typedef struct smtpc_esc {
	unsigned char cls;	/* 2, 4 or 5: equals the reply's first digit */
	unsigned short subject; /* 0-999 */
	unsigned short detail;	/* 0-999 */
} smtpc_esc;

/* One reply line. */
typedef struct smtpc_line {
	unsigned code;	  /* 200-599 */
	int last;	  /* nonzero: this line ends the reply */
	const char *text; /* after the separator; NUL-terminated */
	size_t len;	  /* octets of text */
} smtpc_line;

/* A complete reply (client). */
typedef struct smtpc_reply {
	unsigned code;
	smtpc_esc esc;	  /* from the first line, when present */
	const char *text; /* every line's text, joined by '\n'; NUL-terminated */
	size_t len;
	size_t nlines;
	smtpc_cmd cmd;	/* the command it answers */
	unsigned index; /* RCPT: recipient number in the transaction, from 0;
			   BDAT: chunk number, from 0; after LMTP's end of
			   data (DATA_END, or the last BDAT): the number of the
			   recipient this reply is for; otherwise 0 */
} smtpc_reply;

typedef enum smtpc_event_type {
	SMTPC_EV_NEED_DATA = 0, /* nothing more until more input (or eof) */
	SMTPC_EV_LINE,		/* client: ev->line, one reply line */
	SMTPC_EV_REPLY,		/* client: ev->reply, one complete reply */
	SMTPC_EV_STARTTLS,	/* start the TLS handshake now; then call
				   smtpc_tls_started */
	SMTPC_EV_CLOSED,	/* the session is over, ev->end says how;
				   repeated forever */
	SMTPC_EV_ERROR,		/* sticky error ev->err (smtpc_error), ev->end;
				   repeated forever */
	SMTPC_EV_COMMAND,	/* server: ev->command; answer it */
	SMTPC_EV_BODY,		/* server: ev->body, message octets, borrowed */
	SMTPC_EV_BODY_END,	/* server: ev->body_end, the message is complete
				   (DATA's final dot, or BDAT LAST) */
	SMTPC_EV_CHUNK_END	/* server: ev->body_end, a BDAT chunk that is not
				   LAST has been delivered whole; answer it */
} smtpc_event_type;

/* A client command, server role: EHLO, HELO, LHLO, MAIL, RCPT or DATA.
 * Spans point into the connection's buffers. */
typedef struct smtpc_command {
	smtpc_cmd cmd;
	const char *arg; /* EHLO/HELO/LHLO: the domain; MAIL/RCPT: the
			    address between < and >, any source route
			    removed ("" for the null path) */
	size_t arg_len;
	const char *params; /* MAIL/RCPT: ESMTP parameters after the path */
	size_t params_len;
	int smtputf8;	/* MAIL carried SMTPUTF8 */
	unsigned index; /* RCPT: its number in the transaction, from 0 */
} smtpc_command;

/* Message octets, server role: after DATA, unstuffed, each line with its
 * CRLF; after BDAT, the chunk's octets as they came. */
typedef struct smtpc_body {
	const unsigned char *data;
	size_t len;
} smtpc_body;

/*
 * The end of a message (SMTPC_EV_BODY_END) or of a BDAT chunk that is not
 * LAST (SMTPC_EV_CHUNK_END), server role.
 *
 * ok nonzero: every octet was delivered; the application answers with
 * smtpc_server_reply: 250 only once what it received is stored; 452 4.3.1
 * or 451 4.3.0 (one line or several) when storing failed. `replies` says how
 * many replies are owed: 1, or after LMTP's end of data one per accepted
 * recipient, in RCPT order (smtpc_server_reply_rcpt says which). A failure
 * reply to a chunk, and the replies to the end of a message whatever they
 * say, end the transaction: nothing is left half-done in the core; later
 * BDAT chunks of the failed transaction are read, refused with 503 and not
 * delivered (RFC 3030 2).
 *
 * ok zero: the core has refused the message itself and already answered
 * (why says how: SMTPC_ERR_DATA_BARE_EOL for a bare CR or LF,
 * SMTPC_ERR_DATA_LINE_LONG for a line over max_text_line, SMTPC_ERR_TOO_BIG
 * for max_message); drop what was received; nothing is owed.
 */
typedef struct smtpc_message_end {
	int ok;
	smtpc_err why;
	uint64_t size;	  /* octets delivered so far (a refused message: up to
			     its fault) */
	unsigned replies; /* replies owed (0 when ok is zero) */
	unsigned chunk;	  /* BDAT: number of the chunk that ended, from 0;
			     DATA: 0 */
} smtpc_message_end;

/* How a session ended. */
typedef enum smtpc_end_how {
	SMTPC_END_NONE = 0, /* it goes on */
	SMTPC_END_QUIT,	    /* client: QUIT issued and the peer closed (code 221,
			       or 0 if the 221 never came); server: QUIT answered
			       221 and the 221 sent. The one clean end. */
	SMTPC_END_SHUTDOWN, /* client: the server ended the service: 421, or a 221
			       nobody asked for (code); server: the application
			       sent 421 */
	SMTPC_END_DROPPED,  /* the peer closed the connection without QUIT or 421
			       (with outstanding replies, smtpc_error is also
			       SMTPC_ERR_CLOSED or SMTPC_ERR_TRUNCATED) */
	SMTPC_END_ERROR	    /* a sticky error (smtpc_error) */
} smtpc_end_how;

typedef struct smtpc_end {
	smtpc_end_how how;
	unsigned code;	     /* the reply that ended it (221, 421), or 0 */
	unsigned unanswered; /* client: commands issued that never got their
				reply (QUIT not counted) */
	int transaction;     /* a mail transaction was open: its message was not
				(client: not yet) handed over */
} smtpc_end;

typedef struct smtpc_event {
	smtpc_event_type type;
	smtpc_line line;	    /* SMTPC_EV_LINE */
	smtpc_reply reply;	    /* SMTPC_EV_REPLY */
	smtpc_err err;		    /* SMTPC_EV_ERROR */
	smtpc_command command;	    /* SMTPC_EV_COMMAND */
	smtpc_body body;	    /* SMTPC_EV_BODY */
	smtpc_message_end body_end; /* SMTPC_EV_BODY_END, SMTPC_EV_CHUNK_END */
	smtpc_end end;		    /* SMTPC_EV_CLOSED, SMTPC_EV_ERROR */
} smtpc_event;

/* ------------------------------------------------------------------------ */
/* Capabilities (EHLO)                                                      */
/* ------------------------------------------------------------------------ */

#define SMTPC_EXT_PIPELINING	      (1u << 0)
#define SMTPC_EXT_SIZE		      (1u << 1)
#define SMTPC_EXT_8BITMIME	      (1u << 2)
#define SMTPC_EXT_BINARYMIME	      (1u << 3)
#define SMTPC_EXT_SMTPUTF8	      (1u << 4)
#define SMTPC_EXT_CHUNKING	      (1u << 5)
#define SMTPC_EXT_STARTTLS	      (1u << 6)
#define SMTPC_EXT_DSN		      (1u << 7)
#define SMTPC_EXT_ENHANCEDSTATUSCODES (1u << 8)
#define SMTPC_EXT_REQUIRETLS	      (1u << 9)
#define SMTPC_EXT_AUTH		      (1u << 10)

#define SMTPC_AUTH_PLAIN    (1u << 0)
#define SMTPC_AUTH_LOGIN    (1u << 1)
#define SMTPC_AUTH_CRAM_MD5 (1u << 2)
#define SMTPC_AUTH_XOAUTH2  (1u << 3)

typedef struct smtpc_caps {
	unsigned ext;	     /* SMTPC_EXT_* offered */
	unsigned auth;	     /* SMTPC_AUTH_* mechanisms offered */
	uint64_t size_limit; /* SIZE value; 0 when absent, malformed or
				unlimited */
	int ext_truncated;   /* nonzero: the list did not fit max_ext */
} smtpc_caps;

/* One EHLO extension line: keyword and parameters, as the server sent them
 * (the old "AUTH=LOGIN PLAIN" form is split at '='). Not NUL-terminated. */
typedef struct smtpc_ext {
	const char *keyword;
	size_t keyword_len;
	const char *params;
	size_t params_len;
} smtpc_ext;

/* ------------------------------------------------------------------------ */
/* Message body encoder (DATA)                                              */
/* ------------------------------------------------------------------------ */

/*
 * Role: none (works on its own struct). A streaming encoder shaped like
 * zlib's z_stream. Set next_in/avail_in and next_out/avail_out, call
 * smtpc_dot_encode; it consumes input and produces output until either runs
 * out, updating the four fields and the totals. Output: every line ends in
 * CRLF (a bare CR or bare LF becomes CRLF), and a dot that starts a line is
 * doubled (RFC 5321 4.5.2). The state carries across calls, so any split of
 * the input gives the same output. smtpc_dot_finish writes the end of data:
 * CRLF (only if the body did not end with a line break) then ".CRLF". With
 * next_out NULL the encoder only measures: avail_out is ignored and total_out
 * counts the exact wire size. It makes progress with any avail_out >= 1.
 */
typedef struct smtpc_dotenc {
	const unsigned char *next_in;
	size_t avail_in;
	uint64_t total_in;
	unsigned char *next_out;
	size_t avail_out;
	uint64_t total_out;
	int has_8bit; /* nonzero once a byte >= 0x80 has been consumed */
	int no_dots;  /* set after smtpc_dot_init for BDAT: line ends are
			 normalised, dots are not doubled, and finish writes
			 only a final CRLF when the text lacks one */
	/* private */
	unsigned char bol, cr, npend, finished;
	unsigned char pend[6];
} smtpc_dotenc;

/* Resets *e to the start of a body (all fields zero, at a line start).
 * NULL is ignored. */
void smtpc_dot_init(smtpc_dotenc *e);
/* Encodes; returns nonzero when all input was consumed and nothing is held
 * back for want of output space; 0 for NULL. */
int smtpc_dot_encode(smtpc_dotenc *e);
/* Writes the terminator (after any remaining input). Returns nonzero when
 * all of it is written; call again with more output space otherwise; 0 for
 * NULL. */
int smtpc_dot_finish(smtpc_dotenc *e);

/* ------------------------------------------------------------------------ */
/* Command options                                                          */
/* ------------------------------------------------------------------------ */

typedef enum smtpc_body_type {
	SMTPC_BODY_NONE = 0, /* no BODY= parameter */
	SMTPC_BODY_7BIT,
	SMTPC_BODY_8BITMIME,  /* needs 8BITMIME (RFC 6152) */
	SMTPC_BODY_BINARYMIME /* needs BINARYMIME and CHUNKING (RFC 3030) */
} smtpc_body_type;

typedef enum smtpc_ret { SMTPC_RET_NONE = 0, SMTPC_RET_FULL, SMTPC_RET_HDRS } smtpc_ret;

typedef struct smtpc_mail_opts {
	uint64_t size;	      /* SIZE= (RFC 1870); 0: none. Checked against
				 the server's limit. Needs SIZE. */
	smtpc_body_type body; /* BODY= */
	int smtputf8;	      /* SMTPUTF8 (RFC 6531); allows UTF-8 addresses
				 in this MAIL and its RCPTs. */
	int requiretls;	      /* REQUIRETLS (RFC 8689); needs it offered and
				 the connection secure */
	smtpc_ret ret;	      /* RET= (RFC 3461); needs DSN */
	const char *envid;    /* ENVID= (RFC 3461), xtext-encoded here;
				 printable ASCII, at most 100 octets; NULL:
				 none. Needs DSN. */
	const char *extra;    /* more ESMTP parameters, "KEY=VALUE KEY2",
				 syntax-checked (RFC 5321 4.1.2); each keyword
				 once, and none that a field above controls
				 (SIZE, BODY, SMTPUTF8, REQUIRETLS, RET, ENVID:
				 SMTPC_ERR_BAD_PARAM); NULL: none */
} smtpc_mail_opts;

#define SMTPC_NOTIFY_NEVER   (1u << 0)
#define SMTPC_NOTIFY_SUCCESS (1u << 1)
#define SMTPC_NOTIFY_FAILURE (1u << 2)
#define SMTPC_NOTIFY_DELAY   (1u << 3)

typedef struct smtpc_rcpt_opts {
	unsigned notify;   /* SMTPC_NOTIFY_*; 0: none; NEVER alone. Needs DSN. */
	const char *orcpt; /* ORCPT=rfc822;xtext(orcpt) (RFC 3461 4.2); ASCII;
			      NULL: none. Needs DSN. */
	const char *extra; /* as in smtpc_mail_opts; NOTIFY and ORCPT are
			      reserved */
} smtpc_rcpt_opts;

/* Digest hook for AUTH CRAM-MD5: out = HMAC-MD5(key, msg). key (the
 * password) and msg (the decoded challenge) are valid during the call only.
 * Returns 0 on success; nonzero makes the exchange fail with a sticky
 * SMTPC_ERR_DIGEST. The core has no crypto; the TLS adapter can supply one.
 * A call back into the connection from it is refused (SMTPC_ERR_REENTRANT). */
typedef int (*smtpc_hmac_md5_fn)(void *ctx, const unsigned char *key, size_t key_len,
				 const unsigned char *msg, size_t msg_len, unsigned char out[16]);

typedef enum smtpc_mech {
	SMTPC_MECH_PLAIN = 1, /* RFC 4616, sent as an initial response */
	SMTPC_MECH_LOGIN,     /* draft-murchison-sasl-login */
	SMTPC_MECH_CRAM_MD5,  /* RFC 2195; needs smtpc_set_hmac_md5 */
	SMTPC_MECH_XOAUTH2    /* password is the OAuth 2.0 bearer token */
} smtpc_mech;

/*
 * Client. Called each time a command line is formatted into the transmit
 * buffer (line without CRLF; the end of message data is reported as "." with
 * SMTPC_CMD_DATA_END; message content is not reported). secret is nonzero
 * for lines that carry credentials (AUTH responses, a raw AUTH with an
 * initial response). line is not NUL-terminated and valid during the call
 * only. For logs and transcripts: a call back into the connection from the
 * hook is refused (SMTPC_ERR_REENTRANT); the line is already in the
 * transmit buffer when the hook runs.
 */
typedef void (*smtpc_command_fn)(void *ctx, smtpc_cmd cmd, const char *line, size_t len,
				 int secret);

/* Server: checks AUTH credentials (user and pass are not NUL-terminated and
 * valid during the call only; user is the authentication identity, PLAIN's
 * authorization identity being empty or the same); returns nonzero to
 * accept. A call back into the connection from it is refused
 * (SMTPC_ERR_REENTRANT): the core answers 235 or 535 when it returns. */
typedef int (*smtpc_server_auth_fn)(void *ctx, const char *user, size_t user_len, const char *pass,
				    size_t pass_len);

/* What the core is waiting for, so an adapter can apply the RFC 5321
 * 4.5.3.2 timeouts. Values are stable. */
typedef enum smtpc_wait {
	SMTPC_WAIT_NONE = 0,	/* nothing: idle client, or the session is over */
	SMTPC_WAIT_GREETING,	/* client: 5 min */
	SMTPC_WAIT_MAIL,	/* client: 5 min */
	SMTPC_WAIT_RCPT,	/* client: 5 min */
	SMTPC_WAIT_DATA_START,	/* client: the reply to DATA, 2 min */
	SMTPC_WAIT_DATA_BLOCK,	/* client: the caller is sending message data
				   (3 min per block sent); server: the next block
				   of message data or the rest of a BDAT chunk
				   (3 min) */
	SMTPC_WAIT_DATA_END,	/* client: the reply to the final dot or a BDAT
				   chunk, 10 min */
	SMTPC_WAIT_OTHER,	/* client: any other reply, 5 min */
	SMTPC_WAIT_COMMAND,	/* server: the next command (or AUTH response
				   line), 5 min (RFC 5321 4.5.3.2.7) */
	SMTPC_WAIT_APPLICATION, /* server: nothing from the peer: the application
				   owes the greeting or a reply (its own deadline) */
	SMTPC_WAIT_TLS,		/* both: paused for the TLS handshake */
	SMTPC_WAIT__COUNT	/* the number of values: for arrays indexed by
				   smtpc_wait (timeouts) */
} smtpc_wait;

/* Bits of smtpc_want. */
#define SMTPC_WANT_READ	 (1u << 0) /* room for input; reading is useful */
#define SMTPC_WANT_WRITE (1u << 1) /* bytes are waiting in smtpc_send_buf */
#define SMTPC_WANT_EVENT (1u << 2) /* smtpc_next_event has something */
#define SMTPC_WANT_TLS	 (1u << 3) /* paused for the TLS handshake */
#define SMTPC_WANT_CLOSED                                                                          \
	(1u << 4) /* finished: closed or failed (and, for a                                        \
		     server, its last reply sent) */

/* ------------------------------------------------------------------------ */
/* The connection                                                           */
/* ------------------------------------------------------------------------ */

/* All fields below are private: use the functions. They are visible only so
 * that the caller can allocate the connection. */

typedef struct smtpc_qent {
	unsigned char cmd; /* smtpc_cmd */
	unsigned char flags;
	unsigned short index;
	uint32_t mark_lo, mark_hi; /* octets received when it was issued */
} smtpc_qent;

struct smtpc_role; /* the role's operations, set by init (core/internal.h) */

typedef struct smtpc_conn {
	/* the engine: both roles (the most used fields first: small offsets
	 * make short instructions on small targets) */
	const struct smtpc_role *role;
	unsigned flags;
	smtpc_err err;
	unsigned char *in; /* input area, then reply area, then EHLO list */
	size_t in_cap, in_start, in_end, in_scan;
	unsigned char *tx;
	size_t tx_cap, tx_start, tx_end;
	uint64_t rx_total; /* octets received */
	union {
		struct { /* client */
			unsigned flags;
			unsigned short q_head, q_len;
			unsigned char state, auth_mech, auth_step;
			unsigned short rcpts;		     /* RCPTs issued in this transaction */
			unsigned short bdats;		     /* BDAT chunks issued in it */
			unsigned short txn;		     /* MAIL commands issued */
			unsigned short lmtp_left, lmtp_next; /* LMTP end-of-data replies */
			size_t rep_len, rep_lines, ext_len;
			unsigned rep_code;
			smtpc_esc rep_esc;
			uint64_t rep_start; /* stream offset of the reply's first octet */
			uint64_t bdat_left;
			smtpc_caps caps;
			const char *auth_user, *auth_pass;
			smtpc_hmac_md5_fn hmac;
			void *hmac_ctx;
			smtpc_err (*cram)(struct smtpc_conn *, const char *, size_t,
					  unsigned char *);		 /* set with the hook */
			int (*lmtp)(struct smtpc_conn *, smtpc_reply *); /* set by LHLO */
			smtpc_command_fn hook;
			void *hook_ctx;
			smtpc_dotenc dot;
			smtpc_qent q[SMTPC_QUEUE_CAP];
		} cl;
		struct { /* server */
			unsigned flags;
			unsigned char state, cmd, why;
			unsigned short rcpts_seen, rcpts_ok, owed, next_rcpt, chunk, auth_ulen;
			unsigned short refusals; /* the core's own refusals still to send */
			const char *refusal;
			uint64_t size, chunk_left;
			smtpc_server_auth_fn auth;
			void *auth_ctx;
		} sv;
	} u;
	unsigned char end_how, end_txn;
	unsigned short end_code, end_unanswered;
	uint32_t lmtp_ok[SMTPC_LMTP_RCPT_CAP / 32]; /* accepted recipients */
	smtpc_config cfg;
} smtpc_conn;

/*
 * Role: client (this call makes the connection a client). Initialises the
 * connection: cfg NULL means the defaults; the values are copied and
 * clamped. rx must hold at least smtpc_rx_min(cfg) octets and tx at least
 * SMTPC_TX_MIN; a larger tx lets more commands and message data go out in one
 * write. Both stay the caller's and must outlive the connection. The
 * connection then expects the server's greeting. Any previous content of *c
 * is overwritten. Errors: SMTPC_ERR_NULL_ARG, SMTPC_ERR_BUFFER_SMALL,
 * SMTPC_ERR_ABI (this header does not match the library); after an error the
 * connection has no role and refuses every call.
 *
 * A macro: it passes the size of smtpc_conn and the caps this unit was
 * compiled with to smtpc_init_ (do not call smtpc_init_ yourself).
 */
#define smtpc_init(c, cfg, rx, rx_len, tx, tx_len)                                                 \
	smtpc_init_((c), (cfg), (rx), (rx_len), (tx), (tx_len), sizeof(smtpc_conn), SMTPC_CAPS_KEY)
smtpc_err smtpc_init_(smtpc_conn *c, const smtpc_config *cfg, void *rx, size_t rx_len, void *tx,
		      size_t tx_len, size_t conn_size, unsigned long caps_key);

/* --- bytes in (both roles) ------------------------------------------------ */

/*
 * Both. Where to write received bytes: returns a pointer into the receive buffer
 * and sets *len to the room (NULL and 0 when the core wants no input: a
 * pending event must be pulled first, the session ended, or it is paused for
 * TLS). Then call smtpc_recv_ack with the count written (at most *len; more
 * is clamped). The pointer is valid until the next non-const call.
 * Acknowledging bytes while paused for TLS is plaintext injection: a sticky
 * SMTPC_ERR_STARTTLS_INJECTION, as with smtpc_feed. After a sticky error or
 * the end of input, acknowledged bytes are dropped. Inside a hook recv_buf
 * gives no room and recv_ack is ignored.
 */
unsigned char *smtpc_recv_buf(smtpc_conn *c, size_t *len);
void smtpc_recv_ack(smtpc_conn *c, size_t n);

/*
 * Both. Copies up to len received bytes in; returns how many it took. It takes
 * fewer when its buffer is full of unparsed input: pull events, then feed
 * the rest. After a sticky error, or after the end of input, it takes
 * everything and discards it. Bytes fed while paused for STARTTLS are
 * plaintext injection: a sticky SMTPC_ERR_STARTTLS_INJECTION. data may be
 * NULL only when len is 0; it is read during the call only. Returns 0 (takes
 * nothing) for a NULL connection, one whose init failed, and inside a hook.
 */
size_t smtpc_feed(smtpc_conn *c, const void *data, size_t len);

/*
 * Both. The peer closed its side (a read returned 0, or the TLS layer saw
 * close_notify): no more input will come. Input already taken is still
 * parsed; then the session ends with SMTPC_EV_CLOSED, or SMTPC_EV_ERROR when
 * the input stopped inside a line or with replies owed (client:
 * SMTPC_ERR_TRUNCATED, SMTPC_ERR_CLOSED; see smtpc_session_end for how it
 * ended). Afterwards input is dropped, commands are SMTPC_ERR_ENDED and no
 * message data is taken. Calling it again changes nothing. Ignored for NULL,
 * a connection whose init failed, and inside a hook.
 */
void smtpc_eof(smtpc_conn *c);

/* --- events (both roles) -------------------------------------------------- */

/*
 * Both. Pulls the next event into *ev and returns its type (also in ev->type).
 * Parses at most one line per call. See smtpc_event_type for the meaning of
 * each, and the role sections below. A NULL argument, or a connection whose
 * init failed, returns SMTPC_EV_ERROR (ev->err SMTPC_ERR_NULL_ARG or
 * SMTPC_ERR_ROLE when ev is not NULL); so does a call from inside a hook
 * (ev->err SMTPC_ERR_REENTRANT), which changes nothing and is not sticky.
 */
smtpc_event_type smtpc_next_event(smtpc_conn *c, smtpc_event *ev);

/* --- bytes out (both roles) ----------------------------------------------- */

/* Both. The bytes waiting to be sent, and their count in *len (NULL and 0
 * when none, after a sticky error, or for a NULL argument). The pointer is
 * valid until the next non-const call. Then smtpc_send_ack with the count
 * actually sent (more than *len is clamped; ignored inside a hook, for NULL
 * and for a connection whose init failed). Bytes not acknowledged stay at
 * the front and go out first. */
const unsigned char *smtpc_send_buf(const smtpc_conn *c, size_t *len);
void smtpc_send_ack(smtpc_conn *c, size_t n);

/* --- state (both roles) --------------------------------------------------- */

/*
 * Both. What the connection wants now, as SMTPC_WANT_* bits, for an event
 * loop: READ (there is room for input), WRITE (smtpc_send_buf has bytes),
 * EVENT (smtpc_next_event has something other than NEED_DATA), TLS (paused:
 * run the handshake), CLOSED (finished: after the last event, and for a
 * server once its last reply is sent). SMTPC_WANT_CLOSED | SMTPC_WANT_EVENT
 * for NULL, a connection whose init failed, or after a sticky error (pull
 * the error event, then close).
 */
unsigned smtpc_want(const smtpc_conn *c);
/* What the next expected input is, for timeouts (see smtpc_wait). After a
 * sticky error, what was awaited when it came (to report a timeout); after
 * the end of the session, SMTPC_WAIT_NONE. */
smtpc_wait smtpc_waiting_for(const smtpc_conn *c);
/* The sticky error, SMTPC_ERR_OK when none; SMTPC_ERR_NULL_ARG for NULL. */
smtpc_err smtpc_error(const smtpc_conn *c);
/*
 * Records a transport error (timeout, reset, TLS failure) reported by an
 * adapter. Sticky: only the first error is kept; SMTPC_ERR_OK and unknown
 * values are ignored. Returns the error in force.
 */
smtpc_err smtpc_fail(smtpc_conn *c, smtpc_err e);
/* Client: replies still expected (0 once the session has ended, by its end
 * or a sticky error: the commands that will never be answered are counted
 * in smtpc_end.unanswered). Over LMTP the end of data counts one reply per
 * accepted recipient once it is the oldest command waiting (the replies to
 * its RCPTs are in by then), one before. Server: replies the application
 * still owes for the last event. */
size_t smtpc_pending(const smtpc_conn *c);
/* Both; 0 for NULL. Nonzero once EHLO, HELO or LHLO was answered 2xx
 * (client: by the server; server: by the application); reset by STARTTLS. */
int smtpc_is_greeted(const smtpc_conn *c);
/* Both; 0 for NULL. Nonzero when the connection was marked secure
 * (smtpc_tls_started or smtpc_set_secure). */
int smtpc_is_secure(const smtpc_conn *c);
/* Both; 0 for NULL. Nonzero after a 235 reply to AUTH (client: received;
 * server: sent); reset by STARTTLS. */
int smtpc_is_authenticated(const smtpc_conn *c);
/* Both. 1 when c was set up by smtpc_init (the client role), 0 otherwise
 * (NULL, a server, or a connection whose init failed). */
int smtpc_is_client(const smtpc_conn *c);
/* Both. 1 when c was set up by smtpc_server_init (the server role), 0
 * otherwise (NULL, a client, or a connection whose init failed). */
int smtpc_is_server(const smtpc_conn *c);
/*
 * Both. Marks the connection secure: it runs over implicit TLS (RFC 8314,
 * port 465) or another channel the application trusts. Call it after init,
 * before any byte moves. Effects: a client may then send AUTH
 * credentials and REQUIRETLS, and does not offer STARTTLS (SMTPC_ERR_STATE);
 * a server offers and accepts AUTH and does not offer STARTTLS. It cannot be
 * undone. Ignored for NULL and a connection whose init failed.
 */
void smtpc_set_secure(smtpc_conn *c);
/*
 * How the session ended; SMTPC_END_NONE while it goes on. Fills *end when
 * end is not NULL (how, the code of the reply that ended it, the commands
 * left unanswered, whether a transaction was open). The same is delivered in
 * the SMTPC_EV_CLOSED and SMTPC_EV_ERROR events.
 */
smtpc_end_how smtpc_session_end(const smtpc_conn *c, smtpc_end *end);

/* --- capabilities (client) ------------------------------------------------- */

/* The capabilities of the last successful EHLO or LHLO (all zero before one,
 * after HELO, after STARTTLS, and on a server connection). Never NULL; points
 * into the connection (or static storage). */
const smtpc_caps *smtpc_get_caps(const smtpc_conn *c);
/* Client. Iterates the extension lines of the last successful EHLO or LHLO
 * reply as kept (at most max_ext octets; caps.ext_truncated says when some
 * were left out): *pos starts at 0 and is advanced; returns nonzero and
 * fills *ext while there is one. The spans in *ext point into the receive
 * buffer and stay valid until the next EHLO, HELO or LHLO reply, or
 * smtpc_tls_started. Returns 0 for NULL arguments and on a server
 * connection. */
int smtpc_ext_next(const smtpc_conn *c, size_t *pos, smtpc_ext *ext);
/* Client. Finds an extension by keyword (NUL-terminated, compared
 * case-insensitively) among those smtpc_ext_next gives; returns nonzero
 * when found and fills *ext when ext is not NULL (same lifetime). 0 for a
 * NULL connection or keyword, and on a server connection. */
int smtpc_ext_find(const smtpc_conn *c, const char *keyword, smtpc_ext *ext);

/* --- commands (client) ---------------------------------------------------- */
/*
 * Role: client, every function in this section. Each command is validated
 * completely, then formatted into the transmit buffer, all or nothing, and
 * the reply it expects is queued; the reply comes back as SMTPC_EV_REPLY
 * with reply.cmd naming the command. String arguments are read during the
 * call only (AUTH's excepted). Without
 * PIPELINING a command may only be issued when no reply is outstanding; with
 * it, after MAIL, RCPT, RSET, a BDAT that is not LAST, or the end of message
 * data (RFC 2920 3.1). Every command returns SMTPC_ERR_NULL_ARG for a NULL
 * connection or required argument, SMTPC_ERR_ROLE on a server connection,
 * the sticky error once there is one, SMTPC_ERR_ENDED once the session has
 * ended or QUIT was issued, SMTPC_ERR_STATE while paused for TLS,
 * SMTPC_ERR_IN_BODY while message data is being sent, SMTPC_ERR_QUEUE_FULL,
 * SMTPC_ERR_PIPELINE, SMTPC_ERR_NO_SPACE (send, then retry) and
 * SMTPC_ERR_TX_SMALL (the line can never fit), SMTPC_ERR_REENTRANT (from a
 * hook), besides the errors listed with each. See the state table in
 * CONVENTIONS for which command is valid when.
 */

/* EHLO / HELO domain: a domain name or an address literal ("[192.0.2.1]").
 * Errors: the argument errors of smtpc_check_domain. Ends any transaction
 * (RFC 5321 4.1.4). A 2xx reply makes the session greeted; EHLO's reply
 * gives the capabilities, HELO's clears them. */
smtpc_err smtpc_ehlo(smtpc_conn *c, const char *domain);
smtpc_err smtpc_helo(smtpc_conn *c, const char *domain);
/* LHLO domain (LMTP, RFC 2033 4.1): as EHLO, and the session is LMTP from
 * then on (until EHLO or HELO): after the end of message data (the final dot,
 * or BDAT LAST) one reply per recipient accepted with 2xx comes back, in RCPT
 * order, each delivered for SMTPC_CMD_DATA_END (or SMTPC_CMD_BDAT) with
 * reply.index the number of the recipient it is for (one reply when none was
 * accepted). At most SMTPC_LMTP_RCPT_CAP recipients per transaction
 * (SMTPC_ERR_RCPT_LIMIT). */
smtpc_err smtpc_lhlo(smtpc_conn *c, const char *domain);
/* MAIL FROM:<from>. from "" is the null reverse-path. opts may be NULL.
 * Needs a greeted session and no open transaction (SMTPC_ERR_SEQUENCE).
 * Errors: mailbox errors as smtpc_check_mailbox, SMTPC_ERR_BAD_PARAM,
 * SMTPC_ERR_NOT_OFFERED (an option's extension), SMTPC_ERR_TOO_BIG (size over
 * the server's SIZE), SMTPC_ERR_NEEDS_TLS (REQUIRETLS before TLS),
 * SMTPC_ERR_TOO_LONG. Opens the transaction; a refusal of it closes it. */
smtpc_err smtpc_mail(smtpc_conn *c, const char *from, const smtpc_mail_opts *opts);
/* RCPT TO:<to>. opts may be NULL. "postmaster" needs no domain. Needs an open
 * transaction (SMTPC_ERR_SEQUENCE). Errors: as smtpc_mail, UTF-8 allowed only
 * when the MAIL carried SMTPUTF8; at most 65535 per transaction
 * (SMTPC_ERR_QUEUE_FULL), SMTPC_LMTP_RCPT_CAP over LMTP
 * (SMTPC_ERR_RCPT_LIMIT). The reply carries the recipient's number. */
smtpc_err smtpc_rcpt(smtpc_conn *c, const char *to, const smtpc_rcpt_opts *opts);
/* DATA. Needs an open transaction with at least one RCPT issued, and not
 * BODY=BINARYMIME (SMTPC_ERR_SEQUENCE). After its 354 reply, send the body
 * with smtpc_body_write and end it with smtpc_body_end. */
smtpc_err smtpc_data(smtpc_conn *c);
/* BDAT size [LAST] (RFC 3030); exactly size octets then follow through
 * smtpc_body_write, sent as they are. Needs an open transaction with a RCPT
 * issued (SMTPC_ERR_SEQUENCE) and CHUNKING (SMTPC_ERR_NOT_OFFERED). LAST ends
 * the transaction. */
smtpc_err smtpc_bdat(smtpc_conn *c, uint64_t size, int last);
/*
 * RSET (RFC 5321 4.1.1.5). Valid once the greeting has come, with or
 * without a transaction (not while message data is being sent:
 * SMTPC_ERR_IN_BODY). Ends the client's transaction at once: MAIL is
 * allowed next, and RCPT, DATA and BDAT are SMTPC_ERR_SEQUENCE until then.
 * The server's reply (250 expected; whatever it is, the transaction is
 * over as far as the client is concerned) comes with reply.cmd
 * SMTPC_CMD_RSET. With PIPELINING more commands may follow it before its
 * reply (RFC 2920 3.1). Errors: only the common ones above.
 */
smtpc_err smtpc_rset(smtpc_conn *c);
/*
 * NOOP (RFC 5321 4.1.1.9): asks the server for a 250 and changes nothing
 * else; for keep-alive, or to learn whether the server is still there.
 * Valid once the greeting has come, in or out of a transaction (not while
 * message data is being sent). Its reply comes with reply.cmd
 * SMTPC_CMD_NOOP. It ends a pipelined group: the next command waits for its
 * reply. Errors: only the common ones above.
 */
smtpc_err smtpc_noop(smtpc_conn *c);
/*
 * VRFY what (RFC 5321 4.1.1.6, 3.5): asks the server about a user name or
 * mailbox. what (NUL-terminated, read during the call) is printable ASCII
 * and not empty (SMTPC_ERR_BAD_PARAM for "", SMTPC_ERR_CTRL_CHAR for a
 * control byte, SMTPC_ERR_NEEDS_SMTPUTF8 for an octet >= 0x80) and fits
 * the 512-octet line (SMTPC_ERR_TOO_LONG). Valid as NOOP. The reply (250,
 * 251, 252 "cannot verify", 550, ...) comes with reply.cmd SMTPC_CMD_VRFY;
 * many servers answer 252 to everything. It ends a pipelined group.
 */
smtpc_err smtpc_vrfy(smtpc_conn *c, const char *what);
/*
 * QUIT (RFC 5321 4.1.1.10): asks the server to close. Valid once the
 * greeting has come, in or out of a transaction (an open transaction is
 * abandoned: its message is not sent). After it no command may be issued
 * (SMTPC_ERR_ENDED), message data neither. Send what smtpc_send_buf holds,
 * then keep reading: the 221 reply comes with reply.cmd SMTPC_CMD_QUIT, and
 * the server's close then ends the session cleanly (SMTPC_EV_CLOSED,
 * SMTPC_END_QUIT; a close without the 221 still counts as QUIT, code 0).
 * Replies still owed to commands issued before it are delivered first; if
 * the server closes without them, the session ends SMTPC_END_DROPPED with
 * SMTPC_ERR_CLOSED. Errors: only the common ones above.
 */
smtpc_err smtpc_quit(smtpc_conn *c);
/* STARTTLS (RFC 3207). Needs a greeted session, no transaction
 * (SMTPC_ERR_SEQUENCE), a connection not yet secure (SMTPC_ERR_STATE) and
 * STARTTLS offered (SMTPC_ERR_NOT_OFFERED). After its 220 the core pauses:
 * SMTPC_EV_STARTTLS, then smtpc_tls_started. */
smtpc_err smtpc_starttls(smtpc_conn *c);
/*
 * AUTH (RFC 4954). The core answers 334 challenges itself: LOGIN sends the
 * user name to the first and the password to the second, whatever their
 * text; CRAM-MD5 uses the HMAC-MD5 hook; an unexpected challenge is
 * cancelled with "*", and a challenge after that is SMTPC_ERR_BAD_CHALLENGE
 * (sticky). A reply that had arrived before a response line was sent does
 * not answer the exchange (unless early_replies). user and pass are kept by pointer until the final
 * reply to AUTH. Needs a greeted session, no transaction
 * (SMTPC_ERR_SEQUENCE), no earlier success (SMTPC_ERR_STATE), the mechanism
 * offered (SMTPC_ERR_NOT_OFFERED), and, unless allow_plain_auth, a secure
 * connection (SMTPC_ERR_AUTH_NEEDS_TLS); CRAM-MD5 needs the hook
 * (SMTPC_ERR_DIGEST). A hook cleared or failing during the exchange is a
 * sticky SMTPC_ERR_DIGEST.
 */
smtpc_err smtpc_auth(smtpc_conn *c, smtpc_mech mech, const char *user, const char *pass);
/* Client. Sets (fn NULL: clears) the CRAM-MD5 digest hook, called during
 * smtpc_next_event when a CRAM-MD5 challenge comes; ctx is passed to it and
 * kept by pointer (the caller keeps it valid while the hook is set). Default:
 * none (AUTH CRAM-MD5 is then SMTPC_ERR_DIGEST). Cleared during an exchange,
 * the exchange fails (sticky SMTPC_ERR_DIGEST). Allowed at any time, inside
 * a hook too; ignored on a server connection and for NULL. */
void smtpc_set_hmac_md5(smtpc_conn *c, smtpc_hmac_md5_fn fn, void *ctx);
/* Client. Sets (fn NULL: clears) the command hook, called by each call that
 * formats a command line (and by smtpc_next_event for AUTH responses); ctx
 * is passed to it and kept by pointer. Default: none. Allowed at any time,
 * inside a hook too; ignored on a server connection and for NULL. */
void smtpc_set_command_hook(smtpc_conn *c, smtpc_command_fn fn, void *ctx);
/*
 * A raw command line (for interactive use); CRLF is added. No control byte
 * is allowed. The verb is recognised, so EHLO, LHLO, STARTTLS, DATA, QUIT
 * keep their meaning: after a 354 to a raw DATA, raw lines are message lines
 * that expect no reply, until the line "." (sent as it is: no
 * dot-stuffing). The typed rules hold: a raw AUTH needs a secure connection
 * unless allow_plain_auth (SMTPC_ERR_AUTH_NEEDS_TLS) and is reported to the
 * command hook as secret when it carries a response; a raw MAIL opens a
 * transaction whose SMTPUTF8 and BODY=BINARYMIME follow its parameters.
 */
smtpc_err smtpc_raw(smtpc_conn *c, const char *line, size_t len);

/* --- message data (client) ------------------------------------------------ */

/*
 * Client. After a 354 to DATA: encodes up to len bytes of message into the
 * transmit buffer (see smtpc_dotenc) and returns how many it consumed; 0 when
 * the buffer is full (send, then write again). After BDAT: copies up to the
 * rest of the announced chunk, unchanged. Returns 0 in any other state, once
 * the session has ended (421 or 221 received, end of input), after a sticky
 * error, inside a hook, on a server connection, and for NULL (data may be
 * NULL only when len is 0). data is read during the call.
 */
size_t smtpc_body_write(smtpc_conn *c, const void *data, size_t len);
/*
 * Client. One copy: as smtpc_body_write, but the octets go to dst (at most cap of
 * them) instead of the transmit buffer, so a TLS layer can have the message
 * encoded straight into its record buffer. Same rules, state and counts as
 * smtpc_body_write (dot-stuffing, line ends, totals and has_8bit in
 * smtpc_body_stats, the BDAT chunk's octets left), and the same wire image
 * for any mix of the two calls. Only while the transmit buffer is empty
 * (smtpc_send_buf has nothing): otherwise it returns 0 and writes nothing,
 * so octets keep their order. *written receives the octets written to dst;
 * the caller sends them before anything the connection frames later. dst is
 * only written during the call. Returns the input octets consumed: 0 in any
 * state where smtpc_body_write would return 0, and when written or dst is
 * NULL or cap is 0.
 */
size_t smtpc_body_write_to(smtpc_conn *c, const void *data, size_t len, void *dst, size_t cap,
			   size_t *written);
/* Client. Ends DATA's message: writes the terminator (CRLF.CRLF, or .CRLF
 * after a line break, with any octets the encoder held back), all or
 * nothing, and queues the final reply (SMTPC_CMD_DATA_END; over LMTP one per
 * accepted recipient). The transaction is over for the client: MAIL may be
 * pipelined next. SMTPC_ERR_NO_SPACE: nothing was written; send pending
 * bytes and call again. SMTPC_ERR_STATE when no DATA message is being sent
 * (BDAT chunks end by their size), SMTPC_ERR_ENDED once the session has
 * ended, the sticky error, SMTPC_ERR_ROLE, SMTPC_ERR_REENTRANT,
 * SMTPC_ERR_NULL_ARG. */
smtpc_err smtpc_body_end(smtpc_conn *c);
/* Client. The body encoder of the current or last message (its totals,
 * has_8bit), owned by the connection: valid as long as it is, read-only.
 * NULL on a server connection, one whose init failed, and for NULL. */
const smtpc_dotenc *smtpc_body_stats(const smtpc_conn *c);

/* --- TLS (both roles) -------------------------------------------------------- */

/* Both. After SMTPC_EV_STARTTLS and a successful handshake: the connection
 * is secure, what was learnt before is forgotten (client: capabilities;
 * server: the greeting and any transaction; both: AUTH) and EHLO is needed
 * again (RFC 3207 4.2). SMTPC_ERR_STATE when not paused, before the event
 * was pulled, or once the session has ended; the sticky error if any;
 * SMTPC_ERR_NULL_ARG, SMTPC_ERR_ROLE (init failed), SMTPC_ERR_REENTRANT.
 * If the handshake failed, report it with smtpc_fail(c, SMTPC_ERR_TLS)
 * instead. */
smtpc_err smtpc_tls_started(smtpc_conn *c);

/* --- server role ----------------------------------------------------------------- */
/*
 * The same engine answering instead of asking. The core reads commands with
 * the client side's limits and injection rules: a line with a control byte,
 * a bare LF, or over its limit is refused with a 500 reply and not acted on
 * (and ends an AUTH exchange in progress). It answers NOOP, RSET, VRFY,
 * HELP, QUIT, STARTTLS and AUTH itself, refuses commands out of sequence
 * (503) and unknown ones (500), and hands EHLO, HELO, LHLO, MAIL, RCPT, DATA,
 * the end of each BDAT chunk and the end of each message to the application
 * as events, one at a time: each must be answered with smtpc_server_reply
 * before the next event comes. Pipelined commands are therefore answered in
 * order. The core never acknowledges message data on its own: only the
 * application answers the end of a chunk or of a message.
 *
 * Message data after DATA is decoded strictly (RFC 5321 4.1.1.4, 4.5.2):
 * only CRLF.CRLF ends it; a bare CR or bare LF anywhere, a line over
 * max_text_line, or more than max_message octets gets a 5xx after the data
 * ends and the message is not accepted (SMTP smuggling: CVE-2023-51764).
 * Leading dots are removed. BDAT chunks (RFC 3030) are read exactly. A source
 * route in MAIL or RCPT (<@a,@b:u@c>) is ignored (RFC 5321 4.1.1.3).
 */

/* Role: server (this call makes the connection a server). As smtpc_init
 * (same buffers, errors and macro), and tx must hold at least
 * SMTPC_SERVER_TX_MIN octets. The application then sends the greeting. */
#define smtpc_server_init(c, cfg, rx, rx_len, tx, tx_len)                                          \
	smtpc_server_init_((c), (cfg), (rx), (rx_len), (tx), (tx_len), sizeof(smtpc_conn),         \
			   SMTPC_CAPS_KEY)
smtpc_err smtpc_server_init_(smtpc_conn *c, const smtpc_config *cfg, void *rx, size_t rx_len,
			     void *tx, size_t tx_len, size_t conn_size, unsigned long caps_key);
/* Server. The greeting: 220 and text (RFC 5321 4.2); 554 refuses service
 * (only QUIT is then accepted, everything else gets 503); 421 refuses it and
 * ends the session. Once, first (SMTPC_ERR_STATE otherwise, SMTPC_ERR_ENDED
 * after the end). text and the other errors as for smtpc_server_reply. */
smtpc_err smtpc_server_greet(smtpc_conn *c, unsigned code, const char *text);
/*
 * Server. Answers the pending event (SMTPC_ERR_STATE when none is owed,
 * SMTPC_ERR_ENDED once the session has ended; SMTPC_ERR_NULL_ARG,
 * SMTPC_ERR_ROLE, SMTPC_ERR_REENTRANT, the sticky error). On any error
 * nothing is written and the reply is still owed.
 * code is 200-599 (SMTPC_ERR_BAD_PARAM); text may hold several lines
 * separated by '\n', each at most 506 octets (SMTPC_ERR_TOO_LONG: RFC 5321
 * 4.5.3.1.5), no other control byte but HT (SMTPC_ERR_CTRL_CHAR); it is read
 * during the call. SMTPC_ERR_NO_SPACE when the transmit buffer is full (send,
 * then retry). Effects: 2xx to EHLO/HELO/LHLO greets; 2xx to MAIL opens the
 * transaction, to RCPT accepts a recipient; 354 to DATA starts the message
 * data; 2xx to a chunk end lets the message go on, anything else ends the
 * transaction; the replies to the end of a message end the transaction
 * whatever they say (RFC 5321 3.3, 4.1.4); 421 to anything ends the session
 * once sent (RFC 5321 3.8).
 */
smtpc_err smtpc_server_reply(smtpc_conn *c, unsigned code, const char *text);
/* Server. Answers EHLO or LHLO with 250, domain and the capabilities in caps
 * (SIZE with caps->size_limit; STARTTLS when allowed and not yet secure;
 * AUTH PLAIN LOGIN when a check is set and TLS is up or allow_plain_auth).
 * domain: printable ASCII, 1 to 255 octets; caps: read during the call
 * (ext and size_limit; auth is ignored: the mechanisms follow the AUTH
 * hook). Only for an EHLO or LHLO event (SMTPC_ERR_STATE otherwise).
 * Errors as smtpc_server_reply, SMTPC_ERR_BAD_DOMAIN, SMTPC_ERR_NULL_ARG
 * for caps NULL. */
smtpc_err smtpc_server_reply_ehlo(smtpc_conn *c, const char *domain, const smtpc_caps *caps);
/* Server. After LMTP's end of data: sets *rcpt to the number in the
 * transaction (counting every RCPT, from 0) of the recipient the next
 * smtpc_server_reply answers, and returns nonzero; returns 0 (and leaves
 * *rcpt alone) when the next reply is not a per-recipient one, for NULL
 * arguments and on a client connection. */
int smtpc_server_reply_rcpt(const smtpc_conn *c, unsigned *rcpt);
/* Server. Ends the session now whatever its state: queues "421 text" (one
 * line, as smtpc_server_reply), reads nothing more, and reports
 * SMTPC_EV_CLOSED (SMTPC_END_SHUTDOWN) once it is sent. For timeouts and
 * shutdown (RFC 5321 3.8, 4.5.3.2). Allowed before the greeting (421 is
 * then the greeting) and while a reply is owed (the 421 replaces it).
 * SMTPC_ERR_ENDED when already over; SMTPC_ERR_STATE while paused for TLS
 * (close the TLS layer instead); text errors as smtpc_server_reply. */
smtpc_err smtpc_server_shutdown(smtpc_conn *c, const char *text);
/* Server. allow nonzero offers and accepts STARTTLS (the application has a
 * TLS layer): after the 220 the core pauses with SMTPC_EV_STARTTLS until
 * smtpc_tls_started. Default: not allowed (502). Takes effect at the next
 * EHLO or STARTTLS; ignored for NULL and on a client connection. */
void smtpc_server_allow_starttls(smtpc_conn *c, int allow);
/* Server. Accepts AUTH PLAIN and LOGIN, checking credentials with fn (NULL:
 * AUTH not offered, 502; cleared during an exchange: that exchange is
 * answered 454). ctx is passed to fn and kept by pointer. PLAIN with an
 * authorization identity other than the user is refused (535: RFC 4616 2).
 * Default: none. Allowed inside the hook; ignored for NULL and on a client
 * connection. */
void smtpc_server_set_auth(smtpc_conn *c, smtpc_server_auth_fn fn, void *ctx);

/* --- pure helpers (both roles; no connection needed) --------------------------- */

/* Nonzero when line[0, len) (with or without CRLF) is the last line of a
 * reply: a valid code followed by a space or by nothing. 0 for NULL. */
int smtpc_is_last_line(const char *line, size_t len);
/* The reply code (200-599) of line[0, len), 0 when it does not start with
 * one, and for NULL. */
unsigned smtpc_line_code(const char *line, size_t len);

/* Base64 (RFC 4648), as used by AUTH. encode needs 4*((n+2)/3) octets of
 * room and returns the count written (no NUL), 0 without room. decode ignores
 * nothing: returns the decoded count, or (size_t)-1 on malformed input or no
 * room (and for NULL pointers). in is read, out written, during the call. */
size_t smtpc_b64_encode(char *out, size_t out_len, const void *in, size_t n);
size_t smtpc_b64_decode(unsigned char *out, size_t out_len, const char *in, size_t n);

/* The checks smtpc_mail, smtpc_rcpt and smtpc_ehlo apply, on their own, for
 * validating input early: SMTPC_ERR_OK or the argument error. smtputf8
 * nonzero allows UTF-8; "" (the null path) is not a mailbox.
 * SMTPC_ERR_NULL_ARG for NULL. */
smtpc_err smtpc_check_mailbox(const char *addr, int smtputf8);
smtpc_err smtpc_check_domain(const char *domain);

/* xtext (RFC 3461 4) of in[0, n): returns the encoded length; writes it
 * (no NUL) only when out != NULL and out_len suffices. 0 for in NULL. */
size_t smtpc_xtext_encode(char *out, size_t out_len, const char *in, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* SMTPC_H */
