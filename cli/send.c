/*
 * smtpc send: deliver one message, or several over one session.
 *
 * Order of work: every argument is checked before the connection is made;
 * each message is measured (wire size for SIZE=, 8-bit content for BODY=,
 * the longest line) in a first pass over its file (standard input is
 * spooled to a temporary file first, so memory stays flat whatever the
 * size); then EHLO (HELO when EHLO gets 500 or 502), STARTTLS, AUTH, and
 * the checks that need the server's extensions (SMTPUTF8, DSN, REQUIRETLS)
 * before any MAIL. The messages then go through the transaction layer
 * (smtpc_posix_txn.h): MAIL, RCPTs, DATA or BDAT, pipelined when offered,
 * RSET after a refused one; then QUIT. This file parses options and prints.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "message.h"
#include "smtpc_posix_txn.h"

#define READ_BUF (64u * 1024u)
/* room for reply texts: two replies per recipient and the message's, 256
 * octets each on average (what does not fit is cut, and says so) */
#define TEXT_ROOM(nto) ((2 * (nto) + 2) * 256u + 4096u)

static const char send_usage[] =
    "usage: smtpc send --host HOST [--port PORT] --from ADDR --to ADDR [--to ADDR ...]\n"
    "                  [--lmtp] [--unix PATH]\n"
    "                  [--config FILE] [--account NAME]\n"
    "                  [--tls | --starttls] [--cafile FILE] [--tls-name NAME] [--insecure]\n"
    "                  [--tls-cert FILE [--tls-key FILE]]\n"
    "                  [--user U [--auth MECH] [--password-file FILE | --passwordeval CMD]]\n"
    "                  [--helo NAME] [--timeout MS] [--file FILE ...] [-v]\n"
    "                  [--dsn-notify never|LIST] [--dsn-return full|hdrs] [--dsn-envid ID]\n"
    "                  [--requiretls] [--no-pipelining] [--no-chunking] [--json] [--progress]\n"
    "                  [--subject TEXT] [--body TEXT|@FILE] [--header 'Name: value' ...]\n"
    "\n"
    "Reads each message (headers and body) from FILE, or standard input, and delivers it.\n"
    "Line ends become CRLF, leading dots are doubled, the data ends with one CRLF.CRLF.\n"
    "\n"
    "  --config FILE     configuration file (default: $SMTPC_CONFIG, else\n"
    "                    $XDG_CONFIG_HOME/smtpc/config or ~/.config/smtpc/config)\n"
    "  -a, --account NAME  the account to use (default: the account \"default\");\n"
    "                    options given here override its settings\n"
    "  --host HOST       server name or address (required, here or in the account)\n"
    "  --port PORT       server port, 1 to 65535 (default 25; 465 with --tls)\n"
    "  --from ADDR       envelope sender; \"\" for the null sender (required)\n"
    "  --to ADDR         envelope recipient; repeat for more (at least one)\n"
    "  --lmtp            speak LMTP (RFC 2033): LHLO, and after the data one reply per\n"
    "                    accepted recipient, each reported (default port 24)\n"
    "  --unix PATH       connect to the Unix-domain socket PATH instead of HOST\n"
    "  --tls             implicit TLS (port 465 style)\n"
    "  --starttls        upgrade with STARTTLS; never falls back to clear text\n"
    "  --cafile FILE     trust anchors for certificate verification\n"
    "  --tls-name NAME   the name to verify and send as SNI (default: HOST; needed\n"
    "                    when HOST is an IP address)\n"
    "  --insecure        skip certificate checks; allow AUTH without TLS\n"
    "  --tls-cert FILE   a client certificate chain (PEM) to present when asked\n"
    "  --tls-key FILE    its private key (default: in the --tls-cert file)\n"
    "  --user U          authenticate as U (AUTH, RFC 4954)\n"
    "  --auth MECH       auto (default with --user: over TLS the first offered of PLAIN,\n"
    "                    LOGIN, CRAM-MD5; without TLS only CRAM-MD5), off, plain, login,\n"
    "                    cram-md5 or xoauth2 (the password is the token)\n"
    "  --password-file FILE   the password is FILE's first line\n"
    "  --passwordeval CMD     the password is the first line CMD prints (within\n"
    "                    --timeout)\n"
    "                    (else $SMTPC_PASSWORD, else the account's password)\n"
    "  --password P      visible to other users in the process list: avoid\n"
    "  --helo NAME       name for EHLO/HELO (default: this host's name, or localhost)\n"
    "  --timeout MS      bound on connecting and on each reply (default 30000)\n"
    "  --file FILE       message file (default: standard input); repeat to send several\n"
    "                    messages, each to every recipient, over one session\n"
    "  --dsn-notify WHEN never, or a list of success,failure,delay (RFC 3461)\n"
    "  --dsn-return WHAT full or hdrs: what a delivery status notification returns\n"
    "  --dsn-envid ID    envelope identifier for notifications\n"
    "  --requiretls      the message must travel over TLS all the way (RFC 8689)\n"
    "  --no-pipelining   one command at a time even when PIPELINING is offered\n"
    "  --no-chunking     DATA even when CHUNKING (BDAT) is offered\n"
    "  --subject TEXT, --body TEXT|@FILE, --header 'Name: value' (repeatable)\n"
    "                    build the message from these (From and To from the envelope,\n"
    "                    Date, Message-ID; MIME headers for UTF-8 text) instead of reading it\n"
    "  --json            after the session, one JSON object on standard output\n"
    "  --progress        octets sent and the rate on standard error\n"
    "  -v                transcript on standard error (C: command, S: reply line)\n";

struct msg {
	const char *name; /* the file; NULL for standard input */
	FILE *f;
	off_t start; /* where the message starts in f */
	smtpc_txn_msg m;
	smtpc_txn_rcpt *rcpts;
	char *text;
	double start_ms, end_ms; /* -1: not known */
	int unreadable;
	smtpc_txn_measure again; /* the octets sent, measured again */
	uint64_t read;
	int changed; /* they are not the ones measured: never ended on the wire */
};

enum { AUTH_UNSET, AUTH_OFF, AUTH_AUTO, AUTH_MECH };

struct send {
	const char *host, *port, *from, *helo, *user, *password, *cafile, *envid, *tls_name;
	const char *config, *account, *password_file, *passwordeval;
	const char **to, **files;
	size_t nto, nfiles;
	int tls, starttls, insecure, verbose, json, progress, requiretls;
	int insecure_given; /* --insecure itself, not the account's tls_certcheck off */
	int no_pipelining, no_chunking, ret;
	unsigned notify;
	int auth_mode; /* AUTH_*; AUTH_MECH: mech */
	smtpc_mech mech;
	long timeout;
	int timeout_set, notify_set;
	const struct sendmail_req *sm; /* the sendmail interface, else NULL */
	const char *subject, *body;    /* --subject, --body: a message built here */
	const char **headers;	       /* --header */
	size_t nheaders, to_cap;
	int compose;
	char **owned; /* recipients taken from headers (-t) */
	size_t nowned;
	FILE *prepared; /* the message built or rewritten here, spooled */
	cfg_file conf;	/* the configuration file, when one was read */
	int have_conf;
	int lmtp, lmtp_set;		/* --lmtp, or the account's protocol */
	const char *unix_path;		/* --unix */
	const char *tls_cert, *tls_key; /* --tls-cert, --tls-key */
	const smtpc_bearssl *tl;	/* the TLS layer, for what it negotiated */
	const cfg_account *acct;	/* the account used, within conf */
	char *secret;			/* a password this program read (scrubbed at the end) */
	int needs_utf8;
	/* the messages */
	struct msg *msgs;
	size_t nmsgs;
	unsigned char *buf; /* what the body callback hands over */
	/* the session */
	smtpc_posix_txn *pt;
	smtpc_posix *p;
	smtpc_conn *c;
	smtpc_posix_tls *tlsx; /* with --tls or --starttls */
	unsigned greet_code;
	char greet_text[512];
	const char *auth_used;
	unsigned odd_code; /* a reply that answered nothing */
	char odd_text[300];
	unsigned last_code; /* the last reply, for a session the server ended */
	char last_text[300];
	int told; /* the cause of a failure was printed already */
	double t0;
	/* --progress */
	uint64_t total;
	double last_shown, first_data;
	int shown;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

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

static void on_reply(void *user, const smtpc_reply *r)
{
	struct send *s = user;

	s->last_code = r->code;
	snprintf(s->last_text, sizeof s->last_text, "%s", r->text);
	if (r->cmd == SMTPC_CMD_NONE && s->odd_code == 0) {
		s->odd_code = r->code;
		snprintf(s->odd_text, sizeof s->odd_text, "%s", r->text);
	}
}

/* ---- progress --------------------------------------------------------------------- */

static void show_progress(struct send *s, int last)
{
	uint64_t done = 0;
	size_t i, pending;
	double t = now_ms(), secs;

	if (!last && t - s->last_shown < 100.0) /* at most 10 a second */
		return;
	for (i = 0; i < s->nmsgs; i++)
		done += s->msgs[i].m.sent;
	smtpc_send_buf(s->c, &pending);
	done = done > pending ? done - pending : 0;
	if (done > s->total)
		done = s->total;
	if (done > 0 && s->first_data == 0)
		s->first_data = t;
	secs = s->first_data > 0 ? (t - s->first_data) / 1e3 : 0;
	fprintf(stderr, "\rsmtpc: sent %llu of %llu octets (%3.0f%%), %.1f KiB/s%s",
		(unsigned long long)done, (unsigned long long)s->total,
		s->total ? 100.0 * (double)done / (double)s->total : 100.0,
		secs > 0 ? (double)done / 1024.0 / secs : 0.0, last ? "\n" : "");
	s->last_shown = t;
	s->shown = 1;
}

static void on_send(void *user, const unsigned char *data, size_t len)
{
	struct send *s = user;

	(void)data;
	(void)len;
	if (s->progress && s->total > 0)
		show_progress(s, 0);
}

/* ---- the messages -------------------------------------------------------------------- */

/* Opens a message; standard input that cannot seek is spooled. Standard
 * input that can seek is read from where it stands (a caller may have read
 * part of it). */
static int open_message(struct msg *mm)
{
	FILE *in = mm->name ? fopen(mm->name, "rb") : stdin;
	unsigned char buf[65536];
	size_t n;
	off_t at;

	if (in == NULL) {
		say("cannot read %s: %s", mm->name, strerror(errno));
		return EX_NOINPUT_;
	}
	at = ftello(in);
	if (at >= 0 && fseeko(in, at, SEEK_SET) == 0) {
		mm->f = in;
		mm->start = at;
		return 0;
	}
	mm->f = tmpfile();
	if (mm->f == NULL) {
		say("cannot spool standard input: %s", strerror(errno));
		if (in != stdin)
			fclose(in);
		return EX_NOINPUT_;
	}
	while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
		if (fwrite(buf, 1, n, mm->f) != n) {
			say("cannot spool standard input: %s", strerror(errno));
			if (in != stdin)
				fclose(in);
			return EX_NOINPUT_;
		}
	}
	mm->start = 0;
	n = ferror(in) || fseeko(mm->f, 0, SEEK_SET) != 0;
	if (in != stdin)
		fclose(in);
	if (n) {
		say("cannot read the message");
		return EX_NOINPUT_;
	}
	return 0;
}

