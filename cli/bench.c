/*
 * smtpc bench: N messages over S concurrent sessions, each session keeping
 * its connection (EHLO once, then MAIL, RCPT, DATA per message). One poll
 * loop drives every session through the core directly.
 *
 * The fast path: with PIPELINING, MAIL, RCPT and DATA go out in one write;
 * after the 354 the message, its final dot and the next message's MAIL,
 * RCPT and DATA go out together (RFC 2920 3.1 lets the message content start
 * a group), so each message costs one round trip and, for small messages,
 * one send() and one recv().
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
#include <time.h>
#include <unistd.h>

#include "cli.h"

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

struct session {
	int fd;
	smtpc_bearssl *tls; /* NULL: plaintext */
	smtpc_conn c;
	unsigned char *rx, *tx;
	size_t off;  /* of the message being written */
	int in_body;
	int done;
};

struct bench {
	const char *host, *port, *from, *to, *cafile, *tls_name;
	long messages, sessions, issued, accepted, failed, opened;
	int tls, starttls, insecure, new_session, two_copy;
	smtpc_posix_tls *x;
	unsigned char *msg;
	size_t msg_len;
};

static double secs(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static int dial(const struct bench *b)
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
	if (fd >= 0) {
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	}
	return fd;
}

/* A connection and its core (and TLS layer); -1 on failure. */
static int open_session(struct bench *b, struct session *s, size_t rx)
{
	char why[300];

	s->fd = dial(b);
	s->in_body = 0;
	s->done = 0;
	if (s->fd < 0 || smtpc_init(&s->c, NULL, s->rx, rx, s->tx, 256 * 1024) != SMTPC_ERR_OK)
		return -1;
	b->opened++;
	if (b->x == NULL)
		return 0;
	s->tls = smtpc_posix_tls_client(b->x, &s->c, b->tls_name ? b->tls_name : b->host, b->starttls,
	                                why, sizeof why);
	if (s->tls == NULL) {
		say("bench: TLS: %s", why);
		return -1;
	}
	return 0;
}

static void close_session(struct session *s)
{
	close(s->fd);
	s->fd = -1;
	smtpc_posix_tls_release(s->tls);
	s->tls = NULL;
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

/* Issues MAIL, RCPT, DATA for the next message, if one is left. */
static void next_message(struct bench *b, struct session *s)
{
	if (b->issued >= b->messages)
		return;
	if (smtpc_mail(&s->c, b->from, NULL) != SMTPC_ERR_OK ||
	    smtpc_rcpt(&s->c, b->to, NULL) != SMTPC_ERR_OK || smtpc_data(&s->c) != SMTPC_ERR_OK) {
		s->done = 1;
		return;
	}
	b->issued++;
}

/* Writes as much of the message as fits; ends it when all is in. */
static void write_body(struct bench *b, struct session *s)
{
	while (s->in_body) {
		if (s->off < b->msg_len) {
			size_t n = s->tls != NULL && !b->two_copy
			                   ? smtpc_bearssl_body_write(s->tls, b->msg + s->off,
			                                              b->msg_len - s->off)
			                   : smtpc_body_write(&s->c, b->msg + s->off, b->msg_len - s->off);
			s->off += n;
			if (n == 0)
				return; /* transmit buffer full */
			continue;
		}
		if (smtpc_body_end(&s->c) != SMTPC_ERR_OK)
			return;
		s->in_body = 0;
		if (!b->new_session)
			next_message(b, s); /* pipelined after the dot */
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
			break;
		case SMTPC_EV_REPLY:
			switch (ev.reply.cmd) {
			case SMTPC_CMD_GREETING:
				if (ev.reply.code != 220 || smtpc_ehlo(&s->c, "bench.example") != SMTPC_ERR_OK)
					s->done = 1;
				break;
			case SMTPC_CMD_EHLO:
				if (b->starttls && !smtpc_is_secure(&s->c)) {
					if (smtpc_starttls(&s->c) != SMTPC_ERR_OK) {
						say("bench: the server must offer STARTTLS");
						s->done = 1;
					}
					break;
				}
				if (ev.reply.code != 250 ||
				    !(smtpc_get_caps(&s->c)->ext & SMTPC_EXT_PIPELINING)) {
					say("bench: the server must offer PIPELINING");
					s->done = 1;
					break;
				}
				next_message(b, s);
				break;
			case SMTPC_CMD_STARTTLS:
				if (ev.reply.code != 220)
					s->done = 1;
				break;
			case SMTPC_CMD_DATA:
				if (ev.reply.code != 354) {
					b->failed++;
					s->done = 1;
					break;
				}
				s->in_body = 1;
				s->off = 0;
				write_body(b, s);
				break;
			case SMTPC_CMD_DATA_END:
				if (ev.reply.code / 100 == 2)
					b->accepted++;
				else
					b->failed++;
				if (smtpc_pending(&s->c) == 0 && !s->in_body) {
					if (smtpc_quit(&s->c) != SMTPC_ERR_OK)
						s->done = 1;
				}
				break;
			case SMTPC_CMD_QUIT:
				s->done = 1;
				break;
			case SMTPC_CMD_MAIL:
			case SMTPC_CMD_RCPT:
				if (ev.reply.code / 100 != 2) {
					b->failed++;
					s->done = 1;
				}
				break;
			default:
				break;
			}
			break;
		case SMTPC_EV_STARTTLS: /* the layer runs the handshake */
			break;
		default: /* closed or failed */
			s->done = 1;
			return;
		}
	}
}

