/*
 * internal.h - declarations shared by the core's modules. Not installed.
 *
 * Roles: one type, a shared engine, a union of role states, an operations
 * table.
 *
 *   smtpc_conn = engine (buffers, input area, sticky error, the flags both
 *                roles mean the same by, how the session ended, the LMTP
 *                recipient bits)
 *              + u.cl (client: reply assembly, command queue, capabilities,
 *                      transaction, body encoder, AUTH, hooks)
 *                or u.sv (server: its state machine, transaction, AUTH check)
 *              + role: a pointer to a constant table of the role's
 *                next_event, want, waiting_for and tls_started.
 *
 * Why one public type and not two types embedding an engine (BearSSL's
 * client and server contexts): every existing call keeps its signature, so
 * programs and adapters compile unchanged; the engine functions (bytes in
 * and out, errors, want) need no cast or second entry point; and the union
 * keeps the struct no bigger than the larger role. The cost, a role that is
 * checked at run time rather than by the compiler, is paid by one comparison
 * per call: every client call starts with smtpc__is_client (commands
 * through smtpc__may_issue), every server call with is_server, and a call of
 * the wrong role returns SMTPC_ERR_ROLE before it reads or writes anything.
 *
 * Why a table of function pointers (BearSSL's vtables): the role-specific
 * halves of next_event, want, waiting_for and tls_started are reached only
 * through the table that smtpc_init or smtpc_server_init installs. Nothing
 * in the shared files names a server function, so a client-only program that
 * never calls smtpc_server_init links no server code with --gc-sections
 * (`make cross` checks it), and a server-only program links none of the
 * client's event pump or commands.
 *
 * Hooks. The command log, the HMAC-MD5 digest and the server's AUTH check
 * are the caller's code run in the middle of a call. While one runs, F_HOOK
 * is set and every entry point that changes the connection refuses
 * (SMTPC_ERR_REENTRANT, or 0/NULL): a command issued from the command hook
 * would otherwise be queued before the command whose line is already
 * written, and a pull from the AUTH check would answer the next command
 * before the AUTH it is checking.
 *
 * Module map:
 *   errors.c   the error table (names, descriptions, classes)
 *   text.c     byte classes, case-insensitive compare, decimal formatting
 *   input.c    the input area: recv_buf/ack, feed, eof, finding line ends
 *   conn.c     the engine: config, init, dispatch to the role, state queries
 *   client.c   client role: the event pump, replies matched to the queue,
 *              LMTP replies, end of session, STARTTLS pause
 *   reply.c    reply line syntax (RFC 5321 4.2), enhanced codes (RFC 3463)
 *   caps.c     EHLO extension list (RFC 5321 4.1.1.1 and the extension RFCs)
 *   address.c  mailbox and domain syntax (RFC 5321 4.1.2, RFC 6531), xtext,
 *              ESMTP parameters, paths
 *   command.c  typed commands, pipelining rules (RFC 2920), the reply queue
 *   body.c     DATA dot-stuffing encoder (RFC 5321 4.5.2), BDAT (RFC 3030)
 *   base64.c   RFC 4648 base64
 *   auth.c     client AUTH (RFC 4954): PLAIN, LOGIN, CRAM-MD5, XOAUTH2
 *   server.c   the server role: commands, replies, strict DATA and BDAT,
 *              AUTH PLAIN and LOGIN, LMTP
 */
#ifndef SMTPC_INTERNAL_H
#define SMTPC_INTERNAL_H

#include "smtpc.h"

#include <string.h>

/* The role's operations (see the top of this file). */
struct smtpc_role {
	smtpc_event_type (*next_event)(smtpc_conn *c, smtpc_event *ev);
	unsigned (*want)(const smtpc_conn *c);
	smtpc_wait (*waiting_for)(const smtpc_conn *c);
	void (*tls_started)(smtpc_conn *c);
	unsigned char server; /* 0: client, 1: server */
};