/* The measuring pass, then back to the start. */
static int measure(struct send *s, struct msg *mm)
{
	smtpc_txn_measure ms;
	size_t n;

	smtpc_txn_measure_init(&ms);
	while ((n = fread(s->buf, 1, READ_BUF, mm->f)) > 0)
		smtpc_txn_measure_add(&ms, s->buf, n);
	if (ferror(mm->f) || fseeko(mm->f, mm->start, SEEK_SET) != 0) {
		say("cannot read %s", mm->name ? mm->name : "the message");
		return EX_NOINPUT_;
	}
	smtpc_txn_measure_end(&ms, &mm->m.size);
	smtpc_txn_measure_init(&mm->again);
	return 0;
}

/* The message's octets, read again as they are sent. A file that changed
 * since it was measured (grew, shrank, or was rewritten so that its size on
 * the wire, its longest line or its 8-bit content differ) would go with a
 * wrong SIZE=, BODY= or line check: it is never ended on the wire (-1). */
static int body(void *user, smtpc_txn_msg *m, const unsigned char **data, size_t *len)
{
	struct send *s = user;
	struct msg *mm = m->user;
	size_t n = fread(s->buf, 1, READ_BUF, mm->f);
	smtpc_txn_size now;

	if (n > 0) {
		mm->read += n;
		if (mm->read > m->size.octets) { /* it grew */
			mm->changed = 1;
			return -1;
		}
		smtpc_txn_measure_add(&mm->again, s->buf, n);
		*data = s->buf;
		*len = n;
		return 1;
	}
	if (ferror(mm->f)) {
		mm->unreadable = 1;
		return -1;
	}
	smtpc_txn_measure_end(&mm->again, &now);
	if (now.octets != m->size.octets || now.text != m->size.text || now.data != m->size.data ||
	    now.longest != m->size.longest || now.has_8bit != m->size.has_8bit) {
		mm->changed = 1;
		return -1;
	}
	return 0;
}

static void on_start(void *user, smtpc_txn_msg *m)
{
	struct send *s = user;

	((struct msg *)m->user)->start_ms = now_ms() - s->t0;
}

static void on_done(void *user, smtpc_txn_msg *m)
{
	struct send *s = user;

	((struct msg *)m->user)->end_ms = now_ms() - s->t0;
}

static int setup_messages(struct send *s)
{
	size_t i, k, n = s->nfiles ? s->nfiles : 1;
	int rc;

	s->msgs = calloc(n, sizeof *s->msgs);
	s->buf = malloc(READ_BUF);
	if (s->msgs == NULL || s->buf == NULL) {
		say("out of memory");
		return EX_SOFTWARE_;
	}
	s->nmsgs = n;
	for (i = 0; i < n; i++) {
		struct msg *mm = &s->msgs[i];
		mm->name = s->nfiles ? s->files[i] : NULL;
		mm->start_ms = mm->end_ms = -1;
		if (s->prepared != NULL) {
			mm->f = s->prepared; /* closed with the messages */
			s->prepared = NULL;
			mm->start = 0;
		} else if ((rc = open_message(mm)) != 0) {
			return rc;
		}
		if ((rc = measure(s, mm)) != 0)
			return rc;
		mm->rcpts = calloc(s->nto, sizeof *mm->rcpts);
		mm->text = malloc(TEXT_ROOM(s->nto));
		if (mm->rcpts == NULL || mm->text == NULL) {
			say("out of memory");
			return EX_SOFTWARE_;
		}
		for (k = 0; k < s->nto; k++) {
			mm->rcpts[k].addr = s->to[k];
			mm->rcpts[k].opts.notify = s->notify;
		}
		mm->m.from = s->from;
		mm->m.rcpts = mm->rcpts;
		mm->m.nrcpts = s->nto;
		mm->m.opts.smtputf8 = s->needs_utf8;
		mm->m.opts.requiretls = s->requiretls;
		mm->m.opts.ret = (smtpc_ret)s->ret;
		mm->m.opts.envid = s->envid;
		mm->m.text = mm->text;
		mm->m.text_size = TEXT_ROOM(s->nto);
		mm->m.user = mm;
	}
	return 0;
}

static void free_messages(struct send *s)
{
	size_t i;

	for (i = 0; i < s->nmsgs; i++) {
		struct msg *mm = &s->msgs[i];
		if (mm->f != NULL && mm->f != stdin)
			fclose(mm->f);
		free(mm->rcpts);
		free(mm->text);
	}
	free(s->msgs);
	free(s->buf);
}

/* ---- results -------------------------------------------------------------------------- */

/* The exit status a reply that decided against a message earns: 4xx 75,
 * 5xx 69; a 2xx or 3xx where it cannot answer (250 to DATA, 354 to BDAT or
 * MAIL) is a protocol violation, 76. */
static int code_status(unsigned code)
{
	if (code == 221) /* the server closing where another reply is due: as 421 */
		return EX_TEMPFAIL_;
	return code < 400 ? EX_PROTOCOL_ : exit_for_code(code);
}

/* Whether the server ended the session (a 221 out of turn, a 421, a close):
 * a command refused afterwards as SMTPC_ERR_ENDED is its doing, not ours. */
static int server_gone(const struct send *s)
{
	smtpc_end_how how = s->c ? smtpc_session_end(s->c, NULL) : SMTPC_END_NONE;

	return how == SMTPC_END_SHUTDOWN || how == SMTPC_END_DROPPED;
}

/* The exit status of a library error: SMTPC_ERR_ENDED after the server
 * ended the session is as a dropped connection, 75 (not 70). */
static int err_status(const struct send *s, smtpc_err e)
{
	if (e == SMTPC_ERR_ENDED && server_gone(s))
		return EX_TEMPFAIL_;
	return exit_for_err(e);
}

/* The exit status one message earns. */
static int msg_status(const struct send *s, const struct msg *mm)
{
	const smtpc_txn_msg *m = &mm->m;
	unsigned worst = 0;
	size_t i;

	switch (m->status) {
	case SMTPC_TXN_ACCEPTED:
		return EX_OK_;
	case SMTPC_TXN_PARTIAL:
		for (i = 0; i < m->nrcpts; i++) {
			const smtpc_txn_rcpt *r = &m->rcpts[i];
			unsigned code =
			    r->data.code && r->data.code / 100 != 2 ? r->data.code : r->rcpt.code;
			if (r->status == SMTPC_TXN_REFUSED && code > worst)
				worst = code;
		}
		return worst ? code_status(worst) : EX_DATAERR_;
	case SMTPC_TXN_REFUSED:
		if (m->reply.code != 0)
			return code_status(m->reply.code);
		return err_status(s, m->err);
	default:
		if (mm->changed) /* try again once the file stays still */
			return EX_TEMPFAIL_;
		if (mm->unreadable)
			return EX_NOINPUT_;
		if (m->err == SMTPC_ERR_BAD_REPLY && s->odd_code == 421)
			return EX_TEMPFAIL_;
		return err_status(s, m->err != SMTPC_ERR_OK ? m->err : SMTPC_ERR_CLOSED);
	}
}

/* The most severe of two exit statuses: 0, 75, 65, 66, 69, 76, others. */
static int worse(int a, int b)
{
	static const int order[] = {EX_OK_,	 EX_TEMPFAIL_,	  EX_DATAERR_,
				    EX_NOINPUT_, EX_UNAVAILABLE_, EX_PROTOCOL_};
	int ra = 6, rb = 6;
	size_t i;

	for (i = 0; i < sizeof order / sizeof order[0]; i++) {
		if (order[i] == a)
			ra = (int)i;
		if (order[i] == b)
			rb = (int)i;
	}
	return rb > ra ? b : a;
}

