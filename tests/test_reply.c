/* Reply parsing (RFC 5321 4.2, RFC 3463), as transcripts at every split. */
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static smtpc_config strict_cfg(void)
{
	smtpc_config cfg;

	smtpc_config_default(&cfg);
	cfg.strict_crlf = 1;
	return cfg;
}

static void issue_noop(smtpc_conn *c)
{
	cr_assert_eq(smtpc_noop(c), SMTPC_ERR_OK);
}

static void issue_mail_rcpt(smtpc_conn *c)
{
	cr_assert_eq(smtpc_mail(c, "a@example.org", NULL), SMTPC_ERR_OK);
	cr_assert_eq(smtpc_rcpt(c, "b@example.org", NULL), SMTPC_ERR_OK);
	cr_assert_eq(smtpc_rcpt(c, "c@example.org", NULL), SMTPC_ERR_OK);
}

Test(reply, greeting_split_as_the_seed_meets_it)
{
	/* the pieces a seed user meets: "22", "0-first gre", "eting line\r\n220", " last\r\n" */
	script s = {
	    "greeting",
	    NULL,
	    NULL,
	    1,
	    NULL,
	    "220-first greeting line\r\n220 last\r\n",
	    0,
	    0,
	    "L 220-first greeting line\nL 220 last\nR 220 GREETING first greeting line|last\n",
	    NULL};
	run_script(&s);
}

Test(reply, code_only_line_is_a_complete_reply)
{
	script s = {"220", NULL, NULL, 1, NULL, "220\r\n", 0, 0, "L 220 \nR 220 GREETING \n", NULL};
	run_script(&s);
}

Test(reply, continuation_without_text)
{
	script s = {"250-", NULL,	"",
		    0,	    issue_noop, "250-\r\n250\r\n",
		    0,	    0,		"L 250-\nL 250 \nR 250 NOOP |\n",
		    NULL};
	run_script(&s);
}

Test(reply, pipelined_replies_each_matched_in_order)
{
	script s = {"pipelined",
		    NULL,
		    "PIPELINING",
		    0,
		    issue_mail_rcpt,
		    "250 A\r\n251 B\r\n550 5.1.1 no such user\r\n",
		    0,
		    0,
		    "L 250 A\nR 250 MAIL A\nL 251 B\nR 251 RCPT#0 B\n"
		    "L 550 5.1.1 no such user\nR 550 RCPT#1 [5.1.1] 5.1.1 no such user\n",
		    NULL};
	run_script(&s);
}

static void check_idle(smtpc_conn *c)
{
	cr_assert_eq(smtpc_pending(c), 0);
}

Test(reply, unsolicited_421_is_delivered_not_lost)
{
	script s = {"421",
		    NULL,
		    "",
		    0,
		    NULL,
		    "421 4.3.2 shutting down\r\n",
		    0,
		    1,
		    "L 421 4.3.2 shutting down\nR 421 NONE [4.3.2] 4.3.2 shutting down\nCLOSED\n",
		    check_idle};
	run_script(&s);
}

Test(reply, reply_421_to_a_command_then_close_is_clean)
{
	script s = {"421 then eof",
		    NULL,
		    "PIPELINING",
		    0,
		    issue_mail_rcpt,
		    "421 bye\r\n",
		    0,
		    1,
		    "L 421 bye\nR 421 MAIL bye\nCLOSED\n",
		    NULL};
	run_script(&s);
}

Test(reply, eof_with_replies_owed_is_an_error)
{
	script s = {"eof owed", NULL, "", 0, issue_noop, "", 0, 1, "E CLOSED\n", NULL};
	run_script(&s);
}

static void issue_quit(smtpc_conn *c)
{
	cr_assert_eq(smtpc_quit(c), SMTPC_ERR_OK);
}

Test(reply, eof_with_only_quit_owed_is_clean)
{
	script s = {"eof quit", NULL, "", 0, issue_quit, "", 0, 1, "CLOSED\n", NULL};
	run_script(&s);
	s.in = "221 2.0.0 bye\r\n";
	s.expect = "L 221 2.0.0 bye\nR 221 QUIT [2.0.0] 2.0.0 bye\nCLOSED\n";
	run_script(&s);
}

