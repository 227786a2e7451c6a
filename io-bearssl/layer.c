/*
 * layer.c - TLS between a transport and the smtpc core, on BearSSL's engine.
 *
 * Phases:
 *
 *   PLAIN --(core paused after STARTTLS's 220, its 220 sent)--> TLS --> DONE
 *   TLS (implicit TLS: from the start) ----------------------------^
 *
 * PLAIN passes octets through: the transport side is the core's own
 * receive and transmit buffers. TLS: records go through the engine
 * (recvrec/sendrec), plaintext between the engine and the core
 * (recvapp -> smtpc_feed, smtpc_send_buf -> sendapp). DONE: failed, or the
 * engine closed; nothing more moves.
 *
 * The handshake starts in pump, not at init, so the caller can give entropy
 * and time after init; it refuses to start without them. Completion is
 * seen in pump as the engine first offering application data: the core is
 * then told (smtpc_tls_started after STARTTLS, smtpc_set_secure with
 * implicit TLS) and L_NEWS raises WANT_SECURED until take_secured.
 *
 * The first three octets the peer sends once TLS begins are checked
 * before the engine sees them: a TLS record header (RFC 5246 6.2.1) is a
 * content type 20-23, then version 3.x; a server also accepts the SSL 2.0
 * ClientHello form (high bit set). Anything else is plaintext: an SMTP
 * greeting to an implicit TLS client, or text injected after STARTTLS's
 * 220 (CVE-2011-0411).
 *
 * Plaintext queued in the engine is flushed into a record as soon as the
 * core has nothing more queued, so a command never waits in a half-full
 * record; message data written one copy (body_write) fills whole records
 * and the tail is flushed at the next pump with the core idle.
 *
 * Invariants: the core is failed whenever the layer fails (never the
 * reverse); a layer in DONE never touches the engine again; pump stops when
 * a round moves nothing, so it cannot spin.
 */
#include <stddef.h>
#include <string.h>

#include "internal.h"

enum { ROLE_CLIENT = 1, ROLE_SERVER };
enum { PH_PLAIN = 0, PH_TLS, PH_DONE };

static const char *const err_names[] = {
#define X_NAME(name, desc) "SMTPC_BEARSSL_ERR_" #name,
    SMTPC_BEARSSL_ERRORS(X_NAME)
#undef X_NAME
};

static const char *const err_descs[] = {
#define X_DESC(name, desc) desc,
    SMTPC_BEARSSL_ERRORS(X_DESC)
#undef X_DESC
};

const char *smtpc_bearssl_err_name(smtpc_bearssl_err e)
{
	if ((unsigned)e >= (unsigned)SMTPC_BEARSSL_ERR__COUNT)
		return "SMTPC_BEARSSL_ERR_?";
	return err_names[e];
}

const char *smtpc_bearssl_strerror(smtpc_bearssl_err e)
{
	if ((unsigned)e >= (unsigned)SMTPC_BEARSSL_ERR__COUNT)
		return "unknown error";
	return err_descs[e];
}

/* ---- names ------------------------------------------------------------------------------ */

/* An IP literal: v6 has colons (or brackets); v4 is digits and dots (a DNS
 * name's last label is never all digits: RFC 1123 2.1). */
static int is_ip(const char *s)
{
	size_t i, n = strlen(s);
	int alpha = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == ':' || s[i] == '[')
			return 1;
		if (s[i] != '.' && (s[i] < '0' || s[i] > '9'))
			alpha = 1;
	}
	return n > 0 && !alpha;
}

/* Letters, digits, hyphens and underscores in dot-separated labels of 1 to
 * 63 octets, 253 in all (RFC 1035 2.3.4), a final dot allowed. */
