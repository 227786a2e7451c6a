/*
 * link.h - the firmware's transport adapter: an smtpc connection over a byte
 * pipe, with timeouts from smtpc_waiting_for and a millisecond tick.
 *
 * This is the part a port copies and changes: replace the pipe with the
 * board's transport (a UART, a TCP stack's send and receive calls) and the
 * tick with the board's clock. The application stays the same: it pulls
 * events with smtpc_next_event and issues commands between calls to
 * link_io.
 */
#ifndef LINK_H
#define LINK_H

#include <stdint.h>

#include "smtpc.h"

/* Octets one transfer carries: the pipe's MTU. Small on purpose, so every
 * command, reply and message line crosses in pieces. */
#define PIPE_MTU 7u

/* One direction of a link: a segment of at most PIPE_MTU octets in flight;
 * the writer may put the next one once the reader has taken it all. */
typedef struct link_pipe {
	unsigned char seg[PIPE_MTU];
	unsigned char len, off; /* octets in seg, octets already read */
	unsigned char closed;	/* the writer closed its side */
	uint32_t octets;	/* octets carried so far */
} link_pipe;

/* Timeouts in ticks, indexed by smtpc_wait; 0: none. The entry for
 * SMTPC_WAIT_COMMAND is a server's wait for its client's next command (RFC
 * 5321 4.5.3.2.7). */
typedef uint32_t link_timeouts[SMTPC_WAIT__COUNT];

typedef struct link {
	smtpc_conn *c;
	link_pipe *out, *in;
	const uint32_t *timeout; /* link_timeouts, borrowed */
	uint32_t since;		 /* tick the current wait started */
	smtpc_wait wait;	 /* what the core waited for then */
	size_t pending;		 /* and its replies outstanding */
	unsigned char eof;	 /* smtpc_eof was called */
	smtpc_wait fired;	 /* the wait a timeout ended (SMTPC_WAIT_NONE
				    and fired_after 0: none fired) */
	uint32_t fired_after;	 /* ticks the wait had lasted when it fired */
} link;

/* Ties c to its pipes. c must be initialised (smtpc_init or
 * smtpc_server_init); out and in must be distinct and zeroed. */
void link_init(link *l, smtpc_conn *c, link_pipe *out, link_pipe *in, const link_timeouts timeout,
	       uint32_t now);

/*
 * One round of I/O at tick now: hands at most one segment of the core's
 * pending bytes to the out pipe, moves what the in pipe holds into the
 * core's receive buffer (smtpc_eof once it is closed and drained), closes
 * the out pipe when the core is finished, and ends a wait that lasted past
 * its timeout with smtpc_fail(SMTPC_ERR_TIMEOUT). Returns nonzero when
 * anything moved or changed: call it again before sleeping.
 */
int link_io(link *l, uint32_t now);

/* Closes our side (after a 221 to QUIT, say): the peer sees end of input
 * once what is in flight is read. */
void link_close(link *l);

#endif /* LINK_H */
