/*
 * text.c - byte classes and small text helpers, locale-free (no <ctype.h>:
 * the core must not depend on the C library beyond <string.h>).
 */
#include "internal.h"

int smtpc__is_ctrl(unsigned char b)
{
	return b < 0x20 || b == 0x7f;
}

int smtpc__is_digit(unsigned char b)
{
	return b >= '0' && b <= '9';
}

int smtpc__is_alnum(unsigned char b)
{
	return smtpc__is_digit(b) || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z');
}

unsigned char smtpc__lower(unsigned char b)
{
	return (b >= 'A' && b <= 'Z') ? (unsigned char)(b + ('a' - 'A')) : b;
}

int smtpc__ieq(const char *s, size_t n, const char *word)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (word[i] == '\0' ||
		    smtpc__lower((unsigned char)s[i]) != smtpc__lower((unsigned char)word[i]))
			return 0;
	}
	return word[n] == '\0';
}

/* Long division by ten over four 16-bit limbs: only 32-bit divisions (a
 * 64-bit one is a library routine of several hundred octets on a small
 * target), no table, a few octets of stack. */
size_t smtpc__u64_dec(char *out, uint64_t v)
{
	uint32_t limb[4];
	char tmp[20];
	size_t n = 0, i;
	uint32_t more;

	limb[0] = (uint32_t)(v >> 48);
	limb[1] = (uint32_t)(v >> 32) & 0xffffu;
	limb[2] = (uint32_t)(v >> 16) & 0xffffu;
	limb[3] = (uint32_t)v & 0xffffu;
	do {
		uint32_t r = 0;
		more = 0;
		for (i = 0; i < 4; i++) {
			uint32_t cur = r << 16 | limb[i];
			limb[i] = cur / 10u;
			r = cur % 10u;
			more |= limb[i];
		}
		tmp[n++] = (char)('0' + r);
	} while (more != 0);
	for (i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

size_t smtpc__dec_u64(const char *s, size_t n, uint64_t *v)
{
	size_t i = 0;

	*v = 0;
	while (i < n && i < 20 && smtpc__is_digit((unsigned char)s[i]))
		*v = *v * 10u + (uint64_t)(s[i++] - '0');
	return i > 19 ? 0 : i; /* 19 digits always fit in 64 bits */
}

/* RFC 3629 section 4: no overlongs, no surrogates, nothing above U+10FFFF. */
int smtpc__utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char b = s[i];
		size_t need;
		unsigned char lo = 0x80, hi = 0xbf;

		if (b < 0x80) {
			i++;
			continue;
		}
		if (b >= 0xc2 && b <= 0xdf) {
			need = 1;
		} else if (b >= 0xe0 && b <= 0xef) {
			need = 2;
			if (b == 0xe0)
				lo = 0xa0;
			else if (b == 0xed)
				hi = 0x9f;
		} else if (b >= 0xf0 && b <= 0xf4) {
			need = 3;
			if (b == 0xf0)
				lo = 0x90;
			else if (b == 0xf4)
				hi = 0x8f;
		} else {
			return 0;
		}
		if (n - i - 1 < need)
			return 0;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return 0;
		for (size_t k = 2; k <= need; k++) {
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				return 0;
		}
		i += need + 1;
	}
	return 1;
}
