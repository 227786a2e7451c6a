/*
 * bearssl.c - a TLS transport for io-posix on BearSSL's engine.
 *
 * BearSSL's engine is itself Sans-I/O: records in and out (recvrec/sendrec),
 * plaintext in and out (sendapp/recvapp), one state mask. This file moves
 * records between the engine and the socket (io), and plaintext between the
 * engine and io-posix (read/write); it never blocks.
 *
 * Trust anchors are decoded from PEM with BearSSL's PEM and X.509 decoders
 * (BearSSL has no file loader): each CERTIFICATE object becomes an anchor
 * with its subject DN and public key, flagged CA when the certificate is one
 * (a non-CA certificate in the file is trusted directly).
 *
 * The insecure mode replaces the X.509 engine with one that decodes the
 * server's certificate for its key and checks nothing else. It is never the
 * default. The server name is sent either way.
 *
 * A TCP close without close_notify is reported as end of input, not as an
 * error: SMTP's own replies say whether anything was lost (the core fails a
 * reply cut short).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <bearssl.h>

#include "smtpc_bearssl.h"

struct trust_any {
	const br_x509_class *vtable; /* first: BearSSL calls through it */
	br_x509_decoder_context dc;
	int first, got;
};

/* What the transport works on, in either role: first in both objects. */
struct link {
	br_ssl_engine_context *eng;
	int sock_eof, last_err;
};

struct smtpc_bearssl {
	struct link link;
	br_ssl_client_context cc;
	br_x509_minimal_context xc;
	struct trust_any any;
	unsigned char iobuf[BR_SSL_BUFSIZE_BIDI];
	br_x509_trust_anchor *anchors;
	size_t nanchors, cap;
	char *name;
	smtpc_posix_transport xp;
};

struct smtpc_bearssl_server {
	br_x509_certificate *chain;
	size_t nchain;
	br_rsa_private_key key;
	unsigned char *key_mem;
};

struct smtpc_bearssl_conn {
	struct link link;
	br_ssl_server_context sc;
	unsigned char iobuf[BR_SSL_BUFSIZE_BIDI];
	smtpc_posix_transport xp;
};

/* ---- accepting any certificate (insecure) ---------------------------------------- */

static struct trust_any *any_of(const br_x509_class *const *ctx)
{
	return (struct trust_any *)(void *)(uintptr_t)ctx;
}

static void any_start_chain(const br_x509_class **ctx, const char *server_name)
{
	struct trust_any *a = any_of(ctx);

	(void)server_name;
	a->first = 1;
	a->got = 0;
}

static void any_start_cert(const br_x509_class **ctx, uint32_t length)
{
	struct trust_any *a = any_of(ctx);

	(void)length;
	if (a->first)
		br_x509_decoder_init(&a->dc, NULL, NULL);
}

static void any_append(const br_x509_class **ctx, const unsigned char *buf, size_t len)
{
	struct trust_any *a = any_of(ctx);

	if (a->first)
		br_x509_decoder_push(&a->dc, buf, len);
}

static void any_end_cert(const br_x509_class **ctx)
{
	struct trust_any *a = any_of(ctx);

	if (a->first) {
		a->got = br_x509_decoder_get_pkey(&a->dc) != NULL;
		a->first = 0;
	}
}

static unsigned any_end_chain(const br_x509_class **ctx)
{
	return any_of(ctx)->got ? 0 : BR_ERR_X509_EMPTY_CHAIN;
}

static const br_x509_pkey *any_get_pkey(const br_x509_class *const *ctx, unsigned *usages)
{
	struct trust_any *a = any_of(ctx);

	if (usages != NULL)
		*usages = BR_KEYTYPE_KEYX | BR_KEYTYPE_SIGN;
	return a->got ? br_x509_decoder_get_pkey(&a->dc) : NULL;
}

static const br_x509_class any_vtable = {
	sizeof(struct trust_any), any_start_chain, any_start_cert, any_append,
	any_end_cert,             any_end_chain,   any_get_pkey,
};

/* ---- trust anchors from PEM ----------------------------------------------------------- */

struct bytes {
	unsigned char *p;
	size_t n, cap;
	int oom;
};

static void bytes_add(void *ctx, const void *data, size_t len)
{
	struct bytes *b = ctx;

	if (b->oom)
		return;
	if (b->n + len > b->cap) {
		size_t cap = (b->cap + len) * 2;
		unsigned char *np = realloc(b->p, cap);
		if (np == NULL) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->n, data, len);
	b->n += len;
}

