/*
 * server.c - listeners, sessions and one event loop around the core's
 * server role (smtpc_posix_server.h).
 *
 * A session is a socket, a core connection in the server role and, after
 * STARTTLS, a byte layer from the caller's factory. step() is its one move:
 * read the socket once (unless its output is stuck), let the layer pump,
 * answer the core's events, frame the replies, write; again while anything
 * moved, at most STEP_ROUNDS times (then the session is put on the ready
 * list so others are served too). Nothing is retried that did not move:
 * an event repeated by a finished core, or a layer that asks to be pumped
 * and moves nothing, is no progress, so the loop sleeps in poll/epoll.
 *
 * Reading: a plain session reads into the server's one read buffer (up
 * to READ_SIZE octets in one recv) and the core is fed from it, parsing
 * and answering each time its input area fills, so a message of a few KiB
 * costs one recv. What the core cannot take (its replies cannot go out)
 * is kept by the session (`over`, at most READ_SIZE) and fed before the
 * socket is read again. All sessions' kept octets together stay under
 * OVER_MAX; past it, and under a TLS layer, a session reads straight into
 * the core's (or the layer's) input area, only what it can take. A step
 * ends after STEP_BYTES read (or STEP_ROUNDS rounds) with the session on
 * the ready list, so one fast sender does not hold up the others.
 *
 * Bounded output: when a write would block, the session's output is stuck
 * and its input is not read until the output has gone; the core's and the
 * layer's buffers are fixed and the kept octets bounded as above, so a
 * peer that does not read costs bounded memory and no CPU; its command
 * deadline then ends it.
 *
 * Deadlines (RFC 5321 4.5.3.2): a wait is identified by what the core
 * waits for (smtpc_waiting_for) and a progress count (reply lines that
 * end a reply, message blocks delivered). When that changes a new wait
 * starts now; bytes that do not complete a command do not change it. The
 * server keeps a lower bound of every session's deadline (next_due) and
 * scans the sessions only when it is reached.
 *
 * Replies are seen as they are framed: the core's transmit buffer only
 * grows at its end while events are answered and only shrinks at its
 * start while it is drained, so after answering, the octets past `seen`
 * are new reply lines (scanned once for the reply callback and the
 * progress count), and after draining, `seen` is the length left.
 *
 * Storage: a message is begun at DATA (or at the first BDAT octets), its
 * octets written as they come; a failure aborts it at once and the rest of
 * the message is read and dropped; the end of the message is answered 250
 * only when storage.end returned 0 (durable). RFC 5321 4.1.1.4, 6.1: the
 * server must not lose a message it acknowledged.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/epoll.h>
#endif

#include "smtpc_posix_server.h"

#define MAX_LISTENERS 16
#define STEP_ROUNDS   16
#define ACCEPT_BATCH  64
#define PAUSE_MS      1000
#define NEVER	      (-1LL)
/* Plain sessions read into one buffer of the server's, as much as the
 * socket holds up to READ_SIZE per recv, and the core is fed from it; what
 * the core cannot take (its replies cannot go out) is kept by the session
 * until they can. OVER_MAX bounds all sessions' kept octets together:
 * past it, sessions read straight into the core's input area (at most
 * what it can take, so nothing is kept). */
#define READ_SIZE (32u * 1024)
#define OVER_MAX  (4u * 1024 * 1024)
/* a session that read this much in one step lets the others go first */
#define STEP_BYTES (2 * READ_SIZE)

struct listener {
	int fd;
	char *path; /* Unix socket: unlinked at free */
};

/* an answer owed and not yet framed (the transmit buffer was full) */
enum { OWE_NONE, OWE_REPLY, OWE_EHLO };

struct smtpc_posix_session {
	smtpc_posix_server *srv;
	int fd;
	size_t idx; /* in srv->all */
	unsigned long id;
	smtpc_conn core;
	unsigned char *rx, *tx;
	smtpc_posix_layer layer;
	int have_layer;
	void *user;
	char peer[64];
	/* the message */
	void *msg;
	int msg_open, msg_err;
	/* the answer owed */
	int owe;
	unsigned owe_code;
	char owe_text[300];
	/* I/O */
	int eof, stuck, ended, dead;
	short reg; /* events registered with epoll */
	int ready;
	smtpc_err err;
	size_t seen;	     /* octets of the core's transmit buffer already scanned */
	unsigned char *over; /* read and not yet taken by the core: [over_off, over_len) */
	size_t over_off, over_len;
	/* waits */
	long long start, wait_start, ended_at;
	int wait_key;
	unsigned long progress, wait_progress;
	/* refusals of the client's own faults (500-502, 504, 535) */
	long errors;
	int cut;
};

struct smtpc_posix_server {
	smtpc_posix_server_opts o;
	smtpc_config cfg;
	char *domain, *greeting;
	struct listener ls[MAX_LISTENERS];
	size_t nls;
	smtpc_posix_session **all;
	size_t n, cap;
	smtpc_posix_session **by_fd;
	size_t by_fd_cap;
	size_t nready;
	unsigned long next_id;
	long long next_due, paused_until;
	int paused, draining, epfd;
	volatile sig_atomic_t stop_now, stop_drain;
	int wake[2];	   /* run's wake-up pipe: stop writes to it (-1: none) */
	size_t over_total; /* every session's kept octets (over_len) */
	unsigned char rbuf[READ_SIZE];
};

/* ---- time ------------------------------------------------------------------------ */

static long long now_of(const smtpc_posix_server *srv)
{
	struct timespec ts;

	if (srv->o.now != NULL)
		return srv->o.now(srv->o.cb.user);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- options --------------------------------------------------------------------- */

void smtpc_posix_server_opts_default(smtpc_posix_server_opts *o)
{
	if (o == NULL)
		return;
	memset(o, 0, sizeof *o);
	o->domain = "localhost";
	o->caps.ext = SMTPC_EXT_PIPELINING | SMTPC_EXT_8BITMIME | SMTPC_EXT_SMTPUTF8 |
		      SMTPC_EXT_CHUNKING | SMTPC_EXT_ENHANCEDSTATUSCODES;
}

static char *dup_str(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);

	if (d != NULL)
		memcpy(d, s, n);
	return d;
}

/* Text the core can frame as reply lines (RFC 5321 4.5.3.1.5: 512 octets
 * with the code and CRLF): no control octet but the tab (nl: and the line
 * break between lines), no line longer than max. */
static int frameable(const char *t, int nl, size_t max)
{
	size_t line = 0;

	for (; *t != '\0'; t++) {
		unsigned char c = (unsigned char)*t;
		if (c == '\n' && nl) {
			line = 0;
			continue;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f || ++line > max)
			return 0;
	}
	return 1;
}

