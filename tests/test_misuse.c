/* A hostile peer and a careless caller: hooks that call back in, replies
 * that begin before their command, counters a peer can run to their end,
 * calls after the end of a session. Each test failed before its fix. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "helpers.h"
#include "smtpc_txn.h"

#define OK(x) cr_assert_eq((x), SMTPC_ERR_OK, "%s", #x)

/* ---- hooks that call back into their connection ---------------------------------- */

static smtpc_conn *g_conn;
static smtpc_err g_inner[6];

static void record_reentry(void)
{
	smtpc_event ev;
	size_t n;

	g_inner[0] = smtpc_noop(g_conn);
	g_inner[1] = smtpc_next_event(g_conn, &ev) == SMTPC_EV_ERROR ? ev.err : SMTPC_ERR_OK;
	g_inner[2] = smtpc_feed(g_conn, "250 x\r\n", 7) == 0 ? SMTPC_ERR_REENTRANT : SMTPC_ERR_OK;
	g_inner[3] = smtpc_recv_buf(g_conn, &n) == NULL ? SMTPC_ERR_REENTRANT : SMTPC_ERR_OK;
	g_inner[4] = smtpc_body_end(g_conn);
	g_inner[5] = smtpc_tls_started(g_conn);
	smtpc_send_ack(g_conn, 3); /* refused silently: the line stays whole */
	smtpc_recv_ack(g_conn, 1); /* refused: no octet appears */
	smtpc_eof(g_conn);	   /* refused too */
}

static void reentering_hook(void *ctx, smtpc_cmd cmd, const char *line, size_t len, int secret)
{
	(void)ctx;
	(void)cmd;
	(void)line;
	(void)len;
	(void)secret;
	record_reentry();
}

static void assert_all_refused(void)
{
	for (size_t i = 0; i < sizeof g_inner / sizeof g_inner[0]; i++)
		cr_assert_eq(g_inner[i], SMTPC_ERR_REENTRANT, "call %zu: %s", i,
			     smtpc_err_name(g_inner[i]));
	memset(g_inner, 0, sizeof g_inner);
}

Test(misuse, the_command_hook_cannot_issue_a_command_of_its_own)
{
	/* Before: a NOOP issued from the hook went on the wire after MAIL but
	 * into the queue before it, so the reply to MAIL answered NOOP. */
	smtpc_conn *c = tc_ready(NULL, "PIPELINING");
	sbuf log = {0};

	g_conn = c;
	smtpc_set_command_hook(c, reentering_hook, NULL);
	OK(smtpc_mail(c, "a@b.example", NULL));
	assert_all_refused();
	cr_assert_str_eq(tx_take(c), "MAIL FROM:<a@b.example>\r\n");
	cr_assert_eq(smtpc_pending(c), 1);
	cr_assert(!(smtpc_want(c) & SMTPC_WANT_CLOSED)); /* the eof was refused */
	OK(smtpc_rcpt(c, "c@d.example", NULL));
	assert_all_refused();
	OK(smtpc_data(c));
	tx_take(c);
	static const char replies[] = "250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go\r\n";
	feed_all(c, replies, sizeof replies - 1, &log);
	cr_assert_str_eq(log.s, "L 250 2.1.0 ok\nR 250 MAIL [2.1.0] 2.1.0 ok\nL 250 2.1.5 ok\n"
				"R 250 RCPT#0 [2.1.5] 2.1.5 ok\nL 354 go\nR 354 DATA go\n");
	cr_assert_eq(smtpc_body_write(c, "x\r\n", 3), 3);
	OK(smtpc_body_end(c)); /* the hook sees "." and tries again */
	assert_all_refused();
	cr_assert_str_eq(tx_take(c), "x\r\n.\r\n");
	cr_assert_eq(smtpc_pending(c), 1);
	cr_assert_eq(smtpc_error(c), SMTPC_ERR_OK);
	sb_free(&log);
	tc_free(c);
}

static int reentering_hmac(void *ctx, const unsigned char *key, size_t key_len,
			   const unsigned char *msg, size_t msg_len, unsigned char out[16])
{
	(void)ctx;
	(void)key;
	(void)key_len;
	(void)msg;
	(void)msg_len;
	record_reentry();
	memset(out, 0x11, 16);
	return 0;
}

