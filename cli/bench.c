/*
 * smtpc bench: N messages over S concurrent sessions, each session keeping
 * its connection (EHLO once, then the messages through the transaction
 * layer, smtpc_txn.h), or a new connection per message (--new-session).
 *
 * Each session keeps two messages in the layer: when one is finished it is
 * added again, so with PIPELINING the layer sends, after a 354, the message,
 * its final dot and the next message's MAIL, RCPT and DATA together (RFC
 * 2920 3.1 lets the message content start a group): one round trip per
 * message, and for small messages one send() and one recv().
 *
 * One session runs on a blocking socket (a send, then a recv that waits:
 * two system calls per message); several share one poll() loop. Over TLS
 * the octets go through io-bearssl's layer (smtpc_bearssl.h) between the
 * socket and the core, message data straight into BearSSL's record buffer
 * (one copy) unless --two-copy.
 *
 * A session's set-up is a small state machine on the replies: greeting,
 * EHLO, STARTTLS and EHLO again over TLS when asked, then the messages.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "smtpc_txn.h"

#define TX_SIZE (256u * 1024u)

static const char bench_usage[] =
    "usage: smtpc bench --host HOST [--port PORT] [--messages N] [--sessions S]\n"
    "                   [--size BYTES | --file FILE] [--from ADDR] [--to ADDR]\n"
    "                   [--tls | --starttls] [--cafile FILE] [--tls-name NAME] [--insecure]\n"
    "                   [--new-session] [--two-copy]\n"
    "\n"
    "Sends N messages (default 1000) over S concurrent sessions (default 1), each\n"
    "session keeping its connection, and prints messages per second and the\n"
    "client's CPU time (user + system) per message. The message is FILE, or a\n"
    "generated text of BYTES octets (default 1024).\n"
    "\n"
    "  --tls, --starttls  over TLS (implicit, or STARTTLS after EHLO), verified\n"
    "  --cafile, --tls-name, --insecure  as for smtpc send\n"
    "  --new-session      a new connection (and handshake) for every message\n"
    "  --two-copy         TLS: message data through the core's transmit buffer,\n"
    "                     then BearSSL's (the path before the one-copy one)\n";

enum { S_GREETING, S_EHLO, S_STARTTLS, S_TLS, S_READY };

struct session {
	int fd;
	smtpc_bearssl *tls; /* NULL: plaintext */
	smtpc_conn c;
	smtpc_txn t;
	unsigned char *rx, *tx;
	smtpc_txn_msg m[2];
	smtpc_txn_rcpt r[2];
	size_t off;	      /* into the message being written */
	long carried;	      /* messages added on this connection */
	smtpc_txn_event last; /* where the layer stopped: SEND means more to write */
	int phase;
	int done;
};

struct bench {
	const char *host, *port, *from, *to, *cafile, *tls_name;
	long messages, sessions, issued, accepted, opened, tls_failed;
	int tls, starttls, insecure, new_session, two_copy;
	smtpc_posix_tls *x;
	unsigned char *msg;
	size_t msg_len;
	smtpc_txn_size size;
};

static double secs(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static int dial(const struct bench *b, int blocking)
{
	struct addrinfo hints, *res, *ai;
	int fd = -1, one = 1;

	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(b->host, b->port, &hints, &res) != 0)
		return -1;
	for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, SOCK_STREAM, 0);
		if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (blocking) { /* every wait bounded: 30 s */
		struct timeval tv = {30, 0};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	} else {
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	}
	return fd;
}

static size_t tls_write(void *ctx, const void *data, size_t len)
{
	return smtpc_bearssl_body_write(ctx, data, len);
}

