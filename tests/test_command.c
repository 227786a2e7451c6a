/* Typed commands: wire format, argument checks, order, pipelining. */
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A refused command must return err and leave the connection, and the
 * bytes waiting to be sent, exactly as they were. */
#define REFUSED(c, call, want)                                                                     \
	do {                                                                                       \
		smtpc_conn before_;                                                                \
		size_t n0_, n1_;                                                                   \
		const unsigned char *p0_ = smtpc_send_buf((c), &n0_);                              \
		unsigned char *copy_ = malloc(n0_ + 1);                                            \
		memcpy(&before_, (c), sizeof before_);                                             \
		if (n0_)                                                                           \
			memcpy(copy_, p0_, n0_);                                                   \
		smtpc_err got_ = (call);                                                           \
		cr_assert_eq(got_, (want), "%s: got %s, want %s", #call, smtpc_err_name(got_),     \
			     smtpc_err_name(want));                                                \
		cr_assert_eq(memcmp(&before_, (c), sizeof before_), 0, "%s changed the state",     \
			     #call);                                                               \
		const unsigned char *p1_ = smtpc_send_buf((c), &n1_);                              \
		cr_assert_eq(n0_, n1_);                                                            \
		cr_assert(n0_ == 0 || memcmp(copy_, p1_, n0_) == 0);                               \
		free(copy_);                                                                       \
	} while (0)

#define OK(call) cr_assert_eq((call), SMTPC_ERR_OK, "%s failed", #call)

static const char *const ALL_EXT =
    "PIPELINING\nSIZE 10000\n8BITMIME\nBINARYMIME\nSMTPUTF8\nCHUNKING\nSTARTTLS\nDSN\n"
    "ENHANCEDSTATUSCODES\nREQUIRETLS\nAUTH PLAIN LOGIN";

Test(command, ehlo_helo_wire_and_domains)
{
	static const char *const good[] = {"client.example",
					   "mx-1.example.com",
					   "a",
					   "localhost",
					   "[127.0.0.1]",
					   "[IPv6:::1]",
					   "[IPv6:2001:db8::1]",
					   "[IPv6:2001:db8:0:0:0:0:0:1]",
					   "[IPv6:::ffff:192.0.2.1]",
					   "[x-tag:abc]",
					   "123.example"};
	static const struct {
		const char *d;
		smtpc_err e;
	} bad[] = {
	    {"", SMTPC_ERR_BAD_DOMAIN},
	    {"-a.com", SMTPC_ERR_BAD_DOMAIN},
	    {"a-.com", SMTPC_ERR_BAD_DOMAIN},
	    {"a..com", SMTPC_ERR_BAD_DOMAIN},
	    {"a.com.", SMTPC_ERR_BAD_DOMAIN},
	    {".a.com", SMTPC_ERR_BAD_DOMAIN},
	    {"a_b.com", SMTPC_ERR_BAD_DOMAIN},
	    {"a b", SMTPC_ERR_BAD_DOMAIN},
	    {"[300.1.1.1]", SMTPC_ERR_BAD_DOMAIN},
	    {"[1.2.3]", SMTPC_ERR_BAD_DOMAIN},
	    {"[1.2.3.4", SMTPC_ERR_BAD_DOMAIN},
	    {"[IPv6:zz::1]", SMTPC_ERR_BAD_DOMAIN},
	    {"[IPv6:1:2:3:4:5:6:7]", SMTPC_ERR_BAD_DOMAIN},
	    {"[IPv6:1::2::3]", SMTPC_ERR_BAD_DOMAIN},
	    {"[IPv6:1:]", SMTPC_ERR_BAD_DOMAIN},
	    {"[IPv6::1]", SMTPC_ERR_BAD_DOMAIN},
	    {"[IPv6:12345::1]", SMTPC_ERR_BAD_DOMAIN},
	    {"[foo]", SMTPC_ERR_BAD_DOMAIN},
	    {"[x-:abc]", SMTPC_ERR_BAD_DOMAIN},
	    {"[tag:]", SMTPC_ERR_BAD_DOMAIN},
	    {"[tag:a[b]", SMTPC_ERR_BAD_DOMAIN},
	    {"[]", SMTPC_ERR_BAD_DOMAIN},
	    {"a.com\r\nRSET", SMTPC_ERR_CTRL_CHAR},
	    {"a\tb", SMTPC_ERR_CTRL_CHAR},
	    {"ex\xc3\xa4mple.com", SMTPC_ERR_NEEDS_SMTPUTF8},
	};
	char label[80], longd[400];

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		smtpc_conn *c = tc_new(NULL, 0);
		char want[300];
		feed_ok(c, "220 hi\r\n");
		OK(smtpc_ehlo(c, good[i]));
		snprintf(want, sizeof want, "EHLO %s\r\n", good[i]);
		cr_assert_str_eq(tx_take(c), want);
		feed_ok(c, "250 ok\r\n");
		OK(smtpc_helo(c, good[i]));
		snprintf(want, sizeof want, "HELO %s\r\n", good[i]);
		cr_assert_str_eq(tx_take(c), want);
		tc_free(c);
	}
	smtpc_conn *c = tc_new(NULL, 0);
	feed_ok(c, "220 hi\r\n");
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		REFUSED(c, smtpc_ehlo(c, bad[i].d), bad[i].e);
		REFUSED(c, smtpc_helo(c, bad[i].d), bad[i].e);
	}
	memset(label, 'a', 64);
	label[64] = '\0';
	REFUSED(c, smtpc_ehlo(c, label), SMTPC_ERR_BAD_DOMAIN); /* label over 63 */
	label[63] = '\0';
	OK(smtpc_ehlo(c, label));
	feed_ok(c, "250 ok\r\n");
	tx_take(c);
	/* 4 labels of 63 + 3 dots = 255: at the limit; one more is over */
	snprintf(longd, sizeof longd, "%s.%s.%s.%s", label, label, label, label);
	cr_assert_eq(strlen(longd), 255);
	OK(smtpc_ehlo(c, longd));
	feed_ok(c, "250 ok\r\n");
	tx_take(c);
	strcat(longd, "a");
	REFUSED(c, smtpc_ehlo(c, longd), SMTPC_ERR_ADDRESS_TOO_LONG);
	REFUSED(c, smtpc_ehlo(c, NULL), SMTPC_ERR_NULL_ARG);
	cr_assert_eq(smtpc_ehlo(NULL, "a"), SMTPC_ERR_NULL_ARG);
	tc_free(c);
}

Test(command, nothing_before_the_greeting)
{
	smtpc_conn *c = tc_new(NULL, 0);

	REFUSED(c, smtpc_ehlo(c, "client.example"), SMTPC_ERR_PIPELINE);
	REFUSED(c, smtpc_noop(c), SMTPC_ERR_PIPELINE);
	cr_assert_eq(smtpc_waiting_for(c), SMTPC_WAIT_GREETING);
	feed_ok(c, "220 hi\r\n");
	OK(smtpc_ehlo(c, "client.example"));
	tc_free(c);
}

