/*
 * smtpc_limits.h - compile-time caps of the smtpc core.
 *
 * Every runtime limit in smtpc_config is clamped to the caps below. A cap may
 * be lowered (or raised) by defining the macro before this header is first
 * included, for instance with -DSMTPC_QUEUE_CAP=8 on a small target. Caps
 * that size arrays inside smtpc_conn change sizeof(smtpc_conn), so every unit
 * that includes smtpc.h must see the same values.
 */
#ifndef SMTPC_LIMITS_H
#define SMTPC_LIMITS_H

/*
 * Longest reply line the core will ever accept, in octets, excluding the line
 * end. RFC 5321 section 4.5.3.1.5 sets 512 octets with CRLF; real servers
 * send longer lines, so the runtime default is larger, but never unbounded.
 */
#ifndef SMTPC_LINE_CAP
#define SMTPC_LINE_CAP 65536u
#endif

/* Shortest reply line limit a configuration may set (RFC 5321 4.5.3.1.5). */
#define SMTPC_LINE_MIN 510u

/* Most lines one reply may have (a large EHLO reply has about 20). */
#ifndef SMTPC_LINES_CAP
#define SMTPC_LINES_CAP 1024u
#endif

/*
 * Outstanding commands the core can track at once: the depth of the reply
 * queue. With PIPELINING this bounds MAIL + RCPTs + DATA sent in one group.
 * Sizes an array in smtpc_conn (12 octets an entry). At most 65535.
 */
#ifndef SMTPC_QUEUE_CAP
#define SMTPC_QUEUE_CAP 64u
#endif

/*
 * LMTP (RFC 2033): recipients per transaction whose acceptance the core
 * remembers, to tell which recipient each reply after the end of data is for.
 * RFC 5321 4.5.3.1.8 asks that 100 be accepted. A multiple of 32; sizes an
 * array in smtpc_conn (one bit a recipient).
 */
#ifndef SMTPC_LMTP_RCPT_CAP
#define SMTPC_LMTP_RCPT_CAP 128u
#endif

/*
 * The caps that shape smtpc_conn, as one value: smtpc_init passes it to the
 * library, which refuses a value other than its own (SMTPC_ERR_ABI).
 */
#define SMTPC_CAPS_KEY                                                                             \
	(((unsigned long)(SMTPC_QUEUE_CAP)&0xffffu) << 16 |                                        \
	 ((unsigned long)(SMTPC_LMTP_RCPT_CAP)&0xffffu))

/*
 * Command line limit, octets including CRLF: RFC 5321 section 4.5.3.1.4.
 * MAIL and RCPT lines that carry ESMTP parameters may be longer by
 * SMTPC_PARAM_ALLOWANCE (RFC 5321 4.5.3.1.4 lets extensions raise the limit;
 * RFC 1869 4.1.2 and RFC 3461 section 5 size the increase).
 */
#define SMTPC_COMMAND_MAX     512u
#define SMTPC_PARAM_ALLOWANCE 512u

/* AUTH lines (command with initial response, continuations): RFC 4954 4. */
#define SMTPC_AUTH_LINE_MAX 12288u

/* Mailbox parts, octets: RFC 5321 section 4.5.3.1.1 to 4.5.3.1.3. */
#define SMTPC_LOCAL_PART_MAX 64u
#define SMTPC_DOMAIN_MAX     255u
#define SMTPC_PATH_MAX	     256u

/* DSN ENVID, octets before xtext encoding: RFC 3461 section 4.4. */
#define SMTPC_ENVID_MAX 100u

/* Smallest transmit buffer smtpc_init accepts: one full command line. */
#define SMTPC_TX_MIN SMTPC_COMMAND_MAX

/* Smallest transmit buffer smtpc_server_init accepts: room the core keeps
 * for its own replies (1024) and one full reply line. */
#define SMTPC_SERVER_TX_MIN (1024u + SMTPC_COMMAND_MAX)

#endif /* SMTPC_LIMITS_H */