static int dns_ok(const char *s)
{
	size_t i, n = strlen(s), label = 0;

	if (n > 0 && s[n - 1] == '.')
		n--;
	if (n == 0 || n > 253)
		return 0;
	for (i = 0; i < n; i++) {
		char ch = s[i];
		if (ch == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
			return 0;
		if (++label > 63)
			return 0;
	}
	return 1;
}

/* ---- failing ------------------------------------------------------------------------------ */

static smtpc_bearssl_err map_br(const smtpc_bearssl *t, int e)
{
	const smtpc_bearssl_check *w = &t->u.client.check;

	switch (e) {
	case BR_ERR_X509_NOT_TRUSTED:
		return SMTPC_BEARSSL_ERR_UNTRUSTED;
	case BR_ERR_X509_BAD_SERVER_NAME:
		return SMTPC_BEARSSL_ERR_WRONG_NAME;
	case BR_ERR_X509_EXPIRED:
		return t->role == ROLE_CLIENT && w->early ? SMTPC_BEARSSL_ERR_NOT_YET_VALID
							  : SMTPC_BEARSSL_ERR_EXPIRED;
	case BR_ERR_X509_TIME_UNKNOWN:
		return SMTPC_BEARSSL_ERR_NO_TIME;
	case BR_ERR_X509_FORBIDDEN_KEY_USAGE: /* a CA's, or the wrapper's EKU check */
		return t->role == ROLE_CLIENT && w->eku_failed ? SMTPC_BEARSSL_ERR_NOT_SERVER
							       : SMTPC_BEARSSL_ERR_KEY_USAGE;
	case BR_ERR_WRONG_KEY_USAGE: /* the server's key may not serve any suite offered */
		return SMTPC_BEARSSL_ERR_KEY_USAGE;
	case BR_ERR_UNSUPPORTED_VERSION:
		return SMTPC_BEARSSL_ERR_VERSION;
	case BR_ERR_NO_RANDOM:
		return SMTPC_BEARSSL_ERR_NO_ENTROPY;
	case BR_ERR_BAD_VERSION:
	case BR_ERR_BAD_LENGTH:
	case BR_ERR_TOO_LARGE:
	case BR_ERR_BAD_MAC:
	case BR_ERR_UNKNOWN_TYPE:
		return SMTPC_BEARSSL_ERR_BAD_RECORD;
	case BR_ERR_IO:
		return SMTPC_BEARSSL_ERR_CLOSED_IN_HANDSHAKE;
	default:
		if (e == BR_ERR_RECV_FATAL_ALERT + 70) /* protocol_version (RFC 5246 7.2.2) */
			return SMTPC_BEARSSL_ERR_VERSION;
		if (e >= BR_ERR_SEND_FATAL_ALERT)
			return SMTPC_BEARSSL_ERR_HANDSHAKE;
		if (e >= BR_ERR_RECV_FATAL_ALERT)
			return SMTPC_BEARSSL_ERR_PEER_ALERT;
		if (e >= BR_ERR_X509_OK && e < BR_ERR_X509_OK + 32)
			return SMTPC_BEARSSL_ERR_BAD_CHAIN;
		return SMTPC_BEARSSL_ERR_HANDSHAKE;
	}
}

/* The layer fails (the first error stays), and the core with it. */
static void fail(smtpc_bearssl *t, smtpc_bearssl_err e)
{
	if (t->err == SMTPC_BEARSSL_ERR_OK)
		t->err = e;
	t->phase = PH_DONE;
	smtpc_fail(t->core, t->err == SMTPC_BEARSSL_ERR_INJECTION ? SMTPC_ERR_STARTTLS_INJECTION
								  : SMTPC_ERR_TLS);
}

/* ---- set up ------------------------------------------------------------------------------- */

static smtpc_bearssl_err set_buffer(smtpc_bearssl *t, void *buf, size_t len)
{
	br_ssl_engine_set_versions(t->eng, BR_TLS12, BR_TLS12);
	br_ssl_engine_set_buffer(t->eng, buf, len, len >= SMTPC_BEARSSL_BUF_BIDI);
	if (br_ssl_engine_last_error(t->eng) != BR_ERR_OK)
		return SMTPC_BEARSSL_ERR_BUFFER_SMALL;
	t->buf = buf;
	t->buf_len = len;
	return SMTPC_BEARSSL_ERR_OK;
}

smtpc_bearssl_err smtpc_bearssl_client_init(smtpc_bearssl *t, smtpc_conn *core,
					    const smtpc_bearssl_client_opts *o, void *buf,
					    size_t len)
{
	const smtpc_bearssl_anchors *a;

	if (t == NULL)
		return SMTPC_BEARSSL_ERR_NULL_ARG;
	memset(t, 0, sizeof *t);
	t->phase = PH_DONE;
	if (core == NULL || o == NULL || buf == NULL)
		return t->err = SMTPC_BEARSSL_ERR_NULL_ARG;
	if (!smtpc_is_client(core))
		return t->err = SMTPC_BEARSSL_ERR_ROLE;
	if (len < SMTPC_BEARSSL_BUF_MIN)
		return t->err = SMTPC_BEARSSL_ERR_BUFFER_SMALL;
	a = o->anchors;
	if (!o->insecure) {
		if (o->name == NULL || o->name[0] == '\0')
			return t->err = SMTPC_BEARSSL_ERR_NO_NAME;
		if (is_ip(o->name))
			return t->err = SMTPC_BEARSSL_ERR_IP_NAME;
		if (!dns_ok(o->name))
			return t->err = SMTPC_BEARSSL_ERR_BAD_NAME;
		if (a == NULL || a->n == 0)
			return t->err = SMTPC_BEARSSL_ERR_NO_ANCHORS;
	} else if (o->name != NULL && o->name[0] != '\0' && !is_ip(o->name) && !dns_ok(o->name)) {
		return t->err = SMTPC_BEARSSL_ERR_BAD_NAME;
	}
	br_ssl_client_init_full(&t->u.client.cc, &t->u.client.x.minimal, a ? a->ta : NULL,
				a ? a->n : 0);
	t->eng = &t->u.client.cc.eng;
	t->u.client.check.vtable = smtpc_bearssl__check_class();
	br_ssl_engine_set_x509(t->eng, &t->u.client.check.vtable);
	if (o->creds != NULL) { /* a client certificate (RFC 5246 7.4.6) */
		const smtpc_bearssl_creds *c = o->creds;
		if (c->n == 0)
			return t->err = SMTPC_BEARSSL_ERR_NO_CERT;
		if (c->key_type == 0)
			return t->err = SMTPC_BEARSSL_ERR_NO_KEY;
		if (c->key_type != c->leaf_key_type)
			return t->err = SMTPC_BEARSSL_ERR_KEY_MISMATCH;
		if (c->key_type == BR_KEYTYPE_RSA)
			br_ssl_client_set_single_rsa(&t->u.client.cc, c->chain, c->n, &c->rsa,
						     br_rsa_pkcs1_sign_get_default());
		else
			br_ssl_client_set_single_ec(&t->u.client.cc, c->chain, c->n, &c->ec,
						    BR_KEYTYPE_SIGN, (unsigned)c->issuer_key_type,
						    br_ec_get_default(),
						    br_ecdsa_sign_asn1_get_default());
		t->creds = c;
	}
	if (set_buffer(t, buf, len) != SMTPC_BEARSSL_ERR_OK)
		return t->err = SMTPC_BEARSSL_ERR_BUFFER_SMALL;
	t->core = core;
	t->role = ROLE_CLIENT;
	t->name = (o->name != NULL && o->name[0] != '\0') ? o->name : NULL;
	t->flags = (o->insecure ? L_INSECURE : 0) | (o->starttls ? L_STARTTLS : 0);
	t->phase = o->starttls ? PH_PLAIN : PH_TLS;
	return SMTPC_BEARSSL_ERR_OK;
}

smtpc_bearssl_err smtpc_bearssl_server_init(smtpc_bearssl *t, smtpc_conn *core,
					    const smtpc_bearssl_creds *c, int starttls, void *buf,
					    size_t len)
{
	if (t == NULL)
		return SMTPC_BEARSSL_ERR_NULL_ARG;
	memset(t, 0, sizeof *t);
	t->phase = PH_DONE;
	if (core == NULL || c == NULL || buf == NULL)
		return t->err = SMTPC_BEARSSL_ERR_NULL_ARG;
	if (!smtpc_is_server(core))
		return t->err = SMTPC_BEARSSL_ERR_ROLE;
	if (len < SMTPC_BEARSSL_BUF_MIN)
		return t->err = SMTPC_BEARSSL_ERR_BUFFER_SMALL;
	if (c->n == 0)
		return t->err = SMTPC_BEARSSL_ERR_NO_CERT;
	if (c->key_type == 0)
		return t->err = SMTPC_BEARSSL_ERR_NO_KEY;
	if (c->key_type != c->leaf_key_type)
		return t->err = SMTPC_BEARSSL_ERR_KEY_MISMATCH;
	if (c->key_type == BR_KEYTYPE_RSA)
		br_ssl_server_init_full_rsa(&t->u.server, c->chain, c->n, &c->rsa);
	else
		br_ssl_server_init_full_ec(&t->u.server, c->chain, c->n,
					   (unsigned)c->issuer_key_type, &c->ec);
	t->eng = &t->u.server.eng;
	/* no renegotiation asked by a client: each would cost the server a
	 * new key exchange and signature, as often as the client likes */
	br_ssl_engine_add_flags(t->eng, BR_OPT_NO_RENEGOTIATION);
	if (set_buffer(t, buf, len) != SMTPC_BEARSSL_ERR_OK)
		return t->err = SMTPC_BEARSSL_ERR_BUFFER_SMALL;
	t->core = core;
	t->role = ROLE_SERVER;
	t->creds = c;
	t->flags = starttls ? L_STARTTLS : 0;
	t->phase = starttls ? PH_PLAIN : PH_TLS;
	return SMTPC_BEARSSL_ERR_OK;
}

void smtpc_bearssl_entropy(smtpc_bearssl *t, const void *data, size_t len)
{
	if (t == NULL || t->eng == NULL || (data == NULL && len != 0) || (t->flags & L_STARTED))
		return;
	br_ssl_engine_inject_entropy(t->eng, data, len);
	t->entropy += len;
}

void smtpc_bearssl_set_time(smtpc_bearssl *t, uint64_t unix_seconds)
{
	if (t == NULL)
		return;
	t->days = (uint32_t)(unix_seconds / 86400u) + 719528u; /* 1970-01-01 from 0000-01-01 */
	t->seconds = (uint32_t)(unix_seconds % 86400u);
	t->flags |= L_TIME;
}

/* Starts the handshake: the engine is reset, a client's ClientHello is
 * queued. */
static void start(smtpc_bearssl *t)
{
	char sni[256];
	const char *name = NULL;
	int ok;

	if (t->entropy < 32) {
		fail(t, SMTPC_BEARSSL_ERR_NO_ENTROPY);
		return;
	}
	if (t->role == ROLE_CLIENT) {
		if (!(t->flags & L_INSECURE)) {
			if (!(t->flags & L_TIME)) {
				fail(t, SMTPC_BEARSSL_ERR_NO_TIME);
				return;
			}
			br_x509_minimal_set_time(&t->u.client.x.minimal, t->days, t->seconds);
		}
		/* RFC 6066 3: no IP literal in SNI, and the name without a final
		 * dot; BearSSL keeps its own copy, which the checks then use */
		if (t->name != NULL && !is_ip(t->name)) {
			size_t n = strlen(t->name); /* dns_ok: at most 254 */
			if (n > 0 && t->name[n - 1] == '.')
				n--;
			memcpy(sni, t->name, n);
			sni[n] = '\0';
			name = sni;
		}
		ok = br_ssl_client_reset(&t->u.client.cc, name, 0);
	} else {
		ok = br_ssl_server_reset(&t->u.server);
	}
	if (!ok) {
		t->br_err = br_ssl_engine_last_error(t->eng);
		fail(t, map_br(t, t->br_err));
		return;
	}
	t->flags |= L_STARTED;
	t->phase = PH_TLS;
}

/* ---- the transport side ----------------------------------------------------------------- */

unsigned char *smtpc_bearssl_recv_buf(smtpc_bearssl *t, size_t *len)
{
	if (len == NULL)
		return NULL;
	*len = 0;
	if (t == NULL)
		return NULL;
	if (t->phase == PH_PLAIN) {
		unsigned char *p = smtpc_recv_buf(t->core, len);
		if (p != NULL)
			t->flags |= L_RBUF_CORE;
		return p;
	}
	t->flags &= ~L_RBUF_CORE;
	if (t->phase != PH_TLS || !(t->flags & L_STARTED) || (t->flags & L_EOF) ||
	    !(br_ssl_engine_current_state(t->eng) & BR_SSL_RECVREC))
		return NULL;
	return br_ssl_engine_recvrec_buf(t->eng, len);
}

/* The first octets from the peer must open a TLS record. */
static int looks_like_tls(smtpc_bearssl *t, const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && t->nfirst < 3; i++, t->nfirst++) {
		unsigned char b = p[i];
		if (t->nfirst == 0) {
			if (t->role == ROLE_SERVER && (b & 0x80)) {
				t->nfirst = 3; /* an SSL 2.0 ClientHello: the engine judges */
				return 1;
			}
			if (b < 20 || b > 23) /* change_cipher_spec, alert, handshake, data */
				return 0;
		} else if (t->nfirst == 1 && b != 3) {
			return 0;
		} else if (t->nfirst == 2 && b > 4) {
			return 0;
		}
	}
	return 1;
}

