/* AUTH: PLAIN, LOGIN, CRAM-MD5, XOAUTH2, and base64. */
#include "helpers.h"

#include <stdio.h>

#include "smtpc_bearssl.h"
#include <stdlib.h>
#include <string.h>

#define OK(call) cr_assert_eq((call), SMTPC_ERR_OK, "%s failed", #call)

static smtpc_conn *secure_ready(const char *mechs)
{
	char ext[200];
	smtpc_conn *c;

	snprintf(ext, sizeof ext, "PIPELINING\nAUTH %s", mechs);
	c = tc_ready(NULL, ext);
	smtpc_set_secure(c);
	return c;
}

Test(auth, plain_initial_response)
{
	smtpc_conn *c = secure_ready("PLAIN LOGIN");
	sbuf log = {0};

	OK(smtpc_auth(c, SMTPC_MECH_PLAIN, "tim", "tanstaaftanstaaf"));
	cr_assert_str_eq(tx_take(c), "AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n");
	cr_assert_eq(smtpc_auth(c, SMTPC_MECH_PLAIN, "x", "y"), SMTPC_ERR_PIPELINE);
	feed_all(c, "235 2.7.0 Authentication successful\r\n", 37, &log);
	cr_assert_str_eq(log.s, "L 235 2.7.0 Authentication successful\n"
				"R 235 AUTH [2.7.0] 2.7.0 Authentication successful\n");
	cr_assert(smtpc_is_authenticated(c));
	cr_assert_eq(smtpc_auth(c, SMTPC_MECH_PLAIN, "x", "y"), SMTPC_ERR_STATE);
	sb_free(&log);
	tc_free(c);
}

Test(auth, login_ignores_the_challenge_text)
{
	/* lower case, other words, empty: the answers go by count */
	static const char *const challenges[][2] = {
	    {"334 VXNlcm5hbWU6\r\n", "334 UGFzc3dvcmQ6\r\n"},
	    {"334 dXNlcm5hbWU6\r\n", "334 cGFzc3dvcmQ6\r\n"},
	    {"334 \r\n", "334\r\n"},
	    {"334 UGFzc3dvcmQ6\r\n", "334 VXNlcm5hbWU6\r\n"},
	};
	for (size_t i = 0; i < sizeof challenges / sizeof challenges[0]; i++) {
		smtpc_conn *c = secure_ready("LOGIN");
		OK(smtpc_auth(c, SMTPC_MECH_LOGIN, "user", "s3cret"));
		cr_assert_str_eq(tx_take(c), "AUTH LOGIN\r\n");
		feed_ok(c, challenges[i][0]);
		cr_assert_str_eq(tx_take(c), "dXNlcg==\r\n");
		cr_assert_eq(smtpc_pending(c), 1);
		feed_ok(c, challenges[i][1]);
		cr_assert_str_eq(tx_take(c), "czNjcmV0\r\n");
		feed_ok(c, "235 ok\r\n");
		cr_assert(smtpc_is_authenticated(c));
		cr_assert_eq(smtpc_pending(c), 0);
		tc_free(c);
	}
}

Test(auth, extra_challenges_are_cancelled_not_looped)
{
	smtpc_conn *c = secure_ready("LOGIN");
	sbuf log = {0};

	OK(smtpc_auth(c, SMTPC_MECH_LOGIN, "u", "p"));
	tx_take(c);
	/* each challenge comes after the response to the one before */
	feed_ok(c, "334 a\r\n");
	feed_ok(c, "334 b\r\n");
	feed_ok(c, "334 c\r\n");
	cr_assert_str_eq(tx_take(c), "dQ==\r\ncA==\r\n*\r\n");
	feed_all(c, "501 5.7.0 cancelled\r\n", 21, &log);
	cr_assert_str_eq(log.s, "L 501 5.7.0 cancelled\nR 501 AUTH [5.7.0] 5.7.0 cancelled\n");
	cr_assert(!smtpc_is_authenticated(c));
	/* a failed AUTH may be tried again */
	OK(smtpc_auth(c, SMTPC_MECH_LOGIN, "u", "p"));
	sb_free(&log);
	tc_free(c);

	c = secure_ready("PLAIN");
	OK(smtpc_auth(c, SMTPC_MECH_PLAIN, "u", "p"));
	tx_take(c);
	feed_ok(c, "334 \r\n");
	cr_assert_str_eq(tx_take(c), "*\r\n");
	tc_free(c);
}

