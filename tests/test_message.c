/* The smtpc tool's message handling (cli/message.c): RFC 5322 address
 * lists, the sendmail interface's header rewriting, composed messages. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "message.h"

struct got {
	char addr[64][MSG_ADDR_MAX + 1];
	size_t n;
	size_t refuse_after; /* 0: never */
};

static int collect(void *ctx, const char *a)
{
	struct got *g = ctx;

	if (g->refuse_after && g->n == g->refuse_after)
		return -1;
	cr_assert_lt(g->n, 64);
	strcpy(g->addr[g->n++], a);
	return 0;
}

static int list(const char *v, struct got *g, const char **why)
{
	memset(g, 0, sizeof *g);
	*why = NULL;
	return msg_addresses(v, strlen(v), collect, g, why);
}

Test(message, address_lists)
{
	struct got g;
	const char *why;

	cr_assert_eq(
	    list("\"Doe, John\" <john@example.com>, plain@example.com (a, comment)", &g, &why), 2,
	    "%s", why);
	cr_assert_str_eq(g.addr[0], "john@example.com");
	cr_assert_str_eq(g.addr[1], "plain@example.com");
	cr_assert_eq(list("team: x@example.com, (nobody) y@example.com;, z@example.com", &g, &why),
		     3);
	cr_assert_str_eq(g.addr[2], "z@example.com");
	cr_assert_eq(list("undisclosed-recipients:;", &g, &why), 0);
	cr_assert_eq(list("a@example.com,\r\n b@example.com", &g, &why), 2); /* folded */
	cr_assert_eq(list("<@relay.example,@r2.example:route@example.com>", &g, &why), 1);
	cr_assert_str_eq(g.addr[0], "route@example.com");
	cr_assert_eq(list("\"quoted local\"@example.com", &g, &why), 1);
	cr_assert_str_eq(g.addr[0], "\"quoted local\"@example.com");
	cr_assert_eq(list("user@[192.0.2.1]", &g, &why), 1);
	cr_assert_str_eq(g.addr[0], "user@[192.0.2.1]");
	cr_assert_eq(list("first . last @ example . com", &g, &why), 1);
	cr_assert_str_eq(g.addr[0], "first.last@example.com");
	cr_assert_eq(list("Name (c (nested) c) <n@example.com>", &g, &why), 1);
	cr_assert_str_eq(g.addr[0], "n@example.com");
	cr_assert_eq(list("\"a \\\" b\" <e@example.com>", &g, &why), 1); /* escaped quote */
	cr_assert_str_eq(g.addr[0], "e@example.com");
	cr_assert_eq(list("<>, ,,", &g, &why), 0);
	cr_assert_eq(list("", &g, &why), 0);
}

Test(message, bad_address_lists)
{
	static const struct {
		const char *v, *why;
	} bad[] = {
	    {"<open@example.com", "a '<' without its '>'"},
	    {"close@example.com>", "a '>' without its '<'"},
	    {"<a@example.com> <b@example.com>", "a '<' where none may be"},
	    {"<a@example.com> trailing", "text after an angle address"},
	    {"\"open@example.com", "a quoted string without its closing quote"},
	    {"user@[192.0.2.1", "a domain literal without its ']'"},
	    {"a@example.com (open", "a comment without its ')'"},
	    {"g: h: a@example.com;", "a ':' where none may be (a group in a group?)"},
	    {"John Smith john@example.com",
	     "words with no angle address (a display name goes before <address>)"},
	};
	struct got g;
	const char *why;
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cr_assert_eq(list(bad[i].v, &g, &why), -1, "%s", bad[i].v);
		cr_assert_str_eq(why, bad[i].why, "%s", bad[i].v);
	}
}