/* A connection, its core, its layer (and TLS layer); -1 on failure. */
static int open_session(struct bench *b, struct session *s, size_t rx)
{
	char why[300];
	int i;

	s->fd = dial(b, b->sessions == 1);
	s->phase = S_GREETING;
	s->done = 0;
	s->off = 0;
	s->carried = 0;
	if (s->fd < 0 || smtpc_init(&s->c, NULL, s->rx, rx, s->tx, TX_SIZE) != SMTPC_ERR_OK ||
	    smtpc_txn_init(&s->t, &s->c, NULL, NULL, 0) != SMTPC_ERR_OK)
		return -1;
	for (i = 0; i < 2; i++) {
		s->r[i].addr = b->to;
		s->m[i].from = b->from;
		s->m[i].rcpts = &s->r[i];
		s->m[i].nrcpts = 1;
		s->m[i].size = b->size;
	}
	b->opened++;
	if (b->x == NULL)
		return 0;
	s->tls = smtpc_posix_tls_client(b->x, &s->c, b->tls_name ? b->tls_name : b->host,
					b->starttls, why, sizeof why);
	if (s->tls == NULL) {
		say("bench: TLS: %s", why);
		return -1;
	}
	if (!b->two_copy) /* message data straight into BearSSL's record buffer */
		smtpc_txn_set_writer(&s->t, tls_write, s->tls);
	return 0;
}

static void close_session(struct session *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	smtpc_posix_tls_release(s->tls);
	s->tls = NULL;
}

/* Adds message i of the session, if messages are left to send. */
static void next_message(struct bench *b, struct session *s, int i)
{
	if (b->issued >= b->messages || (b->new_session && s->carried > 0))
		return;
	if (smtpc_txn_add(&s->t, &s->m[i]) != SMTPC_ERR_OK) {
		s->done = 1;
		return;
	}
	b->issued++;
	s->carried++;
}

/* The layer's events: message octets, finished messages, QUIT at the end. */
static void run_txn(struct bench *b, struct session *s)
{
	for (;;) {
		smtpc_txn_msg *m;
		smtpc_txn_event ev = smtpc_txn_next(&s->t, &m);
		s->last = ev;
		switch (ev) {
		case SMTPC_TXN_BODY:
			s->off += smtpc_txn_write(&s->t, b->msg + s->off, b->msg_len - s->off);
			if (s->off == b->msg_len) {
				smtpc_txn_end(&s->t);
				s->off = 0;
			}
			continue;
		case SMTPC_TXN_START:
			continue;
		case SMTPC_TXN_DONE:
			if (m->status == SMTPC_TXN_ACCEPTED)
				b->accepted++;
			next_message(b, s, (int)(m - s->m));
			continue;
		case SMTPC_TXN_IDLE:
			if (smtpc_quit(&s->c) != SMTPC_ERR_OK)
				s->done = 1;
			return;
		case SMTPC_TXN_CLOSED:
			s->done = 1;
			return;
		default: /* SEND, READ: the socket's turn */
			return;
		}
	}
}

/* Set-up replies (greeting, EHLO, STARTTLS); the rest goes to the layer. */
static void on_reply(struct bench *b, struct session *s, const smtpc_reply *r)
{
	switch (s->phase) {
	case S_GREETING:
		if (r->code != 220 || smtpc_ehlo(&s->c, "bench.example") != SMTPC_ERR_OK)
			s->done = 1;
		s->phase = S_EHLO;
		return;
	case S_EHLO:
		if (r->code != 250) {
			say("bench: EHLO refused: %u %s", r->code, r->text);
			s->done = 1;
			return;
		}
		if (b->starttls && !smtpc_is_secure(&s->c)) {
			if (smtpc_starttls(&s->c) != SMTPC_ERR_OK) {
				say("bench: the server must offer STARTTLS");
				s->done = 1;
			}
			s->phase = S_STARTTLS;
			return;
		}
		if (!(smtpc_get_caps(&s->c)->ext & SMTPC_EXT_PIPELINING) && b->opened == 1)
			say("bench: the server does not offer PIPELINING: one command at a time");
		s->phase = S_READY;
		next_message(b, s, 0);
		next_message(b, s, 1);
		return;
	case S_STARTTLS:
		if (r->code != 220)
			s->done = 1;
		s->phase = S_TLS; /* the layer runs the handshake */
		return;
	default:
		if (r->cmd == SMTPC_CMD_QUIT)
			s->done = 1;
		else
			smtpc_txn_on_reply(&s->t, r);
	}
}

static void events(struct bench *b, struct session *s)
{
	smtpc_event ev;

	for (;;) {
		switch (smtpc_next_event(&s->c, &ev)) {
		case SMTPC_EV_NEED_DATA:
			return;
		case SMTPC_EV_LINE:
		case SMTPC_EV_STARTTLS: /* the layer takes it from here */
			break;
		case SMTPC_EV_REPLY:
			on_reply(b, s, &ev.reply);
			break;
		default: /* closed or failed */
			s->done = 1;
			return;
		}
	}
}

