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

/* The known keywords, NUL-separated, in the order of their bits
 * (SMTPC_EXT_PIPELINING is 1 << 0, ...): RFC 2920, 1870, 6152, 3030, 6531,
 * 3030, 3207, 3461, 2034, 8689, 4954. */
static const char known_ext[] = "PIPELINING\0SIZE\0008BITMIME\0BINARYMIME\0SMTPUTF8\0"
				"CHUNKING\0STARTTLS\0DSN\0ENHANCEDSTATUSCODES\0REQUIRETLS\0"
				"AUTH\0";
/* SMTPC_AUTH_PLAIN is 1 << 0, ... */
static const char known_mech[] = "PLAIN\0LOGIN\0CRAM-MD5\0XOAUTH2\0";

/* The bit of the word s[0, n) in list, 0 when it is not there. */
static unsigned bit_of(const char *list, const char *s, size_t n)
{
	unsigned bit = 1;

	for (; *list != '\0'; list += strlen(list) + 1, bit <<= 1) {
		if (smtpc__ieq(s, n, list))
			return bit;
	}
	return 0;
}

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
		size_t j = i;
		while (j < n && p[j] != ' ')
			j++;
		bits |= bit_of(known_mech, p + i, j - i);
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
	unsigned bit;

	if (!split_line(line, n, &e))
		return;
	bit = bit_of(known_ext, e.keyword, e.keyword_len);
	c->u.cl.caps.ext |= bit;
	if (bit == SMTPC_EXT_AUTH)
		c->u.cl.caps.auth |= auth_mechs(e.params, e.params_len);
	else if (bit == SMTPC_EXT_SIZE)
		c->u.cl.caps.size_limit = size_param(e.params, e.params_len);
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
	smtpc_ext own;

	if (keyword == NULL)
		return 0;
	if (ext == NULL)
		ext = &own; /* only whether it is there */
	while (smtpc_ext_next(c, &pos, ext)) {
		if (smtpc__ieq(ext->keyword, ext->keyword_len, keyword))
			return 1;
	}
	return 0;
}
