/*
 * smtpc sendmail, and smtpc run under the name "sendmail": the command line
 * that cron, mail user agents and git send-email use, turned into smtpc
 * send's options. The message comes on standard input; the account (given,
 * or "default") says where it goes.
 *
 * Options are read by hand, not by getopt: sendmail's are letters with the
 * value attached or apart (-fADDR, -f ADDR), several flags may share one
 * dash (-ti), and -o... and -b... words are options of their own.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char sendmail_usage[] =
    "usage: sendmail [-t] [-i] [-f ADDR] [-F NAME] [-a ACCOUNT] [-C FILE] [-v]\n"
    "                [-N never|LIST] [-R full|hdrs] [-V ENVID] [--] [RECIPIENT ...]\n"
    "       smtpc sendmail ...   (the same)\n"
    "\n"
    "Reads a message on standard input and delivers it through the account's server.\n"
    "  -t            recipients from the To, Cc and Bcc headers too, or from\n"
    "                Resent-To, -Cc, -Bcc when there are (Bcc, Resent-Bcc removed)\n"
    "  -f ADDR       envelope sender (default: the account's from)\n"
    "  -F NAME       display name for a From header added when there is none\n"
    "  -a, --account NAME   the account (default: \"default\")\n"
    "  -C, --config FILE    the configuration file\n"
    "  -N, -R, -V    DSN: notify, return, envelope id (as smtpc send --dsn-*)\n"
    "  -i, -oi       accepted (dots are always handled); -odi, -oem, -bm, -oQ... ignored\n"
    "  -v            the transcript on standard error\n"
    "Date and Message-ID are added when missing; no header is ever rewritten.\n";

/* sendmail's letters that take a value, attached or as the next argument */
static const char with_value[] = "fFaCNRVrABhLXO";

int cmd_sendmail(int argc, char **argv)
{
	char **av = calloc((size_t)argc * 2 + 8, sizeof *av);
	struct sendmail_req req;
	char *bare = NULL; /* -f <addr>: the address without its brackets */
	int n = 0, i, rc;

	if (av == NULL) {
		say("out of memory");
		return EX_SOFTWARE_;
	}
	memset(&req, 0, sizeof req);
	av[n++] = "sendmail";
	for (i = 1; i < argc; i++) {
		char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (a[0] != '-' || a[1] == '\0')
			break;
		if (strcmp(a, "--help") == 0) {
			fputs(sendmail_usage, stdout);
			free(av);
			free(bare);
			return EX_OK_;
		}
		if (strcmp(a, "--account") == 0 || strcmp(a, "--config") == 0) {
			if (i + 1 == argc)
				goto needs_value;
			av[n++] = a;
			av[n++] = argv[++i];
			continue;
		}
		if (strncmp(a, "--account=", 10) == 0 || strncmp(a, "--config=", 9) == 0) {
			av[n++] = a;
			continue;
		}
		if (a[1] == '-')
			goto unknown;
		if (a[1] == 'o' || (a[1] == 'b' && a[2] == 'm' && a[3] == '\0'))
			continue; /* -oi, -odi, -oem, -oQ/dir, -bm: nothing to do */
		if (a[1] == 'b')
			goto unknown; /* -bs, -bp, -bd...: other modes, not supported */
		for (a++; *a; a++) {
			char *v;
			if (*a == 't') {
				req.take_rcpts = 1;
				continue;
			}
			if (*a == 'i')
				continue;
			if (*a == 'v') {
				av[n++] = "-v";
				continue;
			}
			if (strchr(with_value, *a) == NULL)
				goto unknown;
			if (a[1] != '\0') {
				v = a + 1;
			} else if (i + 1 < argc) {
				v = argv[++i];
			} else {
			needs_value:
				say("sendmail: %s needs a value", argv[i]);
				free(av);
				free(bare);
				return EX_USAGE_;
			}
			switch (*a) {
			case 'f':
			case 'r': {
				size_t len = strlen(v);
				av[n++] = "--from";
				if (len >= 2 && v[0] == '<' &&
				    v[len - 1] == '>') { /* -f '<a@b>', -f '<>' */
					free(bare);	 /* a second -f: the last one counts */
					bare = strdup(v + 1);
					if (bare == NULL) {
						say("out of memory");
						free(av);
						return EX_SOFTWARE_;
					}
					bare[len - 2] = '\0';
					av[n++] = bare;
				} else {
					av[n++] = v;
				}
				break;
			}
			case 'F':
				if (strpbrk(v, "\r\n") != NULL) {
					say("sendmail: -F holds a line break");
					free(av);
					free(bare);
					return EX_USAGE_;
				}
				req.fullname = v;
				break;
			case 'a':
				av[n++] = "--account";
				av[n++] = v;
				break;
			case 'C':
				av[n++] = "--config";
				av[n++] = v;
				break;
			case 'N':
				av[n++] = "--dsn-notify";
				av[n++] = v;
				break;
			case 'R':
				av[n++] = "--dsn-return";
				av[n++] = v;
				break;
			case 'V':
				av[n++] = "--dsn-envid";
				av[n++] = v;
				break;
			default: /* -A, -B type, -h hops, -L tag, -X log, -O opt: ignored */
				break;
			}
			break; /* the value ended this argument */
		}
	}
	for (; i < argc; i++) {
		av[n++] = "--to";
		av[n++] = argv[i];
	}
	rc = send_main(n, av, &req);
	free(av);
	free(bare);
	return rc;
unknown:
	say("sendmail: unknown option '%s'", argv[i]);
	fputs(sendmail_usage, stderr);
	free(av);
	free(bare);
	return EX_USAGE_;
}
