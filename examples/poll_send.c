/*
 * Sending one message from a plain poll() loop through the io-posix
 * embedding API: the loop owns the waiting, the adapter does one step per
 * event, the callbacks in session.h decide what to say next, and the loop
 * issues what they left for later.
 *
 *   poll_send [--starttls --cafile FILE [--tls-name NAME]] HOST PORT FROM TO
 */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>

#include "session.h"

int main(int argc, char **argv)
{
	struct session s;
	int rc;

	memset(&s, 0, sizeof s);
	s.message = "Subject: poll\r\n\r\nSent from a poll() loop.\r\n";
	rc = session_open(&s, argc, argv, "poll_send");
	if (rc != 0) {
		session_close(&s);
		return rc;
	}
	while (!smtpc_posix_done(s.p)) {
		struct pollfd pfd = {smtpc_posix_fd(s.p), smtpc_posix_events(s.p), 0};
		long t = smtpc_posix_timeout(s.p);
		int n = poll(&pfd, 1, t < 0 ? -1 : (int)t);

		if (n > 0 && (pfd.revents & (POLLIN | POLLERR | POLLHUP)))
			smtpc_posix_readable(s.p);
		if (n > 0 && (pfd.revents & POLLOUT))
			smtpc_posix_writable(s.p);
		smtpc_posix_timer(s.p);
		if (s.later != LATER_NONE)
			session_later(&s); /* outside any callback; the next round sends it */
	}
	rc = s.status;
	session_close(&s);
	return rc;
}
