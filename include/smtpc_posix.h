/*
 * smtpc_posix.h - the POSIX socket adapter for the smtpc core.
 *
 * CONVENTIONS
 *
 * The adapter owns a socket, a poll() loop and every timeout; the core it
 * drives (smtpc_posix_core) still does all parsing and framing. It is built
 * only on the public API of smtpc.h. It allocates its connection object and
 * buffers once, in smtpc_posix_new, and nothing after that.
 *
 * Two ways to use it:
 *  - blocking, as the smtp-channel API: smtpc_posix_connect waits for the
 *    greeting, commands are issued on the core and smtpc_posix_wait returns
 *    the next complete reply, smtpc_posix_close ends the session;
 *  - embedded in another event loop: smtpc_posix_start, then watch
 *    smtpc_posix_fd for smtpc_posix_events, wake up after
 *    smtpc_posix_timeout milliseconds, and call smtpc_posix_readable,
 *    smtpc_posix_writable and smtpc_posix_timer. Replies reach the
 *    callbacks.
 *
 * Timeouts (RFC 5321 4.5.3.2) are per phase, chosen from what the core says
 * it waits for: the wait for a reply starts when the previous reply (or the
 * command, when nothing was outstanding) completed; while message data is
 * being sent, each write that makes progress restarts the data block timer.
 * After a timeout the session is over (SMTPC_ERR_TIMEOUT, sticky): a late
 * reply can never complete a later command. The inactivity timeout (the
 * seed's socket `timeout`) is different: it fires the timeout callback,
 * sends QUIT once, and closes after quit_grace milliseconds at most.
 *
 * Callbacks run inside the adapter's calls. They may read the core's state
 * and, in the reply callbacks, issue the next command on the core; they must
 * not call the adapter's own functions.
 */
#ifndef SMTPC_POSIX_H
#define SMTPC_POSIX_H

#include <stddef.h>

#include "smtpc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Milliseconds; 0 disables that timeout. */
typedef struct smtpc_posix_timeouts {
	long connect;    /* each address tried: 30 s */
	long greeting;   /* 5 min */
	long mail;       /* 5 min */
	long rcpt;       /* 5 min */
	long data_start; /* 2 min */
	long data_block; /* 3 min, restarted by each write that progresses */
	long data_end;   /* 10 min */
	long other;      /* EHLO, RSET, QUIT, AUTH, ...: 5 min */
} smtpc_posix_timeouts;

/* Sets every timeout to ms: the one knob. */
void smtpc_posix_set_timeouts(smtpc_posix_timeouts *t, long ms);

/* The seed's events. Each may be NULL. */
typedef struct smtpc_posix_callbacks {
	void *user;
	void (*connect)(void *user);                          /* TCP is up */
	void (*receive)(void *user, const unsigned char *data, size_t len);
	void (*send)(void *user, const unsigned char *data, size_t len);
	void (*command)(void *user, smtpc_cmd cmd, const char *line, size_t len, int secret);
	void (*line)(void *user, const smtpc_line *line);      /* the seed's `reply` */
	void (*reply)(void *user, const smtpc_reply *reply);   /* a complete reply */
	void (*end)(void *user);                               /* the peer closed */
	void (*close)(void *user);                             /* the socket is closed */
	void (*error)(void *user, smtpc_err err);              /* then close */
	void (*timeout)(void *user);
} smtpc_posix_callbacks;

/*
 * A byte transport between the core and the socket: the TLS layer. The
 * adapter calls it in place of recv()/send() once it is set. Shaped after
 * a non-blocking TLS engine: io moves records between the socket and the
 * engine as far as it can without blocking; read and write move plaintext
 * and never touch the socket.
 */
typedef struct smtpc_posix_transport {
	void *ctx;
	/* Moves records: recv() into the engine when it wants input, send()
	 * what it has to send. SMTPC_ERR_OK, or the error that ends the
	 * session (SMTPC_ERR_TLS, _RESET, ...). */
	smtpc_err (*io)(void *ctx, int fd);
	/* POLLIN / POLLOUT the engine needs on the socket now. */
	short (*events)(void *ctx);
	/* Plaintext received: copies up to len octets, returns the count;
	 * sets *eof when the peer has closed and nothing more will come. */
	size_t (*read)(void *ctx, unsigned char *buf, size_t len, int *eof);
	/* Plaintext to send: takes up to len octets, returns the count. */
	size_t (*write)(void *ctx, const unsigned char *buf, size_t len);
	/* Nonzero once the handshake is complete. */
	int (*ready)(void *ctx);
} smtpc_posix_transport;

