/*
 * check.c - the certificate checks wrapped around BearSSL's X.509 engine.
 *
 * BearSSL's minimal X.509 engine checks the chain, the dates and the name,
 * but ignores a non-critical extended key usage, and reports a certificate
 * that is not yet valid as expired. This class sits in front of it (the SSL
 * engine calls the wrapper; the wrapper calls br_x509_minimal) and reads
 * each certificate once more as it streams by, with a small DER walker:
 *
 *   - Validity (RFC 5280 4.1.2.5): notBefore and notAfter of every
 *     certificate, compared with the caller's time, so an "expired" from
 *     BearSSL can be named "not yet valid" when that is what it is;
 *   - extendedKeyUsage (RFC 5280 4.2.1.12) of the server's certificate
 *     (the first one): when present it must hold serverAuth or
 *     anyExtendedKeyUsage, else the chain is refused.
 *
 * The walker keeps one end offset per open element (at most 8 deep: the
 * EKU's purposes sit at depth 7) and decides, from each element's tag and
 * place, whether to enter it, to capture its value (at most 16 octets: a
 * time or an OID) or to skip it. It reads byte by byte with bulk skips; no
 * recursion, no allocation. A malformed encoding stops the walker quietly
 * (BearSSL's own decoder reports it).
 *
 * Insecure mode: no check at all; the wrapper decodes the first certificate
 * for its public key with br_x509_decoder and accepts it.
 */
#include <stddef.h>
#include <string.h>

#include "internal.h"

/* Element kinds: where the walker is. */
enum { K_CERT = 1, K_TBS, K_VALIDITY, K_EXTS, K_EXTLIST, K_EXT, K_EKU_OCT, K_EKU_SEQ };
/* What to do with an element's contents. */
enum { A_SKIP = 0, A_ENTER, A_TIME, A_EXT_OID, A_PURPOSE };
/* Header states. */
enum { H_TAG = 0, H_LEN, H_LENX, H_CONTENT };

#define DEPTH 8

int smtpc_bearssl__decode(br_x509_decoder_context *d, const void *buf, size_t len)
{
	int e = br_x509_decoder_last_error(d);

	if (len == 0)
		return 0;
	if (e == BR_ERR_X509_TRUNCATED)
		br_x509_decoder_push(d, buf, len);
	return e == 0 ? -1 : 0;
}

static smtpc_bearssl *owner(const br_x509_class *const *ctx)
{
	return (smtpc_bearssl *)(uintptr_t)((uintptr_t)ctx -
					    offsetof(smtpc_bearssl, u.client.check));
}

static br_x509_minimal_context *minimal(smtpc_bearssl *t)
{
	return &t->u.client.x.minimal;
}

/* Days from 0000-01-01 to y-m-d, proleptic Gregorian (BearSSL's count). */
static uint32_t civil_days(uint32_t y, unsigned m, unsigned d)
{
	static const unsigned short before[12] = {0,   31,  59,	 90,  120, 151,
						  181, 212, 243, 273, 304, 334};
	uint32_t days = 365 * y + (y + 3) / 4 - (y + 99) / 100 + (y + 399) / 400;
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return days + before[m - 1] + (m > 2 && leap) + d - 1;
}

static int digits(const unsigned char *s, size_t n, unsigned *v)
{
	size_t i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		*v = *v * 10 + (unsigned)(s[i] - '0');
	}
	return 1;
}

/* UTCTime YYMMDDHHMMSSZ or GeneralizedTime YYYYMMDDHHMMSSZ (RFC 5280
 * 4.1.2.5.1-2: DER, seconds present, Zulu). */
static int parse_time(const unsigned char *s, size_t n, int general, uint32_t *days, uint32_t *secs)
{
	unsigned y, mo, d, h, mi, se;
	size_t yl = general ? 4 : 2;

	if (n != yl + 11 || s[n - 1] != 'Z' || !digits(s, yl, &y) || !digits(s + yl, 2, &mo) ||
	    !digits(s + yl + 2, 2, &d) || !digits(s + yl + 4, 2, &h) ||
	    !digits(s + yl + 6, 2, &mi) || !digits(s + yl + 8, 2, &se))
		return 0;
	if (!general)
		y += y < 50 ? 2000 : 1900;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
		return 0;
	*days = civil_days(y, mo, d);
	*secs = h * 3600u + mi * 60u + se;
	return 1;
}

/* ---- the walker ------------------------------------------------------------------- */

static void walk_reset(smtpc_bearssl_check *w)
{
	w->pos = 0;
	w->depth = 0;
	w->hstate = H_TAG;
	w->version = 0;
	w->eku_ext = 0;
	w->bad = 0;
}

/* Decides what to do with an element: tag, its index among its siblings,
 * the kind of its parent (0 at the top). */
