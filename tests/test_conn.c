/* The connection: init, buffers, want mask, STARTTLS, raw lines, errors. */
#include "helpers.h"

#include <stdlib.h>
#include <string.h>

#define OK(call) cr_assert_eq((call), SMTPC_ERR_OK, "%s failed", #call)

Test(conn, init_checks_arguments_and_sizes)
{
	smtpc_conn c;
	smtpc_config cfg;
	static unsigned char rx[65536], tx[4096];
	size_t min = smtpc_rx_min(NULL);

	cr_assert_eq(min, (2048 + 2) + (4096 + 1) + 1024);
	cr_assert_eq(smtpc_init(NULL, NULL, rx, sizeof rx, tx, sizeof tx), SMTPC_ERR_NULL_ARG);
	cr_assert_eq(smtpc_init(&c, NULL, NULL, sizeof rx, tx, sizeof tx), SMTPC_ERR_NULL_ARG);
	cr_assert_eq(smtpc_init(&c, NULL, rx, sizeof rx, NULL, sizeof tx), SMTPC_ERR_NULL_ARG);
	cr_assert_eq(smtpc_init(&c, NULL, rx, min - 1, tx, sizeof tx), SMTPC_ERR_BUFFER_SMALL);
	cr_assert_eq(smtpc_init(&c, NULL, rx, min, tx, SMTPC_TX_MIN - 1), SMTPC_ERR_BUFFER_SMALL);
	OK(smtpc_init(&c, NULL, rx, min, tx, SMTPC_TX_MIN));

	/* clamping: too small and too large values come back inside the caps */
	memset(&cfg, 0, sizeof cfg);
	cr_assert_eq(smtpc_rx_min(&cfg), (SMTPC_LINE_MIN + 2) + (SMTPC_LINE_MIN + 1 + 1) + 0);
	cfg.max_line = (size_t)-1;
	cfg.max_reply = 1;
	cfg.max_queue = 1000;
	OK(smtpc_init(&c, &cfg, malloc(smtpc_rx_min(&cfg)), smtpc_rx_min(&cfg), tx, sizeof tx));
	cr_assert_eq(c.cfg.max_line, SMTPC_LINE_CAP);
	cr_assert_eq(c.cfg.max_reply, SMTPC_LINE_CAP + 1);
	cr_assert_eq(c.cfg.max_queue, SMTPC_QUEUE_CAP);
	free(c.in);
	smtpc_config_default(NULL);
}

Test(conn, smallest_configuration_works)
{
	smtpc_config cfg;

	memset(&cfg, 0, sizeof cfg);
	smtpc_conn *c = tc_ready(&cfg, "");
	OK(smtpc_noop(c));
	feed_ok(c, "250 ok\r\n");
	tc_free(c);
}

Test(conn, recv_buf_path_and_feed_limits)
{
	smtpc_config cfg;
	smtpc_event ev;
	size_t room;

	smtpc_config_default(&cfg);
	cfg.max_line = 512;
	smtpc_conn *c = tc_new(&cfg, 0);
	unsigned char *p = smtpc_recv_buf(c, &room);
	cr_assert_eq(room, 514);
	memcpy(p, "220 a\r\n2", 8);
	smtpc_recv_ack(c, 8);
	cr_assert(smtpc_want(c) & SMTPC_WANT_EVENT);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_LINE);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_REPLY);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_NEED_DATA);
	cr_assert_eq(smtpc_want(c) & SMTPC_WANT_EVENT, 0);
	p = smtpc_recv_buf(c, &room);
	cr_assert_eq(room, 513); /* the partial "2" moved to the front */
	memcpy(p, "21 bye\r\n", 8);
	smtpc_recv_ack(c, 8);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_LINE);
	cr_assert_eq(ev.line.code, 221);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_REPLY);
	p = smtpc_recv_buf(c, &room);
	cr_assert_eq(room, 514);
	memset(p, 'x', room);
	smtpc_recv_ack(c, room + 5);		       /* more than offered is clamped */
	cr_assert_eq(smtpc_want(c), SMTPC_WANT_EVENT); /* full: no more reading */
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_ERROR);
	cr_assert_eq(ev.err, SMTPC_ERR_LINE_TOO_LONG);
	tc_free(c);

	/* feed stops when the buffer is full of unparsed lines */
	c = tc_ready(&cfg, "PIPELINING");
	char many[2000];
	for (int i = 0; i < 250; i++)
		memcpy(many + 8 * i, "250 ok\r\n", 8);
	OK(smtpc_mail(c, "a@example.com", NULL));
	size_t took = smtpc_feed(c, many, sizeof many);
	cr_assert_eq(took, 514);
	cr_assert_eq(smtpc_feed(c, many, sizeof many), 0);
	cr_assert(smtpc_want(c) & SMTPC_WANT_EVENT);
	cr_assert_eq(smtpc_recv_buf(c, &room), NULL);
	cr_assert_eq(room, 0);
	cr_assert_eq(smtpc_feed(c, NULL, 1), 0);
	cr_assert_eq(smtpc_feed(NULL, many, 1), 0);
	cr_assert_null(smtpc_recv_buf(NULL, &room));
	cr_assert_null(smtpc_recv_buf(c, NULL));
	smtpc_recv_ack(NULL, 1);
	smtpc_eof(NULL);
	tc_free(c);
}

