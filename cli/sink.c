/*
 * smtpc sink: a local SMTP or LMTP server on the library's server side
 * (smtpc_posix_server.h). This file holds only the options, the Maildir
 * storage and the log; listening, sessions, STARTTLS, limits and deadlines
 * are the library's.
 *
 * Maildir storage (the library answers 250 only after end() returned 0):
 * begin creates tmp/NAME (O_EXCL), write appends, end fsyncs and closes it,
 * renames it into new/ and fsyncs new/; any failure is returned as its
 * errno (452 for ENOSPC and EDQUOT, 451 otherwise) and abort removes
 * whatever exists, in tmp/ or new/, so nothing partial stays.
 *
 * The log (standard output): one line per message, and one per 4xx/5xx
 * reply sent. Client-controlled text (addresses, reply lines that echo
 * commands) is written inside double quotes with every octet outside
 * printable ASCII, and the quote and backslash, escaped as \xHH, so it
 * cannot forge fields or lines; an envelope too long for the line is cut
 * after a closed quote and marked "...".
 *
 * smtpc demo runs a sink on an ephemeral loopback port in a child process
 * and sends a sample message to it with smtpc send, both sides printing
 * their transcript.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "smtpc_posix_server.h"

#define ENVELOPE_MAX 65536 /* octets of envelope text logged per message */
/* the longest --maildir: its file names (tmp/ and new/ plus a name of at
 * most 80 octets) must fit struct msg's paths */
#define MAILDIR_MAX 400
#define MAX_USERS   256

static const char sink_usage[] =
    "usage: smtpc sink [--host ADDR] [--port PORT] [--unix PATH] [--lmtp] [--maildir DIR]\n"
    "                  [--max-size BYTES] [--tls-cert FILE --tls-key FILE]\n"
    "                  [--auth-file FILE [--allow-plain-auth] [--require-auth]]\n"
    "                  [--messages N] [--timeout MS] [--command-timeout MS]\n"
    "                  [--max-sessions N] [-v]\n"
    "\n"
    "Accepts every message sent to it and prints one line per message. With\n"
    "--maildir each message is stored in DIR/new (Maildir), on disk before the 250.\n"
    "\n"
    "  --host ADDR          address to listen on (default 127.0.0.1)\n"
    "  --port PORT          port (default 2525; 0 picks a free one and prints it)\n"
    "  --unix PATH          listen on a Unix socket instead (LMTP's usual transport)\n"
    "  --lmtp               speak LMTP (RFC 2033): LHLO, one reply per recipient\n"
    "  --maildir DIR        store messages there (tmp, new and cur are created)\n"
    "  --max-size BYTES     SIZE limit advertised and enforced (default 104857600)\n"
    "  --tls-cert FILE      certificate chain (PEM): STARTTLS is offered\n"
    "  --tls-key FILE       its RSA or EC private key (PEM or DER)\n"
    "  --auth-file FILE     lines user:password; AUTH PLAIN and LOGIN are offered\n"
    "                       after STARTTLS\n"
    "  --allow-plain-auth   offer and accept AUTH without TLS too\n"
    "  --require-auth       refuse MAIL before AUTH (530 5.7.0)\n"
    "  --messages N         exit after N messages (default: serve until killed)\n"
    "  --timeout MS         command and data block deadline (default 300000)\n"
    "  --command-timeout MS deadline for each command (default: --timeout)\n"
    "  --max-sessions N     sessions at once; more get 421 (default 1024)\n"
    "  -v                   transcript of every session on standard error\n";

struct user {
	char *name, *pass;
	size_t nlen, plen;
};

struct sink {
	const char *maildir;
	uint64_t max_size;
	long messages, accepted, timeout, command_timeout;
	int verbose, lmtp, require_auth, allow_plain;
	unsigned long seq;
	size_t max_sessions;
	struct user users[MAX_USERS];
	size_t nusers;
	char *users_data;
	smtpc_posix_server *srv;
};

