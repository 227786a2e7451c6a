/*
 * smtpc send: deliver one message.
 *
 * Order of work: every argument is checked before the connection is made;
 * the message is measured (wire size for SIZE=, 8-bit content for BODY=)
 * in a first pass over the file (standard input is spooled to a temporary
 * file first, so memory stays flat whatever the size); then EHLO (HELO when
 * EHLO gets 500 or 502), AUTH, MAIL, RCPT for each recipient, DATA (BDAT
 * when CHUNKING is offered), QUIT. With PIPELINING, MAIL, the RCPTs and
 * DATA go out in one write and the replies are read afterwards.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define CHUNK (256u * 1024u)

static const char send_usage[] =
	"usage: smtpc send --host HOST [--port PORT] --from ADDR --to ADDR [--to ADDR ...]\n"
	"                  [--tls | --starttls] [--cafile FILE] [--tls-name NAME] [--insecure]\n"
	"                  [--auth plain|login|cram-md5|xoauth2 --user U --password P]\n"
	"                  [--helo NAME] [--timeout MS] [--file FILE] [-v]\n"
	"\n"
	"Reads the message (headers and body) from FILE or standard input and delivers it.\n"
	"Line ends become CRLF, leading dots are doubled, the data ends with one CRLF.CRLF.\n"
	"\n"
	"  --host HOST       server name or address (required)\n"
	"  --port PORT       server port (default 25)\n"
	"  --from ADDR       envelope sender; \"\" for the null sender (required)\n"
	"  --to ADDR         envelope recipient; repeat for more (at least one)\n"
	"  --tls             implicit TLS (port 465 style)\n"
	"  --starttls        upgrade with STARTTLS; never falls back to clear text\n"
	"  --cafile FILE     trust anchors for certificate verification\n"
	"  --tls-name NAME   the name to verify and send as SNI (default: HOST; needed\n"
	"                    when HOST is an IP address)\n"
	"  --insecure        skip certificate checks; allow AUTH without TLS\n"
	"  --auth MECH       plain, login, cram-md5 or xoauth2 (the password is the token)\n"
	"  --user U, --password P   credentials for --auth\n"
	"  --helo NAME       name for EHLO/HELO (default: this host's name, or localhost)\n"
	"  --timeout MS      bound on connecting and on each reply (default 30000)\n"
	"  --file FILE       message file (default: standard input)\n"
	"  -v                transcript on standard error (C: command, S: reply line)\n";

struct send {
	const char *host, *port, *from, *helo, *user, *password, *file, *cafile, *tls_name;
	const char **to;
	size_t nto;
	int tls, starttls, insecure, verbose;
	smtpc_mech mech;
	long timeout;
	/* the message */
	FILE *msg;
	uint64_t wire_size, text_size, longest;
	int has_8bit, needs_utf8;
	/* the session */
	smtpc_posix *p;
	smtpc_conn *c;
	smtpc_posix_tls *tlsx; /* with --tls or --starttls */
	unsigned mail_code, data_code, final_code, worst_rcpt;
	size_t accepted, refused;
	int bdat_failed;
	struct chunk {
		unsigned char *data;
		size_t len;
		int last;
	} ch; /* the BDAT chunk being issued */
	char why[600]; /* the first refusal, for the message on failure */
	int told;      /* the cause of a failure was printed already */
};

/* ---- transcript ------------------------------------------------------------------- */

static void on_command(void *user, smtpc_cmd cmd, const char *line, size_t len, int secret)
{
	struct send *s = user;

	(void)cmd;
	if (!s->verbose)
		return;
	if (secret) {
		size_t k = 0;
		if (len > 5 && memcmp(line, "AUTH ", 5) == 0) /* keep the verb and mechanism */
			for (k = 5; k < len && line[k] != ' '; k++)
				;
		fprintf(stderr, "C: %.*s%s<secret>\n", (int)k, line, k ? " " : "");
	} else {
		fprintf(stderr, "C: %.*s\n", (int)len, line);
	}
}

static void on_line(void *user, const smtpc_line *l)
{
	struct send *s = user;

	if (s->verbose)
		fprintf(stderr, "S: %u%c%s\n", l->code, l->last ? ' ' : '-', l->text);
}

/* ---- the message ---------------------------------------------------------------------- */

