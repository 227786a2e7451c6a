/*
 * auth.c - AUTH (RFC 4954) for PLAIN (RFC 4616), LOGIN, CRAM-MD5 (RFC 2195)
 * and XOAUTH2.
 *
 * PLAIN and XOAUTH2 send their response with the command (an initial
 * response, RFC 4954 4); LOGIN and CRAM-MD5 answer 334 challenges. The core
 * answers every 334 itself, by counting them, never by reading their text:
 * servers word LOGIN's prompts in every case and language. Step 1 of LOGIN
 * is the user name, step 2 the password; CRAM-MD5's one step is
 * "user SP hex(HMAC-MD5(password, challenge))"; XOAUTH2's error challenge
 * gets the empty response it asks for. Any other 334 is cancelled with "*"
 * (RFC 4954 4), and a 334 after that is a sticky SMTPC_ERR_BAD_CHALLENGE: a
 * server cannot lead the client into a loop, and an exchange takes at most
 * three challenges.
 *
 * Each response line moves the AUTH entry's mark to the stream offset at
 * which it was sent: a reply that had already arrived (a 235 in the same
 * segment as the 334) cannot answer a response the server had not seen
 * (unless early_replies). It is then delivered as answering nothing.
 *
 * A digest hook that is missing when CRAM-MD5 needs it (cleared after AUTH
 * was issued) is a sticky SMTPC_ERR_DIGEST, as a failing one is.
 *
 * Responses are base64-encoded while they are written (a small streaming
 * encoder over the line builder), so credentials are never copied whole.
 */
#include "internal.h"

struct b64 {
	struct w *w;
	unsigned char hold[3];
	size_t n;
};

static void b64_put(struct b64 *s, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i;

	for (i = 0; i < len; i++) {
		s->hold[s->n++] = p[i];
		if (s->n == 3) {
			char q[4];
			smtpc_b64_encode(q, 4, s->hold, 3);
			smtpc__put(s->w, q, 4);
			s->n = 0;
		}
	}
}

static void b64_end(struct b64 *s)
{
	char q[4];

	if (s->n != 0)
		smtpc__put(s->w, q, smtpc_b64_encode(q, 4, s->hold, s->n));
	s->n = 0;
}

static void b64_str(struct b64 *s, const char *str)
{
	b64_put(s, str, strlen(str));
}

/* Whether the challenge numbered step (from 1) is one too many for mech:
 * LOGIN takes two, CRAM-MD5 and XOAUTH2 one, PLAIN none. */
static int cancels(unsigned mech, int step)
{
	static const unsigned char steps[] = {0, 0, 2, 1, 1};

	return step > steps[mech];
}

struct auth_ctx {
	const smtpc_conn *c;
	int step;		     /* 0: the AUTH command line */
	const unsigned char *digest; /* CRAM-MD5 step 1 */
};

static void build_auth(struct w *w, const void *ctx)
{
	static const char hex[] = "0123456789abcdef";
	const struct auth_ctx *a = ctx;
	const smtpc_conn *c = a->c;
	struct b64 s;

	s.w = w;
	s.n = 0;
	if (a->step == 0) {
		static const char *const names[] = {"", "PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"};
		smtpc__put(w, "AUTH ", 5);
		smtpc__put(w, names[c->u.cl.auth_mech], strlen(names[c->u.cl.auth_mech]));
		if (c->u.cl.auth_mech == SMTPC_MECH_PLAIN) { /* authzid NUL authcid NUL passwd */
			smtpc__put(w, " ", 1);
			b64_put(&s, "", 1);
			b64_str(&s, c->u.cl.auth_user);
			b64_put(&s, "", 1);
			b64_str(&s, c->u.cl.auth_pass);
		} else if (c->u.cl.auth_mech == SMTPC_MECH_XOAUTH2) {
			smtpc__put(w, " ", 1);
			b64_str(&s, "user=");
			b64_str(&s, c->u.cl.auth_user);
			b64_str(&s, "\001auth=Bearer ");
			b64_str(&s, c->u.cl.auth_pass);
			b64_str(&s, "\001\001");
		}
	} else if (!cancels(c->u.cl.auth_mech, a->step) && c->u.cl.auth_mech == SMTPC_MECH_LOGIN) {
		b64_str(&s, a->step == 1 ? c->u.cl.auth_user : c->u.cl.auth_pass);
	} else if (!cancels(c->u.cl.auth_mech, a->step) &&
		   c->u.cl.auth_mech == SMTPC_MECH_CRAM_MD5) {
		size_t i;
		b64_str(&s, c->u.cl.auth_user);
		b64_put(&s, " ", 1);
		for (i = 0; i < 16; i++) {
			char h[2];
			h[0] = hex[a->digest[i] >> 4];
			h[1] = hex[a->digest[i] & 15u];
			b64_put(&s, h, 2);
		}
	} else if (!cancels(c->u.cl.auth_mech, a->step)) {
		/* XOAUTH2's error challenge: an empty response, then the failure */
	} else {
		smtpc__put(w, "*", 1);
	}
	b64_end(&s);
	smtpc__put(w, "\r\n", 2);
}