static const char *stage_name(smtpc_cmd c)
{
	switch (c) {
	case SMTPC_CMD_MAIL:
		return "MAIL FROM";
	case SMTPC_CMD_DATA:
		return "DATA";
	case SMTPC_CMD_BDAT:
		return "BDAT";
	default:
		return "message";
	}
}

/* Why the message was not (wholly) delivered, in one line. */
static void describe(const struct send *s, const struct msg *mm, char *out, size_t len)
{
	const smtpc_txn_msg *m = &mm->m;
	const smtpc_caps *k = smtpc_get_caps(s->c);
	size_t i;

	out[0] = '\0';
	if (m->status == SMTPC_TXN_FAILED) {
		if (mm->changed)
			snprintf(out, len,
				 "%s changed after it was measured (%llu octets then); the "
				 "session was ended without it, nothing of it was delivered",
				 mm->name ? mm->name : "the message",
				 (unsigned long long)m->size.octets);
		else if (mm->unreadable)
			snprintf(out, len, "cannot read %s; the session was ended without it",
				 mm->name ? mm->name : "the message");
		else if (s->odd_code == 421)
			snprintf(out, len, "the server is closing the session: %u %s", s->odd_code,
				 s->odd_text);
		else if (m->err == SMTPC_ERR_ENDED && server_gone(s))
			snprintf(out, len, "the server ended the session: %u %s", s->last_code,
				 s->last_text);
		else if (m->err == SMTPC_ERR_BAD_REPLY && s->odd_code != 0)
			snprintf(out, len, "the server sent a reply nothing asked for: %u %s",
				 s->odd_code, s->odd_text);
		else if (m->stage == SMTPC_CMD_NONE && m->method == SMTPC_CMD_NONE)
			snprintf(out, len, "not sent: the session ended (%s)",
				 smtpc_err_desc(m->err));
		else if (m->err == SMTPC_ERR_TLS)
			snprintf(out, len, "TLS failure: %s", smtpc_posix_strerror(s->p));
		else
			snprintf(out, len, "%s (%s)", smtpc_err_desc(m->err),
				 smtpc_err_name(m->err));
		return;
	}
	if (m->status == SMTPC_TXN_REFUSED && m->reply.code == 0) { /* refused before MAIL */
		if (m->err == SMTPC_ERR_TOO_BIG)
			snprintf(
			    out, len,
			    "the message (%llu octets) is over the server's limit of %llu octets",
			    (unsigned long long)m->size.text, (unsigned long long)k->size_limit);
		else if (m->err == SMTPC_ERR_TOO_LONG)
			snprintf(out, len,
				 "the message has a line of %llu octets; SMTP allows 998 (RFC 5321 "
				 "4.5.3.1.6)",
				 (unsigned long long)m->size.longest);
		else
			snprintf(out, len, "not sent: %s", smtpc_err_desc(m->err));
		return;
	}
	if (m->status == SMTPC_TXN_REFUSED && m->stage != SMTPC_CMD_RCPT) {
		snprintf(out, len,
			 m->reply.code < 400 ? "%s answered %u %s: not a valid answer, nothing was "
					       "delivered"
					     : "%s refused: %u %s",
			 stage_name(m->stage), m->reply.code, m->reply.text);
		return;
	}
	for (i = 0; i < m->nrcpts; i++) { /* the first recipient refused */
		const smtpc_txn_rcpt *r = &m->rcpts[i];
		if (r->status != SMTPC_TXN_REFUSED)
			continue;
		if (r->rcpt.code != 0 && r->rcpt.code / 100 != 2)
			snprintf(out, len,
				 r->rcpt.code < 400
				     ? "RCPT TO:<%s> answered %u %s: not a valid answer"
				     : "RCPT TO:<%s> refused: %u %s",
				 r->addr, r->rcpt.code, r->rcpt.text);
		else if (r->data.code != 0)
			snprintf(out, len, "message refused for <%s>: %u %s", r->addr, r->data.code,
				 r->data.text);
		else
			snprintf(out, len, "RCPT TO:<%s> not sent: %s", r->addr,
				 smtpc_err_desc(r->err));
		return;
	}
	snprintf(out, len, "no recipient accepted");
}

/* One line per message on standard error; returns the worst status. */
static int report(struct send *s)
{
	int rc = EX_OK_;
	size_t i;

	for (i = 0; i < s->nmsgs; i++) {
		const struct msg *mm = &s->msgs[i];
		const smtpc_txn_msg *m = &mm->m;
		char why[1200];
		int st = msg_status(s, mm);
		size_t k;
		rc = worse(rc, st);
		for (k = 0; s->lmtp && k < m->nrcpts; k++) { /* RFC 2033 4.2: each its own */
			const smtpc_txn_rcpt *r = &m->rcpts[k];
			if (r->data.code != 0)
				say("%s%s<%s>: %u %.*s", s->nmsgs > 1 ? mm->name : "",
				    s->nmsgs > 1 ? ": " : "", r->addr, r->data.code,
				    (int)r->data.len, r->data.text);
		}
		if (m->status == SMTPC_TXN_ACCEPTED) {
			if (s->nmsgs > 1)
				say("%s: accepted: %u %s", mm->name, m->reply.code, m->reply.text);
			continue;
		}
		describe(s, mm, why, sizeof why);
		if (m->status == SMTPC_TXN_PARTIAL) {
			if (s->nmsgs > 1)
				say("%s: delivered to %zu of %zu recipients; %s", mm->name,
				    m->accepted, m->nrcpts, why);
			else
				say("delivered to %zu of %zu recipients; %s", m->accepted,
				    m->nrcpts, why);
		} else if (s->nmsgs > 1) {
			say("%s: %s: %s", mm->name, smtpc_txn_status_name(m->status), why);
		} else {
			say("%s", why);
		}
	}
	return rc;
}

/* ---- JSON ------------------------------------------------------------------------------ */

/* A JSON string: quotes, backslashes and control bytes escaped; bytes that
 * are not UTF-8 become U+FFFD, so the output is always valid. */
static void json_str(const char *p, size_t n)
{
	size_t i = 0;

	if (p == NULL) {
		fputs("null", stdout);
		return;
	}
	putchar('"');
	while (i < n) {
		unsigned char b = (unsigned char)p[i];
		size_t k = 0, j;
		if (b == '"' || b == '\\') {
			printf("\\%c", b);
			i++;
			continue;
		}
		if (b < 0x20 || b == 0x7f) {
			if (b == '\n')
				fputs("\\n", stdout);
			else if (b == '\r')
				fputs("\\r", stdout);
			else if (b == '\t')
				fputs("\\t", stdout);
			else
				printf("\\u%04x", b);
			i++;
			continue;
		}
		if (b < 0x80) {
			putchar(b);
			i++;
			continue;
		}
		/* a UTF-8 sequence: its length, then its continuation octets */
		if (b >= 0xc2 && b <= 0xdf)
			k = 2;
		else if (b >= 0xe0 && b <= 0xef)
			k = 3;
		else if (b >= 0xf0 && b <= 0xf4)
			k = 4;
		for (j = 1; k && j < k; j++) {
			unsigned char c = i + j < n ? (unsigned char)p[i + j] : 0;
			if ((c & 0xc0) != 0x80 ||
			    (j == 1 && ((b == 0xe0 && c < 0xa0) || (b == 0xed && c > 0x9f) ||
					(b == 0xf0 && c < 0x90) || (b == 0xf4 && c > 0x8f))))
				k = 0;
		}
		if (k == 0) {
			fputs("\\ufffd", stdout);
			i++;
			continue;
		}
		fwrite(p + i, 1, k, stdout);
		i += k;
	}
	putchar('"');
}

static void json_cstr(const char *p)
{
	json_str(p, p ? strlen(p) : 0);
}

static void json_reply(const smtpc_txn_reply *r)
{
	if (r->code == 0) {
		fputs("null", stdout);
		return;
	}
	printf("{\"code\": %u, \"enhanced\": ", r->code);
	if (r->esc.cls)
		printf("\"%u.%u.%u\"", r->esc.cls, r->esc.subject, r->esc.detail);
	else
		fputs("null", stdout);
	fputs(", \"text\": ", stdout);
	json_str(r->text, r->len);
	putchar('}');
}

static void json_ms(double v)
{
	if (v < 0)
		fputs("null", stdout);
	else
		printf("%.3f", v);
}