smtpc_posix_server *smtpc_posix_server_new(const smtpc_posix_server_opts *o)
{
	smtpc_posix_server *srv;
	const smtpc_posix_storage *st;
	int some, all;
	char greet[600];

	if (o == NULL)
		return NULL;
	st = &o->storage;
	some = st->begin || st->write || st->end || st->abort;
	all = st->begin && st->write && st->end && st->abort;
	if (some && !all)
		return NULL;
	/* the greeting, EHLO and HELO replies carry these: a server whose
	 * greeting cannot be framed would greet nobody */
	if (o->domain != NULL && (o->domain[0] == '\0' || strlen(o->domain) > 255 ||
				  strchr(o->domain, ' ') != NULL || !frameable(o->domain, 0, 255)))
		return NULL;
	if (o->banner != NULL && !frameable(o->banner, 1, SMTPC_COMMAND_MAX - 6 - 256))
		return NULL;
	srv = calloc(1, sizeof *srv);
	if (srv == NULL)
		return NULL;
	srv->o = *o;
	srv->epfd = -1;
	srv->wake[0] = srv->wake[1] = -1;
	if (o->config != NULL) {
		srv->cfg = *o->config;
	} else {
		smtpc_config_default(&srv->cfg);
		srv->cfg.max_line = 1000;
		srv->cfg.max_reply = 1001;
		srv->cfg.max_ext = 0;
	}
	srv->cfg.lmtp = o->lmtp;
	if (o->caps.size_limit > 0)
		srv->cfg.max_message = o->caps.size_limit;
	if (o->tls != NULL)
		srv->o.caps.ext |= SMTPC_EXT_STARTTLS;
	if (o->auth != NULL)
		srv->o.caps.ext |= SMTPC_EXT_AUTH;
	if (o->caps.size_limit > 0)
		srv->o.caps.ext |= SMTPC_EXT_SIZE;
	if (srv->o.tx_size == 0)
		srv->o.tx_size = 2048;
	if (srv->o.tx_size < SMTPC_SERVER_TX_MIN)
		srv->o.tx_size = SMTPC_SERVER_TX_MIN;
	if (srv->o.max_sessions == 0)
		srv->o.max_sessions = 1024;
	if (srv->o.command_timeout <= 0)
		srv->o.command_timeout = 300000;
	if (srv->o.data_timeout <= 0)
		srv->o.data_timeout = 180000;
	if (srv->o.session_timeout == 0)
		srv->o.session_timeout = 3600000;
	if (srv->o.close_grace <= 0)
		srv->o.close_grace = 5000;
	if (srv->o.backlog <= 0)
		srv->o.backlog = 511;
	if (srv->o.max_errors == 0)
		srv->o.max_errors = 20;
	snprintf(greet, sizeof greet, "%s %s", o->domain ? o->domain : "localhost",
		 o->banner ? o->banner : (o->lmtp ? "LMTP" : "ESMTP"));
	srv->domain = dup_str(o->domain ? o->domain : "localhost");
	srv->greeting = dup_str(greet);
	if (srv->domain == NULL || srv->greeting == NULL) {
		free(srv->domain);
		free(srv->greeting);
		free(srv);
		return NULL;
	}
	srv->o.domain = srv->domain;
	srv->next_due = NEVER;
	return srv;
}

/* ---- listeners ------------------------------------------------------------------- */

static void say(char *why, size_t n, const char *fmt, const char *a, const char *b, int e)
{
	if (why != NULL && n > 0) {
		char m[300];
		snprintf(m, sizeof m, fmt, a, b);
		snprintf(why, n, "%s: %s", m, strerror(e));
	}
}

static void nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0)
		(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	fl = fcntl(fd, F_GETFD);
	if (fl >= 0)
		(void)fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
}

static int add_listener(smtpc_posix_server *srv, int fd, const char *path)
{
	if (srv->nls == MAX_LISTENERS)
		return EMFILE;
	srv->ls[srv->nls].fd = fd;
	srv->ls[srv->nls].path = path ? dup_str(path) : NULL;
	srv->nls++;
	nonblock(fd);
	return 0;
}

int smtpc_posix_server_listen(smtpc_posix_server *srv, const char *host, const char *port,
			      int *bound, char *why, size_t why_len)
{
	struct addrinfo hints, *res, *ai;
	int e, one = 1, opened = 0, err = 0, got;
	char portbuf[16];

	if (srv == NULL)
		return EINVAL;
	if (host == NULL)
		host = "127.0.0.1";
	if (port == NULL)
		port = "25";
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	e = getaddrinfo(host, port, &hints, &res);
	if (e != 0) {
		if (why != NULL && why_len > 0)
			snprintf(why, why_len, "cannot resolve %s: %s", host, gai_strerror(e));
		return EADDRNOTAVAIL;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		int fd = socket(ai->ai_family, SOCK_STREAM, 0);

		if (fd < 0) {
			err = errno;
			continue;
		}
		if (ai->ai_family == AF_INET6)
			(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, srv->o.backlog) != 0 ||
		    getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
			err = errno;
			close(fd);
			continue;
		}
		err = add_listener(srv, fd, NULL);
		if (err != 0) {
			close(fd);
			break;
		}
		opened++;
		got = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						     : ((struct sockaddr_in *)&ss)->sin_port);
		if (bound != NULL)
			*bound = got;
		/* port 0: the other addresses of the name take the same port */
		if (strcmp(port, "0") == 0) {
			snprintf(portbuf, sizeof portbuf, "%d", got);
			port = portbuf;
			freeaddrinfo(res);
			if (getaddrinfo(host, port, &hints, &res) != 0)
				return 0;
			ai = res; /* the first again: it is bound already (EADDRINUSE) */
		}
	}
	freeaddrinfo(res);
	if (opened == 0) {
		if (err == 0)
			err = EADDRNOTAVAIL;
		say(why, why_len, "cannot listen on %s port %s", host, port, err);
		return err;
	}
	return 0;
}

int smtpc_posix_server_listen_unix(smtpc_posix_server *srv, const char *path, char *why,
				   size_t why_len)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd, e;

	if (srv == NULL || path == NULL)
		return EINVAL;
	if (strlen(path) >= sizeof sa.sun_path) {
		say(why, why_len, "%s%s: path too long", path, "", ENAMETOOLONG);
		return ENAMETOOLONG;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			say(why, why_len, "%s%s exists and is not a socket", path, "", EEXIST);
			return EEXIST;
		}
		(void)unlink(path);
	}
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
	    listen(fd, srv->o.backlog) != 0) {
		e = errno;
		if (fd >= 0)
			close(fd);
		say(why, why_len, "cannot listen on %s%s", path, "", e);
		return e;
	}
	e = add_listener(srv, fd, path);
	if (e != 0) {
		close(fd);
		(void)unlink(path);
	}
	return e;
}