/* the envelope of a session's transaction, for the log; grown as needed
 * (an idle session has none: thousands of them cost nothing here) */
struct env {
	char *text;
	size_t len, cap, rcpts;
	int truncated;
};

struct msg {
	int fd;
	char tmp[512], fin[600];
	int renamed;
};

static smtpc_posix_server *signal_srv;

static void on_signal(int sig)
{
	(void)sig;
	smtpc_posix_server_stop(signal_srv, 1);
}

/* ---- the log ---------------------------------------------------------------------------- */

/* Room for k more octets: the text grows up to ENVELOPE_MAX, always keeping 5
 * octets past it for a closing quote, "..." and the NUL (so cut() can close a
 * value that did not fit). Returns 1, or 0 when it cannot grow. */
static int env_room(struct env *e, size_t k)
{
	size_t need = e->len + k + 5, cap = e->cap ? e->cap : 256;
	char *t;

	if (need <= e->cap)
		return 1;
	while (cap < need)
		cap *= 2;
	if (cap > ENVELOPE_MAX || (t = realloc(e->text, cap)) == NULL)
		return 0;
	e->text = t;
	e->cap = cap;
	return 1;
}

/* The envelope is cut: "..." ends it and nothing more is appended. */
static void cut(struct env *e)
{
	if (!e->truncated && e->text != NULL) {
		memcpy(e->text + e->len, "...", 4);
		e->len += 3;
	}
	e->truncated = 1;
}

/* Appends s[0, n) quoted: printable ASCII as it is, everything else and the
 * quote and backslash as \xHH. The quotes always pair up: a value cut short
 * is closed, then "..." follows. */
static void quote(struct env *e, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	if (e->truncated)
		return;
	if (!env_room(e, 1)) {
		cut(e);
		return;
	}
	e->text[e->len++] = '"';
	for (i = 0; i < n; i++) {
		char buf[4];
		size_t k = 0;
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') {
			buf[k++] = '\\';
			buf[k++] = 'x';
			buf[k++] = hex[c >> 4];
			buf[k++] = hex[c & 15];
		} else {
			buf[k++] = (char)c;
		}
		if (!env_room(e, k + 1)) { /* + 1: the closing quote */
			e->text[e->len++] = '"';
			cut(e);
			return;
		}
		memcpy(e->text + e->len, buf, k);
		e->len += k;
	}
	e->text[e->len++] = '"';
	e->text[e->len] = '\0';
}

static void env_lit(struct env *e, const char *s)
{
	size_t n = strlen(s);

	if (e->truncated)
		return;
	if (!env_room(e, n)) {
		cut(e);
		return;
	}
	memcpy(e->text + e->len, s, n + 1);
	e->len += n;
}

static void env_free(struct env *e)
{
	if (e != NULL)
		free(e->text);
	free(e);
}

/* ---- Maildir ----------------------------------------------------------------------------- */