/* the TLS adapter's HMAC-MD5, as the CLI uses it */
#define hmac_md5 smtpc_bearssl_hmac_md5

static int failing_hmac(void *ctx, const unsigned char *key, size_t key_len,
			const unsigned char *msg, size_t msg_len, unsigned char out[16])
{
	(void)ctx, (void)key, (void)key_len, (void)msg, (void)msg_len, (void)out;
	return -1;
}

Test(auth, cram_md5_rfc2195_example)
{
	smtpc_conn *c = secure_ready("CRAM-MD5");
	char want[100];

	cr_assert_eq(smtpc_auth(c, SMTPC_MECH_CRAM_MD5, "tim", "tanstaaftanstaaf"),
		     SMTPC_ERR_DIGEST);
	smtpc_set_hmac_md5(c, hmac_md5, NULL);
	OK(smtpc_auth(c, SMTPC_MECH_CRAM_MD5, "tim", "tanstaaftanstaaf"));
	cr_assert_str_eq(tx_take(c), "AUTH CRAM-MD5\r\n");
	/* RFC 2195 section 2: <1896.697170952@postoffice.reston.mci.net> */
	feed_ok(c, "334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\r\n");
	size_t n = smtpc_b64_encode(want, sizeof want, "tim b913a602c7eda7a495b4e6e7334d3890", 36);
	memcpy(want + n, "\r\n", 3);
	cr_assert_str_eq(tx_take(c), want);
	feed_ok(c, "235 ok\r\n");
	cr_assert(smtpc_is_authenticated(c));
	tc_free(c);
}

Test(auth, cram_md5_bad_challenge_and_failing_hook)
{
	smtpc_conn *c = secure_ready("CRAM-MD5");
	sbuf log = {0};

	smtpc_set_hmac_md5(c, hmac_md5, NULL);
	OK(smtpc_auth(c, SMTPC_MECH_CRAM_MD5, "tim", "x"));
	feed_all(c, "334 not*base64\r\n", 16, &log);
	cr_assert_str_eq(log.s, "L 334 not*base64\nR 334 AUTH not*base64\nE BAD_CHALLENGE\n");
	sb_free(&log);
	tc_free(c);

	c = secure_ready("CRAM-MD5");
	smtpc_set_hmac_md5(c, hmac_md5, NULL);
	OK(smtpc_auth(c, SMTPC_MECH_CRAM_MD5, "tim", "x"));
	feed_all(c, "334 \r\n", 6, &log);
	cr_assert_str_eq(log.s, "L 334 \nR 334 AUTH \nE BAD_CHALLENGE\n");
	sb_free(&log);
	tc_free(c);

	c = secure_ready("CRAM-MD5");
	smtpc_set_hmac_md5(c, failing_hmac, NULL);
	OK(smtpc_auth(c, SMTPC_MECH_CRAM_MD5, "tim", "x"));
	feed_all(c, "334 PDE+\r\n", 10, &log);
	cr_assert_str_eq(log.s, "L 334 PDE+\nR 334 AUTH PDE+\nE DIGEST\n");
	sb_free(&log);
	smtpc_set_hmac_md5(NULL, hmac_md5, NULL);
	tc_free(c);
}

