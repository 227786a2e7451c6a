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
 * .timeout, .ready and .user before connecting or attaching; all stay
 * valid until ready has seen SMTPC_EV_CLOSED or SMTPC_EV_ERROR and .pcb is
 * NULL. Received data waits in lwIP's pbufs until the core has room (the
 * TCP window stays closed meanwhile); output is copied into lwIP's send
 * buffer. The pcb is closed once the core is finished (closed or failed)
 * and its last octets are handed to lwIP.
 */
#ifndef SMTPC_LWIP_H
#define SMTPC_LWIP_H

#include "lwip/tcp.h"
#include "smtpc.h"

typedef struct smtpc_lwip smtpc_lwip;

/* Called whenever the core may have events: pull them all with
 * smtpc_next_event and issue commands or replies. Do not call back into
 * this adapter from here; it sends what the core has when this returns. */
typedef void (*smtpc_lwip_ready_fn)(smtpc_lwip *a);

struct smtpc_lwip {
	smtpc_conn core;		     /* the caller initialises it */
	u32_t timeout[SMTPC_WAIT_OTHER + 1]; /* ms per smtpc_wait; 0: none;
					       [SMTPC_WAIT_NONE]: idle */
	smtpc_lwip_ready_fn ready;
	void *user;
	/* private */
	struct tcp_pcb *pcb; /* NULL once closed or failed */
	struct pbuf *rxq;    /* received, not yet taken */
	u32_t since;	     /* sys_now() when the wait began */
	smtpc_wait wait;
	size_t pending;
	u8_t connected, peer_closed, aborted, closing;
};

/* Client: connects to ip:port. ERR_OK or lwIP's error (nothing to undo).
 * The greeting's timeout runs from here. A refused or failed connection
 * ends as SMTPC_ERR_CONNECT, a reset one as SMTPC_ERR_RESET, a timeout as
 * SMTPC_ERR_TIMEOUT: ready sees SMTPC_EV_ERROR. */
err_t smtpc_lwip_connect(smtpc_lwip *a, const ip_addr_t *ip, u16_t port);

/* Server: a listening pcb on ip:port whose accept callback is fn(arg, ...);
 * NULL on failure. fn sets up an smtpc_lwip with smtpc_server_init, greets
 * (smtpc_server_greet) and hands it the new pcb with smtpc_lwip_attach,
 * which sends the greeting. */
struct tcp_pcb *smtpc_lwip_listen(const ip_addr_t *ip, u16_t port, tcp_accept_fn fn, void *arg);
void smtpc_lwip_attach(smtpc_lwip *a, struct tcp_pcb *pcb);

/* Closes the connection once what the core has to send is handed to lwIP:
 * a client after the reply to QUIT (RFC 5321 4.1.1.10), without waiting for
 * the server to close first. Takes effect when ready returns, or at
 * smtpc_lwip_kick. No event follows. */
void smtpc_lwip_close(smtpc_lwip *a);

/* From another task, with the core lock held, after issuing commands or
 * calling smtpc_lwip_close: runs the pump (sends, closes). */
void smtpc_lwip_kick(smtpc_lwip *a);

#endif /* SMTPC_LWIP_H */