Test(misuse, the_digest_hook_cannot_call_back_in)
{
	smtpc_conn *c = tc_ready(NULL, "AUTH CRAM-MD5");

	g_conn = c;
	smtpc_set_secure(c);
	smtpc_set_hmac_md5(c, reentering_hmac, NULL);
	OK(smtpc_auth(c, SMTPC_MECH_CRAM_MD5, "u", "p"));
	tx_take(c);
	feed_ok(c, "334 PDEyQHg+\r\n");
	assert_all_refused();
	cr_assert_str_eq(tx_take(c), "dSAxMTExMTExMTExMTExMTExMTExMTExMTExMTExMTExMQ==\r\n");
	feed_ok(c, "235 ok\r\n");
	cr_assert(smtpc_is_authenticated(c));
	tc_free(c);
}

static smtpc_err g_srv_inner[4];

static int reentering_check(void *ctx, const char *u, size_t ul, const char *p, size_t pl)
{
	smtpc_event ev;

	(void)ctx;
	(void)u;
	(void)ul;
	(void)p;
	(void)pl;
	g_srv_inner[0] = smtpc_server_reply(g_conn, 250, "x");
	g_srv_inner[1] = smtpc_next_event(g_conn, &ev) == SMTPC_EV_ERROR ? ev.err : SMTPC_ERR_OK;
	g_srv_inner[2] = smtpc_server_shutdown(g_conn, "x");
	g_srv_inner[3] =
	    smtpc_feed(g_conn, "QUIT\r\n", 6) == 0 ? SMTPC_ERR_REENTRANT : SMTPC_ERR_OK;
	return 1;
}

Test(misuse, the_server_auth_hook_cannot_call_back_in)
{
	/* Before: smtpc_next_event from the hook read the pipelined NOOP and
	 * answered it before the AUTH line was answered. */
	smtpc_config cfg;
	smtpc_conn *c;
	smtpc_event ev;
	static const char in[] = "EHLO c.example\r\nAUTH PLAIN AHUAcA==\r\nNOOP\r\n";

	smtpc_config_default(&cfg);
	cfg.allow_plain_auth = 1;
	c = ts_new(&cfg);
	g_conn = c;
	smtpc_server_set_auth(c, reentering_check, NULL);
	OK(smtpc_server_greet(c, 220, "s"));
	cr_assert_eq(smtpc_feed(c, in, sizeof in - 1), sizeof in - 1);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_COMMAND);
	OK(smtpc_server_reply(c, 250, "s"));
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_NEED_DATA);
	for (size_t i = 0; i < 4; i++)
		cr_assert_eq(g_srv_inner[i], SMTPC_ERR_REENTRANT, "call %zu", i);
	cr_assert_str_eq(tx_take(c), "220 s\r\n250 s\r\n235 2.7.0 Authentication successful\r\n"
				     "250 2.0.0 Ok\r\n");
	cr_assert(smtpc_is_authenticated(c));
	tc_free(c);
}

/* ---- replies that begin before their command ---------------------------------------- */

Test(misuse, a_reply_begun_before_its_command_answers_nothing_at_every_split)
{
	/* The command is issued after the first `cut` octets of the reply: it
	 * answers the command only if none of it had arrived. Before: the
	 * reply answered it as soon as its last line came after the command. */
	static const char in[] = "250-first line\r\n250 second\r\n";
	const size_t len = sizeof in - 1;

	for (size_t cut = 0; cut < len; cut++) {
		smtpc_conn *c = tc_ready(NULL, "PIPELINING");
		sbuf log = {0};
		feed_all(c, in, cut, &log);
		OK(smtpc_noop(c));
		tx_take(c);
		feed_all(c, in + cut, len - cut, &log);
		const char *want =
		    cut == 0 ? "R 250 NOOP first line|second\n" : "R 250 NONE first line|second\n";
		cr_assert(strstr(log.s, want) != NULL, "cut %zu: %s", cut, log.s);
		cr_assert_eq(smtpc_pending(c), cut == 0 ? 0 : 1, "cut %zu", cut);
		sb_free(&log);
		tc_free(c);
	}
}