/* Opens the message; standard input that cannot seek is spooled. */
static int open_message(struct send *s)
{
	FILE *in = s->file ? fopen(s->file, "rb") : stdin;
	unsigned char buf[65536];
	size_t n;

	if (in == NULL) {
		say("cannot read %s: %s", s->file, strerror(errno));
		return 66;
	}
	if (fseek(in, 0, SEEK_SET) == 0) {
		s->msg = in;
		return 0;
	}
	s->msg = tmpfile();
	if (s->msg == NULL) {
		say("cannot spool standard input: %s", strerror(errno));
		if (in != stdin)
			fclose(in);
		return 66;
	}
	while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
		if (fwrite(buf, 1, n, s->msg) != n) {
			say("cannot spool standard input: %s", strerror(errno));
			if (in != stdin)
				fclose(in);
			return 66;
		}
	}
	n = ferror(in) || fseek(s->msg, 0, SEEK_SET) != 0;
	if (in != stdin)
		fclose(in);
	if (n) {
		say("cannot read the message");
		return 66;
	}
	return 0;
}

/* Measures the message as DATA and as BDAT text would carry it. */
static int measure(struct send *s)
{
	unsigned char buf[65536];
	smtpc_dotenc dot, text;
	size_t n;
	uint64_t line = 0;

	smtpc_dot_init(&dot);
	smtpc_dot_init(&text);
	text.no_dots = 1;
	while ((n = fread(buf, 1, sizeof buf, s->msg)) > 0) {
		size_t i;
		dot.next_in = text.next_in = buf;
		dot.avail_in = text.avail_in = n;
		smtpc_dot_encode(&dot);
		smtpc_dot_encode(&text);
		for (i = 0; i < n; i++) { /* the longest line on the wire (RFC 5321 4.5.3.1.6) */
			if (buf[i] == '\r' || buf[i] == '\n') {
				line = 0; /* a bare CR or LF ends a line too: it becomes CRLF */
			} else {
				line += (line == 0 && buf[i] == '.') ? 2 : 1; /* a leading dot doubles */
				if (line > s->longest)
					s->longest = line;
			}
		}
	}
	if (ferror(s->msg) || fseek(s->msg, 0, SEEK_SET) != 0) {
		say("cannot read the message");
		return 66;
	}
	smtpc_dot_finish(&dot);
	smtpc_dot_finish(&text);
	s->wire_size = dot.total_out;
	s->text_size = text.total_out;
	s->has_8bit = dot.has_8bit;
	return 0;
}

/* ---- replies -------------------------------------------------------------------------- */

static void note_refusal(struct send *s, const char *what, const smtpc_reply *r)
{
	if (s->why[0] == '\0')
		snprintf(s->why, sizeof s->why, "%s refused: %u %s", what, r->code, r->text);
}

/* The next reply. One that answers nothing is the server closing (421)
 * or a protocol violation: either ends the session. */
static smtpc_err next_reply(struct send *s, smtpc_reply *r)
{
	smtpc_err e = smtpc_posix_wait(s->p, r);

	if (e != SMTPC_ERR_OK || r->cmd != SMTPC_CMD_NONE)
		return e;
	s->told = 1;
	if (r->code == 421) {
		say("the server is closing the session: %u %s", r->code, r->text);
		return SMTPC_ERR_CLOSED;
	}
	say("the server sent a reply nothing asked for: %u %s", r->code, r->text);
	return SMTPC_ERR_BAD_REPLY;
}

/* Waits for one reply and records what it answers. */
static smtpc_err wait_one(struct send *s)
{
	smtpc_reply r;
	smtpc_err e = next_reply(s, &r);
	char what[300];

	if (e != SMTPC_ERR_OK)
		return e;
	switch (r.cmd) {
	case SMTPC_CMD_MAIL:
		s->mail_code = r.code;
		if (r.code / 100 != 2)
			note_refusal(s, "MAIL FROM", &r);
		break;
	case SMTPC_CMD_RCPT:
		if (r.code / 100 == 2) {
			s->accepted++;
		} else {
			s->refused++;
			if (r.code > s->worst_rcpt || s->worst_rcpt == 0)
				s->worst_rcpt = r.code;
			snprintf(what, sizeof what, "RCPT TO:<%s>", r.index < s->nto ? s->to[r.index] : "?");
			note_refusal(s, what, &r);
		}
		break;
	case SMTPC_CMD_DATA:
		s->data_code = r.code;
		if (r.code != 354 && s->accepted > 0)
			note_refusal(s, "DATA", &r);
		break;
	case SMTPC_CMD_BDAT:
		if (r.code / 100 != 2 && !s->bdat_failed) {
			s->bdat_failed = 1;
			note_refusal(s, "BDAT", &r);
		}
		if (r.code / 100 == 2 || s->final_code == 0)
			s->final_code = r.code;
		break;
	case SMTPC_CMD_DATA_END:
		s->final_code = r.code;
		if (r.code / 100 != 2)
			note_refusal(s, "message", &r);
		break;
	default:
		break;
	}
	return SMTPC_ERR_OK;
}