static void json_out(struct send *s, int rc)
{
	size_t i, k, pos = 0;
	smtpc_ext ext;
	int first = 1;

	fputs("{\"server\": {\"host\": ", stdout);
	json_cstr(s->host);
	printf(", \"port\": %ld, \"greeting\": ", strtol(s->port, NULL, 10));
	if (s->greet_code) {
		printf("{\"code\": %u, \"text\": ", s->greet_code);
		json_cstr(s->greet_text);
		putchar('}');
	} else {
		fputs("null", stdout);
	}
	fputs(", \"extensions\": [", stdout);
	while (s->c != NULL && smtpc_ext_next(s->c, &pos, &ext)) {
		char line[600];
		int n = snprintf(line, sizeof line, "%.*s%s%.*s", (int)ext.keyword_len, ext.keyword,
				 ext.params_len ? " " : "", (int)ext.params_len, ext.params);
		fputs(first ? "" : ", ", stdout);
		json_str(line, n < 0 ? 0 : (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
		first = 0;
	}
	fputs("]}, \"tls\": ", stdout);
	if ((s->tls || s->starttls) && s->p != NULL && smtpc_posix_is_secure(s->p)) {
		printf("{\"mode\": \"%s\", \"version\": ", s->tls ? "tls" : "starttls");
		json_cstr(smtpc_bearssl_version_name(smtpc_bearssl_version(s->tl)));
		fputs(", \"cipher\": ", stdout);
		json_cstr(smtpc_bearssl_cipher_name(smtpc_bearssl_cipher(s->tl)));
		fputs(", \"client_certificate\": ", stdout);
		json_cstr(s->tls_cert);
		fputs(", \"verified_name\": ", stdout);
		json_cstr(s->insecure ? NULL : tls_name_for(s->host, s->tls_name, 0));
		putchar('}');
	} else {
		fputs("null", stdout);
	}
	fputs(", \"auth\": ", stdout);
	json_cstr(s->auth_used);
	fputs(", \"messages\": [", stdout);
	for (i = 0; i < s->nmsgs; i++) {
		const struct msg *mm = &s->msgs[i];
		const smtpc_txn_msg *m = &mm->m;
		fputs(i ? ", {\"file\": " : "{\"file\": ", stdout);
		json_cstr(mm->name);
		printf(", \"size\": %llu, \"method\": ", (unsigned long long)m->size.octets);
		if (m->method == SMTPC_CMD_NONE)
			fputs("null", stdout);
		else
			printf("\"%s\"", smtpc_cmd_name(m->method));
		printf(
		    ", \"sent\": %llu, \"status\": \"%s\", \"exit\": ", (unsigned long long)m->sent,
		    m->status == SMTPC_TXN_PENDING ? "not sent" : smtpc_txn_status_name(m->status));
		if (m->status == SMTPC_TXN_PENDING)
			fputs("null", stdout);
		else
			printf("%d", msg_status(s, mm));
		fputs(", \"error\": ", stdout);
		json_cstr(m->err != SMTPC_ERR_OK ? smtpc_err_name(m->err) : NULL);
		fputs(", \"reply\": ", stdout);
		json_reply(&m->reply);
		fputs(", \"recipients\": [", stdout);
		for (k = 0; k < m->nrcpts; k++) {
			const smtpc_txn_rcpt *r = &m->rcpts[k];
			const smtpc_txn_reply *d = r->data.code ? &r->data : &r->rcpt;
			static const smtpc_txn_reply none; /* code 0: shown as null */
			if (r->rcpt.code && r->rcpt.code / 100 != 2)
				d = &r->rcpt; /* refused at RCPT: that reply decided */
			else if (r->data.code == 0 &&
				 (r->status == SMTPC_TXN_FAILED || r->status == SMTPC_TXN_PENDING))
				d = &none; /* no final reply: the error says why */
			fputs(k ? ", {\"address\": " : "{\"address\": ", stdout);
			json_cstr(r->addr);
			printf(", \"status\": \"%s\", \"code\": ",
			       r->status == SMTPC_TXN_PENDING ? "not sent"
							      : smtpc_txn_status_name(r->status));
			if (d->code)
				printf("%u", d->code);
			else
				fputs("null", stdout);
			fputs(", \"enhanced\": ", stdout);
			if (d->code && d->esc.cls)
				printf("\"%u.%u.%u\"", d->esc.cls, d->esc.subject, d->esc.detail);
			else
				fputs("null", stdout);
			fputs(", \"text\": ", stdout);
			json_str(d->code ? d->text : NULL, d->len);
			fputs(", \"error\": ", stdout);
			json_cstr(r->err != SMTPC_ERR_OK ? smtpc_err_name(r->err) : NULL);
			fputs(", \"rcpt_reply\": ", stdout);
			json_reply(&r->rcpt);
			fputs(", \"data_reply\": ", stdout);
			json_reply(&r->data);
			putchar('}');
		}
		fputs("], \"timings\": {\"start_ms\": ", stdout);
		json_ms(mm->start_ms);
		fputs(", \"end_ms\": ", stdout);
		json_ms(mm->end_ms);
		fputs(", \"duration_ms\": ", stdout);
		json_ms(mm->start_ms >= 0 && mm->end_ms >= 0 ? mm->end_ms - mm->start_ms : -1);
		fputs("}}", stdout);
	}
	printf("], \"exit\": %d}\n", rc);
	/* the exit status still says what became of the messages (a retry after
	 * a delivery would send them twice): the lost output is said here */
	if (fflush(stdout) != 0 || ferror(stdout))
		say("cannot write the JSON output: %s", strerror(errno));
}

/* ---- the session ------------------------------------------------------------------------------
 */

/* The next reply of the set-up phase. One that answers nothing is the
 * server closing (421) or a protocol violation: either ends the session. */
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
	if (!s->told && e == SMTPC_ERR_ENDED && server_gone(s))
		say("%s: the server ended the session: %u %s", what, s->last_code, s->last_text);
	else if (!s->told)
		say_failure(what, e, s->p);
	return give_up(s, err_status(s, e));
}

/* After a 2xx of the set-up phase: a 221 there ended the session (the core
 * takes it as the server's shutdown); 75, as a dropped connection. */
static int ended_by_server(struct send *s, const char *what, const smtpc_reply *r)
{
	if (!server_gone(s))
		return 0;
	say("%s: the server ended the session: %u %s", what, r->code, r->text);
	smtpc_posix_close(s->p);
	return EX_TEMPFAIL_;
}

static int hello(struct send *s)
{
	smtpc_reply r;
	smtpc_err e = s->lmtp ? smtpc_lhlo(s->c, s->helo) : smtpc_ehlo(s->c, s->helo);

	if (e == SMTPC_ERR_OK)
		e = next_reply(s, &r);
	if (e != SMTPC_ERR_OK)
		return lib_failure(s, s->lmtp ? "LHLO" : "EHLO", e);
	if (s->lmtp && r.code / 100 != 2) { /* LMTP has no HELO to fall back to */
		say("LHLO refused: %u %s", r.code, r.text);
		return give_up(s, exit_for_code(r.code));
	}
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
	return ended_by_server(s, s->lmtp ? "LHLO" : "EHLO", &r);
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
	if (server_gone(s))
		return ended_by_server(s, "STARTTLS", &r);
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

static const char *const mech_names[] = {"", "PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"};

/* --auth auto: over TLS (or with --insecure) the first offered of PLAIN,
 * LOGIN, CRAM-MD5; in clear text only CRAM-MD5, which never shows the
 * password. XOAUTH2 only when asked for. 0: none usable. An account's
 * tls_certcheck off is about certificates: the automatic choice never shows
 * the password because of it (a file written for msmtp means no more). */
static smtpc_mech auto_mech(const struct send *s, unsigned offered)
{
	int clear_ok = smtpc_is_secure(s->c) || s->insecure_given;

	if (clear_ok && (offered & SMTPC_AUTH_PLAIN))
		return SMTPC_MECH_PLAIN;
	if (clear_ok && (offered & SMTPC_AUTH_LOGIN))
		return SMTPC_MECH_LOGIN;
	if (offered & SMTPC_AUTH_CRAM_MD5)
		return SMTPC_MECH_CRAM_MD5;
	return (smtpc_mech)0;
}

static int authenticate(struct send *s)
{
	smtpc_reply r;
	smtpc_err e;
	const smtpc_caps *k = smtpc_get_caps(s->c);
	unsigned offered = (k->ext & SMTPC_EXT_AUTH) ? k->auth : 0;

	if (s->auth_mode == AUTH_AUTO) {
		static const char *const names[] = {"PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"};
		char list[64] = "";
		unsigned i;
		s->mech = auto_mech(s, offered);
		if (s->mech == 0) {
			for (i = 0; i < 4; i++) {
				if (offered & (1u << i))
					snprintf(list + strlen(list), sizeof list - strlen(list),
						 "%s%s", list[0] ? " " : "", names[i]);
			}
			say("a user is set and the server offers no usable AUTH mechanism (it "
			    "offers: "
			    "%s)%s; nothing was sent after EHLO",
			    list[0] ? list : "none",
			    !smtpc_is_secure(s->c) &&
				    (offered & (SMTPC_AUTH_PLAIN | SMTPC_AUTH_LOGIN))
				? "; without TLS only CRAM-MD5 is used: --starttls or --tls, or "
				  "--insecure to send the password in clear text"
				: "");
			smtpc_posix_close(s->p);
			return EX_NOPERM_;
		}
	} else if (s->mech != SMTPC_MECH_CRAM_MD5 && !smtpc_is_secure(s->c) && !s->insecure) {
		say("AUTH would send the password in clear text: use --starttls or --tls, "
		    "or --insecure to allow it");
		return give_up(s, EX_USAGE_);
	}
	e = smtpc_auth(s->c, s->mech, s->user, s->password);
	if (e == SMTPC_ERR_AUTH_NEEDS_TLS) {
		say("AUTH would send the password in clear text: use --starttls or --tls, "
		    "or --insecure to allow it");
		return give_up(s, EX_USAGE_);
	}
	if (e == SMTPC_ERR_NOT_OFFERED) {
		say("the server does not offer AUTH %s", mech_names[s->mech]);
		return give_up(s, EX_UNAVAILABLE_);
	}
	do /* the core answers each 334 itself */
		e = e == SMTPC_ERR_OK ? next_reply(s, &r) : e;
	while (e == SMTPC_ERR_OK && r.code == 334);
	if (e != SMTPC_ERR_OK)
		return lib_failure(s, "AUTH", e);
	if (server_gone(s)) /* a 221: not logged in, the server is gone */
		return ended_by_server(s, "AUTH", &r);
	if (r.code / 100 != 2) { /* 235 by RFC 4954; some test servers say 250 */
		say("AUTH %s refused: %u %s", mech_names[s->mech], r.code, r.text);
		/* RFC 4954 6: 534 mechanism too weak, 535 credentials invalid,
		 * 538 encryption required: the credentials or their use */
		if (r.code == 534 || r.code == 535 || r.code == 538)
			return give_up(s, EX_NOPERM_);
		return give_up(s, exit_for_code(r.code));
	}
	s->auth_used = mech_names[s->mech];
	return 0;
}

/* What the messages need of the server, checked before any MAIL. */
static int server_checks(struct send *s)
{
	const smtpc_caps *k = smtpc_get_caps(s->c);
	size_t i;

	for (i = 0; i < s->nmsgs && !(k->ext & SMTPC_EXT_8BITMIME); i++) {
		if (s->msgs[i].m.size.has_8bit) { /* RFC 6152 3: 8-bit data only with 8BITMIME */
			say("%s holds 8-bit octets and the server does not offer 8BITMIME (RFC "
			    "6152): "
			    "nothing was sent; encode it (quoted-printable or base64) or use a "
			    "server "
			    "that offers 8BITMIME",
			    s->msgs[i].name ? s->msgs[i].name : "the message");
			return give_up(s, EX_DATAERR_);
		}
	}
	if (s->needs_utf8 && !(k->ext & SMTPC_EXT_SMTPUTF8)) {
		say("an address needs SMTPUTF8, which the server does not offer");
		return give_up(s, EX_DATAERR_);
	}
	if ((s->notify || s->ret || s->envid) && !(k->ext & SMTPC_EXT_DSN)) {
		say("the server does not offer DSN (RFC 3461), needed for %s",
		    s->notify ? "--dsn-notify"
		    : s->ret  ? "--dsn-return"
			      : "--dsn-envid");
		return give_up(s, EX_UNAVAILABLE_);
	}
	if (s->requiretls && !smtpc_is_secure(s->c)) {
		say("--requiretls: the session is not over TLS");
		return give_up(s, EX_UNAVAILABLE_);
	}
	if (s->requiretls && !(k->ext & SMTPC_EXT_REQUIRETLS)) {
		say("--requiretls: the server does not offer REQUIRETLS (RFC 8689)");
		return give_up(s, EX_UNAVAILABLE_);
	}
	return 0;
}

static int transactions(struct send *s)
{
	const smtpc_caps *k = smtpc_get_caps(s->c);
	int bdat = (k->ext & SMTPC_EXT_CHUNKING) && !s->no_chunking;
	smtpc_err e;
	size_t i;
	int rc;

	for (i = 0; i < s->nmsgs; i++) {
		const smtpc_txn_size *z = &s->msgs[i].m.size;
		s->total += bdat ? z->text : z->data;
		e = smtpc_posix_txn_add(s->pt, &s->msgs[i].m);
		if (e != SMTPC_ERR_OK)
			return lib_failure(s, "MAIL FROM", e);
	}
	e = smtpc_posix_txn_run(s->pt);
	if (s->progress && s->shown)
		show_progress(s, 1);
	rc = report(s);
	if (e == SMTPC_ERR_OK)
		quit(s);
	else if (!smtpc_posix_done(s->p))
		smtpc_posix_close(s->p);
	return rc;
}

/* ---- arguments
 * ----------------------------------------------------------------------------------- */

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

/* A port: digits only, 1 to 65535. */
static int valid_port(const char *p)
{
	long v = 0;

	if (*p == '\0')
		return 0;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		v = v * 10 + (*p - '0');
		if (v > 65535)
			return 0;
	}
	return v >= 1;
}

enum {
	O_DSN_NOTIFY = 256,
	O_DSN_RETURN,
	O_DSN_ENVID,
	O_REQUIRETLS,
	O_NO_PIPELINING,
	O_NO_CHUNKING,
	O_JSON,
	O_PROGRESS,
	O_CONFIG,
	O_PASSWORD_FILE,
	O_PASSWORDEVAL,
	O_SUBJECT,
	O_AUTH,
	O_LMTP,
	O_UNIX,
	O_TLS_CERT,
	O_TLS_KEY,
	O_BODY,
	O_HEADER
};

/* --auth and the configuration's auth: the mode and mechanism; -1 if bad. */
static int parse_auth(const char *v, int *mode, smtpc_mech *mech)
{
	static const struct {
		const char *name;
		smtpc_mech mech;
	} m[] = {{"plain", SMTPC_MECH_PLAIN},
		 {"login", SMTPC_MECH_LOGIN},
		 {"cram-md5", SMTPC_MECH_CRAM_MD5},
		 {"xoauth2", SMTPC_MECH_XOAUTH2}};
	size_t i;

	if (strcmp(v, "auto") == 0 || cfg_bool(v) == 1) {
		*mode = AUTH_AUTO;
		return 0;
	}
	if (strcmp(v, "none") == 0 || cfg_bool(v) == 0) {
		*mode = AUTH_OFF;
		return 0;
	}
	for (i = 0; i < sizeof m / sizeof m[0]; i++) {
		if (strcmp(v, m[i].name) == 0) {
			*mode = AUTH_MECH;
			*mech = m[i].mech;
			return 0;
		}
	}
	return -1;
}

static int parse(struct send *s, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"host", required_argument, NULL, 'H'},
	    {"port", required_argument, NULL, 'p'},
	    {"from", required_argument, NULL, 'f'},
	    {"to", required_argument, NULL, 't'},
	    {"tls", no_argument, NULL, 'T'},
	    {"starttls", no_argument, NULL, 'S'},
	    {"cafile", required_argument, NULL, 'C'},
	    {"tls-name", required_argument, NULL, 'N'},
	    {"insecure", no_argument, NULL, 'k'},
	    {"auth", required_argument, NULL, O_AUTH},
	    {"user", required_argument, NULL, 'u'},
	    {"password", required_argument, NULL, 'P'},
	    {"helo", required_argument, NULL, 'e'},
	    {"timeout", required_argument, NULL, 'o'},
	    {"file", required_argument, NULL, 'F'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {"dsn-notify", required_argument, NULL, O_DSN_NOTIFY},
	    {"dsn-return", required_argument, NULL, O_DSN_RETURN},
	    {"dsn-envid", required_argument, NULL, O_DSN_ENVID},
	    {"requiretls", no_argument, NULL, O_REQUIRETLS},
	    {"no-pipelining", no_argument, NULL, O_NO_PIPELINING},
	    {"no-chunking", no_argument, NULL, O_NO_CHUNKING},
	    {"json", no_argument, NULL, O_JSON},
	    {"progress", no_argument, NULL, O_PROGRESS},
	    {"config", required_argument, NULL, O_CONFIG},
	    {"account", required_argument, NULL, 'a'},
	    {"password-file", required_argument, NULL, O_PASSWORD_FILE},
	    {"passwordeval", required_argument, NULL, O_PASSWORDEVAL},
	    {"subject", required_argument, NULL, O_SUBJECT},
	    {"lmtp", no_argument, NULL, O_LMTP},
	    {"tls-cert", required_argument, NULL, O_TLS_CERT},
	    {"tls-key", required_argument, NULL, O_TLS_KEY},
	    {"unix", required_argument, NULL, O_UNIX},
	    {"body", required_argument, NULL, O_BODY},
	    {"header", required_argument, NULL, O_HEADER},
	    {NULL, 0, NULL, 0}};
	int ch;

	s->to_cap = (size_t)argc + 1;
	s->to = calloc(s->to_cap, sizeof *s->to);
	s->files = calloc((size_t)argc + 1, sizeof *s->files);
	s->headers = calloc((size_t)argc + 1, sizeof *s->headers);
	if (s->to == NULL || s->files == NULL || s->headers == NULL) {
		say("out of memory");
		return EX_SOFTWARE_;
	}
	s->timeout = 30000;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "vha:", opts, NULL)) != -1) {
		switch (ch) {
		case 'H':
			s->host = optarg;
			break;
		case 'p':
			s->port = optarg;
			break;
		case 'f':
			s->from = optarg;
			break;
		case 't':
			s->to[s->nto++] = optarg;
			break;
		case 'T':
			s->tls = 1;
			break;
		case 'S':
			s->starttls = 1;
			break;
		case 'C':
			s->cafile = optarg;
			break;
		case 'N':
			s->tls_name = optarg;
			break;
		case 'k':
			s->insecure = 1;
			s->insecure_given = 1;
			break;
		case 'u':
			s->user = optarg;
			break;
		case 'P':
			s->password = optarg;
			break;
		case O_LMTP:
			s->lmtp = s->lmtp_set = 1;
			break;
		case O_TLS_CERT:
			s->tls_cert = optarg;
			break;
		case O_TLS_KEY:
			s->tls_key = optarg;
			break;
		case O_UNIX:
			s->unix_path = optarg;
			break;
		case O_SUBJECT:
			if (strpbrk(optarg, "\r\n") != NULL) {
				say("--subject holds a line break");
				return EX_USAGE_;
			}
			s->subject = optarg;
			s->compose = 1;
			break;
		case O_BODY:
			s->body = optarg;
			s->compose = 1;
			break;
		case O_HEADER:
			if (!msg_header_ok(optarg)) {
				say("--header takes 'Name: value' on one line (no CR or LF)");
				return EX_USAGE_;
			}
			if (strncasecmp(optarg, "Bcc:", 4) == 0 ||
			    strncasecmp(optarg, "Resent-Bcc:", 11) == 0) {
				/* it would be a field every recipient sees */
				say("--header: a Bcc field would show its addresses to every "
				    "recipient: give them with --to");
				return EX_USAGE_;
			}
			s->headers[s->nheaders++] = optarg;
			s->compose = 1;
			break;
		case O_PASSWORD_FILE:
			s->password_file = optarg;
			break;
		case O_PASSWORDEVAL:
			s->passwordeval = optarg;
			break;
		case O_CONFIG:
			s->config = optarg;
			break;
		case 'a':
			s->account = optarg;
			break;
		case 'e':
			s->helo = optarg;
			break;
		case 'F':
			s->files[s->nfiles++] = optarg;
			break;
		case 'v':
			s->verbose = 1;
			break;
		case O_REQUIRETLS:
			s->requiretls = 1;
			break;
		case O_NO_PIPELINING:
			s->no_pipelining = 1;
			break;
		case O_NO_CHUNKING:
			s->no_chunking = 1;
			break;
		case O_JSON:
			s->json = 1;
			break;
		case O_PROGRESS:
			s->progress = 1;
			break;
		case 'o':
			s->timeout = parse_ms(optarg);
			s->timeout_set = 1;
			if (s->timeout <= 0) {
				say("--timeout wants a number of milliseconds from 1 to "
				    "2147483647");
				return EX_USAGE_;
			}
			break;
		case O_AUTH:
			if (parse_auth(optarg, &s->auth_mode, &s->mech) != 0) {
				say("--auth takes auto, off, plain, login, cram-md5 or xoauth2");
				return EX_USAGE_;
			}
			break;
		case O_DSN_NOTIFY:
			if (cfg_parse_notify(optarg, &s->notify) != 0) {
				say("--dsn-notify takes never, or a list of success, failure and "
				    "delay");
				return EX_USAGE_;
			}
			s->notify_set = 1;
			break;
		case O_DSN_RETURN:
			if (strcmp(optarg, "full") == 0)
				s->ret = SMTPC_RET_FULL;
			else if (strcmp(optarg, "hdrs") == 0)
				s->ret = SMTPC_RET_HDRS;
			else {
				say("--dsn-return takes full or hdrs");
				return EX_USAGE_;
			}
			break;
		case O_DSN_ENVID: {
			const char *v = optarg;
			size_t n = strlen(v);
			for (; *v && (unsigned char)*v >= 0x21 && (unsigned char)*v <= 0x7e; v++)
				;
			if (n == 0 || n > SMTPC_ENVID_MAX || *v != '\0') { /* RFC 3461 4.4 */
				say("--dsn-envid takes 1 to 100 printable ASCII characters, no "
				    "space");
				return EX_USAGE_;
			}
			s->envid = optarg;
			break;
		}
		case 'h':
			fputs(send_usage, stdout);
			return -1;
		default:
			fputs(send_usage, stderr);
			return EX_USAGE_;
		}
	}
	if (optind < argc) {
		say("unexpected argument '%s'", argv[optind]);
		return EX_USAGE_;
	}
	return 0;
}

