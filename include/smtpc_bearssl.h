/*
 * smtpc_bearssl.h - TLS for the POSIX adapter through BearSSL.
 *
 * CONVENTIONS
 *
 * A smtpc_bearssl object is one TLS client: BearSSL's client engine, its
 * buffers and the trust anchors, allocated once by smtpc_bearssl_new. It is
 * used through the transport it exposes (smtpc_bearssl_transport), either
 * for implicit TLS (smtpc_posix_set_transport before connecting, RFC 8314)
 * or for STARTTLS (smtpc_posix_starttls after the 220, RFC 3207). It is built
 * on the public APIs of smtpc.h, smtpc_posix.h and BearSSL's engine only.
 *
 * Verification is on by default: the chain must end at a trust anchor from
 * the CA file (the system bundle unless another file is named), the
 * certificate must be valid now, and the server name is always sent (SNI)
 * and always checked against the certificate. Only `insecure` turns the
 * checks off. BearSSL speaks TLS 1.0 to 1.2; it has no TLS 1.3. Name checks
 * match DNS names: connect by name, not by IP address.
 *
 * Bare metal: BearSSL needs entropy and the time. On POSIX systems it seeds
 * itself from the operating system and reads the system clock. Elsewhere,
 * call smtpc_bearssl_inject_entropy (at least 32 octets from a true random
 * source) and smtpc_bearssl_set_time before the handshake.
 */
#ifndef SMTPC_BEARSSL_H
#define SMTPC_BEARSSL_H

#include <stdint.h>

#include "smtpc_posix.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SMTPC_BEARSSL_SYSTEM_CA "/etc/ssl/certs/ca-certificates.crt"

typedef struct smtpc_bearssl_opts {
	const char *cafile;      /* PEM trust anchors; NULL: SMTPC_BEARSSL_SYSTEM_CA */
	const char *server_name; /* sent as SNI and checked; required */
	int insecure;            /* nonzero: accept any certificate (tests only) */
} smtpc_bearssl_opts;

typedef struct smtpc_bearssl smtpc_bearssl;

/* Loads the trust anchors and prepares a client. On failure returns NULL
 * and, when why is not NULL, a description of the cause. */
smtpc_bearssl *smtpc_bearssl_new(const smtpc_bearssl_opts *opts, const char **why);
void smtpc_bearssl_free(smtpc_bearssl *t);

/* The transport to give smtpc_posix_set_transport or smtpc_posix_starttls.
 * Valid as long as t. */
const smtpc_posix_transport *smtpc_bearssl_transport(smtpc_bearssl *t);

/* Trust anchors loaded. */
size_t smtpc_bearssl_anchors(const smtpc_bearssl *t);

/* BearSSL's error code for the failure (0 if none), and a description that
 * names the cause: untrusted chain, wrong host name, expired, handshake
 * failure, protocol version. */
int smtpc_bearssl_last_error(const smtpc_bearssl *t);
const char *smtpc_bearssl_strerror(int err);

/* HMAC-MD5 for AUTH CRAM-MD5: give it to smtpc_set_hmac_md5 (ctx unused). */
int smtpc_bearssl_hmac_md5(void *ctx, const unsigned char *key, size_t key_len,
                           const unsigned char *msg, size_t msg_len, unsigned char out[16]);

/*
 * Server side (for a server built on the core's server role, like smtpc
 * sink): the certificate chain and RSA key are loaded once, from PEM files;
 * each accepted STARTTLS gets its own engine. The transport is used as on
 * the client side: io, events, read, write, ready.
 */
typedef struct smtpc_bearssl_server smtpc_bearssl_server;
typedef struct smtpc_bearssl_conn smtpc_bearssl_conn;
smtpc_bearssl_server *smtpc_bearssl_server_new(const char *cert_file, const char *key_file,
                                               const char **why);
void smtpc_bearssl_server_free(smtpc_bearssl_server *s);
smtpc_bearssl_conn *smtpc_bearssl_accept(const smtpc_bearssl_server *s);
const smtpc_posix_transport *smtpc_bearssl_conn_transport(smtpc_bearssl_conn *t);
int smtpc_bearssl_conn_error(const smtpc_bearssl_conn *t);
void smtpc_bearssl_conn_free(smtpc_bearssl_conn *t);

/* Bare metal hooks (see above). days: since 1 January of year 0; seconds:
 * since midnight. */
void smtpc_bearssl_inject_entropy(smtpc_bearssl *t, const void *data, size_t len);
void smtpc_bearssl_set_time(smtpc_bearssl *t, uint32_t days, uint32_t seconds);

#ifdef __cplusplus
}
#endif

#endif /* SMTPC_BEARSSL_H */