static unsigned char *copy_bytes(const unsigned char *p, size_t n)
{
	unsigned char *d = malloc(n ? n : 1);

	if (d != NULL && n)
		memcpy(d, p, n);
	return d;
}

static void free_anchor(br_x509_trust_anchor *ta)
{
	free(ta->dn.data);
	if (ta->pkey.key_type == BR_KEYTYPE_RSA) {
		free(ta->pkey.key.rsa.n);
		free(ta->pkey.key.rsa.e);
	} else if (ta->pkey.key_type == BR_KEYTYPE_EC) {
		free(ta->pkey.key.ec.q);
	}
}

/* Adds the certificate in der as a trust anchor; 0 if it is not usable. */
static int add_anchor(smtpc_bearssl *t, const unsigned char *der, size_t len)
{
	br_x509_decoder_context dc;
	struct bytes dn = {NULL, 0, 0, 0};
	const br_x509_pkey *pk;
	br_x509_trust_anchor *ta;

	br_x509_decoder_init(&dc, bytes_add, &dn);
	br_x509_decoder_push(&dc, der, len);
	pk = br_x509_decoder_get_pkey(&dc);
	if (pk == NULL || dn.oom) {
		free(dn.p);
		return 0;
	}
	if (t->nanchors == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		br_x509_trust_anchor *na = realloc(t->anchors, cap * sizeof *na);
		if (na == NULL) {
			free(dn.p);
			return 0;
		}
		t->anchors = na;
		t->cap = cap;
	}
	ta = &t->anchors[t->nanchors];
	memset(ta, 0, sizeof *ta);
	ta->dn.data = dn.p;
	ta->dn.len = dn.n;
	ta->flags = br_x509_decoder_isCA(&dc) ? BR_X509_TA_CA : 0;
	ta->pkey.key_type = pk->key_type;
	if (pk->key_type == BR_KEYTYPE_RSA) {
		ta->pkey.key.rsa.n = copy_bytes(pk->key.rsa.n, pk->key.rsa.nlen);
		ta->pkey.key.rsa.nlen = pk->key.rsa.nlen;
		ta->pkey.key.rsa.e = copy_bytes(pk->key.rsa.e, pk->key.rsa.elen);
		ta->pkey.key.rsa.elen = pk->key.rsa.elen;
	} else if (pk->key_type == BR_KEYTYPE_EC) {
		ta->pkey.key.ec.curve = pk->key.ec.curve;
		ta->pkey.key.ec.q = copy_bytes(pk->key.ec.q, pk->key.ec.qlen);
		ta->pkey.key.ec.qlen = pk->key.ec.qlen;
	}
	t->nanchors++; /* counted now, so free_anchor sees it on failure */
	if ((pk->key_type == BR_KEYTYPE_RSA && (ta->pkey.key.rsa.n == NULL || ta->pkey.key.rsa.e == NULL)) ||
	    (pk->key_type == BR_KEYTYPE_EC && ta->pkey.key.ec.q == NULL) ||
	    (pk->key_type != BR_KEYTYPE_RSA && pk->key_type != BR_KEYTYPE_EC)) {
		t->nanchors--;
		free_anchor(ta);
		return 0;
	}
	return 1;
}

/* Reads every PEM object of the file; calls fn for each with its name. */
static const char *read_pem(const char *path, void (*fn)(void *ctx, const char *name,
                                                          const unsigned char *der, size_t len),
                            void *ctx)
{
	FILE *f = fopen(path, "rb");
	br_pem_decoder_context pc;
	struct bytes der = {NULL, 0, 0, 0};
	unsigned char buf[4096];
	char name[128] = "";
	int bad = 0;
	size_t n;

	if (f == NULL)
		return "cannot read the file";
	br_pem_decoder_init(&pc);
	while (!bad && (n = fread(buf, 1, sizeof buf, f)) > 0) {
		size_t off = 0;
		while (off < n && !bad) {
			off += br_pem_decoder_push(&pc, buf + off, n - off);
			switch (br_pem_decoder_event(&pc)) {
			case BR_PEM_BEGIN_OBJ:
				snprintf(name, sizeof name, "%s", br_pem_decoder_name(&pc));
				der.n = 0;
				br_pem_decoder_setdest(&pc, bytes_add, &der);
				break;
			case BR_PEM_END_OBJ:
				if (!der.oom)
					fn(ctx, name, der.p, der.n);
				break;
			case BR_PEM_ERROR:
				bad = 1;
				break;
			default:
				break;
			}
		}
	}
	fclose(f);
	free(der.p);
	return bad ? "malformed PEM" : NULL;
}