/* ---- messages built or rewritten here ------------------------------------------------------- */

/* A recipient from a To, Cc or Bcc header (-t); one already there is not
 * added again. */
static int add_rcpt(void *user, const char *addr)
{
	struct send *s = user;
	size_t i;
	char *copy;

	for (i = 0; i < s->nto; i++) {
		if (strcmp(s->to[i], addr) == 0) /* exactly: a local part may mind case */
			return 0;
	}
	if (s->nowned == MSG_RCPT_MAX)
		return -1;
	if (s->nto + 1 >= s->to_cap) {
		const char **grown = realloc(s->to, (s->to_cap * 2 + 16) * sizeof *s->to);
		if (grown == NULL)
			return -1;
		s->to = grown;
		s->to_cap = s->to_cap * 2 + 16;
	}
	if (s->owned == NULL && (s->owned = calloc(MSG_RCPT_MAX, sizeof *s->owned)) == NULL)
		return -1;
	if ((copy = strdup(addr)) == NULL)
		return -1;
	s->owned[s->nowned++] = copy;
	s->to[s->nto++] = copy;
	return 0;
}

/* The exit status for what msg_sendmail_copy or msg_compose_write
 * returned: a bad message 65, unreadable input 66, no room to spool it 75
 * (try again later). */
static int msg_status_of(int r)
{
	return r == 0		    ? 0
	       : r == MSG_ERR_READ  ? EX_NOINPUT_
	       : r == MSG_ERR_SPOOL ? EX_TEMPFAIL_
				    : EX_DATAERR_;
}

