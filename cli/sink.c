/*
 * smtpc sink: a local SMTP server on the core's server role. One poll()
 * loop serves every client; each message is accepted and, with --maildir,
 * stored in Maildir form (written to tmp/, fsync'd, renamed into new/, the
 * directory fsync'd) before the 250, so an accepted message is never lost.
 * One line per message on standard output: sender, recipients, size. With a
 * certificate and key it offers STARTTLS: at the client's STARTTLS a
 * server layer of io-bearssl (in STARTTLS mode) takes over the client's
 * octets; it lets the 220 go out in clear, then runs the handshake and
 * tells the core itself.
 *
 * smtpc demo runs a sink on an ephemeral loopback port in a child process
 * and sends a sample message to it with smtpc send, both sides printing
 * their transcript.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define MAX_CLIENTS 1024
#define TX_SIZE 8192
#define ENVELOPE 4096

static const char sink_usage[] =
	"usage: smtpc sink [--host ADDR] [--port PORT] [--maildir DIR] [--max-size BYTES]\n"
	"                  [--tls-cert FILE --tls-key FILE] [--messages N] [--timeout MS] [-v]\n"
	"\n"
	"Accepts every message sent to it and prints one line per message. With\n"
	"--maildir each message is stored in DIR/new (Maildir), on disk before the 250.\n"
	"\n"
	"  --host ADDR       address to listen on (default 127.0.0.1)\n"
	"  --port PORT       port (default 2525; 0 picks a free one and prints it)\n"
	"  --maildir DIR     store messages there (tmp, new and cur are created)\n"
	"  --max-size BYTES  SIZE limit advertised and enforced (default 104857600)\n"
	"  --tls-cert FILE   certificate chain (PEM): STARTTLS is offered\n"
	"  --tls-key FILE    its RSA or EC private key (PEM or DER)\n"
	"  --messages N      exit after N messages (default: serve until killed)\n"
	"  --timeout MS      drop a client idle this long (default 300000)\n"
	"  -v                transcript of every session on standard error\n";

struct client {
	int fd;
	smtpc_conn c;
	unsigned char *rx, *tx;
	char env[ENVELOPE]; /* "from=<...> to=<...>,<...>" */
	size_t env_len;
	int msg_fd;
	int write_errno; /* a write of this message failed: nothing is acknowledged */
	char tmp_path[512];
	long long last;
	int id;
	smtpc_bearssl *tls; /* from the client's STARTTLS on: every octet goes through it */
	int over; /* TLS: the core's session ended (closed or failed): what is queued goes out,
	           * then the client is dropped */
};

