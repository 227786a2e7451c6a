/*
 * posix.c - sockets, poll(), a clock and timeouts around the smtpc core.
 *
 * States: IDLE -> CONNECTING (non-blocking connect to one address; on
 * failure the next one) -> OPEN -> CLOSED. QUITTING is OPEN after the
 * inactivity timeout sent QUIT: only the grace deadline remains.
 *
 * Between the socket and the core sits a byte layer: TLS when one is
 * installed (smtpc_posix_set_layer), else the passthrough below, which is
 * the core's own recv/send buffers. Every path goes through it, so plain
 * and TLS sessions share one code path.
 *
 * work() is the one step: read the socket once (when asked), let the layer
 * pump, deliver the core's events to the callbacks (which may issue
 * commands), pump again, write; repeat while anything moved. readable,
 * writable and timer each run it; the blocking calls are a poll() loop
 * over the same functions. Reading goes on while the core wants input,
 * writing included, so a server that answers while we write cannot
 * deadlock us.
 *
 * Waits. The wait for a reply is identified by what the core waits for,
 * the replies seen and the replies outstanding; when that changes (a
 * command was issued, a reply completed) a new wait starts now. The const
 * queries (timeout) treat a change not yet recorded as starting now, so a
 * command issued outside a callback after an idle gap gets its full
 * timeout even when the loop runs due timers before I/O; timer() records it
 * before it looks at deadlines. A handshake (the layer says HANDSHAKE) is
 * bounded by the `other` timeout from when it was first seen. Before a
 * reply wait is declared over, timer() reads what has arrived.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "smtpc_posix.h"

enum { P_IDLE, P_CONNECTING, P_OPEN, P_CLOSED };

struct smtpc_posix {
	smtpc_conn core;
	smtpc_posix_opts o;
	char *host, *port;
	int fd, state, quitting;
	struct addrinfo *ai_list, *ai_next;
	char *unix_path;	 /* a Unix-domain socket instead of host and port */
	long long conn_deadline; /* connect attempt, ms */
	long long wait_start;	 /* the current reply wait began */
	long long last_io;	 /* for inactivity */
	long long quit_deadline; /* after the inactivity QUIT */
	long long hs_start;	 /* the handshake was first seen */
	int wait_key, in_hs;	 /* waiting_for at wait_start; a handshake seen */
	size_t wait_pending;	 /* replies outstanding at wait_start */
	unsigned long replies;	 /* replies seen */
	unsigned long wait_replies;
	smtpc_err err; /* the error that ended the session */
	int closed_cb; /* the close callback ran */
	/* blocking use: a reply pulled from the core and kept for wait(); the
	 * core is not pumped while one is kept, so its text stays valid */
	int want_reply;
	int stored;
	smtpc_reply reply;
	unsigned char *rx, *tx;
	size_t rx_len, tx_len;
	/* the byte layer: TLS, or the passthrough */
	smtpc_posix_layer layer;
	int have_layer, secured;
	char why[200];
};

/* ---- time ------------------------------------------------------------------- */