void smtpc_bearssl_recv_ack(smtpc_bearssl *t, size_t n)
{
	unsigned char *buf;
	size_t room;

	if (t == NULL || n == 0)
		return;
	if (t->phase == PH_PLAIN) {
		smtpc_recv_ack(t->core, n);
		t->flags &= ~L_RBUF_CORE;
		return;
	}
	if (t->phase != PH_TLS || !(t->flags & L_STARTED))
		return;
	if (t->flags & L_RBUF_CORE) {
		/* the octets went into the core's buffer, handed out before the
		 * handshake began (a read left pending across pump): they are
		 * not where the engine would look */
		fail(t, SMTPC_BEARSSL_ERR_STATE);
		return;
	}
	buf = br_ssl_engine_recvrec_buf(t->eng, &room);
	if (buf == NULL)
		return;
	if (n > room)
		n = room;
	if (t->nfirst < 3 && !looks_like_tls(t, buf, n)) {
		fail(t, (t->flags & L_STARTTLS) ? SMTPC_BEARSSL_ERR_INJECTION
						: SMTPC_BEARSSL_ERR_NOT_TLS);
		return;
	}
	br_ssl_engine_recvrec_ack(t->eng, n);
}

const unsigned char *smtpc_bearssl_send_buf(const smtpc_bearssl *t, size_t *len)
{
	if (len == NULL)
		return NULL;
	*len = 0;
	if (t == NULL)
		return NULL;
	if (t->phase == PH_PLAIN)
		return smtpc_send_buf(t->core, len);
	if (t->phase != PH_TLS || !(t->flags & L_STARTED) ||
	    !(br_ssl_engine_current_state(t->eng) & BR_SSL_SENDREC))
		return NULL;
	return br_ssl_engine_sendrec_buf(t->eng, len);
}

