/* The server role: commands, replies, strict DATA, BDAT, STARTTLS, AUTH;
 * transcripts at every split; client and server cores wired together. */
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OK(call) cr_assert_eq((call), SMTPC_ERR_OK, "%s failed", #call)

struct srv {
	smtpc_conn *c;
	sbuf log;	 /* events */
	sbuf body;	 /* the message being received */
	sbuf out;	 /* replies sent */
	int reject_rcpt; /* refuse recipients whose address starts with 'x' */
	int keep_out;	 /* leave replies in the transmit buffer (for a client) */
	int ends;	 /* messages ended so far */
	int chunk_ends;	 /* chunks ended so far */
};

static int check_pw(void *ctx, const char *u, size_t ul, const char *p, size_t pl)
{
	(void)ctx;
	return ul == 4 && memcmp(u, "user", 4) == 0 && pl == 6 && memcmp(p, "s3cret", 6) == 0;
}

/* How the application answers the ends of chunks and messages; tests set
 * these, srv_script puts them back. */
static int g_fail_chunk;    /* k: the k-th chunk end (from 1) could not be stored (452) */
static int g_fail_end;	    /* k + 1: message k could not be stored (451) */
static int g_fail_odd_rcpt; /* LMTP: recipients with odd numbers get 452 */

static smtpc_conn *srv_new(const smtpc_config *cfg)
{
	smtpc_config d;

	if (cfg == NULL) {
		smtpc_config_default(&d);
		cfg = &d;
	}
	size_t rx = smtpc_rx_min(cfg);
	smtpc_conn *c = calloc(1, sizeof *c);
	OK(smtpc_server_init(c, cfg, malloc(rx), rx, malloc(8192), 8192));
	return c;
}

static void srv_free(smtpc_conn *c)
{
	free(c->in);
	free(c->tx);
	free(c);
}

static void take_out(struct srv *s)
{
	size_t n;
	const unsigned char *p = smtpc_send_buf(s->c, &n);

	if (n && !s->keep_out) {
		sb_add(&s->out, "%.*s", (int)n, (const char *)p);
		smtpc_send_ack(s->c, n);
	}
}

static const smtpc_caps sink_caps = {SMTPC_EXT_PIPELINING | SMTPC_EXT_SIZE | SMTPC_EXT_8BITMIME |
					 SMTPC_EXT_CHUNKING | SMTPC_EXT_SMTPUTF8 | SMTPC_EXT_DSN |
					 SMTPC_EXT_ENHANCEDSTATUSCODES | SMTPC_EXT_STARTTLS |
					 SMTPC_EXT_AUTH,
				     0, 100000, 0};

/* The application: accepts everything, stores the message in s->body. */
static int srv_pump(struct srv *s)
{
	smtpc_event ev;

	for (;;) {
		smtpc_event_type t = smtpc_next_event(s->c, &ev);
		switch (t) {
		case SMTPC_EV_NEED_DATA:
			take_out(s);
			if (!s->keep_out && (smtpc_want(s->c) & SMTPC_WANT_EVENT))
				continue; /* it stopped for room to answer */
			return 0;
		case SMTPC_EV_COMMAND:
			sb_add(&s->log, "%s %.*s|%.*s\n", smtpc_cmd_name(ev.command.cmd),
			       (int)ev.command.arg_len, ev.command.arg, (int)ev.command.params_len,
			       ev.command.params);
			if (ev.command.cmd == SMTPC_CMD_EHLO || ev.command.cmd == SMTPC_CMD_LHLO)
				OK(smtpc_server_reply_ehlo(s->c, "sink.example", &sink_caps));
			else if (ev.command.cmd == SMTPC_CMD_DATA)
				OK(smtpc_server_reply(s->c, 354,
						      "End data with <CR><LF>.<CR><LF>"));
			else if (ev.command.cmd == SMTPC_CMD_RCPT && s->reject_rcpt &&
				 ev.command.arg[0] == 'x')
				OK(smtpc_server_reply(s->c, 550, "5.1.1 No such user"));
			else
				OK(smtpc_server_reply(s->c, 250, "2.0.0 Ok"));
			break;
		case SMTPC_EV_BODY:
			sb_add(&s->body, "%.*s", (int)ev.body.len, (const char *)ev.body.data);
			break;
		case SMTPC_EV_CHUNK_END: /* stored: acknowledged */
			sb_add(&s->log, "CHUNK#%u ok=%d size=%llu\n", ev.body_end.chunk,
			       ev.body_end.ok, (unsigned long long)ev.body_end.size);
			cr_assert_eq(smtpc_pending(s->c), ev.body_end.replies);
			if (!ev.body_end.ok || g_fail_chunk == s->chunk_ends + 1) {
				s->body.n = 0; /* not stored: dropped */
				if (s->body.s)
					s->body.s[0] = '\0';
			}
			if (ev.body_end.ok && g_fail_chunk == ++s->chunk_ends) {
				OK(smtpc_server_reply(s->c, 452,
						      "4.3.1 Insufficient system storage\n"
						      "4.3.1 the chunk was not stored"));
			} else if (ev.body_end.ok) {
				char txt[64];
				snprintf(txt, sizeof txt, "2.0.0 %llu octets received",
					 (unsigned long long)ev.body_end.size);
				OK(smtpc_server_reply(s->c, 250, txt));
			}
			break;
		case SMTPC_EV_BODY_END:
			sb_add(&s->log, "END ok=%d size=%llu why=%s body=%s\n", ev.body_end.ok,
			       (unsigned long long)ev.body_end.size,
			       ev.body_end.ok ? "-" : smtpc_err_name(ev.body_end.why) + 10,
			       s->body.s ? s->body.s : "");
			s->body.n = 0;
			if (s->body.s)
				s->body.s[0] = '\0';
			cr_assert_eq(smtpc_pending(s->c), ev.body_end.replies);
			if (!ev.body_end.ok)
				break;
			if (g_fail_end == ++s->ends) {
				OK(smtpc_server_reply(s->c, 451,
						      "4.3.0 Cannot store the message now"));
				break;
			}
			for (unsigned rcpt; smtpc_server_reply_rcpt(s->c, &rcpt);) { /* LMTP */
				sb_add(&s->log, "LMTP rcpt %u of %zu\n", rcpt, smtpc_pending(s->c));
				if (g_fail_odd_rcpt && rcpt % 2)
					OK(smtpc_server_reply(s->c, 452, "4.2.2 Mailbox full"));
				else
					OK(smtpc_server_reply(s->c, 250, "2.0.0 Ok: delivered"));
			}
			if (smtpc_pending(s->c))
				OK(smtpc_server_reply(s->c, 250, "2.0.0 Ok: queued"));
			cr_assert_eq(smtpc_server_reply(s->c, 250, "extra"), SMTPC_ERR_STATE);
			break;
		case SMTPC_EV_STARTTLS:
			sb_add(&s->log, "STARTTLS\n");
			take_out(s);
			return 0;
		case SMTPC_EV_CLOSED:
			sb_add(&s->log, "CLOSED\n");
			take_out(s);
			return 1;
		case SMTPC_EV_ERROR:
			sb_add(&s->log, "ERROR %s\n", smtpc_err_name(ev.err) + 10);
			take_out(s);
			return 1;
		default:
			cr_assert_fail("unexpected event %d", t);
		}
	}
}

/* Feeds client bytes cut at the given points; returns log + replies. */
static char *srv_run(const smtpc_config *cfg, const char *in, size_t len, const size_t *cuts,
		     size_t ncuts, void (*setup)(smtpc_conn *))
{
	struct srv s;
	size_t prev = 0, i;
	int done = 0;

	memset(&s, 0, sizeof s);
	s.c = srv_new(cfg);
	s.reject_rcpt = 1;
	smtpc_server_set_auth(s.c, check_pw, NULL);
	if (setup)
		setup(s.c);
	OK(smtpc_server_greet(s.c, 220, "sink.example ESMTP"));
	for (i = 0; i <= ncuts && !done; i++) {
		size_t end = i < ncuts ? cuts[i] : len;
		const char *p = in + prev;
		size_t n = end - prev;
		while (n > 0 && !done) {
			size_t k = smtpc_feed(s.c, p, n);
			p += k;
			n -= k;
			done = srv_pump(&s);
		}
		prev = end;
	}
	if (!done) {
		smtpc_eof(s.c);
		srv_pump(&s);
	}
	sb_add(&s.log, "---\n%s", s.out.s ? s.out.s : "");
	sb_free(&s.body);
	sb_free(&s.out);
	srv_free(s.c);
	return s.log.s;
}

/* Every split must give the same events and the same replies. */
static void srv_script_(const smtpc_config *cfg, const char *in, size_t len, const char *want,
			void (*setup)(smtpc_conn *));

static void srv_script(const smtpc_config *cfg, const char *in, size_t len, const char *want,
		       void (*setup)(smtpc_conn *))
{
	srv_script_(cfg, in, len, want, setup);
	g_fail_chunk = g_fail_end = g_fail_odd_rcpt = 0;
}

static void srv_script_(const smtpc_config *cfg, const char *in, size_t len, const char *want,
			void (*setup)(smtpc_conn *))
{
	size_t *cuts = malloc((len + 1) * sizeof *cuts), k, size;
	char *got = srv_run(cfg, in, len, NULL, 0, setup);

	cr_assert_str_eq(got, want, "whole input\n got:\n%s\n want:\n%s", got, want);
	free(got);
	for (k = 1; k < len; k++) {
		got = srv_run(cfg, in, len, &k, 1, setup);
		cr_assert_str_eq(got, want, "split at %zu\n got:\n%s", k, got);
		free(got);
	}
	for (size = 1; size < 8 && size < len; size++) {
		size_t n = 0;
		for (k = size; k < len; k += size)
			cuts[n++] = k;
		got = srv_run(cfg, in, len, cuts, n, setup);
		cr_assert_str_eq(got, want, "chunks of %zu\n got:\n%s", size, got);
		free(got);
	}
	free(cuts);
}

#define SCRIPT(in, want) srv_script(NULL, in, sizeof in - 1, want, NULL)

static const char EHLO_REPLY[] = "220 sink.example ESMTP\r\n250-sink.example\r\n250-PIPELINING\r\n"
				 "250-8BITMIME\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n250-DSN\r\n"
				 "250-ENHANCEDSTATUSCODES\r\n250 SIZE 100000\r\n";

Test(server, session_with_dot_unstuffing_any_split)
{
	static const char in[] =
	    "EHLO client.example\r\nMAIL FROM:<a@example.com> SIZE=20\r\n"
	    "RCPT TO:<b@example.com>\r\nDATA\r\nSubject: x\r\n\r\n..dot\r\n.\r\n"
	    "QUIT\r\n";
	char want[2048];
	snprintf(want, sizeof want,
		 "EHLO client.example|\nMAIL a@example.com|SIZE=20\nRCPT b@example.com|\nDATA |\n"
		 "END ok=1 size=20 why=- body=Subject: x\r\n\r\n.dot\r\n\nCLOSED\n---\n%s"
		 "250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
		 "250 2.0.0 Ok: queued\r\n221 2.0.0 Bye\r\n",
		 EHLO_REPLY);
	SCRIPT(in, want);
}

Test(server, smuggling_sequences_are_refused_after_the_real_end)
{
	/* each hides a "." line that a lax reader takes for the end, then a
	 * second transaction; only the real CRLF.CRLF ends the data */
	static const char *const tricks[] = {"\r\n.\n", "\n.\n",	 "\r.\r",
					     "\n.\r\n", "\r\r\n.\r\r\n", "\r\n.\r"};
	/* octets delivered before the bad line was seen: the application drops
	 * them when the end says ok=0 */
	static const char *const before[] = {
	    "size=7 why=DATA_BARE_EOL body=hello\r\n", "size=0 why=DATA_BARE_EOL body=",
	    "size=0 why=DATA_BARE_EOL body=",	       "size=0 why=DATA_BARE_EOL body=",
	    "size=0 why=DATA_BARE_EOL body=",	       "size=7 why=DATA_BARE_EOL body=hello\r\n"};
	for (size_t i = 0; i < sizeof tricks / sizeof tricks[0]; i++) {
		char in[512], want[2048];
		int n = snprintf(
		    in, sizeof in,
		    "EHLO c.example\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n"
		    "DATA\r\nhello%sMAIL FROM:<evil@example.com>\r\nRCPT TO:<v@example.com>\r\n"
		    "DATA\r\nsmuggled\r\n.\r\nQUIT\r\n",
		    tricks[i]);
		snprintf(want, sizeof want,
			 "EHLO c.example|\nMAIL a@example.com|\nRCPT b@example.com|\nDATA |\n"
			 "END ok=0 %s\nCLOSED\n---\n%s250 2.0.0 Ok\r\n"
			 "250 2.0.0 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
			 "554 5.6.0 Error: bare CR or LF in message data; not accepted\r\n221 "
			 "2.0.0 Bye\r\n",
			 before[i], EHLO_REPLY);
		srv_script(NULL, in, (size_t)n, want, NULL);
	}
}

Test(server, commands_refused_not_acted_on)
{
	static const char in[] =
	    "MAIL FROM:<a@example.com>\r\nEHLO bad..domain\r\nEHLO c.example\r\n"
	    "RCPT TO:<b@example.com>\r\nDATA\r\nMAIL FROM:<a@example.com>\x01\r\n"
	    "MAIL FROM:<a@example.com>\n"
	    "MAIL FROM:<bad address>\r\nMAIL TO:<a@example.com>\r\n"
	    "MAIL FROM:<a@example.com>\r\nMAIL FROM:<a@example.com>\r\n"
	    "DATA\r\nRCPT TO:<x@example.com>\r\nDATA\r\nRCPT TO:postmaster\r\n"
	    "XYZZY\r\nNOOP\r\nVRFY root\r\nHELP\r\nEXPN list\r\nSTARTTLS\r\n"
	    "RSET\r\nRCPT TO:<b@example.com>\r\nQUIT\r\n";
	char want[4096];
	snprintf(
	    want, sizeof want,
	    "EHLO c.example|\nMAIL a@example.com|\nRCPT x@example.com|\nCLOSED\n---\n"
	    "220 sink.example ESMTP\r\n"
	    "503 5.5.1 Error: send EHLO or HELO first\r\n"
	    "501 5.5.4 Syntax: EHLO domain or address literal\r\n%s"
	    "503 5.5.1 Error: need MAIL command\r\n503 5.5.1 Error: need MAIL command\r\n"
	    "500 5.5.2 Error: control character in command\r\n"
	    "500 5.5.2 Error: bare LF in command\r\n"
	    "553 5.1.7 Bad sender address syntax\r\n"
	    "501 5.5.4 Syntax: MAIL FROM:<address> [parameters]\r\n250 2.0.0 Ok\r\n"
	    "503 5.5.1 Error: nested MAIL command\r\n554 5.5.1 Error: no valid recipients\r\n"
	    "550 5.1.1 No such user\r\n554 5.5.1 Error: no valid recipients\r\n"
	    "501 5.5.4 Syntax: RCPT TO:<address> [parameters]\r\n"
	    "500 5.5.1 Error: command not recognized\r\n250 2.0.0 Ok\r\n"
	    "252 2.0.0 Cannot VRFY, but will accept the message\r\n214 2.0.0 See RFC 5321\r\n"
	    "500 5.5.1 Error: command not recognized\r\n502 5.5.1 Error: STARTTLS not available\r\n"
	    "250 2.0.0 Ok\r\n503 5.5.1 Error: need MAIL command\r\n221 2.0.0 Bye\r\n",
	    EHLO_REPLY + 24);
	SCRIPT(in, want);
}

Test(server, line_limits)
{
	char *in = malloc(20000), *want = malloc(40000);
	size_t n = 0;

	n += (size_t)sprintf(in + n, "EHLO c.example\r\nNOOP ");
	memset(in + n, 'x', 505); /* "NOOP " + 505 + CRLF = 512: fine */
	n += 505;
	n += (size_t)sprintf(in + n, "\r\nNOOP ");
	memset(in + n, 'x', 506); /* 513: refused */
	n += 506;
	n += (size_t)sprintf(in + n, "\r\nNOOP ");
	memset(in + n, 'y', 9000); /* longer than the input area: dropped as it comes */
	n += 9000;
	n += (size_t)sprintf(
	    in + n, "\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
	memset(in + n, 't', 998); /* 998 + CRLF = 1000: fine */
	n += 998;
	n += (size_t)sprintf(
	    in + n, "\r\n.\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
	memset(in + n, 't', 999); /* 1001: the message is refused */
	n += 999;
	n += (size_t)sprintf(in + n, "\r\nok\r\n.\r\nQUIT\r\n");
	char body[1100];
	memset(body, 't', 998);
	memcpy(body + 998, "\r\n", 3);
	snprintf(
	    want, 40000,
	    "EHLO c.example|\nMAIL a@example.com|\nRCPT b@example.com|\nDATA |\n"
	    "END ok=1 size=1000 why=- body=%s\nMAIL a@example.com|\nRCPT b@example.com|\nDATA |\n"
	    "END ok=0 size=0 why=DATA_LINE_LONG body=\nCLOSED\n---\n%s250 2.0.0 Ok\r\n"
	    "500 5.5.2 Error: line too long\r\n500 5.5.2 Error: line too long\r\n"
	    "250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
	    "250 2.0.0 Ok: queued\r\n250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n"
	    "354 End data with <CR><LF>.<CR><LF>\r\n"
	    "500 5.5.2 Error: message line too long; not accepted\r\n221 2.0.0 Bye\r\n",
	    body, EHLO_REPLY);
	char *got = srv_run(NULL, in, n, NULL, 0, NULL);
	cr_assert_str_eq(got, want, "got:\n%s", got);
	free(got);
	for (size_t k = 1; k < n; k += 97) { /* splits across the long lines */
		got = srv_run(NULL, in, n, &k, 1, NULL);
		cr_assert_str_eq(got, want, "split at %zu\n got:\n%s", k, got);
		free(got);
	}
	free(in);
	free(want);
}

Test(server, size_enforced_while_reading)
{
	smtpc_config cfg;
	static const char in[] =
	    "EHLO c.example\r\nMAIL FROM:<a@example.com> SIZE=91\r\n"
	    "MAIL FROM:<a@example.com> SIZE=50\r\nRCPT TO:<b@example.com>\r\n"
	    "DATA\r\n0123456789012345678901234567890123456789\r\n"
	    "0123456789012345678901234567890123456789\r\n0123456789\r\n.\r\nQUIT\r\n";
	smtpc_config_default(&cfg);
	cfg.max_message = 90;
	char want[2048];
	snprintf(want, sizeof want,
		 "EHLO c.example|\nMAIL a@example.com|SIZE=50\nRCPT b@example.com|\nDATA |\n"
		 "END ok=0 size=84 why=TOO_BIG body=0123456789012345678901234567890123456789\r\n"
		 "0123456789012345678901234567890123456789\r\n\nCLOSED\n---\n%s"
		 "552 5.3.4 Message size exceeds fixed limit\r\n250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n"
		 "354 End data with <CR><LF>.<CR><LF>\r\n"
		 "552 5.3.4 Error: message too big; not accepted\r\n221 2.0.0 Bye\r\n",
		 EHLO_REPLY);
	srv_script(&cfg, in, sizeof in - 1, want, NULL);
}

Test(server, bdat_chunks_exact)
{
	static const char in[] =
	    "EHLO c.example\r\nBDAT 3\r\nabcMAIL FROM:<a@example.com>\r\n"
	    "RCPT TO:<b@example.com>\r\nBDAT 5\r\nab\r\n.BDAT 0\r\nBDAT 4 LAST\r\n"
	    "\r\nxyQUIT\r\n";
	char want[2048];
	snprintf(want, sizeof want,
		 "EHLO c.example|\nMAIL a@example.com|\nRCPT b@example.com|\nCHUNK#0 ok=1 size=5\n"
		 "CHUNK#1 ok=1 size=5\nEND ok=1 size=9 why=- body=ab\r\n.\r\nxy\nCLOSED\n---\n%s"
		 "503 5.5.1 Error: need MAIL command\r\n250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n"
		 "250 2.0.0 5 octets received\r\n250 2.0.0 5 octets received\r\n"
		 "250 2.0.0 Ok: queued\r\n221 2.0.0 Bye\r\n",
		 EHLO_REPLY);
	SCRIPT(in, want);
}

static void allow_tls(smtpc_conn *c)
{
	smtpc_server_allow_starttls(c, 1);
}

Test(server, starttls_pause_and_injection)
{
	char want[2048];
	snprintf(want, sizeof want,
		 "EHLO c.example|\nSTARTTLS\n---\n%.*s250-STARTTLS\r\n250 SIZE 100000\r\n"
		 "220 2.0.0 Ready to start TLS\r\n",
		 (int)(sizeof EHLO_REPLY - 1 - 18), EHLO_REPLY);
	static const char in[] = "EHLO c.example\r\nSTARTTLS\r\n";
	char *got = srv_run(NULL, in, sizeof in - 1, NULL, 0, allow_tls);
	(void)got;
	free(got);
	/* commands pipelined after STARTTLS are plaintext injection */
	static const char inj[] = "EHLO c.example\r\nSTARTTLS\r\nMAIL FROM:<a@example.com>\r\n";
	got = srv_run(NULL, inj, sizeof inj - 1, NULL, 0, allow_tls);
	cr_assert(strstr(got, "ERROR STARTTLS_INJECTION\n") != NULL, "%s", got);
	cr_assert(strstr(got, "MAIL") == NULL, "%s", got);
	free(got);

	/* after the handshake: EHLO again, STARTTLS no longer offered */
	smtpc_conn *c = srv_new(NULL);
	smtpc_event ev;
	allow_tls(c);
	OK(smtpc_server_greet(c, 220, "hi"));
	smtpc_feed(c, "EHLO a.example\r\nSTARTTLS\r\n", 26);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_COMMAND);
	OK(smtpc_server_reply_ehlo(c, "s.example", &sink_caps));
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_STARTTLS);
	cr_assert_eq(smtpc_want(c) & SMTPC_WANT_TLS, SMTPC_WANT_TLS);
	OK(smtpc_tls_started(c));
	tx_take(c);
	smtpc_feed(c, "MAIL FROM:<a@example.com>\r\nEHLO a.example\r\n", 43);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_COMMAND); /* EHLO: MAIL was refused */
	cr_assert_eq(ev.command.cmd, SMTPC_CMD_EHLO);
	OK(smtpc_server_reply_ehlo(c, "s.example", &sink_caps));
	const char *out = tx_take(c);
	cr_assert(strncmp(out, "503 5.5.1 Error: send EHLO", 26) == 0, "%s", out);
	cr_assert(strstr(out, "STARTTLS") == NULL, "%s", out);
	cr_assert(smtpc_is_secure(c));
	srv_free(c);
}

