/*
 * posix.c - sockets, poll(), clocks and timeouts around the smtpc core.
 *
 * States: IDLE -> CONNECTING (non-blocking connect to one address; on
 * failure the next one) -> OPEN -> CLOSED. QUITTING is OPEN after the
 * inactivity timeout sent QUIT: only the grace deadline remains.
 *
 * The step functions (readable, writable, timer) do one round of I/O and
 * then pump the core's events to the callbacks. The blocking calls are a
 * poll() loop over the same step functions, so both ways of use share one
 * code path. Reading always goes on while the core wants input, writing
 * included, so a server that answers while we write cannot deadlock us.
 *
 * Deadlines come from a monotonic clock. The reply deadline restarts when
 * what the core waits for changes or a reply completes; while message data
 * goes out it restarts on each write that makes progress.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "smtpc_posix.h"

enum { P_IDLE, P_CONNECTING, P_OPEN, P_CLOSED };

struct smtpc_posix {
	smtpc_conn core;
	smtpc_posix_opts o;
	char *host, *port;
	int fd, state, quitting, eof;
	struct addrinfo *ai_list, *ai_next;
	long long conn_deadline;  /* connect attempt, ms */
	long long wait_start;     /* the current reply wait began */
	long long last_io;        /* for inactivity */
	long long quit_deadline;  /* after the inactivity QUIT */
	int wait_key;             /* waiting_for at wait_start */
	unsigned long replies;    /* replies seen: a new wait per reply */
	unsigned long wait_replies;
	smtpc_err err;            /* the error that ended the session */
	int closed_cb;            /* the close callback ran */
	/* blocking use: a reply pulled from the core and kept for wait(); the
	 * core is not pumped while one is kept, so its text stays valid */
	int want_reply;
	int stored;
	smtpc_reply reply;
	unsigned char *rx, *tx;
	size_t rx_len, tx_len;
	/* transport (TLS) */
	smtpc_posix_transport xp;
	int have_xp, xp_ready, tls_event;
	long long hs_start;       /* the handshake began */
};

static long long now_ms(void)
{
	struct timespec ts;

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
	p->rx_len = smtpc_rx_min(p->o.config);
	p->tx_len = p->o.tx_size ? p->o.tx_size : 256u * 1024u;
	if (p->tx_len < SMTPC_TX_MIN)
		p->tx_len = SMTPC_TX_MIN;
	p->rx = malloc(p->rx_len);
	p->tx = malloc(p->tx_len);
	p->fd = -1;
	if (p->host == NULL || p->port == NULL || p->rx == NULL || p->tx == NULL ||
	    smtpc_init(&p->core, p->o.config, p->rx, p->rx_len, p->tx, p->tx_len) != SMTPC_ERR_OK) {
		smtpc_posix_free(p);
		return NULL;
	}
	p->o.config = NULL; /* copied by the core; the caller's may go away */
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
	free(p->host);
	free(p->port);
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

void smtpc_posix_close(smtpc_posix *p)
{
	if (p != NULL)
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

	setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	freeaddrinfo(p->ai_list);
	p->ai_list = p->ai_next = NULL;
	p->state = P_OPEN;
	p->last_io = p->wait_start = p->hs_start = now_ms();
	p->wait_key = (int)smtpc_waiting_for(&p->core);
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
			p->conn_deadline = p->o.timeouts.connect > 0 ? now_ms() + p->o.timeouts.connect : -1;
			return SMTPC_ERR_OK;
		}
		last = sock_error(errno);
		close(fd);
		p->fd = -1;
	}
	return last;
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

/* ---- the pump ---------------------------------------------------------------------- */

/* Delivers the core's events. Stops after a reply when a blocking wait
 * wants one (its text must stay valid for the caller). */
static void pump(smtpc_posix *p)
{
	smtpc_event ev;

	while (p->state == P_OPEN && !(p->want_reply && p->stored)) {
		switch (smtpc_next_event(&p->core, &ev)) {
		case SMTPC_EV_NEED_DATA:
			return;
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
			p->tls_event = 1; /* smtpc_posix_starttls takes it from here */
			return;
		case SMTPC_EV_CLOSED:
			finish(p);
			return;
		case SMTPC_EV_ERROR:
			fail(p, ev.err);
			return;
		default: /* server-role events: not on a client connection */
			return;
		}
	}
}

/* ---- through a transport ------------------------------------------------------ */

