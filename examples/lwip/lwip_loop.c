/*
 * lwip_loop.c - the lwIP adapter at work: an smtpc client and an smtpc
 * server in one process, on lwIP's own TCP/IP stack (Debian's liblwip: its
 * tcpip thread, the core lock), over a loopback interface: 127.0.0.1 inside
 * lwIP, so nothing reaches the host's network. Four sessions, each checked:
 *
 *   message  EHLO; MAIL, two RCPTs and DATA pipelined; a 100 KiB message
 *            (lines of many lengths up to 998 octets, leading dots) compared
 *            octet for octet as the server delivers it; QUIT, and the client
 *            closes after its reply; the server sees the end
 *   dropped  the server closes on MAIL without answering: the client's
 *            pipelined group ends in SMTPC_ERR_CLOSED, nothing reported sent
 *   silent   a server that accepts and never greets: the client's greeting
 *            timeout (300 ms, from sys_now) ends the session
 *   refused  nothing listens on the port: SMTPC_ERR_CONNECT
 *
 * Prints one line per session; exit status 0 when all four pass.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwip/ip_addr.h"
#include "lwip/netif.h"
#include "lwip/sys.h"
#include "lwip/tcpip.h"
#include "smtpc_lwip.h"

#define MSG_LEN		 (100u * 1024u)
#define GREETING_TIMEOUT 300u
#define LOG_LEN		 256

enum { PORT_SMTP = 2525, PORT_NONE = 2526 };
enum { SERVE, DROP, SILENT }; /* what the server does */

static unsigned char message[MSG_LEN]; /* CRLF lines: delivered unchanged */
static size_t message_len;

static struct client {
	smtpc_lwip a;
	unsigned char rx[8192], tx[4096];
	size_t body_off;
	int in_body, done;
	u32_t started, ended;
	char log[LOG_LEN];
} cl;

static struct server {
	smtpc_lwip a;
	unsigned char rx[8192], tx[4096];
	size_t got;
	int mismatch, done, mode;
	char log[LOG_LEN];
} sv;

static sys_sem_t finished;
static int sessions_open;
static unsigned escaped; /* IPv4 packets that did not loop back */

static void add(char *log, const char *s)
{
	size_t n = strlen(log);

	snprintf(log + n, LOG_LEN - n, "%s%s", n ? ", " : "", s);
}

static void end_of(int *done)
{
	if (!*done) {
		*done = 1;
		if (--sessions_open == 0)
			sys_sem_signal(&finished);
	}
}

/* ---- the client: one message, then QUIT ----------------------------------- */

static void client_reply(smtpc_conn *c, const smtpc_reply *r)
{
	char s[64];

	snprintf(s, sizeof s, "%s %u", smtpc_cmd_name(r->cmd), r->code);
	add(cl.log, s);
	if (r->cmd == SMTPC_CMD_GREETING) {
		smtpc_ehlo(c, "client.example");
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
		cl.ended = sys_now();
		end_of(&cl.done);
	}
}

static void client_ready(smtpc_lwip *a)
{
	smtpc_event ev;
	smtpc_event_type t;
	size_t n;

	while (!cl.done && (t = smtpc_next_event(&a->core, &ev)) != SMTPC_EV_NEED_DATA) {
		if (t == SMTPC_EV_REPLY) {
			client_reply(&a->core, &ev.reply);
		} else if (t == SMTPC_EV_CLOSED || t == SMTPC_EV_ERROR) {
			add(cl.log, t == SMTPC_EV_CLOSED ? "CLOSED" : smtpc_err_name(ev.err));
			if (t == SMTPC_EV_ERROR && ev.err == SMTPC_ERR_TIMEOUT &&
			    smtpc_waiting_for(&a->core) == SMTPC_WAIT_GREETING)
				add(cl.log, "waiting for the greeting");
			cl.ended = sys_now();
			end_of(&cl.done);
		}
	}
	if (cl.in_body) { /* after the 354: the message, as far as tx has room */
		while (cl.body_off < message_len &&
		       (n = smtpc_body_write(&a->core, message + cl.body_off,
					     message_len - cl.body_off)) > 0)
			cl.body_off += n;
		if (cl.body_off == message_len && smtpc_body_end(&a->core) == SMTPC_ERR_OK)
			cl.in_body = 0;
	}
}

/* ---- the server: delivers into a comparison, never into memory ------------ */