/* Waits for every outstanding reply. */
static smtpc_err wait_all(struct send *s)
{
	while (smtpc_pending(s->c) > 0) {
		smtpc_err e = wait_one(s);
		if (e != SMTPC_ERR_OK)
			return e;
	}
	return SMTPC_ERR_OK;
}

/* Issues a command built by fn; on a full queue or buffer, sends and reads
 * replies, then tries again. */
typedef smtpc_err (*issue_fn)(struct send *s, size_t i);

static smtpc_err issue(struct send *s, issue_fn fn, size_t i)
{
	for (;;) {
		smtpc_err e = fn(s, i);
		if (e == SMTPC_ERR_NO_SPACE) {
			e = smtpc_posix_flush(s->p);
		} else if (e == SMTPC_ERR_QUEUE_FULL || e == SMTPC_ERR_PIPELINE) {
			e = smtpc_posix_flush(s->p);
			if (e == SMTPC_ERR_OK)
				e = wait_one(s);
		} else {
			return e;
		}
		if (e != SMTPC_ERR_OK)
			return e;
	}
}

static smtpc_err do_mail(struct send *s, size_t i)
{
	const smtpc_caps *k = smtpc_get_caps(s->c);
	smtpc_mail_opts mo;

	(void)i;
	memset(&mo, 0, sizeof mo);
	if (k->ext & SMTPC_EXT_SIZE)
		mo.size = (k->ext & SMTPC_EXT_CHUNKING) ? s->text_size : s->wire_size;
	if (s->has_8bit && (k->ext & SMTPC_EXT_8BITMIME))
		mo.body = SMTPC_BODY_8BITMIME;
	mo.smtputf8 = s->needs_utf8;
	return smtpc_mail(s->c, s->from, &mo);
}

static smtpc_err do_rcpt(struct send *s, size_t i)
{
	return smtpc_rcpt(s->c, s->to[i], NULL);
}

static smtpc_err do_data(struct send *s, size_t i)
{
	(void)i;
	return smtpc_data(s->c);
}

/* ---- message data -------------------------------------------------------------------------- */

static smtpc_err send_dot_body(struct send *s)
{
	unsigned char buf[65536];
	size_t n;
	smtpc_err e;

	if (s->accepted > 0) {
		while ((n = fread(buf, 1, sizeof buf, s->msg)) > 0) {
			e = smtpc_posix_body(s->p, buf, n);
			if (e != SMTPC_ERR_OK)
				return e;
		}
		if (ferror(s->msg)) {
			say("cannot read the message");
			return SMTPC_ERR_IO;
		}
	}
	/* with no recipient left, the terminator alone ends the data (RFC 2920 3.1) */
	while ((e = smtpc_body_end(s->c)) == SMTPC_ERR_NO_SPACE) {
		e = smtpc_posix_flush(s->p);
		if (e != SMTPC_ERR_OK)
			return e;
	}
	return e;
}

static smtpc_err do_bdat(struct send *s, size_t i)
{
	(void)i;
	return smtpc_bdat(s->c, s->ch.len, s->ch.last);
}

