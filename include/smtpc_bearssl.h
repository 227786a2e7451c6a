/*
 * smtpc_bearssl.h - TLS for the smtpc core as a Sans-I/O layer on BearSSL.
 *
 * CONVENTIONS
 *
 * The layer sits between a transport and the core, and moves bytes only:
 *
 *     transport (socket, lwIP pcb, UART)          the core (smtpc_conn)
 *         records  <->  smtpc_bearssl  <->  plaintext
 *
 * On the transport side it has the core's own shape: smtpc_bearssl_recv_buf
 * / _recv_ack for what the transport read, smtpc_bearssl_send_buf / _send_ack
 * for what it must write, smtpc_bearssl_eof when the peer closed. On the core
 * side, smtpc_bearssl_pump moves plaintext between BearSSL's engine and the
 * core. The application still pulls the core's events with smtpc_next_event
 * and issues commands on the core; it loops on one mask, smtpc_bearssl_want,
 * whether TLS is running yet or not. BearSSL's engine (br_ssl_engine_*) is
 * the model, and the only thing the layer drives.
 *
 * Nothing here does I/O, reads a clock or an entropy source, or allocates:
 * the caller gives the layer object (a visible struct, so it can be static),
 * BearSSL's I/O buffer, the storage for trust anchors and credentials, the
 * time and the entropy. An adapter that owns an operating system (io-posix:
 * smtpc_posix_tls.h) reads files and randomness and passes them in.
 *
 * Memory. The caller owns every object and buffer handed over; each must
 * stay valid, and untouched, for as long as the object that received it is
 * used (the layer keeps pointers to the core, the I/O buffer, the anchors or
 * credentials, and the server name). A layer takes sizeof(smtpc_bearssl)
 * (7,080 octets on x86-64, 6,616 on a Cortex-M0) plus its I/O buffer:
 *   SMTPC_BEARSSL_BUF_BIDI  full duplex, 16 KiB records both ways;
 *   SMTPC_BEARSSL_BUF_MONO  half duplex, 16 KiB records;
 *   SMTPC_BEARSSL_BUF_MIN   half duplex with 512-octet records, the smallest
 *                           supported: the client asks for them with the
 *                           maximum fragment length extension (RFC 6066 4),
 *                           so the server must support it. For a 16 KiB-RAM
 *                           target. A server layer needs at least
 *                           SMTPC_BEARSSL_BUF_MONO unless its clients ask.
 * A buffer of SMTPC_BEARSSL_BUF_BIDI octets or more runs full duplex; a
 * smaller one half duplex, its record size the largest power of two that
 * fits (at least 512).
 *
 * Roles. One layer type for both: smtpc_bearssl_client_init (implicit TLS,
 * RFC 8314, or STARTTLS, RFC 3207) and smtpc_bearssl_server_init (a
 * certificate chain and an RSA or EC key). TLS 1.2 only: RFC 8996 retired
 * 1.0 and 1.1, and BearSSL has no 1.3. A server refuses renegotiation (a
 * client could make it sign again and again; it gets a no_renegotiation
 * alert); a client goes along with one its server asks for (RFC 5746, the
 * new certificate checked as the first).
 *
 * Verification (client) is on by default: the chain must end at one of the
 * trust anchors, every certificate must be valid at the time the caller
 * gave, the server's certificate must carry the expected DNS name, and its
 * extended key usage, when present, must allow serverAuth (RFC 5280
 * 4.2.1.12). Only `insecure` turns the checks off. The name is sent as SNI
 * and verified without a final dot ("mail.example.com." is
 * "mail.example.com"), and not sent at all when it is an IP literal, which
 * RFC 6066 3 forbids; an IP literal cannot
 * be verified either (BearSSL matches DNS names), so it is refused unless
 * insecure.
 *
 * Time and entropy come from the caller: smtpc_bearssl_entropy (at least 32
 * octets from a true random source) and smtpc_bearssl_set_time. The
 * handshake refuses to start without entropy, and a verifying client
 * without the time (SMTPC_BEARSSL_ERR_NO_ENTROPY, _NO_TIME).
 *
 * STARTTLS. In STARTTLS mode the layer passes bytes through unchanged until
 * the core pauses after the 220 reply (SMTPC_EV_STARTTLS has been pulled,
 * SMTPC_WANT_TLS) and the core has nothing left to send (the server's 220
 * goes out in clear); then pump starts the handshake. When the handshake
 * completes, pump calls smtpc_tls_started on the core itself (implicit TLS:
 * smtpc_set_secure), and the want mask shows SMTPC_BEARSSL_WANT_SECURED until
 * smtpc_bearssl_take_secured is called: the client then sends EHLO again.
 * The first octets the peer sends once TLS has begun must be a TLS record;
 * anything else is named: plaintext after STARTTLS's 220
 * (SMTPC_BEARSSL_ERR_INJECTION, CVE-2011-0411; the core itself refuses what
 * came with the 220) or, with implicit TLS, a peer that does not speak TLS
 * (SMTPC_BEARSSL_ERR_NOT_TLS: an SMTP greeting, say).
 *
 * Errors are sticky and named (smtpc_bearssl_error, smtpc_bearssl_strerror).
 * A 220 to a STARTTLS sent once TLS is up (nothing could resume the core)
 * is SMTPC_BEARSSL_ERR_STATE. A failing layer also fails the core:
 * SMTPC_ERR_STARTTLS_INJECTION for plaintext after the 220, SMTPC_ERR_TLS
 * for anything else. A TCP close
 * without close_notify once TLS is up is end of input for the core (SMTP's
 * own replies tell whether anything was lost); during the handshake it is
 * an error. The layer sends close_notify when the core is finished or on
 * smtpc_bearssl_close.
 *
 * One copy. smtpc_bearssl_body_write encodes message data straight into
 * BearSSL's record buffer (smtpc_body_write_to) when it can, instead of into
 * the core's transmit buffer and from there into BearSSL's.
 *
 * Threads: one thread at a time per layer; layers share nothing.
 */
