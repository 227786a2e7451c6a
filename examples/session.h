/*
 * The session both event-loop examples run: greeting, EHLO, MAIL, RCPT,
 * DATA, the message, QUIT. Each reply callback issues the next command on
 * the core; the adapter sends it when the loop says the socket is writable.
 */
#ifndef EXAMPLE_SESSION_H
#define EXAMPLE_SESSION_H

#include <stdio.h>
#include <string.h>

#include "smtpc_posix.h"

struct session {
	smtpc_posix *p;
	const char *from, *to, *message;
	int status; /* 0 delivered, 1 refused or failed */
	int delivered;
};

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
		case SMTPC_CMD_GREETING: e = smtpc_ehlo(c, "client.example"); break;
		case SMTPC_CMD_EHLO: e = smtpc_mail(c, s->from, NULL); break;
		case SMTPC_CMD_MAIL: e = smtpc_rcpt(c, s->to, NULL); break;
		case SMTPC_CMD_RCPT: e = smtpc_data(c); break;
		case SMTPC_CMD_DATA: /* 354: small message, fits the transmit buffer */
			smtpc_body_write(c, s->message, strlen(s->message));
			e = smtpc_body_end(c);
			break;
		case SMTPC_CMD_DATA_END:
			s->delivered = 1;
			e = smtpc_quit(c);
			break;
		default: break;
		}
	}
	if (e != SMTPC_ERR_OK) {
		fprintf(stderr, "command refused: %s\n", smtpc_err_desc(e));
		s->status = 1;
	}
}

static void failed(void *user, smtpc_err e)
{
	struct session *s = user;

	fprintf(stderr, "error: %s\n", smtpc_err_desc(e));
	if (!s->delivered)
		s->status = 1;
}

/* Options for the session; host and port from the command line. */
static smtpc_posix_opts session_opts(struct session *s, const char *host, const char *port)
{
	smtpc_posix_opts o;

	smtpc_posix_opts_default(&o);
	o.host = host;
	o.port = port;
	smtpc_posix_set_timeouts(&o.timeouts, 10000);
	o.cb.user = s;
	o.cb.reply = next_step;
	o.cb.error = failed;
	return o;
}

#endif