Test(server, auth_plain_and_login)
{
	smtpc_config cfg;
	smtpc_config_default(&cfg);
	cfg.allow_plain_auth = 1;
	static const char in[] = "EHLO c.example\r\nAUTH PLAIN AHVzZXIAczNjcmV0\r\n"
				 "AUTH LOGIN\r\n";
	char *got = srv_run(&cfg, in, sizeof in - 1, NULL, 0, NULL);
	cr_assert(strstr(got, "250 AUTH PLAIN LOGIN\r\n") != NULL, "%s", got);
	cr_assert(strstr(got, "235 2.7.0 Authentication successful\r\n"
			      "503 5.5.1 Error: AUTH not allowed now\r\n") != NULL,
		  "%s", got);
	free(got);
	static const char in2[] =
	    "EHLO c.example\r\nAUTH LOGIN\r\ndXNlcg==\r\nd3Jvbmc=\r\n"
	    "AUTH LOGIN dXNlcg==\r\n*\r\nAUTH PLAIN\r\n!!!\r\nAUTH CRAM-MD5\r\n"
	    "AUTH LOGIN\r\ndXNlcg==\r\nczNjcmV0\r\n";
	got = srv_run(&cfg, in2, sizeof in2 - 1, NULL, 0, NULL);
	cr_assert(strstr(got, "334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n535 5.7.8 Authentication "
			      "credentials invalid\r\n334 UGFzc3dvcmQ6\r\n501 5.7.0 Authentication "
			      "cancelled\r\n334 \r\n501 5.5.2 Cannot decode the response\r\n"
			      "504 5.5.4 Unrecognized authentication type\r\n334 VXNlcm5hbWU6\r\n"
			      "334 UGFzc3dvcmQ6\r\n235 2.7.0") != NULL,
		  "%s", got);
	free(got);
	/* not over clear text by default */
	got = srv_run(NULL, in, sizeof in - 1, NULL, 0, NULL);
	cr_assert(strstr(got, "AUTH PLAIN LOGIN") == NULL, "%s", got);
	cr_assert(strstr(got, "538 5.7.11") != NULL, "%s", got);
	free(got);
}