/* BDAT: the text with normalised line ends, in chunks. */
static smtpc_err send_bdat_body(struct send *s)
{
	unsigned char *in = malloc(CHUNK), *out = malloc(2 * CHUNK + 2);
	smtpc_dotenc text;
	smtpc_err e = SMTPC_ERR_OK;
	struct chunk *ch = &s->ch;

	if (in == NULL || out == NULL) {
		free(in);
		free(out);
		return SMTPC_ERR_IO;
	}
	smtpc_dot_init(&text);
	text.no_dots = 1;
	do {
		size_t n = fread(in, 1, CHUNK, s->msg);
		text.next_in = in;
		text.avail_in = n;
		text.next_out = out;
		text.avail_out = 2 * CHUNK + 2;
		smtpc_dot_encode(&text);
		ch->last = n < CHUNK;
		if (ch->last)
			smtpc_dot_finish(&text);
		ch->data = out;
		ch->len = (size_t)(text.next_out - out);
		if (ferror(s->msg)) {
			say("cannot read the message");
			e = SMTPC_ERR_IO;
			break;
		}
		e = issue(s, do_bdat, 0);
		if (e == SMTPC_ERR_OK)
			e = smtpc_posix_body(s->p, ch->data, ch->len);
		if (e == SMTPC_ERR_OK && !(smtpc_get_caps(s->c)->ext & SMTPC_EXT_PIPELINING)) {
			e = smtpc_posix_flush(s->p);
			if (e == SMTPC_ERR_OK)
				e = wait_one(s);
		}
	} while (e == SMTPC_ERR_OK && !ch->last && !s->bdat_failed);
	free(in);
	free(out);
	return e;
}

/* ---- the session ------------------------------------------------------------------------------ */

static void quit(struct send *s)
{
	if (smtpc_quit(s->c) == SMTPC_ERR_OK && smtpc_posix_flush(s->p) == SMTPC_ERR_OK)
		smtpc_posix_wait(s->p, NULL); /* a server that just closes is fine */
	smtpc_posix_close(s->p);
}

/* Ends a failed session: QUIT if it is still usable, then the status. */
static int give_up(struct send *s, int status)
{
	if (!smtpc_posix_done(s->p) && smtpc_error(s->c) == SMTPC_ERR_OK)
		quit(s);
	return status;
}

static int lib_failure(struct send *s, const char *what, smtpc_err e)
{
	if (!s->told)
		say_failure(what, e, s->p);
	return give_up(s, exit_for_err(e));
}

static int hello(struct send *s)
{
	smtpc_reply r;
	smtpc_err e = smtpc_ehlo(s->c, s->helo);

	if (e == SMTPC_ERR_OK)
		e = next_reply(s, &r);
	if (e != SMTPC_ERR_OK)
		return lib_failure(s, "EHLO", e);
	if (r.code == 500 || r.code == 502) {
		e = smtpc_helo(s->c, s->helo);
		if (e == SMTPC_ERR_OK)
			e = next_reply(s, &r);
		if (e != SMTPC_ERR_OK)
			return lib_failure(s, "HELO", e);
		if (r.code / 100 != 2) {
			say("HELO refused: %u %s", r.code, r.text);
			return give_up(s, exit_for_code(r.code));
		}
	} else if (r.code / 100 != 2) {
		say("EHLO refused: %u %s", r.code, r.text);
		return give_up(s, exit_for_code(r.code));
	}
	return 0;
}

/* STARTTLS, then EHLO again. Anything short of a TLS session ends the
 * session before MAIL or AUTH: never a fall back to clear text. */
static int starttls(struct send *s)
{
	smtpc_reply r;
	smtpc_err e;

	if (!(smtpc_get_caps(s->c)->ext & SMTPC_EXT_STARTTLS)) {
		say("the server does not offer STARTTLS; not going on in clear text");
		return give_up(s, EX_PROTOCOL_);
	}
	e = smtpc_starttls(s->c);
	if (e == SMTPC_ERR_OK)
		e = next_reply(s, &r);
	if (e != SMTPC_ERR_OK)
		return lib_failure(s, "STARTTLS", e);
	if (r.code != 220) {
		say("STARTTLS refused: %u %s; not going on in clear text", r.code, r.text);
		return give_up(s, EX_PROTOCOL_);
	}
	e = smtpc_posix_starttls(s->p);
	if (e != SMTPC_ERR_OK) {
		say_failure("STARTTLS", e, s->p);
		smtpc_posix_close(s->p);
		return exit_for_err(e);
	}
	return hello(s);
}

