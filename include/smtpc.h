/*
 * smtpc.h - the smtpc core: a Sans-I/O SMTP client engine.
 *
 * CONVENTIONS
 *
 * Memory. The core never allocates. The caller owns every object: the
 * connection (smtpc_conn, a visible struct so it can be static, on the stack
 * or embedded), its receive buffer and its transmit buffer. The buffers are
 * handed over at smtpc_init and must stay valid, and must not be touched by
 * the caller, until the connection is no longer used. Minimum sizes are
 * documented and checked at init.
 *
 * No I/O, no clock. Bytes come in through smtpc_recv_buf/smtpc_recv_ack (the
 * caller reads straight into the core's buffer) or smtpc_feed (the core copies);
 * end of input is smtpc_eof. Bytes go out through smtpc_send_buf/smtpc_send_ack.
 * The core never blocks and never calls back into the caller, except for the
 * optional HMAC-MD5 hook (smtpc_set_hmac_md5), which it calls synchronously.
 *
 * Events are pulled. smtpc_next_event returns one event at a time, or
 * SMTPC_EV_NEED_DATA when it needs more input. Pointers inside an event
 * point into the connection's buffers: they stay valid until the next call
 * that takes the connection as non-const (smtpc_next_event, smtpc_feed,
 * smtpc_recv_ack, smtpc_eof, any command). Const queries leave them alone.
 *
 * Errors. Calls that issue a command return an smtpc_err. When they fail,
 * nothing was written and the connection is exactly as it was: the caller may
 * correct the argument and try again. Errors that end the session (the peer
 * broke the protocol, a transport failure reported by an adapter) are
 * sticky: the first one is kept, smtpc_error returns it, and every later
 * smtpc_next_event returns SMTPC_EV_ERROR. 4xx and 5xx replies are never
 * errors: they are replies, delivered as events for the caller to act on.
 *
 * Strings. Arguments named `const char *` are NUL-terminated and read during
 * the call only, unless the function says otherwise (AUTH credentials are
 * kept by pointer until the AUTH exchange ends).
 *
 * Threads. A connection is used by one thread at a time. Distinct
 * connections share nothing: the core has no global state.
 */
#ifndef SMTPC_H
#define SMTPC_H

#include <stddef.h>
#include <stdint.h>

#include "smtpc_limits.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SMTPC_VERSION "0.1.0"

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * Error classes:
 *  MISUSE     the API was called wrongly (state, order, NULL, small buffer);
 *  ARGUMENT   an argument was refused (control byte, bad address, too long);
 *  POLICY     local policy: an extension not offered, message over SIZE,
 *             AUTH before TLS;
 *  AGAIN      not now: send pending bytes or wait for replies, then retry;
 *  PROTOCOL   the peer broke the protocol (sticky);
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