/* Engine flags (smtpc_conn.flags): what both roles mean the same by. */
#define F_GREETED (1u << 0) /* EHLO/HELO/LHLO answered 2xx */
#define F_SECURE  (1u << 1) /* TLS is up */
#define F_AUTHED  (1u << 2) /* AUTH answered 235 */
#define F_EOF	  (1u << 3) /* smtpc_eof called */
#define F_PAUSE	  (1u << 4) /* paused for TLS: input is injection */
#define F_TLS_EV  (1u << 5) /* the STARTTLS event is due */
#define F_DONE	  (1u << 6) /* the session is over: input is dropped */
/* a mail transaction is open (client: MAIL issued, message not ended;
 * server: MAIL accepted, message not answered) */
#define F_TXN (1u << 7)

/* A hook of the connection (command log, HMAC-MD5, server AUTH check) is
 * running: every call that changes the connection is refused
 * (SMTPC_ERR_REENTRANT) until it returns. */
#define F_HOOK (1u << 8)

/* Client states (u.cl.state). */
enum {
	ST_OPEN = 0, /* commands may be issued */
	ST_BODY,     /* after 354 to a typed DATA: smtpc_body_write */
	ST_RAWBODY   /* after 354 to a raw DATA: raw lines are message lines */
};

/* Client flags (u.cl.flags). */
#define C_UTF8	  (1u << 1) /* the open transaction uses SMTPUTF8 */
#define C_CLOSING (1u << 2) /* the server said 421 or 221 */
#define C_QUIT	  (1u << 3) /* QUIT issued: no more commands */
#define C_REPLY	  (1u << 4) /* a reply is complete, its event not yet out */
#define C_BINARY  (1u << 5) /* the open transaction is BODY=BINARYMIME */
#define C_RAWAUTH (1u << 6) /* a raw AUTH got 334: raw lines continue it */
#define C_LMTP	  (1u << 7) /* LHLO issued: the session is LMTP */

/* Queue entries: cmd is the command, for a raw line its recognised verb
 * (SMTPC_CMD_RAW when none); flags: */
#define QF_LAST 0x01u /* BDAT LAST */
#define QF_RAW	0x02u /* issued by smtpc_raw: replies say SMTPC_CMD_RAW */
#define QF_LMTP 0x04u /* end of data over LMTP: one reply per recipient */

/* The reply area and the extension area follow the input area in rx. */
#define REP(c) ((char *)(c)->in + (c)->in_cap)
#define EXT(c) (REP(c) + (c)->cfg.max_reply + 1)

/* errors.c */
smtpc_err smtpc__set_error(smtpc_conn *c, smtpc_err e);

/* text.c */
int smtpc__is_ctrl(unsigned char b); /* C0, DEL */
int smtpc__is_alnum(unsigned char b);
int smtpc__is_digit(unsigned char b);
unsigned char smtpc__lower(unsigned char b);
/* Case-insensitive equality of an n-octet span with a NUL-terminated word. */
int smtpc__ieq(const char *s, size_t n, const char *word);
/* Writes v in decimal at out (at least 20 octets); returns the count. */
size_t smtpc__u64_dec(char *out, uint64_t v);
/* Reads a decimal number of 1 to 19 digits at s[0, n); returns the digits
 * read (0 when none or too many) and the value in *v. */
size_t smtpc__dec_u64(const char *s, size_t n, uint64_t *v);
/* Checks UTF-8 well-formedness (RFC 3629). */
int smtpc__utf8_valid(const unsigned char *s, size_t n);

/* conn.c: the engine. */
smtpc_err smtpc__engine_init(smtpc_conn *c, const smtpc_config *cfg, void *rx, size_t rx_len,
			     void *tx, size_t tx_len, size_t conn_size, unsigned long caps_key);
/* Records how the session ended (the first call wins), with the commands
 * left unanswered and whether a transaction was open (F_TXN). */
void smtpc__end(smtpc_conn *c, smtpc_end_how how, unsigned code, unsigned unanswered);
/* The LMTP recipient bits. */
void smtpc__bit_set(smtpc_conn *c, unsigned i);
int smtpc__bit(const smtpc_conn *c, unsigned i);

