/*
 * smtpc_posix_server.h - an SMTP or LMTP server on the core's server role:
 * listeners, sessions, STARTTLS, storage, limits and deadlines. In
 * libsmtpc (io-posix); no TLS library is linked: TLS comes through a
 * caller-supplied layer factory (smtpc_posix_tls.h has one on io-bearssl).
 *
 * CONVENTIONS
 *
 * One server object (smtpc_posix_server_new) holds listeners (IPv4, IPv6,
 * Unix socket paths) and one session per accepted connection, each a core
 * connection in the server role. The library answers EHLO/HELO/LHLO with
 * the configured capabilities, asks the application about MAIL and RCPT
 * (callbacks.command, optional: 250 by default), and stores message data
 * through the storage callbacks. Everything else (NOOP, RSET, AUTH,
 * STARTTLS, bad commands) the core answers itself.
 *
 * The one rule of storage: a message is acknowledged (250, or each LMTP
 * recipient's 250) only after storage.end returned 0, which means the
 * message is durable. A failing begin, write or end aborts the message
 * (storage.abort is called once for every begin that returned 0 and was
 * not ended with success): nothing partial may stay. The client then gets
 * 452 4.3.1 when the error was ENOSPC or EDQUOT, 451 4.3.0 otherwise, and
 * the session stays usable for a retry. Message data that arrives after a
 * failure is read and discarded. A session that ends, a new command, or a
 * message the core refuses (bare CR/LF, line too long, SIZE) aborts an open
 * message too.
 *
 * Two faces, as the client side (smtpc_posix.h):
 *  - blocking: smtpc_posix_server_run serves until smtpc_posix_server_stop;
 *    it uses epoll on Linux and poll elsewhere;
 *  - embedding in another event loop: smtpc_posix_server_fds lists the
 *    descriptors and the poll events each wants, smtpc_posix_server_timeout
 *    says when to call smtpc_posix_server_timer, and
 *    smtpc_posix_server_readable / _writable take each descriptor's
 *    readiness. The set of descriptors changes as sessions come and go:
 *    list them again after every call.
 *
 * Limits (defaults in smtpc_posix_server_opts_default):
 *  - max_sessions: a connection beyond it is answered "421 4.3.2" and
 *    closed;
 *  - out of descriptors (EMFILE, ENFILE, ENOBUFS, ENOMEM on accept): the
 *    listeners are paused until a session ends (or one second passes), so
 *    the loop never spins on a listener it cannot serve;
 *  - deadlines (RFC 5321 4.5.3.2): a command must arrive in full within
 *    command_timeout of the server starting to wait for it (bytes that
 *    trickle in do not extend it); each block of message data within
 *    data_timeout; the TLS handshake within command_timeout; the whole
 *    session within session_timeout. An expired deadline sends
 *    "421 4.4.2" and closes; a session whose last bytes cannot be written
 *    is closed close_grace after it ended;
 *  - output is bounded: while a session's replies cannot be written (the
 *    peer does not read), its input is not read either;
 *  - EPIPE, ECONNRESET or any other socket error ends the session at once.
 *  - a client refused max_errors times for its own faults (unknown
 *    commands, syntax, failed AUTH) gets "421 4.7.0" and is closed.
 *
 * Memory: each session allocates its core connection, its buffers (from
 * the core config: the defaults here take 4 KiB, the
 * session 1.9 KiB more on x86-64) and, after
 * STARTTLS, what the layer factory allocates. The server reads plain
 * sessions through one 32 KiB buffer of its own; input read that the core
 * cannot take yet (its replies cannot go out) is kept by the session, at
 * most 32 KiB each and 4 MiB for all sessions together.
 *
 * Callbacks run inside the library's calls, never concurrently. They may
 * query the core (smtpc_posix_session_core: smtpc_is_authenticated,
 * smtpc_is_secure...) but must not call the server's own functions except
 * smtpc_posix_server_stop and the session queries.
 *
 * Threads: one thread at a time per server; servers share nothing.
 */
#ifndef SMTPC_POSIX_SERVER_H
#define SMTPC_POSIX_SERVER_H

#include <poll.h>
#include <stddef.h>

#include "smtpc.h"
#include "smtpc_posix.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct smtpc_posix_server smtpc_posix_server;
typedef struct smtpc_posix_session smtpc_posix_session;

/* What the application answers to MAIL or RCPT: the library fills it with
 * 250 and a default text before the callback; the callback may change both.
 * text is NUL-terminated, at most sizeof text - 1 octets, one or more lines
 * separated by '\n' (as smtpc_server_reply). */
typedef struct smtpc_posix_answer {
	unsigned code;
	char text[256];
} smtpc_posix_answer;