Test(command, mailbox_syntax)
{
	static const char *const good[] = {"user@example.com",
					   "first.last@example.com",
					   "\"quoted user\"@example.com",
					   "\"a\\\"b\"@example.com",
					   "\"\"@example.com",
					   "user+tag@[192.0.2.1]",
					   "user@[IPv6:2001:db8::1]",
					   "!#$%&'*+-/=?^_`{|}~@example.com",
					   "u@a",
					   "x@[tag:any-thing]"};
	static const struct {
		const char *a;
		smtpc_err e;
	} bad[] = {
	    {"user", SMTPC_ERR_BAD_ADDRESS},
	    {"@example.com", SMTPC_ERR_BAD_ADDRESS},
	    {"user@", SMTPC_ERR_BAD_DOMAIN},
	    {".user@example.com", SMTPC_ERR_BAD_ADDRESS},
	    {"user.@example.com", SMTPC_ERR_BAD_ADDRESS},
	    {"us..er@example.com", SMTPC_ERR_BAD_ADDRESS},
	    {"us er@example.com", SMTPC_ERR_BAD_ADDRESS},
	    {"user@exa mple.com", SMTPC_ERR_BAD_DOMAIN},
	    {"\"unterminated@example.com", SMTPC_ERR_BAD_ADDRESS},
	    {"\"a\"b@example.com", SMTPC_ERR_BAD_ADDRESS},
	    {"<user@example.com>", SMTPC_ERR_BAD_ADDRESS},
	    {"user@@example.com", SMTPC_ERR_BAD_DOMAIN},
	    {"a@b@c.com", SMTPC_ERR_BAD_DOMAIN},
	    {"a(comment)@example.com", SMTPC_ERR_BAD_ADDRESS},
	    {"a@example.com\r\nRSET", SMTPC_ERR_CTRL_CHAR},
	    {"a@example.com\nRSET", SMTPC_ERR_CTRL_CHAR},
	    {"a\x7f@example.com", SMTPC_ERR_CTRL_CHAR},
	    {"a\x01@example.com", SMTPC_ERR_CTRL_CHAR},
	    {"\"a\\\x01\"@example.com", SMTPC_ERR_CTRL_CHAR},
	    {"j\xc3\xb6rg@example.com", SMTPC_ERR_NEEDS_SMTPUTF8},
	    {"postmaster", SMTPC_ERR_BAD_ADDRESS}, /* only RCPT may omit the domain */
	};
	smtpc_conn *c = tc_ready(NULL, "PIPELINING");
	char want[400];

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		OK(smtpc_mail(c, good[i], NULL));
		snprintf(want, sizeof want, "MAIL FROM:<%s>\r\n", good[i]);
		cr_assert_str_eq(tx_take(c), want);
		OK(smtpc_rcpt(c, good[i], NULL));
		snprintf(want, sizeof want, "RCPT TO:<%s>\r\n", good[i]);
		cr_assert_str_eq(tx_take(c), want);
		OK(smtpc_rset(c));
		tx_take(c);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		REFUSED(c, smtpc_mail(c, bad[i].a, NULL), bad[i].e);
	OK(smtpc_mail(c, "", NULL)); /* null reverse-path */
	cr_assert_str_eq(tx_take(c), "MAIL FROM:<>\r\n");
	for (size_t i = 0; i < sizeof bad / sizeof bad[0] - 1; i++)
		REFUSED(c, smtpc_rcpt(c, bad[i].a, NULL), bad[i].e);
	REFUSED(c, smtpc_rcpt(c, "", NULL), SMTPC_ERR_BAD_ADDRESS);
	OK(smtpc_rcpt(c, "PostMaster", NULL));
	cr_assert_str_eq(tx_take(c), "RCPT TO:<PostMaster>\r\n");
	tc_free(c);
}

Test(command, mailbox_lengths)
{
	smtpc_conn *c = tc_ready(NULL, "PIPELINING");
	char a[400];

	/* local part: 64 fine, 65 over */
	memset(a, 'l', 64);
	strcpy(a + 64, "@example.com");
	OK(smtpc_mail(c, a, NULL));
	OK(smtpc_rset(c));
	memset(a, 'l', 65);
	strcpy(a + 65, "@example.com");
	REFUSED(c, smtpc_mail(c, a, NULL), SMTPC_ERR_ADDRESS_TOO_LONG);
	/* path: 254 octets between the brackets fine, 255 over */
	memset(a, 'd', sizeof a);
	memset(a, 'l', 64);
	a[64] = '@';
	a[128] = '.';
	a[192] = '.';
	a[254] = '\0';
	cr_assert_eq(strlen(a), 254);
	OK(smtpc_mail(c, a, NULL));
	OK(smtpc_rset(c));
	strcat(a, "d");
	REFUSED(c, smtpc_mail(c, a, NULL), SMTPC_ERR_ADDRESS_TOO_LONG);
	tc_free(c);
}

Test(command, smtputf8_addresses)
{
	smtpc_mail_opts mo = {0};
	smtpc_conn *c = tc_ready(NULL, "PIPELINING\nSMTPUTF8");
	const char *from =
	    "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a";

	REFUSED(c, smtpc_mail(c, from, NULL), SMTPC_ERR_NEEDS_SMTPUTF8);
	mo.smtputf8 = 1;
	REFUSED(c, smtpc_mail(c, "j\xc3(rg@example.com", &mo), SMTPC_ERR_BAD_UTF8);
	REFUSED(c, smtpc_mail(c, "a@\xed\xa0\x80.com", &mo), SMTPC_ERR_BAD_UTF8); /* surrogate */
	REFUSED(c, smtpc_mail(c, "a@\xc0\xaf.com", &mo), SMTPC_ERR_BAD_UTF8);	  /* overlong */
	REFUSED(c, smtpc_mail(c, "a@\xf4\x90\x80\x80.com", &mo), SMTPC_ERR_BAD_UTF8);
	OK(smtpc_mail(c, from, &mo));
	char want[200];
	snprintf(want, sizeof want, "MAIL FROM:<%s> SMTPUTF8\r\n", from);
	cr_assert_str_eq(tx_take(c), want);
	OK(smtpc_rcpt(c, "\"j\xc3\xb6rg\"@example.com", NULL)); /* the transaction allows UTF-8 */
	OK(smtpc_rcpt(c, "\xf0\x9f\x98\x80@example.com", NULL));
	OK(smtpc_rset(c));
	OK(smtpc_mail(c, "a@example.com", NULL));
	REFUSED(c, smtpc_rcpt(c, "j\xc3\xb6rg@example.com", NULL), SMTPC_ERR_NEEDS_SMTPUTF8);
	tc_free(c);

	c = tc_ready(NULL, "");
	REFUSED(c, smtpc_mail(c, from, &mo), SMTPC_ERR_NOT_OFFERED);
	tc_free(c);
}