Test(conn, want_mask_through_a_session)
{
	smtpc_conn *c = tc_new(NULL, 0);
	smtpc_event ev;

	cr_assert_eq(smtpc_want(c), SMTPC_WANT_READ);
	smtpc_feed(c, "220 hi\r\n", 8);
	cr_assert_eq(smtpc_want(c), SMTPC_WANT_READ | SMTPC_WANT_EVENT);
	drain(c, NULL);
	OK(smtpc_ehlo(c, "client.example"));
	cr_assert_eq(smtpc_want(c), SMTPC_WANT_READ | SMTPC_WANT_WRITE);
	tx_take(c);
	smtpc_feed(c, "250 hi\r\n", 8);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_LINE);
	cr_assert_eq(smtpc_want(c), SMTPC_WANT_READ | SMTPC_WANT_EVENT); /* the reply is due */
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_REPLY);
	smtpc_eof(c);
	cr_assert_eq(smtpc_want(c), SMTPC_WANT_EVENT);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_CLOSED);
	cr_assert_eq(smtpc_want(c), SMTPC_WANT_CLOSED | SMTPC_WANT_EVENT);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_CLOSED); /* repeated */
	cr_assert_eq(smtpc_feed(c, "x", 1), 1);			 /* dropped */
	cr_assert_eq(smtpc_noop(c), SMTPC_ERR_ENDED);
	cr_assert_eq(smtpc_want(NULL), SMTPC_WANT_CLOSED | SMTPC_WANT_EVENT);
	cr_assert_eq(smtpc_next_event(NULL, &ev), SMTPC_EV_ERROR);
	cr_assert_eq(smtpc_next_event(c, NULL), SMTPC_EV_ERROR);
	tc_free(c);
}

Test(conn, errors_are_sticky_and_first_wins)
{
	smtpc_conn *c = tc_ready(NULL, "PIPELINING");
	smtpc_event ev;
	size_t n;

	OK(smtpc_noop(c));
	feed_ok(c, "");
	smtpc_feed(c, "250 \001\r\n", 8);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_ERROR);
	cr_assert_eq(ev.err, SMTPC_ERR_REPLY_CTRL);
	cr_assert_eq(smtpc_fail(c, SMTPC_ERR_TIMEOUT), SMTPC_ERR_REPLY_CTRL);
	cr_assert_eq(smtpc_error(c), SMTPC_ERR_REPLY_CTRL);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_ERROR);
	cr_assert_eq(ev.err, SMTPC_ERR_REPLY_CTRL);
	cr_assert_eq(smtpc_mail(c, "a@example.com", NULL), SMTPC_ERR_REPLY_CTRL);
	cr_assert_null(smtpc_send_buf(c, &n)); /* nothing more goes out */
	cr_assert_eq(n, 0);
	cr_assert_eq(smtpc_want(c), SMTPC_WANT_CLOSED | SMTPC_WANT_EVENT);
	tc_free(c);

	c = tc_ready(NULL, "");
	cr_assert_eq(smtpc_fail(c, SMTPC_ERR_OK), SMTPC_ERR_OK);
	cr_assert_eq(smtpc_fail(c, (smtpc_err)999), SMTPC_ERR_OK);
	cr_assert_eq(smtpc_fail(c, SMTPC_ERR_TIMEOUT), SMTPC_ERR_TIMEOUT);
	cr_assert_eq(smtpc_fail(c, SMTPC_ERR_RESET), SMTPC_ERR_TIMEOUT);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_ERROR);
	cr_assert_eq(smtpc_fail(NULL, SMTPC_ERR_TIMEOUT), SMTPC_ERR_NULL_ARG);
	cr_assert_eq(smtpc_error(NULL), SMTPC_ERR_NULL_ARG);
	tc_free(c);
}

Test(conn, error_table_is_complete)
{
	for (int e = 0; e < SMTPC_ERR__COUNT; e++) {
		const char *name = smtpc_err_name((smtpc_err)e);
		cr_assert_eq(strncmp(name, "SMTPC_ERR_", 10), 0);
		cr_assert_gt(strlen(smtpc_err_desc((smtpc_err)e)), 5);
		cr_assert_eq(smtpc_err_class((smtpc_err)e) == SMTPC_CLASS_NONE, e == SMTPC_ERR_OK);
		for (int f = 0; f < e; f++)
			cr_assert_str_neq(name, smtpc_err_name((smtpc_err)f));
	}
	cr_assert_str_eq(smtpc_err_name(SMTPC_ERR_STARTTLS_INJECTION),
			 "SMTPC_ERR_STARTTLS_INJECTION");
	cr_assert_eq(smtpc_err_class(SMTPC_ERR_BAD_REPLY), SMTPC_CLASS_PROTOCOL);
	cr_assert_eq(smtpc_err_class(SMTPC_ERR_TIMEOUT), SMTPC_CLASS_TRANSPORT);
	cr_assert_eq(smtpc_err_class(SMTPC_ERR_NO_SPACE), SMTPC_CLASS_AGAIN);
	cr_assert_eq(smtpc_err_class(SMTPC_ERR_TOO_BIG), SMTPC_CLASS_POLICY);
	cr_assert_eq(smtpc_err_class(SMTPC_ERR_BAD_ADDRESS), SMTPC_CLASS_ARGUMENT);
	cr_assert_eq(smtpc_err_class(SMTPC_ERR_SEQUENCE), SMTPC_CLASS_MISUSE);
	cr_assert_str_eq(smtpc_err_name((smtpc_err)-1), "SMTPC_ERR_?");
	cr_assert_str_eq(smtpc_err_desc(SMTPC_ERR__COUNT), "unknown error");
	cr_assert_eq(smtpc_err_class(SMTPC_ERR__COUNT), SMTPC_CLASS_NONE);
	cr_assert_str_eq(smtpc_cmd_name(SMTPC_CMD_DATA_END), "DATA_END");
	cr_assert_str_eq(smtpc_cmd_name((smtpc_cmd)99), "?");
}

/* ---- STARTTLS ---------------------------------------------------------------- */

static void issue_starttls(smtpc_conn *c)
{
	OK(smtpc_starttls(c));
	cr_assert_str_eq(tx_take(c), "STARTTLS\r\n");
}