Test(auth, xoauth2)
{
	smtpc_conn *c = secure_ready("XOAUTH2");
	char want[200], *p = want;

	OK(smtpc_auth(c, SMTPC_MECH_XOAUTH2, "someuser@example.com",
		      "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"));
	static const char raw[] = "user=someuser@example.com\001auth=Bearer "
				  "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\001\001";
	p += sprintf(p, "AUTH XOAUTH2 ");
	p += smtpc_b64_encode(p, 150, raw, sizeof raw - 1);
	strcpy(p, "\r\n");
	cr_assert_str_eq(tx_take(c), want);
	/* an error challenge gets an empty response, then the failure comes */
	feed_ok(c, "334 eyJzdGF0dXMiOiI0MDEifQ==\r\n");
	cr_assert_str_eq(tx_take(c), "\r\n");
	feed_ok(c, "535 5.7.8 bad token\r\n");
	cr_assert(!smtpc_is_authenticated(c));
	cr_assert_eq(smtpc_auth(c, SMTPC_MECH_XOAUTH2, "a\001b", "t"), SMTPC_ERR_CTRL_CHAR);
	cr_assert_eq(smtpc_auth(c, SMTPC_MECH_XOAUTH2, "a", "t\r\n"), SMTPC_ERR_CTRL_CHAR);
	tc_free(c);
}

Test(auth, policy_and_arguments)
{
	smtpc_conn *c = tc_ready(NULL, "AUTH PLAIN");
	smtpc_config cfg;

	/* never in clear text unless the configuration allows it */
	cr_assert_eq(smtpc_auth(c, SMTPC_MECH_PLAIN, "u", "p"), SMTPC_ERR_AUTH_NEEDS_TLS);
	cr_assert_str_eq(tx_take(c), "");
	cr_assert_eq(smtpc_auth(c, SMTPC_MECH_LOGIN, "u", "p"), SMTPC_ERR_NOT_OFFERED);
	cr_assert_eq(smtpc_auth(c, (smtpc_mech)9, "u", "p"), SMTPC_ERR_BAD_PARAM);
	cr_assert_eq(smtpc_auth(c, (smtpc_mech)0, "u", "p"), SMTPC_ERR_BAD_PARAM);
	cr_assert_eq(smtpc_auth(c, SMTPC_MECH_PLAIN, NULL, "p"), SMTPC_ERR_NULL_ARG);
	cr_assert_eq(smtpc_auth(NULL, SMTPC_MECH_PLAIN, "u", "p"), SMTPC_ERR_NULL_ARG);
	tc_free(c);

	smtpc_config_default(&cfg);
	cfg.allow_plain_auth = 1;
	c = tc_ready(&cfg, "AUTH PLAIN");
	OK(smtpc_auth(c, SMTPC_MECH_PLAIN, "u", "p"));
	tc_free(c);

	/* a token longer than RFC 4954's 12288-octet line, or than the buffer */
	c = secure_ready("XOAUTH2 PLAIN");
	char *tok = malloc(10000);
	memset(tok, 't', 9999);
	tok[9999] = '\0';
	cr_assert_eq(smtpc_auth(c, SMTPC_MECH_XOAUTH2, "u", tok), SMTPC_ERR_TOO_LONG);
	tok[4000] = '\0';
	cr_assert_eq(smtpc_auth(c, SMTPC_MECH_XOAUTH2, "u", tok), SMTPC_ERR_TX_SMALL); /* tx 4096 */
	tok[2000] = '\0';
	OK(smtpc_auth(c, SMTPC_MECH_XOAUTH2, "u", tok));
	free(tok);
	tc_free(c);
}

Test(base64, rfc4648_vectors)
{
	static const char *const v[][2] = {{"", ""},
					   {"f", "Zg=="},
					   {"fo", "Zm8="},
					   {"foo", "Zm9v"},
					   {"foob", "Zm9vYg=="},
					   {"fooba", "Zm9vYmE="},
					   {"foobar", "Zm9vYmFy"}};
	char out[32];
	unsigned char back[32];

	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		size_t n = smtpc_b64_encode(out, sizeof out, v[i][0], strlen(v[i][0]));
		cr_assert_eq(n, strlen(v[i][1]));
		cr_assert_eq(memcmp(out, v[i][1], n), 0);
		n = smtpc_b64_decode(back, sizeof back, v[i][1], strlen(v[i][1]));
		cr_assert_eq(n, strlen(v[i][0]));
		cr_assert_eq(memcmp(back, v[i][0], n), 0);
	}
	unsigned char all[256];
	char enc[400];
	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	size_t n = smtpc_b64_encode(enc, sizeof enc, all, 256);
	cr_assert_eq(n, 344);
	cr_assert_eq(smtpc_b64_decode(back, 32, enc, n), (size_t)-1); /* no room */
	unsigned char big[256];
	cr_assert_eq(smtpc_b64_decode(big, sizeof big, enc, n), 256);
	cr_assert_eq(memcmp(big, all, 256), 0);
	cr_assert_eq(smtpc_b64_encode(out, 3, "f", 1), 0); /* no room */
	cr_assert_eq(smtpc_b64_encode(NULL, 8, "f", 1), 0);
}