#ifndef SMTPC_BEARSSL_H
#define SMTPC_BEARSSL_H

#include <stddef.h>
#include <stdint.h>

#include <bearssl.h>

#include "smtpc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors ------------------------------------------------------------------------- */

/* X(name, description): the layer's errors, one table. */
#define SMTPC_BEARSSL_ERRORS(X)                                                                    \
	X(OK, "no error")                                                                          \
	X(NULL_ARG, "a required pointer argument is NULL")                                         \
	X(BUFFER_SMALL, "the I/O buffer is smaller than SMTPC_BEARSSL_BUF_MIN")                    \
	X(STATE, "not allowed in the layer's current state")                                       \
	X(NO_NAME, "no server name to verify the certificate against")                             \
	X(BAD_NAME, "the server name is not a DNS name")                                           \
	X(IP_NAME, "an IP address cannot be verified against a certificate: "                      \
		   "give the server's DNS name")                                                   \
	X(NO_ANCHORS, "no trust anchors to verify the certificate with")                           \
	X(NO_CERT, "no certificate for the server")                                                \
	X(NO_KEY, "no private key for the server")                                                 \
	X(KEY_MISMATCH, "the private key is not of the certificate's key type")                    \
	X(KEY_TWICE, "more than one private key")                                                  \
	X(BAD_PEM, "malformed PEM")                                                                \
	X(BAD_CERT, "a certificate could not be decoded")                                          \
	X(BAD_KEY, "a private key could not be decoded (RSA or EC only)")                          \
	X(NO_SPACE, "the storage is too small (see its `need`)")                                   \
	X(NO_ENTROPY, "no entropy: the handshake needs at least 32 random octets")                 \
	X(NO_TIME, "no time to check the certificate against")                                     \
	X(NOT_TLS, "the peer is not speaking TLS (its first octets are not a TLS record)")         \
	X(INJECTION, "plaintext received after the 220 reply to STARTTLS")                         \
	X(UNTRUSTED, "certificate chain not trusted (unknown CA)")                                 \
	X(WRONG_NAME, "certificate does not match the server name")                                \
	X(EXPIRED, "certificate expired")                                                          \
	X(NOT_YET_VALID, "certificate not yet valid")                                              \
	X(NOT_SERVER, "certificate not for a TLS server "                                          \
		      "(its extended key usage lacks serverAuth)")                                 \
	X(KEY_USAGE, "the certificate's key usage does not allow this use of its key "             \
		     "(RFC 5280 4.2.1.3)")                                                         \
	X(BAD_CHAIN, "certificate rejected")                                                       \
	X(VERSION, "protocol version not supported: TLS 1.2 only here "                            \
		   "(RFC 8996; BearSSL has no TLS 1.3)")                                           \
	X(PEER_ALERT, "the peer refused the handshake (fatal alert)")                              \
	X(HANDSHAKE, "TLS handshake failure")                                                      \
	X(CLOSED_IN_HANDSHAKE, "connection closed during the TLS handshake")                       \
	X(BAD_RECORD, "malformed or forged TLS record")                                            \
	X(ROLE, "the core connection is not of the layer's role "                                  \
		"(client layer: smtpc_init; server layer: smtpc_server_init)")