/* The longest line this AUTH can write, for the checks before it starts. */
static size_t longest_line(const smtpc_conn *c)
{
	struct auth_ctx a;
	static const unsigned char zero[16];
	struct w w = {NULL, 0};
	size_t most = 0;

	a.c = c;
	a.digest = zero;
	for (a.step = 0; a.step <= 2; a.step++) {
		w.len = 0;
		build_auth(&w, &a);
		if (w.len > most)
			most = w.len;
	}
	return most;
}

void smtpc__auth_done(smtpc_conn *c)
{
	c->u.cl.auth_mech = 0;
	c->u.cl.auth_step = 0;
	c->u.cl.auth_user = NULL;
	c->u.cl.auth_pass = NULL;
}

static const unsigned mech_bits[] = {0, SMTPC_AUTH_PLAIN, SMTPC_AUTH_LOGIN, SMTPC_AUTH_CRAM_MD5,
				     SMTPC_AUTH_XOAUTH2};

smtpc_err smtpc_auth(smtpc_conn *c, smtpc_mech mech, const char *user, const char *pass)
{
	struct auth_ctx a;
	smtpc_err e;
	size_t n;

	if (c == NULL || user == NULL || pass == NULL)
		return SMTPC_ERR_NULL_ARG;
	if ((unsigned)mech < SMTPC_MECH_PLAIN || (unsigned)mech > SMTPC_MECH_XOAUTH2)
		return SMTPC_ERR_BAD_PARAM;
	e = smtpc__may_issue(c, SMTPC_CMD_AUTH);
	if (e != SMTPC_ERR_OK)
		return e;
	if (!(c->flags & F_GREETED) || (c->flags & F_TXN))
		return SMTPC_ERR_SEQUENCE;
	if (c->flags & F_AUTHED)
		return SMTPC_ERR_STATE; /* RFC 4954 4: one successful AUTH per session */
	if (!(c->u.cl.caps.ext & SMTPC_EXT_AUTH) || !(c->u.cl.caps.auth & mech_bits[mech]))
		return SMTPC_ERR_NOT_OFFERED;
	if (!(c->flags & F_SECURE) && !c->cfg.allow_plain_auth)
		return SMTPC_ERR_AUTH_NEEDS_TLS;
	if (mech == SMTPC_MECH_CRAM_MD5 && c->u.cl.hmac == NULL)
		return SMTPC_ERR_DIGEST;
	if (mech == SMTPC_MECH_XOAUTH2) { /* ^A separates the fields */
		e = smtpc__check_text(user, strlen(user), 0);
		if (e == SMTPC_ERR_OK)
			e = smtpc__check_text(pass, strlen(pass), 0);
		if (e != SMTPC_ERR_OK)
			return e;
	}
	c->u.cl.auth_mech = (unsigned char)mech;
	c->u.cl.auth_user = user;
	c->u.cl.auth_pass = pass;
	n = longest_line(c);
	if (n > SMTPC_AUTH_LINE_MAX)
		e = SMTPC_ERR_TOO_LONG;
	else if (n > c->tx_cap)
		e = SMTPC_ERR_TX_SMALL;
	a.c = c;
	a.step = 0;
	a.digest = NULL;
	if (e == SMTPC_ERR_OK)
		e = smtpc__emit(c, build_auth, &a, SMTPC_AUTH_LINE_MAX, SMTPC_CMD_AUTH,
				mech == SMTPC_MECH_PLAIN || mech == SMTPC_MECH_XOAUTH2);
	if (e != SMTPC_ERR_OK) {
		smtpc__auth_done(c);
		return e;
	}
	smtpc__push(c, SMTPC_CMD_AUTH, 0, 0);
	return SMTPC_ERR_OK;
}