/*
 * Storage of message data. Each returns 0 on success or an errno value
 * (ENOSPC and EDQUOT give 452 4.3.1, anything else 451 4.3.0; a negative
 * or zero-free failure is taken as EIO).
 *  begin  a message starts (at DATA, before the 354; at the first BDAT
 *         chunk); *msg receives the application's handle for it.
 *  write  len octets of message data, in order (DATA: unstuffed, lines
 *         with CRLF; BDAT: as sent). All of them, or a failure.
 *  end    the message is complete: make it durable (fsync, rename) and
 *         return 0 only once it is; id[0, id_len) may receive a
 *         NUL-terminated name for the 250 text ("queued as ..."; octets
 *         outside printable ASCII are sent as '_').
 *  abort  discard the message: called after a failed write or end, and
 *         whenever a begun message will not be ended. The handle is not
 *         used after end succeeded or abort returned.
 * All four are required when storage is given; without storage every
 * message is read and discarded, and answered 250 (a test sink).
 */
typedef struct smtpc_posix_storage {
	int (*begin)(void *user, smtpc_posix_session *s, void **msg);
	int (*write)(void *user, void *msg, const unsigned char *data, size_t len);
	int (*end)(void *user, void *msg, char *id, size_t id_len);
	void (*abort)(void *user, void *msg);
} smtpc_posix_storage;

typedef struct smtpc_posix_server_callbacks {
	void *user; /* passed to every callback, and to the storage's */
	/* a session began (the greeting is queued) or ended (opened 0: the
	 * socket is about to close; how says why). May be NULL. */
	void (*session)(void *user, smtpc_posix_session *s, int opened);
	/* MAIL or RCPT (cmd->cmd), before it is answered: set *a to refuse it.
	 * NULL: 250 to both. */
	void (*command)(void *user, smtpc_posix_session *s, const smtpc_command *cmd,
			smtpc_posix_answer *a);
	/* Each reply line the session frames, as sent (without CRLF): for logs.
	 * line is valid during the call only. s is NULL for the 421 sent to a
	 * connection refused beyond max_sessions. May be NULL. */
	void (*reply)(void *user, smtpc_posix_session *s, const char *line, size_t len);
	/* A message was stored and acknowledged (ok nonzero), or refused, by
	 * the core (a protocol fault: why) or because storing failed (err: the
	 * errno value). size: octets received. May be NULL. */
	void (*message)(void *user, smtpc_posix_session *s, int ok, smtpc_err why, int err,
			unsigned long long size, const char *id);
	/* TLS is up on the session (after STARTTLS's handshake). May be NULL. */
	void (*secure)(void *user, smtpc_posix_session *s);
	/* smtpc_posix_server_run is about to wait for I/O: a moment to flush
	 * logs written without flushing. May be NULL. */
	void (*idle)(void *user);
	/* A listener could not accept (errno value err): for logs. May be NULL. */
	void (*accept_error)(void *user, int err);
} smtpc_posix_server_callbacks;

/*
 * A byte layer for a session's STARTTLS: called at the client's STARTTLS,
 * after the core has framed its 220 and paused. Fill *l with a layer in
 * STARTTLS mode on core (see smtpc_posix_layer in smtpc_posix.h; its
 * destroy, when set, is called when the session ends) and return 0; a
 * nonzero return ends the session. smtpc_posix_tls_server_factory
 * (smtpc_posix_tls.h) is one on io-bearssl.
 */
typedef int (*smtpc_posix_layer_factory)(void *ctx, smtpc_conn *core, smtpc_posix_layer *l);

typedef struct smtpc_posix_server_opts {
	/* the core's configuration for each session; NULL: the defaults with
	 * max_line 1000, max_reply 1001 and max_ext 0 (a server keeps no EHLO
	 * list), lmtp as below. The config's lmtp field is overridden by
	 * `lmtp`, and max_message by caps.size_limit when the latter is set. */
	const smtpc_config *config;
	int lmtp;	      /* speak LMTP (RFC 2033): LHLO, per-recipient replies */
	const char *domain;   /* in the greeting and the EHLO reply; "localhost" */
	const char *banner;   /* greeting text after the domain; "ESMTP" / "LMTP" */
	smtpc_caps caps;      /* extensions offered (STARTTLS is added when a
				 layer factory is set; AUTH when auth is) */
	size_t tx_size;	      /* each session's transmit buffer; 0: 2048; at least
				 SMTPC_SERVER_TX_MIN (1536): the core keeps 1024 free for
				 its own replies, the rest is what a pipelined batch
				 of replies can use at once */
	size_t max_sessions;  /* 0: 1024 */
	long command_timeout; /* ms, RFC 5321 4.5.3.2.7; 0: 300000 */
	long data_timeout;    /* ms per data block, 4.5.3.2.6; 0: 180000 */
	long session_timeout; /* ms for a whole session; 0: 3600000; -1: none */
	long close_grace;     /* ms to flush the last bytes; 0: 5000 */
	int backlog;	      /* listen(2)'s; 0: 511 */
	long max_errors;      /* refusals of the client's faults (500, 501,
				 502, 504, 535: garbage, password guessing)
				 before "421 4.7.0" and the close; 0: 20;
				 negative: no limit */
	/* STARTTLS: a layer per session on demand; NULL: not offered */
	smtpc_posix_layer_factory tls;
	void *tls_ctx;
	/* AUTH PLAIN and LOGIN with this check (smtpc_server_set_auth); offered
	 * only once TLS is up unless config->allow_plain_auth */
	smtpc_server_auth_fn auth;
	void *auth_ctx;
	smtpc_posix_storage storage; /* all NULL: discard and answer 250 */
	smtpc_posix_server_callbacks cb;
	/* The clock: milliseconds from any fixed start, never going back;
	 * called with cb.user. NULL: CLOCK_MONOTONIC. */
	long long (*now)(void *user);
} smtpc_posix_server_opts;