static void anchor_object(void *ctx, const char *name, const unsigned char *der, size_t len)
{
	if (strcmp(name, "CERTIFICATE") == 0 || strcmp(name, "X509 CERTIFICATE") == 0)
		add_anchor(ctx, der, len);
}

static const char *load_anchors(smtpc_bearssl *t, const char *path)
{
	const char *err = read_pem(path, anchor_object, t);

	if (err != NULL)
		return strcmp(err, "malformed PEM") == 0 ? "malformed PEM in the CA file"
		                                         : "cannot read the CA file";
	if (t->nanchors == 0)
		return "no usable certificate in the CA file";
	return NULL;
}

/* ---- the transport ------------------------------------------------------------------------ */

static smtpc_err sock_err(int e)
{
	return (e == ECONNRESET || e == EPIPE) ? SMTPC_ERR_RESET : SMTPC_ERR_IO;
}

static smtpc_err tls_io(void *ctx, int fd)
{
	struct link *t = ctx;
	br_ssl_engine_context *eng = t->eng;

	for (;;) {
		unsigned st = br_ssl_engine_current_state(eng);
		int progress = 0;
		unsigned char *buf;
		size_t len;
		ssize_t n;

		if (st & BR_SSL_CLOSED) {
			t->last_err = br_ssl_engine_last_error(eng);
			return t->last_err == BR_ERR_OK ? SMTPC_ERR_OK : SMTPC_ERR_TLS;
		}
		if (st & BR_SSL_SENDREC) {
			buf = br_ssl_engine_sendrec_buf(eng, &len);
			n = send(fd, buf, len, MSG_NOSIGNAL);
			if (n > 0) {
				br_ssl_engine_sendrec_ack(eng, (size_t)n);
				progress = 1;
			} else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				return sock_err(errno);
			}
		}
		if ((st & BR_SSL_RECVREC) && !t->sock_eof) {
			buf = br_ssl_engine_recvrec_buf(eng, &len);
			n = recv(fd, buf, len, 0);
			if (n > 0) {
				br_ssl_engine_recvrec_ack(eng, (size_t)n);
				progress = 1;
			} else if (n == 0) {
				t->sock_eof = 1;
				if (!(st & (BR_SSL_SENDAPP | BR_SSL_RECVAPP))) {
					t->last_err = BR_ERR_IO; /* closed during the handshake */
					return SMTPC_ERR_TLS;
				}
			} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				return sock_err(errno);
			}
		}
		if (!progress)
			return SMTPC_ERR_OK;
	}
}

static short tls_events(void *ctx)
{
	struct link *t = ctx;
	unsigned st = br_ssl_engine_current_state(t->eng);
	short ev = 0;

	if (st & BR_SSL_SENDREC)
		ev |= POLLOUT;
	if ((st & BR_SSL_RECVREC) && !t->sock_eof)
		ev |= POLLIN;
	return ev;
}

static size_t tls_read(void *ctx, unsigned char *out, size_t len, int *eof)
{
	struct link *t = ctx;
	br_ssl_engine_context *eng = t->eng;
	unsigned st = br_ssl_engine_current_state(eng);

	if (st & BR_SSL_RECVAPP) {
		size_t n;
		unsigned char *buf = br_ssl_engine_recvapp_buf(eng, &n);
		if (n > len)
			n = len;
		memcpy(out, buf, n);
		br_ssl_engine_recvapp_ack(eng, n);
		return n;
	}
	if ((st & BR_SSL_CLOSED) || t->sock_eof)
		*eof = 1;
	return 0;
}

static size_t tls_write(void *ctx, const unsigned char *in, size_t len)
{
	struct link *t = ctx;
	br_ssl_engine_context *eng = t->eng;
	size_t n;
	unsigned char *buf;

	if (!(br_ssl_engine_current_state(eng) & BR_SSL_SENDAPP))
		return 0;
	buf = br_ssl_engine_sendapp_buf(eng, &n);
	if (n > len)
		n = len;
	memcpy(buf, in, n);
	br_ssl_engine_sendapp_ack(eng, n);
	br_ssl_engine_flush(eng, 0);
	return n;
}

static int tls_ready(void *ctx)
{
	struct link *t = ctx;

	return (br_ssl_engine_current_state(t->eng) & (BR_SSL_SENDAPP | BR_SSL_RECVAPP)) != 0;
}

static void set_transport(smtpc_posix_transport *xp, struct link *l)
{
	xp->ctx = l;
	xp->io = tls_io;
	xp->events = tls_events;
	xp->read = tls_read;
	xp->write = tls_write;
	xp->ready = tls_ready;
}