/* Everything that needs no I/O: the TLS layer's plaintext, the core's
 * events, the transaction layer. */
static void service(struct bench *b, struct session *s)
{
	if (s->tls != NULL) {
		smtpc_bearssl_pump(s->tls);
		if (smtpc_bearssl_take_secured(s->tls) && b->starttls) {
			if (smtpc_ehlo(&s->c, "bench.example") != SMTPC_ERR_OK)
				s->done = 1;
			s->phase = S_EHLO;
		}
	}
	s->last = SMTPC_TXN_READ;
	events(b, s);
	if (s->phase == S_READY && !s->done)
		run_txn(b, s);
	if (s->tls != NULL)
		smtpc_bearssl_pump(s->tls);
	if (smtpc_error(&s->c) != SMTPC_ERR_OK) {
		smtpc_bearssl_err e =
		    s->tls != NULL ? smtpc_bearssl_error(s->tls) : SMTPC_BEARSSL_ERR_OK;
		if (e != SMTPC_BEARSSL_ERR_OK && b->tls_failed++ == 0) /* the rest fail alike */
			say("bench: TLS failure: %s%s", smtpc_bearssl_strerror(e),
			    e == SMTPC_BEARSSL_ERR_NOT_TLS
				? "; is this a plaintext port? --starttls upgrades one"
				: "");
		s->done = 1;
	}
}

/* Work left that needs no reading: the layer has more message data once the
 * last octets went out; over TLS, plaintext, events, the handshake. */
static int busy(const struct session *s)
{
	unsigned w;

	if (s->last == SMTPC_TXN_SEND)
		return 1;
	if (s->tls == NULL)
		return 0;
	w = smtpc_bearssl_want(s->tls);
	return !(w & SMTPC_BEARSSL_WANT_CLOSED) &&
	       (w &
		(SMTPC_BEARSSL_WANT_PUMP | SMTPC_BEARSSL_WANT_EVENT | SMTPC_BEARSSL_WANT_SECURED));
}

/* Reads once into the core (or the TLS layer); -1 on error. */
static int sess_recv(struct session *s)
{
	size_t n;
	unsigned char *buf =
	    s->tls ? smtpc_bearssl_recv_buf(s->tls, &n) : smtpc_recv_buf(&s->c, &n);
	ssize_t r;

	if (buf == NULL)
		return 0;
	r = recv(s->fd, buf, n, 0);
	if (r > 0) {
		if (s->tls)
			smtpc_bearssl_recv_ack(s->tls, (size_t)r);
		else
			smtpc_recv_ack(&s->c, (size_t)r);
		return 0;
	}
	if (r == 0) {
		if (s->tls)
			smtpc_bearssl_eof(s->tls);
		else
			smtpc_eof(&s->c);
		return 0;
	}
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
}

/* Sends what the core (or the TLS layer) holds; on a blocking socket, all
 * of it. */
static int sess_send(struct session *s)
{
	size_t n;
	const unsigned char *p;

	for (;;) {
		p = s->tls ? smtpc_bearssl_send_buf(s->tls, &n) : smtpc_send_buf(&s->c, &n);
		if (p == NULL)
			return 0;
		ssize_t w = send(s->fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				   ? 0
				   : -1;
		if (s->tls) {
			smtpc_bearssl_send_ack(s->tls, (size_t)w);
			smtpc_bearssl_pump(s->tls); /* more of the core's octets into records */
		} else {
			smtpc_send_ack(&s->c, (size_t)w);
		}
	}
}

/* The session is over: with --new-session, the next connection. */
static void reopen(struct bench *b, struct session *s, size_t rx)
{
	close_session(s);
	if (b->issued < b->messages && open_session(b, s, rx) != 0) {
		say("cannot connect to %s port %s", b->host, b->port);
		s->done = 1;
	}
}

/* One session on a blocking socket: send, then a recv that waits. */
static void run_blocking(struct bench *b, struct session *s, size_t rx)
{
	for (;;) {
		service(b, s);
		if (sess_send(s) < 0)
			s->done = 1;
		if (s->done) {
			if (!b->new_session || b->issued >= b->messages)
				return;
			reopen(b, s, rx);
			if (s->done)
				return;
			continue;
		}
		if (busy(s))
			continue;
		if (sess_recv(s) < 0)
			s->done = 1;
	}
}

/* Nothing happened within poll's 30 s: the bench is stuck. */
static int pfd_idle(const struct pollfd *pfd, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (pfd[i].revents != 0)
			return 0;
	}
	return 1;
}

