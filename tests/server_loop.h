/* A caller's poll loop around io-posix's server, shared by the server
 * suites: one round dispatches the server's descriptors and appends what a
 * test client (cfd, or -1) can read to got[0, *len), kept NUL-terminated. */
#ifndef SMTPC_TEST_SERVER_LOOP_H
#define SMTPC_TEST_SERVER_LOOP_H

#include <stddef.h>

#include "smtpc_posix_server.h"

/* One round, waiting at most wait_ms (less when a server timer is due). */
void srv_turn(smtpc_posix_server *srv, int cfd, int wait_ms, char *got, size_t cap, size_t *len);
/* Rounds of 10 ms until got holds want (at most 400); nonzero if it does. */
int srv_until(smtpc_posix_server *srv, int cfd, const char *want, char *got, size_t cap,
	      size_t *len);

#endif