/* X(name, class, description): the one table of errors. */
#define SMTPC_ERRORS(X)                                                              \
	X(OK, NONE, "no error")                                                      \
	X(NULL_ARG, MISUSE, "a required pointer argument is NULL")                   \
	X(BUFFER_SMALL, MISUSE, "a buffer is smaller than the documented minimum")   \
	X(STATE, MISUSE, "not allowed in the current session state")                 \
	X(SEQUENCE, MISUSE, "command out of order (RCPT before MAIL, DATA before RCPT, ...)") \
	X(PIPELINE, MISUSE,                                                          \
	  "a reply is outstanding and the command may not be pipelined after it")   \
	X(IN_BODY, MISUSE, "message data is being sent; finish it first")          \
	X(CTRL_CHAR, ARGUMENT, "control byte (CR, LF, NUL, DEL, ...) in an argument") \
	X(BAD_ADDRESS, ARGUMENT, "not an RFC 5321 mailbox")                          \
	X(ADDRESS_TOO_LONG, ARGUMENT, "address part over the RFC 5321 4.5.3.1 limits") \
	X(BAD_DOMAIN, ARGUMENT, "not an RFC 5321 domain or address literal")         \
	X(BAD_UTF8, ARGUMENT, "malformed UTF-8")                                     \
	X(BAD_PARAM, ARGUMENT, "malformed ESMTP parameter or value")                 \
	X(TOO_LONG, ARGUMENT, "command line over its length limit")                  \
	X(TX_SMALL, ARGUMENT, "line longer than the whole transmit buffer")          \
	X(NEEDS_SMTPUTF8, POLICY, "non-ASCII address without SMTPUTF8")              \
	X(NOT_OFFERED, POLICY, "the server did not offer the extension")             \
	X(TOO_BIG, POLICY, "message larger than the server's SIZE limit")            \
	X(AUTH_NEEDS_TLS, POLICY, "AUTH would send credentials in clear text")       \
	X(NO_SPACE, AGAIN, "transmit buffer full: send pending bytes first")         \
	X(QUEUE_FULL, AGAIN, "too many replies outstanding: read replies first")     \
	X(BAD_REPLY, PROTOCOL, "malformed reply line")                               \
	X(CODE_MISMATCH, PROTOCOL, "lines of one reply carry different codes")       \
	X(LINE_TOO_LONG, PROTOCOL, "reply line over the configured limit")           \
	X(TOO_MANY_LINES, PROTOCOL, "reply has more lines than the configured limit") \
	X(REPLY_TOO_LONG, PROTOCOL, "reply text over the configured limit")          \
	X(REPLY_NUL, PROTOCOL, "NUL byte in a reply")                                \
	X(REPLY_CTRL, PROTOCOL, "control byte or bare CR in a reply")                \
	X(BARE_LF, PROTOCOL, "reply line ended by a bare LF (strict mode)")          \
	X(STARTTLS_INJECTION, PROTOCOL,                                              \
	  "plaintext received after the 220 reply to STARTTLS")                      \
	X(BAD_CHALLENGE, PROTOCOL, "malformed AUTH challenge")                       \
	X(TRUNCATED, TRANSPORT, "connection closed in the middle of a reply")         \
	X(CLOSED, TRANSPORT, "connection closed with replies outstanding")          \
	X(DIGEST, MISUSE, "no HMAC-MD5 hook, or the hook failed")                    \
	X(TIMEOUT, TRANSPORT, "timed out")                                           \
	X(CONNECT, TRANSPORT, "connection refused or unreachable")                   \
	X(RESOLVE, TRANSPORT, "host name did not resolve")                           \
	X(RESET, TRANSPORT, "connection reset by peer")                              \
	X(IO, TRANSPORT, "input/output error")                                       \
	X(TLS, TRANSPORT, "TLS failure")

typedef enum smtpc_err {
#define SMTPC_X_ENUM(name, cls, desc) SMTPC_ERR_##name,
	SMTPC_ERRORS(SMTPC_X_ENUM)
#undef SMTPC_X_ENUM
	SMTPC_ERR__COUNT
} smtpc_err;

/* "SMTPC_ERR_BAD_REPLY" for SMTPC_ERR_BAD_REPLY; "SMTPC_ERR_?" if unknown. */
const char *smtpc_err_name(smtpc_err e);
/* One-line English description; never NULL. */
const char *smtpc_err_desc(smtpc_err e);
/* The class of an error. */
smtpc_errclass smtpc_err_class(smtpc_err e);

/* ------------------------------------------------------------------------ */
/* Configuration                                                            */
/* ------------------------------------------------------------------------ */

typedef struct smtpc_config {
	/* Longest reply line, octets without CRLF. Default 2048, clamped to
	 * [SMTPC_LINE_MIN, SMTPC_LINE_CAP]. A longer line is an error
	 * (SMTPC_ERR_LINE_TOO_LONG), never split. */
	size_t max_line;
	/* Most lines in one reply. Default 64, clamped to [1, SMTPC_LINES_CAP]. */
	size_t max_lines;
	/* Most text octets in one reply (all lines' text plus one octet per
	 * line). Default 4096, clamped to at least max_line + 1. */
	size_t max_reply;
	/* Octets kept for the EHLO extension list (smtpc_ext_next). Default
	 * 1024; 0 keeps none (the known extensions are still recognised). */
	size_t max_ext;
	/* Replies outstanding at once. Default and cap SMTPC_QUEUE_CAP. */
	size_t max_queue;
	/* Nonzero: a reply line must end in CRLF; a bare LF is an error
	 * (SMTPC_ERR_BARE_LF). Default 0: a bare LF ends a line, as it does
	 * for most SMTP clients. A CR anywhere but before LF is always an
	 * error. */
	int strict_crlf;
	/* Nonzero: a reply that had fully arrived before its command was
	 * issued may still answer it. Default 0: such a reply answers nothing
	 * and is delivered with cmd SMTPC_CMD_NONE, so bytes a server (or a
	 * man in the middle) sends ahead cannot pass for the answer to a
	 * later command. */
	int early_replies;
	/* Server role: longest message line, octets with CRLF. Default 1000
	 * (RFC 5321 4.5.3.1.6), clamped to [1000, max_line]. */
	size_t max_text_line;
	/* Server role: largest message in octets (SIZE); 0: no limit. */
	uint64_t max_message;
	/* Nonzero: AUTH may be sent before TLS is up. Default 0: AUTH over a
	 * connection not marked secure fails with SMTPC_ERR_AUTH_NEEDS_TLS. */
	int allow_plain_auth;
} smtpc_config;

