/* The smtpc tool's configuration parser (cli/config.c): the format, the
 * inheritance, every limit and bad input with its line number. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "smtpc.h"

static cfg_file c;
static char err[600];

static int parse(const char *text)
{
	return cfg_parse(&c, text, strlen(text), "conf", err, sizeof err);
}

/* The text fails with exactly this message. */
static void bad(const char *text, const char *want)
{
	cr_assert_eq(parse(text), -1, "accepted: %s", text);
	cr_assert_str_eq(err, want, "for %s", text);
	cr_assert_eq(c.nacc, 0); /* freed */
	cr_assert_null(c.acc);
}

Test(config, accounts_defaults_parents_and_default)
{
	const cfg_account *a;
	const char *text = "# a comment\n"
			   "defaults\n"
			   "  tls on   # trailing comment\n"
			   "port 587\n"
			   "account work\n"
			   "host smtp.example.org\n"
			   "from me@example.org\n"
			   "user me\n"
			   "account extra\n"
			   "tls_starttls off\n"
			   "port 465\n"
			   "defaults\n"
			   "timeout 20\n"
			   "account home : work, extra\n"
			   "host \"mail.example.net\"\n"
			   "password \"a \\\"quoted\\\" # pass\\\\\"\n"
			   "account default : home\n"
			   "from\n";

	cr_assert_eq(parse(text), 0, "%s", err);
	cr_assert_eq(c.nacc, 4);
	a = cfg_find(&c, "work");
	cr_assert_not_null(a);
	cr_assert_str_eq(a->val[CK_TLS], "on");
	cr_assert_eq(a->line[CK_TLS], 3);
	cr_assert_str_eq(a->val[CK_PORT], "587");
	cr_assert_null(a->val[CK_TIMEOUT]); /* defaults after it do not reach it */
	a = cfg_find(&c, "home");
	cr_assert_str_eq(a->val[CK_HOST], "mail.example.net");
	cr_assert_str_eq(a->val[CK_USER], "me");  /* from work */
	cr_assert_str_eq(a->val[CK_PORT], "465"); /* extra overrides work */
	cr_assert_str_eq(a->val[CK_TLS_STARTTLS], "off");
	cr_assert_str_eq(a->val[CK_TIMEOUT], "20"); /* the later defaults */
	cr_assert_str_eq(a->val[CK_PASSWORD], "a \"quoted\" # pass\\");
	cr_assert(c.has_secret);
	a = cfg_find(&c, "default");
	cr_assert_str_eq(a->val[CK_HOST], "mail.example.net");
	cr_assert_null(a->val[CK_FROM]); /* an empty value unsets */
	cr_assert_eq(a->line[CK_FROM], 18);
	cr_assert_null(cfg_find(&c, "nobody"));
	cr_assert_str_eq(c.defaults.val[CK_TIMEOUT], "20");
	cfg_free(&c);
}

Test(config, every_keyword_and_crlf_lines)
{
	const char *text = "account a\r\nhost h\r\nport 25\r\nfrom a@b.example\r\nuser u\r\n"
			   "password p\r\npasswordeval echo x\r\nauth cram-md5\r\ntls off\r\n"
			   "tls_starttls on\r\ntls_trust_file /etc/ca.pem\r\ntls_certcheck off\r\n"
			   "tls_cert_file c.pem\r\ntls_key_file k.pem\r\ntls_host_override n\r\n"
			   "protocol lmtp\r\ndomain client.example\r\ntimeout 30\r\n"
			   "dsn_notify success,failure\r\ndsn_return hdrs";
	const cfg_account *a;
	size_t k;

	cr_assert_eq(parse(text), 0, "%s", err);
	a = cfg_find(&c, "a");
	for (k = 0; k < CK__COUNT; k++)
		cr_assert_not_null(a->val[k], "%s", cfg_key_name((enum cfg_key)k));
	cr_assert_str_eq(a->val[CK_PASSWORDEVAL], "echo x");
	cr_assert_str_eq(a->val[CK_DSN_RETURN], "hdrs"); /* no final newline */
	cr_assert_eq(a->line[CK_DSN_RETURN], 20);
	cfg_free(&c);
}

