/*
 * Core micro-benchmarks. Each figure comes with a ratio measured in the same
 * run: the body encoder against plain memcpy of the same octets, and reply
 * parsing in lines and octets per second.
 *
 *   build/rel/micro [SECONDS_PER_CASE]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smtpc.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static volatile unsigned char sink_byte;

/* Octets per second of fn over in, repeated for about `budget` seconds. */
static double rate(void (*fn)(const unsigned char *, size_t, unsigned char *),
		   const unsigned char *in, size_t n, unsigned char *out, double budget)
{
	double t0 = now(), t;
	long reps = 0, batch = 1 + (long)((1u << 20) / n), i; /* read the clock now and then */

	do {
		for (i = 0; i < batch; i++)
			fn(in, n, out);
		reps += batch;
		t = now() - t0;
	} while (t < budget);
	sink_byte = out[0];
	return (double)n * (double)reps / t;
}

static void copy(const unsigned char *in, size_t n, unsigned char *out)
{
	memcpy(out, in, n);
}

static void encode(const unsigned char *in, size_t n, unsigned char *out)
{
	smtpc_dotenc e;

	smtpc_dot_init(&e);
	e.next_in = in;
	e.avail_in = n;
	e.next_out = out;
	e.avail_out = 3 * n + 8;
	smtpc_dot_encode(&e);
	smtpc_dot_finish(&e);
}

static void fill(unsigned char *p, size_t n, int dots)
{
	static const char text[] = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed "
				   "do eiusmod tempor.\r\n";
	size_t i = 0;

	while (i < n) {
		size_t k = sizeof text - 1;
		if (k > n - i)
			k = n - i;
		memcpy(p + i, text, k);
		if (dots)
			p[i] = '.';
		i += k;
	}
}

static void body_case(const char *name, size_t n, int dots, double budget)
{
	unsigned char *in = malloc(n), *out = malloc(3 * n + 8);
	double enc, cpy;

	fill(in, n, dots);
	enc = rate(encode, in, n, out, budget);
	cpy = rate(copy, in, n, out, budget);
	printf("body  %-22s %9zu octets  encoder %8.0f MB/s  memcpy %8.0f MB/s  ratio %.2f\n", name,
	       n, enc / 1e6, cpy / 1e6, enc / cpy);
	free(in);
	free(out);
}

static const char ehlo[] = "250-mx.example.com Hello client.example [192.0.2.1]\r\n"
			   "250-SIZE 52428800\r\n250-8BITMIME\r\n250-PIPELINING\r\n"
			   "250-PIPE_CONNECT\r\n250-AUTH PLAIN LOGIN CRAM-MD5\r\n"
			   "250-CHUNKING\r\n250-PRDR\r\n250-DSN\r\n250-SMTPUTF8\r\n"
			   "250-ENHANCEDSTATUSCODES\r\n250-STARTTLS\r\n250-VRFY\r\n250-ETRN\r\n"
			   "250 HELP\r\n";

/* Feeds text (a whole number of replies) again and again; returns lines/s
 * and octets/s. */
static void parse_case(const char *name, const char *text, size_t len, size_t lines, double budget)
{
	static unsigned char rx[1 << 17], tx[4096];
	smtpc_config cfg;
	smtpc_conn c;
	smtpc_event ev;
	double t0 = now(), t;
	long reps = 0;

	smtpc_config_default(&cfg);
	cfg.max_line = 16384;
	cfg.max_reply = 65536;
	cfg.max_lines = 1000;
	smtpc_init(&c, &cfg, rx, sizeof rx, tx, sizeof tx);
	smtpc_feed(&c, "220 hi\r\n", 8);
	while (smtpc_next_event(&c, &ev) != SMTPC_EV_NEED_DATA)
		;
	do {
		size_t off = 0;
		while (off < len) {
			off += smtpc_feed(&c, text + off, len - off);
			while (smtpc_next_event(&c, &ev) > SMTPC_EV_NEED_DATA)
				if (ev.type == SMTPC_EV_ERROR)
					abort();
		}
		reps++;
		t = now() - t0;
	} while (t < budget);
	printf("reply %-22s %9zu octets  %10.0f lines/s  %8.0f MB/s\n", name, len,
	       (double)lines * (double)reps / t, (double)len * (double)reps / t / 1e6);
}

int main(int argc, char **argv)
{
	double budget = argc > 1 ? atof(argv[1]) : 0.5;
	char *longl;
	size_t i;

	body_case("typical text", 1024, 0, budget);
	body_case("typical text", 100 * 1024, 0, budget);
	body_case("typical text", 10 * 1024 * 1024, 0, budget);
	body_case("every line a dot", 1024, 1, budget);
	body_case("every line a dot", 100 * 1024, 1, budget);
	body_case("every line a dot", 10 * 1024 * 1024, 1, budget);
	parse_case("15-line EHLO", ehlo, sizeof ehlo - 1, 15, budget);
	longl = malloc(16 * 1024);
	memcpy(longl, "250 ", 4);
	for (i = 4; i < 16000; i++)
		longl[i] = (char)('a' + i % 26);
	memcpy(longl + 16000, "\r\n", 2);
	parse_case("16000-octet line", longl, 16002, 1, budget);
	free(longl);
	return 0;
}
