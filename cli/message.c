/*
 * Messages for the sendmail interface and for --subject/--body/--header
 * (see message.h).
 *
 * The address-list parser (RFC 5322 3.4) is one loop over the field body,
 * no recursion: comments are skipped with a depth counter, quoted strings
 * and domain literals are copied whole, '<' ... '>' is an angle address
 * (its source route, RFC 5322 4.4, dropped), ':' opens a group and ';'
 * closes it, ',' ends a mailbox. Outside angle brackets and quotes white
 * space is dropped (FWS may sit around the dots of an addr-spec); a display
 * name is forgotten when its angle address comes. The address is what the
 * mailbox check of smtpc send then judges.
 *
 * The header section (RFC 5322 2.2) is read whole (up to MSG_HEADER_MAX)
 * before anything is written, so that the added fields can go first and
 * the recipients are known before the connection.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "message.h"

/* ---- addresses ------------------------------------------------------------------------- */

struct alist {
	char cur[MSG_ADDR_MAX + 1], angle[MSG_ADDR_MAX + 1];
	size_t n, an;
	int have_angle, in_angle, over;
	int space; /* white space after the last octet outside angle brackets */
	int words; /* words apart, as in a display name: no addr-spec */
};

static int put(struct alist *a, char ch)
{
	if (a->in_angle) {
		if (a->an == MSG_ADDR_MAX)
			return -1;
		a->angle[a->an++] = ch;
	} else if (a->n == MSG_ADDR_MAX) {
		a->over = 1; /* an error only if no angle address follows */
	} else {
		/* FWS may sit around the dots and the '@' of an addr-spec, not
		 * between two words */
		if (a->space && a->n > 0 && !strchr(".@", a->cur[a->n - 1]) && !strchr(".@", ch))
			a->words = 1;
		a->cur[a->n++] = ch;
	}
	a->space = 0;
	return 0;
}

static int flush(struct alist *a, int (*add)(void *, const char *), void *ctx, int *count,
		 const char **why)
{
	char *s;

	if (a->have_angle) {
		a->angle[a->an] = '\0';
		s = a->angle;
		if (s[0] == '@') { /* an obsolete source route: @a,@b:mailbox */
			char *colon = strchr(s, ':');
			s = colon ? colon + 1 : s + strlen(s);
		}
	} else {
		if (a->over) {
			*why = "an address longer than 320 octets";
			return -1;
		}
		if (a->words) {
			*why = "words with no angle address (a display name goes before <address>)";
			return -1;
		}
		a->cur[a->n] = '\0';
		s = a->cur;
	}
	a->n = a->an = 0;
	a->have_angle = a->over = a->words = a->space = 0;
	if (*s == '\0')
		return 0;
	if (add(ctx, s) != 0) {
		*why = "too many recipients, or a bad one";
		return -1;
	}
	(*count)++;
	return 0;
}