/* Fills *cfg with the defaults above. */
void smtpc_config_default(smtpc_config *cfg);

/*
 * Smallest receive buffer smtpc_init accepts for this configuration (after
 * clamping): input area (max_line + 2) + reply area (max_reply + 1) +
 * extension area (max_ext). About 7 KiB for the defaults. cfg NULL means
 * the defaults.
 */
size_t smtpc_rx_min(const smtpc_config *cfg);

/* ------------------------------------------------------------------------ */
/* Commands, replies, events                                                */
/* ------------------------------------------------------------------------ */

/* Which command a reply answers. */
typedef enum smtpc_cmd {
	SMTPC_CMD_NONE = 0, /* unsolicited: nothing was outstanding */
	SMTPC_CMD_GREETING,
	SMTPC_CMD_EHLO,
	SMTPC_CMD_HELO,
	SMTPC_CMD_MAIL,
	SMTPC_CMD_RCPT,
	SMTPC_CMD_DATA,     /* the 354 (or refusal) to DATA */
	SMTPC_CMD_DATA_END, /* the reply after the final dot */
	SMTPC_CMD_BDAT,
	SMTPC_CMD_RSET,
	SMTPC_CMD_NOOP,
	SMTPC_CMD_VRFY,
	SMTPC_CMD_QUIT,
	SMTPC_CMD_STARTTLS,
	SMTPC_CMD_AUTH,
	SMTPC_CMD_RAW
} smtpc_cmd;

/* "MAIL", "DATA_END", ... */
const char *smtpc_cmd_name(smtpc_cmd cmd);

/* RFC 3463 enhanced status code; cls == 0 when the reply has none. */
typedef struct smtpc_esc {
	unsigned char cls;    /* 2, 4 or 5: equals the reply's first digit */
	unsigned short subject; /* 0-999 */
	unsigned short detail;  /* 0-999 */
} smtpc_esc;

/* One reply line. */
typedef struct smtpc_line {
	unsigned code;    /* 200-599 */
	int last;         /* nonzero: this line ends the reply */
	const char *text; /* after the separator; NUL-terminated */
	size_t len;       /* octets of text */
} smtpc_line;

/* A complete reply. */
typedef struct smtpc_reply {
	unsigned code;
	smtpc_esc esc;    /* from the first line, when present */
	const char *text; /* every line's text, joined by '\n'; NUL-terminated */
	size_t len;
	size_t nlines;
	smtpc_cmd cmd;    /* the command it answers */
	unsigned index;   /* RCPT: recipient number in the transaction, from 0;
	                     BDAT: chunk number; otherwise 0 */
} smtpc_reply;

typedef enum smtpc_event_type {
	SMTPC_EV_NEED_DATA = 0, /* nothing more until more input (or eof) */
	SMTPC_EV_LINE,          /* ev->line: one reply line */
	SMTPC_EV_REPLY,         /* ev->reply: one complete reply */
	SMTPC_EV_STARTTLS,      /* start the TLS handshake now; then call
	                           smtpc_tls_started */
	SMTPC_EV_CLOSED,        /* input ended cleanly; repeated forever */
	SMTPC_EV_ERROR,         /* sticky error (smtpc_error); repeated forever */
	/* server role */
	SMTPC_EV_COMMAND,       /* ev->command: answer it with smtpc_server_reply */
	SMTPC_EV_BODY,          /* ev->body: message octets, borrowed */
	SMTPC_EV_BODY_END       /* ev->body_end: the message is complete */
} smtpc_event_type;

/* A client command, server role: EHLO, HELO, MAIL, RCPT, DATA or the last
 * BDAT chunk's header. Spans point into the connection's buffers. */
typedef struct smtpc_command {
	smtpc_cmd cmd;
	const char *arg;     /* EHLO/HELO: the domain; MAIL/RCPT: the address
	                        between < and > ("" for the null path) */
	size_t arg_len;
	const char *params;  /* MAIL/RCPT: ESMTP parameters after the path */
	size_t params_len;
	int smtputf8;        /* MAIL carried SMTPUTF8 */
} smtpc_command;

/* Message octets, server role: after DATA, unstuffed, each line with its
 * CRLF; after BDAT, the chunk's octets as they came. */
typedef struct smtpc_body {
	const unsigned char *data;
	size_t len;
} smtpc_body;

