/*
 * lwip_loop.c - the lwIP adapter at work: an smtpc client against an smtpc
 * server, or against a scripted peer written on lwIP's raw API, in one
 * process on lwIP's own TCP/IP stack (Debian's liblwip: its tcpip thread,
 * the core lock), over a loopback interface: 127.0.0.1 inside lwIP, so
 * nothing reaches the host's network. Each session is checked on both sides:
 *
 *   silent    a server that accepts and never greets: the client's greeting
 *             timeout (300 ms) ends the session; it runs first, across the
 *             wrap of sys_now(), which this program starts 250 ms short of 2^32
 *   message   EHLO; MAIL, two RCPTs and DATA pipelined; a 100 KiB message
 *             (lines of many lengths up to 998 octets, leading dots) compared
 *             octet for octet as the server delivers it; QUIT, and the client
 *             closes after its reply; the server sees the end
 *   slow      the server's application stops taking events in the middle of
 *             the message: the adapter keeps what its core has no room for in
 *             lwIP's pbufs and opens the window only by what the core took
 *             (checked: window + octets held = the full window), the window
 *             closes, and once the application resumes the message arrives
 *             intact
 *   dropped   the server closes on MAIL without answering: the client's
 *             pipelined group ends in SMTPC_ERR_CLOSED, nothing reported sent
 *   aborted   lwIP aborts the client's connection (as when it runs out of
 *             pcbs), freeing the pcb before tcp_err: SMTPC_ERR_IO, and the
 *             server sees SMTPC_ERR_RESET
 *   starttls  STARTTLS offered and accepted on an adapter with no TLS layer:
 *             both sides end in SMTPC_ERR_TLS instead of waiting forever
 *   refused   nothing listens on the port: SMTPC_ERR_CONNECT
 *   blackhole the SYN goes nowhere: the greeting timeout ends the attempt
 *   trickle   every reply in one-octet segments: the session succeeds, the
 *             client's adapter having run once per octet at least
 *   noeol     a 200000-octet greeting with no line end, more than the client's
 *             buffer and window hold: the client fails at its line limit and
 *             closes, and the flood meets a reset
 *   reset     the peer resets the connection in the middle of the message:
 *             SMTPC_ERR_RESET, nothing reported sent
 *   halfclose the peer closes its side in the middle of the message and reads
 *             on: SMTPC_ERR_CLOSED, and the client then closes its side
 *   stalled   the peer stops reading in the middle of a 400 KiB message (its
 *             window closes): the client's data-block timeout (300 ms) ends it
 *
 * A session ends when every adapter in it has let go of its pcb (its ready
 * callback runs with .pcb NULL; the application then scribbles over the
 * object, which is its own again) and the scripted peer is finished; after
 * the last one no connection may be left in lwIP's active list. Prints one line
 * per session and "lwip: N passed, M failed"; exit status 0 when all pass.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lwip/ip_addr.h"
#include "lwip/netif.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/sys.h"
#include "lwip/tcpip.h"
#include "lwip/timeouts.h"
#include "smtpc_lwip.h"

#define MSG_LEN	   (100u * 1024u)
#define SHORT_WAIT 300u /* ms: the timeouts the sessions provoke */
#define LOG_LEN	   320
#define END_WAIT   20000u /* ms: a session that runs longer has hung */

enum { PORT_SMTP = 2525, PORT_NONE = 2526, PORT_PEER = 2527 };
enum { SERVE, SLOW, DROP, ABORT, STARTTLS, SILENT }; /* what the smtpc server does */

static unsigned char message[MSG_LEN]; /* CRLF lines: delivered unchanged */
static size_t message_len;

static void add(char *log, const char *s)
{
	size_t n = strlen(log);

	snprintf(log + n, LOG_LEN - n, "%s%s", n ? ", " : "", s);
}

/* ---- a session: what ends it ------------------------------------------------- */

static sys_sem_t finished, held;
static struct {
	int client, server, peer; /* 1: this side has finished (or is absent) */
	int signalled;
} end;

static void check_end(void)
{
	if (end.client && end.server && end.peer && !end.signalled) {
		end.signalled = 1;
		sys_sem_signal(&finished);
	}
}

/* From its last call of ready the object is the application's again (to
 * reuse at once): the adapter must not touch it after that call. */
static void scribble(smtpc_lwip *a)
{
	memset(a, 0xA5, sizeof *a);
}

/* ---- the client: one message, then QUIT ----------------------------------- */

static struct client {
	smtpc_lwip a;
	unsigned char rx[8192], tx[4096];
	size_t body_off, body_len; /* of copies * message */
	int in_body, starttls, ended;
	unsigned long readies; /* calls of ready */
	u32_t started, done_at;
	char log[LOG_LEN];
} cl;