static long long now_of(const smtpc_posix *p)
{
	struct timespec ts;

	if (p->o.now != NULL)
		return p->o.now(p->o.cb.user);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void smtpc_posix_set_timeouts(smtpc_posix_timeouts *t, long ms)
{
	if (t == NULL)
		return;
	t->connect = t->greeting = t->mail = t->rcpt = ms;
	t->data_start = t->data_block = t->data_end = t->other = ms;
}

void smtpc_posix_opts_default(smtpc_posix_opts *o)
{
	if (o == NULL)
		return;
	memset(o, 0, sizeof *o);
	o->host = "127.0.0.1";
	o->port = "25";
	o->timeouts.connect = 30000;
	o->timeouts.greeting = 300000;
	o->timeouts.mail = 300000;
	o->timeouts.rcpt = 300000;
	o->timeouts.data_start = 120000;
	o->timeouts.data_block = 180000;
	o->timeouts.data_end = 600000;
	o->timeouts.other = 300000;
	o->quit_grace = 2000;
}

/* ---- the passthrough layer: the core's own buffers ---------------------------- */

static unsigned char *pt_recv_buf(void *ctx, size_t *len)
{
	return smtpc_recv_buf(&((smtpc_posix *)ctx)->core, len);
}

static void pt_recv_ack(void *ctx, size_t n)
{
	smtpc_recv_ack(&((smtpc_posix *)ctx)->core, n);
}

static const unsigned char *pt_send_buf(const void *ctx, size_t *len)
{
	return smtpc_send_buf(&((const smtpc_posix *)ctx)->core, len);
}

static void pt_send_ack(void *ctx, size_t n)
{
	smtpc_send_ack(&((smtpc_posix *)ctx)->core, n);
}

static void pt_eof(void *ctx)
{
	smtpc_eof(&((smtpc_posix *)ctx)->core);
}

static unsigned pt_want(const void *ctx)
{
	unsigned cw = smtpc_want(&((const smtpc_posix *)ctx)->core), w = 0;

	if (cw & SMTPC_WANT_READ)
		w |= SMTPC_POSIX_LAYER_READ;
	if (cw & SMTPC_WANT_WRITE)
		w |= SMTPC_POSIX_LAYER_WRITE;
	if (cw & SMTPC_WANT_EVENT)
		w |= SMTPC_POSIX_LAYER_EVENT;
	if (cw & SMTPC_WANT_CLOSED)
		w |= SMTPC_POSIX_LAYER_CLOSED;
	return w;
}

static unsigned pt_pump(void *ctx)
{
	return pt_want(ctx);
}

static int pt_take_secured(void *ctx)
{
	(void)ctx;
	return 0;
}

static size_t pt_body_write(void *ctx, const void *data, size_t len)
{
	return smtpc_body_write(&((smtpc_posix *)ctx)->core, data, len);
}

static void pt_close(void *ctx)
{
	(void)ctx;
}

static const char *pt_why(const void *ctx)
{
	(void)ctx;
	return NULL;
}

static void passthrough(smtpc_posix *p)
{
	smtpc_posix_layer *l = &p->layer;

	l->ctx = p;
	l->recv_buf = pt_recv_buf;
	l->recv_ack = pt_recv_ack;
	l->send_buf = pt_send_buf;
	l->send_ack = pt_send_ack;
	l->eof = pt_eof;
	l->pump = pt_pump;
	l->want = pt_want;
	l->take_secured = pt_take_secured;
	l->body_write = pt_body_write;
	l->close = pt_close;
	l->why = pt_why;
	l->destroy = NULL;
}

/* ---- the object --------------------------------------------------------------------- */

static char *dup_str(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);

	if (d != NULL)
		memcpy(d, s, n);
	return d;
}

static void on_command(void *user, smtpc_cmd cmd, const char *line, size_t len, int secret)
{
	smtpc_posix *p = user;

	if (p->o.cb.command)
		p->o.cb.command(p->o.cb.user, cmd, line, len, secret);
}

smtpc_posix *smtpc_posix_new(const smtpc_posix_opts *opts)
{
	smtpc_posix *p = calloc(1, sizeof *p);

	if (p == NULL)
		return NULL;
	if (opts != NULL)
		p->o = *opts;
	else
		smtpc_posix_opts_default(&p->o);
	p->host = dup_str(p->o.host ? p->o.host : "127.0.0.1");
	p->port = dup_str(p->o.port ? p->o.port : "25");
	p->unix_path = p->o.unix_path ? dup_str(p->o.unix_path) : NULL;
	p->rx_len = smtpc_rx_min(p->o.config);
	p->tx_len = p->o.tx_size ? p->o.tx_size : 256u * 1024u;
	if (p->tx_len < SMTPC_TX_MIN)
		p->tx_len = SMTPC_TX_MIN;
	p->rx = malloc(p->rx_len);
	p->tx = malloc(p->tx_len);
	p->fd = -1;
	passthrough(p);
	if (p->host == NULL || p->port == NULL || p->rx == NULL || p->tx == NULL ||
	    (p->o.unix_path != NULL && p->unix_path == NULL) ||
	    smtpc_init(&p->core, p->o.config, p->rx, p->rx_len, p->tx, p->tx_len) != SMTPC_ERR_OK) {
		smtpc_posix_free(p);
		return NULL;
	}
	p->o.config = NULL; /* copied by the core; the caller's may go away */
	p->o.host = p->host;
	p->o.port = p->port;
	p->o.unix_path = p->unix_path;
	smtpc_set_command_hook(&p->core, on_command, p);
	return p;
}