static int authenticate(struct send *s)
{
	smtpc_reply r;
	smtpc_err e = smtpc_auth(s->c, s->mech, s->user, s->password);

	if (e == SMTPC_ERR_AUTH_NEEDS_TLS) {
		say("AUTH would send the password in clear text: use --starttls or --tls, "
		    "or --insecure to allow it");
		return give_up(s, EX_USAGE_);
	}
	if (e == SMTPC_ERR_NOT_OFFERED) {
		static const char *const names[] = {"", "PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"};
		say("the server does not offer AUTH %s", names[s->mech]);
		return give_up(s, EX_UNAVAILABLE_);
	}
	do /* the core answers each 334 itself */
		e = e == SMTPC_ERR_OK ? next_reply(s, &r) : e;
	while (e == SMTPC_ERR_OK && r.code == 334);
	if (e != SMTPC_ERR_OK)
		return lib_failure(s, "AUTH", e);
	if (r.code / 100 != 2) { /* 235 by RFC 4954; some test servers say 250 */
		say("AUTH refused: %u %s", r.code, r.text);
		return give_up(s, exit_for_code(r.code));
	}
	return 0;
}

static int transaction(struct send *s)
{
	const smtpc_caps *k = smtpc_get_caps(s->c);
	int pipelining = (k->ext & SMTPC_EXT_PIPELINING) != 0;
	int bdat = (k->ext & SMTPC_EXT_CHUNKING) != 0;
	uint64_t size = bdat ? s->text_size : s->wire_size;
	smtpc_err e;
	size_t i;

	if (s->longest > 998) { /* 1000 octets with the CRLF */
		say("the message has a line of %llu octets; SMTP allows 998 (RFC 5321 4.5.3.1.6)",
		    (unsigned long long)s->longest);
		return give_up(s, EX_DATAERR_);
	}
	if (s->needs_utf8 && !(k->ext & SMTPC_EXT_SMTPUTF8)) {
		say("an address needs SMTPUTF8, which the server does not offer");
		return give_up(s, EX_DATAERR_);
	}
	if ((k->ext & SMTPC_EXT_SIZE) && k->size_limit != 0 && size > k->size_limit) {
		say("the message (%llu octets) is over the server's limit of %llu octets",
		    (unsigned long long)size, (unsigned long long)k->size_limit);
		return give_up(s, EX_DATAERR_);
	}
	e = issue(s, do_mail, 0);
	if (e == SMTPC_ERR_OK && !pipelining)
		e = wait_one(s);
	if (e != SMTPC_ERR_OK)
		return lib_failure(s, "MAIL FROM", e);
	for (i = 0; i < s->nto && (pipelining || s->mail_code / 100 == 2); i++) {
		e = issue(s, do_rcpt, i);
		if (e == SMTPC_ERR_OK && !pipelining)
			e = wait_one(s);
		if (e != SMTPC_ERR_OK)
			return lib_failure(s, "RCPT TO", e);
	}
	if (!bdat && (pipelining || s->accepted > 0)) {
		e = issue(s, do_data, 0);
		if (e != SMTPC_ERR_OK)
			return lib_failure(s, "DATA", e);
	}
	e = smtpc_posix_flush(s->p);
	if (e == SMTPC_ERR_OK)
		e = wait_all(s);
	if (e != SMTPC_ERR_OK)
		return lib_failure(s, "MAIL FROM", e);
	if (s->mail_code / 100 != 2) {
		say("%s", s->why);
		return give_up(s, exit_for_code(s->mail_code));
	}
	if (bdat) {
		if (s->accepted > 0) {
			e = send_bdat_body(s);
			if (e == SMTPC_ERR_OK)
				e = smtpc_posix_flush(s->p);
			if (e == SMTPC_ERR_OK)
				e = wait_all(s);
			if (e != SMTPC_ERR_OK)
				return lib_failure(s, "BDAT", e);
		}
	} else if (s->data_code == 354) {
		e = send_dot_body(s);
		if (e == SMTPC_ERR_OK)
			e = smtpc_posix_flush(s->p);
		if (e == SMTPC_ERR_OK)
			e = wait_all(s);
		if (e != SMTPC_ERR_OK)
			return lib_failure(s, "message data", e);
	}
	if (s->accepted == 0) {
		say("%s", s->why[0] ? s->why : "no recipient accepted");
		return give_up(s, exit_for_code(s->worst_rcpt ? s->worst_rcpt : 550));
	}
	if (!bdat && s->data_code != 354) {
		say("%s", s->why);
		return give_up(s, exit_for_code(s->data_code));
	}
	if (s->final_code / 100 != 2) {
		say("%s", s->why);
		return give_up(s, exit_for_code(s->final_code));
	}
	quit(s);
	if (s->refused > 0) {
		say("delivered to %zu of %zu recipients; %s", s->accepted, s->nto, s->why);
		return exit_for_code(s->worst_rcpt);
	}
	return EX_OK_;
}