static void client_reply(smtpc_conn *c, const smtpc_reply *r)
{
	char s[64];

	snprintf(s, sizeof s, "%s %u", smtpc_cmd_name(r->cmd), r->code);
	add(cl.log, s);
	if (r->cmd == SMTPC_CMD_GREETING) {
		smtpc_ehlo(c, "client.example");
	} else if (r->cmd == SMTPC_CMD_EHLO && cl.starttls) {
		if (smtpc_starttls(c) != SMTPC_ERR_OK)
			add(cl.log, "no STARTTLS");
	} else if (r->cmd == SMTPC_CMD_EHLO) {
		smtpc_mail(c, "from@example.org", NULL);
		smtpc_rcpt(c, "one@example.net", NULL);
		smtpc_rcpt(c, "two@example.net", NULL);
		smtpc_data(c);
		snprintf(s, sizeof s, "%u in flight", (unsigned)smtpc_pending(c));
		add(cl.log, s);
	} else if (r->cmd == SMTPC_CMD_DATA && r->code == 354) {
		cl.in_body = 1;
	} else if (r->cmd == SMTPC_CMD_DATA_END || r->cmd == SMTPC_CMD_DATA) {
		smtpc_quit(c);
	} else if (r->cmd == SMTPC_CMD_QUIT) { /* done: close without waiting */
		smtpc_lwip_close(&cl.a);
	}
}

static void client_ready(smtpc_lwip *a)
{
	smtpc_event ev;
	smtpc_event_type t;
	size_t n, off;

	cl.readies++;
	while (!cl.ended && (t = smtpc_next_event(&a->core, &ev)) != SMTPC_EV_NEED_DATA) {
		if (t == SMTPC_EV_REPLY) {
			client_reply(&a->core, &ev.reply);
		} else if (t == SMTPC_EV_STARTTLS) {
			add(cl.log, "STARTTLS");
		} else if (t == SMTPC_EV_CLOSED || t == SMTPC_EV_ERROR) {
			add(cl.log, t == SMTPC_EV_CLOSED ? "CLOSED" : smtpc_err_name(ev.err));
			if (t == SMTPC_EV_ERROR && ev.err == SMTPC_ERR_TIMEOUT &&
			    smtpc_waiting_for(&a->core) == SMTPC_WAIT_GREETING)
				add(cl.log, "waiting for the greeting");
			cl.ended = 1; /* they repeat forever */
		}
	}
	if (cl.in_body && !cl.ended) { /* after the 354: the message, as far as tx has room */
		while (cl.body_off < cl.body_len) {
			off = cl.body_off % message_len;
			if ((n = smtpc_body_write(&a->core, message + off, message_len - off)) == 0)
				break;
			cl.body_off += n;
		}
		if (cl.body_off == cl.body_len && smtpc_body_end(&a->core) == SMTPC_ERR_OK)
			cl.in_body = 0;
	}
	if (a->pcb == NULL && !end.client) { /* released: over on this side */
		cl.done_at = sys_now();
		end.client = 1;
		check_end();
		scribble(a);
	}
}

/* ---- the smtpc server: delivers into a comparison, never into memory ------ */

static struct server {
	smtpc_lwip a;
	unsigned char rx[8192], tx[4096];
	size_t got;
	u32_t wnd0; /* the window when the connection was accepted */
	int mismatch, mode, holding, held_once, ended;
	char log[LOG_LEN];
} sv;