void smtpc_posix_free(smtpc_posix *p)
{
	if (p == NULL)
		return;
	if (p->fd >= 0)
		close(p->fd);
	if (p->ai_list)
		freeaddrinfo(p->ai_list);
	if (p->have_layer && p->layer.destroy != NULL)
		p->layer.destroy(p->layer.ctx);
	free(p->host);
	free(p->port);
	free(p->unix_path);
	free(p->rx);
	free(p->tx);
	free(p);
}

smtpc_conn *smtpc_posix_core(smtpc_posix *p)
{
	return p ? &p->core : NULL;
}

int smtpc_posix_fd(const smtpc_posix *p)
{
	return p ? p->fd : -1;
}

int smtpc_posix_done(const smtpc_posix *p)
{
	return p == NULL || p->state == P_CLOSED;
}

smtpc_err smtpc_posix_error(const smtpc_posix *p)
{
	return p ? p->err : SMTPC_ERR_NULL_ARG;
}

/* ---- ending ------------------------------------------------------------------ */

static void finish(smtpc_posix *p)
{
	if (p->fd >= 0) {
		close(p->fd);
		p->fd = -1;
	}
	if (p->state != P_CLOSED) {
		p->state = P_CLOSED;
		if (!p->closed_cb) {
			p->closed_cb = 1;
			if (p->o.cb.close)
				p->o.cb.close(p->o.cb.user);
		}
	}
}

/* Ends the session with an error (the first one is kept). */
static void fail(smtpc_posix *p, smtpc_err e)
{
	if (p->state == P_CLOSED)
		return;
	smtpc_fail(&p->core, e);
	if (p->err == SMTPC_ERR_OK)
		p->err = smtpc_error(&p->core) != SMTPC_ERR_OK ? smtpc_error(&p->core) : e;
	if (p->o.cb.error)
		p->o.cb.error(p->o.cb.user, p->err);
	finish(p);
}

/* ---- connecting ---------------------------------------------------------------- */

static smtpc_err sock_error(int e)
{
	switch (e) {
	case ECONNRESET:
	case EPIPE:
		return SMTPC_ERR_RESET;
	case ECONNREFUSED:
	case ENETUNREACH:
	case EHOSTUNREACH:
	case EADDRNOTAVAIL:
		return SMTPC_ERR_CONNECT;
	case ETIMEDOUT:
		return SMTPC_ERR_TIMEOUT;
	default:
		return SMTPC_ERR_IO;
	}
}

static void connected(smtpc_posix *p)
{
	int one = 1;

	if (p->unix_path == NULL)
		setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (p->ai_list != NULL)
		freeaddrinfo(p->ai_list);
	p->ai_list = p->ai_next = NULL;
	p->state = P_OPEN;
	p->last_io = p->wait_start = now_of(p);
	p->wait_key = (int)smtpc_waiting_for(&p->core);
	p->wait_pending = smtpc_pending(&p->core);
	p->wait_replies = p->replies;
	if (p->o.cb.connect)
		p->o.cb.connect(p->o.cb.user);
}

/* Starts connecting to the next address; returns the error if none is left. */
static smtpc_err try_next(smtpc_posix *p, smtpc_err last)
{
	while (p->ai_next != NULL) {
		struct addrinfo *ai = p->ai_next;
		int fd;

		p->ai_next = ai->ai_next;
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd < 0) {
			last = SMTPC_ERR_IO;
			continue;
		}
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		p->fd = fd;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			connected(p);
			return SMTPC_ERR_OK;
		}
		if (errno == EINPROGRESS) {
			p->state = P_CONNECTING;
			p->conn_deadline =
			    p->o.timeouts.connect > 0 ? now_of(p) + p->o.timeouts.connect : -1;
			return SMTPC_ERR_OK;
		}
		last = sock_error(errno);
		close(fd);
		p->fd = -1;
	}
	return last;
}

/* A Unix-domain stream socket (LMTP servers listen on one, RFC 2033 5):
 * one address, so a failure is final. */
static smtpc_err unix_start(smtpc_posix *p)
{
	struct sockaddr_un sa;
	size_t n = strlen(p->unix_path);
	int fd;

	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (n == 0 || n >= sizeof sa.sun_path) { /* a path that cannot be named */
		fail(p, SMTPC_ERR_CONNECT);
		return p->err;
	}
	memcpy(sa.sun_path, p->unix_path, n + 1);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0) {
		fail(p, SMTPC_ERR_IO);
		return p->err;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	p->fd = fd;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
		connected(p);
		return SMTPC_ERR_OK;
	}
	if (errno == EINPROGRESS || errno == EAGAIN) {
		p->state = P_CONNECTING;
		p->conn_deadline =
		    p->o.timeouts.connect > 0 ? now_of(p) + p->o.timeouts.connect : -1;
		return SMTPC_ERR_OK;
	}
	fail(p, sock_error(errno));
	close(fd);
	p->fd = -1;
	return p->err;
}