/* Plaintext from the transport into the core; returns the octets moved. */
static size_t move_in(smtpc_posix *p)
{
	unsigned char *buf;
	size_t room, moved = 0;
	int eof = 0;

	while ((buf = smtpc_recv_buf(&p->core, &room)) != NULL) {
		size_t n = p->xp.read(p->xp.ctx, buf, room, &eof);
		if (n == 0)
			break;
		if (p->o.cb.receive)
			p->o.cb.receive(p->o.cb.user, buf, n);
		smtpc_recv_ack(&p->core, n);
		p->last_io = now_ms();
		moved += n;
	}
	if (eof && !p->eof) {
		p->eof = 1;
		if (p->o.cb.end)
			p->o.cb.end(p->o.cb.user);
		smtpc_eof(&p->core);
		moved++;
	}
	return moved;
}

/* Plaintext from the core into the transport; returns the octets moved. */
static size_t move_out(smtpc_posix *p)
{
	size_t len, n, moved = 0;
	const unsigned char *buf;

	while ((buf = smtpc_send_buf(&p->core, &len)) != NULL) {
		n = p->xp.write(p->xp.ctx, buf, len);
		if (n == 0)
			break;
		if (p->o.cb.send)
			p->o.cb.send(p->o.cb.user, buf, n);
		smtpc_send_ack(&p->core, n);
		p->last_io = now_ms();
		if (smtpc_waiting_for(&p->core) == SMTPC_WAIT_DATA_BLOCK)
			p->wait_start = p->last_io;
		moved += n;
	}
	return moved;
}

/* Rounds through the transport until nothing moves: records in and out,
 * plaintext in and out. A record read may hold more plaintext than the
 * core takes at once, so one round is not enough. */
static void xp_step(smtpc_posix *p)
{
	for (;;) {
		smtpc_err e = p->xp.io(p->xp.ctx, p->fd);
		size_t moved;

		if (e != SMTPC_ERR_OK) {
			fail(p, e);
			return;
		}
		if (!p->xp_ready && p->xp.ready(p->xp.ctx)) {
			p->xp_ready = 1;
			if (!p->tls_event) /* implicit TLS (RFC 8314) */
				smtpc_set_secure(&p->core);
		}
		moved = move_in(p);
		moved += move_out(p);
		if (moved == 0)
			return;
	}
}

/* ---- plain sockets ------------------------------------------------------------------- */

static void do_read(smtpc_posix *p)
{
	size_t room;
	unsigned char *buf;
	ssize_t n;

	if (p->have_xp) {
		xp_step(p);
		return;
	}
	buf = smtpc_recv_buf(&p->core, &room);
	if (buf == NULL)
		return;
	n = recv(p->fd, buf, room, 0);
	if (n > 0) {
		if (p->o.cb.receive)
			p->o.cb.receive(p->o.cb.user, buf, (size_t)n);
		smtpc_recv_ack(&p->core, (size_t)n);
		p->last_io = now_ms();
	} else if (n == 0) {
		p->eof = 1;
		if (p->o.cb.end)
			p->o.cb.end(p->o.cb.user);
		smtpc_eof(&p->core);
	} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		fail(p, sock_error(errno));
	}
}

static void do_write(smtpc_posix *p)
{
	size_t len;
	const unsigned char *buf;
	ssize_t n;

	if (p->have_xp) {
		xp_step(p);
		return;
	}
	buf = smtpc_send_buf(&p->core, &len);
	if (buf == NULL)
		return;
	n = send(p->fd, buf, len, MSG_NOSIGNAL);
	if (n > 0) {
		if (p->o.cb.send)
			p->o.cb.send(p->o.cb.user, buf, (size_t)n);
		smtpc_send_ack(&p->core, (size_t)n);
		p->last_io = now_ms();
		if (smtpc_waiting_for(&p->core) == SMTPC_WAIT_DATA_BLOCK)
			p->wait_start = p->last_io; /* data block: progress restarts */
	} else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		fail(p, sock_error(errno));
	}
}

/* Restarts the reply timer when a new wait begins. */
static void track_wait(smtpc_posix *p)
{
	int key = (int)smtpc_waiting_for(&p->core);

	if (key != p->wait_key || p->replies != p->wait_replies) {
		p->wait_key = key;
		p->wait_replies = p->replies;
		p->wait_start = now_ms();
	}
}

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

/* The earliest deadline, or -1. which: 1 reply wait, 2 inactivity, 3 quit
 * grace, 4 connect. */
