/*
 * internal.h - declarations shared by io-bearssl's files. Not installed.
 *
 *   layer.c  the layer: init, the transport side, pump, want, errors
 *   check.c  the certificate checks around BearSSL's X.509 engine
 *   store.c  trust anchors and server credentials decoded into storage
 */
#ifndef SMTPC_BEARSSL_INTERNAL_H
#define SMTPC_BEARSSL_INTERNAL_H

#include "smtpc_bearssl.h"

/* smtpc_bearssl.flags */
#define L_INSECURE  0x001u /* no certificate checks */
#define L_STARTTLS  0x002u /* plaintext until the core pauses for TLS */
#define L_STARTED   0x004u /* the engine was reset: the handshake began */
#define L_SECURED   0x008u /* the handshake completed */
#define L_NEWS	    0x010u /* ... and take_secured has not said so yet */
#define L_EOF	    0x020u /* the transport reached end of input */
#define L_EOF_GIVEN 0x040u /* the core was told */
#define L_CLOSING   0x080u /* close_notify queued */
#define L_TIME	    0x100u /* the time was set */
#define L_PENDING   0x200u /* application data in the engine not yet flushed */
#define L_RBUF_CORE 0x400u /* recv_buf last handed out the core's buffer (plaintext) */

/* check.c: the wrapping X.509 class (smtpc_bearssl.u.client.check). */
/* br_x509_decoder_push, but only while the decoder still wants input:
 * BearSSL's decoder must not be pushed after it failed (it runs on from a
 * broken state) or finished. Returns -1 for octets after a complete
 * certificate (the caller refuses the certificate, as one push of it all
 * would), else 0. */
int smtpc_bearssl__decode(br_x509_decoder_context *d, const void *buf, size_t len);
const br_x509_class *smtpc_bearssl__check_class(void);

#endif