static int maildir_prepare(const char *dir)
{
	static const char *const subs[] = {"", "/tmp", "/new", "/cur"};
	char path[512];
	size_t i;

	for (i = 0; i < 4; i++) {
		snprintf(path, sizeof path, "%s%s", dir, subs[i]);
		if (mkdir(path, 0700) != 0 && errno != EEXIST) {
			say("cannot create %s: %s", path, strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int md_begin(void *user, smtpc_posix_session *ss, void **out)
{
	struct sink *s = user;
	struct msg *m;
	struct timespec ts;
	int e;

	m = calloc(1, sizeof *m);
	if (m == NULL)
		return ENOMEM;
	m->fd = -1;
	if (s->maildir == NULL) { /* no storage: discarded, still counted */
		*out = m;
		return 0;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(m->tmp, sizeof m->tmp, "%s/tmp/%lld.M%ldP%dQ%lu.smtpc", s->maildir,
		 (long long)ts.tv_sec, ts.tv_nsec / 1000, (int)getpid(), ++s->seq);
	m->fd = open(m->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (m->fd < 0) {
		e = errno;
		printf("error session=%lu cannot create %s: %s\n", smtpc_posix_session_id(ss),
		       m->tmp, strerror(e));
		fflush(stdout);
		free(m);
		return e;
	}
	*out = m;
	return 0;
}

static int md_write(void *user, void *msg, const unsigned char *p, size_t n)
{
	struct msg *m = msg;

	(void)user;
	if (m->fd < 0)
		return 0;
	while (n > 0) {
		ssize_t w = write(m->fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? errno : EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int store_fail(const char *what, const char *path, int e)
{
	printf("error cannot %s %s: %s\n", what, path, strerror(e));
	fflush(stdout);
	return e;
}

/* fsync, rename into new/, fsync new/: durable before the 250 */
static int md_end(void *user, void *msg, char *id, size_t id_len)
{
	struct sink *s = user;
	struct msg *m = msg;
	char dir[520];
	const char *base;
	int dfd, e;

	if (m->fd < 0) {
		snprintf(id, id_len, "%lu", ++s->seq);
		free(m);
		return 0;
	}
	if (fsync(m->fd) != 0)
		return store_fail("fsync", m->tmp, errno);
	e = close(m->fd);
	m->fd = -1;
	if (e != 0)
		return store_fail("close", m->tmp, errno);
	base = strrchr(m->tmp, '/') + 1;
	snprintf(m->fin, sizeof m->fin, "%s/new/%s", s->maildir, base);
	if (rename(m->tmp, m->fin) != 0)
		return store_fail("rename into", m->fin, errno);
	m->renamed = 1;
	snprintf(dir, sizeof dir, "%s/new", s->maildir);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) != 0) {
		e = errno;
		if (dfd >= 0)
			close(dfd);
		return store_fail("fsync", dir, e);
	}
	close(dfd);
	snprintf(id, id_len, "%s", base);
	free(m);
	return 0;
}

static void md_abort(void *user, void *msg)
{
	struct msg *m = msg;

	(void)user;
	if (m->fd >= 0)
		close(m->fd);
	if (m->renamed)
		(void)unlink(m->fin); /* not durable: not acknowledged, not kept */
	else if (m->tmp[0] != '\0')
		(void)unlink(m->tmp);
	free(m);
}

/* ---- sessions ---------------------------------------------------------------------------- */

static void on_session(void *user, smtpc_posix_session *ss, int opened)
{
	struct sink *s = user;

	if (opened) {
		if (s->verbose)
			fprintf(stderr, "[sink %lu] connected from %s\n",
				smtpc_posix_session_id(ss), smtpc_posix_session_peer(ss));
		return;
	}
	if (s->verbose) {
		smtpc_err e = smtpc_posix_session_error(ss);
		fprintf(stderr, "[sink %lu] closed%s%s\n", smtpc_posix_session_id(ss),
			e != SMTPC_ERR_OK ? ": " : "", e != SMTPC_ERR_OK ? smtpc_err_desc(e) : "");
	}
	env_free(smtpc_posix_session_user(ss));
}

static void on_command(void *user, smtpc_posix_session *ss, const smtpc_command *m,
		       smtpc_posix_answer *a)
{
	struct sink *s = user;
	struct env *e = smtpc_posix_session_user(ss);

	if (s->verbose)
		fprintf(stderr, "[sink %lu] C: %s %.*s\n", smtpc_posix_session_id(ss),
			smtpc_cmd_name(m->cmd), (int)(m->arg_len > 300 ? 300 : m->arg_len), m->arg);
	if (m->cmd == SMTPC_CMD_MAIL && s->require_auth &&
	    !smtpc_is_authenticated(smtpc_posix_session_core(ss))) {
		a->code = 530;
		snprintf(a->text, sizeof a->text, "5.7.0 Authentication required");
		return;
	}
	if (e == NULL) {
		e = calloc(1, sizeof *e);
		if (e == NULL)
			return;
		smtpc_posix_session_set_user(ss, e);
	}
	if (m->cmd == SMTPC_CMD_MAIL) {
		e->len = 0;
		e->rcpts = 0;
		e->truncated = 0;
		env_lit(e, "from=");
		quote(e, m->arg, m->arg_len);
		env_lit(e, " to=");
	} else {
		if (e->rcpts++ > 0)
			env_lit(e, ",");
		quote(e, m->arg, m->arg_len);
	}
}

static void on_reply(void *user, smtpc_posix_session *ss, const char *line, size_t len)
{
	struct sink *s = user;

	if (s->verbose)
		fprintf(stderr, "[sink %lu] S: %.*s\n", smtpc_posix_session_id(ss), (int)len, line);
	if (len >= 3 && (line[0] == '4' || line[0] == '5')) {
		struct env q;
		memset(&q, 0, sizeof q);
		quote(&q, line, len);
		printf("reply session=%lu %s\n", smtpc_posix_session_id(ss), q.text ? q.text : "");
		free(q.text);
	}
}

static void on_message(void *user, smtpc_posix_session *ss, int ok, smtpc_err why, int err,
		       unsigned long long size, const char *id)
{
	struct sink *s = user;
	struct env *e = smtpc_posix_session_user(ss);
	const char *env = e && e->text ? e->text : "";

	if (ok) {
		printf("accepted session=%lu %s size=%llu id=%s\n", smtpc_posix_session_id(ss), env,
		       size, id && id[0] ? id : "-");
		s->accepted++;
		if (s->messages > 0 && s->accepted >= s->messages)
			smtpc_posix_server_stop(s->srv, 0);
	} else {
		printf("refused session=%lu %s size=%llu: %s\n", smtpc_posix_session_id(ss), env,
		       size, err ? strerror(err) : smtpc_err_desc(why));
	}
}

static void on_secure(void *user, smtpc_posix_session *ss)
{
	struct sink *s = user;

	if (s->verbose)
		fprintf(stderr, "[sink %lu] TLS is up\n", smtpc_posix_session_id(ss));
}

/* The log is flushed when the server is about to wait: one write for a
 * burst of lines. */
static void on_idle(void *user)
{
	(void)user;
	fflush(stdout);
}

static void on_accept_error(void *user, int err)
{
	(void)user;
	printf("error accept: %s\n", strerror(err));
	fflush(stdout);
}

/* ---- AUTH ---------------------------------------------------------------------------------- */

static int load_users(struct sink *s, const char *path)
{
	FILE *f = fopen(path, "rb");
	long n;
	char *p, *end;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		say("cannot read %s: %s", path, strerror(errno));
		if (f)
			fclose(f);
		return -1;
	}
	s->users_data = malloc((size_t)n + 1);
	if (s->users_data == NULL || fread(s->users_data, 1, (size_t)n, f) != (size_t)n) {
		say("cannot read %s", path);
		fclose(f);
		return -1;
	}
	fclose(f);
	s->users_data[n] = '\0';
	for (p = s->users_data; *p; p = end) {
		char *nl = strchr(p, '\n'), *colon;
		end = nl ? nl + 1 : p + strlen(p);
		if (nl)
			*nl = '\0';
		if (nl && nl > p && nl[-1] == '\r')
			nl[-1] = '\0';
		if (*p == '\0' || *p == '#')
			continue;
		colon = strchr(p, ':');
		if (colon == NULL || colon == p || s->nusers == MAX_USERS) {
			say("%s: a line is not user:password (or more than %d users)", path,
			    MAX_USERS);
			return -1;
		}
		*colon = '\0';
		s->users[s->nusers].name = p;
		s->users[s->nusers].nlen = strlen(p);
		s->users[s->nusers].pass = colon + 1;
		s->users[s->nusers].plen = strlen(colon + 1);
		s->nusers++;
	}
	if (s->nusers == 0) {
		say("%s: no user", path);
		return -1;
	}
	return 0;
}

/* every octet compared, whatever matched before */
static int same(const char *a, size_t an, const char *b, size_t bn)
{
	unsigned char d = an != bn;
	size_t i;

	for (i = 0; i < an; i++)
		d |= (unsigned char)(a[i] ^ b[i < bn ? i : 0]);
	return d == 0 && bn > 0;
}

static int check_auth(void *ctx, const char *u, size_t ulen, const char *pw, size_t plen)
{
	struct sink *s = ctx;
	size_t i;
	int ok = 0;

	for (i = 0; i < s->nusers; i++)
		ok |= same(u, ulen, s->users[i].name, s->users[i].nlen) &
		      same(pw, plen, s->users[i].pass, s->users[i].plen);
	return ok;
}

/* ---- setup ------------------------------------------------------------------------------------
 */

static void sink_init(struct sink *s)
{
	memset(s, 0, sizeof *s);
	s->max_size = 104857600u;
	s->timeout = 300000;
	s->command_timeout = -1;
}

static smtpc_posix_server *sink_server(struct sink *s, smtpc_posix_tls *tls)
{
	smtpc_posix_server_opts o;
	smtpc_config cfg;

	smtpc_config_default(&cfg);
	cfg.max_line = 1000;
	cfg.max_reply = 1001;
	cfg.max_ext = 0;
	cfg.allow_plain_auth = s->allow_plain;
	smtpc_posix_server_opts_default(&o);
	o.config = &cfg;
	o.lmtp = s->lmtp;
	o.banner = s->lmtp ? "smtpc sink LMTP" : "smtpc sink ESMTP";
	o.caps.ext |= SMTPC_EXT_DSN;
	o.caps.size_limit = s->max_size;
	o.max_sessions = s->max_sessions;
	o.command_timeout = s->command_timeout >= 0 ? s->command_timeout : s->timeout;
	o.data_timeout = s->timeout;
	if (tls != NULL) {
		o.tls = smtpc_posix_tls_server_factory;
		o.tls_ctx = tls;
	}
	if (s->nusers > 0) {
		o.auth = check_auth;
		o.auth_ctx = s;
	}
	o.storage.begin = md_begin;
	o.storage.write = md_write;
	o.storage.end = md_end;
	o.storage.abort = md_abort;
	o.cb.user = s;
	o.cb.session = on_session;
	o.cb.command = on_command;
	o.cb.reply = on_reply;
	o.cb.message = on_message;
	o.cb.accept_error = on_accept_error;
	o.cb.secure = on_secure;
	o.cb.idle = on_idle;
	s->srv = smtpc_posix_server_new(&o);
	return s->srv;
}

/* A whole decimal number in [lo, hi] (digits only: no sign, no suffix, no
 * overflow); otherwise says which option wants what and returns -1. */
static int number(const char *opt, const char *text, unsigned long long lo, unsigned long long hi,
		  unsigned long long *out)
{
	unsigned long long v = 0;
	const char *p = text;

	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (hi - (unsigned long long)(*p - '0')) / 10) {
			v = hi + 1;
			break;
		}
		v = v * 10 + (unsigned long long)(*p - '0');
	}
	if (p == text || (*p != '\0' && v <= hi) || v < lo || v > hi) {
		say("%s '%s': wants a whole number from %llu to %llu", opt, text, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

int cmd_sink(int argc, char **argv)
{
	static const struct option opts[] = {{"host", required_argument, NULL, 'H'},
					     {"port", required_argument, NULL, 'p'},
					     {"maildir", required_argument, NULL, 'm'},
					     {"max-size", required_argument, NULL, 's'},
					     {"messages", required_argument, NULL, 'n'},
					     {"timeout", required_argument, NULL, 'o'},
					     {"tls-cert", required_argument, NULL, 'c'},
					     {"tls-key", required_argument, NULL, 'k'},
					     {"unix", required_argument, NULL, 'u'},
					     {"lmtp", no_argument, NULL, 'l'},
					     {"command-timeout", required_argument, NULL, 'C'},
					     {"auth-file", required_argument, NULL, 'a'},
					     {"allow-plain-auth", no_argument, NULL, 'P'},
					     {"require-auth", no_argument, NULL, 'R'},
					     {"max-sessions", required_argument, NULL, 'M'},
					     {"verbose", no_argument, NULL, 'v'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	struct sink s;
	const char *host = "127.0.0.1", *port = "2525", *cert = NULL, *key = NULL,
		   *unix_path = NULL;
	const char *auth_file = NULL;
	smtpc_posix_tls *tls = NULL;
	char why[300];
	int ch, bound = 0, rc = EX_OK_, e;
	unsigned long long v;

	sink_init(&s);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (ch) {
		case 'H':
			host = optarg;
			break;
		case 'p':
			if (number("--port", optarg, 0, 65535, &v) != 0)
				return EX_USAGE_;
			port = optarg;
			break;
		case 'm':
			s.maildir = optarg;
			break;
		case 's':
			if (number("--max-size", optarg, 1, ~0ULL, &v) != 0)
				return EX_USAGE_;
			s.max_size = v;
			break;
		case 'n':
			if (number("--messages", optarg, 0, 0x7fffffffUL, &v) != 0)
				return EX_USAGE_;
			s.messages = (long)v;
			break;
		case 'o':
			s.timeout = parse_ms(optarg);
			if (s.timeout <= 0) {
				say("--timeout '%s': wants a positive number of milliseconds",
				    optarg);
				return EX_USAGE_;
			}
			break;
		case 'C':
			s.command_timeout = parse_ms(optarg);
			if (s.command_timeout <= 0) {
				say("--command-timeout '%s': wants a positive number of "
				    "milliseconds",
				    optarg);
				return EX_USAGE_;
			}
			break;
		case 'u':
			unix_path = optarg;
			break;
		case 'l':
			s.lmtp = 1;
			break;
		case 'a':
			auth_file = optarg;
			break;
		case 'P':
			s.allow_plain = 1;
			break;
		case 'R':
			s.require_auth = 1;
			break;
		case 'M':
			if (number("--max-sessions", optarg, 1, 1000000, &v) != 0)
				return EX_USAGE_;
			s.max_sessions = (size_t)v;
			break;
		case 'v':
			s.verbose = 1;
			break;
		case 'c':
			cert = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 'h':
			fputs(sink_usage, stdout);
			return EX_OK_;
		default:
			fputs(sink_usage, stderr);
			return EX_USAGE_;
		}
	}
	if (optind < argc || s.timeout <= 0 || s.command_timeout == 0 || s.command_timeout < -1) {
		fputs(sink_usage, stderr);
		return EX_USAGE_;
	}
	if (s.maildir != NULL && strlen(s.maildir) > MAILDIR_MAX) {
		say("--maildir: a path of at most %d octets", MAILDIR_MAX);
		return EX_USAGE_;
	}
	if ((cert != NULL) != (key != NULL)) {
		say("--tls-cert and --tls-key go together");
		return EX_USAGE_;
	}
	if ((s.require_auth || s.allow_plain) && auth_file == NULL) {
		say("--require-auth and --allow-plain-auth need --auth-file");
		return EX_USAGE_;
	}
	if (auth_file != NULL && load_users(&s, auth_file) != 0) {
		free(s.users_data);
		return EX_NOINPUT_;
	}
	if (cert != NULL) {
		smtpc_posix_tls_opts to;
		memset(&to, 0, sizeof to);
		to.cert_file = cert;
		to.key_file = key;
		to.bufsize = SMTPC_BEARSSL_BUF_MONO;
		tls = smtpc_posix_tls_new(&to, why, sizeof why);
		if (tls == NULL) {
			say("TLS: %s", why);
			free(s.users_data);
			return EX_NOINPUT_;
		}
	}
	if (s.maildir != NULL && maildir_prepare(s.maildir) != 0) {
		rc = 73; /* EX_CANTCREAT */
		goto out;
	}
	if (sink_server(&s, tls) == NULL) {
		rc = EX_SOFTWARE_;
		goto out;
	}
	e = unix_path != NULL
		? smtpc_posix_server_listen_unix(s.srv, unix_path, why, sizeof why)
		: smtpc_posix_server_listen(s.srv, host, port, &bound, why, sizeof why);
	if (e != 0) {
		say("%s", why);
		rc = 71; /* EX_OSERR */
		goto out;
	}
	if (unix_path != NULL)
		printf("listening on %s\n", unix_path);
	else
		printf("listening on %s port %d\n", host, bound);
	fflush(stdout);
	signal_srv = s.srv;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	e = smtpc_posix_server_run(s.srv);
	if (e != 0) {
		say("server: %s", strerror(e));
		rc = 71;
	}
out:
	smtpc_posix_server_free(s.srv);
	smtpc_posix_tls_free(tls);
	free(s.users_data);
	return rc;
}

/* ---- demo ----------------------------------------------------------------------------- */

int cmd_demo(int argc, char **argv)
{
	static const char message[] = "From: demo@example.org\r\nTo: you@example.org\r\n"
				      "Subject: smtpc demo\r\n\r\nHello from the smtpc client.\r\n"
				      ".A line that starts with a dot travels safely.\r\n";
	struct sink s;
	struct msg dm;
	char port[16], file[] = "/tmp/smtpc-demo-XXXXXX";
	char *send_argv[16];
	int bound = 0, fd, status = 0, rc;
	pid_t child;

	(void)argv;
	if (argc > 1) {
		fputs("usage: smtpc demo\n\nRuns a sink on a loopback port and sends it a message, "
		      "showing both sides.\n",
		      stderr);
		return EX_USAGE_;
	}
	sink_init(&s);
	s.verbose = 1;
	s.messages = 1;
	if (sink_server(&s, NULL) == NULL ||
	    smtpc_posix_server_listen(s.srv, "127.0.0.1", "0", &bound, NULL, 0) != 0) {
		smtpc_posix_server_free(s.srv);
		return 71;
	}
	fd = mkstemp(file);
	memset(&dm, 0, sizeof dm);
	dm.fd = fd;
	if (fd < 0 ||
	    md_write(NULL, &dm, (const unsigned char *)message, sizeof message - 1) != 0) {
		say("cannot write %s", file);
		smtpc_posix_server_free(s.srv);
		return EX_SOFTWARE_;
	}
	close(fd);
	printf("smtpc demo: a sink on 127.0.0.1 port %d, and a client sending it one message\n\n",
	       bound);
	fflush(stdout);
	child = fork();
	if (child == 0) {
		signal(SIGPIPE, SIG_IGN);
		_exit(smtpc_posix_server_run(s.srv) == 0 ? EX_OK_ : 71);
	}
	smtpc_posix_server_free(s.srv);
	if (child < 0) {
		unlink(file);
		return 71;
	}
	snprintf(port, sizeof port, "%d", bound);
	send_argv[0] = "send";
	send_argv[1] = "--host";
	send_argv[2] = "127.0.0.1";
	send_argv[3] = "--port";
	send_argv[4] = port;
	send_argv[5] = "--from";
	send_argv[6] = "demo@example.org";
	send_argv[7] = "--to";
	send_argv[8] = "you@example.org";
	send_argv[9] = "--helo";
	send_argv[10] = "client.example";
	send_argv[11] = "--file";
	send_argv[12] = file;
	send_argv[13] = "-v";
	send_argv[14] = NULL;
	rc = cmd_send(14, send_argv);
	if (waitpid(child, &status, 0) != child)
		status = 1;
	unlink(file);
	printf("\nsmtpc demo: client exit status %d, sink exit status %d\n", rc,
	       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return rc == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? EX_OK_ : EX_SOFTWARE_;
}
