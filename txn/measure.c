/*
 * measure.c - what a message amounts to on the wire, before it is sent.
 *
 * Two of the core's encoders run in measuring mode (no output): one as DATA
 * sends (dot-stuffing, terminator), one as BDAT sends text (line ends only).
 * The second gives the RFC 1870 section 5 message size: octets with CRLF
 * line ends, without the doubled dots and the terminator. Alongside, the
 * longest line is tracked for RFC 5321 4.5.3.1.6 (1000 octets with the
 * CRLF): a bare CR or LF ends a line (the encoder turns it into CRLF), and a
 * leading dot counts once: the dot doubled after DATA does not count toward
 * the limit (4.5.3.1.6), and BDAT doubles nothing. Every piece of state
 * carries across calls, so any split gives the same sizes.
 */
#include <string.h>

#include "smtpc_txn.h"

void smtpc_txn_measure_init(smtpc_txn_measure *ms)
{
	if (ms == NULL)
		return;
	memset(ms, 0, sizeof *ms);
	smtpc_dot_init(&ms->dot);
	smtpc_dot_init(&ms->text);
	ms->text.no_dots = 1;
}

void smtpc_txn_measure_add(smtpc_txn_measure *ms, const void *data, size_t len)
{
	const unsigned char *p = data, *end;
	uint64_t line;

	if (ms == NULL || (data == NULL && len != 0) || len == 0)
		return;
	ms->dot.next_in = ms->text.next_in = p;
	ms->dot.avail_in = ms->text.avail_in = len;
	smtpc_dot_encode(&ms->dot);
	smtpc_dot_encode(&ms->text);
	line = ms->line;
	end = p + len;
	while (p < end) {
		/* the run of line octets up to the next CR or LF */
		const unsigned char *q = p;
		while (q < end && *q != '\r' && *q != '\n')
			q++;
		if (q > p) {
			line += (uint64_t)(q - p);
			if (line > ms->longest)
				ms->longest = line;
		}
		if (q < end) {
			line = 0;
			q++;
		}
		p = q;
	}
	ms->line = line;
}

void smtpc_txn_measure_end(smtpc_txn_measure *ms, smtpc_txn_size *size)
{
	if (ms == NULL || size == NULL)
		return;
	smtpc_dot_finish(&ms->dot);
	smtpc_dot_finish(&ms->text);
	memset(size, 0, sizeof *size);
	size->octets = ms->dot.total_in;
	size->text = ms->text.total_out;
	size->data = ms->dot.total_out;
	size->longest = ms->longest;
	size->has_8bit = ms->dot.has_8bit;
	size->known = 1;
}