/* Decodes a CRAM-MD5 challenge into the free end of the transmit buffer and
 * computes the digest. Returns SMTPC_ERR_OK or the sticky error to set.
 * Reached through u.cl.cram, which only smtpc_set_hmac_md5 sets: a program
 * that never sets the hook links neither this nor the base64 decoder. */
static smtpc_err cram_digest(smtpc_conn *c, const char *text, size_t len, unsigned char *digest)
{
	size_t room, n;
	unsigned char *scratch;

	smtpc__tx_compact(c);
	room = c->tx_cap - c->tx_end;
	n = longest_line(c);
	if (room < n)
		return SMTPC_ERR_TX_SMALL;
	scratch = c->tx + c->tx_end + n;
	n = smtpc_b64_decode(scratch, room - n, text, len);
	if (n == (size_t)-1)
		return len / 4 * 3 > room - longest_line(c) ? SMTPC_ERR_TX_SMALL
							    : SMTPC_ERR_BAD_CHALLENGE;
	if (n == 0)
		return SMTPC_ERR_BAD_CHALLENGE;
	if (c->u.cl.hmac == NULL)
		return SMTPC_ERR_DIGEST;
	c->flags |= F_HOOK;
	n = (size_t)c->u.cl.hmac(c->u.cl.hmac_ctx, (const unsigned char *)c->u.cl.auth_pass,
				 strlen(c->u.cl.auth_pass), scratch, n, digest);
	c->flags &= ~F_HOOK;
	return n != 0 ? SMTPC_ERR_DIGEST : SMTPC_ERR_OK;
}

void smtpc_set_hmac_md5(smtpc_conn *c, smtpc_hmac_md5_fn fn, void *ctx)
{
	if (c == NULL || !smtpc__is_client(c))
		return;
	c->u.cl.hmac = fn;
	c->u.cl.hmac_ctx = ctx;
	c->u.cl.cram = cram_digest;
}

void smtpc__auth_challenge(smtpc_conn *c, const char *text, size_t len)
{
	unsigned char digest[16];
	struct auth_ctx a;
	smtpc_err e = SMTPC_ERR_OK;
	smtpc_qent *head = &c->u.cl.q[c->u.cl.q_head];

	a.c = c;
	a.step = ++c->u.cl.auth_step;
	a.digest = digest;
	if (cancels(c->u.cl.auth_mech, a.step - 1))
		e = SMTPC_ERR_BAD_CHALLENGE; /* one after the cancelling "*" */
	else if (c->u.cl.auth_mech == SMTPC_MECH_CRAM_MD5 && a.step == 1)
		e = c->u.cl.cram != NULL ? c->u.cl.cram(c, text, len, digest) : SMTPC_ERR_DIGEST;
	if (e == SMTPC_ERR_OK)
		e = smtpc__emit(c, build_auth, &a, SMTPC_AUTH_LINE_MAX, SMTPC_CMD_AUTH, 1);
	if (e == SMTPC_ERR_NO_SPACE)
		e = SMTPC_ERR_TX_SMALL;
	memset(digest, 0, sizeof digest);
	if (e != SMTPC_ERR_OK) {
		smtpc__set_error(c, e);
		return;
	}
	/* what arrived before this response cannot answer it */
	smtpc__set_mark(head, c->rx_total);
}