Test(misuse, an_auth_reply_begun_before_the_response_answers_nothing_at_every_split)
{
	/* The server's bytes arrive in two pieces, split at every octet; the
	 * client answers the 334 as soon as it is complete. The 235 answers
	 * AUTH only when the user name had gone out before its first octet came:
	 * the split right after the 334. Before: "334 ...\r\n235 o" then "k\r\n"
	 * made the 235 answer the user name the server had not yet seen. */
	static const char in[] = "334 VXNlcm5hbWU6\r\n235 ok\r\n";
	const size_t len = sizeof in - 1, after_334 = 18;

	for (size_t cut = 1; cut < len; cut++) {
		smtpc_conn *c = tc_ready(NULL, "AUTH LOGIN");
		sbuf log = {0};
		smtpc_set_secure(c);
		OK(smtpc_auth(c, SMTPC_MECH_LOGIN, "user", "s3cret"));
		tx_take(c);
		feed_all(c, in, cut, &log);
		feed_all(c, in + cut, len - cut, &log);
		cr_assert_eq(smtpc_is_authenticated(c), cut == after_334, "cut %zu: %s", cut,
			     log.s);
		cr_assert_eq(smtpc_pending(c), cut == after_334 ? 0 : 1, "cut %zu", cut);
		cr_assert_str_eq(tx_take(c), "dXNlcg==\r\n", "cut %zu", cut);
		sb_free(&log);
		tc_free(c);
	}
}

/* ---- counters a peer can run to their end --------------------------------------------- */

Test(misuse, sixty_five_thousand_accepted_recipients_do_not_wrap_to_none)
{
	/* Before: the 65536th accepted RCPT wrapped the count to 0, and DATA
	 * was refused "no valid recipients". */
	smtpc_conn *c = ts_new(NULL);
	smtpc_event ev;
	static const char rcpt[] = "RCPT TO:<r@d.example>\r\n";

	OK(smtpc_server_greet(c, 220, "s"));
	static const char hello[] = "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\n";
	cr_assert_eq(smtpc_feed(c, hello, sizeof hello - 1), sizeof hello - 1);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_COMMAND);
	OK(smtpc_server_reply(c, 250, "hi"));
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_COMMAND);
	OK(smtpc_server_reply(c, 250, "ok"));
	for (unsigned i = 0; i < 65536u; i++) {
		cr_assert_eq(smtpc_feed(c, rcpt, sizeof rcpt - 1), sizeof rcpt - 1);
		cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_COMMAND);
		cr_assert_eq(ev.command.cmd, SMTPC_CMD_RCPT);
		OK(smtpc_server_reply(c, 250, "ok"));
		tx_take(c);
	}
	cr_assert_eq(smtpc_feed(c, "DATA\r\n", 6), 6);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_COMMAND);
	cr_assert_eq(ev.command.cmd, SMTPC_CMD_DATA);
	tc_free(c);
}

/* ---- calls after the end -------------------------------------------------------------- */

Test(misuse, server_calls_after_the_end_say_ended)
{
	smtpc_conn *c = ts_new(NULL);
	smtpc_caps k;

	memset(&k, 0, sizeof k);
	OK(smtpc_server_greet(c, 421, "s busy"));
	cr_assert_eq(smtpc_server_greet(c, 220, "again"), SMTPC_ERR_ENDED);
	cr_assert_eq(smtpc_server_reply(c, 250, "late"), SMTPC_ERR_ENDED);
	cr_assert_eq(smtpc_server_reply_ehlo(c, "s.example", &k), SMTPC_ERR_ENDED);
	cr_assert_eq(smtpc_server_shutdown(c, "x"), SMTPC_ERR_ENDED);
	cr_assert_str_eq(tx_take(c), "421 s busy\r\n");
	tc_free(c);
}