Test(message, address_limits)
{
	static char v[4096];
	struct got g;
	const char *why;
	size_t i;

	/* an address of MSG_ADDR_MAX octets, then one more */
	memset(v, 'a', MSG_ADDR_MAX - 12);
	strcpy(v + MSG_ADDR_MAX - 12, "@example.com");
	cr_assert_eq(list(v, &g, &why), 1);
	cr_assert_eq(strlen(g.addr[0]), MSG_ADDR_MAX);
	memset(v, 'a', MSG_ADDR_MAX - 11);
	strcpy(v + MSG_ADDR_MAX - 11, "@example.com");
	cr_assert_eq(list(v, &g, &why), -1);
	cr_assert_str_eq(why, "an address longer than 320 octets");
	memmove(v + 1, v, strlen(v) + 1);
	v[0] = '<';
	strcat(v, ">");
	cr_assert_eq(list(v, &g, &why), -1);
	cr_assert_str_eq(why, "an address longer than 320 octets");
	/* a long display name is no address: only the angle address counts */
	memset(v, 'N', 1000);
	strcpy(v + 1000, " <n@example.com>");
	cr_assert_eq(list(v, &g, &why), 1, "%s", why);
	/* comments nested to the limit, then one deeper */
	v[0] = '\0';
	for (i = 0; i < MSG_COMMENT_DEPTH; i++)
		strcat(v, "(");
	for (i = 0; i < MSG_COMMENT_DEPTH; i++)
		strcat(v, ")");
	strcat(v, "a@example.com");
	cr_assert_eq(list(v, &g, &why), 1);
	memmove(v + 1, v, strlen(v) + 1);
	v[0] = '(';
	strcat(v, ")");
	cr_assert_eq(list(v, &g, &why), -1);
	cr_assert_str_eq(why, "comments nested too deep");
	/* the callback's refusal (the caller's recipient limit) ends the list */
	memset(&g, 0, sizeof g);
	g.refuse_after = 2;
	cr_assert_eq(msg_addresses("a@x.example, b@x.example, c@x.example", 36, collect, &g, &why),
		     -1);
	cr_assert_eq(g.n, 2);
}

Test(message, address_list_cut_at_every_octet)
{
	const char *v = "\"Doe, J\" <j@example.com>, g: (c) x@example.com;, <@r:y@[192.0.2.1]>";
	size_t cut, len = strlen(v);
	struct got g;
	const char *why;

	for (cut = 0; cut <= len; cut++) {
		char *copy = malloc(cut ? cut : 1); /* exactly cut octets: ASan sees overreads */
		int rc;
		memcpy(copy, v, cut);
		memset(&g, 0, sizeof g);
		why = NULL;
		rc = msg_addresses(copy, cut, collect, &g, &why);
		cr_assert(rc >= 0 || why != NULL, "cut %zu", cut);
		if (rc >= 0)
			cr_assert_eq((size_t)rc, g.n);
		free(copy);
	}
}

static int none(void *ctx, const char *a)
{
	(void)ctx;
	(void)a;
	return 0;
}

/* The sendmail copy of in (a string); the output, NUL-terminated, in a static. */
static const char *copy(const char *in, int t, const char *fullname, struct got *g, int *rc)
{
	static char out[8192], inbuf[8192];
	struct msg_sendmail o;
	FILE *fi, *fo = fmemopen(out, sizeof out, "wb");
	const char *why;
	size_t n;

	strcpy(inbuf, in);
	fi = fmemopen(inbuf, strlen(in), "rb");
	memset(&o, 0, sizeof o);
	o.take_rcpts = t;
	o.from = "env@example.com";
	o.fullname = fullname;
	o.domain = "example.com";
	o.now = 0;
	if (g)
		memset(g, 0, sizeof *g);
	*rc = msg_sendmail_copy(fi, fo, &o, g ? collect : none, g, &why);
	n = (size_t)ftell(fo);
	fclose(fo);
	fclose(fi);
	out[n < sizeof out ? n : sizeof out - 1] = '\0';
	return out;
}

/* s without its Date and Message-ID lines (they vary). */
static const char *stable(const char *s)
{
	static char out[8192];
	size_t n = 0;

	while (*s) {
		const char *nl = strchr(s, '\n');
		size_t len = nl ? (size_t)(nl - s) + 1 : strlen(s);
		if (strncmp(s, "Date: ", 6) && strncmp(s, "Message-ID: ", 12)) {
			memcpy(out + n, s, len);
			n += len;
		}
		s += len;
	}
	out[n] = '\0';
	return out;
}