static void server_ready(smtpc_lwip *a)
{
	static const smtpc_caps caps = {SMTPC_EXT_PIPELINING | SMTPC_EXT_8BITMIME, 0, 0, 0};
	smtpc_event ev;
	smtpc_event_type t;
	char s[96];

	while (!sv.done && (t = smtpc_next_event(&a->core, &ev)) != SMTPC_EV_NEED_DATA) {
		if (t == SMTPC_EV_COMMAND) {
			snprintf(s, sizeof s, "%s%s%.*s", smtpc_cmd_name(ev.command.cmd),
				 ev.command.arg_len ? " " : "", (int)ev.command.arg_len,
				 ev.command.arg);
			add(sv.log, s);
			if (ev.command.cmd == SMTPC_CMD_MAIL && sv.mode == DROP) {
				smtpc_lwip_close(a); /* no reply: the connection just ends */
				end_of(&sv.done);
			} else if (ev.command.cmd == SMTPC_CMD_EHLO)
				smtpc_server_reply_ehlo(&a->core, "mx.example", &caps);
			else if (ev.command.cmd == SMTPC_CMD_DATA)
				smtpc_server_reply(&a->core, 354, "Go ahead");
			else
				smtpc_server_reply(&a->core, 250, "2.0.0 Ok");
		} else if (t == SMTPC_EV_BODY) {
			if (sv.got + ev.body.len > message_len ||
			    memcmp(message + sv.got, ev.body.data, ev.body.len) != 0)
				sv.mismatch = 1;
			sv.got += ev.body.len;
		} else if (t == SMTPC_EV_BODY_END) {
			int same = ev.body_end.ok && !sv.mismatch && sv.got == message_len;
			snprintf(s, sizeof s, "message %s, %lu octets",
				 same ? "identical" : "differs", (unsigned long)sv.got);
			add(sv.log, s);
			smtpc_server_reply(&a->core, same ? 250 : 554, same ? "Queued" : "Differs");
		} else {
			add(sv.log, t == SMTPC_EV_CLOSED ? "CLOSED" : smtpc_err_name(ev.err));
			end_of(&sv.done);
		}
	}
}

static err_t server_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	static const smtpc_lwip zero;

	(void)arg;
	if (err != ERR_OK || pcb == NULL)
		return ERR_VAL;
	sv.a = zero;
	sv.a.ready = server_ready;
	sv.a.timeout[SMTPC_WAIT_NONE] = 300000; /* RFC 5321 4.5.3.2.7 */
	smtpc_server_init(&sv.a.core, NULL, sv.rx, sizeof sv.rx, sv.tx, sizeof sv.tx);
	if (sv.mode != SILENT)
		smtpc_server_greet(&sv.a.core, 220, "mx.example ESMTP");
	smtpc_lwip_attach(&sv.a, pcb);
	return ERR_OK;
}

/* ---- the loopback interface -------------------------------------------------------- */