void smtpc_bearssl_send_ack(smtpc_bearssl *t, size_t n)
{
	size_t len;

	if (t == NULL || n == 0)
		return;
	if (t->phase == PH_PLAIN) {
		smtpc_send_ack(t->core, n);
		return;
	}
	if (t->phase != PH_TLS || !(t->flags & L_STARTED) ||
	    br_ssl_engine_sendrec_buf(t->eng, &len) == NULL)
		return;
	br_ssl_engine_sendrec_ack(t->eng, n < len ? n : len);
}

void smtpc_bearssl_eof(smtpc_bearssl *t)
{
	if (t == NULL || (t->flags & L_EOF))
		return;
	t->flags |= L_EOF;
	if (t->phase == PH_PLAIN) {
		t->flags |= L_EOF_GIVEN;
		smtpc_eof(t->core);
	} else if (t->phase == PH_TLS && !(t->flags & L_SECURED)) {
		t->br_err = BR_ERR_IO;
		fail(t, SMTPC_BEARSSL_ERR_CLOSED_IN_HANDSHAKE);
	}
}

/* ---- the core side ------------------------------------------------------------------------ */

/* The core paused after a 220 to STARTTLS while TLS is up already (the
 * handshake of STARTTLS mode is the one legitimate pause). */
static int paused_for_good(const smtpc_bearssl *t, unsigned cw)
{
	return (cw & SMTPC_WANT_TLS) && ((t->flags & L_SECURED) || !(t->flags & L_STARTTLS));
}

