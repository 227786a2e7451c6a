/*
 * tls.c - io-posix's side of TLS: the operating system's files, randomness
 * and clock handed to the io-bearssl layer, and the layer wrapped for
 * smtpc_posix_set_layer. Built into libsmtpc-bearssl (it links BearSSL),
 * not into libsmtpc.
 *
 * Files are read whole (they are small: a system CA bundle is about 200
 * KiB), decoded once to measure the storage they need, then again into
 * storage of that size: anchors or credentials live in one allocation
 * made here. Each connection's layer is one allocation: the smtpc_bearssl
 * object followed by its BearSSL buffer.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__) && defined(__GLIBC__)
#include <sys/random.h> /* getrandom(2), glibc 2.25 */
#define HAVE_GETRANDOM 1
#endif

#include "smtpc_posix_tls.h"

struct smtpc_posix_tls {
	int server, insecure, client_cert;
	size_t bufsize;
	smtpc_bearssl_anchors anchors;
	smtpc_bearssl_creds creds; /* a server's, or a client's certificate */
	void *mem, *cmem;	   /* anchors or a server's creds; a client's creds */
};

/* One connection's layer, the server name it verifies (a copy: the
 * layer keeps it by pointer) and its buffer. */
struct conn_layer {
	smtpc_bearssl t; /* first: a smtpc_bearssl * is the allocation */
	char name[256];
	unsigned char buf[1];
};

/* The layer bits are the posix layer's bits. */
typedef char same_bits[(SMTPC_BEARSSL_WANT_READ == SMTPC_POSIX_LAYER_READ &&
			SMTPC_BEARSSL_WANT_WRITE == SMTPC_POSIX_LAYER_WRITE &&
			SMTPC_BEARSSL_WANT_EVENT == SMTPC_POSIX_LAYER_EVENT &&
			SMTPC_BEARSSL_WANT_PUMP == SMTPC_POSIX_LAYER_PUMP &&
			SMTPC_BEARSSL_WANT_SECURED == SMTPC_POSIX_LAYER_SECURED &&
			SMTPC_BEARSSL_WANT_HANDSHAKE == SMTPC_POSIX_LAYER_HANDSHAKE &&
			SMTPC_BEARSSL_WANT_CLOSED == SMTPC_POSIX_LAYER_CLOSED)
			   ? 1
			   : -1];

static void say(char *why, size_t n, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || n == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, n, fmt, ap);
	va_end(ap);
}

/* ---- the operating system --------------------------------------------------------- */

int smtpc_posix_entropy(void *buf, size_t len)
{
	unsigned char *p = buf;
	int fd;

#ifdef HAVE_GETRANDOM
	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* ENOSYS on an old kernel: /dev/urandom below */
		p += n;
		len -= (size_t)n;
	}
	if (len == 0)
		return 0;
#endif
	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (len > 0) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	close(fd);
	return 0;
}

/* The whole file, NUL-terminated, in *len octets; NULL (errno set) on
 * failure. */
static unsigned char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *p = NULL;
	size_t cap = 0, n = 0;

	if (f == NULL)
		return NULL;
	for (;;) {
		size_t got;
		if (n + 1 >= cap) {
			unsigned char *np;
			cap = cap ? cap * 2 : 65536;
			np = realloc(p, cap);
			if (np == NULL) {
				free(p);
				fclose(f);
				errno = ENOMEM;
				return NULL;
			}
			p = np;
		}
		got = fread(p + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		free(p);
		fclose(f);
		errno = EIO;
		return NULL;
	}
	fclose(f);
	p[n] = '\0';
	*len = n;
	return p;
}

/* ---- shared state ------------------------------------------------------------------ */