static unsigned char decide(smtpc_bearssl_check *w, unsigned char tag, unsigned idx,
			    unsigned char parent, unsigned char *kind)
{
	unsigned li;

	*kind = 0;
	switch (parent) {
	case 0:
		*kind = K_CERT;
		return tag == 0x30 ? A_ENTER : A_SKIP;
	case K_CERT:
		*kind = K_TBS;
		return idx == 0 && tag == 0x30 ? A_ENTER : A_SKIP;
	case K_TBS:
		if (idx == 0 && tag == 0xa0) {
			w->version = 1; /* [0] version: the fields after it move by one */
			return A_SKIP;
		}
		li = idx - w->version; /* serial, signature, issuer, validity */
		if (li == 3 && tag == 0x30) {
			*kind = K_VALIDITY;
			return A_ENTER;
		}
		*kind = K_EXTS;
		return tag == 0xa3 ? A_ENTER : A_SKIP;
	case K_VALIDITY:
		return idx < 2 && (tag == 0x17 || tag == 0x18) ? A_TIME : A_SKIP;
	case K_EXTS:
		*kind = K_EXTLIST;
		return tag == 0x30 ? A_ENTER : A_SKIP;
	case K_EXTLIST:
		*kind = K_EXT;
		w->eku_ext = 0;
		return tag == 0x30 ? A_ENTER : A_SKIP;
	case K_EXT:
		if (idx == 0 && tag == 0x06)
			return A_EXT_OID;
		if (tag == 0x04 && w->eku_ext && w->certs == 0) {
			w->eku_seen = 1;
			*kind = K_EKU_OCT;
			return A_ENTER;
		}
		return A_SKIP;
	case K_EKU_OCT:
		*kind = K_EKU_SEQ;
		return tag == 0x30 ? A_ENTER : A_SKIP;
	case K_EKU_SEQ:
		return tag == 0x06 ? A_PURPOSE : A_SKIP;
	default:
		return A_SKIP;
	}
}

/* A captured value is complete. */
static void value(smtpc_bearssl *t, smtpc_bearssl_check *w)
{
	static const unsigned char eku[] = {0x55, 0x1d, 0x25};
	static const unsigned char server_auth[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01};
	static const unsigned char any_eku[] = {0x55, 0x1d, 0x25, 0x00};
	uint32_t d, s;
	size_t n = w->ncap;

	switch (w->act) {
	case A_TIME:
		if (n > sizeof w->cap || !parse_time(w->cap, n, w->tag == 0x18, &d, &s))
			break;
		if (w->nchild[w->depth - 1] == 1) { /* notBefore */
			if (t->days < d || (t->days == d && t->seconds < s))
				w->early = 1;
		} else if (t->days > d || (t->days == d && t->seconds > s)) {
			w->late = 1;
		}
		break;
	case A_EXT_OID:
		w->eku_ext = n == sizeof eku && memcmp(w->cap, eku, n) == 0;
		break;
	case A_PURPOSE:
		if ((n == sizeof server_auth && memcmp(w->cap, server_auth, n) == 0) ||
		    (n == sizeof any_eku && memcmp(w->cap, any_eku, n) == 0))
			w->eku_server = 1;
		break;
	default:
		break;
	}
}

/* Closes the elements that end here. */
static void close_ended(smtpc_bearssl_check *w)
{
	while (w->depth > 0 && w->pos == w->end[w->depth - 1])
		w->depth--;
	w->hstate = H_TAG;
}

static void header_done(smtpc_bearssl *t, smtpc_bearssl_check *w)
{
	unsigned char kind, parent = w->depth ? w->kind[w->depth - 1] : 0;
	unsigned idx = w->depth ? w->nchild[w->depth - 1] : 0;
	uint32_t end = w->pos + w->len;

	if (end < w->pos || (w->depth > 0 && end > w->end[w->depth - 1])) {
		w->bad = 1;
		return;
	}
	if (w->depth > 0 && w->nchild[w->depth - 1] < 255)
		w->nchild[w->depth - 1]++;
	w->act = decide(w, w->tag, idx, parent, &kind);
	if (w->act == A_ENTER) {
		if (w->depth == DEPTH) {
			w->bad = 1;
			return;
		}
		w->end[w->depth] = end;
		w->kind[w->depth] = kind;
		w->nchild[w->depth] = 0;
		w->depth++;
		if (w->len == 0)
			close_ended(w);
		else
			w->hstate = H_TAG;
		return;
	}
	w->ncap = 0;
	w->hstate = H_CONTENT;
	if (w->len == 0) {
		if (w->act != A_SKIP)
			value(t, w);
		close_ended(w);
	}
}