Test(config, bad_input_named_with_its_line)
{
	bad("account a\nhots x\n", "conf:2: unknown keyword 'hots'");
	bad("host x\n", "conf:1: 'host' before any account or defaults line");
	bad("account a\nport 0\n", "conf:2: port: a number from 1 to 65535");
	bad("account a\nport 65536\n", "conf:2: port: a number from 1 to 65535");
	bad("account a\nport 25x\n", "conf:2: port: a number from 1 to 65535");
	bad("account a\nport 99999999999999999999\n", "conf:2: port: a number from 1 to 65535");
	bad("account a\ntimeout 2147484\n", "conf:2: timeout: seconds, from 1 to 2147483");
	bad("account a\ntls maybe\n", "conf:2: tls: on or off");
	bad("account a\nauth digest-md5\n",
	    "conf:2: auth: on, off, plain, login, cram-md5 or xoauth2");
	bad("account a\nprotocol esmtp\n", "conf:2: protocol: smtp or lmtp");
	bad("account a\ndsn_notify never,success\n",
	    "conf:2: dsn_notify: never, or a list of success, failure, delay");
	bad("account a\ndsn_return all\n", "conf:2: dsn_return: full or hdrs");
	bad("account a\nfrom not an address\n", "conf:2: from: not a mailbox");
	bad("account a\ndomain -bad-\n", "conf:2: domain: not a domain name or address literal");
	bad("account a\naccount a\n", "conf:2: account 'a' is defined twice");
	bad("account a : b\n", "conf:1: unknown account 'b' (a parent is defined above)");
	bad("account a : a\n", "conf:1: unknown account 'a' (a parent is defined above)");
	bad("account a :\n", "conf:1: account 'a': an empty or overlong parent name");
	bad("account a\naccount b : a,,a\n",
	    "conf:2: account 'b': an empty or overlong parent name");
	bad("account\n", "conf:1: account: a name of 1 to 64 octets");
	bad("account a/b\n", "conf:1: account 'a/b': names are letters, digits and _ - . @ +");
	bad("defaults x\n", "conf:1: defaults takes no value");
	bad("account a\nhost \"x\n", "conf:2: a quoted value without its closing quote");
	bad("account a\nhost \"x\" y\n", "conf:2: text after the closing quote");
	bad("account a\nhost x\"y\n", "conf:2: a quote inside a value: quote the whole value");
	bad("account a\nhost \"a\\nb\"\n",
	    "conf:2: in quotes, a backslash goes before \" or \\ only");
	bad("account a\nhost a\x01"
	    "b\n",
	    "conf:2: a control octet");
	cr_assert_eq(cfg_parse(&c, "account a\nhost a\0b\n", 18, "conf", err, sizeof err), -1);
	cr_assert_str_eq(err, "conf:2: a NUL octet");
	bad("account a\nhost a\rb\n", "conf:2: a control octet");
}

Test(config, limits)
{
	static char text[CFG_LINE_MAX * 2 + 100];
	char line[80];
	size_t n, i;

	/* a value of exactly the limit, then one more octet */
	n = (size_t)sprintf(text, "account a\nhost ");
	memset(text + n, 'h', CFG_VALUE_MAX);
	text[n + CFG_VALUE_MAX] = '\0';
	cr_assert_eq(parse(text), 0, "%s", err);
	cr_assert_eq(strlen(cfg_find(&c, "a")->val[CK_HOST]), CFG_VALUE_MAX);
	cfg_free(&c);
	text[n + CFG_VALUE_MAX] = 'h';
	text[n + CFG_VALUE_MAX + 1] = '\0';
	bad(text, "conf:2: a value longer than 1024 octets");
	text[n] = '"';
	memset(text + n + 1, 'h', CFG_VALUE_MAX + 1);
	strcpy(text + n + CFG_VALUE_MAX + 2, "\"");
	bad(text, "conf:2: a value longer than 1024 octets");
	/* a line of the limit (a comment), then one more */
	n = (size_t)sprintf(text, "account a\n#");
	memset(text + n, ' ', CFG_LINE_MAX - 1);
	text[n + CFG_LINE_MAX - 1] = '\0';
	cr_assert_eq(parse(text), 0, "%s", err);
	cfg_free(&c);
	strcpy(text + n + CFG_LINE_MAX - 1, " \nhost x\n");
	bad(text, "conf:2: a line longer than 4096 octets");
	/* names */
	memset(line, 'n', sizeof line);
	memcpy(line, "account ", 8);
	line[8 + CFG_NAME_MAX] = '\0';
	cr_assert_eq(parse(line), 0, "%s", err);
	cfg_free(&c);
	line[8 + CFG_NAME_MAX] = 'n';
	line[9 + CFG_NAME_MAX] = '\0';
	bad(line, "conf:1: account: a name of 1 to 64 octets");
	/* accounts */
	{
		char *many = malloc(CFG_ACCOUNTS_MAX * 20 + 40);
		size_t at = 0;
		for (i = 0; i < CFG_ACCOUNTS_MAX; i++)
			at += (size_t)sprintf(many + at, "account a%zu\n", i);
		cr_assert_eq(parse(many), 0, "%s", err);
		cr_assert_eq(c.nacc, CFG_ACCOUNTS_MAX);
		cfg_free(&c);
		sprintf(many + at, "account last\n");
		bad(many, "conf:257: more than 256 accounts");
		free(many);
	}
	/* parents */
	n = (size_t)sprintf(text, "account p\naccount c : p");
	for (i = 1; i < CFG_PARENTS_MAX; i++)
		n += (size_t)sprintf(text + n, ",p");
	cr_assert_eq(parse(text), 0, "%s", err);
	cfg_free(&c);
	strcpy(text + n, ",p");
	bad(text, "conf:2: account 'c': more than 16 parents");
	/* the file */
	{
		char *big = malloc(CFG_FILE_MAX + 1);
		memset(big, '\n', CFG_FILE_MAX + 1);
		cr_assert_eq(cfg_parse(&c, big, CFG_FILE_MAX, "conf", err, sizeof err), 0);
		cfg_free(&c);
		cr_assert_eq(cfg_parse(&c, big, CFG_FILE_MAX + 1, "conf", err, sizeof err), -1);
		cr_assert_str_eq(err, "conf: larger than 1048576 octets");
		free(big);
	}
}

