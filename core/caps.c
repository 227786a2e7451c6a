/*
 * caps.c - the EHLO extension list.
 *
 * RFC 5321 4.1.1.1: ehlo-ok-rsp's first line is the server's domain and
 * greeting, each later line is  ehlo-line = ehlo-keyword *( SP ehlo-param ),
 * ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"). Keywords compare
 * case-insensitively. Some servers still send the pre-standard
 * "AUTH=LOGIN PLAIN" form; '=' is taken as the separator there.
 *
 * The capabilities are rebuilt from the text of each successful EHLO reply
 * once the reply is complete, so a second EHLO (after STARTTLS or AUTH)
 * replaces the first cleanly. Lines whose keyword is malformed are ignored.
 * Every well-formed line is kept in the extension area (max_ext octets,
 * "line\n" each) for smtpc_ext_next; if it does not fit, the known
 * extensions are still recognised and caps.ext_truncated is set.
 */
#include "internal.h"

static const struct {
	const char *name;
	unsigned bit;
} known_ext[] = {
	{"PIPELINING", SMTPC_EXT_PIPELINING},   /* RFC 2920 */
	{"SIZE", SMTPC_EXT_SIZE},               /* RFC 1870 */
	{"8BITMIME", SMTPC_EXT_8BITMIME},       /* RFC 6152 */
	{"BINARYMIME", SMTPC_EXT_BINARYMIME},   /* RFC 3030 */
	{"SMTPUTF8", SMTPC_EXT_SMTPUTF8},       /* RFC 6531 */
	{"CHUNKING", SMTPC_EXT_CHUNKING},       /* RFC 3030 */
	{"STARTTLS", SMTPC_EXT_STARTTLS},       /* RFC 3207 */
	{"DSN", SMTPC_EXT_DSN},                 /* RFC 3461 */
	{"ENHANCEDSTATUSCODES", SMTPC_EXT_ENHANCEDSTATUSCODES}, /* RFC 2034 */
	{"REQUIRETLS", SMTPC_EXT_REQUIRETLS},   /* RFC 8689 */
	{"AUTH", SMTPC_EXT_AUTH},               /* RFC 4954 */
};

static const struct {
	const char *name;
	unsigned bit;
} known_mech[] = {
	{"PLAIN", SMTPC_AUTH_PLAIN},
	{"LOGIN", SMTPC_AUTH_LOGIN},
	{"CRAM-MD5", SMTPC_AUTH_CRAM_MD5},
	{"XOAUTH2", SMTPC_AUTH_XOAUTH2},
};

static int kw_char(unsigned char b)
{
	return smtpc__is_alnum(b) || b == '-';
}

/* Splits one line into keyword and parameters; 0 when malformed. */
static int split_line(const char *line, size_t n, smtpc_ext *ext)
{
	size_t k = 0;

	while (k < n && kw_char((unsigned char)line[k]))
		k++;
	if (k == 0 || line[0] == '-' || (k < n && line[k] != ' ' && line[k] != '='))
		return 0;
	ext->keyword = line;
	ext->keyword_len = k;
	ext->params = k < n ? line + k + 1 : line + n;
	ext->params_len = k < n ? n - k - 1 : 0;
	return 1;
}

static unsigned auth_mechs(const char *p, size_t n)
{
	unsigned bits = 0;
	size_t i = 0;

	while (i < n) {
		size_t j = i, m;
		while (j < n && p[j] != ' ')
			j++;
		for (m = 0; m < sizeof known_mech / sizeof known_mech[0]; m++) {
			if (smtpc__ieq(p + i, j - i, known_mech[m].name))
				bits |= known_mech[m].bit;
		}
		i = j + 1;
	}
	return bits;
}

/* RFC 1870 4: SIZE [SP number]. Spaces around the number are allowed
 * ("SIZE 1000 " is 1000, not "no limit"); 0, absent, malformed or
 * overflowing: no limit known. */
static uint64_t size_param(const char *p, size_t n)
{
	uint64_t v = 0;
	size_t i = 0;

	while (i < n && p[i] == ' ')
		i++;
	while (n > i && p[n - 1] == ' ')
		n--;
	for (; i < n; i++) {
		unsigned d;
		if (!smtpc__is_digit((unsigned char)p[i]))
			return 0;
		d = (unsigned)(p[i] - '0');
		if (v > (UINT64_MAX - d) / 10u)
			return 0;
		v = v * 10u + d;
	}
	return v;
}

static void ext_line(smtpc_conn *c, const char *line, size_t n)
{
	smtpc_ext e;
	size_t k;

	if (!split_line(line, n, &e))
		return;
	for (k = 0; k < sizeof known_ext / sizeof known_ext[0]; k++) {
		if (!smtpc__ieq(e.keyword, e.keyword_len, known_ext[k].name))
			continue;
		c->u.cl.caps.ext |= known_ext[k].bit;
		if (known_ext[k].bit == SMTPC_EXT_AUTH)
			c->u.cl.caps.auth |= auth_mechs(e.params, e.params_len);
		else if (known_ext[k].bit == SMTPC_EXT_SIZE)
			c->u.cl.caps.size_limit = size_param(e.params, e.params_len);
	}
	if (c->cfg.max_ext - c->u.cl.ext_len > n) {
		memcpy(EXT(c) + c->u.cl.ext_len, line, n);
		EXT(c)[c->u.cl.ext_len + n] = '\n';
		c->u.cl.ext_len += n + 1;
	} else {
		c->u.cl.caps.ext_truncated = 1;
	}
}

void smtpc__caps_clear(smtpc_conn *c)
{
	memset(&c->u.cl.caps, 0, sizeof c->u.cl.caps);
	c->u.cl.ext_len = 0;
}

void smtpc__caps_from_ehlo(smtpc_conn *c, const char *text, size_t len)
{
	const char *end = text + len;
	const char *p = memchr(text, '\n', len);

	smtpc__caps_clear(c);
	if (p == NULL)
		return;
	p++; /* the first line is the server's domain */
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		ext_line(c, p, n);
		p += n + 1;
	}
}

const smtpc_caps *smtpc_get_caps(const smtpc_conn *c)
{
	static const smtpc_caps none;

	return c != NULL && smtpc__is_client(c) ? &c->u.cl.caps : &none;
}

int smtpc_ext_next(const smtpc_conn *c, size_t *pos, smtpc_ext *ext)
{
	if (c == NULL || !smtpc__is_client(c))
		return 0;
	while (pos != NULL && ext != NULL && *pos < c->u.cl.ext_len) {
		const char *line = EXT(c) + *pos;
		const char *nl = memchr(line, '\n', c->u.cl.ext_len - *pos);
		size_t n = (size_t)(nl - line); /* every stored line ends in '\n' */

		*pos += n + 1;
		if (split_line(line, n, ext))
			return 1;
	}
	return 0;
}

int smtpc_ext_find(const smtpc_conn *c, const char *keyword, smtpc_ext *ext)
{
	size_t pos = 0;

	if (keyword == NULL)
		return 0;
	while (smtpc_ext_next(c, &pos, ext)) {
		if (smtpc__ieq(ext->keyword, ext->keyword_len, keyword))
			return 1;
	}
	return 0;
}