Test(base64, decoder_is_strict)
{
	static const char *const bad[] = {
	    "Zg=",  "Zg",	"Z===", "Zm9v=",	   "Zh==", "Zm9=", "Zm=v", "Z g=", "Zm\r\n",
	    "=Zm9", "Zg==Zg==", "Zm8*", "\xc3\xa9\xc3\xa9"};
	unsigned char out[16];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_eq(smtpc_b64_decode(out, sizeof out, bad[i], strlen(bad[i])), (size_t)-1,
			     "%s", bad[i]);
	cr_assert_eq(smtpc_b64_decode(out, sizeof out, NULL, 4), (size_t)-1);
	cr_assert_eq(smtpc_b64_decode(NULL, 0, "", 0), 0);
}

Test(xtext, encodes_outside_printable_and_plus_equals)
{
	char out[32];

	cr_assert_eq(smtpc_xtext_encode(NULL, 0, "a+b=c d\x01", 8), 16);
	cr_assert_eq(smtpc_xtext_encode(out, sizeof out, "a+b=c d\x01", 8), 16);
	cr_assert_eq(memcmp(out, "a+2Bb+3Dc+20d+01", 16), 0);
	cr_assert_eq(smtpc_xtext_encode(out, 3, "a+b", 3), 5); /* too small: measures only */
	cr_assert_eq(smtpc_xtext_encode(out, 3, NULL, 3), 0);
}

/* ---- the exchange: hooks, early replies, bounds ----------------------------------- */

static int fixed_hmac(void *ctx, const unsigned char *key, size_t key_len, const unsigned char *msg,
		      size_t msg_len, unsigned char out[16])
{
	(void)ctx, (void)key, (void)key_len, (void)msg, (void)msg_len;
	memset(out, 0x11, 16);
	return 0;
}

static void cram_then_clear(smtpc_conn *c)
{
	smtpc_set_secure(c);
	smtpc_set_hmac_md5(c, fixed_hmac, NULL);
	OK(smtpc_auth(c, SMTPC_MECH_CRAM_MD5, "u", "p"));
	tx_take(c);
	smtpc_set_hmac_md5(c, NULL, NULL); /* cleared while the exchange runs */
}

static void nothing_after_auth(smtpc_conn *c)
{
	cr_assert_str_eq(tx_take(c), "");
}

Test(auth, digest_hook_cleared_during_cram_md5_is_an_error_not_a_crash)
{
	script s = {"cram cleared",
		    NULL,
		    "AUTH CRAM-MD5",
		    0,
		    cram_then_clear,
		    "334 PDE+\r\n",
		    0,
		    0,
		    "L 334 PDE+\nR 334 AUTH PDE+\nE DIGEST\n",
		    nothing_after_auth};
	run_script(&s);
}

static void login_issued(smtpc_conn *c)
{
	smtpc_set_secure(c);
	OK(smtpc_auth(c, SMTPC_MECH_LOGIN, "user", "s3cret"));
	cr_assert_str_eq(tx_take(c), "AUTH LOGIN\r\n");
}