static int load_anchors(smtpc_posix_tls *x, const char *path, char *why, size_t n)
{
	size_t len;
	unsigned char *data = read_file(path, &len);
	smtpc_bearssl_err e;

	if (data == NULL) {
		say(why, n, "cannot read the CA file %s: %s", path, strerror(errno));
		return -1;
	}
	smtpc_bearssl_anchors_init(&x->anchors, NULL, 0);
	e = smtpc_bearssl_anchors_add(&x->anchors, data, len);
	if (e == SMTPC_BEARSSL_ERR_OK) {
		x->mem = malloc(x->anchors.need);
		if (x->mem == NULL) {
			free(data);
			say(why, n, "out of memory");
			return -1;
		}
		smtpc_bearssl_anchors_init(&x->anchors, x->mem, x->anchors.need);
		e = smtpc_bearssl_anchors_add(&x->anchors, data, len);
	}
	free(data);
	if (e != SMTPC_BEARSSL_ERR_OK) {
		say(why, n, "the CA file %s: %s", path, smtpc_bearssl_strerror(e));
		return -1;
	}
	if (x->anchors.n == 0) {
		say(why, n, "no usable certificate in the CA file %s", path);
		return -1;
	}
	return 0;
}

/* Adds each file to the credentials (mem NULL: measuring). */
static smtpc_bearssl_err add_files(smtpc_bearssl_creds *c, unsigned char *const data[2],
				   const size_t len[2])
{
	smtpc_bearssl_err e = SMTPC_BEARSSL_ERR_OK;
	int i;

	for (i = 0; i < 2 && e == SMTPC_BEARSSL_ERR_OK; i++) {
		if (data[i] != NULL)
			e = smtpc_bearssl_creds_add(c, data[i], len[i]);
	}
	return e;
}

static int load_creds(smtpc_posix_tls *x, void **mem, const char *cert, const char *key, char *why,
		      size_t n)
{
	unsigned char *data[2] = {NULL, NULL};
	size_t len[2] = {0, 0};
	const char *path[2];
	smtpc_bearssl_err e;
	int i, rc = -1;

	path[0] = cert;
	path[1] = key;
	for (i = 0; i < 2; i++) {
		if (path[i] == NULL)
			continue;
		data[i] = read_file(path[i], &len[i]);
		if (data[i] == NULL) {
			say(why, n, "cannot read %s: %s", path[i], strerror(errno));
			goto out;
		}
	}
	smtpc_bearssl_creds_init(&x->creds, NULL, 0);
	e = add_files(&x->creds, data, len);
	if (e == SMTPC_BEARSSL_ERR_OK) {
		*mem = malloc(x->creds.need);
		if (*mem == NULL) {
			say(why, n, "out of memory");
			goto out;
		}
		smtpc_bearssl_creds_init(&x->creds, *mem, x->creds.need);
		e = add_files(&x->creds, data, len);
	}
	if (e != SMTPC_BEARSSL_ERR_OK)
		say(why, n, "%s: %s", key != NULL && e != SMTPC_BEARSSL_ERR_BAD_CERT ? key : cert,
		    smtpc_bearssl_strerror(e));
	else if (x->creds.n == 0)
		say(why, n, "no certificate in %s", cert);
	else if (x->creds.key_type == 0)
		say(why, n, "no private key in %s", key != NULL ? key : cert);
	else if (x->creds.key_type != x->creds.leaf_key_type)
		say(why, n, "%s", smtpc_bearssl_strerror(SMTPC_BEARSSL_ERR_KEY_MISMATCH));
	else
		rc = 0;
out:
	free(data[0]);
	free(data[1]);
	return rc;
}