smtpc_err smtpc_posix_start(smtpc_posix *p)
{
	struct addrinfo hints;
	smtpc_err e;
	int rc;

	if (p == NULL)
		return SMTPC_ERR_NULL_ARG;
	if (p->state != P_IDLE)
		return SMTPC_ERR_STATE;
	if (p->unix_path != NULL)
		return unix_start(p);
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG;
	rc = getaddrinfo(p->host, p->port, &hints, &p->ai_list);
	if (rc != 0) {
		p->ai_list = NULL;
		fail(p, SMTPC_ERR_RESOLVE);
		return p->err;
	}
	p->ai_next = p->ai_list;
	e = try_next(p, SMTPC_ERR_CONNECT);
	if (e != SMTPC_ERR_OK)
		fail(p, e);
	return e;
}

static void connect_done(smtpc_posix *p)
{
	int soerr = 0;
	socklen_t len = sizeof soerr;
	smtpc_err e;

	if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
		soerr = errno;
	if (soerr == 0) {
		connected(p);
		return;
	}
	close(p->fd);
	p->fd = -1;
	e = try_next(p, sock_error(soerr));
	if (e != SMTPC_ERR_OK)
		fail(p, e);
}

/* ---- one step -------------------------------------------------------------------- */

static unsigned lwant(const smtpc_posix *p)
{
	return p->layer.want(p->layer.ctx);
}

/* One read from the socket into the layer; nonzero if anything happened. */
static int do_read(smtpc_posix *p)
{
	size_t room;
	unsigned char *buf = p->layer.recv_buf(p->layer.ctx, &room);
	ssize_t n;

	if (buf == NULL)
		return 0;
	n = recv(p->fd, buf, room, 0);

	if (n > 0) {
		if (p->o.cb.receive)
			p->o.cb.receive(p->o.cb.user, buf, (size_t)n);
		p->layer.recv_ack(p->layer.ctx, (size_t)n);
		p->last_io = now_of(p);
		return 1;
	}
	if (n == 0) {
		if (p->o.cb.end)
			p->o.cb.end(p->o.cb.user);
		p->layer.eof(p->layer.ctx);
		return 1;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return 0;
	fail(p, sock_error(errno));
	return 1;
}

/* Writes what the layer has until the socket takes no more. */
static int do_write(smtpc_posix *p)
{
	const unsigned char *buf;
	size_t len;
	int moved = 0;

	while (p->state == P_OPEN && (buf = p->layer.send_buf(p->layer.ctx, &len)) != NULL) {
		ssize_t n = send(p->fd, buf, len, MSG_NOSIGNAL);
		if (n > 0) {
			if (p->o.cb.send)
				p->o.cb.send(p->o.cb.user, buf, (size_t)n);
			p->layer.send_ack(p->layer.ctx, (size_t)n);
			p->last_io = now_of(p);
			if (smtpc_waiting_for(&p->core) == SMTPC_WAIT_DATA_BLOCK)
				p->wait_start = p->last_io; /* data block: progress restarts */
			moved = 1;
		} else {
			if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				fail(p, sock_error(errno));
				return 1;
			}
			break;
		}
	}
	return moved;
}

/* Delivers the core's events. Stops after a reply when a blocking wait
 * wants one (its text must stay valid for the caller). */
static int deliver(smtpc_posix *p)
{
	smtpc_event ev;
	int moved = 0;

	while (p->state == P_OPEN && !(p->want_reply && p->stored)) {
		switch (smtpc_next_event(&p->core, &ev)) {
		case SMTPC_EV_NEED_DATA:
			return moved;
		case SMTPC_EV_LINE:
			if (p->o.cb.line)
				p->o.cb.line(p->o.cb.user, &ev.line);
			break;
		case SMTPC_EV_REPLY:
			p->replies++;
			if (p->o.cb.reply)
				p->o.cb.reply(p->o.cb.user, &ev.reply);
			if (p->want_reply) {
				p->reply = ev.reply;
				p->stored = 1;
			}
			break;
		case SMTPC_EV_STARTTLS:
			if (!p->have_layer) { /* nothing would ever start TLS: a hang */
				snprintf(p->why, sizeof p->why,
					 "STARTTLS was answered 220 but no TLS layer is set");
				fail(p, SMTPC_ERR_TLS);
				return 1;
			}
			break; /* the layer takes it from here */
		case SMTPC_EV_CLOSED:
			finish(p);
			return 1;
		case SMTPC_EV_ERROR:
			fail(p, ev.err);
			return 1;
		default: /* server-role events: not on a client connection */
			return moved;
		}
		moved = 1;
	}
	return moved;
}

