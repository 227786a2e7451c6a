/*
 * libFuzzer target for the smtpc tool's parsers (cli/config.c and
 * cli/message.c). The first octet chooses: a configuration file, an RFC 5322
 * address list, or a message through the sendmail interface's header pass.
 * Checks: no crash or overread (sanitizers), every address handed out
 * within MSG_ADDR_MAX and NUL-terminated, a parsed configuration's accounts
 * complete (each value a string within CFG_VALUE_MAX), the sendmail copy
 * never longer than the input plus what it adds and never holding a Bcc
 * field in its header section.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "message.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

static int take(void *ctx, const char *a)
{
	size_t *n = ctx;

	CHECK(strlen(a) <= MSG_ADDR_MAX && a[0] != '\0');
	return ++*n > 64 ? -1 : 0; /* the caller's limit, as smtpc send has one */
}

static void config(const uint8_t *d, size_t n)
{
	cfg_file c;
	char err[256];
	size_t i, k;

	if (cfg_parse(&c, (const char *)d, n, "fuzz", err, sizeof err) != 0) {
		CHECK(strncmp(err, "fuzz:", 5) == 0);
		CHECK(c.acc == NULL && c.nacc == 0);
		return;
	}
	for (i = 0; i < c.nacc; i++) {
		CHECK(cfg_find(&c, c.acc[i].name) == &c.acc[i]);
		for (k = 0; k < CK__COUNT; k++)
			CHECK(c.acc[i].val[k] == NULL || strlen(c.acc[i].val[k]) <= CFG_VALUE_MAX);
	}
	cfg_free(&c);
}

static void addresses(const uint8_t *d, size_t n)
{
	size_t got = 0;
	const char *why = NULL;
	int r = msg_addresses((const char *)d, n, take, &got, &why);

	CHECK(r >= 0 ? (size_t)r == got : why != NULL);
}

static void sendmail(const uint8_t *d, size_t n)
{
	struct msg_sendmail o;
	char *out = NULL, *copy = malloc(n + 1);
	size_t out_len = 0, got = 0;
	const char *why = NULL;
	FILE *in, *fo;

	if (copy == NULL)
		return;
	memcpy(copy, d, n);
	in = fmemopen(copy, n ? n : 1, "rb");
	fo = open_memstream(&out, &out_len);
	if (in != NULL && n == 0)
		fgetc(in); /* an empty input: at its end */
	memset(&o, 0, sizeof o);
	o.take_rcpts = 1;
	o.from = "env@example.com";
	o.fullname = "A \"B\" C";
	o.domain = "example.com";
	if (in != NULL && fo != NULL && msg_sendmail_copy(in, fo, &o, take, &got, &why) == 0) {
		const char *p, *end;
		fflush(fo);
		/* the added fields are at most a few hundred octets */
		CHECK(out_len <= n + 1024);
		end = out + out_len;
		for (p = out; p < end && *p != '\n' && strncmp(p, "\r\n", 2) != 0;) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			CHECK(strncasecmp(p, "Bcc:", 4) !=
			      0); /* no Bcc field in the header section */
			p = nl ? nl + 1 : end;
		}
	}
	if (in != NULL)
		fclose(in);
	if (fo != NULL)
		fclose(fo);
	free(out);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	switch (data[0] % 3) {
	case 0:
		config(data + 1, size - 1);
		break;
	case 1:
		addresses(data + 1, size - 1);
		break;
	default:
		sendmail(data + 1, size - 1);
		break;
	}
	return 0;
}