/* End of a message, server role. ok nonzero: answer with
 * smtpc_server_reply (250 once it is stored). ok zero: the core has already
 * refused it (why says how: SMTPC_ERR_BARE_LF for a bare CR or LF,
 * SMTPC_ERR_TOO_LONG for an over-long line, SMTPC_ERR_TOO_BIG for SIZE);
 * drop what was received. */
typedef struct smtpc_body_end {
	int ok;
	smtpc_err why;
	uint64_t size; /* octets delivered (a refused message: up to its fault) */
} smtpc_message_end;

typedef struct smtpc_event {
	smtpc_event_type type;
	smtpc_line line;       /* valid for SMTPC_EV_LINE */
	smtpc_reply reply;     /* valid for SMTPC_EV_REPLY */
	smtpc_err err;         /* valid for SMTPC_EV_ERROR */
	smtpc_command command; /* valid for SMTPC_EV_COMMAND */
	smtpc_body body;       /* valid for SMTPC_EV_BODY */
	smtpc_message_end body_end; /* valid for SMTPC_EV_BODY_END */
} smtpc_event;

/* ------------------------------------------------------------------------ */
/* Capabilities (EHLO)                                                      */
/* ------------------------------------------------------------------------ */

#define SMTPC_EXT_PIPELINING (1u << 0)
#define SMTPC_EXT_SIZE (1u << 1)
#define SMTPC_EXT_8BITMIME (1u << 2)
#define SMTPC_EXT_BINARYMIME (1u << 3)
#define SMTPC_EXT_SMTPUTF8 (1u << 4)
#define SMTPC_EXT_CHUNKING (1u << 5)
#define SMTPC_EXT_STARTTLS (1u << 6)
#define SMTPC_EXT_DSN (1u << 7)
#define SMTPC_EXT_ENHANCEDSTATUSCODES (1u << 8)
#define SMTPC_EXT_REQUIRETLS (1u << 9)
#define SMTPC_EXT_AUTH (1u << 10)

#define SMTPC_AUTH_PLAIN (1u << 0)
#define SMTPC_AUTH_LOGIN (1u << 1)
#define SMTPC_AUTH_CRAM_MD5 (1u << 2)
#define SMTPC_AUTH_XOAUTH2 (1u << 3)

typedef struct smtpc_caps {
	unsigned ext;        /* SMTPC_EXT_* offered */
	unsigned auth;       /* SMTPC_AUTH_* mechanisms offered */
	uint64_t size_limit; /* SIZE value; 0 when absent or unlimited */
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
 * A streaming encoder shaped like zlib's z_stream. Set next_in/avail_in and
 * next_out/avail_out, call smtpc_dot_encode; it consumes input and produces
 * output until either runs out, updating the four fields and the totals.
 * Output: every line ends in CRLF (a bare CR or bare LF becomes CRLF), and
 * a dot that starts a line is doubled (RFC 5321 4.5.2). The state carries
 * across calls, so any split of the input gives the same output.
 * smtpc_dot_finish writes the end of data: CRLF (only if the body did not
 * end with a line break) then ".CRLF". With next_out NULL the encoder only
 * measures: avail_out is ignored and total_out counts the exact wire size.
 * It makes progress with any avail_out >= 1.
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

void smtpc_dot_init(smtpc_dotenc *e);
/* Encodes; returns nonzero when all input was consumed and nothing is held
 * back for want of output space. */
int smtpc_dot_encode(smtpc_dotenc *e);
/* Writes the terminator (after any remaining input). Returns nonzero when
 * all of it is written; call again with more output space otherwise. */
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
	uint64_t size;          /* SIZE= (RFC 1870); 0: none. Checked against
	                           the server's limit. Needs SIZE. */
	smtpc_body_type body;   /* BODY= */
	int smtputf8;           /* SMTPUTF8 (RFC 6531); allows UTF-8 addresses
	                           in this MAIL and its RCPTs. */
	int requiretls;         /* REQUIRETLS (RFC 8689); needs it offered and
	                           the connection secure */
	smtpc_ret ret;          /* RET= (RFC 3461); needs DSN */
	const char *envid;      /* ENVID= (RFC 3461), xtext-encoded here;
	                           printable ASCII, at most 100 octets; NULL:
	                           none. Needs DSN. */
	const char *extra;      /* more ESMTP parameters, "KEY=VALUE KEY2",
	                           syntax-checked (RFC 5321 4.1.2); NULL: none */
} smtpc_mail_opts;