Test(message, sendmail_copy)
{
	struct got g;
	int rc;
	const char *out;

	out = copy("To: a@example.com\nBcc: b@example.com,\n c@example.com\nSubject: s\n\nBcc: "
		   "body\n",
		   1, NULL, &g, &rc);
	cr_assert_eq(rc, 0);
	cr_assert_eq(g.n, 3);
	cr_assert_str_eq(g.addr[2], "c@example.com");
	cr_assert(strncmp(out, "From: env@example.com\nDate: ", 28) == 0, "%s", out);
	cr_assert_str_eq(stable(out),
			 "From: env@example.com\nTo: a@example.com\nSubject: s\n\nBcc: body\n");
	/* headers there are kept as they are; CRLF too */
	out = copy("from: X <x@example.com>\r\ndate: today\r\nmessage-id: <m@x>\r\n\r\nb\r\n", 0,
		   "Name", NULL, &rc);
	cr_assert_eq(rc, 0);
	cr_assert_str_eq(
	    out, "from: X <x@example.com>\r\ndate: today\r\nmessage-id: <m@x>\r\n\r\nb\r\n");
	/* no header at all: the empty line goes between the added ones and the body */
	out = copy("just text\nmore\n", 0, "A. Name", NULL, &rc);
	cr_assert_str_eq(stable(out), "From: \"A. Name\" <env@example.com>\n\njust text\nmore\n");
	/* headers only, the last one cut by the end */
	out = copy("Subject: s\nX: y", 0, NULL, NULL, &rc);
	cr_assert_str_eq(stable(out), "From: env@example.com\nSubject: s\nX: y\n");
	/* an mbox From line is dropped; a body line right after the headers */
	out = copy("From someone Mon Jan 1\nSubject: s\nnot a header\n", 0, NULL, NULL, &rc);
	cr_assert_str_eq(stable(out), "From: env@example.com\nSubject: s\n\nnot a header\n");
	/* a continuation line with no field before it is body, and so is all
	 * after it: a Bcc there must not become a header (found by fuzz_cli) */
	out = copy("From x Mon\n e;\nBcc: d@example.com\nSubject: s\n\nbody\n", 1, NULL, &g, &rc);
	cr_assert_eq(rc, 0);
	cr_assert_eq(g.n, 0);
	cr_assert_str_eq(stable(out), "From: env@example.com\n\n e;\nBcc: d@example.com\nSubject: "
				      "s\n\nbody\n");
	out = copy(" lead\nTo: a@example.com\n\nx\n", 1, NULL, &g, &rc);
	cr_assert_eq(g.n, 0);
	cr_assert_str_eq(stable(out), "From: env@example.com\n\n lead\nTo: a@example.com\n\nx\n");
	/* an empty message */
	out = copy("", 0, NULL, NULL, &rc);
	cr_assert_eq(rc, 0);
	cr_assert_str_eq(stable(out), "From: env@example.com\n");
	/* -t with a bad list */
	out = copy("To: <a@example.com\n\nx\n", 1, NULL, &g, &rc);
	cr_assert_eq(rc, -1);
}

Test(message, sendmail_header_section_limit)
{
	size_t n = MSG_HEADER_MAX + 10;
	char *in = malloc(n + 1), *out = malloc(n * 2);
	FILE *fi, *fo;
	struct msg_sendmail o;
	const char *why = NULL;

	memset(&o, 0, sizeof o);
	memcpy(in, "X: ", 3);
	memset(in + 3, 'x', n - 3);
	in[n] = '\0';
	/* a section of exactly the limit (its last octet the empty line's LF) passes */
	in[MSG_HEADER_MAX - 2] = '\n';
	in[MSG_HEADER_MAX - 1] = '\n';
	fi = fmemopen(in, n, "rb");
	fo = fmemopen(out, n * 2, "wb");
	cr_assert_eq(msg_sendmail_copy(fi, fo, &o, none, NULL, &why), 0, "%s", why);
	fclose(fi);
	fclose(fo);
	in[MSG_HEADER_MAX - 1] = 'x';
	in[MSG_HEADER_MAX] = '\n';
	in[MSG_HEADER_MAX + 1] = '\n';
	fi = fmemopen(in, n, "rb");
	fo = fmemopen(out, n * 2, "wb");
	cr_assert_eq(msg_sendmail_copy(fi, fo, &o, none, NULL, &why), -1);
	cr_assert_str_eq(why, "a header section larger than 256 KiB");
	fclose(fi);
	fclose(fo);
	free(in);
	free(out);
}

Test(message, header_arguments)
{
	cr_assert(msg_header_ok("X-Test: yes"));
	cr_assert(msg_header_ok("X-Empty:"));
	cr_assert(!msg_header_ok("X-Test yes"));
	cr_assert(!msg_header_ok(": v"));
	cr_assert(!msg_header_ok("Bad Name: v"));
	cr_assert(!msg_header_ok("X: a\r\nBcc: b@example.com"));
	cr_assert(!msg_header_ok("X: a\nb"));
	cr_assert(!msg_header_ok("X\xc3\xa9: v"));
}