static void check_paused(smtpc_conn *c)
{
	size_t room;

	cr_assert_eq(smtpc_want(c), SMTPC_WANT_TLS);
	cr_assert_null(smtpc_recv_buf(c, &room));
	cr_assert_eq(smtpc_noop(c), SMTPC_ERR_STATE);
	OK(smtpc_tls_started(c));
	cr_assert(smtpc_is_secure(c));
	cr_assert(!smtpc_is_greeted(c));
	cr_assert_eq(smtpc_get_caps(c)->ext, 0); /* forgotten: EHLO again */
	cr_assert_eq(smtpc_mail(c, "a@example.com", NULL), SMTPC_ERR_SEQUENCE);
	cr_assert_eq(smtpc_starttls(c), SMTPC_ERR_SEQUENCE);
	OK(smtpc_ehlo(c, "client.example"));
	feed_ok(c, "250-mx\r\n250 AUTH PLAIN\r\n");
	cr_assert_eq(smtpc_starttls(c), SMTPC_ERR_STATE); /* once only */
	OK(smtpc_auth(c, SMTPC_MECH_PLAIN, "u", "p"));
}

Test(conn, starttls_pauses_then_forgets_capabilities)
{
	script s = {
	    "starttls",
	    NULL,
	    "PIPELINING\nSTARTTLS\nAUTH PLAIN",
	    0,
	    issue_starttls,
	    "220 2.0.0 Ready to start TLS\r\n",
	    0,
	    0,
	    "L 220 2.0.0 Ready to start TLS\nR 220 STARTTLS [2.0.0] 2.0.0 Ready to start TLS\n"
	    "TLS\n",
	    check_paused};
	run_script(&s);
}

Test(conn, plaintext_after_the_220_is_injection)
{
	/* Whatever the split, the injected bytes end the session with
	 * SMTPC_ERR_STARTTLS_INJECTION and never surface as a reply. The only
	 * difference a split makes is whether the STARTTLS event was pulled
	 * before they arrived. */
	static const char *const inputs[] = {"220 go\r\n250 injected\r\n", "220 go\r\nX"};
	for (size_t i = 0; i < 2; i++) {
		size_t len = strlen(inputs[i]);
		for (size_t cut = 1; cut <= len; cut++) {
			smtpc_conn *c = tc_ready(NULL, "STARTTLS");
			sbuf log = {0};
			OK(smtpc_starttls(c));
			feed_all(c, inputs[i], cut, &log);
			if (!(smtpc_want(c) & SMTPC_WANT_CLOSED))
				feed_all(c, inputs[i] + cut, len - cut, &log);
			if (cut != 8)
				cr_assert_str_eq(
				    log.s, "L 220 go\nR 220 STARTTLS go\nE STARTTLS_INJECTION\n",
				    "cut %zu", cut);
			else
				cr_assert_str_eq(
				    log.s,
				    "L 220 go\nR 220 STARTTLS go\nTLS\nE STARTTLS_INJECTION\n",
				    "cut %zu", cut);
			sb_free(&log);
			tc_free(c);
		}
	}

	/* arriving later, while paused */
	smtpc_conn *c = tc_ready(NULL, "STARTTLS");
	OK(smtpc_starttls(c));
	feed_ok(c, "220 go\r\n");
	cr_assert_eq(smtpc_feed(c, "250 x\r\n", 7), 7);
	cr_assert_eq(smtpc_error(c), SMTPC_ERR_STARTTLS_INJECTION);
	cr_assert_eq(smtpc_tls_started(c), SMTPC_ERR_STARTTLS_INJECTION);
	tc_free(c);
}

Test(conn, starttls_refused_keeps_plaintext_session)
{
	smtpc_conn *c = tc_ready(NULL, "STARTTLS");
	sbuf log = {0};

	OK(smtpc_starttls(c));
	feed_all(c, "454 4.7.0 TLS not available\r\n", 29, &log);
	cr_assert_str_eq(log.s, "L 454 4.7.0 TLS not available\n"
				"R 454 STARTTLS [4.7.0] 4.7.0 TLS not available\n");
	cr_assert_eq(smtpc_tls_started(c), SMTPC_ERR_STATE);
	cr_assert(!smtpc_is_secure(c));
	cr_assert(smtpc_want(c) & SMTPC_WANT_READ);
	cr_assert_eq(smtpc_tls_started(NULL), SMTPC_ERR_NULL_ARG);
	sb_free(&log);
	tc_free(c);
}

Test(conn, close_while_paused_for_tls_is_reported)
{
	smtpc_conn *c = tc_ready(NULL, "STARTTLS");
	sbuf log = {0};

	OK(smtpc_starttls(c));
	feed_ok(c, "220 go\r\n");
	smtpc_eof(c);
	drain(c, &log);
	cr_assert_str_eq(log.s, "CLOSED\n");
	cr_assert_eq(smtpc_tls_started(c), SMTPC_ERR_STATE);
	sb_free(&log);
	tc_free(c);
}

Test(conn, tls_started_only_after_the_event)
{
	smtpc_conn *c = tc_ready(NULL, "STARTTLS");
	smtpc_event ev;

	OK(smtpc_starttls(c));
	tx_take(c);
	smtpc_feed(c, "220 go\r\n", 8);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_LINE);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_REPLY);
	cr_assert_eq(smtpc_tls_started(c), SMTPC_ERR_STATE);
	cr_assert_eq(smtpc_want(c), SMTPC_WANT_EVENT);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_STARTTLS);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_NEED_DATA);
	OK(smtpc_tls_started(c));
	tc_free(c);
}

/* ---- raw lines --------------------------------------------------------------- */

