/* Test helpers: connections on the heap, event logs, transcripts run at
 * every split of their input. */
#ifndef SMTPC_TEST_HELPERS_H
#define SMTPC_TEST_HELPERS_H

#include <criterion/criterion.h>
#include <stddef.h>

#include "smtpc.h"

/* A connection with its own buffers (tx_len 0: 4096); ts_new: a server
 * (tx 8192). Both freed by tc_free. */
smtpc_conn *tc_new(const smtpc_config *cfg, size_t tx_len);
smtpc_conn *ts_new(const smtpc_config *cfg);
void tc_free(smtpc_conn *c);

/* Growable string. */
typedef struct sbuf {
	char *s;
	size_t n, cap;
} sbuf;
void sb_add(sbuf *b, const char *fmt, ...);
void sb_free(sbuf *b);

/* One event as a log line: "L 250-text", "R 250 MAIL [2.1.0] text|more",
 * "TLS", "CLOSED", "E BAD_REPLY". */
void log_event(sbuf *b, const smtpc_event *ev);
/* Pulls events until NEED_DATA, or one ERROR / CLOSED. */
void drain(smtpc_conn *c, sbuf *log);
/* Feeds all of data (pulling events whenever feed stalls), then drains. */
void feed_all(smtpc_conn *c, const void *data, size_t len, sbuf *log);
/* As feed_all for a string, asserting that no error results. */
void feed_ok(smtpc_conn *c, const char *s);

/* The bytes waiting to be sent, as a string (static storage), acked. */
const char *tx_take(smtpc_conn *c);

/* A session after greeting and EHLO: ext is the list of extension lines,
 * separated by '\n' ("" for none; NULL: HELO instead of EHLO). */
smtpc_conn *tc_ready(const smtpc_config *cfg, const char *ext);

/* A transcript: commands issued by setup, then server bytes in, expected
 * event log out. Run whole, at every two-piece split, and in chunks of
 * every size from 1 byte up; every run must give the same log. */
typedef struct script {
	const char *name;
	const smtpc_config *cfg;      /* NULL: defaults */
	const char *ext;	      /* as tc_ready; NULL with greet 0 */
	int fresh;		      /* 1: start before the greeting */
	void (*setup)(smtpc_conn *c); /* may be NULL */
	const char *in;
	size_t len; /* 0: strlen(in) */
	int eof;    /* end of input after it */
	const char *expect;
	void (*check)(smtpc_conn *c); /* may be NULL; runs after each run */
} script;
void run_script(const script *s);

#endif