static int is_listener(const smtpc_posix_server *srv, int fd)
{
	size_t i;

	for (i = 0; i < srv->nls; i++)
		if (srv->ls[i].fd == fd)
			return 1;
	return 0;
}

/* ---- the byte path: the layer, or the core itself ---------------------------------- */

static unsigned char *in_buf(smtpc_posix_session *s, size_t *room)
{
	if (s->have_layer)
		return s->layer.recv_buf(s->layer.ctx, room);
	return smtpc_recv_buf(&s->core, room);
}

static void in_ack(smtpc_posix_session *s, size_t n)
{
	if (s->have_layer)
		s->layer.recv_ack(s->layer.ctx, n);
	else
		smtpc_recv_ack(&s->core, n);
}

static void in_eof(smtpc_posix_session *s)
{
	if (s->have_layer)
		s->layer.eof(s->layer.ctx);
	else
		smtpc_eof(&s->core);
}

static const unsigned char *out_buf(const smtpc_posix_session *s, size_t *len)
{
	if (s->have_layer)
		return s->layer.send_buf(s->layer.ctx, len);
	return smtpc_send_buf(&s->core, len);
}

static void out_ack(smtpc_posix_session *s, size_t n)
{
	if (s->have_layer)
		s->layer.send_ack(s->layer.ctx, n);
	else
		smtpc_send_ack(&s->core, n);
}

/* After anything that drains the core's transmit buffer. */
static void mark(smtpc_posix_session *s)
{
	size_t n;

	(void)smtpc_send_buf(&s->core, &n);
	s->seen = n;
}

static void pump(smtpc_posix_session *s)
{
	if (s->have_layer) {
		s->layer.pump(s->layer.ctx);
		mark(s);
	}
}

/* New reply lines in the core's transmit buffer: the callback, the count. */
static void scan(smtpc_posix_session *s)
{
	size_t n;
	const unsigned char *p = smtpc_send_buf(&s->core, &n);

	if (p == NULL || n <= s->seen) {
		s->seen = n;
		return;
	}
	p += s->seen;
	n -= s->seen;
	s->seen += n;
	while (n > 0) {
		const unsigned char *nl = memchr(p, '\n', n);
		size_t len = nl ? (size_t)(nl - p) + 1 : n, show = len;

		while (show > 0 && (p[show - 1] == '\n' || p[show - 1] == '\r'))
			show--;
		if (show == 3 || (show > 3 && p[3] == ' ')) {
			s->progress++; /* the last line of a reply */
			if (show >= 3 && p[0] == '5' &&
			    ((p[1] == '0' && p[2] >= '0' && p[2] <= '4' && p[2] != '3') ||
			     (p[1] == '3' && p[2] == '5')))
				s->errors++;
		}
		if (s->srv->o.cb.reply != NULL)
			s->srv->o.cb.reply(s->srv->o.cb.user, s, (const char *)p, show);
		p += len;
		n -= len;
	}
}

/* ---- sessions ---------------------------------------------------------------------- */

static void unready(smtpc_posix_session *s)
{
	if (s->ready) {
		s->ready = 0;
		s->srv->nready--;
	}
}

static void set_ready(smtpc_posix_session *s)
{
	if (!s->ready) {
		s->ready = 1;
		s->srv->nready++;
	}
}

static void msg_abort(smtpc_posix_session *s)
{
	const smtpc_posix_storage *st = &s->srv->o.storage;

	if (s->msg_open) {
		s->msg_open = 0;
		st->abort(s->srv->o.cb.user, s->msg);
		s->msg = NULL;
	}
}

static void drop_over(smtpc_posix_session *s)
{
	if (s->over != NULL) {
		s->srv->over_total -= s->over_len;
		free(s->over);
		s->over = NULL;
		s->over_off = s->over_len = 0;
	}
}

static void session_free(smtpc_posix_session *s)
{
	smtpc_posix_server *srv = s->srv;
	smtpc_posix_session *last;

	msg_abort(s);
	if (srv->o.cb.session != NULL)
		srv->o.cb.session(srv->o.cb.user, s, 0);
	if (s->have_layer && s->layer.destroy != NULL)
		s->layer.destroy(s->layer.ctx);
	unready(s);
#ifdef __linux__
	if (srv->epfd >= 0 && s->reg >= 0)
		(void)epoll_ctl(srv->epfd, EPOLL_CTL_DEL, s->fd, NULL);
#endif
	if ((size_t)s->fd < srv->by_fd_cap)
		srv->by_fd[s->fd] = NULL;
	close(s->fd);
	last = srv->all[--srv->n];
	srv->all[s->idx] = last;
	last->idx = s->idx;
	drop_over(s);
	free(s->rx);
	free(s);
	/* a descriptor is free again: accept again */
	if (srv->paused) {
		srv->paused = 0;
		srv->paused_until = NEVER;
	}
}

/* The session ends now: an error that leaves nothing to send. */
static void kill_session(smtpc_posix_session *s, smtpc_err e)
{
	if (s->err == SMTPC_ERR_OK)
		s->err = e;
	(void)smtpc_fail(&s->core, e);
	s->dead = 1;
}

static smtpc_err sock_err(int e)
{
	return (e == ECONNRESET || e == EPIPE || e == ECONNABORTED) ? SMTPC_ERR_RESET
								    : SMTPC_ERR_IO;
}

static int is_full(int e)
{
#ifdef EDQUOT
	if (e == EDQUOT)
		return 1;
#endif
	return e == ENOSPC;
}

/* snprintf(dst, cap, "%s", src) without the format's cost (several
 * replies per message); cap > 0. */