/* ---- the object ------------------------------------------------------------------------------ */

smtpc_bearssl *smtpc_bearssl_new(const smtpc_bearssl_opts *o, const char **why)
{
	smtpc_bearssl *t;
	const char *err = NULL;

	if (why != NULL)
		*why = NULL;
	if (o == NULL || o->server_name == NULL || o->server_name[0] == '\0') {
		if (why != NULL)
			*why = "no server name to send and check";
		return NULL;
	}
	t = calloc(1, sizeof *t);
	if (t == NULL || (t->name = malloc(strlen(o->server_name) + 1)) == NULL) {
		free(t);
		if (why != NULL)
			*why = "out of memory";
		return NULL;
	}
	strcpy(t->name, o->server_name);
	if (!o->insecure)
		err = load_anchors(t, o->cafile != NULL ? o->cafile : SMTPC_BEARSSL_SYSTEM_CA);
	if (err != NULL) {
		if (why != NULL)
			*why = err;
		smtpc_bearssl_free(t);
		return NULL;
	}
	br_ssl_client_init_full(&t->cc, &t->xc, t->anchors, t->nanchors);
	if (o->insecure) {
		t->any.vtable = &any_vtable;
		br_ssl_engine_set_x509(&t->cc.eng, &t->any.vtable);
	}
	br_ssl_engine_set_buffer(&t->cc.eng, t->iobuf, sizeof t->iobuf, 1);
	if (!br_ssl_client_reset(&t->cc, t->name, 0)) {
		if (why != NULL)
			*why = "TLS engine reset failed";
		smtpc_bearssl_free(t);
		return NULL;
	}
	t->link.eng = &t->cc.eng;
	set_transport(&t->xp, &t->link);
	return t;
}

void smtpc_bearssl_free(smtpc_bearssl *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nanchors; i++)
		free_anchor(&t->anchors[i]);
	free(t->anchors);
	free(t->name);
	free(t);
}

const smtpc_posix_transport *smtpc_bearssl_transport(smtpc_bearssl *t)
{
	return t != NULL ? &t->xp : NULL;
}

size_t smtpc_bearssl_anchors(const smtpc_bearssl *t)
{
	return t != NULL ? t->nanchors : 0;
}

int smtpc_bearssl_last_error(const smtpc_bearssl *t)
{
	return t != NULL ? t->link.last_err : 0;
}

const char *smtpc_bearssl_strerror(int err)
{
	switch (err) {
	case BR_ERR_OK:
		return "no error";
	case BR_ERR_X509_NOT_TRUSTED:
		return "certificate chain not trusted (unknown CA)";
	case BR_ERR_X509_BAD_SERVER_NAME:
		return "certificate does not match the server name";
	case BR_ERR_X509_EXPIRED:
		return "certificate expired or not yet valid";
	case BR_ERR_X509_TIME_UNKNOWN:
		return "no time to check the certificate against";
	case BR_ERR_UNSUPPORTED_VERSION:
		return "protocol version not supported (BearSSL speaks TLS 1.0 to 1.2)";
	case BR_ERR_IO:
		return "connection closed during the TLS handshake";
	case BR_ERR_BAD_VERSION:
	case BR_ERR_BAD_LENGTH:
	case BR_ERR_TOO_LARGE:
	case BR_ERR_BAD_MAC:
		return "malformed TLS record (plaintext where TLS was expected?)";
	default:
		if (err >= BR_ERR_SEND_FATAL_ALERT)
			return "handshake failure (we sent a fatal alert)";
		if (err == BR_ERR_RECV_FATAL_ALERT + 70) /* protocol_version (RFC 5246 7.2) */
			return "protocol version not supported by the server "
			       "(BearSSL speaks TLS 1.0 to 1.2)";
		if (err >= BR_ERR_RECV_FATAL_ALERT)
			return "handshake failure (the server sent a fatal alert)";
		if (err >= 32 && err < 64)
			return "certificate rejected";
		return "TLS handshake failure";
	}
}

int smtpc_bearssl_hmac_md5(void *ctx, const unsigned char *key, size_t key_len,
                           const unsigned char *msg, size_t msg_len, unsigned char out[16])
{
	br_hmac_key_context kc;
	br_hmac_context hc;

	(void)ctx;
	br_hmac_key_init(&kc, &br_md5_vtable, key, key_len);
	br_hmac_init(&hc, &kc, 0);
	br_hmac_update(&hc, msg, msg_len);
	br_hmac_out(&hc, out);
	return 0;
}