Test(command, mail_parameters)
{
	smtpc_conn *c = tc_ready(NULL, ALL_EXT);
	smtpc_mail_opts mo = {0};

	smtpc_set_secure(c);
	mo.size = 9999;
	mo.body = SMTPC_BODY_8BITMIME;
	mo.smtputf8 = 1;
	mo.requiretls = 1;
	mo.ret = SMTPC_RET_HDRS;
	mo.envid = "QQ314159+a=b c";
	mo.extra = "MT-PRIORITY=3 X-FLAG";
	OK(smtpc_mail(c, "a@example.com", &mo));
	cr_assert_str_eq(tx_take(c), "MAIL FROM:<a@example.com> SIZE=9999 BODY=8BITMIME SMTPUTF8 "
				     "REQUIRETLS RET=HDRS ENVID=QQ314159+2Ba+3Db+20c "
				     "MT-PRIORITY=3 X-FLAG\r\n");
	OK(smtpc_rset(c));
	memset(&mo, 0, sizeof mo);
	mo.body = SMTPC_BODY_7BIT;
	mo.ret = SMTPC_RET_FULL;
	OK(smtpc_mail(c, "", &mo));
	cr_assert_str_eq(tx_take(c), "RSET\r\nMAIL FROM:<> BODY=7BIT RET=FULL\r\n");
	OK(smtpc_rset(c));
	tx_take(c);

	/* over the server's SIZE */
	memset(&mo, 0, sizeof mo);
	mo.size = 10001;
	REFUSED(c, smtpc_mail(c, "a@example.com", &mo), SMTPC_ERR_TOO_BIG);
	mo.size = 10000;
	OK(smtpc_mail(c, "a@example.com", &mo));
	OK(smtpc_rset(c));

	/* ENVID: printable ASCII, 1 to 100 octets */
	static const struct {
		const char *v;
		smtpc_err e;
	} envids[] = {{"", SMTPC_ERR_BAD_PARAM},
		      {"a\r\nRSET", SMTPC_ERR_CTRL_CHAR},
		      {"caf\xc3\xa9", SMTPC_ERR_BAD_PARAM}};
	for (size_t i = 0; i < sizeof envids / sizeof envids[0]; i++) {
		memset(&mo, 0, sizeof mo);
		mo.envid = envids[i].v;
		REFUSED(c, smtpc_mail(c, "a@example.com", &mo), envids[i].e);
	}
	char big[102];
	memset(big, 'e', 101);
	big[101] = '\0';
	mo.envid = big;
	REFUSED(c, smtpc_mail(c, "a@example.com", &mo), SMTPC_ERR_TOO_LONG);
	big[100] = '\0';
	OK(smtpc_mail(c, "a@example.com", &mo));
	OK(smtpc_rset(c));

	/* other parameters: esmtp-keyword ["=" esmtp-value] */
	static const struct {
		const char *v;
		smtpc_err e;
	} extras[] = {
	    {"=x", SMTPC_ERR_BAD_PARAM},	 {"A=", SMTPC_ERR_BAD_PARAM},
	    {"A=b=c", SMTPC_ERR_BAD_PARAM},	 {"A  B", SMTPC_ERR_BAD_PARAM},
	    {"A ", SMTPC_ERR_BAD_PARAM},	 {" A", SMTPC_ERR_BAD_PARAM},
	    {"", SMTPC_ERR_BAD_PARAM},		 {"-A", SMTPC_ERR_BAD_PARAM},
	    {"A=\xc3\xa9", SMTPC_ERR_BAD_PARAM}, {"A=b\r\nRSET", SMTPC_ERR_CTRL_CHAR},
	    {"A_B", SMTPC_ERR_BAD_PARAM},
	};
	for (size_t i = 0; i < sizeof extras / sizeof extras[0]; i++) {
		memset(&mo, 0, sizeof mo);
		mo.extra = extras[i].v;
		REFUSED(c, smtpc_mail(c, "a@example.com", &mo), extras[i].e);
	}
	memset(&mo, 0, sizeof mo);
	mo.body = (smtpc_body_type)7;
	REFUSED(c, smtpc_mail(c, "a@example.com", &mo), SMTPC_ERR_BAD_PARAM);
	mo.body = SMTPC_BODY_NONE;
	mo.ret = (smtpc_ret)5;
	REFUSED(c, smtpc_mail(c, "a@example.com", &mo), SMTPC_ERR_BAD_PARAM);

	/* a parameter line may pass 512 by the allowance, no further */
	char *ext = malloc(1100);
	memset(ext, 'A', 1050);
	ext[1050] = '\0';
	memset(&mo, 0, sizeof mo);
	mo.extra = ext;
	REFUSED(c, smtpc_mail(c, "a@example.com", &mo), SMTPC_ERR_TOO_LONG);
	ext[900] = '\0';
	OK(smtpc_mail(c, "a@example.com", &mo));
	free(ext);
	tc_free(c);
}

Test(command, extensions_must_be_offered)
{
	smtpc_conn *c = tc_ready(NULL, "PIPELINING");
	smtpc_mail_opts mo;
	smtpc_rcpt_opts ro;
	static const smtpc_mail_opts variants[] = {{.size = 10},
						   {.body = SMTPC_BODY_8BITMIME},
						   {.body = SMTPC_BODY_BINARYMIME},
						   {.smtputf8 = 1},
						   {.requiretls = 1},
						   {.ret = SMTPC_RET_FULL},
						   {.envid = "x"}};

	for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
		mo = variants[i];
		REFUSED(c, smtpc_mail(c, "a@example.com", &mo), SMTPC_ERR_NOT_OFFERED);
	}
	OK(smtpc_mail(c, "a@example.com", NULL));
	memset(&ro, 0, sizeof ro);
	ro.notify = SMTPC_NOTIFY_FAILURE;
	REFUSED(c, smtpc_rcpt(c, "b@example.com", &ro), SMTPC_ERR_NOT_OFFERED);
	ro.notify = 0;
	ro.orcpt = "b@example.com";
	REFUSED(c, smtpc_rcpt(c, "b@example.com", &ro), SMTPC_ERR_NOT_OFFERED);
	OK(smtpc_rcpt(c, "b@example.com", NULL));
	REFUSED(c, smtpc_bdat(c, 5, 1), SMTPC_ERR_NOT_OFFERED);
	REFUSED(c, smtpc_starttls(c), SMTPC_ERR_SEQUENCE); /* inside a transaction */
	OK(smtpc_rset(c));
	REFUSED(c, smtpc_starttls(c), SMTPC_ERR_NOT_OFFERED);
	REFUSED(c, smtpc_auth(c, SMTPC_MECH_PLAIN, "u", "p"), SMTPC_ERR_NOT_OFFERED);
	tc_free(c);

	/* BINARYMIME needs CHUNKING too; REQUIRETLS needs TLS up */
	c = tc_ready(NULL, "BINARYMIME\nREQUIRETLS");
	memset(&mo, 0, sizeof mo);
	mo.body = SMTPC_BODY_BINARYMIME;
	REFUSED(c, smtpc_mail(c, "a@example.com", &mo), SMTPC_ERR_NOT_OFFERED);
	memset(&mo, 0, sizeof mo);
	mo.requiretls = 1;
	REFUSED(c, smtpc_mail(c, "a@example.com", &mo), SMTPC_ERR_NEEDS_TLS);
	cr_assert_eq(smtpc_err_class(SMTPC_ERR_NEEDS_TLS), SMTPC_CLASS_POLICY);
	tc_free(c);
}