static void server_ready(smtpc_lwip *a)
{
	static const smtpc_caps caps = {SMTPC_EXT_PIPELINING | SMTPC_EXT_8BITMIME, 0, 0, 0};
	static const smtpc_caps tls_caps = {SMTPC_EXT_PIPELINING | SMTPC_EXT_STARTTLS, 0, 0, 0};
	smtpc_event ev;
	smtpc_event_type t;
	char s[96];

	while (!sv.ended && !sv.holding &&
	       (t = smtpc_next_event(&a->core, &ev)) != SMTPC_EV_NEED_DATA) {
		if (t == SMTPC_EV_COMMAND) {
			snprintf(s, sizeof s, "%s%s%.*s", smtpc_cmd_name(ev.command.cmd),
				 ev.command.arg_len ? " " : "", (int)ev.command.arg_len,
				 ev.command.arg);
			add(sv.log, s);
			if (ev.command.cmd == SMTPC_CMD_MAIL && sv.mode == DROP) {
				smtpc_lwip_close(a); /* no reply: the connection just ends */
			} else if (ev.command.cmd == SMTPC_CMD_MAIL && sv.mode == ABORT) {
				sv.holding = 1; /* no reply yet: see abort_client */
				sys_sem_signal(&held);
			} else if (ev.command.cmd == SMTPC_CMD_EHLO)
				smtpc_server_reply_ehlo(&a->core, "mx.example",
							sv.mode == STARTTLS ? &tls_caps : &caps);
			else if (ev.command.cmd == SMTPC_CMD_DATA)
				smtpc_server_reply(&a->core, 354, "Go ahead");
			else
				smtpc_server_reply(&a->core, 250, "2.0.0 Ok");
		} else if (t == SMTPC_EV_BODY) {
			if (sv.got + ev.body.len > message_len ||
			    memcmp(message + sv.got, ev.body.data, ev.body.len) != 0)
				sv.mismatch = 1;
			sv.got += ev.body.len;
			if (sv.mode == SLOW && !sv.held_once) { /* storage is busy: later */
				sv.holding = sv.held_once = 1;
				sys_sem_signal(&held);
			}
		} else if (t == SMTPC_EV_BODY_END) {
			int same = ev.body_end.ok && !sv.mismatch && sv.got == message_len;
			snprintf(s, sizeof s, "message %s, %lu octets",
				 same ? "identical" : "differs", (unsigned long)sv.got);
			add(sv.log, s);
			smtpc_server_reply(&a->core, same ? 250 : 554, same ? "Queued" : "Differs");
		} else if (t == SMTPC_EV_STARTTLS) {
			add(sv.log, "STARTTLS");
		} else {
			add(sv.log, t == SMTPC_EV_CLOSED ? "CLOSED" : smtpc_err_name(ev.err));
			sv.ended = 1; /* they repeat forever */
		}
	}
	if (a->pcb == NULL && !end.server) { /* released */
		end.server = 1;
		check_end();
		scribble(a);
	}
}

static err_t server_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	static const smtpc_lwip zero;

	(void)arg;
	if (err != ERR_OK || pcb == NULL)
		return ERR_MEM;
	if (end.server) /* one connection per session */
		return ERR_MEM;
	sv.a = zero;
	sv.a.ready = server_ready;
	sv.a.timeout[SMTPC_WAIT_COMMAND] = 300000;    /* RFC 5321 4.5.3.2.7 */
	sv.a.timeout[SMTPC_WAIT_DATA_BLOCK] = 180000; /* a data block */
	sv.wnd0 = (u32_t)pcb->rcv_wnd;
	smtpc_server_init(&sv.a.core, NULL, sv.rx, sizeof sv.rx, sv.tx, sizeof sv.tx);
	if (sv.mode == STARTTLS)
		smtpc_server_allow_starttls(&sv.a.core, 1);
	if (sv.mode != SILENT)
		smtpc_server_greet(&sv.a.core, 220, "mx.example ESMTP");
	return smtpc_lwip_attach(&sv.a, pcb);
}

/* ---- the scripted peer: raw lwIP, misbehaving on purpose ------------------- */

enum { TRICKLE = 1, FLOOD = 2, CLOSE = 4, CLOSE_TX = 8, RESET = 16, STALL = 32 };

struct step {
	const char *until; /* starts once the peer has received this (NULL: see after) */
	size_t after;	   /* or this many octets since the previous step started */
	const char *send;  /* then sends this */
	int how;	   /* TRICKLE: in one-octet segments; FLOOD: FLOOD_LEN 'x'
			      instead; then CLOSE, CLOSE_TX, RESET or STALL */
};			   /* the script ends with a step of zeros */

#define FLOOD_LEN 200000u

static struct peer {
	struct tcp_pcb *pcb;
	const struct step *script;
	size_t step, since; /* the next step; octets since the last one began */
	char tail[32];	    /* the last octets received */
	const char *out;    /* being sent: out_len octets left of out (NULL: 'x') */
	size_t out_len, sent;
	int how, stalled, armed;
	char log[LOG_LEN];
} pr;

static void peer_send(void *arg);

static void peer_finish(int abort)
{
	struct tcp_pcb *pcb = pr.pcb;

	if (pcb == NULL)
		return;
	pr.pcb = NULL;
	tcp_arg(pcb, NULL);
	tcp_recv(pcb, NULL);
	tcp_sent(pcb, NULL);
	tcp_err(pcb, NULL);
	if (abort || tcp_close(pcb) != ERR_OK)
		tcp_abort(pcb);
	sys_untimeout(peer_send, NULL);
	pr.armed = 0;
	end.peer = 1;
	check_end();
}