Test(conn, raw_lines_keep_their_meaning)
{
	smtpc_conn *c = tc_new(NULL, 0);
	sbuf log = {0};
	char big[1200];

	feed_ok(c, "220 hi\r\n");
	cr_assert_eq(smtpc_raw(c, "EHLO a\r\nRSET", 12), SMTPC_ERR_CTRL_CHAR);
	cr_assert_eq(smtpc_raw(c, "", 0), SMTPC_ERR_BAD_PARAM);
	cr_assert_eq(smtpc_raw(c, NULL, 1), SMTPC_ERR_NULL_ARG);
	memset(big, 'x', sizeof big);
	cr_assert_eq(smtpc_raw(c, big, 511), SMTPC_ERR_TOO_LONG);
	OK(smtpc_raw(c, "ehlo client.example", 19));
	cr_assert_eq(smtpc_raw(c, "NOOP", 4), SMTPC_ERR_PIPELINE);
	feed_ok(c, "250-mx\r\n250-PIPELINING\r\n250 STARTTLS\r\n");
	cr_assert(smtpc_get_caps(c)->ext & SMTPC_EXT_STARTTLS); /* raw EHLO still parsed */
	OK(smtpc_raw(c, "MAIL FROM:<a@example.com>", 25));
	cr_assert_eq(smtpc_raw(c, "RCPT TO:<b@example.com>", 23), SMTPC_ERR_PIPELINE);
	feed_ok(c, "250 ok\r\n");
	OK(smtpc_raw(c, "RCPT TO:<b@example.com>", 23));
	feed_ok(c, "250 ok\r\n");
	OK(smtpc_raw(c, "DATA", 4));
	feed_ok(c, "354 go\r\n");
	cr_assert_eq(smtpc_waiting_for(c), SMTPC_WAIT_DATA_BLOCK);
	cr_assert_eq(smtpc_noop(c), SMTPC_ERR_IN_BODY);
	OK(smtpc_raw(c, "Subject: x\tz", 12)); /* message lines expect no reply */
	OK(smtpc_raw(c, "", 0));
	cr_assert_eq(smtpc_raw(c, "a\rb", 3), SMTPC_ERR_CTRL_CHAR);
	cr_assert_eq(smtpc_raw(c, big, 999), SMTPC_ERR_TOO_LONG);
	cr_assert_eq(smtpc_pending(c), 0);
	OK(smtpc_raw(c, ".", 1));
	cr_assert_eq(smtpc_pending(c), 1);
	feed_all(c, "250 queued\r\n", 12, &log);
	cr_assert_str_eq(log.s, "L 250 queued\nR 250 DATA_END queued\n");
	OK(smtpc_raw(c, "XUNKNOWN arg", 12));
	feed_ok(c, "500 what?\r\n");
	OK(smtpc_raw(c, "STARTTLS", 8));
	feed_ok(c, "220 go\r\n");
	cr_assert_eq(smtpc_want(c), SMTPC_WANT_WRITE | SMTPC_WANT_TLS);
	cr_assert_str_eq(tx_take(c), "ehlo client.example\r\nMAIL FROM:<a@example.com>\r\n"
				     "RCPT TO:<b@example.com>\r\nDATA\r\nSubject: x\tz\r\n\r\n.\r\n"
				     "XUNKNOWN arg\r\nSTARTTLS\r\n");
	OK(smtpc_tls_started(c));
	OK(smtpc_raw(c, "AUTH LOGIN", 10));
	feed_ok(c, "334 VXNlcm5hbWU6\r\n"); /* a raw AUTH is answered by raw lines */
	cr_assert_eq(smtpc_pending(c), 0);
	OK(smtpc_raw(c, "dXNlcg==", 8));
	feed_ok(c, "334 UGFzc3dvcmQ6\r\n");
	OK(smtpc_raw(c, "cGFzcw==", 8));
	feed_ok(c, "235 ok\r\n");
	cr_assert(smtpc_is_authenticated(c));
	OK(smtpc_raw(c, "QUIT", 4));
	cr_assert_eq(smtpc_raw(c, "NOOP", 4), SMTPC_ERR_ENDED);
	sb_free(&log);
	tc_free(c);
}

Test(conn, waiting_for_each_phase)
{
	smtpc_conn *c = tc_new(NULL, 0);

	cr_assert_eq(smtpc_waiting_for(c), SMTPC_WAIT_GREETING);
	feed_ok(c, "220 hi\r\n");
	cr_assert_eq(smtpc_waiting_for(c), SMTPC_WAIT_NONE);
	OK(smtpc_ehlo(c, "a.example"));
	cr_assert_eq(smtpc_waiting_for(c), SMTPC_WAIT_OTHER);
	feed_ok(c, "250 hi\r\n");
	cr_assert_eq(smtpc_waiting_for(NULL), SMTPC_WAIT_NONE);
	cr_assert_eq(smtpc_pending(NULL), 0);
	cr_assert(!smtpc_is_greeted(NULL));
	cr_assert(!smtpc_is_secure(NULL));
	cr_assert(!smtpc_is_authenticated(NULL));
	smtpc_set_secure(NULL);
	tc_free(c);
}

/* ---- command hook ---------------------------------------------------------------- */

static void hook(void *ctx, smtpc_cmd cmd, const char *line, size_t len, int secret)
{
	sb_add(ctx, "%s%s %.*s\n", smtpc_cmd_name(cmd), secret ? "*" : "", (int)len, line);
}