smtpc_posix_tls *smtpc_posix_tls_new(const smtpc_posix_tls_opts *o, char *why, size_t why_len)
{
	smtpc_posix_tls *x;
	int rc = 0;

	say(why, why_len, "%s", "");
	if (o == NULL) {
		say(why, why_len, "no options");
		return NULL;
	}
	if (o->bufsize != 0 && o->bufsize < SMTPC_BEARSSL_BUF_MIN) {
		say(why, why_len, "a TLS buffer needs at least %d octets", SMTPC_BEARSSL_BUF_MIN);
		return NULL;
	}
	x = calloc(1, sizeof *x);
	if (x == NULL) {
		say(why, why_len, "out of memory");
		return NULL;
	}
	x->bufsize = o->bufsize ? o->bufsize : SMTPC_BEARSSL_BUF_BIDI;
	x->insecure = o->insecure;
	if (o->cert_file != NULL) {
		x->server = 1;
		rc = load_creds(x, &x->mem, o->cert_file, o->key_file, why, why_len);
	} else {
		if (!o->insecure)
			rc = load_anchors(x,
					  o->cafile != NULL ? o->cafile : SMTPC_POSIX_TLS_SYSTEM_CA,
					  why, why_len);
		if (rc == 0 && o->client_cert_file != NULL) {
			x->client_cert = 1;
			rc = load_creds(x, &x->cmem, o->client_cert_file, o->client_key_file, why,
					why_len);
		}
	}
	if (rc != 0) {
		smtpc_posix_tls_free(x);
		return NULL;
	}
	return x;
}

void smtpc_posix_tls_free(smtpc_posix_tls *x)
{
	if (x == NULL)
		return;
	free(x->mem);
	free(x->cmem);
	free(x);
}

size_t smtpc_posix_tls_anchors(const smtpc_posix_tls *x)
{
	return x != NULL && !x->server ? x->anchors.n : 0;
}

/* ---- one connection's layer ---------------------------------------------------------- */

static struct conn_layer *alloc_layer(const smtpc_posix_tls *x)
{
	return malloc(offsetof(struct conn_layer, buf) + x->bufsize);
}

/* Entropy and time from the system. */
static int seed(smtpc_bearssl *t, char *why, size_t n)
{
	unsigned char rnd[32];

	if (smtpc_posix_entropy(rnd, sizeof rnd) != 0) {
		say(why, n, "no entropy from the operating system: %s", strerror(errno));
		return -1;
	}
	smtpc_bearssl_entropy(t, rnd, sizeof rnd);
	memset(rnd, 0, sizeof rnd);
	smtpc_bearssl_set_time(t, (uint64_t)time(NULL));
	return 0;
}

smtpc_bearssl *smtpc_posix_tls_client(const smtpc_posix_tls *x, smtpc_conn *core, const char *name,
				      int starttls, char *why, size_t why_len)
{
	struct conn_layer *l;
	smtpc_bearssl_client_opts o;
	smtpc_bearssl_err e;

	if (x == NULL || core == NULL || x->server) {
		say(why, why_len, "not a TLS client setup");
		return NULL;
	}
	l = alloc_layer(x);
	if (l == NULL) {
		say(why, why_len, "out of memory");
		return NULL;
	}
	memset(&o, 0, sizeof o);
	o.anchors = x->insecure ? NULL : &x->anchors;
	if (name != NULL) {
		if (strlen(name) >= sizeof l->name) {
			say(why, why_len, "%s", smtpc_bearssl_strerror(SMTPC_BEARSSL_ERR_BAD_NAME));
			free(l);
			return NULL;
		}
		memcpy(l->name, name, strlen(name) + 1);
		o.name = l->name;
	}
	o.insecure = x->insecure;
	o.starttls = starttls;
	o.creds = x->client_cert ? &x->creds : NULL;
	e = smtpc_bearssl_client_init(&l->t, core, &o, l->buf, x->bufsize);
	if (e != SMTPC_BEARSSL_ERR_OK) {
		say(why, why_len, "%s", smtpc_bearssl_strerror(e));
		free(l);
		return NULL;
	}
	if (seed(&l->t, why, why_len) != 0) {
		free(l);
		return NULL;
	}
	return &l->t;
}

smtpc_bearssl *smtpc_posix_tls_server(const smtpc_posix_tls *x, smtpc_conn *core, int starttls,
				      char *why, size_t why_len)
{
	struct conn_layer *l;
	smtpc_bearssl_err e;

	if (x == NULL || core == NULL || !x->server) {
		say(why, why_len, "not a TLS server setup");
		return NULL;
	}
	l = alloc_layer(x);
	if (l == NULL) {
		say(why, why_len, "out of memory");
		return NULL;
	}
	e = smtpc_bearssl_server_init(&l->t, core, &x->creds, starttls, l->buf, x->bufsize);
	if (e != SMTPC_BEARSSL_ERR_OK) {
		say(why, why_len, "%s", smtpc_bearssl_strerror(e));
		free(l);
		return NULL;
	}
	if (seed(&l->t, why, why_len) != 0) {
		free(l);
		return NULL;
	}
	return &l->t;
}

