/* EHLO capabilities. */
#include "helpers.h"

#include <string.h>

Test(caps, known_extensions_case_insensitive)
{
	smtpc_conn *c = tc_ready(NULL, "pipelining\nSize 35882577\n8BITMIME\nBinaryMime\nSMTPUTF8\n"
				       "CHUNKING\nstarttls\nDSN\nENHANCEDSTATUSCODES\nREQUIRETLS\n"
				       "AUTH PLAIN login CRAM-MD5 XOAUTH2 GSSAPI");
	const smtpc_caps *k = smtpc_get_caps(c);

	cr_assert_eq(k->ext, SMTPC_EXT_PIPELINING | SMTPC_EXT_SIZE | SMTPC_EXT_8BITMIME |
				 SMTPC_EXT_BINARYMIME | SMTPC_EXT_SMTPUTF8 | SMTPC_EXT_CHUNKING |
				 SMTPC_EXT_STARTTLS | SMTPC_EXT_DSN |
				 SMTPC_EXT_ENHANCEDSTATUSCODES | SMTPC_EXT_REQUIRETLS |
				 SMTPC_EXT_AUTH);
	cr_assert_eq(k->size_limit, 35882577u);
	cr_assert_eq(k->auth, SMTPC_AUTH_PLAIN | SMTPC_AUTH_LOGIN | SMTPC_AUTH_CRAM_MD5 |
				  SMTPC_AUTH_XOAUTH2);
	cr_assert_eq(k->ext_truncated, 0);
	tc_free(c);
}

Test(caps, size_zero_absent_malformed_and_huge_mean_no_limit)
{
	static const char *const t[] = {"SIZE 0", "SIZE", "SIZE 12x",
					"SIZE 99999999999999999999999", "SIZE -5"};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		smtpc_conn *c = tc_ready(NULL, t[i]);
		cr_assert(smtpc_get_caps(c)->ext & SMTPC_EXT_SIZE, "%s", t[i]);
		cr_assert_eq(smtpc_get_caps(c)->size_limit, 0, "%s", t[i]);
		tc_free(c);
	}
	smtpc_conn *c = tc_ready(NULL, "SIZE 18446744073709551615");
	cr_assert_eq(smtpc_get_caps(c)->size_limit, UINT64_MAX);
	tc_free(c);
}

Test(caps, old_auth_equals_form_and_several_auth_lines)
{
	smtpc_conn *c = tc_ready(NULL, "AUTH=LOGIN\nAUTH PLAIN");
	smtpc_ext e;

	cr_assert(smtpc_get_caps(c)->ext & SMTPC_EXT_AUTH);
	cr_assert_eq(smtpc_get_caps(c)->auth, SMTPC_AUTH_LOGIN | SMTPC_AUTH_PLAIN);
	cr_assert(smtpc_ext_find(c, "auth", &e));
	cr_assert_eq(e.keyword_len, 4);
	cr_assert_eq(e.params_len, 5);
	cr_assert_eq(memcmp(e.params, "LOGIN", 5), 0);
	tc_free(c);
}

Test(caps, unknown_keywords_kept_and_iterable_malformed_ignored)
{
	smtpc_conn *c =
	    tc_ready(NULL, "X-EXPS GSSAPI NTLM\n-BAD\nbad!\nVRFY\nETRN\nXCLIENT NAME ADDR");
	static const char *const want[][2] = {
	    {"X-EXPS", "GSSAPI NTLM"}, {"VRFY", ""}, {"ETRN", ""}, {"XCLIENT", "NAME ADDR"}};
	size_t pos = 0, i = 0;
	smtpc_ext e;

	while (smtpc_ext_next(c, &pos, &e)) {
		cr_assert_lt(i, 4);
		cr_assert_eq(e.keyword_len, strlen(want[i][0]));
		cr_assert_eq(memcmp(e.keyword, want[i][0], e.keyword_len), 0);
		cr_assert_eq(e.params_len, strlen(want[i][1]));
		cr_assert_eq(memcmp(e.params, want[i][1], e.params_len), 0);
		i++;
	}
	cr_assert_eq(i, 4);
	cr_assert_eq(smtpc_get_caps(c)->ext, 0);
	cr_assert(smtpc_ext_find(c, "xclient", &e));
	cr_assert(!smtpc_ext_find(c, "XCLIENTS", &e));
	cr_assert(!smtpc_ext_find(c, "X", &e));
	cr_assert(!smtpc_ext_find(c, NULL, &e));
	cr_assert(!smtpc_ext_next(NULL, &pos, &e));
	tc_free(c);
}

