/* The smtpc tool's message handling (RFC 5322): the header section of a
 * message handed to the sendmail interface (recipients from To, Cc and Bcc,
 * Bcc removed, Date and Message-ID added when missing), and messages built
 * from --subject, --body and --header.
 *
 * Limits: a header section of MSG_HEADER_MAX octets, MSG_RCPT_MAX
 * recipients from the headers, an address of MSG_ADDR_MAX octets, comments
 * nested MSG_COMMENT_DEPTH deep. Each is an error, never a cut.
 */
#ifndef SMTPC_CLI_MESSAGE_H
#define SMTPC_CLI_MESSAGE_H

#include <stddef.h>
#include <stdio.h>
#include <time.h>

#define MSG_HEADER_MAX	  (256 * 1024)
#define MSG_RCPT_MAX	  1000
#define MSG_ADDR_MAX	  320
#define MSG_COMMENT_DEPTH 32

/* What msg_sendmail_copy and msg_compose_write return on failure: -1 the
 * message or an argument is bad, MSG_ERR_READ the input cannot be read,
 * MSG_ERR_SPOOL the output cannot be written (or no memory). */
#define MSG_ERR_READ  (-2)
#define MSG_ERR_SPOOL (-3)

/* Calls add(ctx, addr) for each mailbox of an RFC 5322 address-list
 * (value: the field's body, len octets, folded or not): display names,
 * comments, quoted strings, angle addresses, groups ("team: a@x, b@y;").
 * Returns the number of addresses, or -1 with *why set when the list is
 * malformed, an address is too long, or add returns nonzero. */
int msg_addresses(const char *value, size_t len, int (*add)(void *ctx, const char *addr), void *ctx,
		  const char **why);

struct msg_sendmail {
	int take_rcpts;	      /* -t: To, Cc and Bcc give recipients */
	const char *from;     /* envelope sender, for an added From */
	const char *fullname; /* -F: display name for an added From; may be NULL */
	const char *domain;   /* right side of an added Message-ID */
	time_t now;
};

/* Copies the message on in to out: the header section with Bcc and
 * Resent-Bcc fields dropped and Date, Message-ID (and From) added at its top
 * when missing, never changing a header that is there; then the body as it
 * is (after an empty line). With take_rcpts each address of To, Cc and Bcc
 * goes to add(), or of Resent-To, Resent-Cc and Resent-Bcc when the message
 * has any of those. Returns 0; or -1
 * (a bad header section, over a limit), MSG_ERR_READ or MSG_ERR_SPOOL, with
 * *why. */
int msg_sendmail_copy(FILE *in, FILE *out, const struct msg_sendmail *o,
		      int (*add)(void *ctx, const char *addr), void *ctx, const char **why);

struct msg_compose {
	const char *from;
	const char **to;
	size_t nto;
	const char *subject;  /* may be NULL */
	const char *body;     /* text, or NULL */
	FILE *body_file;      /* or its file (the text is ignored then) */
	const char **headers; /* "Name: value", nheaders of them */
	size_t nheaders;
	const char *domain;
	time_t now;
};

/* Nonzero when a --header argument is "Name: value" with a field name of
 * printable ASCII and no CR or LF anywhere. */
int msg_header_ok(const char *h);

/* Writes a message built from c: From and To from the envelope, Subject
 * (RFC 2047 encoded when not ASCII), Date, Message-ID, the extra headers
 * (one named like a generated one replaces it), and MIME-Version with a
 * UTF-8 text/plain Content-Type when any of it is not ASCII. 0; or -1 (a bad
 * argument), MSG_ERR_READ (the body file) or MSG_ERR_SPOOL, with *why. */
int msg_compose_write(FILE *out, const struct msg_compose *c, const char **why);

/* "Date: " value as RFC 5322 3.3 (local time with its offset). */
void msg_date(char *buf, size_t len, time_t t);
/* A Message-ID "<...@domain>" from the time, the process and random bits. */
void msg_id(char *buf, size_t len, const char *domain, time_t t);

#endif