/* Restarts the reply timer when a new wait begins, and notes a handshake. */
static void track_wait(smtpc_posix *p)
{
	int key = (int)smtpc_waiting_for(&p->core);
	size_t pending = smtpc_pending(&p->core);
	long long t = now_of(p);

	if (key != p->wait_key || p->replies != p->wait_replies || pending != p->wait_pending) {
		p->wait_key = key;
		p->wait_replies = p->replies;
		p->wait_pending = pending;
		p->wait_start = p->last_io = t; /* a command issued is activity too */
	}
	if (lwant(p) & SMTPC_POSIX_LAYER_HANDSHAKE) {
		if (!p->in_hs) {
			p->in_hs = 1;
			p->hs_start = t;
		}
	} else {
		p->in_hs = 0;
	}
}

/* Work that needs no I/O: plaintext to move, events to deliver, news. */
static int work_due(const smtpc_posix *p)
{
	unsigned w = lwant(p);

	if (w & SMTPC_POSIX_LAYER_CLOSED)
		return 0;
	return (w & (SMTPC_POSIX_LAYER_PUMP | SMTPC_POSIX_LAYER_SECURED)) ||
	       ((w & SMTPC_POSIX_LAYER_EVENT) && !(p->want_reply && p->stored));
}

/* The step: read (when rd), pump, events, pump, write, while anything
 * moves. */
static void work(smtpc_posix *p, int rd)
{
	while (p->state == P_OPEN) {
		/* a kept reply stops reading too: the next wait() reads on */
		int moved = rd && !(p->want_reply && p->stored) ? do_read(p) : 0;
		if (p->state != P_OPEN)
			break;
		p->layer.pump(p->layer.ctx);
		moved |= deliver(p);
		if (p->state != P_OPEN)
			break;
		if (p->layer.take_secured(p->layer.ctx)) {
			p->secured = 1;
			moved = 1;
			if (p->o.cb.secure)
				p->o.cb.secure(p->o.cb.user);
		}
		p->layer.pump(p->layer.ctx);
		moved |= do_write(p);
		if (!moved && !work_due(p)) /* (the core takes plaintext a buffer at a time) */
			break;
	}
	if (p->state == P_OPEN)
		track_wait(p);
}

/* ---- deadlines --------------------------------------------------------------------- */

static long phase_timeout(const smtpc_posix *p)
{
	const smtpc_posix_timeouts *t = &p->o.timeouts;

	switch (smtpc_waiting_for(&p->core)) {
	case SMTPC_WAIT_GREETING:
		return t->greeting;
	case SMTPC_WAIT_MAIL:
		return t->mail;
	case SMTPC_WAIT_RCPT:
		return t->rcpt;
	case SMTPC_WAIT_DATA_START:
		return t->data_start;
	case SMTPC_WAIT_DATA_BLOCK:
		return t->data_block;
	case SMTPC_WAIT_DATA_END:
		return t->data_end;
	case SMTPC_WAIT_OTHER:
		return t->other;
	default:
		return 0;
	}
}

enum { D_NONE, D_REPLY, D_IDLE, D_QUIT, D_CONNECT };

/* The earliest deadline, or -1; *which says whose. A wait not yet recorded
 * starts at `now`. */
static long long next_deadline(const smtpc_posix *p, long long now, int *which)
{
	long long best = -1, ws = p->wait_start, li = p->last_io, hs = p->hs_start;
	long t;

	*which = D_NONE;
	if (p->state == P_CONNECTING) {
		*which = D_CONNECT;
		return p->conn_deadline;
	}
	if (p->state != P_OPEN)
		return -1;
	if (p->quitting) {
		*which = D_QUIT;
		return p->quit_deadline;
	}
	if ((int)smtpc_waiting_for(&p->core) != p->wait_key || p->replies != p->wait_replies ||
	    smtpc_pending(&p->core) != p->wait_pending)
		ws = li = now; /* issued since the last step: its wait starts now */
	t = phase_timeout(p);
	if (t > 0) {
		best = ws + t;
		*which = D_REPLY;
	}
	if ((lwant(p) & SMTPC_POSIX_LAYER_HANDSHAKE) && p->o.timeouts.other > 0) {
		if (!p->in_hs)
			hs = now;
		if (best < 0 || hs + p->o.timeouts.other < best) {
			best = hs + p->o.timeouts.other;
			*which = D_REPLY;
		}
	}
	if (p->o.inactivity > 0 && (best < 0 || li + p->o.inactivity < best)) {
		best = li + p->o.inactivity;
		*which = D_IDLE;
	}
	return best;
}