struct sink {
	const char *maildir;
	uint64_t max_size;
	long messages, accepted, timeout;
	int verbose, lfd, nclients, next_id;
	unsigned long seq;
	struct client *cl[MAX_CLIENTS];
	smtpc_config cfg;
	smtpc_caps caps;
	char host[256];
	smtpc_posix_tls *tls;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void env_add(struct client *k, const char *s, size_t n)
{
	if (k->env_len + n < ENVELOPE) {
		memcpy(k->env + k->env_len, s, n);
		k->env_len += n;
		k->env[k->env_len] = '\0';
	}
}

/* ---- Maildir ---------------------------------------------------------------------- */

static int maildir_prepare(const char *dir)
{
	static const char *const subs[] = {"", "/tmp", "/new", "/cur"};
	char path[512];
	size_t i;

	for (i = 0; i < 4; i++) {
		snprintf(path, sizeof path, "%s%s", dir, subs[i]);
		if (mkdir(path, 0700) != 0 && errno != EEXIST) {
			say("cannot create %s: %s", path, strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int open_message(struct sink *s, struct client *k)
{
	struct timespec ts;

	if (s->maildir == NULL || k->msg_fd >= 0)
		return 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(k->tmp_path, sizeof k->tmp_path, "%s/tmp/%lld.M%ldP%dQ%lu.smtpc", s->maildir,
	         (long long)ts.tv_sec, ts.tv_nsec / 1000, (int)getpid(), ++s->seq);
	k->msg_fd = open(k->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (k->msg_fd < 0)
		say("cannot create %s: %s", k->tmp_path, strerror(errno));
	return k->msg_fd < 0 ? -1 : 0;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void drop_message(struct client *k)
{
	if (k->msg_fd >= 0) {
		close(k->msg_fd);
		unlink(k->tmp_path);
		k->msg_fd = -1;
	}
}

/* fsync the file, move it into new/, fsync new/: on disk before the 250. */
static int store_message(struct sink *s, struct client *k, char *name, size_t len)
{
	char path[600], dir[520];
	const char *base;
	int dfd, rc = 0;

	if (s->maildir == NULL) {
		snprintf(name, len, "%lu", ++s->seq);
		return 0;
	}
	if (k->msg_fd < 0 && open_message(s, k) != 0)
		return -1;
	if (fsync(k->msg_fd) != 0 || close(k->msg_fd) != 0) {
		k->msg_fd = -1;
		unlink(k->tmp_path);
		return -1;
	}
	k->msg_fd = -1;
	base = strrchr(k->tmp_path, '/') + 1;
	snprintf(path, sizeof path, "%s/new/%s", s->maildir, base);
	if (rename(k->tmp_path, path) != 0) {
		unlink(k->tmp_path);
		return -1;
	}
	snprintf(dir, sizeof dir, "%s/new", s->maildir);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) != 0)
		rc = -1;
	if (dfd >= 0)
		close(dfd);
	snprintf(name, len, "%s", base);
	return rc;
}

/* ---- sessions --------------------------------------------------------------------- */

static void transcript(struct client *k, const char *dir, const unsigned char *p, size_t n)
{
	while (n > 0) {
		const unsigned char *nl = memchr(p, '\n', n);
		size_t len = nl ? (size_t)(nl - p) + 1 : n;
		size_t show = len;
		while (show > 0 && (p[show - 1] == '\n' || p[show - 1] == '\r'))
			show--;
		fprintf(stderr, "[sink %d] %s %.*s\n", k->id, dir, (int)show, (const char *)p);
		p += len;
		n -= len;
	}
}

static void close_client(struct sink *s, int i)
{
	struct client *k = s->cl[i];

	drop_message(k);
	smtpc_posix_tls_release(k->tls);
	close(k->fd);
	free(k->rx);
	free(k->tx);
	free(k);
	s->cl[i] = s->cl[--s->nclients];
}

static void send_pending(struct client *k)
{
	size_t n;
	const unsigned char *p;

	while ((p = smtpc_send_buf(&k->c, &n)) != NULL) {
		ssize_t w = send(k->fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		smtpc_send_ack(&k->c, (size_t)w);
	}
}

static void reply(struct sink *s, struct client *k, unsigned code, const char *text)
{
	size_t before;

	smtpc_send_buf(&k->c, &before);
	if (smtpc_server_reply(&k->c, code, text) != SMTPC_ERR_OK)
		smtpc_fail(&k->c, SMTPC_ERR_IO);
	if (s->verbose) {
		size_t n;
		const unsigned char *p = smtpc_send_buf(&k->c, &n);
		if (p != NULL)
			transcript(k, "S:", p + before, n - before);
	}
}

/* A write of the message failed: 452 when the disk is full, 451 otherwise;
 * the transaction ends and the next one starts clean. */
static void refuse_stored(struct sink *s, struct client *k)
{
	int full = k->write_errno == ENOSPC || k->write_errno == EDQUOT;

	k->write_errno = 0;
	reply(s, k, full ? 452 : 451,
	      full ? "4.3.1 Insufficient system storage" : "4.3.0 Cannot store the message now");
}

/* Answers the client's events; returns 1 when the session is over. */
static int serve(struct sink *s, struct client *k)
{
	smtpc_event ev;
	char name[300], line[600];

	for (;;) {
		switch (smtpc_next_event(&k->c, &ev)) {
		case SMTPC_EV_NEED_DATA:
			return 0;
		case SMTPC_EV_COMMAND: {
			smtpc_command *m = &ev.command;
			if (s->verbose)
				fprintf(stderr, "[sink %d] C: %s %.*s%s%.*s\n", k->id, smtpc_cmd_name(m->cmd),
				        (int)m->arg_len, m->arg, m->params_len ? " " : "", (int)m->params_len,
				        m->params);
			switch (m->cmd) {
			case SMTPC_CMD_EHLO:
				if (smtpc_server_reply_ehlo(&k->c, s->host, &s->caps) != SMTPC_ERR_OK)
					smtpc_fail(&k->c, SMTPC_ERR_IO);
				else if (s->verbose)
					fprintf(stderr, "[sink %d] S: 250 %s and its extensions\n", k->id, s->host);
				break;
			case SMTPC_CMD_HELO:
				reply(s, k, 250, s->host);
				break;
			case SMTPC_CMD_MAIL:
				k->env_len = 0;
				k->write_errno = 0;
				env_add(k, "from=<", 6);
				env_add(k, m->arg, m->arg_len);
				env_add(k, "> to=", 5);
				reply(s, k, 250, "2.1.0 Ok");
				break;
			case SMTPC_CMD_RCPT:
				if (k->env_len > 0 && k->env[k->env_len - 1] == '>')
					env_add(k, ",", 1);
				env_add(k, "<", 1);
				env_add(k, m->arg, m->arg_len);
				env_add(k, ">", 1);
				reply(s, k, 250, "2.1.5 Ok");
				break;
			case SMTPC_CMD_DATA:
				if (open_message(s, k) != 0)
					reply(s, k, 451, "4.3.0 Cannot store the message now");
				else
					reply(s, k, 354, "End data with <CR><LF>.<CR><LF>");
				break;
			default:
				reply(s, k, 502, "5.5.1 Not implemented");
			}
			break;
		}
		case SMTPC_EV_BODY:
			if (s->maildir != NULL && k->write_errno == 0 &&
			    (open_message(s, k) != 0 ||
			     write_all(k->msg_fd, ev.body.data, ev.body.len) != 0)) {
				k->write_errno = errno != 0 ? errno : EIO;
				drop_message(k); /* answered at the end of the chunk or message */
			}
			break;
		case SMTPC_EV_CHUNK_END: /* a BDAT chunk: 250 once written, or the failure */
			if (!ev.body_end.ok || k->write_errno != 0) {
				drop_message(k);
				if (ev.body_end.ok)
					refuse_stored(s, k);
				break;
			}
			snprintf(line, sizeof line, "2.0.0 %llu octets received",
			         (unsigned long long)ev.body_end.size);
			reply(s, k, 250, line);
			break;
		case SMTPC_EV_BODY_END:
			if (ev.body_end.ok && k->write_errno != 0) {
				drop_message(k);
				refuse_stored(s, k);
				break;
			}
			if (!ev.body_end.ok) {
				drop_message(k);
				printf("refused %s size=%llu: %s\n", k->env,
				       (unsigned long long)ev.body_end.size, smtpc_err_desc(ev.body_end.why));
				fflush(stdout);
				break;
			}
			if (store_message(s, k, name, sizeof name) != 0) {
				reply(s, k, 451, "4.3.0 Cannot store the message now");
				break;
			}
			printf("accepted %s size=%llu\n", k->env, (unsigned long long)ev.body_end.size);
			fflush(stdout);
			snprintf(line, sizeof line, "2.0.0 Ok: queued as %.200s", name);
			reply(s, k, 250, line);
			s->accepted++;
			break;
		case SMTPC_EV_STARTTLS: { /* the layer sends the 220 in clear, then TLS */
			char why[200];
			if (s->tls == NULL ||
			    (k->tls = smtpc_posix_tls_server(s->tls, &k->c, 1, why, sizeof why)) == NULL)
				return 1;
			if (s->verbose)
				fprintf(stderr, "[sink %d] TLS handshake\n", k->id);
			return 0;
		}
		case SMTPC_EV_CLOSED:
		case SMTPC_EV_ERROR:
		default:
			return 1;
		}
	}
}

static void accept_client(struct sink *s)
{
	int fd = accept(s->lfd, NULL, NULL), one = 1;
	struct client *k;
	size_t rx = smtpc_rx_min(&s->cfg);

	if (fd < 0)
		return;
	if (s->nclients == MAX_CLIENTS) {
		static const char busy[] = "421 4.3.2 Too many connections\r\n";
		if (send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL) < 0)
			(void)0;
		close(fd);
		return;
	}
	k = calloc(1, sizeof *k);
	if (k == NULL || (k->rx = malloc(rx)) == NULL || (k->tx = malloc(TX_SIZE)) == NULL ||
	    smtpc_server_init(&k->c, &s->cfg, k->rx, rx, k->tx, TX_SIZE) != SMTPC_ERR_OK) {
		if (k)
			free(k->rx);
		free(k);
		close(fd);
		return;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	k->fd = fd;
	k->msg_fd = -1;
	smtpc_server_allow_starttls(&k->c, s->tls != NULL);
	k->last = now_ms();
	k->id = ++s->next_id;
	{
		char greet[300];
		snprintf(greet, sizeof greet, "%s smtpc sink ESMTP", s->host);
		smtpc_server_greet(&k->c, 220, greet);
	}
	if (s->verbose)
		fprintf(stderr, "[sink %d] S: 220 %s smtpc sink ESMTP\n", k->id, s->host);
	s->cl[s->nclients++] = k;
	send_pending(k);
}

/* Work for the layer or the core that needs no I/O: plaintext to move,
 * events to pull (the core takes a record's plaintext a buffer at a time).
 * Once the session is over the core repeats its last event (closed or
 * failed) for as long as replies wait to go out: that is no work. */
static int tls_busy(const struct client *k)
{
	unsigned lw = smtpc_bearssl_want(k->tls);

	return !(lw & SMTPC_BEARSSL_WANT_CLOSED) &&
	       ((lw & (SMTPC_BEARSSL_WANT_PUMP | SMTPC_BEARSSL_WANT_SECURED)) ||
	        ((lw & SMTPC_BEARSSL_WANT_EVENT) && !k->over));
}

/* Through the TLS layer: records in, plaintext to the core, answers, records
 * out, until nothing moves. Returns 1 to drop the client. */
static int client_tls(struct sink *s, struct client *k, short revents)
{
	for (;;) {
		size_t moved = 0, n, room;
		const unsigned char *p;
		unsigned char *buf;

		if ((revents & (POLLIN | POLLHUP | POLLERR)) &&
		    (buf = smtpc_bearssl_recv_buf(k->tls, &room)) != NULL) {
			ssize_t r = recv(k->fd, buf, room, 0);
			if (r > 0) {
				smtpc_bearssl_recv_ack(k->tls, (size_t)r);
				k->last = now_ms();
				moved += (size_t)r;
			} else if (r == 0) {
				smtpc_bearssl_eof(k->tls);
				moved++;
				revents = 0;
			} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				return 1;
			}
		}
		smtpc_bearssl_pump(k->tls);
		if (smtpc_bearssl_take_secured(k->tls) && s->verbose)
			fprintf(stderr, "[sink %d] TLS is up\n", k->id);
		if (!k->over && serve(s, k))
			k->over = 1; /* closed (QUIT, or the client's close) or failed */
		smtpc_bearssl_pump(k->tls);
		while ((p = smtpc_bearssl_send_buf(k->tls, &n)) != NULL) {
			ssize_t w = send(k->fd, p, n, MSG_NOSIGNAL);
			if (w <= 0) {
				if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
					return 1;
				break;
			}
			smtpc_bearssl_send_ack(k->tls, (size_t)w);
			moved += (size_t)w;
		}
		if (moved == 0 && !tls_busy(k)) {
			unsigned lw = smtpc_bearssl_want(k->tls);
			if (lw & SMTPC_BEARSSL_WANT_WRITE)
				return 0; /* records wait for the socket */
			/* finished (close_notify sent), or over with nothing left to send:
			 * a client gone without close_notify gets none */
			return (lw & SMTPC_BEARSSL_WANT_CLOSED) ||
			       (k->over && !(smtpc_want(&k->c) & SMTPC_WANT_WRITE));
		}
	}
}

/* Reads what a client sent and answers it; returns 1 to drop it. */
static int client_io(struct sink *s, struct client *k, short revents)
{
	if (k->tls != NULL)
		return client_tls(s, k, revents);
	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		for (;;) {
			size_t room;
			unsigned char *buf = smtpc_recv_buf(&k->c, &room);
			ssize_t n;
			if (buf == NULL)
				break;
			n = recv(k->fd, buf, room, 0);
			if (n > 0) {
				smtpc_recv_ack(&k->c, (size_t)n);
				k->last = now_ms();
			} else if (n == 0) {
				smtpc_eof(&k->c);
				break;
			} else {
				if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
					return 1;
				break;
			}
			if (serve(s, k))
				break;
			send_pending(k);
		}
	}
	/* the core stops to let its replies go out: go on once they have */
	for (;;) {
		size_t left;
		if (serve(s, k)) {
			send_pending(k);
			return 1;
		}
		send_pending(k);
		smtpc_send_buf(&k->c, &left);
		if (k->tls != NULL) /* STARTTLS: the layer has the 220 to send */
			return client_tls(s, k, 0);
		if (left > 0 || !(smtpc_want(&k->c) & SMTPC_WANT_EVENT))
			return 0;
	}
}

static int sink_loop(struct sink *s)
{
	struct pollfd *pfd = calloc(MAX_CLIENTS + 1, sizeof *pfd);
	int i;

	if (pfd == NULL)
		return EX_SOFTWARE_;
	while (!stop && (s->messages == 0 || s->accepted < s->messages || s->nclients > 0)) {
		int n = s->nclients, busy = 0;
		long long now = now_ms();
		if (s->messages > 0 && s->accepted >= s->messages && s->nclients == 0)
			break;
		pfd[0].fd = (s->messages == 0 || s->accepted < s->messages) ? s->lfd : -1;
		pfd[0].events = POLLIN;
		for (i = 0; i < n; i++) {
			unsigned w = smtpc_want(&s->cl[i]->c);
			pfd[i + 1].fd = s->cl[i]->fd;
			if (s->cl[i]->tls != NULL) {
				unsigned lw = smtpc_bearssl_want(s->cl[i]->tls);
				pfd[i + 1].events = (short)(((lw & SMTPC_BEARSSL_WANT_READ) ? POLLIN : 0) |
				                            ((lw & SMTPC_BEARSSL_WANT_WRITE) ? POLLOUT : 0));
				busy |= tls_busy(s->cl[i]);
			} else
				pfd[i + 1].events = (short)(((w & SMTPC_WANT_READ) ? POLLIN : 0) |
				                            ((w & SMTPC_WANT_WRITE) ? POLLOUT : 0));
			pfd[i + 1].revents = 0;
		}
		if (poll(pfd, (nfds_t)n + 1, busy ? 0 : 1000) < 0 && errno != EINTR)
			break;
		for (i = n - 1; i >= 0; i--) { /* backwards: closing moves the last one down */
			struct client *k = s->cl[i];
			if ((pfd[i + 1].revents & POLLOUT) && k->tls == NULL)
				send_pending(k);
			if (client_io(s, k, pfd[i + 1].revents) ||
			    ((smtpc_want(&k->c) & SMTPC_WANT_CLOSED) &&
			     (k->tls == NULL ||
			      !(smtpc_bearssl_want(k->tls) & SMTPC_BEARSSL_WANT_WRITE))) ||
			    (s->timeout > 0 && now - k->last > s->timeout))
				close_client(s, i);
		}
		if (pfd[0].fd >= 0 && (pfd[0].revents & POLLIN))
			accept_client(s);
	}
	while (s->nclients > 0)
		close_client(s, s->nclients - 1);
	free(pfd);
	return EX_OK_;
}

static int listen_on(const char *host, const char *port, int *bound)
{
	struct addrinfo hints, *res;
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	int fd, one = 1;

	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if (getaddrinfo(host, port, &hints, &res) != 0) {
		say("cannot resolve %s", host);
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 128) != 0) {
		say("cannot listen on %s port %s: %s", host, port, strerror(errno));
		freeaddrinfo(res);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	freeaddrinfo(res);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	getsockname(fd, (struct sockaddr *)&ss, &len);
	*bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
	                                        : ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

static void sink_init(struct sink *s)
{
	memset(s, 0, sizeof *s);
	s->max_size = 104857600u;
	s->timeout = 300000;
	strcpy(s->host, "localhost");
}

static void sink_config(struct sink *s)
{
	smtpc_config_default(&s->cfg);
	s->cfg.max_message = s->max_size;
	s->caps.ext = SMTPC_EXT_PIPELINING | SMTPC_EXT_SIZE | SMTPC_EXT_8BITMIME |
	              SMTPC_EXT_SMTPUTF8 | SMTPC_EXT_CHUNKING | SMTPC_EXT_ENHANCEDSTATUSCODES |
	              SMTPC_EXT_DSN;
	s->caps.size_limit = s->max_size;
}

int cmd_sink(int argc, char **argv)
{
	static const struct option opts[] = {
		{"host", required_argument, NULL, 'H'},     {"port", required_argument, NULL, 'p'},
		{"maildir", required_argument, NULL, 'm'},  {"max-size", required_argument, NULL, 's'},
		{"messages", required_argument, NULL, 'n'}, {"timeout", required_argument, NULL, 'o'},
		{"tls-cert", required_argument, NULL, 'c'}, {"tls-key", required_argument, NULL, 'k'},
		{"verbose", no_argument, NULL, 'v'},        {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	struct sink s;
	const char *host = "127.0.0.1", *port = "2525", *cert = NULL, *key = NULL;
	char why[300];
	int ch, bound = 0, rc;

	sink_init(&s);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (ch) {
		case 'H': host = optarg; break;
		case 'p': port = optarg; break;
		case 'm': s.maildir = optarg; break;
		case 's': s.max_size = strtoull(optarg, NULL, 10); break;
		case 'n': s.messages = atol(optarg); break;
		case 'o': s.timeout = parse_ms(optarg); break;
		case 'v': s.verbose = 1; break;
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'h': fputs(sink_usage, stdout); return EX_OK_;
		default: fputs(sink_usage, stderr); return EX_USAGE_;
		}
	}
	if (optind < argc || s.timeout < 0) {
		fputs(sink_usage, stderr);
		return EX_USAGE_;
	}
	sink_config(&s);
	if ((cert != NULL) != (key != NULL)) {
		say("--tls-cert and --tls-key go together");
		return EX_USAGE_;
	}
	if (cert != NULL) {
		smtpc_posix_tls_opts to;
		memset(&to, 0, sizeof to);
		to.cert_file = cert;
		to.key_file = key;
		s.tls = smtpc_posix_tls_new(&to, why, sizeof why);
		if (s.tls == NULL) {
			say("TLS: %s", why);
			return EX_NOINPUT_;
		}
		s.caps.ext |= SMTPC_EXT_STARTTLS;
	}
	if (s.maildir != NULL && maildir_prepare(s.maildir) != 0)
		return 73; /* EX_CANTCREAT */
	s.lfd = listen_on(host, port, &bound);
	if (s.lfd < 0)
		return 71; /* EX_OSERR */
	printf("listening on %s port %d\n", host, bound);
	fflush(stdout);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	rc = sink_loop(&s);
	close(s.lfd);
	smtpc_posix_tls_free(s.tls);
	return rc;
}

/* ---- demo ----------------------------------------------------------------------------- */

int cmd_demo(int argc, char **argv)
{
	static const char message[] = "From: demo@example.org\r\nTo: you@example.org\r\n"
	                              "Subject: smtpc demo\r\n\r\nHello from the smtpc client.\r\n"
	                              ".A line that starts with a dot travels safely.\r\n";
	struct sink s;
	char port[16], file[] = "/tmp/smtpc-demo-XXXXXX";
	char *send_argv[16];
	int bound = 0, fd, status = 0, rc;
	pid_t child;

	(void)argv;
	if (argc > 1) {
		fputs("usage: smtpc demo\n\nRuns a sink on a loopback port and sends it a message, "
		      "showing both sides.\n",
		      stderr);
		return EX_USAGE_;
	}
	sink_init(&s);
	sink_config(&s);
	s.verbose = 1;
	s.messages = 1;
	s.lfd = listen_on("127.0.0.1", "0", &bound);
	if (s.lfd < 0)
		return 71;
	fd = mkstemp(file);
	if (fd < 0 || write_all(fd, (const unsigned char *)message, sizeof message - 1) != 0) {
		say("cannot write %s", file);
		return EX_SOFTWARE_;
	}
	close(fd);
	printf("smtpc demo: a sink on 127.0.0.1 port %d, and a client sending it one message\n\n",
	       bound);
	fflush(stdout);
	child = fork();
	if (child == 0) {
		signal(SIGPIPE, SIG_IGN);
		_exit(sink_loop(&s));
	}
	close(s.lfd);
	if (child < 0) {
		unlink(file);
		return 71;
	}
	snprintf(port, sizeof port, "%d", bound);
	send_argv[0] = "send";
	send_argv[1] = "--host";
	send_argv[2] = "127.0.0.1";
	send_argv[3] = "--port";
	send_argv[4] = port;
	send_argv[5] = "--from";
	send_argv[6] = "demo@example.org";
	send_argv[7] = "--to";
	send_argv[8] = "you@example.org";
	send_argv[9] = "--helo";
	send_argv[10] = "client.example";
	send_argv[11] = "--file";
	send_argv[12] = file;
	send_argv[13] = "-v";
	send_argv[14] = NULL;
	rc = cmd_send(14, send_argv);
	if (waitpid(child, &status, 0) != child)
		status = 1;
	unlink(file);
	printf("\nsmtpc demo: client exit status %d, sink exit status %d\n", rc,
	       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return rc == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? EX_OK_ : EX_SOFTWARE_;
}