/* The right side of Message-IDs made here: the sender's domain. */
static const char *id_domain(const struct send *s)
{
	const char *at = s->from ? strrchr(s->from, '@') : NULL;

	if (at != NULL && at[1] != '\0')
		return at + 1;
	return s->helo ? s->helo : "localhost";
}

/* In sendmail mode, the message on standard input as it will be sent (and
 * with -t its recipients); with --subject, --body or --header, the message
 * built from them. Spooled to a temporary file. */
static int prepare_message(struct send *s)
{
	const char *why = NULL;
	FILE *body = NULL;
	int rc = 0;

	if (s->sm == NULL && !s->compose)
		return 0;
	if (s->compose && s->nfiles > 0) {
		say("--subject, --body and --header build the message: not with --file");
		return EX_USAGE_;
	}
	if (s->sm != NULL && s->host == NULL) {
		say("sendmail: no server: an account (-a NAME, or one called default) in the "
		    "configuration file gives its host");
		return EX_USAGE_;
	}
	if (s->from == NULL) {
		say(s->sm ? "sendmail: no sender: -f ADDR, or the account's from"
			  : "send needs --from (or an account that gives it)");
		return EX_USAGE_;
	}
	s->prepared = tmpfile();
	if (s->prepared == NULL) {
		say("cannot spool the message: %s", strerror(errno));
		return EX_TEMPFAIL_;
	}
	if (s->sm != NULL) {
		struct msg_sendmail o;
		memset(&o, 0, sizeof o);
		o.take_rcpts = s->sm->take_rcpts;
		o.from = s->from;
		o.fullname = s->sm->fullname;
		o.domain = id_domain(s);
		o.now = time(NULL);
		rc = msg_status_of(msg_sendmail_copy(stdin, s->prepared, &o, add_rcpt, s, &why));
	} else {
		struct msg_compose c;
		memset(&c, 0, sizeof c);
		if (s->body != NULL && s->body[0] == '@') {
			body = fopen(s->body + 1, "rb");
			if (body == NULL) {
				say("--body %s: %s", s->body, strerror(errno));
				return EX_NOINPUT_;
			}
		}
		c.from = s->from;
		c.to = s->to;
		c.nto = s->nto;
		c.subject = s->subject;
		c.body = s->body;
		c.body_file = body;
		c.headers = s->headers;
		c.nheaders = s->nheaders;
		c.domain = id_domain(s);
		c.now = time(NULL);
		rc = msg_status_of(msg_compose_write(s->prepared, &c, &why));
		if (body != NULL)
			fclose(body);
	}
	if (rc == 0 && fseeko(s->prepared, 0, SEEK_SET) != 0) {
		why = "cannot read the spooled message";
		rc = EX_TEMPFAIL_;
	}
	if (rc != 0)
		say("%s%s", s->sm ? "sendmail: " : "", why);
	return rc;
}

/* ---- configuration and credentials ------------------------------------------------ */

/* The configuration file (--config, $SMTPC_CONFIG, $XDG_CONFIG_HOME/smtpc/config,
 * ~/.config/smtpc/config), and the account's settings under the command
 * line's. */