/* ---- arguments ----------------------------------------------------------------------------------- */

static int has_ctrl(const char *v)
{
	for (; *v; v++) {
		if ((unsigned char)*v < 0x20 || *v == 0x7f)
			return 1;
	}
	return 0;
}

static int has_high(const char *v)
{
	for (; *v; v++) {
		if ((unsigned char)*v >= 0x80)
			return 1;
	}
	return 0;
}

static int check_address(struct send *s, const char *what, const char *a)
{
	smtpc_err e = smtpc_check_mailbox(a, 1);

	if (e != SMTPC_ERR_OK) {
		say("bad %s address '%s': %s", what, has_ctrl(a) ? "(control byte)" : a,
		    smtpc_err_desc(e));
		return EX_DATAERR_;
	}
	s->needs_utf8 |= has_high(a);
	return 0;
}

static int parse(struct send *s, int argc, char **argv)
{
	static const struct option opts[] = {
		{"host", required_argument, NULL, 'H'},     {"port", required_argument, NULL, 'p'},
		{"from", required_argument, NULL, 'f'},     {"to", required_argument, NULL, 't'},
		{"tls", no_argument, NULL, 'T'},            {"starttls", no_argument, NULL, 'S'},
		{"cafile", required_argument, NULL, 'C'},   {"insecure", no_argument, NULL, 'k'},
		{"auth", required_argument, NULL, 'a'},     {"user", required_argument, NULL, 'u'},
		{"password", required_argument, NULL, 'P'}, {"helo", required_argument, NULL, 'e'},
		{"timeout", required_argument, NULL, 'o'},  {"file", required_argument, NULL, 'F'},
		{"verbose", no_argument, NULL, 'v'},        {"help", no_argument, NULL, 'h'},
		{"tls-name", required_argument, NULL, 'N'}, {NULL, 0, NULL, 0}};
	int ch;

	s->to = calloc((size_t)argc + 1, sizeof *s->to);
	s->port = "25";
	s->timeout = 30000;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (ch) {
		case 'H': s->host = optarg; break;
		case 'p': s->port = optarg; break;
		case 'f': s->from = optarg; break;
		case 't': s->to[s->nto++] = optarg; break;
		case 'T': s->tls = 1; break;
		case 'S': s->starttls = 1; break;
		case 'C': s->cafile = optarg; break;
		case 'N': s->tls_name = optarg; break;
		case 'k': s->insecure = 1; break;
		case 'u': s->user = optarg; break;
		case 'P': s->password = optarg; break;
		case 'e': s->helo = optarg; break;
		case 'F': s->file = optarg; break;
		case 'v': s->verbose = 1; break;
		case 'o':
			s->timeout = parse_ms(optarg);
			if (s->timeout <= 0) {
				say("--timeout wants a positive number of milliseconds");
				return EX_USAGE_;
			}
			break;
		case 'a':
			if (strcmp(optarg, "plain") == 0)
				s->mech = SMTPC_MECH_PLAIN;
			else if (strcmp(optarg, "login") == 0)
				s->mech = SMTPC_MECH_LOGIN;
			else if (strcmp(optarg, "xoauth2") == 0)
				s->mech = SMTPC_MECH_XOAUTH2;
			else if (strcmp(optarg, "cram-md5") == 0)
				s->mech = SMTPC_MECH_CRAM_MD5;
			else {
				say("--auth takes plain, login, cram-md5 or xoauth2");
				return EX_USAGE_;
			}
			break;
		case 'h': fputs(send_usage, stdout); return -1;
		default: fputs(send_usage, stderr); return EX_USAGE_;
		}
	}
	if (optind < argc) {
		say("unexpected argument '%s'", argv[optind]);
		return EX_USAGE_;
	}
	if (s->host == NULL || s->from == NULL || s->nto == 0) {
		say("send needs --host, --from and at least one --to");
		fputs(send_usage, stderr);
		return EX_USAGE_;
	}
	if (s->tls && s->starttls) {
		say("--tls and --starttls exclude each other");
		return EX_USAGE_;
	}
	if ((s->cafile != NULL || s->tls_name != NULL) && !s->tls && !s->starttls) {
		say("--cafile and --tls-name need --tls or --starttls");
		return EX_USAGE_;
	}
	if ((s->tls || s->starttls) && tls_name_for(s->host, s->tls_name, s->insecure) == NULL)
		return EX_USAGE_;
	if (s->mech != 0 && (s->user == NULL || s->password == NULL)) {
		say("--auth needs --user and --password");
		return EX_USAGE_;
	}
	if (has_ctrl(s->host) || has_ctrl(s->port) || (s->user && has_ctrl(s->user)) ||
	    (s->password && has_ctrl(s->password)) || (s->helo && has_ctrl(s->helo))) {
		say("an argument contains a control byte (CR, LF, ...)");
		return EX_USAGE_;
	}
	return 0;
}