/* One round through the engine; returns nonzero if something moved. */
static int tls_round(smtpc_bearssl *t)
{
	br_ssl_engine_context *eng = t->eng;
	unsigned st = br_ssl_engine_current_state(eng), cw;
	int moved = 0;
	size_t len, n;
	unsigned char *buf;
	const unsigned char *out;

	if (st & BR_SSL_CLOSED) {
		t->br_err = br_ssl_engine_last_error(eng);
		if (t->br_err != BR_ERR_OK) {
			fail(t, map_br(t, t->br_err));
		} else { /* close_notify: a clean end */
			if (!(t->flags & L_SECURED)) {
				fail(t, SMTPC_BEARSSL_ERR_CLOSED_IN_HANDSHAKE);
				return 0;
			}
			t->phase = PH_DONE;
			if (!(t->flags & L_EOF_GIVEN)) {
				t->flags |= L_EOF_GIVEN;
				smtpc_eof(t->core);
			}
		}
		return 0;
	}
	if (paused_for_good(t, smtpc_want(t->core))) {
		/* a 220 to a STARTTLS sent over TLS (implicit, or a second one):
		 * nothing would ever resume the core */
		fail(t, SMTPC_BEARSSL_ERR_STATE);
		return 0;
	}
	if (!(t->flags & L_SECURED) && (st & (BR_SSL_SENDAPP | BR_SSL_RECVAPP))) {
		t->flags |= L_SECURED | L_NEWS;
		if (t->flags & L_STARTTLS) {
			smtpc_err e = smtpc_tls_started(t->core);
			if (e != SMTPC_ERR_OK) { /* the core failed meanwhile */
				fail(t, SMTPC_BEARSSL_ERR_STATE);
				return 0;
			}
		} else {
			smtpc_set_secure(t->core);
		}
		moved = 1;
	}
	if (st & BR_SSL_RECVAPP) {
		buf = br_ssl_engine_recvapp_buf(eng, &len);
		n = smtpc_feed(t->core, buf, len);
		if (n != 0) {
			br_ssl_engine_recvapp_ack(eng, n);
			moved = 1;
		}
	}
	st = br_ssl_engine_current_state(eng);
	if (st & BR_SSL_SENDAPP) {
		out = smtpc_send_buf(t->core, &len);
		if (out != NULL) {
			buf = br_ssl_engine_sendapp_buf(eng, &n);
			if (n > len)
				n = len;
			memcpy(buf, out, n);
			br_ssl_engine_sendapp_ack(eng, n);
			smtpc_send_ack(t->core, n);
			t->flags |= L_PENDING;
			moved = 1;
		}
	}
	cw = smtpc_want(t->core);
	if ((t->flags & L_PENDING) && !(cw & SMTPC_WANT_WRITE)) {
		br_ssl_engine_flush(eng, 0); /* the core is idle: no half-full record waits */
		t->flags &= ~L_PENDING;
		moved = 1;
	}
	if ((t->flags & (L_EOF | L_SECURED | L_EOF_GIVEN)) == (L_EOF | L_SECURED) &&
	    !(br_ssl_engine_current_state(eng) & BR_SSL_RECVAPP)) {
		t->flags |= L_EOF_GIVEN; /* a TCP close without close_notify: end of input */
		smtpc_eof(t->core);
		moved = 1;
	}
	if ((cw & SMTPC_WANT_CLOSED) && !(cw & SMTPC_WANT_WRITE) && !(t->flags & L_CLOSING) &&
	    !(t->flags & L_EOF)) {
		t->flags |= L_CLOSING; /* the core is finished: close_notify */
		br_ssl_engine_close(eng);
		moved = 1;
	}
	return moved;
}