#define SMTPC_NOTIFY_NEVER (1u << 0)
#define SMTPC_NOTIFY_SUCCESS (1u << 1)
#define SMTPC_NOTIFY_FAILURE (1u << 2)
#define SMTPC_NOTIFY_DELAY (1u << 3)

typedef struct smtpc_rcpt_opts {
	unsigned notify;   /* SMTPC_NOTIFY_*; 0: none; NEVER alone. Needs DSN. */
	const char *orcpt; /* ORCPT=rfc822;xtext(orcpt) (RFC 3461 4.2); ASCII;
	                      NULL: none. Needs DSN. */
	const char *extra; /* as in smtpc_mail_opts */
} smtpc_rcpt_opts;

/* Digest hook for AUTH CRAM-MD5: out = HMAC-MD5(key, msg). Returns 0 on
 * success. The core has no crypto; the TLS adapter can supply one. */
typedef int (*smtpc_hmac_md5_fn)(void *ctx, const unsigned char *key, size_t key_len,
                                 const unsigned char *msg, size_t msg_len,
                                 unsigned char out[16]);

typedef enum smtpc_mech {
	SMTPC_MECH_PLAIN = 1, /* RFC 4616, sent as an initial response */
	SMTPC_MECH_LOGIN,     /* draft-murchison-sasl-login */
	SMTPC_MECH_CRAM_MD5,  /* RFC 2195; needs smtpc_set_hmac_md5 */
	SMTPC_MECH_XOAUTH2    /* password is the OAuth 2.0 bearer token */
} smtpc_mech;

/*
 * Called each time a command line is formatted into the transmit buffer
 * (line without CRLF; the end of message data is reported as "." with
 * SMTPC_CMD_DATA_END; message content is not reported). secret is nonzero
 * for lines that carry credentials (AUTH responses). For logs and
 * transcripts: the hook must not call back into the connection.
 */
typedef void (*smtpc_command_fn)(void *ctx, smtpc_cmd cmd, const char *line, size_t len,
                                 int secret);

/* Server role: checks AUTH credentials; returns nonzero to accept. */
typedef int (*smtpc_server_auth_fn)(void *ctx, const char *user, size_t user_len,
                                    const char *pass, size_t pass_len);

/* What the core is waiting for, so an adapter can apply RFC 5321 4.5.3.2
 * timeouts (greeting 5 min, MAIL 5, RCPT 5, DATA start 2, data block 3,
 * end of data 10). */
typedef enum smtpc_wait {
	SMTPC_WAIT_NONE = 0,   /* nothing outstanding */
	SMTPC_WAIT_GREETING,
	SMTPC_WAIT_MAIL,
	SMTPC_WAIT_RCPT,
	SMTPC_WAIT_DATA_START, /* reply to DATA */
	SMTPC_WAIT_DATA_BLOCK, /* the caller is sending message data */
	SMTPC_WAIT_DATA_END,   /* reply to the final dot or a BDAT chunk */
	SMTPC_WAIT_OTHER
} smtpc_wait;

/* Bits of smtpc_want. */
#define SMTPC_WANT_READ (1u << 0)   /* room for input; reading is useful */
#define SMTPC_WANT_WRITE (1u << 1)  /* bytes are waiting in smtpc_send_buf */
#define SMTPC_WANT_EVENT (1u << 2)  /* smtpc_next_event has something */
#define SMTPC_WANT_TLS (1u << 3)    /* paused for the TLS handshake */
#define SMTPC_WANT_CLOSED (1u << 4) /* finished: closed or failed */

/* ------------------------------------------------------------------------ */
/* The connection                                                           */
/* ------------------------------------------------------------------------ */

typedef struct smtpc_qent {
	unsigned char cmd; /* smtpc_cmd */
	unsigned char flags;
	unsigned short index;
	uint32_t mark; /* octets received when it was issued (modulo 2^32) */
} smtpc_qent;