Test(reply, eof_inside_a_line_or_a_reply_is_truncated)
{
	script s = {"eof mid line", NULL, "", 0, issue_noop, "250 ok", 0, 1, "E TRUNCATED\n", NULL};
	run_script(&s);
	s.in = "250-first\r\n";
	s.expect = "L 250-first\nE TRUNCATED\n";
	run_script(&s);
}

Test(reply, malformed_lines)
{
	static const struct {
		const char *in, *expect;
	} t[] = {
	    {"150 no\r\n", "E BAD_REPLY\n"},
	    {"650 no\r\n", "E BAD_REPLY\n"},
	    {"25 short\r\n", "E BAD_REPLY\n"},
	    {"2x0 x\r\n", "E BAD_REPLY\n"},
	    {"250x\r\n", "E BAD_REPLY\n"},
	    {"250_ok\r\n", "E BAD_REPLY\n"},
	    {"\r\n", "E BAD_REPLY\n"},
	    {"hello\r\n", "E BAD_REPLY\n"},
	    {" 250 ok\r\n", "E BAD_REPLY\n"},
	    {"250 a\033[2Jb\r\n", "E REPLY_CTRL\n"},
	    {"250 a\rb\r\n", "E REPLY_CTRL\n"},
	    {"250 ok\r\r\n", "E REPLY_CTRL\n"},
	    {"250 del\177\r\n", "E REPLY_CTRL\n"},
	    {"250-a\r\n251 b\r\n", "L 250-a\nE CODE_MISMATCH\n"},
	    {"250-a\r\n550 b\r\n", "L 250-a\nE CODE_MISMATCH\n"},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		script s = {t[i].in, NULL, "", 0, issue_noop, t[i].in, 0, 0, t[i].expect, NULL};
		run_script(&s);
	}
}

Test(reply, tab_and_utf8_text_pass)
{
	script s = {
	    "text", NULL,	"",
	    0,	    issue_noop, "250 a\tb \xc3\xa9t\xc3\xa9\r\n",
	    0,	    0,		"L 250 a\tb \xc3\xa9t\xc3\xa9\nR 250 NOOP a\tb \xc3\xa9t\xc3\xa9\n",
	    NULL};
	run_script(&s);
}

Test(reply, nul_is_an_error_wherever_it_is)
{
	static const char in1[] = "250 o\0k\r\n";
	static const char in2[] = "2\00050 ok\r\n";
	script s = {"nul", NULL, "", 0, issue_noop, in1, sizeof in1 - 1, 0, "E REPLY_NUL\n", NULL};
	run_script(&s);
	s.in = in2;
	s.len = sizeof in2 - 1;
	run_script(&s);
}

Test(reply, bare_lf_ends_a_line_by_default)
{
	script s = {"bare lf", NULL,	   "",
		    0,	       issue_noop, "250-a\n250 b\r\n",
		    0,	       0,	   "L 250-a\nL 250 b\nR 250 NOOP a|b\n",
		    NULL};
	run_script(&s);
}

Test(reply, bare_lf_is_an_error_in_strict_mode)
{
	smtpc_config cfg = strict_cfg();
	script s = {
	    "strict", &cfg, "", 0, issue_noop, "250-a\r\n250 b\n", 0, 0, "L 250-a\nE BARE_LF\n",
	    NULL};
	run_script(&s);
}

static smtpc_config small_cfg(void)
{
	smtpc_config cfg;

	smtpc_config_default(&cfg);
	cfg.max_line = 600;
	cfg.max_lines = 3;
	cfg.max_reply = 1000;
	return cfg;
}