static int apply_config(struct send *s)
{
	const char *path = s->config, *env = getenv("SMTPC_CONFIG");
	char buf[1024], err[1200];
	int named = 1, rc = 1;
	const cfg_account *a;

	if (path == NULL && env != NULL && *env != '\0')
		path = env;
	if (path == NULL) {
		const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
		named = 0;
		buf[0] = '\0';
		if (xdg != NULL && xdg[0] == '/') /* a relative one is ignored */
			snprintf(buf, sizeof buf, "%s/smtpc/config", xdg);
		else if (home != NULL && home[0] != '\0')
			snprintf(buf, sizeof buf, "%s/.config/smtpc/config", home);
		path = buf[0] ? buf : NULL;
	}
	snprintf(err, sizeof err, "no configuration file");
	if (path != NULL)
		rc = cfg_load(&s->conf, path, err, sizeof err);
	if (rc == 1 && !named && s->account == NULL)
		return 0; /* no file where one is looked for by default: none */
	if (rc == 1 && !named) {
		say("--account %s: no configuration file (looked for %s)", s->account,
		    path ? path : "$XDG_CONFIG_HOME/smtpc/config or ~/.config/smtpc/config");
		return EX_CONFIG_;
	}
	if (rc != 0) {
		say("configuration: %s", err);
		return EX_CONFIG_;
	}
	s->have_conf = 1;
	a = cfg_find(&s->conf, s->account ? s->account : "default");
	if (a == NULL && s->account != NULL) {
		say("configuration: %s: no account '%s'", path, s->account);
		return EX_CONFIG_;
	}
	s->acct = a = a ? a : &s->conf.defaults;
#define V(k) (a->val[k])
	if (s->host == NULL && s->unix_path == NULL) /* --unix names the server */
		s->host = V(CK_HOST);
	if (s->port == NULL && s->unix_path == NULL)
		s->port = V(CK_PORT);
	if (s->from == NULL)
		s->from = V(CK_FROM);
	if (s->user == NULL)
		s->user = V(CK_USER);
	if (s->helo == NULL)
		s->helo = V(CK_DOMAIN);
	if (s->cafile == NULL)
		s->cafile = V(CK_TLS_TRUST_FILE);
	if (s->tls_name == NULL)
		s->tls_name = V(CK_TLS_HOST_OVERRIDE);
	if (s->tls_cert == NULL && s->tls_key == NULL) {
		s->tls_cert = V(CK_TLS_CERT_FILE);
		s->tls_key = V(CK_TLS_KEY_FILE);
	}
	if (s->auth_mode == AUTH_UNSET && V(CK_AUTH) != NULL)
		parse_auth(V(CK_AUTH), &s->auth_mode, &s->mech);
	if (!s->tls && !s->starttls && V(CK_TLS) != NULL && cfg_bool(V(CK_TLS)) == 1) {
		if (V(CK_TLS_STARTTLS) == NULL || cfg_bool(V(CK_TLS_STARTTLS)) == 1)
			s->starttls = 1;
		else
			s->tls = 1;
	}
	if (!s->lmtp_set && V(CK_PROTOCOL) != NULL)
		s->lmtp = strcmp(V(CK_PROTOCOL), "lmtp") == 0;
	if (V(CK_TLS_CERTCHECK) != NULL && cfg_bool(V(CK_TLS_CERTCHECK)) == 0)
		s->insecure = 1;
	if (!s->timeout_set && V(CK_TIMEOUT) != NULL)
		s->timeout = strtol(V(CK_TIMEOUT), NULL, 10) * 1000;
	if (!s->notify_set && V(CK_DSN_NOTIFY) != NULL)
		cfg_parse_notify(V(CK_DSN_NOTIFY), &s->notify);
	if (s->ret == 0 && V(CK_DSN_RETURN) != NULL)
		s->ret = strcmp(V(CK_DSN_RETURN), "full") == 0 ? SMTPC_RET_FULL : SMTPC_RET_HDRS;
#undef V
	return 0;
}

#define SECRET_MAX 4096

/* The first line of what fd gives (CR LF or LF cut off) into a new
 * s->secret; what follows is read and dropped. 0, or -1 with why. */
static int first_line(struct send *s, int fd, const char **why)
{
	char *buf = malloc(SECRET_MAX + 2), drop[512];
	size_t n = 0;
	ssize_t got;
	int ended = 0;

	*why = "out of memory";
	if (buf == NULL)
		return -1;
	while (!ended && (got = read(fd, buf + n, SECRET_MAX + 1 - n)) > 0) {
		char *nl = memchr(buf + n, '\n', (size_t)got);
		if (nl != NULL) {
			n = (size_t)(nl - buf);
			ended = 1;
		} else {
			n += (size_t)got;
		}
		if (n > SECRET_MAX) {
			*why = "its first line is longer than 4096 octets";
			memset(buf, 0, SECRET_MAX + 2);
			free(buf);
			return -1;
		}
	}
	while (read(fd, drop, sizeof drop) > 0) /* the rest, so a writer is not cut off */
		;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	if (n == 0 || memchr(buf, '\0', n) != NULL || has_ctrl(buf)) { /* a NUL would cut it */
		*why = n == 0 ? "it gives an empty first line"
			      : "its first line holds a control octet";
		memset(buf, 0, SECRET_MAX + 2);
		free(buf);
		return -1;
	}
	s->secret = buf;
	s->password = buf;
	return 0;
}

static int password_from_file(struct send *s, const char *path)
{
	int fd = open(path, O_RDONLY | O_NOCTTY);
	const char *why;
	int rc;

	if (fd < 0) {
		say("--password-file %s: %s", path, strerror(errno));
		return EX_NOINPUT_;
	}
	rc = first_line(s, fd, &why);
	close(fd);
	if (rc != 0) {
		say("--password-file %s: %s", path, why);
		return EX_NOINPUT_;
	}
	return 0;
}

#define EVAL_OUTPUT_MAX (1024 * 1024) /* what a passwordeval command may print */

/* The first line of what the command pid prints on fd (as first_line)
 * within the timeout. Reading ends at the end of its output, or once the
 * command has exited with its line given (something it left running may
 * still hold the pipe); the rest is read and dropped, up to
 * EVAL_OUTPUT_MAX. *reaped says whether pid was waited for (*status then).
 * 0, or -1 with why. */
