/*
 * smtpc_posix.h - the POSIX socket adapter for the smtpc core.
 *
 * CONVENTIONS
 *
 * The adapter owns a socket, a poll() loop, a clock and every timeout; the
 * core it drives (smtpc_posix_core) still does all parsing and framing. It
 * is built only on the public API of smtpc.h. It allocates its connection
 * object and buffers once, in smtpc_posix_new, and nothing after that.
 *
 * Between the socket and the core it can carry a byte layer
 * (smtpc_posix_layer): TLS, through io-bearssl (smtpc_posix_tls.h, in
 * libsmtpc-bearssl, so a plaintext user never links BearSSL). Without one,
 * octets go straight between the socket and the core.
 *
 * Two ways to use it:
 *  - blocking: smtpc_posix_connect waits for the
 *    greeting, commands are issued on the core and smtpc_posix_wait returns
 *    the next complete reply, smtpc_posix_close ends the session;
 *  - embedded in another event loop: smtpc_posix_start, then watch
 *    smtpc_posix_fd for smtpc_posix_events, wake up after
 *    smtpc_posix_timeout milliseconds, and call smtpc_posix_readable,
 *    smtpc_posix_writable and smtpc_posix_timer. Replies reach the
 *    callbacks. Commands may be issued on the core at any time, in a
 *    callback or outside one: events and timeout always reflect the core
 *    and the layer together, so what was issued goes out at the next
 *    writable or timer call (timeout is 0 while there is work that needs no
 *    I/O, such as plaintext to encrypt or replies already decrypted).
 *
 * Timeouts (RFC 5321 4.5.3.2) are per phase, chosen from what the core says
 * it waits for. A wait starts when the command is issued (or, with several
 * outstanding, when the previous reply completed): a command issued after
 * an idle gap gets its full timeout. While message data is being sent, each
 * write that makes progress restarts the data block timer. A TLS handshake
 * is bounded by the `other` timeout. After a timeout the session is over
 * (SMTPC_ERR_TIMEOUT, sticky): a late reply can never complete a later
 * command. The inactivity timeout (the seed's socket `timeout`) is
 * different: it fires the timeout callback, sends QUIT once, and closes
 * after quit_grace milliseconds at most. Time comes from opts.now when set
 * (tests drive timeouts with it), CLOCK_MONOTONIC otherwise.
 *
 * STARTTLS (RFC 3207) with a layer in STARTTLS mode: after the 220 the
 * layer takes over by itself (the handshake runs under the timeout, then
 * smtpc_tls_started); the `secure` callback then says TLS is up, and the
 * application sends EHLO again (in the callback or later). Blocking users
 * call smtpc_posix_starttls after the 220 instead.
 *
 * Callbacks run inside the adapter's calls. They may read the core's state
 * and issue the next command on the core; they must not call the adapter's
 * own functions.
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
	long connect;	 /* each address tried: 30 s */
	long greeting;	 /* 5 min */
	long mail;	 /* 5 min */
	long rcpt;	 /* 5 min */
	long data_start; /* 2 min */
	long data_block; /* 3 min, restarted by each write that progresses */
	long data_end;	 /* 10 min */
	long other;	 /* EHLO, RSET, QUIT, AUTH, ...: 5 min */
} smtpc_posix_timeouts;

/* Sets every timeout to ms: the one knob. */
void smtpc_posix_set_timeouts(smtpc_posix_timeouts *t, long ms);

/* The seed's events. Each may be NULL. */
typedef struct smtpc_posix_callbacks {
	void *user;
	void (*connect)(void *user); /* TCP is up */
	/* octets read from and written to the socket (under TLS: records) */
	void (*receive)(void *user, const unsigned char *data, size_t len);
	void (*send)(void *user, const unsigned char *data, size_t len);
	void (*command)(void *user, smtpc_cmd cmd, const char *line, size_t len, int secret);
	void (*line)(void *user, const smtpc_line *line);    /* the seed's `reply` */
	void (*reply)(void *user, const smtpc_reply *reply); /* a complete reply */
	void (*end)(void *user);			     /* the peer closed */
	void (*close)(void *user);			     /* the socket is closed */
	void (*error)(void *user, smtpc_err err);	     /* then close */
	void (*timeout)(void *user);
	void (*secure)(void *user); /* TLS is up (after STARTTLS: send EHLO again) */
} smtpc_posix_callbacks;

/*
 * A byte layer between the socket and the core (TLS), in the core's own
 * shape: the adapter reads the socket into recv_buf/recv_ack, writes
 * send_buf/send_ack to it, reports end of input with eof, and calls pump to
 * let the layer move octets to and from the core. want is the layer's mask
 * for the core and itself together (SMTPC_POSIX_LAYER_* bits); take_secured
 * returns nonzero once after a handshake completed; body_write is message
 * data in one copy (smtpc_body_write's contract); close ends the layer
 * (close_notify); why describes its error (NULL: none); destroy, when not
 * NULL, is called by smtpc_posix_free. io-bearssl's smtpc_bearssl is one
 * (smtpc_posix_tls.h sets it up); another TLS library can be another.
 */
