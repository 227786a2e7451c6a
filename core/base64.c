/*
 * base64.c - RFC 4648 section 4 base64, with padding.
 *
 * The decoder is strict, as SASL needs (RFC 4954 4): only the alphabet, '='
 * only as final padding to a multiple of four, and the unused bits of the
 * last symbol zero (RFC 4648 3.5), so each value has one encoding.
 */
#include "internal.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t smtpc_b64_encode(char *out, size_t out_len, const void *in, size_t n)
{
	const unsigned char *p = in;
	size_t need = 4 * ((n + 2) / 3), w = 0, i = 0;

	if (out == NULL || (p == NULL && n != 0) || out_len < need || n > ((size_t)-1 / 4) * 3 - 2)
		return 0;
	for (; n - i >= 3; i += 3) {
		unsigned long v =
		    ((unsigned long)p[i] << 16) | ((unsigned long)p[i + 1] << 8) | p[i + 2];
		out[w++] = alphabet[(v >> 18) & 63u];
		out[w++] = alphabet[(v >> 12) & 63u];
		out[w++] = alphabet[(v >> 6) & 63u];
		out[w++] = alphabet[v & 63u];
	}
	if (n - i == 1) {
		out[w++] = alphabet[p[i] >> 2];
		out[w++] = alphabet[(p[i] & 3u) << 4];
		out[w++] = '=';
		out[w++] = '=';
	} else if (n - i == 2) {
		out[w++] = alphabet[p[i] >> 2];
		out[w++] = alphabet[((p[i] & 3u) << 4) | (p[i + 1] >> 4)];
		out[w++] = alphabet[(p[i + 1] & 15u) << 2];
		out[w++] = '=';
	}
	return w;
}

static int sym(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

size_t smtpc_b64_decode(unsigned char *out, size_t out_len, const char *in, size_t n)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t i, w = 0, pad = 0, need;

	if ((in == NULL && n != 0) || n % 4 != 0)
		return (size_t)-1;
	if (n >= 1 && p[n - 1] == '=')
		pad = (n >= 2 && p[n - 2] == '=') ? 2 : 1;
	need = n / 4 * 3 - pad;
	if (need > out_len || (out == NULL && need != 0))
		return (size_t)-1;
	for (i = 0; i < n; i += 4) {
		int a = sym(p[i]), b = sym(p[i + 1]), c2, d;
		int last = i + 4 == n;
		unsigned long v;

		c2 = (last && pad == 2) ? 0 : sym(p[i + 2]);
		d = (last && pad >= 1) ? 0 : sym(p[i + 3]);
		if (a < 0 || b < 0 || c2 < 0 || d < 0)
			return (size_t)-1;
		v = ((unsigned long)a << 18) | ((unsigned long)b << 12) | ((unsigned long)c2 << 6) |
		    (unsigned long)d;
		if (last && pad == 2 && (v & 0xffffu) != 0)
			return (size_t)-1;
		if (last && pad == 1 && (v & 0xffu) != 0)
			return (size_t)-1;
		out[w++] = (unsigned char)(v >> 16);
		if (!(last && pad == 2))
			out[w++] = (unsigned char)(v >> 8);
		if (!(last && pad >= 1))
			out[w++] = (unsigned char)v;
	}
	return w;
}