/* All fields are private: use the functions below. */
typedef struct smtpc_conn {
	smtpc_config cfg;
	/* receive side: input area, reply area, extension area */
	unsigned char *in;
	size_t in_cap, in_start, in_end, in_scan;
	uint32_t rx_total;  /* octets received, modulo 2^32 */
	uint32_t rep_end;   /* stream offset just past the last reply line */
	char *rep;
	size_t rep_len, rep_lines;
	unsigned rep_code;
	smtpc_esc rep_esc;
	char *ext;
	size_t ext_len;
	/* transmit side */
	unsigned char *tx;
	size_t tx_cap, tx_start, tx_end;
	/* outstanding commands */
	smtpc_qent q[SMTPC_QUEUE_CAP];
	size_t q_head, q_len;
	/* session */
	smtpc_caps caps;
	smtpc_err err;
	unsigned state;
	unsigned flags;
	unsigned short rcpts;      /* RCPTs issued in this transaction */
	unsigned short bdats;      /* BDAT chunks issued in this transaction */
	unsigned short txn;        /* MAIL commands issued: names a transaction */
	uint64_t bdat_left;        /* octets of the current BDAT chunk to come */
	smtpc_dotenc dot;
	/* AUTH */
	unsigned char auth_mech, auth_step;
	const char *auth_user;
	const char *auth_pass;
	smtpc_hmac_md5_fn hmac;
	void *hmac_ctx;
	smtpc_command_fn hook;
	void *hook_ctx;
	/* server role */
	struct {
		unsigned char on, state, cmd, why;
		unsigned flags;
		unsigned rcpts;          /* RCPTs accepted in the transaction */
		uint64_t size;           /* message octets so far */
		uint64_t chunk_left;     /* BDAT octets still to come */
		size_t discard;          /* octets of an over-long line dropped */
		smtpc_server_auth_fn auth;
		void *auth_ctx;
	} srv;
} smtpc_conn;

/*
 * Initialises a client connection. cfg NULL means the defaults; the values
 * are copied and clamped. rx must hold at least smtpc_rx_min(cfg) octets and
 * tx at least SMTPC_TX_MIN; a larger tx lets more commands and message data
 * go out in one write. The connection expects the server's greeting first.
 * Returns SMTPC_ERR_NULL_ARG or SMTPC_ERR_BUFFER_SMALL on bad arguments.
 */
smtpc_err smtpc_init(smtpc_conn *c, const smtpc_config *cfg, void *rx, size_t rx_len,
                     void *tx, size_t tx_len);

/* --- bytes in ---------------------------------------------------------- */

/*
 * Where to write received bytes: returns a pointer and sets *len to the room
 * (0 and NULL when the core wants no input: a pending event must be pulled
 * first, the session ended or is paused for TLS). Then call smtpc_recv_ack
 * with the count written (at most *len).
 */
unsigned char *smtpc_recv_buf(smtpc_conn *c, size_t *len);
void smtpc_recv_ack(smtpc_conn *c, size_t n);

/*
 * Copies up to len received bytes in; returns how many it took. It takes
 * fewer when its buffer is full of unparsed lines: pull events, then feed the
 * rest. After a sticky error, or after end of input, it takes everything and
 * discards it. Bytes fed while paused for STARTTLS are plaintext injection:
 * a sticky SMTPC_ERR_STARTTLS_INJECTION.
 */
size_t smtpc_feed(smtpc_conn *c, const void *data, size_t len);

/* The peer closed its side: no more input will come. */
void smtpc_eof(smtpc_conn *c);

/* --- events -------------------------------------------------------------- */

/*
 * Pulls the next event into *ev and returns its type. Parses at most one
 * line per call. See smtpc_event_type for the meaning of each.
 */
smtpc_event_type smtpc_next_event(smtpc_conn *c, smtpc_event *ev);

/* --- bytes out --------------------------------------------------------------- */

/* The bytes waiting to be sent, and their count in *len (NULL and 0 when
 * none). Then smtpc_send_ack with the count actually sent. */
const unsigned char *smtpc_send_buf(const smtpc_conn *c, size_t *len);
void smtpc_send_ack(smtpc_conn *c, size_t n);

/* --- state ------------------------------------------------------------------- */

/* SMTPC_WANT_* bits. */
unsigned smtpc_want(const smtpc_conn *c);
/* What the next expected input is, for timeouts. */
smtpc_wait smtpc_waiting_for(const smtpc_conn *c);
/* The sticky error, SMTPC_ERR_OK when none. */
smtpc_err smtpc_error(const smtpc_conn *c);
/*
 * Records a transport error (timeout, reset, TLS failure) reported by an
 * adapter. Sticky: only the first error is kept. Returns the error in force.
 */
smtpc_err smtpc_fail(smtpc_conn *c, smtpc_err e);
/* Replies outstanding. */
size_t smtpc_pending(const smtpc_conn *c);
/* Nonzero once EHLO or HELO was answered 250 (reset by STARTTLS). */
int smtpc_is_greeted(const smtpc_conn *c);
/* Nonzero when the connection was marked secure (smtpc_tls_started or
 * smtpc_set_secure): the seed's isSecure(). */