long smtpc_posix_timeout(const smtpc_posix *p)
{
	int which;
	long long d, left, now;

	if (p == NULL)
		return -1;
	if (p->state == P_OPEN && work_due(p))
		return 0;
	now = now_of(p);
	d = next_deadline(p, now, &which);
	if (d < 0)
		return -1;
	left = d - now;
	return left < 0 ? 0 : left > 0x7fffffffL ? 0x7fffffffL : (long)left;
}

short smtpc_posix_events(const smtpc_posix *p)
{
	unsigned w;
	short ev = 0;

	if (p == NULL || p->fd < 0)
		return 0;
	if (p->state == P_CONNECTING)
		return POLLOUT;
	if (p->state != P_OPEN)
		return 0;
	w = lwant(p);
	if (w & SMTPC_POSIX_LAYER_READ)
		ev |= POLLIN;
	if (w & (SMTPC_POSIX_LAYER_WRITE | SMTPC_POSIX_LAYER_PUMP))
		ev |= POLLOUT;
	return ev;
}

void smtpc_posix_timer(smtpc_posix *p)
{
	int which;
	long long d, now;

	if (p == NULL)
		return;
	if (p->state == P_OPEN)
		track_wait(p); /* commands issued since the last step start their wait now */
	now = now_of(p);
	d = next_deadline(p, now, &which);
	if (d >= 0 && now >= d && which == D_REPLY) {
		work(p, 1); /* what has arrived counts before the wait is declared over */
		now = now_of(p);
		d = next_deadline(p, now, &which);
	}
	if (d < 0 || now < d) {
		if (p->state == P_OPEN)
			work(p, 0);
		return;
	}
	switch (which) {
	case D_CONNECT: { /* this address took too long: the next one */
		smtpc_err e;
		close(p->fd);
		p->fd = -1;
		e = try_next(p, SMTPC_ERR_TIMEOUT);
		if (e != SMTPC_ERR_OK)
			fail(p, e);
		break;
	}
	case D_QUIT: /* QUIT had its chance */
		finish(p);
		break;
	case D_IDLE: /* inactivity: the seed's timeout, QUIT once */
		if (p->o.cb.timeout)
			p->o.cb.timeout(p->o.cb.user);
		if (p->state != P_OPEN)
			break;
		if (smtpc_quit(&p->core) != SMTPC_ERR_OK) {
			finish(p);
			break;
		}
		p->quitting = 1;
		p->quit_deadline = now_of(p) + (p->o.quit_grace > 0 ? p->o.quit_grace : 0);
		work(p, 0);
		break;
	default: /* a reply, a data block or a handshake took too long */
		if (p->o.cb.timeout)
			p->o.cb.timeout(p->o.cb.user);
		fail(p, SMTPC_ERR_TIMEOUT);
	}
}

void smtpc_posix_writable(smtpc_posix *p)
{
	if (p == NULL)
		return;
	if (p->state == P_CONNECTING) {
		connect_done(p);
		return;
	}
	work(p, 0);
}

void smtpc_posix_readable(smtpc_posix *p)
{
	if (p != NULL)
		work(p, 1);
}

/* ---- the blocking loop ---------------------------------------------------------------- */

