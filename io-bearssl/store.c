/*
 * store.c - trust anchors and server credentials, decoded from PEM or DER
 * in memory into storage the caller gives.
 *
 * Storage layout: [ octets, growing up | free | table, growing down ].
 * The table (br_x509_trust_anchor or br_x509_certificate entries) is kept
 * contiguous, so BearSSL can take it as an array; a chain keeps its order
 * (leaf first) by moving the table down one slot per certificate. Octets
 * are DNs and key components (anchors), DER certificates and the private
 * key's components (credentials). Once something does not fit the store is
 * `full`: what fitted is kept, and the rest is only measured, so `need`
 * always tells the storage everything would take.
 *
 * Decoding streams: PEM through br_pem_decoder, certificates through
 * br_x509_decoder (its DN callback writes the anchor's DN straight into the
 * storage), keys through br_skey_decoder. Nothing is buffered whole; the
 * decoders live on the stack (about 3 KiB at most).
 */
#include <stddef.h>
#include <string.h>

#include "internal.h"

union align_probe {
	void *p;
	size_t s;
	uint64_t u;
	uint32_t (*f)(void);
};

struct align_of {
	char c;
	union align_probe a;
};

#define ALIGN offsetof(struct align_of, a)

/* ---- storage ------------------------------------------------------------------------- */

static void store_init(smtpc_bearssl_store *s, void *mem, size_t size)
{
	uintptr_t top;

	memset(s, 0, sizeof *s);
	s->mem = mem;
	if (mem == NULL) {
		s->full = 1; /* measure only */
		return;
	}
	top = ((uintptr_t)mem + size) & ~(uintptr_t)(ALIGN - 1);
	s->size = size;
	s->hi = top >= (uintptr_t)mem ? (size_t)(top - (uintptr_t)mem) : 0;
}

/* n octets at the bottom, or NULL (then the store is full). */
static unsigned char *take_lo(smtpc_bearssl_store *s, size_t n)
{
	unsigned char *p;

	if (s->full || s->hi - s->lo < n) {
		s->full = 1;
		return NULL;
	}
	p = s->mem + s->lo;
	s->lo += n;
	return p;
}

/* One more table entry of size sz at the end of the table (the table moves
 * down one slot); returns the table's new start, or NULL. */
static unsigned char *table_add(smtpc_bearssl_store *s, size_t count, size_t sz)
{
	if (s->full || s->hi - s->lo < sz) {
		s->full = 1;
		return NULL;
	}
	if (count != 0)
		memmove(s->mem + s->hi - sz, s->mem + s->hi, count * sz);
	s->hi -= sz;
	return s->mem + s->hi;
}

/* ---- PEM -------------------------------------------------------------------------------- */

/* One object kind a caller wants: begin picks a sink for the named object
 * (0: pass it over), data receives its DER, end finishes it. */
struct pem_sink {
	int (*begin)(void *ctx, const char *name);
	void (*data)(void *ctx, const void *buf, size_t len);
	smtpc_bearssl_err (*end)(void *ctx);
	void *ctx;
};

static void ignore(void *ctx, const void *buf, size_t len)
{
	(void)ctx;
	(void)buf;
	(void)len;
}

static smtpc_bearssl_err read_pem(const unsigned char *p, size_t n, const struct pem_sink *k)
{
	br_pem_decoder_context pc;
	int in_obj = 0, want = 0, flushed = 0;

	br_pem_decoder_init(&pc);
	for (;;) {
		size_t used;
		if (n == 0) {
			if (flushed) /* a last line without its line end, pushed once */
				break;
			flushed = 1;
			p = (const unsigned char *)"\n";
			n = 1;
		}
		used = br_pem_decoder_push(&pc, p, n);
		p += used;
		n -= used;
		switch (br_pem_decoder_event(&pc)) {
		case BR_PEM_BEGIN_OBJ:
			in_obj = 1;
			want = k->begin(k->ctx, br_pem_decoder_name(&pc));
			br_pem_decoder_setdest(&pc, want ? k->data : ignore, k->ctx);
			break;
		case BR_PEM_END_OBJ:
			in_obj = 0;
			if (want) {
				smtpc_bearssl_err e = k->end(k->ctx);
				if (e != SMTPC_BEARSSL_ERR_OK)
					return e;
			}
			want = 0;
			break;
		case BR_PEM_ERROR:
			return SMTPC_BEARSSL_ERR_BAD_PEM;
		default:
			break;
		}
	}
	return in_obj ? SMTPC_BEARSSL_ERR_BAD_PEM : SMTPC_BEARSSL_ERR_OK;
}