int smtpc_is_secure(const smtpc_conn *c);
/* Nonzero after a 235 reply to AUTH. */
int smtpc_is_authenticated(const smtpc_conn *c);
/* Marks a connection that runs over implicit TLS (RFC 8314) as secure. */
void smtpc_set_secure(smtpc_conn *c);

/* --- capabilities ------------------------------------------------------------- */

/* The capabilities of the last successful EHLO (all zero before one, after
 * HELO and after STARTTLS). Never NULL. */
const smtpc_caps *smtpc_get_caps(const smtpc_conn *c);
/* Iterates the EHLO extension lines: *pos starts at 0; returns nonzero and
 * fills *ext while there is one. */
int smtpc_ext_next(const smtpc_conn *c, size_t *pos, smtpc_ext *ext);
/* Finds an extension by keyword, case-insensitively. Returns nonzero when
 * found. */
int smtpc_ext_find(const smtpc_conn *c, const char *keyword, smtpc_ext *ext);

/* --- commands ------------------------------------------------------------------ */
/*
 * Each command is validated completely, then formatted into the transmit
 * buffer, all or nothing, and the reply it expects is queued. Without
 * PIPELINING a command may only be issued when no reply is outstanding; with
 * it, after MAIL, RCPT, RSET or a BDAT that is not LAST (RFC 2920 3.1).
 */

/* EHLO/HELO domain: a domain name or an address literal ("[192.0.2.1]"). */
smtpc_err smtpc_ehlo(smtpc_conn *c, const char *domain);
smtpc_err smtpc_helo(smtpc_conn *c, const char *domain);
/* MAIL FROM:<from>. from "" is the null reverse-path. opts may be NULL. */
smtpc_err smtpc_mail(smtpc_conn *c, const char *from, const smtpc_mail_opts *opts);
/* RCPT TO:<to>. opts may be NULL. "postmaster" needs no domain. */
smtpc_err smtpc_rcpt(smtpc_conn *c, const char *to, const smtpc_rcpt_opts *opts);
/* DATA. After its 354 reply, send the body with smtpc_body_write and end it
 * with smtpc_body_end. */
smtpc_err smtpc_data(smtpc_conn *c);
/* BDAT size [LAST] (RFC 3030); exactly size octets then follow through
 * smtpc_body_write, sent as they are. Needs CHUNKING. */
smtpc_err smtpc_bdat(smtpc_conn *c, uint64_t size, int last);
smtpc_err smtpc_rset(smtpc_conn *c);
smtpc_err smtpc_noop(smtpc_conn *c);
smtpc_err smtpc_vrfy(smtpc_conn *c, const char *what);
smtpc_err smtpc_quit(smtpc_conn *c);
/* STARTTLS (RFC 3207). Needs STARTTLS offered. */
smtpc_err smtpc_starttls(smtpc_conn *c);
/*
 * AUTH (RFC 4954). The core answers 334 challenges itself: LOGIN sends the
 * user name to the first and the password to the second, whatever their text;
 * CRAM-MD5 uses the HMAC-MD5 hook; an unexpected challenge is cancelled with
 * "*". user and pass are kept by pointer until the final reply to AUTH.
 * Needs the mechanism offered and, unless allow_plain_auth, a secure
 * connection.
 */
smtpc_err smtpc_auth(smtpc_conn *c, smtpc_mech mech, const char *user, const char *pass);
void smtpc_set_hmac_md5(smtpc_conn *c, smtpc_hmac_md5_fn fn, void *ctx);
/* Sets (fn NULL: clears) the command hook. */
void smtpc_set_command_hook(smtpc_conn *c, smtpc_command_fn fn, void *ctx);
/*
 * A raw command line (for interactive use); CRLF is added. No control byte
 * is allowed. The verb is recognised, so EHLO, STARTTLS, DATA, QUIT keep
 * their meaning: after a 354 to a raw DATA, raw lines are message lines that
 * expect no reply, until the line "." (sent as it is: no dot-stuffing).
 */
smtpc_err smtpc_raw(smtpc_conn *c, const char *line, size_t len);

/* --- message data -------------------------------------------------------------- */

/*
 * After a 354 to DATA: encodes up to len bytes of message into the transmit
 * buffer (see smtpc_dotenc) and returns how many it consumed; 0 when the
 * buffer is full (send, then write again). After BDAT: copies up to the rest
 * of the announced chunk, unchanged. Returns 0 in any other state.
 */
size_t smtpc_body_write(smtpc_conn *c, const void *data, size_t len);
/*
 * One copy: as smtpc_body_write, but the octets go to dst (at most cap of
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
/* Ends DATA's message (writes the terminator, expects the final reply).
 * SMTPC_ERR_NO_SPACE: send pending bytes and call again. */