typedef enum smtpc_bearssl_err {
#define SMTPC_BEARSSL_X_ENUM(name, desc) SMTPC_BEARSSL_ERR_##name,
	SMTPC_BEARSSL_ERRORS(SMTPC_BEARSSL_X_ENUM)
#undef SMTPC_BEARSSL_X_ENUM
	    SMTPC_BEARSSL_ERR__COUNT
} smtpc_bearssl_err;

/* "SMTPC_BEARSSL_ERR_EXPIRED"; "SMTPC_BEARSSL_ERR_?" if unknown. */
const char *smtpc_bearssl_err_name(smtpc_bearssl_err e);
/* One-line English description; never NULL. */
const char *smtpc_bearssl_strerror(smtpc_bearssl_err e);

/* ---- sizes ----------------------------------------------------------------------------- */

#define SMTPC_BEARSSL_BUF_BIDI BR_SSL_BUFSIZE_BIDI /* 33178 */
#define SMTPC_BEARSSL_BUF_MONO BR_SSL_BUFSIZE_MONO /* 16709 */
#define SMTPC_BEARSSL_BUF_MIN  (512 + 325)	   /* 837: 512-octet records */

/* ---- storage --------------------------------------------------------------------------------- */

/* Private: the caller's storage for anchors or credentials. Octets grow up
 * from the bottom, the table down from the top; `full` once something did
 * not fit (then everything after it is only measured). */
typedef struct smtpc_bearssl_store {
	unsigned char *mem;
	size_t size, lo, hi;
	int full;
} smtpc_bearssl_store;

/* ---- trust anchors (client) -------------------------------------------------------------- */

/*
 * Trust anchors decoded from memory into storage the caller gives. Each
 * anchor keeps the certificate's subject DN and public key (about a third of
 * the certificate); the anchor table grows down from the top of the storage,
 * their octets up from the bottom. Storage NULL measures only: `need` then
 * tells how much to give (an upper bound that includes alignment).
 */
typedef struct smtpc_bearssl_anchors {
	const br_x509_trust_anchor *ta; /* the anchors (n of them), in the storage */
	size_t n;
	size_t need;		   /* storage octets everything added so far needs */
	size_t skipped;		   /* certificates that could not be decoded (not added) */
	smtpc_bearssl_store store; /* private */
} smtpc_bearssl_anchors;

/* Prepares an empty set in mem[0, size) (mem NULL: measure only). */
void smtpc_bearssl_anchors_init(smtpc_bearssl_anchors *a, void *mem, size_t size);
/*
 * Adds the certificates in data: PEM (every CERTIFICATE, X509 CERTIFICATE
 * or TRUSTED CERTIFICATE object; other objects are passed over) or one DER
 * certificate. A CA certificate becomes a CA anchor; any other is trusted
 * as it is. A certificate that does not decode is counted in `skipped`
 * (a system bundle may hold kinds BearSSL does not know). data is read
 * during the call only.
 * Returns SMTPC_BEARSSL_ERR_OK, _BAD_PEM (nothing after the fault is
 * added), _NO_SPACE (the anchors that fitted are kept; `need` counts them
 * all: init with that much and add again), _NULL_ARG. Uses about 2 KiB of
 * stack (BearSSL's PEM and X.509 decoders).
 */
