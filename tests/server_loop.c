#define _POSIX_C_SOURCE 200809L
#include "server_loop.h"

#include <criterion/criterion.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

void srv_turn(smtpc_posix_server *srv, int cfd, int wait_ms, char *got, size_t cap, size_t *len)
{
	struct pollfd fds[64];
	size_t n = smtpc_posix_server_fds(srv, fds, 63), i;
	long t = smtpc_posix_server_timeout(srv);

	cr_assert(n < 63);
	if (cfd >= 0) {
		fds[n].fd = cfd;
		fds[n].events = POLLIN;
		fds[n].revents = 0;
	}
	if (t < 0 || t > wait_ms)
		t = wait_ms;
	(void)poll(fds, (nfds_t)(n + (cfd >= 0)), (int)t);
	for (i = 0; i < n; i++) {
		if (fds[i].revents & (POLLIN | POLLHUP | POLLERR))
			smtpc_posix_server_readable(srv, fds[i].fd);
		else if (fds[i].revents & POLLOUT)
			smtpc_posix_server_writable(srv, fds[i].fd);
	}
	smtpc_posix_server_timer(srv);
	if (cfd >= 0 && (fds[n].revents & (POLLIN | POLLHUP))) {
		ssize_t k = read(cfd, got + *len, cap - 1 - *len);
		if (k > 0)
			*len += (size_t)k;
		got[*len] = '\0';
	}
}

int srv_until(smtpc_posix_server *srv, int cfd, const char *want, char *got, size_t cap,
	      size_t *len)
{
	int i;

	for (i = 0; i < 400; i++) {
		got[*len] = '\0';
		if (strstr(got, want) != NULL)
			return 1;
		srv_turn(srv, cfd, 10, got, cap, len);
	}
	return strstr(got, want) != NULL;
}