Test(caps, second_ehlo_replaces_the_set)
{
	smtpc_conn *c = tc_ready(NULL, "PIPELINING\nSIZE 1000\nX-ONE\nAUTH LOGIN");
	smtpc_ext e;

	cr_assert_eq(smtpc_ehlo(c, "client.example"), SMTPC_ERR_OK);
	tx_take(c);
	feed_ok(c, "250-mx\r\n250-8BITMIME\r\n250 X-TWO\r\n");
	cr_assert_eq(smtpc_get_caps(c)->ext, SMTPC_EXT_8BITMIME);
	cr_assert_eq(smtpc_get_caps(c)->size_limit, 0);
	cr_assert_eq(smtpc_get_caps(c)->auth, 0);
	cr_assert(!smtpc_ext_find(c, "X-ONE", &e));
	cr_assert(smtpc_ext_find(c, "X-TWO", &e));
	/* a refused EHLO leaves the set as it was */
	cr_assert_eq(smtpc_ehlo(c, "client.example"), SMTPC_ERR_OK);
	feed_ok(c, "502 no\r\n");
	cr_assert_eq(smtpc_get_caps(c)->ext, SMTPC_EXT_8BITMIME);
	tc_free(c);
}

Test(caps, helo_has_no_extensions)
{
	smtpc_conn *c = tc_ready(NULL, NULL);
	size_t pos = 0;
	smtpc_ext e;

	cr_assert(smtpc_is_greeted(c));
	cr_assert_eq(smtpc_get_caps(c)->ext, 0);
	cr_assert(!smtpc_ext_next(c, &pos, &e));
	tc_free(c);
}

Test(caps, single_line_ehlo_reply)
{
	smtpc_conn *c = tc_ready(NULL, "");

	cr_assert(smtpc_is_greeted(c));
	cr_assert_eq(smtpc_get_caps(c)->ext, 0);
	tc_free(c);
}

Test(caps, list_over_max_ext_is_marked_truncated_known_still_seen)
{
	smtpc_config cfg;
	smtpc_ext e;

	smtpc_config_default(&cfg);
	cfg.max_ext = 16;
	smtpc_conn *c = tc_ready(&cfg, "X-FIRST-ONE\nX-SECOND-ONE\nPIPELINING");
	cr_assert(smtpc_get_caps(c)->ext_truncated);
	cr_assert(smtpc_get_caps(c)->ext & SMTPC_EXT_PIPELINING);
	cr_assert(smtpc_ext_find(c, "X-FIRST-ONE", &e));
	cr_assert(!smtpc_ext_find(c, "X-SECOND-ONE", &e));
	tc_free(c);

	cfg.max_ext = 0;
	c = tc_ready(&cfg, "PIPELINING");
	cr_assert(smtpc_get_caps(c)->ext_truncated);
	cr_assert(smtpc_get_caps(c)->ext & SMTPC_EXT_PIPELINING);
	tc_free(c);
}

Test(caps, null_connection_has_no_caps)
{
	cr_assert_eq(smtpc_get_caps(NULL)->ext, 0);
}

Test(caps, size_with_spaces_around_the_number)
{
	/* found in review: "SIZE 1000 " read as no limit */
	static const char *const t[] = {"SIZE 1000 ", "SIZE  1000", "SIZE 1000  "};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		smtpc_conn *c = tc_ready(NULL, t[i]);
		cr_assert_eq(smtpc_get_caps(c)->size_limit, 1000, "%s", t[i]);
		tc_free(c);
	}
	smtpc_conn *c = tc_ready(NULL, "SIZE 10 00");
	cr_assert_eq(smtpc_get_caps(c)->size_limit, 0); /* malformed: unknown */
	tc_free(c);
}