static long long next_deadline(const smtpc_posix *p, int *which)
{
	long long best = -1;
	long t;

	*which = 0;
	if (p->state == P_CONNECTING) {
		*which = 4;
		return p->conn_deadline;
	}
	if (p->state != P_OPEN)
		return -1;
	if (p->quitting) {
		*which = 3;
		return p->quit_deadline;
	}
	t = phase_timeout(p);
	if (t > 0) {
		best = p->wait_start + t;
		*which = 1;
	}
	if (p->have_xp && !p->xp_ready && p->o.timeouts.other > 0 &&
	    (best < 0 || p->hs_start + p->o.timeouts.other < best)) {
		best = p->hs_start + p->o.timeouts.other; /* the handshake */
		*which = 1;
	}
	if (p->o.inactivity > 0 && (best < 0 || p->last_io + p->o.inactivity < best)) {
		best = p->last_io + p->o.inactivity;
		*which = 2;
	}
	return best;
}

long smtpc_posix_timeout(const smtpc_posix *p)
{
	int which;
	long long d, left;

	if (p == NULL)
		return -1;
	d = next_deadline(p, &which);
	if (d < 0)
		return -1;
	left = d - now_ms();
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
	if (p->have_xp)
		return p->xp.events(p->xp.ctx);
	w = smtpc_want(&p->core);
	if (w & SMTPC_WANT_READ)
		ev |= POLLIN;
	if (w & SMTPC_WANT_WRITE)
		ev |= POLLOUT;
	return ev;
}

void smtpc_posix_timer(smtpc_posix *p)
{
	int which;
	long long d;

	if (p == NULL)
		return;
	d = next_deadline(p, &which);
	if (d < 0 || now_ms() < d)
		return;
	switch (which) {
	case 4: { /* this address took too long: the next one */
		smtpc_err e;
		close(p->fd);
		p->fd = -1;
		e = try_next(p, SMTPC_ERR_TIMEOUT);
		if (e != SMTPC_ERR_OK)
			fail(p, e);
		break;
	}
	case 3: /* QUIT had its chance */
		finish(p);
		break;
	case 2: /* inactivity: the seed's timeout, QUIT once */
		if (p->o.cb.timeout)
			p->o.cb.timeout(p->o.cb.user);
		if (p->state != P_OPEN)
			break;
		if (smtpc_quit(&p->core) != SMTPC_ERR_OK) {
			finish(p);
			break;
		}
		p->quitting = 1;
		p->quit_deadline = now_ms() + (p->o.quit_grace > 0 ? p->o.quit_grace : 0);
		do_write(p);
		break;
	default: /* a reply or a data block took too long: the session is over */
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
	if (p->state != P_OPEN)
		return;
	do_write(p);
	track_wait(p);
}

void smtpc_posix_readable(smtpc_posix *p)
{
	if (p == NULL || p->state != P_OPEN)
		return;
	do_read(p);
	pump(p);
	/* through a transport, pumping makes room for plaintext it still holds */
	while (p->have_xp && p->state == P_OPEN && (smtpc_want(&p->core) & SMTPC_WANT_READ)) {
		xp_step(p);
		if (!(smtpc_want(&p->core) & SMTPC_WANT_EVENT))
			break;
		pump(p);
	}
	if (p->state == P_OPEN) {
		do_write(p); /* commands issued from the callbacks go out now */
		track_wait(p);
	}
}

/* ---- the blocking loop ---------------------------------------------------------------- */

/* Runs until done(p) says so or the session ends. */
static smtpc_err run(smtpc_posix *p, int (*done)(smtpc_posix *p))
{
	while (p->state != P_CLOSED && !done(p)) {
		struct pollfd pfd;
		long t;
		int rc;

		if (p->state == P_OPEN) {
			pump(p);
			if (p->have_xp && p->state == P_OPEN)
				xp_step(p); /* plaintext queued meanwhile becomes records */
			track_wait(p);
			if (p->state != P_OPEN || done(p))
				break;
			if ((smtpc_want(&p->core) & SMTPC_WANT_EVENT) && !(p->want_reply && p->stored))
				continue; /* what the transport handed over comes first */
		}
		pfd.fd = p->fd;
		pfd.events = smtpc_posix_events(p);
		pfd.revents = 0;
		t = smtpc_posix_timeout(p);
		if (pfd.events == 0 && t < 0) {
			fail(p, SMTPC_ERR_STATE); /* nothing to wait for: would hang */
			break;
		}
		rc = poll(&pfd, 1, t < 0 ? -1 : (int)(t > 0x7fffffff ? 0x7fffffff : t));
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			fail(p, SMTPC_ERR_IO);
			break;
		}
		if (rc == 0) {
			smtpc_posix_timer(p);
			continue;
		}
		if (p->state == P_CONNECTING) {
			if (pfd.revents & (POLLOUT | POLLERR | POLLHUP))
				connect_done(p);
			continue;
		}
		if (p->have_xp)
			xp_step(p);
		else if (pfd.revents & (POLLIN | POLLERR | POLLHUP))
			do_read(p);
		if (!p->have_xp && p->state == P_OPEN && (pfd.revents & POLLOUT))
			do_write(p);
		if (p->state == P_OPEN)
			track_wait(p);
		smtpc_posix_timer(p);
	}
	if (p->state == P_CLOSED && !done(p))
		return p->err != SMTPC_ERR_OK ? p->err : SMTPC_ERR_CLOSED;
	return SMTPC_ERR_OK;
}