Test(command, rcpt_dsn_parameters)
{
	smtpc_conn *c = tc_ready(NULL, "PIPELINING\nDSN");
	smtpc_rcpt_opts ro = {0};

	OK(smtpc_mail(c, "a@example.com", NULL));
	ro.notify = SMTPC_NOTIFY_SUCCESS | SMTPC_NOTIFY_FAILURE | SMTPC_NOTIFY_DELAY;
	ro.orcpt = "b+x=y@example.com";
	OK(smtpc_rcpt(c, "b@example.com", &ro));
	ro.notify = SMTPC_NOTIFY_NEVER;
	ro.orcpt = NULL;
	ro.extra = "X-A=1";
	OK(smtpc_rcpt(c, "c@example.com", &ro));
	cr_assert_str_eq(tx_take(c), "MAIL FROM:<a@example.com>\r\n"
				     "RCPT TO:<b@example.com> NOTIFY=SUCCESS,FAILURE,DELAY "
				     "ORCPT=rfc822;b+2Bx+3Dy@example.com\r\n"
				     "RCPT TO:<c@example.com> NOTIFY=NEVER X-A=1\r\n");
	ro.extra = NULL;
	ro.notify = SMTPC_NOTIFY_NEVER | SMTPC_NOTIFY_DELAY;
	REFUSED(c, smtpc_rcpt(c, "d@example.com", &ro), SMTPC_ERR_BAD_PARAM);
	ro.notify = 16;
	REFUSED(c, smtpc_rcpt(c, "d@example.com", &ro), SMTPC_ERR_BAD_PARAM);
	ro.notify = 0;
	ro.orcpt = "not an address";
	REFUSED(c, smtpc_rcpt(c, "d@example.com", &ro), SMTPC_ERR_BAD_ADDRESS);
	ro.orcpt = "x@example.com\r\n";
	REFUSED(c, smtpc_rcpt(c, "d@example.com", &ro), SMTPC_ERR_CTRL_CHAR);
	ro.orcpt = NULL;
	ro.extra = "bad=param=x";
	REFUSED(c, smtpc_rcpt(c, "d@example.com", &ro), SMTPC_ERR_BAD_PARAM);
	tc_free(c);
}

Test(command, transaction_order)
{
	smtpc_conn *c = tc_new(NULL, 0);

	feed_ok(c, "220 hi\r\n");
	REFUSED(c, smtpc_mail(c, "a@example.com", NULL), SMTPC_ERR_SEQUENCE); /* before EHLO */
	OK(smtpc_ehlo(c, "client.example"));
	feed_ok(c, "250 hi\r\n");
	REFUSED(c, smtpc_rcpt(c, "b@example.com", NULL), SMTPC_ERR_SEQUENCE);
	REFUSED(c, smtpc_data(c), SMTPC_ERR_SEQUENCE);
	OK(smtpc_mail(c, "a@example.com", NULL));
	feed_ok(c, "250 ok\r\n");
	REFUSED(c, smtpc_mail(c, "a@example.com", NULL), SMTPC_ERR_SEQUENCE); /* nested */
	REFUSED(c, smtpc_data(c), SMTPC_ERR_SEQUENCE);
	REFUSED(c, smtpc_auth(c, SMTPC_MECH_PLAIN, "u", "p"), SMTPC_ERR_SEQUENCE);
	OK(smtpc_rset(c));
	feed_ok(c, "250 ok\r\n");
	OK(smtpc_mail(c, "a@example.com", NULL));
	feed_ok(c, "550 no\r\n"); /* a refused MAIL ends the transaction */
	REFUSED(c, smtpc_rcpt(c, "b@example.com", NULL), SMTPC_ERR_SEQUENCE);
	OK(smtpc_mail(c, "a@example.com", NULL));
	feed_ok(c, "250 ok\r\n");
	OK(smtpc_rcpt(c, "b@example.com", NULL));
	feed_ok(c, "550 no\r\n");
	OK(smtpc_data(c)); /* a refused RCPT does not: the server says what DATA gets */
	feed_ok(c, "554 no valid recipients\r\n");
	REFUSED(c, smtpc_mail(c, "a@example.com", NULL), SMTPC_ERR_SEQUENCE);
	OK(smtpc_rset(c));
	feed_ok(c, "250 ok\r\n");
	OK(smtpc_mail(c, "a@example.com", NULL));
	cr_assert_str_eq(tx_take(c),
			 "EHLO client.example\r\nMAIL FROM:<a@example.com>\r\n"
			 "RSET\r\nMAIL FROM:<a@example.com>\r\nMAIL FROM:<a@example.com>\r\n"
			 "RCPT TO:<b@example.com>\r\nDATA\r\nRSET\r\n"
			 "MAIL FROM:<a@example.com>\r\n");
	tc_free(c);
}

Test(command, old_mail_refusal_does_not_end_a_newer_transaction)
{
	smtpc_conn *c = tc_ready(NULL, "PIPELINING");

	OK(smtpc_mail(c, "a@example.com", NULL));
	OK(smtpc_rset(c));
	OK(smtpc_mail(c, "b@example.com", NULL));
	feed_ok(c, "451 try later\r\n250 reset\r\n");
	OK(smtpc_rcpt(c, "c@example.com", NULL)); /* the second MAIL's transaction is open */
	tc_free(c);
}

Test(command, without_pipelining_one_command_at_a_time)
{
	smtpc_conn *c = tc_ready(NULL, "");

	OK(smtpc_mail(c, "a@example.com", NULL));
	REFUSED(c, smtpc_rcpt(c, "b@example.com", NULL), SMTPC_ERR_PIPELINE);
	REFUSED(c, smtpc_noop(c), SMTPC_ERR_PIPELINE);
	cr_assert_eq(smtpc_waiting_for(c), SMTPC_WAIT_MAIL);
	feed_ok(c, "250 ok\r\n");
	OK(smtpc_rcpt(c, "b@example.com", NULL));
	cr_assert_eq(smtpc_waiting_for(c), SMTPC_WAIT_RCPT);
	tc_free(c);
}