int msg_addresses(const char *v, size_t len, int (*add)(void *ctx, const char *addr), void *ctx,
		  const char **why)
{
	struct alist a;
	size_t i = 0;
	int count = 0, in_group = 0;

	memset(&a, 0, sizeof a);
	while (i < len) {
		char ch = v[i];
		if (ch == '(') { /* a comment, nested */
			unsigned depth = 0;
			do {
				if (v[i] == '\\')
					i++;
				else if (v[i] == '(' && ++depth > MSG_COMMENT_DEPTH) {
					*why = "comments nested too deep";
					return -1;
				} else if (v[i] == ')')
					depth--;
				i++;
			} while (depth > 0 && i < len);
			if (depth > 0) {
				*why = "a comment without its ')'";
				return -1;
			}
			continue;
		}
		if (ch == '"' || ch == '[') { /* copied whole */
			char end = ch == '"' ? '"' : ']';
			if (put(&a, ch) != 0)
				goto long_addr;
			for (i++;; i++) {
				if (i >= len) {
					*why = ch == '"'
						   ? "a quoted string without its closing quote"
						   : "a domain literal without its ']'";
					return -1;
				}
				if (v[i] == '\r' || v[i] == '\n')
					continue; /* folding */
				if (put(&a, v[i]) != 0)
					goto long_addr;
				if (v[i] == '\\' && i + 1 < len) {
					if (put(&a, v[++i]) != 0)
						goto long_addr;
				} else if (v[i] == end) {
					break;
				}
			}
			i++;
			continue;
		}
		i++;
		if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {
			a.space = !a.in_angle;
			continue;
		}
		if (ch == '<') {
			if (a.in_angle || a.have_angle) {
				*why = "a '<' where none may be";
				return -1;
			}
			a.in_angle = a.have_angle = 1;
			a.n = 0;
			a.over = a.words = 0; /* what came before was a display name */
			continue;
		}
		if (ch == '>') {
			if (!a.in_angle) {
				*why = "a '>' without its '<'";
				return -1;
			}
			a.in_angle = 0;
			continue;
		}
		if (a.in_angle) {
			if (put(&a, ch) != 0)
				goto long_addr;
			continue;
		}
		if (ch == ':') { /* a group: its name is no address */
			if (in_group || a.have_angle) {
				*why = "a ':' where none may be (a group in a group?)";
				return -1;
			}
			in_group = 1;
			a.n = 0;
			a.over = a.words = a.space = 0;
			continue;
		}
		if (ch == ',' || ch == ';') {
			if (flush(&a, add, ctx, &count, why) != 0)
				return -1;
			if (ch == ';')
				in_group = 0;
			continue;
		}
		if (a.have_angle) {
			*why = "text after an angle address";
			return -1;
		}
		if (put(&a, ch) != 0)
			goto long_addr;
	}
	if (a.in_angle) {
		*why = "a '<' without its '>'";
		return -1;
	}
	if (flush(&a, add, ctx, &count, why) != 0)
		return -1;
	return count;
long_addr:
	*why = "an address longer than 320 octets";
	return -1;
}

/* ---- dates, identifiers, encoded words ---------------------------------------------------- */

void msg_date(char *buf, size_t len, time_t t)
{
	struct tm tm;

	/* the C locale (the tool never sets another): English day and month */
	if (localtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		snprintf(buf, len, "Thu, 01 Jan 1970 00:00:00 +0000");
}

void msg_id(char *buf, size_t len, const char *domain, time_t t)
{
	uint32_t r[2] = {0, 0};
	FILE *f = fopen("/dev/urandom", "rb");

	if (f == NULL || fread(r, sizeof r, 1, f) != 1) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		r[0] = (uint32_t)ts.tv_nsec;
		r[1] = (uint32_t)(uintptr_t)&ts;
	}
	if (f != NULL)
		fclose(f);
	snprintf(buf, len, "<%lld.%ld.%08lx%08lx@%s>", (long long)t, (long)getpid(),
		 (unsigned long)r[0], (unsigned long)r[1],
		 domain && *domain ? domain : "localhost");
}

static int is_ascii(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] >= 0x80)
			return 0;
	}
	return 1;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void put_b64(FILE *out, const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i + 2 < n; i += 3)
		fprintf(out, "%c%c%c%c", b64[p[i] >> 2], b64[((p[i] & 3) << 4) | (p[i + 1] >> 4)],
			b64[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)], b64[p[i + 2] & 63]);
	if (n - i == 1)
		fprintf(out, "%c%c==", b64[p[i] >> 2], b64[(p[i] & 3) << 4]);
	else if (n - i == 2)
		fprintf(out, "%c%c%c=", b64[p[i] >> 2], b64[((p[i] & 3) << 4) | (p[i + 1] >> 4)],
			b64[(p[i + 1] & 15) << 2]);
}

/* Text as RFC 2047 encoded words (B, UTF-8), each at most 75 octets and
 * cut between characters, folded onto lines of their own. */
static void put_encoded(FILE *out, const char *s)
{
	size_t len = strlen(s), at = 0;

	while (at < len) {
		size_t n = len - at > 45 ? 45 : len - at; /* 45 octets: 60 of base64 */
		if (at + n < len)
			while (n > 1 && ((unsigned char)s[at + n] & 0xc0) == 0x80)
				n--; /* not inside a character */
		fputs(at ? "\n =?UTF-8?B?" : "=?UTF-8?B?", out);
		put_b64(out, (const unsigned char *)s + at, n);
		fputs("?=", out);
		at += n;
	}
}