/* One round: step, then wait for the socket or the next deadline. */
static void run_once(smtpc_posix *p)
{
	struct pollfd pfd;
	long t;
	int rc;

	if (p->state == P_OPEN) {
		work(p, 0);
		if (p->state != P_OPEN)
			return;
	}
	t = smtpc_posix_timeout(p);
	if (t == 0) {
		smtpc_posix_timer(p);
		return;
	}
	pfd.fd = p->fd;
	pfd.events = smtpc_posix_events(p);
	pfd.revents = 0;
	if (pfd.events == 0 && t < 0) {
		fail(p, SMTPC_ERR_STATE); /* nothing to wait for: would hang */
		return;
	}
	rc = poll(&pfd, 1, t < 0 ? -1 : (int)(t > 0x7fffffff ? 0x7fffffff : t));
	if (rc < 0) {
		if (errno != EINTR)
			fail(p, SMTPC_ERR_IO);
		return;
	}
	if (rc > 0 && p->state == P_CONNECTING) {
		if (pfd.revents & (POLLOUT | POLLERR | POLLHUP))
			connect_done(p);
		return;
	}
	if (rc > 0 && (pfd.revents & (POLLIN | POLLERR | POLLHUP)))
		smtpc_posix_readable(p);
	else if (rc > 0 && (pfd.revents & POLLOUT))
		smtpc_posix_writable(p);
	smtpc_posix_timer(p);
}

/* Runs until done(p) says so or the session ends. */
static smtpc_err run(smtpc_posix *p, int (*done)(smtpc_posix *p))
{
	for (;;) {
		if (p->state == P_OPEN)
			work(p, 0);
		if (p->state == P_CLOSED || done(p))
			break;
		run_once(p);
	}
	if (p->state == P_CLOSED && !done(p))
		return p->err != SMTPC_ERR_OK ? p->err : SMTPC_ERR_CLOSED;
	return SMTPC_ERR_OK;
}

static int have_reply(smtpc_posix *p)
{
	return p->stored;
}

/* Everything out on the socket: nothing in the core, nothing in the layer. */
static int flushed(smtpc_posix *p)
{
	size_t n;

	smtpc_send_buf(&p->core, &n);
	return n == 0 && !(lwant(p) & (SMTPC_POSIX_LAYER_WRITE | SMTPC_POSIX_LAYER_PUMP));
}

static int open_or_done(smtpc_posix *p)
{
	return p->state != P_CONNECTING && p->state != P_IDLE;
}

static int is_secured(smtpc_posix *p)
{
	return p->secured;
}

smtpc_err smtpc_posix_wait(smtpc_posix *p, smtpc_reply *reply)
{
	smtpc_err e = SMTPC_ERR_OK;

	if (p == NULL)
		return SMTPC_ERR_NULL_ARG;
	if (!p->stored) {
		if (p->state != P_OPEN)
			return p->err != SMTPC_ERR_OK ? p->err : SMTPC_ERR_STATE;
		if (smtpc_pending(&p->core) == 0 && !(smtpc_want(&p->core) & SMTPC_WANT_EVENT))
			return SMTPC_ERR_STATE; /* no reply will come */
		p->want_reply = 1;
		e = run(p, have_reply);
		p->want_reply = 0;
	}
	if (e == SMTPC_ERR_OK) {
		if (reply != NULL)
			*reply = p->reply;
		p->stored = 0;
	}
	return e;
}

smtpc_err smtpc_posix_connect(smtpc_posix *p, smtpc_reply *greeting)
{
	smtpc_err e = smtpc_posix_start(p);

	if (e != SMTPC_ERR_OK)
		return e;
	p->want_reply = 1; /* the greeting is kept for wait() */
	e = run(p, open_or_done);
	p->want_reply = 0;
	if (e != SMTPC_ERR_OK)
		return e;
	if (p->state != P_OPEN && !p->stored)
		return p->err != SMTPC_ERR_OK ? p->err : SMTPC_ERR_CONNECT;
	return smtpc_posix_wait(p, greeting);
}

smtpc_err smtpc_posix_write(smtpc_posix *p, const char *line, smtpc_reply *reply)
{
	smtpc_err e;

	if (p == NULL || line == NULL)
		return SMTPC_ERR_NULL_ARG;
	e = smtpc_raw(&p->core, line, strlen(line));
	if (e != SMTPC_ERR_OK)
		return e;
	if (smtpc_pending(&p->core) == 0) /* a message line: no reply */
		return smtpc_posix_flush(p);
	return smtpc_posix_wait(p, reply);
}

smtpc_err smtpc_posix_flush(smtpc_posix *p)
{
	smtpc_err e;

	if (p == NULL)
		return SMTPC_ERR_NULL_ARG;
	if (p->state != P_OPEN)
		return p->err != SMTPC_ERR_OK ? p->err : SMTPC_ERR_STATE;
	p->want_reply = 1; /* a reply that arrives meanwhile is kept for wait() */
	e = run(p, flushed);
	p->want_reply = 0;
	return e;
}