Test(command, with_pipelining_groups_end_where_rfc2920_says)
{
	smtpc_conn *c = tc_ready(NULL, "PIPELINING");

	OK(smtpc_rset(c));
	OK(smtpc_mail(c, "a@example.com", NULL));
	OK(smtpc_rcpt(c, "b@example.com", NULL));
	OK(smtpc_rcpt(c, "c@example.com", NULL));
	OK(smtpc_data(c));
	cr_assert_str_eq(tx_take(c),
			 "RSET\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n"
			 "RCPT TO:<c@example.com>\r\nDATA\r\n");
	cr_assert_eq(smtpc_pending(c), 5);
	REFUSED(c, smtpc_noop(c), SMTPC_ERR_PIPELINE); /* DATA ends the group */
	REFUSED(c, smtpc_quit(c), SMTPC_ERR_PIPELINE);
	feed_ok(c, "250 a\r\n250 b\r\n250 c\r\n250 d\r\n");
	REFUSED(c, smtpc_noop(c), SMTPC_ERR_PIPELINE);
	feed_ok(c, "354 go\r\n");
	REFUSED(c, smtpc_noop(c), SMTPC_ERR_IN_BODY);
	OK(smtpc_body_end(c));
	/* the message content may start a group: next transaction right away */
	OK(smtpc_mail(c, "a@example.com", NULL));
	OK(smtpc_rcpt(c, "b@example.com", NULL));
	OK(smtpc_quit(c));
	REFUSED(c, smtpc_noop(c), SMTPC_ERR_ENDED);
	cr_assert_str_eq(tx_take(c), ".\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n"
				     "QUIT\r\n");
	tc_free(c);

	/* each group ender in turn */
	static const int enders[] = {0, 1, 2, 3};
	for (size_t i = 0; i < sizeof enders / sizeof enders[0]; i++) {
		c = tc_ready(NULL, "PIPELINING\nSTARTTLS\nAUTH PLAIN");
		smtpc_set_secure(c);
		switch (enders[i]) {
		case 0:
			OK(smtpc_noop(c));
			break;
		case 1:
			OK(smtpc_vrfy(c, "postmaster"));
			break;
		case 2:
			OK(smtpc_ehlo(c, "client.example"));
			break;
		case 3:
			OK(smtpc_auth(c, SMTPC_MECH_PLAIN, "u", "p"));
			break;
		}
		REFUSED(c, smtpc_rset(c), SMTPC_ERR_PIPELINE);
		tc_free(c);
	}
}

Test(command, queue_depth_is_bounded)
{
	smtpc_config cfg;

	smtpc_config_default(&cfg);
	cfg.max_queue = 3;
	smtpc_conn *c = tc_ready(&cfg, "PIPELINING");
	OK(smtpc_mail(c, "a@example.com", NULL));
	OK(smtpc_rcpt(c, "b@example.com", NULL));
	OK(smtpc_rcpt(c, "c@example.com", NULL));
	REFUSED(c, smtpc_rcpt(c, "d@example.com", NULL), SMTPC_ERR_QUEUE_FULL);
	feed_ok(c, "250 ok\r\n");
	OK(smtpc_rcpt(c, "d@example.com", NULL));
	tc_free(c);
}