static int same(const char *a, const char *b)
{
	size_t n = strlen(b);

	return strlen(a) == n && memcmp(a, b, n) == 0;
}

static int is_cert_name(const char *name)
{
	return same(name, "CERTIFICATE") || same(name, "X509 CERTIFICATE") ||
	       same(name, "TRUSTED CERTIFICATE");
}

/* Copies n octets into the store; counts them in *need either way. */
static const unsigned char *keep(smtpc_bearssl_store *s, size_t *need, const void *src, size_t n)
{
	unsigned char *d = take_lo(s, n);

	*need += n;
	if (d != NULL && n != 0)
		memcpy(d, src, n);
	return d;
}

/* ---- trust anchors ------------------------------------------------------------------------ */

struct anchor_job {
	smtpc_bearssl_anchors *a;
	br_x509_decoder_context dc;
	size_t lo, dn_len, need; /* where this certificate's octets start; its DN; its need */
	int dn_ok, trailing;
};

static void dn_add(void *ctx, const void *buf, size_t len)
{
	struct anchor_job *j = ctx;

	j->dn_len += len;
	if (keep(&j->a->store, &j->need, buf, len) == NULL)
		j->dn_ok = 0;
}

static int anchor_begin(void *ctx, const char *name)
{
	struct anchor_job *j = ctx;

	if (!is_cert_name(name))
		return 0;
	j->lo = j->a->store.lo;
	j->dn_len = 0;
	j->need = 0;
	j->dn_ok = 1;
	j->trailing = 0;
	br_x509_decoder_init(&j->dc, dn_add, j);
	return 1;
}

static void anchor_data(void *ctx, const void *buf, size_t len)
{
	struct anchor_job *j = ctx;

	if (smtpc_bearssl__decode(&j->dc, buf, len) < 0)
		j->trailing = 1;
}

static smtpc_bearssl_err anchor_end(void *ctx)
{
	struct anchor_job *j = ctx;
	smtpc_bearssl_anchors *a = j->a;
	smtpc_bearssl_store *s = &a->store;
	const br_x509_pkey *pk = br_x509_decoder_get_pkey(&j->dc);
	br_x509_trust_anchor ta;
	const unsigned char *dn = s->mem != NULL ? s->mem + j->lo : NULL, *k1 = NULL, *k2 = NULL;
	unsigned char *table;
	int stored = j->dn_ok;

	if (pk == NULL || br_x509_decoder_last_error(&j->dc) != 0 || j->trailing ||
	    (pk->key_type != BR_KEYTYPE_RSA && pk->key_type != BR_KEYTYPE_EC)) {
		if (s->mem != NULL && j->lo <= s->lo)
			s->lo = j->lo; /* its DN octets go back */
		a->skipped++;
		return SMTPC_BEARSSL_ERR_OK;
	}
	memset(&ta, 0, sizeof ta);
	ta.flags = br_x509_decoder_isCA(&j->dc) ? BR_X509_TA_CA : 0;
	ta.pkey.key_type = pk->key_type;
	if (pk->key_type == BR_KEYTYPE_RSA) {
		k1 = keep(s, &j->need, pk->key.rsa.n, pk->key.rsa.nlen);
		k2 = keep(s, &j->need, pk->key.rsa.e, pk->key.rsa.elen);
		stored = stored && k1 != NULL && k2 != NULL;
		ta.pkey.key.rsa.n = (unsigned char *)(uintptr_t)k1;
		ta.pkey.key.rsa.nlen = pk->key.rsa.nlen;
		ta.pkey.key.rsa.e = (unsigned char *)(uintptr_t)k2;
		ta.pkey.key.rsa.elen = pk->key.rsa.elen;
	} else {
		k1 = keep(s, &j->need, pk->key.ec.q, pk->key.ec.qlen);
		stored = stored && k1 != NULL;
		ta.pkey.key.ec.curve = pk->key.ec.curve;
		ta.pkey.key.ec.q = (unsigned char *)(uintptr_t)k1;
		ta.pkey.key.ec.qlen = pk->key.ec.qlen;
	}
	ta.dn.data = (unsigned char *)(uintptr_t)dn;
	ta.dn.len = j->dn_len;
	a->need += j->need + sizeof ta;
	table = stored ? table_add(s, a->n, sizeof ta) : NULL;
	if (table == NULL) {
		if (s->mem != NULL && j->lo <= s->lo)
			s->lo = j->lo; /* did not fit: its octets go back */
		s->full = 1;
		return SMTPC_BEARSSL_ERR_OK;
	}
	memcpy(table + a->n * sizeof ta, &ta, sizeof ta);
	a->n++;
	a->ta = (const br_x509_trust_anchor *)(const void *)table;
	return SMTPC_BEARSSL_ERR_OK;
}