static int command_line(struct send *s, int fd, pid_t pid, int *status, int *reaped,
			const char **why)
{
	char *buf = malloc(SECRET_MAX + 2), drop[4096];
	size_t n = 0, total = 0;
	int ended = 0, eof = 0;
	double deadline = now_ms() + (double)s->timeout;

	*reaped = 0;
	*why = "out of memory";
	if (buf == NULL)
		return -1;
	for (;;) {
		struct pollfd pf;
		double left;
		ssize_t got;
		int r;
		if (!*reaped && waitpid(pid, status, WNOHANG) == pid)
			*reaped = 1;
		if (eof || (*reaped && ended))
			break;
		left = deadline - now_ms();
		if (left <= 0) {
			*why = "it did not finish within the timeout (--timeout, or the account's "
			       "timeout); stopped";
			goto fail;
		}
		pf.fd = fd;
		pf.events = POLLIN;
		pf.revents = 0;
		/* a short wait while the command runs: its end is seen even when
		 * something it started keeps the pipe open */
		r = poll(&pf, 1, left > 50 ? 50 : (int)left + 1);
		if (r < 0 && errno != EINTR) {
			*why = strerror(errno);
			goto fail;
		}
		if (r <= 0)
			continue;
		got = ended ? read(fd, drop, sizeof drop) : read(fd, buf + n, SECRET_MAX + 1 - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			*why = strerror(errno);
			goto fail;
		}
		if (got == 0) {
			eof = 1;
			continue;
		}
		total += (size_t)got;
		if (total > EVAL_OUTPUT_MAX) {
			*why = "it prints more than 1 MiB; stopped";
			goto fail;
		}
		if (!ended) {
			char *nl = memchr(buf + n, '\n', (size_t)got);
			if (nl != NULL) {
				n = (size_t)(nl - buf);
				ended = 1;
			} else {
				n += (size_t)got;
			}
			if (n > SECRET_MAX) {
				*why = "its first line is longer than 4096 octets";
				goto fail;
			}
		}
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	if (n == 0 || memchr(buf, '\0', n) != NULL || has_ctrl(buf)) { /* a NUL would cut it */
		*why = n == 0 ? "it gives an empty first line"
			      : "its first line holds a control octet";
		goto fail;
	}
	s->secret = buf;
	s->password = buf;
	return 0;
fail:
	memset(buf, 0, SECRET_MAX + 2);
	free(buf);
	return -1;
}

/* Runs cmd with /bin/sh (standard input from /dev/null: the message may be
 * there), its first output line the password. where names the setting. The
 * command runs in a process group of its own, stopped (SIGKILL to the
 * group) when it outlasts the timeout or prints without end: a passwordeval
 * never hangs the tool. */
static int password_from_command(struct send *s, const char *cmd, const char *where)
{
	int pfd[2], status = 0, rc, reaped = 0;
	const char *why = NULL;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	if (pipe(pfd) != 0) {
		say("%s: %s", where, strerror(errno));
		return EX_CONFIG_;
	}
	pid = fork();
	if (pid < 0) {
		say("%s: %s", where, strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return EX_CONFIG_;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		setpgid(0, 0);
		if (null < 0 || dup2(null, 0) < 0 || dup2(pfd[1], 1) < 0)
			_exit(127);
		close(pfd[0]);
		close(pfd[1]);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid); /* either side may come first */
	close(pfd[1]);
	rc = command_line(s, pfd[0], pid, &status, &reaped, &why);
	close(pfd[0]);
	if (rc != 0 && !reaped) {    /* not reaped: its PID (and group) cannot be reused */
		kill(-pid, SIGKILL); /* the command and what it started */
		kill(pid, SIGKILL);
	}
	while (!reaped && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rc != 0) { /* said first: a cut-off reader can make the command fail */
		say("%s: %s", where, why);
		return EX_CONFIG_;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		memset(s->secret, 0, strlen(s->secret));
		free(s->secret);
		s->secret = NULL;
		s->password = NULL;
		if (WIFEXITED(status))
			say("%s: the command failed (exit status %d)", where, WEXITSTATUS(status));
		else
			say("%s: the command failed (killed by signal %d)", where,
			    WIFSIGNALED(status) ? WTERMSIG(status) : 0);
		return EX_CONFIG_;
	}
	return 0;
}

/* The password, when AUTH will want one: --password (said to be visible),
 * --password-file, --passwordeval, $SMTPC_PASSWORD, then the account's
 * password or passwordeval. */
static int get_password(struct send *s)
{
	const char *env = getenv("SMTPC_PASSWORD");
	int given = (s->password != NULL) + (s->password_file != NULL) + (s->passwordeval != NULL);
	char where[700];

	if (given > 1) {
		say("--password, --password-file and --passwordeval exclude each other");
		return EX_USAGE_;
	}
	if (s->password != NULL)
		say("warning: --password is visible to other users (in the process list); "
		    "--password-file, --passwordeval or $SMTPC_PASSWORD are not");
	if (s->auth_mode < AUTH_AUTO || s->password != NULL)
		return 0;
	if (s->password_file != NULL)
		return password_from_file(s, s->password_file);
	if (s->passwordeval != NULL)
		return password_from_command(s, s->passwordeval, "--passwordeval");
	if (env != NULL && env[0] != '\0') { /* an empty one is unset */
		s->password = env;
		return 0;
	}
	if (s->acct != NULL && s->acct->val[CK_PASSWORD] != NULL) {
		s->password = s->acct->val[CK_PASSWORD];
		return 0;
	}
	if (s->acct != NULL && s->acct->val[CK_PASSWORDEVAL] != NULL) {
		snprintf(where, sizeof where, "%s:%u: passwordeval", s->conf.file,
			 s->acct->line[CK_PASSWORDEVAL]);
		return password_from_command(s, s->acct->val[CK_PASSWORDEVAL], where);
	}
	say("a user is set for AUTH but no password: --password-file, --passwordeval, "
	    "$SMTPC_PASSWORD or the account's password or passwordeval");
	return EX_USAGE_;
}

/* What must hold once the command line and the configuration are merged. */
static int check_args(struct send *s)
{
	if (s->unix_path != NULL && (s->host != NULL || s->port != NULL || s->tls)) {
		say("--unix names the server: not with --host, --port or --tls");
		return EX_USAGE_;
	}
	if (s->unix_path != NULL)
		s->host = "localhost"; /* for EHLO's and TLS's messages only */
	if (s->port == NULL)	       /* LMTP: 24, the port for private mail systems */
		s->port = s->tls ? "465" : s->lmtp ? "24" : "25";
	if (s->sm != NULL && (s->host == NULL || s->nto == 0)) {
		say(s->host == NULL
			? "sendmail: no server: an account (-a NAME, or one called "
			  "default) in the configuration file gives its host"
			: "sendmail: no recipient (arguments, or -t for To, Cc and Bcc)");
		return EX_USAGE_;
	}
	if (s->host == NULL || s->from == NULL || s->nto == 0) {
		say("send needs --host, --from (or an account that gives them) and at least one "
		    "--to");
		fputs(send_usage, stderr);
		return EX_USAGE_;
	}
	if (!valid_port(s->port)) {
		say("--port wants a number from 1 to 65535");
		return EX_USAGE_;
	}
	if (s->tls && s->starttls) {
		say("--tls and --starttls exclude each other");
		return EX_USAGE_;
	}
	if ((s->cafile != NULL || s->tls_name != NULL || s->tls_cert != NULL ||
	     s->tls_key != NULL) &&
	    !s->tls && !s->starttls) {
		say("--cafile, --tls-name, --tls-cert and --tls-key need --tls or --starttls");
		return EX_USAGE_;
	}
	if (s->tls_key != NULL && s->tls_cert == NULL) {
		say("--tls-key needs --tls-cert");
		return EX_USAGE_;
	}
	if ((s->tls || s->starttls) && tls_name_for(s->host, s->tls_name, s->insecure) == NULL)
		return EX_USAGE_;
	if (s->auth_mode == AUTH_MECH && s->user == NULL) {
		say("--auth needs --user");
		return EX_USAGE_;
	}
	if (s->user != NULL && s->auth_mode == AUTH_UNSET)
		s->auth_mode = AUTH_AUTO; /* a user and no --auth: the best offered */
	if (s->auth_mode == AUTH_AUTO && s->user == NULL)
		s->auth_mode = AUTH_OFF; /* an account's "auth on" without a user */
	if (has_ctrl(s->host) || (s->user && has_ctrl(s->user)) ||
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

/* Everything up to the messages: connection, EHLO, STARTTLS, AUTH, checks. */
static int session(struct send *s)
{
	smtpc_reply greeting;
	smtpc_err e;
	int rc;

	s->t0 = now_ms();
	e = smtpc_posix_connect(s->p, &greeting);
	if (e != SMTPC_ERR_OK) {
		char what[300];
		if (s->unix_path != NULL)
			snprintf(what, sizeof what, "cannot talk to %s", s->unix_path);
		else
			snprintf(what, sizeof what, "cannot talk to %s port %s", s->host, s->port);
		say_failure(what, e, s->p);
		return exit_for_err(e);
	}
	s->greet_code = greeting.code;
	snprintf(s->greet_text, sizeof s->greet_text, "%s", greeting.text);
	if (greeting.code / 100 != 2) {
		say("the server refuses the session: %u %s", greeting.code, greeting.text);
		return give_up(s, exit_for_code(greeting.code));
	}
	if ((rc = ended_by_server(s, "greeting", &greeting)) != 0)
		return rc;
	if ((rc = hello(s)) != 0 || (s->starttls && (rc = starttls(s)) != 0) ||
	    (s->auth_mode >= AUTH_AUTO && (rc = authenticate(s)) != 0) ||
	    (rc = server_checks(s)) != 0)
		return rc;
	return transactions(s);
}

int cmd_send(int argc, char **argv)
{
	return send_main(argc, argv, NULL);
}

int send_main(int argc, char **argv, const struct sendmail_req *sm)
{
	struct send s;
	smtpc_posix_opts po;
	smtpc_posix_txn_opts to;
	smtpc_config cfg;
	char hostname[256];
	int rc;
	size_t i;

	memset(&s, 0, sizeof s);
	s.sm = sm;
	rc = parse(&s, argc, argv);
	if (rc != 0) {
		rc = rc < 0 ? EX_OK_ : rc;
		goto out;
	}
	if ((rc = apply_config(&s)) != 0 || (rc = prepare_message(&s)) != 0 ||
	    (rc = check_args(&s)) != 0 || (rc = get_password(&s)) != 0)
		goto out;
	if (s.password != NULL && has_ctrl(s.password)) {
		say("the password contains a control byte (CR, LF, ...)");
		rc = EX_USAGE_;
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
	if (s.requiretls && !s.tls && !s.starttls) { /* RFC 8689: only over TLS */
		say("--requiretls needs --tls or --starttls");
		rc = EX_UNAVAILABLE_;
		goto out;
	}
	if (s.tls || s.starttls) {
		s.tlsx = tls_setup_cert(s.cafile, s.insecure, s.tls_cert, s.tls_key);
		if (s.tlsx == NULL) {
			rc = EX_NOINPUT_;
			goto out;
		}
	}
	if ((rc = setup_messages(&s)) != 0)
		goto out;

	smtpc_config_default(&cfg);
	/* authenticate() allows PLAIN, LOGIN and XOAUTH2 in clear text only
	 * with --insecure; CRAM-MD5 never shows the password */
	cfg.allow_plain_auth = s.insecure || s.auth_mode == AUTH_AUTO ||
			       (s.auth_mode == AUTH_MECH && s.mech == SMTPC_MECH_CRAM_MD5);
	smtpc_posix_opts_default(&po);
	po.host = s.host;
	po.port = s.port;
	po.unix_path = s.unix_path;
	po.config = &cfg;
	smtpc_posix_set_timeouts(&po.timeouts, s.timeout);
	po.cb.user = &s;
	po.cb.command = on_command;
	po.cb.line = on_line;
	po.cb.reply = on_reply;
	po.cb.send = s.progress ? on_send : NULL;
	smtpc_posix_txn_opts_default(&to);
	to.txn.no_pipelining = s.no_pipelining;
	to.txn.no_chunking = s.no_chunking;
	to.txn.lmtp = s.lmtp;
	to.user = &s;
	to.body = body;
	to.start = on_start;
	to.done = on_done;
	s.pt = smtpc_posix_txn_new(&po, &to);
	if (s.pt == NULL) {
		say("out of memory");
		rc = EX_SOFTWARE_;
		goto out;
	}
	s.p = smtpc_posix_txn_posix(s.pt);
	s.c = smtpc_posix_core(s.p);
	smtpc_set_hmac_md5(s.c, smtpc_bearssl_hmac_md5, NULL);
	if (s.tlsx != NULL) {
		char why[300];
		smtpc_posix_layer l;
		smtpc_bearssl *t = smtpc_posix_tls_client(
		    s.tlsx, s.c, tls_name_for(s.host, s.tls_name, s.insecure), s.starttls, why,
		    sizeof why);
		if (t == NULL) {
			say("TLS: %s", why);
			rc = EX_SOFTWARE_;
			goto out;
		}
		smtpc_posix_tls_layer(&l, t, 1); /* released with s.p */
		if (smtpc_posix_set_layer(s.p, &l) != SMTPC_ERR_OK) {
			smtpc_posix_tls_release(t);
			say("TLS: cannot install the layer");
			rc = EX_SOFTWARE_;
			goto out;
		}
		s.tl = t;
	}
	rc = session(&s);
	if (s.json)
		json_out(&s, rc);
out:
	smtpc_posix_txn_free(s.pt);
	smtpc_posix_tls_free(s.tlsx);
	free_messages(&s);
	free(s.to);
	free(s.files);
	free(s.headers);
	for (i = 0; i < s.nowned; i++)
		free(s.owned[i]);
	free(s.owned);
	if (s.prepared != NULL)
		fclose(s.prepared);
	if (s.secret != NULL) {
		volatile char *v = s.secret;
		while (*v)
			*v++ = '\0';
		free(s.secret);
	}
	cfg_free(&s.conf);
	return rc;
}