static void default_helo(struct send *s, char *buf, size_t len)
{
	if (s->helo != NULL)
		return;
	s->helo = "localhost";
	if (gethostname(buf, len) == 0) {
		buf[len - 1] = '\0';
		if (smtpc_check_domain(buf) == SMTPC_ERR_OK)
			s->helo = buf;
	}
}

int cmd_send(int argc, char **argv)
{
	struct send s;
	smtpc_posix_opts po;
	smtpc_config cfg;
	smtpc_reply greeting;
	smtpc_err e;
	char hostname[256];
	int rc;
	size_t i;

	memset(&s, 0, sizeof s);
	rc = parse(&s, argc, argv);
	if (rc != 0) {
		rc = rc < 0 ? EX_OK_ : rc;
		goto out;
	}
	default_helo(&s, hostname, sizeof hostname);
	if (smtpc_check_domain(s.helo) != SMTPC_ERR_OK) {
		say("--helo '%s' is not a domain name or address literal", s.helo);
		rc = EX_USAGE_;
		goto out;
	}
	if (s.from[0] != '\0' && (rc = check_address(&s, "sender", s.from)) != 0)
		goto out;
	for (i = 0; i < s.nto; i++) {
		if ((rc = check_address(&s, "recipient", s.to[i])) != 0)
			goto out;
	}
	if (s.tls || s.starttls) {
		s.tlsx = tls_setup(s.cafile, s.insecure);
		if (s.tlsx == NULL) {
			rc = EX_NOINPUT_;
			goto out;
		}
	}
	if ((rc = open_message(&s)) != 0 || (rc = measure(&s)) != 0)
		goto out;

	smtpc_config_default(&cfg);
	cfg.allow_plain_auth = s.insecure;
	smtpc_posix_opts_default(&po);
	po.host = s.host;
	po.port = s.port;
	po.config = &cfg;
	smtpc_posix_set_timeouts(&po.timeouts, s.timeout);
	po.cb.user = &s;
	po.cb.command = on_command;
	po.cb.line = on_line;
	s.p = smtpc_posix_new(&po);
	if (s.p == NULL) {
		say("out of memory");
		rc = EX_SOFTWARE_;
		goto out;
	}
	s.c = smtpc_posix_core(s.p);
	smtpc_set_hmac_md5(s.c, smtpc_bearssl_hmac_md5, NULL);
	if (s.tlsx != NULL) {
		char why[300];
		if (smtpc_posix_use_tls(s.p, s.tlsx, tls_name_for(s.host, s.tls_name, s.insecure),
		                        s.starttls, why, sizeof why) != SMTPC_ERR_OK) {
			say("TLS: %s", why);
			rc = EX_SOFTWARE_;
			goto out;
		}
	}
	e = smtpc_posix_connect(s.p, &greeting);
	if (e != SMTPC_ERR_OK) {
		char what[300];
		snprintf(what, sizeof what, "cannot talk to %s port %s", s.host, s.port);
		say_failure(what, e, s.p);
		rc = exit_for_err(e);
	} else if (greeting.code / 100 != 2) {
		say("the server refuses the session: %u %s", greeting.code, greeting.text);
		rc = give_up(&s, exit_for_code(greeting.code));
	} else if ((rc = hello(&s)) == 0 && (!s.starttls || (rc = starttls(&s)) == 0) &&
	           (s.mech == 0 || (rc = authenticate(&s)) == 0)) {
		rc = transaction(&s);
	}
out:
	smtpc_posix_free(s.p);
	smtpc_posix_tls_free(s.tlsx);
	if (s.msg != NULL && s.msg != stdin)
		fclose(s.msg);
	free(s.to);
	return rc;
}