Test(server, api_misuse)
{
	smtpc_conn *c = srv_new(NULL);

	cr_assert_eq(smtpc_server_reply(c, 250, "x"), SMTPC_ERR_STATE);
	cr_assert_eq(smtpc_server_greet(c, 99, "x"), SMTPC_ERR_BAD_PARAM);
	cr_assert_eq(smtpc_server_greet(c, 220, "a\rb"), SMTPC_ERR_CTRL_CHAR);
	OK(smtpc_server_greet(c, 220, "multi\nline"));
	cr_assert_str_eq(tx_take(c), "220-multi\r\n220 line\r\n");
	cr_assert_eq(smtpc_server_greet(c, 220, "again"), SMTPC_ERR_STATE);
	cr_assert_eq(smtpc_server_reply(NULL, 250, "x"), SMTPC_ERR_NULL_ARG);
	cr_assert_eq(smtpc_server_reply_ehlo(c, "x", &sink_caps), SMTPC_ERR_STATE);
	srv_free(c);
}

/* ---- client and server wired together ------------------------------------------ */

/* Shuttles bytes both ways until neither side moves. */
static void shuttle(smtpc_conn *cl, struct srv *s, sbuf *clog)
{
	for (int round = 0; round < 10000; round++) {
		size_t n, moved = 0;
		const unsigned char *p = smtpc_send_buf(cl, &n);
		if (n) {
			size_t k = smtpc_feed(s->c, p, n);
			smtpc_send_ack(cl, k);
			moved += k;
		}
		srv_pump(s);
		p = smtpc_send_buf(s->c, &n);
		if (n) {
			feed_all(cl, p, n, clog);
			smtpc_send_ack(s->c, n);
			moved += n;
		}
		if (!moved)
			return;
	}
	cr_assert_fail("no end");
}

/* A server core and a client core wired together, past the greeting and
 * EHLO; reject: refuse recipients starting with 'x'. */
static void pair_open(struct srv *s, smtpc_conn **cl, sbuf *clog, int reject,
		      void (*setup)(smtpc_conn *))
{
	memset(s, 0, sizeof *s);
	s->c = srv_new(NULL);
	s->keep_out = 1;
	s->reject_rcpt = reject;
	if (setup)
		setup(s->c);
	OK(smtpc_server_greet(s->c, 220, "pair"));
	*cl = tc_new(NULL, 0);
	shuttle(*cl, s, clog);
	OK(smtpc_ehlo(*cl, "client.example"));
	shuttle(*cl, s, clog);
}

static void pair_close(struct srv *s, smtpc_conn *cl, sbuf *clog)
{
	sb_free(clog);
	sb_free(&s->log);
	sb_free(&s->body);
	sb_free(&s->out);
	srv_free(s->c);
	tc_free(cl);
}

static void tls_and_auth(smtpc_conn *c)
{
	smtpc_server_allow_starttls(c, 1);
	smtpc_server_set_auth(c, check_pw, NULL);
}

