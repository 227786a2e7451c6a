/*
 * internal.h - declarations shared by the core's modules. Not installed.
 *
 * Module map:
 *   errors.c   the error table (names, descriptions, classes)
 *   text.c     byte classes, case-insensitive compare, decimal formatting
 *   input.c    the input area: recv_buf/ack, feed, eof, finding line ends
 *   reply.c    reply line syntax (RFC 5321 4.2), enhanced codes (RFC 3463)
 *   caps.c     EHLO extension list (RFC 5321 4.1.1.1 and the extension RFCs)
 *   address.c  mailbox and domain syntax (RFC 5321 4.1.2, RFC 6531), xtext,
 *              ESMTP parameters
 *   command.c  typed commands, pipelining rules (RFC 2920), the reply queue
 *   body.c     DATA dot-stuffing encoder (RFC 5321 4.5.2), BDAT (RFC 3030)
 *   base64.c   RFC 4648 base64
 *   auth.c     AUTH (RFC 4954): PLAIN, LOGIN, CRAM-MD5, XOAUTH2
 *   conn.c     init, the event loop, reply handling, STARTTLS, state queries
 *   server.c   the server role: commands, replies, strict DATA and BDAT
 */
#ifndef SMTPC_INTERNAL_H
#define SMTPC_INTERNAL_H

#include "smtpc.h"

#include <string.h>

/* Session states (smtpc_conn.state). */
enum {
	ST_OPEN = 0,  /* commands may be issued */
	ST_BODY,      /* after 354 to a typed DATA: smtpc_body_write */
	ST_RAWBODY,   /* after 354 to a raw DATA: raw lines are message lines */
	ST_TLS_PAUSE, /* after 220 to STARTTLS, until smtpc_tls_started */
	ST_CLOSED     /* SMTPC_EV_CLOSED delivered */
};

/* Flags (smtpc_conn.flags). */
#define F_GREETED (1u << 0)   /* EHLO/HELO answered 250 */
#define F_SECURE (1u << 1)    /* TLS is up */
#define F_AUTHED (1u << 2)    /* AUTH answered 235 */
#define F_EOF (1u << 3)       /* smtpc_eof called */
#define F_MAIL (1u << 4)      /* a mail transaction is open (client view) */
#define F_UTF8 (1u << 5)      /* the open transaction uses SMTPUTF8 */
#define F_CLOSING (1u << 6)   /* the server said 421 or 221 */
#define F_QUIT (1u << 7)      /* QUIT issued: no more commands */
#define F_REPLY (1u << 8)     /* a reply is complete, its event not yet out */
#define F_TLS_EV (1u << 9)    /* the STARTTLS event is due */
#define F_BINARY (1u << 10)   /* the open transaction is BODY=BINARYMIME */
#define F_RAWAUTH (1u << 11)  /* a raw AUTH got 334: raw lines continue it */

/* Queue entry flags. */
#define QF_LAST 0x01u /* BDAT LAST */
#define QF_RAW 0x02u  /* issued by smtpc_raw */
#define QF_VERB(cmd) ((unsigned)(cmd) << 4) /* a raw line's recognised verb */
#define QF_GET_VERB(f) ((smtpc_cmd)((unsigned)(f) >> 4))

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
/* Checks UTF-8 well-formedness (RFC 3629). */
int smtpc__utf8_valid(const unsigned char *s, size_t n);

/* input.c: finds the next complete line; returns 1 and sets *start and *len
 * (without the line end) and *bare_lf, 0 when none yet; sets a sticky error
 * for an over-long line. The line is consumed by smtpc__input_consume. */
int smtpc__input_line(smtpc_conn *c, const unsigned char **line, size_t *len, int *bare_lf);
void smtpc__input_consume(smtpc_conn *c);

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

/* Checks whether a command of kind cmd may be issued now. */
smtpc_err smtpc__may_issue(const smtpc_conn *c, smtpc_cmd cmd);
/* Room for n more octets in tx (compacting); SMTPC_ERR_NO_SPACE or
 * SMTPC_ERR_TX_SMALL otherwise. */
smtpc_err smtpc__tx_room(smtpc_conn *c, size_t n);
void smtpc__tx_compact(smtpc_conn *c);
void smtpc__end_transaction(smtpc_conn *c);
void smtpc__push(smtpc_conn *c, smtpc_cmd cmd, unsigned flags, unsigned index);
int smtpc__ends_group(const smtpc_qent *e);

/* server.c: the server role's side of next_event, want, tls_started. */
smtpc_event_type smtpc__server_event(smtpc_conn *c, smtpc_event *ev);
unsigned smtpc__server_want(const smtpc_conn *c);
int smtpc__server_tls_started(smtpc_conn *c);

/* auth.c: answers a 334 to AUTH. */
void smtpc__auth_challenge(smtpc_conn *c, const char *text, size_t len);
void smtpc__auth_done(smtpc_conn *c);

#endif /* SMTPC_INTERNAL_H */