Test(misuse, a_reply_text_far_larger_than_the_buffer_is_refused_early)
{
	/* A text of many empty lines: the measure stops at the buffer's size
	 * (on a 32-bit target the sum could otherwise wrap). */
	smtpc_conn *c = ts_new(NULL);
	static char text[200001];
	smtpc_event ev;

	memset(text, '\n', sizeof text - 1);
	OK(smtpc_server_greet(c, 220, "s"));
	cr_assert_eq(smtpc_feed(c, "NOOP\r\nEHLO c.example\r\n", 22), 22);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_COMMAND);
	cr_assert_eq(smtpc_server_reply(c, 250, text), SMTPC_ERR_TX_SMALL);
	OK(smtpc_server_reply(c, 250, "ok"));
	tc_free(c);
}

/* ---- the transaction layer over the wrong role ------------------------------------------ */

Test(misuse, the_transaction_layer_refuses_a_server_connection)
{
	/* Before: accepted; the first message's data then read the body
	 * statistics of a server connection: a NULL pointer. */
	smtpc_conn *c = ts_new(NULL);
	smtpc_txn t;

	memset(&t, 0x5a, sizeof t);
	cr_assert_eq(smtpc_txn_init(&t, c, NULL, NULL, 0), SMTPC_ERR_ROLE);
	for (size_t i = 0; i < sizeof t; i++)
		cr_assert_eq(((unsigned char *)&t)[i], 0x5a, "octet %zu written", i);
	tc_free(c);
}

/* ---- the ABI check against a caller that bypasses the macro ----------------------------- */

Test(misuse, init_with_a_wrong_size_or_key_writes_nothing)
{
	static unsigned char rx[16384], tx[4096];
	unsigned char mem[sizeof(smtpc_conn) + 64];
	smtpc_conn *c = (smtpc_conn *)(void *)mem;

	memset(mem, 0xa5, sizeof mem);
	cr_assert_eq(smtpc_init_(c, NULL, rx, sizeof rx, tx, sizeof tx, 0, SMTPC_CAPS_KEY),
		     SMTPC_ERR_ABI);
	cr_assert_eq(smtpc_server_init_(c, NULL, rx, sizeof rx, tx, sizeof tx, 3, SMTPC_CAPS_KEY),
		     SMTPC_ERR_ABI);
	for (size_t i = 0; i < sizeof mem; i++)
		cr_assert_eq(mem[i], 0xa5, "octet %zu written",
			     i); /* too small even for the role */
	cr_assert_eq(smtpc_init_(c, NULL, rx, sizeof rx, tx, sizeof tx, sizeof(smtpc_conn),
				 SMTPC_CAPS_KEY ^ 1u),
		     SMTPC_ERR_ABI);
	for (size_t i = sizeof(void *); i < sizeof mem; i++)
		cr_assert_eq(mem[i], 0xa5, "octet %zu written", i);
	cr_assert_eq(smtpc_noop(c), SMTPC_ERR_ROLE);
	smtpc_eof(c); /* refused like every call: nothing written */
	smtpc_set_secure(c);
	for (size_t i = sizeof(void *); i < sizeof mem; i++)
		cr_assert_eq(mem[i], 0xa5, "octet %zu written", i);
	cr_assert_eq(smtpc_want(c), SMTPC_WANT_CLOSED | SMTPC_WANT_EVENT);
}

Test(misuse, no_message_data_after_the_peer_closed)
{
	/* Before: after the end of input (the server gone) message data was
	 * still encoded and the end of data written, as if it could arrive. */
	smtpc_conn *c = tc_ready(NULL, "PIPELINING");
	static const char replies[] = "250 ok\r\n250 ok\r\n354 go\r\n";

	OK(smtpc_mail(c, "a@b.example", NULL));
	OK(smtpc_rcpt(c, "c@d.example", NULL));
	OK(smtpc_data(c));
	tx_take(c);
	feed_all(c, replies, sizeof replies - 1, NULL);
	cr_assert_eq(smtpc_body_write(c, "x\r\n", 3), 3);
	tx_take(c);
	smtpc_eof(c);
	cr_assert_eq(smtpc_body_write(c, "y\r\n", 3), 0);
	cr_assert_eq(smtpc_body_end(c), SMTPC_ERR_ENDED);
	size_t n = 1;
	cr_assert_null(smtpc_send_buf(c, &n));
	cr_assert_eq(n, 0);
	tc_free(c);
}