void smtpc_bearssl_anchors_init(smtpc_bearssl_anchors *a, void *mem, size_t size)
{
	if (a == NULL)
		return;
	memset(a, 0, sizeof *a);
	store_init(&a->store, mem, size);
	a->need = ALIGN - 1;
}

smtpc_bearssl_err smtpc_bearssl_anchors_add(smtpc_bearssl_anchors *a, const void *data, size_t len)
{
	struct anchor_job j;
	struct pem_sink k;
	const unsigned char *p = data;
	smtpc_bearssl_err e;

	if (a == NULL || (data == NULL && len != 0))
		return SMTPC_BEARSSL_ERR_NULL_ARG;
	memset(&j, 0, sizeof j);
	j.a = a;
	if (len > 0 && p[0] == 0x30) { /* DER: one certificate */
		anchor_begin(&j, "CERTIFICATE");
		anchor_data(&j, p, len);
		e = anchor_end(&j);
	} else {
		k.begin = anchor_begin;
		k.data = anchor_data;
		k.end = anchor_end;
		k.ctx = &j;
		e = read_pem(p, len, &k);
	}
	if (e == SMTPC_BEARSSL_ERR_OK && a->store.full && a->store.mem != NULL)
		e = SMTPC_BEARSSL_ERR_NO_SPACE;
	return e;
}

/* ---- server credentials ------------------------------------------------------------------- */

struct creds_job {
	smtpc_bearssl_creds *c;
	int what; /* 1 certificate, 2 key */
	union {
		br_x509_decoder_context x509;
		br_skey_decoder_context key;
	} d;
	size_t lo, der_len, need;
	int der_ok, trailing;
};

static int creds_begin(void *ctx, const char *name)
{
	struct creds_job *j = ctx;
	size_t n = strlen(name);

	j->what = 0;
	if (is_cert_name(name)) {
		j->what = 1;
		j->lo = j->c->store.lo;
		j->der_len = 0;
		j->need = 0;
		j->der_ok = 1;
		j->trailing = 0;
		br_x509_decoder_init(&j->d.x509, NULL, NULL);
	} else if (n >= 11 && same(name + n - 11, "PRIVATE KEY")) {
		j->what = 2;
		br_skey_decoder_init(&j->d.key);
	}
	return j->what;
}

static void creds_data(void *ctx, const void *buf, size_t len)
{
	struct creds_job *j = ctx;

	if (j->what == 1) {
		j->der_len += len;
		if (keep(&j->c->store, &j->need, buf, len) == NULL)
			j->der_ok = 0;
		if (smtpc_bearssl__decode(&j->d.x509, buf, len) < 0)
			j->trailing = 1;
	} else if (br_skey_decoder_last_error(&j->d.key) == BR_ERR_X509_TRUNCATED) {
		br_skey_decoder_push(&j->d.key, buf,
				     len); /* not after a failure: as for certificates */
	}
}

static smtpc_bearssl_err cert_end(struct creds_job *j)
{
	smtpc_bearssl_creds *c = j->c;
	smtpc_bearssl_store *s = &c->store;
	const br_x509_pkey *pk = br_x509_decoder_get_pkey(&j->d.x509);
	br_x509_certificate xc;
	unsigned char *table;

	if (pk == NULL || br_x509_decoder_last_error(&j->d.x509) != 0 || j->trailing) {
		if (s->mem != NULL && j->lo <= s->lo)
			s->lo = j->lo;
		return SMTPC_BEARSSL_ERR_BAD_CERT;
	}
	if (c->n == 0 && c->leaf_key_type == 0) {
		c->leaf_key_type = pk->key_type;
		c->issuer_key_type = br_x509_decoder_get_signer_key_type(&j->d.x509);
	}
	c->need += j->need + sizeof xc;
	table = j->der_ok ? table_add(s, c->n, sizeof xc) : NULL;
	if (table == NULL) {
		if (s->mem != NULL && j->lo <= s->lo)
			s->lo = j->lo;
		s->full = 1;
		return SMTPC_BEARSSL_ERR_OK;
	}
	xc.data = s->mem + j->lo;
	xc.data_len = j->der_len;
	memcpy(table + c->n * sizeof xc, &xc, sizeof xc);
	c->n++;
	c->chain = (const br_x509_certificate *)(const void *)table;
	return SMTPC_BEARSSL_ERR_OK;
}