/* Fills *o with the defaults above (zeros, domain "localhost", the caps
 * PIPELINING 8BITMIME SMTPUTF8 CHUNKING ENHANCEDSTATUSCODES). */
void smtpc_posix_server_opts_default(smtpc_posix_server_opts *o);

/* A server with no listener. Strings in o are copied; callbacks and
 * contexts are kept by pointer and must outlive the server. NULL on no
 * memory, a storage with some but not all functions, a domain that is
 * empty, longer than 255 octets or holds a space or control octet, or a
 * banner with a control octet (but tab; '\n' separates lines) or a line
 * longer than 250 octets. */
smtpc_posix_server *smtpc_posix_server_new(const smtpc_posix_server_opts *o);
/* Closes every session (aborting open messages, the session callback
 * called) and listener (a Unix socket path is unlinked), frees all. */
void smtpc_posix_server_free(smtpc_posix_server *srv);

/*
 * Listens on host and port (numeric or a name; host NULL: 127.0.0.1; port
 * "0": a free one) for every address the name resolves to; *bound (may be
 * NULL) receives the port bound. 0, or an errno value (EAI errors as
 * EADDRNOTAVAIL); why[0, why_len) describes a failure.
 */
int smtpc_posix_server_listen(smtpc_posix_server *srv, const char *host, const char *port,
			      int *bound, char *why, size_t why_len);
/* Listens on a Unix socket at path (an existing socket file there is
 * replaced; any other file is refused with EEXIST). Removed by free. */
int smtpc_posix_server_listen_unix(smtpc_posix_server *srv, const char *path, char *why,
				   size_t why_len);

/* --- blocking use ------------------------------------------------------------- */

/* Serves until stopped. 0, or the errno value of a failed epoll/poll. */
int smtpc_posix_server_run(smtpc_posix_server *srv);
/* Async-signal-safe, and may be called from another thread while run
 * runs: it wakes run at once. now zero: stop accepting; run returns once every
 * session has ended. now nonzero: run returns at its next wake-up (the
 * sessions are closed by free). */
void smtpc_posix_server_stop(smtpc_posix_server *srv, int now);

/* --- embedding in an event loop -------------------------------------------------- */

/* Writes up to cap entries (fd, events: POLLIN / POLLOUT) of the
 * descriptors to watch now into fds (may be NULL when cap is 0) and
 * returns how many there are (more than cap: call again with room). */
size_t smtpc_posix_server_fds(const smtpc_posix_server *srv, struct pollfd *fds, size_t cap);
/* Milliseconds until smtpc_posix_server_timer is due; -1: none; 0: work
 * that needs no I/O waits. */
long smtpc_posix_server_timeout(const smtpc_posix_server *srv);
/* fd (one of those listed) is readable / writable, or has POLLHUP or
 * POLLERR (call readable). Unknown descriptors are ignored. */
void smtpc_posix_server_readable(smtpc_posix_server *srv, int fd);
void smtpc_posix_server_writable(smtpc_posix_server *srv, int fd);
/* Deadlines and pending work. */
void smtpc_posix_server_timer(smtpc_posix_server *srv);
/* Nonzero once stopped (now, or drained with no session left). */
int smtpc_posix_server_done(const smtpc_posix_server *srv);
/* Sessions open now. */
size_t smtpc_posix_server_sessions(const smtpc_posix_server *srv);

/* --- sessions -------------------------------------------------------------------- */

/* The session's core (for queries; replies are the library's). */
smtpc_conn *smtpc_posix_session_core(smtpc_posix_session *s);
/* A number for logs, from 1, unique in the server. */
unsigned long smtpc_posix_session_id(const smtpc_posix_session *s);
/* The application's pointer for the session (NULL until set). */
void smtpc_posix_session_set_user(smtpc_posix_session *s, void *user);
void *smtpc_posix_session_user(const smtpc_posix_session *s);
/* The peer as text ("127.0.0.1:4711", "[::1]:4711", "unix"). */
const char *smtpc_posix_session_peer(const smtpc_posix_session *s);
/* Why the session ended, for the session callback with opened 0: the
 * core's end (smtpc_session_end), and an error: SMTPC_ERR_TIMEOUT,
 * _RESET, _IO, _TLS, or the core's sticky error; SMTPC_ERR_OK when clean. */
smtpc_err smtpc_posix_session_error(const smtpc_posix_session *s);

#ifdef __cplusplus
}
#endif

#endif /* SMTPC_POSIX_SERVER_H */