unsigned smtpc_bearssl_pump(smtpc_bearssl *t)
{
	if (t == NULL)
		return SMTPC_BEARSSL_WANT_CLOSED;
	for (;;) {
		if (t->phase == PH_PLAIN) {
			unsigned cw = smtpc_want(t->core);
			if (!(cw & SMTPC_WANT_TLS) || (cw & SMTPC_WANT_WRITE))
				break;
			start(t); /* the core paused for TLS and its last plaintext is out */
			continue;
		}
		if (t->phase != PH_TLS)
			break;
		if (!(t->flags & L_STARTED)) {
			start(t);
			continue;
		}
		if (!tls_round(t))
			break;
	}
	return smtpc_bearssl_want(t);
}

unsigned smtpc_bearssl_want(const smtpc_bearssl *t)
{
	unsigned cw, st, w = 0;

	if (t == NULL || t->core == NULL)
		return SMTPC_BEARSSL_WANT_CLOSED;
	cw = smtpc_want(t->core);
	if (cw & SMTPC_WANT_EVENT)
		w |= SMTPC_BEARSSL_WANT_EVENT;
	if (t->flags & L_NEWS)
		w |= SMTPC_BEARSSL_WANT_SECURED;
	if (t->phase == PH_PLAIN) {
		if (cw & SMTPC_WANT_READ)
			w |= SMTPC_BEARSSL_WANT_READ;
		if (cw & SMTPC_WANT_WRITE)
			w |= SMTPC_BEARSSL_WANT_WRITE;
		if (cw & SMTPC_WANT_TLS) {
			w |= SMTPC_BEARSSL_WANT_HANDSHAKE;
			if (!(cw & SMTPC_WANT_WRITE))
				w |= SMTPC_BEARSSL_WANT_PUMP; /* time to start */
		}
		if (cw & SMTPC_WANT_CLOSED)
			w |= SMTPC_BEARSSL_WANT_CLOSED;
		return w;
	}
	if (t->phase != PH_TLS)
		return w | SMTPC_BEARSSL_WANT_CLOSED;
	if (!(t->flags & L_STARTED))
		return w | SMTPC_BEARSSL_WANT_PUMP | SMTPC_BEARSSL_WANT_HANDSHAKE;
	st = br_ssl_engine_current_state(t->eng);
	if ((st & BR_SSL_CLOSED) || paused_for_good(t, cw))
		return w | SMTPC_BEARSSL_WANT_PUMP;
	if (st & BR_SSL_SENDREC)
		w |= SMTPC_BEARSSL_WANT_WRITE;
	if ((st & BR_SSL_RECVREC) && !(t->flags & L_EOF))
		w |= SMTPC_BEARSSL_WANT_READ;
	if (!(t->flags & L_SECURED)) {
		w |= SMTPC_BEARSSL_WANT_HANDSHAKE;
		if (st & (BR_SSL_SENDAPP | BR_SSL_RECVAPP))
			w |= SMTPC_BEARSSL_WANT_PUMP;
	}
	if (((st & BR_SSL_RECVAPP) && (cw & SMTPC_WANT_READ)) ||
	    ((st & BR_SSL_SENDAPP) && (cw & SMTPC_WANT_WRITE)) ||
	    ((t->flags & L_PENDING) && !(cw & SMTPC_WANT_WRITE)))
		w |= SMTPC_BEARSSL_WANT_PUMP;
	if ((t->flags & (L_EOF | L_SECURED | L_EOF_GIVEN)) == (L_EOF | L_SECURED) &&
	    !(st & BR_SSL_RECVAPP))
		w |= SMTPC_BEARSSL_WANT_PUMP;
	if (t->flags & L_CLOSING) /* close_notify queued: nothing after it */
		w |= SMTPC_BEARSSL_WANT_CLOSED;
	else if ((cw & SMTPC_WANT_CLOSED) && (t->flags & L_EOF))
		w |= SMTPC_BEARSSL_WANT_CLOSED;
	else if ((cw & SMTPC_WANT_CLOSED) && !(cw & SMTPC_WANT_WRITE))
		w |= SMTPC_BEARSSL_WANT_PUMP; /* the core is finished: close_notify due */
	return w;
}

