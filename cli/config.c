/*
 * The configuration file (see config.h for the format and its limits).
 *
 * One pass over the lines. `cur` is the section being filled: the defaults,
 * or the last account. An account is born as a copy of the defaults as they
 * stand, then of each parent in order (only accounts defined earlier can be
 * parents), so that after the pass every account is complete and lookups
 * need no inheritance walk. Every value is checked when it is read, so an
 * error names its line. The first error ends the parse.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "smtpc.h"

static const char *const key_names[CK__COUNT] = {"host",	  "port",
						 "from",	  "user",
						 "password",	  "passwordeval",
						 "auth",	  "tls",
						 "tls_starttls",  "tls_trust_file",
						 "tls_certcheck", "tls_cert_file",
						 "tls_key_file",  "tls_host_override",
						 "protocol",	  "domain",
						 "timeout",	  "dsn_notify",
						 "dsn_return"};

const char *cfg_key_name(enum cfg_key k)
{
	return (unsigned)k < CK__COUNT ? key_names[k] : "?";
}

int cfg_bool(const char *v)
{
	if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1"))
		return 1;
	if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0"))
		return 0;
	return -1;
}

int cfg_parse_notify(const char *v, unsigned *out)
{
	static const struct {
		const char *word;
		unsigned bit;
	} words[] = {{"never", SMTPC_NOTIFY_NEVER},
		     {"success", SMTPC_NOTIFY_SUCCESS},
		     {"failure", SMTPC_NOTIFY_FAILURE},
		     {"delay", SMTPC_NOTIFY_DELAY}};
	unsigned bits = 0;

	while (*v) {
		size_t n = strcspn(v, ","), i;
		for (i = 0; i < sizeof words / sizeof words[0]; i++) {
			if (strlen(words[i].word) == n && strncmp(v, words[i].word, n) == 0)
				break;
		}
		if (i == sizeof words / sizeof words[0] || (bits & words[i].bit))
			return -1;
		bits |= words[i].bit;
		v += n;
		if (*v == ',' && *++v == '\0')
			return -1; /* a trailing comma */
	}
	if (bits == 0 || ((bits & SMTPC_NOTIFY_NEVER) && bits != SMTPC_NOTIFY_NEVER))
		return -1; /* RFC 3461 4.1: NEVER stands alone */
	*out = bits;
	return 0;
}

struct parser {
	cfg_file *c;
	const char *fname;
	unsigned line;
	char *err;
	size_t err_len;
};

static int fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (p->err_len == 0)
		return -1;
	if (p->line)
		n = snprintf(p->err, p->err_len, "%s:%u: ", p->fname, p->line);
	else
		n = snprintf(p->err, p->err_len, "%s: ", p->fname);
	if (n < 0 || (size_t)n >= p->err_len)
		return -1;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->err_len - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static void account_clear(cfg_account *a)
{
	size_t k;

	for (k = 0; k < CK__COUNT; k++) {
		free(a->val[k]);
		a->val[k] = NULL;
		a->line[k] = 0;
	}
}

/* to = from's values (to's own are dropped first). */
static int account_copy(cfg_account *to, const cfg_account *from, int overlay)
{
	size_t k;

	for (k = 0; k < CK__COUNT; k++) {
		char *v;
		if (overlay && from->val[k] == NULL && from->line[k] == 0)
			continue; /* a parent that does not say leaves it as it was */
		v = from->val[k] ? strdup(from->val[k]) : NULL;
		if (from->val[k] && v == NULL)
			return -1;
		free(to->val[k]);
		to->val[k] = v;
		to->line[k] = from->line[k];
	}
	return 0;
}

void cfg_free(cfg_file *c)
{
	size_t i;

	if (c == NULL)
		return;
	account_clear(&c->defaults);
	for (i = 0; i < c->nacc; i++)
		account_clear(&c->acc[i]);
	free(c->acc);
	c->acc = NULL;
	c->nacc = 0;
}

const cfg_account *cfg_find(const cfg_file *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->nacc; i++) {
		if (strcmp(c->acc[i].name, name) == 0)
			return &c->acc[i];
	}
	return NULL;
}