smtpc_bearssl_err smtpc_bearssl_anchors_add(smtpc_bearssl_anchors *a, const void *data, size_t len);

/* ---- credentials (server) ------------------------------------------------------------------ */

/*
 * A server's certificate chain and private key, decoded from memory into
 * storage the caller gives (DER certificates and key components kept).
 * Storage NULL measures only, as for anchors.
 */
typedef struct smtpc_bearssl_creds {
	const br_x509_certificate *chain; /* leaf first, n of them */
	size_t n;
	int key_type;		/* BR_KEYTYPE_RSA or BR_KEYTYPE_EC once a key is in; else 0 */
	br_rsa_private_key rsa; /* when key_type is BR_KEYTYPE_RSA */
	br_ec_private_key ec;	/* when key_type is BR_KEYTYPE_EC */
	size_t need;		/* storage octets everything added so far needs */
	/* private */
	int leaf_key_type, issuer_key_type;
	smtpc_bearssl_store store;
} smtpc_bearssl_creds;

void smtpc_bearssl_creds_init(smtpc_bearssl_creds *c, void *mem, size_t size);
/*
 * Adds what data holds: PEM (CERTIFICATE objects are appended to the chain
 * in the order met, the leaf first; a private key object, PKCS#1 "RSA
 * PRIVATE KEY", SEC 1 "EC PRIVATE KEY" or PKCS#8 "PRIVATE KEY", is the key)
 * or one DER certificate or key. Call it for the chain file and the key
 * file, or once for a file that holds both. data is read during the call
 * only. Returns SMTPC_BEARSSL_ERR_OK, _BAD_PEM, _BAD_CERT, _BAD_KEY,
 * _KEY_TWICE, _NO_SPACE (as for anchors), _NULL_ARG. Uses about 4 KiB of
 * stack (BearSSL's decoders).
 */
smtpc_bearssl_err smtpc_bearssl_creds_add(smtpc_bearssl_creds *c, const void *data, size_t len);

/* ---- the layer ------------------------------------------------------------------------------- */

/* Private: the checks wrapped around BearSSL's X.509 engine (a DER walker
 * for validity dates and extended key usage). */
typedef struct smtpc_bearssl_check {
	const br_x509_class *vtable; /* first: BearSSL calls through it */
	uint32_t pos, len, end[8];
	unsigned char kind[8], nchild[8];
	unsigned char depth, hstate, tag, nlen, act, ncap;
	unsigned char cap[16];
	unsigned char bad, version, eku_ext, eku_seen, eku_server, eku_failed, certs;
	unsigned char early, late, got_key, trailing;
} smtpc_bearssl_check;

/* All fields private. */
typedef struct smtpc_bearssl {
	union {
		struct {
			br_ssl_client_context cc;
			union {
				br_x509_minimal_context minimal;
				br_x509_decoder_context any; /* insecure: the server's key only */
			} x;
			smtpc_bearssl_check check;
		} client;
		br_ssl_server_context server;
	} u;
	br_ssl_engine_context *eng;
	smtpc_conn *core;
	const char *name;
	const smtpc_bearssl_creds *creds;
	unsigned char *buf;
	size_t buf_len, entropy;
	uint32_t days, seconds;
	unsigned role, phase, flags, nfirst;
	smtpc_bearssl_err err;
	int br_err;
} smtpc_bearssl;