Test(pair, random_bodies_arrive_exactly_with_and_without_pipelining)
{
	unsigned seed = 7;

	for (int iter = 0; iter < 60; iter++) {
		struct srv s;
		sbuf clog = {0};
		smtpc_conn *cl;
		char body[3000];
		size_t n;

		pair_open(&s, &cl, &clog, 0, NULL);
		seed = seed * 1103515245u + 12345u;
		n = (seed >> 16) % sizeof body;
		for (size_t i = 0; i < n; i++) {
			static const char alpha[] = "ab.\r\n \xc3\xa9";
			seed = seed * 1103515245u + 12345u;
			body[i] = alpha[(seed >> 16) % (sizeof alpha - 1)];
		}
		cr_assert(smtpc_get_caps(cl)->ext & SMTPC_EXT_PIPELINING);
		if (iter % 2) /* without pipelining: strip it */
			cl->u.cl.caps.ext &= ~SMTPC_EXT_PIPELINING;
		OK(smtpc_mail(cl, "a@example.com", NULL));
		if (iter % 2)
			shuttle(cl, &s, &clog);
		OK(smtpc_rcpt(cl, "b@example.com", NULL));
		if (iter % 2)
			shuttle(cl, &s, &clog);
		OK(smtpc_data(cl));
		shuttle(cl, &s, &clog);
		size_t done = 0;
		while (done < n) {
			done += smtpc_body_write(cl, body + done, n - done);
			shuttle(cl, &s, &clog);
		}
		OK(smtpc_body_end(cl));
		shuttle(cl, &s, &clog);
		/* what the server stored is the body with its line ends normalised */
		sbuf want = {0};
		for (size_t i = 0; i < n; i++) {
			if (body[i] == '\r' || body[i] == '\n') {
				sb_add(&want, "\r\n");
				if (body[i] == '\r' && i + 1 < n && body[i + 1] == '\n')
					i++;
			} else {
				sb_add(&want, "%c", body[i]);
			}
		}
		if (n && body[n - 1] != '\r' && body[n - 1] != '\n')
			sb_add(&want, "\r\n");
		char *end = strstr(s.log.s, "END ok=1");
		cr_assert_not_null(end, "iteration %d: %s", iter, s.log.s);
		char *stored = strstr(end, "body=") + 5;
		cr_assert_eq(strncmp(stored, want.s ? want.s : "", want.n), 0, "iteration %d",
			     iter);
		cr_assert_eq(stored[want.n], '\n');
		cr_assert(strstr(clog.s, "R 250 DATA_END [2.0.0] 2.0.0 Ok: queued\n") != NULL, "%s",
			  clog.s);
		sb_free(&want);
		pair_close(&s, cl, &clog);
	}
}

Test(pair, extensions_both_sides_understand)
{
	struct srv s;
	sbuf clog = {0};
	smtpc_conn *cl;
	smtpc_mail_opts mo = {0};
	smtpc_rcpt_opts ro = {0};

	pair_open(&s, &cl, &clog, 1, NULL);
	/* SIZE: the client refuses a message over the server's limit itself */
	mo.size = 100001;
	cr_assert_eq(smtpc_mail(cl, "a@example.com", &mo), SMTPC_ERR_TOO_BIG);
	/* SMTPUTF8, 8BITMIME, DSN, CHUNKING, and one refused recipient */
	mo.size = 5;
	mo.smtputf8 = 1;
	mo.body = SMTPC_BODY_8BITMIME;
	mo.envid = "id+1";
	ro.notify = SMTPC_NOTIFY_FAILURE;
	OK(smtpc_mail(cl, "j\xc3\xb6rg@example.com", &mo));
	OK(smtpc_rcpt(cl, "b@example.com", &ro));
	OK(smtpc_rcpt(cl, "x@example.com", NULL));
	OK(smtpc_bdat(cl, 5, 1));
	cr_assert_eq(smtpc_body_write(cl, "\xc3\xa9t\xc3\xa9", 5), 5);
	shuttle(cl, &s, &clog);
	cr_assert(strstr(s.log.s, "MAIL j\xc3\xb6rg@example.com|SIZE=5 BODY=8BITMIME SMTPUTF8 "
				  "ENVID=id+2B1\n") != NULL,
		  "%s", s.log.s);
	cr_assert(strstr(s.log.s, "RCPT b@example.com|NOTIFY=FAILURE\n") != NULL, "%s", s.log.s);
	cr_assert(strstr(s.log.s, "END ok=1 size=5 why=- body=\xc3\xa9t\xc3\xa9\n") != NULL, "%s",
		  s.log.s);
	cr_assert(strstr(clog.s, "R 550 RCPT#1 [5.1.1] 5.1.1 No such user\n") != NULL, "%s",
		  clog.s);
	cr_assert(strstr(clog.s, "R 250 BDAT#0 [2.0.0] 2.0.0 Ok: queued\n") != NULL, "%s", clog.s);
	/* a 421 mid-transaction ends it for the client */
	OK(smtpc_mail(cl, "a@example.com", NULL));
	shuttle(cl, &s, &clog);
	smtpc_feed(cl, "421 4.3.2 shutting down\r\n", 25);
	drain(cl, &clog);
	cr_assert_eq(smtpc_rcpt(cl, "b@example.com", NULL), SMTPC_ERR_ENDED);
	pair_close(&s, cl, &clog);
}

Test(server, many_pipelined_commands_wait_for_room_then_go_on)
{
	/* 400 NOOPs in one read: the replies need more room than the transmit
	 * buffer has, so the core stops, and goes on once they are sent */
	sbuf in = {0}, want = {0};
	for (int i = 0; i < 400; i++) {
		sb_add(&in, "NOOP\r\n");
		sb_add(&want, "250 2.0.0 Ok\r\n");
	}
	sb_add(&in, "QUIT\r\n");
	char *got = srv_run(NULL, in.s, in.n, NULL, 0, NULL);
	cr_assert(strstr(got, want.s) != NULL);
	cr_assert(strstr(got, "221 2.0.0 Bye\r\n") != NULL);
	free(got);
	sb_free(&in);
	sb_free(&want);
}

Test(pair, starttls_pause_then_auth_on_both_sides)
{
	struct srv s;
	sbuf clog = {0};
	smtpc_conn *cl;
	smtpc_event ev;

	pair_open(&s, &cl, &clog, 0, tls_and_auth);
	cr_assert(smtpc_get_caps(cl)->ext & SMTPC_EXT_STARTTLS);
	cr_assert_eq(smtpc_get_caps(cl)->ext & SMTPC_EXT_AUTH, 0); /* not before TLS */
	OK(smtpc_starttls(cl));
	shuttle(cl, &s, &clog);
	/* both sides paused; here a TLS layer would run its handshake */
	cr_assert(strstr(clog.s, "TLS\n") != NULL, "%s", clog.s);
	cr_assert(strstr(s.log.s, "STARTTLS\n") != NULL, "%s", s.log.s);
	cr_assert_eq(smtpc_want(cl) & SMTPC_WANT_TLS, SMTPC_WANT_TLS);
	cr_assert_eq(smtpc_want(s.c) & SMTPC_WANT_TLS, SMTPC_WANT_TLS);
	OK(smtpc_tls_started(cl));
	OK(smtpc_tls_started(s.c));
	cr_assert_eq(smtpc_get_caps(cl)->ext, 0); /* forgotten: EHLO again */
	OK(smtpc_ehlo(cl, "client.example"));
	shuttle(cl, &s, &clog);
	cr_assert(smtpc_get_caps(cl)->auth & SMTPC_AUTH_LOGIN);
	cr_assert_eq(smtpc_get_caps(cl)->ext & SMTPC_EXT_STARTTLS, 0);
	OK(smtpc_auth(cl, SMTPC_MECH_LOGIN, "user", "s3cret")); /* the client answers each 334 */
	shuttle(cl, &s, &clog);
	cr_assert(smtpc_is_authenticated(cl));
	cr_assert(strstr(clog.s, "R 235 AUTH [2.7.0] 2.7.0 Authentication successful\n") != NULL,
		  "%s", clog.s);
	OK(smtpc_mail(cl, "a@example.com", NULL));
	OK(smtpc_rcpt(cl, "b@example.com", NULL));
	OK(smtpc_data(cl));
	shuttle(cl, &s, &clog);
	cr_assert_eq(smtpc_body_write(cl, "secure\n", 7), 7);
	OK(smtpc_body_end(cl));
	shuttle(cl, &s, &clog);
	cr_assert(strstr(s.log.s, "END ok=1 size=8 why=- body=secure\r\n\n") != NULL, "%s",
		  s.log.s);
	OK(smtpc_quit(cl));
	shuttle(cl, &s, &clog);
	cr_assert_eq(smtpc_next_event(s.c, &ev), SMTPC_EV_CLOSED);
	pair_close(&s, cl, &clog);
}

/* ---- message data limits ------------------------------------------------------------ */

static char *build(size_t *n, const char *parts[][2], size_t count)
{
	sbuf b = {0};

	for (size_t i = 0; i < count; i++) {
		if (parts[i][1] == NULL) {
			sb_add(&b, "%s", parts[i][0]);
		} else { /* parts[i][0] repeated atoi(parts[i][1]) times */
			for (int k = atoi(parts[i][1]); k > 0; k--)
				sb_add(&b, "%s", parts[i][0]);
		}
	}
	*n = b.n;
	return b.s;
}

#define TXN	"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n"
#define TXN_EV	"MAIL a@example.com|\nRCPT b@example.com|\nDATA |\n"
#define TXN_OUT "250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"