static int have_reply(smtpc_posix *p)
{
	return p->stored;
}

static int flushed(smtpc_posix *p)
{
	size_t n;

	smtpc_send_buf(&p->core, &n);
	return n == 0;
}

static int open_or_done(smtpc_posix *p)
{
	return p->state != P_CONNECTING;
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
	e = run(p, open_or_done);
	if (e != SMTPC_ERR_OK)
		return e;
	if (p->state != P_OPEN)
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
		size_t n = smtpc_body_write(&p->core, d, len);
		if (n == 0) {
			size_t pend;
			smtpc_err e;
			smtpc_send_buf(&p->core, &pend);
			if (pend == 0)
				return smtpc_error(&p->core) != SMTPC_ERR_OK ? smtpc_error(&p->core)
				                                             : SMTPC_ERR_STATE;
			e = smtpc_posix_flush(p);
			if (e != SMTPC_ERR_OK)
				return e;
			continue;
		}
		d += n;
		len -= n;
	}
	return SMTPC_ERR_OK;
}

/* ---- TLS ---------------------------------------------------------------------------------- */

smtpc_err smtpc_posix_set_transport(smtpc_posix *p, const smtpc_posix_transport *t)
{
	if (p == NULL)
		return SMTPC_ERR_NULL_ARG;
	if (p->state != P_IDLE && !p->tls_event)
		return SMTPC_ERR_STATE;
	if (t == NULL) {
		p->have_xp = 0;
		return SMTPC_ERR_OK;
	}
	if (t->io == NULL || t->events == NULL || t->read == NULL || t->write == NULL ||
	    t->ready == NULL)
		return SMTPC_ERR_NULL_ARG;
	p->xp = *t;
	p->have_xp = 1;
	p->xp_ready = 0;
	p->hs_start = now_ms();
	return SMTPC_ERR_OK;
}

static int handshake_done(smtpc_posix *p)
{
	return p->xp_ready;
}

smtpc_err smtpc_posix_starttls(smtpc_posix *p, const smtpc_posix_transport *t)
{
	unsigned char early[512];
	ssize_t n;
	smtpc_err e;

	if (p == NULL || t == NULL)
		return SMTPC_ERR_NULL_ARG;
	if (p->state != P_OPEN || p->have_xp)
		return p->err != SMTPC_ERR_OK ? p->err : SMTPC_ERR_STATE;
	pump(p); /* up to the core's "start TLS now" */
	if (p->state != P_OPEN)
		return p->err;
	if (!p->tls_event)
		return SMTPC_ERR_STATE;
	/* a server that talks before our ClientHello is injecting plaintext */
	n = recv(p->fd, early, sizeof early, MSG_DONTWAIT);
	if (n > 0) {
		smtpc_feed(&p->core, early, (size_t)n);
		fail(p, SMTPC_ERR_STARTTLS_INJECTION);
		return p->err;
	}
	e = smtpc_posix_set_transport(p, t);
	if (e != SMTPC_ERR_OK)
		return e;
	e = run(p, handshake_done);
	if (e != SMTPC_ERR_OK)
		return e;
	e = smtpc_tls_started(&p->core);
	if (e != SMTPC_ERR_OK)
		fail(p, e);
	return e;
}

int smtpc_posix_is_secure(const smtpc_posix *p)
{
	return p != NULL && p->have_xp && p->xp_ready;
}