static int is_ws(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* The value after a keyword: quoted or bare, into out (NUL-terminated). */
static int read_value(struct parser *p, const char *s, const char *end, char *out)
{
	size_t n = 0;

	while (s < end && is_ws(*s))
		s++;
	if (s < end && *s == '"') {
		for (s++;; s++) {
			if (s == end)
				return fail(p, "a quoted value without its closing quote");
			if (*s == '"')
				break;
			if (*s == '\\') {
				if (s + 1 == end || (s[1] != '"' && s[1] != '\\'))
					return fail(
					    p, "in quotes, a backslash goes before \" or \\ only");
				s++;
			}
			if (n == CFG_VALUE_MAX)
				return fail(p, "a value longer than %d octets", CFG_VALUE_MAX);
			out[n++] = *s;
		}
		for (s++; s < end && is_ws(*s); s++)
			;
		if (s < end && *s != '#')
			return fail(p, "text after the closing quote");
		out[n] = '\0';
		return 0;
	}
	while (s < end && !(*s == '#' && (n == 0 || is_ws(s[-1])))) {
		if (*s == '"')
			return fail(p, "a quote inside a value: quote the whole value");
		if (n == CFG_VALUE_MAX)
			return fail(p, "a value longer than %d octets", CFG_VALUE_MAX);
		out[n++] = *s++;
	}
	while (n > 0 && is_ws(out[n - 1]))
		n--;
	out[n] = '\0';
	return 0;
}

static int valid_name(const char *s)
{
	size_t n = 0;

	for (; *s; s++, n++) {
		unsigned char ch = (unsigned char)*s;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.' ||
		      ch == '@' || ch == '+'))
			return 0;
	}
	return n >= 1 && n <= CFG_NAME_MAX;
}

static int check_value(struct parser *p, enum cfg_key k, const char *v)
{
	unsigned notify;
	const char *q;
	unsigned long n = 0;

	if (*v == '\0')
		return 0; /* unsets */
	switch (k) {
	case CK_PORT:
	case CK_TIMEOUT:
		for (q = v; *q >= '0' && *q <= '9' && n <= 2147483u; q++)
			n = n * 10 + (unsigned long)(*q - '0');
		if (*q != '\0' || n == 0 || (k == CK_PORT && n > 65535) ||
		    (k == CK_TIMEOUT && n > 2147483u)) /* seconds whose ms fit an int */
			return fail(p, k == CK_PORT ? "port: a number from 1 to 65535"
						    : "timeout: seconds, from 1 to 2147483");
		return 0;
	case CK_TLS:
	case CK_TLS_STARTTLS:
	case CK_TLS_CERTCHECK:
		if (cfg_bool(v) < 0)
			return fail(p, "%s: on or off", key_names[k]);
		return 0;
	case CK_AUTH:
		if (cfg_bool(v) < 0 && strcmp(v, "plain") && strcmp(v, "login") &&
		    strcmp(v, "cram-md5") && strcmp(v, "xoauth2"))
			return fail(p, "auth: on, off, plain, login, cram-md5 or xoauth2");
		return 0;
	case CK_PROTOCOL:
		if (strcmp(v, "smtp") && strcmp(v, "lmtp"))
			return fail(p, "protocol: smtp or lmtp");
		return 0;
	case CK_DSN_NOTIFY:
		if (cfg_parse_notify(v, &notify) != 0)
			return fail(p, "dsn_notify: never, or a list of success, failure, delay");
		return 0;
	case CK_DSN_RETURN:
		if (strcmp(v, "full") && strcmp(v, "hdrs"))
			return fail(p, "dsn_return: full or hdrs");
		return 0;
	case CK_FROM:
		if (smtpc_check_mailbox(v, 1) != SMTPC_ERR_OK)
			return fail(p, "from: not a mailbox");
		return 0;
	case CK_DOMAIN:
		if (smtpc_check_domain(v) != SMTPC_ERR_OK)
			return fail(p, "domain: not a domain name or address literal");
		return 0;
	default:
		return 0;
	}
}

