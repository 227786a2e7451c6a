/*
 * address.c - syntax of what goes into command arguments.
 *
 * Mailbox (RFC 5321 4.1.2):
 *   Mailbox      = Local-part "@" ( Domain / address-literal )
 *   Local-part   = Dot-string / Quoted-string
 *   Dot-string   = Atom *("." Atom),  Atom = 1*atext (RFC 5322 3.2.3)
 *   Quoted-string= DQUOTE *( qtextSMTP / quoted-pairSMTP ) DQUOTE
 *   Domain       = sub-domain *("." sub-domain), sub-domain = Let-dig [Ldh-str]
 *   address-literal = "[" ( IPv4 / "IPv6:" IPv6 / tag ":" 1*dcontent ) "]"
 * With SMTPUTF8 (RFC 6531 3.3) atext, qtextSMTP and sub-domain also take
 * UTF-8 non-ASCII, which must be well-formed. Lengths: RFC 5321 4.5.3.1.
 * "postmaster" alone is a valid RCPT (RFC 5321 4.1.1.3).
 *
 * Checks run in a fixed order so the error names the first problem a person
 * would fix: a control byte, then non-ASCII without SMTPUTF8, then UTF-8,
 * then syntax, then length.
 *
 * Paths in commands (RFC 5321 4.1.2): Reverse-path / Forward-path =
 * "<" [ A-d-l ":" ] Mailbox ">", A-d-l = At-domain *( "," At-domain ),
 * At-domain = "@" Domain. The source route is obsolete: a server SHOULD
 * ignore it (4.1.1.3, appendix C), so it is checked and left out.
 */
#include "internal.h"

static int in_set(unsigned char b, const char *set, size_t n)
{
	return b != 0 && memchr(set, b, n) != NULL;
}

static int is_atext(unsigned char b, int utf8_ok)
{
	static const char specials[] = "!#$%&'*+-/=?^_`{|}~";

	return smtpc__is_alnum(b) || in_set(b, specials, sizeof specials - 1) ||
	       (utf8_ok && b >= 0x80);
}

static int is_hex(unsigned char b)
{
	return smtpc__is_digit(b) || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F');
}

/* Common first checks on any argument text. */
static smtpc_err check_bytes(const char *s, size_t n, int utf8_ok)
{
	const unsigned char *p = (const unsigned char *)s;
	int high = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (smtpc__is_ctrl(p[i]))
			return SMTPC_ERR_CTRL_CHAR;
		high |= p[i] >= 0x80;
	}
	if (high && !utf8_ok)
		return SMTPC_ERR_NEEDS_SMTPUTF8;
	if (high && !smtpc__utf8_valid(p, n))
		return SMTPC_ERR_BAD_UTF8;
	return SMTPC_ERR_OK;
}

/* RFC 5321 4.1.3 IPv4-address-literal: four 1-3 digit numbers <= 255. */
static int ipv4_ok(const char *s, size_t n)
{
	size_t i = 0;
	int part;

	for (part = 0; part < 4; part++) {
		unsigned v = 0, k = 0;
		while (i < n && k < 4 && smtpc__is_digit((unsigned char)s[i])) {
			v = v * 10u + (unsigned)(s[i] - '0');
			i++;
			k++;
		}
		if (k == 0 || k > 3 || v > 255)
			return 0;
		if (part < 3) {
			if (i >= n || s[i] != '.')
				return 0;
			i++;
		}
	}
	return i == n;
}

/* RFC 5321 4.1.3 IPv6-addr: full, compressed, and both with an IPv4 tail. */
static int ipv6_ok(const char *s, size_t n)
{
	size_t i = 0, groups = 0;
	int compressed = 0;

	if (n >= 2 && s[0] == ':' && s[1] == ':') {
		compressed = 1;
		i = 2;
	} else if (n >= 1 && s[0] == ':') {
		return 0;
	}
	while (i < n) {
		size_t j = i;
		while (j < n && j - i < 5 && is_hex((unsigned char)s[j]))
			j++;
		if (j < n && s[j] == '.') { /* IPv4 tail: counts as two groups */
			if (!ipv4_ok(s + i, n - i))
				return 0;
			groups += 2;
			break;
		}
		if (j == i || j - i > 4)
			return 0;
		groups++;
		i = j;
		if (i == n)
			break;
		if (s[i] != ':')
			return 0;
		i++;
		if (i < n && s[i] == ':') {
			if (compressed)
				return 0;
			compressed = 1;
			i++;
		} else if (i == n) {
			return 0; /* trailing single ':' */
		}
	}
	return compressed ? groups <= 6 : groups == 8;
}