int smtpc_bearssl_take_secured(smtpc_bearssl *t)
{
	if (t == NULL || !(t->flags & L_NEWS))
		return 0;
	t->flags &= ~L_NEWS;
	return 1;
}

int smtpc_bearssl_is_secure(const smtpc_bearssl *t)
{
	return t != NULL && (t->flags & L_SECURED) && t->err == SMTPC_BEARSSL_ERR_OK;
}

size_t smtpc_bearssl_body_write(smtpc_bearssl *t, const void *data, size_t len)
{
	size_t room, wrote, n;
	unsigned char *buf;

	if (t == NULL)
		return 0;
	if (t->phase != PH_TLS || !(t->flags & L_SECURED))
		return smtpc_body_write(t->core, data, len); /* before TLS: the core keeps it */
	/* TLS is up: straight into the record buffer, once what the core holds
	 * has gone in and while the engine takes application data; else 0 */
	if ((smtpc_want(t->core) & SMTPC_WANT_WRITE) ||
	    !(br_ssl_engine_current_state(t->eng) & BR_SSL_SENDAPP))
		return 0;
	buf = br_ssl_engine_sendapp_buf(t->eng, &room);
	n = smtpc_body_write_to(t->core, data, len, buf, room, &wrote);
	if (wrote != 0) {
		br_ssl_engine_sendapp_ack(t->eng, wrote); /* a full buffer goes out as a record */
		t->flags |= L_PENDING;
	}
	return n;
}