static void walk(smtpc_bearssl *t, const unsigned char *p, size_t n)
{
	smtpc_bearssl_check *w = &t->u.client.check;

	while (n > 0 && !w->bad) {
		unsigned char b = *p;
		if (w->hstate == H_CONTENT) {
			size_t k = w->len < n ? w->len : n;
			if (w->act != A_SKIP) {
				size_t i;
				for (i = 0; i < k; i++) {
					if (w->ncap < sizeof w->cap)
						w->cap[w->ncap] = p[i];
					if (w->ncap < 255)
						w->ncap++;
				}
			}
			p += k;
			n -= k;
			w->pos += (uint32_t)k;
			w->len -= (uint32_t)k;
			if (w->len == 0) {
				if (w->act != A_SKIP)
					value(t, w);
				close_ended(w);
			}
			continue;
		}
		p++;
		n--;
		w->pos++;
		switch (w->hstate) {
		case H_TAG:
			if (w->depth == 0 && w->pos > 1) { /* octets after the certificate */
				w->bad = 1;
				break;
			}
			w->tag = b;
			w->hstate = H_LEN;
			if ((b & 0x1f) == 0x1f) /* a tag number over 30: none in a certificate */
				w->bad = 1;
			break;
		case H_LEN:
			if (b < 0x80) {
				w->len = b;
				w->nlen = 0;
				header_done(t, w);
			} else if (b == 0x80 || b > 0x84) { /* indefinite or over 4 GiB */
				w->bad = 1;
			} else {
				w->nlen = b & 0x7f;
				w->len = 0;
				w->hstate = H_LENX;
			}
			break;
		default: /* H_LENX */
			w->len = (w->len << 8) | b;
			if (--w->nlen == 0)
				header_done(t, w);
			break;
		}
	}
}

/* ---- the class --------------------------------------------------------------------- */

static void c_start_chain(const br_x509_class **ctx, const char *server_name)
{
	smtpc_bearssl *t = owner(ctx);
	smtpc_bearssl_check *w = &t->u.client.check;
	br_x509_minimal_context *m = minimal(t);

	w->certs = 0;
	w->early = w->late = 0;
	w->eku_seen = w->eku_server = w->eku_failed = 0;
	w->got_key = 0;
	/* BearSSL's server_name is its copy of the SNI: when verifying, the
	 * name without its final dot (never empty: an empty name would skip
	 * the name check, so the caller's is the fallback) */
	if (!(t->flags & L_INSECURE))
		m->vtable->start_chain(&m->vtable, server_name != NULL && server_name[0] != '\0'
						       ? server_name
						       : t->name);
}

static void c_start_cert(const br_x509_class **ctx, uint32_t length)
{
	smtpc_bearssl *t = owner(ctx);
	smtpc_bearssl_check *w = &t->u.client.check;
	br_x509_minimal_context *m = minimal(t);

	walk_reset(w);
	w->trailing = 0;
	if (t->flags & L_INSECURE) {
		if (w->certs == 0)
			br_x509_decoder_init(&t->u.client.x.any, NULL, NULL);
		return;
	}
	m->vtable->start_cert(&m->vtable, length);
}

static void c_append(const br_x509_class **ctx, const unsigned char *buf, size_t len)
{
	smtpc_bearssl *t = owner(ctx);
	br_x509_minimal_context *m = minimal(t);

	if (t->flags & L_INSECURE) {
		if (t->u.client.check.certs == 0)
			if (smtpc_bearssl__decode(&t->u.client.x.any, buf, len) < 0)
				t->u.client.check.trailing = 1;
		return;
	}
	walk(t, buf, len);
	m->vtable->append(&m->vtable, buf, len);
}

static void c_end_cert(const br_x509_class **ctx)
{
	smtpc_bearssl *t = owner(ctx);
	smtpc_bearssl_check *w = &t->u.client.check;
	br_x509_minimal_context *m = minimal(t);

	if (t->flags & L_INSECURE) {
		if (w->certs == 0)
			w->got_key =
			    !w->trailing && br_x509_decoder_get_pkey(&t->u.client.x.any) != NULL;
	} else {
		m->vtable->end_cert(&m->vtable);
	}
	if (w->certs < 255)
		w->certs++;
}

static unsigned c_end_chain(const br_x509_class **ctx)
{
	smtpc_bearssl *t = owner(ctx);
	smtpc_bearssl_check *w = &t->u.client.check;
	br_x509_minimal_context *m = minimal(t);
	unsigned r;

	if (t->flags & L_INSECURE)
		return w->got_key ? 0 : BR_ERR_X509_EMPTY_CHAIN;
	r = m->vtable->end_chain(&m->vtable);
	if (r == 0 && w->eku_seen && !w->eku_server) {
		w->eku_failed = 1;
		r = BR_ERR_X509_FORBIDDEN_KEY_USAGE;
	}
	return r;
}

static const br_x509_pkey *c_get_pkey(const br_x509_class *const *ctx, unsigned *usages)
{
	smtpc_bearssl *t = owner(ctx);
	br_x509_minimal_context *m = minimal(t);

	if (t->flags & L_INSECURE) {
		if (usages != NULL)
			*usages = BR_KEYTYPE_KEYX | BR_KEYTYPE_SIGN;
		return t->u.client.check.got_key ? br_x509_decoder_get_pkey(&t->u.client.x.any)
						 : NULL;
	}
	return m->vtable->get_pkey(&m->vtable, usages);
}

static const br_x509_class check_vtable = {
    sizeof(smtpc_bearssl_check),
    c_start_chain,
    c_start_cert,
    c_append,
    c_end_cert,
    c_end_chain,
    c_get_pkey,
};

const br_x509_class *smtpc_bearssl__check_class(void)
{
	return &check_vtable;
}