/* input.c: finds the next complete line; returns 1 and sets *start and *len
 * (without the line end) and *bare_lf, 0 when none yet; sets a sticky error
 * for an over-long line. The line is consumed by smtpc__input_consume. */
int smtpc__input_line(smtpc_conn *c, const unsigned char **line, size_t *len, int *bare_lf);
void smtpc__input_consume(smtpc_conn *c);
/* Nonzero when a complete line waits in the input area. */
int smtpc__input_has_line(const smtpc_conn *c);

/* reply.c: parses one line into code, last, text. Returns SMTPC_ERR_OK or
 * the protocol error. */
smtpc_err smtpc__parse_line(const unsigned char *p, size_t n, smtpc_line *out);
void smtpc__parse_esc(const char *text, size_t len, unsigned code, smtpc_esc *esc);

/* caps.c: rebuilds the capabilities from EHLO reply text. */
void smtpc__caps_from_ehlo(smtpc_conn *c, const char *text, size_t len);
void smtpc__caps_clear(smtpc_conn *c);

/* address.c */
smtpc_err smtpc__check_mailbox(const char *addr, size_t n, int utf8_ok, int is_rcpt);
smtpc_err smtpc__check_domain(const char *d, size_t n, int utf8_ok);
smtpc_err smtpc__check_params(const char *s, size_t n);
smtpc_err smtpc__check_text(const char *s, size_t n, int ascii_only);
/* Finds the ESMTP parameter kw[0, kwlen) (case-insensitively) in
 * "K1=V1 K2 ..."; returns 1 and, when v is not NULL, its value span (empty
 * for a bare keyword); 0 when absent. */
int smtpc__param(const char *p, size_t n, const char *kw, size_t kwlen, const char **v,
		 size_t *vlen);
/* Splits "KW<path> params" (kw "FROM:" or "TO:", case-insensitively) into
 * the path between < and > and the parameters; a source route
 * (RFC 5321 4.1.2 A-d-l ":") is left out of the path. Returns 0 on bad
 * syntax. */
int smtpc__split_path(const char *s, size_t n, const char *kw, smtpc_command *cmd);

/* command.c: line building. A builder writes a whole line through
 * smtpc__put; with buf NULL it only measures. smtpc__emit measures, checks
 * the limit and the room, then writes at the end of the transmit buffer and
 * reports the line to the command hook (unless cmd is SMTPC_CMD_NONE). */
struct w {
	char *buf;
	size_t len;
};
typedef void (*smtpc__build_fn)(struct w *w, const void *ctx);
void smtpc__put(struct w *w, const char *s, size_t n);
smtpc_err smtpc__emit(smtpc_conn *c, smtpc__build_fn fn, const void *ctx, size_t limit,
		      smtpc_cmd cmd, int secret);

/* Nonzero for a client connection. */
int smtpc__is_client(const smtpc_conn *c);
/* Checks whether a command of kind cmd may be issued now. */
smtpc_err smtpc__may_issue(const smtpc_conn *c, smtpc_cmd cmd);
/* Room for n more octets in tx (compacting); SMTPC_ERR_NO_SPACE or
 * SMTPC_ERR_TX_SMALL otherwise. */
smtpc_err smtpc__tx_room(smtpc_conn *c, size_t n);
void smtpc__tx_compact(smtpc_conn *c);
void smtpc__end_transaction(smtpc_conn *c);
void smtpc__push(smtpc_conn *c, smtpc_cmd cmd, unsigned flags, unsigned index);
int smtpc__ends_group(const smtpc_qent *e);
/* A queue entry's mark: the octets received when it was issued. */
uint64_t smtpc__mark(const smtpc_qent *e);
void smtpc__set_mark(smtpc_qent *e, uint64_t mark);

/* client.c: LHLO makes the session LMTP and installs the handling of the
 * replies after the end of data (so a client that never sends LHLO does not
 * link it). */
void smtpc__lmtp_on(smtpc_conn *c);

/* auth.c: answers a 334 to AUTH. */
void smtpc__auth_challenge(smtpc_conn *c, const char *text, size_t len);
void smtpc__auth_done(smtpc_conn *c);

#endif /* SMTPC_INTERNAL_H */