Test(server, a_doubled_dot_does_not_count_toward_the_line_limit)
{
	/* RFC 5321 4.5.3.1.6: a 998-octet line that starts with a dot goes out
	 * as 999 octets and its CRLF; found in review: refused */
	const char *parts[][2] = {{"EHLO c.example\r\n" TXN "..", NULL},
				  {"x", "997"},
				  {"\r\n.\r\n" TXN "..", NULL},
				  {"x", "998"},
				  {"\r\n.\r\n" TXN, NULL},
				  {"y", "999"},
				  {"\r\n.\r\nQUIT\r\n", NULL}};
	size_t n;
	char *in = build(&n, parts, sizeof parts / sizeof parts[0]);
	sbuf want = {0};
	sb_add(&want, "EHLO c.example|\n" TXN_EV "END ok=1 size=1000 why=- body=.");
	for (int i = 0; i < 997; i++)
		sb_add(&want, "x");
	sb_add(&want,
	       "\r\n\n" TXN_EV "END ok=0 size=0 why=DATA_LINE_LONG body=\n" TXN_EV
	       "END ok=0 size=0 why=DATA_LINE_LONG body=\nCLOSED\n---\n%s" TXN_OUT
	       "250 2.0.0 Ok: queued\r\n" TXN_OUT
	       "500 5.5.2 Error: message line too long; not accepted\r\n" TXN_OUT
	       "500 5.5.2 Error: message line too long; not accepted\r\n221 2.0.0 Bye\r\n",
	       EHLO_REPLY);
	srv_script(NULL, in, n, want.s, NULL);
	free(in);
	sb_free(&want);
}

static char *line_of(size_t len, int dot)
{
	char *s = malloc(len + 3);
	memset(s, 'x', len);
	if (dot)
		s[0] = s[1] = '.';
	memcpy(s + len, "\r\n", 3);
	return s;
}

/* Sends one message made of one line; returns 1 when it was accepted. */
static int one_line_accepted(const smtpc_config *cfg, size_t len, int dot)
{
	char *line = line_of(len, dot);
	sbuf in = {0};
	sb_add(&in, "EHLO c.example\r\n" TXN "%s.\r\n", line);
	char *got = srv_run(cfg, in.s, in.n, NULL, 0, NULL);
	int ok = strstr(got, "END ok=1") != NULL;
	cr_assert(ok || strstr(got, "why=DATA_LINE_LONG"), "%s", got);
	free(got);
	free(line);
	sb_free(&in);
	return ok;
}

Test(server, max_text_line_is_clamped_as_the_header_says)
{
	smtpc_config cfg;

	smtpc_config_default(&cfg);
	cfg.max_line = 600; /* max_text_line: 601 with the CRLF */
	cr_assert(one_line_accepted(&cfg, 599, 0));
	cr_assert(!one_line_accepted(&cfg, 600, 0));
	cr_assert(one_line_accepted(&cfg, 600, 1)); /* ".." + 598: 599 once unstuffed */
	cr_assert(!one_line_accepted(&cfg, 601, 1));
	cfg.max_line = 2048;
	cfg.max_text_line = 500; /* below RFC 5321's 1000: raised to it */
	cr_assert(one_line_accepted(&cfg, 998, 0));
	cr_assert(!one_line_accepted(&cfg, 999, 0));
	cfg.max_text_line = 5000; /* above max_line + 1: lowered to it */
	cr_assert(one_line_accepted(&cfg, 2047, 0));
	cr_assert(!one_line_accepted(&cfg, 2048, 0));
	cr_assert(one_line_accepted(&cfg, 2048, 1));
}

/* ---- source routes ------------------------------------------------------------------- */

Test(server, source_routes_are_ignored)
{
	/* RFC 5321 4.1.1.3: SHOULD ignore the route; found in review: 553 */
	static const char in[] =
	    "EHLO c.example\r\nMAIL FROM:<@a.example,@b.example:u@c.example>\r\n"
	    "RCPT TO:<@x.example:b@example.com> NOTIFY=NEVER\r\n"
	    "RCPT TO:<@:b@example.com>\r\nRCPT TO:<@a.example,b@example.com>\r\n"
	    "RCPT TO:<@a..b:b@example.com>\r\nQUIT\r\n";
	char want[2048];
	snprintf(
	    want, sizeof want,
	    "EHLO c.example|\nMAIL u@c.example|\nRCPT b@example.com|NOTIFY=NEVER\nCLOSED\n---\n%s"
	    "250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n"
	    "501 5.5.4 Syntax: RCPT TO:<address> [parameters]\r\n"
	    "501 5.5.4 Syntax: RCPT TO:<address> [parameters]\r\n"
	    "501 5.5.4 Syntax: RCPT TO:<address> [parameters]\r\n221 2.0.0 Bye\r\n",
	    EHLO_REPLY);
	SCRIPT(in, want);
}

/* ---- AUTH ------------------------------------------------------------------------------ */

static smtpc_config plain_auth_cfg(void)
{
	smtpc_config cfg;

	smtpc_config_default(&cfg);
	cfg.allow_plain_auth = 1;
	return cfg;
}

#define EHLO_AUTH_OUT(extra) "%s250-STARTTLS\r\n250-SIZE 100000\r\n250 AUTH PLAIN LOGIN\r\n" extra

Test(server, auth_plain_authorization_identity)
{
	/* RFC 4616 2: an authzid other than the user is refused (found in
	 * review: ignored); the same identity, or none, is fine */
	smtpc_config cfg = plain_auth_cfg();
	static const char in[] = "EHLO c.example\r\nAUTH PLAIN YWRtaW4AdXNlcgBzM2NyZXQ=\r\n"
				 "AUTH PLAIN dXNlcgB1c2VyAHMzY3JldA==\r\n";
	char *got = srv_run(&cfg, in, sizeof in - 1, NULL, 0, NULL);
	cr_assert(strstr(got, "535 5.7.8 Authorization identity refused\r\n"
			      "235 2.7.0 Authentication successful\r\n") != NULL,
		  "%s", got);
	free(got);
}

Test(server, auth_empty_initial_response_and_refused_lines)
{
	smtpc_config cfg = plain_auth_cfg();
	/* "=" is an empty initial response (RFC 4954 4), found in review: 501;
	 * then a line refused with 500 ends the exchange (found in review: the
	 * next command was read as the response) */
	static const char in[] = "EHLO c.example\r\nAUTH LOGIN =\r\nczNjcmV0\r\nAUTH PLAIN =\r\n"
				 "AUTH LOGIN\r\nbad\001\r\nNOOP\r\nAUTH LOGIN dXNlcg==\r\nbare\n"
				 "NOOP\r\nAUTH PLAIN\r\n=\r\nAUTH PLAIN AHVzZXIAczNjcmV0\r\n";
	char *got = srv_run(&cfg, in, sizeof in - 1, NULL, 0, NULL);
	cr_assert(strstr(got,
			 "250 AUTH PLAIN LOGIN\r\n"
			 "334 UGFzc3dvcmQ6\r\n535 5.7.8 Authentication credentials invalid\r\n"
			 "501 5.5.2 Cannot decode the response\r\n"
			 "334 VXNlcm5hbWU6\r\n500 5.5.2 Error: control character in command\r\n"
			 "250 2.0.0 Ok\r\n"
			 "334 UGFzc3dvcmQ6\r\n500 5.5.2 Error: bare LF in command\r\n"
			 "250 2.0.0 Ok\r\n"
			 "334 \r\n501 5.5.2 Cannot decode the response\r\n"
			 "235 2.7.0 Authentication successful\r\n") != NULL,
		  "%s", got);
	/* every split gives the same */
	srv_script(&cfg, in, sizeof in - 1, got, NULL);
	free(got);
}

Test(server, auth_check_cleared_during_the_exchange_is_454)
{
	/* found in review: the next response called address 0 */
	smtpc_config cfg = plain_auth_cfg();
	smtpc_conn *c = ts_new(&cfg);
	smtpc_event ev;

	smtpc_server_set_auth(c, check_pw, NULL);
	OK(smtpc_server_greet(c, 220, "s"));
	smtpc_feed(c, "AUTH LOGIN\r\ndXNlcg==\r\n", 22);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_NEED_DATA);
	smtpc_server_set_auth(c, NULL, NULL);
	smtpc_feed(c, "czNjcmV0\r\nNOOP\r\n", 16);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_NEED_DATA);
	cr_assert_str_eq(tx_take(c),
			 "220 s\r\n334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n"
			 "454 4.7.0 Temporary authentication failure\r\n250 2.0.0 Ok\r\n");
	cr_assert(!smtpc_is_authenticated(c));
	tc_free(c);
}

/* ---- STARTTLS pause and QUIT ------------------------------------------------------------- */

Test(server, end_of_input_during_the_tls_pause_is_reported)
{
	/* found in review: never reported CLOSED (the client role does) */
	smtpc_conn *c = ts_new(NULL);
	smtpc_event ev;

	smtpc_server_allow_starttls(c, 1);
	OK(smtpc_server_greet(c, 220, "s"));
	smtpc_feed(c, "STARTTLS\r\n", 10);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_STARTTLS);
	cr_assert_eq(smtpc_waiting_for(c), SMTPC_WAIT_TLS);
	tx_take(c);
	smtpc_eof(c);
	cr_assert(smtpc_want(c) & SMTPC_WANT_EVENT);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_CLOSED);
	cr_assert_eq(ev.end.how, SMTPC_END_DROPPED);
	cr_assert_eq(smtpc_want(c), SMTPC_WANT_CLOSED | SMTPC_WANT_EVENT);
	cr_assert_eq(smtpc_tls_started(c), SMTPC_ERR_STATE);
	tc_free(c);

	/* before the STARTTLS event was pulled: the event, then CLOSED */
	c = ts_new(NULL);
	smtpc_server_allow_starttls(c, 1);
	OK(smtpc_server_greet(c, 220, "s"));
	smtpc_feed(c, "STARTTLS\r\n", 10);
	smtpc_eof(c);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_STARTTLS);
	cr_assert_str_eq(tx_take(c), "220 s\r\n220 2.0.0 Ready to start TLS\r\n");
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_CLOSED);
	tc_free(c);
}

