/*
 * smtpc chat: the seed's example as a tool. Connects, prints every reply
 * line as it arrives, reads command lines from standard input and sends
 * each with CRLF, waiting for its complete reply before reading the next.
 * After a 354, lines are message lines (no reply each) until ".". Ends
 * after the reply to QUIT, or at end of input (then it sends QUIT).
 */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char chat_usage[] =
    "usage: smtpc chat [--tls | --starttls] [--cafile FILE] [--tls-name NAME] [--insecure]\n"
    "                  [--helo NAME] [--timeout MS] HOST PORT\n"
    "\n"
    "Connects to HOST PORT, prints each reply line on standard output, and sends\n"
    "each line read from standard input as a command (CRLF added), waiting for\n"
    "its reply. Ends after QUIT is answered, or at end of input (sending QUIT).\n"
    "A typed STARTTLS line performs the handshake when answered 220; send EHLO\n"
    "again after it.\n"
    "\n"
    "  --tls            implicit TLS, the certificate checked against HOST\n"
    "  --starttls       EHLO and STARTTLS first (their replies shown), then TLS\n"
    "  --cafile FILE    trust anchors (default: the system bundle)\n"
    "  --tls-name NAME  the name to verify and send as SNI (default: HOST)\n"
    "  --insecure       do not check the certificate\n"
    "  --helo NAME      the name --starttls sends with EHLO (default: localhost)\n"
    "  --timeout MS     bound on connecting and on each reply (default 30000)\n";

struct chat {
	const char *host, *cafile, *tls_name, *helo;
	int insecure;
	smtpc_posix *p;
	smtpc_posix_tls *x;
};

static void on_line(void *user, const smtpc_line *l)
{
	(void)user;
	printf("%u%c%s\n", l->code, l->last ? ' ' : '-', l->text);
	fflush(stdout);
}

/* A TLS layer in STARTTLS mode, set up the first time it is needed. */
static int want_starttls_layer(struct chat *ch)
{
	char why[300];
	const char *name;

	if (ch->x != NULL)
		return 0;
	name = tls_name_for(ch->host, ch->tls_name, ch->insecure);
	if (name == NULL)
		return EX_USAGE_;
	ch->x = tls_setup(ch->cafile, ch->insecure);
	if (ch->x == NULL)
		return EX_NOINPUT_;
	if (smtpc_posix_use_tls(ch->p, ch->x, name, 1, why, sizeof why) != SMTPC_ERR_OK) {
		say("TLS: %s", why);
		return EX_SOFTWARE_;
	}
	return 0;
}

/* The handshake after a 220 to STARTTLS; 0 when TLS is up. */
static int handshake(struct chat *ch)
{
	smtpc_err e = smtpc_posix_starttls(ch->p);

	if (e != SMTPC_ERR_OK) {
		say_failure("STARTTLS", e, ch->p);
		return exit_for_err(e);
	}
	say("TLS is up; send EHLO again");
	return 0;
}

/* The line is STARTTLS as the core reads a raw line: its verb, the text
 * up to the first space, is STARTTLS in any case ("STARTTLS ", "starttls
 * x" too). A line the core takes for STARTTLS must find a layer ready, or
 * its 220 would leave the session paused for good. */
static int is_starttls(const char *line)
{
	static const char word[] = "STARTTLS";
	size_t i;

	for (i = 0; word[i] != '\0'; i++) {
		char c = line[i];
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c != word[i])
			return 0;
	}
	return line[i] == '\0' || line[i] == ' ';
}

/* --starttls: EHLO, STARTTLS, the handshake; replies shown as typed ones. */
static int auto_starttls(struct chat *ch)
{
	smtpc_conn *c = smtpc_posix_core(ch->p);
	smtpc_reply r;
	smtpc_err e = smtpc_ehlo(c, ch->helo);
	int rc = want_starttls_layer(ch);

	if (rc != 0)
		return rc;
	if (e == SMTPC_ERR_OK)
		e = smtpc_posix_wait(ch->p, &r);
	if (e == SMTPC_ERR_OK && r.code / 100 != 2) {
		say("EHLO refused: %u %s", r.code, r.text);
		return exit_for_code(r.code);
	}
	if (e == SMTPC_ERR_OK && !(smtpc_get_caps(c)->ext & SMTPC_EXT_STARTTLS)) {
		say("the server does not offer STARTTLS; not going on in clear text");
		return EX_PROTOCOL_;
	}
	if (e == SMTPC_ERR_OK)
		e = smtpc_starttls(c);
	if (e == SMTPC_ERR_OK)
		e = smtpc_posix_wait(ch->p, &r);
	if (e != SMTPC_ERR_OK) {
		say_failure("STARTTLS", e, ch->p);
		return exit_for_err(e);
	}
	if (r.code != 220) {
		say("STARTTLS refused: %u %s; not going on in clear text", r.code, r.text);
		return EX_PROTOCOL_;
	}
	return handshake(ch);
}