/* ASCII text after a field name of col octets, folded (RFC 5322 2.2.3: a
 * line break goes before white space, and unfolding takes it away again) so
 * that lines keep to 78 octets where the words allow. Returns -1, writing
 * nothing, when a word is too long for a line of 998 (then it is encoded). */
static int put_folded(FILE *out, const char *s, size_t col)
{
	const char *p;
	size_t w;

	for (p = s; *p; p += w) { /* runs: one octet, then up to the next white space */
		w = strcspn(p + 1, " \t") + 1;
		if (w > 900)
			return -1;
	}
	for (p = s; *p; p += w) {
		w = strcspn(p + 1, " \t") + 1;
		if (col + w > 78 && col > 1 && w > 1 && (*p == ' ' || *p == '\t')) {
			fputs("\n", out);
			col = 0;
		}
		fwrite(p, 1, w, out);
		col += w;
	}
	return 0;
}

/* A display name: as it is when it is atoms, quoted otherwise, encoded when
 * not ASCII. */
static void put_phrase(FILE *out, const char *name)
{
	const char *p;
	int plain = 1;

	if (!is_ascii(name, strlen(name))) {
		put_encoded(out, name);
		return;
	}
	for (p = name; *p; p++) {
		if (strchr("()<>[]:;@\\,.\"", *p) != NULL)
			plain = 0;
	}
	if (plain) {
		fputs(name, out);
		return;
	}
	putc('"', out);
	for (p = name; *p; p++) {
		if (*p == '"' || *p == '\\')
			putc('\\', out);
		putc(*p, out);
	}
	putc('"', out);
}

/* ---- the sendmail interface -------------------------------------------------------------------
 */

/* The offset of the ':' that ends the field name at s, 0 if the line is no
 * field; the name's length in *name_len (may be NULL). RFC 5322 2.2: the
 * name is printable ASCII but ':', no space; 4.5 (obsolete syntax, still
 * read): white space may come between the name and the colon. */
static size_t field_name(const char *s, size_t n, size_t *name_len)
{
	size_t i, k;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == ':')
			break;
		if (ch <= 32 || ch >= 127)
			break;
	}
	if (i == 0 || i == n)
		return 0;
	for (k = i; k < n && (s[k] == ' ' || s[k] == '\t'); k++)
		;
	if (k == n || s[k] != ':')
		return 0;
	if (name_len != NULL)
		*name_len = i;
	return k;
}

static int named(const char *s, size_t n, const char *name)
{
	return strlen(name) == n && strncasecmp(s, name, n) == 0;
}

/* Whether the field named s (n octets) gives recipients: To, Cc, Bcc; or
 * with resent Resent-To, Resent-Cc, Resent-Bcc. */
static int rcpt_field(const char *s, size_t n, int resent)
{
	if (resent) {
		if (n < 7 || strncasecmp(s, "Resent-", 7) != 0)
			return 0;
		s += 7;
		n -= 7;
	}
	return named(s, n, "To") || named(s, n, "Cc") || named(s, n, "Bcc");
}

/* The end of the line that starts at p (after its LF), or end. */
static const char *line_end(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	return nl ? nl + 1 : end;
}