smtpc_err smtpc_posix_body(smtpc_posix *p, const void *data, size_t len)
{
	const unsigned char *d = data;

	if (p == NULL || (data == NULL && len != 0))
		return SMTPC_ERR_NULL_ARG;
	while (len > 0) {
		size_t n = p->layer.body_write(p->layer.ctx, d, len);
		if (n == 0) {
			smtpc_err e = smtpc_error(&p->core);
			if (e != SMTPC_ERR_OK)
				return e;
			if (p->state != P_OPEN)
				return p->err != SMTPC_ERR_OK ? p->err : SMTPC_ERR_STATE;
			if (smtpc_waiting_for(&p->core) != SMTPC_WAIT_DATA_BLOCK)
				return SMTPC_ERR_STATE; /* not after a 354 or inside a BDAT chunk */
			if (!flushed(p)) {
				e = smtpc_posix_flush(p);
				if (e != SMTPC_ERR_OK)
					return e;
			} else {
				p->want_reply = 1; /* the layer waits for the socket: one round */
				run_once(p);
				p->want_reply = 0;
			}
			continue;
		}
		d += n;
		len -= n;
	}
	return SMTPC_ERR_OK;
}

size_t smtpc_posix_body_write(smtpc_posix *p, const void *data, size_t len)
{
	if (p == NULL || (data == NULL && len != 0))
		return 0;
	return p->layer.body_write(p->layer.ctx, data, len);
}

void smtpc_posix_close(smtpc_posix *p)
{
	if (p == NULL)
		return;
	if (p->state == P_OPEN && p->have_layer) {
		p->layer.close(p->layer.ctx); /* close_notify, as far as the socket takes it now */
		p->layer.pump(p->layer.ctx);
		do_write(p);
	}
	finish(p);
}

/* ---- layers (TLS) --------------------------------------------------------------------- */

smtpc_err smtpc_posix_set_layer(smtpc_posix *p, const smtpc_posix_layer *l)
{
	if (p == NULL || l == NULL)
		return SMTPC_ERR_NULL_ARG;
	if (l->recv_buf == NULL || l->recv_ack == NULL || l->send_buf == NULL ||
	    l->send_ack == NULL || l->eof == NULL || l->pump == NULL || l->want == NULL ||
	    l->take_secured == NULL || l->body_write == NULL || l->close == NULL || l->why == NULL)
		return SMTPC_ERR_NULL_ARG;
	if (p->have_layer || (p->state != P_IDLE && p->state != P_OPEN) ||
	    (smtpc_want(&p->core) & SMTPC_WANT_TLS))
		return SMTPC_ERR_STATE;
	p->layer = *l;
	p->have_layer = 1;
	return SMTPC_ERR_OK;
}

smtpc_err smtpc_posix_starttls(smtpc_posix *p)
{
	smtpc_err e;

	if (p == NULL)
		return SMTPC_ERR_NULL_ARG;
	if (p->state != P_OPEN)
		return p->err != SMTPC_ERR_OK ? p->err : SMTPC_ERR_STATE;
	if (!p->have_layer || p->secured)
		return SMTPC_ERR_STATE;
	/* only once the 220 is in (or the handshake under way): else it would
	 * wait for a handshake nothing started */
	if (!p->stored && !(smtpc_want(&p->core) & (SMTPC_WANT_TLS | SMTPC_WANT_EVENT)) &&
	    !(lwant(p) & SMTPC_POSIX_LAYER_HANDSHAKE))
		return SMTPC_ERR_STATE;
	e = run(p, is_secured);
	if (e == SMTPC_ERR_OK && !smtpc_is_secure(&p->core))
		e = SMTPC_ERR_STATE;
	return e;
}

int smtpc_posix_is_secure(const smtpc_posix *p)
{
	return p != NULL && p->have_layer && p->secured && smtpc_is_secure(&p->core);
}

const char *smtpc_posix_strerror(const smtpc_posix *p)
{
	const char *why;

	if (p == NULL)
		return smtpc_err_desc(SMTPC_ERR_NULL_ARG);
	if (p->err == SMTPC_ERR_TLS || p->err == SMTPC_ERR_STARTTLS_INJECTION) {
		if (p->why[0] != '\0')
			return p->why;
		why = p->layer.why(p->layer.ctx);
		if (why != NULL)
			return why;
	}
	return smtpc_err_desc(p->err);
}