Test(reply, line_limit_exact_boundary)
{
	smtpc_config cfg = small_cfg();
	char *in = malloc(700);
	char *want = malloc(1500);
	/* "250 " + 596 octets = 600: at the limit */
	memcpy(in, "250 ", 4);
	memset(in + 4, 'x', 596);
	memcpy(in + 600, "\r\n", 3);
	snprintf(want, 1500, "L %.600s\nR 250 NOOP %.596s\n", in, in + 4);
	script s = {"at limit", &cfg, "", 0, issue_noop, in, 0, 0, want, NULL};
	run_script(&s);
	/* one more octet: over, whether the CRLF has come or not */
	memcpy(in + 600, "x\r\n", 4);
	s.expect = "E LINE_TOO_LONG\n";
	run_script(&s);
	in[601] = '\0';
	run_script(&s);
	/* bare LF ends: 600 + LF is fine, 600 + CR + no LF yet is pending */
	memcpy(in + 600, "\n", 2);
	s.expect = want;
	run_script(&s);
	free(in);
	free(want);
}

Test(reply, over_long_line_is_never_split)
{
	/* a long line whose tail looks like a reply must not become one */
	smtpc_config cfg = small_cfg();
	char in[800];
	memcpy(in, "250 ", 4);
	memset(in + 4, 'x', 598);
	memcpy(in + 602, "250 injected\r\n", 15);
	script s = {"no split", &cfg, "", 0, issue_noop, in, 0, 0, "E LINE_TOO_LONG\n", NULL};
	run_script(&s);
}

Test(reply, thirty_two_mib_line_fails_at_the_limit_fast)
{
	smtpc_conn *c = tc_ready(NULL, "");
	size_t big = 32u << 20, fed = 0;
	char *data = malloc(big);
	smtpc_event ev;

	memcpy(data, "250 ", 4);
	memset(data + 4, 'a', big - 4);
	cr_assert_eq(smtpc_noop(c), SMTPC_ERR_OK);
	while (fed < big) {
		size_t n = smtpc_feed(c, data + fed, big - fed);
		fed += n;
		if (smtpc_next_event(c, &ev) == SMTPC_EV_ERROR)
			break;
		cr_assert_neq(n, 0);
	}
	cr_assert_eq(smtpc_error(c), SMTPC_ERR_LINE_TOO_LONG);
	cr_assert_leq(fed, 2048 + 2, "took %zu octets before failing", fed);
	/* after the error the rest is taken and dropped at once */
	cr_assert_eq(smtpc_feed(c, data + fed, big - fed), big - fed);
	free(data);
	tc_free(c);
}

Test(reply, too_many_lines_and_too_much_text)
{
	smtpc_config cfg = small_cfg();
	script s = {"lines", &cfg,	 "",
		    0,	     issue_noop, "250-a\r\n250-b\r\n250-c\r\n250 d\r\n",
		    0,	     0,		 "L 250-a\nL 250-b\nL 250-c\nE TOO_MANY_LINES\n",
		    NULL};
	run_script(&s);
	s.in = "250-a\r\n250-b\r\n250 c\r\n";
	s.expect = "L 250-a\nL 250-b\nL 250 c\nR 250 NOOP a|b|c\n";
	run_script(&s);

	/* 1000 text octets: 500 + '\n' + 499 fits, 500 + '\n' + 500 does not */
	char in[1200], want[2400];
	int n = snprintf(in, sizeof in, "250-%0500d\r\n250 %0499d\r\n", 0, 0);
	cr_assert_lt(n, (int)sizeof in);
	snprintf(want, sizeof want, "L 250-%0500d\nL 250 %0499d\nR 250 NOOP %0500d|%0499d\n", 0, 0,
		 0, 0);
	s.in = in;
	s.expect = want;
	run_script(&s);
	snprintf(in, sizeof in, "250-%0500d\r\n250 %0500d\r\n", 0, 0);
	snprintf(want, sizeof want, "L 250-%0500d\nE REPLY_TOO_LONG\n", 0);
	run_script(&s);
}

