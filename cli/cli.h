/* The smtpc command-line tool: shared declarations. */
#ifndef SMTPC_CLI_H
#define SMTPC_CLI_H

#include "smtpc.h"
#include "smtpc_posix.h"
#include "smtpc_posix_tls.h"

/* sysexits.h values, as sendmail and msmtp use them */
#define EX_OK_		0
#define EX_USAGE_	64
#define EX_DATAERR_	65
#define EX_NOINPUT_	66
#define EX_UNAVAILABLE_ 69
#define EX_SOFTWARE_	70
#define EX_TEMPFAIL_	75
#define EX_PROTOCOL_	76
#define EX_NOPERM_	77
#define EX_CONFIG_	78

int cmd_send(int argc, char **argv);
/* The sendmail interface: argv as sendmail's (argv[0] is not read). */
int cmd_sendmail(int argc, char **argv);
/* What the sendmail interface adds to smtpc send's options. */
struct sendmail_req {
	int take_rcpts;	      /* -t */
	const char *fullname; /* -F */
};
/* smtpc send, given send's options; sm: in sendmail mode, else NULL. */
int send_main(int argc, char **argv, const struct sendmail_req *sm);
int cmd_chat(int argc, char **argv);
int cmd_sink(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* Exit status for a library error. */
int exit_for_err(smtpc_err e);
/* Exit status for a refusing reply: 4xx 75, 5xx 69. */
int exit_for_code(unsigned code);
/* Prints "smtpc: " and the formatted message on stderr. */
void say(const char *fmt, ...);
/* What TLS clients share: the trust anchors from cafile (NULL: the system
 * bundle). NULL and a message on failure; the insecure warning on stderr. */
smtpc_posix_tls *tls_setup(const char *cafile, int insecure);
/* The same with a client certificate chain and key (cert NULL: none; key
 * NULL: in cert's file). */
smtpc_posix_tls *tls_setup_cert(const char *cafile, int insecure, const char *cert,
				const char *key);
/* The name to verify the server's certificate against (and send as SNI):
 * tls_name, else host. An IP address host needs tls_name or insecure:
 * NULL and a message then. */
const char *tls_name_for(const char *host, const char *tls_name, int insecure);
/* Nonzero for an IPv4 or IPv6 address literal. */
int is_ip_literal(const char *s);
/* Prints why the session failed, with the TLS reason when there is one. */
void say_failure(const char *what, smtpc_err e, const smtpc_posix *p);
/* Parses a decimal number of milliseconds (digits only, at most INT_MAX);
 * -1 if malformed or too large. */
long parse_ms(const char *s);

#endif