Test(auth, a_235_that_came_with_the_334_does_not_answer_the_user_name)
{
	/* found in review: in one segment, this made the client report success
	 * though the password was never sent */
	smtpc_conn *c = tc_ready(NULL, "AUTH LOGIN");
	sbuf log = {0};

	login_issued(c);
	feed_all(c, "334 VXNlcm5hbWU6\r\n235 ok\r\n", 26, &log);
	cr_assert_str_eq(log.s,
			 "L 334 VXNlcm5hbWU6\nR 334 AUTH VXNlcm5hbWU6\nL 235 ok\nR 235 NONE ok\n");
	cr_assert(!smtpc_is_authenticated(c));
	cr_assert_eq(smtpc_pending(c), 1); /* AUTH still waits for its real answer */
	cr_assert_str_eq(tx_take(c), "dXNlcg==\r\n");
	/* the password prompt that comes after the user name is answered */
	feed_ok(c, "334 UGFzc3dvcmQ6\r\n");
	cr_assert_str_eq(tx_take(c), "czNjcmV0\r\n");
	feed_ok(c, "235 2.7.0 ok\r\n");
	cr_assert(smtpc_is_authenticated(c));
	cr_assert_eq(smtpc_pending(c), 0);
	sb_free(&log);
	tc_free(c);

	/* each reply after the response it answers: the normal case */
	c = tc_ready(NULL, "AUTH LOGIN");
	login_issued(c);
	feed_ok(c, "334 VXNlcm5hbWU6\r\n");
	feed_ok(c, "334 UGFzc3dvcmQ6\r\n");
	feed_ok(c, "235 2.7.0 ok\r\n");
	cr_assert(smtpc_is_authenticated(c));
	tc_free(c);
}

Test(auth, challenges_are_bounded)
{
	static const struct {
		smtpc_mech mech;
		const char *ext, *sent;
	} t[] = {
	    {SMTPC_MECH_LOGIN, "AUTH LOGIN", "dQ==\r\ncA==\r\n*\r\n"},
	    {SMTPC_MECH_PLAIN, "AUTH PLAIN", "*\r\n"},
	    {SMTPC_MECH_XOAUTH2, "AUTH XOAUTH2", "\r\n*\r\n"},
	    {SMTPC_MECH_CRAM_MD5, "AUTH CRAM-MD5", NULL},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		smtpc_conn *c = tc_ready(NULL, t[i].ext);
		sbuf log = {0};
		int n = 0;
		smtpc_set_secure(c);
		smtpc_set_hmac_md5(c, fixed_hmac, NULL);
		OK(smtpc_auth(c, t[i].mech, "u", "p"));
		tx_take(c);
		sbuf sent = {0};
		/* a server that keeps challenging: answered, cancelled, then refused */
		while (smtpc_error(c) == SMTPC_ERR_OK && n < 10) {
			feed_all(c, "334 PDE+\r\n", 10, &log);
			sb_add(&sent, "%s", tx_take(c));
			n++;
		}
		cr_assert_eq(smtpc_error(c), SMTPC_ERR_BAD_CHALLENGE, "%zu", i);
		cr_assert_leq(n, 4, "%zu: %d challenges", i, n);
		if (t[i].sent)
			cr_assert_str_eq(sent.s, t[i].sent, "%zu", i);
		sb_free(&sent);
		sb_free(&log);
		tc_free(c);
	}
}

Test(auth, marks_hold_after_two_gigabytes)
{
	/* The stream offsets that tell early replies from answers are 64 bits.
	 * Moving the received-octet count by 2^31 between the steps stands for
	 * that much traffic in a long session. */
	smtpc_conn *c = tc_ready(NULL, "AUTH LOGIN\nPIPELINING");

	c->rx_total += (uint64_t)1 << 31;
	login_issued(c);
	c->rx_total += (uint64_t)1 << 31;
	feed_ok(c, "334 VXNlcm5hbWU6\r\n");
	cr_assert_str_eq(tx_take(c), "dXNlcg==\r\n");
	c->rx_total += ((uint64_t)1 << 32) + 7;
	feed_ok(c, "334 UGFzc3dvcmQ6\r\n");
	cr_assert_str_eq(tx_take(c), "czNjcmV0\r\n");
	c->rx_total += (uint64_t)1 << 31;
	feed_ok(c, "235 ok\r\n");
	cr_assert(smtpc_is_authenticated(c));
	cr_assert_eq(smtpc_pending(c), 0);
	OK(smtpc_mail(c, "a@example.com", NULL));
	c->rx_total += (uint64_t)3 << 31;
	feed_ok(c, "250 ok\r\n");
	cr_assert_eq(smtpc_pending(c), 0);
	tc_free(c);
}