typedef struct smtpc_bearssl_client_opts {
	/* Trust anchors; must stay valid while the layer is used. NULL only
	 * with insecure. */
	const smtpc_bearssl_anchors *anchors;
	/* The server's DNS name: verified against its certificate and sent as
	 * SNI. Kept by pointer. Required unless insecure; an IP literal is
	 * refused unless insecure (then nothing is sent or checked). */
	const char *name;
	/* Nonzero: accept any certificate (no chain, name, date or usage
	 * check). Never the default. */
	int insecure;
	/* Nonzero: STARTTLS (plaintext until the core's pause after the 220);
	 * zero: implicit TLS from the first octet (RFC 8314). */
	int starttls;
	/* A client certificate chain and its key (RSA or EC), presented when
	 * the server asks for one; kept by pointer, must stay valid while the
	 * layer is used. NULL (default): none. */
	const smtpc_bearssl_creds *creds;
} smtpc_bearssl_client_opts;

/*
 * A client layer for core (a connection in the client role, set up with
 * smtpc_init), with BearSSL's I/O buffer buf[0, len) (see the sizes above).
 * Returns SMTPC_BEARSSL_ERR_OK, or _NULL_ARG, _ROLE (core is not a client),
 * _BUFFER_SMALL, _NO_NAME,
 * _BAD_NAME, _IP_NAME, _NO_ANCHORS, and for o->creds _NO_CERT, _NO_KEY,
 * _KEY_MISMATCH (the layer is then unusable). Give it
 * entropy, and the time when verifying, before the handshake starts.
 */
smtpc_bearssl_err smtpc_bearssl_client_init(smtpc_bearssl *t, smtpc_conn *core,
					    const smtpc_bearssl_client_opts *o, void *buf,
					    size_t len);
/*
 * A server layer for core (a connection in the server role, set up with
 * smtpc_server_init; allow STARTTLS on it in STARTTLS mode) with the
 * credentials creds (kept by pointer) and the I/O buffer buf[0, len).
 * starttls nonzero: plaintext until the core's pause after its 220.
 * Returns SMTPC_BEARSSL_ERR_OK, _NULL_ARG, _ROLE (core is not a server),
 * _BUFFER_SMALL, _NO_CERT,
 * _NO_KEY, _KEY_MISMATCH.
 */
smtpc_bearssl_err smtpc_bearssl_server_init(smtpc_bearssl *t, smtpc_conn *core,
					    const smtpc_bearssl_creds *creds, int starttls,
					    void *buf, size_t len);

/* Entropy for the handshake's randomness: at least 32 octets in all from a
 * true random source, after init and before the handshake. data is read
 * during the call only. */
void smtpc_bearssl_entropy(smtpc_bearssl *t, const void *data, size_t len);
/* The current time, to check certificates against: seconds since
 * 1970-01-01 00:00:00 UTC. After init, before the handshake. */
void smtpc_bearssl_set_time(smtpc_bearssl *t, uint64_t unix_seconds);

/* --- the transport side ------------------------------------------------------------------------
 */

/*
 * Where to put octets read from the transport (NULL and *len 0 when the
 * layer wants none now), then smtpc_bearssl_recv_ack with the count written
 * (at most *len). Before TLS starts (STARTTLS mode) this is the core's own
 * receive buffer. The pointer is good until the next call on the layer or
 * its core: read, then acknowledge, with nothing in between. A transport
 * whose reads complete later (DMA, completion queues) reads into its own
 * buffer and copies. Octets acknowledged into a buffer handed out before
 * the handshake began (pump started it meanwhile) fail the layer with
 * SMTPC_BEARSSL_ERR_STATE. */
unsigned char *smtpc_bearssl_recv_buf(smtpc_bearssl *t, size_t *len);
void smtpc_bearssl_recv_ack(smtpc_bearssl *t, size_t n);
/* Octets to write to the transport (NULL and *len 0 when none), then
 * smtpc_bearssl_send_ack with the count written. */
const unsigned char *smtpc_bearssl_send_buf(const smtpc_bearssl *t, size_t *len);
void smtpc_bearssl_send_ack(smtpc_bearssl *t, size_t n);
/* The transport reached end of input: the peer closed. */
void smtpc_bearssl_eof(smtpc_bearssl *t);

/* --- the core side ---------------------------------------------------------------------------- */