/* `account NAME [: PARENT[,PARENT...]]` */
static int new_account(struct parser *p, const char *v)
{
	cfg_file *c = p->c;
	cfg_account *a, *grown;
	const char *colon = strchr(v, ':');
	char name[CFG_NAME_MAX + 2], parent[CFG_NAME_MAX + 2];
	size_t n = colon ? (size_t)(colon - v) : strlen(v);

	while (n > 0 && is_ws(v[n - 1]))
		n--;
	if (n == 0 || n > CFG_NAME_MAX)
		return fail(p, "account: a name of 1 to %d octets", CFG_NAME_MAX);
	memcpy(name, v, n);
	name[n] = '\0';
	if (!valid_name(name))
		return fail(p, "account '%s': names are letters, digits and _ - . @ +", name);
	if (cfg_find(c, name) != NULL)
		return fail(p, "account '%s' is defined twice", name);
	if (c->nacc == CFG_ACCOUNTS_MAX)
		return fail(p, "more than %d accounts", CFG_ACCOUNTS_MAX);
	grown = realloc(c->acc, (c->nacc + 1) * sizeof *c->acc);
	if (grown == NULL)
		return fail(p, "out of memory");
	c->acc = grown;
	a = &c->acc[c->nacc++];
	memset(a, 0, sizeof *a);
	memcpy(a->name, name, n + 1);
	if (account_copy(a, &c->defaults, 0) != 0)
		return fail(p, "out of memory");
	if (colon != NULL) {
		const char *s = colon + 1;
		unsigned parents = 0;
		for (;;) {
			const cfg_account *par;
			size_t m;
			while (is_ws(*s))
				s++;
			m = strcspn(s, ",");
			while (m > 0 && is_ws(s[m - 1]))
				m--;
			if (m == 0 || m > CFG_NAME_MAX)
				return fail(p, "account '%s': an empty or overlong parent name",
					    name);
			if (++parents > CFG_PARENTS_MAX)
				return fail(p, "account '%s': more than %d parents", name,
					    CFG_PARENTS_MAX);
			memcpy(parent, s, m);
			parent[m] = '\0';
			par = cfg_find(c, parent);
			if (par == NULL || par == a)
				return fail(p, "unknown account '%s' (a parent is defined above)",
					    parent);
			if (account_copy(a, par, 1) != 0)
				return fail(p, "out of memory");
			s += strcspn(s, ",");
			if (*s == '\0')
				break;
			s++;
		}
	}
	return 0;
}