Test(server, closed_only_once_the_221_has_left)
{
	/* found in review: CLOSED while the 221 was still in the buffer */
	smtpc_conn *c = ts_new(NULL);
	smtpc_event ev;
	size_t n;

	OK(smtpc_server_greet(c, 220, "s"));
	tx_take(c);
	smtpc_feed(c, "QUIT\r\nNOOP\r\n", 12);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_NEED_DATA);
	cr_assert_eq(smtpc_want(c), SMTPC_WANT_WRITE);
	cr_assert_eq(smtpc_waiting_for(c), SMTPC_WAIT_NONE);
	smtpc_send_buf(c, &n);
	smtpc_send_ack(c, n - 1);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_NEED_DATA);
	cr_assert_str_eq(tx_take(c), "\n");
	cr_assert_eq(smtpc_want(c), SMTPC_WANT_CLOSED | SMTPC_WANT_EVENT);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_CLOSED);
	cr_assert_eq(ev.end.how, SMTPC_END_QUIT);
	cr_assert_eq(ev.end.code, 221);
	cr_assert_eq(smtpc_feed(c, "x", 1), 1); /* dropped */
	tc_free(c);
}

/* ---- the application acknowledges message data ----------------------------------------------- */

Test(server, a_refused_chunk_fails_the_transaction_and_later_chunks_are_refused)
{
	/* RFC 3030 2: after a failure reply to a chunk, the chunks already in
	 * the pipeline are read, refused and not delivered; the session stays
	 * usable for a retry */
	static const char in[] =
	    "EHLO c.example\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n"
	    "BDAT 3\r\nabcBDAT 3\r\ndefBDAT 2 LAST\r\nghDATA\r\nRSET\r\n"
	    "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n"
	    "BDAT 4\r\nre\r\nBDAT 2 LAST\r\nokQUIT\r\n";
	char want[4096];
	snprintf(want, sizeof want,
		 "EHLO c.example|\nMAIL a@example.com|\nRCPT b@example.com|\nCHUNK#0 ok=1 size=3\n"
		 "MAIL a@example.com|\nRCPT b@example.com|\nCHUNK#0 ok=1 size=4\n"
		 "END ok=1 size=6 why=- body=re\r\nok\nCLOSED\n---\n%s"
		 "250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n"
		 "452-4.3.1 Insufficient system storage\r\n452 4.3.1 the chunk was not stored\r\n"
		 "503 5.5.1 Error: need MAIL command\r\n503 5.5.1 Error: need MAIL command\r\n"
		 "503 5.5.1 Error: need MAIL command\r\n250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n"
		 "250 2.0.0 Ok\r\n250 2.0.0 4 octets received\r\n250 2.0.0 Ok: queued\r\n"
		 "221 2.0.0 Bye\r\n",
		 EHLO_REPLY);
	g_fail_chunk = 1;
	SCRIPT(in, want);
}

Test(server, a_failure_at_the_end_of_data_leaves_nothing_half_done)
{
	/* 451 to the first message (a storage failure), then the same session
	 * delivers the second */
	static const char in[] =
	    "EHLO c.example\r\n" TXN "one\r\n.\r\nRCPT TO:<b@example.com>\r\n" TXN
	    "two\r\n.\r\nQUIT\r\n";
	char want[4096];
	snprintf(want, sizeof want,
		 "EHLO c.example|\n" TXN_EV "END ok=1 size=5 why=- body=one\r\n\n" TXN_EV
		 "END ok=1 size=5 why=- body=two\r\n\nCLOSED\n---\n%s" TXN_OUT
		 "451 4.3.0 Cannot store the message now\r\n503 5.5.1 Error: need MAIL "
		 "command\r\n" TXN_OUT "250 2.0.0 Ok: queued\r\n221 2.0.0 Bye\r\n",
		 EHLO_REPLY);
	g_fail_end = 1;
	SCRIPT(in, want);
}

Test(server, data_after_bdat_in_one_transaction_is_refused)
{
	static const char in[] =
	    "EHLO c.example\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n"
	    "BDAT 2\r\nabDATA\r\nBDAT 0 LAST\r\nQUIT\r\n";
	char want[4096];
	snprintf(want, sizeof want,
		 "EHLO c.example|\nMAIL a@example.com|\nRCPT b@example.com|\nCHUNK#0 ok=1 size=2\n"
		 "END ok=1 size=2 why=- body=ab\nCLOSED\n---\n%s250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n"
		 "250 2.0.0 2 octets received\r\n503 5.5.1 Error: DATA after BDAT\r\n"
		 "250 2.0.0 Ok: queued\r\n221 2.0.0 Bye\r\n",
		 EHLO_REPLY);
	SCRIPT(in, want);
}

Test(server, a_chunk_over_size_is_refused_by_the_core_and_reported)
{
	smtpc_config cfg;
	static const char in[] =
	    "EHLO c.example\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n"
	    "BDAT 8\r\n12345678BDAT 1 LAST\r\nxQUIT\r\n";
	char want[4096];

	smtpc_config_default(&cfg);
	cfg.max_message = 5;
	snprintf(want, sizeof want,
		 "EHLO c.example|\nMAIL a@example.com|\nRCPT b@example.com|\nCHUNK#0 ok=0 size=5\n"
		 "CLOSED\n---\n%s250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n"
		 "552 5.3.4 Error: message too big; not accepted\r\n"
		 "503 5.5.1 Error: need MAIL command\r\n221 2.0.0 Bye\r\n",
		 EHLO_REPLY);
	srv_script(&cfg, in, sizeof in - 1, want, NULL);
}

Test(server, storage_failure_replies_single_and_multi_line)
{
	smtpc_conn *c = ts_new(NULL);
	smtpc_event ev;

	OK(smtpc_server_greet(c, 220, "s"));
	smtpc_feed(c,
		   "HELO c.example\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n"
		   "DATA\r\nx\r\n.\r\n",
		   80);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_COMMAND);
		OK(smtpc_server_reply(c, ev.command.cmd == SMTPC_CMD_DATA ? 354 : 250, "ok"));
	}
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_BODY);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_BODY_END);
	cr_assert_eq(ev.body_end.replies, 1);
	cr_assert_eq(smtpc_waiting_for(c), SMTPC_WAIT_APPLICATION);
	cr_assert_eq(smtpc_server_reply(c, 452, "4.3.1 a\rb"), SMTPC_ERR_CTRL_CHAR); /* no change */
	OK(smtpc_server_reply(c, 452, "4.3.1 Insufficient system storage\n4.3.1 try again later"));
	cr_assert_eq(smtpc_server_reply(c, 250, "again"), SMTPC_ERR_STATE);
	cr_assert_eq(smtpc_pending(c), 0);
	cr_assert_eq(smtpc_waiting_for(c), SMTPC_WAIT_COMMAND);
	cr_assert_str_eq(tx_take(c), "220 s\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 ok\r\n"
				     "452-4.3.1 Insufficient system storage\r\n"
				     "452 4.3.1 try again later\r\n");
	tc_free(c);
}

/* ---- LMTP ------------------------------------------------------------------------------------ */

static smtpc_config lmtp_cfg(void)
{
	smtpc_config cfg;

	smtpc_config_default(&cfg);
	cfg.lmtp = 1;
	return cfg;
}

#define LHLO_OUT                                                                                   \
	"220 sink.example ESMTP\r\n250-sink.example\r\n250-PIPELINING\r\n"                         \
	"250-8BITMIME\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n250-DSN\r\n"                              \
	"250-ENHANCEDSTATUSCODES\r\n250 SIZE 100000\r\n"

Test(lmtp_server, lhlo_only)
{
	smtpc_config cfg = lmtp_cfg();
	static const char in[] = "EHLO c.example\r\nHELO c.example\r\nMAIL FROM:<a@example.com>\r\n"
				 "LHLO c.example\r\nQUIT\r\n";
	char want[4096];
	snprintf(want, sizeof want,
		 "LHLO c.example|\nCLOSED\n---\n220 sink.example ESMTP\r\n"
		 "500 5.5.1 Error: this is LMTP: send LHLO\r\n"
		 "500 5.5.1 Error: this is LMTP: send LHLO\r\n503 5.5.1 Error: send LHLO first\r\n"
		 "%s221 2.0.0 Bye\r\n",
		 &LHLO_OUT[24]); /* without the greeting */
	srv_script(&cfg, in, sizeof in - 1, want, NULL);
	/* and LHLO is unknown to an SMTP server */
	static const char smtp_in[] = "LHLO c.example\r\n";
	char *got = srv_run(NULL, smtp_in, sizeof smtp_in - 1, NULL, 0, NULL);
	cr_assert(strstr(got, "500 5.5.1 Error: command not recognized\r\n"), "%s", got);
	free(got);
}