static smtpc_bearssl_err key_end(struct creds_job *j)
{
	smtpc_bearssl_creds *c = j->c;
	smtpc_bearssl_store *s = &c->store;
	const br_skey_decoder_context *d = &j->d.key;
	size_t need = 0, lo = s->lo;
	int type = br_skey_decoder_key_type(d), ok = 1;

	if (br_skey_decoder_last_error(d) != 0 || (type != BR_KEYTYPE_RSA && type != BR_KEYTYPE_EC))
		return SMTPC_BEARSSL_ERR_BAD_KEY;
	if (c->key_type != 0)
		return SMTPC_BEARSSL_ERR_KEY_TWICE;
	if (type == BR_KEYTYPE_RSA) {
		const br_rsa_private_key *k = br_skey_decoder_get_rsa(d);
		br_rsa_private_key r = *k;
		r.p = (unsigned char *)(uintptr_t)keep(s, &need, k->p, k->plen);
		r.q = (unsigned char *)(uintptr_t)keep(s, &need, k->q, k->qlen);
		r.dp = (unsigned char *)(uintptr_t)keep(s, &need, k->dp, k->dplen);
		r.dq = (unsigned char *)(uintptr_t)keep(s, &need, k->dq, k->dqlen);
		r.iq = (unsigned char *)(uintptr_t)keep(s, &need, k->iq, k->iqlen);
		ok = r.p && r.q && r.dp && r.dq && r.iq;
		c->rsa = r;
	} else {
		const br_ec_private_key *k = br_skey_decoder_get_ec(d);
		br_ec_private_key e = *k;
		e.x = (unsigned char *)(uintptr_t)keep(s, &need, k->x, k->xlen);
		ok = e.x != NULL;
		c->ec = e;
	}
	c->need += need;
	if (!ok) {
		if (s->mem != NULL && lo <= s->lo)
			s->lo = lo;
		s->full = 1;
		memset(&c->rsa, 0, sizeof c->rsa);
		memset(&c->ec, 0, sizeof c->ec);
		return SMTPC_BEARSSL_ERR_OK;
	}
	c->key_type = type;
	return SMTPC_BEARSSL_ERR_OK;
}

static smtpc_bearssl_err creds_end(void *ctx)
{
	struct creds_job *j = ctx;

	return j->what == 1 ? cert_end(j) : key_end(j);
}

void smtpc_bearssl_creds_init(smtpc_bearssl_creds *c, void *mem, size_t size)
{
	if (c == NULL)
		return;
	memset(c, 0, sizeof *c);
	store_init(&c->store, mem, size);
	c->need = ALIGN - 1;
}

smtpc_bearssl_err smtpc_bearssl_creds_add(smtpc_bearssl_creds *c, const void *data, size_t len)
{
	struct creds_job j;
	struct pem_sink k;
	const unsigned char *p = data;
	smtpc_bearssl_err e;

	if (c == NULL || (data == NULL && len != 0))
		return SMTPC_BEARSSL_ERR_NULL_ARG;
	memset(&j, 0, sizeof j);
	j.c = c;
	if (len > 0 && p[0] == 0x30) { /* DER: a certificate, or else a key */
		br_x509_decoder_context probe;
		br_x509_decoder_init(&probe, NULL, NULL);
		if (smtpc_bearssl__decode(&probe, p, len) < 0)
			br_x509_decoder_init(&probe, NULL, NULL); /* not a certificate: a key */
		creds_begin(&j, br_x509_decoder_get_pkey(&probe) != NULL ? "CERTIFICATE"
									 : "PRIVATE KEY");
		creds_data(&j, p, len);
		e = creds_end(&j);
	} else {
		k.begin = creds_begin;
		k.data = creds_data;
		k.end = creds_end;
		k.ctx = &j;
		e = read_pem(p, len, &k);
	}
	if (e == SMTPC_BEARSSL_ERR_OK && c->store.full && c->store.mem != NULL)
		e = SMTPC_BEARSSL_ERR_NO_SPACE;
	return e;
}