int msg_sendmail_copy(FILE *in, FILE *out, const struct msg_sendmail *o,
		      int (*add)(void *ctx, const char *addr), void *ctx, const char **why)
{
	char *hdr = malloc(MSG_HEADER_MAX + 1), buf[65536], date[64], id[400];
	size_t len = 0, n;
	size_t ls = 0;
	int ch, has_date = 0, has_id = 0, has_from = 0, resent = 0;
	const char *p, *q, *end, *body = NULL;

	if (hdr == NULL) {
		*why = "out of memory";
		return MSG_ERR_SPOOL;
	}
	/* the header section: up to the first empty line, or the first line
	 * that is neither a field nor a field's continuation (kept: it is the
	 * body's first) */
	while ((ch = getc(in)) != EOF) {
		const char *l = hdr + ls;
		size_t ll;
		if (len == MSG_HEADER_MAX) {
			*why = "a header section larger than 256 KiB";
			free(hdr);
			return -1;
		}
		hdr[len++] = (char)ch;
		if (ch != '\n')
			continue;
		ll = len - ls;
		if (ll == 1 || (ll == 2 && l[0] == '\r'))
			break; /* the empty line */
		if (l[0] != ' ' && l[0] != '\t' && field_name(l, ll, NULL) == 0 &&
		    !(ls == 0 && ll >= 5 && memcmp(l, "From ", 5) == 0))
			break;
		ls = len;
	}
	if (ferror(in)) {
		*why = "cannot read the message";
		free(hdr);
		return MSG_ERR_READ;
	}
	end = hdr + len;
	p = hdr;
	if (len >= 5 && memcmp(hdr, "From ", 5) == 0)
		p = line_end(p, end); /* an mbox separator line is no header */
	/* the fields: a name and ':', continued by lines that start with white space */
	{
		q = p;
		while (q < end) {
			const char *f = q, *fe;
			size_t nn = 0, nl = field_name(q, (size_t)(end - q), &nn);
			if (*q == '\r' || *q == '\n') { /* the empty line */
				body = q;
				break;
			}
			if (nl == 0) { /* not a field: the body starts here */
				body = q;
				break;
			}
			fe = line_end(q, end);
			while (fe < end && (*fe == ' ' || *fe == '\t'))
				fe = line_end(fe, end);
			if (named(f, nn, "Date"))
				has_date = 1;
			else if (named(f, nn, "Message-ID"))
				has_id = 1;
			else if (named(f, nn, "From"))
				has_from = 1;
			else if (rcpt_field(f, nn, 1))
				resent = 1;
			q = fe;
		}
		if (body == NULL)
			body = end;
	}
	/* -t: the recipients of To, Cc and Bcc; of a message sent on again
	 * (RFC 5322 3.6.6: Resent- fields), those of Resent-To, -Cc, -Bcc */
	for (q = p; o->take_rcpts && q < body;) {
		size_t nn = 0, nl = field_name(q, (size_t)(body - q), &nn);
		const char *fe = line_end(q, body);
		while (fe < body && (*fe == ' ' || *fe == '\t'))
			fe = line_end(fe, body);
		if (rcpt_field(q, nn, resent) &&
		    msg_addresses(q + nl + 1, (size_t)(fe - q - nl - 1), add, ctx, why) < 0) {
			free(hdr);
			return -1;
		}
		q = fe;
	}
	if (!has_from && o->from != NULL && o->from[0] != '\0') {
		fputs("From: ", out);
		if (o->fullname != NULL && o->fullname[0] != '\0') {
			put_phrase(out, o->fullname);
			fprintf(out, " <%s>\n", o->from);
		} else {
			fprintf(out, "%s\n", o->from);
		}
	}
	if (!has_date) {
		msg_date(date, sizeof date, o->now);
		fprintf(out, "Date: %s\n", date);
	}
	if (!has_id) {
		msg_id(id, sizeof id, o->domain, o->now);
		fprintf(out, "Message-ID: %s\n", id);
	}
	/* the fields as they came, but Bcc and Resent-Bcc (RFC 5322 3.6.3, 3.6.6) */
	while (p < body) {
		size_t nn = 0;
		const char *fe = line_end(p, body);
		field_name(p, (size_t)(body - p), &nn);
		while (fe < body && (*fe == ' ' || *fe == '\t'))
			fe = line_end(fe, body);
		if (!named(p, nn, "Bcc") && !named(p, nn, "Resent-Bcc"))
			fwrite(p, 1, (size_t)(fe - p), out);
		p = fe;
	}
	if (body == end && end > hdr && end[-1] != '\n')
		fputs("\n", out); /* the last field, cut by the end of the input */
	/* the empty line before a body that has none: whatever the first line
	 * that is no field was (a stray continuation line, text), it is body */
	if (body < end && *body != '\n' && !(*body == '\r' && body + 1 < end && body[1] == '\n'))
		fputs("\n", out);
	fwrite(body, 1, (size_t)(end - body), out);
	free(hdr);
	while ((n = fread(buf, 1, sizeof buf, in)) > 0)
		fwrite(buf, 1, n, out);
	if (ferror(in)) {
		*why = "cannot read the message";
		return MSG_ERR_READ;
	}
	if (fflush(out) != 0 || ferror(out)) {
		*why = "cannot spool the message (disk full?)";
		return MSG_ERR_SPOOL;
	}
	return 0;
}

