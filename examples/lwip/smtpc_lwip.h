/*
 * smtpc_lwip.h - the smtpc core on lwIP's raw TCP API: one connection, client
 * or server role, on one tcp_pcb. A template for RTOS and bare-metal ports.
 *
 * Threads. Every function here, and ready, runs in lwIP's thread: from
 * lwIP's callbacks, or from another task with the core lock held
 * (LOCK_TCPIP_CORE) or through tcpip_callback; NO_SYS ports call them from
 * their main loop. Another task touches the object only with the lock held.
 *
 * Memory. The caller owns the smtpc_lwip object (zeroed) and the core's
 * buffers, initialises .core (smtpc_init or smtpc_server_init) and sets
 * .timeout, .ready and .user before connecting or attaching. The adapter
 * owns the pcb from then on: the caller never calls tcp_* on it, and never
 * closes it. Everything stays in use until the adapter lets the pcb go:
 * ready then runs one last time with .pcb NULL, and from that call on the
 * object and the buffers are the caller's again (to free, or to zero and
 * use again: the adapter never touches them after it).
 *
 * Data. Received pbufs wait in a queue until the core has room; tcp_recved
 * opens the window only by the octets the core took, so an application that
 * stops pulling events closes the window instead of filling memory. Output
 * is copied into lwIP's send buffer as far as tcp_sndbuf and its segments
 * allow; the rest stays in the core until lwIP acknowledges some.
 *
 * Endings. The peer's FIN reaches the core (smtpc_eof) after the octets
 * before it. The pcb is closed (tcp_close: after the core's last octets are
 * handed to lwIP, or a reset when received octets were left unread) once
 * the core is finished (closed or failed) or the application called
 * smtpc_lwip_close. A reset or error lwIP reports through tcp_err (the pcb is
 * gone by then) fails the core: SMTPC_ERR_CONNECT before the connection was
 * up, then SMTPC_ERR_RESET or SMTPC_ERR_IO; ready sees SMTPC_EV_ERROR with
 * .pcb already NULL.
 *
 * Timeouts. .timeout[w] is how long a wait for w (smtpc_waiting_for) may
 * last, in ms of sys_now(); 0: no limit. The greeting's wait starts at
 * smtpc_lwip_connect and covers connecting; each reply of a pipelined group
 * gets its own; message data (SMTPC_WAIT_DATA_BLOCK) and idle
 * (SMTPC_WAIT_NONE: a server's 5 minutes for the next command, RFC 5321
 * 4.5.3.2.7) restart on every octet moved. Differences of sys_now() are taken
 * modulo 2^32, so its wrap is harmless. The check runs on every callback and
 * every 500 ms (tcp_poll): a timeout ends the session, SMTPC_ERR_TIMEOUT, up
 * to 500 ms late.
 *
 * STARTTLS. This adapter has no TLS layer: once the core has paused for the
 * handshake (after SMTPC_EV_STARTTLS) and its output (a server's 220) is
 * handed to lwIP, it fails with SMTPC_ERR_TLS. A port with TLS starts its
 * engine there (smtpc_lwip.c, pump), with the octets still queued as its
 * first input.
 */
#ifndef SMTPC_LWIP_H
#define SMTPC_LWIP_H

#include "lwip/tcp.h"
#include "smtpc.h"

typedef struct smtpc_lwip smtpc_lwip;

/* Called whenever the core may have events (also when nothing changed):
 * pull them until SMTPC_EV_NEED_DATA (SMTPC_EV_CLOSED and SMTPC_EV_ERROR
 * repeat: stop at them) and issue commands or replies; what they put in the
 * core is sent when ready returns. An application may also stop pulling and
 * go on later from another task (then smtpc_lwip_kick). The last call comes
 * with .pcb NULL, events still to pull. From ready, call no function of this
 * adapter but smtpc_lwip_close. */
typedef void (*smtpc_lwip_ready_fn)(smtpc_lwip *a);

struct smtpc_lwip {
	smtpc_conn core;		  /* the caller initialises it */
	u32_t timeout[SMTPC_WAIT__COUNT]; /* ms per smtpc_wait; 0: none;
					    [SMTPC_WAIT_NONE]: a client idle,
					    [SMTPC_WAIT_COMMAND]: a server idle */
	smtpc_lwip_ready_fn ready;
	void *user;
	struct tcp_pcb *pcb; /* read only: NULL once the adapter let it go */
	/* private */
	struct pbuf *rxq; /* received, not yet taken by the core */
	u32_t since;	  /* sys_now() when the wait began */
	smtpc_wait wait;
	size_t pending;
	u8_t connected, peer_closed, closing;
};

/* Client: connects to ip:port. ERR_OK, or lwIP's error (nothing to undo, no
 * callback follows). A refused or failed connection ends in SMTPC_ERR_CONNECT
 * (or SMTPC_ERR_TIMEOUT when the greeting's timeout passes first). */
err_t smtpc_lwip_connect(smtpc_lwip *a, const ip_addr_t *ip, u16_t port);

/* Server: a listening pcb on ip:port whose accept callback is fn(arg, ...);
 * NULL on failure. fn zeroes a free smtpc_lwip (never used, or released),
 * sets it up with smtpc_server_init, greets (smtpc_server_greet) and
 * returns smtpc_lwip_attach(a, newpcb), which sends the greeting: ERR_OK, or
 * ERR_ABRT when it had to abort the pcb (lwIP requires the accept callback
 * to return that). With no free object, or a NULL newpcb (lwIP ran out of
 * them), fn returns ERR_MEM: lwIP resets the connection. */
struct tcp_pcb *smtpc_lwip_listen(const ip_addr_t *ip, u16_t port, tcp_accept_fn fn, void *arg);
err_t smtpc_lwip_attach(smtpc_lwip *a, struct tcp_pcb *pcb);

/* Closes the connection once what the core has to send is handed to lwIP:
 * a client after the reply to QUIT (RFC 5321 4.1.1.10), without waiting for
 * the server to close first; a server that hangs up. Takes effect when ready
 * returns, or at smtpc_lwip_kick. No event follows, but ready runs once
 * more, with .pcb NULL. */
void smtpc_lwip_close(smtpc_lwip *a);

/* From another task, with the core lock held, after pulling events, issuing
 * commands or replies or calling smtpc_lwip_close: runs the pump (takes
 * queued input, sends, closes). Does nothing once .pcb is NULL. */
void smtpc_lwip_kick(smtpc_lwip *a);

#endif /* SMTPC_LWIP_H */