Test(conn, command_hook_reports_lines_not_content)
{
	smtpc_conn *c = tc_ready(NULL, "PIPELINING\nAUTH PLAIN LOGIN");
	sbuf log = {0};

	smtpc_set_command_hook(c, hook, &log);
	smtpc_set_secure(c);
	OK(smtpc_auth(c, SMTPC_MECH_LOGIN, "u", "p"));
	feed_ok(c, "334 x\r\n");
	feed_ok(c, "334 y\r\n");
	feed_ok(c, "235 ok\r\n");
	OK(smtpc_mail(c, "a@example.com", NULL));
	OK(smtpc_rcpt(c, "b@example.com", NULL));
	OK(smtpc_data(c));
	feed_ok(c, "250 ok\r\n250 ok\r\n354 go\r\n");
	cr_assert_eq(smtpc_body_write(c, "secret body\r\n", 13), 13);
	OK(smtpc_body_end(c));
	feed_ok(c, "250 ok\r\n");
	OK(smtpc_raw(c, "DATA", 4)); /* not in a transaction: the server says no */
	feed_ok(c, "503 no\r\n");
	OK(smtpc_raw(c, "MAIL FROM:<a@example.com>", 25));
	feed_ok(c, "250 ok\r\n");
	OK(smtpc_raw(c, "RCPT TO:<b@example.com>", 23));
	feed_ok(c, "250 ok\r\n");
	OK(smtpc_raw(c, "DATA", 4));
	feed_ok(c, "354 go\r\n");
	OK(smtpc_raw(c, "raw body", 8));
	OK(smtpc_raw(c, ".", 1));
	smtpc_set_command_hook(c, NULL, NULL);
	OK(smtpc_quit(c));
	cr_assert_str_eq(log.s, "AUTH AUTH LOGIN\nAUTH* dQ==\nAUTH* cA==\n"
				"MAIL MAIL FROM:<a@example.com>\nRCPT RCPT TO:<b@example.com>\n"
				"DATA DATA\nDATA_END .\nRAW DATA\nRAW MAIL FROM:<a@example.com>\n"
				"RAW RCPT TO:<b@example.com>\nRAW DATA\nDATA_END .\n");
	smtpc_set_command_hook(NULL, hook, NULL);
	sb_free(&log);
	tc_free(c);
}

/* ---- replies that arrived before their command ------------------------------- */

Test(conn, reply_received_before_its_command_answers_nothing)
{
	smtpc_conn *c = tc_new(NULL, 0);
	smtpc_event ev;
	sbuf log = {0};

	smtpc_feed(c, "220 hi\r\n250 early\r\n", 19);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_LINE);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_REPLY);
	/* "250 early" sits unparsed when EHLO is issued */
	OK(smtpc_ehlo(c, "client.example"));
	drain(c, &log);
	feed_all(c, "250 real\r\n", 10, &log);
	cr_assert_str_eq(log.s, "L 250 early\nR 250 NONE early\nL 250 real\nR 250 EHLO real\n");
	cr_assert(smtpc_is_greeted(c));
	sb_free(&log);
	tc_free(c);
}

Test(conn, early_replies_option_lets_them_answer)
{
	smtpc_config cfg;
	sbuf log = {0};

	smtpc_config_default(&cfg);
	cfg.early_replies = 1;
	smtpc_conn *c = tc_new(&cfg, 0);
	smtpc_event ev;
	smtpc_feed(c, "220 hi\r\n250 early\r\n", 19);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_LINE);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_REPLY);
	OK(smtpc_ehlo(c, "client.example"));
	drain(c, &log);
	cr_assert_str_eq(log.s, "L 250 early\nR 250 EHLO early\n");
	sb_free(&log);
	tc_free(c);
}

Test(conn, early_421_is_unsolicited_and_closes)
{
	smtpc_conn *c = tc_ready(NULL, "PIPELINING");
	smtpc_event ev;
	sbuf log = {0};

	smtpc_feed(c, "421 4.3.2 bye\r\n", 15);
	OK(smtpc_mail(c, "a@example.com", NULL));
	drain(c, &log);
	cr_assert_str_eq(log.s, "L 421 4.3.2 bye\nR 421 NONE [4.3.2] 4.3.2 bye\n");
	/* the MAIL will never be answered: not pending, but counted */
	cr_assert_eq(smtpc_pending(c), 0);
	cr_assert_eq(smtpc_rcpt(c, "b@example.com", NULL), SMTPC_ERR_ENDED);
	smtpc_eof(c);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_CLOSED); /* the server said so */
	cr_assert_eq(ev.end.how, SMTPC_END_SHUTDOWN);
	cr_assert_eq(ev.end.code, 421);
	cr_assert_eq(ev.end.unanswered, 1);
	cr_assert_eq(ev.end.transaction, 1);
	sb_free(&log);
	tc_free(c);
}

/* ---- roles ----------------------------------------------------------------------- */