/* ---- composing ------------------------------------------------------------------------------ */

int msg_header_ok(const char *h)
{
	const char *colon = strchr(h, ':');
	size_t nl = colon ? (size_t)(colon - h) : 0, nn = 0;

	if (nl == 0 || field_name(h, strlen(h), &nn) != nl || nn != nl)
		return 0; /* no white space before the colon here */
	return strpbrk(h, "\r\n") == NULL;
}

/* Nonzero when an extra header is named name. */
static int given(const struct msg_compose *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->nheaders; i++) {
		if (named(c->headers[i], (size_t)(strchr(c->headers[i], ':') - c->headers[i]),
			  name))
			return 1;
	}
	return 0;
}

int msg_compose_write(FILE *out, const struct msg_compose *c, const char **why)
{
	char date[64], id[400], buf[65536];
	int ascii = 1;
	size_t i, n, col;

	if (c->subject && strpbrk(c->subject, "\r\n")) {
		*why = "--subject holds a line break";
		return -1;
	}
	for (i = 0; i < c->nheaders; i++) {
		if (!msg_header_ok(c->headers[i])) {
			*why = "a --header is not 'Name: value' on one line";
			return -1;
		}
		ascii &= is_ascii(c->headers[i], strlen(c->headers[i]));
	}
	if (c->body_file != NULL) {
		while ((n = fread(buf, 1, sizeof buf, c->body_file)) > 0)
			ascii &= is_ascii(buf, n);
		if (ferror(c->body_file) || fseek(c->body_file, 0, SEEK_SET) != 0) {
			*why = "cannot read the --body file";
			return MSG_ERR_READ;
		}
	} else if (c->body != NULL) {
		ascii &= is_ascii(c->body, strlen(c->body));
	}
	if (!given(c, "From") && c->from[0] != '\0')
		fprintf(out, "From: %s\n", c->from);
	if (!given(c, "To")) {
		fputs("To: ", out);
		for (i = 0, col = 4; i < c->nto; i++) {
			size_t w = strlen(c->to[i]);
			if (i > 0 && col + w + 2 > 78) {
				fputs(",\n ", out);
				col = 1;
			} else if (i > 0) {
				fputs(", ", out);
				col += 2;
			}
			fputs(c->to[i], out);
			col += w;
		}
		fputs("\n", out);
	}
	if (c->subject != NULL && !given(c, "Subject")) {
		fputs("Subject: ", out);
		if (!is_ascii(c->subject, strlen(c->subject)) ||
		    put_folded(out, c->subject, 9) != 0)
			put_encoded(out, c->subject);
		fputs("\n", out);
	}
	if (!given(c, "Date")) {
		msg_date(date, sizeof date, c->now);
		fprintf(out, "Date: %s\n", date);
	}
	if (!given(c, "Message-ID")) {
		msg_id(id, sizeof id, c->domain, c->now);
		fprintf(out, "Message-ID: %s\n", id);
	}
	for (i = 0; i < c->nheaders; i++)
		fprintf(out, "%s\n", c->headers[i]);
	if (!ascii) { /* RFC 2045, RFC 6532: the text is UTF-8 */
		if (!given(c, "MIME-Version"))
			fputs("MIME-Version: 1.0\n", out);
		if (!given(c, "Content-Type"))
			fputs("Content-Type: text/plain; charset=UTF-8\n", out);
		if (!given(c, "Content-Transfer-Encoding"))
			fputs("Content-Transfer-Encoding: 8bit\n", out);
	}
	fputs("\n", out);
	if (c->body_file != NULL) {
		while ((n = fread(buf, 1, sizeof buf, c->body_file)) > 0)
			fwrite(buf, 1, n, out);
		if (ferror(c->body_file)) {
			*why = "cannot read the --body file";
			return MSG_ERR_READ;
		}
	} else if (c->body != NULL) {
		n = strlen(c->body);
		fwrite(c->body, 1, n, out);
		if (n > 0 && c->body[n - 1] != '\n')
			fputs("\n", out);
	}
	if (fflush(out) != 0 || ferror(out)) {
		*why = "cannot spool the message (disk full?)";
		return MSG_ERR_SPOOL;
	}
	return 0;
}