Test(misuse, ext_find_without_a_place_for_the_result)
{
	/* Before: with ext NULL it never found anything. */
	smtpc_conn *c = tc_ready(NULL, "PIPELINING\nX-FOO bar");
	smtpc_ext e;

	cr_assert(smtpc_ext_find(c, "x-foo", NULL));
	cr_assert(!smtpc_ext_find(c, "x-bar", NULL));
	cr_assert(!smtpc_ext_find(c, NULL, &e));
	cr_assert(smtpc_ext_find(c, "X-FOO", &e));
	cr_assert_eq(e.params_len, 3);
	cr_assert_str_eq(smtpc_version(), SMTPC_VERSION);
	cr_assert_str_eq(SMTPC_VERSION_STRING, SMTPC_VERSION);
	tc_free(c);
}

/* ---- message data answered twice, or never ---------------------------------------------- */

Test(misuse, the_end_of_data_is_answered_once_and_only_by_the_application)
{
	/* The end of the data and the commands pipelined after it arrive in
	 * one piece: nothing is read or written until the application has
	 * answered; a second answer is refused and changes nothing. */
	static const char in[] = "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\n"
				 "RCPT TO:<c@d.example>\r\nDATA\r\nhi\r\n.\r\nNOOP\r\nQUIT\r\n";
	smtpc_conn *c = ts_new(NULL);
	smtpc_event ev;
	size_t n;

	OK(smtpc_server_greet(c, 220, "s"));
	cr_assert_eq(smtpc_feed(c, in, sizeof in - 1), sizeof in - 1);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_COMMAND);
		OK(smtpc_server_reply(c, ev.command.cmd == SMTPC_CMD_DATA ? 354 : 250, "ok"));
	}
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_BODY);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_BODY_END);
	cr_assert(ev.body_end.ok);
	tx_take(c);
	for (int i = 0; i < 3; i++) { /* never answered by the core */
		cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_NEED_DATA);
		cr_assert_null(smtpc_send_buf(c, &n));
		cr_assert_eq(smtpc_pending(c), 1);
		cr_assert_eq(smtpc_waiting_for(c), SMTPC_WAIT_APPLICATION);
	}
	OK(smtpc_server_reply(c, 250, "2.0.0 stored"));
	cr_assert_eq(smtpc_server_reply(c, 250, "again"), SMTPC_ERR_STATE);
	cr_assert_eq(smtpc_pending(c), 0);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_NEED_DATA);
	cr_assert_str_eq(tx_take(c), "250 2.0.0 stored\r\n250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n");
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_CLOSED);
	cr_assert_eq(ev.end.how, SMTPC_END_QUIT);
	tc_free(c);
}

Test(misuse, an_ehlo_reply_needs_a_domain)
{
	/* Before: "" gave "250-" then the extensions: a first line without
	 * the domain RFC 5321 4.1.1.1 requires. */
	smtpc_conn *c = ts_new(NULL);
	smtpc_caps k = {SMTPC_EXT_PIPELINING, 0, 0, 0};
	smtpc_event ev;

	OK(smtpc_server_greet(c, 220, "s"));
	cr_assert_eq(smtpc_feed(c, "EHLO c.example\r\n", 16), 16);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_COMMAND);
	tx_take(c);
	cr_assert_eq(smtpc_server_reply_ehlo(c, "", &k), SMTPC_ERR_BAD_DOMAIN);
	cr_assert_eq(smtpc_server_reply_ehlo(c, "s\r\n250 x", &k), SMTPC_ERR_BAD_DOMAIN);
	cr_assert_eq(smtpc_server_reply_ehlo(c, "s.example", NULL), SMTPC_ERR_NULL_ARG);
	cr_assert_eq(smtpc_pending(c), 1);
	OK(smtpc_server_reply_ehlo(c, "s.example", &k));
	cr_assert_str_eq(tx_take(c), "250-s.example\r\n250 PIPELINING\r\n");
	tc_free(c);
}