Test(lmtp_server, one_reply_per_accepted_recipient_in_rcpt_order)
{
	smtpc_config cfg = lmtp_cfg();
	static const char in[] = "LHLO c.example\r\nMAIL FROM:<a@example.com>\r\n"
				 "RCPT TO:<r0@example.com>\r\nRCPT TO:<x1@example.com>\r\n"
				 "RCPT TO:<r2@example.com>\r\nRCPT TO:<r3@example.com>\r\n"
				 "DATA\r\nhi\r\n.\r\nMAIL FROM:<a@example.com>\r\n"
				 "RCPT TO:<r0@example.com>\r\nRCPT TO:<r1@example.com>\r\n"
				 "BDAT 2 LAST\r\nyoRCPT TO:<r0@example.com>\r\nQUIT\r\n";
	char want[4096];
	snprintf(
	    want, sizeof want,
	    "LHLO c.example|\nMAIL a@example.com|\nRCPT r0@example.com|\nRCPT x1@example.com|\n"
	    "RCPT r2@example.com|\nRCPT r3@example.com|\nDATA |\n"
	    "END ok=1 size=4 why=- body=hi\r\n\nLMTP rcpt 0 of 3\nLMTP rcpt 2 of 2\n"
	    "LMTP rcpt 3 of 1\nMAIL a@example.com|\nRCPT r0@example.com|\n"
	    "RCPT r1@example.com|\nEND ok=1 size=2 why=- body=yo\nLMTP rcpt 0 of 2\n"
	    "LMTP rcpt 1 of 1\nCLOSED\n---\n%s250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n"
	    "550 5.1.1 No such user\r\n250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n"
	    "354 End data with <CR><LF>.<CR><LF>\r\n"
	    "250 2.0.0 Ok: delivered\r\n250 2.0.0 Ok: delivered\r\n452 4.2.2 Mailbox full\r\n"
	    "250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n"
	    "250 2.0.0 Ok: delivered\r\n452 4.2.2 Mailbox full\r\n"
	    "503 5.5.1 Error: need MAIL command\r\n221 2.0.0 Bye\r\n",
	    LHLO_OUT);
	g_fail_odd_rcpt = 1;
	srv_script(&cfg, in, sizeof in - 1, want, NULL);
}

Test(lmtp_server, the_cores_refusal_goes_to_every_recipient)
{
	smtpc_config cfg = lmtp_cfg();
	static const char in[] = "LHLO c.example\r\nMAIL FROM:<a@example.com>\r\n"
				 "RCPT TO:<r0@example.com>\r\nRCPT TO:<r1@example.com>\r\n"
				 "DATA\r\nbare\n.\r\n.\r\nMAIL FROM:<a@example.com>\r\n"
				 "RCPT TO:<x@example.com>\r\nDATA\r\nBDAT 1 LAST\r\nzQUIT\r\n";
	char want[4096];
	snprintf(
	    want, sizeof want,
	    "LHLO c.example|\nMAIL a@example.com|\nRCPT r0@example.com|\nRCPT r1@example.com|\n"
	    "DATA |\nEND ok=0 size=0 why=DATA_BARE_EOL body=\nMAIL a@example.com|\n"
	    "RCPT x@example.com|\nCLOSED\n---\n%s250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n"
	    "250 2.0.0 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
	    "554 5.6.0 Error: bare CR or LF in message data; not accepted\r\n"
	    "554 5.6.0 Error: bare CR or LF in message data; not accepted\r\n"
	    "250 2.0.0 Ok\r\n550 5.1.1 No such user\r\n"
	    "503 5.5.1 Error: no valid recipients\r\n"
	    "554 5.5.1 Error: no valid recipients\r\n221 2.0.0 Bye\r\n",
	    LHLO_OUT);
	srv_script(&cfg, in, sizeof in - 1, want, NULL);
}

Test(lmtp_server, recipients_past_the_cap_get_452)
{
	smtpc_config cfg = lmtp_cfg();
	sbuf in = {0};

	sb_add(&in, "LHLO c.example\r\nMAIL FROM:<a@example.com>\r\n");
	for (unsigned i = 0; i <= SMTPC_LMTP_RCPT_CAP; i++)
		sb_add(&in, "RCPT TO:<r%u@example.com>\r\n", i);
	sb_add(&in, "DATA\r\n.\r\nQUIT\r\n");
	char *got = srv_run(&cfg, in.s, in.n, NULL, 0, NULL);
	cr_assert(strstr(got, "250 2.0.0 Ok\r\n452 4.5.3 Error: too many recipients\r\n354") !=
		      NULL,
		  "%s", got);
	cr_assert(strstr(got, "LMTP rcpt 127 of 1\n") != NULL, "%s", got);
	cr_assert(strstr(got, "RCPT r128") == NULL, "%s", got);
	free(got);
	sb_free(&in);
}

/* ---- waiting_for and shutdown ------------------------------------------------------------- */

Test(server, waiting_for_says_what_the_server_waits_for)
{
	smtpc_conn *c = ts_new(NULL);
	smtpc_event ev;

	cr_assert_eq(smtpc_waiting_for(c), SMTPC_WAIT_APPLICATION); /* the greeting */
	OK(smtpc_server_greet(c, 220, "s"));
	cr_assert_eq(smtpc_waiting_for(c), SMTPC_WAIT_COMMAND);
	smtpc_feed(c, "HELO c.example\r\n", 16);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_COMMAND);
	cr_assert_eq(smtpc_waiting_for(c), SMTPC_WAIT_APPLICATION);
	cr_assert_eq(smtpc_pending(c), 1);
	OK(smtpc_server_reply(c, 250, "s"));
	cr_assert_eq(smtpc_pending(c), 0);
	smtpc_feed(c, "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nBDAT 10\r\nabc", 64);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_COMMAND);
		OK(smtpc_server_reply(c, 250, "ok"));
	}
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_BODY);
	cr_assert_eq(smtpc_waiting_for(c), SMTPC_WAIT_DATA_BLOCK); /* the rest of the chunk */
	smtpc_feed(c, "defghij", 7);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_BODY);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_CHUNK_END);
	cr_assert_eq(smtpc_waiting_for(c), SMTPC_WAIT_APPLICATION);
	OK(smtpc_server_reply(c, 250, "ok"));
	cr_assert_eq(smtpc_waiting_for(c), SMTPC_WAIT_COMMAND);
	smtpc_fail(c, SMTPC_ERR_TIMEOUT);
	cr_assert_eq(smtpc_waiting_for(c), SMTPC_WAIT_COMMAND); /* what timed out */
	cr_assert_eq(smtpc_session_end(c, NULL), SMTPC_END_ERROR);
	tc_free(c);
}

Test(server, shutdown_at_any_time_and_421_replies_end_the_session)
{
	smtpc_conn *c = ts_new(NULL);
	smtpc_event ev;

	OK(smtpc_server_greet(c, 220, "s"));
	smtpc_feed(c, "HELO c.example\r\n", 16);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_COMMAND);
	/* a reply is owed, but the deadline passed */
	cr_assert_eq(smtpc_server_shutdown(c, "4.4.2\ntoo\rslow"), SMTPC_ERR_CTRL_CHAR);
	OK(smtpc_server_shutdown(c, "4.4.2 s Error: timeout exceeded"));
	cr_assert_eq(smtpc_server_shutdown(c, "again"), SMTPC_ERR_ENDED);
	cr_assert_eq(smtpc_server_reply(c, 250, "late"), SMTPC_ERR_ENDED);
	cr_assert_eq(smtpc_feed(c, "NOOP\r\n", 6), 6); /* read no more */
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_NEED_DATA);
	cr_assert_str_eq(tx_take(c), "220 s\r\n421 4.4.2 s Error: timeout exceeded\r\n");
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_CLOSED);
	cr_assert_eq(ev.end.how, SMTPC_END_SHUTDOWN);
	cr_assert_eq(ev.end.code, 421);
	tc_free(c);

	/* a 421 reply to a command ends it too; so does a 421 greeting */
	c = ts_new(NULL);
	OK(smtpc_server_greet(c, 220, "s"));
	smtpc_feed(c, "HELO c.example\r\nNOOP\r\n", 22);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_COMMAND);
	OK(smtpc_server_reply(c, 421, "4.3.2 shutting down"));
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_NEED_DATA);
	cr_assert_str_eq(tx_take(c), "220 s\r\n421 4.3.2 shutting down\r\n");
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_CLOSED);
	tc_free(c);
	c = ts_new(NULL);
	OK(smtpc_server_greet(c, 421, "4.3.2 too busy"));
	cr_assert_eq(smtpc_server_shutdown(c, "x"), SMTPC_ERR_ENDED);
	tx_take(c);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_CLOSED);
	cr_assert_eq(smtpc_session_end(c, NULL), SMTPC_END_SHUTDOWN);
	tc_free(c);
}

Test(server, client_leaving_mid_message_is_a_dropped_transaction)
{
	smtpc_conn *c = ts_new(NULL);
	smtpc_event ev;

	OK(smtpc_server_greet(c, 220, "s"));
	smtpc_feed(c,
		   "HELO c.example\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n"
		   "DATA\r\npart",
		   78);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_COMMAND);
		OK(smtpc_server_reply(c, ev.command.cmd == SMTPC_CMD_DATA ? 354 : 250, "ok"));
	}
	smtpc_eof(c);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_NEED_DATA); /* replies first */
	tx_take(c);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_CLOSED);
	cr_assert_eq(ev.end.how, SMTPC_END_DROPPED);
	cr_assert_eq(ev.end.transaction, 1);
	tc_free(c);
}

/* ---- client and server wired: LMTP and chunk failures ----------------------------------- */