/* The call must return want and leave the connection exactly as it was. */
#define UNCHANGED(c, call, want)                                                                   \
	do {                                                                                       \
		smtpc_conn before_;                                                                \
		memcpy(&before_, (c), sizeof before_);                                             \
		cr_assert_eq((call), (want), "%s", #call);                                         \
		cr_assert_eq(memcmp(&before_, (c), sizeof before_), 0, "%s changed it", #call);    \
	} while (0)

static int no_hmac(void *ctx, const unsigned char *k, size_t kl, const unsigned char *m, size_t ml,
		   unsigned char out[16])
{
	(void)ctx, (void)k, (void)kl, (void)m, (void)ml, (void)out;
	return -1;
}

static void no_hook(void *ctx, smtpc_cmd cmd, const char *line, size_t len, int secret)
{
	(void)ctx, (void)cmd, (void)line, (void)len, (void)secret;
}

static int no_auth(void *ctx, const char *u, size_t ul, const char *p, size_t pl)
{
	(void)ctx, (void)u, (void)ul, (void)p, (void)pl;
	return 1;
}

Test(roles, client_calls_on_a_server_are_refused_and_write_nothing)
{
	smtpc_conn *s = ts_new(NULL);
	smtpc_event ev;
	smtpc_ext ext;
	size_t pos = 0;

	OK(smtpc_server_greet(s, 220, "s.example"));
	tx_take(s);
	smtpc_feed(s, "EHLO a.example\r\n", 16);
	cr_assert_eq(smtpc_next_event(s, &ev), SMTPC_EV_COMMAND);
	/* found in review: NOOP on a server wrote "NOOP\r\n" to its output */
	UNCHANGED(s, smtpc_noop(s), SMTPC_ERR_ROLE);
	UNCHANGED(s, smtpc_ehlo(s, "a.example"), SMTPC_ERR_ROLE);
	UNCHANGED(s, smtpc_helo(s, "a.example"), SMTPC_ERR_ROLE);
	UNCHANGED(s, smtpc_lhlo(s, "a.example"), SMTPC_ERR_ROLE);
	UNCHANGED(s, smtpc_mail(s, "a@example.com", NULL), SMTPC_ERR_ROLE);
	UNCHANGED(s, smtpc_rcpt(s, "a@example.com", NULL), SMTPC_ERR_ROLE);
	UNCHANGED(s, smtpc_data(s), SMTPC_ERR_ROLE);
	UNCHANGED(s, smtpc_bdat(s, 3, 1), SMTPC_ERR_ROLE);
	UNCHANGED(s, smtpc_rset(s), SMTPC_ERR_ROLE);
	UNCHANGED(s, smtpc_vrfy(s, "x"), SMTPC_ERR_ROLE);
	UNCHANGED(s, smtpc_quit(s), SMTPC_ERR_ROLE);
	UNCHANGED(s, smtpc_starttls(s), SMTPC_ERR_ROLE);
	UNCHANGED(s, smtpc_auth(s, SMTPC_MECH_PLAIN, "u", "p"), SMTPC_ERR_ROLE);
	UNCHANGED(s, smtpc_raw(s, "NOOP", 4), SMTPC_ERR_ROLE);
	UNCHANGED(s, smtpc_body_end(s), SMTPC_ERR_ROLE);
	UNCHANGED(s, smtpc_body_write(s, "x", 1), 0);
	UNCHANGED(s, smtpc_ext_next(s, &pos, &ext), 0);
	UNCHANGED(s, smtpc_ext_find(s, "SIZE", &ext), 0);
	UNCHANGED(s, smtpc_body_stats(s) == NULL, 1);
	UNCHANGED(s, smtpc_get_caps(s)->ext, 0);
	smtpc_conn before;
	memcpy(&before, s, sizeof before);
	smtpc_set_hmac_md5(s, no_hmac, NULL);
	smtpc_set_command_hook(s, no_hook, NULL);
	cr_assert_eq(memcmp(&before, s, sizeof before), 0);
	cr_assert_str_eq(tx_take(s), "");
	tc_free(s);
}

Test(roles, server_calls_on_a_client_are_refused_and_write_nothing)
{
	smtpc_conn *c = tc_ready(NULL, "PIPELINING");
	smtpc_caps caps = {0, 0, 0, 0};
	unsigned rcpt = 7;

	OK(smtpc_mail(c, "a@example.com", NULL));
	UNCHANGED(c, smtpc_server_greet(c, 220, "x"), SMTPC_ERR_ROLE);
	UNCHANGED(c, smtpc_server_reply(c, 250, "x"), SMTPC_ERR_ROLE);
	UNCHANGED(c, smtpc_server_reply_ehlo(c, "x.example", &caps), SMTPC_ERR_ROLE);
	UNCHANGED(c, smtpc_server_shutdown(c, "bye"), SMTPC_ERR_ROLE);
	UNCHANGED(c, smtpc_server_reply_rcpt(c, &rcpt), 0);
	cr_assert_eq(rcpt, 7);
	smtpc_conn before;
	memcpy(&before, c, sizeof before);
	smtpc_server_allow_starttls(c, 1);
	smtpc_server_set_auth(c, no_auth, NULL);
	cr_assert_eq(memcmp(&before, c, sizeof before), 0);
	cr_assert_str_eq(tx_take(c), "MAIL FROM:<a@example.com>\r\n");
	tc_free(c);
}

Test(roles, server_is_greeted_after_its_250_to_ehlo)
{
	smtpc_conn *s = ts_new(NULL);
	smtpc_event ev;
	smtpc_caps caps = {SMTPC_EXT_STARTTLS, 0, 0, 0};

	smtpc_server_allow_starttls(s, 1);
	OK(smtpc_server_greet(s, 220, "s.example"));
	smtpc_feed(s, "EHLO a.example\r\n", 16);
	cr_assert_eq(smtpc_next_event(s, &ev), SMTPC_EV_COMMAND);
	cr_assert(!smtpc_is_greeted(s));
	OK(smtpc_server_reply_ehlo(s, "s.example", &caps));
	/* found in review: 0 here */
	cr_assert(smtpc_is_greeted(s));
	smtpc_feed(s, "STARTTLS\r\n", 10);
	cr_assert_eq(smtpc_next_event(s, &ev), SMTPC_EV_STARTTLS);
	OK(smtpc_tls_started(s));
	cr_assert(!smtpc_is_greeted(s)); /* RFC 3207 4.2: EHLO again */
	cr_assert(smtpc_is_secure(s));
	tc_free(s);
}

Test(roles, a_failed_init_leaves_a_connection_that_refuses_everything)
{
	static unsigned char rx[16], tx[16];
	smtpc_conn c;
	smtpc_event ev;
	size_t n;

	memset(&c, 0x5a, sizeof c);
	cr_assert_eq(smtpc_init(&c, NULL, rx, sizeof rx, tx, sizeof tx), SMTPC_ERR_BUFFER_SMALL);
	cr_assert_eq(smtpc_noop(&c), SMTPC_ERR_ROLE);
	cr_assert_eq(smtpc_server_reply(&c, 250, "x"), SMTPC_ERR_ROLE);
	cr_assert_eq(smtpc_next_event(&c, &ev), SMTPC_EV_ERROR);
	cr_assert_eq(ev.err, SMTPC_ERR_ROLE);
	cr_assert_eq(smtpc_want(&c), SMTPC_WANT_CLOSED | SMTPC_WANT_EVENT);
	cr_assert_eq(smtpc_feed(&c, "220 x\r\n", 7), 0);
	cr_assert_null(smtpc_recv_buf(&c, &n));
	smtpc_recv_ack(&c, 5);
	smtpc_send_ack(&c, 5);
	smtpc_set_secure(&c);
	cr_assert(!smtpc_is_secure(&c));
	cr_assert_null(smtpc_send_buf(&c, &n));
	cr_assert_eq(smtpc_tls_started(&c), SMTPC_ERR_ROLE);
	cr_assert_eq(smtpc_fail(&c, SMTPC_ERR_TIMEOUT), SMTPC_ERR_ROLE);
	cr_assert_eq(smtpc_waiting_for(&c), SMTPC_WAIT_NONE);
	cr_assert_eq(smtpc_pending(&c), 0);
	cr_assert_eq(smtpc_session_end(&c, NULL), SMTPC_END_NONE);
	cr_assert_eq(smtpc_server_init(&c, NULL, rx, sizeof rx, tx, sizeof tx),
		     SMTPC_ERR_BUFFER_SMALL);
	cr_assert_eq(smtpc_server_greet(&c, 220, "x"), SMTPC_ERR_ROLE);
	/* a server transmit buffer must hold the core's own replies */
	static unsigned char big_rx[8192], small_tx[SMTPC_SERVER_TX_MIN - 1];
	cr_assert_eq(smtpc_server_init(&c, NULL, big_rx, sizeof big_rx, small_tx, sizeof small_tx),
		     SMTPC_ERR_BUFFER_SMALL);
	cr_assert_eq(smtpc_server_init(NULL, NULL, big_rx, sizeof big_rx, tx, sizeof tx),
		     SMTPC_ERR_NULL_ARG);
}

Test(roles, init_refuses_a_struct_of_another_size_before_writing)
{
	/* what a program built with other caps passes: another size, or the
	 * same size with another queue depth */
	static unsigned char rx[8192], tx[1024];
	unsigned char *mem = malloc(sizeof(smtpc_conn) + 64);

	memset(mem, 0xa5, sizeof(smtpc_conn) + 64);
	cr_assert_eq(smtpc_init_((smtpc_conn *)mem, NULL, rx, sizeof rx, tx, sizeof tx,
				 sizeof(smtpc_conn) - 64, SMTPC_CAPS_KEY),
		     SMTPC_ERR_ABI);
	/* only the role pointer was cleared: nothing past a smaller struct */
	for (size_t i = sizeof(void *); i < sizeof(smtpc_conn) + 64; i++)
		cr_assert_eq(mem[i], 0xa5, "byte %zu written", i);
	cr_assert_eq(smtpc_noop((smtpc_conn *)mem), SMTPC_ERR_ROLE);
	cr_assert_eq(smtpc_server_init_((smtpc_conn *)mem, NULL, rx, sizeof rx, tx, sizeof tx,
					sizeof(smtpc_conn), SMTPC_CAPS_KEY ^ 1u << 16),
		     SMTPC_ERR_ABI);
	cr_assert_eq(smtpc_init_((smtpc_conn *)mem, NULL, rx, sizeof rx, tx, sizeof tx,
				 sizeof(smtpc_conn) + 8, SMTPC_CAPS_KEY),
		     SMTPC_ERR_ABI);
	cr_assert_eq(smtpc_err_class(SMTPC_ERR_ABI), SMTPC_CLASS_MISUSE);
	OK(smtpc_init((smtpc_conn *)mem, NULL, rx, sizeof rx, tx, sizeof tx));
	free(mem);
}

/* ---- STARTTLS pause and recv_ack ------------------------------------------------- */

Test(conn, bytes_acknowledged_while_paused_are_injection)
{
	/* an adapter that took the buffer before the pause and wrote into it
	 * after: the same verdict as smtpc_feed */
	smtpc_conn *c = tc_ready(NULL, "STARTTLS");
	size_t room;
	unsigned char *p;

	OK(smtpc_starttls(c));
	p = smtpc_recv_buf(c, &room);
	memcpy(p, "220 go\r\n", 8);
	smtpc_recv_ack(c, 8);
	drain(c, NULL);
	cr_assert_eq(smtpc_want(c) & SMTPC_WANT_TLS, SMTPC_WANT_TLS);
	cr_assert_null(smtpc_recv_buf(c, &room));
	smtpc_recv_ack(c, 0); /* nothing: no harm */
	cr_assert_eq(smtpc_error(c), SMTPC_ERR_OK);
	memcpy(p + 8, "250 x\r\n", 7);
	smtpc_recv_ack(c, 7);
	cr_assert_eq(smtpc_error(c), SMTPC_ERR_STARTTLS_INJECTION);
	cr_assert_eq(smtpc_tls_started(c), SMTPC_ERR_STARTTLS_INJECTION);
	tc_free(c);
}

/* ---- how a session ends -------------------------------------------------------- */

static smtpc_end end_of(smtpc_conn *c)
{
	smtpc_end e;

	smtpc_session_end(c, &e);
	return e;
}

#define END_IS(c, h, cd, un, tx)                                                                   \
	do {                                                                                       \
		smtpc_end e_ = end_of(c);                                                          \
		cr_assert_eq(e_.how, (h), "how %d", e_.how);                                       \
		cr_assert_eq(e_.code, (cd), "code %u", e_.code);                                   \
		cr_assert_eq(e_.unanswered, (un), "unanswered %u", e_.unanswered);                 \
		cr_assert_eq(e_.transaction, (tx), "transaction %d", e_.transaction);              \
	} while (0)

static void one_sent_second_pipelined(smtpc_conn *c)
{
	/* message 1 delivered; message 2's MAIL, RCPT and DATA in flight */
	OK(smtpc_mail(c, "a@example.com", NULL));
	OK(smtpc_rcpt(c, "b@example.com", NULL));
	OK(smtpc_data(c));
	feed_ok(c, "250 ok\r\n250 ok\r\n354 go\r\n");
	cr_assert_eq(smtpc_body_write(c, "one\r\n", 5), 5);
	OK(smtpc_body_end(c));
	feed_ok(c, "250 2.0.0 queued\r\n");
	OK(smtpc_mail(c, "a@example.com", NULL));
	OK(smtpc_rcpt(c, "b@example.com", NULL));
	OK(smtpc_data(c));
	cr_assert_eq(smtpc_session_end(c, NULL), SMTPC_END_NONE);
}

static void shutdown_after_one(smtpc_conn *c)
{
	END_IS(c, SMTPC_END_SHUTDOWN, 421, 2, 0);
	cr_assert_eq(smtpc_pending(c), 0);
	cr_assert_eq(smtpc_noop(c), SMTPC_ERR_ENDED);
}

Test(end, a_421_to_the_second_message_is_not_a_clean_end)
{
	script s = {"421 to MAIL 2",
		    NULL,
		    "PIPELINING",
		    0,
		    one_sent_second_pipelined,
		    "421 4.3.2 shutting down\r\n",
		    0,
		    1,
		    "L 421 4.3.2 shutting down\nR 421 MAIL [4.3.2] 4.3.2 shutting down\nCLOSED\n",
		    shutdown_after_one};
	run_script(&s);
}

static void issue_quit_after_mail(smtpc_conn *c)
{
	OK(smtpc_mail(c, "a@example.com", NULL));
	feed_ok(c, "250 ok\r\n");
	OK(smtpc_rset(c));
	feed_ok(c, "250 ok\r\n");
	OK(smtpc_quit(c));
	cr_assert_eq(smtpc_noop(c), SMTPC_ERR_ENDED);
}

static void quit_clean(smtpc_conn *c)
{
	END_IS(c, SMTPC_END_QUIT, 221, 0, 0);
}

static void quit_unanswered(smtpc_conn *c)
{
	END_IS(c, SMTPC_END_QUIT, 0, 0, 0);
}

Test(end, quit_answered_is_the_clean_end)
{
	script s = {"quit",
		    NULL,
		    "",
		    0,
		    issue_quit_after_mail,
		    "221 2.0.0 bye\r\n",
		    0,
		    1,
		    "L 221 2.0.0 bye\nR 221 QUIT [2.0.0] 2.0.0 bye\nCLOSED\n",
		    quit_clean};
	run_script(&s);
	s.in = "";
	s.expect = "CLOSED\n";
	s.check = quit_unanswered; /* the server closed without its 221 */
	run_script(&s);
}

static void issue_mail_rcpt_answered(smtpc_conn *c)
{
	OK(smtpc_mail(c, "a@example.com", NULL));
	OK(smtpc_rcpt(c, "b@example.com", NULL));
	feed_ok(c, "250 ok\r\n250 ok\r\n");
}

static void dropped_in_transaction(smtpc_conn *c)
{
	END_IS(c, SMTPC_END_DROPPED, 0, 0, 1);
	cr_assert_eq(smtpc_error(c), SMTPC_ERR_OK);
}

Test(end, closed_with_a_transaction_open_says_so)
{
	script s = {"drop in txn",
		    NULL,
		    "PIPELINING",
		    0,
		    issue_mail_rcpt_answered,
		    "",
		    0,
		    1,
		    "CLOSED\n",
		    dropped_in_transaction};
	run_script(&s);
}

static void issue_message(smtpc_conn *c)
{
	OK(smtpc_mail(c, "a@example.com", NULL));
	OK(smtpc_rcpt(c, "b@example.com", NULL));
	OK(smtpc_data(c));
	feed_ok(c, "250 ok\r\n250 ok\r\n354 go\r\n");
	OK(smtpc_body_end(c));
	OK(smtpc_mail(c, "a@example.com", NULL)); /* pipelined after the dot */
}

static void dropped_with_replies_owed(smtpc_conn *c)
{
	END_IS(c, SMTPC_END_DROPPED, 0, 2, 1);
	cr_assert_eq(smtpc_error(c), SMTPC_ERR_CLOSED);
}

Test(end, closed_with_replies_owed_is_an_error_and_counts_them)
{
	script s = {"drop owed",
		    NULL,
		    "PIPELINING",
		    0,
		    issue_message,
		    "",
		    0,
		    1,
		    "E CLOSED\n",
		    dropped_with_replies_owed};
	run_script(&s);
}

static void shutdown_221(smtpc_conn *c)
{
	END_IS(c, SMTPC_END_SHUTDOWN, 221, 0, 0);
}

Test(end, unsolicited_221_is_the_server_shutting_down)
{
	script s = {"221",	 NULL, "",
		    0,		 NULL, "221 bye\r\n",
		    0,		 1,    "L 221 bye\nR 221 NONE bye\nCLOSED\n",
		    shutdown_221};
	run_script(&s);
}

static void error_end(smtpc_conn *c)
{
	END_IS(c, SMTPC_END_ERROR, 0, 2, 1);
}

static void issue_mail_rcpt2(smtpc_conn *c)
{
	OK(smtpc_mail(c, "a@example.com", NULL));
	OK(smtpc_rcpt(c, "b@example.com", NULL));
}

Test(end, a_protocol_error_ends_it_with_what_was_unanswered)
{
	script s = {"bad reply", NULL, "PIPELINING",	0,	  issue_mail_rcpt2, "xyz\r\n",
		    0,		 0,    "E BAD_REPLY\n", error_end};
	run_script(&s);
}