static void copy_text(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void owe(smtpc_posix_session *s, int kind, unsigned code, const char *text)
{
	s->owe = kind;
	s->owe_code = code;
	copy_text(s->owe_text, sizeof s->owe_text, text);
}

static void owe_failure(smtpc_posix_session *s, int e)
{
	if (is_full(e))
		owe(s, OWE_REPLY, 452, "4.3.1 Insufficient system storage");
	else
		owe(s, OWE_REPLY, 451, "4.3.0 Cannot store the message now");
}

/* Frames the answer owed, as many times as the core wants it (LMTP: once
 * per accepted recipient). 0 when done, -1 when the buffer is full. */
static int pay(smtpc_posix_session *s)
{
	while (s->owe != OWE_NONE && smtpc_pending(&s->core) > 0) {
		smtpc_err e =
		    s->owe == OWE_EHLO
			? smtpc_server_reply_ehlo(&s->core, s->srv->domain, &s->srv->o.caps)
			: smtpc_server_reply(&s->core, s->owe_code, s->owe_text);
		if (e == SMTPC_ERR_NO_SPACE)
			return -1;
		if (e != SMTPC_ERR_OK) {
			/* an answer the core refuses (the application's text): say so */
			if (s->owe == OWE_REPLY && s->owe_code != 451) {
				owe(s, OWE_REPLY, 451, "4.3.0 Local error");
				continue;
			}
			kill_session(s, e);
			return -1;
		}
	}
	s->owe = OWE_NONE;
	return 0;
}

static int storage_on(const smtpc_posix_session *s)
{
	return s->srv->o.storage.begin != NULL;
}

static void msg_begin(smtpc_posix_session *s)
{
	int e;

	if (s->msg_open || s->msg_err != 0 || !storage_on(s))
		return;
	s->msg = NULL;
	e = s->srv->o.storage.begin(s->srv->o.cb.user, s, &s->msg);
	if (e != 0)
		s->msg_err = e > 0 ? e : EIO;
	else
		s->msg_open = 1;
}

static void msg_write(smtpc_posix_session *s, const unsigned char *p, size_t n)
{
	int e;

	msg_begin(s);
	if (!s->msg_open || n == 0)
		return;
	e = s->srv->o.storage.write(s->srv->o.cb.user, s->msg, p, n);
	if (e != 0) {
		s->msg_err = e > 0 ? e : EIO;
		msg_abort(s); /* nothing partial stays */
	}
}

static void report(smtpc_posix_session *s, int ok, smtpc_err why, int err, unsigned long long size,
		   const char *id)
{
	if (s->srv->o.cb.message != NULL)
		s->srv->o.cb.message(s->srv->o.cb.user, s, ok, why, err, size, id);
}

static void on_command(smtpc_posix_session *s, const smtpc_command *m)
{
	smtpc_posix_server *srv = s->srv;
	smtpc_posix_answer a;

	/* a command ends any message in progress, but a RCPT the core accepts
	 * between BDAT chunks (RFC 3030 allows no reset there): the chunks
	 * already stored belong to the message that goes on */
	if (m->cmd != SMTPC_CMD_RCPT) {
		msg_abort(s);
		s->msg_err = 0;
	}
	switch (m->cmd) {
	case SMTPC_CMD_EHLO:
	case SMTPC_CMD_LHLO:
		owe(s, OWE_EHLO, 250, "");
		return;
	case SMTPC_CMD_HELO:
		owe(s, OWE_REPLY, 250, srv->domain);
		return;
	case SMTPC_CMD_MAIL:
	case SMTPC_CMD_RCPT:
		a.code = 250;
		copy_text(a.text, sizeof a.text,
			  m->cmd == SMTPC_CMD_MAIL ? "2.1.0 Sender ok" : "2.1.5 Recipient ok");
		if (srv->o.cb.command != NULL)
			srv->o.cb.command(srv->o.cb.user, s, m, &a);
		a.text[sizeof a.text - 1] = '\0';
		owe(s, OWE_REPLY, a.code, a.text);
		return;
	case SMTPC_CMD_DATA:
		msg_begin(s);
		if (s->msg_err != 0) {
			owe_failure(s, s->msg_err);
			s->msg_err = 0;
		} else {
			owe(s, OWE_REPLY, 354, "End data with <CR><LF>.<CR><LF>");
		}
		return;
	default:
		owe(s, OWE_REPLY, 502, "5.5.1 Not implemented");
	}
}

static void on_end(smtpc_posix_session *s, const smtpc_message_end *m, int last)
{
	char id[200], text[260];
	int e;

	if (!m->ok) { /* the core refused it and answered */
		msg_abort(s);
		s->msg_err = 0;
		report(s, 0, m->why, 0, (unsigned long long)m->size, NULL);
		return;
	}
	msg_begin(s); /* an empty message, or an empty first chunk */
	if (!last) {
		if (s->msg_err != 0) {
			report(s, 0, SMTPC_ERR_OK, s->msg_err, (unsigned long long)m->size, NULL);
			owe_failure(s, s->msg_err); /* ends the transaction */
			s->msg_err = 0;
			return;
		}
		snprintf(text, sizeof text, "2.0.0 %llu octets received",
			 (unsigned long long)m->size);
		owe(s, OWE_REPLY, 250, text);
		return;
	}
	id[0] = '\0';
	if (s->msg_err == 0 && s->msg_open) {
		e = s->srv->o.storage.end(s->srv->o.cb.user, s->msg, id, sizeof id);
		if (e != 0) {
			s->msg_err = e > 0 ? e : EIO;
			msg_abort(s);
		} else {
			s->msg_open = 0;
			s->msg = NULL;
		}
	}
	if (s->msg_err != 0) {
		report(s, 0, SMTPC_ERR_OK, s->msg_err, (unsigned long long)m->size, NULL);
		owe_failure(s, s->msg_err);
		s->msg_err = 0;
		return;
	}
	id[sizeof id - 1] = '\0';
	/* the message is durable: its 250 must go out whatever the storage
	 * named it, so octets a reply line cannot carry (RFC 5321 4.2: printable
	 * ASCII) become '_' (the core would refuse the text, and a 451 for a
	 * stored message makes the client send it again) */
	for (e = 0; id[e] != '\0'; e++)
		if ((unsigned char)id[e] < 0x20 || (unsigned char)id[e] > 0x7e)
			id[e] = '_';
	memcpy(text, "2.0.0 Ok: queued as ", 20);
	if (id[0] != '\0')
		copy_text(text + 20, sizeof text - 20, id);
	else
		text[8] = '\0'; /* "2.0.0 Ok" */
	report(s, 1, SMTPC_ERR_OK, 0, (unsigned long long)m->size, id);
	owe(s, OWE_REPLY, 250, text);
}

static void on_starttls(smtpc_posix_session *s)
{
	smtpc_posix_layer l;

	/* the replies framed in this turn, the 220 last, are seen before a
	 * layer takes the core's transmit buffer */
	scan(s);
	memset(&l, 0, sizeof l);
	if (s->srv->o.tls == NULL || s->srv->o.tls(s->srv->o.tls_ctx, &s->core, &l) != 0 ||
	    l.recv_buf == NULL || l.pump == NULL) {
		kill_session(s, SMTPC_ERR_TLS);
		return;
	}
	s->layer = l;
	s->have_layer = 1;
	mark(s);
}

/* Answers the core's events; nonzero when something happened. */
static int deliver(smtpc_posix_session *s)
{
	int moved = 0;
	smtpc_event ev;

	for (;;) {
		if (s->dead || s->ended)
			return moved;
		if (s->owe != OWE_NONE && pay(s) != 0)
			return moved;
		switch (smtpc_next_event(&s->core, &ev)) {
		case SMTPC_EV_NEED_DATA:
			return moved;
		case SMTPC_EV_COMMAND:
			on_command(s, &ev.command);
			break;
		case SMTPC_EV_BODY:
			msg_write(s, ev.body.data, ev.body.len);
			s->progress++; /* a data block: the data deadline starts again */
			break;
		case SMTPC_EV_CHUNK_END:
			on_end(s, &ev.body_end, 0);
			break;
		case SMTPC_EV_BODY_END:
			on_end(s, &ev.body_end, 1);
			break;
		case SMTPC_EV_STARTTLS:
			on_starttls(s);
			break;
		case SMTPC_EV_CLOSED:
		case SMTPC_EV_ERROR:
		default:
			s->ended = 1;
			msg_abort(s);
			if (s->err == SMTPC_ERR_OK)
				s->err = smtpc_error(&s->core);
			return 1;
		}
		moved = 1;
	}
}

/* Writes what is ready; nonzero when octets went out. */
static int flush(smtpc_posix_session *s)
{
	int moved = 0;

	for (;;) {
		size_t n;
		const unsigned char *p;
		ssize_t w;

		pump(s);
		p = out_buf(s, &n);
		if (p == NULL || n == 0) {
			s->stuck = 0;
			return moved;
		}
		w = send(s->fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				s->stuck = 1;
				return moved;
			}
			kill_session(s, sock_err(errno));
			return moved;
		}
		out_ack(s, (size_t)w);
		mark(s);
		moved = 1;
	}
}