static void peer_arm(void)
{
	if (!pr.armed && pr.pcb != NULL) {
		pr.armed = 1;
		sys_timeout(0, peer_send, NULL); /* out of lwIP's input path */
	}
}

static void peer_start(void)
{
	const struct step *s = &pr.script[pr.step++];

	pr.out = s->send;
	pr.out_len = s->how & FLOOD ? FLOOD_LEN : strlen(s->send);
	pr.how = s->how;
	pr.since = 0;
	peer_arm();
}

static int peer_due(void)
{
	const struct step *s = &pr.script[pr.step];
	size_t n = s->until != NULL ? strlen(s->until) : 0, have = strnlen(pr.tail, sizeof pr.tail);

	if (pr.out_len != 0 || pr.how != 0 || (s->send == NULL && !(s->how & FLOOD)))
		return 0; /* still sending, or the script is over */
	if (s->until != NULL)
		return have >= n && memcmp(pr.tail + have - n, s->until, n) == 0;
	return pr.since >= s->after;
}

/* Sends what the current step has left (one octet at a time when trickling),
 * then does what the step ends with. Runs from lwIP's timer list, never from
 * inside its input path, so each tcp_output sends at once. */
static void peer_send(void *arg)
{
	static char xs[1024];
	const char *src;
	size_t n;
	int how;

	(void)arg;
	if (xs[0] != 'x')
		memset(xs, 'x', sizeof xs);
	pr.armed = 0;
	while (pr.pcb != NULL && pr.out_len > 0) {
		n = pr.how & TRICKLE ? 1
				     : LWIP_MIN(pr.out_len, LWIP_MIN(tcp_sndbuf(pr.pcb), 1024u));
		src = pr.out != NULL ? pr.out : xs;
		if (n == 0 || tcp_write(pr.pcb, src, (u16_t)n, TCP_WRITE_FLAG_COPY) != ERR_OK)
			break; /* again from the sent callback */
		if (pr.out != NULL)
			pr.out += n;
		pr.out_len -= n;
		pr.sent += n;
		tcp_output(pr.pcb);
		if ((pr.how & TRICKLE) && pr.out_len > 0) {
			peer_arm(); /* the next octet in a segment of its own */
			return;
		}
	}
	if (pr.pcb == NULL || pr.out_len > 0)
		return;
	how = pr.how;
	pr.how = 0;
	if (how & STALL)
		pr.stalled = 1; /* the window closes */
	if (how & CLOSE_TX)
		tcp_shutdown(pr.pcb, 0, 1);
	if (how & (CLOSE | RESET))
		peer_finish(how & RESET);
	else if (peer_due())
		peer_start();
}

static err_t peer_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	size_t have;
	u16_t i;

	(void)arg;
	(void)err;
	if (p == NULL && (pr.how & FLOOD))
		return ERR_OK; /* a flood goes on until it meets a reset */
	if (p == NULL) {
		add(pr.log, "FIN");
		peer_finish(0);
		return ERR_OK;
	}
	for (i = 0; i < p->tot_len; i++) {
		have = strnlen(pr.tail, sizeof pr.tail);
		if (have == sizeof pr.tail - 1)
			memmove(pr.tail, pr.tail + 1, --have);
		pr.tail[have] = (char)pbuf_get_at(p, i);
		pr.tail[have + 1] = '\0';
		pr.since++;
		if (peer_due())
			peer_start();
	}
	if (!pr.stalled)
		tcp_recved(pcb, p->tot_len);
	pbuf_free(p);
	return ERR_OK;
}

static err_t peer_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	(void)arg;
	(void)pcb;
	(void)len;
	if (pr.out_len > 0)
		peer_arm();
	return ERR_OK;
}

static void peer_err(void *arg, err_t err)
{
	(void)arg;
	add(pr.log, err == ERR_RST ? "RST" : "ERR");
	pr.pcb = NULL; /* lwIP has freed it */
	sys_untimeout(peer_send, NULL);
	pr.armed = 0;
	end.peer = 1;
	check_end();
}

static err_t peer_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	(void)arg;
	if (err != ERR_OK || pcb == NULL || pr.pcb != NULL || end.peer)
		return ERR_MEM;
	pr.pcb = pcb;
	tcp_recv(pcb, peer_recv);
	tcp_sent(pcb, peer_sent);
	tcp_err(pcb, peer_err);
	tcp_nagle_disable(pcb);
	if (peer_due())
		peer_start();
	return ERR_OK;
}

/* After the client let go: a peer that stalled on purpose hangs up now. */
static void peer_hang_up(void *arg)
{
	(void)arg;
	peer_finish(1);
}

