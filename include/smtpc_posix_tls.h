/*
 * smtpc_posix_tls.h - TLS for io-posix: the io-bearssl layer with what the
 * operating system gives (files, randomness, the clock). In
 * libsmtpc-bearssl, with io-bearssl; links -lbearssl.
 *
 * CONVENTIONS
 *
 * A smtpc_posix_tls holds what every connection shares: the trust anchors
 * read from a CA file (client), or a certificate chain and key read from
 * PEM files (server). Make it once (smtpc_posix_tls_new), keep it while any
 * connection made from it is in use, free it last.
 *
 * Each connection gets its own layer: smtpc_posix_use_tls installs one on a
 * smtpc_posix client (freed with it); smtpc_posix_tls_client and
 * smtpc_posix_tls_server make one for a core driven by the caller's own
 * loop (free it with smtpc_posix_tls_release). Each is allocated once with
 * its BearSSL buffer, seeded with 32 octets from getrandom(2) (or
 * /dev/urandom) and given the time from the system clock.
 *
 * Errors are described in the caller's buffer why[0, why_len) (may be NULL
 * or 0), NUL-terminated and truncated to fit.
 */
#ifndef SMTPC_POSIX_TLS_H
#define SMTPC_POSIX_TLS_H

#include <stddef.h>

#include "smtpc_bearssl.h"
#include "smtpc_posix.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SMTPC_POSIX_TLS_SYSTEM_CA "/etc/ssl/certs/ca-certificates.crt"

typedef struct smtpc_posix_tls_opts {
	/* Client: trust anchors, PEM (a bundle) or DER; NULL:
	 * SMTPC_POSIX_TLS_SYSTEM_CA. Not read when insecure. */
	const char *cafile;
	/* Client: accept any certificate. Never the default. */
	int insecure;
	/* Server: the certificate chain (PEM, leaf first) and its RSA or EC
	 * private key (PEM or DER; NULL: in cert_file too). */
	const char *cert_file, *key_file;
	/* Each connection's BearSSL buffer; 0: SMTPC_BEARSSL_BUF_BIDI. At
	 * least SMTPC_BEARSSL_BUF_MIN (see smtpc_bearssl.h). */
	size_t bufsize;
	/* Client: a certificate chain (PEM, leaf first) and its RSA or EC
	 * private key (PEM or DER; NULL: in client_cert_file too) to present
	 * when the server asks for one. NULL (default): none. */
	const char *client_cert_file, *client_key_file;
} smtpc_posix_tls_opts;

typedef struct smtpc_posix_tls smtpc_posix_tls;

/* Reads the files of o (a client's when cert_file is NULL, a server's
 * otherwise; a client's certificate and key when client_cert_file is set). NULL with a reason on
 * failure: a file that cannot be read, malformed PEM, no usable certificate, no key, a key of
 * another type. */
smtpc_posix_tls *smtpc_posix_tls_new(const smtpc_posix_tls_opts *o, char *why, size_t why_len);
void smtpc_posix_tls_free(smtpc_posix_tls *x);
/* Trust anchors loaded (0 for a server or an insecure client). */
size_t smtpc_posix_tls_anchors(const smtpc_posix_tls *x);

/*
 * A client layer for core: name is the server's DNS name (verified, and
 * sent as SNI; copied); starttls selects STARTTLS mode over implicit TLS.
 * NULL with a reason on failure (no name, an IP address as the name unless
 * insecure, no memory). x and core must outlive the layer.
 */
smtpc_bearssl *smtpc_posix_tls_client(const smtpc_posix_tls *x, smtpc_conn *core, const char *name,
				      int starttls, char *why, size_t why_len);
/* A server layer for core (server role; STARTTLS allowed on it when
 * starttls is nonzero). */
smtpc_bearssl *smtpc_posix_tls_server(const smtpc_posix_tls *x, smtpc_conn *core, int starttls,
				      char *why, size_t why_len);
/* A smtpc_posix_layer_factory (smtpc_posix_server.h) for a server's
 * STARTTLS: ctx is a server setup (smtpc_posix_tls_new with cert_file),
 * which must outlive the server. Each call makes a STARTTLS-mode server
 * layer on core and fills *l with it, owned (released when the session
 * ends). 0, or -1 (no memory, no entropy, not a server setup). */
int smtpc_posix_tls_server_factory(void *ctx, smtpc_conn *core, smtpc_posix_layer *l);
/* Frees a layer made by the two functions above. */
void smtpc_posix_tls_release(smtpc_bearssl *t);

/* Fills *l with t's functions for smtpc_posix_set_layer; owned nonzero:
 * smtpc_posix_free releases t. */
void smtpc_posix_tls_layer(smtpc_posix_layer *l, smtpc_bearssl *t, int owned);

/* A client layer on p's core, installed on p and released with it (see
 * smtpc_posix_set_layer for when). SMTPC_ERR_OK, or SMTPC_ERR_TLS with a
 * reason, or smtpc_posix_set_layer's error. */
smtpc_err smtpc_posix_use_tls(smtpc_posix *p, const smtpc_posix_tls *x, const char *name,
			      int starttls, char *why, size_t why_len);

/* len octets from the operating system's random source; 0 on success. */
int smtpc_posix_entropy(void *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* SMTPC_POSIX_TLS_H */