/* Nonzero once everything is sent and the session is over. */
static int finished(const smtpc_posix_session *s)
{
	unsigned w;

	if (s->dead)
		return 1;
	if (s->have_layer) {
		w = s->layer.want(s->layer.ctx);
		return (w & SMTPC_POSIX_LAYER_CLOSED) && !(w & SMTPC_POSIX_LAYER_WRITE);
	}
	w = smtpc_want(&s->core);
	return (w & SMTPC_WANT_CLOSED) && !(w & SMTPC_WANT_WRITE);
}

static long phase_ms(const smtpc_posix_session *s, smtpc_wait w)
{
	if (s->stuck) /* replies the peer does not read */
		return s->srv->o.command_timeout;
	if (s->have_layer && (s->layer.want(s->layer.ctx) & SMTPC_POSIX_LAYER_HANDSHAKE))
		return s->srv->o.command_timeout;
	switch (w) {
	case SMTPC_WAIT_COMMAND:
	case SMTPC_WAIT_TLS:
		return s->srv->o.command_timeout;
	case SMTPC_WAIT_DATA_BLOCK:
		return s->srv->o.data_timeout;
	default:
		return -1;
	}
}

static long long deadline(const smtpc_posix_session *s)
{
	long long d = NEVER;
	long ms;

	if (s->ended_at != NEVER)
		return s->ended_at + s->srv->o.close_grace;
	if (s->srv->o.session_timeout > 0)
		d = s->start + s->srv->o.session_timeout;
	ms = phase_ms(s, (smtpc_wait)s->wait_key);
	if (ms > 0 && (d == NEVER || s->wait_start + ms < d))
		d = s->wait_start + ms;
	return d;
}

static void note_due(smtpc_posix_server *srv, long long d)
{
	if (d != NEVER && (srv->next_due == NEVER || d < srv->next_due))
		srv->next_due = d;
}

/* A new wait starts when what the core waits for, or the progress, changed. */
static void track(smtpc_posix_session *s, long long now)
{
	int key = (int)smtpc_waiting_for(&s->core);

	if (key != s->wait_key || s->progress != s->wait_progress) {
		s->wait_key = key;
		s->wait_progress = s->progress;
		s->wait_start = now;
	}
	if (s->ended_at == NEVER &&
	    (s->ended || smtpc_session_end(&s->core, NULL) != SMTPC_END_NONE))
		s->ended_at = now;
	note_due(s->srv, deadline(s));
}

static short wanted(const smtpc_posix_session *s)
{
	short ev = 0;
	size_t n;

	if (s->dead)
		return 0;
	if (out_buf(s, &n) != NULL && n > 0)
		ev |= POLLOUT;
	if (!s->eof && !s->stuck && s->over == NULL) {
		unsigned w = s->have_layer ? s->layer.want(s->layer.ctx) : smtpc_want(&s->core);
		if (w & SMTPC_WANT_READ) /* the same bit for the layer */
			ev |= POLLIN;
	}
	return ev;
}

static void sync_events(smtpc_posix_session *s)
{
#ifdef __linux__
	smtpc_posix_server *srv = s->srv;
	short want;
	struct epoll_event e;

	if (srv->epfd < 0)
		return;
	want = wanted(s);
	if (want == s->reg)
		return;
	memset(&e, 0, sizeof e);
	e.events = ((want & POLLIN) ? EPOLLIN : 0) | ((want & POLLOUT) ? EPOLLOUT : 0);
	e.data.fd = s->fd;
	if (epoll_ctl(srv->epfd, s->reg < 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, s->fd, &e) == 0)
		s->reg = want;
#else
	(void)s;
#endif
}

/* A client that keeps failing (password guessing, garbage) is cut off:
 * 421 and the close, as at a deadline. */
static void too_many_errors(smtpc_posix_session *s)
{
	if (s->cut || s->srv->o.max_errors < 0 || s->errors < s->srv->o.max_errors || s->dead ||
	    s->ended || s->ended_at != NEVER)
		return;
	s->cut = 1;
	if (smtpc_server_shutdown(&s->core, "4.7.0 Too many errors: closing the connection") !=
	    SMTPC_ERR_OK) {
		kill_session(s, SMTPC_ERR_IO);
		return;
	}
	s->owe = OWE_NONE;
	msg_abort(s);
	scan(s);
}

/* Gives the core p[0..n), letting it parse, answer and write whenever its
 * input area is full; returns how many octets it took (fewer than n only
 * when it stopped moving: its replies cannot go out). */
static size_t feed(smtpc_posix_session *s, const unsigned char *p, size_t n)
{
	size_t off = 0;

	for (;;) {
		int moved;

		off += smtpc_feed(&s->core, p + off, n - off);
		if (off == n || s->dead)
			return off;
		moved = deliver(s);
		scan(s);
		too_many_errors(s);
		moved |= flush(s);
		if (s->cut)
			return n; /* closing: what follows is dropped */
		if (!moved || s->dead)
			return off;
	}
}

/* Keeps p[0..n) for later (n <= READ_SIZE; OVER_MAX was checked before
 * the read). */
static void keep_over(smtpc_posix_session *s, const unsigned char *p, size_t n)
{
	s->over = malloc(n);
	if (s->over == NULL) {
		kill_session(s, SMTPC_ERR_IO);
		return;
	}
	memcpy(s->over, p, n);
	s->over_off = 0;
	s->over_len = n;
	s->srv->over_total += n;
}