static smtpc_err check_literal(const char *d, size_t n)
{
	const char *in = d + 1;
	size_t m = n - 2, k = 0, i;

	if (n < 3 || d[n - 1] != ']')
		return SMTPC_ERR_BAD_DOMAIN;
	if (ipv4_ok(in, m))
		return SMTPC_ERR_OK;
	if (m > 5 && smtpc__ieq(in, 5, "IPv6:"))
		return ipv6_ok(in + 5, m - 5) ? SMTPC_ERR_OK : SMTPC_ERR_BAD_DOMAIN;
	/* General-address-literal = Standardized-tag ":" 1*dcontent */
	while (k < m && (smtpc__is_alnum((unsigned char)in[k]) || in[k] == '-'))
		k++;
	if (k == 0 || in[k - 1] == '-' || k >= m || in[k] != ':' || k + 1 == m)
		return SMTPC_ERR_BAD_DOMAIN;
	for (i = k + 1; i < m; i++) {
		unsigned char b = (unsigned char)in[i];
		if (b < 33 || b > 126 || b == '[' || b == '\\' || b == ']')
			return SMTPC_ERR_BAD_DOMAIN;
	}
	return SMTPC_ERR_OK;
}

smtpc_err smtpc__check_domain(const char *d, size_t n, int utf8_ok)
{
	smtpc_err e = check_bytes(d, n, utf8_ok);
	size_t i = 0;

	if (e != SMTPC_ERR_OK)
		return e;
	if (n == 0)
		return SMTPC_ERR_BAD_DOMAIN;
	if (n > SMTPC_DOMAIN_MAX)
		return SMTPC_ERR_ADDRESS_TOO_LONG;
	if (d[0] == '[')
		return check_literal(d, n);
	while (i < n) { /* one label per turn */
		size_t j = i;
		while (j < n && d[j] != '.') {
			unsigned char b = (unsigned char)d[j];
			if (!smtpc__is_alnum(b) && b != '-' && !(utf8_ok && b >= 0x80))
				return SMTPC_ERR_BAD_DOMAIN;
			j++;
		}
		if (j == i || d[i] == '-' || d[j - 1] == '-' || j - i > 63)
			return SMTPC_ERR_BAD_DOMAIN;
		if (j == n)
			return SMTPC_ERR_OK;
		i = j + 1;
		if (i == n)
			return SMTPC_ERR_BAD_DOMAIN; /* trailing dot */
	}
	return SMTPC_ERR_BAD_DOMAIN;
}

/* Returns the length of the local part (up to the '@'), or 0 if malformed. */
static size_t local_part(const char *s, size_t n, int utf8_ok)
{
	size_t i;

	if (n > 0 && s[0] == '"') {
		for (i = 1; i < n; i++) {
			unsigned char b = (unsigned char)s[i];
			if (b == '"')
				return i + 1;
			if (b == '\\') {
				i++;
				if (i == n || (unsigned char)s[i] < 32 || (unsigned char)s[i] > 126)
					return 0;
			} else if (b < 32 || (b > 126 && !utf8_ok)) {
				return 0;
			}
		}
		return 0;
	}
	for (i = 0; i < n && s[i] != '@'; i++) {
		unsigned char b = (unsigned char)s[i];
		if (b == '.') {
			if (i == 0 || s[i - 1] == '.')
				return 0;
		} else if (!is_atext(b, utf8_ok)) {
			return 0;
		}
	}
	if (i == 0 || s[i - 1] == '.')
		return 0;
	return i;
}

smtpc_err smtpc__check_mailbox(const char *addr, size_t n, int utf8_ok, int is_rcpt)
{
	smtpc_err e = check_bytes(addr, n, utf8_ok);
	size_t lp;

	if (e != SMTPC_ERR_OK)
		return e;
	if (is_rcpt && smtpc__ieq(addr, n, "postmaster"))
		return SMTPC_ERR_OK;
	lp = local_part(addr, n, utf8_ok);
	if (lp == 0 || lp >= n || addr[lp] != '@')
		return SMTPC_ERR_BAD_ADDRESS;
	e = smtpc__check_domain(addr + lp + 1, n - lp - 1, utf8_ok);
	if (e != SMTPC_ERR_OK)
		return e;
	if (lp > SMTPC_LOCAL_PART_MAX || n + 2 > SMTPC_PATH_MAX)
		return SMTPC_ERR_ADDRESS_TOO_LONG;
	return SMTPC_ERR_OK;
}

/* RFC 5321 4.1.2: esmtp-param *(SP esmtp-param), esmtp-param = esmtp-keyword
 * ["=" esmtp-value], esmtp-value = 1*(%d33-60 / %d62-126). */
