/*
 * smtpc_lwip.c - the smtpc core on lwIP's raw TCP API (contracts: smtpc_lwip.h).
 * The pump runs after every callback: it moves octets until nothing moves (pbufs
 * into the core, ready, output into tcp_write), then STARTTLS, timeouts, close.
 */
#include "smtpc_lwip.h"
#include "lwip/sys.h"

/* Forgets the pcb (no more callbacks) and drops queued input. */
static struct tcp_pcb *detach(smtpc_lwip *a)
{
	struct tcp_pcb *pcb = a->pcb;

	if (pcb != NULL) {
		tcp_recv(pcb, NULL);
		tcp_sent(pcb, NULL);
		tcp_err(pcb, NULL);
		tcp_poll(pcb, NULL, 0);
	}
	if (a->rxq != NULL)
		pbuf_free(a->rxq);
	a->pcb = NULL;
	a->rxq = NULL;
	return pcb;
}

static void start_wait(smtpc_lwip *a)
{
	a->wait = smtpc_waiting_for(&a->core);
	a->pending = smtpc_pending(&a->core);
	a->since = sys_now();
}

/* One round: input to the core, the application, output to lwIP; nonzero if anything moved. */
static int move_bytes(smtpc_lwip *a)
{
	unsigned char *dst;
	const unsigned char *src;
	size_t n;
	int moved = 0;

	while (a->rxq != NULL && (dst = smtpc_recv_buf(&a->core, &n)) != NULL) {
		n = pbuf_copy_partial(a->rxq, dst, (u16_t)LWIP_MIN(n, a->rxq->tot_len), 0);
		smtpc_recv_ack(&a->core, n);
		a->rxq = pbuf_free_header(a->rxq, (u16_t)n);
		tcp_recved(a->pcb, (u16_t)n);
		moved = 1;
	}
	if (a->rxq == NULL && a->peer_closed == 1) { /* FIN, after the data */
		smtpc_eof(&a->core);
		a->peer_closed = 2;
		moved = 1;
	}
	a->ready(a);
	while ((src = smtpc_send_buf(&a->core, &n)) != NULL && tcp_sndbuf(a->pcb) > 0) {
		n = LWIP_MIN(LWIP_MIN(n, tcp_sndbuf(a->pcb)), 0xFFFFu); /* a u16_t */
		if (tcp_write(a->pcb, src, (u16_t)n, TCP_WRITE_FLAG_COPY) != ERR_OK)
			break; /* out of segments: again when some are acknowledged */
		smtpc_send_ack(&a->core, n);
		moved = 1;
	}
	tcp_output(a->pcb);
	return moved;
}

/* Returns ERR_ABRT when it had to abort the pcb: a callback must say so. */
static err_t pump(smtpc_lwip *a)
{
	int any = 0;
	size_t n;
	smtpc_wait w;
	err_t e = ERR_OK;

	while (move_bytes(a))
		any = 1;
	if ((smtpc_want(&a->core) & SMTPC_WANT_TLS) && smtpc_send_buf(&a->core, &n) == NULL) {
		/* the 220 is out: a port's TLS engine starts here */
		smtpc_fail(&a->core, SMTPC_ERR_TLS);
		a->ready(a);
	}
	w = smtpc_waiting_for(&a->core); /* timeouts: RFC 5321 4.5.3.2 */
	if (w != a->wait || smtpc_pending(&a->core) != a->pending ||
	    (any &&
	     (w == SMTPC_WAIT_NONE || w == SMTPC_WAIT_COMMAND || w == SMTPC_WAIT_DATA_BLOCK))) {
		start_wait(a);
	} else if (a->timeout[w] != 0 && sys_now() - a->since >= a->timeout[w] && /* wrap-safe */
		   smtpc_error(&a->core) == SMTPC_ERR_OK) {
		smtpc_fail(&a->core, SMTPC_ERR_TIMEOUT);
		a->ready(a);
	}
	if ((a->closing || (smtpc_want(&a->core) & SMTPC_WANT_CLOSED)) &&
	    smtpc_send_buf(&a->core, &n) == NULL) {
		struct tcp_pcb *pcb = detach(a);
		if (tcp_close(pcb) != ERR_OK) { /* out of memory: reset instead */
			tcp_abort(pcb);
			e = ERR_ABRT;
		}
		a->ready(a); /* released: a is the caller's again */
	}
	return e;
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	smtpc_lwip *a = arg;

	(void)pcb, (void)err;
	if (p == NULL)
		a->peer_closed = a->peer_closed ? a->peer_closed : 1;
	else if (a->rxq == NULL)
		a->rxq = p;
	else if (a->rxq->tot_len + p->tot_len > 0xFFFF)
		return ERR_MEM; /* lwIP keeps p and offers it again later */
	else
		pbuf_cat(a->rxq, p);
	return pump(a);
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	(void)pcb, (void)len;
	return pump(arg);
}

static err_t on_poll(void *arg, struct tcp_pcb *pcb)
{
	(void)pcb;
	return pump(arg);
}

static void on_err(void *arg, err_t err)
{
	smtpc_lwip *a = arg;
	smtpc_err why = err == ERR_RST ? SMTPC_ERR_RESET : SMTPC_ERR_IO;

	a->pcb = NULL; /* lwIP has freed it */
	detach(a);
	smtpc_fail(&a->core, a->connected ? why : SMTPC_ERR_CONNECT);
	a->ready(a);
}

err_t smtpc_lwip_attach(smtpc_lwip *a, struct tcp_pcb *pcb)
{
	if (a->pcb != pcb) /* a server's connection: its wait starts now */
		start_wait(a);
	a->pcb = pcb;
	a->connected = 1;
	tcp_arg(pcb, a);
	tcp_recv(pcb, on_recv);
	tcp_sent(pcb, on_sent);
	tcp_err(pcb, on_err);
	tcp_poll(pcb, on_poll, 1);
	tcp_nagle_disable(pcb); /* pipelined commands leave at once */
	return pump(a);
}

static err_t on_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
	(void)err;
	return smtpc_lwip_attach(arg, pcb);
}

err_t smtpc_lwip_connect(smtpc_lwip *a, const ip_addr_t *ip, u16_t port)
{
	err_t e;

	if ((a->pcb = tcp_new_ip_type(IP_GET_TYPE(ip))) == NULL)
		return ERR_MEM;
	start_wait(a); /* the greeting's wait covers connecting */
	tcp_arg(a->pcb, a);
	tcp_err(a->pcb, on_err);
	tcp_poll(a->pcb, on_poll, 1);
	if ((e = tcp_connect(a->pcb, ip, port, on_connected)) != ERR_OK)
		tcp_abort(detach(a));
	return e;
}

struct tcp_pcb *smtpc_lwip_listen(const ip_addr_t *ip, u16_t port, tcp_accept_fn fn, void *arg)
{
	struct tcp_pcb *pcb = tcp_new_ip_type(IP_GET_TYPE(ip)), *l = NULL;

	if (pcb != NULL && (tcp_bind(pcb, ip, port) != ERR_OK || (l = tcp_listen(pcb)) == NULL))
		tcp_abort(pcb);
	if (l != NULL) {
		tcp_arg(l, arg);
		tcp_accept(l, fn);
	}
	return l;
}

void smtpc_lwip_close(smtpc_lwip *a)
{
	a->closing = 1;
}

void smtpc_lwip_kick(smtpc_lwip *a)
{
	if (a->pcb != NULL)
		pump(a);
}