/* One read; nonzero when it moved; the octets read are added to *got. *rd
 * is cleared once the socket is drained (a short read: poll says when more
 * comes). */
static int read_once(smtpc_posix_session *s, int *rd, size_t *got)
{
	smtpc_posix_server *srv = s->srv;
	unsigned char *buf;
	size_t room;
	ssize_t r;
	int direct = s->have_layer || srv->over_total + READ_SIZE > OVER_MAX;

	if (direct) {
		buf = in_buf(s, &room);
		if (buf == NULL || room == 0)
			return 0;
	} else {
		buf = srv->rbuf;
		room = READ_SIZE;
	}
	r = recv(s->fd, buf, room, 0);
	if (r > 0) {
		*got += (size_t)r;
		if ((size_t)r < room)
			*rd = 0;
		if (direct) {
			in_ack(s, (size_t)r);
		} else {
			size_t k = feed(s, buf, (size_t)r);
			if (k < (size_t)r && !s->dead)
				keep_over(s, buf + k, (size_t)r - k);
		}
		return 1;
	}
	if (r == 0) {
		s->eof = 1;
		in_eof(s);
		return 1;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		*rd = 0;
	else if (errno != EINTR)
		kill_session(s, sock_err(errno));
	return 0;
}

/* The session's one move; frees it when it is over. rd: try to read. */
static void step(smtpc_posix_session *s, int rd)
{
	int round;
	size_t got = 0;

	unready(s);
	for (round = 0; round < STEP_ROUNDS; round++) {
		int moved = 0;

		if (s->over != NULL && !s->dead) {
			/* octets kept from an earlier read come first */
			size_t k = feed(s, s->over + s->over_off, s->over_len - s->over_off);
			if (k > 0) {
				moved = 1;
				s->over_off += k;
				if (s->over_off == s->over_len)
					drop_over(s);
			}
		}
		if (rd && s->over == NULL && !s->eof && !s->stuck && !s->dead)
			moved |= read_once(s, &rd, &got);
		if (s->dead)
			break;
		pump(s);
		if (s->have_layer && s->layer.take_secured(s->layer.ctx) &&
		    s->srv->o.cb.secure != NULL)
			s->srv->o.cb.secure(s->srv->o.cb.user, s);
		moved |= deliver(s);
		scan(s);
		too_many_errors(s);
		moved |= flush(s);
		if (s->dead || finished(s))
			break;
		if (!moved)
			break;
		if (round == STEP_ROUNDS - 1 || got >= STEP_BYTES) {
			set_ready(s); /* more to do: after the others */
			break;
		}
	}
	if (s->dead || finished(s)) {
		session_free(s);
		return;
	}
	track(s, now_of(s->srv));
	sync_events(s);
}

static int fd_slot(smtpc_posix_server *srv, int fd)
{
	if ((size_t)fd >= srv->by_fd_cap) {
		size_t cap = srv->by_fd_cap ? srv->by_fd_cap : 64;
		smtpc_posix_session **m;
		while (cap <= (size_t)fd)
			cap *= 2;
		m = realloc(srv->by_fd, cap * sizeof *m);
		if (m == NULL)
			return -1;
		memset(m + srv->by_fd_cap, 0, (cap - srv->by_fd_cap) * sizeof *m);
		srv->by_fd = m;
		srv->by_fd_cap = cap;
	}
	if (srv->n == srv->cap) {
		size_t cap = srv->cap ? srv->cap * 2 : 64;
		smtpc_posix_session **a = realloc(srv->all, cap * sizeof *a);
		if (a == NULL)
			return -1;
		srv->all = a;
		srv->cap = cap;
	}
	return 0;
}

static void peer_text(char *out, size_t n, const struct sockaddr_storage *ss)
{
	char a[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &in->sin_addr, a, sizeof a);
		snprintf(out, n, "%s:%u", a, (unsigned)ntohs(in->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &in->sin6_addr, a, sizeof a);
		snprintf(out, n, "[%s]:%u", a, (unsigned)ntohs(in->sin6_port));
	} else {
		snprintf(out, n, "unix");
	}
}

static void busy(smtpc_posix_server *srv, int fd)
{
	static const char msg[] = "421 4.3.2 Too many sessions, try again later\r\n";

	/* every reply sent is shown to the reply callback (logs), this one
	 * with no session */
	if (srv->o.cb.reply != NULL)
		srv->o.cb.reply(srv->o.cb.user, NULL, msg, sizeof msg - 3);
	nonblock(fd);
	if (send(fd, msg, sizeof msg - 1, MSG_NOSIGNAL) < 0)
		(void)0; /* nothing more to do for it */
	close(fd);
}

static void session_new(smtpc_posix_server *srv, int fd, const struct sockaddr_storage *ss)
{
	smtpc_posix_session *s;
	size_t rx = smtpc_rx_min(&srv->cfg);
	int one = 1;

	if (srv->n >= srv->o.max_sessions) {
		busy(srv, fd);
		return;
	}
	s = calloc(1, sizeof *s);
	if (s == NULL || fd_slot(srv, fd) != 0 || (s->rx = malloc(rx + srv->o.tx_size)) == NULL) {
		free(s);
		close(fd);
		return;
	}
	s->tx = s->rx + rx;
	if (smtpc_server_init(&s->core, &srv->cfg, s->rx, rx, s->tx, srv->o.tx_size) !=
	    SMTPC_ERR_OK) {
		free(s->rx);
		free(s);
		close(fd);
		return;
	}
	nonblock(fd);
	if (ss->ss_family != AF_UNIX)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	s->srv = srv;
	s->fd = fd;
	s->id = ++srv->next_id;
	s->reg = -1;
	s->err = SMTPC_ERR_OK;
	s->start = s->wait_start = now_of(srv);
	s->ended_at = NEVER;
	s->wait_key = -1;
	peer_text(s->peer, sizeof s->peer, ss);
	smtpc_server_allow_starttls(&s->core, srv->o.tls != NULL);
	if (srv->o.auth != NULL)
		smtpc_server_set_auth(&s->core, srv->o.auth, srv->o.auth_ctx);
	s->idx = srv->n;
	srv->all[srv->n++] = s;
	srv->by_fd[fd] = s;
	if (srv->o.cb.session != NULL)
		srv->o.cb.session(srv->o.cb.user, s, 1);
	(void)smtpc_server_greet(&s->core, 220, srv->greeting);
	step(s, 1);
}

static void do_accept(smtpc_posix_server *srv, int lfd)
{
	int i;

	for (i = 0; i < ACCEPT_BATCH && !srv->paused && !srv->draining; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		int fd = accept(lfd, (struct sockaddr *)&ss, &len);

		if (fd < 0) {
			int e = errno;
			if (e == EAGAIN || e == EWOULDBLOCK)
				return;
			if (e == EINTR || e == ECONNABORTED || e == EPROTO)
				continue;
			if (srv->o.cb.accept_error != NULL)
				srv->o.cb.accept_error(srv->o.cb.user, e);
			if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
				/* out of descriptors or memory: the listener stays
				 * readable, so stop watching it until a session ends */
				srv->paused = 1;
				srv->paused_until = now_of(srv) + PAUSE_MS;
				note_due(srv, srv->paused_until);
			}
			return;
		}
		if (len == 0 || ss.ss_family == AF_UNSPEC)
			ss.ss_family = AF_UNIX;
		session_new(srv, fd, &ss);
	}
}