Test(config, every_split_of_a_file_parses_alike_or_fails_cleanly)
{
	/* a file cut anywhere either parses or fails with a line number; the
	 * error buffer is never overrun, even when it is tiny */
	const char *text = "defaults\ntls on\naccount a\nhost \"h x\"\naccount b : a\nport 2525\n";
	size_t cut, len = strlen(text);
	char small[8];

	for (cut = 0; cut <= len; cut++) {
		int rc = cfg_parse(&c, text, cut, "conf", err, sizeof err);
		if (rc == 0)
			cfg_free(&c);
		else
			cr_assert(strncmp(err, "conf:", 5) == 0, "cut %zu: %s", cut, err);
	}
	cr_assert_eq(cfg_parse(&c, "nope\n", 5, "a-long-file-name", small, sizeof small), -1);
	cr_assert_eq(strlen(small), sizeof small - 1);
	cr_assert_eq(cfg_parse(&c, "nope\n", 5, "f", NULL, 0), -1);
}

Test(config, notify_and_bool_words)
{
	unsigned bits = 0;

	cr_assert_eq(cfg_parse_notify("never", &bits), 0);
	cr_assert_eq(bits, SMTPC_NOTIFY_NEVER);
	cr_assert_eq(cfg_parse_notify("delay,success", &bits), 0);
	cr_assert_eq(bits, SMTPC_NOTIFY_DELAY | SMTPC_NOTIFY_SUCCESS);
	cr_assert_eq(cfg_parse_notify("success,success", &bits), -1);
	cr_assert_eq(cfg_parse_notify("", &bits), -1);
	cr_assert_eq(cfg_parse_notify(",success", &bits), -1);
	cr_assert_eq(cfg_bool("on"), 1);
	cr_assert_eq(cfg_bool("off"), 0);
	cr_assert_eq(cfg_bool("On"), -1);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	cr_assert_eq(chmod(path, mode), 0);
}

Test(config, load_refuses_a_readable_file_with_a_password)
{
	char dir[] = "/tmp/smtpc-config-XXXXXX", path[64];

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/config", dir);
	cr_assert_eq(cfg_load(&c, path, err, sizeof err), 1); /* none */
	write_file(path, "account a\nhost h\npassword secret\n", 0640);
	cr_assert_eq(cfg_load(&c, path, err, sizeof err), -1);
	cr_assert(strstr(err, "readable by its group") != NULL, "%s", err);
	cr_assert_null(c.acc);
	chmod(path, 0604);
	cr_assert_eq(cfg_load(&c, path, err, sizeof err), -1);
	cr_assert(strstr(err, "readable by others") != NULL, "%s", err);
	chmod(path, 0600);
	cr_assert_eq(cfg_load(&c, path, err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(cfg_find(&c, "a")->val[CK_PASSWORD], "secret");
	cfg_free(&c);
	/* without a password, a readable file is fine; a writable one is not */
	write_file(path, "account a\nhost h\n", 0644);
	cr_assert_eq(cfg_load(&c, path, err, sizeof err), 0, "%s", err);
	cfg_free(&c);
	chmod(path, 0646);
	cr_assert_eq(cfg_load(&c, path, err, sizeof err), -1);
	cr_assert(strstr(err, "anyone may write it") != NULL, "%s", err);
	/* an error inside names the path and line */
	write_file(path, "account a\nbogus 1\n", 0600);
	cr_assert_eq(cfg_load(&c, path, err, sizeof err), -1);
	cr_assert(strstr(err, "/config:2: unknown keyword 'bogus'") != NULL, "%s", err);
	unlink(path);
	cr_assert_eq(cfg_load(&c, dir, err, sizeof err), -1); /* a directory */
	cr_assert(strstr(err, "not a regular file") != NULL, "%s", err);
	rmdir(dir);
}