/* ---- the scripts ----------------------------------------------------------------- */

#define GREET  "220 mx.example ESMTP\r\n"
#define EHLO   "250-mx.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
#define GROUP  "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 Go ahead\r\n"
#define QUEUED "250 2.0.0 Queued\r\n"
#define BYE    "221 2.0.0 Bye\r\n"

static const struct step trickle[] = {{NULL, 0, GREET, TRICKLE},
				      {"EHLO client.example\r\n", 0, EHLO, TRICKLE},
				      {"DATA\r\n", 0, GROUP, TRICKLE},
				      {"\r\n.\r\n", 0, QUEUED, TRICKLE},
				      {"QUIT\r\n", 0, BYE, TRICKLE | CLOSE},
				      {NULL, 0, NULL, 0}};
static const struct step noeol[] = {{NULL, 0, NULL, FLOOD}, {NULL, 0, NULL, 0}};
static const struct step reset[] = {{NULL, 0, GREET, 0},
				    {"EHLO client.example\r\n", 0, EHLO, 0},
				    {"DATA\r\n", 0, GROUP, 0},
				    {NULL, 20000, "", RESET},
				    {NULL, 0, NULL, 0}};
static const struct step halfclose[] = {{NULL, 0, GREET, 0},
					{"EHLO client.example\r\n", 0, EHLO, 0},
					{"DATA\r\n", 0, GROUP, 0},
					{NULL, 20000, "", CLOSE_TX},
					{NULL, 0, NULL, 0}};
static const struct step stalled[] = {{NULL, 0, GREET, 0},
				      {"EHLO client.example\r\n", 0, EHLO, 0},
				      {"DATA\r\n", 0, GROUP, STALL},
				      {NULL, 0, NULL, 0}};

/* ---- lwIP's clock --------------------------------------------------------------- */

/* sys_now as a port provides it (this one replaces the library's): the
 * monotonic clock in ms, started WRAP_AFTER ms short of 2^32, so the first
 * session's timeout (silent) runs across the wrap. */
#define WRAP_AFTER 250u
static u32_t clock0;

static u32_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u32_t)((unsigned long)ts.tv_sec * 1000ul + (unsigned long)ts.tv_nsec / 1000000ul);
}

u32_t sys_now(void)
{
	return monotonic_ms() - clock0;
}

/* ---- the loopback interface -------------------------------------------------------- */

static unsigned escaped; /* IPv4 packets that did not loop back */
static ip4_addr_t blackhole;

static err_t drop4(struct netif *nif, struct pbuf *p, const ip4_addr_t *to)
{
	(void)nif;
	(void)p;
	if (!ip4_addr_cmp(to, &blackhole))
		escaped++;
	return ERR_OK;
}

static err_t drop6(struct netif *nif, struct pbuf *p, const ip6_addr_t *to)
{
	(void)nif;
	(void)p;
	(void)to;
	return ERR_OK;
}

/* Packets to the interface's own address loop back inside lwIP
 * (LWIP_NETIF_LOOPBACK); anything else goes to drop4 and is dropped there. */
static err_t loop_init(struct netif *nif)
{
	nif->name[0] = 'l';
	nif->name[1] = 'o';
	nif->mtu = 1500;
	nif->output = drop4;
	nif->output_ip6 = drop6;
	return ERR_OK;
}

static void up(void *arg)
{
	sys_sem_signal(arg);
}

/* ---- sessions ------------------------------------------------------------------ */

struct session {
	const char *name;
	const char *to; /* address */
	u16_t port;
	int mode;			 /* of the smtpc server, when the port is PORT_SMTP */
	const struct step *script;	 /* of the peer, when the port is PORT_PEER */
	int copies;			 /* of the message the client sends */
	int starttls;			 /* the client asks for STARTTLS */
	u32_t greeting_wait, block_wait; /* ms: the client's timeouts */
	const char *want_client, *want_server;
};

/* The server's application stopped in the middle of the message: once the
 * window has closed, checks that it closed on what the adapter holds, then
 * resumes the application from this task (the core lock held). */