static int accepting(const smtpc_posix_server *srv)
{
	return !srv->paused && !srv->draining && !srv->stop_now;
}

/* ---- embedding ------------------------------------------------------------------------ */

size_t smtpc_posix_server_fds(const smtpc_posix_server *srv, struct pollfd *fds, size_t cap)
{
	size_t i, k = 0;

	if (srv == NULL)
		return 0;
	if (accepting(srv))
		for (i = 0; i < srv->nls; i++, k++)
			if (k < cap) {
				fds[k].fd = srv->ls[i].fd;
				fds[k].events = POLLIN;
				fds[k].revents = 0;
			}
	for (i = 0; i < srv->n; i++, k++)
		if (k < cap) {
			fds[k].fd = srv->all[i]->fd;
			fds[k].events = wanted(srv->all[i]);
			fds[k].revents = 0;
		}
	return k;
}

long smtpc_posix_server_timeout(const smtpc_posix_server *srv)
{
	long long now, d;

	if (srv == NULL || srv->stop_now)
		return -1;
	if (srv->nready > 0 || srv->stop_drain)
		return 0;
	d = srv->next_due;
	if (d == NEVER)
		return -1;
	now = now_of(srv);
	if (d <= now)
		return 0;
	return d - now > 0x7fffffffLL ? 0x7fffffffL : (long)(d - now);
}

void smtpc_posix_server_readable(smtpc_posix_server *srv, int fd)
{
	smtpc_posix_session *s;

	if (srv == NULL || fd < 0)
		return;
	if (is_listener(srv, fd)) {
		if (accepting(srv))
			do_accept(srv, fd);
		return;
	}
	if ((size_t)fd < srv->by_fd_cap && (s = srv->by_fd[fd]) != NULL)
		step(s, 1);
}

void smtpc_posix_server_writable(smtpc_posix_server *srv, int fd)
{
	smtpc_posix_session *s;

	if (srv == NULL || fd < 0 || (size_t)fd >= srv->by_fd_cap)
		return;
	if ((s = srv->by_fd[fd]) != NULL)
		step(s, 0);
}

/* A deadline passed: 421 (RFC 5321 4.5.3.2), or the end of a grace. */
static void expire(smtpc_posix_session *s, long long now)
{
	if (s->ended_at != NEVER) {
		kill_session(s, SMTPC_ERR_TIMEOUT);
		step(s, 0);
		return;
	}
	s->err = SMTPC_ERR_TIMEOUT;
	s->ended_at = now;
	if ((s->have_layer && (s->layer.want(s->layer.ctx) & SMTPC_POSIX_LAYER_HANDSHAKE)) ||
	    smtpc_server_shutdown(&s->core, "4.4.2 Timeout: closing the connection") !=
		SMTPC_ERR_OK) {
		kill_session(s, SMTPC_ERR_TIMEOUT);
	} else {
		s->owe = OWE_NONE;
		msg_abort(s);
		scan(s);
	}
	step(s, 0);
}

void smtpc_posix_server_timer(smtpc_posix_server *srv)
{
	long long now;
	size_t i;

	if (srv == NULL)
		return;
	if (srv->stop_drain && !srv->draining) {
		srv->draining = 1;
#ifdef __linux__
		for (i = 0; i < srv->nls && srv->epfd >= 0; i++)
			(void)epoll_ctl(srv->epfd, EPOLL_CTL_DEL, srv->ls[i].fd, NULL);
#endif
	}
	srv->stop_drain = 0;
	/* sessions with work left from their last step */
	if (srv->nready > 0) {
		for (i = srv->n; i-- > 0;)
			if (i < srv->n && srv->all[i]->ready)
				step(srv->all[i], 1);
	}
	now = now_of(srv);
	if (srv->paused && srv->paused_until != NEVER && now >= srv->paused_until)
		srv->paused = 0;
	if (srv->next_due == NEVER || now < srv->next_due)
		return;
	srv->next_due = NEVER;
	if (srv->paused)
		note_due(srv, srv->paused_until);
	for (i = srv->n; i-- > 0;) {
		smtpc_posix_session *s;
		long long d;
		if (i >= srv->n)
			continue;
		s = srv->all[i];
		d = deadline(s);
		if (d != NEVER && d <= now)
			expire(s, now);
		else
			note_due(srv, d);
	}
}

int smtpc_posix_server_done(const smtpc_posix_server *srv)
{
	return srv == NULL || srv->stop_now || (srv->draining && srv->n == 0);
}

size_t smtpc_posix_server_sessions(const smtpc_posix_server *srv)
{
	return srv ? srv->n : 0;
}

void smtpc_posix_server_stop(smtpc_posix_server *srv, int now)
{
	if (srv == NULL)
		return;
	if (now)
		srv->stop_now = 1;
	else
		srv->stop_drain = 1;
	if (srv->wake[1] >= 0) {
		/* wakes run's poll or epoll_wait, even when the flag was set just
		 * after run looked at it (write is async-signal-safe) */
		int e = errno;
		ssize_t r = write(srv->wake[1], "", 1);
		(void)r;
		errno = e;
	}
}

/* ---- blocking --------------------------------------------------------------------------- */

/* The wake-up pipe of a blocking run: both ends non-blocking. */
static int wake_open(smtpc_posix_server *srv)
{
	int i;

	if (pipe(srv->wake) != 0) {
		srv->wake[0] = srv->wake[1] = -1;
		return errno;
	}
	for (i = 0; i < 2; i++) {
		int fl = fcntl(srv->wake[i], F_GETFL);
		if (fl < 0 || fcntl(srv->wake[i], F_SETFL, fl | O_NONBLOCK) < 0 ||
		    fcntl(srv->wake[i], F_SETFD, FD_CLOEXEC) < 0) {
			int e = errno;
			close(srv->wake[0]);
			close(srv->wake[1]);
			srv->wake[0] = srv->wake[1] = -1;
			return e;
		}
	}
	return 0;
}

static void wake_drain(smtpc_posix_server *srv)
{
	char b[64];

	while (read(srv->wake[0], b, sizeof b) > 0)
		;
}