/* The same step through the TLS layer. */
static void step_tls(struct bench *b, struct session *s, short revents)
{
	size_t n;
	const unsigned char *p;

	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		unsigned char *buf = smtpc_bearssl_recv_buf(s->tls, &n);
		if (buf != NULL) {
			ssize_t r = recv(s->fd, buf, n, 0);
			if (r > 0)
				smtpc_bearssl_recv_ack(s->tls, (size_t)r);
			else if (r == 0)
				smtpc_bearssl_eof(s->tls);
			else if (errno != EAGAIN && errno != EINTR)
				s->done = 1;
		}
	}
	smtpc_bearssl_pump(s->tls);
	if (smtpc_bearssl_take_secured(s->tls) && b->starttls &&
	    smtpc_ehlo(&s->c, "bench.example") != SMTPC_ERR_OK)
		s->done = 1;
	events(b, s);
	write_body(b, s);
	smtpc_bearssl_pump(s->tls);
	while ((p = smtpc_bearssl_send_buf(s->tls, &n)) != NULL) {
		ssize_t w = send(s->fd, p, n, MSG_NOSIGNAL);
		if (w <= 0) {
			if (w < 0 && errno != EAGAIN && errno != EINTR)
				s->done = 1;
			break;
		}
		smtpc_bearssl_send_ack(s->tls, (size_t)w);
		write_body(b, s); /* room again: more of the body */
		smtpc_bearssl_pump(s->tls);
	}
	if (smtpc_error(&s->c) != SMTPC_ERR_OK)
		s->done = 1;
}

static void step(struct bench *b, struct session *s, short revents)
{
	size_t n;
	const unsigned char *p;

	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		unsigned char *buf = smtpc_recv_buf(&s->c, &n);
		if (buf != NULL) {
			ssize_t r = recv(s->fd, buf, n, 0);
			if (r > 0)
				smtpc_recv_ack(&s->c, (size_t)r);
			else if (r == 0)
				smtpc_eof(&s->c);
			else if (errno != EAGAIN && errno != EINTR)
				s->done = 1;
		}
	}
	events(b, s);
	write_body(b, s);
	while ((p = smtpc_send_buf(&s->c, &n)) != NULL) {
		ssize_t w = send(s->fd, p, n, MSG_NOSIGNAL);
		if (w <= 0) {
			if (w < 0 && errno != EAGAIN && errno != EINTR)
				s->done = 1;
			break;
		}
		smtpc_send_ack(&s->c, (size_t)w);
		write_body(b, s); /* room again: more of the body */
	}
}

static int load_message(struct bench *b, const char *file, size_t size)
{
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
		return 0;
	}
	b->msg = malloc(size + 1);
	if (b->msg == NULL)
		return -1;
	for (b->msg_len = 0; b->msg_len < size;) { /* 78-octet text lines */
		static const char line[] = "The quick brown fox jumps over the lazy dog, again and "
		                           "again, for smtpc bench.\r\n";
		size_t k = sizeof line - 1;
		if (k > size - b->msg_len)
			k = size - b->msg_len;
		memcpy(b->msg + b->msg_len, line, k);
		b->msg_len += k;
	}
	return 0;
}