Test(pair, lmtp_client_maps_each_reply_to_its_recipient)
{
	struct srv s;
	sbuf clog = {0};
	smtpc_config cfg = lmtp_cfg();
	smtpc_conn *cl;

	memset(&s, 0, sizeof s);
	s.c = srv_new(&cfg);
	s.keep_out = 1;
	s.reject_rcpt = 1;
	OK(smtpc_server_greet(s.c, 220, "lmtp"));
	cl = tc_new(NULL, 0);
	shuttle(cl, &s, &clog);
	OK(smtpc_lhlo(cl, "client.example"));
	shuttle(cl, &s, &clog);
	cr_assert(smtpc_get_caps(cl)->ext & SMTPC_EXT_PIPELINING);
	g_fail_odd_rcpt = 1;
	for (int round = 0; round < 2; round++) { /* DATA, then BDAT */
		OK(smtpc_mail(cl, "a@example.com", NULL));
		OK(smtpc_rcpt(cl, "r0@example.com", NULL));
		OK(smtpc_rcpt(cl, "x1@example.com", NULL)); /* refused */
		OK(smtpc_rcpt(cl, "r2@example.com", NULL));
		OK(smtpc_rcpt(cl, "r3@example.com", NULL));
		if (round == 0) {
			OK(smtpc_data(cl));
			shuttle(cl, &s, &clog);
			cr_assert_eq(smtpc_body_write(cl, "hi\n", 3), 3);
			OK(smtpc_body_end(cl));
		} else {
			OK(smtpc_bdat(cl, 2, 1));
			cr_assert_eq(smtpc_body_write(cl, "hi", 2), 2);
		}
		shuttle(cl, &s, &clog);
		cr_assert_eq(smtpc_pending(cl), 0);
	}
	g_fail_odd_rcpt = 0;
	cr_assert(strstr(clog.s, "R 550 RCPT#1 [5.1.1] 5.1.1 No such user\n"
				 "L 250 2.0.0 Ok\nR 250 RCPT#2 [2.0.0] 2.0.0 Ok\n"
				 "L 250 2.0.0 Ok\nR 250 RCPT#3 [2.0.0] 2.0.0 Ok\n"
				 "L 354 End data with <CR><LF>.<CR><LF>\n") != NULL,
		  "%s", clog.s);
	/* the replies after the dot, for recipients 0, 2 and 3 */
	cr_assert(strstr(clog.s,
			 "R 250 DATA_END [2.0.0] 2.0.0 Ok: delivered\n"
			 "L 250 2.0.0 Ok: delivered\nR 250 DATA_END [2.0.0] 2.0.0 Ok: delivered\n"
			 "L 452 4.2.2 Mailbox full\nR 452 DATA_END [4.2.2] 4.2.2 Mailbox full\n") !=
		      NULL,
		  "%s", clog.s);
	cr_assert(strstr(clog.s,
			 "R 250 BDAT#0 [2.0.0] 2.0.0 Ok: delivered\n"
			 "L 250 2.0.0 Ok: delivered\nR 250 BDAT#2 [2.0.0] 2.0.0 Ok: delivered\n"
			 "L 452 4.2.2 Mailbox full\nR 452 BDAT#3 [4.2.2] 4.2.2 Mailbox full\n") !=
		      NULL,
		  "%s", clog.s);
	OK(smtpc_quit(cl));
	shuttle(cl, &s, &clog);
	smtpc_eof(cl);
	drain(cl, &clog);
	cr_assert_eq(smtpc_session_end(cl, NULL), SMTPC_END_QUIT);
	pair_close(&s, cl, &clog);
}

Test(pair, a_refused_chunk_is_seen_by_the_client_and_the_retry_works)
{
	struct srv s;
	sbuf clog = {0};
	smtpc_conn *cl;

	pair_open(&s, &cl, &clog, 0, NULL);
	g_fail_chunk = 1;
	OK(smtpc_mail(cl, "a@example.com", NULL));
	OK(smtpc_rcpt(cl, "b@example.com", NULL));
	OK(smtpc_bdat(cl, 3, 0));
	cr_assert_eq(smtpc_body_write(cl, "abc", 3), 3);
	OK(smtpc_bdat(cl, 3, 1));
	cr_assert_eq(smtpc_body_write(cl, "def", 3), 3);
	shuttle(cl, &s, &clog);
	g_fail_chunk = 0;
	cr_assert(strstr(clog.s, "R 452 BDAT#0 [4.3.1] 4.3.1 Insufficient system storage|4.3.1 the "
				 "chunk was not stored\nL 503 5.5.1 Error: need MAIL command\n"
				 "R 503 BDAT#1 [5.5.1] 5.5.1 Error: need MAIL command\n") != NULL,
		  "%s", clog.s);
	cr_assert(strstr(s.log.s, "END") == NULL, "%s", s.log.s); /* nothing delivered */
	OK(smtpc_rset(cl));
	OK(smtpc_mail(cl, "a@example.com", NULL));
	OK(smtpc_rcpt(cl, "b@example.com", NULL));
	OK(smtpc_bdat(cl, 6, 1));
	cr_assert_eq(smtpc_body_write(cl, "abcdef", 6), 6);
	shuttle(cl, &s, &clog);
	cr_assert(strstr(s.log.s, "END ok=1 size=6 why=- body=abcdef\n") != NULL, "%s", s.log.s);
	cr_assert(strstr(clog.s, "R 250 BDAT#0 [2.0.0] 2.0.0 Ok: queued\n") != NULL, "%s", clog.s);
	pair_close(&s, cl, &clog);
}

Test(server, misuse_and_edges_of_the_server_calls)
{
	smtpc_conn *c = ts_new(NULL);
	smtpc_event ev;
	smtpc_caps caps = {0, 0, 0, 0};
	unsigned rcpt;
	/* the struct's tag is the type's name (found in review: smtpc_body_end) */
	struct smtpc_message_end m;

	memset(&m, 0, sizeof m);
	cr_assert_eq(m.ok, 0);
	smtpc_server_allow_starttls(c, 1);
	OK(smtpc_server_greet(c, 220, "s"));
	cr_assert_eq(smtpc_server_reply_rcpt(c, NULL), 0);
	cr_assert_eq(smtpc_server_reply_rcpt(c, &rcpt), 0);
	smtpc_feed(c, "HELO c.example\r\n", 16);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_COMMAND);
	cr_assert_eq(smtpc_server_reply_ehlo(c, "s.example", &caps), SMTPC_ERR_STATE); /* HELO */
	cr_assert_eq(smtpc_server_reply_ehlo(c, "s.example", NULL), SMTPC_ERR_NULL_ARG);
	cr_assert_eq(smtpc_server_reply(c, 250, NULL), SMTPC_ERR_NULL_ARG);
	cr_assert_eq(smtpc_server_reply(c, 600, "x"), SMTPC_ERR_BAD_PARAM);
	OK(smtpc_server_reply(c, 250, "s"));
	/* SIZE= that is not a number (RFC 1870 6.1) when a limit is set */
	tc_free(c);
	smtpc_config cfg;
	smtpc_config_default(&cfg);
	cfg.max_message = 100;
	static const char in[] =
	    "HELO c.example\r\nMAIL FROM:<a@example.com> SIZE=12x\r\n"
	    "MAIL FROM:<a@example.com> SIZE=\r\nMAIL FROM:<a@example.com> SIZE=99\r\n";
	char *got = srv_run(&cfg, in, sizeof in - 1, NULL, 0, NULL);
	cr_assert(strstr(got, "501 5.5.4 Syntax: SIZE=number\r\n"
			      "501 5.5.4 Syntax: MAIL FROM:<address> [parameters]\r\n"
			      "250 2.0.0 Ok\r\n") != NULL,
		  "%s", got);
	free(got);
	/* shutdown after the 220 to STARTTLS is the TLS layer's to do */
	c = ts_new(NULL);
	smtpc_server_allow_starttls(c, 1);
	OK(smtpc_server_greet(c, 220, "s"));
	smtpc_feed(c, "STARTTLS\r\n", 10);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_STARTTLS);
	cr_assert_eq(smtpc_server_shutdown(c, "bye"), SMTPC_ERR_STATE);
	cr_assert_eq(smtpc_server_shutdown(c, NULL), SMTPC_ERR_NULL_ARG);
	smtpc_fail(c, SMTPC_ERR_TLS);
	cr_assert_eq(smtpc_server_shutdown(c, "bye"), SMTPC_ERR_TLS);
	cr_assert_eq(smtpc_pending(c), 0);
	tc_free(c);
}

Test(lmtp_server, a_refusal_to_many_recipients_goes_out_as_room_allows)
{
	/* 128 refusals of ~60 octets do not fit the transmit buffer at once:
	 * they go out in turns, in order, and the next command waits for them */
	smtpc_config cfg = lmtp_cfg();
	sbuf in = {0}, want = {0};

	sb_add(&in, "LHLO c.example\r\nMAIL FROM:<a@example.com>\r\n");
	for (unsigned i = 0; i < SMTPC_LMTP_RCPT_CAP; i++)
		sb_add(&in, "RCPT TO:<r%u@example.com>\r\n", i);
	sb_add(&in, "DATA\r\nbare\rcr\r\n.\r\nNOOP\r\nQUIT\r\n");
	for (unsigned i = 0; i < SMTPC_LMTP_RCPT_CAP; i++)
		sb_add(&want, "554 5.6.0 Error: bare CR or LF in message data; not accepted\r\n");
	sb_add(&want, "250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n");
	char *got = srv_run(&cfg, in.s, in.n, NULL, 0, NULL);
	cr_assert(strstr(got, want.s) != NULL, "%s", got);
	free(got);
	sb_free(&in);
	sb_free(&want);
}