typedef struct smtpc_posix_opts {
	const char *host;              /* name or address; default "127.0.0.1" */
	const char *port;              /* service or number; default "25" */
	smtpc_posix_timeouts timeouts;
	long inactivity;               /* ms without traffic before QUIT; 0: off */
	long quit_grace;               /* ms to wait after that QUIT; 2000 */
	const smtpc_config *config;    /* the core's; NULL: its defaults */
	size_t tx_size;                /* transmit buffer; 0: 256 KiB */
	smtpc_posix_callbacks cb;
} smtpc_posix_opts;

/* Fills *o with the defaults above. */
void smtpc_posix_opts_default(smtpc_posix_opts *o);

typedef struct smtpc_posix smtpc_posix;

/* Allocates a connection (strings in opts are copied). NULL on no memory. */
smtpc_posix *smtpc_posix_new(const smtpc_posix_opts *opts);
/* Closes the socket if open (without callbacks) and frees everything. */
void smtpc_posix_free(smtpc_posix *p);

/* The core, for commands, message data and state queries. */
smtpc_conn *smtpc_posix_core(smtpc_posix *p);

/* --- blocking use ------------------------------------------------------------ */

/* Resolves, connects (each address in turn) and waits for the greeting,
 * which *greeting receives (may be NULL). SMTPC_ERR_RESOLVE, _CONNECT,
 * _TIMEOUT, _CLOSED, or a protocol error. A 4xx/5xx greeting is not an
 * error: look at its code. */
smtpc_err smtpc_posix_connect(smtpc_posix *p, smtpc_reply *greeting);
/* Sends what is pending and waits for the next complete reply. The reply's
 * pointers stay valid until the next call on p or its core. */
smtpc_err smtpc_posix_wait(smtpc_posix *p, smtpc_reply *reply);
/* The seed's write(): a raw command line (no CRLF), then its reply. */
smtpc_err smtpc_posix_write(smtpc_posix *p, const char *line, smtpc_reply *reply);
/* Sends message data (after the 354, or a BDAT header) through the core,
 * blocking as needed. */
smtpc_err smtpc_posix_body(smtpc_posix *p, const void *data, size_t len);
/* Sends everything pending. */
smtpc_err smtpc_posix_flush(smtpc_posix *p);
/* Closes the socket; the close callback runs once. */
void smtpc_posix_close(smtpc_posix *p);

/*
 * Sets the transport (NULL: plain TCP). Before smtpc_posix_connect or
 * smtpc_posix_start it gives implicit TLS (RFC 8314): the connection is
 * marked secure once the handshake is done. The structure is copied; its
 * ctx must live as long as p.
 */
smtpc_err smtpc_posix_set_transport(smtpc_posix *p, const smtpc_posix_transport *t);
/*
 * STARTTLS (RFC 3207), blocking: call after the 220 reply to the core's
 * STARTTLS. Fails with SMTPC_ERR_STARTTLS_INJECTION if any plaintext came
 * after that 220; otherwise sets the transport, runs the handshake (bounded
 * by the "other" timeout) and tells the core TLS is up, which then needs a
 * new EHLO.
 */
smtpc_err smtpc_posix_starttls(smtpc_posix *p, const smtpc_posix_transport *t);
/* Nonzero when the session runs over a transport that finished its
 * handshake: the seed's isSecure(). */
int smtpc_posix_is_secure(const smtpc_posix *p);

/* --- embedding in an event loop ---------------------------------------------- */

/* Resolves and starts a non-blocking connect. */
smtpc_err smtpc_posix_start(smtpc_posix *p);
/* The socket, -1 when none. */
int smtpc_posix_fd(const smtpc_posix *p);
/* POLLIN / POLLOUT wanted now (0 when finished). */
short smtpc_posix_events(const smtpc_posix *p);
/* Milliseconds until smtpc_posix_timer should run; -1 for none. */
long smtpc_posix_timeout(const smtpc_posix *p);
void smtpc_posix_readable(smtpc_posix *p);
void smtpc_posix_writable(smtpc_posix *p);
void smtpc_posix_timer(smtpc_posix *p);
/* Nonzero once the session is over (closed or failed). */
int smtpc_posix_done(const smtpc_posix *p);
/* The error that ended the session, SMTPC_ERR_OK if none. */
smtpc_err smtpc_posix_error(const smtpc_posix *p);

#ifdef __cplusplus
}
#endif

#endif /* SMTPC_POSIX_H */
