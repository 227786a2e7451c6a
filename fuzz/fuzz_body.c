/*
 * The DATA encoder round trip.
 *
 * Input: [input step][output step][body...]. The body is encoded whole and
 * with the fuzzer's steps (output offered a few octets at a time), and
 * measured. Both encodings must be identical, the measure must equal the
 * written size, and an independent strict decoder must get back the body
 * with its line ends normalised to CRLF.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpc.h"

static unsigned char wire1[3 * 65536 + 8], wire2[3 * 65536 + 8], dec[3 * 65536 + 8];
static unsigned char norm[2 * 65536 + 8];

static size_t encode(const uint8_t *in, size_t n, size_t is, size_t os, unsigned char *out,
		     size_t cap, int *hi)
{
	smtpc_dotenc e;
	size_t off = 0;

	smtpc_dot_init(&e);
	e.next_out = out;
	while (off < n) {
		size_t k = n - off < is ? n - off : is;
		e.next_in = in + off;
		e.avail_in = k;
		for (;;) {
			size_t room = cap - (size_t)(e.next_out - out);
			e.avail_out = room < os ? room : os;
			if (smtpc_dot_encode(&e))
				break;
		}
		off += k;
	}
	for (;;) {
		size_t room = cap - (size_t)(e.next_out - out);
		e.avail_out = room < os ? room : os;
		if (smtpc_dot_finish(&e))
			break;
	}
	if (e.total_in != n || e.total_out != (uint64_t)(e.next_out - out))
		abort();
	*hi = e.has_8bit;
	return (size_t)(e.next_out - out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *in = data + 2;
	size_t n, w1, w2, i, o = 0, d = 0;
	int hi1, hi2, hi = 0, ended = 0;
	smtpc_dotenc m;

	if (size < 2 || size - 2 > 65536)
		return 0;
	n = size - 2;
	w1 = encode(in, n, n ? n : 1, sizeof wire1, wire1, sizeof wire1, &hi1);
	w2 = encode(in, n, 1 + data[0] % 64u, 1 + data[1] % 7u, wire2, sizeof wire2, &hi2);
	if (w1 != w2 || memcmp(wire1, wire2, w1) != 0 || hi1 != hi2)
		abort();
	smtpc_dot_init(&m);
	m.next_in = in;
	m.avail_in = n;
	smtpc_dot_encode(&m);
	smtpc_dot_finish(&m);
	if (m.total_out != w1)
		abort();
	/* normalise */
	for (i = 0; i < n; i++) {
		hi |= in[i] >= 0x80;
		if (in[i] == '\r' || in[i] == '\n') {
			norm[o++] = '\r';
			norm[o++] = '\n';
			if (in[i] == '\r' && i + 1 < n && in[i + 1] == '\n')
				i++;
		} else {
			norm[o++] = in[i];
		}
	}
	if (n > 0 && in[n - 1] != '\r' && in[n - 1] != '\n') {
		norm[o++] = '\r';
		norm[o++] = '\n';
	}
	if (hi != hi1)
		abort();
	/* strict decode */
	for (i = 0; i < w1;) {
		size_t j = i, s = i;
		if (ended)
			abort();
		while (j < w1 && wire1[j] != '\r' && wire1[j] != '\n')
			j++;
		if (j + 1 >= w1 || wire1[j] != '\r' || wire1[j + 1] != '\n')
			abort();
		if (j - i == 1 && wire1[i] == '.') {
			ended = 1;
		} else {
			if (wire1[i] == '.') {
				if (j - i < 2 || wire1[i + 1] != '.')
					abort();
				s++;
			}
			memcpy(dec + d, wire1 + s, j - s);
			d += j - s;
			dec[d++] = '\r';
			dec[d++] = '\n';
		}
		i = j + 2;
	}
	if (!ended || d != o || memcmp(dec, norm, d) != 0)
		abort();
	return 0;
}