#define SMTPC_POSIX_LAYER_READ	    (1u << 0) /* recv_buf has room */
#define SMTPC_POSIX_LAYER_WRITE	    (1u << 1) /* send_buf has octets */
#define SMTPC_POSIX_LAYER_EVENT	    (1u << 2) /* the core has events */
#define SMTPC_POSIX_LAYER_PUMP	    (1u << 3) /* pump can move something */
#define SMTPC_POSIX_LAYER_SECURED   (1u << 4) /* take_secured has news */
#define SMTPC_POSIX_LAYER_HANDSHAKE (1u << 5) /* a handshake is under way */
#define SMTPC_POSIX_LAYER_CLOSED    (1u << 6) /* finished once WRITE is clear */

typedef struct smtpc_posix_layer {
	void *ctx;
	unsigned char *(*recv_buf)(void *ctx, size_t *len);
	void (*recv_ack)(void *ctx, size_t n);
	const unsigned char *(*send_buf)(const void *ctx, size_t *len);
	void (*send_ack)(void *ctx, size_t n);
	void (*eof)(void *ctx);
	unsigned (*pump)(void *ctx);
	unsigned (*want)(const void *ctx);
	int (*take_secured)(void *ctx);
	size_t (*body_write)(void *ctx, const void *data, size_t len);
	void (*close)(void *ctx);
	const char *(*why)(const void *ctx);
	void (*destroy)(void *ctx);
} smtpc_posix_layer;

typedef struct smtpc_posix_opts {
	const char *host; /* name or address; default "127.0.0.1" */
	const char *port; /* service or number; default "25" */
	smtpc_posix_timeouts timeouts;
	long inactivity;	    /* ms without traffic before QUIT; 0: off */
	long quit_grace;	    /* ms to wait after that QUIT; 2000 */
	const smtpc_config *config; /* the core's; NULL: its defaults */
	size_t tx_size;		    /* transmit buffer; 0: 256 KiB */
	smtpc_posix_callbacks cb;
	/* The clock: milliseconds from any fixed start, never going back;
	 * called with cb.user. NULL: CLOCK_MONOTONIC. */
	long long (*now)(void *user);
	/* Client: the path of a Unix-domain stream socket to connect to
	 * instead of host and port (an LMTP server's, RFC 2033 5); copied.
	 * NULL (default): TCP. A path longer than sun_path allows fails with
	 * SMTPC_ERR_CONNECT. */
	const char *unix_path;
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
/* Message data without blocking: as smtpc_body_write on the core, through
 * the layer's one-copy path when a layer is installed (see
 * smtpc_posix_layer's body_write). Returns the octets taken; 0 when there is
 * no room now (write, then again) or no message data is expected. */
size_t smtpc_posix_body_write(smtpc_posix *p, const void *data, size_t len);
/* Sends everything pending. */
smtpc_err smtpc_posix_flush(smtpc_posix *p);
/* Closes the socket; the close callback runs once. */
void smtpc_posix_close(smtpc_posix *p);

/*
 * Installs a byte layer (TLS) between the socket and the core; the
 * structure is copied, its ctx must live as long as p (destroy, if set, is
 * called by smtpc_posix_free). Before smtpc_posix_connect or
 * smtpc_posix_start: implicit TLS (RFC 8314) or STARTTLS mode, as the layer
 * was set up. While open, only if no layer is installed yet and the core is
 * not past STARTTLS's 220 in clear (a layer in STARTTLS mode, for a
 * STARTTLS typed in a chat). SMTPC_ERR_OK, _NULL_ARG, _STATE.
 */
smtpc_err smtpc_posix_set_layer(smtpc_posix *p, const smtpc_posix_layer *l);
/*
 * STARTTLS, blocking: after the 220 reply to the core's STARTTLS (raw or
 * typed), runs until the layer's handshake is done and the core knows it
 * (it then needs a new EHLO). Bounded by the `other` timeout. Plaintext
 * after the 220 fails with SMTPC_ERR_STARTTLS_INJECTION; a failed handshake
 * with SMTPC_ERR_TLS (smtpc_posix_strerror says why). Needs a layer in
 * STARTTLS mode and the 220 received (SMTPC_ERR_STATE otherwise).
 */
smtpc_err smtpc_posix_starttls(smtpc_posix *p);
/* Nonzero when the session runs over TLS that finished its handshake: the
 * seed's isSecure(). */
int smtpc_posix_is_secure(const smtpc_posix *p);
/* The session's error in words: the core's description, or the layer's
 * reason for a TLS failure. Never NULL; valid until the next call on p. */
const char *smtpc_posix_strerror(const smtpc_posix *p);

/* --- embedding in an event loop ---------------------------------------------- */

/* Resolves and starts a non-blocking connect. */
smtpc_err smtpc_posix_start(smtpc_posix *p);
/* The socket, -1 when none. */
int smtpc_posix_fd(const smtpc_posix *p);
/* POLLIN / POLLOUT wanted now (0 when finished). POLLOUT also while
 * octets wait to be framed or encrypted (the socket is then soon writable). */
short smtpc_posix_events(const smtpc_posix *p);
/* Milliseconds until smtpc_posix_timer should run; -1 for none; 0 when
 * there is work that needs no I/O. Call it again after issuing commands
 * outside a callback: a new wait gets its full timeout. */
long smtpc_posix_timeout(const smtpc_posix *p);
/* One step each: read (readable), write (writable), deadlines and pending
 * work (timer). Each also pumps events to the callbacks and sends what
 * they issued. Any of them may be called at any time. */
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