int cmd_bench(int argc, char **argv)
{
	static const struct option opts[] = {
		{"host", required_argument, NULL, 'H'},     {"port", required_argument, NULL, 'p'},
		{"messages", required_argument, NULL, 'n'}, {"sessions", required_argument, NULL, 's'},
		{"size", required_argument, NULL, 'z'},     {"file", required_argument, NULL, 'F'},
		{"from", required_argument, NULL, 'f'},     {"to", required_argument, NULL, 't'},
		{"tls", no_argument, NULL, 'T'},            {"starttls", no_argument, NULL, 'S'},
		{"cafile", required_argument, NULL, 'C'},   {"tls-name", required_argument, NULL, 'N'},
		{"insecure", no_argument, NULL, 'k'},       {"new-session", no_argument, NULL, 'R'},
		{"two-copy", no_argument, NULL, '2'},       {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	struct bench b;
	struct session *ss;
	struct pollfd *pfd;
	const char *file = NULL;
	size_t size = 1024, rx;
	struct timespec t0, t1;
	struct rusage ru;
	long i, live;
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
		case 'H': b.host = optarg; break;
		case 'p': b.port = optarg; break;
		case 'n': b.messages = atol(optarg); break;
		case 's': b.sessions = atol(optarg); break;
		case 'z': size = (size_t)strtoull(optarg, NULL, 10); break;
		case 'F': file = optarg; break;
		case 'f': b.from = optarg; break;
		case 't': b.to = optarg; break;
		case 'T': b.tls = 1; break;
		case 'S': b.starttls = 1; break;
		case 'C': b.cafile = optarg; break;
		case 'N': b.tls_name = optarg; break;
		case 'k': b.insecure = 1; break;
		case 'R': b.new_session = 1; break;
		case '2': b.two_copy = 1; break;
		case 'h': fputs(bench_usage, stdout); return EX_OK_;
		default: fputs(bench_usage, stderr); return EX_USAGE_;
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
		return 66;
	ss = calloc((size_t)b.sessions, sizeof *ss);
	pfd = calloc((size_t)b.sessions, sizeof *pfd);
	rx = smtpc_rx_min(NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < b.sessions; i++) {
		struct session *s = &ss[i];
		s->rx = malloc(rx);
		s->tx = malloc(256 * 1024);
		if (s->rx == NULL || s->tx == NULL || open_session(&b, s, rx) != 0) {
			say("cannot connect to %s port %s", b.host, b.port);
			return EX_TEMPFAIL_;
		}
	}
	do {
		int busy = 0;
		live = 0;
		for (i = 0; i < b.sessions; i++) {
			struct session *s = &ss[i];
			unsigned w = smtpc_want(&s->c);
			if (s->done && b.new_session && s->fd >= 0) { /* the next message: a new session */
				close_session(s);
				if (b.issued < b.messages && open_session(&b, s, rx) != 0) {
					say("cannot connect to %s port %s", b.host, b.port);
					s->done = 1;
				}
			}
			pfd[i].fd = s->done ? -1 : s->fd;
			pfd[i].events = (short)(((w & SMTPC_WANT_READ) ? POLLIN : 0) |
			                        ((w & SMTPC_WANT_WRITE) ? POLLOUT : 0));
			if (s->tls != NULL) {
				w = smtpc_bearssl_want(s->tls);
				pfd[i].events = (short)(((w & SMTPC_BEARSSL_WANT_READ) ? POLLIN : 0) |
				                        ((w & SMTPC_BEARSSL_WANT_WRITE) ? POLLOUT : 0));
				busy |= !(w & SMTPC_BEARSSL_WANT_CLOSED) &&
				        (w & (SMTPC_BEARSSL_WANT_PUMP | SMTPC_BEARSSL_WANT_EVENT |
				              SMTPC_BEARSSL_WANT_SECURED));
			}
			pfd[i].revents = 0;
			live += !s->done;
		}
		if (live == 0 || poll(pfd, (nfds_t)b.sessions, busy ? 0 : 30000) < 0 ||
		    (!busy && live > 0 && pfd_idle(pfd, (size_t)b.sessions)))
			break;
		for (i = 0; i < b.sessions; i++) {
			if (ss[i].done)
				continue;
			if (ss[i].tls != NULL)
				step_tls(&b, &ss[i], pfd[i].revents);
			else if (pfd[i].revents)
				step(&b, &ss[i], pfd[i].revents);
		}
	} while (b.accepted + b.failed < b.messages || live > 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	getrusage(RUSAGE_SELF, &ru);
	wall = secs(&t0, &t1);
	cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	      (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	printf("smtpc bench: %ld messages of %zu octets over %ld sessions: %ld accepted, %ld failed\n",
	       b.messages, b.msg_len, b.sessions, b.accepted, b.failed);
	printf("  %.3f s, %.0f messages/s, client CPU %.1f us/message (user+system)\n", wall,
	       (double)b.accepted / wall, cpu * 1e6 / (double)(b.accepted ? b.accepted : 1));
	if (b.new_session)
		printf("  %ld sessions%s, %.0f sessions/s\n", b.opened, b.x ? " (TLS handshakes)" : "",
		       (double)b.opened / wall);
	for (i = 0; i < b.sessions; i++) {
		if (ss[i].fd >= 0)
			close_session(&ss[i]);
		free(ss[i].rx);
		free(ss[i].tx);
	}
	free(ss);
	free(pfd);
	free(b.msg);
	smtpc_posix_tls_free(b.x);
	return b.accepted == b.messages ? EX_OK_ : EX_TEMPFAIL_;
}