int cmd_chat(int argc, char **argv)
{
	static const struct option opts[] = {{"tls", no_argument, NULL, 'T'},
					     {"starttls", no_argument, NULL, 'S'},
					     {"cafile", required_argument, NULL, 'C'},
					     {"tls-name", required_argument, NULL, 'N'},
					     {"insecure", no_argument, NULL, 'k'},
					     {"helo", required_argument, NULL, 'e'},
					     {"timeout", required_argument, NULL, 'o'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	struct chat ch;
	smtpc_posix_opts po;
	smtpc_config cfg;
	smtpc_conn *c;
	smtpc_reply r;
	smtpc_err e;
	long timeout = 30000;
	int opt, tls = 0, starttls = 0, rc = 0, quit = 0;
	char *line = NULL, why[300];
	size_t cap = 0;
	ssize_t n;

	memset(&ch, 0, sizeof ch);
	ch.helo = "localhost";
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'T':
			tls = 1;
			break;
		case 'S':
			starttls = 1;
			break;
		case 'C':
			ch.cafile = optarg;
			break;
		case 'N':
			ch.tls_name = optarg;
			break;
		case 'k':
			ch.insecure = 1;
			break;
		case 'e':
			ch.helo = optarg;
			break;
		case 'o':
			timeout = parse_ms(optarg);
			if (timeout <= 0) {
				say("--timeout wants a positive number of milliseconds");
				return EX_USAGE_;
			}
			break;
		case 'h':
			fputs(chat_usage, stdout);
			return EX_OK_;
		default:
			fputs(chat_usage, stderr);
			return EX_USAGE_;
		}
	}
	if (argc - optind != 2) {
		fputs(chat_usage, stderr);
		return EX_USAGE_;
	}
	if (tls && starttls) {
		say("--tls and --starttls exclude each other");
		return EX_USAGE_;
	}
	if (smtpc_check_domain(ch.helo) != SMTPC_ERR_OK) {
		say("--helo '%s' is not a domain name or address literal", ch.helo);
		return EX_USAGE_;
	}
	ch.host = argv[optind];
	if ((tls || starttls) && tls_name_for(ch.host, ch.tls_name, ch.insecure) == NULL)
		return EX_USAGE_;
	if (tls && (ch.x = tls_setup(ch.cafile, ch.insecure)) == NULL)
		return EX_NOINPUT_;
	smtpc_config_default(&cfg);
	cfg.allow_plain_auth = 1; /* lines are the user's own */
	smtpc_posix_opts_default(&po);
	po.host = argv[optind];
	po.port = argv[optind + 1];
	po.config = &cfg;
	smtpc_posix_set_timeouts(&po.timeouts, timeout);
	po.cb.line = on_line;
	ch.p = smtpc_posix_new(&po);
	if (ch.p == NULL) {
		smtpc_posix_tls_free(ch.x);
		return EX_SOFTWARE_;
	}
	c = smtpc_posix_core(ch.p);
	if (tls && smtpc_posix_use_tls(ch.p, ch.x, tls_name_for(ch.host, ch.tls_name, ch.insecure),
				       0, why, sizeof why) != SMTPC_ERR_OK) {
		say("TLS: %s", why);
		rc = EX_SOFTWARE_;
		goto out;
	}
	e = smtpc_posix_connect(ch.p, &r);
	if (e != SMTPC_ERR_OK) {
		say_failure("cannot connect", e, ch.p);
		rc = exit_for_err(e);
		goto out;
	}
	if (starttls && (rc = auto_starttls(&ch)) != 0)
		goto out;
	while (!smtpc_posix_done(ch.p) && (n = getline(&line, &cap, stdin)) >= 0) {
		int tls_line;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		tls_line = is_starttls(line) && smtpc_pending(c) == 0 &&
			   smtpc_waiting_for(c) != SMTPC_WAIT_DATA_BLOCK;
		if (tls_line && smtpc_posix_is_secure(ch.p)) {
			say("not sent: TLS is up already");
			continue;
		}
		if (tls_line && (rc = want_starttls_layer(&ch)) != 0)
			break;
		e = smtpc_posix_write(ch.p, line, &r);
		if (e != SMTPC_ERR_OK && smtpc_err_class(e) != SMTPC_CLASS_TRANSPORT &&
		    smtpc_err_class(e) != SMTPC_CLASS_PROTOCOL) {
			say("not sent: %s", smtpc_err_desc(e)); /* the session goes on */
			continue;
		}
		if (e != SMTPC_ERR_OK) {
			say_failure("session", e, ch.p);
			rc = exit_for_err(e);
			break;
		}
		if (tls_line && r.code == 220 && (rc = handshake(&ch)) != 0)
			break;
		if (smtpc_pending(c) == 0 && r.code == 221) {
			quit = 1; /* QUIT answered */
			break;
		}
	}
	if (rc == 0 && !quit && !smtpc_posix_done(ch.p)) {
		e = smtpc_quit(c);
		if (e != SMTPC_ERR_OK) { /* in a message, or the session is stuck: not a success */
			say("cannot end the session with QUIT: %s", smtpc_err_desc(e));
			rc = EX_PROTOCOL_;
		} else if (smtpc_posix_flush(ch.p) == SMTPC_ERR_OK) {
			smtpc_posix_wait(ch.p, &r);
		}
	}
out:
	free(line);
	smtpc_posix_close(ch.p);
	smtpc_posix_free(ch.p);
	smtpc_posix_tls_free(ch.x);
	return rc;
}