static err_t drop4(struct netif *nif, struct pbuf *p, const ip4_addr_t *to)
{
	(void)nif;
	(void)p;
	(void)to;
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
 * (LWIP_NETIF_LOOPBACK); anything else would go to drop4 and is counted. */
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

/* Runs one session. Everything lwIP's thread also touches (the adapters,
 * the logs) is read and written here only with the core lock held: the
 * semaphore comes from inside a pump, and the lock waits for it to end. */
static int session(const char *name, u16_t port, int mode, u32_t greeting_timeout,
		   const char *want_client, const char *want_server)
{
	static const smtpc_lwip zero;
	static const u32_t rfc[SMTPC_WAIT_OTHER + 1] = {
	    [SMTPC_WAIT_GREETING] = 300000,   [SMTPC_WAIT_MAIL] = 300000,
	    [SMTPC_WAIT_RCPT] = 300000,	      [SMTPC_WAIT_DATA_START] = 120000,
	    [SMTPC_WAIT_DATA_BLOCK] = 180000, [SMTPC_WAIT_DATA_END] = 600000,
	    [SMTPC_WAIT_OTHER] = 300000};
	ip_addr_t loop;
	int ok;

	IP_ADDR4(&loop, 127, 0, 0, 1);
	LOCK_TCPIP_CORE();
	memset(cl.log, 0, sizeof cl.log);
	memset(sv.log, 0, sizeof sv.log);
	cl.a = zero;
	cl.body_off = 0;
	cl.in_body = cl.done = 0;
	sv.got = 0;
	sv.mismatch = 0;
	sv.done = want_server[0] == '\0'; /* no server in this session */
	sv.mode = mode;
	sessions_open = sv.done ? 1 : 2;
	memcpy(cl.a.timeout, rfc, sizeof rfc);
	cl.a.timeout[SMTPC_WAIT_GREETING] = greeting_timeout;
	cl.a.ready = client_ready;
	smtpc_init(&cl.a.core, NULL, cl.rx, sizeof cl.rx, cl.tx, sizeof cl.tx);
	cl.started = sys_now();
	if (smtpc_lwip_connect(&cl.a, &loop, port) != ERR_OK)
		add(cl.log, "tcp_connect failed");
	UNLOCK_TCPIP_CORE();
	if (sys_arch_sem_wait(&finished, 20000) == SYS_ARCH_TIMEOUT) {
		LOCK_TCPIP_CORE();
		printf("lwip: %s: no end\n  client: %s\n  server: %s\n", name, cl.log, sv.log);
		exit(1); /* its connections may still be live: run nothing after it */
	}
	LOCK_TCPIP_CORE();
	if (mode == SILENT) { /* the server never greeted: its side ends here */
		smtpc_lwip_close(&sv.a);
		smtpc_lwip_kick(&sv.a);
	}
	ok = strcmp(cl.log, want_client) == 0 && strcmp(sv.log, want_server) == 0 &&
	     (mode != SILENT || cl.ended - cl.started >= greeting_timeout);
	printf("lwip: %s: %s (%lu ms)\n", name, ok ? "ok" : "FAILED",
	       (unsigned long)(cl.ended - cl.started));
	if (!ok)
		printf("  client: %s\n  want:   %s\n  server: %s\n  want:   %s\n", cl.log,
		       want_client, sv.log, want_server);
	UNLOCK_TCPIP_CORE();
	return ok;
}

int main(void)
{
	static struct netif lo;
	ip4_addr_t ip, mask, gw;
	sys_sem_t started;
	char want[LOG_LEN];
	size_t i, line = 0;
	int ok = 1;

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
	if (sys_sem_new(&started, 0) != ERR_OK || sys_sem_new(&finished, 0) != ERR_OK)
		return 1;
	tcpip_init(up, &started);
	sys_arch_sem_wait(&started, 0);
	sys_sem_free(&started);
	IP4_ADDR(&ip, 127, 0, 0, 1);
	IP4_ADDR(&mask, 255, 0, 0, 0);
	IP4_ADDR(&gw, 0, 0, 0, 0);
	LOCK_TCPIP_CORE();
	netif_add(&lo, &ip, &mask, &gw, NULL, loop_init, ip_input);
	netif_set_default(&lo);
	netif_set_link_up(&lo);
	netif_set_up(&lo);
	if (smtpc_lwip_listen(IP4_ADDR_ANY, PORT_SMTP, server_accept, NULL) == NULL)
		ok = 0;
	UNLOCK_TCPIP_CORE();
	snprintf(want, sizeof want,
		 "EHLO client.example, MAIL from@example.org, RCPT one@example.net, "
		 "RCPT two@example.net, DATA, message identical, %lu octets, CLOSED",
		 (unsigned long)message_len);
	ok = ok && session("message", PORT_SMTP, SERVE, 300000,
			   "GREETING 220, EHLO 250, 4 in flight, MAIL 250, RCPT 250, RCPT 250, "
			   "DATA 354, DATA_END 250, QUIT 221",
			   want);
	ok = session("dropped", PORT_SMTP, DROP, 300000,
		     "GREETING 220, EHLO 250, 4 in flight, SMTPC_ERR_CLOSED",
		     "EHLO client.example, MAIL from@example.org") &&
	     ok;
	ok = session("silent", PORT_SMTP, SILENT, GREETING_TIMEOUT,
		     "SMTPC_ERR_TIMEOUT, waiting for the greeting", "") &&
	     ok;
	ok = session("refused", PORT_NONE, SERVE, 300000, "SMTPC_ERR_CONNECT", "") && ok;
	if (escaped != 0) {
		printf("lwip: %u packets left the loopback interface\n", escaped);
		ok = 0;
	}
	printf("lwip: %s\n", ok ? "ok" : "FAILED");
	fflush(stdout);
	sys_sem_free(&finished);
	return ok ? 0 : 1;
}