void smtpc_bearssl_inject_entropy(smtpc_bearssl *t, const void *data, size_t len)
{
	if (t != NULL)
		br_ssl_engine_inject_entropy(&t->cc.eng, data, len);
}

void smtpc_bearssl_set_time(smtpc_bearssl *t, uint32_t days, uint32_t seconds)
{
	if (t != NULL)
		br_x509_minimal_set_time(&t->xc, days, seconds);
}

/* ---- server side ------------------------------------------------------------------------------ */

static void add_cert(void *ctx, const char *name, const unsigned char *der, size_t len)
{
	smtpc_bearssl_server *s = ctx;
	br_x509_certificate *nc;

	if (strcmp(name, "CERTIFICATE") != 0)
		return;
	nc = realloc(s->chain, (s->nchain + 1) * sizeof *nc);
	if (nc == NULL)
		return;
	s->chain = nc;
	nc[s->nchain].data = copy_bytes(der, len);
	nc[s->nchain].data_len = len;
	if (nc[s->nchain].data != NULL)
		s->nchain++;
}

/* Keeps the first RSA private key (PKCS#1 or PKCS#8). */
static void add_key(void *ctx, const char *name, const unsigned char *der, size_t len)
{
	smtpc_bearssl_server *s = ctx;
	br_skey_decoder_context dc;
	const br_rsa_private_key *k;
	unsigned char *p;

	if (s->key_mem != NULL || strstr(name, "PRIVATE KEY") == NULL)
		return;
	br_skey_decoder_init(&dc);
	br_skey_decoder_push(&dc, der, len);
	if (br_skey_decoder_key_type(&dc) != BR_KEYTYPE_RSA)
		return;
	k = br_skey_decoder_get_rsa(&dc);
	p = malloc(k->plen + k->qlen + k->dplen + k->dqlen + k->iqlen + 1);
	if (p == NULL)
		return;
	s->key = *k;
	s->key_mem = p;
	memcpy(p, k->p, k->plen);
	s->key.p = p;
	p += k->plen;
	memcpy(p, k->q, k->qlen);
	s->key.q = p;
	p += k->qlen;
	memcpy(p, k->dp, k->dplen);
	s->key.dp = p;
	p += k->dplen;
	memcpy(p, k->dq, k->dqlen);
	s->key.dq = p;
	p += k->dqlen;
	memcpy(p, k->iq, k->iqlen);
	s->key.iq = p;
}

smtpc_bearssl_server *smtpc_bearssl_server_new(const char *cert_file, const char *key_file,
                                               const char **why)
{
	smtpc_bearssl_server *s = calloc(1, sizeof *s);
	const char *err;

	if (why != NULL)
		*why = NULL;
	if (s == NULL || cert_file == NULL || key_file == NULL) {
		if (why != NULL)
			*why = s == NULL ? "out of memory" : "a certificate and a key are needed";
		free(s);
		return NULL;
	}
	err = read_pem(cert_file, add_cert, s);
	if (err == NULL && s->nchain == 0)
		err = "no certificate in the certificate file";
	if (err == NULL)
		err = read_pem(key_file, add_key, s);
	if (err == NULL && s->key_mem == NULL)
		err = "no RSA private key in the key file";
	if (err != NULL) {
		if (why != NULL)
			*why = err;
		smtpc_bearssl_server_free(s);
		return NULL;
	}
	return s;
}

void smtpc_bearssl_server_free(smtpc_bearssl_server *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->nchain; i++)
		free(s->chain[i].data);
	free(s->chain);
	free(s->key_mem);
	free(s);
}

smtpc_bearssl_conn *smtpc_bearssl_accept(const smtpc_bearssl_server *s)
{
	smtpc_bearssl_conn *t;

	if (s == NULL || (t = calloc(1, sizeof *t)) == NULL)
		return NULL;
	br_ssl_server_init_full_rsa(&t->sc, s->chain, s->nchain, &s->key);
	br_ssl_engine_set_buffer(&t->sc.eng, t->iobuf, sizeof t->iobuf, 1);
	if (!br_ssl_server_reset(&t->sc)) {
		free(t);
		return NULL;
	}
	t->link.eng = &t->sc.eng;
	set_transport(&t->xp, &t->link);
	return t;
}

const smtpc_posix_transport *smtpc_bearssl_conn_transport(smtpc_bearssl_conn *t)
{
	return t != NULL ? &t->xp : NULL;
}

int smtpc_bearssl_conn_error(const smtpc_bearssl_conn *t)
{
	return t != NULL ? t->link.last_err : 0;
}

void smtpc_bearssl_conn_free(smtpc_bearssl_conn *t)
{
	free(t);
}