/* Bits of smtpc_bearssl_want. */
#define SMTPC_BEARSSL_WANT_READ	     (1u << 0) /* recv_buf has room: read the transport */
#define SMTPC_BEARSSL_WANT_WRITE     (1u << 1) /* send_buf has octets: write them */
#define SMTPC_BEARSSL_WANT_EVENT     (1u << 2) /* the core has events: smtpc_next_event */
#define SMTPC_BEARSSL_WANT_PUMP	     (1u << 3) /* smtpc_bearssl_pump can move something */
#define SMTPC_BEARSSL_WANT_SECURED   (1u << 4) /* the handshake completed: take_secured */
#define SMTPC_BEARSSL_WANT_HANDSHAKE (1u << 5) /* a handshake is under way (for timeouts) */
#define SMTPC_BEARSSL_WANT_CLOSED                                                                  \
	(1u << 6) /* finished: nothing more will be sent                                           \
		     once WRITE is clear; close the transport */

/*
 * Moves plaintext between the engine and the core as far as it can: records
 * decrypted into the core (smtpc_feed), the core's bytes into records, end
 * of TLS to the core (smtpc_eof); starts the handshake when it is due, and
 * completes STARTTLS on the core. Call it after feeding ciphertext in, after
 * pulling the core's events, after issuing commands, and whenever the mask
 * shows SMTPC_BEARSSL_WANT_PUMP. Returns smtpc_bearssl_want.
 */
unsigned smtpc_bearssl_pump(smtpc_bearssl *t);
/* The SMTPC_BEARSSL_WANT_* mask, for the core and the layer together. */
unsigned smtpc_bearssl_want(const smtpc_bearssl *t);
/* Nonzero once, after the handshake completed (clears WANT_SECURED). */
int smtpc_bearssl_take_secured(smtpc_bearssl *t);
/* Nonzero while TLS is up (handshake done, not failed). */
int smtpc_bearssl_is_secure(const smtpc_bearssl *t);

/*
 * Message data, one copy: as smtpc_body_write on the core, but straight into
 * BearSSL's record buffer when TLS is up and the core has nothing queued;
 * otherwise through the core's transmit buffer. Returns the octets consumed
 * (0: pump and write the transport, then again). */
size_t smtpc_bearssl_body_write(smtpc_bearssl *t, const void *data, size_t len);

/* Sends close_notify (once TLS has begun): the client after the reply to
 * QUIT, either side to end early. Before the handshake began it ends the
 * layer (none starts; nothing more moves). */
void smtpc_bearssl_close(smtpc_bearssl *t);

/* The sticky error, SMTPC_BEARSSL_ERR_OK when none. */
smtpc_bearssl_err smtpc_bearssl_error(const smtpc_bearssl *t);
/* BearSSL's own error code behind it (BR_ERR_*), 0 when none. */
int smtpc_bearssl_br_error(const smtpc_bearssl *t);
/* Server role: the name the client sent as SNI ("" when none). */
const char *smtpc_bearssl_sni(const smtpc_bearssl *t);
/* Once the handshake completed (smtpc_bearssl_is_secure): the protocol
 * version (BR_TLS10 0x0301 to BR_TLS12 0x0303) and the cipher suite (its
 * IANA number); 0 before, or after a failure. */
unsigned smtpc_bearssl_version(const smtpc_bearssl *t);
unsigned smtpc_bearssl_cipher(const smtpc_bearssl *t);
/* "TLSv1.2" for BR_TLS12 and so on; NULL for another value. */
const char *smtpc_bearssl_version_name(unsigned version);
/* The IANA name of a cipher suite BearSSL negotiates
 * ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"); NULL for another. */
const char *smtpc_bearssl_cipher_name(unsigned suite);

/* HMAC-MD5 for AUTH CRAM-MD5: give it to smtpc_set_hmac_md5 (ctx unused). */
int smtpc_bearssl_hmac_md5(void *ctx, const unsigned char *key, size_t key_len,
			   const unsigned char *msg, size_t msg_len, unsigned char out[16]);

#ifdef __cplusplus
}
#endif

#endif /* SMTPC_BEARSSL_H */
