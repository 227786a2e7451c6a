/*
 * The session both event-loop examples run: greeting, EHLO, (STARTTLS,
 * EHLO), MAIL, RCPT, DATA, the message, QUIT. Most reply callbacks issue
 * the next command on the core; two commands are left for the loop to
 * issue outside any callback (MAIL after EHLO, and EHLO once TLS is up),
 * as an application does that decides later: the adapter sends them all
 * the same, because its events and timeout reflect what the core holds.
 *
 *   PROG [--starttls --cafile FILE [--tls-name NAME]] HOST PORT FROM TO
 *
 * With --starttls the session upgrades with STARTTLS (RFC 3207) and never
 * goes on in clear text; the certificate is checked against FILE and the
 * name (HOST by default).
 */
#ifndef EXAMPLE_SESSION_H
#define EXAMPLE_SESSION_H

#include <stdio.h>
#include <string.h>

#include "smtpc_posix.h"
#include "smtpc_posix_tls.h"

enum { LATER_NONE, LATER_EHLO, LATER_MAIL };

struct session {
	smtpc_posix *p;
	const char *host, *port, *from, *to, *message;
	const char *cafile, *tls_name;
	int starttls;
	smtpc_posix_tls *tls;
	int later;  /* a command for the loop to issue, outside any callback */
	int status; /* 0 delivered, 1 refused or failed */
	int delivered;
};

static void give_up(struct session *s, const char *why)
{
	fprintf(stderr, "%s\n", why);
	s->status = 1;
	smtpc_quit(smtpc_posix_core(s->p));
}

static void next_step(void *user, const smtpc_reply *r)
{
	struct session *s = user;
	smtpc_conn *c = smtpc_posix_core(s->p);
	smtpc_err e = SMTPC_ERR_OK;

	printf("%u %s\n", r->code, r->text);
	if (r->code >= 400 && r->cmd != SMTPC_CMD_QUIT) {
		s->status = 1;
		e = smtpc_quit(c);
	} else {
		switch (r->cmd) {
		case SMTPC_CMD_GREETING:
			e = smtpc_ehlo(c, "client.example");
			break;
		case SMTPC_CMD_EHLO:
			if (s->starttls && !smtpc_is_secure(c)) {
				if (!(smtpc_get_caps(c)->ext & SMTPC_EXT_STARTTLS))
					give_up(s, "the server does not offer STARTTLS");
				else
					e = smtpc_starttls(c); /* then the layer takes over */
			} else {
				s->later = LATER_MAIL;
			}
			break;
		case SMTPC_CMD_MAIL:
			e = smtpc_rcpt(c, s->to, NULL);
			break;
		case SMTPC_CMD_RCPT:
			e = smtpc_data(c);
			break;
		case SMTPC_CMD_DATA: /* 354: small message, fits the transmit buffer */
			smtpc_body_write(c, s->message, strlen(s->message));
			e = smtpc_body_end(c);
			break;
		case SMTPC_CMD_DATA_END:
			s->delivered = 1;
			e = smtpc_quit(c);
			break;
		default:
			break;
		}
	}
	if (e != SMTPC_ERR_OK) {
		fprintf(stderr, "command refused: %s\n", smtpc_err_desc(e));
		s->status = 1;
	}
}

static void secure(void *user)
{
	struct session *s = user;

	printf("TLS is up\n");
	s->later = LATER_EHLO; /* EHLO again (RFC 3207 4.2), from the loop */
}

/* The loop calls this between its rounds, outside any callback. */
static void session_later(struct session *s)
{
	smtpc_conn *c = smtpc_posix_core(s->p);
	smtpc_err e = SMTPC_ERR_OK;

	if (s->later == LATER_EHLO)
		e = smtpc_ehlo(c, "client.example");
	else if (s->later == LATER_MAIL)
		e = smtpc_mail(c, s->from, NULL);
	if (e != SMTPC_ERR_OK) {
		fprintf(stderr, "command refused: %s\n", smtpc_err_desc(e));
		s->status = 1;
	}
	s->later = LATER_NONE;
}

static void failed(void *user, smtpc_err e)
{
	struct session *s = user;

	fprintf(stderr, "error: %s\n", smtpc_posix_strerror(s->p));
	(void)e;
	if (!s->delivered)
		s->status = 1;
}

/* Parses the arguments and makes the connection; 0 on success. */
static int session_open(struct session *s, int argc, char **argv, const char *prog)
{
	smtpc_posix_opts o;
	int i = 1;

	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--starttls") == 0)
			s->starttls = 1;
		else if (strcmp(argv[i], "--cafile") == 0 && i + 1 < argc)
			s->cafile = argv[++i];
		else if (strcmp(argv[i], "--tls-name") == 0 && i + 1 < argc)
			s->tls_name = argv[++i];
		else
			break;
	}
	if (argc - i != 4) {
		fprintf(
		    stderr,
		    "usage: %s [--starttls --cafile FILE [--tls-name NAME]] HOST PORT FROM TO\n",
		    prog);
		return 64;
	}
	s->host = argv[i];
	s->port = argv[i + 1];
	s->from = argv[i + 2];
	s->to = argv[i + 3];
	smtpc_posix_opts_default(&o);
	o.host = s->host;
	o.port = s->port;
	smtpc_posix_set_timeouts(&o.timeouts, 10000);
	o.cb.user = s;
	o.cb.reply = next_step;
	o.cb.error = failed;
	o.cb.secure = secure;
	s->p = smtpc_posix_new(&o);
	if (s->p == NULL)
		return 1;
	if (s->starttls) {
		smtpc_posix_tls_opts to;
		char why[300];
		memset(&to, 0, sizeof to);
		to.cafile = s->cafile; /* NULL: the system's trust anchors */
		s->tls = smtpc_posix_tls_new(&to, why, sizeof why);
		if (s->tls == NULL ||
		    smtpc_posix_use_tls(s->p, s->tls, s->tls_name ? s->tls_name : s->host, 1, why,
					sizeof why) != SMTPC_ERR_OK) {
			fprintf(stderr, "TLS: %s\n", why);
			return 1;
		}
	}
	return smtpc_posix_start(s->p) == SMTPC_ERR_OK ? 0 : 1;
}

static void session_close(struct session *s)
{
	smtpc_posix_free(s->p);
	smtpc_posix_tls_free(s->tls); /* after the connection that uses it */
}

#endif
