/*
 * smtpc - send mail and talk SMTP from the command line.
 *
 *   smtpc send ...      deliver one message
 *   smtpc chat ...      type SMTP commands, see every reply line
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char usage[] =
    "usage: smtpc COMMAND [OPTIONS]\n"
    "\n"
    "commands:\n"
    "  send   deliver a message read from a file or standard input\n"
    "  sendmail  the sendmail command line (also when run under the name sendmail)\n"
    "  chat   connect, then send command lines typed on standard input\n"
    "  sink   a local server that accepts every message (and can store it)\n"
    "  demo   a sink and a client on a loopback port, both sides shown\n"
    "  bench  messages per second over concurrent sessions\n"
    "\n"
    "`smtpc COMMAND --help` describes each command's options.\n"
    "Exit status: 0 delivered, 64 usage, 65 bad message or address, 69 refused (5xx),\n"
    "75 temporary failure (4xx, timeout, connection), 76 protocol violation,\n"
    "77 authentication refused or impossible, 78 configuration error.\n";

void say(const char *fmt, ...)
{
	va_list ap;

	fputs("smtpc: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

smtpc_posix_tls *tls_setup(const char *cafile, int insecure)
{
	return tls_setup_cert(cafile, insecure, NULL, NULL);
}

smtpc_posix_tls *tls_setup_cert(const char *cafile, int insecure, const char *cert, const char *key)
{
	smtpc_posix_tls_opts o;
	smtpc_posix_tls *x;
	char why[1200];

	memset(&o, 0, sizeof o);
	o.cafile = cafile;
	o.insecure = insecure;
	o.client_cert_file = cert;
	o.client_key_file = key;
	x = smtpc_posix_tls_new(&o, why, sizeof why);
	if (x == NULL)
		say("TLS: %s", why);
	else if (insecure)
		say("--insecure: the server's certificate is NOT checked");
	return x;
}

int is_ip_literal(const char *s)
{
	unsigned char a[16];

	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

const char *tls_name_for(const char *host, const char *tls_name, int insecure)
{
	if (tls_name != NULL)
		return tls_name;
	if (is_ip_literal(host) && !insecure) {
		say("--host %s is an IP address, and certificates name hosts: give the name to "
		    "verify (and send as SNI) with --tls-name NAME, or --insecure",
		    host);
		return NULL;
	}
	return host;
}

void say_failure(const char *what, smtpc_err e, const smtpc_posix *p)
{
	const char *why = p != NULL ? smtpc_posix_strerror(p) : smtpc_err_desc(e);

	if (e == SMTPC_ERR_TLS && p != NULL)
		say("%s: TLS failure: %s%s", what, why,
		    why == smtpc_bearssl_strerror(SMTPC_BEARSSL_ERR_NOT_TLS)
			? "; is this a plaintext port? --starttls upgrades one"
			: "");
	else
		say("%s: %s (%s)", what, smtpc_err_desc(e), smtpc_err_name(e));
}

long parse_ms(const char *s)
{
	long v = 0;

	if (s == NULL || *s == '\0')
		return -1;
	for (; *s; s++) { /* digits only; it must fit poll()'s int */
		if (*s < '0' || *s > '9' || v > (INT_MAX - (*s - '0')) / 10)
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v;
}

int exit_for_code(unsigned code)
{
	return code >= 500 ? EX_UNAVAILABLE_ : EX_TEMPFAIL_;
}

int exit_for_err(smtpc_err e)
{
	switch (smtpc_err_class(e)) {
	case SMTPC_CLASS_NONE:
		return EX_OK_;
	case SMTPC_CLASS_ARGUMENT:
		return EX_DATAERR_;
	case SMTPC_CLASS_POLICY:
		if (e == SMTPC_ERR_NOT_OFFERED)
			return EX_UNAVAILABLE_;
		if (e == SMTPC_ERR_AUTH_NEEDS_TLS)
			return EX_USAGE_;
		return EX_DATAERR_;
	case SMTPC_CLASS_PROTOCOL:
		return EX_PROTOCOL_;
	case SMTPC_CLASS_TRANSPORT:
		return e == SMTPC_ERR_TLS ? EX_PROTOCOL_ : EX_TEMPFAIL_;
	default:
		return EX_SOFTWARE_;
	}
}

/* Standard input, output and error open, on /dev/null when they came
 * closed (cron, daemons): otherwise the next file opened, a socket above
 * all, would take their number, and the transcript, the messages and the
 * JSON would be written into the SMTP session (or a message read from it). */
static void std_fds_open(void)
{
	int fd;

	while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2)
		;
	if (fd > 2)
		close(fd);
}

int main(int argc, char **argv)
{
	const char *base = argc > 0 && argv[0] != NULL ? strrchr(argv[0], '/') : NULL;

	std_fds_open();
	base = base ? base + 1 : argc > 0 && argv[0] != NULL ? argv[0] : "";
	if (strcmp(base, "sendmail") == 0) /* installed as sendmail (a symlink) */
		return cmd_sendmail(argc, argv);
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? EX_USAGE_ : EX_OK_;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("smtpc %s\n", SMTPC_VERSION);
		return EX_OK_;
	}
	if (strcmp(argv[1], "send") == 0)
		return cmd_send(argc - 1, argv + 1);
	if (strcmp(argv[1], "sendmail") == 0)
		return cmd_sendmail(argc - 1, argv + 1);
	if (strcmp(argv[1], "chat") == 0)
		return cmd_chat(argc - 1, argv + 1);
	if (strcmp(argv[1], "sink") == 0)
		return cmd_sink(argc - 1, argv + 1);
	if (strcmp(argv[1], "demo") == 0)
		return cmd_demo(argc - 1, argv + 1);
	if (strcmp(argv[1], "bench") == 0)
		return cmd_bench(argc - 1, argv + 1);
	say("unknown command '%s'", argv[1]);
	fputs(usage, stderr);
	return EX_USAGE_;
}
