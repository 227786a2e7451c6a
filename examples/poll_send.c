/*
 * Sending one message from a plain poll() loop through the io-posix
 * embedding API: the loop owns the waiting, the adapter does one step per
 * event, the callbacks in session.h decide what to say next.
 *
 *   poll_send HOST PORT FROM TO
 */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>

#include "session.h"

int main(int argc, char **argv)
{
	struct session s = {NULL, NULL, NULL, "Subject: poll\r\n\r\nSent from a poll() loop.\r\n", 0, 0};
	smtpc_posix_opts o;

	if (argc != 5) {
		fprintf(stderr, "usage: poll_send HOST PORT FROM TO\n");
		return 64;
	}
	s.from = argv[3];
	s.to = argv[4];
	o = session_opts(&s, argv[1], argv[2]);
	s.p = smtpc_posix_new(&o);
	if (s.p == NULL || smtpc_posix_start(s.p) != SMTPC_ERR_OK)
		return 1;
	while (!smtpc_posix_done(s.p)) {
		struct pollfd pfd = {smtpc_posix_fd(s.p), smtpc_posix_events(s.p), 0};
		long t = smtpc_posix_timeout(s.p);
		int n = poll(&pfd, 1, t < 0 ? -1 : (int)t);

		if (n > 0 && (pfd.revents & (POLLIN | POLLERR | POLLHUP)))
			smtpc_posix_readable(s.p);
		if (n > 0 && (pfd.revents & POLLOUT))
			smtpc_posix_writable(s.p);
		smtpc_posix_timer(s.p);
	}
	smtpc_posix_free(s.p);
	return s.status;
}