static void slow_server(void)
{
	u32_t wnd = 0, held_len = 0, i;
	char s[96];

	if (sys_arch_sem_wait(&held, END_WAIT) == SYS_ARCH_TIMEOUT)
		return;
	for (i = 0; i < 500; i++) {
		LOCK_TCPIP_CORE();
		wnd = sv.a.pcb != NULL ? (u32_t)sv.a.pcb->rcv_wnd : 0;
		held_len = sv.a.rxq != NULL ? sv.a.rxq->tot_len : 0; /* the adapter's queue */
		UNLOCK_TCPIP_CORE();
		if (wnd < TCP_MSS)
			break;
		sys_msleep(10);
	}
	LOCK_TCPIP_CORE();
	if (wnd >= TCP_MSS)
		snprintf(s, sizeof s, "window still open (%lu)", (unsigned long)wnd);
	else if (held_len == 0 || wnd + held_len != sv.wnd0)
		snprintf(s, sizeof s, "window %lu + held %lu != %lu", (unsigned long)wnd,
			 (unsigned long)held_len, (unsigned long)sv.wnd0);
	else
		snprintf(s, sizeof s, "window closed on the octets held");
	add(sv.log, s);
	sv.holding = 0; /* storage is free again: the application goes on */
	server_ready(&sv.a);
	smtpc_lwip_kick(&sv.a);
	UNLOCK_TCPIP_CORE();
}

/* The server holds its reply to MAIL; lwIP aborts the client's connection
 * meanwhile, as it does when it runs out of pcbs or gives up retransmitting:
 * it frees the pcb before the adapter's tcp_err callback runs. */
static void abort_client(void)
{
	if (sys_arch_sem_wait(&held, END_WAIT) == SYS_ARCH_TIMEOUT)
		return;
	LOCK_TCPIP_CORE();
	if (cl.a.pcb != NULL)
		tcp_abort(cl.a.pcb);
	sv.holding = 0;
	UNLOCK_TCPIP_CORE();
}

/* Runs one session. Everything lwIP's thread also touches (the adapters,
 * the peer, the logs) is read and written here only with the core lock held:
 * the semaphore comes from inside lwIP's thread, and the lock waits for what
 * runs there to end. */
static int session(const struct session *ss)
{
	static const smtpc_lwip zero;
	static const u32_t rfc[SMTPC_WAIT__COUNT] = {
	    [SMTPC_WAIT_GREETING] = 300000,   [SMTPC_WAIT_MAIL] = 300000,
	    [SMTPC_WAIT_RCPT] = 300000,	      [SMTPC_WAIT_DATA_START] = 120000,
	    [SMTPC_WAIT_DATA_BLOCK] = 180000, [SMTPC_WAIT_DATA_END] = 600000,
	    [SMTPC_WAIT_OTHER] = 300000};
	ip_addr_t to;
	int ok, waited, smtpc_server = ss->port == PORT_SMTP && strcmp(ss->to, "127.0.0.1") == 0;

	ipaddr_aton(ss->to, &to);
	LOCK_TCPIP_CORE();
	memset(&end, 0, sizeof end);
	memset(cl.log, 0, sizeof cl.log);
	memset(sv.log, 0, sizeof sv.log);
	cl.a = zero;
	cl.body_off = 0;
	cl.body_len = message_len * (size_t)(ss->copies ? ss->copies : 1);
	cl.in_body = cl.ended = 0;
	cl.starttls = ss->starttls;
	cl.readies = 0;
	sv.got = 0;
	sv.mismatch = sv.holding = sv.held_once = sv.ended = 0;
	sv.mode = ss->mode;
	end.server = !smtpc_server;
	memset(&pr, 0, sizeof pr);
	pr.script = ss->script;
	end.peer = ss->port != PORT_PEER;
	memcpy(cl.a.timeout, rfc, sizeof rfc);
	if (ss->greeting_wait)
		cl.a.timeout[SMTPC_WAIT_GREETING] = ss->greeting_wait;
	if (ss->block_wait)
		cl.a.timeout[SMTPC_WAIT_DATA_BLOCK] = ss->block_wait;
	cl.a.ready = client_ready;
	smtpc_init(&cl.a.core, NULL, cl.rx, sizeof cl.rx, cl.tx, sizeof cl.tx);
	cl.started = sys_now();
	if (smtpc_lwip_connect(&cl.a, &to, ss->port) != ERR_OK) {
		add(cl.log, "tcp_connect failed");
		end.client = 1;
		check_end();
	}
	UNLOCK_TCPIP_CORE();
	if (ss->mode == SLOW && smtpc_server)
		slow_server();
	if (ss->mode == ABORT && smtpc_server)
		abort_client();
	for (waited = 0; sys_arch_sem_wait(&finished, 100) == SYS_ARCH_TIMEOUT;) {
		LOCK_TCPIP_CORE();
		if (end.client && !end.peer && ss->script == stalled)
			sys_timeout(0, peer_hang_up, NULL);
		if (end.client && !end.server && ss->mode == SILENT) {
			smtpc_lwip_close(&sv.a); /* it never greeted: it hangs up */
			smtpc_lwip_kick(&sv.a);
		}
		UNLOCK_TCPIP_CORE();
		if ((waited += 100) >= (int)END_WAIT) {
			LOCK_TCPIP_CORE();
			printf("lwip: %s: no end (client %s, server %s, peer %s)\n  client: %s\n"
			       "  server: %s\n  peer:   %s\n",
			       ss->name, end.client ? "done" : "open", end.server ? "done" : "open",
			       end.peer ? "done" : "open", cl.log, sv.log, pr.log);
			exit(1); /* its connections may still be live: run nothing after it */
		}
	}
	LOCK_TCPIP_CORE();
	ok = strcmp(cl.log, ss->want_client) == 0 &&
	     strcmp(ss->port == PORT_PEER ? pr.log : sv.log, ss->want_server) == 0 &&
	     (ss->greeting_wait == 0 || cl.done_at - cl.started >= ss->greeting_wait);
	if (ss->script == trickle && cl.readies < pr.sent) {
		printf("  the client ran %lu times for %lu octets: not one segment each\n",
		       cl.readies, (unsigned long)pr.sent);
		ok = 0;
	}
	printf("lwip: %s: %s (%lu ms)\n", ss->name, ok ? "ok" : "FAILED",
	       (unsigned long)(cl.done_at - cl.started));
	if (!ok)
		printf("  client: %s\n  want:   %s\n  server: %s\n  want:   %s\n", cl.log,
		       ss->want_client, ss->port == PORT_PEER ? pr.log : sv.log, ss->want_server);
	UNLOCK_TCPIP_CORE();
	return ok;
}

