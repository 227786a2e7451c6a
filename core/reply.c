/*
 * reply.c - reply line syntax.
 *
 * RFC 5321 section 4.2:  Reply-line = *( Reply-code "-" [ textstring ] CRLF )
 *                                     Reply-code [ SP textstring ] CRLF
 * Reply-code is three digits, the first 2 to 5. A code with nothing after it
 * ("250") is a complete last line. textstring is HT and printable octets;
 * octets >= 0x80 are let through (SMTPUTF8 servers send UTF-8 text), control
 * octets are not: NUL is SMTPC_ERR_REPLY_NUL, any other control octet or a
 * CR not before LF is SMTPC_ERR_REPLY_CTRL, so nothing a terminal or a log
 * would interpret reaches the application.
 *
 * Enhanced status codes (RFC 3463 section 2, RFC 2034): "class.subject.detail"
 * at the start of the text, class 2, 4 or 5 and equal to the reply's first
 * digit, subject and detail 1 to 3 digits, then SP or the end of the text.
 * Anything else is plain text.
 */
#include "internal.h"

static unsigned code_of(const unsigned char *p, size_t n)
{
	if (n < 3 || p[0] < '2' || p[0] > '5' || !smtpc__is_digit(p[1]) || !smtpc__is_digit(p[2]))
		return 0;
	return (unsigned)(p[0] - '0') * 100u + (unsigned)(p[1] - '0') * 10u +
	       (unsigned)(p[2] - '0');
}

smtpc_err smtpc__parse_line(const unsigned char *p, size_t n, smtpc_line *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char b = p[i];
		if (b < 0x20 || b == 0x7f) {
			if (b == 0)
				return SMTPC_ERR_REPLY_NUL;
			if (b != '\t')
				return SMTPC_ERR_REPLY_CTRL;
		}
	}
	out->code = code_of(p, n);
	if (out->code == 0)
		return SMTPC_ERR_BAD_REPLY;
	if (n == 3) {
		out->last = 1;
		out->text = (const char *)p + 3;
		out->len = 0;
		return SMTPC_ERR_OK;
	}
	if (p[3] == ' ')
		out->last = 1;
	else if (p[3] == '-')
		out->last = 0;
	else
		return SMTPC_ERR_BAD_REPLY;
	out->text = (const char *)p + 4;
	out->len = n - 4;
	return SMTPC_ERR_OK;
}

/* One pass: class (one digit), '.', subject (1 to 3), '.', detail (1 to 3),
 * then SP or the end of the text. */
void smtpc__parse_esc(const char *s, size_t len, unsigned code, smtpc_esc *esc)
{
	unsigned v[3] = {0, 0, 0}, part = 0, digits = 0;
	size_t i;

	memset(esc, 0, sizeof *esc);
	for (i = 0;; i++) {
		unsigned char b = i < len ? (unsigned char)s[i] : ' ';
		if (smtpc__is_digit(b) && digits < (part == 0 ? 1u : 3u)) {
			v[part] = v[part] * 10u + (unsigned)(b - '0');
			digits++;
			continue;
		}
		if (digits == 0 || b != (part == 2 ? ' ' : '.'))
			return;
		if (part++ == 2)
			break;
		digits = 0;
	}
	if (code < v[0] * 100u || code >= v[0] * 100u + 100u ||
	    (v[0] != 2 && v[0] != 4 && v[0] != 5))
		return;
	esc->cls = (unsigned char)v[0];
	esc->subject = (unsigned short)v[1];
	esc->detail = (unsigned short)v[2];
}

/* Length of a line without its CRLF or LF. */
static size_t strip_eol(const char *line, size_t len)
{
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	return len;
}

unsigned smtpc_line_code(const char *line, size_t len)
{
	unsigned code;

	if (line == NULL)
		return 0;
	len = strip_eol(line, len);
	code = code_of((const unsigned char *)line, len);
	if (code == 0 || (len > 3 && line[3] != ' ' && line[3] != '-'))
		return 0;
	return code;
}

int smtpc_is_last_line(const char *line, size_t len)
{
	if (smtpc_line_code(line, len) == 0)
		return 0;
	len = strip_eol(line, len);
	return len == 3 || line[3] == ' ';
}