/* Several sessions in one poll() loop. */
static void run_polled(struct bench *b, struct session *ss, struct pollfd *pfd, size_t rx)
{
	long i, live;

	do {
		int work = 0;
		live = 0;
		for (i = 0; i < b->sessions; i++) {
			struct session *s = &ss[i];
			unsigned w;
			if (s->done && b->new_session && s->fd >= 0 && b->issued < b->messages)
				reopen(b, s, rx);
			if (s->tls != NULL) {
				w = smtpc_bearssl_want(s->tls);
				pfd[i].events =
				    (short)(((w & SMTPC_BEARSSL_WANT_READ) ? POLLIN : 0) |
					    ((w & SMTPC_BEARSSL_WANT_WRITE) ? POLLOUT : 0));
				work |= busy(s);
			} else {
				w = smtpc_want(&s->c);
				pfd[i].events = (short)(((w & SMTPC_WANT_READ) ? POLLIN : 0) |
							((w & SMTPC_WANT_WRITE) ? POLLOUT : 0));
			}
			pfd[i].fd = s->done ? -1 : s->fd;
			pfd[i].revents = 0;
			live += !s->done;
		}
		if (live == 0 || poll(pfd, (nfds_t)b->sessions, work ? 0 : 30000) < 0 ||
		    (!work && pfd_idle(pfd, (size_t)b->sessions)))
			break;
		for (i = 0; i < b->sessions; i++) {
			struct session *s = &ss[i];
			if (s->done || (pfd[i].revents == 0 && !busy(s)))
				continue;
			if ((pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) && sess_recv(s) < 0)
				s->done = 1;
			service(b, s);
			if (!s->done && sess_send(s) < 0)
				s->done = 1;
		}
	} while (live > 0);
}

static int load_message(struct bench *b, const char *file, size_t size)
{
	smtpc_txn_measure ms;

	if (file != NULL) {
		FILE *f = fopen(file, "rb");
		long n;
		if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0) {
			say("cannot read %s", file);
			if (f)
				fclose(f);
			return -1;
		}
		rewind(f);
		b->msg = malloc((size_t)n + 1);
		b->msg_len = (size_t)n;
		if (b->msg == NULL || fread(b->msg, 1, b->msg_len, f) != b->msg_len) {
			fclose(f);
			return -1;
		}
		fclose(f);
	} else {
		b->msg = malloc(size + 1);
		if (b->msg == NULL)
			return -1;
		for (b->msg_len = 0; b->msg_len < size;) { /* 78-octet text lines */
			static const char line[] =
			    "The quick brown fox jumps over the lazy dog, again and "
			    "again, for smtpc bench.\r\n";
			size_t k = sizeof line - 1;
			if (k > size - b->msg_len)
				k = size - b->msg_len;
			memcpy(b->msg + b->msg_len, line, k);
			b->msg_len += k;
		}
	}
	smtpc_txn_measure_init(&ms);
	smtpc_txn_measure_add(&ms, b->msg, b->msg_len);
	smtpc_txn_measure_end(&ms, &b->size);
	return 0;
}

