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
	"\n"
	"Sends N messages (default 1000) over S concurrent sessions (default 1), each\n"
	"session keeping its connection, and prints messages per second and the\n"
	"client's CPU time (user + system) per message. The message is FILE, or a\n"
	"generated text of BYTES octets (default 1024).\n";

struct session {
	int fd;
	smtpc_conn c;
	unsigned char *rx, *tx;
	size_t off;  /* of the message being written */
	int in_body;
	int done;
};

struct bench {
	const char *host, *port, *from, *to;
	long messages, sessions, issued, accepted, failed;
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
			size_t n = smtpc_body_write(&s->c, b->msg + s->off, b->msg_len - s->off);
			s->off += n;
			if (n == 0)
				return; /* transmit buffer full */
			continue;
		}
		if (smtpc_body_end(&s->c) != SMTPC_ERR_OK)
			return;
		s->in_body = 0;
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
				if (ev.reply.code != 250 ||
				    !(smtpc_get_caps(&s->c)->ext & SMTPC_EXT_PIPELINING)) {
					say("bench: the server must offer PIPELINING");
					s->done = 1;
					break;
				}
				next_message(b, s);
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
		default: /* closed or failed */
			s->done = 1;
			return;
		}
	}
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
		{"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
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
		case 'h': fputs(bench_usage, stdout); return EX_OK_;
		default: fputs(bench_usage, stderr); return EX_USAGE_;
		}
	}
	if (b.host == NULL || b.messages <= 0 || b.sessions <= 0 || b.sessions > 1000 ||
	    optind < argc) {
		fputs(bench_usage, stderr);
		return EX_USAGE_;
	}
	if (load_message(&b, file, size) != 0)
		return 66;
	ss = calloc((size_t)b.sessions, sizeof *ss);
	pfd = calloc((size_t)b.sessions, sizeof *pfd);
	rx = smtpc_rx_min(NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < b.sessions; i++) {
		struct session *s = &ss[i];
		s->fd = dial(&b);
		s->rx = malloc(rx);
		s->tx = malloc(256 * 1024);
		if (s->fd < 0 || s->rx == NULL || s->tx == NULL ||
		    smtpc_init(&s->c, NULL, s->rx, rx, s->tx, 256 * 1024) != SMTPC_ERR_OK) {
			say("cannot connect to %s port %s", b.host, b.port);
			return EX_TEMPFAIL_;
		}
	}
	do {
		live = 0;
		for (i = 0; i < b.sessions; i++) {
			unsigned w = smtpc_want(&ss[i].c);
			pfd[i].fd = ss[i].done ? -1 : ss[i].fd;
			pfd[i].events = (short)(((w & SMTPC_WANT_READ) ? POLLIN : 0) |
			                        ((w & SMTPC_WANT_WRITE) ? POLLOUT : 0));
			pfd[i].revents = 0;
			live += !ss[i].done;
		}
		if (live == 0 || poll(pfd, (nfds_t)b.sessions, 30000) <= 0)
			break;
		for (i = 0; i < b.sessions; i++) {
			if (!ss[i].done && pfd[i].revents)
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
	for (i = 0; i < b.sessions; i++) {
		close(ss[i].fd);
		free(ss[i].rx);
		free(ss[i].tx);
	}
	free(ss);
	free(pfd);
	free(b.msg);
	return b.accepted == b.messages ? EX_OK_ : EX_TEMPFAIL_;
}