Test(reply, enhanced_status_codes)
{
	static const struct {
		const char *in, *expect;
	} t[] = {
	    {"250 2.1.0 Ok\r\n", "L 250 2.1.0 Ok\nR 250 NOOP [2.1.0] 2.1.0 Ok\n"},
	    {"250 2.0.0\r\n", "L 250 2.0.0\nR 250 NOOP [2.0.0] 2.0.0\n"},
	    {"550 5.123.999 x\r\n", "L 550 5.123.999 x\nR 550 NOOP [5.123.999] 5.123.999 x\n"},
	    {"451 4.7.1 x\r\n", "L 451 4.7.1 x\nR 451 NOOP [4.7.1] 4.7.1 x\n"},
	    /* class differs from the code: plain text */
	    {"250 5.1.0 x\r\n", "L 250 5.1.0 x\nR 250 NOOP 5.1.0 x\n"},
	    /* no class 3 */
	    {"354 3.0.0 go\r\n", "L 354 3.0.0 go\nR 354 NOOP 3.0.0 go\n"},
	    /* four digits, missing parts, no space after */
	    {"250 2.1000.0 x\r\n", "L 250 2.1000.0 x\nR 250 NOOP 2.1000.0 x\n"},
	    {"250 2.1. x\r\n", "L 250 2.1. x\nR 250 NOOP 2.1. x\n"},
	    {"250 2..1 x\r\n", "L 250 2..1 x\nR 250 NOOP 2..1 x\n"},
	    {"250 2.1.0x\r\n", "L 250 2.1.0x\nR 250 NOOP 2.1.0x\n"},
	    {"250 2.1.0000\r\n", "L 250 2.1.0000\nR 250 NOOP 2.1.0000\n"},
	    {"250 2x1.0\r\n", "L 250 2x1.0\nR 250 NOOP 2x1.0\n"},
	    /* taken from the first line */
	    {"250-2.0.0 a\r\n250 2.0.1 b\r\n",
	     "L 250-2.0.0 a\nL 250 2.0.1 b\nR 250 NOOP [2.0.0] 2.0.0 a|2.0.1 b\n"},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		script s = {t[i].in, NULL, "", 0, issue_noop, t[i].in, 0, 0, t[i].expect, NULL};
		run_script(&s);
	}
}

Test(reply, helpers_match_the_seed)
{
	cr_assert(smtpc_is_last_line("250 ok\r\n", 8));
	cr_assert(smtpc_is_last_line("250 ok", 6));
	cr_assert(smtpc_is_last_line("250\r\n", 5));
	cr_assert(smtpc_is_last_line("250", 3));
	cr_assert(!smtpc_is_last_line("250-ok\r\n", 8));
	cr_assert(!smtpc_is_last_line("25", 2));
	cr_assert(!smtpc_is_last_line("2500 x", 6));
	cr_assert(!smtpc_is_last_line(NULL, 0));
	cr_assert_eq(smtpc_line_code("250-ok\r\n", 8), 250);
	cr_assert_eq(smtpc_line_code("554 no", 6), 554);
	cr_assert_eq(smtpc_line_code("354\n", 4), 354);
	cr_assert_eq(smtpc_line_code("199 x", 5), 0);
	cr_assert_eq(smtpc_line_code("600 x", 5), 0);
	cr_assert_eq(smtpc_line_code("25x", 3), 0);
	cr_assert_eq(smtpc_line_code("250x", 4), 0);
	cr_assert_eq(smtpc_line_code(NULL, 3), 0);
}

Test(reply, event_text_survives_until_the_next_call)
{
	smtpc_conn *c = tc_ready(NULL, "");
	smtpc_event ev;

	cr_assert_eq(smtpc_noop(c), SMTPC_ERR_OK);
	smtpc_feed(c, "250-one\r\n250 two\r\n", 18);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_LINE);
	cr_assert_eq(smtpc_feed(c, "250 more\r\n", 10), 10); /* input moves; the text must not */
	cr_assert_str_eq(ev.line.text, "one");
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_LINE);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_REPLY);
	cr_assert_str_eq(ev.reply.text, "one\ntwo");
	cr_assert_eq(ev.reply.nlines, 2);
	cr_assert_eq(smtpc_want(c) & SMTPC_WANT_EVENT, SMTPC_WANT_EVENT);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_LINE);
	cr_assert_eq(ev.line.code, 250);
	cr_assert_eq(smtpc_next_event(c, &ev), SMTPC_EV_REPLY);
	cr_assert_eq(ev.reply.cmd, SMTPC_CMD_NONE);
	tc_free(c);
}