smtpc_err smtpc__check_params(const char *s, size_t n)
{
	size_t i = 0;

	if (check_bytes(s, n, 0) == SMTPC_ERR_CTRL_CHAR)
		return SMTPC_ERR_CTRL_CHAR;
	while (i < n) {
		size_t k = i;
		while (k < n && (smtpc__is_alnum((unsigned char)s[k]) || (k > i && s[k] == '-')))
			k++;
		if (k == i)
			return SMTPC_ERR_BAD_PARAM;
		if (k < n && s[k] == '=') {
			size_t v = ++k;
			while (k < n && s[k] != ' ') {
				unsigned char b = (unsigned char)s[k];
				if (b < 33 || b > 126 || b == '=')
					return SMTPC_ERR_BAD_PARAM;
				k++;
			}
			if (k == v)
				return SMTPC_ERR_BAD_PARAM;
		}
		if (k == n)
			return SMTPC_ERR_OK;
		if (s[k] != ' ' || k + 1 == n)
			return SMTPC_ERR_BAD_PARAM;
		i = k + 1;
	}
	return SMTPC_ERR_BAD_PARAM; /* empty */
}

smtpc_err smtpc__check_text(const char *s, size_t n, int ascii_only)
{
	return check_bytes(s, n, !ascii_only);
}

size_t smtpc_xtext_encode(char *out, size_t out_len, const char *in, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, w = 0, need = 0;

	if (in == NULL)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char b = (unsigned char)in[i];
		need += (b < 33 || b > 126 || b == '+' || b == '=') ? 3u : 1u;
	}
	if (out == NULL || out_len < need)
		return need;
	for (i = 0; i < n; i++) {
		unsigned char b = (unsigned char)in[i];
		if (b < 33 || b > 126 || b == '+' || b == '=') {
			out[w++] = '+';
			out[w++] = hex[b >> 4];
			out[w++] = hex[b & 15u];
		} else {
			out[w++] = (char)b;
		}
	}
	return w;
}

smtpc_err smtpc_check_mailbox(const char *addr, int smtputf8)
{
	if (addr == NULL)
		return SMTPC_ERR_NULL_ARG;
	return smtpc__check_mailbox(addr, strlen(addr), smtputf8 != 0, 0);
}

smtpc_err smtpc_check_domain(const char *domain)
{
	if (domain == NULL)
		return SMTPC_ERR_NULL_ARG;
	return smtpc__check_domain(domain, strlen(domain), 0);
}

int smtpc__param(const char *p, size_t n, const char *kw, size_t kwlen, const char **v,
		 size_t *vlen)
{
	size_t i = 0;

	while (i < n) {
		size_t j = i, e;
		while (j < n && p[j] != ' ')
			j++;
		for (e = i; e < j && p[e] != '='; e++)
			;
		if (e - i == kwlen) {
			size_t k = 0;
			while (k < kwlen && smtpc__lower((unsigned char)p[i + k]) ==
						smtpc__lower((unsigned char)kw[k]))
				k++;
			if (k == kwlen) {
				if (v != NULL) {
					*v = e < j ? p + e + 1 : p + j;
					*vlen = e < j ? j - e - 1 : 0;
				}
				return 1;
			}
		}
		i = j + 1;
	}
	return 0;
}

/* Skips "@dom,@dom:" at s[i]; returns the index after the ':', or 0. */
static size_t skip_route(const char *s, size_t n, size_t i)
{
	while (i < n && s[i] == '@') {
		size_t j = ++i;
		while (j < n && s[j] != ',' && s[j] != ':')
			j++;
		if (j == n || smtpc__check_domain(s + i, j - i, 1) != SMTPC_ERR_OK)
			return 0;
		if (s[j] == ':')
			return j + 1;
		i = j + 1;
	}
	return 0;
}

int smtpc__split_path(const char *s, size_t n, const char *kw, smtpc_command *cmd)
{
	size_t k = strlen(kw), i, start;

	if (n < k + 2 || !smtpc__ieq(s, k, kw) || s[k] != '<')
		return 0;
	start = k + 1;
	if (s[start] == '@' && (start = skip_route(s, n, start)) == 0)
		return 0;
	for (i = start; i < n && s[i] != '>'; i++) {
		if (s[i] == '"') { /* a quoted local part may hold '>' */
			for (i++; i < n && s[i] != '"'; i++)
				if (s[i] == '\\')
					i++;
		}
	}
	if (i >= n)
		return 0;
	cmd->arg = s + start;
	cmd->arg_len = i - start;
	i++;
	if (i < n && s[i] != ' ')
		return 0;
	cmd->params = i < n ? s + i + 1 : s + n;
	cmd->params_len = i < n ? n - i - 1 : 0;
	return 1;
}