smtpc_err smtpc_body_end(smtpc_conn *c);
/* The body encoder of the current message (its totals, has_8bit). */
const smtpc_dotenc *smtpc_body_stats(const smtpc_conn *c);

/* --- TLS ----------------------------------------------------------------------- */

/* After SMTPC_EV_STARTTLS and a successful handshake: the connection is
 * secure, the capabilities are forgotten and EHLO is needed again. */
smtpc_err smtpc_tls_started(smtpc_conn *c);

/* --- server role ------------------------------------------------------------------ */
/*
 * The same engine answering instead of asking. smtpc_server_init sets up a
 * connection in the server role (buffers as for smtpc_init). The core reads
 * commands with the client side's limits and injection rules: a line with a
 * control byte, a bare LF, or over its limit is refused with a 500 reply and
 * not acted on. It answers NOOP, RSET, VRFY, HELP, QUIT, STARTTLS and AUTH
 * itself, refuses commands out of sequence (503) and unknown ones (500), and
 * hands EHLO, HELO, MAIL, RCPT, DATA and a last BDAT's end to the
 * application as events, one at a time: each must be answered with
 * smtpc_server_reply before the next event comes. Pipelined commands are
 * therefore answered in order.
 *
 * Message data after DATA is decoded strictly (RFC 5321 4.1.1.4, 4.5.2):
 * only CRLF.CRLF ends it; a bare CR or bare LF anywhere, a line over
 * max_text_line, or more than max_message octets gets a 5xx after the data
 * ends and the message is not accepted (SMTP smuggling: CVE-2023-51764).
 * Leading dots are removed. BDAT chunks (RFC 3030) are read exactly.
 */
smtpc_err smtpc_server_init(smtpc_conn *c, const smtpc_config *cfg, void *rx, size_t rx_len,
                            void *tx, size_t tx_len);
/* The greeting: 220 (or 554) and text. Send it first. */
smtpc_err smtpc_server_greet(smtpc_conn *c, unsigned code, const char *text);
/* Answers the pending command. text may hold several lines separated by
 * '\n'; no other control byte. 2xx to MAIL opens the transaction, to RCPT
 * counts a recipient, 354 to DATA starts the message. */
smtpc_err smtpc_server_reply(smtpc_conn *c, unsigned code, const char *text);
/* Answers EHLO with domain and the capabilities in caps (SIZE with
 * caps->size_limit; AUTH with caps->auth mechanisms PLAIN and LOGIN). */
smtpc_err smtpc_server_reply_ehlo(smtpc_conn *c, const char *domain, const smtpc_caps *caps);
/* Allows STARTTLS (the application has a TLS layer): after the 220 the core
 * pauses with SMTPC_EV_STARTTLS until smtpc_tls_started. */
void smtpc_server_allow_starttls(smtpc_conn *c, int allow);
/* Accepts AUTH PLAIN and LOGIN, checking credentials with fn. */
void smtpc_server_set_auth(smtpc_conn *c, smtpc_server_auth_fn fn, void *ctx);

/* --- pure helpers (the seed's isLastReply and parseReplyCode) ---------------- */

/* Nonzero when line (with or without CRLF) is the last line of a reply:
 * a valid code followed by a space or by nothing. */
int smtpc_is_last_line(const char *line, size_t len);
/* The reply code of a line, 0 when the line does not start with one. */
unsigned smtpc_line_code(const char *line, size_t len);

/* Base64 (RFC 4648), as used by AUTH. encode needs 4*((n+2)/3) octets of
 * room and returns the count written (no NUL). decode ignores nothing:
 * returns the decoded count, or (size_t)-1 on malformed input or no room. */
size_t smtpc_b64_encode(char *out, size_t out_len, const void *in, size_t n);
size_t smtpc_b64_decode(unsigned char *out, size_t out_len, const char *in, size_t n);

/* The checks smtpc_mail, smtpc_rcpt and smtpc_ehlo apply, on their own, for
 * validating input early: SMTPC_ERR_OK or the argument error. smtputf8
 * nonzero allows UTF-8; "" (the null path) is not a mailbox. */
smtpc_err smtpc_check_mailbox(const char *addr, int smtputf8);
smtpc_err smtpc_check_domain(const char *domain);

/* xtext (RFC 3461 4): returns the encoded length; writes when out != NULL
 * and out_len suffices. */
size_t smtpc_xtext_encode(char *out, size_t out_len, const char *in, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* SMTPC_H */