void smtpc_posix_tls_release(smtpc_bearssl *t)
{
	free(t); /* the conn_layer starts with it */
}

/* ---- as a posix layer ------------------------------------------------------------------ */

static unsigned char *l_recv_buf(void *ctx, size_t *len)
{
	return smtpc_bearssl_recv_buf(ctx, len);
}

static void l_recv_ack(void *ctx, size_t n)
{
	smtpc_bearssl_recv_ack(ctx, n);
}

static const unsigned char *l_send_buf(const void *ctx, size_t *len)
{
	return smtpc_bearssl_send_buf(ctx, len);
}

static void l_send_ack(void *ctx, size_t n)
{
	smtpc_bearssl_send_ack(ctx, n);
}

static void l_eof(void *ctx)
{
	smtpc_bearssl_eof(ctx);
}

static unsigned l_pump(void *ctx)
{
	return smtpc_bearssl_pump(ctx);
}

static unsigned l_want(const void *ctx)
{
	return smtpc_bearssl_want(ctx);
}

static int l_take_secured(void *ctx)
{
	return smtpc_bearssl_take_secured(ctx);
}

static size_t l_body_write(void *ctx, const void *data, size_t len)
{
	return smtpc_bearssl_body_write(ctx, data, len);
}

static void l_close(void *ctx)
{
	smtpc_bearssl_close(ctx);
}

static const char *l_why(const void *ctx)
{
	smtpc_bearssl_err e = smtpc_bearssl_error(ctx);

	return e == SMTPC_BEARSSL_ERR_OK ? NULL : smtpc_bearssl_strerror(e);
}

static void l_destroy(void *ctx)
{
	smtpc_posix_tls_release(ctx);
}

void smtpc_posix_tls_layer(smtpc_posix_layer *l, smtpc_bearssl *t, int owned)
{
	if (l == NULL)
		return;
	l->ctx = t;
	l->recv_buf = l_recv_buf;
	l->recv_ack = l_recv_ack;
	l->send_buf = l_send_buf;
	l->send_ack = l_send_ack;
	l->eof = l_eof;
	l->pump = l_pump;
	l->want = l_want;
	l->take_secured = l_take_secured;
	l->body_write = l_body_write;
	l->close = l_close;
	l->why = l_why;
	l->destroy = owned ? l_destroy : NULL;
}

smtpc_err smtpc_posix_use_tls(smtpc_posix *p, const smtpc_posix_tls *x, const char *name,
			      int starttls, char *why, size_t why_len)
{
	smtpc_posix_layer l;
	smtpc_bearssl *t;
	smtpc_err e;

	if (p == NULL || x == NULL)
		return SMTPC_ERR_NULL_ARG;
	t = smtpc_posix_tls_client(x, smtpc_posix_core(p), name, starttls, why, why_len);
	if (t == NULL)
		return SMTPC_ERR_TLS;
	smtpc_posix_tls_layer(&l, t, 1);
	e = smtpc_posix_set_layer(p, &l);
	if (e != SMTPC_ERR_OK) {
		say(why, why_len, "%s", smtpc_err_desc(e));
		smtpc_posix_tls_release(t);
	}
	return e;
}

int smtpc_posix_tls_server_factory(void *ctx, smtpc_conn *core, smtpc_posix_layer *l)
{
	smtpc_bearssl *t;

	if (ctx == NULL || core == NULL || l == NULL)
		return -1;
	t = smtpc_posix_tls_server(ctx, core, 1, NULL, 0);
	if (t == NULL)
		return -1;
	smtpc_posix_tls_layer(l, t, 1);
	return 0;
}