int cmd_bench(int argc, char **argv)
{
	static const struct option opts[] = {{"host", required_argument, NULL, 'H'},
					     {"port", required_argument, NULL, 'p'},
					     {"messages", required_argument, NULL, 'n'},
					     {"sessions", required_argument, NULL, 's'},
					     {"size", required_argument, NULL, 'z'},
					     {"file", required_argument, NULL, 'F'},
					     {"from", required_argument, NULL, 'f'},
					     {"to", required_argument, NULL, 't'},
					     {"tls", no_argument, NULL, 'T'},
					     {"starttls", no_argument, NULL, 'S'},
					     {"cafile", required_argument, NULL, 'C'},
					     {"tls-name", required_argument, NULL, 'N'},
					     {"insecure", no_argument, NULL, 'k'},
					     {"new-session", no_argument, NULL, 'R'},
					     {"two-copy", no_argument, NULL, '2'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	struct bench b;
	struct session *ss;
	struct pollfd *pfd;
	const char *file = NULL;
	size_t size = 1024, rx;
	struct timespec t0, t1;
	struct rusage ru;
	long i;
	int ch;
	double wall, cpu;

	memset(&b, 0, sizeof b);
	b.port = "25";
	b.from = "bench@example.org";
	b.to = "sink@example.org";
	b.messages = 1000;
	b.sessions = 1;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'H':
			b.host = optarg;
			break;
		case 'p':
			b.port = optarg;
			break;
		case 'n':
			b.messages = atol(optarg);
			break;
		case 's':
			b.sessions = atol(optarg);
			break;
		case 'z':
			size = (size_t)strtoull(optarg, NULL, 10);
			break;
		case 'F':
			file = optarg;
			break;
		case 'f':
			b.from = optarg;
			break;
		case 't':
			b.to = optarg;
			break;
		case 'T':
			b.tls = 1;
			break;
		case 'S':
			b.starttls = 1;
			break;
		case 'C':
			b.cafile = optarg;
			break;
		case 'N':
			b.tls_name = optarg;
			break;
		case 'k':
			b.insecure = 1;
			break;
		case 'R':
			b.new_session = 1;
			break;
		case '2':
			b.two_copy = 1;
			break;
		case 'h':
			fputs(bench_usage, stdout);
			return EX_OK_;
		default:
			fputs(bench_usage, stderr);
			return EX_USAGE_;
		}
	}
	if (b.host == NULL || b.messages <= 0 || b.sessions <= 0 || b.sessions > 1000 ||
	    optind < argc) {
		fputs(bench_usage, stderr);
		return EX_USAGE_;
	}
	if (b.tls && b.starttls) {
		say("--tls and --starttls exclude each other");
		return EX_USAGE_;
	}
	if (b.tls || b.starttls) {
		if (tls_name_for(b.host, b.tls_name, b.insecure) == NULL)
			return EX_USAGE_;
		b.x = tls_setup(b.cafile, b.insecure);
		if (b.x == NULL)
			return EX_NOINPUT_;
	}
	if (load_message(&b, file, size) != 0)
		return EX_NOINPUT_;
	ss = calloc((size_t)b.sessions, sizeof *ss);
	pfd = calloc((size_t)b.sessions, sizeof *pfd);
	if (ss == NULL || pfd == NULL) {
		say("out of memory");
		return EX_SOFTWARE_;
	}
	rx = smtpc_rx_min(NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < b.sessions; i++) {
		struct session *s = &ss[i];
		s->fd = -1;
		s->rx = malloc(rx);
		s->tx = malloc(TX_SIZE);
		if (s->rx == NULL || s->tx == NULL || open_session(&b, s, rx) != 0) {
			say("cannot connect to %s port %s", b.host, b.port);
			return EX_TEMPFAIL_;
		}
	}
	if (b.sessions == 1)
		run_blocking(&b, &ss[0], rx);
	else
		run_polled(&b, ss, pfd, rx);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	getrusage(RUSAGE_SELF, &ru);
	wall = secs(&t0, &t1);
	cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	      (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	/* failed: every message not accepted, those a session that ended took
	 * with it (never reported finished) included */
	printf(
	    "smtpc bench: %ld messages of %zu octets over %ld sessions: %ld accepted, %ld failed\n",
	    b.messages, b.msg_len, b.sessions, b.accepted, b.messages - b.accepted);
	printf("  %.3f s, %.0f messages/s, client CPU %.1f us/message (user+system)\n", wall,
	       (double)b.accepted / wall, cpu * 1e6 / (double)(b.accepted ? b.accepted : 1));
	if (b.new_session)
		printf("  %ld sessions%s, %.0f sessions/s\n", b.opened,
		       b.x ? " (TLS handshakes)" : "", (double)b.opened / wall);
	for (i = 0; i < b.sessions; i++) {
		close_session(&ss[i]);
		free(ss[i].rx);
		free(ss[i].tx);
	}
	free(ss);
	free(pfd);
	free(b.msg);
	smtpc_posix_tls_free(b.x);
	return b.accepted == b.messages ? EX_OK_ : b.tls_failed ? EX_PROTOCOL_ : EX_TEMPFAIL_;
}