/* No connection may outlive its session: every pcb leaves the active list
 * (closed, or waiting in TIME-WAIT) once both ends have let go. */
static int all_closed(void)
{
	int i, n = 0;
	struct tcp_pcb *p;

	for (i = 0; i < 100; i++) {
		LOCK_TCPIP_CORE();
		for (n = 0, p = tcp_active_pcbs; p != NULL; p = p->next)
			n++;
		UNLOCK_TCPIP_CORE();
		if (n == 0)
			return 1;
		sys_msleep(50);
	}
	printf("lwip: %d connections still open after the sessions\n", n);
	return 0;
}

int main(void)
{
	static struct netif lo;
	ip4_addr_t ip, mask, gw;
	sys_sem_t started;
	char want[LOG_LEN], want_slow[LOG_LEN];
	size_t i, line = 0, k;
	int passed = 0, failed = 0;

	clock0 = monotonic_ms() + WRAP_AFTER; /* sys_now() starts at 2^32 - WRAP_AFTER */
	/* the message: CRLF lines of many lengths, some starting with dots */
	while (message_len + 1000 < MSG_LEN) {
		size_t len = (line * 37u) % 999u, start = message_len;
		for (i = 0; i < len; i++)
			message[message_len++] =
			    (unsigned char)(i == 0 && line % 5 == 0 ? '.' : 'a' + (line + i) % 26);
		if (len > 0 && line % 5 == 0 && len % 2 == 0)
			message[start + 1] = '.'; /* ".." */
		message[message_len++] = '\r';
		message[message_len++] = '\n';
		line++;
	}
	snprintf(want, sizeof want,
		 "EHLO client.example, MAIL from@example.org, RCPT one@example.net, "
		 "RCPT two@example.net, DATA, message identical, %lu octets, CLOSED",
		 (unsigned long)message_len);
	snprintf(want_slow, sizeof want_slow,
		 "EHLO client.example, MAIL from@example.org, RCPT one@example.net, "
		 "RCPT two@example.net, DATA, window closed on the octets held, "
		 "message identical, %lu octets, CLOSED",
		 (unsigned long)message_len);
	{
		const struct session sessions[] = {
		    {"silent", "127.0.0.1", PORT_SMTP, SILENT, NULL, 1, 0, SHORT_WAIT, 0,
		     "SMTPC_ERR_TIMEOUT, waiting for the greeting", ""},
		    {"message", "127.0.0.1", PORT_SMTP, SERVE, NULL, 1, 0, 0, 0,
		     "GREETING 220, EHLO 250, 4 in flight, MAIL 250, RCPT 250, RCPT 250, "
		     "DATA 354, DATA_END 250, QUIT 221",
		     want},
		    {"slow", "127.0.0.1", PORT_SMTP, SLOW, NULL, 1, 0, 0, 0,
		     "GREETING 220, EHLO 250, 4 in flight, MAIL 250, RCPT 250, RCPT 250, "
		     "DATA 354, DATA_END 250, QUIT 221",
		     want_slow},
		    {"dropped", "127.0.0.1", PORT_SMTP, DROP, NULL, 1, 0, 0, 0,
		     "GREETING 220, EHLO 250, 4 in flight, SMTPC_ERR_CLOSED",
		     "EHLO client.example, MAIL from@example.org"},
		    {"aborted", "127.0.0.1", PORT_SMTP, ABORT, NULL, 1, 0, 0, 0,
		     "GREETING 220, EHLO 250, 4 in flight, SMTPC_ERR_IO",
		     "EHLO client.example, MAIL from@example.org, SMTPC_ERR_RESET"},
		    {"starttls", "127.0.0.1", PORT_SMTP, STARTTLS, NULL, 1, 1, 0, 0,
		     "GREETING 220, EHLO 250, STARTTLS 220, STARTTLS, SMTPC_ERR_TLS",
		     "EHLO client.example, STARTTLS, SMTPC_ERR_TLS"},
		    {"refused", "127.0.0.1", PORT_NONE, SERVE, NULL, 1, 0, 0, 0,
		     "SMTPC_ERR_CONNECT", ""},
		    {"blackhole", "192.0.2.1", PORT_SMTP, SERVE, NULL, 1, 0, SHORT_WAIT, 0,
		     "SMTPC_ERR_TIMEOUT, waiting for the greeting", ""},
		    {"trickle", "127.0.0.1", PORT_PEER, SERVE, trickle, 1, 0, 0, 0,
		     "GREETING 220, EHLO 250, 4 in flight, MAIL 250, RCPT 250, RCPT 250, "
		     "DATA 354, DATA_END 250, QUIT 221",
		     ""},
		    {"noeol", "127.0.0.1", PORT_PEER, SERVE, noeol, 1, 0, 0, 0,
		     "SMTPC_ERR_LINE_TOO_LONG", "RST"},
		    {"reset", "127.0.0.1", PORT_PEER, SERVE, reset, 1, 0, 0, 0,
		     "GREETING 220, EHLO 250, 4 in flight, MAIL 250, RCPT 250, RCPT 250, "
		     "DATA 354, SMTPC_ERR_RESET",
		     ""},
		    {"halfclose", "127.0.0.1", PORT_PEER, SERVE, halfclose, 1, 0, 0, 0,
		     "GREETING 220, EHLO 250, 4 in flight, MAIL 250, RCPT 250, RCPT 250, "
		     "DATA 354, SMTPC_ERR_CLOSED",
		     "FIN"},
		    {"stalled", "127.0.0.1", PORT_PEER, SERVE, stalled, 4, 0, 0, SHORT_WAIT,
		     "GREETING 220, EHLO 250, 4 in flight, MAIL 250, RCPT 250, RCPT 250, "
		     "DATA 354, SMTPC_ERR_TIMEOUT",
		     ""},
		};

		if (sys_sem_new(&started, 0) != ERR_OK || sys_sem_new(&finished, 0) != ERR_OK ||
		    sys_sem_new(&held, 0) != ERR_OK)
			return 1;
		tcpip_init(up, &started);
		sys_arch_sem_wait(&started, 0);
		sys_sem_free(&started);
		IP4_ADDR(&ip, 127, 0, 0, 1);
		IP4_ADDR(&mask, 255, 0, 0, 0);
		IP4_ADDR(&gw, 0, 0, 0, 0);
		IP4_ADDR(&blackhole, 192, 0, 2, 1);
		LOCK_TCPIP_CORE();
		netif_add(&lo, &ip, &mask, &gw, NULL, loop_init, ip_input);
		netif_set_default(&lo);
		netif_set_link_up(&lo);
		netif_set_up(&lo);
		if (smtpc_lwip_listen(IP4_ADDR_ANY, PORT_SMTP, server_accept, NULL) == NULL ||
		    smtpc_lwip_listen(IP4_ADDR_ANY, PORT_PEER, peer_accept, NULL) == NULL)
			failed++;
		UNLOCK_TCPIP_CORE();
		for (k = 0; k < sizeof sessions / sizeof sessions[0]; k++) {
			if (session(&sessions[k]))
				passed++;
			else
				failed++;
		}
	}
	if (all_closed())
		passed++;
	else
		failed++;
	LOCK_TCPIP_CORE();
	if (escaped != 0) {
		printf("lwip: %u packets left the loopback interface\n", escaped);
		failed++;
	}
	UNLOCK_TCPIP_CORE();
	printf("lwip: %d passed, %d failed\n", passed, failed);
	fflush(stdout);
	sys_sem_free(&finished);
	sys_sem_free(&held);
	return failed == 0 ? 0 : 1;
}