Test(command, full_transmit_buffer_refuses_then_accepts)
{
	smtpc_config cfg;

	smtpc_config_default(&cfg);
	smtpc_conn *c = tc_new(&cfg, 512);
	feed_ok(c, "220 hi\r\n");
	OK(smtpc_ehlo(c, "client.example"));
	feed_ok(c, "250-hi\r\n250 PIPELINING\r\n");
	tx_take(c);
	OK(smtpc_mail(c, "a@example.com", NULL));
	int n = 0;
	while (smtpc_rcpt(c, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb@example.com", NULL) ==
	       SMTPC_ERR_OK)
		n++;
	cr_assert_gt(n, 3);
	REFUSED(c, smtpc_rcpt(c, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb@example.com", NULL),
		SMTPC_ERR_NO_SPACE);
	cr_assert(smtpc_want(c) & SMTPC_WANT_WRITE);
	size_t len;
	smtpc_send_buf(c, &len);
	smtpc_send_ack(c, 100); /* a partial send frees room at the front */
	OK(smtpc_rcpt(c, "b@example.com", NULL));
	smtpc_send_buf(c, &len);
	smtpc_send_ack(c, len + 50); /* acking more than is there acks what is there */
	cr_assert_null(smtpc_send_buf(c, &len));
	cr_assert_eq(len, 0);
	cr_assert_eq(smtpc_want(c) & SMTPC_WANT_WRITE, 0);
	tc_free(c);
}

Test(command, vrfy_noop_quit_rset)
{
	smtpc_conn *c = tc_ready(NULL, "");

	REFUSED(c, smtpc_vrfy(c, ""), SMTPC_ERR_BAD_PARAM);
	REFUSED(c, smtpc_vrfy(c, "a\tb"), SMTPC_ERR_CTRL_CHAR);
	REFUSED(c, smtpc_vrfy(c, "j\xc3\xb6rg"), SMTPC_ERR_NEEDS_SMTPUTF8);
	REFUSED(c, smtpc_vrfy(c, NULL), SMTPC_ERR_NULL_ARG);
	char big[600];
	memset(big, 'v', 510);
	big[510] = '\0';
	REFUSED(c, smtpc_vrfy(c, big), SMTPC_ERR_TOO_LONG);
	big[505] = '\0'; /* "VRFY " + 505 + CRLF = 512 */
	OK(smtpc_vrfy(c, big));
	feed_ok(c, "252 maybe\r\n");
	tx_take(c);
	OK(smtpc_vrfy(c, "Smith"));
	feed_ok(c, "252 maybe\r\n");
	OK(smtpc_noop(c));
	feed_ok(c, "250 ok\r\n");
	OK(smtpc_rset(c));
	feed_ok(c, "250 ok\r\n");
	OK(smtpc_quit(c));
	cr_assert_str_eq(tx_take(c), "VRFY Smith\r\nNOOP\r\nRSET\r\nQUIT\r\n");
	feed_ok(c, "221 bye\r\n");
	REFUSED(c, smtpc_noop(c), SMTPC_ERR_ENDED);
	cr_assert_eq(smtpc_noop(NULL), SMTPC_ERR_NULL_ARG);
	cr_assert_eq(smtpc_data(NULL), SMTPC_ERR_NULL_ARG);
	cr_assert_eq(smtpc_bdat(NULL, 1, 1), SMTPC_ERR_NULL_ARG);
	cr_assert_eq(smtpc_starttls(NULL), SMTPC_ERR_NULL_ARG);
	cr_assert_eq(smtpc_mail(NULL, "", NULL), SMTPC_ERR_NULL_ARG);
	cr_assert_eq(smtpc_rcpt(c, NULL, NULL), SMTPC_ERR_NULL_ARG);
	tc_free(c);
}

Test(command, after_421_no_more_commands)
{
	smtpc_conn *c = tc_ready(NULL, "");

	feed_ok(c, "421 4.3.2 going down\r\n");
	REFUSED(c, smtpc_noop(c), SMTPC_ERR_ENDED);
	tc_free(c);
}

Test(command, bdat_chunks)
{
	smtpc_conn *c = tc_ready(NULL, "PIPELINING\nCHUNKING\nBINARYMIME");
	smtpc_mail_opts mo = {0};
	sbuf log = {0};

	mo.body = SMTPC_BODY_BINARYMIME;
	OK(smtpc_mail(c, "a@example.com", &mo));
	OK(smtpc_rcpt(c, "b@example.com", NULL));
	REFUSED(c, smtpc_data(c), SMTPC_ERR_SEQUENCE); /* BINARYMIME goes by BDAT */
	OK(smtpc_bdat(c, 7, 0));
	cr_assert_eq(smtpc_waiting_for(c), SMTPC_WAIT_DATA_BLOCK);
	REFUSED(c, smtpc_bdat(c, 1, 1), SMTPC_ERR_IN_BODY);
	cr_assert_eq(smtpc_body_write(c, "ab\r\n.\n", 6), 6);
	cr_assert_eq(smtpc_body_write(c, "\0zzz", 4), 1); /* only what the chunk announced */
	cr_assert_eq(smtpc_body_write(c, "z", 1), 0);
	OK(smtpc_bdat(c, 0, 1));
	cr_assert_eq(smtpc_body_write(c, "z", 1), 0);
	REFUSED(c, smtpc_rcpt(c, "c@example.com", NULL), SMTPC_ERR_PIPELINE);
	size_t n;
	const unsigned char *p = smtpc_send_buf(c, &n);
	static const char want[] =
	    "MAIL FROM:<a@example.com> BODY=BINARYMIME\r\n"
	    "RCPT TO:<b@example.com>\r\nBDAT 7\r\nab\r\n.\n\0BDAT 0 LAST\r\n";
	cr_assert_eq(n, sizeof want - 1);
	cr_assert_eq(memcmp(p, want, n), 0);
	smtpc_send_ack(c, n);
	const char *replies = "250 a\r\n250 b\r\n250 7 octets\r\n250 2.0.0 queued\r\n";
	feed_all(c, replies, strlen(replies), &log);
	cr_assert_str_eq(log.s, "L 250 a\nR 250 MAIL a\nL 250 b\nR 250 RCPT#0 b\nL 250 7 octets\n"
				"R 250 BDAT#0 7 octets\nL 250 2.0.0 queued\n"
				"R 250 BDAT#1 [2.0.0] 2.0.0 queued\n");
	/* a new transaction may start */
	OK(smtpc_mail(c, "a@example.com", NULL));
	OK(smtpc_rcpt(c, "b@example.com", NULL));
	OK(smtpc_bdat(c, 3, 1)); /* pipelined after RCPT */
	cr_assert_eq(smtpc_body_write(c, "xyz", 3), 3);
	cr_assert_eq(smtpc_waiting_for(c), SMTPC_WAIT_MAIL);
	sb_free(&log);
	tc_free(c);
}

Test(command, public_checks_match_the_commands)
{
	cr_assert_eq(smtpc_check_mailbox("a@example.com", 0), SMTPC_ERR_OK);
	cr_assert_eq(smtpc_check_mailbox("a@example.com\r\nRSET", 1), SMTPC_ERR_CTRL_CHAR);
	cr_assert_eq(smtpc_check_mailbox("j\xc3\xb6rg@example.com", 0), SMTPC_ERR_NEEDS_SMTPUTF8);
	cr_assert_eq(smtpc_check_mailbox("j\xc3\xb6rg@example.com", 1), SMTPC_ERR_OK);
	cr_assert_eq(smtpc_check_mailbox("", 0), SMTPC_ERR_BAD_ADDRESS);
	cr_assert_eq(smtpc_check_mailbox("postmaster", 0), SMTPC_ERR_BAD_ADDRESS);
	cr_assert_eq(smtpc_check_mailbox(NULL, 0), SMTPC_ERR_NULL_ARG);
	cr_assert_eq(smtpc_check_domain("[127.0.0.1]"), SMTPC_ERR_OK);
	cr_assert_eq(smtpc_check_domain("a..b"), SMTPC_ERR_BAD_DOMAIN);
	cr_assert_eq(smtpc_check_domain(NULL), SMTPC_ERR_NULL_ARG);
}

/* ---- parameters the typed options control --------------------------------------- */

Test(command, extra_cannot_carry_what_the_typed_options_check)
{
	smtpc_conn *c = tc_ready(NULL, "PIPELINING\nSIZE 100\nDSN\n8BITMIME");
	smtpc_mail_opts mo = {0};
	smtpc_rcpt_opts ro = {0};
	static const char *const mail_bad[] = {
	    "SIZE=1000",  "size=5",   "BODY=8BITMIME", "X-A=1 BODY=BINARYMIME", "SMTPUTF8",
	    "REQUIRETLS", "RET=FULL", "ENVID=x",       "X-A=1 X-A=2",		"x-a X-A"};

	/* found in review: SIZE= in extra passed the server's limit */
	for (size_t i = 0; i < sizeof mail_bad / sizeof mail_bad[0]; i++) {
		mo.extra = mail_bad[i];
		REFUSED(c, smtpc_mail(c, "a@example.com", &mo), SMTPC_ERR_BAD_PARAM);
	}
	mo.extra = "X-A=1 X-B X-SIZE=3";
	OK(smtpc_mail(c, "a@example.com", &mo));
	static const char *const rcpt_bad[] = {"NOTIFY=NEVER", "ORCPT=rfc822;a@b", "X=1 x=1"};
	for (size_t i = 0; i < sizeof rcpt_bad / sizeof rcpt_bad[0]; i++) {
		ro.extra = rcpt_bad[i];
		REFUSED(c, smtpc_rcpt(c, "b@example.com", &ro), SMTPC_ERR_BAD_PARAM);
	}
	ro.extra = "X-NOTIFY=1";
	OK(smtpc_rcpt(c, "b@example.com", &ro));
	cr_assert_str_eq(tx_take(c), "MAIL FROM:<a@example.com> X-A=1 X-B X-SIZE=3\r\n"
				     "RCPT TO:<b@example.com> X-NOTIFY=1\r\n");
	tc_free(c);
}

/* ---- raw lines keep the typed rules ------------------------------------------------ */

static void secret_hook(void *ctx, smtpc_cmd cmd, const char *line, size_t len, int secret)
{
	sb_add(ctx, "%s%s %.*s\n", smtpc_cmd_name(cmd), secret ? "*" : "", (int)len, line);
}

Test(command, raw_auth_needs_tls_and_is_secret)
{
	smtpc_conn *c = tc_ready(NULL, "AUTH PLAIN LOGIN");
	smtpc_config cfg;
	sbuf log = {0};

	/* found in review: this went out in clear text */
	REFUSED(c, smtpc_raw(c, "AUTH PLAIN AHUAcA==", 19), SMTPC_ERR_AUTH_NEEDS_TLS);
	REFUSED(c, smtpc_raw(c, "auth login", 10), SMTPC_ERR_AUTH_NEEDS_TLS);
	smtpc_set_secure(c);
	smtpc_set_command_hook(c, secret_hook, &log);
	OK(smtpc_raw(c, "AUTH PLAIN AHUAcA==", 19));
	feed_ok(c, "535 no\r\n");
	OK(smtpc_raw(c, "AUTH LOGIN", 10));
	feed_ok(c, "334 VXNlcm5hbWU6\r\n");
	OK(smtpc_raw(c, "dQ==", 4));
	cr_assert_str_eq(log.s, "RAW* AUTH PLAIN AHUAcA==\nRAW AUTH LOGIN\nRAW* dQ==\n");
	sb_free(&log);
	tc_free(c);

	smtpc_config_default(&cfg);
	cfg.allow_plain_auth = 1;
	c = tc_ready(&cfg, "AUTH PLAIN");
	OK(smtpc_raw(c, "AUTH PLAIN AHUAcA==", 19));
	tc_free(c);
}

Test(command, raw_mail_sets_what_its_parameters_say)
{
	smtpc_conn *c = tc_ready(NULL, "PIPELINING\nSMTPUTF8\nCHUNKING\nBINARYMIME");

	/* found in review: a raw MAIL allowed UTF-8 whatever it carried */
	OK(smtpc_raw(c, "MAIL FROM:<a@example.com>", 25));
	feed_ok(c, "250 ok\r\n");
	REFUSED(c, smtpc_rcpt(c, "j\xc3\xb6rg@example.com", NULL), SMTPC_ERR_NEEDS_SMTPUTF8);
	OK(smtpc_rcpt(c, "b@example.com", NULL));
	OK(smtpc_data(c)); /* not BINARYMIME: DATA is fine */
	feed_ok(c, "250 ok\r\n503 no\r\n");
	OK(smtpc_rset(c));
	feed_ok(c, "250 ok\r\n");
	OK(smtpc_raw(c, "MAIL FROM:<a@example.com> smtputf8 body=binarymime", 50));
	feed_ok(c, "250 ok\r\n");
	OK(smtpc_rcpt(c, "j\xc3\xb6rg@example.com", NULL));
	REFUSED(c, smtpc_data(c), SMTPC_ERR_SEQUENCE); /* BINARYMIME goes by BDAT */
	OK(smtpc_bdat(c, 0, 1));
	tc_free(c);
}

/* ---- LMTP (RFC 2033) ------------------------------------------------------------------ */

/* A session greeted with LHLO. */
static smtpc_conn *lmtp_ready(const char *ext_lines)
{
	smtpc_conn *c = tc_new(NULL, 0);
	char r[256];

	feed_ok(c, "220 lmtp.example LMTP\r\n");
	OK(smtpc_lhlo(c, "client.example"));
	cr_assert_str_eq(tx_take(c), "LHLO client.example\r\n");
	snprintf(r, sizeof r, "250-lmtp.example\r\n%s", ext_lines);
	feed_ok(c, r);
	cr_assert(smtpc_is_greeted(c));
	return c;
}

static void lmtp_bdat_three(smtpc_conn *c)
{
	feed_ok(c, "220 lmtp.example LMTP\r\n");
	OK(smtpc_lhlo(c, "client.example"));
	feed_ok(c, "250-lmtp.example\r\n250-PIPELINING\r\n250 CHUNKING\r\n");
	OK(smtpc_mail(c, "a@example.com", NULL));
	OK(smtpc_rcpt(c, "r0@example.com", NULL));
	OK(smtpc_rcpt(c, "r1@example.com", NULL));
	OK(smtpc_rcpt(c, "r2@example.com", NULL));
	OK(smtpc_bdat(c, 5, 1));
	cr_assert_eq(smtpc_body_write(c, "hello", 5), 5);
}

Test(lmtp, one_reply_per_accepted_recipient_with_its_number)
{
	/* RCPT 1 is refused: the two replies after LAST are for 0 and 2 */
	script s = {"lmtp bdat",
		    NULL,
		    "",
		    1,
		    lmtp_bdat_three,
		    "250 ok\r\n250 ok\r\n550 5.1.1 unknown\r\n250 ok\r\n"
		    "250 2.0.0 r0 delivered\r\n452 4.2.2 r2 over quota\r\n250 late\r\n",
		    0,
		    0,
		    "L 250 ok\nR 250 MAIL ok\nL 250 ok\nR 250 RCPT#0 ok\n"
		    "L 550 5.1.1 unknown\nR 550 RCPT#1 [5.1.1] 5.1.1 unknown\n"
		    "L 250 ok\nR 250 RCPT#2 ok\n"
		    "L 250 2.0.0 r0 delivered\nR 250 BDAT#0 [2.0.0] 2.0.0 r0 delivered\n"
		    "L 452 4.2.2 r2 over quota\nR 452 BDAT#2 [4.2.2] 4.2.2 r2 over quota\n"
		    "L 250 late\nR 250 NONE late\n",
		    NULL};
	run_script(&s);
}

/* Pulls replies until one completes; returns it. */
static smtpc_reply next_reply(smtpc_conn *c)
{
	smtpc_event ev;

	for (;;) {
		smtpc_event_type t = smtpc_next_event(c, &ev);
		cr_assert(t == SMTPC_EV_LINE || t == SMTPC_EV_REPLY, "event %d", t);
		if (t == SMTPC_EV_REPLY)
			return ev.reply;
	}
}

Test(lmtp, data_end_replies_map_to_recipients_and_then_nothing_is_owed)
{
	smtpc_conn *c = lmtp_ready("250 PIPELINING\r\n");
	smtpc_reply r;

	OK(smtpc_mail(c, "a@example.com", NULL));
	OK(smtpc_rcpt(c, "x@example.com", NULL));
	OK(smtpc_rcpt(c, "b@example.com", NULL));
	OK(smtpc_rcpt(c, "c@example.com", NULL));
	OK(smtpc_data(c));
	smtpc_feed(c, "250 ok\r\n550 no\r\n250 ok\r\n250 ok\r\n354 go\r\n", 40);
	for (int i = 0; i < 5; i++)
		r = next_reply(c);
	cr_assert_eq(r.code, 354);
	cr_assert_eq(smtpc_body_write(c, "body\n", 5), 5);
	OK(smtpc_body_end(c));
	cr_assert_eq(smtpc_pending(c), 2); /* b and c */
	cr_assert_eq(smtpc_waiting_for(c), SMTPC_WAIT_DATA_END);
	smtpc_feed(c, "250 b ok\r\n", 10);
	r = next_reply(c);
	cr_assert_eq(r.cmd, SMTPC_CMD_DATA_END);
	cr_assert_eq(r.index, 1);
	cr_assert_eq(smtpc_pending(c), 1); /* one more recipient to hear about */
	smtpc_feed(c, "451 c later\r\n", 13);
	r = next_reply(c);
	cr_assert_eq(r.cmd, SMTPC_CMD_DATA_END);
	cr_assert_eq(r.index, 2);
	cr_assert_eq(r.code, 451);
	cr_assert_eq(smtpc_pending(c), 0);
	/* a fourth reply answers nothing */
	smtpc_feed(c, "250 extra\r\n", 11);
	r = next_reply(c);
	cr_assert_eq(r.cmd, SMTPC_CMD_NONE);
	tc_free(c);
}

Test(lmtp, no_accepted_recipient_means_one_reply_and_ehlo_ends_lmtp)
{
	smtpc_conn *c = lmtp_ready("250-PIPELINING\r\n250 CHUNKING\r\n");
	smtpc_reply r;

	OK(smtpc_mail(c, "a@example.com", NULL));
	OK(smtpc_rcpt(c, "x@example.com", NULL));
	OK(smtpc_bdat(c, 1, 1));
	cr_assert_eq(smtpc_body_write(c, "z", 1), 1);
	smtpc_feed(c, "250 ok\r\n550 no\r\n554 5.5.1 no valid recipients\r\n", 47);
	r = next_reply(c);
	r = next_reply(c);
	r = next_reply(c);
	cr_assert_eq(r.cmd, SMTPC_CMD_BDAT);
	cr_assert_eq(r.code, 554);
	cr_assert_eq(smtpc_pending(c), 0);
	/* EHLO (or HELO) leaves LMTP: one reply to the end of data again */
	OK(smtpc_ehlo(c, "client.example"));
	smtpc_feed(c, "250-x\r\n250 PIPELINING\r\n", 23);
	next_reply(c);
	OK(smtpc_mail(c, "a@example.com", NULL));
	OK(smtpc_rcpt(c, "a@example.com", NULL));
	OK(smtpc_rcpt(c, "b@example.com", NULL));
	OK(smtpc_data(c));
	smtpc_feed(c, "250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n", 32);
	for (int i = 0; i < 4; i++)
		next_reply(c);
	OK(smtpc_body_end(c));
	smtpc_feed(c, "250 queued\r\n", 12);
	r = next_reply(c);
	cr_assert_eq(r.cmd, SMTPC_CMD_DATA_END);
	cr_assert_eq(smtpc_pending(c), 0);
	tc_free(c);
}

Test(lmtp, recipients_beyond_the_cap_are_refused)
{
	smtpc_conn *c = lmtp_ready("250 SIZE 100\r\n");
	char addr[32];

	OK(smtpc_mail(c, "a@example.com", NULL));
	feed_ok(c, "250 ok\r\n");
	for (unsigned i = 0; i < SMTPC_LMTP_RCPT_CAP; i++) {
		snprintf(addr, sizeof addr, "r%u@example.com", i);
		OK(smtpc_rcpt(c, addr, NULL));
		feed_ok(c, "250 ok\r\n");
	}
	REFUSED(c, smtpc_rcpt(c, "one@example.com", NULL), SMTPC_ERR_RCPT_LIMIT);
	REFUSED(c, smtpc_raw(c, "RCPT TO:<one@example.com>", 25), SMTPC_ERR_RCPT_LIMIT);
	cr_assert_eq(smtpc_err_class(SMTPC_ERR_RCPT_LIMIT), SMTPC_CLASS_POLICY);
	OK(smtpc_data(c));
	feed_ok(c, "354 go\r\n");
	OK(smtpc_body_end(c));
	tx_take(c);
	for (unsigned i = 0; i < SMTPC_LMTP_RCPT_CAP; i++) {
		smtpc_reply r;
		smtpc_feed(c, "250 ok\r\n", 8);
		r = next_reply(c);
		cr_assert_eq(r.index, i);
		cr_assert_eq(smtpc_pending(c), SMTPC_LMTP_RCPT_CAP - 1 - i);
	}
	tc_free(c);
}

Test(lmtp, raw_lhlo_and_raw_data_end_follow_the_same_rules)
{
	smtpc_conn *c = tc_new(NULL, 0);
	smtpc_reply r;

	feed_ok(c, "220 lmtp\r\n");
	OK(smtpc_raw(c, "LHLO client.example", 19));
	feed_ok(c, "250 lmtp\r\n");
	OK(smtpc_raw(c, "MAIL FROM:<a@example.com>", 25));
	feed_ok(c, "250 ok\r\n");
	OK(smtpc_raw(c, "RCPT TO:<a@example.com>", 23));
	feed_ok(c, "250 ok\r\n");
	OK(smtpc_raw(c, "RCPT TO:<b@example.com>", 23));
	feed_ok(c, "250 ok\r\n");
	OK(smtpc_raw(c, "DATA", 4));
	feed_ok(c, "354 go\r\n");
	OK(smtpc_raw(c, "hi", 2));
	OK(smtpc_raw(c, ".", 1));
	smtpc_feed(c, "250 a\r\n250 b\r\n", 14);
	r = next_reply(c);
	cr_assert_eq(r.cmd, SMTPC_CMD_DATA_END);
	cr_assert_eq(r.index, 0);
	r = next_reply(c);
	cr_assert_eq(r.index, 1);
	cr_assert_eq(smtpc_pending(c), 0);
	tc_free(c);
}

Test(command, sizes_in_decimal_up_to_the_largest)
{
	smtpc_conn *c = tc_ready(NULL, "PIPELINING\nSIZE\nCHUNKING");
	smtpc_mail_opts mo = {0};
	static const struct {
		uint64_t v;
		const char *s;
	} t[] = {{1, "1"},
		 {9, "9"},
		 {10, "10"},
		 {65535, "65535"},
		 {65536, "65536"},
		 {4294967295u, "4294967295"},
		 {4294967296u, "4294967296"},
		 {10000000000000000000u, "10000000000000000000"},
		 {UINT64_MAX, "18446744073709551615"}};
	char want[200];

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		mo.size = t[i].v;
		cr_assert_eq(smtpc_mail(c, "a@example.com", &mo), SMTPC_ERR_OK);
		cr_assert_eq(smtpc_rset(c), SMTPC_ERR_OK);
		snprintf(want, sizeof want, "MAIL FROM:<a@example.com> SIZE=%s\r\nRSET\r\n",
			 t[i].s);
		cr_assert_str_eq(tx_take(c), want);
	}
	cr_assert_eq(smtpc_mail(c, "a@example.com", NULL), SMTPC_ERR_OK);
	cr_assert_eq(smtpc_rcpt(c, "b@example.com", NULL), SMTPC_ERR_OK);
	cr_assert_eq(smtpc_bdat(c, UINT64_MAX, 1), SMTPC_ERR_OK);
	cr_assert_str_eq(tx_take(c), "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n"
				     "BDAT 18446744073709551615 LAST\r\n");
	tc_free(c);
}
