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
	"usage: smtpc chat [--tls [--cafile FILE] [--insecure]] [--timeout MS] HOST PORT\n"
	"\n"
	"Connects to HOST PORT, prints each reply line on standard output, and sends\n"
	"each line read from standard input as a command (CRLF added), waiting for\n"
	"its reply. Ends after QUIT is answered, or at end of input (sending QUIT).\n"
	"\n"
	"  --tls          implicit TLS, the certificate checked against HOST\n"
	"  --cafile FILE  trust anchors (default: the system bundle)\n"
	"  --insecure     do not check the certificate\n"
	"  --timeout MS   bound on connecting and on each reply (default 30000)\n";

static void on_line(void *user, const smtpc_line *l)
{
	(void)user;
	printf("%u%c%s\n", l->code, l->last ? ' ' : '-', l->text);
	fflush(stdout);
}

int cmd_chat(int argc, char **argv)
{
	static const struct option opts[] = {{"tls", no_argument, NULL, 'T'},
	                                     {"cafile", required_argument, NULL, 'C'},
	                                     {"insecure", no_argument, NULL, 'k'},
	                                     {"timeout", required_argument, NULL, 'o'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	smtpc_posix_opts po;
	smtpc_config cfg;
	smtpc_posix *p;
	smtpc_conn *c;
	smtpc_reply r;
	smtpc_err e;
	long timeout = 30000;
	int ch, tls = 0, insecure = 0, rc = 0;
	const char *cafile = NULL;
	smtpc_bearssl *tlsc = NULL;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'T': tls = 1; break;
		case 'C': cafile = optarg; break;
		case 'k': insecure = 1; break;
		case 'o':
			timeout = parse_ms(optarg);
			if (timeout <= 0) {
				say("--timeout wants a positive number of milliseconds");
				return EX_USAGE_;
			}
			break;
		case 'h': fputs(chat_usage, stdout); return EX_OK_;
		default: fputs(chat_usage, stderr); return EX_USAGE_;
		}
	}
	if (argc - optind != 2) {
		fputs(chat_usage, stderr);
		return EX_USAGE_;
	}
	if (tls && (tlsc = tls_client(argv[optind], cafile, insecure)) == NULL)
		return EX_NOINPUT_;
	smtpc_config_default(&cfg);
	cfg.allow_plain_auth = 1; /* lines are the user's own */
	smtpc_posix_opts_default(&po);
	po.host = argv[optind];
	po.port = argv[optind + 1];
	po.config = &cfg;
	smtpc_posix_set_timeouts(&po.timeouts, timeout);
	po.cb.line = on_line;
	p = smtpc_posix_new(&po);
	if (p == NULL) {
		smtpc_bearssl_free(tlsc);
		return EX_SOFTWARE_;
	}
	c = smtpc_posix_core(p);
	if (tlsc != NULL)
		smtpc_posix_set_transport(p, smtpc_bearssl_transport(tlsc));
	e = smtpc_posix_connect(p, &r);
	if (e != SMTPC_ERR_OK) {
		say_failure("cannot connect", e, tlsc);
		smtpc_posix_free(p);
		smtpc_bearssl_free(tlsc);
		return exit_for_err(e);
	}
	while (!smtpc_posix_done(p) && (n = getline(&line, &cap, stdin)) >= 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		e = smtpc_posix_write(p, line, &r);
		if (e != SMTPC_ERR_OK && smtpc_err_class(e) != SMTPC_CLASS_TRANSPORT &&
		    smtpc_err_class(e) != SMTPC_CLASS_PROTOCOL) {
			say("not sent: %s", smtpc_err_desc(e)); /* the session goes on */
			continue;
		}
		if (e != SMTPC_ERR_OK) {
			say("%s (%s)", smtpc_err_desc(e), smtpc_err_name(e));
			rc = exit_for_err(e);
			break;
		}
		if (smtpc_pending(c) == 0 && r.code == 221)
			break; /* QUIT answered */
	}
	if (rc == 0 && !smtpc_posix_done(p) && smtpc_quit(c) == SMTPC_ERR_OK &&
	    smtpc_posix_flush(p) == SMTPC_ERR_OK)
		smtpc_posix_wait(p, &r);
	free(line);
	smtpc_posix_close(p);
	smtpc_posix_free(p);
	smtpc_bearssl_free(tlsc);
	return rc;
}