static int parse_line(struct parser *p, cfg_account **cur, const char *s, const char *end)
{
	char value[CFG_VALUE_MAX + 1];
	const char *kw;
	size_t kwlen, k;
	const char *q;

	for (q = s; q < end; q++) {
		if (((unsigned char)*q < 0x20 && *q != '\t') || *q == 0x7f)
			return fail(p, *q == '\0' ? "a NUL octet" : "a control octet");
	}
	while (s < end && is_ws(*s))
		s++;
	if (s == end || *s == '#')
		return 0;
	kw = s;
	while (s < end && !is_ws(*s) && *s != '#')
		s++;
	kwlen = (size_t)(s - kw);
	if (read_value(p, s, end, value) != 0)
		return -1;
	if (kwlen == 8 && memcmp(kw, "defaults", 8) == 0) {
		if (value[0] != '\0')
			return fail(p, "defaults takes no value");
		*cur = &p->c->defaults;
		return 0;
	}
	if (kwlen == 7 && memcmp(kw, "account", 7) == 0) {
		if (new_account(p, value) != 0)
			return -1;
		*cur = &p->c->acc[p->c->nacc - 1];
		return 0;
	}
	for (k = 0; k < CK__COUNT; k++) {
		if (strlen(key_names[k]) == kwlen && memcmp(kw, key_names[k], kwlen) == 0)
			break;
	}
	if (k == CK__COUNT) {
		/* shown only when it looks like a keyword and a value follows: a
		 * line of one word may be a password pasted alone, or the file a
		 * password file given by mistake (the message may go to a log or,
		 * from cron, into a mail) */
		int shown = kwlen <= 32 && value[0] != '\0';
		for (q = kw; shown && q < kw + kwlen; q++)
			shown = (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
				(*q >= '0' && *q <= '9') || *q == '_' || *q == '-';
		if (!shown)
			return fail(p, "not a 'keyword value' line (its text is not shown: it may "
				       "be a secret)");
		return fail(p, "unknown keyword '%.*s'", (int)kwlen, kw);
	}
	if (*cur == NULL)
		return fail(p, "'%s' before any account or defaults line", key_names[k]);
	if (check_value(p, (enum cfg_key)k, value) != 0)
		return -1;
	if (k == CK_PASSWORD)
		p->c->has_secret = 1;
	free((*cur)->val[k]);
	(*cur)->val[k] = NULL;
	if (value[0] != '\0' && ((*cur)->val[k] = strdup(value)) == NULL)
		return fail(p, "out of memory");
	(*cur)->line[k] = p->line;
	return 0;
}

int cfg_parse(cfg_file *c, const char *text, size_t len, const char *fname, char *err,
	      size_t err_len)
{
	struct parser p;
	cfg_account *cur = NULL;
	size_t at = 0;

	memset(c, 0, sizeof *c);
	snprintf(c->file, sizeof c->file, "%s", fname);
	strcpy(c->defaults.name, "defaults");
	p.c = c;
	p.fname = c->file;
	p.line = 0;
	p.err = err;
	p.err_len = err_len;
	if (err_len)
		err[0] = '\0';
	if (len > CFG_FILE_MAX) {
		fail(&p, "larger than %d octets", CFG_FILE_MAX);
		cfg_free(c);
		return -1;
	}
	while (at < len) {
		const char *s = text + at, *nl = memchr(s, '\n', len - at);
		size_t n = nl ? (size_t)(nl - s) : len - at;
		p.line++;
		at += n + (nl != NULL);
		if (n > 0 && s[n - 1] == '\r')
			n--;
		if (n > CFG_LINE_MAX) {
			fail(&p, "a line longer than %d octets", CFG_LINE_MAX);
			cfg_free(c);
			return -1;
		}
		if (parse_line(&p, &cur, s, s + n) != 0) {
			cfg_free(c);
			return -1;
		}
	}
	return 0;
}

int cfg_load(cfg_file *c, const char *path, char *err, size_t err_len)
{
	struct stat st;
	char *text;
	size_t len = 0;
	ssize_t got;
	/* O_NONBLOCK: a named pipe with no writer must not block the open (it
	 * is refused below as not a regular file) */
	int fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK), rc;

	if (fd < 0) {
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return errno == ENOENT ? 1 : -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, err_len, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	if (st.st_size > CFG_FILE_MAX) {
		snprintf(err, err_len, "%s: larger than %d octets", path, CFG_FILE_MAX);
		close(fd);
		return -1;
	}
	text = malloc((size_t)st.st_size + 1);
	if (text == NULL) {
		snprintf(err, err_len, "%s: out of memory", path);
		close(fd);
		return -1;
	}
	while ((got = read(fd, text + len, (size_t)st.st_size + 1 - len)) > 0 &&
	       len + (size_t)got <= (size_t)st.st_size)
		len += (size_t)got;
	close(fd);
	if (got != 0) { /* an error, or it grew while read */
		snprintf(err, err_len, "%s: %s", path,
			 got < 0 ? strerror(errno) : "changed while it was read");
		free(text);
		return -1;
	}
	rc = cfg_parse(c, text, len, path, err, err_len);
	/* the file held a password: scrub the copy */
	memset(text, 0, len);
	free(text);
	if (rc != 0)
		return -1;
	if (c->has_secret && (st.st_mode & (S_IRGRP | S_IROTH))) {
		snprintf(err, err_len,
			 "%s: holds a password and is readable by %s: chmod 600 it (refused for "
			 "every user, root too)",
			 path, (st.st_mode & S_IROTH) ? "others" : "its group");
		cfg_free(c);
		return -1;
	}
	if (st.st_mode & S_IWOTH) {
		snprintf(err, err_len, "%s: anyone may write it (it can run commands): refused",
			 path);
		cfg_free(c);
		return -1;
	}
	return 0;
}