static void wake_close(smtpc_posix_server *srv)
{
	int r = srv->wake[1];

	srv->wake[1] = -1; /* stop writes no more */
	if (r >= 0)
		close(r);
	if (srv->wake[0] >= 0)
		close(srv->wake[0]);
	srv->wake[0] = -1;
}

static int run_poll(smtpc_posix_server *srv)
{
	struct pollfd *fds = NULL;
	size_t cap = 0;

	while (!smtpc_posix_server_done(srv)) {
		size_t n = cap ? smtpc_posix_server_fds(srv, fds, cap - 1) : 1, i;
		long t;
		if (n + 1 > cap) {
			struct pollfd *m = realloc(fds, (n + 64) * sizeof *m);
			if (m == NULL) {
				free(fds);
				return ENOMEM;
			}
			fds = m;
			cap = n + 64;
			continue;
		}
		fds[n].fd = srv->wake[0]; /* -1 (ignored by poll) when there is none */
		fds[n].events = POLLIN;
		fds[n].revents = 0;
		t = smtpc_posix_server_timeout(srv);
		if (srv->o.cb.idle != NULL)
			srv->o.cb.idle(srv->o.cb.user);
		if (poll(fds, (nfds_t)n + 1, t > 0x7fffffffL ? 0x7fffffff : (int)t) < 0 &&
		    errno != EINTR) {
			int e = errno;
			free(fds);
			return e;
		}
		if (fds[n].revents & POLLIN)
			wake_drain(srv);
		for (i = 0; i < n; i++) {
			if (fds[i].revents & (POLLIN | POLLHUP | POLLERR))
				smtpc_posix_server_readable(srv, fds[i].fd);
			else if (fds[i].revents & POLLOUT)
				smtpc_posix_server_writable(srv, fds[i].fd);
		}
		smtpc_posix_server_timer(srv);
	}
	free(fds);
	return 0;
}

#ifdef __linux__
static int run_epoll(smtpc_posix_server *srv)
{
	struct epoll_event evs[256];
	size_t i;
	int listening = 0;

	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (srv->epfd < 0)
		return run_poll(srv);
	for (i = 0; i < srv->n; i++)
		sync_events(srv->all[i]);
	if (srv->wake[0] >= 0) {
		struct epoll_event e;
		memset(&e, 0, sizeof e);
		e.events = EPOLLIN;
		e.data.fd = srv->wake[0];
		(void)epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->wake[0], &e);
	}
	while (!smtpc_posix_server_done(srv)) {
		long t;
		int n, k;

		if (accepting(srv) != listening) {
			/* pause or resume the listeners */
			for (i = 0; i < srv->nls; i++) {
				struct epoll_event e;
				memset(&e, 0, sizeof e);
				e.events = EPOLLIN;
				e.data.fd = srv->ls[i].fd;
				(void)epoll_ctl(srv->epfd,
						listening ? EPOLL_CTL_DEL : EPOLL_CTL_ADD,
						srv->ls[i].fd, &e);
			}
			listening = !listening;
		}
		t = smtpc_posix_server_timeout(srv);
		if (srv->o.cb.idle != NULL)
			srv->o.cb.idle(srv->o.cb.user);
		n = epoll_wait(srv->epfd, evs, 256, t > 0x7fffffffL ? 0x7fffffff : (int)t);
		if (n < 0 && errno != EINTR) {
			int e = errno;
			close(srv->epfd);
			srv->epfd = -1;
			return e;
		}
		for (k = 0; k < n; k++) {
			int fd = evs[k].data.fd;
			smtpc_posix_session *s;
			if (fd == srv->wake[0]) {
				wake_drain(srv);
				continue;
			}
			if (is_listener(srv, fd)) {
				smtpc_posix_server_readable(srv, fd);
				continue;
			}
			if ((size_t)fd >= srv->by_fd_cap || (s = srv->by_fd[fd]) == NULL)
				continue; /* closed earlier in this batch */
			if (evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
				step(s, 1);
				/* a hang-up that moved nothing: the peer is gone */
				if ((evs[k].events & (EPOLLHUP | EPOLLERR)) &&
				    (size_t)fd < srv->by_fd_cap && srv->by_fd[fd] == s &&
				    !(wanted(s) & (POLLIN | POLLOUT))) {
					kill_session(s, SMTPC_ERR_RESET);
					step(s, 0);
				}
			} else if (evs[k].events & EPOLLOUT) {
				step(s, 0);
			}
		}
		smtpc_posix_server_timer(srv);
	}
	close(srv->epfd);
	srv->epfd = -1;
	for (i = 0; i < srv->n; i++)
		srv->all[i]->reg = -1;
	return 0;
}
#endif

int smtpc_posix_server_run(smtpc_posix_server *srv)
{
	int r;

	if (srv == NULL)
		return EINVAL;
	if (srv->wake[0] < 0 && (r = wake_open(srv)) != 0)
		return r;
#ifdef __linux__
	if (getenv("SMTPC_SERVER_POLL") == NULL)
		r = run_epoll(srv);
	else
#endif
		r = run_poll(srv);
	wake_close(srv);
	return r;
}

void smtpc_posix_server_free(smtpc_posix_server *srv)
{
	size_t i;

	if (srv == NULL)
		return;
	while (srv->n > 0)
		session_free(srv->all[srv->n - 1]);
	for (i = 0; i < srv->nls; i++) {
		close(srv->ls[i].fd);
		if (srv->ls[i].path != NULL) {
			(void)unlink(srv->ls[i].path);
			free(srv->ls[i].path);
		}
	}
	if (srv->epfd >= 0)
		close(srv->epfd);
	free(srv->all);
	free(srv->by_fd);
	free(srv->domain);
	free(srv->greeting);
	free(srv);
}

/* ---- session queries ------------------------------------------------------------------ */

smtpc_conn *smtpc_posix_session_core(smtpc_posix_session *s)
{
	return s ? &s->core : NULL;
}

unsigned long smtpc_posix_session_id(const smtpc_posix_session *s)
{
	return s ? s->id : 0;
}

void smtpc_posix_session_set_user(smtpc_posix_session *s, void *user)
{
	if (s != NULL)
		s->user = user;
}

void *smtpc_posix_session_user(const smtpc_posix_session *s)
{
	return s ? s->user : NULL;
}

const char *smtpc_posix_session_peer(const smtpc_posix_session *s)
{
	return s ? s->peer : "";
}

smtpc_err smtpc_posix_session_error(const smtpc_posix_session *s)
{
	if (s == NULL)
		return SMTPC_ERR_NULL_ARG;
	if (s->err != SMTPC_ERR_OK)
		return s->err;
	return smtpc_error(&s->core);
}