void smtpc_bearssl_close(smtpc_bearssl *t)
{
	if (t == NULL)
		return;
	if (t->phase == PH_PLAIN || (t->phase == PH_TLS && !(t->flags & L_STARTED))) {
		t->phase = PH_DONE; /* before any handshake: nothing to close, none to start */
		return;
	}
	if (t->phase == PH_TLS && !(t->flags & L_CLOSING)) {
		t->flags |= L_CLOSING;
		br_ssl_engine_close(t->eng);
	}
}

smtpc_bearssl_err smtpc_bearssl_error(const smtpc_bearssl *t)
{
	return t != NULL ? t->err : SMTPC_BEARSSL_ERR_NULL_ARG;
}

int smtpc_bearssl_br_error(const smtpc_bearssl *t)
{
	return t != NULL ? t->br_err : 0;
}

const char *smtpc_bearssl_sni(const smtpc_bearssl *t)
{
	if (t == NULL || t->role != ROLE_SERVER || !(t->flags & L_STARTED))
		return "";
	return br_ssl_engine_get_server_name(t->eng);
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

/* ---- what was negotiated ------------------------------------------------------------------ */

unsigned smtpc_bearssl_version(const smtpc_bearssl *t)
{
	return t != NULL && t->eng != NULL && smtpc_bearssl_is_secure(t) ? t->eng->session.version
									 : 0u;
}

unsigned smtpc_bearssl_cipher(const smtpc_bearssl *t)
{
	return t != NULL && t->eng != NULL && smtpc_bearssl_is_secure(t)
		   ? t->eng->session.cipher_suite
		   : 0u;
}

const char *smtpc_bearssl_version_name(unsigned version)
{
	switch (version) {
	case BR_TLS10:
		return "TLSv1.0";
	case BR_TLS11:
		return "TLSv1.1";
	case BR_TLS12:
		return "TLSv1.2";
	default:
		return NULL;
	}
}

/* The suites of BearSSL's full client and server profiles. */
static const struct {
	uint16_t id;
	const char *name;
} suites[] = {
#define S(x)                                                                                       \
	{                                                                                          \
		BR_##x, #x                                                                         \
	}
    S(TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
    S(TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256),
    S(TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256),
    S(TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
    S(TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384),
    S(TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384),
    S(TLS_ECDHE_ECDSA_WITH_AES_128_CCM),
    S(TLS_ECDHE_ECDSA_WITH_AES_256_CCM),
    S(TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8),
    S(TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8),
    S(TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256),
    S(TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256),
    S(TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384),
    S(TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384),
    S(TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA),
    S(TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA),
    S(TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA),
    S(TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA),
    S(TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256),
    S(TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256),
    S(TLS_ECDH_ECDSA_WITH_AES_256_GCM_SHA384),
    S(TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384),
    S(TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256),
    S(TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256),
    S(TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA384),
    S(TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384),
    S(TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA),
    S(TLS_ECDH_RSA_WITH_AES_128_CBC_SHA),
    S(TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA),
    S(TLS_ECDH_RSA_WITH_AES_256_CBC_SHA),
    S(TLS_RSA_WITH_AES_128_GCM_SHA256),
    S(TLS_RSA_WITH_AES_256_GCM_SHA384),
    S(TLS_RSA_WITH_AES_128_CCM),
    S(TLS_RSA_WITH_AES_256_CCM),
    S(TLS_RSA_WITH_AES_128_CCM_8),
    S(TLS_RSA_WITH_AES_256_CCM_8),
    S(TLS_RSA_WITH_AES_128_CBC_SHA256),
    S(TLS_RSA_WITH_AES_256_CBC_SHA256),
    S(TLS_RSA_WITH_AES_128_CBC_SHA),
    S(TLS_RSA_WITH_AES_256_CBC_SHA),
    S(TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA),
    S(TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA),
    S(TLS_ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA),
    S(TLS_ECDH_RSA_WITH_3DES_EDE_CBC_SHA),
    S(TLS_RSA_WITH_3DES_EDE_CBC_SHA),
#undef S
};

const char *smtpc_bearssl_cipher_name(unsigned suite)
{
	size_t i;

	for (i = 0; i < sizeof suites / sizeof suites[0]; i++) {
		if (suites[i].id == suite)
			return suites[i].name;
	}
	return NULL;
}
