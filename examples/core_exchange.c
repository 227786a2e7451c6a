/*
 * A first session on the bare core: connect, print
 * every reply line, EHLO, QUIT. The socket loop is the caller's; the core
 * only parses and frames.
 *
 *   build/rel/core_exchange [HOST [PORT]]      (default 127.0.0.1 25)
 */
#define _POSIX_C_SOURCE 200809L
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "smtpc.h"

static int dial(const char *host, const char *port)
{
	struct addrinfo hints, *res, *ai;
	int fd = -1;

	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -1;
	for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	return fd;
}

int main(int argc, char **argv)
{
	static unsigned char rx[8192], tx[1024];
	smtpc_conn c;
	smtpc_event ev;
	int fd = dial(argc > 1 ? argv[1] : "127.0.0.1", argc > 2 ? argv[2] : "25");

	if (fd < 0 || smtpc_init(&c, NULL, rx, sizeof rx, tx, sizeof tx) != SMTPC_ERR_OK) {
		perror("connect");
		return 1;
	}
	for (;;) {
		size_t n;
		const unsigned char *out;

		while ((out = smtpc_send_buf(&c, &n)) != NULL) { /* bytes out */
			ssize_t w = send(fd, out, n, 0);
			if (w <= 0) {
				smtpc_fail(&c, SMTPC_ERR_IO);
				break;
			}
			smtpc_send_ack(&c, (size_t)w);
		}
		switch (smtpc_next_event(&c, &ev)) {
		case SMTPC_EV_NEED_DATA: { /* bytes in, straight into the core's buffer */
			unsigned char *in = smtpc_recv_buf(&c, &n);
			ssize_t r = recv(fd, in, n, 0);
			if (r > 0)
				smtpc_recv_ack(&c, (size_t)r);
			else if (r == 0)
				smtpc_eof(&c);
			else
				smtpc_fail(&c, SMTPC_ERR_IO);
			break;
		}
		case SMTPC_EV_LINE: /* the seed's handler(line) */
			printf("%u%c%s\n", ev.line.code, ev.line.last ? ' ' : '-', ev.line.text);
			break;
		case SMTPC_EV_REPLY: /* a complete reply: say the next thing */
			if (ev.reply.cmd == SMTPC_CMD_GREETING)
				smtpc_ehlo(&c, "client.example");
			else if (ev.reply.cmd == SMTPC_CMD_EHLO)
				smtpc_quit(&c);
			break;
		case SMTPC_EV_CLOSED:
			close(fd);
			return 0;
		default:
			fprintf(stderr, "error: %s\n", smtpc_err_desc(smtpc_error(&c)));
			close(fd);
			return 1;
		}
	}
}
